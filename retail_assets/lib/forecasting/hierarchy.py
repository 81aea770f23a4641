"""Hierarchies of a retailer's series: levels built from the rows, forecasts reconciled.

:func:`hierarchy` builds the series of every level (``total``, ``category``, ``store``,
``product`` and the bottom) with hierarchicalforecast's ``aggregate``; :func:`flat` and
:func:`single` make a :class:`Hierarchy` of independent series. :func:`reconcile` makes
forecasts coherent across levels (MinTrace, structural weights) and :func:`incoherence`
measures how far they are from it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from retail_assets.lib.forecasting.frequency import SeriesError
from retail_assets.lib.forecasting.models import LEVELS

#: The hierarchy's dimensions, coarsest first: a product sits in a category.
DIMENSIONS = ("category", "store", "product")
LEVEL_NAMES = ("total", *DIMENSIONS)
#: MinTrace with structural weights: it needs no in-sample residuals and, unlike OLS, gives a
#: bottom series' forecast more say than its share of the total.
RECONCILER = "MinTrace(wls_struct)"


@dataclass(frozen=True)
class Hierarchy:
    """Series of every level (``unique_id, level, ds, y``) and the summing matrix."""

    Y: pl.DataFrame
    S: pl.DataFrame | None  # unique_id + one column per bottom series; None when flat
    tags: dict[str, np.ndarray]
    levels: tuple[str, ...]

    @property
    def coherent(self) -> bool:
        """Whether there is more than one level to reconcile."""
        return self.S is not None and len(self.tags) > 1


def _level_name(dims: Sequence[str]) -> str:
    dims = [d for d in dims if d != "category" or "product" not in dims]
    return "_".join(dims) if dims else "total"


def hierarchy(rows: pl.DataFrame, levels: Sequence[str] = LEVEL_NAMES) -> Hierarchy:
    """The series of ``rows`` (``ds, y`` and any of ``category, store, product``) by level.

    Levels: ``total``; each dimension present (a product within its category); and the
    bottom: every dimension together (e.g. ``store_product``). Dimensions not among
    ``levels``, or absent from ``rows``, are summed over.
    """
    dims = [d for d in DIMENSIONS if d in rows.columns and d in levels]
    frame = rows.select(*dims, "ds", pl.col("y").cast(pl.Float64))
    nulls = {d: frame[d].null_count() for d in dims if frame[d].null_count()}
    if nulls:
        raise SeriesError(f"hierarchy columns have empty values: {nulls} rows")
    frame = frame.group_by(*dims, "ds").agg(pl.col("y").sum())
    if not dims:
        Y = frame.select(
            pl.lit("total").alias("unique_id"), pl.lit("total").alias("level"), "ds", "y"
        ).sort("ds")
        return Hierarchy(Y, None, {"total": np.array(["total"])}, ("total",))
    from hierarchicalforecast.utils import aggregate

    # total, each dimension (a product within its category), and the bottom (every dimension
    # together) last, as aggregate wants it.
    levels_of = [[]] + [
        ["category", "product"] if d == "product" and "category" in dims else [d] for d in dims
    ]
    spec = [["total", *lv] for lv in levels_of if lv != dims] + [["total", *dims]]
    frame = frame.with_columns(pl.lit("total").alias("total"))
    for d in dims:
        frame = frame.with_columns(pl.col(d).cast(pl.Utf8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Y, S, tags = aggregate(frame, spec)
    rename, level_of, new_tags = {}, {}, {}
    for key, ids in tags.items():
        cols = key.split("/")[1:]
        name = _level_name(cols)
        new = []
        for uid in ids:
            uid = str(uid)
            rid = "total" if not cols else f"{name}:{uid.split('/', 1)[1]}"
            if "category" in cols and "product" in cols:  # product:<p>, not product:<c>/<p>
                parts = uid.split("/")[1:]
                keep = [p for c, p in zip(cols, parts, strict=True) if c != "category"]
                rid = f"{name}:{'/'.join(keep)}"
            rename[uid] = rid
            level_of[rid] = name
            new.append(rid)
        new_tags[name] = np.array(new, dtype=object)
    Y = Y.with_columns(pl.col("unique_id").replace_strict(rename)).with_columns(
        pl.col("unique_id").replace_strict(level_of).alias("level")
    )
    S = S.with_columns(pl.col("unique_id").replace_strict(rename)).rename(
        {c: rename[c] for c in S.columns if c != "unique_id"}
    )
    names = tuple(dict.fromkeys(level_of.values()))
    return Hierarchy(
        Y.select("unique_id", "level", pl.col("ds").cast(pl.Date), "y").sort("unique_id", "ds"),
        S,
        new_tags,
        names,
    )


def flat(rows: pl.DataFrame) -> Hierarchy:
    """A sales history of independent series (``series_id, ds, y``) and their total."""
    bottom = rows.select(
        pl.concat_str(pl.lit("series:"), "series_id").alias("unique_id"),
        pl.lit("series").alias("level"),
        "ds",
        pl.col("y").cast(pl.Float64),
    )
    ids = sorted(bottom["unique_id"].unique().to_list())
    if len(ids) == 1:
        return Hierarchy(
            bottom.sort("ds"), None, {"series": np.array(ids, dtype=object)}, ("series",)
        )
    total = (
        bottom.group_by("ds")
        .agg(pl.col("y").sum())
        .select(pl.lit("total").alias("unique_id"), pl.lit("total").alias("level"), "ds", "y")
    )
    S = pl.DataFrame(
        {"unique_id": ["total", *ids]}
        | {uid: [1.0] + [1.0 if uid == other else 0.0 for other in ids] for uid in ids}
    )
    return Hierarchy(
        pl.concat([total, bottom]).sort("unique_id", "ds"),
        S,
        {"total": np.array(["total"], dtype=object), "series": np.array(ids, dtype=object)},
        ("total", "series"),
    )


def single(series: pl.DataFrame) -> Hierarchy:
    """Independent series (``unique_id, ds, y``), each its own level named by its id prefix."""
    Y = series.select(
        "unique_id",
        pl.col("unique_id").str.split(":").list.first().alias("level"),
        "ds",
        pl.col("y").cast(pl.Float64),
    ).sort("unique_id", "ds")
    return Hierarchy(Y, None, {}, tuple(Y["level"].unique(maintain_order=True).to_list()))


def reconcile(h: Hierarchy, forecasts: pl.DataFrame) -> pl.DataFrame:
    """``forecasts`` (``refresh``'s columns) made coherent across the levels of ``h``.

    Returns the same columns with ``yhat`` and the bounds reconciled and ``base_yhat`` the
    forecast before. Without several levels, or when a series has no forecast (too short),
    the base forecasts come back unchanged.
    """
    base = forecasts.with_columns(pl.col("yhat").alias("base_yhat"))
    if not h.coherent:
        return base
    ids = set(h.S["unique_id"].to_list())  # type: ignore[index]
    if set(forecasts["unique_id"].unique().to_list()) != ids:
        return base
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import MinTrace

    wide = forecasts.select(
        "unique_id",
        "ds",
        pl.col("yhat").alias("base"),
        *[
            pl.col(f"{side}_{lvl}").alias(f"base-{side}-{lvl}")
            for lvl in LEVELS
            for side in ("lo", "hi")
        ],
    )
    rec = HierarchicalReconciliation([MinTrace(method="wls_struct", nonnegative=True)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = rec.reconcile(
            Y_hat_df=wide,
            S_df=h.S,
            tags=h.tags,
            level=list(LEVELS),
            intervals_method="normality",
        )
    name = next(
        c for c in out.columns if c.startswith("base/") and "-lo-" not in c and "-hi-" not in c
    )
    rows = out.select(
        "unique_id",
        pl.col("ds").cast(pl.Date),
        pl.col(name).clip(0).alias("yhat_rec"),
        *[
            pl.col(f"{name}-{side}-{lvl}").clip(0).alias(f"{side}_{lvl}_rec")
            for lvl in LEVELS
            for side in ("lo", "hi")
        ],
    )
    joined = base.join(rows, on=["unique_id", "ds"], how="left")
    return joined.with_columns(
        pl.col("yhat_rec").alias("yhat"),
        *[
            pl.col(f"{side}_{lvl}_rec").alias(f"{side}_{lvl}")
            for lvl in LEVELS
            for side in ("lo", "hi")
        ],
    ).drop([c for c in joined.columns if c.endswith("_rec")])


def incoherence(h: Hierarchy, forecasts: pl.DataFrame, column: str = "yhat") -> float:
    """Largest absolute gap between a series' forecast and the sum of its bottom series."""
    if not h.coherent:
        return 0.0
    S = h.S
    bottom = [c for c in S.columns if c != "unique_id"]  # type: ignore[union-attr]
    wide = forecasts.pivot(on="unique_id", index="ds", values=column).sort("ds")
    if any(b not in wide.columns for b in bottom):
        return float("nan")
    B = wide.select(bottom).to_numpy()  # periods x bottom
    worst = 0.0
    for row in S.iter_rows():  # type: ignore[union-attr]
        uid, weights = row[0], np.asarray(row[1:], dtype=float)
        if uid not in wide.columns:
            return float("nan")
        gap = np.abs(wide[uid].to_numpy() - B @ weights).max()
        worst = max(worst, float(gap))
    return worst
