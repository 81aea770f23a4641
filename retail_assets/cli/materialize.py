"""``retail-assets materialize``: the whole platform for a range of days, in a few runs.

It builds the whole platform for a range of days in this process, in a few runs on the
Dagster instance in ``DAGSTER_HOME`` (default ``./.dagster_home``), so the runs show up in the
UI afterwards: the reference data, then every daily asset but the forecasts and activation
over the whole range in ONE run (a single-run backfill), the whole-table SQL models, the
forecast model selection, the last day's forecasts, the models and their monitor, and the plan
for the last day. It prints a line per stage and a summary; Dagster's event stream stays in
the instance (``--verbose`` prints it too).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

from retail_assets.cli.paths import _dagster_home, _shown
from retail_assets.cli.runner import PLANNED_EVENTS_ENV, _Runner, reap_dead_runs
from retail_assets.cli.summary import _summary


def _partitions(args: argparse.Namespace, settings) -> list[str]:
    end = dt.date.fromisoformat(args.end) if args.end else dt.date.today() - dt.timedelta(days=1)
    if args.start:
        start = dt.date.fromisoformat(args.start)
    else:
        start = end - dt.timedelta(days=(args.days or settings.demo_days) - 1)
    start = max(start, settings.start_date)
    if end < start:
        raise SystemExit(f"nothing to do: end {end} is before start {start}")
    from retail_assets.defs.partitions import day_keys

    return day_keys(start, end)


#: The forecasts run for the last day only, after the model selection.
FORECAST_KEYS = ("ml/sales_forecasts", "ml/forecast_accuracy")
#: Tags Dagster reads a run's partition range from (a single-run backfill).
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def _customers(value: str) -> int:
    """``--customers``: a whole number of at least 10 (as ``RETAIL_CUSTOMERS``)."""
    try:
        n = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
    if n < 10:
        raise argparse.ArgumentTypeError(f"must be at least 10, got {n}")
    return n


def cmd_materialize(args: argparse.Namespace) -> int:
    """Materialize the whole platform for a range of days in a few runs, then summarize it."""
    from rich.text import Text

    from retail_assets import console
    from retail_assets.lib.settings import Settings, SettingsError

    out, err = console.make_console(), console.make_console(stderr=True)
    began = time.monotonic()
    if args.customers is not None:
        # Before the definitions are imported: they build their resources from the settings.
        os.environ["RETAIL_CUSTOMERS"] = str(args.customers)
    try:
        settings = Settings.from_env()
        keys = _partitions(args, settings)
    except (SettingsError, ValueError) as exc:
        err.print(Text.assemble(("configuration error: ", "bold red"), str(exc)))
        return 2
    home = _dagster_home()
    # A range run announces each asset's planned materialization once for the whole range,
    # not once per day: on the default SQLite instance a year of 13 daily assets is 4,745
    # planned events otherwise, stored one by one before the first step starts (minutes on a
    # busy laptop). The cost: a range run that fails does not mark its days failed in the UI
    # (they stay missing, and the failed run says why). Set it to false to get them back.
    os.environ.setdefault(PLANNED_EVENTS_ENV, "true")
    out.print(
        Text.assemble(
            ("retail-assets materialize", "bold"),
            f": {len(keys)} days {keys[0]}..{keys[-1]}, {_world_text(settings)}, "
            f"data in {_shown(settings.data_dir)}/, runs in {_shown(home)}/",
        )
    )
    live = out.is_terminal and not console.is_ci() and not args.verbose
    failure, instance = None, None
    try:
        with console.StageDisplay(out, live=live) as display:
            with display.stage("load definitions") as stage:
                try:
                    import dagster as dg

                    from retail_assets.definitions import build_definitions

                    defs = build_definitions()
                except (ValueError, OSError) as exc:  # a bad RETAIL_* setting or config file
                    stage.failed = True
                    failure = console.StageFailure(stage.label, [("", str(exc))], None)
            if failure is None:
                instance = dg.DagsterInstance.get()
                for run_id in reap_dead_runs(instance):
                    err.print(
                        f"run {run_id} of an earlier retail-assets command had stopped without "
                        "ending (its process is gone): marked failed, its pool slots freed"
                    )
                runner = _Runner(defs, instance, verbose=args.verbose)
                try:
                    failure = _materialize(runner, display, defs, keys, settings)
                except KeyboardInterrupt:
                    last = display.stages[-1]
                    failure = console.StageFailure(
                        last.label, [("", "interrupted (Ctrl-C)")], (last.run_ids or [None])[-1]
                    )
        if failure is not None:
            console.print_failure(err, failure, _shown(home))
            return 1
        defined = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
        summary = _summary(instance, settings, keys, display.stages, defined)
    finally:
        if instance is not None:
            instance.dispose()
    console.print_summary(
        out,
        summary,
        warehouse=_shown(settings.warehouse_path),
        home=_shown(home),
        took=time.monotonic() - began,
        runs=runner.runs,
    )
    return 0


def _own_series(settings) -> bool:
    """Whether the world declares series of the retailer's own to forecast."""
    from retail_assets.lib.sources.world import load_world

    try:
        world = load_world()
    except Exception:  # noqa: BLE001 - the definitions already said what is wrong
        return False
    return world.retailer and bool({"sales_history", "orders"} & set(world.sources.declared()))


def _world_text(settings) -> str:
    """The simulated customer count, or the retailer's declared sources."""
    from retail_assets.lib.config import ConfigError
    from retail_assets.lib.sources.world import load_world

    try:
        world = load_world()
    except ConfigError:
        return f"{settings.customers:,} customers"  # the definitions will say what is wrong
    if world.retailer:
        return f"your data ({', '.join(world.sources.declared())})"
    return f"{settings.customers:,} customers"


def _materialize(runner: _Runner, display, defs, keys: list[str], settings):
    """Run every stage in order; the first failure stops the command (its StageFailure)."""
    last = keys[-1]
    with display.stage("reference data") as stage:
        if failure := runner.run(stage, "reference_data"):
            return failure
    # Every daily asset but the forecasts (after the model selection) and activation (one day
    # per run, after the models), over the whole range in one run, as a single-run backfill
    # does. RETAIL_BACKFILL_MAX_DAYS splits the range into runs of at most that many days.
    job = defs.resolve_job_def("all_assets")
    daily = sorted(
        k
        for k in job.asset_layer.selected_asset_keys
        if k.path[0] != "activation" and k.to_user_string() not in FORECAST_KEYS
    )
    span = settings.backfill_max_days or len(keys)
    with display.stage(f"history of {len(keys)} days") as stage:
        for i in range(0, len(keys), span):
            chunk = keys[i : i + span]
            tags = {RANGE_START: chunk[0], RANGE_END: chunk[-1]}
            if failure := runner.run(stage, "all_assets", asset_selection=daily, tags=tags):
                if span < len(keys):
                    failure.stage += f" (days {chunk[0]}..{chunk[-1]})"
                return failure
        stage.detail = f"{keys[0]}..{last}"
    after = dt.date.fromisoformat(last) + dt.timedelta(days=1)
    # Then, in order, each stage: (label, job, partition or the whole history, detail shown).
    # The SQL models that are whole tables or views, over every day now in the lake; each
    # series' forecasting model, chosen by cross-validation over the history, then the last
    # day's forecasts with them; the models (sentiment, direction, propensity, segments) and
    # their drift monitor; the plan for the flight after the last day, to RETAIL_DSP_SINK.
    for label, job_name, day, detail in (
        ("feature tables", "feature_tables", None, None),
        ("forecast selection", "forecast_model_selection", None, None),
        ("forecasts", "forecasts", last, f"from {last}"),
        ("series forecasts", "series_forecasts", None, None),
        ("model training", "model_training", None, None),
        ("monitoring", "model_monitoring", None, None),
        ("activation", "activation", last, f"plan from {after}"),
    ):
        if job_name not in {j.name for j in defs.jobs}:
            continue  # the retailer's world has no such stage (nothing declared feeds it)
        if job_name == "series_forecasts" and not _own_series(settings):
            continue  # the simulated world's store sales are forecast daily, above
        with display.stage(label) as stage:
            partition = {"partition_key": day} if day else {}
            if failure := runner.run(stage, job_name, **partition):
                return failure
            if detail:
                stage.detail = detail
    return None
