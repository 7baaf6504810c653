"""Key-driver analysis of marts.drivers: which service levers weigh on NPS and CSAT (Johnson's relative weights).

The build step of marts.drivers (`estimate`, run by transforms/build.py just before the mart's SQL):

1. transforms/levers/answer_levers.sql -> temp table `answer_levers`: one row per answer of the periods
   to rebuild (temp table rebuild_driver_periods), with its levers (NULL where a lever does not apply).
2. Per period (ISO week, month), scope (`all`, `channel:<name>`, `segment:<name>`) and outcome (`nps` 0-10,
   `csat` 1-5): Johnson's relative weights of the outcome's levers (closed form: the eigen-decomposition
   of the levers' correlation matrix), with percentile bootstrap 95 % intervals -> temp table
   `driver_estimates`. transforms/marts/drivers.sql adds the performance and the quadrant.

Correlations are pairwise: each pair of columns over the answers where both are present (a lever that
does not apply to an answer is NULL there). Pairwise matrices can be indefinite: they are projected on
the positive semi-definite ones first (`positive_semidefinite`), so R^2 stays within [0, 1]. A lever
with fewer than `min_n` answers with the outcome, or no variance, leaves the model; a model with fewer
than `min_n` answers with its outcome has no row.

The estimation itself (Johnson's closed form, the projection, the bootstrap) is transforms/relative_weights.py.

Bootstrap: each answer belongs to one of `bootstrap_groups` groups drawn from its response_id; the
moment sums of the answers (count, sums, squares and products of the levers, per pattern of present
levers) are added up in SQL per week, month, channel, segment and group (`_moments_sql`), then per
period and scope in a fixed order (`_roll_up`), and a resample draws groups with replacement
(docs/warehouse.md "Key drivers" says why that is a valid bootstrap). The correlation matrices of
every model (estimate and resamples) are then projected and decomposed together, a few numpy calls
per matrix size instead of several per model.

Deterministic: the cells' sums are exact integers (lever values in thousandths of their unit), the
roll-up adds them in a fixed order, the groups come from the answers' ids and each model's random
stream is seeded from the catalogue's `bootstrap_seed` and the model's key, so a rebuild
(incremental or full) gives the same numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml
from scipy import sparse
from threadpoolctl import threadpool_limits

from transforms.catalogue import load_catalogue
from transforms.relative_weights import GroupMoments, estimate_models, model_seed
from transforms.sql import bound, identifier, model_sql
from transforms.verbatims.analyse import analyser

OUTCOMES: tuple[str, ...] = ("nps", "csat")
MAX_WINDOW_H = 168  # the rebuild scope reaches one period after a change: see kpis.yaml
_LEVER_KEYS = ("label_en", "label_fr", "unit", "higher_is_better", "applies_to", "performance", "outcomes")
_SETTINGS = ("answer_window_h", "min_n", "bootstrap_samples", "bootstrap_groups", "bootstrap_seed")
TOPIC_PREFIX = "topic_"  # verbatim levers: topic_<topic of transforms/verbatims/taxonomy.yaml>


class DriverCatalogueError(ValueError):
    """The `drivers:` block of kpis.yaml is invalid; the message names the lever and the key."""


@dataclass(frozen=True)
class Lever:
    id: str
    label_en: str
    label_fr: str
    unit: str
    higher_is_better: bool
    applies_to: str
    performance: str
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class DriverSettings:
    answer_window_h: int
    min_n: int
    bootstrap_samples: int
    bootstrap_groups: int
    bootstrap_seed: int
    levers: dict[str, Lever]


def topic_levers(block: Any, topics: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The verbatim levers of `topic_levers:`, one per topic of the taxonomy (`topics`: key -> (label_en,
    label_fr); default transforms/verbatims/taxonomy.yaml) or of its `topics:` list, as entries of `levers:`:
    id topic_<key>, the labels of the template with {topic} replaced by the topic's label (the taxonomy
    stays the one definition of the topic labels)."""
    if not block:
        return {}
    if not isinstance(block, dict) or sorted(set(block) - {"topics"}) != sorted(_LEVER_KEYS):
        raise DriverCatalogueError(
            f"drivers, key 'topic_levers': expected the keys {', '.join(_LEVER_KEYS)} (and optionally topics)"
        )
    if topics is None:
        topics = {t.key: (t.label_en, t.label_fr) for t in analyser().topics.values()}
    chosen = block.get("topics", "all")
    if chosen != "all":
        if not isinstance(chosen, list) or not chosen or set(chosen) - set(topics):
            raise DriverCatalogueError(
                f"drivers, key 'topic_levers.topics': 'all' or a list of topics of {', '.join(topics)}, got {chosen!r}"
            )
        topics = {key: labels for key, labels in topics.items() if key in chosen}
    template = {key: value for key, value in block.items() if key != "topics"}
    return {
        f"{TOPIC_PREFIX}{key}": {
            **template,
            "label_en": str(block["label_en"]).format(topic=label_en),
            "label_fr": str(block["label_fr"]).format(topic=label_fr),
        }
        for key, (label_en, label_fr) in topics.items()
    }


def parse(
    block: Any, columns: list[str] | None = None, topics: dict[str, tuple[str, str]] | None = None
) -> DriverSettings:
    """Validate the `drivers:` block; `columns` (of answer_levers.sql) checks each lever has its columns.
    `topics` (key -> (label_en, label_fr)): the taxonomy the `topic_levers:` template is expanded with."""
    if not isinstance(block, dict):
        raise DriverCatalogueError("kpis.yaml has no `drivers:` mapping")
    for key in _SETTINGS:
        value = block.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DriverCatalogueError(f"drivers, key '{key}': must be an integer >= 0, got {value!r}")
    if not 1 <= block["answer_window_h"] <= MAX_WINDOW_H:
        raise DriverCatalogueError(
            f"drivers, key 'answer_window_h': must be in [1, {MAX_WINDOW_H}] hours, got {block['answer_window_h']}"
        )
    for key in ("bootstrap_samples", "bootstrap_groups"):
        if block[key] < 20:
            raise DriverCatalogueError(f"drivers, key '{key}': must be >= 20, got {block[key]}")
    levers = {}
    entries = {**(block.get("levers") or {}), **topic_levers(block.get("topic_levers"), topics)}
    for lever_id, entry in entries.items():
        if not isinstance(entry, dict) or sorted(entry) != sorted(_LEVER_KEYS):
            raise DriverCatalogueError(f"lever '{lever_id}': expected exactly the keys {', '.join(_LEVER_KEYS)}")
        if not isinstance(entry["higher_is_better"], bool):
            raise DriverCatalogueError(f"lever '{lever_id}', key 'higher_is_better': must be true or false")
        outcomes = tuple(entry["outcomes"] or ())
        if not outcomes or set(outcomes) - set(OUTCOMES):
            raise DriverCatalogueError(
                f"lever '{lever_id}', key 'outcomes': must list some of {', '.join(OUTCOMES)}, got {outcomes!r}"
            )
        if columns is not None and not {lever_id, f"{lever_id}_ok"} <= set(columns):
            raise DriverCatalogueError(
                f"lever '{lever_id}': transforms/levers/answer_levers.sql has no column {lever_id} and {lever_id}_ok"
            )
        levers[lever_id] = Lever(id=lever_id, **{**entry, "outcomes": outcomes})
    if not levers:
        raise DriverCatalogueError("drivers: no lever under `levers:`")
    return DriverSettings(**{key: block[key] for key in _SETTINGS}, levers=levers)


@cache
def load_drivers() -> DriverSettings:
    """The `drivers:` block of transforms/kpis.yaml (validated; cached)."""
    data = yaml.safe_load(resources.files("transforms").joinpath("kpis.yaml").read_text())
    return parse(data.get("drivers"))


# -- the build step -----------------------------------------------------------------------------------
_ESTIMATE_COLUMNS = (
    "period_type", "period_start", "scope", "outcome", "driver",
    "importance", "importance_low", "importance_high", "n", "r2",
)  # fmt: skip


def lever_parameters() -> dict[str, Any]:
    """What answer_levers.sql binds beyond the build's parameters: the catalogue's window and AHT target."""
    return {"answer_window_h": load_drivers().answer_window_h, "aht_target_s": load_catalogue()["aht_s"].target}


def build_answer_levers(con: duckdb.DuckDBPyConnection, build_parameters: dict[str, Any]) -> None:
    """Temp table answer_levers: the answers of the periods of rebuild_driver_periods with their levers
    (transforms/levers/: lever_answers.sql, then answer_touchpoints.sql per time chunk of answers, then
    answer_levers.sql).

    Raises DriverCatalogueError when a lever of the catalogue has no column in answer_levers.sql.
    """
    parameters = {**build_parameters, **lever_parameters()}
    con.execute(f"create or replace temp table lever_answers as {model_sql('levers', 'lever_answers')}")
    con.execute("create or replace temp table lever_chunk (chunk_from timestamptz, chunk_to timestamptz)")
    con.execute(
        "create or replace temp table answer_touchpoints "
        "(response_id varchar, answered_at timestamptz, named_contact_id varchar, has_case boolean, touch_row bigint)"
    )
    touch_sql = model_sql("levers", "answer_touchpoints")
    first, last = con.execute("select min(occurred_at), max(occurred_at) from lever_answers").fetchall()[0]
    while first is not None and first <= last:
        con.execute("delete from lever_chunk")
        con.execute("insert into lever_chunk values (?, ?)", [first, first + _TOUCH_CHUNK])
        con.execute(f"insert into answer_touchpoints {touch_sql}", bound(touch_sql, parameters))
        first += _TOUCH_CHUNK
    sql = model_sql("levers", "answer_levers")
    con.execute(f"create or replace temp table answer_levers as {sql}", bound(sql, parameters))
    # the steps' own tables: not kept on the connection after the build step
    for table in ("lever_answers", "lever_chunk", "answer_touchpoints"):
        con.execute(f"drop table {table}")
    columns = {r[0] for r in con.execute("describe answer_levers").fetchall()}
    for lever_id in load_drivers().levers:  # the catalogue as parsed once per process (parse checks the same)
        if not {lever_id, f"{lever_id}_ok"} <= columns:
            raise DriverCatalogueError(
                f"lever '{lever_id}': transforms/levers/answer_levers.sql has no column {lever_id} and {lever_id}_ok"
            )


# Lever values enter the moment sums as integers of 1/_SCALE of their unit (milliseconds for times):
# integer sums are exact, so they do not depend on the order DuckDB's threads add them in and a rebuild
# gives the same numbers to the last bit.
_SCALE = 1000
_LARGEST_NARROW = 3.0e9  # (3e9)^2 < 2^63: larger values (in 1/_SCALE units) take 128-bit products
_MODEL_CHUNK = 200  # models whose resampled matrices are held at once (memory: ~200 x 201 x k x k)
# Answers joined with their touchpoints a chunk of time at a time (answer_touchpoints.sql says why):
# two months, measured at 10M events as cheap as one month and cheaper than 4 or 6.
_TOUCH_CHUNK = timedelta(days=61)


def _moments_sql(columns: list[str], wide: bool = False) -> str:
    """Per week, month, channel, segment, bootstrap group and pattern of present columns (a cell), the
    answers' count and sums of each column, of its square and of each product of two columns (in 1/_SCALE
    units), from temp table answer_levers. `columns`: checked identifiers of answer_levers. `wide`:
    products in 128 bits (slower), for values too large for a product of two 64-bit integers."""
    width = len(columns)
    product = "cast(x{} as hugeint) * x{}" if wide else "x{} * x{}"
    values = ", ".join(
        f"cast(round(cast({identifier(c)} as double) * {_SCALE}) as bigint) as x{i}" for i, c in enumerate(columns)
    )
    present = " + ".join(f"cast(x{i} is not null as bigint) * {1 << i}" for i in range(width))
    # 0 where a column is absent from a pattern: plain arrays, not masked ones; a cell's sums are exact
    # integers, converted to doubles once (deterministically)
    sums = [f"cast(coalesce(sum(x{i}), 0) as double) as s{i}" for i in range(width)]
    sums += [f"cast(coalesce(sum({product.format(i, i)}), 0) as double) as q{i}" for i in range(width)]
    sums += [
        f"cast(coalesce(sum({product.format(i, j)}), 0) as double) as c{i}_{j}"
        for i in range(width)
        for j in range(i + 1, width)
    ]
    return f"""
with answers as (
    select
        cast(date_trunc('week', day) as date) as week,
        cast(date_trunc('month', day) as date) as month,
        nullif(channel, '') as channel,
        nullif(segment, '') as segment,
        hash(response_id, $bootstrap_seed) % $bootstrap_groups as bootstrap_group,
        {values}
    from answer_levers
),

final as (
    select
        week, month, channel, segment, bootstrap_group, {present} as present,
        cast(count(*) as double) as n, {", ".join(sums)}
    from answers
    group by all
)

select * from final
"""  # noqa: S608 - identifiers checked, values bound


def _roll_up(cells: dict[str, np.ndarray], periods: set[tuple[str, date]]) -> tuple[dict[str, np.ndarray], list]:
    """The cells added up per model (period of `periods`, scope) and per bootstrap group and pattern, in
    a fixed order (so the same doubles whatever order DuckDB returned the cells in); the models, each
    (period_type, period_start, scope, first row, end row) of the rows returned."""
    channels, channel_names = pd.factorize(cells["channel"], sort=True)  # None -> -1: no channel scope
    segments, segment_names = pd.factorize(cells["segment"], sort=True)
    weeks, months = cells["week"].astype(np.int64), cells["month"].astype(np.int64)
    group, present = cells["bootstrap_group"], cells["present"]
    # one total order of the cells: each sum below adds the same numbers in the same order in every build
    by_cell = np.lexsort((present, group, segments, channels, months, weeks))
    channels, segments, weeks, months = channels[by_cell], segments[by_cell], weeks[by_cell], months[by_cell]
    group, present = group[by_cell], present[by_cell]
    targets: list[np.ndarray] = []
    sources: list[np.ndarray] = []
    out: dict[str, list[np.ndarray]] = {"bootstrap_group": [], "present": []}
    models = []
    first = 0
    for period_type, starts in (("week", weeks), ("month", months)):
        wanted = np.isin(
            starts, [np.datetime64(start, "D").astype(np.int64) for kind, start in periods if kind == period_type]
        )
        for prefix, codes, names in (("", None, None), ("channel", channels, channel_names),
                                     ("segment", segments, segment_names)):  # fmt: skip
            scope = np.zeros(len(starts), dtype=np.int64) if codes is None else codes
            chosen = np.flatnonzero(wanted & (scope >= 0))
            if not len(chosen):
                continue
            order = chosen[np.lexsort((chosen, present[chosen], group[chosen], scope[chosen], starts[chosen]))]
            key = np.column_stack([starts[order], scope[order], group[order], present[order]])
            new = np.r_[True, np.any(key[1:] != key[:-1], axis=1)]
            runs = np.flatnonzero(new)
            targets.append(first + np.cumsum(new) - 1)
            sources.append(order)
            out["bootstrap_group"].append(group[order][runs])
            out["present"].append(present[order][runs])
            model_keys = key[runs, :2]
            bounds = np.flatnonzero(np.r_[True, np.any(model_keys[1:] != model_keys[:-1], axis=1), True])
            for a, b in itertools.pairwise(bounds.tolist()):
                start = np.datetime64(int(model_keys[a, 0]), "D").astype(date)
                label = "all" if codes is None else f"{prefix}:{names[model_keys[a, 1]]}"
                models.append((period_type, start, label, first + a, first + b))
            first += len(runs)
    if not models:
        return {}, []
    # each rolled-up row is the sum of its cells: a 0/1 matrix times the cells' sums (rows in cell order)
    target, source = np.concatenate(targets), np.concatenate(sources)
    adding = sparse.csr_matrix((np.ones(len(target)), (target, source)), shape=(first, len(by_cell)))
    rolled = {name: np.concatenate(arrays) for name, arrays in out.items()}
    rolled["values"] = adding @ cells["values"][by_cell]
    return rolled, models


def _model_moments(
    cells: dict[str, np.ndarray], rows: np.ndarray, columns: list[int], outcome: int, groups: int
) -> GroupMoments:
    """The moment sums of one model per bootstrap group, from its `rows` of the moments query (one per
    group and pattern of present columns), over its `columns`, the answers with the outcome only.

    Features per group: for each pattern, the count of answers and the sums of each column and of its
    square (count, sums and squares of a pair are those of the patterns where both are present), then
    the sums of the products of two columns. Far fewer numbers to resample than 4 p x p matrices."""
    rows = rows[(cells["present"][rows] >> outcome) & 1 == 1]
    patterns, which = np.unique(cells["present"][rows], return_inverse=True)
    k, kinds = len(columns), len(patterns)
    bits = ((patterns[:, None] >> np.asarray(columns)) & 1).astype(float)  # (patterns, k)
    group = cells["bootstrap_group"][rows]
    linear = np.zeros((groups, kinds, 1 + 2 * k))  # a group has one row per pattern at most
    linear[group, which, 0] = cells["n"][rows]
    linear[group, which, 1 : k + 1] = cells["s"][rows][:, columns]
    linear[group, which, k + 1 :] = cells["q"][rows][:, columns]
    upper = np.triu_indices(k)
    cross = np.zeros((groups, len(upper[0])))
    np.add.at(cross, group, cells["products"][rows][:, cells["product_index"][np.ix_(columns, columns)][upper]])
    pair_counts = (bits[:, :, None] * bits[:, None, :]).reshape(kinds, k * k)

    def expand(features: np.ndarray) -> np.ndarray:
        m = len(features)
        per_pattern = features[:, : kinds * (1 + 2 * k)].reshape(m, kinds, 1 + 2 * k)
        out = np.empty((m, 4, k, k))
        out[:, 0] = (per_pattern[:, :, 0] @ pair_counts).reshape(m, k, k)
        for kind, first in ((1, 1), (2, k + 1)):  # sums and squares of x_i where x_j is present too
            values = per_pattern[:, :, first : first + k].transpose(0, 2, 1).reshape(m * k, kinds)
            out[:, kind] = (values @ bits).reshape(m, k, k)
        products = features[:, kinds * (1 + 2 * k) :]
        out[:, 3][:, upper[0], upper[1]] = products
        out[:, 3][:, upper[1], upper[0]] = products
        return out

    return GroupMoments(np.concatenate([linear.reshape(groups, -1), cross], axis=1), expand)


@dataclass(frozen=True)
class _ModelInputs:
    """What the models need from the warehouse: the levers that have values, the model columns, the
    periods to estimate and the sums per cell (the fetched moments)."""

    active: list[str]
    columns: list[str]
    periods: set[tuple[str, date]]
    fetched: dict[str, np.ndarray]


def _model_inputs(con: duckdb.DuckDBPyConnection, settings: DriverSettings) -> _ModelInputs:
    """Read from answer_levers and rebuild_driver_periods what _model_rows needs (the step's SQL)."""
    lever_ids = list(settings.levers)
    # levers no answer of the build has (no verbatim analysed, say) leave every model: not summed
    # and the largest value of each: the product of two must fit 64 bits in 1/_SCALE units
    stats = con.execute(
        "select "  # noqa: S608
        + ", ".join(f"count({c}), max(abs(cast({c} as double)))" for c in map(identifier, [*lever_ids, *OUTCOMES]))
        + " from answer_levers"
    ).fetchall()[0]
    counts, largest = stats[0::2], [value or 0.0 for value in stats[1::2]]
    active = [lever for lever, count in zip(lever_ids, counts[: len(lever_ids)], strict=True) if count]
    columns = [*active, *OUTCOMES]
    wide = max(largest) * _SCALE >= _LARGEST_NARROW
    if len(columns) > 62:
        raise DriverCatalogueError(f"drivers: {len(columns)} levers and outcomes, at most 62 fit a pattern of bits")
    periods = {
        (kind, start)
        for kind, start in con.execute("select period_type, period_start from rebuild_driver_periods").fetchall()
    }
    fetched = con.execute(
        _moments_sql(columns, wide),
        {"bootstrap_seed": settings.bootstrap_seed, "bootstrap_groups": settings.bootstrap_groups},
    ).fetchnumpy()
    return _ModelInputs(active, columns, periods, fetched)


def _model_rows(inputs: _ModelInputs, settings: DriverSettings) -> list[tuple[Any, ...]]:
    """The rows of driver_estimates: the models of every period and scope of the inputs (numpy only, no
    connection: it runs in a thread while the build goes on)."""
    active, columns, periods, fetched = inputs.active, inputs.columns, inputs.periods, inputs.fetched
    if len(fetched["n"]) == 0 or not periods:
        return []
    width = len(columns)
    pairs = [(i, j) for i in range(width) for j in range(i + 1, width)]
    names = ["n", *(f"s{i}" for i in range(width)), *(f"q{i}" for i in range(width)), *(f"c{i}_{j}" for i, j in pairs)]
    rolled, keys = _roll_up(
        {
            "week": np.asarray(fetched["week"]).astype("datetime64[D]"),
            "month": np.asarray(fetched["month"]).astype("datetime64[D]"),
            "channel": np.asarray(fetched["channel"], dtype=object),
            "segment": np.asarray(fetched["segment"], dtype=object),
            "bootstrap_group": np.asarray(fetched["bootstrap_group"], dtype=np.int64),
            "present": np.asarray(fetched["present"], dtype=np.int64),
            "values": np.column_stack([np.asarray(fetched[name], dtype=float) for name in names]),
        },
        periods,
    )
    if not keys:
        return []
    values = rolled["values"]
    squares = values[:, 1 + width : 1 + 2 * width] / _SCALE**2
    # products: the squares first, then each pair; product_index[i, j] is the column of x_i x_j
    product_index = np.diag(np.arange(width))
    for k, (i, j) in enumerate(pairs):
        product_index[i, j] = product_index[j, i] = width + k
    cells = {
        "present": rolled["present"],
        "bootstrap_group": rolled["bootstrap_group"],
        "n": values[:, 0],
        "s": values[:, 1 : 1 + width] / _SCALE,
        "q": squares,
        "products": np.column_stack([squares, values[:, 1 + 2 * width :] / _SCALE**2]),
        "product_index": product_index,
    }
    models = []
    for period_type, period_start, scope, first, last in keys:
        for outcome in OUTCOMES:
            levers = [lever for lever in active if outcome in settings.levers[lever].outcomes]
            outcome_column = columns.index(outcome)
            model_columns = [columns.index(lever) for lever in levers] + [outcome_column]
            seed = model_seed(settings.bootstrap_seed, period_type, period_start, scope, outcome)
            key = (period_type, period_start, scope, outcome)
            models.append((key, np.arange(first, last), model_columns, outcome_column, levers, seed))
    rows: list[tuple[Any, ...]] = []
    for chunk in range(0, len(models), _MODEL_CHUNK):
        batch = models[chunk : chunk + _MODEL_CHUNK]
        estimates = estimate_models(
            [
                (
                    _model_moments(cells, members, model_columns, outcome_column, settings.bootstrap_groups),
                    levers,
                    np.random.default_rng(seed),
                )
                for _, members, model_columns, outcome_column, levers, seed in batch
            ],
            settings,
        )
        for (key, *_), result in zip(batch, estimates, strict=True):
            if result is None:
                continue
            for i, lever in enumerate(result.levers):
                rows.append(
                    (*key, lever, float(result.importance[i]), float(result.low[i]), float(result.high[i]),
                     int(result.n[i]), result.r2)
                )  # fmt: skip
    return rows


def _models(con: duckdb.DuckDBPyConnection, settings: DriverSettings) -> list[tuple[Any, ...]]:
    """The rows of driver_estimates for the periods of rebuild_driver_periods (from answer_levers)."""
    return _model_rows(_model_inputs(con, settings), settings)


def _estimated_rows(inputs: _ModelInputs, settings: DriverSettings) -> list[tuple[Any, ...]]:
    # One BLAS thread: the matrices are small (10 x 10, 200 x 100), where BLAS threads cost more to wake
    # than they save, and far more on a busy machine (measured 10-40 x the CPU time).
    with threadpool_limits(limits=1, user_api="blas"):
        return _model_rows(inputs, settings)


def estimate(con: duckdb.DuckDBPyConnection, build_parameters: dict[str, Any]) -> Callable[[], None]:
    """The Python step of marts.drivers: temp table answer_levers, then the models of the periods of
    rebuild_driver_periods, estimated in a thread (numpy, off the connection) while the build goes on.
    Returns the function that waits for them and writes temp table driver_estimates
    (transforms/marts/drivers.sql reads both)."""
    settings = load_drivers()
    build_answer_levers(con, build_parameters)
    con.execute(
        "create or replace temp table driver_catalogue "
        "(driver varchar, label_en varchar, label_fr varchar, min_n integer)"
    )
    con.executemany(
        "insert into driver_catalogue values (?, ?, ?, ?)",
        [(lever.id, lever.label_en, lever.label_fr, settings.min_n) for lever in settings.levers.values()],
    )
    con.execute(
        "create or replace temp table driver_estimates (period_type varchar, period_start date, scope varchar, "
        "outcome varchar, driver varchar, importance double, importance_low double, importance_high double, "
        "n bigint, r2 double)"
    )
    inputs = _model_inputs(con, settings)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drivers")
    estimation = pool.submit(_estimated_rows, inputs, settings)
    pool.shutdown(wait=False)  # its one thread ends with the estimation

    def write_estimates() -> None:
        rows = estimation.result()
        if not rows:
            return
        frame = pd.DataFrame(rows, columns=list(_ESTIMATE_COLUMNS))
        con.register("driver_estimates_frame", frame)
        try:
            con.execute("insert into driver_estimates select * from driver_estimates_frame")
        finally:
            con.unregister("driver_estimates_frame")

    return write_estimates
