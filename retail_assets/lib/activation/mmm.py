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
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.optimize import minimize, nnls
from threadpoolctl import threadpool_limits

from retail_assets.lib.activation.media import AggregateHistory, stable_hash
from retail_assets.lib.activation.response_curves import FittedCurve, adstock

#: Half-saturation bounds, as multiples of the channel's mean positive spend per period.
K_RANGE = (0.5, 10.0)
#: Carry-over bounds per period.
THETA_RANGE = (0.0, 0.9)
_YEAR_DAYS = 365.25
#: Fewest periods a model is fitted on.
MIN_PERIODS = 26
#: Prior (mean, sd) of the carry-over and of log(k / mean spend): weak; k centred at 1.65x
#: the mean spend (a channel bought below its half-saturation, as planned budgets are), which
#: keeps the curve from flattening into a step the intercept absorbs (benchmarks/mmm.py).
PRIOR_THETA = (0.3, 0.3)
PRIOR_LOG_K = (0.5, 1.0)
#: Relative sd of the channels' ROIs around their common ROI (the default ``pool``).
POOL_ROI_SD = 0.5


@dataclass(frozen=True)
class MMMResult:
    """A fitted media mix model: parameters, decomposition, holdout figures and draws."""

    dates: list[dt.date]
    period_days: int
    channels: tuple[str, ...]
    y: np.ndarray
    spend: np.ndarray  # (n, m)
    fitted: np.ndarray
    contributions: np.ndarray  # (n, m), outcome units per period
    baseline: np.ndarray  # intercept, trend, seasonality and controls
    theta: np.ndarray
    k: np.ndarray  # period units
    beta: np.ndarray  # period units (outcome per period at saturation)
    r2: float
    mape: float
    holdout_periods: int
    holdout_r2: float | None
    holdout_mape: float | None
    holdout_fitted: np.ndarray | None  # the holdout model's predictions over the holdout
    fit_seconds: float
    boot_theta: np.ndarray = field(repr=False)  # (n_boot, m)
    boot_k: np.ndarray = field(repr=False)
    boot_beta: np.ndarray = field(repr=False)
    boot_roi: np.ndarray = field(repr=False)

    @property
    def roi(self) -> np.ndarray:
        """Total contribution / total spend per channel over the history."""
        total = self.spend.sum(axis=0)
        return np.where(total > 0, self.contributions.sum(axis=0) / np.maximum(total, 1e-12), 0)

    def recent_spend(self, periods: int) -> np.ndarray:
        """Mean spend per period over the last ``periods`` periods, per channel."""
        return self.spend[-max(periods, 1) :].mean(axis=0)

    def mroi(self, at: np.ndarray, beta=None, k=None) -> np.ndarray:
        """Steady-state marginal return per unit of spend at spend ``at`` (per period)."""
        beta = self.beta if beta is None else beta
        k = self.k if k is None else k
        return beta * k / (k + at) ** 2

    def roi_table(self, recent_periods: int = 4) -> pl.DataFrame:
        """ROI and marginal ROI per channel with 90 % bootstrap intervals."""
        at = self.recent_spend(recent_periods)
        boot_mroi = self.mroi(at, self.boot_beta, self.boot_k)
        boot_roi = self.boot_roi
        if not len(boot_roi):  # no bootstrap: the intervals collapse on the estimate
            boot_roi, boot_mroi = self.roi[None, :], self.mroi(at)[None, :]
        mroi = self.mroi(at)
        share = self.contributions.sum(axis=0) / max(float(self.fitted.sum()), 1e-12)
        return pl.DataFrame(
            {
                "channel": list(self.channels),
                "spend": self.spend.sum(axis=0),
                "contribution": self.contributions.sum(axis=0),
                "contribution_share": share,
                "roi": self.roi,
                "roi_p05": np.percentile(boot_roi, 5, axis=0),
                "roi_p95": np.percentile(boot_roi, 95, axis=0),
                "mroi": mroi,
                "mroi_p05": np.percentile(boot_mroi, 5, axis=0),
                "mroi_p95": np.percentile(boot_mroi, 95, axis=0),
                "adstock": self.theta,
                "k_per_period": self.k,
                "beta_per_period": self.beta,
            }
        )

    def decomposition(self) -> pl.DataFrame:
        """One row per period: date, actual, fitted, baseline and each channel's contribution."""
        return pl.DataFrame(
            {
                "date": self.dates,
                "actual": self.y,
                "fitted": self.fitted,
                "baseline": self.baseline,
                **{ch: self.contributions[:, i] for i, ch in enumerate(self.channels)},
            }
        )

    def curves(
        self,
        recent_days: int = 7,
        value_per_unit: float | None = None,
        linear_k_multiple: float = 10.0,
    ) -> dict[str, FittedCurve]:
        """Daily Michaelis-Menten curves for the allocator, one per channel.

        A period's curve ``beta a / (k + a)`` at a steady spend is, per day,
        ``(beta / d) x_d / (k / d + x_d)`` with ``d`` the period's days and ``x_d = a / d``:
        so ``vmax = beta / d`` and ``k = k / d`` (weekly to daily: divide both by 7). The
        curve's "conversions" are the outcome's units (revenue for a revenue outcome, with
        ``value_per_unit`` 1).
        """
        d = float(self.period_days)
        periods = max(1, int(np.ceil(recent_days / d)))
        recent = self.recent_spend(periods) / d
        resid = self.y - self.fitted
        rmse = float(np.sqrt(np.mean(resid**2))) / d
        out = {}
        for i, ch in enumerate(self.channels):
            max_spend = float(self.spend[:, i].max()) / d
            k = float(self.k[i]) / d
            regime = "linear" if k >= linear_k_multiple * max_spend * 0.999 else "saturating"
            out[ch] = FittedCurve(
                channel=ch,
                vmax=float(self.beta[i]) / d,
                k=k,
                adstock=float(self.theta[i]),
                regime=regime,
                n_obs=len(self.y) * self.period_days,
                max_spend=max_spend,
                mean_spend_recent=float(recent[i]),
                r2=self.r2,
                rmse=rmse,
                total_spend=float(self.spend[:, i].sum()),
                total_conversions=float(self.contributions[:, i].sum()),
                value_per_conversion=value_per_unit,
                bootstrap_vmax=self.boot_beta[:, i] / d,
                bootstrap_k=self.boot_k[:, i] / d,
            )
        return out


def fourier(t_days: np.ndarray, period_days: float, order: int) -> np.ndarray:
    """Sine and cosine terms of ``order`` harmonics of a ``period_days`` cycle."""
    cols = []
    for j in range(1, order + 1):
        w = 2 * np.pi * j * t_days / period_days
        cols += [np.sin(w), np.cos(w)]
    return np.column_stack(cols) if cols else np.empty((len(t_days), 0))


class _Design:
    """The fixed columns (intercept, trend, seasons, controls) and the media of one fit."""

    def __init__(
        self,
        y: np.ndarray,
        spend: np.ndarray,
        fixed: np.ndarray,
        ridge: float,
        ridge_media: float,
    ):
        self.y = y
        self.spend = spend
        self.fixed = fixed
        n, m = spend.shape
        self.n, self.m = n, m
        self.scale = np.array(
            [s[s > 0].mean() if (s > 0).any() else 1.0 for s in spend.T], dtype=float
        )
        # Ridge on the standardized non-intercept columns; the intercept is free.
        p = fixed.shape[1]
        self.pen_fixed = np.r_[0.0, np.full(p - 1, np.sqrt(ridge * n))]
        self.ridge_media = np.sqrt(ridge_media * n)
        self._adstock_cache: dict[tuple[int, float], np.ndarray] = {}
        self._profiles: dict = {}
        self.prior = 0.0
        self.noise_var = 1.0
        self.pool_weight = 0.0
        self.prior_shift = np.zeros(2 * m)

    def adstocked(self, i: int, theta: float) -> np.ndarray:
        key = (i, round(theta, 6))
        a = self._adstock_cache.get(key)
        if a is None:
            if len(self._adstock_cache) > 20000:
                self._adstock_cache.clear()
            a = adstock(self.spend[:, i], theta)
            self._adstock_cache[key] = a
        return a

    def media(self, theta: np.ndarray, k: np.ndarray) -> np.ndarray:
        cols = [self.adstocked(i, theta[i]) for i in range(self.m)]
        return np.column_stack([a / (k[i] + a) for i, a in enumerate(cols)])

    def _profile(self, rows: slice):
        """Square root of the residual maker of the ridge fit on the fixed columns.

        Profiling the ridge-penalized fixed coefficients out of the loss leaves
        ``(y - G b)' M (y - G b)`` with ``M = I - F (F'F + L)^-1 F'``, so only the few
        non-negative media coefficients are left to the NNLS.
        """
        key = (rows.start, rows.stop)
        cached = self._profiles.get(key)
        if cached is None:
            f = self.fixed[rows]
            gram = f.T @ f + np.diag(self.pen_fixed**2 + 1e-9)
            solve_f = np.linalg.solve(gram, f.T)
            w, v = np.linalg.eigh(np.eye(f.shape[0]) - f @ solve_f)
            root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
            cached = self._profiles[key] = (root, solve_f)
        return cached

    def solve(self, y: np.ndarray, g: np.ndarray, rows: slice = slice(None)):
        """Penalized least squares: fixed coefficients free, media coefficients >= 0.

        With ``pool_weight`` the channels' ROIs are shrunk toward their common mean (a
        hierarchical prior on ROI, as Bayesian MMMs put one): rows
        ``sqrt(w) (roi_m - mean roi)`` join the NNLS system, ``roi_m = beta_m c_m`` with
        ``c_m`` the channel's summed saturated adstock over its summed spend.
        """
        root, solve_f = self._profile(rows)
        gm = g[rows]
        gs = gm.std(axis=0) + 1e-9
        blocks = [root @ (gm / gs), np.eye(self.m) * self.ridge_media]
        if self.pool_weight:
            c = gm.sum(axis=0) / self.spend_sum(rows)
            center = np.eye(self.m) - 1.0 / self.m
            blocks.append(np.sqrt(self.pool_weight) * center * (c / gs))
        a = np.vstack(blocks)
        yy = np.r_[root @ y[rows], np.zeros(a.shape[0] - len(gm))]
        coef, _ = nnls(a, yy, maxiter=50 * self.m)
        beta = coef / gs
        fixed_coef = solve_f @ (y[rows] - gm @ beta)
        return fixed_coef, beta

    def spend_sum(self, rows: slice) -> np.ndarray:
        return np.maximum(self.spend[rows].sum(axis=0), 1e-12)

    def pool_penalty(self, g: np.ndarray, beta: np.ndarray, rows: slice) -> float:
        """The ROI-pooling penalty of a solution, per observation (as in :meth:`loss`)."""
        if not self.pool_weight:
            return 0.0
        roi = beta * g[rows].sum(axis=0) / self.spend_sum(rows)
        n = len(g[rows])
        return self.pool_weight * float(((roi - roi.mean()) ** 2).sum()) / n

    def unpack(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = z[: self.m]
        k = np.exp(z[self.m :]) * self.scale
        return theta, k

    def loss(self, z: np.ndarray, y: np.ndarray, rows: slice = slice(None)) -> float:
        theta, k = self.unpack(z)
        g = self.media(theta, k)
        fc, beta = self.solve(y, g, rows)
        r = y[rows] - self.fixed[rows] @ fc - g[rows] @ beta
        return float(r @ r) / len(r) + self.prior_penalty(z) + self.pool_penalty(g, beta, rows)

    def prior_penalty(self, z: np.ndarray) -> float:
        """A weak Gaussian prior on carry-over and log half-saturation, as a MAP penalty."""
        if not self.prior:
            return 0.0
        theta = z[: self.m] - self.prior_shift[: self.m]
        logk = z[self.m :] - self.prior_shift[self.m :]
        dev = ((theta - PRIOR_THETA[0]) / PRIOR_THETA[1]) ** 2 + (
            (logk - PRIOR_LOG_K[0]) / PRIOR_LOG_K[1]
        ) ** 2
        return self.prior * self.noise_var / self.n * float(dev.sum())

    def predict(self, z: np.ndarray, y: np.ndarray, rows: slice = slice(None)):
        theta, k = self.unpack(z)
        g = self.media(theta, k)
        fc, beta = self.solve(y, g, rows)
        return theta, k, beta, self.fixed @ fc, g * beta

    def bounds(self) -> list[tuple[float, float]]:
        return [THETA_RANGE] * self.m + [tuple(np.log(K_RANGE))] * self.m


def _optimize(design: _Design, y: np.ndarray, starts: Sequence[np.ndarray], rows, maxiter: int):
    best = None
    for z0 in starts:
        res = minimize(
            design.loss,
            z0,
            args=(y, rows),
            method="L-BFGS-B",
            bounds=design.bounds(),
            options={"maxiter": maxiter, "eps": 1e-4},
        )
        if best is None or res.fun < best.fun:
            best = res
    return best.x


def _starts(m: int, n_starts: int, rng: np.random.Generator) -> list[np.ndarray]:
    lo, hi = np.log(K_RANGE)
    starts = [np.r_[np.full(m, PRIOR_THETA[0]), np.full(m, PRIOR_LOG_K[0])]]
    for _ in range(n_starts - 1):
        starts.append(np.r_[rng.uniform(0.0, 0.7, m), rng.uniform(lo + 0.5, hi - 1.0, m)])
    return starts


def _metrics(y: np.ndarray, yhat: np.ndarray) -> tuple[float, float]:
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - yhat) ** 2).sum()) / sst if sst > 0 else float("nan")
    nz = y != 0
    mape = float(np.mean(np.abs((y[nz] - yhat[nz]) / y[nz]))) if nz.any() else float("nan")
    return r2, mape


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


@dataclass(frozen=True)
class SimulatedMMM:
    """A simulated weekly history with its truth (period units)."""

    dates: list[dt.date]
    y: np.ndarray
    spend: dict[str, np.ndarray]
    controls: dict[str, np.ndarray]
    theta: dict[str, float]
    k: dict[str, float]
    beta: dict[str, float]
    contributions: dict[str, np.ndarray]

    def true_roi(self) -> dict[str, float]:
        """Total true contribution / total spend per channel."""
        return {c: float(self.contributions[c].sum() / self.spend[c].sum()) for c in self.spend}


def _flights(rng: np.random.Generator, weeks: int, on: tuple, off: tuple) -> np.ndarray:
    """1 in flight weeks, 0 in dark weeks: alternating runs of ``on`` and ``off`` weeks."""
    out = np.zeros(weeks)
    i = int(rng.integers(0, off[1] + 1))
    while i < weeks:
        length = int(rng.integers(on[0], on[1] + 1))
        out[i : i + length] = 1.0
        i += length + int(rng.integers(off[0], off[1] + 1))
    return out


def _ar1(rng: np.random.Generator, weeks: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) series with innovation ``sd``."""
    e = np.empty(weeks)
    e[0] = rng.normal(0, sd / np.sqrt(1 - phi**2))
    for i in range(1, weeks):
        e[i] = phi * e[i - 1] + rng.normal(0, sd)
    return e


#: The simulated channels: mean weekly spend, carry-over, half-saturation / mean spend, ROI
#: over the history, loading on the shared budget plan.
SIM_CHANNELS = {
    "tv": (40000.0, 0.6, 1.5, 1.5, 1.0),
    "search": (25000.0, 0.1, 0.8, 2.5, 0.8),
    "social": (20000.0, 0.3, 1.2, 2.0, 1.0),
    "display": (15000.0, 0.2, 2.0, 1.2, 0.8),
    "print": (12000.0, 0.4, 1.0, 1.0, 1.0),
}


def simulate_weekly(
    weeks: int = 156,
    seed: int = 0,
    noise_cv: float = 0.03,
    start: dt.date = dt.date(2021, 1, 4),
) -> SimulatedMMM:
    """Weekly revenue with five channels of correlated, flighted spend, trend, seasons, holiday.

    Spend follows a shared budget plan (a seasonal plan, a Q4 heavy-up and slow AR(1) budget
    revisions), so channels move together (mean pairwise correlation about 0.35), and each
    channel has the flighting its kind has in retail: TV in flights of 3-8 weeks with dark
    weeks between, search always on and following demand, social and display always on with
    campaign bursts, print in runs of circular drops. Geometric adstock, Michaelis-Menten
    saturation, ROI 1.0-2.5 by channel, media about 35 % of revenue, ``noise_cv`` weekly
    multiplicative noise. benchmarks/mmm.py documents each choice.
    """
    rng = np.random.default_rng(seed)
    dates = [start + dt.timedelta(weeks=i) for i in range(weeks)]
    t = np.arange(weeks, dtype=float)
    season = np.sin(2 * np.pi * t / 52.18) + 0.5 * np.cos(4 * np.pi * t / 52.18)
    holiday = np.array([1.0 if d.month == 12 and d.day >= 14 else 0.0 for d in dates])
    q4 = np.array([1.0 if d.month == 11 or (d.month == 12 and d.day < 24) else 0.0 for d in dates])
    log_plan = 0.4 * season + 0.7 * q4 + _ar1(rng, weeks, 0.9, 0.15)
    own = {
        "tv": lambda: _flights(rng, weeks, (3, 8), (1, 5)) * np.exp(rng.normal(0, 0.25, weeks)),
        "search": lambda: np.exp(0.15 * season + _ar1(rng, weeks, 0.7, 0.12)),
        "social": lambda: (
            np.exp(_ar1(rng, weeks, 0.5, 0.15)) * (1 + 1.5 * _flights(rng, weeks, (2, 4), (4, 9)))
        ),
        "display": lambda: (
            np.exp(_ar1(rng, weeks, 0.6, 0.25)) * (1 + _flights(rng, weeks, (1, 3), (3, 8)))
        ),
        "print": lambda: _flights(rng, weeks, (2, 6), (1, 5)) * np.exp(rng.normal(0, 0.15, weeks)),
    }
    spend, theta, k, beta, contrib = {}, {}, {}, {}, {}
    for name, (mean, th, k_mult, roi, load) in SIM_CHANNELS.items():
        level = np.exp(load * log_plan) * own[name]()
        s = np.round(mean * level / level.mean(), 2)
        a = adstock(s, th)
        kk = k_mult * mean
        g = a / (kk + a)
        # beta chosen so the channel's ROI over the history is ``roi``.
        b = roi * s.sum() / g.sum()
        spend[name], theta[name], k[name], beta[name] = s, th, kk, b
        contrib[name] = b * g
    base = 300000 + 600 * t + 45000 * season + 70000 * holiday
    mean_y = base + sum(contrib.values())
    y = mean_y * (1 + rng.normal(0, noise_cv, weeks))
    return SimulatedMMM(
        dates=dates,
        y=y,
        spend=spend,
        controls={"holiday": holiday},
        theta=theta,
        k=k,
        beta=beta,
        contributions=contrib,
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


def long_history(result: MMMResult, channels: Sequence[str], per_day: bool = False) -> pl.DataFrame:
    """The media history frame of ``channels``: spend and modelled contribution per period.

    ``conversions`` is the channel's contribution in the outcome's units, rounded; with
    ``per_day`` both are daily averages of the period (for charts against daily curves).
    """
    d = float(result.period_days) if per_day else 1.0
    frames = []
    for ch in channels:
        i = result.channels.index(ch)
        frames.append(
            pl.DataFrame(
                {
                    "date": result.dates,
                    "channel": ch,
                    "spend": result.spend[:, i] / d,
                    "conversions": np.round(result.contributions[:, i] / d).astype(np.int64),
                    "revenue": None,
                },
                schema={
                    "date": pl.Date,
                    "channel": pl.Utf8,
                    "spend": pl.Float64,
                    "conversions": pl.Int64,
                    "revenue": pl.Float64,
                },
            )
        )
    return pl.concat(frames)
