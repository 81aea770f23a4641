"""Seeded draws: a generator per (seed, entity, date) and fast categorical draws."""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np


def rng_for(seed: int, entity: str, day: dt.date | None = None) -> np.random.Generator:
    """A generator seeded from (seed, entity, date): independent of any other partition."""
    parts = [seed, zlib.crc32(entity.encode())]
    if day is not None:
        parts.append(day.toordinal())
    return np.random.default_rng(parts)


def draw_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One index per row of a (rows, k) matrix of non-negative weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def _poisson_pmf(mean: np.ndarray) -> np.ndarray:
    """Poisson probabilities of 0, 1, ... per mean (rows), up to where the rest is < 1e-18.

    Drawing from these with :func:`draw_grouped` is inverse-transform sampling: the same
    distribution as ``rng.poisson`` at float precision, one uniform per draw.
    """
    top = int(mean.max() + 20 * np.sqrt(mean.max()) + 40)
    pmf = np.empty((mean.size, top + 1))
    pmf[:, 0] = np.exp(-mean)
    for k in range(1, top + 1):
        pmf[:, k] = pmf[:, k - 1] * mean / k
    tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # P(X >= k)
    return pmf[:, : int((tail > 1e-18).any(axis=0).sum())]


def draw_grouped(
    rng: np.random.Generator,
    weights: np.ndarray,
    group: np.ndarray,
    bins: int = 4096,
) -> np.ndarray:
    """``draw_rows(rng, weights[group])`` for a (groups, k) table, without the (rows, k) matrix.

    One uniform per row, as ``draw_rows`` draws, mapped to its index through a guide table
    (the index at each of ``bins`` equal slices of [0, 1) per group, a power of two); the few
    rows whose slice holds a boundary between two indexes are resolved by comparing with the
    cumulative weights. The uniform is ``rng.random()``'s (53 top bits of the generator's
    next 64), taken as raw bits: the slice is their top bits, without float work.
    """
    cum = np.cumsum(weights, axis=1)
    norm = cum / cum[:, -1:]
    groups, k = norm.shape
    # Per slice i: the index at its start, #{norm <= i/bins}, and just below its end,
    # #{norm < (i+1)/bins}; equal means one index covers the whole slice.
    scaled = norm * bins  # exact: a power of two
    whole = np.floor(scaled).astype(np.int64)
    at = whole + np.arange(groups)[:, None] * (bins + 1)
    below = np.bincount(at.ravel(), minlength=groups * (bins + 1)).reshape(groups, -1)
    on_edge = np.bincount(at[scaled == whole], minlength=groups * (bins + 1))
    before = np.cumsum(below, axis=1) - below
    lo = before + on_edge.reshape(groups, -1)
    guide = np.where(lo == before + below, lo, -1)[:, :bins].ravel()
    bits = rng.bit_generator.random_raw(group.size)
    index = (bits >> np.uint64(64 - (bins.bit_length() - 1))).view(np.int64)  # < bins
    index += group * bins
    out = guide.take(index)
    odd = np.flatnonzero(out < 0)
    u_odd = (bits[odd] >> np.uint64(11)) * 2.0**-53  # what rng.random() makes of them
    if k <= 32:
        out[odd] = (u_odd[:, None] >= norm[group[odd]]).sum(axis=1)
    else:  # many indexes: binary search, groups 2 apart on one axis
        offset = 2 * np.arange(groups)[:, None]
        found = np.searchsorted((offset + norm).ravel(), 2 * group[odd] + u_odd, "right")
        out[odd] = np.minimum(found - group[odd] * k, k - 1)
    return out
