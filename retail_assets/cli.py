"""Command line: ``retail-assets materialize | ui | catalog refresh | compile | score | verify``.

``materialize`` runs the ``all_assets`` job in this process, one run per daily partition, on
the Dagster instance in ``DAGSTER_HOME`` (default ``./.dagster_home``), so the runs show up in
the UI afterwards. ``ui`` starts ``dagster dev`` on the same instance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
import time
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


def cmd_materialize(args: argparse.Namespace) -> int:
    """Materialize every asset for a range of daily partitions, oldest first."""
    import dagster as dg

    from retail_assets.definitions import defs
    from retail_assets.lib.settings import Settings

    settings = Settings.from_env()
    home = _dagster_home()
    keys = _partitions(args, settings)
    job = defs.resolve_job_def("all_assets")
    log.info(
        "materializing %d partitions %s..%s into %s (run history in %s)",
        len(keys),
        keys[0],
        keys[-1],
        settings.warehouse_path,
        home,
    )
    started = time.monotonic()
    tags = {"retail_assets/source": "cli"}
    with dg.DagsterInstance.get() as instance:
        # The reference data first (customer base, its governed version, product catalog,
        # retail calendar): unpartitioned, built from simulation.yaml; daily assets read it.
        reference = defs.resolve_job_def("reference_data")
        result = reference.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
        if not result.success:
            return _report_failure("reference data", result)
        # Every daily asset but the plan, which comes last, once the models are trained.
        daily = sorted(k for k in job.asset_layer.selected_asset_keys if k.path[0] != "activation")
        for i, key in enumerate(keys, start=1):
            t0 = time.monotonic()
            result = job.execute_in_process(
                partition_key=key,
                instance=instance,
                raise_on_error=False,
                tags=tags,
                asset_selection=daily,
            )
            if not result.success:
                return _report_failure(f"partition {key}", result)
            log.info("[%d/%d] %s done in %.1fs", i, len(keys), key, time.monotonic() - t0)
        # Then the SQL models that are whole tables or views, over every day now in the lake.
        tables = defs.resolve_job_def("feature_tables")
        result = tables.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
        if not result.success:
            return _report_failure("feature tables", result)
        # The forecasting models, chosen by cross-validation over the history now in the lake,
        # then the last day's forecasts again with them (the days above used what was stored).
        selection = defs.resolve_job_def("forecast_model_selection")
        result = selection.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
        if not result.success:
            return _report_failure("forecast model selection", result)
        forecasts = defs.resolve_job_def("forecasts")
        result = forecasts.execute_in_process(
            partition_key=keys[-1], instance=instance, raise_on_error=False, tags=tags
        )
        if not result.success:
            return _report_failure(f"forecasts for {keys[-1]}", result)
        # The models (sentiment, direction, propensity, segments) on the history now in the
        # lake, then their drift monitor. A model without enough history yet says so and
        # publishes an empty table.
        for name in ("model_training", "model_monitoring"):
            result = defs.resolve_job_def(name).execute_in_process(
                instance=instance, raise_on_error=False, tags=tags
            )
            if not result.success:
                return _report_failure(name, result)
        # The plan for the flight after the last day, from the curves, the forecasts and the
        # segments just trained, delivered to RETAIL_DSP_SINK (default data/outbox).
        result = defs.resolve_job_def("activation").execute_in_process(
            partition_key=keys[-1], instance=instance, raise_on_error=False, tags=tags
        )
        if not result.success:
            return _report_failure(f"activation for {keys[-1]}", result)
    log.info(
        'all %d partitions done in %.0fs. Query the warehouse with:\n  python -c "import '
        "duckdb; print(duckdb.connect('%s', read_only=True).sql('select * from "
        "governed.sessions limit 5'))\"",
        len(keys),
        time.monotonic() - started,
        settings.warehouse_path,
    )
    return 0


def _report_failure(what: str, result) -> int:
    failures = [
        f"{e.step_key}: {e.step_failure_data.error.message.strip()}"
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    ]
    log.error("%s failed (run %s):\n%s", what, result.run_id, "\n".join(failures))
    return 1


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
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()


def cmd_catalog_refresh(args: argparse.Namespace) -> int:
    """Create or re-point a catalog view for every table in the lake."""
    from retail_assets.lib.lake import Lake
    from retail_assets.lib.settings import Settings

    s = Settings.from_env()
    results = Lake(s.lake_root, s.landing_root, s.warehouse_path).refresh_catalog()
    for r in results:
        print(f"{r.name}: {r.status}{' - ' + r.detail if r.detail else ''}")
    if not results:
        print(f"no tables in {s.lake_root} yet")
    return 1 if any(r.status == "busy" for r in results) else 0


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

    from retail_assets.lib.lake import Lake
    from retail_assets.lib.ml import scoring
    from retail_assets.lib.settings import Settings

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
    from retail_assets.lib import payload as plan
    from retail_assets.lib.provenance import check_against_record

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``retail-assets`` command."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="retail-assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("materialize", help="materialize every asset for daily partitions")
    m.add_argument("--start", help="first partition (YYYY-MM-DD)")
    m.add_argument("--end", help="last partition (default: yesterday)")
    m.add_argument(
        "--days",
        type=int,
        help="number of partitions ending at --end (default: RETAIL_DEMO_DAYS, 28)",
    )
    m.set_defaults(func=cmd_materialize)
    u = sub.add_parser("ui", help="start the Dagster UI and daemon")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)
    c = sub.add_parser("catalog", help="manage the warehouse catalog")
    csub = c.add_subparsers(dest="catalog_command", required=True)
    r = csub.add_parser("refresh", help="create the views of every table in the lake")
    r.set_defaults(func=cmd_catalog_refresh)
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
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
