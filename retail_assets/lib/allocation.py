"""Budget allocation across paid channels: inverse CPA under share guardrails.

Shares follow ``s_i = clip(t * w_i, lo_i, hi_i)`` with ``w_i = 1 / CPA_i`` and the scale ``t``
found by bisection so the shares sum to one: guardrails are constraints of the allocation, not
a clipping step after it, and which bound binds is reported per channel. Money is integer
micros, rounded to the currency's billable unit with largest-remainder rounding, so the line
items always sum to the total exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ISO 4217 minor-unit exponents for the currencies we have seen users plan in.
CURRENCY_EXPONENT = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0, "KWD": 3}


class InfeasibleGuardrails(ValueError):
    """The guardrails cannot be met by any allocation; the message names them."""


@dataclass(frozen=True)
class ChannelInput:
    """What the allocator knows about one channel."""

    name: str
    spend: float
    conversions: float
    min_share: float
    max_share: float


@dataclass(frozen=True)
class ChannelAllocation:
    """One channel's share and budget."""

    name: str
    share: float
    budget_micros: int
    cpa: float | None
    binding: str  # "lower", "upper" or "none"


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


def inverse_cpa_shares(channels: list[ChannelInput]) -> tuple[np.ndarray, list[str]]:
    """Shares proportional to 1/CPA within [min_share, max_share], and the binding bounds."""
    lo = np.array([c.min_share for c in channels], dtype=float)
    hi = np.array([c.max_share for c in channels], dtype=float)
    if lo.sum() > 1 + 1e-12:
        raise InfeasibleGuardrails(
            f"minimum shares sum to {lo.sum():.3f} > 1: "
            + ", ".join(f"{c.name} min {c.min_share:.2f}" for c in channels)
        )
    if hi.sum() < 1 - 1e-12:
        raise InfeasibleGuardrails(
            f"maximum shares sum to {hi.sum():.3f} < 1: "
            + ", ".join(f"{c.name} max {c.max_share:.2f}" for c in channels)
        )
    # Efficiency 1/CPA; a channel with no conversions gets none (it still gets its floor).
    w = np.array([c.conversions / c.spend if c.spend > 0 else 0.0 for c in channels])
    if w.sum() == 0:
        w = np.ones_like(w)

    def total(t: float) -> float:
        return float(np.clip(t * w, lo, hi).sum())

    t_lo, t_hi = 0.0, 1.0
    while total(t_hi) < 1 and t_hi < 1e18:
        t_hi *= 2
    for _ in range(200):
        mid = (t_lo + t_hi) / 2
        if total(mid) < 1:
            t_lo = mid
        else:
            t_hi = mid
    t = t_hi
    shares = np.clip(t * w, lo, hi)
    shares = shares / shares.sum()
    binding = [
        "lower"
        if t * wi <= lo_i + 1e-12 and lo_i > 0
        else "upper"
        if t * wi >= hi_i - 1e-12
        else "none"
        for wi, lo_i, hi_i in zip(w, lo, hi, strict=True)
    ]
    return shares, binding


def allocate(
    channels: list[ChannelInput], total_budget: float, currency: str
) -> list[ChannelAllocation]:
    """Allocate ``total_budget`` (in currency units) across channels by inverse CPA."""
    unit = billable_unit_micros(currency)
    total_micros = round(total_budget * 1_000_000 / unit) * unit
    shares, binding = inverse_cpa_shares(channels)
    micros = split_micros(total_micros, shares, unit)
    return [
        ChannelAllocation(
            name=c.name,
            share=float(s),
            budget_micros=m,
            cpa=(c.spend / c.conversions) if c.conversions > 0 else None,
            binding=b,
        )
        for c, s, m, b in zip(channels, shares, micros, binding, strict=True)
    ]
