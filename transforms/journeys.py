"""The journey map (transforms/journeys.yaml): journeys, their ordered steps, EN/FR labels, and the windows
and thresholds of marts.journey_steps, validated, and exposed to SQL for a build.

`register(con)` creates the temp tables `journey_map` (one row per journey step), `journey_settings` (one
row: the windows and thresholds) and the scalar function `journey_rupture_p(a1, n1, a2, n2)`: the p-value
of the pooled two-proportion z-test (the test the drift alerts use, in closed form), the one thing the SQL
of the mart cannot compute (DuckDB has no normal distribution function). `parameters()` gives the same
windows and thresholds as bound parameters of the build, which the mart reads (journey_settings serves
the rebuild scopes, transforms/rebuild/). Errors name the journey and the key at fault.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import pyarrow as pa
import yaml

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
SETTINGS = {
    "survey_window_h": int,
    "switch_window_h": int,
    "moment_min_n": int,
    "baseline_weeks": int,
    "baseline_months": int,
    "rupture_min_n": int,
    "rupture_alpha": float,
    "rupture_min_effect": float,
    "max_span_h": int,
}


class JourneyMapError(ValueError):
    """journeys.yaml is invalid; the message names the journey and the key."""


@dataclass(frozen=True)
class Step:
    journey: str
    step: str
    order: int
    final: bool
    label_en: str
    label_fr: str
    match: str | None = None


@dataclass(frozen=True)
class Journey:
    id: str
    label_en: str
    label_fr: str
    max_gap_h: int
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class JourneyMap:
    settings: dict[str, Any]
    journeys: dict[str, Journey]

    def journey_label(self, journey: str, french: bool = False) -> str:
        j = self.journeys.get(journey)
        return journey if j is None else (j.label_fr if french else j.label_en)


def _positive(value: Any, kind: type, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
        raise JourneyMapError(f"{where}: expected a{'n integer' if kind is int else ' number'}, got {value!r}")
    if value <= 0:
        raise JourneyMapError(f"{where}: must be > 0, got {value!r}")
    return kind(value)


def parse(data: Any) -> JourneyMap:
    """Validate a loaded journeys.yaml."""
    if not isinstance(data, dict) or not isinstance(data.get("journeys"), dict) or not data["journeys"]:
        raise JourneyMapError("the journey map defines no journey: expected a mapping under 'journeys:'")
    raw = data.get("settings") or {}
    missing = sorted(set(SETTINGS) - set(raw))
    unknown = sorted(set(raw) - set(SETTINGS))
    if missing or unknown:
        raise JourneyMapError(f"settings: missing keys {missing}, unknown keys {unknown}")
    settings = {key: _positive(raw[key], kind, f"settings, key '{key}'") for key, kind in SETTINGS.items()}
    if settings["rupture_alpha"] >= 1 or settings["rupture_min_effect"] >= 1:
        raise JourneyMapError("settings: rupture_alpha and rupture_min_effect are shares, below 1")
    journeys = {}
    for jid, entry in data["journeys"].items():
        where = f"journey '{jid}'"
        if not _ID.match(str(jid)) or not isinstance(entry, dict):
            raise JourneyMapError(f"{where}: a lower-case identifier with a mapping of keys is expected")
        unknown = sorted(set(entry) - {"label_en", "label_fr", "max_gap_h", "steps"})
        if unknown or not isinstance(entry.get("steps"), list) or not entry["steps"]:
            raise JourneyMapError(f"{where}: keys label_en, label_fr, max_gap_h, steps (a list); unknown {unknown}")
        steps = []
        for item in entry["steps"]:
            if not isinstance(item, dict) or not isinstance(item.get("step"), str) or not item["step"]:
                raise JourneyMapError(f"{where}, steps: each step needs a name under 'step', got {item!r}")
            extra = sorted(set(item) - {"step", "order", "final", "label_en", "label_fr", "match"})
            if extra:
                raise JourneyMapError(f"{where}, step '{item['step']}': unknown keys {extra}")
            for key in ("label_en", "label_fr"):
                if not isinstance(item.get(key), str) or not item[key].strip():
                    raise JourneyMapError(f"{where}, step '{item['step']}', key '{key}': a non-empty string")
            steps.append(
                Step(
                    jid,
                    item["step"],
                    _positive(item.get("order"), int, f"{where}, step '{item['step']}', key 'order'"),
                    bool(item.get("final", False)),
                    item["label_en"],
                    item["label_fr"],
                    item.get("match"),
                )
            )
        names = [s.step for s in steps]
        if len(set(names)) != len(names):
            raise JourneyMapError(f"{where}: a step is listed twice")
        journeys[jid] = Journey(
            jid,
            str(entry.get("label_en") or jid),
            str(entry.get("label_fr") or jid),
            _positive(entry.get("max_gap_h"), int, f"{where}, key 'max_gap_h'"),
            tuple(steps),
        )
    return JourneyMap(settings, journeys)


@cache
def load_map() -> JourneyMap:
    """transforms/journeys.yaml, validated (cached)."""
    return parse(yaml.safe_load(resources.files("transforms").joinpath("journeys.yaml").read_text()))


# 1/sqrt(2), as the normal survival function of scipy/statsmodels scales its argument for erfc
_SQRT1_2 = 0.7071067811865476


def two_proportion_p(a1: pa.Array, n1: pa.Array, a2: pa.Array, n2: pa.Array) -> pa.Array:
    """Two-sided p-values, row by row, of the pooled two-proportion z-test a1/n1 vs a2/n2 (the statistic
    of statsmodels' proportions_ztest, the test the drift alerts use); 1 when both shares are 0 or 1, NULL
    without observations. The closed form: z = (a1/n1 - a2/n2) / sqrt(p (1 - p) (1/n1 + 1/n2)) with the
    pooled share p = (a1 + a2) / (n1 + n2), and p-value = 2 (1 - Phi(|z|)) = erfc(|z| / sqrt 2): no
    statistics library to import (statsmodels took ~1 CPU s to import in every fresh build process);
    tests/transforms/test_journey_rupture_p.py checks it against proportions_ztest."""
    out: list[float | None] = []
    for x1, m1, x2, m2 in zip(a1.to_pylist(), n1.to_pylist(), a2.to_pylist(), n2.to_pylist(), strict=True):
        if x1 is None or m1 is None or x2 is None or m2 is None or m1 <= 0 or m2 <= 0:
            out.append(None)
            continue
        pooled = (x1 + x2) / (m1 + m2)
        variance = pooled * (1 - pooled) * (1 / m1 + 1 / m2)
        if pooled in (0, 1) or not variance > 0:  # no variation on either side: no evidence of a change
            out.append(1.0)
            continue
        z = (x1 / m1 - x2 / m2) / math.sqrt(variance)
        out.append(math.erfc(abs(z) * _SQRT1_2))
    return pa.array(out, pa.float64())


def parameters() -> dict[str, Any]:
    """The settings of journeys.yaml as bound parameters of the build ($switch_window_h, ...): the mart
    reads them as constants, which the planner folds and estimates (a scalar subquery on the one-row
    journey_settings became a cross product per row and hid the sizes the join order needs)."""
    return dict(load_map().settings)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """The temp tables journey_map and journey_settings, and the function journey_rupture_p (see above)."""
    jmap = load_map()
    con.execute("""
        create or replace temp table journey_map (
            journey varchar, step varchar, match varchar, step_order integer, final boolean,
            label_en varchar, label_fr varchar, max_gap_h integer, journey_label_en varchar, journey_label_fr varchar)
    """)
    con.executemany(
        "insert into journey_map values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [s.journey, s.step, s.match, s.order, s.final, s.label_en, s.label_fr, j.max_gap_h, j.label_en, j.label_fr]
            for j in jmap.journeys.values()
            for s in j.steps
        ],
    )
    names = list(SETTINGS)
    con.execute(
        f"create or replace temp table journey_settings as select {', '.join(f'? as {n}' for n in names)}",  # noqa: S608 - names of SETTINGS
        [jmap.settings[n] for n in names],
    )
    try:
        con.remove_function("journey_rupture_p")
    except (duckdb.InvalidInputException, duckdb.CatalogException):
        pass  # not registered on this connection yet
    con.create_function(
        "journey_rupture_p",
        two_proportion_p,
        [duckdb.sqltype("BIGINT")] * 4,
        duckdb.sqltype("DOUBLE"),
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


_DOC = """## Journeys (`marts.journey_steps`)

Sources: the journey map and its moments of truth (the CX toolbox's tools 25-26, "cartographie du
parcours" and "moments de vérité"; J. Carlzon, *Moments of Truth*, 1987), the six basic emotions along
the journey (tool 14; P. Ekman, "An argument for basic emotions", 1992), the ruptures *between* steps
(seed 001, "interstices"), and the drop-off / continuation of a journey canvas (as Adobe Customer Journey
Analytics draws it). The map, windows and thresholds live in `transforms/journeys.yaml` (below); edit it,
then rebuild in full (`cxpulse transform --full`).

- **Journey.** One customer's `journey_step` events of one `journey`, in time order (events at the same
  instant in the order of their event ids' hash: an order that is deterministic, and also the one that
  tells which attempt at a step was the last). A new journey starts
  at the customer's first step, after a gap longer than the journey's `max_gap_h`, or when the customer
  goes back to an earlier (or the same) step of the map, except to retry a step whose last attempt
  failed. An event belongs to the latest start at most `max_span_h` ({max_span_h} h) before it (else it
  starts one), which bounds what a step depends on, so an incremental build rebuilds the weeks and months
  within {reach} days of a changed day and the baseline periods after them. The rupture test of a rebuilt
  period reads the counts of its baseline periods that are not rebuilt from their stored rows (no change
  reaches them), so an incremental build reads the events of the periods it writes only.
- **Step.** The event's `touchpoint`, mapped to a step of the map by name or by a `match` pattern (every
  `store_%` touchpoint of a purchase is the step `store_visit`). A step the map does not list is kept,
  with `step_order` NULL and its touchpoint as label. A journey's attempts at one step are one row of the
  funnel, counted in the period of the first attempt; `ok` / `failed` / `abandoned` is how the last attempt
  ended (they sum to `entered`); `recovered` counts a failure retried successfully.
- **Continued, drop-off.** A journey went on after a step when another of its steps began later, or when
  the step is `final` and ended ok (the journey completed); `drop_off_rate` = 1 - continued / entered.
- **Answers about the step** (`nps`, `csat`, `negative_emotion_rate`, `emotion_mix`: the emotional curve):
  survey responses of the journey whose touchpoint maps to the step, in the period of the answer. The
  emotion is the survey's `emotion` field (`joy`, `surprise`, `sadness`, `fear`, `anger`, `disgust`);
  `emotion_mix` holds the share of each among the answers with one.
- **Moment of truth.** The journey's later NPS is the first answer with an NPS (post-journey or
  post-contact survey of the same customer about the same journey) after the step's first attempt and at
  most `survey_window_h` ({survey_window_h} h) after the journey's last step. `moment_of_truth` = NPS of
  the journeys whose step had a failed attempt - NPS of those whose every attempt was ok, in points, with
  both n (`mot_n_failed`, `mot_n_ok`); NULL unless each side has `moment_min_n` ({moment_min_n}) answers.
  The dashboard highlights a step at -20 points or worse.
- **Channel switch** (a rupture between steps): a journey that stopped at the step (did not continue)
  whose customer has another event (a contact, a case opened, a step of any journey) on another channel
  within `switch_window_h` ({switch_window_h} h) after the step's last attempt.
- **Rupture.** Per week and month, each step's drop-off and failure rates against the
  `baseline_weeks` ({baseline_weeks}) weeks or `baseline_months` ({baseline_months}) months before, with
  the discipline of the drift alerts: both sides at least `rupture_min_n` ({rupture_min_n}) entries; a
  pooled two-proportion z-test; Benjamini-Hochberg across every step and measure tested in the period
  (q <= `rupture_alpha`, {rupture_alpha}); and a rise of at least `rupture_min_effect`
  ({rupture_min_effect}). Journeys are counted as independent (no design effect: one customer rarely
  runs the same journey twice a week). A rupture in the latest week is a finding: an alert of rule
  `journey_rupture` on scope `touchpoint:<step>` (kpi `failure_rate` when failures rose, else
  `drop_off_rate`), one incident per journey (quality/journeys.py).
- **Simulator.** `cxpulse simulate --scenario journey-rupture:journey=purchase:step=payment:from=-7d:factor=4`
  multiplies the risk of that step from the onset.

| journey | step | order | final | English | français |
|---|---|---|---|---|---|
"""


def doc_section() -> str:
    """The Journeys section of docs/warehouse.md (transforms.docs): definitions and the journey map."""
    jmap = load_map()
    s = jmap.settings
    reach = (
        -(
            -(
                s["max_span_h"]
                + max(max(j.max_gap_h for j in jmap.journeys.values()), s["survey_window_h"], s["switch_window_h"])
            )
            // 24
        )
        + 1
    )
    text = _DOC.format(reach=reach, **s)
    rows = []
    for j in jmap.journeys.values():
        for st in j.steps:
            step = f"`{st.step}`" + (f" (`{st.match}`)" if st.match else "")
            rows.append(
                f"| `{j.id}` ({j.label_en} / {j.label_fr}, gap {j.max_gap_h} h) | {step} | {st.order} | "
                f"{'yes' if st.final else ''} | {st.label_en} | {st.label_fr} |"
            )
    return text + "\n".join(rows) + "\n"
