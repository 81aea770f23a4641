"""``retail-assets score``: customers or texts scored with a champion model, without Dagster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
