"""The instance settings and the policies every asset runs under (issue 9)."""

import dagster as dg
import pytest
import yaml

from retail_assets.definitions import build_definitions
from retail_assets.defs import operations
from retail_assets.instance import ensure_dagster_home, packaged_dagster_yaml

defs = build_definitions()

GRAPH = defs.get_repository_def().asset_graph
DAILY = sorted(
    (k for k in GRAPH.materializable_asset_keys if GRAPH.get(k).partitions_def is not None),
    key=lambda k: k.to_user_string(),
)


def test_the_cli_installs_dagster_yaml_and_dagster_reads_it(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = ensure_dagster_home(tmp_path / "home", set_env=False)
    assert (home / "dagster.yaml").read_text() == packaged_dagster_yaml(home)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        # The event log is in this folder, whatever DAGSTER_HOME the reader has (none here).
        assert instance.event_log_storage._base_dir == str(home / "history" / "runs")
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 3
        assert config.run_queue_config.tag_concurrency_limits == [
            {"key": "retail/workload", "value": "models", "limit": 1}
        ]
        assert config.pool_config.default_pool_limit == 2
        assert config.pool_config.pool_granularity.value == "op"
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.run_retries_max_retries == 1
    finally:
        instance.dispose()


def test_a_users_dagster_yaml_is_left_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_dagster_home(home, set_env=False)
    assert yaml.safe_load((home / "dagster.yaml").read_text()) == {"telemetry": {"enabled": True}}


def test_an_unwritable_dagster_home_says_what_to_do(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match=r"cannot set up .*file/home.*Set DAGSTER_HOME"):
        ensure_dagster_home(blocker / "home", set_env=False)


@pytest.mark.parametrize("key", DAILY, ids=lambda k: k.to_user_string())
def test_every_daily_asset_has_a_backfill_and_a_freshness_policy(key):
    node = GRAPH.get(key)
    if key.path[0] == "activation":  # a plan per flight: one day per run
        assert node.backfill_policy == operations.ONE_DAY_PER_RUN
    else:  # a range in one run
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert node.freshness_policy == operations.DAILY_FRESHNESS


def test_a_bound_on_backfill_days_is_configuration(monkeypatch):
    from retail_assets.definitions import build_definitions

    monkeypatch.setenv("RETAIL_BACKFILL_MAX_DAYS", "90")
    graph = build_definitions().get_repository_def().asset_graph
    policy = graph.get(dg.AssetKey(["governed", "sessions"])).backfill_policy
    assert policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=90)
    assert graph.get(dg.AssetKey(["activation", "dsp_payload"])).backfill_policy == (
        operations.ONE_DAY_PER_RUN
    )


def test_every_step_declares_a_pool_and_io_steps_retry():
    pools = {}
    for assets_def in defs.assets:
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_executable:
            for key in assets_def.keys:
                pools[key.to_user_string()] = (assets_def.op.pool, assets_def.op.retry_policy)
    known = {operations.COMPUTE_POOL, operations.MODELS_POOL, operations.DELIVERY_POOL}
    unpooled = sorted(k for k, (pool, _) in pools.items() if pool not in known)
    # The Census workbook load is a one-off, user-triggered job: no pool needed.
    assert unpooled == ["raw/census_retail_sales"]
    for key in ("raw/sessions", "governed/sessions", "features/daily_sales_by_category"):
        assert pools[key][1] == operations.TRANSIENT_RETRY, key
    assert pools["ml/purchase_propensity"][0] == operations.MODELS_POOL
    assert pools["activation/dsp_delivery"][0] == operations.DELIVERY_POOL


def test_model_jobs_carry_the_tag_the_run_queue_limits():
    for name in ("model_training", "forecast_model_selection", "series_forecasts"):
        assert defs.resolve_job_def(name).tags.get("retail/workload") == "models"


def test_schedules_and_sensors_users_expect_are_running():
    running = dg.DefaultScheduleStatus.RUNNING
    schedules = {s.name: s.default_status for s in defs.schedules}
    assert schedules and all(status == running for status in schedules.values()), schedules
    sensors = {s.name: s.default_status for s in defs.sensors}
    assert sensors and all(
        status == dg.DefaultSensorStatus.RUNNING for status in sensors.values()
    ), sensors


def test_runs_execute_in_process_by_default_and_a_cluster_executor_is_configuration():
    assert defs.resolve_job_def("all_assets").executor_def.name == "in_process"
    assert operations.executor("multiprocess").name == "multiprocess"
    try:
        import dagster_k8s  # noqa: F401
    except ImportError:
        with pytest.raises(dg.DagsterInvariantViolationError, match="pip install dagster-k8s"):
            operations.executor("k8s")


def test_an_unknown_executor_is_named(monkeypatch):
    from retail_assets.lib.settings import Settings, SettingsError

    monkeypatch.setenv("RETAIL_EXECUTOR", "threads")
    with pytest.raises(SettingsError, match="RETAIL_EXECUTOR must be one of"):
        Settings.from_env()


def test_a_one_day_backfill_run_writes_that_days_partition(tmp_path):
    """The daemon tags a one-day backfill run as a range (start = end), not as a partition."""
    from conftest import Pipeline

    p = Pipeline(tmp_path, customers=200)
    day = "2025-03-01"
    result = p.defs.resolve_job_def("all_assets").execute_in_process(
        instance=p.instance,
        asset_selection=[dg.AssetKey(["raw", "signals"])],
        tags={
            "dagster/asset_partition_range_start": day,
            "dagster/asset_partition_range_end": day,
        },
        raise_on_error=False,
    )
    assert result.success
    assert [f.parent.name for f in p.lake.partition_files("raw", "signals")] == [f"date={day}"]
    assert not (p.lake.table_dir("raw", "signals") / "data.parquet").exists()
