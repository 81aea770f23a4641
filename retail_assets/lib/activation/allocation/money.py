"""Money in integer micros: billable units per currency and exact largest-remainder splits.

Money leaves the allocator as integer micros rounded to the currency's billable unit
(``10^(6 - ISO 4217 exponent)`` micros) with largest-remainder rounding, so the line items sum
to the total exactly.
"""

from __future__ import annotations

import math

import numpy as np

from retail_assets.lib.activation.allocation.guardrails import InfeasibleGuardrails

# ISO 4217 minor-unit exponents for the currencies we have seen users plan in.
CURRENCY_EXPONENT = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0, "KWD": 3}


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
