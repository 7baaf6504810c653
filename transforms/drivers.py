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

Deterministic: answers are read in response_id order and each model's random stream is seeded from
the catalogue's `bootstrap_seed` and the model's key, so a rebuild (incremental or full) gives the
same numbers.
"""

from __future__ import annotations

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


def positive_semidefinite(corr: np.ndarray) -> np.ndarray:
    """A pairwise correlation matrix can be indefinite (its entries come from different answers), which
    would let R^2 exceed 1: negative eigenvalues are set to 0 and the unit diagonal restored (one step
    of Higham's 2002 nearest-correlation projection). Matrices (..., p, p) that are positive
    semi-definite are left as they are (only the others pay for the eigenvectors)."""
    p = corr.shape[-1]
    flat = corr.reshape(-1, p, p)
    indefinite = np.linalg.eigvalsh(flat)[:, 0] < 0
    if not indefinite.any():
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


def estimate_model(
    values: np.ndarray, names: list[str], settings: DriverSettings, rng: np.random.Generator
) -> Estimate | None:
    """Relative weights of the levers (columns of `values` but the last) on the outcome (the last column,
    never NaN), with bootstrap 95 % intervals; None below min_n."""
    n_rows, width = values.shape
    if n_rows < settings.min_n:
        return None
    # Moments per group of answers, then their sum for the estimate. Bootstrap: resample answers (or,
    # above bootstrap_groups answers, random groups of answers: moments add up, so a resampled group is
    # the sum of its answers' moments). Answer k of a random order goes to group k mod `groups`: sizes
    # differ by one answer at most.
    order = rng.permutation(n_rows)
    groups = min(n_rows, settings.bootstrap_groups)
    size = -(-n_rows // groups)
    padded = np.full((groups * size, width), np.nan)  # padding rows are all missing: they add 0
    slots = np.arange(n_rows)
    padded[(slots % groups) * size + slots // groups] = values[order]
    group_moments = _moments(padded.reshape(groups, size, width))
    total = group_moments.sum(axis=0)
    count, var = total[0], total[2] / np.maximum(total[0], 1) - (total[1] / np.maximum(total[0], 1)) ** 2
    keep = [j for j in range(len(names)) if count[j, -1] >= settings.min_n and var[j, -1] > 1e-12]
    if not keep or var[-1, -1] <= 1e-12:
        return None
    columns = [*keep, width - 1]
    point = relative_weights(positive_semidefinite(pairwise_correlations(total[:, columns][:, :, columns])))
    if point.sum() < 1e-12:  # the levers explain nothing: no share to report
        return None
    group_moments = group_moments[:, :, columns][:, :, :, columns].reshape(groups, -1)
    # each resample draws `groups` groups with replacement: how many times each group is drawn
    picks = rng.integers(0, groups, size=(settings.bootstrap_samples, groups))
    picks += np.arange(settings.bootstrap_samples)[:, None] * groups
    draws = np.bincount(picks.ravel(), minlength=settings.bootstrap_samples * groups)
    draws = draws.reshape(settings.bootstrap_samples, groups)
    resampled = (draws.astype(float) @ group_moments).reshape(-1, 4, len(columns), len(columns))
    weights = relative_weights(positive_semidefinite(pairwise_correlations(resampled)))
    low, high = _percentiles(weights, (2.5, 97.5))
    return Estimate(
        levers=[names[j] for j in keep],
        importance=point,
        low=low,
        high=high,
        n=count[keep, -1].astype(int),
        r2=min(float(point.sum()), 1.0),
    )


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


def _models(con: duckdb.DuckDBPyConnection, settings: DriverSettings) -> list[tuple[Any, ...]]:
    """The rows of driver_estimates for the periods of rebuild_driver_periods (from answer_levers)."""
    periods = con.execute("select period_type, period_start from rebuild_driver_periods order by all").fetchall()
    lever_ids = list(settings.levers)
    # lever ids are keys of the catalogue, checked against the columns of answer_levers.sql
    data = con.execute(
        "select day, channel, coalesce(segment, '') as segment, nps, csat, "  # noqa: S608
        + ", ".join(f"cast({identifier(lever)} as double) as {lever}" for lever in lever_ids)
        + " from answer_levers order by response_id"
    ).fetchnumpy()
    if not periods or len(data["day"]) == 0:
        return []
    days = np.asarray(data["day"], dtype="datetime64[D]")
    starts = {
        "week": days - ((days.astype("int64") - 4) % 7),  # ISO weeks start on Monday (1970-01-05 was one)
        "month": days.astype("datetime64[M]").astype("datetime64[D]"),
    }
    # The answers of each period as one block of row numbers, in response_id order (a stable sort):
    # each period then reads its own rows only, not a mask over all the answers of the build.
    blocks = {}
    for period_type, period_starts in starts.items():
        order = np.argsort(period_starts, kind="stable")
        values, first = np.unique(period_starts[order], return_index=True)
        bounds = [*first[1:], len(order)]
        blocks[period_type] = {v: order[a:b] for v, a, b in zip(values.tolist(), first.tolist(), bounds, strict=True)}
    # codes of the sorted labels, as np.unique(return_inverse=True) gives, by hashing (sorting 1M strings is slow)
    channels, channel_names = pd.factorize(np.asarray(data["channel"], dtype=object), sort=True)
    segments, segment_names = pd.factorize(np.asarray(data["segment"], dtype=object), sort=True)
    table = np.column_stack([_floats(data[lever]) for lever in lever_ids])
    outcomes = np.column_stack([_floats(data[o]) for o in OUTCOMES])
    lever_columns = {
        outcome: [i for i, lever in enumerate(lever_ids) if outcome in settings.levers[lever].outcomes]
        for outcome in OUTCOMES
    }
    rows: list[tuple[Any, ...]] = []
    for period_type, period_start in periods:
        block = blocks[period_type].get(np.datetime64(period_start, "D").astype(object))
        if block is None:
            continue
        block_table, block_outcomes = table[block], outcomes[block]
        scopes = [("all", np.ones(len(block), dtype=bool))]
        for prefix, labels, codes in (("channel", channel_names, channels), ("segment", segment_names, segments)):
            block_codes = codes[block]
            for code in np.unique(block_codes):
                if labels[code]:  # no segment: in no segment scope
                    scopes.append((f"{prefix}:{labels[code]}", block_codes == code))
        for scope, selected in scopes:
            for k, outcome in enumerate(OUTCOMES):
                chosen = selected & ~np.isnan(block_outcomes[:, k])
                if np.count_nonzero(chosen) < settings.min_n:
                    continue
                columns = lever_columns[outcome]
                values = np.column_stack([block_table[chosen][:, columns], block_outcomes[chosen, k]])
                names = [lever_ids[i] for i in columns]
                seed = model_seed(settings.bootstrap_seed, period_type, period_start, scope, outcome)
                result = estimate_model(values, names, settings, np.random.default_rng(seed))
                if result is None:
                    continue
                for i, lever in enumerate(result.levers):
                    rows.append(
                        (period_type, period_start, scope, outcome, lever, float(result.importance[i]),
                         float(result.low[i]), float(result.high[i]), int(result.n[i]), result.r2)
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
