"""Budget allocation across paid channels: the exact optimum of concave response curves.

Inverse-CPA allocation weights spend by a channel's *average* efficiency; the optimum
equalizes *marginal* efficiency. With a Michaelis–Menten curve ``f(s) = V s / (K + s)`` per
channel, the KKT conditions of ``max sum w_i f_i(s_i)`` subject to ``sum s_i = B`` and
``l_i <= s_i <= u_i`` give each channel's spend at a shadow price ``lam`` in closed form,
``s_i(lam) = clip(sqrt(w_i V_i K_i / lam) - K_i, l_i, u_i)``, and ``sum s_i(lam)`` falls
monotonically in ``lam``, so a bisection on ``lam`` finds the exact optimum ("water-filling").

Guardrails are constraints of the problem, not a clipping step after it (:func:`bounds`):
a floor and a cap per channel, at most ``max_change`` away from the previous flight's spend,
at most ``max_multiple_of_observed`` times the highest spend ever seen (beyond it the curve is
an extrapolation), locked channels and an incremental mode. The two baselines,
:func:`inverse_cpa` and :func:`historical`, are solved under the same bounds.

The solver is unit-agnostic: ``V`` in conversions (or value), ``K``, bounds and budget in one
money unit. :func:`plan_allocation` works with flight totals: a flight of ``D`` days with
channel spend ``S`` gives ``D * f(S / D)`` conversions, i.e. ``V' = D * V`` and ``K' = D * K``.
Money leaves as integer micros rounded to the currency's billable unit with largest-remainder
rounding (:func:`to_micros`), so the line items sum to the total exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from retail_assets.lib.activation.response_curves import FittedCurve

# ISO 4217 minor-unit exponents for the currencies we have seen users plan in.
CURRENCY_EXPONENT = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0, "KWD": 3}
METHODS = ("optimized", "inverse_cpa", "historical")
# Relative slack when comparing sums of bounds with the budget: bounds and budgets computed
# in floating point (0.7 * previous, ...) must not turn an exactly feasible plan infeasible.
_FEASIBILITY_RTOL = 1e-12


class InfeasibleGuardrails(ValueError):
    """The guardrails cannot be met by any allocation; the message names them."""


# ------------------------------------------------------------------ money


def billable_unit_micros(currency: str) -> int:
    """Micros in the smallest billable unit (10^(6 - ISO 4217 exponent))."""
    try:
        return 10 ** (6 - CURRENCY_EXPONENT[currency])
    except KeyError as exc:
        known = sorted(CURRENCY_EXPONENT)
        raise ValueError(f"unknown currency {currency!r}; known: {known}") from exc


def split_micros(total_micros: int, shares: np.ndarray, unit: int) -> list[int]:
    """Split ``total_micros`` by ``shares`` in whole billable units; the parts sum exactly."""
    if total_micros % unit:
        raise ValueError(f"total {total_micros} micros is not a multiple of the unit {unit}")
    units = total_micros // unit
    raw = shares / shares.sum() * units if shares.sum() > 0 else np.zeros_like(shares)
    floor = np.floor(raw).astype(np.int64)
    remainder = int(units - floor.sum())
    # Largest remainders first; ties go to the earlier channel so the result is deterministic.
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floor[i]), i))
    for i in order[:remainder]:
        floor[i] += 1
    return [int(x) * unit for x in floor]


def total_micros(budget: float, currency: str) -> int:
    """The budget in micros, rounded to a whole number of the currency's billable units."""
    unit = billable_unit_micros(currency)
    return round(budget * 1_000_000 / unit) * unit


def to_micros(
    spend: np.ndarray,
    currency: str,
    lower: np.ndarray,
    upper: np.ndarray,
    budget: float | None = None,
) -> list[int]:
    """Spend in integer micros of whole billable units, summing exactly to the total.

    The bounds are first rounded inward to the unit grid (a floor up, a cap down), each
    channel's spend is floored onto that grid within them, and the units left over go to the
    largest remainders (ties to the earlier channel) among channels below their cap, or are
    taken from the smallest remainders above their floor.

    Args:
        spend: Spend per channel in currency units (e.g. a :class:`Solution`'s).
        currency: ISO 4217 code of a currency in :data:`CURRENCY_EXPONENT`.
        lower: Per-channel floors in currency units.
        upper: Per-channel caps in currency units (``inf`` for none).
        budget: The total in currency units; the sum of ``spend`` when omitted. The total is
            ``round(budget * 1e6 / unit) * unit`` micros.

    Returns:
        Micros per channel, multiples of the billable unit, within the rounded bounds.

    Raises:
        InfeasibleGuardrails: The bounds rounded to whole units cannot hold the total.

    """
    unit = billable_unit_micros(currency)
    spend = np.asarray(spend, dtype=float)
    budget = math.fsum(spend) if budget is None else float(budget)
    units = total_micros(budget, currency) // unit
    scale = 1_000_000 / unit
    # A bound that is a whole number of units up to float noise stays that number.
    lo = np.array([math.ceil(round(v * scale, 6)) for v in np.asarray(lower, dtype=float)])
    # No channel can take more than the whole budget: that is an uncapped channel's cap.
    hi = np.array(
        [
            max(units, f) if not math.isfinite(v) else math.floor(round(v * scale, 6))
            for v, f in zip(upper, lo, strict=True)
        ]
    )
    # Bounds inside one unit (a locked channel off the grid) meet at the nearest unit.
    for i in np.flatnonzero(lo > hi):
        lo[i] = hi[i] = round((float(lower[i]) + float(upper[i])) * scale / 2)
    if lo.sum() > units or hi.sum() < units:
        raise InfeasibleGuardrails(
            f"the budget of {units} {currency} billable units does not fit the bounds rounded "
            f"inward to whole units: the floors sum to {int(lo.sum())} units, the caps to "
            f"{int(hi.sum())}"
        )
    raw = spend * scale
    base = np.clip(np.floor(raw), lo, hi).astype(np.int64)
    frac = raw - np.floor(raw)
    left = int(units - base.sum())
    n = len(base)
    while left:
        step = 1 if left > 0 else -1
        if step > 0:
            order = sorted(range(n), key=lambda i: (-frac[i], i))
            room = [i for i in order if base[i] < hi[i]]
        else:
            order = sorted(range(n), key=lambda i: (frac[i], i))
            room = [i for i in order if base[i] > lo[i]]
        for i in room[: abs(left)]:
            base[i] += step
            left -= step
    return [int(b) * unit for b in base]


# ------------------------------------------------------------------ guardrails


@dataclass(frozen=True)
class ChannelGuardrail:
    """One channel's guardrails, as flight totals in currency units.

    Attributes:
        min_spend: Absolute floor.
        max_spend: Absolute cap (``None``: none).
        previous: Spend of the previous flight of equal length; needed by ``max_change``,
            ``locked``, incremental mode and the historical baseline.
        max_observed: The highest spend ever observed, scaled to the flight (e.g. the highest
            daily spend times the flight's days).
        locked: The channel keeps its previous spend exactly.

    """

    min_spend: float = 0.0
    max_spend: float | None = None
    previous: float | None = None
    max_observed: float | None = None
    locked: bool = False


@dataclass(frozen=True)
class Guardrails:
    """Per-channel guardrails plus the rules that apply to every channel.

    Attributes:
        channels: Guardrails by channel name; a channel not listed has none of its own.
        max_change: ``delta``: spend stays within ``(1 -/+ delta) * previous``.
        max_multiple_of_observed: ``kappa``: spend stays at most ``kappa * max_observed``.
        incremental: Incremental mode: no channel gets less than its previous spend (the
            caller sets the budget to the previous total plus the increment).

    """

    channels: Mapping[str, ChannelGuardrail] = field(default_factory=dict)
    max_change: float | None = 0.3
    max_multiple_of_observed: float | None = 1.5
    incremental: bool = False

    def channel(self, name: str) -> ChannelGuardrail:
        """The guardrail of channel ``name`` (the defaults when it has none)."""
        return self.channels.get(name, ChannelGuardrail())


@dataclass(frozen=True)
class Bounds:
    """Per-channel spend bounds and the guardrail that sets each.

    ``reasons_*`` hold the guardrail names (``min_spend``, ``max_spend``, ``max_change``,
    ``max_multiple_of_observed``, ``incremental``, ``locked``; ``none`` for no cap);
    ``details_*`` describe them with their numbers.
    """

    names: list[str]
    lower: np.ndarray
    upper: np.ndarray
    reasons_lower: list[str]
    reasons_upper: list[str]
    details_lower: list[str]
    details_upper: list[str]


def _money(x: float) -> str:
    return f"{x:,.2f}"


def bounds(names: Sequence[str], guardrails: Guardrails, budget: float) -> Bounds:
    """Each channel's floor and cap from its guardrails, checked against the budget.

    ``lower = max(min_spend, (1 - delta) * previous[, previous if incremental])`` and
    ``upper = min(max_spend, (1 + delta) * previous, kappa * max_observed)``; a locked channel
    has ``lower = upper = previous``. Rules whose input is missing (no ``previous``, no
    ``max_observed``) do not apply; ties name the earlier rule in that order.

    Raises:
        InfeasibleGuardrails: A channel's floor is above its cap, the floors sum to more than
            the budget, or the caps to less; or a locked channel (or any channel in
            incremental mode) has no previous spend. The message names the channels, the
            guardrails and their numbers.

    """
    delta = guardrails.max_change
    kappa = guardrails.max_multiple_of_observed
    lower, upper, r_lo, r_hi, d_lo, d_hi = [], [], [], [], [], []
    for name in names:
        g = guardrails.channel(name)
        prev = g.previous
        if (g.locked or guardrails.incremental) and prev is None:
            why = "locked" if g.locked else "in incremental mode"
            raise InfeasibleGuardrails(f"infeasible: {name} is {why} but has no previous spend")
        if g.locked:
            lower.append(float(prev))
            upper.append(float(prev))
            r_lo.append("locked")
            r_hi.append("locked")
            d_lo.append(f"locked at previous {_money(prev)}")
            d_hi.append(f"locked at previous {_money(prev)}")
            continue
        lows = [("min_spend", float(g.min_spend), f"min_spend {_money(g.min_spend)}")]
        highs = []
        if g.max_spend is not None:
            highs.append(("max_spend", float(g.max_spend), f"max_spend {_money(g.max_spend)}"))
        if delta is not None and prev is not None:
            pct = f"{delta * 100:g} %"
            lows.append(
                ("max_change", (1 - delta) * prev, f"max_change -{pct} of previous {_money(prev)}")
            )
            highs.append(
                ("max_change", (1 + delta) * prev, f"max_change +{pct} of previous {_money(prev)}")
            )
        if guardrails.incremental:
            lows.append(("incremental", float(prev), f"incremental: previous {_money(prev)}"))
        if kappa is not None and g.max_observed is not None:
            highs.append(
                (
                    "max_multiple_of_observed",
                    kappa * g.max_observed,
                    f"max_multiple_of_observed {kappa:g} x observed {_money(g.max_observed)}",
                )
            )
        # max() and min() keep the first of equal values: ties name the earlier rule.
        reason, value, detail = max(lows, key=lambda r: r[1])
        lower.append(value)
        r_lo.append(reason)
        d_lo.append(detail)
        if highs:
            reason, value, detail = min(highs, key=lambda r: r[1])
        else:
            reason, value, detail = "none", math.inf, "no cap"
        upper.append(value)
        r_hi.append(reason)
        d_hi.append(detail)
    b = Bounds(list(names), np.array(lower), np.array(upper), r_lo, r_hi, d_lo, d_hi)
    check_feasible(b, budget)
    return b


def check_feasible(b: Bounds, budget: float) -> None:
    """Raise :class:`InfeasibleGuardrails` naming the guardrails that cannot all hold."""
    crossed = [i for i in range(len(b.names)) if b.lower[i] > b.upper[i]]
    if crossed:
        raise InfeasibleGuardrails(
            "infeasible: a channel's lower bound exceeds its upper bound: "
            + "; ".join(
                f"{b.names[i]} lower {_money(b.lower[i])} ({b.details_lower[i]}) > "
                f"upper {_money(b.upper[i])} ({b.details_upper[i]})"
                for i in crossed
            )
        )
    low, high = math.fsum(b.lower), math.fsum(b.upper)
    slack = _FEASIBILITY_RTOL * max(abs(budget), low, 1.0)
    if low > budget + slack:
        raise InfeasibleGuardrails(
            f"infeasible: the lower bounds sum to {_money(low)} > budget {_money(budget)}: "
            + ", ".join(
                f"{n} {_money(v)} ({d})"
                for n, v, d in zip(b.names, b.lower, b.details_lower, strict=True)
                if v > 0
            )
        )
    if high < budget - slack:
        raise InfeasibleGuardrails(
            f"infeasible: the upper bounds sum to {_money(high)} < budget {_money(budget)}: "
            + ", ".join(
                f"{n} {_money(v)} ({d})"
                for n, v, d in zip(b.names, b.upper, b.details_upper, strict=True)
            )
        )


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


# ------------------------------------------------------------------ outcomes and the plan


def _percentiles(draws: np.ndarray) -> tuple[float, float, float]:
    p05, p50, p95 = np.percentile(draws, [5, 50, 95])
    return float(p05), float(p50), float(p95)


def _cpa(marginal: float) -> float | None:
    return 1.0 / marginal if marginal > 0 else None


def expected_outcomes(
    curves: Sequence[FittedCurve],
    spend,
    days: int,
    values: Sequence[float | None] | None = None,
) -> dict:
    """Expected conversions of a flight's spend, with bootstrap intervals.

    A channel spending ``S`` over ``days`` days at an even pace expects
    ``days * f(S / days)`` conversions; one more unit of flight spend buys ``f'(S / days)``
    more, so the marginal CPA is ``1 / f'(S / days)``. Totals combine the channels' bootstrap
    draws index by index (the fits are independent).

    Args:
        curves: Fitted curves, in the order of ``spend``.
        spend: Flight spend per channel, currency units.
        days: Days of the flight.
        values: Revenue per conversion per channel (``None`` where unknown).

    Returns:
        ``{"channels": [...], "total": {...}}``: per channel ``conversions`` (the point
        curve), ``conversions_p05``/``_p50``/``_p95``, ``revenue_p50`` (``None`` without a
        value), ``marginal_cpa`` and its ``_p05``/``_p95`` (``None`` where the marginal is
        zero); the total has the conversion figures and ``revenue_p50`` (``None`` unless every
        channel has a value).

    """
    spend = np.asarray(spend, dtype=float)
    values = list(values) if values is not None else [None] * len(curves)
    if not len(curves) == len(spend) == len(values):
        raise ValueError("curves, spend and values must have one entry per channel")
    n_boot = {len(c.bootstrap_vmax) for c in curves}
    if len(n_boot) > 1:
        raise ValueError(f"the curves have different numbers of bootstrap draws: {n_boot}")
    channels = []
    total_draws = 0.0
    revenue_draws = 0.0
    for curve, s, value in zip(curves, spend, values, strict=True):
        x = s / days
        draws = days * curve.bootstrap_response(x)
        p05, p50, p95 = _percentiles(draws)
        m05, m95 = np.percentile(curve.bootstrap_marginal(x), [5, 95])
        channels.append(
            {
                "channel": curve.channel,
                "conversions": float(days * curve.response(x)),
                "conversions_p05": p05,
                "conversions_p50": p50,
                "conversions_p95": p95,
                "revenue_p50": None if value is None else p50 * value,
                "marginal_cpa": _cpa(float(curve.marginal(x))),
                # A high marginal is a low cost: the 95th percentile of one is the 5th of the other.
                "marginal_cpa_p05": _cpa(float(m95)),
                "marginal_cpa_p95": _cpa(float(m05)),
            }
        )
        total_draws = total_draws + draws
        revenue_draws = (
            None if value is None or revenue_draws is None else revenue_draws + draws * value
        )
    p05, p50, p95 = _percentiles(total_draws)
    total = {
        "conversions": math.fsum(c["conversions"] for c in channels),
        "conversions_p05": p05,
        "conversions_p50": p50,
        "conversions_p95": p95,
        "revenue_p50": None if revenue_draws is None else float(np.percentile(revenue_draws, 50)),
    }
    return {"channels": channels, "total": total}


@dataclass(frozen=True)
class ChannelPlan:
    """One channel's flight budget under one method, with what it is expected to buy.

    ``binding`` is which bound the spend sits at (``lower``, ``upper``, ``none``, ``locked``)
    and ``bound_by`` the guardrail that set that bound (``""`` when interior). Conversions are
    over the flight; ``marginal_cpa`` is the cost of one more conversion at this spend.
    """

    method: str
    channel: str
    spend: float
    budget_micros: int
    share: float
    lower_bound: float
    upper_bound: float
    binding: str
    bound_by: str
    conversions: float
    conversions_p05: float
    conversions_p50: float
    conversions_p95: float
    revenue_p50: float | None
    marginal_cpa: float | None
    marginal_cpa_p05: float | None
    marginal_cpa_p95: float | None


@dataclass(frozen=True)
class MethodTotal:
    """One method's flight totals."""

    method: str
    spend: float
    budget_micros: int
    conversions: float
    conversions_p05: float
    conversions_p50: float
    conversions_p95: float
    revenue_p50: float | None


@dataclass(frozen=True)
class AllocationPlan:
    """The optimized allocation and both baselines, per channel and in total.

    Attributes:
        currency: ISO 4217 code.
        budget: The flight's budget in currency units.
        days: Days of the flight.
        objective: ``conversions`` or ``revenue``.
        shadow_price: ``lam``: objective gained per extra currency unit of budget (marginal
            conversions, or marginal revenue, per unit spend of every interior channel).
        lines: One :class:`ChannelPlan` per (method, channel), methods in :data:`METHODS`
            order, channels sorted by name.
        totals: One :class:`MethodTotal` per method.

    """

    currency: str
    budget: float
    days: int
    objective: str
    shadow_price: float
    lines: tuple[ChannelPlan, ...]
    totals: tuple[MethodTotal, ...]

    def rows(self) -> list[dict]:
        """One dict per (method, channel), ready for ``pl.DataFrame(plan.rows())``."""
        return [vars(line).copy() for line in self.lines]

    def total_rows(self) -> list[dict]:
        """One dict per method with the flight totals."""
        return [vars(t).copy() for t in self.totals]

    def line(self, method: str, channel: str) -> ChannelPlan:
        """The line of ``channel`` under ``method``."""
        for line in self.lines:
            if line.method == method and line.channel == channel:
                return line
        raise KeyError((method, channel))


def plan_allocation(
    curves: Mapping[str, FittedCurve],
    guardrails: Guardrails,
    budget: float,
    days: int,
    currency: str,
    objective: Literal["conversions", "revenue"] = "conversions",
    values: Mapping[str, float] | None = None,
    efficiency: Mapping[str, tuple[float, float]] | None = None,
) -> AllocationPlan:
    """Allocate a flight's budget across the channels of ``curves``, with both baselines.

    A channel's guardrail without ``previous`` takes the curve's recent mean daily spend times
    ``days``; without ``max_observed``, its highest daily spend times ``days``. The baselines
    run under the same bounds: inverse CPA weights by conversions per unit spend (over the
    curves' whole history unless ``efficiency`` says otherwise), historical by the previous
    flight's split.

    Args:
        curves: Fitted daily curves by channel.
        guardrails: The guardrails, as flight totals.
        budget: The flight's budget, currency units.
        days: Days of the flight.
        currency: ISO 4217 code (sets the billable unit of the micros).
        objective: Maximize ``conversions`` or ``revenue`` (conversions times value).
        values: Revenue per conversion by channel; the curves' own where missing.
        efficiency: ``(conversions, spend)`` by channel for the inverse-CPA baseline (e.g.
            the last 28 days); the curves' ``total_conversions`` and ``total_spend`` where
            missing.

    Raises:
        InfeasibleGuardrails: The guardrails cannot all hold (the message names them).
        ValueError: The revenue objective without a value for some channel, or an unknown
            objective.

    """
    if objective not in ("conversions", "revenue"):
        raise ValueError(f"objective must be 'conversions' or 'revenue', got {objective!r}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    names = sorted(curves)
    fitted = [curves[n] for n in names]
    vals = [(values or {}).get(n, curves[n].value_per_conversion) for n in names]
    if objective == "revenue" and any(v is None for v in vals):
        missing = [n for n, v in zip(names, vals, strict=True) if v is None]
        raise ValueError(f"objective 'revenue' needs a value per conversion for {missing}")
    filled = {}
    for name, curve in zip(names, fitted, strict=True):
        g = guardrails.channel(name)
        filled[name] = replace(
            g,
            previous=curve.mean_spend_recent * days if g.previous is None else g.previous,
            max_observed=curve.max_spend * days if g.max_observed is None else g.max_observed,
        )
    b = bounds(names, replace(guardrails, channels=filled), budget)
    weight = np.array(vals, dtype=float) if objective == "revenue" else None
    sol = solve(
        [days * c.vmax for c in fitted],
        [days * c.k for c in fitted],
        b.lower,
        b.upper,
        budget,
        value=weight,
    )
    previous = np.array([filled[n].previous for n in names])
    history = [
        (efficiency or {}).get(n, (c.total_conversions, c.total_spend))
        for n, c in zip(names, fitted, strict=True)
    ]
    inv = inverse_cpa(
        [conv for conv, _ in history], [spend for _, spend in history], b.lower, b.upper, budget
    )
    hist = historical(previous, b.lower, b.upper, budget)
    allocations = {
        "optimized": (sol.spend, sol.binding),
        "inverse_cpa": (inv, baseline_binding(inv, b.lower, b.upper)),
        "historical": (hist, baseline_binding(hist, b.lower, b.upper)),
    }
    lines, totals = [], []
    for method in METHODS:
        spend, binding = allocations[method]
        micros = to_micros(spend, currency, b.lower, b.upper, budget)
        outcome = expected_outcomes(fitted, spend, days, vals)
        for i, name in enumerate(names):
            o = outcome["channels"][i]
            bound_by = {
                "lower": b.reasons_lower[i],
                "upper": b.reasons_upper[i],
                "locked": "locked",
            }.get(binding[i], "")
            lines.append(
                ChannelPlan(
                    method=method,
                    channel=name,
                    spend=float(spend[i]),
                    budget_micros=micros[i],
                    share=float(spend[i] / budget) if budget > 0 else 0.0,
                    lower_bound=float(b.lower[i]),
                    upper_bound=float(b.upper[i]),
                    binding=binding[i],
                    bound_by=bound_by,
                    conversions=o["conversions"],
                    conversions_p05=o["conversions_p05"],
                    conversions_p50=o["conversions_p50"],
                    conversions_p95=o["conversions_p95"],
                    revenue_p50=o["revenue_p50"],
                    marginal_cpa=o["marginal_cpa"],
                    marginal_cpa_p05=o["marginal_cpa_p05"],
                    marginal_cpa_p95=o["marginal_cpa_p95"],
                )
            )
        t = outcome["total"]
        totals.append(
            MethodTotal(
                method=method,
                spend=math.fsum(spend),
                budget_micros=sum(micros),
                conversions=t["conversions"],
                conversions_p05=t["conversions_p05"],
                conversions_p50=t["conversions_p50"],
                conversions_p95=t["conversions_p95"],
                revenue_p50=t["revenue_p50"],
            )
        )
    return AllocationPlan(
        currency=currency,
        budget=float(budget),
        days=days,
        objective=objective,
        shadow_price=sol.lam,
        lines=tuple(lines),
        totals=tuple(totals),
    )
