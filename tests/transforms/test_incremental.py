"""An incremental build after every load equals a full rebuild, value for value.

A seeded random dataset is written straight into the raw tables in chunks, the way the loader does it
(rows plus their UTC days in ops.dirty_days); later chunks carry late events for old days (contacts
that turn old contacts into repeats, resolutions and reopenings of old cases, old surveys). After
each chunk the marts are built incrementally; at the end a copy of the warehouse is rebuilt in full
and every mart must be identical (EXCEPT ALL both ways is empty). Measures are whole numbers so
that sums are exact whatever order rows are added in.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from cxpulse.config import Settings
from transforms.runner import MARTS, build
from warehouse.db import connect
from warehouse.erasure import forget

START = datetime(2026, 2, 1, tzinfo=UTC)
DAYS = 45
CHANNELS = ("phone", "chat", "email", "web")
REASONS = ("billing", "delivery", "technical")
CATEGORIES = ("billing_error", "delivery_delay", "product_defect", "staff_attitude")
TP_COLUMNS = (
    "event_id event_type occurred_at customer_id channel touchpoint contact_id outcome wait_s talk_s hold_s "
    "acw_s reason case_id is_complaint category handle_s compensation_eur step_status journey segment"
).split()
SV_COLUMNS = (
    "response_id occurred_at customer_id channel touchpoint survey nps csat ces expected emotion journey segment"
).split()
# verbatims for staging.verbatim_analysis and marts.verbatim_topics_daily (a language left out is detected)
SV_COLUMNS += ["verbatim", "language"]
VERBATIMS = (
    (None, None),
    ("Vingt minutes d'attente et toujours pas de solution", "fr"),
    ("Facture en double, remboursement promis jamais reçu", None),
    ("The agent was rude and the app keeps crashing", "en"),
    ("Conseillère très aimable, problème réglé", "fr"),
    ("Parcel late again, no tracking info", None),
    ("ok", "fr"),
)


def as_text(value: Any) -> Any:
    """Timestamps as RFC 3339 text, every other one with a +02:00 offset (stored in UTC all the same)."""
    if not isinstance(value, datetime):
        return value
    offset = timezone(timedelta(hours=2)) if value.second % 2 else UTC
    return value.astimezone(offset).isoformat()


def random_events(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    touchpoints: list[dict[str, Any]] = []
    surveys: list[dict[str, Any]] = []
    customers = [f"c{i}" for i in range(40)]

    def at(day: float) -> datetime:
        return START + timedelta(seconds=int(day * 86400))

    def contact(moment: datetime, customer: str, reason: str) -> None:
        answered = rng.random() < 0.8
        touchpoints.append(
            {
                "event_type": "contact",
                "occurred_at": moment,
                "customer_id": customer,
                "channel": rng.choice(CHANNELS[:2]),
                "touchpoint": rng.choice(("queue_a", "queue_b")),
                "contact_id": f"k{len(touchpoints)}",
                "outcome": "answered" if answered else "abandoned",
                "wait_s": float(rng.randint(0, 60)),
                "talk_s": float(rng.randint(30, 900)) if answered else None,
                "hold_s": float(rng.randint(0, 60)) if answered else None,
                "acw_s": float(rng.randint(0, 120)) if answered else None,
                "reason": reason,
            }
        )

    for _ in range(600):
        moment = at(rng.uniform(0, DAYS))
        customer, reason = rng.choice(customers), rng.choice(REASONS)
        contact(moment, customer, reason)
        if rng.random() < 0.15:  # a follow-up right at, or just past, the end of the FCR window
            contact(moment + timedelta(hours=168, seconds=rng.choice((0, 1, -3600))), customer, reason)

    for i in range(150):
        opened = at(rng.uniform(0, DAYS))
        customer, channel = rng.choice(customers), rng.choice(CHANNELS[2:])
        complaint = rng.random() < 0.5
        base = {"customer_id": customer, "channel": channel, "touchpoint": "form", "case_id": f"case{i}"}
        touchpoints.append(
            {
                **base,
                "event_type": "case_opened",
                "occurred_at": opened,
                "reason": rng.choice(REASONS),
                "is_complaint": complaint,
                "category": rng.choice(CATEGORIES) if complaint else None,
            }
        )
        moment = opened
        for step in ("case_replied", "case_resolved", "case_reopened", "case_resolved"):
            if rng.random() < 0.3:
                break
            moment += timedelta(hours=rng.randint(1, 200))
            touchpoints.append(
                {
                    **base,
                    "event_type": step,
                    "occurred_at": moment,
                    "handle_s": float(rng.randint(0, 1800)) if step != "case_reopened" else None,
                    "compensation_eur": float(rng.choice((0, 10, 25))) if step == "case_resolved" else None,
                }
            )

    for _ in range(40):
        touchpoints.append(
            {
                "event_type": "journey_step",
                "occurred_at": at(rng.uniform(0, DAYS)),
                "customer_id": rng.choice(customers),
                "channel": "app",
                "touchpoint": "checkout",
                "step_status": "ok",
            }
        )

    for _ in range(400):
        scores = {
            "nps": rng.choice((None, *range(11))),
            "csat": rng.choice((None, 1, 2, 3, 4, 5)),
            "ces": rng.choice((None, *range(1, 8))),
        }
        if all(v is None for v in scores.values()):
            scores["ces"] = 4
        surveys.append(
            {
                "occurred_at": at(rng.uniform(0, DAYS)),
                "customer_id": rng.choice(customers),
                "channel": rng.choice(CHANNELS),
                "touchpoint": rng.choice(("queue_a", "form", "checkout")),
                "survey": "post_contact",
                **scores,
                "expected": rng.choice((None, 1, 3, 5)),
                "emotion": rng.choice((None, "joy", "anger", "fear", "surprise")),
            }
        )
    # journeys, segments, step outcomes and relationship surveys (experience_dimensions, _economics),
    # from a generator of their own so that the events above stay the same
    other = random.Random(seed + 1000)
    for row in touchpoints + surveys:
        row["journey"] = other.choice((None, "billing", "delivery", "termination"))
        row["segment"] = other.choice((None, "residential", "pro"))
        if row.get("event_type") == "journey_step":
            row["step_status"] = other.choice(("ok", "ok", "failed", "abandoned"))
        if "response_id" not in row and "event_type" not in row and other.random() < 0.3:
            row["survey"] = "relationship"

    # purchase journeys: ordered steps with failures, retries and abandons, answers after them (some late)
    for _ in range(120):
        moment, customer = at(rng.uniform(0, DAYS)), rng.choice(customers)
        for step in ("product_page", "cart", "checkout", "payment"):
            status = rng.choice(("ok", "ok", "ok", "failed", "abandoned"))
            channel = rng.choice(("web", "app"))
            base = {"customer_id": customer, "channel": channel, "journey": "purchase", "touchpoint": step}
            touchpoints.append({**base, "event_type": "journey_step", "occurred_at": moment, "step_status": status})
            moment += timedelta(hours=rng.randint(0, 30))
            if status == "failed" and rng.random() < 0.5:
                touchpoints.append({**base, "event_type": "journey_step", "occurred_at": moment, "step_status": "ok"})
            elif status != "ok":
                break
        if rng.random() < 0.6:
            answer = {"occurred_at": moment + timedelta(hours=rng.randint(1, 200)), "customer_id": customer}
            answer |= {"channel": "web", "touchpoint": step, "survey": "post_journey", "journey": "purchase"}
            answer |= {"nps": rng.randint(0, 10), "emotion": rng.choice((None, "joy", "anger", "disgust"))}
            surveys.append(answer)

    for i, row in enumerate(touchpoints):
        row["event_id"] = f"e{seed}-{i}"
    texts = random.Random(seed + 1000)  # its own stream: the other draws stay as they were
    for i, row in enumerate(surveys):
        row["response_id"] = f"r{seed}-{i}"
        row["verbatim"], row["language"] = texts.choice(VERBATIMS)
    return touchpoints, surveys


def chunked(rows: list[dict[str, Any]], chunks: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """Mostly in time order, one chunk per period, but some events arrive chunks late, and the last
    chunk holds only a few late events of the first days (their weeks and months change while the
    following ones, already built, only see their previous_value change)."""
    ordered = sorted(rows, key=lambda r: r["occurred_at"])
    early = ordered[: len(ordered) // 5]
    held = set(map(id, rng.sample(early, 3)))
    out: list[list[dict[str, Any]]] = [[] for _ in range(chunks + 1)]
    for i, row in enumerate(ordered):
        natural = i * chunks // len(ordered)
        if id(row) in held:
            out[chunks].append(row)
        elif rng.random() < 0.05:
            out[rng.randint(natural, chunks - 1)].append(row)
        else:
            out[natural].append(row)
    return out


def write(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Insert raw rows (defaults for payload / kafka_* / loaded_at) and mark their UTC days dirty.

    Values go in as text and are cast to the raw column types, in one statement per chunk.
    """
    if not rows:
        return
    frame = pd.DataFrame(
        [[None if row.get(c) is None else str(as_text(row.get(c))) for c in columns] for row in rows],
        columns=columns,
        dtype=object,
    )
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
            table.split("."),
        ).fetchall()
    )
    casts = ", ".join(f"cast({c} as {types[c]}) as {c}" for c in columns)
    con.register("chunk", frame)
    con.execute(
        f"insert into {table} by name select {casts}, '{{}}' as payload, 'test' as kafka_topic, "
        "0 as kafka_partition, 0 as kafka_offset, now() as loaded_at from chunk"
    )
    con.execute(
        "insert or ignore into ops.dirty_days select distinct cast(cast(occurred_at as timestamptz) as date) from chunk"
    )
    con.unregister("chunk")


# The marts, and the staging table kept incrementally by case (its rows must equal a full rebuild too).
MODELS = (*(f"marts.{model}" for model in MARTS), "staging.stg_cases", "staging.verbatim_analysis")


def differences(con: duckdb.DuckDBPyConnection, model: str) -> tuple[int, int, int]:
    """(rows, rows only in the incremental build, rows only in the full build) of a schema.table."""
    rows = con.execute(f"select count(*) from {model}").fetchall()[0][0]
    only_incremental = con.execute(
        f"select count(*) from (select * from {model} except all select * from full_copy.{model})"
    ).fetchall()[0][0]
    only_full = con.execute(
        f"select count(*) from (select * from full_copy.{model} except all select * from {model})"
    ).fetchall()[0][0]
    return rows, only_incremental, only_full


def build_in_chunks(con: duckdb.DuckDBPyConnection, settings: Settings, seed: int) -> None:
    """Load the seeded events chunk by chunk (late events included), building incrementally after each."""
    touchpoints, surveys = random_events(seed)
    rng = random.Random(seed)
    chunks = 6
    for i, (tp_chunk, sv_chunk) in enumerate(
        zip(chunked(touchpoints, chunks, rng), chunked(surveys, chunks, rng), strict=True)
    ):
        write(con, "raw.touchpoints", TP_COLUMNS, tp_chunk)
        write(con, "raw.surveys", SV_COLUMNS, sv_chunk)
        result = build(con, settings)
        assert result.full == (i == 0)  # the first build creates the marts, then only slices are rebuilt
        assert con.execute("select count(*) from ops.dirty_days").fetchall() == [(0,)]


def assert_equals_full_rebuild(settings: Settings, tmp_path: Path) -> None:
    """A copy of the warehouse rebuilt in full has the same marts and staging.stg_cases, row for row."""
    copy = dataclasses.replace(Settings(), home=tmp_path / "full")
    copy.warehouse_path.parent.mkdir(parents=True)
    shutil.copy(settings.warehouse_path, copy.warehouse_path)
    full_con = connect(copy.warehouse_path)
    full_con.execute("drop table staging.verbatim_analysis")  # the full build analyses every verbatim again
    assert build(full_con, copy, full=True).full
    full_con.close()

    con = connect(settings.warehouse_path)
    con.execute(f"attach '{copy.warehouse_path}' as full_copy (read_only)")
    for model in MODELS:
        rows, only_incremental, only_full = differences(con, model)
        assert rows > 0, f"{model} is empty"
        assert (only_incremental, only_full) == (0, 0), model
    con.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_full_rebuild(tmp_path: Path, seed: int) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path / "incremental")
    con = connect(settings.warehouse_path)
    build_in_chunks(con, settings, seed)
    con.execute("checkpoint")
    con.close()
    assert_equals_full_rebuild(settings, tmp_path)


@pytest.mark.parametrize("seed", [4, 5])
def test_incremental_after_an_erasure_equals_full_rebuild(tmp_path: Path, seed: int) -> None:
    """`cxpulse forget` deletes raw rows and marks their days dirty: the cases of the erased customer
    leave staging.stg_cases (it keeps no customer_id, but case ids and their events' times) and every
    mart they counted in, through the incremental build that follows."""
    settings = dataclasses.replace(Settings(), home=tmp_path / "incremental", erasure_salt="a-test-salt-0123456789")
    con = connect(settings.warehouse_path)
    build_in_chunks(con, settings, seed)
    # the customer with the most case events, whose cases span several days
    customer, cases = con.execute(
        "select customer_id, list(distinct case_id) from raw.touchpoints where case_id is not null "
        "group by customer_id order by count(*) desc, customer_id limit 1"
    ).fetchall()[0]
    assert len(cases) > 1
    answers = con.execute(
        "select list(response_id) from staging.verbatim_analysis join raw.surveys using (response_id) "
        "where customer_id = ?",
        [customer],
    ).fetchall()[0][0]
    assert answers  # the customer's analysed verbatims (personal data) ...
    forget(con, settings, customer)
    left = "select count(*) from staging.verbatim_analysis where list_contains(?, response_id)"
    assert con.execute(left, [answers]).fetchall() == [(0,)]  # ... go with the erasure itself
    assert not build(con, settings).full
    stored = con.execute("select count(*) from staging.stg_cases where list_contains(?, case_id)", [cases]).fetchall()
    assert stored == [(0,)]
    con.execute("checkpoint")
    con.close()
    assert_equals_full_rebuild(settings, tmp_path)


def test_incremental_rebuilds_only_touched_days_and_the_fcr_window(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path)
    touchpoints, surveys = random_events(7)
    touchpoints = [t for t in touchpoints if t["event_type"] == "contact"]  # no case to touch
    con = connect(settings.warehouse_path)
    write(con, "raw.touchpoints", TP_COLUMNS, touchpoints)
    write(con, "raw.surveys", SV_COLUMNS, surveys)
    assert build(con, settings).full
    late = {
        "event_id": "late-1",
        "event_type": "contact",
        "occurred_at": "2026-02-20T23:30:00-01:00",  # UTC 2026-02-21 00:30
        "customer_id": "z",
        "channel": "phone",
        "touchpoint": "q",
        "contact_id": "k",
        "outcome": "abandoned",
        "wait_s": 3.0,
        "reason": "billing",
    }
    write(con, "raw.touchpoints", TP_COLUMNS, [late])
    result = build(con, settings)
    assert not result.full
    # the late contact's UTC day and the 7 days before it (contacts whose repeat window reaches it)
    assert result.scope["kpi_service_daily"] == [date(2026, 2, d) for d in range(14, 22)]
    assert result.scope["kpi_experience_daily"] == [date(2026, 2, 21)]
    # ISO weeks of Feb 9 and 16 (the FCR window reaches back to the 14th), the week after each, and
    # the months of February and the one after
    assert result.scope["progress_dashboard"] == [
        ("month", date(2026, 2, 1)),
        ("month", date(2026, 3, 1)),
        ("week", date(2026, 2, 9)),
        ("week", date(2026, 2, 16)),
        ("week", date(2026, 2, 23)),
    ]
    # no case event was loaded: no Pareto month to rebuild
    assert result.scope["complaints_pareto"] == []
    assert con.execute("select count(*) from ops.dirty_days").fetchall() == [(0,)]


def case_event(event_id: str, event_type: str, at: str, case_id: str, channel: str = "email", **extra: Any):
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": at,
        "customer_id": "c",
        "channel": channel,
        "touchpoint": "form",
        "case_id": case_id,
        **extra,
    }


def load_cases(con: duckdb.DuckDBPyConnection, *events: dict[str, Any]) -> None:
    write(con, "raw.touchpoints", TP_COLUMNS, list(events))


def test_late_resolution_updates_cohort_backlog_and_pareto(settings: Settings) -> None:
    """A case_resolved loaded late changes its cohort day, the backlog of every later day and its month;
    the backlog of rebuilt days restarts from the last kept day before them (changes in between count)."""
    con = connect(settings.warehouse_path)
    opened = {"reason": "billing"}
    load_cases(
        con,
        case_event("w", "case_opened", "2026-01-02T10:00:00Z", "W", channel="web", **opened),
        case_event("w2", "case_resolved", "2026-01-12T10:00:00Z", "W", channel="web", handle_s=0.0),
        case_event(
            "k", "case_opened", "2026-01-05T10:00:00Z", "K", is_complaint=True, category="billing_error", **opened
        ),
        case_event("l", "case_opened", "2026-01-20T10:00:00Z", "L", **opened),
    )
    build(con, settings)
    backlog = "select day, backlog_end_of_day from marts.kpi_cases_daily where channel = ? order by day"
    # end of Jan 2: W; Jan 5: W, K; Jan 20: K, L (W resolved on the 12th)
    expected = [(date(2026, 1, 2), 1), (date(2026, 1, 5), 2), (date(2026, 1, 20), 2)]
    assert con.execute(backlog, ["all"]).fetchall() == expected

    load_cases(
        con, case_event("r", "case_resolved", "2026-01-10T10:00:00Z", "K", handle_s=1800.0, compensation_eur=5.0)
    )
    result = build(con, settings)
    # dirty day Jan 10 holds no cohort; K's cohort (Jan 5) and every cohort day from Jan 10 on are rebuilt
    assert result.scope["kpi_cases_daily"] == [date(2026, 1, 5), date(2026, 1, 10), date(2026, 1, 20)]
    assert result.scope["complaints_pareto"] == [date(2026, 1, 1)]
    # K resolved on the 10th: still open at the end of the 5th; only L open at the end of the 20th
    expected = [(date(2026, 1, 2), 1), (date(2026, 1, 5), 2), (date(2026, 1, 20), 1)]
    assert con.execute(backlog, ["all"]).fetchall() == expected
    assert con.execute(
        "select resolved, resolution_p50_h from marts.kpi_cases_daily where day = '2026-01-05' and channel = 'all'"
    ).fetchall() == [(1, 120.0)]  # Jan 5 10:00 -> Jan 10 10:00 = 5 x 24 h
    # 1800 s = 0.5 h x 40 EUR = 20 EUR handling + 5 EUR compensation
    assert con.execute(
        "select handling_cost_eur, compensation_eur, cost_eur from marts.complaints_pareto"
    ).fetchall() == [(20.0, 5.0, 25.0)]

    # A new email case M on Jan 15: Jan 15 and Jan 20 are rebuilt, from the last kept day (Jan 5, backlog
    # 2 for all, 1 for email), through K resolved on the 10th and W (web) on the 12th:
    # all Jan 15 = 2 - 1 - 1 + 1 (M) = 1; Jan 20 = 1 + 1 (L) = 2; email Jan 15 = 1 - 1 + 1 = 1, Jan 20 = 2
    load_cases(con, case_event("m", "case_opened", "2026-01-15T10:00:00Z", "M", **opened))
    result = build(con, settings)
    assert result.scope["kpi_cases_daily"] == [date(2026, 1, 15), date(2026, 1, 20)]
    expected = [(date(2026, 1, 2), 1), (date(2026, 1, 5), 2), (date(2026, 1, 15), 1), (date(2026, 1, 20), 2)]
    assert con.execute(backlog, ["all"]).fetchall() == expected
    expected = [(date(2026, 1, 5), 1), (date(2026, 1, 15), 1), (date(2026, 1, 20), 2)]
    assert con.execute(backlog, ["email"]).fetchall() == expected
    assert con.execute(backlog, ["web"]).fetchall() == [(date(2026, 1, 2), 1)]


def test_late_event_of_an_old_case_reads_all_its_events(settings: Settings) -> None:
    """A case_reopened weeks after its case was resolved: the case is read again from all its events
    (its span, kept in staging.stg_cases, bounds the read), its cohort and the backlog from that day on
    change, and the days in between are not rebuilt."""
    con = connect(settings.warehouse_path)
    opened = {"reason": "billing"}
    load_cases(
        con,
        case_event("w1", "case_opened", "2026-01-02T10:00:00Z", "W", **opened),
        case_event("w2", "case_replied", "2026-01-02T12:00:00Z", "W", handle_s=600.0),
        case_event("w3", "case_resolved", "2026-01-03T10:00:00Z", "W", handle_s=0.0),
        case_event("x1", "case_opened", "2026-01-20T10:00:00Z", "X", **opened),
    )
    build(con, settings)
    load_cases(
        con,
        case_event("w4", "case_reopened", "2026-03-01T09:00:00Z", "W"),
        case_event("m1", "case_opened", "2026-03-01T10:00:00Z", "M", **opened),
    )
    result = build(con, settings)
    assert not result.full
    # W's cohort (Jan 2) and the new cohort of Mar 1; X's cohort (Jan 20) keeps its row
    assert result.scope["kpi_cases_daily"] == [date(2026, 1, 2), date(2026, 3, 1)]
    assert con.execute(
        "select is_resolved, reopened_count, handle_s, first_event_at, last_event_at, first_reply_h "
        "from staging.stg_cases where case_id = 'W'"
    ).fetchall() == [(False, 1, 600.0, datetime(2026, 1, 2, 10, tzinfo=UTC), datetime(2026, 3, 1, 9, tzinfo=UTC), 2.0)]
    cohorts = con.execute(
        "select day, opened, resolved, reopened, backlog_end_of_day from marts.kpi_cases_daily "
        "where channel = 'all' order by day"
    ).fetchall()
    # end of Jan 2: W open; Jan 20: X (W resolved on the 3rd); Mar 1: X, W (reopened) and M
    assert cohorts == [
        (date(2026, 1, 2), 1, 0, 1, 1),
        (date(2026, 1, 20), 1, 0, 0, 1),
        (date(2026, 3, 1), 1, 0, 0, 3),
    ]
    con.close()


def test_case_opened_arriving_after_its_other_events(settings: Settings) -> None:
    """A case's reply and resolution are loaded first (the case is in no cohort), its case_opened later,
    stamped on an earlier day than the events already stored: the case is read again from all its
    events, joins its cohort, and the backlog of the later cohort days counts it."""
    con = connect(settings.warehouse_path)
    opened = {"reason": "billing"}
    load_cases(
        con,
        case_event("r2", "case_replied", "2026-01-03T10:00:00Z", "R", handle_s=60.0),
        case_event("r3", "case_resolved", "2026-01-10T10:00:00Z", "R", handle_s=0.0),
        case_event("s1", "case_opened", "2026-01-05T10:00:00Z", "S", **opened),
        case_event("t1", "case_opened", "2026-01-12T10:00:00Z", "T", **opened),
    )
    build(con, settings)
    assert con.execute("select opened_at, day from staging.stg_cases where case_id = 'R'").fetchall() == [(None, None)]
    load_cases(con, case_event("r1", "case_opened", "2026-01-02T10:00:00Z", "R", **opened))
    result = build(con, settings)
    # R's new cohort (Jan 2, the dirty day) and every cohort day after it (the backlog)
    assert result.scope["kpi_cases_daily"] == [date(2026, 1, 2), date(2026, 1, 5), date(2026, 1, 12)]
    cohorts = con.execute(
        "select day, opened, resolved, first_reply_p50_h, resolution_p50_h, backlog_end_of_day "
        "from marts.kpi_cases_daily where channel = 'all' order by day"
    ).fetchall()
    # R: replied 24 h and resolved 192 h (8 days) after its opening; open at the end of Jan 2 and 5
    # (with S), resolved on Jan 10: S and T open at the end of Jan 12
    assert cohorts == [
        (date(2026, 1, 2), 1, 1, 24.0, 192.0, 1),
        (date(2026, 1, 5), 1, 0, None, None, 2),
        (date(2026, 1, 12), 1, 0, None, None, 2),
    ]
    con.close()
