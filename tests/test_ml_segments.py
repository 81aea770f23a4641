"""Customer segments (lib/ml/segments.py): naming, stability across reruns, profiles.

Synthetic user features with six planted behaviour groups (seeded numpy, 150 customers
each), so every test knows which group a customer came from and which name it should get.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from retail_assets.lib.ml.segments import (
    ARCHETYPES,
    SEGMENT_FEATURES,
    SegmentError,
    assign,
    behaviour_features,
    centroid_frame,
    fit_segments,
    name_agreement,
    persona_crosstab,
    profile_figure,
    profiles,
    silhouette,
)
from retail_assets.lib.plots import png_markdown

PER_GROUP = 150

#: Planted groups: (name expected, persona, generator of the raw columns).
GROUPS = {
    "Brand Loyalist": "Premium Shopper",
    "Big-Ticket Buyer": "Premium Shopper",
    "Value Shopper": "Budget Conscious",
    "Speed Seeker": "Senior Citizen",
    "Window Shopper": "Young Professional",
    "Lapsing": "Family Shopper",
}


def _group(name: str, n: int, rng: np.random.Generator, spend: float) -> dict[str, np.ndarray]:
    def ints(lo, hi):
        return rng.integers(lo, hi + 1, n)

    if name == "Brand Loyalist":
        orders, views, carts, purchases = ints(5, 9), ints(100, 160), ints(6, 10), ints(4, 8)
        aov, recency, idle, active = rng.uniform(100, 160, n), ints(0, 4), ints(0, 1), ints(15, 25)
    elif name == "Big-Ticket Buyer":
        orders, views, carts, purchases = ints(1, 1), ints(30, 50), ints(1, 3), ints(1, 1)
        aov, recency, idle, active = rng.uniform(700, 1400, n), ints(15, 40), ints(2, 6), ints(4, 7)
    elif name == "Value Shopper":
        orders, views, carts, purchases = ints(2, 4), ints(60, 90), ints(2, 4), ints(2, 3)
        aov, recency, idle, active = rng.uniform(8, 15, n), ints(5, 20), ints(1, 5), ints(5, 9)
    elif name == "Speed Seeker":
        orders, views, carts, purchases = ints(1, 2), ints(2, 5), ints(1, 2), ints(1, 2)
        aov, recency, idle, active = rng.uniform(50, 90, n), ints(5, 15), ints(3, 10), ints(1, 3)
    elif name == "Window Shopper":
        orders, views, carts, purchases = ints(0, 0), ints(80, 130), ints(4, 8), ints(0, 0)
        aov, recency, idle, active = np.zeros(n), ints(0, 0), ints(0, 3), ints(8, 14)
    else:  # Lapsing
        orders, views, carts, purchases = ints(0, 0), ints(2, 8), ints(0, 1), ints(0, 0)
        aov, recency, idle, active = np.zeros(n), ints(0, 0), ints(20, 29), ints(1, 2)
    monetary = np.round(orders * aov * spend, 2)
    return {
        "days_since_last_activity": idle,
        "active_days_30d": active,
        "views_30d": views,
        "carts_30d": carts,
        "purchases_30d": purchases,
        "recency_days": np.where(orders > 0, recency, -1),
        "frequency_90d": orders,
        "monetary_90d": monetary,
    }


def make_features(
    seed: int, day: dt.date = dt.date(2025, 3, 1), spend: float = 1.0, sizes=None
) -> pl.DataFrame:
    """User-feature rows for the planted groups; customer keys are stable across seeds."""
    rng = np.random.default_rng(seed)
    frames = []
    for g, name in enumerate(GROUPS):
        n = (sizes or {}).get(name, PER_GROUP)
        cols = _group(name, n, rng, spend)
        frame = pl.DataFrame(cols).with_columns(
            pl.lit(day).alias("as_of_date"),
            pl.Series("customer_key", [f"c{g}_{i:04d}" for i in range(n)]),
            pl.lit(name).alias("planted"),
            pl.when(pl.col("recency_days") >= 0).then(pl.col("recency_days")).alias("recency_days"),
        )
        frames.append(frame)
    return pl.concat(frames)


def planted_names(model, frame: pl.DataFrame) -> dict[str, str]:
    """The segment most customers of each planted group were assigned to."""
    labels = assign(model, frame).join(frame.select("customer_key", "planted"), on="customer_key")
    top = (
        labels.group_by("planted", "segment_name")
        .len()
        .sort("len", descending=True)
        .group_by("planted", maintain_order=True)
        .first()
    )
    return dict(top.select("planted", "segment_name").iter_rows())


@pytest.fixture(scope="module")
def week1() -> pl.DataFrame:
    return make_features(seed=1)


@pytest.fixture(scope="module")
def model1(week1):
    return fit_segments(week1, k=6, seed=7)


def test_archetypes_name_the_planted_groups(model1, week1):
    assert sorted(model1.names) == sorted(GROUPS)
    assert len(set(model1.slugs)) == 6 and "brand_loyalist" in model1.slugs
    assert planted_names(model1, week1) == {g: g for g in GROUPS}
    assert all(np.isnan(s) for s in model1.matched_shift)  # no previous run
    labels = assign(model1, week1)
    assert labels.columns == ["as_of_date", "customer_key", "segment_id", "segment_name"]
    assert labels.height == week1.height and labels["segment_id"].null_count() == 0


def test_same_data_twice_gives_identical_names(week1, model1):
    again = fit_segments(week1, k=6, seed=7)
    assert again.names == model1.names and again.slugs == model1.slugs
    assert assign(again, week1).equals(assign(model1, week1))


def test_shuffled_rows_keep_every_customer_in_the_same_segment(week1, model1):
    shuffled = week1.sample(fraction=1.0, shuffle=True, seed=3)
    assert shuffled["customer_key"].to_list() != week1["customer_key"].to_list()
    refit = fit_segments(shuffled, k=6, seed=7)
    a = assign(model1, week1).select("customer_key", "segment_id")
    b = assign(refit, shuffled).select("customer_key", "segment_id")
    joined = a.join(b, on="customer_key", suffix="_shuffled")
    assert joined.height == week1.height
    assert (joined["segment_id"] == joined["segment_id_shuffled"]).all()


def test_refit_on_next_week_keeps_names_meaning(model1):
    # Next week: fresh noise, 15 % more spend, groups of different sizes.
    sizes = {"Brand Loyalist": 170, "Window Shopper": 120, "Lapsing": 180}
    week2 = make_features(seed=2, day=dt.date(2025, 3, 8), spend=1.15, sizes=sizes)
    refit = fit_segments(week2, k=6, seed=7, previous=model1)
    assert planted_names(refit, week2) == {g: g for g in GROUPS}
    assert all(np.isfinite(s) for s in refit.matched_shift)
    # The high-spend, frequent cluster is still Brand Loyalist.
    prof = profiles(refit, week2).sort("mean_frequency_90d", descending=True)
    assert prof["segment_name"][0] == "Brand Loyalist"


def test_silhouette_and_name_stability(model1, week1):
    # Planted groups are far apart: a high silhouette; the same order of rows or not.
    score = silhouette(model1, week1, seed=7)
    assert 0.5 < score <= 1
    assert silhouette(model1, week1.reverse(), seed=7) == pytest.approx(score)
    sampled = silhouette(model1, week1, sample=300, seed=7)
    assert sampled == pytest.approx(score, abs=0.1)
    # Shuffling every customer's behaviour across columns destroys the structure.
    noise = week1.with_columns(
        pl.col(c).shuffle(seed=i) for i, c in enumerate(["views_30d", "frequency_90d"])
    )
    assert silhouette(model1, noise, seed=7) < score
    assert name_agreement(model1, model1, week1) == 1.0
    week2 = make_features(seed=2, day=dt.date(2025, 3, 8))
    refit = fit_segments(week2, k=6, seed=7, previous=model1)
    assert name_agreement(model1, refit, week2) > 0.95
    assert name_agreement(model1, refit, week2.head(0)) is None


def test_previous_names_come_before_archetypes(week1, model1):
    # Names carried from the previous run win over what the archetypes would say.
    renamed = dataclasses.replace(
        model1,
        names=tuple(f"Group {n}" for n in model1.names),
        slugs=tuple(f"group_{s}" for s in model1.slugs),
    )
    week2 = make_features(seed=5, day=dt.date(2025, 3, 8))
    refit = fit_segments(week2, k=6, seed=7, previous=renamed)
    assert planted_names(refit, week2) == {g: f"Group {g}" for g in GROUPS}
    # Unless every cluster moved further than max_shift: then the archetypes name them again.
    fresh = fit_segments(week2, k=6, seed=7, previous=renamed, max_shift=0.0)
    assert planted_names(fresh, week2) == {g: g for g in GROUPS}
    # A larger k keeps the six carried names and names the new cluster from the archetypes.
    bigger = fit_segments(week2, k=7, seed=7, previous=model1)
    assert set(model1.names) < set(bigger.names)
    assert (set(bigger.names) - set(model1.names)) <= {a.name for a in ARCHETYPES}


def test_profiles_report_size_means_and_persona(model1, week1):
    customers = week1.select(
        "customer_key",
        pl.col("planted").replace_strict(GROUPS).alias("persona"),
    )
    prof = profiles(model1, week1, customers)
    assert prof.height == 6 and prof["customers"].sum() == week1.height
    assert prof["share"].sum() == pytest.approx(1.0)
    assert {"mean_monetary_90d", "mean_views_30d", "buyer_share", "top_persona"} <= set(
        prof.columns
    )
    row = prof.filter(pl.col("segment_id") == "window_shopper").row(0, named=True)
    assert row["buyer_share"] == 0.0 and row["mean_order_value"] is None
    assert row["top_persona"] == "Young Professional" and row["top_persona_share"] == 1.0
    loyal = prof.filter(pl.col("segment_id") == "brand_loyalist").row(0, named=True)
    assert loyal["mean_frequency_90d"] == pytest.approx(7.0, abs=0.5)
    cross = persona_crosstab(model1, week1, customers)
    sums = cross.group_by("segment_id").agg(pl.col("share").sum())
    assert sums["share"].to_list() == pytest.approx([1.0] * 6)


def test_persona_is_not_an_input(model1, week1):
    assert "persona" not in behaviour_features(week1).columns
    noisy = week1.with_columns(pl.Series("persona", ["x", "y", "z"] * (week1.height // 3)))
    assert assign(model1, noisy).equals(assign(model1, week1))
    assert list(model1.features) == list(SEGMENT_FEATURES)


def test_model_pickles_and_figures(model1, week1):
    restored = pickle.loads(pickle.dumps(model1))
    assert assign(restored, week1).equals(assign(model1, week1))
    fig = profile_figure(model1)
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(model1.names)
    assert png_markdown(fig).startswith("![plot](data:image/png;base64,")
    cents = centroid_frame(model1)
    assert cents.height == 6 * len(SEGMENT_FEATURES)


def test_bad_input_says_what_to_fix(week1):
    two_days = pl.concat(
        [week1, week1.with_columns(pl.lit(dt.date(2025, 3, 2)).alias("as_of_date"))]
    )
    with pytest.raises(SegmentError, match="single as_of_date"):
        fit_segments(two_days)
    with pytest.raises(SegmentError, match="monetary_90d"):
        fit_segments(week1.drop("monetary_90d"))
    with pytest.raises(SegmentError, match="lower k"):
        fit_segments(week1, k=len(ARCHETYPES) + 1)
    with pytest.raises(SegmentError, match="not unique"):
        fit_segments(pl.concat([week1, week1.head(3)]))
    with pytest.raises(SegmentError, match="distinct"):
        fit_segments(week1.head(3), k=4)
