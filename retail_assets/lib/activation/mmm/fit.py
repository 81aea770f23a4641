"""Fitting the media mix model: :func:`fit_mmm` with a holdout and a block bootstrap.

Uncertainty is a moving-block residual bootstrap (each resample refitted from the point
estimate, under prior centres drawn from the prior); validation holds out the last periods.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from retail_assets.lib.activation.media import AggregateHistory, stable_hash
from retail_assets.lib.activation.mmm.design import (
    _YEAR_DAYS,
    MIN_PERIODS,
    POOL_ROI_SD,
    PRIOR_LOG_K,
    PRIOR_THETA,
    _Design,
    _metrics,
    _optimize,
    _starts,
    fourier,
)
from retail_assets.lib.activation.mmm.result import MMMResult


# Small matrices: BLAS threads only add overhead (and contention on a busy machine).
@threadpool_limits.wrap(limits=1)
def fit_mmm(
    dates: Sequence[dt.date],
    y: np.ndarray,
    spend: Mapping[str, np.ndarray],
    controls: Mapping[str, np.ndarray] | None = None,
    *,
    period_days: int = 7,
    fourier_order: int = 2,
    holdout_periods: int | None = None,
    n_boot: int = 100,
    block: int | None = None,
    ridge: float = 1e-3,
    ridge_media: float = 1e-4,
    n_starts: int = 4,
    prior: float = 10.0,
    pool: float | None = POOL_ROI_SD,
    randomize_prior: bool = True,
    seed: int = 0,
    shape: tuple[Sequence[float], Sequence[float]] | None = None,
) -> MMMResult:
    """Fit the media mix model on consecutive periods.

    Args:
        dates: The first day of each period, ascending, evenly spaced by ``period_days``.
        y: The outcome per period (revenue or conversions).
        spend: Spend per period by channel (currency units).
        controls: Control series by name (numbers; dummies for events), any sign of effect.
        period_days: 7 for weekly data, 1 for daily (adds a day-of-week cycle).
        fourier_order: Harmonics of the yearly cycle.
        holdout_periods: Last periods held out for validation (default: about 10 %, at
            least 4); 0 for none. The published fit uses every period.
        n_boot: Moving-block residual-bootstrap resamples (0 for none).
        block: Block length of the bootstrap in periods (default 4 weekly, 14 daily).
        ridge: Ridge penalty on the standardized trend, season and control coefficients.
        ridge_media: Ridge penalty on the standardized media coefficients.
        n_starts: Starting points of the nonlinear search (the first is fixed).
        prior: Weight of the weak prior on carry-over (0.3 +- 0.3) and log half-saturation
            (1.65x the mean spend, x/ e^{+-1}), in noise units (about ``prior``
            pseudo-observations against ``n``); 0 for plain least squares. It curbs the
            adstock/saturation trade-off that otherwise overfits noise (benchmarks/mmm.py).
        pool: Relative sd of a Gaussian prior of every channel's ROI around the channels'
            common ROI (hierarchical shrinkage toward a pooled ROI rather than toward zero,
            in noise units); ``None`` or 0 for none. It steadies the small channels' ROIs at
            the cost of pulling the extreme ones toward the others (benchmarks/mmm.py).
        randomize_prior: Refit each bootstrap resample under carry-over and half-saturation
            prior centres drawn from the prior (so the intervals show the shapes'
            uncertainty, not only the noise's); False keeps the prior fixed.
        seed: Seed of the starts and the bootstrap.
        shape: Known ``(carry-overs, half-saturations per period)`` by channel order (e.g.
            from lift tests, or the truth in a benchmark): only the linear part is fitted.

    Raises:
        ValueError: Too few periods, mismatched lengths, or a channel without spend.

    """
    started = time.perf_counter()
    y = np.asarray(y, dtype=float)
    n = len(y)
    channels = tuple(spend)
    x = np.column_stack([np.asarray(spend[c], dtype=float) for c in channels])
    controls = dict(controls or {})
    if x.shape[0] != n or any(len(v) != n for v in controls.values()) or len(dates) != n:
        raise ValueError("dates, outcome, spend and controls must have the same length")
    if n < MIN_PERIODS:
        raise ValueError(f"a media mix model needs at least {MIN_PERIODS} periods, got {n}")
    silent = [c for i, c in enumerate(channels) if not (x[:, i] > 0).any()]
    if silent:
        raise ValueError(f"channels without any spend: {silent}")
    t_days = np.array([(d - dates[0]).days for d in dates], dtype=float)
    cols = [np.ones(n), (t_days - t_days.mean()) / (t_days.std() or 1.0)]
    fixed = np.column_stack([*cols, fourier(t_days, _YEAR_DAYS, fourier_order)])
    if period_days == 1:
        fixed = np.column_stack([fixed, fourier(t_days, 7.0, 3)])
    for v in controls.values():
        v = np.asarray(v, dtype=float)
        sd = v.std()
        fixed = np.column_stack([fixed, (v - v.mean()) / sd if sd > 0 else v * 0])
    # The outcome on a unit scale keeps the penalties comparable across retailers.
    scale = float(np.abs(y).mean()) or 1.0
    ys = y / scale
    design = _Design(ys, x, fixed, ridge, ridge_media)
    # The penalties' weights are in units of the noise: the residual variance at the prior's
    # centre.
    centre = np.r_[np.full(x.shape[1], PRIOR_THETA[0]), np.full(x.shape[1], PRIOR_LOG_K[0])]
    design.noise_var = design.loss(centre, ys)
    design.prior = prior
    if pool:
        # ROIs shrunk toward their common mean with a relative sd ``pool``; the scale is the
        # pooled ROI at the prior's centre.
        *_, contrib0 = design.predict(centre, ys)
        roi0 = max(float(contrib0.sum() / x.sum()), 1e-12)
        design.pool_weight = design.noise_var / (pool * roi0) ** 2
    rng = np.random.default_rng([seed, stable_hash("mmm")])
    starts = _starts(len(channels), n_starts, rng)
    known = None
    if shape is not None:
        known = np.r_[
            np.asarray(shape[0], float), np.log(np.asarray(shape[1], float) / design.scale)
        ]

    def optimize(y_, starts_, rows, maxiter):
        return known if known is not None else _optimize(design, y_, starts_, rows, maxiter)

    if holdout_periods is None:
        holdout_periods = max(4, n // 10)
    h_r2 = h_mape = h_fit = None
    if holdout_periods:
        train = slice(0, n - holdout_periods)
        z_h = optimize(ys, starts, train, 200)
        *_, base_h, contrib_h = design.predict(z_h, ys, train)
        h_fit = (base_h + contrib_h.sum(axis=1))[n - holdout_periods :] * scale
        h_r2, h_mape = _metrics(y[n - holdout_periods :], h_fit)

    z = optimize(ys, starts, slice(None), 300)
    theta, k, beta, base, contrib = design.predict(z, ys)
    fitted_s = base + contrib.sum(axis=1)
    r2, mape = _metrics(ys, fitted_s)

    block = block or (4 if period_days >= 7 else 14)
    resid = ys - fitted_s
    m = len(channels)
    boot = {name: np.empty((n_boot, m)) for name in ("theta", "k", "beta", "roi")}
    total_spend = x.sum(axis=0)
    prior_sd = np.r_[np.full(m, PRIOR_THETA[1]), np.full(m, PRIOR_LOG_K[1])]
    for b in range(n_boot):
        starts_b = rng.integers(0, n - block + 1, size=int(np.ceil(n / block)))
        idx = (starts_b[:, None] + np.arange(block)).ravel()[:n]
        r_b = resid[idx]
        y_b = fitted_s + r_b - r_b.mean()
        if randomize_prior:
            # Each resample under a prior centre drawn from the prior itself (a randomized
            # prior): the draws then carry the half-saturation's uncertainty, which the
            # data hardly reduce, and not only the noise's.
            design.prior_shift = rng.normal(0, prior_sd)
        z_b = optimize(y_b, [z], slice(None), 60)
        th_b, k_b, be_b, _, c_b = design.predict(z_b, y_b)
        boot["theta"][b], boot["k"][b], boot["beta"][b] = th_b, k_b, be_b * scale
        boot["roi"][b] = c_b.sum(axis=0) * scale / np.maximum(total_spend, 1e-12)
    design.prior_shift = np.zeros(2 * m)

    return MMMResult(
        dates=list(dates),
        period_days=period_days,
        channels=channels,
        y=y,
        spend=x,
        fitted=fitted_s * scale,
        contributions=contrib * scale,
        baseline=base * scale,
        theta=theta,
        k=k,
        beta=beta * scale,
        r2=r2,
        mape=mape,
        holdout_periods=holdout_periods,
        holdout_r2=h_r2,
        holdout_mape=h_mape,
        holdout_fitted=h_fit,
        fit_seconds=time.perf_counter() - started,
        boot_theta=boot["theta"],
        boot_k=boot["k"],
        boot_beta=boot["beta"],
        boot_roi=boot["roi"],
    )


def fit_history(history: AggregateHistory, **kwargs) -> MMMResult:
    """:func:`fit_mmm` on an aggregate media history (planned channels, then other media)."""
    f = history.frame
    return fit_mmm(
        f["date"].to_list(),
        f["outcome"].to_numpy(),
        {c: f[c].to_numpy() for c in (*history.channels, *history.other_media)},
        {c: f[c].to_numpy() for c in history.controls},
        period_days=history.period_days,
        **kwargs,
    )
