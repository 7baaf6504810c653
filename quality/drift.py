"""Statistical drift detection: a current window against a baseline window, per scope.

What "right" means (docs/design.md): fire only when n >= min_n on both sides, the change is significant
after Benjamini-Hochberg across the scopes tested for that KPI, and |delta| >= the KPI's min_effect
from the catalogue. Tests: NPS difference with the adjusted-Wald variance of each NPS; two-proportion
z-test for rates (CSAT, CES easy, answer rate, service level, FCR); Welch's t-test for means (AHT).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from cxpulse.config import Settings
from transforms.catalogue import Kpi, load_catalogue
from warehouse.db import table_exists

# Precision first: a false discovery rate of 0.1 % per KPI across its scopes. One wrong alert teaches
# CX leads to ignore the others. At 1 % the stable simulations of tests/quality/test_drift.py still
# raised a CSAT or CES alert in 2 runs of 6; a 15-point NPS drop on ~800 answers a week has q ~ 1e-5.
ALPHA = 0.001

# KPIs measured on survey answers (the others on contacts)
SURVEY_KPIS = frozenset({"nps", "csat", "ces_easy_rate"})

# rule of each monitored KPI (marts.alerts.rule)
RULES = {
    "nps": "nps_shift",
    "csat": "csat_shift",
    "ces_easy_rate": "ces_shift",
    "answer_rate": "service_shift",
    "service_level": "service_shift",
    "fcr_rate": "service_shift",
    "aht_s": "service_shift",
}


@dataclass(frozen=True)
class Windows:
    as_of: datetime
    current_start: datetime
    baseline_start: datetime

    @classmethod
    def ending(cls, as_of: datetime, current_days: int, baseline_days: int) -> Windows:
        current_start = as_of - timedelta(days=current_days)
        return cls(as_of, current_start, current_start - timedelta(days=baseline_days))

    def earlier_by(self, delta: timedelta) -> Windows:
        return Windows(self.as_of - delta, self.current_start - delta, self.baseline_start - delta)


def kpi_windows(kpi_id: str, windows: Windows, settings: Settings) -> Windows:
    """The windows a KPI is compared over. FCR is shifted back by its repeat window: a contact of the
    last fcr_window_h cannot be known as resolved yet (its repeat may still come), so the newest days
    look better than they are and would raise a false 'FCR rose' alert; comparing only days whose
    repeat windows are closed costs a week of delay and gives alerts that are right."""
    if kpi_id == "fcr_rate":
        return windows.earlier_by(timedelta(hours=settings.fcr_window_h))
    return windows


@dataclass(frozen=True)
class Side:
    """One window's observations of one KPI in one scope: n, and a numerator or sum/sum of squares.

    Answers of one customer are correlated (a customer who calls back three times about the same problem
    answers three surveys in the same mood), so the variance of a share or mean over answers is larger than
    the textbook one that assumes independent answers. The cluster sums below give the customer-clustered
    (sandwich) variance of the ratio estimator: with y_i the customer's numerator and n_i its answers,
    var = k/(k-1) * sum (y_i - v n_i)^2 / N^2 over the k customers; its ratio to the independent-answers
    variance is the design effect that the tests apply. Without cluster sums (clusters = 0) answers are
    taken as independent.
    """

    n: int
    a: float = 0.0  # promoters | successes | sum
    b: float = 0.0  # detractors | (unused) | sum of squares
    clusters: int = 0  # customers with at least one answer
    yy: float = 0.0  # sum over customers of y_i^2 (y_i: promoters - detractors | successes | sum)
    yn: float = 0.0  # sum over customers of y_i * n_i
    nn: float = 0.0  # sum over customers of n_i^2


def design_effect(side: Side, value: float, independent_var: float) -> float:
    """Clustered variance / independent-answers variance of the mean `value` (per answer), at least 1: a
    design effect below 1 would claim that repeat customers make the estimate more precise."""
    if side.clusters < 2 or side.n == 0 or independent_var <= 0:
        return 1.0
    residual = side.yy - 2 * value * side.yn + value**2 * side.nn
    clustered = side.clusters / (side.clusters - 1) * max(residual, 0.0) / side.n**2
    return max(1.0, clustered / independent_var)


@dataclass(frozen=True)
class Test:
    kpi: str
    scope: str
    current: Side
    baseline: Side
    current_value: float | None
    baseline_value: float | None
    p_value: float | None
    q_value: float | None = None

    @property
    def delta(self) -> float | None:
        if self.current_value is None or self.baseline_value is None:
            return None
        return self.current_value - self.baseline_value


def _two_sided(z: float) -> float:
    return 2 * stats.norm.sf(abs(z))


def nps_test(cur: Side, base: Side) -> tuple[float | None, float | None, float | None]:
    """NPS of each side in points and the p-value of their difference (adjusted-Wald variances, docs/design.md,
    each inflated by its side's design effect)."""

    def nps_and_var(side: Side) -> tuple[float | None, float]:
        n_adj = side.n + 3
        p, d = (side.a + 0.75) / n_adj, (side.b + 0.75) / n_adj
        value = 100 * (side.a - side.b) / side.n if side.n else None
        var = (p + d - (p - d) ** 2) / n_adj
        if value is not None:
            share_p, share_d = side.a / side.n, side.b / side.n
            var *= design_effect(side, value / 100, (share_p + share_d - (share_p - share_d) ** 2) / side.n)
        return value, var

    nps_c, var_c = nps_and_var(cur)
    nps_b, var_b = nps_and_var(base)
    if nps_c is None or nps_b is None:
        return nps_c, nps_b, None
    z = (nps_c - nps_b) / 100 / math.sqrt(var_c + var_b)
    return nps_c, nps_b, _two_sided(z)


def proportion_test(cur: Side, base: Side) -> tuple[float | None, float | None, float | None]:
    """Pooled two-proportion z-test (statsmodels), its z shrunk by the design effect of the two sides
    (weighted by each side's share of the variance); values are shares in [0, 1]."""
    p_c = cur.a / cur.n if cur.n else None
    p_b = base.a / base.n if base.n else None
    if p_c is None or p_b is None:
        return p_c, p_b, None
    pooled = (cur.a + base.a) / (cur.n + base.n)
    if pooled in (0.0, 1.0):
        return p_c, p_b, 1.0
    z, _ = proportions_ztest([cur.a, base.a], [cur.n, base.n])
    var_c, var_b = p_c * (1 - p_c) / cur.n, p_b * (1 - p_b) / base.n
    if var_c + var_b > 0:
        deff = (design_effect(cur, p_c, var_c) * var_c + design_effect(base, p_b, var_b) * var_b) / (var_c + var_b)
        z /= math.sqrt(deff)
    return p_c, p_b, _two_sided(z)


def welch_test(cur: Side, base: Side) -> tuple[float | None, float | None, float | None]:
    """Welch's t-test (scipy) from n, sum and sum of squares of each side, variances inflated by the
    design effect of each side."""
    if cur.n < 2 or base.n < 2:
        return (cur.a / cur.n if cur.n else None), (base.a / base.n if base.n else None), None
    mean_c, mean_b = cur.a / cur.n, base.a / base.n
    var_c = max((cur.b - cur.n * mean_c**2) / (cur.n - 1), 0.0)
    var_b = max((base.b - base.n * mean_b**2) / (base.n - 1), 0.0)
    if var_c == 0 and var_b == 0:
        return mean_c, mean_b, 1.0
    var_c *= design_effect(cur, mean_c, var_c / cur.n)
    var_b *= design_effect(base, mean_b, var_b / base.n)
    result = stats.ttest_ind_from_stats(
        mean_c, math.sqrt(var_c), cur.n, mean_b, math.sqrt(var_b), base.n, equal_var=False
    )
    return mean_c, mean_b, float(result.pvalue)


TESTS = {"nps": nps_test, "aht_s": welch_test}


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """BH-adjusted q-values (statsmodels), in the input order."""
    if not p_values:
        return []
    return [float(q) for q in multipletests(p_values, method="fdr_bh")[1]]


# -- window aggregates from the staging views ---------------------------------------------------------
# Windows are instants (durations back from as_of); the score thresholds are the flags of
# staging.stg_survey_responses, their one definition. Per customer first (the clusters), then per
# scope and window: counts and the cluster sums of Side.
def _sides(view: str, touchpoint: str, per_customer_and_side: str) -> str:
    """A sides query: the rows of staging.`view` in the two windows (`side`), once per scope they belong to
    (`touchpoint` is the view's touchpoint column), then `per_customer_and_side` on them (CTE `scoped`).
    All three are literals of this module."""
    return f"""
with events as (
    select *, case when occurred_at >= $current_start then 'current' else 'baseline' end as side
    from staging.{view}
    where occurred_at >= $baseline_start and occurred_at < $as_of
),
scoped as (
    select 'all' as scope, * from events
    union all select 'channel:' || channel, * from events
    union all select 'touchpoint:' || {touchpoint}, * from events
    union all select 'segment:' || segment, * from events where segment is not null
),
{per_customer_and_side}"""  # noqa: S608 - literals of this module


_SURVEY_SIDES = _sides(
    "stg_survey_responses",
    "touchpoint",
    """
customers as (
    select scope, side, customer_id,
           count(nps) as nps_n, count(*) filter (where is_promoter) as promoters,
           count(*) filter (where is_detractor) as detractors,
           count(csat) as csat_n, count(*) filter (where is_satisfied) as satisfied,
           count(ces) as ces_n, count(*) filter (where is_easy) as easy
    from scoped group by all
)
select scope, side,
       sum(nps_n), sum(promoters), sum(detractors), count(*) filter (where nps_n > 0),
       sum((promoters - detractors) ^ 2), sum((promoters - detractors) * nps_n), sum(nps_n ^ 2),
       sum(csat_n), sum(satisfied), count(*) filter (where csat_n > 0),
       sum(satisfied ^ 2), sum(satisfied * csat_n), sum(csat_n ^ 2),
       sum(ces_n), sum(easy), count(*) filter (where ces_n > 0), sum(easy ^ 2), sum(easy * ces_n), sum(ces_n ^ 2)
from customers group by all
""",
)

_CONTACT_SIDES = _sides(
    "stg_contacts",
    "queue",
    """
customers as (
    select scope, side, customer_id, count(*) as offered, count(*) filter (where outcome = 'answered') as answered,
           count(*) filter (where outcome = 'answered' and wait_s <= $service_level_target_s) as in_target,
           coalesce(sum(handle_s), 0) as handle_sum, coalesce(sum(handle_s * handle_s), 0) as handle_sq
    from scoped group by all
)
select scope, side,
       sum(offered), sum(answered), sum(in_target), sum(handle_sum), sum(handle_sq), count(*),
       sum(answered ^ 2), sum(answered * offered), sum(offered ^ 2),
       sum(in_target ^ 2), sum(in_target * offered),
       count(*) filter (where answered > 0), sum(handle_sum ^ 2), sum(handle_sum * answered), sum(answered ^ 2)
from customers group by all
""",
)

# FCR needs the repeat flags of the marts; its scopes are those of the mart (no segment there). Mart
# days are days of the reporting time zone ($zone): the window instants are turned into its dates.
_FCR_SIDES = """
with days as (
    select *,
        case when day >= cast(timezone($zone, cast($current_start as timestamptz)) as date)
            then 'current' else 'baseline' end as side
    from marts.kpi_service_daily
    where day >= cast(timezone($zone, cast($baseline_start as timestamptz)) as date)
        and day < cast(timezone($zone, cast($as_of as timestamptz)) as date)
),
scoped as (
    select 'all' as scope, * from days where channel = 'all'
    union all select 'channel:' || channel, * from days where channel <> 'all' and queue = 'all'
    union all select 'touchpoint:' || queue, * from days where queue <> 'all'
)
select scope, side, sum(answered), sum(answered - repeated) from scoped group by all
"""


def _sides(con: duckdb.DuckDBPyConnection, windows: Windows, settings: Settings) -> dict[str, dict]:
    """kpi -> scope -> {'current': Side, 'baseline': Side}."""
    params = {
        "as_of": windows.as_of,
        "current_start": windows.current_start,
        "baseline_start": windows.baseline_start,
    }
    out: dict[str, dict] = {kpi: {} for kpi in RULES}

    def put(kpi: str, scope: str, side: str, value: Side) -> None:
        out[kpi].setdefault(scope, {})[side] = value

    for scope, side, *v in con.execute(_SURVEY_SIDES, params).fetchall():
        put("nps", scope, side, Side(int(v[0]), v[1], v[2], int(v[3]), v[4], v[5], v[6]))
        put("csat", scope, side, Side(int(v[7]), v[8], 0.0, int(v[9]), v[10], v[11], v[12]))
        put("ces_easy_rate", scope, side, Side(int(v[13]), v[14], 0.0, int(v[15]), v[16], v[17], v[18]))
    contact_params = {**params, "service_level_target_s": settings.service_level_target_s}
    for scope, side, *v in con.execute(_CONTACT_SIDES, contact_params).fetchall():
        offered, answered, in_target, handle_sum, handle_sq, customers = v[:6]
        put("answer_rate", scope, side, Side(int(offered), answered, 0.0, int(customers), v[6], v[7], v[8]))
        put("service_level", scope, side, Side(int(offered), in_target, 0.0, int(customers), v[9], v[10], v[8]))
        put(
            "aht_s",
            scope,
            side,
            Side(int(answered), handle_sum or 0.0, handle_sq or 0.0, int(v[11]), v[12], v[13], v[14]),
        )
    if table_exists(con, "marts", "kpi_service_daily"):
        fcr = kpi_windows("fcr_rate", windows, settings)
        fcr_params = {
            "as_of": fcr.as_of,
            "current_start": fcr.current_start,
            "baseline_start": fcr.baseline_start,
            "zone": settings.reporting_timezone,
        }
        for scope, side, answered, not_repeated in con.execute(_FCR_SIDES, fcr_params).fetchall():
            put("fcr_rate", scope, side, Side(int(answered or 0), float(not_repeated or 0)))
    return out


@dataclass(frozen=True)
class Finding:
    """A tested KPI in one scope, with the decision and why."""

    test: Test
    kpi: Kpi
    fires: bool
    reason: str
    windows: Windows  # what was compared (kpi_windows)


def detect(con: duckdb.DuckDBPyConnection, settings: Settings, windows: Windows) -> list[Finding]:
    """Every (KPI, scope) tested, with whether it fires; BH across the scopes of each KPI."""
    catalogue = load_catalogue()
    findings: list[Finding] = []
    for kpi_id, scopes in _sides(con, windows, settings).items():
        kpi = catalogue[kpi_id]
        compared = kpi_windows(kpi_id, windows, settings)
        test_fn = TESTS.get(kpi_id, proportion_test)
        tests = []
        for scope, sides in sorted(scopes.items()):
            cur, base = sides.get("current", Side(0)), sides.get("baseline", Side(0))
            current_value, baseline_value, p_value = test_fn(cur, base)
            tests.append(Test(kpi_id, scope, cur, base, current_value, baseline_value, p_value))
        # Only scopes with enough answers on both sides count as tests for the correction.
        eligible = [t for t in tests if t.p_value is not None and min(t.current.n, t.baseline.n) >= kpi.min_n]
        q_values = benjamini_hochberg([t.p_value for t in eligible]) if eligible else []
        q_of = {t.scope: q for t, q in zip(eligible, q_values, strict=True)}
        for t in tests:
            t = dataclasses.replace(t, q_value=q_of.get(t.scope))
            if min(t.current.n, t.baseline.n) < kpi.min_n:
                findings.append(Finding(t, kpi, False, f"n below min_n {kpi.min_n}", compared))
            elif t.q_value is None or t.q_value > ALPHA:
                findings.append(Finding(t, kpi, False, "not significant after Benjamini-Hochberg", compared))
            elif abs(t.delta) < kpi.min_effect:
                findings.append(Finding(t, kpi, False, f"|delta| below min_effect {kpi.min_effect}", compared))
            else:
                findings.append(Finding(t, kpi, True, "significant and material", compared))
    return findings


def severity(finding: Finding) -> str:
    """Worse by at least 2 x min_effect: critical; worse: warning; better: info."""
    delta = finding.test.delta or 0.0
    worse = delta < 0 if finding.kpi.higher_is_better else delta > 0
    if not worse:
        return "info"
    return "critical" if abs(delta) >= 2 * finding.kpi.min_effect else "warning"
