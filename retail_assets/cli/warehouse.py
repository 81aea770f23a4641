"""The lake and its SQL: ``catalog refresh``, ``quarantine`` and ``compile``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path


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
