"""The model assets materialized in-process on a real lake and warehouse.

One module-scoped world: 30 simulated days of app and web events, signals and user features
(2,000 customers, one range run), then the ``model_training`` job three times:

1. on the real weekly direction table (a few weeks: the direction model is not trained yet);
2. on a long synthetic weekly table whose lagged sentiment change drives next week's
   direction (the direction model trains and becomes champion);
3. on the same table with the labels of every week before the holdout inverted, so the
   challenger learns the opposite rule and must lose to the champion on the holdout.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys

import dagster as dg
import numpy as np
import polars as pl
import pytest
from conftest import Pipeline

from retail_assets.defs.models import common as models
from retail_assets.defs.models.monitoring import model_retraining_sensor
from retail_assets.lib.ml import propensity, scoring
from retail_assets.lib.ml.registry import ModelRegistry
from retail_assets.lib.ml.segments import assign
from retail_assets.lib.ml.sentiment import CLASSES, default_kind
from retail_assets.lib.warehouse.frames import with_lineage

START = dt.date(2025, 2, 1)
DAYS = [(START + dt.timedelta(days=i)).isoformat() for i in range(30)]
SELECTION = (
    "raw/app_events,governed/app_events,raw/sessions,governed/sessions,governed/consent_audit,"
    "raw/signals,features/user_daily_activity,features/user_features"
)


def synthetic_weekly(weeks: int = 40, invert_before: dt.date | None = None) -> pl.DataFrame:
    """Rows shaped like features.weekly_sales_direction; up when last week's sentiment rose."""
    rng = np.random.default_rng(11)
    rows = []
    first = dt.date(2024, 1, 1)
    for w in range(weeks):
        week = first + dt.timedelta(weeks=w + 1)
        for cat in ("Apparel", "Beauty", "Electronics", "Grocery"):
            change = float(rng.normal(0, 0.05))
            up = change + rng.normal(0, 0.02) > 0
            if invert_before is not None and week < invert_before:
                up = not up
            rows.append(
                {
                    "week_start": week,
                    "category": cat,
                    "revenue": 1000.0,
                    "prev_week_revenue": 990.0,
                    "revenue_change": 0.01,
                    "direction": "up" if up else "down",
                    "signal_week_start": week - dt.timedelta(weeks=1),
                    "review_count_lag1w": int(rng.integers(200, 300)),
                    "search_volume_lag1w": int(rng.integers(5000, 9000)),
                    "social_count_lag1w": int(rng.integers(300, 500)),
                    "sentiment_mean_lag1w": float(rng.normal(0.3, 0.05)),
                    "sentiment_change_lag1w": change,
                    "search_volume_change_lag1w": float(rng.normal(0, 0.1)),
                    "social_count_change_lag1w": float(rng.normal(0, 0.1)),
                }
            )
    return pl.DataFrame(rows)


def write_weekly(p: Pipeline, frame: pl.DataFrame) -> None:
    stamped = with_lineage(frame, "00000000-0000-0000-0000-000000000000", dt.datetime.now(dt.UTC))
    p.lake.write_partition(stamped, "features", "weekly_sales_direction", None)


def train(p: Pipeline, job: str = "model_training"):
    return p.defs.resolve_job_def(job).execute_in_process(instance=p.instance, raise_on_error=False)


def materialization(result, key: dg.AssetKey):
    (mat,) = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == key
    ]
    return mat.metadata


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    p = Pipeline(tmp_path_factory.mktemp("models"), customers=2_000)
    assert p.reference().success
    assert p.run_range(DAYS[0], DAYS[-1], selection=SELECTION).success
    runs = {"first": train(p)}
    holdout_start = dt.date(2024, 1, 1) + dt.timedelta(
        weeks=40 + 1 - models.DIRECTION_HOLDOUT_WEEKS
    )
    write_weekly(p, synthetic_weekly())
    runs["second"] = train(p)
    write_weekly(p, synthetic_weekly(invert_before=holdout_start))
    runs["third"] = train(p)
    runs["monitoring"] = train(p, "model_monitoring")
    return p, runs


def test_training_runs_and_publishes_every_model_table(world):
    p, runs = world
    assert all(r.success for r in runs.values())
    sent = materialization(runs["first"], models.REVIEW_SENTIMENT)
    assert sent["macro_f1"].value >= 0.8
    assert "confusion_matrix" in sent and "per_class" in sent
    scored = p.lake.read("ml", "review_sentiment")
    assert scored.height > 1000 and set(scored["source"].unique()) == {"review", "social"}
    np.testing.assert_allclose(
        scored.select(pl.sum_horizontal("p_negative", "p_neutral", "p_positive")).to_series(), 1.0
    )
    entities = p.lake.read("ml", "entity_sentiment")
    assert set(entities["entity_type"].unique()) == {"product", "brand", "store"}

    prop = materialization(runs["first"], models.PURCHASE_PROPENSITY)
    for name in ("pr_auc", "roc_auc", "top_decile_lift", "brier", "recall_at_threshold"):
        assert name in prop, name
    assert prop["pr_auc_over_base_rate"].value > 1.5
    scores = p.lake.read("ml", "purchase_propensity")
    assert scores["as_of_date"].n_unique() == 1
    assert scores["as_of_date"][0] == dt.date.fromisoformat(DAYS[-1])
    assert sorted(scores["rank"].to_list()) == list(range(1, scores.height + 1))

    segs = p.lake.read("ml", "customer_segments")
    profiles = p.lake.read("ml", "segment_profiles")
    assert segs["segment_name"].n_unique() == profiles.height == 6
    assert profiles["customers"].sum() == segs.height


def test_direction_waits_for_enough_weeks_then_trains(world):
    p, runs = world
    first = materialization(runs["first"], models.SALES_DIRECTION)
    assert "needs 25" in first["not_trained"].value
    assert first["trained"].value is False and "not trained" in first["headline"].value
    assert first["dagster/row_count"].value == 0
    second = materialization(runs["second"], models.SALES_DIRECTION)
    assert second["trained"].value is True
    assert second["cv_roc_auc_margin_over_best_baseline"].value > 0.1
    assert second["promoted"].value is True
    # The synthetic table: 40 complete weeks, the last 8 held out.
    assert second["weeks"].value == 40
    assert second["training_weeks"].value == 40 - models.DIRECTION_HOLDOUT_WEEKS


def test_a_worse_challenger_does_not_replace_the_champion(world):
    p, runs = world
    third = materialization(runs["third"], models.SALES_DIRECTION)
    assert third["promoted"].value is False
    registry = ModelRegistry(p.lake.lake_root)
    assert registry.champion_version("sales_direction") == 1
    decisions = p.lake.read("ml", "model_decisions").filter(pl.col("model") == "sales_direction")
    assert decisions["promoted"].to_list() == [True, False]
    last = decisions.row(1, named=True)
    assert last["challenger_value"] < last["champion_value"]
    assert "kept" in last["reasons"] or "not better" in last["reasons"]
    # The table still holds the champion's calls, next to what happened.
    calls = p.lake.read("ml", "sales_direction_model")
    assert set(calls["model_version"]) == {1}
    assert calls.height == 4 * models.DIRECTION_HOLDOUT_WEEKS
    assert (calls["direction"] == calls["actual"]).mean() > 0.7


def test_segment_names_are_stable_across_reruns(world):
    p, runs = world
    tables = []
    for name in ("first", "second", "third"):
        meta = materialization(runs[name], models.CUSTOMER_SEGMENTS)
        tables.append(meta["segments"].value)
    assert tables[0] == tables[1] == tables[2]
    registry = ModelRegistry(p.lake.lake_root)
    first = registry.load("customer_segments", 1).model
    last = registry.load_champion("customer_segments").model
    features = p.lake.read("features", "user_features", [DAYS[-1]])
    a = scoring.segments(p.lake.lake_root, features)
    b = assign(first, features)
    assert last is not first
    assert a["segment_name"].to_list() == b["segment_name"].to_list()


def test_scoring_api_and_cli_match_the_asset(world):
    p, _ = world
    table = p.lake.read("ml", "purchase_propensity").sort("rank")
    features = p.lake.read("features", "user_features", [DAYS[-1]])
    api = scoring.propensity(p.lake.lake_root, features).sort("rank")
    assert api["customer_key"].to_list() == table["customer_key"].to_list()
    np.testing.assert_allclose(api["probability"], table["probability"])
    env = {**os.environ, "RETAIL_DATA_DIR": str(p.root), "RETAIL_CUSTOMERS": "2000"}
    out = subprocess.run(
        [sys.executable, "-m", "retail_assets.cli", "score", "propensity"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cli = pl.read_csv(io.StringIO(out.stdout)).sort("rank")
    assert cli["customer_key"].to_list() == table["customer_key"].to_list()
    np.testing.assert_allclose(cli["probability"], table["probability"], rtol=1e-12)
    texts = subprocess.run(
        [sys.executable, "-m", "retail_assets.cli", "score", "sentiment", "terrible, broke"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert pl.read_csv(io.StringIO(texts.stdout))["label"].to_list() == ["negative"]


def test_drift_monitor_feeds_the_retraining_sensor(world):
    p, runs = world
    meta = materialization(runs["monitoring"], models.FEATURE_DRIFT)
    drift = p.lake.read("ml", "feature_drift")
    assert set(drift["model"]) == {
        "purchase_propensity",
        "sales_direction",
        "customer_segments",
        "review_sentiment",
    }
    text = drift.filter(pl.col("model") == "review_sentiment")
    assert set(text["feature"]) == {"words", "predicted_class"}
    assert drift.filter(pl.col("model") == "purchase_propensity").height == len(
        propensity.SOURCE_FEATURES
    )
    assert "retrain_reasons" in meta and "live_metrics" in meta
    # A platform that retrains on any drift: the sensor asks for a run, with the reasons.
    eager = Pipeline(p.root, customers=2_000, retrain_psi_threshold=0.0)
    eager.instance = p.instance
    assert train(eager, "model_monitoring").success
    ctx = dg.build_sensor_context(instance=p.instance)
    request = model_retraining_sensor(ctx)
    assert isinstance(request, dg.RunRequest)
    reasons = request.tags[models.TRIGGERS_TAG]
    assert "purchase_propensity" in reasons and "PSI" in reasons


def test_a_labeled_file_with_a_wrong_column_fails_clearly(world, tmp_path):
    p, _ = world
    labels = tmp_path / "labels.csv"
    pl.DataFrame({"review": ["good", "bad"] * 40, "stars": [5, 1] * 40}).write_csv(labels)
    before = p.lake.partition_files("ml", "review_sentiment")[0].read_bytes()
    user = Pipeline(
        p.root,
        customers=2_000,
        sentiment_labels=str(labels),
        sentiment_text_column="text",
        sentiment_rating_column="stars",
    )
    user.instance = p.instance
    job = user.defs.resolve_job_def("model_training")
    result = job.execute_in_process(
        instance=p.instance,
        raise_on_error=False,
        asset_selection=[models.REVIEW_SENTIMENT, models.ENTITY_SENTIMENT],
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "labels.csv" in message and "'text'" in message and "review" in message
    assert p.lake.partition_files("ml", "review_sentiment")[0].read_bytes() == before


def test_the_plan_splits_budgets_by_the_trained_segments_and_propensity(world):
    p, _ = world
    day = DAYS[-1]
    result = p.defs.resolve_job_def("activation").execute_in_process(
        partition_key=day, instance=p.instance, raise_on_error=False
    )
    assert result.success
    budgets = p.lake.read("activation", "segment_budgets", [day])
    profiles = p.lake.read("ml", "segment_profiles")
    assert set(budgets["basis"]) == {"propensity"}
    assert set(budgets["segment_id"]) == set(profiles["segment_id"])
    # Weights follow expected revenue: the sum of the segment's purchase probabilities
    # times its mean order value.
    scores = p.lake.read("ml", "purchase_propensity").join(
        p.lake.read("ml", "customer_segments").select("customer_key", "segment_id"),
        on="customer_key",
    )
    buyers = dict(scores.group_by("segment_id").agg(pl.col("probability").sum()).iter_rows())
    one = budgets.filter(pl.col("channel") == "PPC")
    for row in one.iter_rows(named=True):
        assert row["expected_buyers"] == pytest.approx(buyers.get(row["segment_id"], 0.0))
    best = one.sort("weight", descending=True).row(0, named=True)
    assert best["budget_micros"] == one["budget_micros"].max()
    payload = p.lake.partition_path("activation", "dsp_payload", day, filename="payload.json")
    body = json.loads(payload.read_text())["body"]
    names = dict(profiles.select("segment_id", "segment_name").iter_rows())
    assert {li["segment_id"]: li["segment_name"] for li in body["line_items"]}.items() <= (
        names.items()
    )
    library = p.lake.read("activation", "creative_library", [day])
    assert set(library["segment_id"]) == set(names)


def test_audience_match_keys_go_only_to_the_sink_and_only_for_ad_consent(world):
    from retail_assets.lib.governance.match_keys import sha256_hex

    p, _ = world
    day = DAYS[-1]
    uploads = p.lake.read("activation", "audience_uploads", [day])
    if uploads.is_empty():  # the plan test above runs the activation job; run it if alone
        assert (
            p.defs.resolve_job_def("activation")
            .execute_in_process(partition_key=day, instance=p.instance, raise_on_error=False)
            .success
        )
        uploads = p.lake.read("activation", "audience_uploads", [day])
    assert set(uploads["platform"]) == {"google", "meta"}
    assert (uploads["uploaded_keys"] <= uploads["consented_customers"]).all()
    assert (uploads["consented_customers"] <= uploads["segment_customers"]).all()
    assert uploads["uploaded_keys"].sum() > 0

    customers = p.lake.read("raw", "customers", landing=True)
    granted = (pl.col("ad_user_data") == "Yes") & (pl.col("ad_personalization") == "Yes")
    yes = {sha256_hex(e.strip().lower()) for e in customers.filter(granted)["email"]}
    no = {sha256_hex(e.strip().lower()) for e in customers.filter(~granted)["email"]}
    sent = set()
    for path in uploads.filter(pl.col("platform") == "google")["destination"]:
        members = json.loads(open(path).read())["members"]
        sent |= {m["hashed_email"] for m in members if m["hashed_email"]}
    assert sent and sent <= yes and not sent & no
    # The keys exist only in what was delivered: no lake file holds one.
    one = next(iter(sent)).encode()
    for f in p.lake.lake_root.rglob("*"):
        if f.is_file():
            assert one not in f.read_bytes(), f


def _sentiment_run(p: Pipeline):
    job = p.defs.resolve_job_def("model_training")
    result = job.execute_in_process(
        instance=p.instance,
        raise_on_error=False,
        asset_selection=[models.REVIEW_SENTIMENT, models.ENTITY_SENTIMENT],
    )
    assert result.success
    return materialization(result, models.REVIEW_SENTIMENT)


def test_too_few_labels_give_the_lexicon_then_enough_labels_challenge_it(tmp_path):
    """A labeled file too small to train on: the lexicon scores, with the reason; a file large
    enough trains the combined model, compared with the lexicon champion on the same rows."""
    p = Pipeline(tmp_path / "w", customers=300)
    assert p.reference().success
    assert p.run_range(DAYS[0], DAYS[6], selection="raw/signals").success
    words = {
        "positive": ["great", "lovely", "excellent", "superb"],
        "negative": ["awful", "broken", "terrible", "horrible"],
        "neutral": ["okay", "average", "ordinary", "plain"],
    }
    rows = [(f"a {words[c][i % 4]} kettle {i}", c) for i in range(60) for c in words]
    labels = tmp_path / "labels.csv"
    pl.DataFrame(rows[:20], schema=["review", "sentiment"], orient="row").write_csv(labels)
    small = Pipeline(
        p.root,
        customers=300,
        sentiment_labels=str(labels),
        sentiment_text_column="review",
        sentiment_label_column="sentiment",
    )
    small.instance = p.instance
    first = _sentiment_run(small)
    assert first["model_kind"].value == "lexicon"
    assert "20 rows; at least 50" in first["model_reason"].value
    assert first["labeled_rows"].value == first["test_rows"].value == 20
    assert first["lexicon_accuracy"].value == first["accuracy"].value
    assert first["promoted"].value is True  # the lexicon becomes the first champion
    scored = p.lake.read("ml", "review_sentiment")
    assert set(scored["label"]) == set(CLASSES) and set(scored["model_version"]) == {1}

    pl.DataFrame(rows, schema=["review", "sentiment"], orient="row").write_csv(labels)
    second = _sentiment_run(small)
    # The lexicon and TF-IDF stack; with the embeddings extra installed, embeddings join it.
    assert second["model_kind"].value == default_kind() and second["training_rows"].value == 144
    assert second["lexicon_accuracy"].value is not None
    assert second["accuracy"].value > second["lexicon_accuracy"].value
    # The champion (the lexicon, v1) is measured on the challenger's held-out rows.
    assert second["promoted"].value is True and "v0001" in second["decision"].value
    registry = ModelRegistry(p.lake.lake_root)
    assert registry.champion_version("review_sentiment") == 2
