"""marts.drivers: Johnson's relative weights against independent figures, the answer <-> interaction join
and the performance of the levers on a hand-made fixture, min_n, and determinism."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date

import duckdb
import numpy as np
import pytest

from cxpulse.config import Settings
from tests.builders import built_warehouse
from transforms import drivers, relative_weights
from transforms.runner import build
from warehouse.db import connect

# mtcars (R datasets; Henderson & Velleman 1981): mpg, cyl, disp, hp, gear of the 32 cars.
MTCARS = np.array(
    [
        (21.0, 6, 160.0, 110, 4), (21.0, 6, 160.0, 110, 4), (22.8, 4, 108.0, 93, 4), (21.4, 6, 258.0, 110, 3),
        (18.7, 8, 360.0, 175, 3), (18.1, 6, 225.0, 105, 3), (14.3, 8, 360.0, 245, 3), (24.4, 4, 146.7, 62, 4),
        (22.8, 4, 140.8, 95, 4), (19.2, 6, 167.6, 123, 4), (17.8, 6, 167.6, 123, 4), (16.4, 8, 275.8, 180, 3),
        (17.3, 8, 275.8, 180, 3), (15.2, 8, 275.8, 180, 3), (10.4, 8, 472.0, 205, 3), (10.4, 8, 460.0, 215, 3),
        (14.7, 8, 440.0, 230, 3), (32.4, 4, 78.7, 66, 4), (30.4, 4, 75.7, 52, 4), (33.9, 4, 71.1, 65, 4),
        (21.5, 4, 120.1, 97, 3), (15.5, 8, 318.0, 150, 3), (15.2, 8, 304.0, 150, 3), (13.3, 8, 350.0, 245, 3),
        (19.2, 8, 400.0, 175, 3), (27.3, 4, 79.0, 66, 4), (26.0, 4, 120.3, 91, 5), (30.4, 4, 95.1, 113, 5),
        (15.8, 8, 351.0, 264, 5), (19.7, 6, 145.0, 175, 5), (15.0, 8, 301.0, 335, 5), (21.4, 4, 121.0, 109, 4),
    ]
)  # fmt: skip


def corr_outcome_last(data: np.ndarray) -> np.ndarray:
    """Correlation matrix of the columns of `data` (outcome first) with the outcome moved last."""
    return np.corrcoef(np.column_stack([data[:, 1:], data[:, 0]]), rowvar=False)


def test_relative_weights_match_the_published_rwa_figures_on_mtcars() -> None:
    # Published output of R package rwa (README of github.com/martinctc/rwa, "Basic example"):
    # rwa(mtcars, outcome = "mpg", predictors = c("cyl", "disp", "hp", "gear")): R^2 0.7791896,
    # raw relative weights cyl 0.2284797, disp 0.2221469, hp 0.2321744, gear 0.0963886.
    weights = relative_weights.relative_weights(corr_outcome_last(MTCARS))
    np.testing.assert_allclose(weights, [0.2284797, 0.2221469, 0.2321744, 0.0963886], atol=5e-7)
    assert weights.sum() == pytest.approx(0.7791896, abs=5e-7)


def johnson_by_svd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Johnson's (2000) procedure as first written, on the data rather than the correlation matrix:
    the orthogonal counterpart Z = P Q' of the standardised predictors X = P D Q' (SVD), the
    regression of y on Z (beta) and of X on Z (Lambda), epsilon_j = sum_k Lambda_jk^2 beta_k^2."""
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    ys = (y - y.mean()) / y.std()
    p, _, qt = np.linalg.svd(xs, full_matrices=False)
    z = np.sqrt(len(x)) * p @ qt  # unit variance, as the standardised predictors
    beta = np.linalg.lstsq(z, ys, rcond=None)[0]
    lam = np.linalg.lstsq(z, xs, rcond=None)[0]  # lam[k, j]: X_j on Z_k
    return (lam.T**2) @ (beta**2)


def test_relative_weights_equal_an_independent_computation_and_sum_to_the_ols_r2() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))  # correlated predictors
    y = x @ np.array([0.5, -1.0, 0.2, 0.0, 2.0]) + rng.normal(scale=3.0, size=400)
    weights = relative_weights.relative_weights(np.corrcoef(np.column_stack([x, y]), rowvar=False))
    np.testing.assert_allclose(weights, johnson_by_svd(x, y), rtol=1e-9, atol=1e-12)
    design = np.column_stack([np.ones(len(x)), x])
    residuals = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    r2 = 1 - residuals.var() / y.var()
    assert weights.sum() == pytest.approx(r2, rel=1e-9)


def test_uncorrelated_predictors_weigh_their_squared_correlation() -> None:
    corr = np.eye(4)
    corr[:3, 3] = corr[3, :3] = [0.5, 0.3, 0.1]
    np.testing.assert_allclose(relative_weights.relative_weights(corr), [0.25, 0.09, 0.01], atol=1e-12)


def test_pairwise_correlations_use_the_rows_where_both_are_present() -> None:
    x = np.array([[1.0, 2.0, np.nan], [2.0, 1.0, 3.0], [3.0, np.nan, 1.0], [4.0, 5.0, 2.0], [5.0, 3.0, 5.0]])
    corr = relative_weights.pairwise_correlations(relative_weights._moments(x))
    for i, j in itertools.combinations(range(3), 2):
        both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
        assert corr[i, j] == pytest.approx(np.corrcoef(x[both, i], x[both, j])[0, 1], abs=1e-12)


CATALOGUE = drivers.load_drivers()


def test_an_indefinite_pairwise_matrix_is_projected_and_r2_stays_below_1() -> None:
    # three levers pairwise +0.9, +0.9, -0.9 cannot all hold on the same answers (eigenvalue < 0)
    corr = np.array([[1, 0.9, -0.9, 0.8], [0.9, 1, 0.9, 0.8], [-0.9, 0.9, 1, 0.8], [0.8, 0.8, 0.8, 1]])
    assert np.linalg.eigvalsh(corr).min() < 0
    fixed = relative_weights.positive_semidefinite(corr)
    assert np.linalg.eigvalsh(fixed).min() > -1e-12
    np.testing.assert_allclose(np.diag(fixed), 1.0)
    assert 0 <= relative_weights.relative_weights(fixed).sum() <= 1 + 1e-9


def test_the_public_cholesky_fallback_tells_the_same_matrices_positive_definite() -> None:
    """Without numpy's private Cholesky gufunc the public one is used, batch by halves: the same answers,
    borderline matrices included (eigenvalues within 1e-15 of 0, where an eigenvalue test disagrees)."""
    rng = np.random.default_rng(11)
    p = 6
    factors = rng.normal(size=(400, p, p))
    eigenvalues = rng.choice([1.0, 1e-3, 1e-15, 0.0, -1e-15, -1e-3, -1.0], size=(400, p), p=[0.7] + [0.05] * 6)
    eigenvalues[:, 0] = 1.0
    vectors = np.linalg.qr(factors)[0]
    flat = (vectors * eigenvalues[:, None, :]) @ np.swapaxes(vectors, -1, -2)
    expected = np.array([_has_cholesky(m) for m in flat])
    assert 10 < (~expected).sum() < 390  # both kinds, and those without a factor not all together
    np.testing.assert_array_equal(relative_weights._positive_definite_public(flat), expected)
    np.testing.assert_array_equal(relative_weights._positive_definite(flat), expected)


def _has_cholesky(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


def settings_with(**changes: int) -> drivers.DriverSettings:
    return dataclasses.replace(CATALOGUE, **changes)


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 3))
    values = np.column_stack([x, x @ [1.0, 0.5, 0.0] + rng.normal(size=3000)])
    settings = settings_with(min_n=100)
    groups = rng.integers(0, settings.bootstrap_groups, 3000)
    moments = relative_weights.GroupMoments.of(
        relative_weights.group_moments(values, groups, settings.bootstrap_groups)
    )
    one = relative_weights.estimate_model(moments, ["a", "b", "c"], settings, np.random.default_rng([1, 2]))
    two = relative_weights.estimate_model(moments, ["a", "b", "c"], settings, np.random.default_rng([1, 2]))
    assert one is not None and two is not None
    np.testing.assert_array_equal(one.low, two.low)
    np.testing.assert_array_equal(one.high, two.high)
    # a and b bracketed; c has no effect: its weight is >= 0 and its resamples lie above the estimate
    # (a percentile interval of a bounded statistic), but close to 0
    assert np.all(one.low[:2] <= one.importance[:2]) and np.all(one.importance <= one.high)
    assert one.importance[0] > one.importance[1] > one.importance[2]
    assert one.high[2] < 0.005
    assert one.r2 == pytest.approx(1.25 / 2.25, abs=0.03)  # var explained 1 + 0.25 of 2.25


def test_the_build_s_estimate_and_interval_equal_a_resampling_of_the_answers_themselves() -> None:
    # 400 answers of one week with three levers that apply to all of them (complete data: pairwise =
    # ordinary correlations, positive definite, no projection). The build sums moments per bootstrap
    # group in SQL; here each resample is built from the answers themselves, by the documented rule:
    # answer -> group hash(response_id, bootstrap_seed) % bootstrap_groups, each resample draws
    # bootstrap_groups groups with replacement from the model's seeded stream (an answer counts as many
    # times as its group is drawn), weights by Johnson's SVD procedure, percentiles as numpy's.
    settings = settings_with(min_n=100, bootstrap_samples=60)
    rng = np.random.default_rng(11)
    n = 400
    x = rng.integers(0, 5, size=(n, 3)).astype(float) + np.round(rng.normal(size=(n, 3)), 3)
    x[:, 1] = (x[:, 1] > 2).astype(float)
    nps = np.clip(np.round(x @ [1.0, 2.0, 0.3] + rng.normal(scale=2.0, size=n)), 0, 10)
    con = duckdb.connect()
    lever_ids = list(settings.levers)
    columns = {"wait": x[:, 0], "complaint": x[:, 1], "effort": x[:, 2]}
    con.execute(
        "create temp table answer_levers (response_id varchar, day date, channel varchar, segment varchar, "
        "nps double, csat double, " + ", ".join(f"{lever} double" for lever in lever_ids) + ")"
    )
    con.executemany(
        "insert into answer_levers values (?, ?, 'phone', null, ?, null, " + ", ".join("?" for _ in lever_ids) + ")",
        [
            [f"r{i}", date(2026, 3, 9 + i % 7), float(nps[i])]
            + [columns.get(lever, [None] * n)[i] for lever in lever_ids]
            for i in range(n)
        ],
    )
    con.execute(
        "create temp table rebuild_driver_periods as select 'week' as period_type, date '2026-03-09' as period_start"
    )
    rows = {
        (scope, driver): (importance, low, high, count)
        for _, _, scope, outcome, driver, importance, low, high, count, _ in drivers._models(con, settings)
        if outcome == "nps"
    }
    names = ["wait", "complaint", "effort"]
    assert {scope for scope, _ in rows} == {"all", "channel:phone"}
    group_of = dict(con.execute("select response_id, hash(response_id, 15) % 100 from answer_levers").fetchall())
    groups = np.array([group_of[f"r{i}"] for i in range(n)])
    stream = np.random.default_rng(relative_weights.model_seed(15, "week", date(2026, 3, 9), "all", "nps"))
    picks = stream.integers(0, 100, size=(60, 100))
    resampled = []
    for pick in picks:
        times = np.bincount(pick, minlength=100)[groups]
        resampled.append(johnson_by_svd(np.repeat(x, times, axis=0), np.repeat(nps, times)))
    low, high = np.percentile(resampled, [2.5, 97.5], axis=0)
    expected = johnson_by_svd(x, nps)
    for j, name in enumerate(names):
        importance, got_low, got_high, count = rows[("all", name)]
        assert count == n
        assert importance == pytest.approx(expected[j], rel=1e-9)
        assert (got_low, got_high) == pytest.approx((low[j], high[j]), rel=1e-9)


# -- the answer <-> interaction join and the performance, by hand -------------------------------------------
_ids = itertools.count(1)


def insert(con: duckdb.DuckDBPyConnection, table: str, **row: object) -> None:
    key = "event_id" if table == "raw.touchpoints" else "response_id"
    row = {key: f"{key[0]}{next(_ids)}", "payload": "{}", "kafka_topic": "t", "kafka_partition": 0} | row
    row["kafka_offset"] = next(_ids)
    names = ", ".join(row)
    con.execute(
        f"insert into {table} ({names}, loaded_at) values ({', '.join('?' for _ in row)}, now())", list(row.values())
    )
    day = con.execute("select cast(cast(? as timestamptz) as date)", [row["occurred_at"]]).fetchall()[0][0]
    con.execute("insert or ignore into ops.dirty_days values (?)", [day])


def touch(con, event_type: str, at: str, customer: str, **fields) -> None:
    fields.setdefault("channel", "phone")
    fields.setdefault("touchpoint", "billing_hotline")
    insert(con, "raw.touchpoints", event_type=event_type, occurred_at=at, customer_id=customer, **fields)


def answer(con, response_id: str, at: str, customer: str, **fields) -> None:
    fields.setdefault("channel", "phone")
    fields.setdefault("touchpoint", "billing_hotline")
    fields.setdefault("survey", "post_contact")
    insert(con, "raw.surveys", response_id=response_id, occurred_at=at, customer_id=customer, **fields)


def answered(
    con, at: str, customer: str, contact_id: str, wait: float, talk: float, hold: float, acw: float, reason: str
):
    touch(con, "contact", at, customer, contact_id=contact_id, outcome="answered", wait_s=wait, talk_s=talk,
          hold_s=hold, acw_s=acw, reason=reason)  # fmt: skip


def load_fixture(con: duckdb.DuckDBPyConnection) -> None:
    # A: abandons, then is answered after 40 s (handled 300 + 60 + 90 = 450 s) and calls again next day
    # for the same reason (a repeat: not resolved at first contact); answers about the second contact.
    touch(con, "contact", "2026-03-09T08:00:00Z", "A", contact_id="kA1", outcome="abandoned", wait_s=90.0,
          reason="billing")  # fmt: skip
    answered(con, "2026-03-09T08:20:00Z", "A", "kA2", 40.0, 300.0, 60.0, 90.0, "billing")
    answered(con, "2026-03-10T09:00:00Z", "A", "kA3", 5.0, 100.0, 0.0, 20.0, "billing")
    answer(con, "rA", "2026-03-09T09:00:00Z", "A", contact_id="kA2", nps=3, csat=2, ces=2, expected=4,
           segment="residential")  # fmt: skip
    # B: two failed journey steps and a complaint, then a journey survey linked to nothing
    for minute in ("00", "05"):
        touch(con, "journey_step", f"2026-03-09T10:{minute}:00Z", "B", channel="app", touchpoint="payment",
              step_status="failed")  # fmt: skip
    touch(con, "case_opened", "2026-03-09T11:00:00Z", "B", channel="email", touchpoint="form", case_id="cB",
          reason="billing", is_complaint=True, category="billing_error")  # fmt: skip
    answer(con, "rB", "2026-03-09T12:00:00Z", "B", channel="app", touchpoint="payment", survey="post_journey",
           nps=1, csat=1, segment="pro")  # fmt: skip
    # C: a contact 5 days before (outside the 72 h window) and one an hour before the unlinked answer
    answered(con, "2026-03-05T10:00:00Z", "C", "kC1", 300.0, 100.0, 0.0, 0.0, "delivery")
    answered(con, "2026-03-10T10:00:00Z", "C", "kC2", 15.0, 200.0, 0.0, 10.0, "delivery")
    answer(con, "rC", "2026-03-10T11:00:00Z", "C", channel="chat", touchpoint="web_chat", nps=10, csat=5, ces=7,
           expected=3, segment="residential")  # fmt: skip
    # D: a complaint opened 10 days before the answer that names its case
    touch(con, "case_opened", "2026-03-01T09:00:00Z", "D", channel="email", touchpoint="form", case_id="cD",
          reason="delivery", is_complaint=True, category="delivery_delay")  # fmt: skip
    touch(con, "case_resolved", "2026-03-11T09:00:00Z", "D", channel="email", touchpoint="form", case_id="cD",
          handle_s=600.0, compensation_eur=0.0)  # fmt: skip
    answer(con, "rD", "2026-03-11T12:00:00Z", "D", channel="email", touchpoint="form", case_id="cD", nps=5, csat=3)
    # E: names a contact of 8 days before: too old to be what the answer is about
    answered(con, "2026-03-01T10:00:00Z", "E", "kE1", 30.0, 100.0, 0.0, 0.0, "billing")
    answer(con, "rE", "2026-03-09T15:00:00Z", "E", contact_id="kE1", nps=8, csat=4)
    # an answer with a CES only: no outcome, not in the analysis
    answer(con, "rF", "2026-03-09T16:00:00Z", "A", ces=6)


LEVERS = (
    "link wait abandonment first_contact_resolution handling_time effort expectation_gap complaint "
    "repeat_contacts failed_steps"
).split()


@pytest.fixture
def con(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    monkeypatch.setattr(drivers, "load_drivers", lambda: settings_with(min_n=2, bootstrap_samples=50))
    yield from built_warehouse(settings, load_fixture)


def test_each_answer_is_joined_to_the_interaction_it_follows(con) -> None:
    rows = con.execute(f"select response_id, {', '.join(LEVERS)} from answer_levers order by response_id").fetchall()
    assert rows == [
        # contact kA2: waited 40 s, kA1 abandoned in the window, repeated next day (FCR 0), 450 s handled,
        # CES 2, csat 2 - expected 4, 2 contacts in the window (1 repeat)
        ("rA", "contact", 40.0, 1, 0, 450.0, 2, -2, 0, 1, 0),
        # no contact: wait, FCR and handling do not apply; the complaint and 2 failed steps of the window;
        # the case opening is its only contact (0 repeats)
        ("rB", "none", None, 0, None, None, None, None, 1, 0, 2),
        # the window's last contact kC2 (kC1 is older than 72 h): 15 s, resolved, 210 s; gap 5 - 3
        ("rC", "window", 15.0, 0, 1, 210.0, 7, 2, 0, 0, 0),
        # linked to complaint cD, opened 10 days before (outside the window): a complaint all the same
        ("rD", "case", None, 0, None, None, None, None, 1, 0, 0),
        # names kE1, 8 days old: not followed
        ("rE", "none", None, 0, None, None, None, None, 0, 0, 0),
    ]


def test_performance_of_each_lever_by_hand(con) -> None:
    performance = dict(
        con.execute(
            "select driver, performance from marts.drivers where period_type = 'week' and period_start = ? "
            "and scope = 'all' and outcome = 'nps'",
            [date(2026, 3, 9)],
        ).fetchall()
    )
    assert performance == pytest.approx(
        {
            "wait": 1 / 2,  # rA 40 s > 20 s, rC 15 s
            "abandonment": 4 / 5,  # rA only
            "first_contact_resolution": 1 / 2,  # rA repeated, rC not
            "handling_time": 1 / 2,  # rA 450 s > 420 s, rC 210 s
            "effort": 1 / 2,  # rA CES 2, rC 7
            "expectation_gap": 1 / 2,  # rA -2, rC +2
            "complaint": 3 / 5,  # rB, rD
            "repeat_contacts": 4 / 5,  # rA
            "failed_steps": 4 / 5,  # rB
        }
    )
    # expectation_gap is not a predictor of CSAT (it is computed from the CSAT answer)
    csat = con.execute("select driver from marts.drivers where outcome = 'csat' order by all").fetchall()
    assert ("expectation_gap",) not in csat and ("wait",) in csat
    by_scope = con.execute(
        "select distinct scope from marts.drivers where period_type = 'week' order by all"
    ).fetchall()
    # phone: rA, rE; app: rB (1 answer < min_n 2); segments: residential rA, rC
    assert ("channel:phone",) in by_scope and ("segment:residential",) in by_scope
    assert ("channel:app",) not in by_scope and ("segment:pro",) not in by_scope


def test_importances_sum_to_r2_and_quadrants_follow_the_means(con) -> None:
    models = con.execute(
        "select period_type, period_start, scope, outcome, sum(importance), any_value(r2), count(*), "
        "list(quadrant order by driver), list(importance_share order by driver), list(performance order by driver) "
        "from marts.drivers group by all"
    ).fetchall()
    assert models
    for *_, total, r2, levers, quadrants, shares, performances in models:
        assert total == pytest.approx(r2, abs=1e-9)
        mean_performance = sum(performances) / levers
        for quadrant, share, perf in zip(quadrants, shares, performances, strict=True):
            important, performing = share >= 1 / levers, perf >= mean_performance
            expected = {(True, False): "focus", (True, True): "maintain", (False, False): "monitor"}
            assert quadrant == expected.get((important, performing), "secondary")


def test_no_row_below_min_n(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # 5 answers with an NPS in the week and the month: min_n 6 leaves nothing; with min_n 5 only the
    # levers that apply to all 5 answers remain (wait applies to 2, effort to 2, ...)
    for min_n, expected in (
        (6, []),
        (5, [("abandonment",), ("complaint",), ("failed_steps",), ("repeat_contacts",)]),
    ):
        monkeypatch.setattr(drivers, "load_drivers", lambda m=min_n: settings_with(min_n=m, bootstrap_samples=50))
        home = dataclasses.replace(settings, home=settings.home / f"min_n_{min_n}")
        con = connect(home.warehouse_path)
        load_fixture(con)
        build(con, home)
        rows = con.execute(
            "select distinct driver from marts.drivers where scope = 'all' and outcome = 'nps' order by all"
        ).fetchall()
        assert rows == expected
        assert con.execute("select count(*) from marts.drivers where n < ?", [min_n]).fetchall() == [(0,)]
        con.close()


def test_catalogue_errors_name_the_lever_and_key() -> None:
    from importlib import resources

    import yaml

    block = yaml.safe_load(resources.files("transforms").joinpath("kpis.yaml").read_text())["drivers"]
    with pytest.raises(drivers.DriverCatalogueError, match="answer_window_h"):
        drivers.parse({**block, "answer_window_h": 200})
    broken = {**block, "levers": {**block["levers"], "wait": {**block["levers"]["wait"], "outcomes": ["ces"]}}}
    with pytest.raises(drivers.DriverCatalogueError, match="lever 'wait', key 'outcomes'"):
        drivers.parse(broken)
    with pytest.raises(drivers.DriverCatalogueError, match="lever 'wait'.*no column"):
        drivers.parse(block, columns=["abandonment"])


def test_moment_sums_of_values_beyond_64_bit_products_are_exact() -> None:
    # a wait of 1e10 s (garbage, but accepted by the contract) squared in milliseconds overflows 64 bits:
    # the moments then use 128-bit products, equal to the narrow ones where both fit
    con = duckdb.connect()
    sql = {wide: drivers._moments_sql(["wait", "nps"], wide) for wide in (False, True)}
    parameters = {"bootstrap_seed": 15, "bootstrap_groups": 100}
    for wait in (999.5, 1e10):
        con.execute(
            "create or replace temp table answer_levers as select 'r' || i as response_id, date '2026-03-09' as day, "
            "'phone' as channel, null as segment, (i % 11)::double as nps, ? as wait from range(300) t(i)",
            [wait],
        )
        wide = con.execute(f"select sum(q0), sum(c0_1), sum(n) from ({sql[True]})", parameters).fetchall()[0]
        nps = sum(i % 11 for i in range(300))
        assert wide == pytest.approx((300 * (wait * 1000) ** 2, wait * 1000 * nps * 1000, 300), rel=1e-12)
        if wait < 1e6:
            assert (
                con.execute(f"select sum(q0), sum(c0_1), sum(n) from ({sql[False]})", parameters).fetchall()[0] == wide
            )
