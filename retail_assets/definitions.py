"""The Dagster code location: every asset, check, job, schedule and resource.

The definitions load from the ``defs`` folder with Dagster's loader (``dg`` finds this module
through ``[tool.dg]`` in ``pyproject.toml``). Each module there declares its own objects; the
few that depend on the declared world (the sources, governance) ask :func:`current_world`.
What applies to every asset is added here, in one place: what the world cannot feed is left
out (:func:`prune`), then the integrity checks, the backfill, freshness and retry policies,
and the executor.
"""

import warnings
from pathlib import Path

import dagster as dg

from retail_assets.defs import integrity, operations
from retail_assets.defs.features import assets as features
from retail_assets.defs.governance.reconciliation import SOURCE_RECONCILIATION
from retail_assets.defs.operations import with_operations
from retail_assets.defs.resources import CreativeWriter, RetailPlatform, building
from retail_assets.defs.sources import retailer
from retail_assets.lib.settings import Settings
from retail_assets.lib.sources.declarations import World

#: The folder Dagster's loader reads: every module under it that declares definitions.
DEFS_FOLDER = Path(__file__).resolve().parent / "defs"

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
    world = platform.world()  # a bad sources.yaml fails here, with its own message
    with building(platform, creative_writer or CreativeWriter(), world):
        loaded = dg.load_from_defs_folder(path_within_project=DEFS_FOLDER)
    merged = prune(loaded, world)
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


@dg.definitions
def defs() -> dg.Definitions:
    """The code location: the definitions for the platform the environment describes."""
    return build_definitions()


#: Inputs an asset can do without (it reads them as empty): ``{asset: {dependency}}``. SQL
#: models declare theirs in their header (``optional:``).
OPTIONAL_DEPS = {
    dg.AssetKey(["governed", "app_events"]): {dg.AssetKey(["raw", "customers"])},
    dg.AssetKey(["governed", "app_events_audit"]): {dg.AssetKey(["raw", "customers"])},
    # Champion/challenger decisions of whichever models this world trains.
    dg.AssetKey(["ml", "model_decisions"]): {
        dg.AssetKey(["ml", k])
        for k in (
            "customer_segments",
            "purchase_propensity",
            "review_sentiment",
            "sales_direction_model",
        )
    },
    # It reconciles whichever sources are declared.
    SOURCE_RECONCILIATION: {
        dg.AssetKey(p.split("/"))
        for p in (
            "governed/consent_audit",
            "governed/app_events_audit",
            "governed/orders_audit",
            "governed/customers",
            "raw/sessions",
            "raw/app_events",
            "raw/orders",
        )
    },
}


# The daily forecasts run on the sales of orders alone; signals only add regressors.
OPTIONAL_DEPS[dg.AssetKey(["ml", "forecast_models"])] = {
    dg.AssetKey(["features", "daily_category_signals"])
}
# Whichever series the world has: a sales history, the sales of orders, or both.
OPTIONAL_DEPS[dg.AssetKey(["ml", "series_forecasts"])] = {
    dg.AssetKey(["raw", "sales_history"]),
    dg.AssetKey(["features", "daily_sales_by_store_product"]),
}
#: Assets that run in the retailer's world when any one of these sources is declared.
NEEDS_ANY_SOURCE = {
    dg.AssetKey(["ml", "series_forecasts"]): ("sales_history", "orders"),
    dg.AssetKey(["ml", "series_forecast_accuracy"]): ("sales_history", "orders"),
}

#: The retailer's unpartitioned tables, loaded together by its ``reference_data`` job.
RETAILER_REFERENCE = {
    dg.AssetKey(p.split("/"))
    for p in (
        "raw/customers",
        "raw/product_catalog",
        "raw/retail_calendar",
        "raw/stores",
        "raw/sales_history",
        "governed/customers",
    )
}
#: Assets that read a source inside them (not through a dependency), by the source that lets
#: them run in the retailer's world; without it they would fall back to simulated data.
NEEDS_SOURCE = {
    dg.AssetKey(["activation", "channel_response_curves"]): "media_history",
    # Trained on reviews: search or social volumes alone give it nothing to learn from.
    dg.AssetKey(["ml", "review_sentiment"]): "reviews",
    dg.AssetKey(["ml", "entity_sentiment"]): "reviews",
}


def _optional(key: dg.AssetKey) -> set[dg.AssetKey]:
    table = tuple(key.path)
    model = next((m for m in features.MODELS if m.table == table), None)
    refs = {dg.AssetKey(list(r)) for r in model.optional_refs} if model else set()
    return refs | OPTIONAL_DEPS.get(key, set())


def prune(merged: dg.Definitions, world: World) -> dg.Definitions:
    """The definitions without what the declared world cannot feed.

    An asset whose required input is not defined (a simulator-only source, or an asset
    already left out) is left out, with its checks; an optional input that is not defined is
    dropped from the asset's dependencies, and the asset reads it as empty. Jobs keep the
    assets that remain (a job left with none goes, with its schedules and sensors).

    Left out rather than skipped at run time: in Dagster a skipped asset skips everything
    downstream of it, so user features would not run on orders when web events are not
    declared; and a graph of assets that never run tells a retailer nothing.
    """
    declared = set(world.sources.declared())

    def fed(asset) -> bool:  # its inner source is declared, or it needs none
        return all(NEEDS_SOURCE[k] in declared for k in asset.keys if k in NEEDS_SOURCE) and all(
            declared & set(NEEDS_ANY_SOURCE[k]) for k in asset.keys if k in NEEDS_ANY_SOURCE
        )

    assets = [a for a in merged.assets or [] if not world.retailer or fed(a)]
    while True:
        present = {k for a in assets for k in a.keys}  # type: ignore[union-attr]
        keep = [
            a
            for a in assets
            if all(
                dep in present or dep in _optional(key)
                for key, deps in a.asset_deps.items()  # type: ignore[union-attr]
                for dep in deps
            )
        ]
        if len(keep) == len(assets):
            break
        assets = keep
    present = {k for a in assets for k in a.keys}  # type: ignore[union-attr]

    def trim(spec: dg.AssetSpec) -> dg.AssetSpec:
        deps = [d for d in spec.deps if d.asset_key in present]
        return spec if len(deps) == len(spec.deps) else spec.replace_attributes(deps=deps)

    assets = [
        a.map_asset_specs(trim)  # type: ignore[union-attr]
        if any(d not in present for deps in a.asset_deps.values() for d in deps)  # type: ignore[union-attr]
        else a
        for a in assets
    ]
    graph = dg.Definitions(assets=assets, resources=merged.resources).resolve_asset_graph()
    jobs = []
    for job in merged.jobs or []:
        selection = getattr(job, "selection", None)
        if selection is None:
            jobs.append(job)
            continue
        chosen = selection.resolve(graph, allow_missing=True)
        try:
            selection.resolve(graph)
        except dg.DagsterInvalidSubsetError:  # it names keys that are not there: keep the rest
            if chosen:
                job = dg.define_asset_job(
                    job.name,
                    selection=dg.AssetSelection.assets(*sorted(chosen)),
                    partitions_def=job.partitions_def,
                    description=job.description,
                    tags=job.tags,
                )
        if chosen:
            jobs.append(job)
    extra_schedules = []
    if world.retailer:
        # The retailer's customers, products, stores and sales history change with their
        # files: one job loads them, every night before the daily refresh reads them.
        reference = sorted(present & RETAILER_REFERENCE)
        jobs = [j for j in jobs if j.name != "reference_data"]
        reference_job = dg.define_asset_job(
            "reference_data",
            selection=dg.AssetSelection.assets(*reference),
            description="Load your customers, products, stores and sales history from the "
            "files sources.yaml declares, with the governed customers and the calendar.",
        )
        jobs.append(reference_job)
        # After the history: the whole-table models and the per-source reconciliation.
        tables = [j for j in jobs if j.name == "feature_tables"]
        table_keys = (
            tables[0].selection.resolve(graph, allow_missing=True) if tables else set()
        ) | {SOURCE_RECONCILIATION}
        jobs = [j for j in jobs if j.name != "feature_tables"]
        jobs.append(
            dg.define_asset_job(
                "feature_tables",
                selection=dg.AssetSelection.assets(*sorted(table_keys)),
                description="Rebuild the whole-table SQL models and reconcile every declared "
                "source (rows in files = loaded + set aside; governed = kept + dropped).",
            )
        )
        extra_schedules.append(
            dg.ScheduleDefinition(
                name="reference_refresh",
                job=reference_job,
                cron_schedule="30 1 * * *",
                execution_timezone="UTC",
                description="Every night at 01:30 UTC, before `daily_refresh`, reload the "
                "declared customers, products, stores and sales history (their files are "
                "re-read only when they changed).",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        )
        if any(j.name == "series_forecasts" for j in jobs):
            # Your own series: forecast every week (the simulated world has no schedule:
            # there a sales history is an opt-in file, forecast when its job is run).
            extra_schedules.append(
                dg.ScheduleDefinition(
                    name="series_forecasts_weekly",
                    job=next(j for j in jobs if j.name == "series_forecasts"),
                    cron_schedule="30 4 * * 1",
                    execution_timezone="UTC",
                    description="Mondays 04:30 UTC: forecast your sales history and the sales "
                    "of your orders at their frequency, after a backtest.",
                    default_status=dg.DefaultScheduleStatus.RUNNING,
                )
            )
    by_name = {j.name: j for j in jobs}
    # Schedules and sensors hold their job: point them at the trimmed one, or drop them.
    replaced = {s.name for s in extra_schedules}
    schedules = [
        s.with_updated_job(by_name[s.job_name])
        for s in merged.schedules or []
        if s.job_name in by_name and s.name not in replaced
    ] + extra_schedules
    sensors = []
    for sensor in merged.sensors or []:
        targets = _target_jobs(sensor)
        if not set(targets) <= set(by_name):
            continue
        sensors.append(
            sensor.with_updated_jobs([by_name[n] for n in targets]) if targets else sensor
        )
    if world.retailer and {"reference_data", "all_assets"} <= set(by_name):
        daily = by_name["all_assets"].selection.resolve(graph, allow_missing=True)
        daily_keys = sorted(k for k in daily if k.path[0] != "activation")
        sensors.append(
            retailer.build_sensor(
                world, daily_keys, by_name["reference_data"], by_name["all_assets"]
            )
        )
    return dg.Definitions(
        assets=assets,
        asset_checks=merged.asset_checks,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=merged.resources,
    )


def _target_jobs(sensor) -> list[str]:
    """The names of the jobs a sensor requests runs of (none for a run-status sensor)."""
    return [getattr(t, "job_name", None) or t.job.name for t in sensor.targets]
