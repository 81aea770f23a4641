"""Propensity and segments from orders alone (no web or app events).

A synthetic order history with planted behaviour: each customer orders on a steady cadence
(every 3 to 60 days, with jitter) until they churn, so "due for an order" (recency against the
usual gap) predicts an order in the next 7 days better than recency or RFM alone. The lib is
tested on it directly; the two model assets run on it in a retailer's world that declares
orders only, and on too short a history, where they must say why nothing was evaluated.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import dagster as dg
import numpy as np
import polars as pl
import pytest
import yaml
from conftest import make_platform

from retail_assets.defs.models import common as models
from retail_assets.defs.models.propensity import purchase_propensity
from retail_assets.defs.models.segments import customer_segments
from retail_assets.lib.ml import order_features as of
from retail_assets.lib.ml import order_propensity as op
from retail_assets.lib.ml import rfm_segments as rs
from retail_assets.lib.ml.propensity import LeakageError
from retail_assets.lib.sources.world import init_config
from retail_assets.lib.warehouse.frames import with_lineage

START = dt.date(2024, 1, 1)


def synthetic_activity(customers: int = 400, days: int = 120, seed: int = 7) -> pl.DataFrame:
    """Rows shaped like features.user_daily_activity from orders only (views and carts 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        key = hashlib.sha256(f"customer-{c}".encode()).hexdigest()
        gap = int(rng.choice([3, 7, 14, 30, 60]))
        churn = int(rng.integers(30, days * 2))
        d = int(rng.integers(0, gap))
        while d < min(days, churn):
            orders = 1 + int(rng.poisson(0.3))
            lines = orders * int(rng.integers(1, 6))
            revenue = round(float(rng.gamma(2.0, 20.0)) * orders, 2)
            rows.append((START + dt.timedelta(days=d), key, 0, 0, lines, orders, revenue, 1))
            d += max(1, int(rng.normal(gap, gap / 4)))
    return pl.DataFrame(
        rows,
        schema=[
            "activity_date",
            "customer_key",
            "views",
            "carts",
            "purchases",
            "orders",
            "revenue",
            "sessions",
        ],
        orient="row",
    ).sort("activity_date", "customer_key")


@pytest.fixture(scope="module")
def activity() -> pl.DataFrame:
    return synthetic_activity()


def test_features_read_only_days_up_to_the_cutoff(activity):
    days = of.order_days(activity)
    t = START + dt.timedelta(days=60)
    features = of.features_as_of(days, [t])
    # Every customer with an order on or before t, and nobody else.
    assert set(features["customer_key"]) == set(days.filter(pl.col("day") <= t)["customer_key"])
    later = days.filter(pl.col("day") > t).with_columns(pl.col("orders") * 100)
    changed = of.features_as_of(pl.concat([days.filter(pl.col("day") <= t), later]), [t])
    assert changed.equals(features)  # orders after the cutoff change nothing
    row = features.row(0, named=True)
    own = days.filter((pl.col("customer_key") == row["customer_key"]) & (pl.col("day") <= t))
    assert row["recency_days"] == (t - own["day"].max()).days
    assert row["tenure_days"] == (t - own["day"].min()).days
    assert row["orders_365d"] == own["orders"].sum()
    assert set(features["r_score"].unique()) <= {1, 2, 3, 4, 5}


def test_orders_only_model_beats_its_baselines_on_planted_behaviour(activity):
    done = op.run(activity, START + dt.timedelta(days=119), seed=42)
    assert done.readiness.ready, done.readiness.reason
    m = done.evaluation.metrics
    assert m[op.MODEL].roc_auc > 0.8
    assert m[op.MODEL].pr_auc > max(m[b].pr_auc for b in op.BASELINES)
    assert 0 < m[op.MODEL].brier < 0.25
    parts = done.parts
    # Later days and customers never trained on; every training label known before.
    assert parts.fit["label_end"].max() <= parts.calibration["as_of_date"].min()
    assert parts.calibration["label_end"].max() <= parts.test["as_of_date"].min()
    trained = set(parts.fit["customer_key"]) | set(parts.calibration["customer_key"])
    assert not trained & set(parts.test["customer_key"])
    assert int(parts.test["label"].sum()) >= op.MIN_TEST_BUYERS


def test_the_audit_catches_features_that_read_the_label_window(activity):
    days = of.order_days(activity)
    ready = op.plan(days, START + dt.timedelta(days=119))
    dataset = op.build_dataset(days, ready.as_of_days, audit_rows=500)
    # Planted leak: the order counts computed through the end of the label window.
    leaky = of.features_as_of(days, [d + dt.timedelta(days=7) for d in ready.as_of_days])
    leaky = leaky.with_columns(pl.col("as_of_date") - pl.duration(days=7))
    planted = (
        dataset.drop("orders_30d")
        .join(
            leaky.select("as_of_date", "customer_key", "orders_30d"),
            on=["as_of_date", "customer_key"],
            how="left",
        )
        .with_columns(pl.col("orders_30d").fill_null(0))
    )
    with pytest.raises(LeakageError, match=r"orders_30d .* read the label window"):
        op.check_point_in_time(planted, days=days, sample_rows=500)
    with pytest.raises(LeakageError, match=r"raw orders"):
        op.check_point_in_time(dataset.with_columns(pl.col("label").alias("revenue")))
    late = dataset.with_columns(pl.col("as_of_date").alias("label_start"))
    with pytest.raises(LeakageError, match="label_start"):
        op.check_point_in_time(late)


def test_too_short_a_history_is_not_evaluated_and_says_why(activity):
    short = activity.filter(pl.col("activity_date") < START + dt.timedelta(days=40))
    done = op.run(short, START + dt.timedelta(days=39))
    assert not done.readiness.ready and done.model is None and done.evaluation is None
    assert "40 days of orders" in done.readiness.reason
    assert "needs 4" in done.readiness.reason


def test_too_few_customers_are_not_evaluated_and_say_why():
    few = synthetic_activity(customers=6)
    done = op.run(few, START + dt.timedelta(days=119))
    assert done.readiness.as_of_days and not done.readiness.ready  # long enough, too few
    assert done.evaluation is None
    assert "too few to split" in done.readiness.reason or "test buyers" in done.readiness.reason


def test_rfm_segments_follow_the_standard_grid(activity):
    days = of.order_days(activity)
    features = of.features_as_of(days, [START + dt.timedelta(days=119)])
    assigned = rs.assign(features)
    assert assigned.height == features.height
    for r, f, name in assigned.select("r_score", "f_score", "segment_name").unique().rows():
        assert rs.segment_of(r, f).name == name
    assert rs.segment_of(5, 5).name == "Champions" and rs.segment_of(1, 1).name == "Hibernating"
    assert rs.segment_of(1, 5).name == "Cannot Lose Them" and rs.segment_of(2, 3).name == "At Risk"
    champions = features.join(assigned, on="customer_key").filter(
        pl.col("segment_id") == "champions"
    )
    assert champions["recency_days"].max() < features["recency_days"].median()
    profile = rs.profiles(features, assigned)
    assert profile["customers"].sum() == features.height
    assert profile.height == len(rs.SEGMENTS)


# ------------------------------------------------------------------ the assets


def _orders_world(tmp_path, activity: pl.DataFrame):
    init_config(tmp_path / "config")
    columns = ("order_id", "product_id", "quantity", "unit_price", "timestamp", "customer_id")
    orders = {"files": "orders/*.csv", "columns": {c: c for c in columns}}
    (tmp_path / "config" / "sources.yaml").write_text(
        yaml.safe_dump({"world": "retailer", "sources": {"orders": orders}})
    )
    platform = make_platform(tmp_path / "data", config_dir=str(tmp_path / "config"))
    lake = platform.lake()
    stamp = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    for (day,), frame in activity.group_by(["activity_date"]):
        stamped = with_lineage(frame, "00000000-0000-0000-0000-000000000000", stamp)
        lake.write_partition(stamped, "features", "user_daily_activity", day.isoformat())
    return platform


def _materialize(platform):
    result = dg.materialize(
        [purchase_propensity, customer_segments],
        resources={"platform": platform},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = {}
    for event in result.get_asset_materialization_events():
        m = event.materialization
        meta[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
    return meta


def test_assets_take_the_orders_only_path_and_publish_the_usual_tables(tmp_path, activity):
    platform = _orders_world(tmp_path, activity)
    assert models.orders_only(platform)
    meta = _materialize(platform)
    prop = meta["ml/purchase_propensity"]
    assert prop["feature_set"] == "orders_only" and prop["horizon_days"] == 7
    assert prop["trained"] and prop["evaluation"] == "ran"
    assert prop["roc_auc"] > 0.8 and prop["pr_auc"] > prop["best_baseline_pr_auc"]
    scores = platform.lake().read("ml", "purchase_propensity")
    assert scores["customer_key"].n_unique() == scores.height > 0
    assert (scores["as_of_date"] == START + dt.timedelta(days=119)).all()
    seg = meta["ml/customer_segments"]
    assert seg["feature_set"] == "orders_only"
    segments = platform.lake().read("ml", "customer_segments")
    profiles = platform.lake().read("ml", "segment_profiles")
    assert set(segments["segment_name"]) <= {s.name for s in rs.SEGMENTS}
    assert profiles["customers"].sum() == segments.height
    assert profiles["mean_views_30d"].is_null().all()  # no events: not made up


def test_assets_on_a_short_history_say_why_nothing_was_evaluated(tmp_path, activity):
    short = activity.filter(pl.col("activity_date") < START + dt.timedelta(days=5))
    platform = _orders_world(tmp_path, short)
    meta = _materialize(platform)
    prop = meta["ml/purchase_propensity"]
    assert prop["trained"] is False and prop["feature_set"] == "orders_only"
    assert prop["evaluation"].startswith("skipped: 5 days of orders")
    assert prop["labeled_as_of_days"] == 0 and prop["needed_as_of_days"] == 4
    assert platform.lake().read("ml", "purchase_propensity").height == 0
    assert meta["ml/customer_segments"]["dagster/row_count"] > 0
