"""Feature drift (lib/ml/drift.py): PSI against hand arithmetic, categories, missing values."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from retail_assets.lib.ml.drift import (
    EPSILON,
    MISSING,
    DriftError,
    bin_counts,
    drift_figure,
    feature_drift,
    psi,
    status,
)


def test_identical_samples_have_zero_psi():
    x = np.random.default_rng(0).gamma(2.0, 3.0, 2_000)
    assert psi(x, x) == 0.0
    assert psi(["a", "b", "b", None], ["a", "b", "b", None]) == 0.0
    # Count data with many ties collapses to fewer bins and still compares equal to itself.
    counts = np.r_[np.zeros(700), np.ones(200), np.full(100, 5.0)]
    labels, e, a = bin_counts(counts, counts, bins=10)
    assert len(labels) == 3 and e.tolist() == [700, 200, 100]
    assert psi(counts, counts) == 0.0


def test_psi_matches_hand_computed_value():
    # Quartile bins of 0..99 hold 25 each; the actual sample puts 10/20/30/40 % in them.
    expected = np.arange(100.0)
    actual = np.r_[np.full(10, 5.0), np.full(20, 30.0), np.full(30, 60.0), np.full(40, 90.0)]
    labels, e, a = bin_counts(expected, actual, bins=4)
    assert e.tolist() == [25, 25, 25, 25] and a.tolist() == [10, 20, 30, 40]
    assert labels[0] == "(-inf, 24]" and labels[-1] == "(74, inf]"
    hand = (
        (0.10 - 0.25) * math.log(0.10 / 0.25)
        + (0.20 - 0.25) * math.log(0.20 / 0.25)
        + (0.30 - 0.25) * math.log(0.30 / 0.25)
        + (0.40 - 0.25) * math.log(0.40 / 0.25)
    )
    assert psi(expected, actual, bins=4) == pytest.approx(hand) == pytest.approx(0.2282174)


def test_bins_are_right_closed_and_open_ended():
    # A value on an edge falls in the bin the edge closes; values beyond the training range
    # land in the outer bins.
    labels, e, a = bin_counts([1.0, 2.0, 3.0, 4.0], [2.0, 2.5, -100.0, 100.0], bins=2)
    assert labels == ["(-inf, 2]", "(2, inf]"]
    assert e.tolist() == [2, 2] and a.tolist() == [2, 2]


def test_shifted_sample_has_large_psi_and_resample_small():
    rng = np.random.default_rng(1)
    train = rng.normal(0, 1, 5_000)
    assert psi(train, rng.normal(1, 1, 5_000)) > 0.25
    assert psi(train, rng.normal(0, 1, 5_000)) < 0.1
    assert status(psi(train, rng.normal(1, 1, 5_000))) == "major"


def test_categorical_psi_and_unseen_category():
    e = ["a"] * 50 + ["b"] * 50
    a = ["a"] * 80 + ["b"] * 20
    hand = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi(e, a) == pytest.approx(hand)
    assert psi(pl.Series(e, dtype=pl.Categorical), pl.Series(a, dtype=pl.Categorical)) == (
        pytest.approx(hand)
    )
    # A category the training sample never had: its share there is floored at epsilon.
    new = psi(["a"] * 100, ["a"] * 90 + ["c"] * 10)
    hand_new = (0.9 - 1.0) * math.log(0.9) + (0.1 - EPSILON) * math.log(0.1 / EPSILON)
    assert new == pytest.approx(hand_new) and math.isfinite(new)
    assert psi([True, False] * 50, [True] * 100) > 0.25


def test_missing_values_are_their_own_bin():
    base = np.arange(100.0)
    with_nan = base.copy()
    with_nan[:20] = np.nan
    labels, e, a = bin_counts(base, with_nan, bins=4)
    assert labels[-1] == MISSING and e[-1] == 0 and a[-1] == 20
    assert psi(base, with_nan, bins=4) > 0.25
    # NaN and null count alike, on either side.
    as_null = pl.Series([None if math.isnan(v) else v for v in with_nan], dtype=pl.Float64)
    assert psi(base, as_null, bins=4) == pytest.approx(psi(base, with_nan, bins=4))
    assert psi(with_nan, with_nan) == 0.0
    # A feature that arrives entirely empty is as far from training as it gets.
    assert psi(base, [None] * 50) > 5


def test_status_thresholds():
    assert status(0.0) == "stable" and status(0.099) == "stable"
    assert status(0.1) == "moderate" and status(0.2499) == "moderate"
    assert status(0.25) == "major" and status(float("nan")) == "unknown"


def test_feature_drift_summarises_each_feature():
    rng = np.random.default_rng(2)
    train = pl.DataFrame(
        {
            "spend": rng.normal(100, 10, 4_000),
            "visits": rng.poisson(3, 4_000),
            "channel": rng.choice(["web", "app"], 4_000),
        }
    )
    latest = pl.DataFrame(
        {
            "spend": [*rng.normal(120, 10, 1_800).tolist(), *[None] * 200],
            "visits": rng.poisson(3, 2_000),
            "channel": rng.choice(["web", "app", "store"], 2_000),
        },
        schema={"spend": pl.Float64, "visits": pl.Int64, "channel": pl.Utf8},
    )
    drift = feature_drift(train, latest, ["spend", "visits", "channel"])
    rows = {r["feature"]: r for r in drift.iter_rows(named=True)}
    assert drift.height == 3 and drift["train_rows"].to_list() == [4_000] * 3
    spend = rows["spend"]
    assert spend["status"] == "major" and spend["kind"] == "numeric"
    assert spend["latest_null_share"] == pytest.approx(0.1) and spend["train_null_share"] == 0
    assert spend["relative_mean_shift"] == pytest.approx(
        (spend["latest_mean"] - spend["train_mean"]) / spend["train_mean"]
    )
    assert spend["relative_mean_shift"] == pytest.approx(0.2, abs=0.02)
    assert spend["mean_shift_in_std"] == pytest.approx(2.0, abs=0.2)
    assert rows["visits"]["status"] == "stable"
    channel = rows["channel"]
    assert channel["kind"] == "categorical" and channel["train_mean"] is None
    assert channel["status"] == "major"
    fig = drift_figure(drift)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(ticks) == ["channel", "spend", "visits"] and ticks[0] == "visits"
    assert len(ax.patches) == 3 and [line.get_xdata()[0] for line in ax.lines] == [0.1, 0.25]


def test_bad_input_says_what_to_fix():
    with pytest.raises(DriftError, match="expected .* empty"):
        psi([], [1.0])
    with pytest.raises(DriftError, match="latest"):
        psi([1.0], [])
    with pytest.raises(DriftError, match="missing"):
        feature_drift(pl.DataFrame({"a": [1.0]}), pl.DataFrame({"b": [1.0]}), ["a"])
    with pytest.raises(DriftError, match="at least 2 bins"):
        psi([1.0, 2.0], [1.0, 2.0], bins=1)
