"""`cxpulse airflow start|stop|status|install`: a real Airflow running the cxpulse DAGs."""

from __future__ import annotations

import typer

from cxpulse.commands.common import EXIT_CHECK, EXIT_CONFIG, cli_settings, console, err


def airflow_start(
    port: int = typer.Option(8080, "--port", help="port of the UI and REST API (api-server)"),
) -> None:
    """Start Airflow with the cxpulse DAGs: migrate its metadata DB, create the pool `cx_warehouse`,
    run the four components (LocalExecutor) in the background and wait until they are healthy.

    Airflow's home is $CXPULSE_HOME/airflow (AIRFLOW_HOME overrides); metadata on SQLite there, or on
    the database of AIRFLOW__DATABASE__SQL_ALCHEMY_CONN when set (e.g. postgresql+psycopg2://...;
    its password is printed as ***).
    New landing files start `cx_load` within seconds; the rest of the chain follows by Assets.

    Example: `cxpulse airflow start --port 8080`, then `cxpulse consume` in another terminal.
    """
    from cxpulse.airflow_service import AirflowServiceError, start

    settings = cli_settings()
    try:
        with console.status("starting Airflow (db migrate, pool, 4 components)..."):
            info = start(settings, port=port)
    except AirflowServiceError as exc:
        err.print(f"[red]Airflow did not start:[/red] {exc}")
        raise typer.Exit(EXIT_CHECK) from None
    console.print(f"Airflow is up: [bold]{info.url}[/bold] (home {info.home}, metadata {info.database})")
    console.print(f"log in as [bold]admin[/bold]; the generated password is in {info.password_file}")
    console.print("components' logs: " + str(info.home / "run") + "; stop with `cxpulse airflow stop`")


def airflow_stop() -> None:
    """Stop the components started by `cxpulse airflow start` for this data home (and only those).

    Example: `CXPULSE_HOME=/srv/cxpulse cxpulse airflow stop`
    """
    from cxpulse.airflow_service import stop

    stopped = stop(cli_settings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "no Airflow was running for this data home")


def airflow_status() -> None:
    """Components, health, the pool and the last run of each DAG. Exit code 1 when not running healthy.

    Example: `cxpulse airflow status || cxpulse airflow start`
    """
    from cxpulse.airflow_service import status

    info = status(cli_settings())
    if not info["pids"]:
        console.print(f"Airflow is not running for {info['home']}: `cxpulse airflow start`")
        raise typer.Exit(1)
    console.print(f"{info['url']} ({'healthy' if info['healthy'] else 'NOT healthy'}); home {info['home']}")
    for component, pid in sorted(info["pids"].items()):
        console.print(f"  {component}: pid {pid}")
    console.print(f"  admin password: {info['password_file']}")
    metadb = ((info["health"] or {}).get("metadatabase") or {}).get("status", "unknown")
    console.print(f"  metadata DB: {info['database']} ({metadb})")
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
