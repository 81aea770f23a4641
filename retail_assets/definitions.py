"""The Dagster code location: every asset, check, job, schedule and resource."""

import warnings

import dagster as dg

from retail_assets.defs import failures, integrity, jobs, operations
from retail_assets.defs.activation import assets as activation
from retail_assets.defs.features import assets as features
from retail_assets.defs.forecasting import assets as forecasting
from retail_assets.defs.governance import assets as governance
from retail_assets.defs.governance import erasure as governance_erasure
from retail_assets.defs.governance import pii_scan as governance_pii_scan
from retail_assets.defs.governance import rotation as governance_rotation
from retail_assets.defs.models import assets as models
from retail_assets.defs.operations import with_operations
from retail_assets.defs.resources import CreativeWriter, RetailPlatform
from retail_assets.defs.sources import assets as sources
from retail_assets.defs.sources import census, landing
from retail_assets.lib.settings import Settings

# `all_assets` mixes range-per-run assets with activation, which plans one day per run. A
# backfill launched from the job runs one day per run (Dagster uses the smallest policy);
# one launched from the asset graph runs each asset by its own policy. Intended: no warning.
warnings.filterwarnings(
    "ignore", message="Asset job all_assets materializes assets with varying BackfillPolicies"
)


def build_definitions(
    platform: RetailPlatform | None = None, creative_writer: CreativeWriter | None = None
) -> dg.Definitions:
    """All definitions, with ``platform`` (default: built from the environment).

    ``creative_writer`` plugs in another writer of ad copy (an LLM client, say) for the
    creative library; the default writes from the configured templates, offline.
    """
    settings = Settings.from_env()
    platform = platform or RetailPlatform.from_settings(settings)
    merged = dg.Definitions.merge(
        sources.defs,
        census.defs,
        landing.defs,
        governance.defs,
        governance_erasure.defs,
        governance_pii_scan.defs,
        governance_rotation.defs,
        features.defs,
        forecasting.defs,
        models.defs,
        activation.defs,
        jobs.defs,
        failures.defs,
        dg.Definitions(
            resources={"platform": platform, "creative_writer": creative_writer or CreativeWriter()}
        ),
    )
    checks = integrity.build(integrity.table_keys(merged.assets or []))
    # Backfill and freshness policies on every daily asset, from one place.
    return dg.Definitions(
        assets=with_operations(list(merged.assets or []), settings.backfill_max_days),
        asset_checks=[*(merged.asset_checks or []), *checks.asset_checks],
        jobs=[*merged.jobs, *checks.jobs],
        schedules=[*merged.schedules, *checks.schedules],
        sensors=merged.sensors,
        resources=merged.resources,
        executor=operations.executor(settings.executor),
    )


defs = build_definitions()
