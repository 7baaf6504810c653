"""The dashboard shows incidents first (each expandable to its findings and evidence), then the targets
digest; the alert table stays for drill-down. Text from events is escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from quality import alerts, incidents
from tests.builders import finding, incident, record_answer_rate_digest
from warehouse.dashboard import render
from warehouse.db import connect

T0 = datetime(2026, 3, 16, 6, tzinfo=UTC)
EVIDENCE = "/tmp/evidence.html"


def test_incidents_first_with_their_findings_then_digest_then_alerts(tmp_path: Path) -> None:
    con = connect(tmp_path / "cx.duckdb")
    for scope in ("channel:chat", "touchpoint:<b>app_chat</b>"):
        message, message_fr = f"NPS fell on {scope}", f"Le NPS a baissé sur {scope}"
        fell = finding(scope=scope, severity="critical", message=message, message_fr=message_fr, evidence=EVIDENCE)
        alerts.apply(con, [fell], T0, set())
    con.execute("update marts.alerts set incident_id = 'inc-1'")
    incidents.ensure_table(con)
    headline = "Net Promoter Score −15.0 points on the chat channel"
    headline_fr = "Net Promoter Score −15,0 points sur le canal chat"
    incidents._insert(
        con,
        incident(at=T0, explained_share=0.93, alerts=2, headline=headline, headline_fr=headline_fr,
                 evidence=[EVIDENCE]),
    )  # fmt: skip
    record_answer_rate_digest(con, T0)
    html = render(con)
    con.close()
    incident_at = html.index("Net Promoter Score −15.0 points on the chat channel")
    digest_at = html.index('<table id="digest">')
    alerts_at = html.index('<table id="alerts">')
    assert incident_at < digest_at < alerts_at
    details = html[html.index('<details class="incident">') : html.index("</details>")]
    assert "NPS fell on channel:chat" in details and "file:///tmp/evidence.html" in details
    assert "&lt;b&gt;app_chat&lt;/b&gt;" in details and "<b>app_chat" not in html
    assert "Taux de décroché" in html and "80.0 %" in html and "2026-03-02" in html
