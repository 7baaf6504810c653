"""`cxpulse demo`: the whole pipeline once, from a local broker to the published results."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import typer

from cxpulse.commands.common import EXIT_BROKER, EXIT_CHECK, cli_settings, console, err
from cxpulse.commands.streams import simulation_options

DEMO_SCENARIO = "nps-drop:channel=chat:from=-7d:points=15"
# The demo reports the days, weeks and months of a French contact centre (CXPULSE_REPORTING_TIMEZONE
# set in the environment wins).
DEMO_TIMEZONE = "Europe/Paris"


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
    settings = cli_settings()
    # History ends at midnight UTC: a second demo the same day sends exactly the same events again,
    # which the loader drops as redeliveries (the reconciliation counts them).
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    options = simulation_options(days, customers, seed, scenario or [DEMO_SCENARIO], 0.001, 0.002, midnight)
    try:
        result = run_demo(settings, options, console)
    except BrokerError as exc:
        err.print(f"[red]Kafka did not start:[/red] {exc}")
        raise typer.Exit(EXIT_BROKER) from None
    if not result.balanced:
        raise typer.Exit(EXIT_CHECK)
