"""Every model trains for real on a small but sufficient simulated history.

The real assets and jobs on a real lake: 27 weeks of signals and store sales (enough labeled
weeks for the direction model's expanding-window validation and its holdout), the last 30
days of app and web activity and user features for 2,000 customers, then ``model_training``
and ``model_monitoring``. No model may publish a placeholder: each reports what it was
trained on and its headline metric under the keys the console summary reads.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from conftest import Pipeline

from retail_assets.defs.models import common as models
from retail_assets.lib.ml.registry import ModelRegistry
from retail_assets.lib.ml.segments import ARCHETYPES

#: 27 whole weeks (Monday to Sunday): 25 labeled weeks with every feature, the minimum.
FIRST, LAST = dt.date(2025, 6, 9), dt.date(2025, 12, 14)
#: Days of app and web activity (and user features): 29 labeled as-of days for propensity.
USER_DAYS = 30
WEEKLY_INPUTS = (
    "raw/signals,raw/transactions,features/daily_category_signals,"
    "features/daily_sales_by_category"
)
USER_INPUTS = (
    "raw/app_events,governed/app_events,raw/sessions,governed/sessions,governed/consent_audit,"
    "features/user_daily_activity,features/user_features"
)
COMMON_KEYS = (
    "trained",
    "training_rows",
    "training_first",
    "training_last",
    "headline_metric",
    "headline_value",
    "headline",
    "training_seconds",
)


def meta_of(result, key: dg.AssetKey) -> dict:
    events = result.get_asset_materialization_events()
    (mat,) = [
        e.step_materialization_data.materialization
        for e in events
        if e.step_materialization_data.materialization.asset_key == key
    ]
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    assert (LAST - FIRST).days + 1 == 27 * 7 and FIRST.weekday() == 0
    p = Pipeline(tmp_path_factory.mktemp("history"), customers=2_000)
    assert p.reference().success
    assert p.run_range(str(FIRST), str(LAST), selection=WEEKLY_INPUTS).success
    users_from = LAST - dt.timedelta(days=USER_DAYS - 1)
    assert p.run_range(str(users_from), str(LAST), selection=USER_INPUTS).success
    weekly = p.defs.resolve_job_def("feature_tables").execute_in_process(
        instance=p.instance,
        raise_on_error=False,
        asset_selection=[models.WEEKLY_DIRECTION],
    )
    assert weekly.success
    runs = {}
    for job in ("model_training", "model_monitoring"):
        runs[job] = p.defs.resolve_job_def(job).execute_in_process(
            instance=p.instance, raise_on_error=False
        )
        assert runs[job].success, job
    return p, runs["model_training"], runs["model_monitoring"]


@pytest.mark.parametrize(
    ("key", "metric"),
    [
        (models.REVIEW_SENTIMENT, "macro_f1"),
        (models.SALES_DIRECTION, "cv_roc_auc"),
        (models.PURCHASE_PROPENSITY, "pr_auc"),
        (models.CUSTOMER_SEGMENTS, "silhouette"),
    ],
)
def test_every_model_is_trained_with_its_span_and_headline(trained, key, metric):
    p, training, _ = trained
    meta = meta_of(training, key)
    missing = [k for k in COMMON_KEYS if k not in meta]
    assert not missing, missing
    assert meta["trained"] is True and "not_trained" not in meta
    assert meta["headline_metric"] == metric
    assert meta["headline_value"] == pytest.approx(meta[metric], abs=1e-4)
    assert meta["training_rows"] > 0 and meta["training_seconds"] >= 0
    first, last = (dt.date.fromisoformat(meta[k]) for k in ("training_first", "training_last"))
    assert FIRST <= first <= last <= LAST
    assert meta["dagster/row_count"] > 0
    assert p.lake.read(*key.path).height == meta["dagster/row_count"]


def test_sentiment_trains_on_the_training_window(trained):
    p, training, _ = trained
    meta = meta_of(training, models.REVIEW_SENTIMENT)
    assert meta["training_days"] == p.platform.model_training_days
    assert meta["training_last"] == str(LAST)
    assert meta["macro_f1"] >= 0.85
    assert meta["test_rows"] + meta["training_rows"] == meta["labeled_rows"]
    assert meta_of(training, models.ENTITY_SENTIMENT)["dagster/row_count"] > 0


def test_direction_is_validated_against_its_baselines(trained):
    p, training, _ = trained
    meta = meta_of(training, models.SALES_DIRECTION)
    # 25 labeled weeks: 8 held out, the champion fitted on the 17 before them.
    assert meta["weeks"] == 25 and meta["training_weeks"] == 25 - models.DIRECTION_HOLDOUT_WEEKS
    assert meta["cv_folds"] == 5 and meta["cv_test_first"] > meta["training_first"]
    assert meta["cv_best_baseline"] in ("majority_class", "last_week_direction")
    assert meta["cv_roc_auc"] - meta["cv_best_baseline_roc_auc"] == pytest.approx(
        meta["cv_roc_auc_margin_over_best_baseline"], abs=2e-4
    )
    # Simulated signals lead store sales: the model beats the baselines by the target margin.
    assert meta["cv_roc_auc_margin_over_best_baseline"] >= 0.10
    assert meta["holdout_roc_auc"] > 0.5
    assert dt.date.fromisoformat(meta["holdout_first"]) > dt.date.fromisoformat(
        meta["training_last"]
    )
    calls = p.lake.read("ml", "sales_direction_model")
    assert calls.height == 6 * models.DIRECTION_HOLDOUT_WEEKS
    assert calls["actual"].is_not_null().all()


def test_propensity_is_calibrated_and_tested_on_later_days_and_other_customers(trained):
    _, training, _ = trained
    meta = meta_of(training, models.PURCHASE_PROPENSITY)
    training_last = dt.date.fromisoformat(meta["training_last"])
    calibration = [
        dt.date.fromisoformat(meta[k]) for k in ("calibration_first", "calibration_last")
    ]
    test = [dt.date.fromisoformat(meta[k]) for k in ("test_first", "test_last")]
    assert calibration[1] == training_last < test[0] <= test[1] == LAST - dt.timedelta(days=1)
    assert (calibration[1] - calibration[0]).days == 6
    assert meta["test_buyers"] > 0 and meta["test_rows"] > meta["test_buyers"]
    assert meta["pr_auc_over_base_rate"] >= 2.0
    assert meta["brier"] is not None and meta["brier"] < meta["base_rate"]


def test_segments_are_named_and_stable(trained):
    p, training, _ = trained
    meta = meta_of(training, models.CUSTOMER_SEGMENTS)
    names = meta["segment_names"]
    assert meta["k"] == len(names) == len(set(names)) == p.platform.segments
    assert set(names) <= {a.name for a in ARCHETYPES}
    assert 0.1 < meta["silhouette"] < 1
    # First segmentation: stability against a fit on the day a week before.
    assert meta["name_stability_reference"] == f"a fit on {LAST - dt.timedelta(days=7)}"
    assert meta["name_stability"] >= 0.5
    assert sum(meta["segments"].values()) == meta["training_rows"]


def test_monitoring_right_after_training_sees_no_new_data(trained):
    p, _, monitoring = trained
    meta = meta_of(monitoring, models.FEATURE_DRIFT)
    assert set(meta["models_monitored"]) == set(models.MODELS)
    reasons = [r for rs in meta["retrain_reasons"].values() for r in rs]
    assert not [r for r in reasons if r.startswith("new data")], reasons
    assert meta["live_metrics"]["purchase_propensity"] is not None
    registry = ModelRegistry(p.lake.lake_root)
    assert all(registry.champion_version(name) == 1 for name in models.MODELS)
