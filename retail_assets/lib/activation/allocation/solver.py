"""The water-filling solver of concave Michaelis-Menten curves, and the two baselines.

With ``f(s) = V s / (K + s)`` per channel, the KKT conditions of ``max sum w_i f_i(s_i)``
subject to ``sum s_i = B`` and ``l_i <= s_i <= u_i`` give each channel's spend at a shadow
price ``lam`` in closed form, ``s_i(lam) = clip(sqrt(w_i V_i K_i / lam) - K_i, l_i, u_i)``;
:func:`solve` bisects on ``lam``. The baselines :func:`inverse_cpa` and :func:`historical` are
solved under the same bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from retail_assets.lib.activation.allocation.guardrails import Bounds, check_feasible

# ------------------------------------------------------------------ solver


@dataclass(frozen=True)
class Solution:
    """An allocation: spend per channel, the shadow price and which bound binds.

    Attributes:
        spend: Spend per channel; sums to the budget (to 1e-9 relative).
        lam: The shadow price: objective gained per extra unit of budget, i.e. the common
            marginal of the interior channels. At a budget equal to the sum of the floors (or
            caps) it is the best marginal at the floors (worst at the caps); NaN when no
            channel can move.
        binding: Per channel ``lower``, ``upper``, ``none`` (interior) or ``locked``.

    """

    spend: np.ndarray
    lam: float
    binding: list[str]


def _as_arrays(*arrays) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=float).reshape(-1) for a in arrays]
    if len({len(a) for a in out}) != 1:
        raise ValueError(f"per-channel arrays differ in length: {[len(a) for a in out]}")
    return out


def _check_budget(lower: np.ndarray, upper: np.ndarray, budget: float) -> None:
    names = [f"channel {i}" for i in range(len(lower))]
    blank = ["bound"] * len(lower)
    check_feasible(Bounds(names, lower, upper, blank, blank, blank, blank), budget)


def _interpolate(s_low: np.ndarray, s_high: np.ndarray, budget: float) -> np.ndarray:
    """Between two allocations bracketing the budget, the one that sums to it.

    The bisection stops at adjacent floats, whose allocations straddle the budget by a few
    ulps; a convex combination stays within the bounds and keeps the channels moving in the
    direction they move as the budget grows.
    """
    low, high = math.fsum(s_low), math.fsum(s_high)
    if high <= low:
        return s_low
    t = min(max((budget - low) / (high - low), 0.0), 1.0)
    return s_low + t * (s_high - s_low)


def _spread(spend, lower, upper, budget) -> np.ndarray:
    """Close what is left of the budget.

    Uncapped channels share a shortfall equally; otherwise each channel moves in proportion
    to its room to move.
    """
    gap = budget - math.fsum(spend)
    if gap == 0:
        return spend
    uncapped = np.isinf(upper)
    if gap > 0 and uncapped.any():
        return spend + np.where(uncapped, gap / uncapped.sum(), 0.0)
    room = (upper - spend) if gap > 0 else (spend - lower)
    total = math.fsum(room)
    if total <= 0:
        return spend
    return np.clip(spend + np.sign(gap) * room * min(abs(gap) / total, 1.0), lower, upper)


def _bisect(fn, lo: float, hi: float, budget: float, decreasing: bool) -> tuple[float, float]:
    """Shrink ``[lo, hi]`` to adjacent floats around where ``fn`` (a sum) crosses ``budget``."""
    while True:
        mid = math.sqrt(lo * hi) if lo > 0 and hi > 2 * lo else lo + (hi - lo) / 2
        if not lo < mid < hi:
            return lo, hi
        above = fn(mid) >= budget
        if above == decreasing:
            lo = mid
        else:
            hi = mid


def solve(
    vmax,
    k,
    lower,
    upper,
    budget: float,
    value=None,
) -> Solution:
    """Maximize ``sum value_i * vmax_i * s_i / (k_i + s_i)`` with ``sum s_i = budget``.

    Water-filling: ``s_i(lam) = clip(sqrt(value_i vmax_i k_i / lam) - k_i, lower_i, upper_i)``
    with ``lam`` found by bisection to float precision, then the last ulps closed so the
    spend sums to the budget. Inputs are per-channel sequences in one money unit. A channel's
    spend is resolved to about ``k_i * 1e-16`` (the subtraction above), far below a micro.

    Args:
        vmax: Saturation level per channel (``>= 0``).
        k: Half-saturation spend per channel (``> 0``).
        lower: Floors.
        upper: Caps (``inf`` for none).
        budget: The total to spend.
        value: Weight of a conversion per channel (e.g. revenue per conversion); 1 when
            omitted.

    Raises:
        InfeasibleGuardrails: A floor is above its cap, or the budget is outside
            ``[sum lower, sum upper]``.
        ValueError: Negative ``vmax``/``value``, non-positive ``k`` or a negative budget.

    """
    vmax, k, lower, upper = _as_arrays(vmax, k, lower, upper)
    value = np.ones_like(vmax) if value is None else _as_arrays(value, vmax)[0]
    if (vmax < 0).any() or (value < 0).any() or not (k > 0).all() or budget < 0:
        raise ValueError("vmax and value must be >= 0, k > 0 and the budget >= 0")
    _check_budget(lower, upper, budget)
    c = value * vmax * k
    free = lower < upper
    locked = ["locked" if not f else "" for f in free]

    def marginal(s):
        return value * vmax * k / (k + s) ** 2

    def spend_at(lam: float) -> np.ndarray:
        with np.errstate(divide="ignore", over="ignore"):
            return np.clip(np.sqrt(c / lam) - k, lower, upper)

    def total(lam: float) -> float:
        return math.fsum(spend_at(lam))

    def label(s: np.ndarray, lam: float) -> list[str]:
        if lam <= 0:
            return baseline_binding(s, lower, upper)
        # Which bound the unconstrained optimum of each channel runs into at this price.
        want = np.sqrt(c / lam) - k
        return [
            lk or ("lower" if w <= lo else "upper" if w >= hi else "none")
            for lk, w, lo, hi in zip(locked, want, lower, upper, strict=True)
        ]

    if not free.any():
        return Solution(lower.copy(), math.nan, locked)
    low_sum, high_sum = math.fsum(lower), math.fsum(upper)
    if budget <= low_sum:
        lam = float(marginal(lower)[free].max())
        return Solution(lower.copy(), lam, [lk or "lower" for lk in locked])
    if budget >= high_sum:
        lam = float(marginal(upper)[free].min())
        return Solution(upper.copy(), lam, [lk or "upper" for lk in locked])
    lam_hi = float(marginal(lower)[free].max())
    if lam_hi <= 0:
        # No free channel responds to spend: any split is optimal; share the room evenly.
        s = _spread(lower.copy(), lower, upper, budget)
        return Solution(s, 0.0, label(s, 0.0))
    # At the best marginal at the floors, sqrt(c / lam) - k should be the floor itself, but the
    # subtraction leaves a residue of k * ulp: nudge lam up until the bracket really holds.
    while total(lam_hi) > budget:
        lam_hi *= 1 + 4 * np.finfo(float).eps
    lam_lo = lam_hi
    while total(lam_lo) < budget:
        lam_lo /= 2
        if lam_lo == 0:
            s = _spread(spend_at(math.ulp(0.0)), lower, upper, budget)
            return Solution(s, 0.0, label(s, 0.0))
    lo, hi = _bisect(total, lam_lo, lam_hi, budget, decreasing=True)
    s = _interpolate(spend_at(hi), spend_at(lo), budget)
    return Solution(s, hi, label(s, hi))


def kkt_residuals(vmax, k, spend, lower, upper, lam: float, value=None) -> np.ndarray:
    """How far each channel is from the KKT conditions, relative to ``lam``.

    Interior channels: ``|marginal - lam| / lam``; at the cap: how far the marginal is below
    ``lam``; at the floor: how far it is above. Zero at the optimum; locked channels are 0.
    """
    vmax, k, spend, lower, upper = _as_arrays(vmax, k, spend, lower, upper)
    value = np.ones_like(vmax) if value is None else _as_arrays(value, vmax)[0]
    m = value * vmax * k / (k + spend) ** 2
    tol = 1e-9 * np.maximum(np.abs(spend), 1.0)
    at_low = spend <= lower + tol
    at_high = spend >= upper - tol
    out = np.where(
        lower >= upper,
        0.0,
        np.where(
            at_high & ~at_low,
            np.maximum(lam - m, 0.0),
            np.where(at_low & ~at_high, np.maximum(m - lam, 0.0), np.abs(m - lam)),
        ),
    )
    return out / lam if lam > 0 else out


# ------------------------------------------------------------------ baselines


def _clip_and_bisect(weights, lower, upper, budget: float) -> np.ndarray:
    """``clip(t * w, lower, upper)`` with ``t`` such that the spend sums to the budget."""
    w, lower, upper = _as_arrays(weights, lower, upper)
    _check_budget(lower, upper, budget)
    if (w < 0).any():
        raise ValueError("weights must be >= 0")
    if not w.any():
        w = np.ones_like(w)

    def spend_at(t: float) -> np.ndarray:
        return np.clip(t * w, lower, upper)

    def total(t: float) -> float:
        return math.fsum(spend_at(t))

    if budget <= math.fsum(lower):
        return lower.copy()
    if budget >= math.fsum(upper):
        return upper.copy()
    positive = w > 0
    caps = upper[positive] / w[positive]
    if np.isfinite(caps).all():
        # Every weighted channel at its cap; channels without weight stay at their floors, and
        # if that is short of the budget, _spread below gives them the rest.
        t_hi = float(caps.max())
    else:
        t_hi = 1.0
        while total(t_hi) < budget:
            t_hi *= 2
    lo, hi = _bisect(total, 0.0, t_hi, budget, decreasing=False)
    s = _interpolate(spend_at(lo), spend_at(hi), budget)
    return _spread(s, lower, upper, budget)


def inverse_cpa(conversions, spend, lower, upper, budget: float) -> np.ndarray:
    """Spend in proportion to historical conversions per unit spend, within the bounds.

    The guardrails are constraints (``clip(t * w, lower, upper)`` summing to the budget), as
    the optimizer has them; a channel without spend or conversions gets its floor. Channels
    that all lack conversions share the budget equally.
    """
    conversions, spend = _as_arrays(conversions, spend)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(spend > 0, conversions / spend, 0.0)
    return _clip_and_bisect(w, lower, upper, budget)


def historical(previous, lower, upper, budget: float) -> np.ndarray:
    """The previous flight's split scaled to the budget, within the bounds."""
    return _clip_and_bisect(previous, lower, upper, budget)


def baseline_binding(spend, lower, upper) -> list[str]:
    """``lower``/``upper``/``none``/``locked`` for an allocation that is not an optimum."""
    spend, lower, upper = _as_arrays(spend, lower, upper)
    tol = 1e-9 * np.maximum(np.abs(spend), 1.0)
    return [
        "locked" if lo >= hi else "lower" if s <= lo + t else "upper" if s >= hi - t else "none"
        for s, lo, hi, t in zip(spend, lower, upper, tol, strict=True)
    ]
