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

The package is split by concern: :mod:`.money` (micros and billable units),
:mod:`.guardrails` (bounds and feasibility), :mod:`.solver` (the optimum and the baselines) and
:mod:`.plan` (the flight plan with expected outcomes). The names below are re-exported for
callers; the submodules import each other by full module path, never from here.
"""

from retail_assets.lib.activation.allocation.guardrails import (
    Bounds,
    ChannelGuardrail,
    Guardrails,
    InfeasibleGuardrails,
    bounds,
    check_feasible,
)
from retail_assets.lib.activation.allocation.money import (
    CURRENCY_EXPONENT,
    billable_unit_micros,
    split_micros,
    to_micros,
    total_micros,
)
from retail_assets.lib.activation.allocation.plan import (
    METHODS,
    AllocationPlan,
    ChannelPlan,
    MethodTotal,
    expected_outcomes,
    plan_allocation,
)
from retail_assets.lib.activation.allocation.solver import (
    Solution,
    baseline_binding,
    historical,
    inverse_cpa,
    kkt_residuals,
    solve,
)

__all__ = [
    "CURRENCY_EXPONENT",
    "METHODS",
    "AllocationPlan",
    "Bounds",
    "ChannelGuardrail",
    "ChannelPlan",
    "Guardrails",
    "InfeasibleGuardrails",
    "MethodTotal",
    "Solution",
    "baseline_binding",
    "billable_unit_micros",
    "bounds",
    "check_feasible",
    "expected_outcomes",
    "historical",
    "inverse_cpa",
    "kkt_residuals",
    "plan_allocation",
    "solve",
    "split_micros",
    "to_micros",
    "total_micros",
]
