"""The fitted curves stored beside the curves table (``curves.json``), and their chart.

Shared by ``curves.py`` (which writes them) and ``budget.py`` (which reads them back); no
Dagster definitions live here.
"""

import dataclasses as dc
import json

import dagster as dg
import numpy as np
import polars as pl

from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import plots
from retail_assets.lib.activation import response_curves

#: The fitted curves in full (bootstrap draws included), beside the table, for the allocator.
CURVES_FILE = "curves.json"


def _curve_chart(
    curves: dict, history: pl.DataFrame | None, planned: dict[str, float] | None = None
) -> str:
    """Each fitted curve with its 90 % bootstrap band, the observed days and the plan."""
    items = []
    for ch, c in sorted(curves.items()):
        h = history.filter(pl.col("channel") == ch) if history is not None else None
        top = max(c.max_spend, (planned or {}).get(ch, 0.0))
        grid = np.linspace(0, top * 1.6 or 1.0, 60)
        boot = c.bootstrap_response(grid)
        items.append(
            {
                "channel": f"{ch} ({c.regime})",
                "spend": h["spend"].to_list() if h is not None else [],
                "conversions": h["conversions"].to_list() if h is not None else [],
                "grid": grid,
                "p50": c.response(grid),
                "p05": np.percentile(boot, 5, axis=0),
                "p95": np.percentile(boot, 95, axis=0),
                "planned": (planned or {}).get(ch),
            }
        )
    title = "Daily conversions against daily spend, 90 % bootstrap band"
    return plots.png_markdown(plots.response_curves(items, title))


def _stored_curves(curves: dict[str, response_curves.FittedCurve]) -> bytes:
    """``curves.json``: every fitted curve in full, bootstrap draws included."""
    stored = {
        ch: {
            **{f.name: getattr(c, f.name) for f in dc.fields(c) if not f.name.startswith("boot")},
            "bootstrap_vmax": c.bootstrap_vmax.tolist(),
            "bootstrap_k": c.bootstrap_k.tolist(),
        }
        for ch, c in sorted(curves.items())
    }
    return json.dumps(stored).encode()


def load_curves(
    platform: RetailPlatform, partition: str
) -> tuple[pl.DataFrame, dict[str, response_curves.FittedCurve]]:
    """The curves table of ``partition`` and the fitted curves (bootstrap draws included)."""
    lake = platform.lake()
    table = lake.read("activation", "channel_response_curves", [partition])
    if table.is_empty():
        raise dg.Failure(
            description=f"no channel response curves for {partition}", allow_retries=False
        )
    path = lake.partition_path(
        "activation", "channel_response_curves", partition, filename=CURVES_FILE
    )
    stored = json.loads(path.read_text(encoding="utf-8"))
    curves = {
        ch: response_curves.FittedCurve(
            **{
                **c,
                "bootstrap_vmax": np.asarray(c["bootstrap_vmax"], dtype=float),
                "bootstrap_k": np.asarray(c["bootstrap_k"], dtype=float),
            }
        )
        for ch, c in stored.items()
    }
    return table, curves
