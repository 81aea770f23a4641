"""Frequencies of a retailer's series: read from the dates, coarsened, completed.

:func:`detect_frequency` reads daily, weekly or monthly from the gaps between dates;
:func:`resolve_frequency` weighs it against a declared frequency; :func:`to_frequency` sums
rows into coarser periods, leaving out partly covered ones; :func:`complete` fills missing
periods with zeros. A :class:`Frequency` carries its season, horizon and cross-validation
windows (:data:`FREQUENCIES`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from retail_assets.lib.forecasting.models import ForecastConfig


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
    ) -> ForecastConfig:
        """The forecasting configuration of this frequency."""
        h = h or self.horizon
        return ForecastConfig(
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
