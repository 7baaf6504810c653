"""ops.runs and the textfile metrics of the batch steps; `cxpulse status` with and without a broker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from cxpulse.cli import EXIT_BROKER, app
from streams.contracts import decode_touchpoint
from streams.landing import batch_path, events_table, write_durably
from warehouse.db import connect
from warehouse.runs import TEXTFILE, last_success, recorded_run

runner = CliRunner()


def _textfile(home: Path) -> dict[tuple[str, str], float]:
    text = (home / TEXTFILE).read_text()
    return {(s.name, s.labels["step"]): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_runs_are_recorded_with_rows_duration_and_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_DAG_RUN_ID", "AIRFLOW_CTX_TASK_ID", "AIRFLOW_CTX_TRY_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    con = connect(tmp_path / "warehouse" / "cx.duckdb")
    before = datetime.now(UTC)
    with recorded_run(con, tmp_path, "load") as run:
        run.rows = 42
    with pytest.raises(ZeroDivisionError), recorded_run(con, tmp_path, "publish"):
        1 / 0  # noqa: B018 - the step fails
    # Under Airflow the row names the DAG run and the try.
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "cx_publish")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "asset_triggered__2026-03-01")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "publish_snapshot_and_exports")
    monkeypatch.setenv("AIRFLOW_CTX_TRY_NUMBER", "2")
    with recorded_run(con, tmp_path, "publish") as run:
        run.rows = 7
    rows = con.execute(
        "select step, status, rows, duration_s >= 0, detail, dag_id, run_id from ops.runs order by started_at"
    ).fetchall()
    assert [r[:4] for r in rows] == [
        ("load", "success", 42, True),
        ("publish", "failed", None, True),
        ("publish", "success", 7, True),
    ]
    assert rows[1][4] == "ZeroDivisionError: division by zero"
    assert rows[2][5:] == ("cx_publish", "cx_publish/asset_triggered__2026-03-01/publish_snapshot_and_exports/try-2")
    assert rows[0][6].startswith("cli/") and rows[0][5] is None
    published = last_success(con, "publish")
    assert before <= published <= datetime.now(UTC)
    assert last_success(con, "transform") is None

    # The latest run per step, for node_exporter's textfile collector.
    metrics = _textfile(tmp_path)
    assert metrics[("cxpulse_step_last_rows", "publish")] == 7
    assert metrics[("cxpulse_step_last_failed", "publish")] == 0
    assert metrics[("cxpulse_step_last_rows", "load")] == 42
    assert metrics[("cxpulse_step_last_success_timestamp_seconds", "publish")] == published.timestamp()
    with pytest.raises(RuntimeError), recorded_run(con, tmp_path, "load"):
        raise RuntimeError("disk on fire")
    metrics = _textfile(tmp_path)
    assert metrics[("cxpulse_step_last_failed", "load")] == 1
    # The last success stays what it was: an alert on its age keeps counting.
    assert ("cxpulse_step_last_success_timestamp_seconds", "load") in metrics
    con.close()


def test_a_step_that_fails_inside_its_transaction_is_still_recorded(tmp_path: Path) -> None:
    con = connect(tmp_path / "cx.duckdb")
    with pytest.raises(Exception, match="Constraint"), recorded_run(con, tmp_path, "load"):
        con.execute("begin")
        con.execute("insert into ops.dirty_days values ('2026-03-01'), ('2026-03-01')")
    assert con.execute("select step, status from ops.runs").fetchall() == [("load", "failed")]
    assert con.execute("select count(*) from ops.dirty_days").fetchall() == [(0,)]
    con.close()


def _one_landed_touchpoint(home: Path) -> None:
    """One valid event landed on cx.touchpoints[0], not loaded yet: consumed 1 = not loaded 1."""
    value = (
        b'{"event_id":"e1","event_type":"contact","occurred_at":"2026-03-01T09:00:00Z","customer_id":"c1",'
        b'"channel":"phone","touchpoint":"billing_hotline","contact_id":"k1","outcome":"abandoned","wait_s":3,"reason":"billing"}'
    )
    event = decode_touchpoint(value, datetime.now(UTC))
    path = batch_path(home / "landing", "cx.touchpoints", 0, 0, 0)
    write_durably(events_table("touchpoints", [event], [value], [0], "cx.touchpoints", 0), path)


def test_status_without_a_broker_says_the_reconciliation_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxpulse.broker import free_port

    monkeypatch.setenv("CXPULSE_HOME", str(tmp_path))
    monkeypatch.setenv("CXPULSE_KAFKA_BOOTSTRAP", f"localhost:{free_port()}")  # nobody listens
    _one_landed_touchpoint(tmp_path)
    con = connect(tmp_path / "warehouse" / "cx.duckdb")
    with recorded_run(con, tmp_path, "publish"):
        pass
    con.execute("update ops.runs set finished_at = finished_at - interval 95 minutes")
    con.close()

    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "reconciliation unknown" in result.output and "not reachable" in result.output
    assert "counts reconcile" not in result.output
    table = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if "│" in line]
    cells = next(row for row in table if row[:2] == ["cx.touchpoints", "all"])
    # topic, partition, produced, committed, consumed, loaded, ..., lag, balance: unknown is '-', never 0
    assert (cells[2], cells[4], cells[-2], cells[-1]) == ("-", "1", "-", "-"), cells
    assert "last publish:" in result.output and "(1 h 35 min ago)" in result.output

    checked = runner.invoke(app, ["status", "--check"])
    assert checked.exit_code == EXIT_BROKER, checked.output


def test_status_check_fails_when_consumed_messages_are_missing_even_without_a_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxpulse.broker import free_port

    monkeypatch.setenv("CXPULSE_HOME", str(tmp_path))
    monkeypatch.setenv("CXPULSE_KAFKA_BOOTSTRAP", f"localhost:{free_port()}")
    _one_landed_touchpoint(tmp_path)
    # A landing file claims offset 1 was consumed too, but holds no row for it.
    path = batch_path(tmp_path / "landing", "cx.touchpoints", 0, 1, 1)
    write_durably(events_table("touchpoints", [], [], [], "cx.touchpoints", 0), path)
    connect(tmp_path / "warehouse" / "cx.duckdb").close()
    result = runner.invoke(app, ["status", "--check"])
    assert result.exit_code == 4, result.output
    assert "do not reconcile" in result.output
