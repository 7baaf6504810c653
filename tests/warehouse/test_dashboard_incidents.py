"""The dashboard shows who acknowledged or snoozed an open incident, and the digest's scopes and dates in
French as well."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

from cxpulse.config import Settings
from quality import alerts, incidents, lifecycle
from streams.alert_contract import Incident
from tests.builders import incident, record_answer_rate_digest
from warehouse.dashboard import render
from warehouse.db import connect

T0 = datetime(2026, 3, 16, 6, tzinfo=UTC)


def _incident(incident_id: str) -> Incident:
    headline, headline_fr = f"headline {incident_id}", f"titre {incident_id}"
    return incident(incident_id, at=T0, explained_share=0.93, headline=headline, headline_fr=headline_fr)


def test_acknowledged_and_snoozed_incidents_say_so_in_both_languages(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path)
    con = connect(tmp_path / "cx.duckdb")
    alerts.ensure_table(con)
    incidents.ensure_table(con)
    acked, snoozed, past = _incident("inc-acked"), _incident("inc-snoozed"), _incident("inc-past")
    for one in (acked, snoozed, past):
        incidents._insert(con, one)
    lifecycle.record(settings, acked, "ack", by="alice", note="<b>INC-4411</b>", at=T0)
    lifecycle.record(settings, snoozed, "snooze", by="bruno", until=date(2999, 1, 4), today=date(2026, 3, 16))
    lifecycle.record(settings, past, "snooze", by="chloé", until=date(2026, 3, 17), today=date(2026, 3, 16))
    lifecycle.sync(con, settings)
    record_answer_rate_digest(con, T0, scope="channel:phone")
    html = render(con)
    con.close()

    def summary(incident_id: str) -> str:
        start = html.index(f"headline {incident_id}")
        return html[start : html.index("</summary>", start)]

    assert "acknowledged by alice on 2026-03-16: &lt;b&gt;INC-4411&lt;/b&gt;" in summary("inc-acked")
    assert "pris en charge par alice le 16/03/2026 : &lt;b&gt;INC-4411&lt;/b&gt;" in summary("inc-acked")
    assert "snoozed until 2999-01-04 (bruno)" in summary("inc-snoozed")
    assert "en pause jusqu&#39;au 04/01/2999 (bruno)" in summary("inc-snoozed")
    assert "follow-up" not in summary("inc-past")  # that snooze is over
    assert '<span class="en">critical</span><span class="fr">critique</span>' in html
    table = html[html.index('<table id="digest">') : html.index("</table>", html.index('<table id="digest">'))]
    assert '<span class="en">channel:phone</span><span class="fr">canal téléphone</span>' in table
    assert '<span class="fr">02/03/2026</span>' in table
    assert "commençant le 09/03/2026" in html
    assert '<span class="fr">80,0 %</span>' in table and '<span class="en">80.0 %</span>' in table


def test_tile_and_digest_numbers_have_a_french_twin() -> None:
    from warehouse.dashboard import format_value

    assert [format_value(0.852, "ratio"), format_value(0.852, "ratio", french=True)] == ["85.2 %", "85,2 %"]
    assert format_value(-3.25, "points", french=True) == "−3,2" and format_value(12.3, "points", True) == "+12,3"
    assert format_value(1234.4, "seconds") == "1234 s" and format_value(1234.4, "seconds", True) == "1\u202f234 s"
    assert format_value(None, "hours", True) == "–"
