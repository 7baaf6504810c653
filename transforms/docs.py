"""Generates docs/warehouse.md, the data dictionary, from schema.yaml and the KPI catalogue.

Regenerate with `python -m transforms.docs`; a test fails when the committed file is stale.
"""

from __future__ import annotations

from pathlib import Path

from transforms import journeys
from transforms.catalogue import load_catalogue
from transforms.dimensions import load_components
from transforms.drivers import load_drivers
from transforms.schema import load_schema

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "warehouse.md"

PARAMETERS = """## Parameters

Bound into the SQL models from the configuration (`cxpulse.toml` or `CXPULSE_*` variables):
`service_level_target_s` (default 20: the threshold of `service_level`), `fcr_window_h` (default 168:
the repeat window of `fcr_rate` and `fcr_final`, a duration), `hourly_cost_eur` (default 40:
`handling_cost_eur`), `reporting_timezone` (default UTC: the zone of every `day`, week and month;
changing it rebuilds the marts in full).

Marts are rebuilt incrementally: the local days overlapping the UTC days touched by new events
(`ops.dirty_days`), the days whose repeat window reaches them, the cohorts of the cases they touch,
and the weeks and months around them. The staging views (`staging.stg_contacts`, `stg_case_events`,
`stg_survey_responses`) are the typed, one-row-per-event inputs of the marts, with their local `day`
(macro `staging.local_day`) and, for surveys, the score flags (`is_promoter`, `is_satisfied`,
`is_easy`, ...: the one definition of the thresholds); `staging.stg_cases` (one row per case) is a
table kept up to date case by case, so that a new day re-reads the events of the cases it touches,
not all cases.

## Customer keys

The marts follow customers by `customer_key`, an integer given once to each `customer_id` and kept in
`ops.customers` (`customer_id`, `customer_key`). The loader writes it beside the id into `raw.touchpoints`
and `raw.surveys` (their column `customer_key`) as it loads the rows; the staging views carry it. Grouping,
sorting and joining millions of events on 8 bytes costs less than on ids of up to 128 characters, and it
is exact. Rows written without a key (a warehouse from before keys, a backfill written straight into
`raw.*`) get theirs at the start of the next build. The marts hold no key and no id. An erasure (`cxpulse
forget`) deletes the customer's row of `ops.customers`; keys come from a sequence, so that key is never
given to another customer (warehouse/customer_keys.py).
"""

EXAMPLES = """## Example queries

Open the published snapshot read-only (`duckdb -readonly $CXPULSE_HOME/published/cx.duckdb`), or read
`$CXPULSE_HOME/exports/marts.<table>.parquet`.

```sql
-- Service level and answer rate per channel over the last 7 days, recomputed from counts
select channel,
       sum(answered_in_target) / sum(offered) as service_level,
       sum(answered) / sum(offered) as answer_rate,
       sum(offered) as offered
from marts.kpi_service_daily
where queue = 'all' and day >= current_date - 7
group by channel order by channel;

-- This month's red KPIs on the progress dashboard, in French
select kpi, scope, label_fr, value, target, n
from marts.progress_dashboard
where period_type = 'month' and period_start = date_trunc('month', current_date) and status = 'red';

-- The vital few complaint categories of last month and what they cost
select category, complaints, cumulative_share, cost_eur
from marts.complaints_pareto
where month = date_trunc('month', current_date) - interval 1 month and vital_few
order by rank;
```
"""


def _drivers_section() -> list[str]:
    """marts.drivers: the levers of the catalogue, the answer <-> interaction window and the method."""
    settings = load_drivers()
    lines = [
        "## Key drivers (`marts.drivers`)",
        "",
        "What to act on: per ISO week and month, scope (`all`, `channel:<name>`, `segment:<name>`) and outcome",
        "(the 0-10 NPS answer, the 1-5 CSAT answer), the relative importance of each service lever.",
        "",
        "**Answer <-> interaction.** Each answer with an NPS or a CSAT is joined to the interaction it follows",
        "(`transforms/levers/answer_levers.sql`): the contact its `contact_id` names, the case its `case_id`",
        "names (whatever its age), else the customer's last contact; the levers are read from the customer's",
        f"touchpoints within `answer_window_h` = {settings.answer_window_h} h before the answer (catalogue",
        "`drivers:`, at most 168 h). A `contact_id` naming a contact older than the window is not followed.",
        "First-contact resolution uses the definition of `fcr_rate` (no contact or case with the same reason",
        "within `fcr_window_h` after the contact). A lever that does not apply to an answer (no live contact,",
        "no CES, ...) is NULL there; each pair of levers is correlated over the answers where both apply",
        "(pairwise), and the matrix is projected on the positive semi-definite ones so that R² stays in [0, 1].",
        "",
        "**Weights.** Johnson's relative weights (Johnson, J. W. 2000, *A heuristic method for estimating the",
        "relative weight of predictor variables in multiple regression*, Multivariate Behavioral Research",
        "35(1)), in closed form from the eigen-decomposition of the levers' correlation matrix: the weights",
        "(`importance`) sum to the model's R² (`r2`); `importance_share` = importance / r2. Intervals:",
        f"percentile bootstrap, {settings.bootstrap_samples} resamples, seeded per period, scope and outcome",
        f"(`bootstrap_seed` {settings.bootstrap_seed}): a rebuild gives the same numbers. Each answer belongs to",
        f"one of {settings.bootstrap_groups} groups, drawn from its `response_id` (`hash(response_id,",
        f"bootstrap_seed) % {settings.bootstrap_groups}` in DuckDB, the same in every model and every build),",
        f"and a resample draws {settings.bootstrap_groups} groups with replacement: moments add up, so a",
        "resampled group is the sum of its answers' moments, summed once per week, month, channel and segment",
        "in SQL. Group sizes vary (Poisson-like, some empty in small models); the weights and correlations are",
        "ratios of moment sums (unchanged when every sum is multiplied by the same factor), so to first order",
        "their resampled variance is that of resampling answers (as the Poisson bootstrap; Chamandy et al.",
        "2012, *Estimating uncertainty for massive data streams*, Google). Lever values enter the sums in",
        "thousandths of their unit (milliseconds for times), as exact integers. (The hash is the pinned",
        "DuckDB's: another DuckDB version may deal the answers anew, which moves the intervals as another",
        "seed would, not the weights.) A lever",
        "with no variance, or fewer answers than `min_n`, leaves the model; a model whose R² is 0 has no row;",
        "a weight near 0 can lie below its interval (a bounded statistic).",
        "",
        f"**No row below `min_n`** = {settings.min_n} answers with the outcome (and with the lever).",
        "",
        "**Quadrant** (axes at the means, the usual key-driver chart): importance is high when",
        "`importance_share` >= 1 / the number of levers in the model; performance is high when >= the mean",
        "performance of the model's levers. `focus`: important, performing below the mean (act here);",
        "`maintain`: important and performing; `monitor`: less important, below the mean; `secondary`:",
        "less important, performing.",
        "",
        "Effort (CES) and expectation gap are perceptions measured in the answer itself: they explain much of",
        "the score but are moved by the same experience as the operational levers; expectation gap is not a",
        "predictor of CSAT (it is computed from it).",
        "",
        "**Verbatim levers** (`topic_<topic>`, issue 16): one per topic of `transforms/verbatims/taxonomy.yaml`,",
        "from `staging.verbatim_analysis`: 1 when the answer's verbatim mentions the topic and its sentiment",
        "(one per answer) is negative, 0 otherwise, NULL for an answer without an analysed verbatim. Their",
        "labels are the `topic_levers:` template of the catalogue filled with the taxonomy's labels (one",
        "definition per label). Every topic is a lever (`topics: all`; a list keeps the model smaller): a",
        "model needs `min_n` answers with a verbatim for them to enter, and a topic nobody complains about in",
        "a period has no variance and leaves the model. Like effort, they are written in the answer itself:",
        "they say which irritant a low score goes with.",
        "",
        "| lever | English | français | unit | better | applies to | performance | outcomes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lever in settings.levers.values():
        better = "higher" if lever.higher_is_better else "lower"
        lines.append(
            f"| `{lever.id}` | {_cell(lever.label_en)} | {_cell(lever.label_fr)} | {_cell(lever.unit)} | {better} | "
            f"{_cell(lever.applies_to)} | {_cell(lever.performance)} | {', '.join(lever.outcomes)} |"
        )
    return [*lines, ""]


def _cell(value: object) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _dimension_lines() -> list[str]:
    """The four dimensions of an experience and their components (the `dimensions:` block of kpis.yaml)."""
    lines = [
        "## The four dimensions of an experience",
        "",
        "From the `dimensions:` block of `transforms/kpis.yaml` (seed 004): `marts.experience_dimensions`",
        "scores each dimension from 0 to 100 as the mean (equal weights) of its components, each normalised",
        "linearly on its scale, `100 x clamp((value - worst) / (best - worst), 0, 1)`. A component with no",
        "observation in a scope (n = 0) does not apply there; every component that applies must reach its",
        "min n, otherwise the score is NULL (`no_data`). The target is the mean of the components' targets",
        "on the same scales.",
        "",
        "`consistency_rate` follows each customer by its `customer_key` (exact: one integer per `customer_id`,",
        'see "Customer keys" below) and counts distinct touchpoints by the 64-bit hash of `touchpoint`:',
        "integers sort and compare faster than strings. Two touchpoint names with one hash would count as one;",
        "with K names the chance that any two collide is about K^2 / 2^65 (3e-14 for a thousand).",
        "",
        "| dimension | component | English | français | unit | worst | best | target | min n | n counts | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in load_components():
        lines.append(
            f"| {c.dimension} ({_cell(c.dimension_label_fr)}) | `{c.component}` | {_cell(c.label_en)} | "
            f"{_cell(c.label_fr)} | {_cell(c.unit)} | {c.worst:g} | {c.best:g} | {c.target:g} | {c.min_n} | "
            f"{_cell(c.grain)} | {_cell(c.source)} |"
        )
    return [*lines, ""]


def render_warehouse_doc() -> str:
    lines = [
        "# Warehouse data dictionary",
        "",
        "Generated from `transforms/schema.yaml` and `transforms/kpis.yaml` by `python -m transforms.docs`;",
        "do not edit by hand. Schemas: `raw` (loaded events), `staging` (views), `marts` (tables for BI),",
        "`ops` (file ledger, dead letters, dirty days). Days, ISO weeks and months are calendar periods",
        "of the reporting time zone (config `reporting_timezone`, default UTC; a DST day lasts 23 or 25",
        "hours); timestamps are stored in UTC. A KPI with no observation is NULL, never 0; a rolled-up",
        "dimension holds `'all'`.",
        "",
    ]
    for model, spec in load_schema()["models"].items():
        lines += [
            f"## `marts.{model}`",
            "",
            spec["description"],
            "",
            f"Grain: `{', '.join(spec['grain'])}` (tested unique).",
            "",
        ]
        if spec.get("expressions"):
            lines += ["Row tests: " + "; ".join(f"`{e}`" for e in spec["expressions"]) + ".", ""]
        lines += ["| column | unit | meaning | tests |", "|---|---|---|---|"]
        for column, col in spec["columns"].items():
            tests = col.get("tests") or {}
            described = []
            if tests.get("not_null"):
                described.append("not null")
            if "accepted_values" in tests:
                described.append("in " + ", ".join(map(str, tests["accepted_values"])))
            if "range" in tests:
                low, high = tests["range"]
                described.append(f"range [{'' if low is None else low}, {'' if high is None else high}]")
            lines.append(
                f"| `{column}` | {_cell(col.get('unit'))} | {_cell(col['description'])} | "
                f"{_cell('; '.join(described))} |"
            )
        lines.append("")
    lines += [
        "## KPI catalogue",
        "",
        "From `transforms/kpis.yaml`: the dashboard, the alerts and this page read it.",
        "",
        "| kpi | English | français | unit | better | target | tolerance | min n | noise band | min effect "
        "| n counts | daily source |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kpi in load_catalogue().values():
        better = "higher" if kpi.higher_is_better else "lower"
        lines.append(
            f"| `{kpi.id}` | {_cell(kpi.label_en)} | {_cell(kpi.label_fr)} | {kpi.unit} | {better} | {kpi.target} | "
            f"{kpi.tolerance} | {kpi.min_n} | {kpi.noise_band} | {kpi.min_effect} | {_cell(kpi.grain)} | "
            f"`marts.{kpi.source}` |"
        )
    lines += ["", *_dimension_lines(), *_drivers_section(), PARAMETERS, journeys.doc_section(), EXAMPLES]
    return "\n".join(lines)


if __name__ == "__main__":
    DOC_PATH.write_text(render_warehouse_doc())
    print(f"wrote {DOC_PATH}")
