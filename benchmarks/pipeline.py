"""The whole pipeline: end-to-end time, the cost of one more day as history grows, peak memory.

    python benchmarks/pipeline.py            # the default 365 days at 20,000 customers; one
                                             # day at 1,000,000
    python benchmarks/pipeline.py --quick    # 365 days at 2,000 customers; a day at 20,000

Prints one ``metric: value`` per line (progress goes to stderr):

- ``end_to_end_seconds``: wall time of ``retail-assets materialize`` (the README's command,
  default days and customers) in a fresh temporary data folder and ``DAGSTER_HOME``, through
  activation. ``default_days``: the days it built. ``models_trained``: the models with a real
  champion afterwards (forecast selection with at least one cross-validated champion, and
  sentiment, weekly direction, propensity and segments with ``trained`` in their metadata),
  read from the run's Dagster instance. ``console_lines``: lines the command printed
  (standard output and error together, as a terminal shows them).
- ``partition_cost_ratio_365_vs_1``: the same calendar day D (partition 365 of the daily
  partitions) of every daily asset whose input is one day, run on two lakes: lake A holds the
  reference data and nothing else (as a first partition sees it), lake B is a hard-linked
  copy of A given the 364 days before D (links to D's files). Running the same day on both
  keeps the day's data identical (the simulated season, festivals and weekday differ between
  any two dates), so the only difference is the history in the lake. After a warm-up on each,
  runs alternate A/B; each asset is timed from its step's ``STEP_START`` and ``STEP_SUCCESS``
  events (wall time, and the process's CPU time between them). The figure is the worst
  asset's time(with history)/time(without); ``partition_cpu_cost_ratio_365_vs_1`` the same on
  CPU time.
- ``peak_memory_mb``: the largest peak RSS of the two child processes that did the work (the
  kernel's ``ru_maxrss`` for each, from ``os.wait4``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as pyplatform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout, whatever an installed copy points to
#: Unpartitioned inputs a one-day asset may have: reference data built once from
#: configuration, a view over one-day tables, and the Census file (absent, read as empty).
ONE_DAY_UNPARTITIONED = {
    "raw/customers",
    "raw/product_catalog",
    "raw/retail_calendar",
    "governed/customers",
    "raw/census_retail_sales",
    "features/online_purchases",
}


def log(message: str) -> None:
    print(f"[pipeline {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def report(name: str, value) -> None:
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    print(f"{name}: {value}", flush=True)


def default_days() -> int:
    """The days ``retail-assets materialize`` builds by default (RETAIL_DEMO_DAYS)."""
    from retail_assets.lib.settings import Settings

    return Settings.from_env({}).demo_days


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def environment(root: Path, customers: int) -> dict[str, str]:
    """Every location under ``root``: nothing touches the checkout's data/ or .dagster_home."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("RETAIL_") or name == "DAGSTER_HOME":
            del env[name]
    data = root / "data"
    env.update(
        RETAIL_DATA_DIR=str(data),
        RETAIL_LAKE_ROOT=str(data / "lake"),
        RETAIL_LANDING_ROOT=str(data / "landing"),
        RETAIL_WAREHOUSE_PATH=str(data / "warehouse.duckdb"),
        RETAIL_DSP_SINK=str(data / "outbox"),
        RETAIL_CUSTOMERS=str(customers),
        DAGSTER_HOME=str(root / "dagster_home"),
        # The checkout, whatever an installed copy of the package points to.
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    return env


def run_child(
    cmd: list[str], env: dict[str, str], cwd: Path, capture: bool = False, merge: bool = False
):
    """Run ``cmd``; return (exit code, wall seconds, peak RSS in MB, stdout if captured).

    ``merge`` captures standard error with standard output (what a person sees in a terminal).
    ``os.wait4`` gives the rusage of this child alone (with its own waited-for children), so
    each phase's peak is its own, not the running maximum of ``RUSAGE_CHILDREN``.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.STDOUT if merge else None,
        text=True,
    )
    out = proc.stdout.read() if capture else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - start, usage.ru_maxrss / 1024, out


# --------------------------------------------------------------------------- end to end
#: The models a default run must train for real, by asset key.
MODEL_KEYS = (
    "ml/review_sentiment",
    "ml/sales_direction_model",
    "ml/purchase_propensity",
    "ml/customer_segments",
)


def models_trained(home: Path) -> dict[str, bool]:
    """Each model of the run in ``home``'s instance: trained for real, or a placeholder.

    A model counts when its latest materialization says ``trained``; forecast selection when
    at least one series got a champion chosen by cross-validation (not a rule's fallback).
    """
    import dagster as dg

    out: dict[str, bool] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for name in MODEL_KEYS:
            event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(name))
            meta = event.asset_materialization.metadata if event else {}
            out[name] = bool(meta.get("trained") and meta["trained"].value)
        event = instance.get_latest_materialization_event(dg.AssetKey(["ml", "forecast_models"]))
        meta = event.asset_materialization.metadata if event else {}
        champions = meta.get("series_cv_champion")
        out["ml/forecast_models"] = bool(champions and champions.value > 0)
    return out


def end_to_end(args: argparse.Namespace, root: Path) -> dict:
    env = environment(root, args.customers)
    env.pop("CI", None)  # the console a person sees, not CI's plain one
    cmd = [sys.executable, "-m", "retail_assets.cli", "materialize"]
    if args.days:
        cmd += ["--days", str(args.days)]
    log(f"end to end: {' '.join(cmd[2:])} at {args.customers:,} customers in {root}")
    code, seconds, peak, out = run_child(cmd, env, root, capture=True, merge=True)
    lines = out.splitlines()
    for line in lines:
        log(f"  | {line}")
    if code != 0:
        raise SystemExit(f"retail-assets materialize failed (exit {code}); its output is above")
    trained = models_trained(root / "dagster_home")
    log(f"end to end: {seconds:.0f} s, peak {peak:.0f} MB, {len(lines)} lines, models {trained}")
    return {"seconds": seconds, "peak_mb": peak, "lines": len(lines), "trained": trained}


# --------------------------------------------------------------------------- one day
def one_day_assets(defs) -> tuple[list, dict[str, str]]:
    """Daily assets whose input is one day, and why every other daily asset is left out.

    An asset is in when every partitioned parent is mapped by identity (same day, no
    lookback) and is itself in, and its unpartitioned parents are reference data, a view
    over one-day tables, or the optional Census file.
    """
    import dagster as dg

    graph = defs.resolve_asset_graph()
    selected = defs.resolve_job_def("all_assets").asset_layer.selected_asset_keys
    reasons: dict[str, str] = {}
    included: set = set()
    ordered = sorted(selected, key=lambda k: k.to_user_string())
    changed = True
    while changed:
        changed = False
        for key in ordered:
            if key in included or key.to_user_string() in reasons:
                continue
            why = None
            pending = False
            for parent in sorted(graph.get(key).parent_keys, key=lambda k: k.to_user_string()):
                name = parent.to_user_string()
                if graph.get(parent).partitions_def is None:
                    if name not in ONE_DAY_UNPARTITIONED:
                        why = f"reads {name} (unpartitioned, built from history)"
                        break
                    continue
                mapping = graph.get_partition_mapping(key, parent)
                identity = isinstance(mapping, dg.IdentityPartitionMapping) or (
                    isinstance(mapping, dg.TimeWindowPartitionMapping)
                    and mapping.start_offset == 0
                    and mapping.end_offset == 0
                )
                if not identity:
                    offset = getattr(mapping, "start_offset", "?")
                    why = f"reads {name} with a lookback ({offset} days)"
                    break
                if parent not in selected:
                    why = f"reads {name}, not a daily asset"
                    break
                if name in reasons:
                    why = f"downstream of {name}"
                    break
                if parent not in included:
                    pending = True
            if why:
                reasons[key.to_user_string()] = why
                changed = True
            elif not pending:
                included.add(key)
                changed = True
    for key in ordered:  # a cycle cannot happen in an asset graph; be safe anyway
        if key not in included and key.to_user_string() not in reasons:
            reasons[key.to_user_string()] = "undecided"
    return sorted(included, key=lambda k: k.to_user_string()), reasons


class CpuClock:
    """This process's CPU time (every thread: DuckDB's and polars' pools too), sampled.

    A thread records ``(time.time(), time.process_time())`` every 10 ms, so the CPU seconds
    between two event-log timestamps can be read off afterwards. CPU time, unlike wall time,
    barely moves when other work shares the cores.
    """

    def __init__(self, interval: float = 0.01) -> None:
        import threading

        self.times: list[float] = []
        self.cpu: list[float] = []
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True, name="cpu-clock")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.times.append(time.time())
            self.cpu.append(time.process_time())
            self._stop.wait(self._interval)

    def at(self, timestamp: float) -> float:
        import numpy as np

        n = min(len(self.times), len(self.cpu))  # the sampler may be between its appends
        return float(np.interp(timestamp, self.times[:n], self.cpu[:n]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def step_seconds(instance, run_id: str, clock: CpuClock) -> dict[str, list[float]]:
    """``[wall, cpu]`` seconds of every step of a run, by the asset(s) it materialized."""
    import dagster as dg

    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    assets: dict[str, list[str]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            ends[entry.step_key] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            assets.setdefault(entry.step_key, []).append(event.asset_key.to_user_string())
    return {
        "+".join(sorted(assets.get(step, [f"check:{step}"]))): [
            ends[step] - starts[step],
            clock.at(ends[step]) - clock.at(starts[step]),
        ]
        for step in starts
        if step in ends
    }


def mirror(source: Path, target: Path) -> int:
    """Recreate the files of ``source`` under ``target``: Parquet files as hard links.

    Partition files are only ever replaced with a rename, never written in place, so a link
    is safe; small files that are rewritten in place (catalog markers) are copied.
    """
    n = 0
    for path in sorted(source.rglob("*")):
        if not path.is_file() or ".duckdb_tmp" in path.parts:
            continue
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            os.link(path, dest)
        else:
            shutil.copy2(path, dest)
        n += 1
    return n


def add_history(data: Path, first: dt.date, last: dt.date) -> tuple[int, int]:
    """Give every daily table days ``first .. last-1``: hard links to day ``last``'s files.

    Hard links cost no disk and no time. The copies keep day 1's dates inside, so a query
    that filters on its own day skips them through the row-group statistics, as it skips a
    real older day; what they reproduce is the number of files and folders a run sees.
    """
    dirs, files = 0, 0
    source_name = f"date={last.isoformat()}"
    for area in (data / "lake", data / "landing"):
        for source in sorted(area.glob(f"*/*/{source_name}")):
            day = first
            while day < last:
                target = source.parent / f"date={day.isoformat()}"
                target.mkdir(exist_ok=True)
                for f in source.iterdir():
                    if f.is_file() and not f.name.startswith("."):
                        dest = target / f.name
                        if not dest.exists():
                            try:
                                os.link(f, dest)
                            except OSError:
                                shutil.copy2(f, dest)
                            files += 1
                dirs += 1
                day += dt.timedelta(days=1)
    return dirs, files


def partition_worker(args: argparse.Namespace) -> None:
    """In the child: day N run on a lake without history and on one with N-1 days; JSON out.

    Lake A holds the reference data and day N only. Lake B is a copy of A (hard links) given
    days 1..N-1. After one warm-up run on each, the runs alternate A, B, so a change in the
    machine's load falls on both sides alike.
    """
    import dataclasses
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    from retail_assets.definitions import build_definitions
    from retail_assets.defs.resources import RetailPlatform
    from retail_assets.lib.settings import Settings

    root = Path(args.root)
    settings = Settings.from_env()
    try:  # the instance folder as `retail-assets materialize` sets it up (its dagster.yaml)
        from retail_assets.instance import ensure_dagster_home

        ensure_dagster_home()
    except ImportError:
        pass
    hist = root / "history"
    settings_b = dataclasses.replace(
        settings,
        data_dir=hist,
        lake_root=hist / "lake",
        landing_root=hist / "landing",
        warehouse_path=hist / "warehouse.duckdb",
        dsp_sink=str(hist / "outbox"),
    )
    defs_a = build_definitions(RetailPlatform.from_settings(settings))
    defs_b = build_definitions(RetailPlatform.from_settings(settings_b))
    included, excluded = one_day_assets(defs_a)
    log(f"one-day assets ({len(included)}): {', '.join(k.to_user_string() for k in included)}")
    for name, why in sorted(excluded.items()):
        log(f"  left out {name}: {why}")
    first = settings.start_date
    last = first + dt.timedelta(days=args.history_days - 1)
    out: dict = {
        "included": [k.to_user_string() for k in included],
        "excluded": excluded,
        "first": first.isoformat(),
        "last": last.isoformat(),
        "day1": {"runs": []},
        f"day{args.history_days}": {"runs": []},
    }
    clock = CpuClock()
    with dg.DagsterInstance.get() as instance:
        t0 = time.perf_counter()
        result = defs_a.resolve_job_def("reference_data").execute_in_process(
            instance=instance, raise_on_error=False
        )
        if not result.success:
            raise SystemExit("reference_data failed")
        out["reference_seconds"] = time.perf_counter() - t0
        log(f"reference data at {settings.customers:,} customers: {out['reference_seconds']:.1f} s")

        def run(defs, day: dt.date, label: str) -> dict:
            t0 = time.perf_counter()
            result = defs.resolve_job_def("all_assets").execute_in_process(
                partition_key=day.isoformat(),
                instance=instance,
                raise_on_error=False,
                asset_selection=included,
            )
            wall = time.perf_counter() - t0
            if not result.success:
                failed = [e.step_key for e in result.all_events if e.is_step_failure]
                raise SystemExit(f"partition {day} failed in {failed}")
            steps = step_seconds(instance, result.run_id, clock)
            busy = sum(w for w, _ in steps.values())
            cpu = sum(c for _, c in steps.values())
            log(
                f"partition {day} {label}: {wall:.1f} s (steps {busy:.1f} s, {cpu:.1f} s CPU; "
                f"load {load_average()})"
            )
            return {"wall": wall, "steps": steps, "load": load_average()}

        run(defs_a, last, "warm-up, no history (not counted)")
        t0 = time.perf_counter()
        data_a = Path(settings.lake_root).parent
        linked = mirror(Path(settings.lake_root), hist / "lake")
        linked += mirror(Path(settings.landing_root), hist / "landing")
        dirs, files = add_history(hist, first, last)
        out["history_seconds"] = time.perf_counter() - t0
        out["history_dirs"], out["history_files"] = dirs, files
        log(
            f"history: {data_a} mirrored to {hist} ({linked} files), then {dirs} day folders, "
            f"{files} hard links, in {out['history_seconds']:.1f} s"
        )
        run(defs_b, last, "warm-up, with history (not counted)")
        for rep in range(1, args.repeats + 1):
            out["day1"]["runs"].append(run(defs_a, last, f"no history, run {rep}/{args.repeats}"))
            out[f"day{args.history_days}"]["runs"].append(
                run(defs_b, last, f"with history, run {rep}/{args.repeats}")
            )
    clock.stop()
    print(json.dumps(out))


def partition_cost(args: argparse.Namespace, root: Path) -> tuple[dict, float, float]:
    env = environment(root, args.partition_customers)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--root",
        str(root),
        "--repeats",
        str(args.repeats),
        "--history-days",
        str(args.history_days),
    ]
    log(
        f"partition cost at {args.partition_customers:,} customers, days 1 and "
        f"{args.history_days}, {args.repeats} run(s) each, in {root}"
    )
    code, seconds, peak, out = run_child(cmd, env, root, capture=True)
    if code != 0:
        raise SystemExit(f"partition cost run failed (exit {code}); see stderr above")
    return json.loads(out.strip().splitlines()[-1]), seconds, peak


def summarize(result: dict, history_days: int) -> None:
    """Per asset: the fastest of the runs of each day (the least disturbed by other work).

    ``ratio.<asset>`` compares wall times (what the issue asks), ``cpu_ratio.<asset>`` the
    process CPU seconds of the same steps, which other work on the machine barely moves.
    """
    n = history_days
    first, later = result["day1"]["runs"], result[f"day{n}"]["runs"]
    report("partition_seconds_1", min(r["wall"] for r in first))
    report(f"partition_seconds_{n}", min(r["wall"] for r in later))
    wall, cpu, rows = {}, {}, []
    for asset in sorted(first[0]["steps"]):
        a = [min(r["steps"][asset][i] for r in first if asset in r["steps"]) for i in (0, 1)]
        b = [min(r["steps"][asset][i] for r in later if asset in r["steps"]) for i in (0, 1)]
        wall[asset] = b[0] / a[0] if a[0] > 0 else float("nan")
        cpu[asset] = b[1] / a[1] if a[1] > 0 else float("nan")
        rows.append((asset, a, b))
    worst = max(wall, key=lambda k: wall[k])
    worst_cpu = max(cpu, key=lambda k: cpu[k])
    report(f"partition_cost_ratio_{n}_vs_1", wall[worst])
    report("partition_cost_worst_asset", worst)
    report(f"partition_cpu_cost_ratio_{n}_vs_1", cpu[worst_cpu])
    report("partition_cpu_cost_worst_asset", worst_cpu)
    report("partition_assets_in_ratio", len(wall))
    for asset, a, b in rows:
        report(f"seconds_1.{asset}", a[0])
        report(f"seconds_{n}.{asset}", b[0])
        report(f"ratio.{asset}", wall[asset])
        report(f"cpu_seconds_1.{asset}", a[1])
        report(f"cpu_seconds_{n}.{asset}", b[1])
        report(f"cpu_ratio.{asset}", cpu[asset])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the default days at 2,000 customers; partitions at 20,000",
    )
    parser.add_argument("--customers", type=int, help="end-to-end customers (default 20,000)")
    parser.add_argument("--days", type=int, help="end-to-end days (default: the CLI's, 365)")
    parser.add_argument(
        "--partition-customers", type=int, help="customers of the partition runs (1,000,000)"
    )
    parser.add_argument("--history-days", type=int, default=365, help="partition N (365)")
    parser.add_argument("--repeats", type=int, help="runs of each partition (2; 3 with --quick)")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--skip-partitions", action="store_true")
    parser.add_argument("--workdir", help="parent of the temporary folders (default: system)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 2)
    if args.worker:
        partition_worker(args)
        return 0
    # --quick: the default days (every model needs its history) at a small customer base.
    args.customers = args.customers or (2_000 if args.quick else 20_000)
    args.partition_customers = args.partition_customers or (20_000 if args.quick else 1_000_000)
    if args.history_days < 2:
        parser.error("--history-days must be at least 2")

    report("cores", os.cpu_count())
    report("python", pyplatform.python_version())
    report("load_average_start", load_average())
    peaks = []
    with tempfile.TemporaryDirectory(prefix="pipeline_bench_", dir=args.workdir) as tmp:
        tmp_root = Path(tmp)
        if not args.skip_end_to_end:
            e2e = end_to_end(args, tmp_root / "end_to_end")
            report("end_to_end_customers", args.customers)
            report("default_days", args.days or default_days())
            report("end_to_end_seconds", e2e["seconds"])
            report("models_trained", sum(e2e["trained"].values()))
            for name, ok in e2e["trained"].items():
                report(f"model_{name.split('/')[1]}", "trained" if ok else "placeholder")
            report("console_lines", e2e["lines"])
            report("end_to_end_peak_memory_mb", e2e["peak_mb"])
            peaks.append(e2e["peak_mb"])
            report("load_average_after_end_to_end", load_average())
            if not args.keep:  # free the disk before the partition runs
                shutil.rmtree(tmp_root / "end_to_end", ignore_errors=True)
        if not args.skip_partitions:
            result, seconds, peak = partition_cost(args, tmp_root / "partitions")
            report("partition_customers", args.partition_customers)
            report("partition_runs_each", args.repeats)
            report("partition_history", f"{result['first']}..{result['last']} (hard links)")
            report("partition_history_files", result["history_files"])
            report("reference_data_seconds", result["reference_seconds"])
            summarize(result, args.history_days)
            report("partition_phase_seconds", seconds)
            report("partition_peak_memory_mb", peak)
            peaks.append(peak)
            report("load_average_end", load_average())
        if peaks:
            report("peak_memory_mb", max(peaks))
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="pipeline_bench_kept_", dir=args.workdir))
            for child in tmp_root.iterdir():
                shutil.move(str(child), kept / child.name)
            log(f"kept the folders in {kept}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
