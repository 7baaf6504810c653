"""French that a French CX lead would write: an incident notification read end to end, from its findings to
the message recorded for cx.alerts and the webhook, against the exact sentence written here by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from quality import incidents, notifications, wording
from quality.drift import Windows
from quality.sinks import _webhook_text
from streams import alert_contract, formatting
from tests.builders import finding
from warehouse.db import connect

AS_OF = datetime(2026, 3, 16, tzinfo=UTC)
EVIDENCE = "/srv/cx/reports/drift/evidence-20260316T000000Z.html"


def _finding(kpi: str, scope: str, before: float, after: float, n: int, n_base: int) -> alert_contract.Alert:
    moved = (before, after, n, n_base)
    return finding(kpi, scope, moved, alert_id=f"{kpi}-{scope}", severity="critical", dedupe_key=f"{kpi}|{scope}",
                   evidence=EVIDENCE)  # fmt: skip


def test_a_french_incident_message_end_to_end(tmp_path: Path) -> None:
    members = [
        _finding("nps", "channel:phone", 24.0, 9.2, 2328, 9310),
        _finding("nps", "all", 26.0, 22.1, 8000, 32000),
        _finding("csat", "channel:phone", 0.86, 0.79, 2100, 8800),
        _finding("service_level", "channel:phone", 0.81, 0.62, 5400, 21000),
    ]
    group = incidents.Group(incidents.Root("channel:phone", "all", 0.87, 0.80, 0.07), "nps", members)
    windows = Windows.ending(AS_OF, 7, 28)
    incident = incidents._incident(group, "inc-1", AS_OF, AS_OF, windows)
    con = connect(tmp_path / "cx.duckdb")
    notifications.record_incidents(con, [incidents.Transition("opened", incident, members)], AS_OF)
    message_fr, payload = con.execute("select message_fr, payload from marts.notifications").fetchall()[0]
    con.close()
    expected = (
        "Incident [critique] Net Promoter Score −14,8 points sur le canal téléphone (24,0 points → 9,2 points, "
        "2\u202f328 réponses contre 9\u202f310 sur la période de référence) ; cause localisée : le canal "
        "téléphone, qui explique 87 % de l'évolution de l'ensemble des clients (notes : 80 %, répartition des "
        "réponses : 7 %). Ont aussi bougé : Satisfaction client (notes 4-5). Leviers de service qui ont bougé : "
        "Niveau de service (décroché en 20 s) −19,0 pts. 4 constats regroupés. "
        f"Preuves : {EVIDENCE}"
    )
    assert message_fr == expected
    notice = alert_contract.decode(payload.encode())  # what cx.alerts carries
    assert isinstance(notice, alert_contract.IncidentNotice) and notice.message_fr == expected
    assert _webhook_text("critical", "en", message_fr).endswith("\n" + expected)  # what the webhook posts


def test_numbers_scopes_and_dates_are_written_the_french_way() -> None:
    assert formatting.number(2328, 0, french=True) == "2\u202f328"
    assert formatting.number(2328, 0) == "2,328"
    assert formatting.number(10.2, 1, french=True) == "10,2"
    assert formatting.number(-1234567.25, 2, french=True) == "−1\u202f234\u202f567,25"
    assert formatting.value(0.852, "ratio", french=True) == "85,2 %"
    assert formatting.change(-0.031, "ratio", french=True) == "−3,1 pts"
    assert formatting.day(datetime(2026, 12, 7, 23, tzinfo=UTC), french=True) == "07/12/2026"
    assert formatting.day("2026-12-07") == "2026-12-07"
    assert formatting.moment(datetime(2026, 12, 7, 9, 5), french=True) == "07/12/2026 à 09:05"
    assert wording.scope_label("all", True) == "ensemble" and wording.scope_label("all") == "all"
    assert wording.scope_label("channel:phone") == "channel:phone"  # English tables show scopes as stored
    assert wording.scope_name("all", True) == "l'ensemble des clients"
    assert wording.scope_name("channel:chat", True) == "le canal chat"
    assert wording.scope_label("channel:phone", True) == "canal téléphone"
    assert wording.scope_name("segment:residential", True) == "le segment particuliers"
    assert wording.scope_name("touchpoint:app_chat", True) == "le point de contact chat de l'application"
    assert wording.scope_name("touchpoint:kiosk_9", True) == "le point de contact kiosk_9"  # not named: raw
    # English stays as it was
    assert wording.scope_name("segment:residential") == "the residential segment"
    assert formatting.header("headline", True) == "ce qui s'est passé"
    assert formatting.day(AS_OF - timedelta(days=1), True) == "15/03/2026"


def test_the_evidence_legend_names_kpis_and_scopes_in_both_languages(tmp_path: Path) -> None:
    from quality.evidence import _add_legend

    report = tmp_path / "evidence.html"
    report.write_text("<html><body><p>report</p></body></html>", encoding="utf-8")
    _add_legend(report, {("nps", "segment:residential"): "s001_nps"})
    row = report.read_text(encoding="utf-8").split("<tr>")[2]
    assert row == (
        "<td>s001_nps</td><td>nps|segment:residential</td><td>Net Promoter Score, segment:residential</td>"
        "<td>Net Promoter Score, segment particuliers</td></tr></table></section><p>report</p></body></html>"
    )
