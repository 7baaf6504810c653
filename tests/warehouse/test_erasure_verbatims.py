"""`cxpulse forget` with example verbatims switched on (config verbatim_examples = all): a customer's verbatim
quoted in the dashboard, the alerts, the incidents and the notifications leaves every one of them; what was
already delivered is named as unreachable."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings, to_env
from cxpulse.pipeline import check_step, publish_step, transform_step
from quality.alerts import ensure_table
from tests.quality.test_emerging import APP, AS_OF, write_answers
from transforms.verbatims.learned import default_analyser
from warehouse.db import connect
from warehouse.erasure import forget, redact_verbatim_copies, verbatim_copies_left
from warehouse.verbatim_examples import EXAMPLE_CHARS, quote

SALT = "a-test-salt-0123456789"
TARGET = "cust-zorg-1"
MARK = "Zorglubix-4711"  # the distinctive string grepped for
# about the app (the topic that rises on chat), longer than an example (copies are cut), and more negative
# to the build's analyser than the other app answers, so that it is among the examples an alert quotes
VERBATIM = (
    f"Application nulle qui plante encore, {MARK}, impossible de me connecter, bug sur bug, appli inutilisable, "
    "une honte, je suis furieux, impossible de me connecter depuis une semaine, scandaleux"
)


def _text_hits(con: duckdb.DuckDBPyConnection, needle: str) -> list[str]:
    """schema.table.column of every text column of a database holding `needle` (raw included)."""
    columns = con.execute(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns as c "
        "inner join information_schema.tables as t using (table_catalog, table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' and c.data_type = 'VARCHAR' and c.table_catalog = current_database()"
    ).fetchall()
    return [
        f"{s}.{t}.{c}"
        for s, t, c in columns
        if con.execute(f'select count(*) from "{s}"."{t}" where contains("{c}", ?)', [needle]).fetchall()[0][0]  # noqa: S608
    ]


def test_quotes_in_every_text_column_are_replaced_and_found(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    con.execute("create table marts.notes (id integer, message varchar, payload varchar)")
    long = "x" * (EXAMPLE_CHARS + 20)
    # as the alert text quotes it, and as the JSON payload of its notification spells it (escaped quotes)
    con.execute(
        "insert into marts.notes values (1, ?, ?), (2, 'nul, « autre »', '{}')",
        [f"Examples: {quote(long)} / « ok »", '{"message": "Examples: « say \\"hi\\" »"}'],
    )
    assert verbatim_copies_left(con, [long, 'say "hi"']) == ["marts.notes.message", "marts.notes.payload"]
    assert redact_verbatim_copies(con, [long, 'say "hi"', "nul"]) == 2  # "nul" is never quoted: untouched
    assert con.execute("select message, payload from marts.notes order by id").fetchall() == [
        ("Examples: « [erased] » / « ok »", '{"message": "Examples: « [erased] »"}'),
        ("nul, « autre »", "{}"),
    ]
    assert verbatim_copies_left(con, [long, 'say "hi"']) == []


@pytest.mark.parametrize("include_verbatim", [False, True])
def test_hot_alerts_that_carried_the_verbatim_are_named_as_unreachable(tmp_path: Path, include_verbatim: bool) -> None:
    con = connect(tmp_path / "w.duckdb")
    ensure_table(con)
    con.execute(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, verbatim, "
        "payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) "
        "values ('r1', now(), ?, 'phone', 'q', 'post_contact', 0, ?, '{}', 't', 0, 0, now())",
        [TARGET, VERBATIM],
    )
    con.execute(
        "insert into marts.alerts (alert_id, rule, severity, kpi, scope, message, message_fr, status, first_fired_at, "
        "last_seen_at, dedupe_key, response_id) values ('a1', 'detractor_complaint', 'warning', 'nps', 'all', 'm', "
        "'m', 'open', now(), now(), 'k', 'r1')"
    )
    settings = dataclasses.replace(
        Settings(), home=tmp_path, erasure_salt=SALT, alert_include_verbatim=include_verbatim
    )
    unreachable = forget(con, settings, TARGET).unreachable
    con.close()
    if include_verbatim:  # the consumer put the verbatim in the hot alert it sent on cx.alerts
        assert len(unreachable) == 1 and unreachable[0].startswith("up to 1 hot alert(s) the consumer sent")
    else:
        assert unreachable == []


@pytest.mark.slow
def test_forget_leaves_no_copy_of_the_verbatim_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = default_analyser()  # premise: the alert quotes the most negative answers first
    assert model.analyse(VERBATIM, "fr").sentiment_score < model.analyse(APP, "fr").sentiment_score
    assert len(VERBATIM) > EXAMPLE_CHARS
    settings = dataclasses.replace(
        Settings(),
        home=tmp_path / "home",
        kafka_bootstrap="localhost:1",
        erasure_salt=SALT,
        verbatim_examples="all",
        alert_delivery_budget_s=1.0,
    )
    monkeypatch.setenv("CXPULSE_VERBATIM_EXAMPLES", "all")  # the dashboard reads the config itself
    con = connect(settings.warehouse_path)
    write_answers(con, {"chat": (0.04, 0.30)})  # the app topic rises on chat: an emerging_topic alert
    con.execute(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, verbatim, "
        "language, payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) "
        "values ('r-zorg', ?, ?, 'chat', 'q', 'post_contact', 0, ?, 'fr', '{}', 't', 0, 0, now())",
        [AS_OF - timedelta(hours=3), TARGET, VERBATIM],
    )
    con.execute("insert or ignore into ops.dirty_days select distinct cast(occurred_at as date) from raw.surveys")
    con.close()
    transform_step(settings)
    check_step(settings, AS_OF)
    publish_step(settings)

    con = duckdb.connect(str(settings.warehouse_path))
    # the copies exist: alert, incident, notification (payload too), and the published dashboard
    copies = set(_text_hits(con, MARK))
    assert {"marts.alerts.message", "marts.incidents.headline", "marts.notifications.payload"} <= copies, copies
    assert MARK in (settings.reports_dir / "dashboard.html").read_text()
    messages = con.execute("select string_agg(message, ' ') from marts.alerts where rule = 'emerging_topic'")
    assert quote(VERBATIM) in messages.fetchall()[0][0]  # cut to EXAMPLE_CHARS, as every example
    # one notification went out before the erasure (as a broker would have acknowledged it)
    delivered = con.execute(
        "update marts.notifications set delivery_status = 'delivered' where contains(payload, ?)", [MARK]
    ).fetchall()[0][0]
    assert delivered >= 1
    con.close()

    env = {**os.environ, **to_env(settings), "CXPULSE_ERASURE_SALT": SALT, "CXPULSE_VERBATIM_EXAMPLES": "all"}
    done = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "forget", TARGET], env=env, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "erasure complete" in done.stdout and "quotes of the customer's verbatims" in done.stdout
    assert f"cannot be recalled: {delivered} notification(s) quoting the customer's verbatim" in done.stderr
    assert "not reached: the live warehouse file keeps erased bytes in free blocks" in done.stdout

    # grep of every file cxpulse wrote under its home but the live warehouse (DuckDB leaves deleted bytes in
    # its free blocks: said by `forget` and the README), which is checked column by column below
    live = {settings.warehouse_path, settings.warehouse_path.with_name(settings.warehouse_path.name + ".wal")}
    files = [p for p in settings.home.rglob("*") if p.is_file() and p not in live]
    assert settings.published_path in files and (settings.reports_dir / "dashboard.html") in files
    assert [p for p in files if MARK.encode() in p.read_bytes()] == []
    for database in (settings.warehouse_path, settings.published_path):
        reader = duckdb.connect(str(database), read_only=True)
        assert _text_hits(reader, MARK) == [], database
        reader.close()
    reader = duckdb.connect(str(settings.warehouse_path), read_only=True)
    erased = reader.execute("select count(*) from marts.alerts where contains(message, '« [erased] »')")
    assert erased.fetchall()[0][0] >= 1  # the alert kept its text, without the quote
    reader.close()
