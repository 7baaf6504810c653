"""The `cxpulse` command line: the parser. Each command's handler is in `cxpulse/commands/`.

A command is one line here, `<typer app>.command("<name>")(<handler>)`, in the order `cxpulse --help`
lists them; its options are the handler's parameters. Exit codes: 0 ok, 1 nothing to do yet,
2 configuration (EXIT_CONFIG), 3 broker (EXIT_BROKER), 4 a check failed (EXIT_CHECK).
"""

from __future__ import annotations

import typer

from cxpulse.commands import airflow, broker, demo, forget, pipeline, reports, status, streams
from cxpulse.commands.common import EXIT_BROKER, EXIT_CHECK, EXIT_CONFIG

__all__ = ["EXIT_BROKER", "EXIT_CHECK", "EXIT_CONFIG", "app", "main"]

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

# -- broker ---------------------------------------------------------------------------------------
broker_app.command("start")(broker.broker_start)
broker_app.command("stop")(broker.broker_stop)
broker_app.command("status")(broker.broker_status)

# -- airflow --------------------------------------------------------------------------------------
airflow_app.command("start")(airflow.airflow_start)
airflow_app.command("stop")(airflow.airflow_stop)
airflow_app.command("status")(airflow.airflow_status)
airflow_app.command("install")(airflow.airflow_install)

# -- streams --------------------------------------------------------------------------------------
app.command("produce")(streams.produce)
app.command("consume")(streams.consume)
app.command("simulate")(streams.simulate)
app.command("demo")(demo.demo)

# -- warehouse ------------------------------------------------------------------------------------
app.command("load")(pipeline.load)
app.command("transform")(pipeline.transform)
app.command("check")(pipeline.check)
app.command("alerts")(reports.alerts)
app.command("journeys")(reports.journeys)
incidents_app = typer.Typer(
    help="Incidents (what people are notified of): list them, acknowledge one, snooze one until a date.",
    invoke_without_command=True,
)
app.add_typer(incidents_app, name="incidents")
incidents_app.callback(invoke_without_command=True)(reports.incidents)
incidents_app.command("ack")(reports.incidents_ack)
incidents_app.command("snooze")(reports.incidents_snooze)
app.command("drivers")(reports.drivers)
app.command("run")(pipeline.run)
app.command("forget")(forget.forget)
app.command("dashboard")(reports.dashboard)
app.command("dags")(pipeline.dags)
app.command("status")(status.status)


def main() -> None:
    """Run the command line (the `cxpulse` script calls `app` directly; this is `python -m cxpulse.cli`)."""
    app()


if __name__ == "__main__":
    main()
