"""Evidently 0.7 evidence for drift alerts: one HTML report of score distributions, current vs baseline.

The alert decision belongs to quality.drift (KPI-level tests, Benjamini-Hochberg, minimum effects). This
module adds the evidence a CX lead opens next to an alert: one Evidently Report (DataDriftPreset) with a
column per (kpi, scope), its distributions in both windows, and Evidently's own per-column drift verdict.

Data layout: Evidently compares ONE current dataset with ONE reference dataset, so every sample becomes a
column of a wide frame per window (a neutral name, "s001_nps"; a legend at the top maps it to kpi|scope),
padded with NaN to the longest sample. This is supported
correctly: for each column Evidently drops NaN/inf before choosing and running the stat test (legacy
get_one_column_drift), so each test sees exactly that sample's answers, with its own n.

Column type and stat test: scores are declared NUMERICAL and the test is pinned to Kolmogorov-Smirnov
("ks", shown by Evidently as "K-S p_value", drift when p < 0.05). Why, measured on simulated survey
answers with no drift at all (Evidently 0.7.23, nominal 5 %):

* categorical columns get Evidently's chi-square, which is a goodness-of-fit test against the reference
  counts taken as exact (not a two-sample test) and gives p = 0 as soon as a score value appears in the
  current window but never in the baseline: false drift in 30-80 % of NPS (0-10) and CSAT (1-5) windows
  of 100-300 answers.
* numerical columns with Evidently's auto-selection get K-S for NPS 0-10 but fall back to that same
  chi-square (or a Z-test) when a scale shows <= 5 distinct values (CSAT 1-5), and switch to a distance
  (normed Wasserstein / Jensen-Shannon, threshold 0.1) once the baseline has > 1000 answers, so the
  meaning of `score` would change with n.
* K-S respects the order of the scale (moving answers 9 -> 0 is not the same as 9 -> 10 only in
  categorical terms), is Evidently's default for numerical columns, and with the many ties of small
  integer scores it is conservative (0.3-1 % false drift at nominal 5 %), which suits this project's
  precision-first alerting. `method=None` restores Evidently's auto-selection.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# Below this many finite answers on either side a sample gets no verdict.
MIN_VALUES = 2
DEFAULT_METHOD = "ks"


@dataclass(frozen=True)
class ScoreSample:
    """One KPI's raw answers in one scope."""

    kpi: str  # e.g. "nps", "csat", "ces"
    scope: str  # e.g. "channel:chat"
    current: list[float]  # scores in the current window (e.g. nps 0-10 answers)
    baseline: list[float]  # scores in the baseline window


@dataclass(frozen=True)
class DriftVerdict:
    kpi: str
    scope: str
    drifted: bool  # Evidently's own drift decision for this column
    method: str  # the stat test Evidently used, by its display name (e.g. "K-S p_value")
    score: float | None  # its p-value or distance


def _finite(values: list[float]) -> list[float]:
    out = []
    for v in values:
        f = float(v)
        if math.isfinite(f):
            out.append(f)
    return out


def _column_names(samples: list[ScoreSample]) -> dict[tuple[str, str], str]:
    """A neutral column name per sample key ("s001_nps"): scope names come from events (a touchpoint may be
    called anything, "</script>" included) and Evidently writes column names into the report's scripts, so
    they never become column names; the legend written beside the report (escaped HTML) maps them back."""
    names: dict[tuple[str, str], str] = {}
    for i, s in enumerate(samples, start=1):
        key = (s.kpi, s.scope)
        if key in names:
            raise ValueError(f"duplicate sample for kpi={s.kpi!r} scope={s.scope!r}")
        names[key] = f"s{i:03d}_{re.sub(r'[^a-z0-9_]', '_', s.kpi.lower())}"
    return names


def _add_legend(out_html: Path, names: dict[tuple[str, str], str]) -> None:
    """Insert the column -> (KPI, scope) legend at the top of the report's body, as escaped text."""
    from quality import wording  # names and French from the one place of the texts people read

    def cells(kpi: str, scope: str) -> str:
        named = [f"{wording.kpi_label(kpi, french)}, {wording.scope_label(scope, french)}" for french in (False, True)]
        return "".join(f"<td>{html.escape(text)}</td>" for text in (f"{kpi}|{scope}", *named))

    rows = "".join(f"<tr><td>{html.escape(name)}</td>{cells(kpi, scope)}</tr>" for (kpi, scope), name in names.items())
    legend = (
        "<section style='font-family:sans-serif;margin:16px'><h2>Columns / colonnes</h2>"
        "<table><tr><th>column / colonne</th><th>kpi|scope</th><th>KPI, scope</th><th>indicateur, périmètre</th></tr>"
        f"{rows}</table></section>"
    )
    text = out_html.read_text(encoding="utf-8")
    at = text.find(">", text.find("<body")) + 1 if "<body" in text else 0
    out_html.write_text(text[:at] + legend + text[at:], encoding="utf-8")


def _display_name(method: str) -> str:
    """Evidently's display name ("K-S p_value") of a stat test given by its registered name ("ks")."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    try:
        return get_registered_stattest(method, ColumnType.Numerical).display_name
    except ValueError:  # already a display name (auto-selected tests are reported that way)
        return method


def _score(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _write_empty(out_html: Path) -> None:
    out_html.write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='UTF-8'><title>Drift evidence</title></head>"
        "<body><p>No sample had at least two answers in both windows: no drift evidence.</p></body></html>",
        encoding="utf-8",
    )


def evidence_report(
    samples: list[ScoreSample], out_html: Path, *, method: str | None = DEFAULT_METHOD
) -> dict[tuple[str, str], DriftVerdict]:
    """Run ONE Evidently Report comparing current vs baseline score distributions for every sample
    (a neutral column each, see _column_names), save it as a self-contained HTML file at out_html (parents created), and
    return the per-sample verdicts. Samples with fewer than 2 finite values on either side are skipped
    (no verdict). `method` is the Evidently stat test for every column (default "ks"; None lets
    Evidently pick per column)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)

    names = _column_names(samples)
    current: dict[str, pd.Series] = {}
    baseline: dict[str, pd.Series] = {}
    for s in samples:
        cur, base = _finite(s.current), _finite(s.baseline)
        if len(cur) < MIN_VALUES or len(base) < MIN_VALUES:
            continue
        name = names[(s.kpi, s.scope)]
        current[name] = pd.Series(cur, dtype="float64")
        baseline[name] = pd.Series(base, dtype="float64")
    if not current:
        _write_empty(out_html)
        return {}

    columns = list(current)
    # Unequal lengths: pandas aligns the Series on their index and pads the shorter ones with NaN,
    # which Evidently drops column by column before each stat test.
    definition = DataDefinition(numerical_columns=columns)
    cur_ds = Dataset.from_pandas(pd.DataFrame(current, columns=columns), data_definition=definition)
    base_ds = Dataset.from_pandas(pd.DataFrame(baseline, columns=columns), data_definition=definition)

    # include_tests=True: the per-column drift decision is a test result (FAIL = drift), and Report's
    # default is include_tests=False.
    report = Report([DataDriftPreset(columns=columns, num_method=method)], include_tests=True)
    snapshot = report.run(current_data=cur_ds, reference_data=base_ds)
    # save_html writes only when given a str: a Path is silently ignored in 0.7.23.
    snapshot.save_html(str(out_html))
    _add_legend(out_html, {key: name for key, name in names.items() if name in current})

    result = snapshot.dict()
    drift_metrics: dict[str, dict[str, Any]] = {}  # metric id -> ValueDrift result
    for m in result["metrics"]:
        config = m.get("config", {})
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            drift_metrics[m["id"]] = m
    failed: dict[str, bool] = {}  # metric id -> drifted
    for t in result["tests"]:
        metric_id = t["metric_config"]["metric_id"]
        if metric_id in drift_metrics:
            failed[metric_id] = str(getattr(t["status"], "value", t["status"])) == "FAIL"

    by_column = {m["config"]["column"]: (metric_id, m) for metric_id, m in drift_metrics.items()}
    verdicts: dict[tuple[str, str], DriftVerdict] = {}
    for s in samples:
        key = (s.kpi, s.scope)
        name = names[key]
        if name not in current:
            continue
        if name not in by_column or by_column[name][0] not in failed:
            raise RuntimeError(f"Evidently returned no drift result for column {name!r}")
        metric_id, m = by_column[name]
        verdicts[key] = DriftVerdict(
            kpi=s.kpi,
            scope=s.scope,
            drifted=failed[metric_id],
            method=_display_name(str(m["config"]["method"])),
            score=_score(m["value"]),
        )
    return verdicts
