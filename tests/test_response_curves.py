"""Response curves fitted on simulated media history with a known ground truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from retail_assets.lib.activation.media import ChannelSimulation, TrueCurve, simulate_media_history
from retail_assets.lib.activation.response_curves import (
    FittedCurve,
    _cv_rmse,
    adstock,
    fit_channel,
    fit_curves,
)

END = dt.date(2025, 6, 30)
# The benchmark's ground truth (adstock on the grid, so the bootstrap's fixed carry-over is right).
TRUTH = {
    "CTV": ChannelSimulation("CTV", 2800, TrueCurve(500, 18000, 0.4)),
    "Display": ChannelSimulation("Display", 2200, TrueCurve(350, 11000, 0.2)),
    "Email": ChannelSimulation("Email", 500, TrueCurve(70, 60, 0.2)),
    "PPC": ChannelSimulation("PPC", 3000, TrueCurve(230, 2000, 0.0)),
}


def _history(channels, days=365, seed=0):
    return simulate_media_history(list(channels), END, days, seed)


def test_adstock_is_normalized_geometric_carry_over():
    x = np.array([100.0, 0.0, 0.0, 50.0])
    assert adstock(x, 0.0).tolist() == x.tolist()
    a = adstock(x, 0.5)
    # sum_j theta^j x_{t-j} / sum_j theta^j over the days seen so far.
    assert a[0] == pytest.approx(100.0)
    assert a[1] == pytest.approx(50.0 / 1.5)
    assert a[3] == pytest.approx((50 + 0.125 * 100) / (1 + 0.5 + 0.25 + 0.125))
    assert adstock(np.full(50, 7.0), 0.6) == pytest.approx(np.full(50, 7.0))


def test_recovers_a_known_curve():
    curve = fit_channel(_history([TRUTH["PPC"]], seed=1), n_boot=20)
    assert curve.regime == "saturating" and curve.adstock == 0.0
    assert curve.vmax == pytest.approx(230, rel=0.15)
    assert curve.k == pytest.approx(2000, rel=0.15)
    assert curve.r2 > 0.6 and curve.n_obs == 365
    # The response at a typical spend is pinned down much more tightly than vmax and k.
    assert curve.response(3000.0) == pytest.approx(TRUTH["PPC"].true_curve.response(3000), rel=0.02)


def test_picks_a_carry_over_when_the_truth_has_one():
    truth = ChannelSimulation("PPC", 3000, TrueCurve(230, 2000, 0.4))
    history = _history([truth], seed=2)
    curve = fit_channel(history, n_boot=10)
    assert curve.adstock == 0.4
    daily = history["spend"].to_numpy()
    y = history["conversions"].to_numpy().astype(float)
    k_cap = 10 * daily.max()
    assert _cv_rmse(adstock(daily, 0.4), y, k_cap) < _cv_rmse(adstock(daily, 0.0), y, k_cap)
    # And no carry-over when there is none.
    assert fit_channel(_history([TRUTH["PPC"]], seed=2), n_boot=10).adstock == 0.0


def test_linear_regime_fixes_k_at_ten_times_the_highest_spend():
    # Spend far below the half-saturation point: the curve is a straight line in the data.
    truth = ChannelSimulation("Display", 2000, TrueCurve(30_000, 600_000, 0.0))
    history = _history([truth], seed=3)
    curve = fit_channel(history, n_boot=30)
    assert curve.regime == "linear"
    assert curve.max_spend == history["spend"].max()
    assert curve.k == 10 * curve.max_spend
    assert (curve.bootstrap_k == curve.k).all()
    # vmax is then the least-squares slope's scale: the average CPA is still right.
    slope = truth.true_curve.vmax / truth.true_curve.k
    assert curve.response(2000.0) / 2000 == pytest.approx(slope, rel=0.05)
    # The curve stays concave, so the allocator treats it like the others.
    assert curve.marginal(2000.0) < curve.marginal(0.0)


def test_bootstrap_intervals_cover_the_truth_for_most_channels():
    covered = total = 0
    for seed in (0, 1):
        curves = fit_curves(_history(TRUTH.values(), seed=seed), n_boot=200)
        for name, curve in curves.items():
            sim = TRUTH[name]
            draws = curve.bootstrap_response(sim.daily_spend)
            lo, hi = np.percentile(draws, [5, 95])
            covered += lo <= sim.true_curve.response(sim.daily_spend) <= hi
            total += 1
            assert len(curve.bootstrap_vmax) == len(curve.bootstrap_k) == 200
            assert np.percentile(curve.bootstrap_vmax, 5) < curve.vmax
            assert curve.vmax < np.percentile(curve.bootstrap_vmax, 95)
    assert covered >= 6, f"{covered} of {total} 90 % intervals cover the true response"


def test_fits_are_deterministic_and_independent_of_row_order():
    history = _history([TRUTH["Email"], TRUTH["PPC"]], days=120, seed=5)
    a = fit_curves(history, n_boot=50, seed=9)
    b = fit_curves(history.sample(fraction=1.0, shuffle=True, seed=4), n_boot=50, seed=9)
    assert list(a) == ["Email", "PPC"]
    for name in a:
        assert a[name] == b[name]
        assert a[name].bootstrap_vmax.tobytes() == b[name].bootstrap_vmax.tobytes()
        assert a[name].bootstrap_k.tobytes() == b[name].bootstrap_k.tobytes()
    c = fit_curves(history, n_boot=50, seed=10)
    assert c["PPC"].vmax == a["PPC"].vmax
    assert c["PPC"].bootstrap_vmax.tobytes() != a["PPC"].bootstrap_vmax.tobytes()


def test_summary_fields():
    history = _history([TRUTH["Email"]], days=60, seed=6)
    curve = fit_channel(history, n_boot=5, recent_days=7)
    assert isinstance(curve, FittedCurve) and curve.channel == "Email"
    assert curve.mean_spend_recent == pytest.approx(history["spend"].tail(7).mean())
    assert curve.total_spend == pytest.approx(history["spend"].sum())
    assert curve.total_conversions == history["conversions"].sum()
    assert curve.value_per_conversion == pytest.approx(
        history["revenue"].sum() / history["conversions"].sum()
    )
    assert curve.rmse > 0
    assert fit_channel(history.with_columns(revenue=None), n_boot=5).value_per_conversion is None


def test_response_and_marginal():
    curve = fit_channel(_history([TRUTH["Email"]], days=90, seed=7), n_boot=5)
    x = np.array([0.0, 100.0, 500.0, 2000.0])
    assert curve.response(x)[0] == 0.0
    assert np.all(np.diff(curve.response(x)) > 0) and np.all(np.diff(curve.marginal(x)) < 0)
    h = 1e-3
    numeric = (curve.response(x + 2 * h) - curve.response(x)) / (2 * h)  # one-sided at zero
    assert curve.marginal(x + h) == pytest.approx(numeric, rel=1e-6)
    assert curve.bootstrap_response(x).shape == (5, 4)


def test_gaps_count_as_no_spend_and_are_not_fitted():
    history = _history([TRUTH["PPC"]], days=200, seed=8)
    gappy = history.filter(pl.col("date").dt.weekday() != 7)
    curve = fit_channel(gappy, n_boot=5)
    assert curve.n_obs == gappy.height
    assert curve.vmax == pytest.approx(230, rel=0.25)


def test_rejects_frames_with_several_channels():
    with pytest.raises(ValueError, match="exactly one channel"):
        fit_channel(_history([TRUTH["PPC"], TRUTH["Email"]], days=40))
