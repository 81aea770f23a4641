"""retail_assets: a retail marketing data platform as Dagster software-defined assets."""

__version__ = "0.1.0"
