"""The flight plan: optimized and baseline allocations with expected outcomes and micros.

:func:`plan_allocation` works with flight totals: a flight of ``D`` days with channel spend
``S`` gives ``D * f(S / D)`` conversions, i.e. ``V' = D * V`` and ``K' = D * K``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from retail_assets.lib.activation.allocation.guardrails import Guardrails, bounds
from retail_assets.lib.activation.allocation.money import to_micros
from retail_assets.lib.activation.allocation.solver import (
    baseline_binding,
    historical,
    inverse_cpa,
    solve,
)
from retail_assets.lib.activation.response_curves import FittedCurve

METHODS = ("optimized", "inverse_cpa", "historical")


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
