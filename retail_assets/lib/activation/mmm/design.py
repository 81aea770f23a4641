"""The model's constants, priors and design: seasons, the profiled penalized loss, the search.

Given each channel's carry-over ``theta_m`` and half-saturation ``k_m``, the linear
coefficients come from a ridge-penalized least squares with non-negative media betas (NNLS on
the penalized system, the fixed columns profiled out), the channels' ROIs shrunk toward their
common ROI, and weak priors on carry-over and half-saturation; ``theta`` and ``k`` are searched
with L-BFGS-B over that profiled loss from a few starts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize, nnls

from retail_assets.lib.activation.response_curves import adstock

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
