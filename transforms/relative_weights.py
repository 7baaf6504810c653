"""Johnson's relative weights with percentile bootstrap intervals, from moment sums (pure numpy).

The estimation of marts.drivers (transforms/drivers.py reads the answers and writes the mart).
Johnson (2000): with R_xx = V diag(l) V' and Lambda = R_xx^(1/2) = V diag(sqrt l) V', beta = Lambda^-1 r_xy;
the raw weight of lever j is sum_k Lambda_jk^2 beta_k^2. The weights sum to R^2 = r_xy' R_xx^-1 r_xy.
Correlations are pairwise (each pair over the answers where both are present), projected on the positive
semi-definite matrices when indefinite. A bootstrap resample draws groups of answers with replacement and
adds their moment sums.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

EIGEN_FLOOR = 1e-6


class BootstrapSettings(Protocol):
    """What the estimation reads of the `drivers:` settings (transforms.drivers.DriverSettings)."""

    min_n: int
    bootstrap_samples: int


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
    eigenvalues. numpy's batched Cholesky gufunc leaves NaN where a matrix has none; its public wrapper
    raises for the whole batch instead. The gufunc is private, so without it the public Cholesky is
    used, halving a batch that raises until those matrices are found: the same answers (tested), ~5
    times slower on a 10M-event build's matrices (0.5 % without a factor), 0.3 s of CPU."""
    cholesky = getattr(getattr(np.linalg, "_umath_linalg", None), "cholesky_lo", None)
    if cholesky is not None:
        with np.errstate(invalid="ignore"):
            return ~np.isnan(cholesky(flat, signature="d->d")[:, 0, 0])
    return _positive_definite_public(flat)


def _positive_definite_public(flat: np.ndarray) -> np.ndarray:
    out = np.ones(len(flat), dtype=bool)
    pending = [(0, len(flat))]
    while pending:
        start, end = pending.pop()
        try:
            np.linalg.cholesky(flat[start:end])
        except np.linalg.LinAlgError:
            if end - start == 1:
                out[start] = False
            else:
                middle = (start + end) // 2
                pending += [(start, middle), (middle, end)]
    return out


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


@dataclass(frozen=True)
class GroupMoments:
    """A model's moment sums per bootstrap group as `features` (groups, f), which add up over answers and
    groups, and `expand`, which turns sums of features (m, f) into pairwise moment sums (m, 4, p, p)."""

    features: np.ndarray
    expand: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def of(cls, moments: np.ndarray) -> GroupMoments:
        """From pairwise moment sums per group (groups, 4, p, p), as group_moments gives them."""
        p = moments.shape[-1]
        return cls(moments.reshape(len(moments), -1), lambda features: features.reshape(-1, 4, p, p))


def estimate_model(
    moments: GroupMoments, names: list[str], settings: BootstrapSettings, rng: np.random.Generator
) -> Estimate | None:
    """Relative weights of the levers (`names`, columns of the moments but the last) on the outcome (the
    last column; moments over the answers with the outcome), with bootstrap 95 % intervals, from the
    moment sums of each bootstrap group of answers; None below min_n."""
    return estimate_models([(moments, names, rng)], settings)[0]


def estimate_models(
    models: list[tuple[GroupMoments, list[str], np.random.Generator]], settings: BootstrapSettings
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
    moments: GroupMoments, names: list[str], settings: BootstrapSettings, rng: np.random.Generator
) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """The levers a model keeps, the correlation matrices of its estimate and of its bootstrap resamples
    (1 + bootstrap_samples, k + 1, k + 1), and its pairwise counts; None when it has no estimate.

    Bootstrap: each resample draws as many groups as there are, with replacement, and adds their moment
    sums (moments add up: a resampled group is the sum of its answers' moments)."""
    features = moments.features
    summed = features.sum(axis=0)
    total = moments.expand(summed[None])[0]
    width = total.shape[-1]
    count = total[0]
    if count[-1, -1] < settings.min_n:
        return None
    var = total[2] / np.maximum(count, 1) - (total[1] / np.maximum(count, 1)) ** 2
    keep = [j for j in range(len(names)) if count[j, -1] >= settings.min_n and var[j, -1] > 1e-12]
    if not keep or var[-1, -1] <= 1e-12:
        return None
    columns = [*keep, width - 1]
    groups = len(features)
    # how many times each group is drawn in each resample
    picks = rng.integers(0, groups, size=(settings.bootstrap_samples, groups))
    picks += np.arange(settings.bootstrap_samples)[:, None] * groups
    draws = np.bincount(picks.ravel(), minlength=settings.bootstrap_samples * groups)
    draws = draws.reshape(settings.bootstrap_samples, groups)
    resampled = moments.expand(np.vstack([summed, draws.astype(float) @ features]))
    return keep, pairwise_correlations(resampled[:, :, columns][:, :, :, columns]), count


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
