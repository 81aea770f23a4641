"""The retailer's files: where they are, their parse staged once per version, the quarantine.

Each source's files are parsed once per version of them (names, sizes, times and the
declaration) into ``<landing>/staging/<source>/``, so a range run of two years reads them
once, not once per day. Rows set aside are written to ``<landing>/quarantine/source=<source>/``
with file, row number, reason and the row itself; :func:`reconcile` checks that the files'
rows are the rows loaded and set aside.
"""

from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import _failure
from retail_assets.lib.sources import ingest
from retail_assets.lib.sources import retail_files as rf
from retail_assets.lib.sources.file_source import FileSource
from retail_assets.lib.sources.tabular import QUARANTINE_SCHEMA, empty_quarantine, read_columns


def inbox_root(platform: RetailPlatform) -> Path:
    """``<landing>/inbox``: where source globs are read from."""
    return Path(platform.landing_root) / "inbox"


def quarantine_path(platform: RetailPlatform, source: str) -> Path:
    """Where a source's quarantined rows are kept (one Parquet file, replaced per parse)."""
    return Path(platform.landing_root) / "quarantine" / f"source={source}" / "quarantine.parquet"


def read_quarantine(landing_root: str | Path) -> pl.DataFrame:
    """Every source's quarantined rows (:data:`QUARANTINE_SCHEMA`)."""
    files = sorted((Path(landing_root) / "quarantine").glob("source=*/quarantine.parquet"))
    if not files:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return pl.concat([pl.read_parquet(f) for f in files])


def files_of(platform: RetailPlatform, source: str, spec: FileSource) -> list[Path]:
    """The files a source's glob matches; none is an error naming the glob and folder."""
    files = spec.paths(inbox_root(platform))
    if not files:
        raise dg.Failure(
            description=f"sources.yaml declares {source} with files {spec.files!r}, but no file "
            f"matches under {inbox_root(platform)}: put the files there or fix the glob",
            allow_retries=False,
        )
    return files


def parsed(platform: RetailPlatform, source: str, spec: FileSource, build, extra: str = "") -> dict:
    """The frames ``build(files)`` makes of the source's files, parsed once per version.

    ``build`` returns ``{name: frame}`` with a ``quarantine`` frame among them; the quarantine
    is also written to :func:`quarantine_path`. An unusable file fails with its name, column
    and row count (:class:`~retail_assets.lib.sources.ingest.IngestError`), writing nothing.
    """
    files = files_of(platform, source, spec)
    key = rf.fingerprint(files, source, spec.model_dump_json(), extra)

    def make() -> dict[str, pl.DataFrame]:
        try:
            frames = build(files)
        except (ingest.IngestError, ValueError) as exc:
            raise _failure(exc) from None
        path = quarantine_path(platform, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        frames.setdefault("quarantine", empty_quarantine()).write_parquet(path)
        # The files' rows counted on their own, so loaded + set aside can be reconciled.
        column = next(iter(spec.columns.model_dump().items()))  # type: ignore[attr-defined]
        reading = spec.reading() if hasattr(spec, "reading") else spec
        frames["files"] = pl.DataFrame(
            {
                "file": [p.name for p in files],
                "rows": [read_columns(p, reading, dict([column]))[0].height for p in files],
            }
        )
        return frames

    folder = rf.staged(Path(platform.landing_root) / "staging" / source, key, make)
    out = {p.stem: pl.read_parquet(p) for p in folder.glob("*.parquet")}
    out["_files"] = files  # type: ignore[assignment]
    return out


#: Dated sources: the frame of their parse and its day column (which partitions they feed).
DATED = {
    "web_events": ("sessions", "event_date"),  # a site's own event log (format: events)
    "orders": ("orders", "order_date"),
    "app_events": ("events", "event_date"),
    "reviews": ("signals", "signal_date"),
    "signals": ("signals", "signal_date"),
}


#: Readers of the sources whose parse is ``(frame, quarantine)``: source -> (frame name, read).
_READERS = {
    "customers": ("customers", rf.read_customers),
    "products": ("products", rf.read_products),
    "stores": ("stores", rf.read_stores),
    "signals": ("signals", rf.read_signals),
    "web_events": ("sessions", rf.read_web_events),
    "app_events": (
        "events",
        lambda files, spec: ingest.read_events_quarantined(files, spec.mapping(), spec),
    ),
}


def source_frames(platform: RetailPlatform, sources, name: str) -> dict:
    """The parse of declared source ``name`` (see :func:`parsed`), built once per version."""
    spec = getattr(sources, name)
    extra = ""
    if name == "orders":

        def make(files):
            lines, quarantine, counts = rf.read_orders(files, spec)
            counts_frame = pl.DataFrame({k: [v] for k, v in counts.items()})
            return {"orders": lines, "quarantine": quarantine, "counts": counts_frame}

    elif name == "reviews":
        catalog = None
        if spec.columns.product is not None:
            # Categories come from the catalog: a new catalog re-reads the reviews.
            lake = platform.lake()
            catalog_files = lake.partition_files("raw", "product_catalog")
            catalog = lake.read("raw", "product_catalog", None) if catalog_files else None
            extra = "|".join(f"{f}:{f.stat().st_mtime_ns}" for f in catalog_files)

        def make(files):
            signals, quarantine = rf.read_reviews(files, spec, catalog)
            return {"signals": signals, "quarantine": quarantine}

    elif name in _READERS:
        frame_name, read = _READERS[name]

        def make(files):
            frame, quarantine = read(files, spec)
            return {frame_name: frame, "quarantine": quarantine}

    else:
        raise ValueError(f"no file reader for source {name!r}")
    return parsed(platform, name, spec, make, extra)


def by_iso_day(frame: pl.DataFrame, column: str) -> dict[str, pl.DataFrame]:
    """``frame`` split by its day ``column`` (a Date, or GA4's YYYYMMDD text), by ISO day."""
    parts = frame.partition_by(column, as_dict=True)
    if frame.schema[column] == pl.Date:
        return {day.isoformat(): part for (day,), part in parts.items()}
    return {f"{d[:4]}-{d[4:6]}-{d[6:]}": part for (d,), part in parts.items()}


def _quarantine_meta(q: pl.DataFrame, path: Path) -> dict:
    """The quarantine's row count, by reason, and where it is."""
    if q.is_empty():
        return {"quarantined_rows": 0}
    by = q.group_by("reason").len().sort("len", descending=True)
    return {
        "quarantined_rows": q.height,
        "quarantined_by_reason": dg.MetadataValue.json(dict(by.iter_rows())),
        "quarantine": dg.MetadataValue.path(str(path)),
    }


def reconcile(context, source: str, got: dict, loaded: int) -> dict:
    """Rows in the files = rows loaded + rows set aside; a mismatch fails the step."""
    in_files = int(got["files"]["rows"].sum())
    aside = got["quarantine"].height
    if in_files != loaded + aside:
        raise dg.Failure(
            description=f"{source}: {in_files} rows in the files, but {loaded} loaded and "
            f"{aside} quarantined: {in_files - loaded - aside} rows unaccounted for",
            allow_retries=False,
        )
    context.log.info(f"{source}: {in_files} rows in files = {loaded} loaded + {aside} set aside")
    return {"rows_in_files": in_files, "rows_loaded": loaded}


def _names(files) -> str:
    names = [Path(f).name for f in files]
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
