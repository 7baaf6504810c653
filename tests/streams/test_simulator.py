"""The scenario simulator: deterministic, valid by the contracts, counted exactly, realistic enough to
read, and stationary enough that the drift detector alerts on an injected drift and on nothing else."""

from __future__ import annotations

import collections
import dataclasses
import json
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings
from quality.drift import Windows, detect
from streams.contracts import (
    CaseOpened,
    Contact,
    ContractError,
    JourneyStep,
    SurveyResponse,
    decode_survey,
    decode_touchpoint,
)
from streams.landing import Rejected, batch_path, events_table, quarantine_table, write_durably
from streams.simulator import (
    CATEGORY_NAMES,
    MALFORMED_CLASSES,
    QUEUE_NAMES,
    JsonlSink,
    Scenario,
    SimulationOptions,
    SimulationSummary,
    parse_scenario,
    simulate,
)
from transforms.runner import build
from warehouse import loader
from warehouse.db import connect

END = datetime(2026, 11, 26, 14, 37, tzinfo=UTC)
DECODERS = {"touchpoints": decode_touchpoint, "surveys": decode_survey}


# The consumer's reason for each class of malformed message the simulator sends.
REJECTION_CLASSES = {
    "empty message": "empty",
    "not UTF-8": "not_utf8",
    "not JSON": "truncated_json",
    "not a JSON object": "not_object",
    "Invalid enum value": "unknown_enum",
    "missing required field": "missing_field",
    "Expected `int` <=": "out_of_range",
    "Expected `int` >=": "out_of_range",
    "Expected `float` >=": "out_of_range",
    "Expected `str` of length <=": "out_of_range",
}


def rejection_class(reason: str) -> str:
    return next(name for text, name in REJECTION_CLASSES.items() if text in reason)


def run(options: SimulationOptions) -> tuple[list[tuple[str, bytes, bytes | None]], SimulationSummary]:
    messages: list[tuple[str, bytes, bytes | None]] = []
    summary = simulate(options, lambda kind, value, key: messages.append((kind, value, key)))
    return messages, summary


# -- scenarios -----------------------------------------------------------------------------------------
def test_parse_scenario_reads_the_documented_syntax() -> None:
    drop = parse_scenario("nps-drop:channel=chat:from=-7d:points=15")
    assert drop == Scenario("nps-drop", "channel", "chat", 15.0, "-7d")
    assert str(drop) == "nps-drop:channel=chat:from=-7d:points=15"
    assert parse_scenario(str(drop)) == drop
    assert drop.starts_at(END) == END - timedelta(days=7)
    assert drop.describe(END) == "nps-drop: NPS on channel chat 15 points lower from 2026-11-19 14:37 UTC"
    # defaults: from -7d, factor 3 for waits and 4 for complaints
    assert parse_scenario("wait-spike:queue=billing_hotline") == Scenario("wait-spike", "queue", "billing_hotline", 3.0)
    burst = parse_scenario("complaint-burst:category=delivery_delay:from=2026-11-20")
    assert burst == Scenario("complaint-burst", "category", "delivery_delay", 4.0, "2026-11-20")
    assert burst.starts_at(END) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_scenario("nps-drop:segment=premium:from=-36h:points=10").starts_at(END) == END - timedelta(hours=36)
    assert parse_scenario("nps-drop:touchpoint=web_chat").value == "web_chat"
    # a gradual decline: the drop grows over `ramp`; a mix shift toward a channel
    decline = parse_scenario("nps-drop:channel=chat:from=-21d:points=15:ramp=21d")
    assert decline == Scenario("nps-drop", "channel", "chat", 15.0, "-21d", "21d")
    assert decline.ramp_seconds == 21 * 86_400
    assert parse_scenario(str(decline)) == decline and decline.describe(END).endswith("growing over 21d")
    assert parse_scenario("nps-drop:segment=pro:ramp=36h").ramp_seconds == 36 * 3_600
    mix = parse_scenario("mix-shift:channel=chat")
    assert mix == Scenario("mix-shift", "channel", "chat", 3.0) and parse_scenario(str(mix)) == mix


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("teleport:channel=chat", ["'teleport'", "nps-drop", "wait-spike", "complaint-burst"]),
        ("nps-drop:channel=fax", ["'fax'", "chat", "phone", "store"]),
        ("nps-drop:colour=red", ["'colour'", "channel", "segment", "touchpoint", "points"]),
        ("nps-drop:channel", ["'channel'", "key=value"]),
        ("nps-drop:channel=chat:segment=pro", ["exactly one of channel, segment, touchpoint"]),
        ("nps-drop:points=15", ["exactly one of channel, segment, touchpoint"]),
        ("nps-drop:channel=chat:points=lots", ["points='lots'", "not a number"]),
        ("nps-drop:channel=chat:points=150", ["points", "(0, 100]"]),
        ("nps-drop:channel=chat:from=yesterday", ["'yesterday'", "-Nd", "YYYY-MM-DD"]),
        ("wait-spike:queue=nowhere", ["'nowhere'", "billing_hotline", "web_chat"]),
        ("wait-spike:queue=web_chat:factor=0", ["factor", "(0, 50]"]),
        ("complaint-burst:category=noise", ["'noise'", "delivery_delay", "billing_error"]),
        ("complaint-burst:category=delivery_delay:points=3", ["'points'", "category, from, factor"]),
        ("nps-drop:channel=chat:ramp=soon", ["ramp='soon'", "Nd / Nh"]),
        ("wait-spike:queue=web_chat:ramp=2d", ["'ramp'", "queue, from, factor"]),
        ("mix-shift:segment=pro", ["'segment'", "channel, from, factor"]),
        ("mix-shift:channel=chat:factor=0.5", ["factor", ">= 1"]),
    ],
)
def test_parse_scenario_names_the_bad_part_and_what_is_allowed(text: str, mentions: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        parse_scenario(text)
    for mention in mentions:
        assert mention in str(caught.value)


# -- determinism, validity, counts ---------------------------------------------------------------------
SMALL = SimulationOptions(
    days=10,
    customers=12_000,
    seed=7,
    scenarios=(parse_scenario("nps-drop:channel=chat:from=-3d:points=15"),),
    malformed_rate=0.02,
    duplicate_rate=0.02,
    end=END,
)


def test_same_options_give_the_same_bytes_in_the_same_order() -> None:
    first, summary = run(SMALL)
    second, _ = run(SMALL)
    assert first == second and len(first) == summary.total > 5_000
    other_seed, _ = run(dataclasses.replace(SMALL, seed=8))
    assert other_seed != first
    # noise has its own random stream: the valid events do not depend on the noise rates
    clean, clean_summary = run(dataclasses.replace(SMALL, malformed_rate=0.0, duplicate_rate=0.0))
    assert clean_summary.malformed == clean_summary.duplicates == {"touchpoints": 0, "surveys": 0}
    seen: set[bytes] = set()
    valid_of_noisy = []
    for kind, value, key in first:
        try:
            DECODERS[kind](value, END)
        except ContractError:
            continue
        if value not in seen:
            seen.add(value)
            valid_of_noisy.append((kind, value, key))
    assert valid_of_noisy == clean


def test_every_message_is_valid_or_a_rejected_malformed_one_and_the_summary_adds_up() -> None:
    messages, summary = run(SMALL)
    valid = collections.Counter()
    duplicates = collections.Counter()
    malformed = collections.Counter()
    reasons = set()
    events: list[object] = []
    seen: set[bytes] = set()
    for kind, value, key in messages:
        try:
            event = DECODERS[kind](value, END)
        except ContractError as exc:
            malformed[kind] += 1
            reasons.add(rejection_class(exc.reason))
            assert key is None or isinstance(key, bytes)
            continue
        if value in seen:
            duplicates[kind] += 1
            continue
        seen.add(value)
        valid[kind] += 1
        events.append(event)
        assert key == event.customer_id.encode()
        assert summary.start <= event.occurred_at < END
    assert dict(valid) == summary.valid
    assert dict(duplicates) == summary.duplicates
    assert dict(malformed) == summary.malformed
    assert summary.total == len(messages) == sum(summary.messages.values())
    assert f"{summary.valid['touchpoints']:,} touchpoints" in summary.describe()
    assert summary.describe().endswith(summary.scenarios[0])
    assert reasons == set(MALFORMED_CLASSES)
    assert 0.01 < sum(malformed.values()) / sum(valid.values()) < 0.03

    # the shapes a newcomer should see, all linked together
    assert {type(e).__name__ for e in events} == {
        "Contact",
        "CaseOpened",
        "CaseReplied",
        "CaseResolved",
        "CaseReopened",
        "JourneyStep",
        "SurveyResponse",
    }
    # the newest event is minutes old: the freshness gate of a demo run passes
    assert max(e.occurred_at for e in events) > END - timedelta(minutes=10)
    surveys = [e for e in events if isinstance(e, SurveyResponse)]
    contacts = {e.contact_id for e in events if isinstance(e, Contact)}
    opened = {e.case_id for e in events if isinstance(e, CaseOpened)}
    assert {e.survey for e in surveys} == {"post_contact", "post_journey", "relationship"}
    assert {e.language for e in surveys} == {"fr", "en"}
    assert {e.segment for e in surveys} == {"residential", "pro", "premium"}
    linked = [s for s in surveys if s.contact_id]
    assert linked and sum(s.contact_id in contacts for s in linked) / len(linked) > 0.97
    # no case event without its case_opened (cases begun before the start are not sent)
    assert all(e.case_id in opened for e in events if hasattr(e, "case_id") and not isinstance(e, SurveyResponse))
    steps = [e for e in events if isinstance(e, JourneyStep)]
    assert {e.journey for e in steps} >= {"onboarding", "purchase", "delivery", "billing", "support", "termination"}
    assert {e.step_status for e in steps} == {"ok", "failed", "abandoned"}
    assert {str(e.channel) for e in events} >= {"phone", "chat", "email", "web", "app", "store", "social", "mail"}
    complaints = [e for e in events if isinstance(e, CaseOpened) and e.is_complaint]
    assert complaints and all(e.category in CATEGORY_NAMES for e in complaints)
    verbatims = [s.verbatim for s in surveys if s.verbatim and s.language == "fr"]
    assert len(set(verbatims)) >= 25
    assert summary.scenarios == ["nps-drop: NPS on channel chat 15 points lower from 2026-11-23 14:37 UTC"]


def test_jsonl_sink_writes_one_message_per_line_and_counts_what_a_line_cannot_hold(tmp_path: Path) -> None:
    options = dataclasses.replace(SMALL, days=3, customers=2_000, malformed_rate=0.05)
    days_done = []
    with JsonlSink(tmp_path / "out") as sink:
        summary = simulate(options, sink, progress=days_done.append)
    assert days_done == [1, 1, 1]
    for kind, path in sink.paths.items():
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b"" and b"" not in lines[:-1]
        assert len(lines) - 1 == sink.written[kind]
        assert sink.written[kind] + sink.skipped[kind] == summary.messages[kind]
    assert sum(sink.skipped.values()) > 0  # the empty messages


def test_options_out_of_range_are_refused() -> None:
    for bad in (dict(days=0), dict(customers=0), dict(malformed_rate=1.0), dict(duplicate_rate=-0.1)):
        with pytest.raises(ValueError):
            simulate(dataclasses.replace(SMALL, **bad), lambda *_: None)


def test_wait_spike_and_complaint_burst_change_the_process_from_their_start() -> None:
    options = SimulationOptions(
        days=21,
        customers=60_000,
        seed=3,
        scenarios=(
            parse_scenario("wait-spike:queue=billing_hotline:from=-7d:factor=3"),
            parse_scenario("complaint-burst:category=delivery_delay:from=-7d:factor=4"),
        ),
        end=END,
    )
    messages, _ = run(options)
    since = END - timedelta(days=7)
    waits = collections.defaultdict(list)
    complaints = collections.Counter()
    for kind, value, _ in messages:
        if kind != "touchpoints":
            continue
        event = decode_touchpoint(value, END)
        after = event.occurred_at >= since
        if isinstance(event, Contact) and event.outcome == "answered":
            waits[(event.touchpoint, after)].append(event.wait_s)
        elif isinstance(event, CaseOpened) and event.is_complaint:
            complaints[(event.category, after)] += 1
    assert set(QUEUE_NAMES) == {queue for queue, _ in waits}
    spiked = statistics.mean(waits[("billing_hotline", True)]) / statistics.mean(waits[("billing_hotline", False)])
    steady = statistics.mean(waits[("tech_support", True)]) / statistics.mean(waits[("tech_support", False)])
    assert spiked > 2 and 0.7 < steady < 1.4
    # complaints a day, 7 days after against 14 before: x4 for delivery delays (a little less: the stories
    # begun before the start of the burst, and those not finished at the end), unchanged for billing errors
    burst = complaints[("delivery_delay", True)] / 7 / (complaints[("delivery_delay", False)] / 14)
    steady = complaints[("billing_error", True)] / 7 / (complaints[("billing_error", False)] / 14)
    assert burst > 2.5 and 0.6 < steady < 1.5


# -- through the real pipeline: landing files, loader, marts, drift detector ----------------------------
# 36 days: the 7-day current window, its 28-day baseline and a day to spare (the simulator's lead-in
# makes the first day as steady as the others); 90,000 customers give about 1,100 chat answers a week
# (the demo's 90 days x 120,000 customers about 1,600).
DRIFT_DAYS, DRIFT_CUSTOMERS = 36, 90_000


def warehouse_of(options: SimulationOptions, home: Path) -> tuple[duckdb.DuckDBPyConnection, SimulationSummary]:
    """What the consumer and `cxpulse run` do with the simulated messages, minus Kafka."""
    settings = dataclasses.replace(Settings(), home=home)
    messages, summary = run(options)
    topics = {"touchpoints": settings.topic_touchpoints, "surveys": settings.topic_surveys}
    for kind, topic in topics.items():
        values = [value for k, value, _ in messages if k == kind]
        events, payloads, offsets, rejected = [], [], [], []
        for offset, value in enumerate(values):
            try:
                events.append(DECODERS[kind](value, END))
                payloads.append(value)
                offsets.append(offset)
            except ContractError as exc:
                rejected.append(Rejected(offset, exc.reason, None, value))
        last = len(values) - 1
        write_durably(quarantine_table(rejected, topic, 0, END), batch_path(settings.quarantine_dir, topic, 0, 0, last))
        table = events_table(kind, events, payloads, offsets, topic, 0)
        write_durably(table, batch_path(settings.landing_dir, topic, 0, 0, last))
    con = connect(settings.warehouse_path)
    loaded = loader.load(con, settings)
    # reconciliation: every valid message loaded once, every redelivery dropped, every malformed dead-lettered
    assert loaded.rows_loaded == {
        "raw.touchpoints": summary.valid["touchpoints"],
        "raw.surveys": summary.valid["surveys"],
    }
    assert sum(loaded.duplicates_dropped.values()) == sum(summary.duplicates.values())
    assert loaded.dead_letters == sum(summary.malformed.values())
    build(con, settings, full=True)
    return con, summary


@pytest.fixture(scope="module")
def stable(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    options = SimulationOptions(
        DRIFT_DAYS, DRIFT_CUSTOMERS, seed=42, malformed_rate=0.001, duplicate_rate=0.002, end=END
    )
    con, _ = warehouse_of(options, tmp_path_factory.mktemp("stable"))
    yield con
    con.close()


def findings(con: duckdb.DuckDBPyConnection) -> list:
    return detect(con, Settings(), Windows.ending(END, 7, 28))


def test_a_stable_simulation_raises_no_drift_alert(stable: duckdb.DuckDBPyConnection) -> None:
    tested = findings(stable)
    # enough answers and contacts for the tests to mean something, in every scope kind
    eligible = {(f.test.kpi, f.test.scope.split(":")[0]) for f in tested if "min_n" not in f.reason}
    kpis = {"nps", "csat", "ces_easy_rate", "answer_rate", "service_level", "fcr_rate", "aht_s"}
    assert {kpi for kpi, _ in eligible} == kpis
    assert {kind for _, kind in eligible} == {"all", "channel", "touchpoint", "segment"}
    fired = [(f.test.kpi, f.test.scope, f.test.delta) for f in tested if f.fires]
    assert fired == []
    # stationary: the overall KPIs of the two windows are close, not merely "not significant"
    overall = {f.test.kpi: f.test.delta for f in tested if f.test.scope == "all"}
    assert abs(overall["nps"]) < 3 and abs(overall["answer_rate"]) < 0.01 and abs(overall["aht_s"]) < 10
    # FCR in the current window is provisional (repeats after the end are not seen yet): slightly higher
    assert 0 <= overall["fcr_rate"] < 0.015


def test_an_nps_drop_on_chat_is_detected_where_it_was_injected(tmp_path: Path) -> None:
    scenario = parse_scenario("nps-drop:channel=chat:from=-7d:points=15")
    options = SimulationOptions(DRIFT_DAYS, DRIFT_CUSTOMERS, seed=42, scenarios=(scenario,), end=END)
    con, _ = warehouse_of(options, tmp_path)
    try:
        fired = {(f.test.kpi, f.test.scope): f for f in findings(con) if f.fires}
    finally:
        con.close()
    chat = fired[("nps", "channel:chat")]
    assert chat.test.current.n > 900 and chat.test.baseline.n > 3_600
    assert -20 < chat.test.delta < -10 and chat.test.q_value < 1e-4
    # where it fired: chat and what contains chat answers (its queues, all, segments), nowhere else
    for kpi, scope in fired:
        assert scope in ("all", "channel:chat", "touchpoint:web_chat", "touchpoint:app_chat") or scope.startswith(
            "segment:"
        ), (kpi, scope)


def test_the_kpis_look_like_a_contact_centre(stable: duckdb.DuckDBPyConnection) -> None:
    def one(sql: str) -> tuple:
        return stable.execute(sql).fetchone()

    answer_rate, service_level, asa, aht, fcr = one(
        """select sum(answered) / sum(offered), sum(answered_in_target) / sum(offered),
                  sum(answered_wait_s_sum) / sum(answered), sum(handle_s_sum) / sum(answered),
                  1 - sum(repeated) / sum(answered)
           from marts.kpi_service_daily where channel = 'all'"""
    )
    assert 0.85 < answer_rate < 0.95 and 0.7 < service_level < 0.88 and 5 < asa < 45 and 360 < aht < 520
    assert 0.72 < fcr < 0.88
    nps, csat, ces_easy, negative = one(
        """select 100 * (sum(promoters) - sum(detractors)) / sum(nps_n), sum(csat_satisfied) / sum(csat_n),
                  sum(ces_easy) / sum(ces_n), sum(negative_emotions) / sum(emotion_n)
           from marts.kpi_experience_daily where channel = 'all'"""
    )
    assert 10 < nps < 40 and 0.7 < csat < 0.9 and 0.65 < ces_easy < 0.9 and 0.1 < negative < 0.35
    # Monday mornings wait longer than Wednesdays; abandonment follows
    monday, wednesday = (
        one(
            f"""select avg(wait_s) from staging.stg_contacts
                where dayofweek(occurred_at at time zone 'Europe/Paris') = {d} and outcome = 'answered'"""
        )[0]
        for d in (1, 3)
    )
    assert monday > 1.2 * wednesday
    # experience follows service: answers after a long wait or an unresolved repeat score lower
    quick, slow = (
        one(
            f"""select 100 * (count(*) filter (where s.nps >= 9) - count(*) filter (where s.nps <= 6)) / count(s.nps)
                from staging.stg_survey_responses s join staging.stg_contacts c using (contact_id)
                where c.wait_s {condition}"""
        )[0]
        for condition in ("<= 20", ">= 120")
    )
    assert quick > slow + 15
    # premium customers expect more, and are answered faster (priority routing)
    expected = dict(stable.execute("select segment, avg(expected) from raw.surveys group by 1").fetchall())
    assert expected["premium"] > expected["pro"] > expected["residential"]
    waits = dict(
        stable.execute(
            "select segment, avg(wait_s) from staging.stg_contacts where outcome = 'answered' group by 1"
        ).fetchall()
    )
    assert waits["premium"] < waits["residential"]
    # complaints: a Pareto shape, a few vital categories, compensation and reopened cases
    pareto = stable.execute(
        """select category, share, vital_few, compensation_eur from marts.complaints_pareto
           where month = (select max(month) - interval 1 month from marts.complaints_pareto) order by rank"""
    ).fetchall()
    assert pareto[0][0] == "billing_error" and 0.2 < pareto[0][1] < 0.4
    assert 3 <= sum(row[2] for row in pareto) <= 6 and len(pareto) == len(CATEGORY_NAMES)
    assert all(row[3] > 0 for row in pareto[:5])
    reopened, first_reply_p50 = one(
        "select sum(reopened), median(complaint_first_reply_p50_h) from marts.kpi_cases_daily"
    )
    assert reopened > 0 and 6 < first_reply_p50 < 72


def test_journey_rupture_scenario_raises_the_risk_of_its_step_from_its_onset_only() -> None:
    rupture = parse_scenario("journey-rupture:journey=purchase:step=payment:from=-7d:factor=8")
    assert rupture == Scenario("journey-rupture", "step", "purchase/payment", 8.0, "-7d")
    assert parse_scenario(str(rupture)) == rupture
    described = "journey-rupture: risk of step payment of journey purchase x8 from 2026-11-19 14:37 UTC"
    assert rupture.describe(END) == described
    with pytest.raises(ValueError, match="needs both journey and step"):
        parse_scenario("journey-rupture:journey=purchase")
    with pytest.raises(ValueError, match="purchase/checkout"):
        parse_scenario("journey-rupture:journey=purchase:step=teleport")

    def payments(scenarios: tuple[Scenario, ...]) -> dict[bool, list[str]]:
        options = SimulationOptions(days=14, customers=4000, seed=5, end=END, scenarios=scenarios)
        messages, _ = run(options)
        onset = END - timedelta(days=7)
        out: dict[bool, list[str]] = {False: [], True: []}
        for kind, value, _ in messages:
            doc = json.loads(value)
            if kind == "touchpoints" and doc.get("touchpoint") == "payment":
                out[datetime.fromisoformat(doc["occurred_at"]) >= onset].append(doc["step_status"])
        return out

    plain, ruptured = payments(()), payments((rupture,))
    assert plain[False] == ruptured[False]  # before the onset: the same draws, the same payments
    failed = {k: v.count("failed") / len(v) for k, v in ruptured.items()}
    # 3.5 % of payments fail normally, 8 x 3.5 = 28 % after the onset (a payment fails at most once)
    assert failed[False] < 0.07 and 0.18 < failed[True] < 0.38, failed
