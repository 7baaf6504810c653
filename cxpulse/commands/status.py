"""`cxpulse status`: the reconciliation of the counts, the lag and the age of the last publish."""

from __future__ import annotations

import typer

from cxpulse.commands.common import EXIT_BROKER, EXIT_CHECK, cli_settings, console, kafka_refusals
from cxpulse.views import print_last_publish, print_reconciliation


def status(
    check: bool = typer.Option(
        False, "--check", help="exit 4 when the counts do not add up, 3 when the broker is down (unknown)"
    ),
) -> None:
    """Reconciliation per topic and partition: produced = loaded + duplicates + dead letters + pending + lag;
    then the lag and the age of the last publish.

    Example: `cxpulse status --check`
    """
    settings = cli_settings()
    if not settings.warehouse_path.exists():
        console.print("no warehouse yet: run `cxpulse consume --until-idle` then `cxpulse run`")
        raise typer.Exit(1)
    with kafka_refusals():
        balanced = print_reconciliation(settings, console)
    print_last_publish(settings, console)
    if check and balanced is None:
        raise typer.Exit(EXIT_BROKER)
    if check and not balanced:
        raise typer.Exit(EXIT_CHECK)
