"""Command line: ``retail-assets materialize | ui | catalog refresh | compile | score | verify``.

``materialize`` builds the whole platform for a range of days in this process, in a few runs
on the Dagster instance in ``DAGSTER_HOME`` (default ``./.dagster_home``), so the runs show up
in the UI afterwards: the reference data, then every daily asset but the forecasts and
activation over the whole range in ONE run (a single-run backfill), the whole-table SQL
models, the forecast model selection, the last day's forecasts, the models and their monitor,
and the plan for the last day. It prints a line per stage and a summary; Dagster's event
stream stays in the instance (``--verbose`` prints it too). ``ui`` starts ``dagster dev`` on
the same instance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

log = logging.getLogger("retail_assets")


def _dagster_home() -> Path:
    from retail_assets.instance import ensure_dagster_home

    return ensure_dagster_home()


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
#: Layers of the catalog, in the order of the summary.
LAYERS = ("raw", "governed", "features", "ml", "activation")
#: Without --verbose, Dagster's console logger prints nothing below CRITICAL: a failure is
#: printed by us, plainly, and the event log in DAGSTER_HOME keeps every event for the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
#: Dagster's switch for one planned-materialization event per asset and range run.
PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def _customers(value: str) -> int:
    """``--customers``: a whole number of at least 10 (as ``RETAIL_CUSTOMERS``)."""
    try:
        n = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
    if n < 10:
        raise argparse.ArgumentTypeError(f"must be at least 10, got {n}")
    return n


def _user_error(error) -> str:
    """The message of the error our code raised, under Dagster's wrappers (retries, steps)."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    ours = [
        e
        for e in chain
        if not (e.cls_name or "").startswith(("Dagster", "RetryRequested"))
        and not e.message.startswith("Exceeded max_retries")
    ]
    picked = ours[0] if ours else chain[0]
    message = picked.message.strip()
    if picked.cls_name and not message.startswith(picked.cls_name):
        message = f"{picked.cls_name}: {message}"
    return message


def _run_failure(stage_name: str, result):
    """What failed in a finished run: each failed step and its message (or the run's)."""
    import dagster as dg

    from retail_assets.console import StageFailure

    steps: list[tuple[str, str]] = []
    for e in result.all_events:
        if e.is_step_failure and e.step_failure_data:
            data = e.step_failure_data
            user = data.user_failure_data
            message = (user.description if user and user.description else None) or (
                _user_error(data.error) if data.error else e.message or "failed"
            )
            steps.append((e.step_key or "", message.strip()))
    if not steps:
        steps = [
            ("", (e.message or "the run failed").strip())
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
    return StageFailure(stage_name, steps or [("", "the run failed")], result.run_id)


class _Runner:
    """Runs jobs in this process on one instance; a stage follows each run's step events."""

    def __init__(self, defs, instance, *, verbose: bool) -> None:
        self.defs = defs
        self.instance = instance
        self.run_config = None if verbose else QUIET_RUN_CONFIG
        self.runs = 0

    def run(self, stage, job_name: str, *, tags=None, **kwargs):
        """Execute ``job_name`` as (part of) ``stage``; return its StageFailure or None."""
        from retail_assets.console import StageFailure

        job = self.defs.resolve_job_def(job_name)
        run_id = str(uuid.uuid4())
        tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), **(tags or {})}
        self.instance.add_event_listener(run_id, stage.listener(self.instance, run_id))
        self.runs += 1
        try:
            result = job.execute_in_process(
                run_config=self.run_config,
                instance=self.instance,
                raise_on_error=False,
                run_id=run_id,
                tags={SOURCE_TAG: "cli", **tags},
                **kwargs,
            )
        except Exception as exc:  # the run could not start: run config, storage, plan
            stage.failed = True
            known = self.instance.has_run(run_id)
            message = f"{type(exc).__name__}: {exc}"
            return StageFailure(stage.label, [("", message)], run_id if known else None)
        if result.success:
            return None
        stage.failed = True
        return _run_failure(stage.label, result)


#: Tags of the CLI's runs: where they came from, and the process that runs them.
SOURCE_TAG, PID_TAG, HOST_TAG = "retail_assets/source", "retail_assets/pid", "retail_assets/host"


def reap_dead_runs(instance) -> list[str]:
    """Fail the CLI's runs whose process is gone, and free the pool slots they held.

    A run executed in this process (not by the daemon) that was killed (SIGKILL, the memory
    killer, a crash) stays STARTED in the instance and keeps its steps' pool slots; the next
    run's steps would wait for those slots forever. ``dagster dev``'s run monitoring does this
    for the runs the daemon launched; this is the same for ours. Returns the run ids failed.
    """
    import dagster as dg

    reaped = []
    host = socket.gethostname()
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={SOURCE_TAG: "cli"},
        )
    )
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if run.tags.get(HOST_TAG) != host or not pid.isdigit() or _alive(int(pid)):
            continue
        instance.report_run_failed(
            run, f"the retail-assets process that ran it (pid {pid}) is gone; marked failed"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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

                    from retail_assets.definitions import defs
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


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when inside it, else absolute."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


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


# ---------------------------------------------------------------------------- summary
def _summary(instance, settings, keys: list[str], stages, defined=None) -> dict:
    """What the run left: tables and rows, the models, the delivered plan, warnings."""
    from retail_assets.lib.warehouse.lake import Lake

    lake = Lake(settings.lake_root, settings.landing_root, settings.warehouse_path)
    return {
        "tables": _tables(lake),
        "models": _models(instance, lake, defined),
        "delivery": _delivery(instance, lake, keys[-1]),
        "warnings": [w for s in stages for w in s.warnings],
        "stages": stages,
        "days": keys,
    }


def _tables(lake) -> list[tuple[str, str, int | None, int | None]]:
    """``(schema, table, rows, days)`` of every view in the catalog, layer by layer.

    ``rows`` is None when the catalog cannot be read; ``days`` is None for a whole table.
    """
    import duckdb

    try:
        with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
            views = con.execute(
                "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
            counts = {
                (s, t): con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
                for s, t in views
            }
    except duckdb.Error:  # busy (another writer) or missing: say so, without counts
        counts = {}
    order = {name: i for i, name in enumerate(LAYERS)}
    out = []
    for schema, table in sorted(counts, key=lambda v: (order.get(v[0], 99), v[1])):
        files = lake.partition_files(schema, table)
        days = sum(1 for f in files if f.parent.name.startswith("date="))
        out.append((schema, table, counts.get((schema, table)), days or None))
    return out


def _metadata(instance, key: str) -> dict:
    """The latest materialization's metadata of asset ``key`` as plain values ({} if none)."""
    import dagster as dg

    event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def _models(instance, lake, defined: set[str] | None = None) -> list[dict]:
    """Each model: its champion, what it was trained on and its headline metric, or why not.

    From the latest materialization's metadata in the instance: ``trained``,
    ``training_rows/first/last`` and ``headline`` where the asset reports them, else its
    own metric keys and the champion's ``trained_on`` in the model registry. ``champion`` is
    True when the model has a real champion (not an empty table or a placeholder).
    """
    from retail_assets.lib.ml.registry import ModelRegistry

    registry = ModelRegistry(lake.lake_root)
    models = (
        [_forecast_selection(instance, lake)]
        if defined is None or "ml/forecast_models" in defined
        else []
    )
    specs = [
        ("review sentiment", "ml/review_sentiment", "review_sentiment", "texts"),
        ("sales direction", "ml/sales_direction_model", "sales_direction", "weekly rows"),
        ("purchase propensity", "ml/purchase_propensity", "purchase_propensity", "rows"),
        ("customer segments", "ml/customer_segments", "customer_segments", "customers"),
    ]
    for label, key, name, unit in specs:
        if defined is not None and key not in defined:
            continue  # not in this world: nothing declared feeds it
        meta = _metadata(instance, key)
        try:
            champ = registry.champion(name)
        except (OSError, ValueError):
            champ = None
        row = {"model": label, "version": f"v{champ.version}" if champ else "", "trained_on": ""}
        if not meta:
            row |= {"headline": "not materialized", "champion": False}
            models.append(row)
            continue
        if meta.get("trained") is False or meta.get("not_trained"):
            why = meta.get("not_trained") or "too little data"
            row |= {"headline": f"not trained: {why}", "champion": False}
            models.append(row)
            continue
        trained = (champ.metadata.get("trained_on") or {}) if champ else {}
        rows = meta.get("training_rows", trained.get("rows"))
        first = meta.get("training_first", trained.get("first"))
        last = meta.get("training_last", trained.get("last"))
        span = f"{first}..{last}" if first and last and first != last else (last or first or "")
        if rows is not None:
            row["trained_on"] = f"{int(rows):,} {unit}" + (f", {span}" if span else "")
        row["headline"] = _headline(name, meta) or str(meta.get("headline") or "trained")
        row["champion"] = champ is not None
        models.append(row)
    return models


def _headline(name: str, meta: dict) -> str | None:
    """A model's main figures in about 50 characters, from its own metadata keys.

    None when the keys are missing: the caller then uses the asset's own ``headline``.
    """

    def f(key: str, digits: int = 3) -> str | None:
        value = meta.get(key)
        return f"{value:.{digits}f}" if isinstance(value, int | float) else None

    if name == "review_sentiment" and f("macro_f1"):
        lexicon = "the lexicon: " if meta.get("model_kind") == "lexicon" else ""
        return f"{lexicon}macro-F1 {f('macro_f1')}, accuracy {f('accuracy')}"
    if name == "sales_direction" and f("cv_roc_auc"):
        base = f("cv_best_baseline_roc_auc")
        return (
            f"ROC-AUC {f('cv_roc_auc')} CV"
            + (f" vs {base} baseline" if base else "")
            + f", {f('holdout_roc_auc')} holdout"
        )
    if name == "purchase_propensity" and f("pr_auc"):
        lift = f("pr_auc_over_base_rate", 1)
        return (
            f"PR-AUC {f('pr_auc', 4)}"
            + (f" = {lift}x base rate" if lift else f" (base rate {f('base_rate', 4)})")
            + f", top-decile lift {f('top_decile_lift', 1)}"
        )
    if name == "customer_segments" and isinstance(meta.get("segments"), dict):
        names = meta["segments"]
        total = sum(names.values()) or 1
        top = sorted(names.items(), key=lambda i: -i[1])[:3]
        return f"{len(names)} segments: " + ", ".join(f"{n} {c / total:.0%}" for n, c in top)
    return None


def _forecast_selection(instance, lake) -> dict:
    """The series whose model won the cross-validation, their MASE and the winners' mix."""
    import polars as pl

    meta = _metadata(instance, "ml/forecast_models")
    row = {"model": "forecast selection", "version": "", "trained_on": "", "champion": False}
    try:
        choices = lake.read("ml", "forecast_models")
    except Exception:  # noqa: BLE001 - the summary never fails the command
        choices = pl.DataFrame()
    if not meta or choices.is_empty() or "cv_mase" not in choices.columns:
        row["headline"] = "not materialized"
        return row
    cv = choices.filter(pl.col("cv_mase").is_not_null())
    champions = int(meta.get("series_cv_champion", cv.height))
    series = int(meta.get("series", choices.height))
    days = meta.get("history_days")
    as_of = meta.get("as_of", "")
    row["trained_on"] = f"{series:,} series, " + (f"{days} days to {as_of}" if days else as_of)
    row["champion"] = champions > 0
    if not champions:
        row["headline"] = "no series long enough for cross-validation (rules only)"
        return row
    mix = cv.group_by("model").len().sort("len", descending=True).head(3)
    top = ", ".join(f"{m} {n / max(cv.height, 1):.0%}" for m, n in mix.iter_rows())
    row["headline"] = (
        f"{champions:,} of {series:,} by CV, median MASE {cv['cv_mase'].median():.3f}; {top}"
    )
    return row


def _delivery(instance, lake, day: str) -> dict:
    """Where the last day's plan went: the sink, each target's status, the payload file."""
    meta = _metadata(instance, "activation/dsp_delivery")
    try:
        receipts = lake.read("activation", "dsp_delivery", [day])
    except Exception:  # noqa: BLE001 - a summary never fails the command
        receipts = None
    payload = lake.partition_path("activation", "dsp_payload", day, filename="payload.json")
    sink = str(meta.get("sink", ""))
    return {
        "sink": sink if "://" in sink or not sink else _shown(Path(sink)),
        "receipts": []
        if receipts is None or receipts.is_empty()
        else list(receipts.select("target", "status").iter_rows()),
        "payload": _shown(payload) if payload.exists() else "",
    }


def cmd_init(args: argparse.Namespace) -> int:
    """Write a configuration folder: the packaged YAML files and a sources.yaml template."""
    from retail_assets.lib.sources.world import FILENAME, init_config

    folder = Path(args.folder)
    written = init_config(folder, force=args.force)
    for path in written:
        print(f"wrote {path}")
    kept = sorted({p.name for p in folder.glob("*.yaml")} - {p.name for p in written})
    if kept:
        print(f"kept (exists; --force overwrites): {', '.join(kept)}")
    print(
        f"next: edit {folder / FILENAME} (world: retailer, your sources), then\n"
        f"  export RETAIL_CONFIG_DIR={folder}\n"
        "  retail-assets materialize --start YYYY-MM-DD --end YYYY-MM-DD"
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` (webserver and daemon) with a persistent DAGSTER_HOME."""
    import subprocess

    home = _dagster_home()
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    cmd = ["dagster", "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)] if workspace.exists() else ["-m", "retail_assets.definitions"]
    log.info("starting %s (DAGSTER_HOME=%s); stop with Ctrl-C", " ".join(cmd), home)
    # dagster dev must receive SIGINT to shut down its webserver and daemon cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A backfill's range run records one planned event per asset, not one per asset and day
    # (4,745 for a year of the history assets), as `materialize` does.
    os.environ.setdefault(PLANNED_EVENTS_ENV, "true")
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()


def cmd_catalog_refresh(args: argparse.Namespace) -> int:
    """Create or re-point a catalog view for every table in the lake."""
    from retail_assets.lib.settings import Settings
    from retail_assets.lib.warehouse.lake import Lake

    s = Settings.from_env()
    results = Lake(s.lake_root, s.landing_root, s.warehouse_path).refresh_catalog()
    for r in results:
        print(f"{r.name}: {r.status}{' - ' + r.detail if r.detail else ''}")
    if not results:
        print(f"no tables in {s.lake_root} yet")
    return 1 if any(r.status == "busy" for r in results) else 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    """Rows set aside from the retailer's files: counts by source and reason, and examples."""
    import polars as pl

    from retail_assets.lib.settings import Settings
    from retail_assets.lib.sources.tabular import QUARANTINE_SCHEMA

    s = Settings.from_env()
    folder = Path(s.landing_root) / "quarantine"
    files = sorted(folder.glob("source=*/quarantine.parquet"))
    rows = (
        pl.concat([pl.read_parquet(f) for f in files])
        if files
        else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    )
    if rows.is_empty():
        print(f"nothing quarantined ({folder})")
        return 0
    counts = rows.group_by("source", "file", "reason").len().sort("source", "file", "len")
    for source, file, reason, n in counts.iter_rows():
        print(f"{source:<12} {file:<32} {n:>8,}  {reason}")
    if args.show:
        with pl.Config(fmt_str_lengths=120, tbl_rows=args.show):
            print(rows.head(args.show))
    print(f"{rows.height:,} rows in {folder} (source, file, row_number, column, reason, record)")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    """Print a SQL model rendered for a day (or a range of days)."""
    from retail_assets.defs.features.assets import load

    models = {m.name: m for m in load()}
    if args.model not in models:
        print(f"unknown model {args.model!r}; models: {', '.join(sorted(models))}", file=sys.stderr)
        return 2
    model = models[args.model]
    start = dt.date.fromisoformat(args.partition) if args.partition else None
    last = dt.date.fromisoformat(args.end) if args.end else start
    if model.partitioned and start is None:
        print(f"{args.model} is incremental: give --partition YYYY-MM-DD", file=sys.stderr)
        return 2
    end = last + dt.timedelta(days=1) if last else None
    print(f"-- dbt_like_sql/{model.rel} ({model.materialized})")
    print(model.render(start, end) if model.partitioned else model.render())
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score with a champion model, without Dagster: print CSV (or write --output)."""
    import polars as pl

    from retail_assets.lib.ml import scoring
    from retail_assets.lib.settings import Settings
    from retail_assets.lib.warehouse.lake import Lake

    s = Settings.from_env()
    lake = Lake(s.lake_root, s.landing_root, s.warehouse_path)
    if args.model == "sentiment":
        if not args.text:
            print("give one or more texts to score", file=sys.stderr)
            return 2
        out = scoring.sentiment(s.lake_root, args.text)
    else:
        if args.input:
            path = Path(args.input)
            features = (
                pl.read_parquet(path)
                if path.suffix == ".parquet"
                else pl.read_csv(path, try_parse_dates=True)
            )
        else:
            days = sorted(
                f.parent.name.split("=", 1)[1]
                for f in lake.partition_files("features", "user_features")
            )
            if not days:
                print(f"no features.user_features in {s.lake_root}", file=sys.stderr)
                return 2
            day = args.as_of or days[-1]
            features = lake.read("features", "user_features", [day])
            if features.is_empty():
                print(f"no features.user_features for {day}", file=sys.stderr)
                return 2
        if args.customer:
            features = features.filter(pl.col("customer_key").is_in(args.customer))
        fn = scoring.propensity if args.model == "propensity" else scoring.segments
        out = fn(s.lake_root, features)
    if args.output:
        out.write_csv(args.output)
        print(f"wrote {out.height} rows to {args.output}", file=sys.stderr)
    else:
        print(out.write_csv(), end="")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a payload file against the Dagster instance's record of the run that made it."""
    import json

    import dagster as dg

    from retail_assets.defs.activation.keys import DSP_PAYLOAD
    from retail_assets.defs.activation.lineage import run_record
    from retail_assets.lib.activation import payload as plan
    from retail_assets.lib.activation.provenance import check_against_record

    path = Path(args.payload)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"FAIL {path}: not a readable JSON payload: {exc}", file=sys.stderr)
        return 1
    problems: list[str] = []
    try:
        plan.validate_plan(payload)
    except plan.PlanValidationError as exc:
        problems.extend(exc.problems)
    lineage = payload.get("lineage") or {}
    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        record = run_record(
            instance, DSP_PAYLOAD, lineage.get("dagster_run_id", ""), lineage.get("partition_key")
        )
    outcome = check_against_record(payload, record)
    problems.extend(p for p in outcome.problems if p not in problems)
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    if problems:
        print(f"FAIL {path}:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(
        f"OK {path}: body sha256 {lineage.get('body_sha256')} matches run "
        f"{lineage.get('dagster_run_id')} (partition {lineage.get('partition_key')}) and its "
        f"{len(lineage.get('input_data_versions') or {})} input data versions"
    )
    return 0


def _configure_logging(*, quiet: bool) -> None:
    """Log lines for a person: INFO by default; for a quiet ``materialize`` only errors.

    A quiet ``materialize`` draws its own progress: the Python warnings and the libraries'
    log lines (alembic migrating the instance's SQLite, Dagster's own) are noise there; the
    run's events are in the instance anyway.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if quiet:
        import warnings

        warnings.simplefilter("ignore")
        logging.getLogger().setLevel(logging.ERROR)
        for name in ("alembic", "dagster", "retail_assets"):
            logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``retail-assets`` command."""
    parser = argparse.ArgumentParser(prog="retail-assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("materialize", help="materialize every asset for daily partitions")
    m.add_argument("--start", help="first partition (YYYY-MM-DD)")
    m.add_argument("--end", help="last partition (default: yesterday)")
    m.add_argument(
        "--days",
        type=int,
        help="number of partitions ending at --end (default: RETAIL_DEMO_DAYS, 365)",
    )
    m.add_argument(
        "--customers",
        type=_customers,
        help="size of the simulated customer base (sets RETAIL_CUSTOMERS; default 20,000)",
    )
    m.add_argument(
        "--verbose",
        action="store_true",
        help="print Dagster's event stream and every log line (the UI shows them anyway)",
    )
    m.set_defaults(func=cmd_materialize)
    i = sub.add_parser("init", help="write a configuration folder with a sources.yaml template")
    i.add_argument("folder", nargs="?", default="config")
    i.add_argument("--force", action="store_true", help="overwrite files that exist")
    i.set_defaults(func=cmd_init)
    u = sub.add_parser("ui", help="start the Dagster UI and daemon")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)
    c = sub.add_parser("catalog", help="manage the warehouse catalog")
    csub = c.add_subparsers(dest="catalog_command", required=True)
    r = csub.add_parser("refresh", help="create the views of every table in the lake")
    r.set_defaults(func=cmd_catalog_refresh)
    q = sub.add_parser("quarantine", help="list rows set aside from your files, by reason")
    q.add_argument("--show", type=int, default=0, help="also print the first N rows")
    q.set_defaults(func=cmd_quarantine)
    k = sub.add_parser("compile", help="print a SQL model rendered for a partition")
    k.add_argument("model")
    k.add_argument("--partition", help="first day, YYYY-MM-DD (incremental models)")
    k.add_argument("--end", help="last day of a range, YYYY-MM-DD (default: --partition)")
    k.set_defaults(func=cmd_compile)
    sc = sub.add_parser(
        "score", help="score customers or texts with a champion model (no Dagster needed)"
    )
    sc.add_argument("model", choices=["propensity", "segments", "sentiment"])
    sc.add_argument("text", nargs="*", help="texts to score (sentiment)")
    sc.add_argument("--as-of", help="day of features.user_features to score (default: latest)")
    sc.add_argument("--input", help="a CSV or Parquet file of user features to score instead")
    sc.add_argument("--customer", action="append", help="only this customer_key (repeatable)")
    sc.add_argument("--output", help="write CSV here instead of standard output")
    sc.set_defaults(func=cmd_score)
    v = sub.add_parser(
        "verify",
        help="check a DSP payload file: its body hash, and its lineage against the Dagster "
        "run that made it (exit 1 on any mismatch)",
    )
    v.add_argument("payload", help="path to a payload.json")
    v.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    _configure_logging(quiet=args.func is cmd_materialize and not args.verbose)
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
