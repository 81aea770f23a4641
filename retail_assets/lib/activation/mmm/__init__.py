"""A media mix model on an aggregate outcome: spend per channel, controls, trend and seasons.

For retailers without conversions attributed per channel (the usual case, and the shape of
Robyn's, Meridian's and PyMC-Marketing's inputs): one outcome per period (weekly or daily
revenue or conversions), spend per channel, optional controls. The model is

``y_t = b0 + b1 t + fourier_t + sum_c g_c z_{c,t} + sum_m beta_m a_{m,t} / (k_m + a_{m,t}) + e_t``

where ``a_m`` is the normalized geometric adstock of channel ``m``'s spend
(:func:`retail_assets.lib.activation.response_curves.adstock`, so a steady spend ``x`` gives ``a =
x``) and the saturation is a Hill curve of slope one: Michaelis-Menten, the curve the allocator
takes. The carry-over ``theta_m`` and half-saturation ``k_m`` of every channel are fitted
jointly (L-BFGS-B over the profiled loss, from a few starts); given them, the linear
coefficients come from a ridge-penalized least squares with non-negative media betas
(NNLS on the penalized system), the channels' ROIs shrunk toward their common ROI (``pool``),
and weak priors on carry-over and half-saturation. Uncertainty is a moving-block residual
bootstrap (each resample refitted from the point estimate); validation holds out the last
periods.

ROI of a channel is its total modelled contribution over the history divided by its total
spend (outcome units per currency unit: ROAS for a revenue outcome, conversions per unit of
spend for conversions). Marginal ROI is the slope of the steady-state curve at the channel's
mean spend over the last periods. Both are only as good as the spend variation lets them be:
correlated spend makes the split between channels uncertain, and the bootstrap shows it.
For a channel that is always on, the ROI rests on the curve's extrapolation to zero spend
(its half-saturation, weakly identified): its marginal ROI is the better-measured figure.

The package is split by concern: :mod:`.design` (constants, priors, the profiled loss and its
search), :mod:`.fit` (:func:`fit_mmm`, :func:`fit_history`), :mod:`.result` (:class:`MMMResult`
and :func:`long_history`) and :mod:`.simulate` (a weekly history with known truth). The names
below are re-exported for callers; the submodules import each other by full module path, never
from here.
"""

from retail_assets.lib.activation.mmm.design import (
    K_RANGE,
    MIN_PERIODS,
    POOL_ROI_SD,
    PRIOR_LOG_K,
    PRIOR_THETA,
    THETA_RANGE,
    fourier,
)
from retail_assets.lib.activation.mmm.fit import fit_history, fit_mmm
from retail_assets.lib.activation.mmm.result import MMMResult, long_history
from retail_assets.lib.activation.mmm.simulate import SIM_CHANNELS, SimulatedMMM, simulate_weekly

# The transform the model uses, reachable here as it was from the single module.
from retail_assets.lib.activation.response_curves import adstock

__all__ = [
    "K_RANGE",
    "MIN_PERIODS",
    "POOL_ROI_SD",
    "PRIOR_LOG_K",
    "PRIOR_THETA",
    "SIM_CHANNELS",
    "THETA_RANGE",
    "MMMResult",
    "SimulatedMMM",
    "adstock",
    "fit_history",
    "fit_mmm",
    "fourier",
    "long_history",
    "simulate_weekly",
]
