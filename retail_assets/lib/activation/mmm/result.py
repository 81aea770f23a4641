"""A fitted media mix model: ROI and marginal ROI, decomposition, daily curves and history.

ROI of a channel is its total modelled contribution over the history divided by its total
spend; marginal ROI is the slope of the steady-state curve at the channel's mean spend over the
last periods. :meth:`MMMResult.curves` hands the allocator one Michaelis-Menten curve per
channel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from retail_assets.lib.activation.response_curves import FittedCurve


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
