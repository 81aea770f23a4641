"""Simulate one day of the retailer on one core and compare with a per-row reference.

    python benchmarks/simulate.py            # 1,000,000 customers, reference on 20,000
    python benchmarks/simulate.py --quick    # 50,000 customers, reference on 2,000

Prints one ``metric: value`` per line. The customer base (a separate, unpartitioned asset)
is built before the day is timed; the day is ``sessions`` + ``app_events`` + ``signals`` +
``transactions``, and its events are the rows of those four frames. The reference
(``reference_simulator.py``) simulates the same distributions row by row in pure Python on a
sample of customers, in the same process, so ``speedup_vs_reference`` compares like with like.

``cpu_user_seconds`` / ``cpu_system_seconds`` split the day's CPU time: system time is the
kernel giving the process new memory (page faults), which on some VMs costs more than the
simulation itself (``RESULTS.md``); ``events_per_cpu_second`` is less affected than
``events_per_second`` when other processes share the cores. ``next_day_*`` is the following
day in the same process, after the first day's frames are dropped, as a range run of
consecutive days sees it (memory the process already had is cheaper to write into than new
memory).
"""

from __future__ import annotations

import os

# One core: set before numpy and polars are imported (their thread pools read these once).
for _var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

import numpy as np  # noqa: E402, F401  (imported here so its pools start single-threaded)
import polars as pl  # noqa: E402
from reference_simulator import ReferenceSimulator  # noqa: E402

from retail_assets.lib.config import load_simulation_config  # noqa: E402
from retail_assets.lib.sources.simulator import Simulator  # noqa: E402

DAY_METHODS = ("sessions", "app_events", "signals", "transactions")


def simulate_day(sim, day: dt.date) -> dict[str, tuple[pl.DataFrame, float]]:
    """Every frame of ``day`` with the seconds it took."""
    out = {}
    for method in DAY_METHODS:
        start = time.perf_counter()
        frame = getattr(sim, method)(day)
        out[method] = (frame, time.perf_counter() - start)
    return out


def report(name: str, value) -> None:
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    print(f"{name}: {value}", flush=True)


def report_day(prefix: str, sim, day: dt.date, customers: int, per_method: bool = True) -> float:
    """Simulate ``day``, print its figures with ``prefix``, return events per second."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    frames = simulate_day(sim, day)
    after = resource.getrusage(resource.RUSAGE_SELF)
    events = sum(frame.height for frame, _ in frames.values())
    seconds = sum(secs for _, secs in frames.values())
    for method, (frame, secs) in frames.items() if per_method else ():
        report(f"{prefix}{method}_events", frame.height)
        report(f"{prefix}{method}_seconds", secs)
    report(f"{prefix}events", events)
    report(f"{prefix}simulate_seconds", seconds)
    report(f"{prefix}events_per_second", events / seconds)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    report(f"{prefix}cpu_user_seconds", user)
    report(f"{prefix}cpu_system_seconds", system)
    report(f"{prefix}events_per_cpu_second", events / max(user + system, 1e-9))
    if not per_method:
        return events / seconds
    report(f"{prefix}events_per_customer", events / customers)
    # Signals are ~1,000 rows a day whatever the customer count: compare the rest per customer.
    signals = frames["signals"][0].height
    report(f"{prefix}customer_events_per_customer", (events - signals) / customers)
    return events / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 customers, reference 2,000")
    parser.add_argument("--customers", type=int, help="customers (default 1,000,000)")
    parser.add_argument("--reference-customers", type=int, help="reference sample (20,000)")
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2025, 3, 1))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    customers = args.customers or (50_000 if args.quick else 1_000_000)
    ref_customers = args.reference_customers or (2_000 if args.quick else 20_000)
    config = load_simulation_config()

    report("polars_threads", pl.thread_pool_size())
    report("day", args.day.isoformat())
    # Warm up: imports and polars' code paths, on tiny customer bases.
    simulate_day(Simulator(config, args.seed, 2_000), args.day)
    simulate_day(ReferenceSimulator(config, args.seed, 200), args.day)

    # Vectorized: the customer base first (its own asset), then the day.
    start = time.perf_counter()
    sim = Simulator(config, args.seed, customers)
    sim.customers_frame()
    report("customers", customers)
    report("customers_build_seconds", time.perf_counter() - start)
    rate = report_day("", sim, args.day, customers)
    report("peak_memory_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    # The next day in the same process (a range run's second day); the first day's frames
    # are gone, so it writes into memory the process already has.
    report_day("next_day_", sim, args.day + dt.timedelta(days=1), customers, per_method=False)
    del sim
    gc.collect()

    # Reference: the same distributions row by row, on a sample of customers.
    start = time.perf_counter()
    ref = ReferenceSimulator(config, args.seed, ref_customers)
    report("reference_customers", ref_customers)
    report("reference_customers_build_seconds", time.perf_counter() - start)
    ref_rate = report_day("reference_", ref, args.day, ref_customers)
    report("speedup_vs_reference", rate / ref_rate)


if __name__ == "__main__":
    main()
