"""Per-channel saturating response curves fitted on daily spend and conversions.

Each channel gets a Michaelis–Menten curve ``conversions/day = vmax * a / (k + a)`` (a Hill
curve of slope one: concave, zero at zero), where ``a`` is the normalized geometric adstock of
daily spend with a carry-over rate chosen from a small grid by expanding-window time-series
cross-validation. When the fitted ``k`` lies beyond ``linear_k_multiple`` times the highest
spend seen (or the fit fails), the history never reached saturation and ``k`` is not
identified: ``k`` is then fixed at that multiple and only ``vmax`` is fitted, a curve that is
nearly linear over the observed range but still concave, so the allocator treats every channel
alike. A residual bootstrap (carry-over fixed) gives the uncertainty of ``vmax`` and ``k``;
a resample whose ``k`` leaves the identifiable range takes the same linear fallback, so a
channel near the edge shows it as a share of near-linear draws.

The frame is :mod:`retail_assets.lib.activation.media`'s media history.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.signal import lfilter

from retail_assets.lib.activation.media import stable_hash

REGIMES = ("saturating", "linear")
#: Fewer days than this and the carry-over is not cross-validated (the first grid value is used).
MIN_CV_DAYS = 35
_CV_FOLDS = 3
_MAX_NFEV = 200
_BOOT_MAX_NFEV = 50


@dataclass(frozen=True)
class FittedCurve:
    """A channel's fitted daily response curve, its fit quality and bootstrap draws.

    ``response(x)`` is the daily conversions at a steady daily spend ``x`` (at steady state
    the adstock of ``x`` is ``x``). Money is in the history's currency units per day.
    """

    channel: str
    vmax: float
    k: float
    adstock: float
    regime: str
    n_obs: int
    max_spend: float
    mean_spend_recent: float
    r2: float
    rmse: float
    total_spend: float
    total_conversions: float
    value_per_conversion: float | None
    bootstrap_vmax: np.ndarray = field(compare=False, repr=False)
    bootstrap_k: np.ndarray = field(compare=False, repr=False)

    def response(self, x):
        """Daily conversions at a steady daily spend ``x`` (vectorized)."""
        x = np.asarray(x, dtype=float)
        return self.vmax * x / (self.k + x)

    def marginal(self, x):
        """Extra daily conversions per extra unit of daily spend at ``x`` (vectorized)."""
        x = np.asarray(x, dtype=float)
        return self.vmax * self.k / (self.k + x) ** 2

    def bootstrap_response(self, x):
        """``response(x)`` under every bootstrap draw: shape ``(n_boot,) + shape(x)``."""
        x = np.asarray(x, dtype=float)
        v = self.bootstrap_vmax.reshape((-1,) + (1,) * x.ndim)
        k = self.bootstrap_k.reshape((-1,) + (1,) * x.ndim)
        return v * x / (k + x)

    def bootstrap_marginal(self, x):
        """``marginal(x)`` under every bootstrap draw: shape ``(n_boot,) + shape(x)``."""
        x = np.asarray(x, dtype=float)
        v = self.bootstrap_vmax.reshape((-1,) + (1,) * x.ndim)
        k = self.bootstrap_k.reshape((-1,) + (1,) * x.ndim)
        return v * k / (k + x) ** 2


def adstock(spend: np.ndarray, theta: float) -> np.ndarray:
    """Normalized geometric adstock of consecutive daily spends.

    ``a_t = sum_j theta**j x_{t-j} / sum_j theta**j`` over the days available, so a constant
    spend gives itself and the first days of the history are not biased towards zero.
    """
    x = np.asarray(spend, dtype=float)
    if theta == 0:
        return x.copy()
    carry = lfilter([1.0], [1.0, -theta], x)
    weight = lfilter([1.0], [1.0, -theta], np.ones_like(x))
    return carry / weight


def _mm(x, vmax, k):
    return vmax * x / (k + x)


def _mm_jac(x, vmax, k):
    g = 1.0 / (k + x)
    return np.column_stack([x * g, -vmax * x * g * g])


def _vmax_given_k(x: np.ndarray, y: np.ndarray, k: float) -> float:
    # Least squares of y on g = x / (k + x) through the origin.
    g = x / (k + x)
    gg = float(g @ g)
    return max(float(g @ y) / gg, 0.0) if gg > 0 else 0.0


def _fit_mm(
    x: np.ndarray,
    y: np.ndarray,
    k_cap: float,
    p0: tuple[float, float] | None = None,
    max_nfev: int = _MAX_NFEV,
) -> tuple[float, float, str]:
    """Least-squares (vmax, k, regime); the linear fallback when k is beyond ``k_cap``."""
    positive = x[x > 0]
    if positive.size and y.any():
        if p0 is None:
            p0 = (2.0 * float(y.max()), float(np.median(positive)))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", OptimizeWarning)
                (vmax, k), _ = curve_fit(
                    _mm,
                    x,
                    y,
                    p0=p0,
                    jac=_mm_jac,
                    bounds=([0.0, 0.0], [np.inf, np.inf]),
                    method="trf",
                    x_scale="jac",
                    max_nfev=max_nfev,
                )
        except (RuntimeError, OptimizeWarning, ValueError):
            vmax = k = np.nan
        if np.isfinite(vmax) and np.isfinite(k) and vmax > 0 and 0 < k <= k_cap:
            return float(vmax), float(k), "saturating"
    return _vmax_given_k(x, y, k_cap), float(k_cap), "linear"


def _cv_rmse(x: np.ndarray, y: np.ndarray, k_cap: float) -> float:
    """Mean out-of-sample RMSE over expanding-window folds (train on the past, test the next)."""
    n = len(y)
    horizon = n // (_CV_FOLDS + 2)
    errors = []
    for fold in range(_CV_FOLDS):
        end = n - (_CV_FOLDS - fold) * horizon
        vmax, k, _ = _fit_mm(x[:end], y[:end], k_cap)
        test = slice(end, end + horizon)
        errors.append(np.sqrt(np.mean((y[test] - _mm(x[test], vmax, k)) ** 2)))
    return float(np.mean(errors))


def fit_channel(
    history: pl.DataFrame,
    *,
    adstock_grid: Sequence[float] = (0.0, 0.2, 0.4, 0.6),
    n_boot: int = 200,
    seed: int = 0,
    linear_k_multiple: float = 10.0,
    recent_days: int = 7,
) -> FittedCurve:
    """Fit one channel's response curve on its daily history.

    Days missing between the first and last date count as zero spend for the adstock and are
    left out of the fit (a long-format export has no row for a day without spend).

    Args:
        history: One channel's rows of a media history frame (``date``, ``channel``,
            ``spend``, ``conversions``, optionally ``revenue``).
        adstock_grid: Carry-over rates to choose from by time-series cross-validation; ties go
            to the earlier value.
        n_boot: Residual-bootstrap resamples.
        seed: Seed of the bootstrap (combined with the channel name).
        linear_k_multiple: ``k`` beyond this multiple of the highest daily spend means the
            linear regime; ``k`` is then fixed there.
        recent_days: Days at the end of the history averaged into ``mean_spend_recent``.

    Returns:
        The fitted curve.

    Raises:
        ValueError: The frame holds no rows or more than one channel.

    """
    channels = history["channel"].unique().to_list()
    if len(channels) != 1:
        raise ValueError(f"fit_channel needs the rows of exactly one channel, got {channels}")
    if not adstock_grid:
        raise ValueError("adstock_grid is empty")
    channel = channels[0]
    history = history.sort("date")
    first = history["date"][0]
    offset = (history["date"] - first).dt.total_days().to_numpy()
    daily = np.zeros(int(offset[-1]) + 1)
    daily[offset] = history["spend"].to_numpy().astype(float)
    y = history["conversions"].to_numpy().astype(float)
    raw = history["spend"].to_numpy().astype(float)
    max_spend = float(raw.max())
    k_cap = linear_k_multiple * max_spend if max_spend > 0 else 1.0

    theta = float(adstock_grid[0])
    if len(y) >= MIN_CV_DAYS and len(adstock_grid) > 1:
        # Zero-filled gaps feed the adstock but are not scored: they have no conversions.
        scores = [_cv_rmse(adstock(daily, float(t))[offset], y, k_cap) for t in adstock_grid]
        theta = float(adstock_grid[int(np.argmin(scores))])
    x = adstock(daily, theta)[offset]
    vmax, k, regime = _fit_mm(x, y, k_cap)
    fitted = _mm(x, vmax, k)
    resid = y - fitted
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / sst if sst > 0 else float("nan")
    rmse = float(np.sqrt(np.mean(resid**2)))

    rng = np.random.default_rng([seed, stable_hash(channel)])
    draws = rng.integers(0, len(y), size=(n_boot, len(y)))
    boot_v = np.empty(n_boot)
    boot_k = np.empty(n_boot)
    for b in range(n_boot):
        y_b = fitted + resid[draws[b]]
        if regime == "linear":
            boot_v[b], boot_k[b] = _vmax_given_k(x, y_b, k), k
        else:
            boot_v[b], boot_k[b], _ = _fit_mm(x, y_b, k_cap, (vmax, k), _BOOT_MAX_NFEV)

    revenue = history["revenue"] if "revenue" in history.columns else None
    total_conversions = float(y.sum())
    value = None
    if revenue is not None and revenue.null_count() == 0 and total_conversions > 0:
        value = float(revenue.sum()) / total_conversions
    return FittedCurve(
        channel=channel,
        vmax=vmax,
        k=k,
        adstock=theta,
        regime=regime,
        n_obs=len(y),
        max_spend=max_spend,
        mean_spend_recent=float(daily[-recent_days:].mean()),
        r2=r2,
        rmse=rmse,
        total_spend=float(raw.sum()),
        total_conversions=total_conversions,
        value_per_conversion=value,
        bootstrap_vmax=boot_v,
        bootstrap_k=boot_k,
    )


def fit_curves(history: pl.DataFrame, **kwargs) -> dict[str, FittedCurve]:
    """:func:`fit_channel` for every channel of a media history, keyed and sorted by channel."""
    return {
        name: fit_channel(history.filter(pl.col("channel") == name), **kwargs)
        for name in sorted(history["channel"].unique().to_list())
    }
