"""`cxpulse load`, `transform`, `check`, `run`, `dags`: the batch pipeline, step by step, at once or by its DAGs."""

from __future__ import annotations

import typer

from cxpulse.commands.common import EXIT_CHECK, cli_settings, console, err, parse_as_of


def load() -> None:
    """Load new landing and quarantine files into raw.touchpoints, raw.surveys, ops.deadletters.

    Example: `cxpulse load` (safe to rerun: a file ledger and id dedupe prevent double loads)
    """
    from cxpulse.pipeline import load_step

    result = load_step(cli_settings())
    console.print(
        f"loaded {result.files} files: rows {result.rows_loaded or 0}, "
        f"duplicates dropped {result.duplicates_dropped or 0}, dead letters {result.dead_letters}"
    )


def transform(
    full: bool = typer.Option(False, "--full", help="rebuild every day, not only the touched ones"),
) -> None:
    """Build the staging views and KPI marts (incremental by default), then run the model tests.

    Example: `cxpulse transform --full`
    """
    from cxpulse.pipeline import transform_step
    from transforms.runner import SchemaTestError

    try:
        result = transform_step(cli_settings(), full=full)
    except SchemaTestError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_CHECK) from None
    console.print(f"built the marts ({'full' if result.full else 'incremental'}: {len(result.days)} days)")


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
        result = check_step(cli_settings(), parse_as_of(as_of))
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


def run(full: bool = typer.Option(False, "--full", help="rebuild every day of the marts")) -> None:
    """Run the batch pipeline once without Airflow: load -> transform -> check -> publish.

    The same functions as the DAGs cx_load, cx_marts, cx_quality and cx_publish. When a check
    fails, nothing is published and BI tools keep the last good snapshot (exit code 4).

    Example: `cxpulse run && duckdb -readonly $CXPULSE_HOME/published/cx.duckdb`
    """
    from cxpulse.pipeline import run_once
    from quality.check import QualityGateError

    settings = cli_settings()
    try:
        result = run_once(settings, full=full)
    except QualityGateError as exc:
        err.print(f"[red]{exc}[/red]\nnothing published: {settings.published_path} is the last good snapshot")
        raise typer.Exit(EXIT_CHECK) from None
    loaded = sum(result.load.rows_loaded.values())
    console.print(f"loaded {result.load.files} files ({loaded} rows); published {result.snapshot}")


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

    settings = cli_settings()

    def done(dag_id: str, state: str) -> None:
        colour = "green" if state == "success" else "red"
        console.print(f"{dag_id}: [{colour}]{state}[/{colour}]")

    states = run_dags(
        settings,
        tuple(only) if only else DAG_ORDER,
        logical_date=parse_as_of(logical_date, "--logical-date"),
        on_done=done,
    )
    if any(state != "success" for state in states.values()):
        raise typer.Exit(EXIT_CHECK)
