"""`cxpulse produce`, `consume`, `simulate`: events into Kafka and out of it into landing files."""

from __future__ import annotations

import errno
from datetime import datetime
from pathlib import Path

import typer

from cxpulse.commands.common import EXIT_BROKER, EXIT_CHECK, EXIT_CONFIG, cli_settings, console, err, kafka_refusals
from cxpulse.views import progress_bar


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

    settings = cli_settings()
    total = sum(1 for line in file.open("rb") if line.strip())
    try:
        with kafka_refusals(), progress_bar(err) as progress:
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

    settings = cli_settings()
    if metrics_port is not None:
        if not 0 <= metrics_port < 65536:
            err.print(f"[red]--metrics-port must be a TCP port or 0 (no endpoint), got {metrics_port}[/red]")
            raise typer.Exit(EXIT_CONFIG)
        settings = dataclasses.replace(settings, metrics_port=metrics_port)
    try:
        with kafka_refusals():
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


def simulation_options(
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

    settings = cli_settings()
    options = simulation_options(days, customers, seed, scenario or [], malformed_rate, duplicate_rate)
    try:
        with kafka_refusals(), progress_bar(err) as progress:
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
