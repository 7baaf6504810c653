"""Hot-path detractor alerts, recorded in marts.alerts (rule `detractor_complaint`) and linked to their case.

The consumer sends them on cx.alerts within seconds (streams.hot_rules). It does not write them to the
warehouse: data flows streams -> landing -> warehouse -> transforms -> quality, and the warehouse is written
by DAG tasks only. So the quality step derives the same alerts from the loaded answers, with the same rule
(`streams.hot_rules.fires`, its one definition) and the same builder, hence the same `alert_id` (a UUID of the
answer's `response_id`) as the message on cx.alerts: a CX lead can match one with the other.

What the batch sees that the consumer may not: a complaint case opened before the answer but consumed after it
(another partition), or older than the consumer's memory of complaint cases. Such an answer can be recorded
with `critical` while cx.alerts said `warning`, or recorded while cx.alerts said nothing; the warehouse row is
the considered one. The row names the answer (`response_id`), its `case_id` or `contact_id`, never the customer
id (marts are published; cx.alerts carries it for the call back).

Lifecycle: an answer of the current alert window (`alert_current_days`, the time the team has to call back) is
open; the run after it leaves the window resolves it. Older answers (a new warehouse's history) are not
recorded. Reruns insert nothing twice (key `alert_id`). delivery_status `hot_path`: the consumer delivered it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from cxpulse.config import Settings
from quality.alerts import ensure_table
from streams.contracts import SurveyResponse
from streams.hot_rules import RULE, detractor_alert, fires

_COLUMNS = (
    "alert_id",
    "rule",
    "severity",
    "kpi",
    "scope",
    "window_start",
    "window_end",
    "current_value",
    "n_current",
    "message",
    "message_fr",
    "status",
    "first_fired_at",
    "last_seen_at",
    "dedupe_key",
    "response_id",
    "case_id",
    "contact_id",
)


def record(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: datetime) -> tuple[int, int]:
    """Open a row per hot answer of the current window, resolve those that left it: (opened, resolved)."""
    ensure_table(con)
    start = as_of - timedelta(days=settings.alert_current_days)
    threshold = max(settings.hot_detractor_nps_max, settings.hot_complaint_nps_max)
    rows = con.execute(
        """
        with complaints as (
            select case_id, min(occurred_at) as opened_at from staging.stg_case_events
            where event_type = 'case_opened' and is_complaint group by case_id
        )
        select r.response_id, r.occurred_at, r.customer_id, r.channel, r.touchpoint, r.survey, r.contact_id,
               r.case_id, r.nps, c.opened_at is not null and c.opened_at <= r.occurred_at as with_complaint
        from staging.stg_survey_responses r left join complaints c using (case_id)
        where r.occurred_at >= $start and r.occurred_at < $as_of and r.nps <= $threshold
          and r.response_id not in (select response_id from marts.alerts where rule = $rule
                                    and response_id is not null)
        order by r.occurred_at, r.response_id""",
        {"start": start, "as_of": as_of, "threshold": threshold, "rule": RULE},
    ).fetchall()
    new = []
    for response_id, occurred_at, customer_id, channel, touchpoint, survey, contact_id, case_id, nps, complaint in rows:
        if not fires(nps, complaint, settings):
            continue
        answer = SurveyResponse(
            response_id=response_id,
            occurred_at=occurred_at,
            customer_id=customer_id,
            channel=channel,
            touchpoint=touchpoint,
            survey=survey,
            contact_id=contact_id,
            case_id=case_id,
            nps=nps,
        )
        a = detractor_alert(answer, complaint, include_verbatim=False, name_customer=False)
        new.append(
            [a.alert_id, a.rule, a.severity, a.kpi, a.scope, a.window_start, a.window_end, a.current_value]
            + [a.n_current, a.message, a.message_fr, "open", as_of, as_of, a.dedupe_key]
            + [a.response_id, a.case_id, a.contact_id]
        )
    if new:
        hot = pa.table({c: [row[i] for row in new] for i, c in enumerate(_COLUMNS)})  # noqa: F841 - read by name
        con.execute(
            f"insert into marts.alerts ({', '.join(_COLUMNS)}, delivery_status) "  # noqa: S608 - fixed columns
            f"select {', '.join(_COLUMNS)}, 'hot_path' from hot on conflict do nothing"
        )
    resolved = con.execute(
        "update marts.alerts set status = 'resolved', resolved_at = ?, last_seen_at = ? "
        "where rule = ? and status = 'open' and window_end < ?",
        [as_of, as_of, RULE, start],
    ).fetchall()[0][0]
    return len(new), resolved
