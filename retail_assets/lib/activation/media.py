"""Daily spend and conversion history per paid channel: simulated, or read from a user's CSV.

Both give one long frame, one row per (date, channel): ``date`` (Date), ``channel`` (Utf8),
``spend`` (Float64, currency units), ``conversions`` (Int64) and ``revenue`` (Float64, null
when unknown), sorted by channel then date. :mod:`retail_assets.lib.activation.response_curves`
fits it.

The simulator's ground truth is a Michaelis–Menten response to adstocked spend
(:class:`TrueCurve`). Every day's draws are seeded from (seed, channel, date), so a day has the
same numbers whatever window it is simulated in.
"""

from __future__ import annotations

import datetime as dt
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from retail_assets.lib.config import ChannelsConfig
from retail_assets.lib.sources.errors import IngestError

#: Days of earlier spend that feed a day's adstock (0.6**31 ~ 1e-7 of the weight is left out).
ADSTOCK_DAYS = 30
MEDIA_COLUMNS = ("date", "channel", "spend", "conversions")
MEDIA_SCHEMA = {
    "date": pl.Date,
    "channel": pl.Utf8,
    "spend": pl.Float64,
    "conversions": pl.Int64,
    "revenue": pl.Float64,
}

# Flighting of the simulated spend: ISO weeks that are a scale-up or scale-down test, and their
# spend multiple. The multiples average to one so ``daily_spend`` stays the mean.
_TEST_WEEK_SHARE = 0.12
_TEST_WEEK_UP = 1.6
_TEST_WEEK_DOWN = 0.4
_WEEKDAY_AMPLITUDE = 0.15
_REVENUE_CV = 0.05
# Independent streams of one (seed, channel, date): spend must not depend on whether the day's
# outcomes are drawn too (days before the window only need their spend).
_SPEND, _OUTCOME, _WEEK = 0, 1, 2


class MediaHistoryError(IngestError):
    """A media history file cannot be read; the message names the file, column and row count."""


@dataclass(frozen=True)
class TrueCurve:
    """Ground-truth daily response: ``conversions/day = vmax * a / (k + a)``.

    ``a`` is the normalized geometric adstock of daily spend,
    ``a_t = (1 - adstock) * sum_j adstock**j * x_{t-j}``, so a constant spend ``x`` gives
    ``a = x`` and :meth:`response` is also the steady-state response to a daily spend.
    """

    vmax: float
    k: float
    adstock: float = 0.0

    def response(self, x: np.ndarray | float) -> np.ndarray | float:
        """Daily conversions at a steady daily spend ``x``."""
        return self.vmax * x / (self.k + x)


@dataclass(frozen=True)
class ChannelSimulation:
    """One simulated channel: its usual daily spend, true response and noise."""

    name: str
    daily_spend: float
    true_curve: TrueCurve
    spend_cv: float = 0.35
    noise_cv: float = 0.08
    value_per_conversion: float = 50.0


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (unlike ``hash()``)."""
    return zlib.crc32(text.encode("utf-8"))


def _lognormal(rng: np.random.Generator, cv: float, size: int | None = None):
    """Mean-one lognormal draws with coefficient of variation ``cv``."""
    sigma2 = np.log1p(cv * cv)
    return rng.lognormal(-sigma2 / 2, np.sqrt(sigma2), size)


def _daily_spend(ch: ChannelSimulation, seed: int, day: dt.date) -> float:
    key = stable_hash(ch.name)
    monday = day - dt.timedelta(days=day.weekday())
    u = np.random.default_rng([seed, key, monday.toordinal(), _WEEK]).random()
    week = (
        _TEST_WEEK_UP
        if u < _TEST_WEEK_SHARE
        else _TEST_WEEK_DOWN
        if u < 2 * _TEST_WEEK_SHARE
        else 1.0
    )
    weekday = 1 + _WEEKDAY_AMPLITUDE * np.sin(2 * np.pi * (day.weekday() + key % 7) / 7)
    noise = _lognormal(np.random.default_rng([seed, key, day.toordinal(), _SPEND]), ch.spend_cv)
    return round(float(ch.daily_spend * week * weekday * noise), 2)


def _adstock_kernel(theta: float) -> np.ndarray:
    weights = theta ** np.arange(ADSTOCK_DAYS + 1)
    return weights / weights.sum()


def simulate_media_history(
    channels: list[ChannelSimulation], end_date: dt.date, days: int, seed: int
) -> pl.DataFrame:
    """Daily spend, conversions and revenue per channel for ``days`` days up to ``end_date``.

    Spend varies around ``daily_spend``: a mean-one lognormal day-to-day (``spend_cv``), a
    weekday pattern, and ISO weeks that are scale-up (x1.6) or scale-down (x0.4) tests, so the
    saturation is identifiable from the history. Conversions are Poisson around the true
    response to the adstocked spend times mean-one lognormal noise (``noise_cv``); revenue is
    conversions times ``value_per_conversion`` with 5 % noise, in cents.

    Args:
        channels: The channels to simulate.
        end_date: The last day of the history.
        days: How many days (at least one).
        seed: Base seed; a day's draws are seeded from (seed, channel, date).

    Returns:
        The media history frame (see the module docstring).

    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise ValueError(f"channel names must be unique, got {names}")
    start = end_date - dt.timedelta(days=days - 1)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    frames = []
    for ch in sorted(channels, key=lambda c: c.name):
        key = stable_hash(ch.name)
        first = start - dt.timedelta(days=ADSTOCK_DAYS)
        spend = np.array(
            [
                _daily_spend(ch, seed, first + dt.timedelta(days=i))
                for i in range(days + ADSTOCK_DAYS)
            ]
        )
        # A sliding dot product over exactly the day and its ADSTOCK_DAYS predecessors: a day's
        # adstock is then bitwise the same whichever window it is simulated in.
        adstocked = np.convolve(spend, _adstock_kernel(ch.true_curve.adstock), mode="valid")
        mean = ch.true_curve.response(adstocked)
        conversions = np.empty(days, dtype=np.int64)
        revenue = np.empty(days)
        for i, day in enumerate(dates):
            rng = np.random.default_rng([seed, key, day.toordinal(), _OUTCOME])
            conversions[i] = rng.poisson(mean[i] * _lognormal(rng, ch.noise_cv))
            value = ch.value_per_conversion * _lognormal(rng, _REVENUE_CV)
            revenue[i] = round(float(conversions[i] * value), 2)
        frames.append(
            pl.DataFrame(
                {
                    "date": dates,
                    "channel": ch.name,
                    "spend": spend[ADSTOCK_DAYS:],
                    "conversions": conversions,
                    "revenue": revenue,
                },
                schema=MEDIA_SCHEMA,
            )
        )
    return pl.concat(frames)


def _read_text_csv(path: Path) -> pl.DataFrame:
    """Every column of a UTF-8 CSV as text, or a :class:`MediaHistoryError` naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaHistoryError(path, "<file>", 0, f"cannot be read: {exc.strerror}") from exc
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MediaHistoryError(
            path, "<file>", 1, f"is not UTF-8 text (byte {exc.start}, line {line})"
        ) from exc
    try:
        df = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except pl.exceptions.NoDataError as exc:
        raise MediaHistoryError(path, "<file>", 0, "the file is empty") from exc
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MediaHistoryError(path, "<file>", 0, f"cannot be read as CSV: {first}") from exc
    return df


def read_media_history(path: Path) -> pl.DataFrame:
    """A user's media history CSV, in the simulator's frame shape.

    Long format, one row per (date, channel), header ``date,channel,spend,conversions`` and an
    optional ``revenue`` column (other columns are ignored). Dates are ``YYYY-MM-DD``; spend and
    revenue are non-negative numbers in currency units; conversions are non-negative whole
    numbers. Channel names are free text: the caller checks them against its channels.

    Returns:
        Columns ``date``, ``channel``, ``spend``, ``conversions``, ``revenue`` (null when the
        file has no revenue), sorted by channel then date.

    Raises:
        MediaHistoryError: The file is unreadable, empty or not UTF-8; a column is missing; a
            value is empty, not a date, not a number, negative or (conversions) not whole; or a
            (date, channel) pair appears more than once. The message names the file, the
            column and how many rows are affected.

    """
    path = Path(path)
    df = _read_text_csv(path)
    for column in MEDIA_COLUMNS:
        if column not in df.columns:
            raise MediaHistoryError(
                path,
                column,
                df.height,
                "is missing: the header must have date,channel,spend,conversions",
            )
    has_revenue = "revenue" in df.columns
    df = df.select([*MEDIA_COLUMNS, *(["revenue"] if has_revenue else [])])
    if df.is_empty():
        raise MediaHistoryError(path, "<file>", 0, "the file has a header but no rows")
    rows = pl.int_range(1, df.height + 1, eager=True)

    def fail_if(column: str, bad: pl.Series, problem: str, values: pl.Series) -> None:
        bad = bad.fill_null(False)
        count = int(bad.sum())
        if count:
            first = bad.arg_true().head(3)
            raise MediaHistoryError(
                path,
                column,
                count,
                problem,
                total=df.height,
                row_numbers=rows.gather(first).to_list(),
                examples=values.gather(first).drop_nulls().unique(maintain_order=True).to_list(),
            )

    for column in df.columns:
        if column != "revenue":
            fail_if(column, df[column].is_null(), "have no value", df[column])
    out = df.select(
        pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
        pl.col("channel"),
        *(
            pl.col(c).str.strip_chars().cast(pl.Float64, strict=False)
            for c in ("spend", "conversions", "revenue")
            if c in df.columns
        ),
    )
    fail_if("date", out["date"].is_null(), "are not dates (YYYY-MM-DD)", df["date"])
    for column in ("spend", "conversions", "revenue"):
        if column not in out.columns:
            continue
        value = out[column]
        not_number = value.is_null() | ~value.is_finite()
        if column == "revenue":
            not_number = df[column].is_not_null() & not_number
        fail_if(column, not_number, "are not numbers", df[column])
        fail_if(column, value < 0, "are negative", df[column])
    fail_if(
        "conversions",
        out["conversions"] != out["conversions"].round(0),
        "are not whole numbers",
        df["conversions"],
    )
    duplicated = out.select(pl.struct("date", "channel").is_duplicated()).to_series()
    fail_if(
        "date, channel",
        duplicated,
        "repeat a (date, channel) pair",
        out.select(pl.format("{} {}", "date", "channel")).to_series(),
    )
    if not has_revenue:
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias("revenue"))
    return (
        out.with_columns(pl.col("conversions").cast(pl.Int64))
        .select([pl.col(c).cast(t) for c, t in MEDIA_SCHEMA.items()])
        .sort("channel", "date")
    )


def simulations_from_config(cfg: ChannelsConfig) -> list[ChannelSimulation]:
    """The simulated channels of ``channels.yaml``: each one's spend level and ground truth."""
    return [
        ChannelSimulation(
            name=name,
            daily_spend=c.daily_spend,
            true_curve=TrueCurve(
                vmax=c.simulation.vmax, k=c.simulation.k, adstock=c.simulation.adstock
            ),
            spend_cv=c.simulation.spend_cv,
            noise_cv=c.simulation.noise_cv,
            value_per_conversion=c.value_per_conversion,
        )
        for name, c in cfg.channels.items()
    ]


@dataclass(frozen=True)
class AggregateHistory:
    """An aggregate media history: one outcome per period, spend per channel, controls.

    ``frame`` has ``date`` (the first day of each period), ``outcome``, one spend column per
    channel (named by the channel) and one column per control (a categorical control becomes
    one 0/1 column per value other than its most frequent, named ``column=value``).
    """

    frame: pl.DataFrame
    channels: tuple[str, ...]  # planned channels (channels.yaml names)
    other_media: tuple[str, ...]  # modelled as media but not planned
    controls: tuple[str, ...]
    period_days: int
    outcome_kind: str
    source: str


def read_aggregate_history(
    path: Path,
    *,
    date: str,
    outcome: str,
    spend: dict[str, str],
    other_spend: dict[str, str] | None = None,
    controls: list[str] | tuple[str, ...] = (),
    outcome_kind: str = "revenue",
    date_format: str = "%Y-%m-%d",
) -> AggregateHistory:
    """A wide media history file (Robyn's, Meridian's or PyMC-Marketing's input shape).

    One row per period (a week or a day), a date column, the outcome column, a spend column per
    channel (``spend`` maps channel names to columns; ``other_spend`` the media that are
    modelled but not planned) and control columns. A control whose values are not all numbers
    is categorical (e.g. Robyn's ``events``: ``na``, ``event1``...): its most frequent value is
    the reference and every other value becomes a 0/1 column.

    Raises:
        MediaHistoryError: The file is unreadable or empty; a declared column is missing; a
            value is empty, not a date, not a number or (spend) negative; a date repeats;
            the dates are not evenly daily or weekly, or some are missing. The message names
            the file, the column and how many rows are affected.

    """
    path = Path(path)
    df = _read_text_csv(path)
    media_cols = {**spend, **(other_spend or {})}
    overlap = set(spend) & set(other_spend or {})
    if overlap:
        raise MediaHistoryError(path, ", ".join(sorted(overlap)), 0, "is in spend and other_spend")
    wanted = [date, outcome, *media_cols.values(), *controls]
    repeated = sorted({c for c in wanted if wanted.count(c) > 1})
    if repeated:
        raise MediaHistoryError(
            path,
            ", ".join(repeated),
            df.height,
            "is declared twice (as date, outcome, a spend column or a control)",
        )
    for column in wanted:
        if column not in df.columns:
            raise MediaHistoryError(
                path,
                column,
                df.height,
                f"is missing: the declaration names it; the header has {df.columns}",
            )
    if df.is_empty():
        raise MediaHistoryError(path, "<file>", 0, "the file has a header but no rows")
    rows = pl.int_range(1, df.height + 1, eager=True)

    def fail_if(column: str, bad: pl.Series, problem: str, values: pl.Series) -> None:
        bad = bad.fill_null(False)
        count = int(bad.sum())
        if count:
            first = bad.arg_true().head(3)
            raise MediaHistoryError(
                path,
                column,
                count,
                problem,
                total=df.height,
                row_numbers=rows.gather(first).to_list(),
                examples=values.gather(first).drop_nulls().unique(maintain_order=True).to_list(),
            )

    for column in dict.fromkeys(wanted):
        fail_if(column, df[column].is_null(), "have no value", df[column])
    dates = df[date].str.strip_chars().str.to_date(date_format, strict=False)
    fail_if(date, dates.is_null(), f"are not dates ({date_format})", df[date])
    fail_if(date, dates.is_duplicated(), "repeat a date", df[date])

    def number(column: str) -> pl.Series:
        value = df[column].str.strip_chars().cast(pl.Float64, strict=False)
        fail_if(column, value.is_null() | ~value.is_finite(), "are not numbers", df[column])
        return value

    columns: dict[str, pl.Series] = {"date": dates, "outcome": number(outcome)}
    for channel, column in media_cols.items():
        value = number(column)
        fail_if(column, value < 0, "are negative spend", df[column])
        columns[channel] = value
    names = []
    for column in controls:
        raw = df[column].str.strip_chars()
        value = raw.cast(pl.Float64, strict=False)
        if value.is_not_null().all() and value.is_finite().all():
            columns[column] = value
            names.append(column)
            continue
        counts = raw.value_counts(sort=True)
        for level in sorted(counts[column].to_list()[1:]):
            name = f"{column}={level}"
            columns[name] = (raw == level).cast(pl.Float64)
            names.append(name)
    out = pl.DataFrame(columns).sort("date")
    gaps = out["date"].diff().dt.total_days().drop_nulls()
    if gaps.is_empty():
        raise MediaHistoryError(path, date, df.height, "one row is not a history")
    period = int(gaps.min())
    if period not in (1, 7):
        raise MediaHistoryError(
            path, date, df.height, f"are {period} days apart: rows must be daily or weekly"
        )
    off = out["date"].diff().dt.total_days().fill_null(period) != period
    if off.any():
        missing = int(((gaps // period) - 1).clip(0, None).sum())
        first = out["date"].filter(off).head(3).cast(pl.Utf8).to_list()
        raise MediaHistoryError(
            path,
            date,
            int(off.sum()),
            f"follow a gap or break the {'weekly' if period == 7 else 'daily'} rhythm "
            f"({missing} periods missing; after-gap dates {first}): every period needs a row, "
            "with zero spend where nothing was spent",
            total=df.height,
        )
    return AggregateHistory(
        frame=out,
        channels=tuple(spend),
        other_media=tuple(other_spend or {}),
        controls=tuple(names),
        period_days=period,
        outcome_kind=outcome_kind,
        source=path.name,
    )
