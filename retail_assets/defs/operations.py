"""How the assets run, in one place: pools, retries, backfill and freshness policies.

The limits these names refer to live in the instance's ``dagster.yaml`` (see
``retail_assets/dagster.yaml``, installed into ``DAGSTER_HOME`` by the CLI): every pool has
``default_limit`` slots (2: one per core of a small laptop), and runs tagged with
:data:`MODELS_TAG` run one at a time.
"""

import datetime as dt

import dagster as dg

#: Steps that compute on the lake (DuckDB/polars on one or a few days): at most one per core.
COMPUTE_POOL = "retail_compute"
#: Steps that fit models on the whole history, each using every core: forecast selection and
#: model training.
MODELS_POOL = "retail_models"
#: Steps that talk to an ad platform: a slot each so a backfill does not flood an API.
DELIVERY_POOL = "retail_delivery"
#: Run tag that ``dagster.yaml`` limits to one run at a time.
MODELS_TAG = {"retail/workload": "models"}

#: For steps whose failures can be transient: the lake on a network or object store, a
#: catalog lock held by a long reader, a Dask scheduler that restarts. Input that is wrong
#: fails with ``dg.Failure(allow_retries=False)`` and is never retried.
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

#: A day's partition is expected within 26 hours of the last one (the nightly schedule runs
#: at 02:00 UTC); past 30 hours the asset is failing its freshness policy.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
)

#: Activation plans one flight per run: a plan is a decision for the days after its partition,
#: delivered to ad platforms, and its lineage names one run and one partition. Backfilling a
#: quarter of past plans is a per-day act, not one bulk delivery.
ONE_DAY_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


def range_backfill_policy(max_days: int = 0) -> dg.BackfillPolicy:
    """Every other daily asset takes a backfill's whole range in one run.

    A run costs about ten seconds of orchestration here and a day's compute well under one,
    so a year's backfill is one run, not 365. Memory does not grow with the range: sources
    and governance audit and stage their days in chunks (``DayPublisher``) and the SQL models
    query at most ``backfill_days`` days at a time within the run. ``max_days``
    (``RETAIL_BACKFILL_MAX_DAYS``) bounds a run anyway, e.g. 90 so that a failure at a
    million customers redoes a quarter rather than a year.
    """
    if max_days:
        return dg.BackfillPolicy.multi_run(max_partitions_per_run=max_days)
    return dg.BackfillPolicy.single_run()


#: ``RETAIL_EXECUTOR`` value -> (module, attribute, pip package) of the executor.
_EXECUTORS = {
    "in_process": ("dagster", "in_process_executor", "dagster"),
    "multiprocess": ("dagster", "multiprocess_executor", "dagster"),
    "k8s": ("dagster_k8s", "k8s_job_executor", "dagster-k8s"),
    "celery": ("dagster_celery", "celery_executor", "dagster-celery"),
    "celery_k8s": ("dagster_celery_k8s", "celery_k8s_job_executor", "dagster-celery-k8s"),
    "docker": ("dagster_docker", "docker_executor", "dagster-docker"),
}


def executor(name: str) -> dg.ExecutorDefinition:
    """The executor ``RETAIL_EXECUTOR`` names, imported only when chosen.

    The default runs a run's steps one after another in the run's own process: on a 2-core
    laptop a process per step mostly pays for loading the code again, and the run queue
    already runs three runs side by side. On a cluster, pick ``k8s`` or ``celery``; their
    settings (image, queues, resources) come from the run launcher in ``dagster.yaml`` or run
    config, not from this code.
    """
    import importlib

    module, attr, package = _EXECUTORS[name]
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise dg.DagsterInvariantViolationError(
            f"RETAIL_EXECUTOR={name} needs the {package} package: pip install {package}"
        ) from exc


def _is_daily(assets_def: dg.AssetsDefinition) -> bool:
    return isinstance(assets_def.partitions_def, dg.TimeWindowPartitionsDefinition)


#: Groups whose daily assets run one day per run (see :data:`ONE_DAY_PER_RUN`).
ONE_DAY_GROUPS = ("activation",)


def backfill_policy(assets_def: dg.AssetsDefinition, max_days: int = 0) -> dg.BackfillPolicy:
    """The backfill policy of a daily asset: its whole range per run, but activation by day."""
    groups = set(assets_def.group_names_by_key.values())
    if groups & set(ONE_DAY_GROUPS):
        return ONE_DAY_PER_RUN
    return range_backfill_policy(max_days)


def with_operations(assets: list, backfill_max_days: int = 0) -> list:
    """``assets`` with a backfill policy and a freshness policy on every daily asset.

    Unpartitioned assets and checks pass through unchanged.
    """
    out = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and _is_daily(a):
            a = a.with_attributes(backfill_policy=backfill_policy(a, backfill_max_days))
            a = a.map_asset_specs(
                lambda spec: spec.replace_attributes(
                    freshness_policy=spec.freshness_policy or DAILY_FRESHNESS
                )
            )
        out.append(a)
    return out
