"""Statistical drift detection: a current window against a baseline window, per scope.

What "right" means (DESIGN.md): fire only when n >= min_n on both sides, the change is significant
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

from cxpulse.config import Settings
from transforms.catalogue import Kpi, load_catalogue

# Precision first: a false discovery rate of 0.1 % per KPI across its scopes. One wrong alert teaches
# CX leads to ignore the others. At 1 % the stable simulations of tests/quality/test_drift.py still
# raised a CSAT or CES alert in 2 runs of 6; a 15-point NPS drop on ~800 answers a week has q ~ 1e-5.
ALPHA = 0.001

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
    """One window's observations of one KPI in one scope: n, and a numerator or sum/sum of squares."""

    n: int
    a: float = 0.0  # promoters | successes | sum
    b: float = 0.0  # detractors | (unused) | sum of squares


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
    """NPS of each side in points and the p-value of their difference (adjusted-Wald variances)."""

    def nps_and_var(side: Side) -> tuple[float | None, float]:
        n_adj = side.n + 3
        p, d = (side.a + 0.75) / n_adj, (side.b + 0.75) / n_adj
        value = 100 * (side.a - side.b) / side.n if side.n else None
        return value, (p + d - (p - d) ** 2) / n_adj

    nps_c, var_c = nps_and_var(cur)
    nps_b, var_b = nps_and_var(base)
    if nps_c is None or nps_b is None:
        return nps_c, nps_b, None
    z = (nps_c - nps_b) / 100 / math.sqrt(var_c + var_b)
    return nps_c, nps_b, _two_sided(z)


def proportion_test(cur: Side, base: Side) -> tuple[float | None, float | None, float | None]:
    """Pooled two-proportion z-test; values are shares in [0, 1]."""
    p_c = cur.a / cur.n if cur.n else None
    p_b = base.a / base.n if base.n else None
    if p_c is None or p_b is None:
        return p_c, p_b, None
    pooled = (cur.a + base.a) / (cur.n + base.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / cur.n + 1 / base.n))
    if se == 0:
        return p_c, p_b, 1.0
    return p_c, p_b, _two_sided((p_c - p_b) / se)


def welch_test(cur: Side, base: Side) -> tuple[float | None, float | None, float | None]:
    """Welch's t-test from n, sum and sum of squares of each side."""
    if cur.n < 2 or base.n < 2:
        return (cur.a / cur.n if cur.n else None), (base.a / base.n if base.n else None), None
    mean_c, mean_b = cur.a / cur.n, base.a / base.n
    var_c = max((cur.b - cur.n * mean_c**2) / (cur.n - 1), 0.0)
    var_b = max((base.b - base.n * mean_b**2) / (base.n - 1), 0.0)
    se2 = var_c / cur.n + var_b / base.n
    if se2 == 0:
        return mean_c, mean_b, 1.0
    t = (mean_c - mean_b) / math.sqrt(se2)
    dof = se2**2 / ((var_c / cur.n) ** 2 / (cur.n - 1) + (var_b / base.n) ** 2 / (base.n - 1))
    return mean_c, mean_b, 2 * stats.t.sf(abs(t), dof)


TESTS = {"nps": nps_test, "aht_s": welch_test}


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """BH-adjusted q-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = running
    return q


# -- window aggregates from the staging views ---------------------------------------------------------
# Windows are instants (durations back from as_of); the score thresholds are the flags of
# staging.stg_survey_responses, their one definition.
_SURVEY_SIDES = """
with responses as (
    select *, case when occurred_at >= $current_start then 'current' else 'baseline' end as side
    from staging.stg_survey_responses
    where occurred_at >= $baseline_start and occurred_at < $as_of
),
scoped as (
    select 'all' as scope, * from responses
    union all select 'channel:' || channel, * from responses
    union all select 'touchpoint:' || touchpoint, * from responses
    union all select 'segment:' || segment, * from responses where segment is not null
)
select scope, side,
       count(nps), count(*) filter (where is_promoter), count(*) filter (where is_detractor),
       count(csat), count(*) filter (where is_satisfied),
       count(ces), count(*) filter (where is_easy)
from scoped group by all
"""

_CONTACT_SIDES = """
with contacts as (
    select *, case when occurred_at >= $current_start then 'current' else 'baseline' end as side
    from staging.stg_contacts
    where occurred_at >= $baseline_start and occurred_at < $as_of
),
scoped as (
    select 'all' as scope, * from contacts
    union all select 'channel:' || channel, * from contacts
    union all select 'touchpoint:' || queue, * from contacts
    union all select 'segment:' || segment, * from contacts where segment is not null
)
select scope, side,
       count(*), count(*) filter (where outcome = 'answered'),
       count(*) filter (where outcome = 'answered' and wait_s <= $service_level_target_s),
       sum(handle_s), sum(handle_s * handle_s)
from scoped group by all
"""

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

    for scope, side, nps_n, promoters, detractors, csat_n, satisfied, ces_n, easy in con.execute(
        _SURVEY_SIDES, params
    ).fetchall():
        put("nps", scope, side, Side(nps_n, promoters, detractors))
        put("csat", scope, side, Side(csat_n, satisfied))
        put("ces_easy_rate", scope, side, Side(ces_n, easy))
    contact_params = {**params, "service_level_target_s": settings.service_level_target_s}
    for scope, side, offered, answered, in_target, handle_sum, handle_sq in con.execute(
        _CONTACT_SIDES, contact_params
    ).fetchall():
        put("answer_rate", scope, side, Side(offered, answered))
        put("service_level", scope, side, Side(offered, in_target))
        put("aht_s", scope, side, Side(answered, handle_sum or 0.0, handle_sq or 0.0))
    if con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = 'kpi_service_daily'"
    ).fetchall()[0][0]:
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
