"""The model jobs and their schedules: ``model_training`` weekly, ``model_monitoring`` daily."""

import dagster as dg

from retail_assets.defs.models.common import FEATURE_DRIFT, TRAINING_KEYS
from retail_assets.defs.operations import MODELS_TAG

model_training_job = dg.define_asset_job(
    "model_training",
    selection=dg.AssetSelection.assets(*TRAINING_KEYS),
    tags=MODELS_TAG,
    description="Train a challenger of every model, keep it only when it beats the champion "
    "on the same holdout, and rewrite the scores, segments and decisions.",
)
model_monitoring_job = dg.define_asset_job(
    "model_monitoring",
    selection=dg.AssetSelection.assets(FEATURE_DRIFT),
    description="Measure each champion's input drift and live metric; the retraining sensor "
    "acts on the result.",
)
model_training_weekly = dg.ScheduleDefinition(
    name="model_training_weekly",
    job=model_training_job,
    cron_schedule="0 5 * * 1",
    execution_timezone="UTC",
    description="Every Monday at 05:00 UTC, retrain every model (champion/challenger).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
model_monitoring_daily = dg.ScheduleDefinition(
    name="model_monitoring_daily",
    job=model_monitoring_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    description="Every night at 03:30 UTC, after the daily refresh and the feature tables, "
    "measure drift and the live metrics.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


defs = dg.Definitions(
    jobs=[model_training_job, model_monitoring_job],
    schedules=[model_training_weekly, model_monitoring_daily],
)
