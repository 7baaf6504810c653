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

Johnson (2000): with R_xx = V diag(l) V' and Lambda = R_xx^(1/2) = V diag(sqrt l) V', beta = Lambda^-1 r_xy;
the raw weight of lever j is sum_k Lambda_jk^2 beta_k^2. The weights sum to R^2 = r_xy' R_xx^-1 r_xy.

Bootstrap: each answer belongs to one of `bootstrap_groups` groups drawn from its response_id; the
moment sums of the answers (count, sums, squares and products of the levers, per pattern of present
levers) are added up in SQL per period, channel, segment and group (`_moments_sql`), then per scope,
and a resample draws groups with replacement (docs/warehouse.md "Key drivers" says why that is a valid
bootstrap). The correlation matrices of every model (estimate and resamples) are then projected and
decomposed together, a few numpy calls per matrix size instead of several per model.

Deterministic: the sums are exact integers (lever values in thousandths of their unit), the groups
come from the answers' ids and each model's random stream is seeded from the catalogue's
`bootstrap_seed` and the model's key, so a rebuild (incremental or full) gives the same numbers.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

from transforms.catalogue import load_catalogue
from transforms.sql import bound, identifier, model_sql
from transforms.verbatims.analyse import analyser

OUTCOMES: tuple[str, ...] = ("nps", "csat")
EIGEN_FLOOR = 1e-6
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


# -- Johnson's relative weights ---------------------------------------------------------------------
def relative_weights(corr: np.ndarray) -> np.ndarray:
    """Raw relative weights from correlation matrices (..., k + 1, k + 1), the outcome last; (..., k).

    Johnson (2000), closed form: they sum to the model's R^2. Directions of R_xx with an eigenvalue
    below EIGEN_FLOOR (levers that are exact combinations of others) carry no weight (pseudo-inverse).
    """
    rxx = corr[..., :-1, :-1]
    rxy = corr[..., :-1, -1]
    eigenvalues, vectors = np.linalg.eigh(rxx)
    root = np.sqrt(np.maximum(eigenvalues, 0.0))
    inverse_root = np.where(eigenvalues > EIGEN_FLOOR, 1.0 / np.where(root > 0, root, 1.0), 0.0)
    half = (vectors * root[..., None, :]) @ np.swapaxes(vectors, -1, -2)  # R_xx^(1/2)
    beta = vectors @ ((np.swapaxes(vectors, -1, -2) @ rxy[..., None])[..., 0] * inverse_root)[..., None]
    return ((half**2) @ (beta**2))[..., 0]


def _moments(values: np.ndarray) -> np.ndarray:
    """Pairwise moment sums of rows (..., m, p) with NaN for missing -> (..., 4, p, p): for each pair
    (i, j) over the rows where both are present: count, sum of x_i, sum of x_i^2, sum of x_i x_j."""
    present = ~np.isnan(values)
    x = np.where(present, values, 0.0)
    mask = present.astype(float)
    xt = np.swapaxes(x, -1, -2)
    return np.stack([np.swapaxes(mask, -1, -2) @ mask, xt @ mask, np.swapaxes(x * x, -1, -2) @ mask, xt @ x], axis=-3)


def pairwise_correlations(moments: np.ndarray) -> np.ndarray:
    """Pairwise correlation matrices from moment sums (..., 4, p, p); 0 where a pair has no variance."""
    count, sums, squares, cross = (moments[..., i, :, :] for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums / count  # mean of x_i over the rows where x_j is present too
        var = squares / count - mean**2
        cov = cross / count - mean * np.swapaxes(mean, -1, -2)
        corr = cov / np.sqrt(var * np.swapaxes(var, -1, -2))
    corr = np.where(np.isfinite(corr), np.clip(corr, -1.0, 1.0), 0.0)
    p = corr.shape[-1]
    corr[..., np.arange(p), np.arange(p)] = 1.0
    return corr


def _positive_definite(flat: np.ndarray) -> np.ndarray:
    """Which matrices of (m, p, p) have a Cholesky factor (positive definite), far cheaper than their
    eigenvalues. numpy's batched Cholesky leaves NaN where a matrix has none; its public wrapper raises
    for the whole batch instead, so the gufunc is called directly (eigenvalues where it is missing)."""
    cholesky = getattr(getattr(np.linalg, "_umath_linalg", None), "cholesky_lo", None)
    if cholesky is None:
        return np.linalg.eigvalsh(flat)[:, 0] > 0
    with np.errstate(invalid="ignore"):
        return ~np.isnan(cholesky(flat, signature="d->d")[:, 0, 0])


def positive_semidefinite(corr: np.ndarray) -> np.ndarray:
    """A pairwise correlation matrix can be indefinite (its entries come from different answers), which
    would let R^2 exceed 1: negative eigenvalues are set to 0 and the unit diagonal restored (one step
    of Higham's 2002 nearest-correlation projection). Matrices (..., p, p) that are positive
    semi-definite are left as they are (only the others pay for the eigenvectors; a Cholesky factor
    clears the positive definite ones first)."""
    p = corr.shape[-1]
    flat = corr.reshape(-1, p, p)
    suspect = np.flatnonzero(~_positive_definite(flat))
    if not len(suspect):
        return corr
    indefinite = suspect[np.linalg.eigvalsh(flat[suspect])[:, 0] < 0]
    if not len(indefinite):
        return corr
    eigenvalues, vectors = np.linalg.eigh(flat[indefinite])
    fixed = (vectors * np.maximum(eigenvalues, 0.0)[:, None, :]) @ np.swapaxes(vectors, -1, -2)
    scale = np.sqrt(np.maximum(np.diagonal(fixed, axis1=-2, axis2=-1), 1e-12))
    out = flat.copy()
    out[indefinite] = fixed / scale[:, :, None] / scale[:, None, :]
    return out.reshape(corr.shape)


@dataclass(frozen=True)
class Estimate:
    levers: list[str]
    importance: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray  # answers with the outcome and the lever
    r2: float


def group_moments(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Pairwise moment sums (n_groups, 4, p, p) of the rows of `values` (m, p; NaN: missing) per bootstrap
    group (`groups`: each row's group in [0, n_groups)): what the build computes in SQL per answer group."""
    out = np.zeros((n_groups, 4, values.shape[1], values.shape[1]))
    for group in np.unique(groups):
        out[group] = _moments(values[groups == group])
    return out


def estimate_model(
    moments: np.ndarray, names: list[str], settings: DriverSettings, rng: np.random.Generator
) -> Estimate | None:
    """Relative weights of the levers (`names`, columns of the moments but the last) on the outcome (the
    last column; moments over the answers with the outcome), with bootstrap 95 % intervals, from the
    pairwise moment sums of each bootstrap group of answers (group_moments); None below min_n."""
    return estimate_models([(moments, names, rng)], settings)[0]


def estimate_models(
    models: list[tuple[np.ndarray, list[str], np.random.Generator]], settings: DriverSettings
) -> list[Estimate | None]:
    """estimate_model for many models at once: the correlation matrices of all models (point estimate
    and resamples) of one size are projected and decomposed in one call of each numpy function."""
    prepared = [_resample(moments, names, settings, rng) for moments, names, rng in models]
    sizes: dict[int, list[int]] = {}
    for i, model in enumerate(prepared):
        if model is not None:
            sizes.setdefault(model[1].shape[-1], []).append(i)
    weights: dict[int, np.ndarray] = {}
    for members in sizes.values():
        stacked = np.concatenate([prepared[i][1] for i in members])  # type: ignore[index]
        flat = relative_weights(positive_semidefinite(stacked))
        first = 0
        for i in members:
            count = len(prepared[i][1])  # type: ignore[index]
            weights[i] = flat[first : first + count]
            first += count
    out: list[Estimate | None] = []
    for i, model in enumerate(prepared):
        if model is None:
            out.append(None)
            continue
        keep, _, count = model
        point, resampled = weights[i][0], weights[i][1:]
        if point.sum() < 1e-12:  # the levers explain nothing: no share to report
            out.append(None)
            continue
        low, high = _percentiles(resampled, (2.5, 97.5))
        out.append(
            Estimate(
                levers=[models[i][1][j] for j in keep],
                importance=point,
                low=low,
                high=high,
                n=count[keep, -1].astype(int),
                r2=min(float(point.sum()), 1.0),
            )
        )
    return out


def _resample(
    moments: np.ndarray, names: list[str], settings: DriverSettings, rng: np.random.Generator
) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """The levers a model keeps, the correlation matrices of its estimate and of its bootstrap resamples
    (1 + bootstrap_samples, k + 1, k + 1), and its pairwise counts; None when it has no estimate.

    Bootstrap: each resample draws `bootstrap_groups` groups with replacement and adds their moment sums
    (moments add up: a resampled group is the sum of its answers' moments)."""
    total = moments.sum(axis=0)
    width = total.shape[-1]
    count = total[0]
    if count[-1, -1] < settings.min_n:
        return None
    var = total[2] / np.maximum(count, 1) - (total[1] / np.maximum(count, 1)) ** 2
    keep = [j for j in range(len(names)) if count[j, -1] >= settings.min_n and var[j, -1] > 1e-12]
    if not keep or var[-1, -1] <= 1e-12:
        return None
    columns = [*keep, width - 1]
    groups = len(moments)
    kept = moments[:, :, columns][:, :, :, columns]
    # how many times each group is drawn in each resample
    picks = rng.integers(0, groups, size=(settings.bootstrap_samples, groups))
    picks += np.arange(settings.bootstrap_samples)[:, None] * groups
    draws = np.bincount(picks.ravel(), minlength=settings.bootstrap_samples * groups)
    draws = draws.reshape(settings.bootstrap_samples, groups)
    resampled = (draws.astype(float) @ kept.reshape(groups, -1)).reshape(-1, 4, len(columns), len(columns))
    stacked = np.concatenate([kept.sum(axis=0)[None], resampled])
    return keep, pairwise_correlations(stacked), count


def _percentiles(samples: np.ndarray, percents: tuple[float, ...]) -> list[np.ndarray]:
    """Percentiles along the first axis, linear between order statistics (as numpy's default), without
    np.percentile's overhead on small arrays."""
    ordered = np.sort(samples, axis=0)
    out = []
    for percent in percents:
        position = percent / 100 * (len(ordered) - 1)
        below = int(np.floor(position))
        above = min(below + 1, len(ordered) - 1)
        out.append(ordered[below] + (position - below) * (ordered[above] - ordered[below]))
    return out


def model_seed(seed: int, period_type: str, period_start: date, scope: str, outcome: str) -> list[int]:
    """The random stream of one model, from its key only: the same whatever else a build computes."""
    return [seed, zlib.crc32(f"{period_type}|{period_start.isoformat()}|{scope}|{outcome}".encode())]


# -- the build step -----------------------------------------------------------------------------------
_ESTIMATE_COLUMNS = (
    "period_type", "period_start", "scope", "outcome", "driver",
    "importance", "importance_low", "importance_high", "n", "r2",
)  # fmt: skip


def lever_parameters() -> dict[str, Any]:
    """What answer_levers.sql binds beyond the build's parameters: the catalogue's window and AHT target."""
    return {"answer_window_h": load_drivers().answer_window_h, "aht_target_s": load_catalogue()["aht_s"].target}


def build_answer_levers(con: duckdb.DuckDBPyConnection, build_parameters: dict[str, Any]) -> None:
    """Temp table answer_levers: the answers of the periods of rebuild_driver_periods with their levers.

    Raises DriverCatalogueError when a lever of the catalogue has no column in answer_levers.sql.
    """
    sql = model_sql("levers", "answer_levers")
    con.execute(
        f"create or replace temp table answer_levers as {sql}", bound(sql, {**build_parameters, **lever_parameters()})
    )
    columns = [r[0] for r in con.execute("describe answer_levers").fetchall()]
    text = resources.files("transforms").joinpath("kpis.yaml").read_text()
    parse(yaml.safe_load(text).get("drivers"), columns)


def _floats(column: np.ndarray) -> np.ndarray:
    """A fetched column as floats, SQL NULL as NaN (fetchnumpy returns masked arrays for NULLs)."""
    return np.ma.filled(np.ma.asarray(column).astype(float), np.nan)


# Lever values enter the moment sums as integers of 1/_SCALE of their unit (milliseconds for times):
# integer sums are exact, so they do not depend on the order DuckDB's threads add them in and a rebuild
# gives the same numbers to the last bit.
_SCALE = 1000
_MODEL_CHUNK = 200  # models whose resampled matrices are held at once (memory: ~200 x 201 x k x k)


def _moments_sql(columns: list[str]) -> str:
    """Per period of rebuild_driver_periods, scope, bootstrap group and pattern of present columns, the
    answers' count and sums of each column, of its square and of each product of two columns (in 1/_SCALE
    units), from temp table answer_levers. `columns`: checked identifiers of answer_levers."""
    width = len(columns)
    values = ", ".join(
        f"cast(round(cast({identifier(c)} as double) * {_SCALE}) as bigint) as x{i}" for i, c in enumerate(columns)
    )
    present = " + ".join(f"cast(x{i} is not null as bigint) * {1 << i}" for i in range(width))
    pairs = [(i, j) for i in range(width) for j in range(i + 1, width)]
    sums = [f"sum(x{i}) as s{i}" for i in range(width)]
    sums += [f"sum(x{i} * x{i}) as q{i}" for i in range(width)]
    sums += [f"sum(x{i} * x{j}) as c{i}_{j}" for i, j in pairs]
    names = ["n"] + [f"s{i}" for i in range(width)] + [f"q{i}" for i in range(width)]
    names += [f"c{i}_{j}" for i, j in pairs]
    totals = ", ".join(f"cast(sum({name}) as double) as {name}" for name in names)
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

cells as (
    select
        week, month, channel, segment, bootstrap_group, {present} as present,
        count(*) as n, {", ".join(sums)}
    from answers
    group by all
),

periods as (
    select 'week' as period_type, week as period_start, * exclude (week, month) from cells
    union all
    select 'month', month, * exclude (week, month) from cells
),

rebuilt as (
    select p.*
    from periods as p
    inner join rebuild_driver_periods using (period_type, period_start)
),

final as (
    select
        period_type,
        period_start,
        case
            when grouping(channel) = 0 then 'channel:' || channel
            when grouping(segment) = 0 then 'segment:' || segment
            else 'all'
        end as scope,
        bootstrap_group,
        present,
        {totals}
    from rebuilt
    group by grouping sets ((period_type, period_start, bootstrap_group, present),
        (period_type, period_start, channel, bootstrap_group, present),
        (period_type, period_start, segment, bootstrap_group, present))
)

select * from final
where scope is not null
order by period_type, period_start, scope, bootstrap_group, present
"""  # noqa: S608 - identifiers checked, values bound


def _model_moments(
    cells: dict[str, np.ndarray], rows: np.ndarray, columns: list[int], outcome: int, groups: int
) -> np.ndarray:
    """The moment sums (groups, 4, k, k) of one model (`rows` of the cells, sorted by bootstrap group)
    over its `columns` (indexes of the moments query's columns), the outcome's answers only."""
    present = cells["present"][rows]
    rows = rows[(present >> outcome) & 1 == 1]
    if not len(rows):
        return np.zeros((groups, 4, len(columns), len(columns)))
    bits = ((cells["present"][rows, None] >> np.asarray(columns)) & 1).astype(float)
    n = cells["n"][rows]
    sums = cells["s"][rows][:, columns]
    squares = cells["q"][rows][:, columns]
    cross = cells["products"][rows][:, cells["product_index"][np.ix_(columns, columns)]]
    contributions = np.stack(
        [
            n[:, None, None] * bits[:, :, None] * bits[:, None, :],
            sums[:, :, None] * bits[:, None, :],
            squares[:, :, None] * bits[:, None, :],
            cross,
        ],
        axis=1,
    )
    group = cells["bootstrap_group"][rows]
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    out = np.zeros((groups, 4, len(columns), len(columns)))
    out[group[starts]] = np.add.reduceat(contributions, starts, axis=0)
    return out


def _models(con: duckdb.DuckDBPyConnection, settings: DriverSettings) -> list[tuple[Any, ...]]:
    """The rows of driver_estimates for the periods of rebuild_driver_periods (from answer_levers)."""
    lever_ids = list(settings.levers)
    # levers no answer of the build has (no verbatim analysed, say) leave every model: not summed
    counts = con.execute(
        "select " + ", ".join(f"count({identifier(lever)})" for lever in lever_ids) + " from answer_levers"  # noqa: S608
    ).fetchall()[0]
    active = [lever for lever, count in zip(lever_ids, counts, strict=True) if count]
    columns = [*active, *OUTCOMES]
    if len(columns) > 62:
        raise DriverCatalogueError(f"drivers: {len(columns)} levers and outcomes, at most 62 fit a pattern of bits")
    sql = _moments_sql(columns)
    fetched = con.execute(
        sql, {"bootstrap_seed": settings.bootstrap_seed, "bootstrap_groups": settings.bootstrap_groups}
    ).fetchnumpy()
    if len(fetched["n"]) == 0:
        return []
    width = len(columns)
    pairs = [(i, j) for i in range(width) for j in range(i + 1, width)]

    def matrix(names: list[str], scale: float) -> np.ndarray:
        if not names:
            return np.zeros((len(fetched["n"]), 0))
        return np.column_stack([_floats(fetched[name]) for name in names]) / scale

    squares = matrix([f"q{i}" for i in range(width)], _SCALE**2)
    # products: the squares first, then each pair; product_index[i, j] is the column of x_i x_j
    product_index = np.diag(np.arange(width))
    for k, (i, j) in enumerate(pairs):
        product_index[i, j] = product_index[j, i] = width + k
    cells = {
        "present": np.asarray(fetched["present"], dtype=np.int64),
        "bootstrap_group": np.asarray(fetched["bootstrap_group"], dtype=np.int64),
        "n": _floats(fetched["n"]),
        "s": np.nan_to_num(matrix([f"s{i}" for i in range(width)], _SCALE)),
        "q": np.nan_to_num(squares),
        "products": np.nan_to_num(np.column_stack([squares, matrix([f"c{i}_{j}" for i, j in pairs], _SCALE**2)])),
        "product_index": product_index,
    }
    period_starts = np.asarray(fetched["period_start"]).astype("datetime64[D]").astype(object)
    keys = list(zip(fetched["period_type"].tolist(), period_starts.tolist(), fetched["scope"].tolist(), strict=True))
    starts = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]] + [len(keys)]
    models = []
    for first, last in itertools.pairwise(starts):
        period_type, period_start, scope = keys[first]
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


def estimate(con: duckdb.DuckDBPyConnection, build_parameters: dict[str, Any]) -> None:
    """The Python step of marts.drivers: temp tables answer_levers and driver_estimates for the periods
    of rebuild_driver_periods (transforms/marts/drivers.sql reads both)."""
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
    # One BLAS thread: the matrices are small (10 x 10, 200 x 100), where BLAS threads cost more to wake
    # than they save, and far more on a busy machine (measured 10-40 x the CPU time).
    with threadpool_limits(limits=1, user_api="blas"):
        rows = _models(con, settings)
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=list(_ESTIMATE_COLUMNS))
    con.register("driver_estimates_frame", frame)
    try:
        con.execute("insert into driver_estimates select * from driver_estimates_frame")
    finally:
        con.unregister("driver_estimates_frame")
