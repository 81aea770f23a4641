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

#: Python assets compute one day per call: a backfill launches a run per day, which the run
#: queue spreads over the slots. SQL models set their own ``multi_run(backfill_days)``.
ONE_DAY_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


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


def with_operations(assets: list) -> list:
    """``assets`` with a backfill policy and a freshness policy on every daily asset.

    Asset definitions that already declare a backfill policy (the SQL models) keep theirs;
    unpartitioned assets and checks pass through unchanged.
    """
    out = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and _is_daily(a):
            if a.backfill_policy is None:
                a = a.with_attributes(backfill_policy=ONE_DAY_PER_RUN)
            a = a.map_asset_specs(
                lambda spec: spec.replace_attributes(
                    freshness_policy=spec.freshness_policy or DAILY_FRESHNESS
                )
            )
        out.append(a)
    return out
