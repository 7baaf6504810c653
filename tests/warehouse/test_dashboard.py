"""The dashboard shows incidents first (each expandable to its findings and evidence), then the targets
digest; the alert table stays for drill-down. Text from events is escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from quality import alerts, incidents, notifications
from streams.alert_contract import DigestItem, Incident, TargetDigest, encode
from warehouse.dashboard import render
from warehouse.db import connect

T0 = datetime(2026, 3, 16, 6, tzinfo=UTC)


def test_incidents_first_with_their_findings_then_digest_then_alerts(tmp_path: Path) -> None:
    con = connect(tmp_path / "cx.duckdb")
    for scope in ("channel:chat", "touchpoint:<b>app_chat</b>"):
        alerts.apply(
            con,
            [
                alerts.Candidate(
                    rule="nps_shift",
                    severity="critical",
                    kpi="nps",
                    scope=scope,
                    message=f"NPS fell on {scope}",
                    message_fr=f"Le NPS a baissé sur {scope}",
                    dedupe_key=f"nps_shift|nps|{scope}",
                    evidence="/tmp/evidence.html",
                )
            ],
            T0,
            set(),
        )
    con.execute("update marts.alerts set incident_id = 'inc-1'")
    incidents.ensure_table(con)
    incidents._insert(
        con,
        Incident(
            incident_id="inc-1",
            status="open",
            severity="critical",
            opened_at=T0,
            last_seen_at=T0,
            root_scope="channel:chat",
            explained_share=0.93,
            kpis=["nps"],
            alerts=2,
            headline="Net Promoter Score −15.0 points on the chat channel",
            headline_fr="Net Promoter Score −15,0 points sur le canal chat",
            evidence=["/tmp/evidence.html"],
        ),
    )
    con.execute(notifications.DDL)
    item = DigestItem(
        kpi="answer_rate",
        scope="all",
        label_en="Answer rate",
        label_fr="Taux de décroché",
        value=0.8,
        target=0.9,
        unit="ratio",
        n=500,
        red_since="2026-03-02",
        trend="down",
    )
    digest = TargetDigest(
        message="m", message_fr="m", digest_id="d", period_type="week", period_start="2026-03-09", items=[item]
    )
    notifications._record(con, "d", "digest", "d", "digest", "warning", T0, "m", "m", encode(digest))
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
