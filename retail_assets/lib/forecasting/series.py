"""A retailer's own series: frequency, hierarchy, forecasts and coherent levels.

The daily forecasts of :mod:`retail_assets.defs.forecasting` follow the sales marts day by
day. A retailer's own sales history arrives as a file, weekly or monthly as often as daily,
and their orders make series at every level of the hierarchy they have. This module takes
such series from rows to forecasts with the same machinery
(:func:`retail_assets.lib.forecasting.demand.select_models`, ``fit_models`` and ``refresh``):

1. **Frequency** (:func:`detect_frequency`): daily, weekly or monthly, read from the gaps
   between the dates (or declared). A declared frequency coarser than the data's sums the
   data into periods (:func:`to_frequency`); a period the data only partly cover (the first
   or last week of a daily history) is left out and counted, so a half week never looks like
   a slump. The season length, horizon and cross-validation windows follow the frequency
   (:data:`FREQUENCIES`): 7 days, 52 weeks or 12 months.
2. **Hierarchy** (:func:`hierarchy`): the levels the rows have, of ``total``, ``category``,
   ``store`` and ``product``, built with hierarchicalforecast's ``aggregate``; series ids are
   ``total``, ``category:<c>``, ``store:<s>``, ``product:<p>`` and, below a store, e.g.
   ``store_product:<s>/<p>``. A flat history (``series_id`` only) is a total over its series.
3. **Forecasts** (:func:`forecast_series`): a backtest first (the last ``h`` periods held out:
   models chosen by cross-validation on the rest, forecast, scored with MASE against the
   seasonal naive forecast), then the same on the whole history for the next ``h`` periods,
   with 80 and 95 % intervals.
4. **Coherent levels** (:func:`reconcile`): where several levels are forecast, the forecasts
   are reconciled with hierarchicalforecast's ``MinTrace`` (``wls_struct``: weights from the
   structure, no in-sample residuals needed; non-negative), so every level adds up to the one
   above; the intervals are reconciled under normality. The backtest reports the MASE of the
   base and the reconciled forecasts on the same held-out periods.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from retail_assets.lib.forecasting import demand as fc

#: The hierarchy's dimensions, coarsest first: a product sits in a category.
DIMENSIONS = ("category", "store", "product")
LEVEL_NAMES = ("total", *DIMENSIONS)
#: MinTrace with structural weights: it needs no in-sample residuals and, unlike OLS, gives a
#: bottom series' forecast more say than its share of the total.
RECONCILER = "MinTrace(wls_struct)"
SERIES_FORECAST_COLUMNS = (
    "level",
    "unique_id",
    "ds",
    "horizon",
    "model",
    "yhat",
    "lo_80",
    "hi_80",
    "lo_95",
    "hi_95",
    "base_yhat",
)


class SeriesError(ValueError):
    """The series cannot be forecast as given; the message says what to fix."""


@dataclass(frozen=True)
class Frequency:
    """A frequency and what follows from it: season, horizon, cross-validation windows."""

    name: str
    interval: str  # polars: 1d, 1w, 1mo
    unit: str
    season_length: int
    horizon: int
    n_windows: int
    step: int
    candidates: tuple[str, ...]

    def config(
        self,
        h: int | None = None,
        n_jobs: int = 1,
        candidates: Sequence[str] | None = None,
        n_windows: int | None = None,
    ) -> fc.ForecastConfig:
        """The forecasting configuration of this frequency."""
        h = h or self.horizon
        return fc.ForecastConfig(
            h=h,
            season_length=self.season_length,
            freq=self.interval,
            candidates=tuple(candidates or self.candidates),
            n_windows=n_windows or self.n_windows,
            step_size=min(self.step, h),
            n_jobs=n_jobs,
        )


FREQUENCIES = {
    "daily": Frequency(
        "daily", "1d", "days", 7, 28, 3, 7, ("AutoETS", "AutoTheta", "MSTL", "SeasonalNaive")
    ),
    # ETS in statsforecast has no season longer than 24: weekly data get a seasonal theta,
    # MSTL (a 52-week season, ETS on the rest) and the seasonal naive model.
    "weekly": Frequency(
        "weekly", "1w", "weeks", 52, 13, 2, 13, ("AutoTheta", "MSTL", "AutoETS", "SeasonalNaive")
    ),
    "monthly": Frequency(
        "monthly",
        "1mo",
        "months",
        12,
        12,
        2,
        12,
        ("AutoETS", "AutoTheta", "AutoARIMA", "SeasonalNaive"),
    ),
}
_ORDER = ("daily", "weekly", "monthly")


# ---------------------------------------------------------------------------- frequency
def detect_frequency(dates: Sequence[dt.date] | pl.Series, what: str = "the dates") -> Frequency:
    """The frequency of ``dates``: the most common gap between consecutive distinct dates.

    1 day is daily; 7 days weekly (every date on the same weekday); 28 to 31 days monthly
    (every date on the same day of the month). Anything else raises :class:`SeriesError`
    naming ``what``.
    """
    days = pl.Series("d", dates, dtype=pl.Date).unique().sort()
    if days.len() < 3:
        raise SeriesError(
            f"{what}: {days.len()} distinct dates; at least 3 are needed to tell the frequency"
        )
    gaps = days.diff().drop_nulls().dt.total_days()
    gap = int(gaps.mode().min())
    if gap == 1:
        return FREQUENCIES["daily"]
    if gap == 7:
        weekdays = days.dt.weekday().n_unique()
        if weekdays > 1:
            raise SeriesError(
                f"{what}: weekly gaps, but the dates fall on {weekdays} different weekdays; "
                "a weekly history has one date per week, on the same weekday"
            )
        return FREQUENCIES["weekly"]
    if 28 <= gap <= 31:
        if days.dt.day().n_unique() > 1:
            raise SeriesError(
                f"{what}: monthly gaps, but the dates fall on different days of the month; "
                "a monthly history has one date per month (its first day)"
            )
        return FREQUENCIES["monthly"]
    raise SeriesError(
        f"{what}: the most common gap between dates is {gap} days; the history must be "
        "daily, weekly or monthly"
    )


def frequency(name: str) -> Frequency:
    """A frequency by name (``daily``, ``weekly``, ``monthly``)."""
    if name not in FREQUENCIES:
        raise SeriesError(f"unknown frequency {name!r}; choose from {list(FREQUENCIES)}")
    return FREQUENCIES[name]


def resolve_frequency(
    dates: pl.Series, declared: str = "auto", what: str = "the dates"
) -> tuple[Frequency, Frequency]:
    """``(frequency of the data, frequency to forecast at)``; ``declared`` may be ``auto``.

    A declared frequency finer than the data's is an error: weeks cannot be split into days.
    """
    native = detect_frequency(dates, what)
    if declared in ("", "auto", None):
        return native, native
    target = frequency(declared)
    if _ORDER.index(target.name) < _ORDER.index(native.name):
        raise SeriesError(
            f"{what}: the history is {native.name} and the declared frequency {target.name} "
            "is finer; declare it {native.name} or coarser"
        )
    return native, target


@dataclass(frozen=True)
class Periods:
    """Rows summed into periods, and the partly covered periods left out."""

    rows: pl.DataFrame
    dropped: dict[str, str] = field(default_factory=dict)  # period start -> why


def to_frequency(rows: pl.DataFrame, native: Frequency, target: Frequency) -> Periods:
    """``rows`` (with ``ds``, ``y`` and dimension columns) summed into ``target`` periods.

    A period is labelled by its first day (weeks start on Monday). The first and last periods
    are kept only if the data cover them from their first to their last day.
    """
    if native.name == target.name:
        return Periods(rows)
    keys = [c for c in rows.columns if c not in ("ds", "y")]
    out = rows.with_columns(pl.col("ds").dt.truncate(target.interval).alias("period"))
    first, last = rows["ds"].min(), rows["ds"].max()
    dropped = {}
    start = out["period"].min()
    if first != start:
        dropped[str(start)] = f"the data start on {first}, inside the period"
    end_period = out["period"].max()
    period_end = pl.select(
        pl.lit(end_period).dt.offset_by(target.interval) - pl.duration(days=1)
    ).item()
    if native.name == "daily" and last != period_end:
        dropped[str(end_period)] = f"the data end on {last}, before the period ends {period_end}"
    if native.name == "weekly" and target.name == "monthly":
        # A week belongs to the month it starts in: both edge months are partial unless the
        # weeks reach their ends.
        if (first - start).days >= 7:
            dropped[str(start)] = f"the first week starts on {first}"
        if (period_end - last).days >= 7:
            dropped[str(end_period)] = f"the last week starts on {last}"
    keep = ~pl.col("period").cast(pl.Utf8).is_in(list(dropped))
    summed = (
        out.filter(keep)
        .group_by(*keys, "period")
        .agg(pl.col("y").sum())
        .rename({"period": "ds"})
        .select(*keys, "ds", "y")
        .sort(*keys, "ds")
    )
    return Periods(summed, dropped)


def complete(Y: pl.DataFrame, freq: Frequency, last: dt.date | None = None) -> pl.DataFrame:
    """Every series from its first period to ``last`` (the latest of all), 0 where missing."""
    last = last or Y["ds"].max()
    spans = Y.group_by("unique_id").agg(pl.col("ds").min().alias("start"))
    grid = spans.with_columns(
        pl.date_ranges("start", pl.lit(last), interval=freq.interval).alias("ds")
    ).explode("ds")
    extra = [c for c in Y.columns if c not in ("unique_id", "ds", "y")]
    filled = grid.select("unique_id", "ds").join(
        Y.select("unique_id", "ds", "y"), on=["unique_id", "ds"], how="left"
    )
    if extra:
        filled = filled.join(Y.select("unique_id", *extra).unique("unique_id"), on="unique_id")
    return filled.with_columns(pl.col("y").fill_null(0.0)).sort("unique_id", "ds")


# ---------------------------------------------------------------------------- hierarchy
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


# ---------------------------------------------------------------------------- forecasts
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
            for lvl in fc.LEVELS
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
            level=list(fc.LEVELS),
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
            for lvl in fc.LEVELS
            for side in ("lo", "hi")
        ],
    )
    joined = base.join(rows, on=["unique_id", "ds"], how="left")
    return joined.with_columns(
        pl.col("yhat_rec").alias("yhat"),
        *[
            pl.col(f"{side}_{lvl}_rec").alias(f"{side}_{lvl}")
            for lvl in fc.LEVELS
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


@dataclass
class SeriesForecast:
    """What :func:`forecast_series` found: the backtest, then the forecasts of the future."""

    frequency: Frequency
    config: fc.ForecastConfig
    forecasts: pl.DataFrame  # SERIES_FORECAST_COLUMNS
    accuracy: pl.DataFrame  # per series: level, unique_id, model, mase, mase_reconciled, ...
    selection: fc.Selection
    reconciled: bool
    incoherence_base: float
    incoherence_reconciled: float
    seconds: float
    backtest_seconds: float

    def summary(self) -> pl.DataFrame:
        """Mean MASE by level: the selected model, reconciled, the seasonal naive model."""
        return (
            self.accuracy.group_by("level")
            .agg(
                pl.len().alias("series"),
                pl.col("mase").mean().alias("mase_selected"),
                pl.col("mase_reconciled").mean(),
                pl.col("mase_seasonal_naive").mean(),
                pl.col("coverage_95").mean(),
            )
            .sort("level")
        )


def _mase(
    forecasts: pl.DataFrame, actual: pl.DataFrame, scale: pl.DataFrame, column: str
) -> pl.DataFrame:
    j = forecasts.join(actual, on=["unique_id", "ds"]).join(scale, on="unique_id", how="left")
    return j.group_by("unique_id").agg(
        pl.when(pl.col("scale").first() > 0)
        .then((pl.col(column) - pl.col("y")).abs().mean() / pl.col("scale").first())
        .alias(column)
    )


def _select_fit_forecast(
    Y: pl.DataFrame, config: fc.ForecastConfig, h: int, log=None
) -> tuple[fc.Selection, pl.DataFrame]:
    selection = fc.select_models(Y, config, log=log)
    fitted = fc.fit_models(Y, selection.choices, config)
    return selection, fc.refresh(fitted, Y, h=h)


def backtest(
    hier: Hierarchy, config: fc.ForecastConfig, holdout: int, log=None
) -> tuple[pl.DataFrame, fc.Selection]:
    """Choose on all but the last ``holdout`` periods, forecast them and score every series.

    Columns: ``level, unique_id, model, mase, mase_reconciled, mase_seasonal_naive,
    coverage_95`` (MASE scaled by the training part's seasonal naive error).
    """
    Y = hier.Y
    cut = Y["ds"].unique().sort()
    if cut.len() <= holdout:
        raise SeriesError(f"{cut.len()} periods; the backtest holds out {holdout}")
    end = cut[-holdout - 1]
    train = Y.filter(pl.col("ds") <= end).drop("level")
    test = Y.filter(pl.col("ds") > end).select("unique_id", "ds", "y")
    selection, base = _select_fit_forecast(train, config, holdout, log)
    rec = reconcile(hier, base)
    naive_cfg = fc.FittedModels(config=config)  # no stored models: seasonal naive or naive
    naive = fc.refresh(naive_cfg, train, h=holdout)
    scale = fc.seasonal_scale(train, config.season_length)
    cover = (
        rec.join(test, on=["unique_id", "ds"])
        .group_by("unique_id")
        .agg(
            ((pl.col("y") >= pl.col("lo_95")) & (pl.col("y") <= pl.col("hi_95")))
            .mean()
            .alias("coverage_95")
        )
    )
    levels = hier.Y.select("unique_id", "level").unique()
    acc = (
        levels.join(base.group_by("unique_id").agg(pl.col("model").first()), on="unique_id")
        .join(_mase(base, test, scale, "yhat").rename({"yhat": "mase"}), on="unique_id", how="left")
        .join(
            _mase(rec, test, scale, "yhat").rename({"yhat": "mase_reconciled"}),
            on="unique_id",
            how="left",
        )
        .join(
            _mase(naive, test, scale, "yhat").rename({"yhat": "mase_seasonal_naive"}),
            on="unique_id",
            how="left",
        )
        .join(cover, on="unique_id", how="left")
        .select(
            "level",
            "unique_id",
            "model",
            *[
                pl.col(c).cast(pl.Float64).fill_nan(None)
                for c in ("mase", "mase_reconciled", "mase_seasonal_naive", "coverage_95")
            ],
        )
        .sort("level", "unique_id")
    )
    return acc, selection


def forecast_series(
    hier: Hierarchy,
    freq: Frequency,
    h: int | None = None,
    holdout: int | None = None,
    n_jobs: int = 1,
    candidates: Sequence[str] | None = None,
    log=None,
) -> SeriesForecast:
    """Backtest on the last ``holdout`` periods, then forecast ``h`` periods past the end.

    ``h`` and ``holdout`` default to the frequency's horizon. Series are completed with
    zeros between their first period and the latest period of all.
    """
    began = time.perf_counter()
    h = h or freq.horizon
    holdout = holdout or h
    config = freq.config(h=h, n_jobs=n_jobs, candidates=candidates)
    Y = complete(hier.Y, freq)
    hier = Hierarchy(Y, hier.S, hier.tags, hier.levels)
    accuracy, _ = backtest(
        hier, freq.config(h=holdout, n_jobs=n_jobs, candidates=candidates), holdout, log
    )
    backtest_seconds = time.perf_counter() - began
    selection, base = _select_fit_forecast(Y.drop("level"), config, h, log)
    rec = reconcile(hier, base)
    levels = dict(Y.select("unique_id", "level").unique().iter_rows())
    forecasts = rec.select(
        pl.col("unique_id").replace_strict(levels).alias("level"),
        "unique_id",
        pl.col("ds").cast(pl.Date),
        pl.col("ds").rank("dense").over("unique_id").cast(pl.Int64).alias("horizon"),
        "model",
        *fc.FORECAST_COLUMNS[3:],
        "base_yhat",
    ).sort("level", "unique_id", "ds")
    return SeriesForecast(
        frequency=freq,
        config=config,
        forecasts=forecasts,
        accuracy=accuracy,
        selection=selection,
        reconciled=hier.coherent and not forecasts["base_yhat"].equals(forecasts["yhat"]),
        incoherence_base=incoherence(hier, forecasts, "base_yhat"),
        incoherence_reconciled=incoherence(hier, forecasts, "yhat"),
        seconds=time.perf_counter() - began,
        backtest_seconds=backtest_seconds,
    )
