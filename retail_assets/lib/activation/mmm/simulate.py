"""A simulated weekly retail history with known truth, for tests and ``benchmarks/mmm.py``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from retail_assets.lib.activation.response_curves import adstock


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
