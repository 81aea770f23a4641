"""The retailer's inbox sensor: new or changed files reload the reference data, then their days.

:func:`build_sensor` makes the ``retailer_inbox_sensor`` (``retail_assets.definitions.prune``
adds it when the retailer's world has its ``reference_data`` and ``all_assets`` jobs);
:func:`changed_days` finds the days a source's new or changed files touch.
"""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.retailer_files import DATED, inbox_root, source_frames
from retail_assets.lib.sources import ingest
from retail_assets.lib.sources import retail_files as rf
from retail_assets.lib.sources.declarations import World
from retail_assets.lib.sources.file_source import FileSource


def _file_versions(platform: RetailPlatform, spec: FileSource) -> dict[str, str]:
    """``{path: "mtime:size"}`` of the files a source's glob matches now."""
    out = {}
    for p in spec.paths(inbox_root(platform)):
        stat = p.stat()
        out[str(p)] = f"{stat.st_mtime_ns}:{stat.st_size}"
    return out


def changed_days(platform: RetailPlatform, sources, name: str, changed: list[Path]) -> set[dt.date]:
    """The days whose partitions the new or changed files of dated source ``name`` touch.

    The days the files' rows fall on; for orders also the days of the earlier purchases
    their cancellations were netted against (those days' sales changed too).
    """
    if name == "web_events" and sources.web_events.format == "ga4":
        return {d for p in changed if (d := ingest.ga4_file_date(p)) is not None}
    if name == "web_events":  # a site's own log: every day of the source (re-read whole)
        events = source_frames(platform, sources, name)["sessions"]
        return set(events["event_date"].str.to_date("%Y%m%d").unique().to_list())
    frame_name, column = DATED[name]
    got = source_frames(platform, sources, name)
    frame = got[frame_name]
    if name in ("app_events", "reviews", "signals"):
        # Which rows came from which file is not kept after parsing: re-read the new files.
        spec = getattr(sources, name)
        alone = source_frames_of(platform, sources, name, changed, spec)
        return set(alone[frame_name][column].unique().to_list())
    names = {p.name for p in changed}
    index = {i: Path(f).name for i, f in enumerate(got["_files"])}
    file_of = frame["line_id"].str.split(":").list.get(1).cast(pl.Int64)
    mine = frame.filter(file_of.replace_strict(index, default=None).is_in(list(names)))
    days = set(mine["order_date"].unique().to_list())
    cancelled = mine.filter(pl.col("is_cancellation") & pl.col("customer_id").is_not_null())
    netted = frame.join(
        cancelled.select("customer_id", "product_id").unique(),
        on=["customer_id", "product_id"],
        how="semi",
    ).filter(pl.col("net_quantity") < pl.col("quantity"))
    return days | set(netted["order_date"].unique().to_list())


def source_frames_of(platform, sources, name, files, spec) -> dict:
    """The parse of some of a source's files only (not staged): for the days they touch."""
    if name == "app_events":
        events, _ = ingest.read_events_quarantined(files, spec.mapping(), spec)
        return {"events": events}
    if name == "reviews":
        # Categories need the catalog: parse the reviews whole (every day of the source).
        return {"signals": source_frames(platform, sources, name)["signals"]}
    signals, _ = rf.read_signals(files, spec)
    return {"signals": signals}


def build_sensor(
    world: World, daily_keys: list[dg.AssetKey], reference_job, daily_job
) -> dg.SensorDefinition:
    """A sensor that loads new or changed files of the declared sources.

    A change first requests the ``reference_data`` run (customers, products, stores and
    sales history, which the daily assets read); once it has finished, one run per
    contiguous range of the days the changed dated files touch (``daily_keys``, as a
    single-run backfill does). The cursor keeps each file's modification time and size.
    """
    sources = world.sources
    names = sources.declared()

    @dg.sensor(
        name="retailer_inbox_sensor",
        jobs=[reference_job, daily_job],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches the files sources.yaml declares; a new or changed file reloads "
        "the reference data, then runs the days it touches as ranges.",
    )
    def retailer_inbox_sensor(context: dg.SensorEvaluationContext, platform: RetailPlatform):
        state = json.loads(context.cursor) if context.cursor else {"seen": {}, "pending": None}
        seen, pending = state["seen"], state.get("pending")
        if pending:
            runs = context.instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/run_key": pending["run_key"]}), limit=1
            )
            if runs and not runs[0].is_finished:
                return dg.SkipReason("waiting for the reference_data run to finish")
            requests = []
            days: set[dt.date] = set()
            for name in pending["dated"]:
                files = [Path(p) for p in pending["files"].get(name, [])]
                if files:
                    days |= changed_days(platform, sources, name, files)
            from retail_assets.defs.partitions import daily_partitions
            from retail_assets.defs.sources.landing import (
                RANGE_END_TAG,
                RANGE_START_TAG,
                contiguous_ranges,
            )
            from retail_assets.lib.settings import Settings

            keys = set(daily_partitions.get_partition_keys())
            wanted = sorted(d.isoformat() for d in days if d.isoformat() in keys)
            for first, last in contiguous_ranges(wanted, Settings.from_env().backfill_max_days):
                requests.append(
                    dg.RunRequest(
                        run_key=f"{pending['run_key']}:{first}..{last}",
                        job_name="all_assets",
                        asset_selection=daily_keys,
                        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
                    )
                )
            context.update_cursor(json.dumps({"seen": pending["versions"], "pending": None}))
            if not requests:
                return dg.SkipReason("reference data reloaded; no dated file changed")
            return dg.SensorResult(run_requests=requests)
        versions = {n: _file_versions(platform, getattr(sources, n)) for n in names}
        changed = {
            n: sorted(p for p, v in files.items() if seen.get(n, {}).get(p) != v)
            for n, files in versions.items()
        }
        changed = {n: files for n, files in changed.items() if files}
        if not changed:
            return dg.SkipReason("no new or changed file")
        digest = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]
        run_key = f"reference:{digest}"
        dated = [n for n in changed if n in DATED]
        context.update_cursor(
            json.dumps(
                {
                    "seen": seen,
                    "pending": {
                        "run_key": run_key,
                        "dated": dated,
                        "files": changed,
                        "versions": versions,
                    },
                }
            )
        )
        listed = sorted({Path(p).name for files in changed.values() for p in files})
        return dg.RunRequest(
            run_key=run_key,
            job_name="reference_data",
            tags={"landing_files": ", ".join(listed[:20])},
        )

    return retailer_inbox_sensor
