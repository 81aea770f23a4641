"""The Dagster code location: every asset, check, job, schedule and resource."""

import dagster as dg

from retail_assets.defs import jobs
from retail_assets.defs.activation import assets as activation
from retail_assets.defs.features import assets as features
from retail_assets.defs.forecasting import assets as forecasting
from retail_assets.defs.governance import assets as governance
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources import assets as sources
from retail_assets.defs.sources import census, landing
from retail_assets.lib.settings import Settings


def build_definitions(platform: RetailPlatform | None = None) -> dg.Definitions:
    """All definitions, with ``platform`` (default: built from the environment)."""
    platform = platform or RetailPlatform.from_settings(Settings.from_env())
    return dg.Definitions.merge(
        sources.defs,
        census.defs,
        landing.defs,
        governance.defs,
        features.defs,
        forecasting.defs,
        activation.defs,
        jobs.defs,
        dg.Definitions(resources={"platform": platform}),
    )


defs = build_definitions()
