"""Guardrails as constraints: per-channel floors and caps, and the check that they can all hold.

A floor and a cap per channel, at most ``max_change`` away from the previous flight's spend, at
most ``max_multiple_of_observed`` times the highest spend ever seen (beyond it the curve is an
extrapolation), locked channels and an incremental mode: :func:`bounds` turns them into the
bounds the solver and both baselines are solved under, naming the guardrail behind each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Relative slack when comparing sums of bounds with the budget: bounds and budgets computed
# in floating point (0.7 * previous, ...) must not turn an exactly feasible plan infeasible.
_FEASIBILITY_RTOL = 1e-12


class InfeasibleGuardrails(ValueError):
    """The guardrails cannot be met by any allocation; the message names them."""


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
