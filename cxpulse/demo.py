"""`cxpulse demo`: the whole product in one command, as a newcomer first meets it.

Kafka -> simulated 90 days with an injected drift -> consumer -> the four Airflow DAGs (`dag.test()`,
in order) -> reconciliation, KPI tiles, incidents and where to find the dashboard and the BI snapshot.
Every step is the production code path; nothing here computes a KPI or an alert itself.
The history ends at midnight UTC: running it again the same day sends the very same messages, which
the consumer lands, the loader drops as redeliveries (same ids) and the reconciliation counts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from cxpulse.config import Settings
from cxpulse.views import progress_bar
from streams.simulator import SimulationOptions, SimulationSummary


@dataclass
class DemoResult:
    simulation: SimulationSummary
    dag_states: dict[str, str]
    balanced: bool
    seconds: dict[str, float]


@contextmanager
def _output_to(log_path: Path) -> Iterator[Console]:
    """Send everything written to stdout/stderr (Airflow's structlog lines) to a file, at the file
    descriptor level so that no library's cached stream escapes; yields a console on the terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = Console(file=os.fdopen(os.dup(saved[0]), "w"), force_terminal=sys.stdout.isatty())
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.file.close()


def _step(console: Console, number: int, text: str) -> None:
    console.rule(f"[bold]{number}/5 {text}")


def simulate_to_kafka(settings: Settings, options: SimulationOptions, console: Console) -> SimulationSummary:
    from streams.producer import KafkaSink
    from streams.simulator import simulate

    with progress_bar(console) as progress:
        task = progress.add_task("simulating -> Kafka (days)", total=options.days)
        with KafkaSink(settings) as sink:
            return simulate(options, sink, progress=lambda n: progress.advance(task, n))


def consume_with_progress(settings: Settings, expected: int, console: Console) -> int:
    """The production consumer until idle, in a worker thread so the bar can follow its counters."""
    from streams.consumer import LandingConsumer

    consumer = LandingConsumer(settings)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            consumer.run(until_idle=True)
        except BaseException as exc:  # reported in the main thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="cxpulse-consumer")
    worker.start()
    try:
        with progress_bar(console) as progress:
            task = progress.add_task("consuming -> landing files", total=expected)
            while worker.is_alive():
                progress.update(task, completed=min(consumer.stats.consumed, expected))
                worker.join(0.2)
            progress.update(task, completed=min(consumer.stats.consumed, expected))
    finally:
        consumer.request_stop()
        worker.join()
    if failure:
        raise failure[0]
    return consumer.stats.consumed


def print_summary(settings: Settings, console: Console) -> bool:
    """Reconciliation, KPI tiles, open incidents and how many findings they hold; returns whether the
    counts balance."""
    import duckdb

    from cxpulse.views import incidents_table, kpi_table, print_reconciliation

    balanced = print_reconciliation(settings, console)

    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        console.print(kpi_table(con))
        table = incidents_table(con, only_open=True, french=False, limit=12, title="open incidents, most severe first")
        console.print(table or "no open incident")
        total = con.execute("select count(*) from marts.alerts where status = 'open'").fetchall()[0][0]
        console.print(
            f"{total} open findings behind them (and target breaches, sent as one digest per period): "
            "`cxpulse alerts --open`; `cxpulse incidents --fr` in French"
        )
    finally:
        con.close()
    return balanced


def paths(settings: Settings) -> dict[str, Path]:
    evidence = sorted((settings.reports_dir / "drift").glob("evidence-*.html"))
    found = {
        "dashboard": settings.reports_dir / "dashboard.html",
        "BI snapshot (read-only)": settings.published_path,
        "Parquet exports": settings.exports_dir,
        "quality reports": settings.reports_dir / "quality",
    }
    if evidence:
        found["drift evidence"] = evidence[-1]
    return found


def run_demo(settings: Settings, options: SimulationOptions, console: Console) -> DemoResult:
    from cxpulse.airflow_local import run_dags
    from cxpulse.broker import BrokerError, answers, ensure_topics, start_broker

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    _step(console, 1, f"Kafka on {settings.kafka_bootstrap}")
    with console.status("starting Kafka (KRaft, single node)..."):
        try:
            start_broker(settings)
        except BrokerError:
            if not answers(settings.kafka_bootstrap, settings):
                raise
            # someone else's broker (docker compose, a test session): use it as it is
            ensure_topics(settings.kafka_bootstrap, settings)
            console.print(f"using the Kafka broker already answering on {settings.kafka_bootstrap}")
    seconds["kafka"] = time.perf_counter() - clock

    _step(console, 2, f"simulating {options.days} days of {options.customers:,} customers")
    for scenario in options.scenarios:
        console.print(f"injected scenario: [bold]{scenario}[/bold]")
    clock = time.perf_counter()
    summary = simulate_to_kafka(settings, options, console)
    seconds["simulate"] = time.perf_counter() - clock
    console.print(f"sent {summary.total:,} messages: {summary.describe()}")

    _step(console, 3, "consuming: validate, land as Parquet, dead-letter the malformed, commit")
    clock = time.perf_counter()
    consumed = consume_with_progress(settings, summary.total, console)
    seconds["consume"] = time.perf_counter() - clock
    console.print(f"consumed {consumed:,} messages")

    _step(console, 4, "Airflow: dag.test() of cx_load, cx_marts, cx_quality, cx_publish")
    clock = time.perf_counter()
    log_path = settings.home / "airflow" / "demo.log"
    console.print(f"Airflow's own logs go to {log_path}")
    with _output_to(log_path) as terminal:

        def done(dag_id: str, state: str) -> None:
            colour = "green" if state == "success" else "red"
            terminal.print(f"{dag_id}: [{colour}]{state}[/{colour}] ({time.perf_counter() - clock:.0f} s)")

        states = run_dags(settings, on_done=done)
    seconds["airflow"] = time.perf_counter() - clock

    _step(console, 5, "results")
    balanced = print_summary(settings, console) if all(s == "success" for s in states.values()) else False
    for what, path in paths(settings).items():
        console.print(f"{what:>24}: {path}")
    console.print(
        "the same runs in Airflow's UI, with a real scheduler from now on: `cxpulse airflow start` "
        "(UI on http://localhost:8080, user admin, password in "
        f"{settings.home / 'airflow' / 'simple_auth_manager_passwords.json.generated'})"
    )
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    console.print(f"done in {sum(seconds.values()):.0f} s ({timing})")
    return DemoResult(summary, states, balanced, seconds)
