"""The `cxpulse` command line."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shlex
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from cxpulse.config import ConfigError, Settings, load_settings, require_erasure_salt
from cxpulse.files import owner_only_umask, secure_home
from cxpulse.views import alerts_table, incidents_table, print_last_publish, print_reconciliation, progress_bar

app = typer.Typer(
    help="cxpulse: customer-experience KPIs and drift alerts from Kafka events.\n\n"
    "Quick start: `cxpulse broker start`, `cxpulse produce events.jsonl --topic cx.touchpoints`, "
    "`cxpulse consume --until-idle`, `cxpulse run`, `cxpulse status`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
broker_app = typer.Typer(
    help="A local Apache Kafka (KRaft, single node) for development and tests.", no_args_is_help=True
)
app.add_typer(broker_app, name="broker")
airflow_app = typer.Typer(
    help="Airflow 3 for real with the cxpulse DAGs: api-server, scheduler, dag-processor, triggerer.",
    no_args_is_help=True,
)
app.add_typer(airflow_app, name="airflow")
# Piped output (make, CI logs) gets a wide console so tables are not squeezed to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # an error message stays one line, greppable

EXIT_CONFIG = 2
EXIT_BROKER = 3
EXIT_CHECK = 4


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    # Everything a command writes under the data home (and the broker or Airflow it starts) is
    # owner-only unless cxpulse opens it on purpose (cxpulse/files.py).
    owner_only_umask()
    secure_home(settings)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # kafka-python logs every reconnect and socket close at ERROR; our own log lines say what matters
    # (broker down, retrying) and what to do. DEBUG shows kafka-python's own logs again.
    kafka_level = logging.WARNING if settings.log_level == "DEBUG" else logging.CRITICAL
    logging.getLogger("kafka").setLevel(kafka_level)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return settings


@contextlib.contextmanager
def _kafka_refusals() -> Iterator[None]:
    """A broker that answers but refuses the settings (password, certificate, protocol) is a configuration
    error: say which setting, exit 2, no traceback."""
    from streams.kafka_clients import KafkaAccessError

    try:
        yield
    except KafkaAccessError as exc:
        err.print(f"[red]Kafka refused the connection:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_CONFIG) from None


# -- broker ---------------------------------------------------------------------------------------
@broker_app.command("start")
def broker_start() -> None:
    """Format (once) and start the broker on CXPULSE_KAFKA_BOOTSTRAP, then create the topics.

    With `kafka_security_protocol` SASL_SSL and `kafka_sasl_mechanism` SCRAM-SHA-512 (or -256) the client
    listener requires TLS and a SCRAM login: a throwaway CA is made under $CXPULSE_HOME/kafka/tls and the
    user CXPULSE_KAFKA_SASL_USERNAME gets the password CXPULSE_KAFKA_SASL_PASSWORD.

    Example: `CXPULSE_KAFKA_BOOTSTRAP=localhost:19092 cxpulse broker start`
    """
    from cxpulse.broker import BrokerError, start_broker

    settings = _settings()
    try:
        with console.status(f"starting Kafka on {settings.kafka_bootstrap}..."):
            info = start_broker(settings)
    except BrokerError as exc:
        err.print(f"[red]broker did not start:[/red] {exc}")
        raise typer.Exit(EXIT_BROKER) from None
    console.print(f"Kafka is up on [bold]{settings.kafka_bootstrap}[/bold] (pid {info.pid}).")
    if settings.kafka_security_protocol == "SASL_SSL":
        ca = settings.kafka_dir / "tls" / "ca.pem"
        console.print(
            f"It requires SASL_SSL ({settings.kafka_sasl_mechanism}, user {settings.kafka_sasl_username!r}); "
            f"its CA certificate is {ca}"
            + ("" if settings.kafka_ssl_cafile else f": clients need CXPULSE_KAFKA_SSL_CAFILE={ca}")
        )


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the broker started by `cxpulse broker start` (only that process)."""
    from cxpulse.broker import stop_broker

    settings = _settings()
    console.print("broker stopped" if stop_broker(settings) else "no broker was running")


@broker_app.command("status")
def broker_status() -> None:
    """Say whether the local broker runs, where, and its topics. Exit code 3 when it is down."""
    from cxpulse.broker import broker_status as status

    settings = _settings()
    with _kafka_refusals():
        info = status(settings)
    if not info["running"]:
        console.print(f"no broker answering on {settings.kafka_bootstrap}: start one with `cxpulse broker start`")
        raise typer.Exit(EXIT_BROKER)
    topics = ", ".join(f"{name} ({n} partitions)" for name, n in sorted((info.get("topics") or {}).items()))
    console.print(f"running on {info['bootstrap']} (pid {info['pid']}); topics: {topics}")


# -- airflow --------------------------------------------------------------------------------------
@airflow_app.command("start")
def airflow_start(
    port: int = typer.Option(8080, "--port", help="port of the UI and REST API (api-server)"),
) -> None:
    """Start Airflow with the cxpulse DAGs: migrate its metadata DB, create the pool `cx_warehouse`,
    run the four components (LocalExecutor) in the background and wait until they are healthy.

    Airflow's home is $CXPULSE_HOME/airflow (AIRFLOW_HOME overrides); metadata on SQLite there, or on
    the database of AIRFLOW__DATABASE__SQL_ALCHEMY_CONN when set (e.g. postgresql+psycopg2://...).
    New landing files start `cx_load` within seconds; the rest of the chain follows by Assets.

    Example: `cxpulse airflow start --port 8080`, then `cxpulse consume` in another terminal.
    """
    from cxpulse.airflow_service import AirflowServiceError, start

    settings = _settings()
    try:
        with console.status("starting Airflow (db migrate, pool, 4 components)..."):
            info = start(settings, port=port)
    except AirflowServiceError as exc:
        err.print(f"[red]Airflow did not start:[/red] {exc}")
        raise typer.Exit(EXIT_CHECK) from None
    console.print(f"Airflow is up: [bold]{info.url}[/bold] (home {info.home}, metadata {info.database})")
    console.print(f"log in as [bold]admin[/bold]; the generated password is in {info.password_file}")
    console.print("components' logs: " + str(info.home / "run") + "; stop with `cxpulse airflow stop`")


@airflow_app.command("stop")
def airflow_stop() -> None:
    """Stop the components started by `cxpulse airflow start` for this data home (and only those).

    Example: `CXPULSE_HOME=/srv/cxpulse cxpulse airflow stop`
    """
    from cxpulse.airflow_service import stop

    stopped = stop(_settings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "no Airflow was running for this data home")


@airflow_app.command("status")
def airflow_status() -> None:
    """Components, health, the pool and the last run of each DAG. Exit code 1 when not running healthy.

    Example: `cxpulse airflow status || cxpulse airflow start`
    """
    from cxpulse.airflow_service import status

    info = status(_settings())
    if not info["pids"]:
        console.print(f"Airflow is not running for {info['home']}: `cxpulse airflow start`")
        raise typer.Exit(1)
    console.print(f"{info['url']} ({'healthy' if info['healthy'] else 'NOT healthy'}); home {info['home']}")
    for component, pid in sorted(info["pids"].items()):
        console.print(f"  {component}: pid {pid}")
    console.print(f"  admin password: {info['password_file']}")
    pool = info["pool"]
    if pool is None:
        console.print("  pool cx_warehouse: unknown (the REST API did not answer)")
    else:
        console.print(f"  pool cx_warehouse: {pool['slots']} slot(s)" if pool else "  pool cx_warehouse: MISSING")
    for dag_id, run in info["last_runs"].items():
        last = f"{run['state']} ({run['run_type']}, {run['run_after']})" if run else "no run yet"
        console.print(f"  {dag_id}: {last}")
    if not info["healthy"] or not pool:
        raise typer.Exit(1)


@airflow_app.command("install")
def airflow_install() -> None:
    """Install the cxpulse DAGs' requirement into the Airflow of the environment (AIRFLOW_HOME, its
    airflow.cfg and AIRFLOW__* variables): the pool `cx_warehouse` of one slot. See docs/operations.md,
    "Install into your Airflow".

    Example: `AIRFLOW_HOME=/opt/airflow cxpulse airflow install`
    """
    from cxpulse.airflow_service import AirflowServiceError, install

    try:
        install()
    except AirflowServiceError as exc:
        err.print(f"[red]install failed:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    console.print("pool cx_warehouse (1 slot: one DuckDB writer at a time) is ready")


# -- streams --------------------------------------------------------------------------------------
@app.command()
def produce(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON lines, one message per line"),
    topic: str = typer.Option(..., "--topic", "-t", help="e.g. cx.touchpoints or cx.surveys"),
) -> None:
    """Publish each line of FILE as one message (key = customer_id when the line parses).

    Lines larger than Kafka's 1 MB message limit are refused with their line number (exit code 4);
    the other lines are still sent.

    Example: `cxpulse produce sample/touchpoints.jsonl --topic cx.touchpoints`
    """
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    from streams.producer import produce_file

    settings = _settings()
    total = sum(1 for line in file.open("rb") if line.strip())
    try:
        with _kafka_refusals(), progress_bar(err) as progress:
            task = progress.add_task(f"producing to {topic}", total=total)
            result = produce_file(file, topic, settings, progress=lambda n: progress.advance(task, n))
    except (KafkaTimeoutError, KafkaConnectionError):
        err.print(f"[red]no Kafka broker on {settings.kafka_bootstrap}[/red]: start one with `cxpulse broker start`")
        raise typer.Exit(EXIT_BROKER) from None
    console.print(f"sent {result.sent:,} messages to {topic}")
    for number, why in result.refused:
        err.print(f"[red]line {number} refused[/red]: {why}")
    if result.refused:
        raise typer.Exit(EXIT_CHECK)


@app.command()
def consume(
    until_idle: bool = typer.Option(
        False,
        "--until-idle",
        help="exit once caught up: the group stable and every partition landed to its end offset",
    ),
    metrics_port: int = typer.Option(
        None, "--metrics-port", help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics (config metrics_port)"
    ),
) -> None:
    """Consume cx.touchpoints and cx.surveys into durable landing files (runs until SIGTERM).

    Valid events land as Parquet under $CXPULSE_HOME/landing; invalid ones go to cx.deadletter and
    $CXPULSE_HOME/quarantine with their reason. Offsets are committed after the files are durable.
    Run several processes with the same group to share the partitions (one landing folder).

    Example: `cxpulse consume --until-idle`

    Example: `cxpulse consume --metrics-port 9464` (a long-running service, scraped by Prometheus)
    """
    import dataclasses

    from streams.consumer import LandingConsumer

    settings = _settings()
    if metrics_port is not None:
        if not 0 <= metrics_port < 65536:
            err.print(f"[red]--metrics-port must be a TCP port or 0 (no endpoint), got {metrics_port}[/red]")
            raise typer.Exit(EXIT_CONFIG)
        settings = dataclasses.replace(settings, metrics_port=metrics_port)
    try:
        with _kafka_refusals():
            stats = LandingConsumer(settings).run(until_idle=until_idle)
    except OSError as exc:
        if not settings.metrics_port or exc.errno != errno.EADDRINUSE:
            raise
        err.print(f"[red]metrics port {settings.metrics_port} is taken[/red]: give each process its own --metrics-port")
        raise typer.Exit(EXIT_CONFIG) from None
    console.print(
        f"consumed {stats.consumed} messages: {stats.valid} valid, {stats.rejected} dead letters, "
        f"{stats.batches} batch files, busy {stats.busy_seconds:.2f} s"
    )


DEMO_SCENARIO = "nps-drop:channel=chat:from=-7d:points=15"
# The demo reports the days, weeks and months of a French contact centre (CXPULSE_REPORTING_TIMEZONE
# set in the environment wins).
DEMO_TIMEZONE = "Europe/Paris"


def _simulation_options(
    days: int,
    customers: int,
    seed: int,
    scenarios: list[str],
    malformed_rate: float,
    duplicate_rate: float,
    end: datetime | None = None,
):
    from streams.simulator import SimulationOptions, parse_scenario

    try:
        parsed = tuple(parse_scenario(text) for text in scenarios)
    except ValueError as exc:
        err.print(f"[red]--scenario:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        return SimulationOptions(
            days=days,
            customers=customers,
            seed=seed,
            scenarios=parsed,
            malformed_rate=malformed_rate,
            duplicate_rate=duplicate_rate,
            end=end,
        )
    except ValueError as exc:  # the options check themselves; the message names the option
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_CONFIG) from None


@app.command()
def simulate(
    days: int = typer.Option(90, "--days", help="days of history, ending now"),
    customers: int = typer.Option(
        20_000, "--customers", help="customers living journeys (~50 messages per 1,000 a day)"
    ),
    seed: int = typer.Option(42, "--seed", help="same seed (and end) => the same events, byte for byte"),
    scenario: list[str] = typer.Option(
        None,
        "--scenario",
        help="drift to inject, repeatable: nps-drop:channel=chat:from=-7d:points=15, "
        "wait-spike:queue=billing_hotline, complaint-burst:category=delivery_delay",
    ),
    malformed_rate: float = typer.Option(0.0, "--malformed-rate", help="share of malformed messages, e.g. 0.001"),
    duplicate_rate: float = typer.Option(0.0, "--duplicate-rate", help="share of redelivered messages"),
    to: str = typer.Option("kafka", "--to", help="'kafka' (the source topics) or a folder for JSON-lines files"),
) -> None:
    """Simulate customers living journeys across channels: touchpoints and survey answers.

    Example: `cxpulse simulate --days 90 --customers 125000 --scenario nps-drop:channel=chat:from=-7d:points=15`

    Example: `cxpulse simulate --days 7 --to sample/` then `cxpulse produce sample/touchpoints.jsonl -t cx.touchpoints`
    """
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    from streams.producer import KafkaSink
    from streams.simulator import JsonlSink, simulate

    settings = _settings()
    options = _simulation_options(days, customers, seed, scenario or [], malformed_rate, duplicate_rate)
    try:
        with _kafka_refusals(), progress_bar(err) as progress:
            task = progress.add_task(f"simulating -> {to} (days)", total=days)
            with KafkaSink(settings) if to == "kafka" else JsonlSink(Path(to)) as sink:
                summary = simulate(options, sink, progress=lambda n: progress.advance(task, n))
    except (KafkaTimeoutError, KafkaConnectionError):
        err.print(f"[red]no Kafka broker on {settings.kafka_bootstrap}[/red]: start one with `cxpulse broker start`")
        raise typer.Exit(EXIT_BROKER) from None
    if isinstance(sink, JsonlSink):
        lines, skipped = sum(sink.written.values()), sum(sink.skipped.values())
        console.print(f"wrote {lines:,} lines to {to} ({skipped} empty messages cannot be a line)")
    console.print(f"simulated {summary.total:,} messages: {summary.describe()}")


@app.command()
def demo(
    days: int = typer.Option(90, "--days", help="days of history, ending now"),
    customers: int = typer.Option(125_000, "--customers", help="customers (125k x 90 days is about 557k messages)"),
    seed: int = typer.Option(42, "--seed"),
    scenario: list[str] = typer.Option(None, "--scenario", help=f"drift to inject (default {DEMO_SCENARIO})"),
) -> None:
    """The whole pipeline once: Kafka, simulated events with a drift, consumer, the Airflow DAGs, results.

    Ends with the reconciliation, the KPI tiles, the alerts that fired and the paths of the dashboard
    and of the BI snapshot. Exit code 4 when a DAG fails or the counts do not reconcile. The marts
    report Europe/Paris days, weeks and months unless CXPULSE_REPORTING_TIMEZONE says otherwise.

    Example: `make demo` (or `cxpulse demo --days 30 --customers 5000` for a smaller run)
    """
    from cxpulse.broker import BrokerError
    from cxpulse.demo import run_demo

    # set in the environment so that the DAG tasks, which read their settings from it, use it too
    os.environ.setdefault("CXPULSE_REPORTING_TIMEZONE", DEMO_TIMEZONE)
    settings = _settings()
    # History ends at midnight UTC: a second demo the same day sends exactly the same events again,
    # which the loader drops as redeliveries (the reconciliation counts them).
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    options = _simulation_options(days, customers, seed, scenario or [DEMO_SCENARIO], 0.001, 0.002, midnight)
    try:
        result = run_demo(settings, options, console)
    except BrokerError as exc:
        err.print(f"[red]Kafka did not start:[/red] {exc}")
        raise typer.Exit(EXIT_BROKER) from None
    if not result.balanced:
        raise typer.Exit(EXIT_CHECK)


# -- warehouse ------------------------------------------------------------------------------------
@app.command()
def load() -> None:
    """Load new landing and quarantine files into raw.touchpoints, raw.surveys, ops.deadletters.

    Example: `cxpulse load` (safe to rerun: a file ledger and id dedupe prevent double loads)
    """
    from cxpulse.pipeline import load_step

    result = load_step(_settings())
    console.print(
        f"loaded {result.files} files: rows {result.rows_loaded or 0}, "
        f"duplicates dropped {result.duplicates_dropped or 0}, dead letters {result.dead_letters}"
    )


@app.command()
def transform(
    full: bool = typer.Option(False, "--full", help="rebuild every day, not only the touched ones"),
) -> None:
    """Build the staging views and KPI marts (incremental by default), then run the model tests.

    Example: `cxpulse transform --full`
    """
    from cxpulse.pipeline import transform_step
    from transforms.runner import SchemaTestError

    try:
        result = transform_step(_settings(), full=full)
    except SchemaTestError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_CHECK) from None
    console.print(f"built the marts ({'full' if result.full else 'incremental'}: {len(result.days)} days)")


def _as_of(value: str | None, option: str = "--as-of") -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option} must be an ISO date or timestamp (e.g. 2026-03-15T00:00:00Z), got {value!r}[/red]")
        raise typer.Exit(EXIT_CONFIG) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def check(
    as_of: str = typer.Option(None, "--as-of", help="evaluate as of this instant (default now): reproducible runs"),
) -> None:
    """Quality gates, drift and target findings, incidents, notification delivery. Exit code 4 when a
    check fails.

    Example: `cxpulse check --as-of 2026-03-15T00:00:00Z`
    """
    from cxpulse.pipeline import check_step
    from quality.check import QualityGateError

    try:
        result = check_step(_settings(), _as_of(as_of))
    except QualityGateError as exc:
        err.print(f"[red]quality checks failed:[/red] {exc}")
        raise typer.Exit(EXIT_CHECK) from None
    changes = result.changes
    console.print(
        f"[green]quality checks pass[/green]; alerts opened {len(changes.opened)}, "
        f"still open {len(changes.refreshed)}, resolved {len(changes.resolved)}; "
        f"incident notifications {len(result.transitions)} (`cxpulse incidents`)"
    )
    if result.evidence:
        console.print(f"drift evidence: {result.evidence}")


def _marts_path() -> Path:
    """The published snapshot when there is one, else the live warehouse (both read-only)."""
    settings = _settings()
    path = settings.published_path if settings.published_path.exists() else settings.warehouse_path
    if not path.exists():
        console.print("no warehouse yet: run `cxpulse run` first")
        raise typer.Exit(1)
    return path


@app.command()
def alerts(
    only_open: bool = typer.Option(False, "--open", help="only alerts still open"),
    french: bool = typer.Option(False, "--fr", help="messages in French"),
    limit: int = typer.Option(50, "--limit", help="most severe first, at most this many"),
) -> None:
    """Print the alerts of marts.alerts as a table (from the published snapshot).

    Example: `cxpulse alerts --open --fr`
    """
    import duckdb

    path = _marts_path()
    con = duckdb.connect(str(path), read_only=True)
    try:
        title = f"cxpulse alerts ({path}), most severe first"
        table = alerts_table(con, only_open=only_open, french=french, limit=limit, title=title)
    finally:
        con.close()
    console.print(table or "no alerts")


@app.command()
def incidents(
    only_open: bool = typer.Option(False, "--open", help="only incidents still open"),
    french: bool = typer.Option(False, "--fr", help="headlines in French"),
    limit: int = typer.Option(50, "--limit", help="open and most severe first, at most this many"),
) -> None:
    """Print the incidents of marts.incidents (what people are notified of), from the published snapshot.

    An incident groups the findings one root cause explains; `cxpulse alerts` lists the findings.

    Example: `cxpulse incidents --open --fr`
    """
    import duckdb

    path = _marts_path()
    con = duckdb.connect(str(path), read_only=True)
    try:
        title = f"cxpulse incidents ({path})" if not french else f"incidents cxpulse ({path})"
        table = incidents_table(con, only_open=only_open, french=french, limit=limit, title=title)
    finally:
        con.close()
    console.print(table or ("aucun incident" if french else "no incidents"))


@app.command()
def run(full: bool = typer.Option(False, "--full", help="rebuild every day of the marts")) -> None:
    """Run the batch pipeline once without Airflow: load -> transform -> check -> publish.

    The same functions as the DAGs cx_load, cx_marts, cx_quality and cx_publish. When a check
    fails, nothing is published and BI tools keep the last good snapshot (exit code 4).

    Example: `cxpulse run && duckdb -readonly $CXPULSE_HOME/published/cx.duckdb`
    """
    from cxpulse.pipeline import run_once
    from quality.check import QualityGateError

    settings = _settings()
    try:
        result = run_once(settings, full=full)
    except QualityGateError as exc:
        err.print(f"[red]{exc}[/red]\nnothing published: {settings.published_path} is the last good snapshot")
        raise typer.Exit(EXIT_CHECK) from None
    loaded = sum(result.load.rows_loaded.values())
    console.print(f"loaded {result.load.files} files ({loaded} rows); published {result.snapshot}")


@app.command()
def forget(customer_id: str = typer.Argument(..., help="the (pseudonymous) customer id to erase, exactly")) -> None:
    """Erase one customer (GDPR): raw tables, landing and quarantine files, dead letters (matched on the exact
    customer_id and Kafka key), then rebuild the marts of the days they touched and republish every published
    surface (snapshot, exports, dashboard), even when a quality gate fails (its result is printed).

    Needs CXPULSE_ERASURE_SALT (a secret): the erasure ledger keeps counts under a salted hash, not the id.
    Exit code 4 with "erasure incomplete: ..." when something still holds the customer; rerun to finish.

    Example: `cxpulse forget cust-7-00042`
    """
    from cxpulse.pipeline import forget_step

    settings = _settings()
    try:
        require_erasure_salt(settings)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    result = forget_step(settings, customer_id)
    console.print(
        f"erased {result.raw_rows} events and {result.dead_letters} dead letters, rewrote "
        f"{len(result.files_rewritten)} files, rebuilt {result.days} days"
    )
    colour = "green" if result.gates == "passed" else "yellow"
    gates = escape(result.gates)
    console.print(f"quality gates: [{colour}]{gates}[/{colour}] (an erasure republishes whatever they say)")
    if result.published:
        console.print(f"republished {len(result.published)} files: snapshot, exports, dashboard")
    if result.reports_redacted:
        console.print(f"redacted the id in {len(result.reports_redacted)} earlier reports")
    if result.left:
        again = escape(f"cxpulse forget {shlex.quote(customer_id)}")
        err.print(
            f"[red]erasure incomplete:[/red] {escape('; '.join(result.left))}\n"
            f"to finish: fix the cause above, then run `{again}` again (safe to rerun)"
        )
        raise typer.Exit(EXIT_CHECK)
    console.print(f"erasure complete: no published surface holds {escape(repr(customer_id))}")


@app.command()
def dashboard(
    out: Path = typer.Option(None, "--out", help="HTML file to write (default $CXPULSE_HOME/reports/dashboard.html)"),
) -> None:
    """Write the continuous-progress dashboard: one self-contained HTML file (EN/FR), from the published snapshot.

    Example: `cxpulse dashboard --out reports/dashboard.html`
    """
    import duckdb

    from warehouse.dashboard import write_dashboard

    settings = _settings()
    if not settings.published_path.exists():
        console.print("no published snapshot yet: run `cxpulse run` (or `cxpulse dags`) first")
        raise typer.Exit(1)
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        written = write_dashboard(con, out or settings.reports_dir / "dashboard.html")
    finally:
        con.close()
    console.print(f"dashboard written: {written}")


@app.command()
def dags(
    only: list[str] = typer.Option(None, "--dag", help="run only these DAG ids (repeatable)"),
    logical_date: str = typer.Option(None, "--logical-date", help="rerun a past interval (local backfill)"),
) -> None:
    """Run the Airflow DAGs in order with `dag.test()`: cx_load, cx_marts, cx_quality, cx_publish.

    Airflow home and its SQLite metadata DB default to $CXPULSE_HOME/airflow (AIRFLOW_HOME overrides).

    Example: `cxpulse dags --dag cx_load --dag cx_marts`

    Example: `cxpulse dags --logical-date 2026-03-14T00:00:00Z` (the marts come out the same as a single run)
    """
    from cxpulse.airflow_local import DAG_ORDER, run_dags

    settings = _settings()

    def done(dag_id: str, state: str) -> None:
        colour = "green" if state == "success" else "red"
        console.print(f"{dag_id}: [{colour}]{state}[/{colour}]")

    states = run_dags(
        settings, tuple(only) if only else DAG_ORDER, logical_date=_as_of(logical_date, "--logical-date"), on_done=done
    )
    if any(state != "success" for state in states.values()):
        raise typer.Exit(EXIT_CHECK)


@app.command()
def status(
    check: bool = typer.Option(
        False, "--check", help="exit 4 when the counts do not add up, 3 when the broker is down (unknown)"
    ),
) -> None:
    """Reconciliation per topic and partition: produced = loaded + duplicates + dead letters + pending + lag;
    then the lag and the age of the last publish.

    Example: `cxpulse status --check`
    """
    settings = _settings()
    if not settings.warehouse_path.exists():
        console.print("no warehouse yet: run `cxpulse consume --until-idle` then `cxpulse run`")
        raise typer.Exit(1)
    with _kafka_refusals():
        balanced = print_reconciliation(settings, console)
    print_last_publish(settings, console)
    if check and balanced is None:
        raise typer.Exit(EXIT_BROKER)
    if check and not balanced:
        raise typer.Exit(EXIT_CHECK)


if __name__ == "__main__":
    app()
