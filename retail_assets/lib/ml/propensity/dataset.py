"""The propensity dataset: feature rows, their next-day purchase label and the leakage checks.

Rows are ``features.user_features`` (one per customer and ``as_of_date``); the label is a
purchase in ``features.user_daily_activity`` on ``label_date = as_of_date + 1``.
:func:`check_point_in_time` refuses features that end on or after the label day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

FEATURE_TABLE = "features.user_features"
ACTIVITY_TABLE = "features.user_daily_activity"
DATASET_TABLE = "propensity dataset"

KEY_COLUMNS = ("as_of_date", "customer_key")
#: Windowed counts that :func:`check_point_in_time` recomputes from the activity table.
WINDOW_COUNTS = {
    f"{measure}_{days}d": (measure, days)
    for measure in ("views", "carts", "purchases")
    for days in (1, 7, 14, 30)
}
#: Columns of ``features.user_features`` the model reads (``rfm_segment`` repeats the scores).
SOURCE_FEATURES = (
    "days_since_last_activity",
    "active_days_30d",
    *WINDOW_COUNTS,
    "cart_count",
    "purchase_intent_score",
    "recency_days",
    "frequency_90d",
    "monetary_90d",
    "r_score",
    "f_score",
    "m_score",
    "clv_12m",
)
#: Model inputs: the source features (NULL recency and RFM scores of non-buyers filled) plus
#: whether the customer bought in 90 days and whether the label day falls on a weekend
#: (known in advance; weekend traffic is higher).
MODEL_FEATURES = (*SOURCE_FEATURES, "has_order_90d", "next_day_is_weekend")
#: Raw columns of one day's activity: joined on the label day they are the label itself.
LABEL_WINDOW_COLUMNS = (
    "activity_date",
    "views",
    "carts",
    "purchases",
    "orders",
    "revenue",
    "sessions",
    "last_event_at",
)
#: Recency given to customers without a purchase in the 90-day window.
NO_PURCHASE_RECENCY = 90


class PropensityDataError(ValueError):
    """The feature or activity table cannot be used as given; the message says what to fix."""


class LeakageError(PropensityDataError):
    """A feature row carries information from its label window (after its cutoff)."""


def _require(frame: pl.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PropensityDataError(
            f"{table} lacks column(s) {missing} ({frame.height} rows); see "
            "dbt_like_sql/marts/user_features.sql and staging/user_daily_activity.sql"
        )


def build_dataset(
    features: pl.DataFrame,
    activity: pl.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    audit_rows: int = 2_000,
    seed: int = 0,
) -> pl.DataFrame:
    """Feature rows with ``as_of_date`` in [start, end) and their next-day purchase label.

    ``label`` is 1 when ``activity`` has ``purchases > 0`` for the customer on
    ``label_date = as_of_date + 1``, else 0. Only as-of days whose next day is covered by
    ``activity`` are kept: days on which ``activity`` has at least one row (a day missing
    from it would otherwise label every customer 0). So pass activity through ``end``
    (inclusive) to label the last day.

    Checked with :func:`check_point_in_time` (``audit_rows`` sampled rows recomputed from
    ``activity``; 0 skips the recount). Returns ``as_of_date, customer_key, label_date``, the
    feature columns of :data:`SOURCE_FEATURES` and ``label``, sorted by day and customer.
    """
    if start >= end:
        raise PropensityDataError(f"{DATASET_TABLE}: start {start} must be before end {end}")
    _require(features, [*KEY_COLUMNS, *SOURCE_FEATURES], FEATURE_TABLE)
    _require(activity, ["activity_date", "customer_key", "purchases"], ACTIVITY_TABLE)
    covered = activity.select(pl.col("activity_date").cast(pl.Date).unique())
    rows = (
        features.select(*KEY_COLUMNS, *SOURCE_FEATURES)
        .with_columns(pl.col("as_of_date").cast(pl.Date))
        .filter(pl.col("as_of_date").is_between(start, end, closed="left"))
        .with_columns((pl.col("as_of_date") + pl.duration(days=1)).alias("label_date"))
        .join(covered, left_on="label_date", right_on="activity_date", how="semi")
    )
    if rows.height == 0:
        raise PropensityDataError(
            f"{DATASET_TABLE}: no row of {FEATURE_TABLE} ({features.height} rows) has an "
            f"as_of_date in [{start}, {end}) whose next day is in {ACTIVITY_TABLE}; load "
            "activity through the day after the last as-of date"
        )
    buyers = (
        activity.filter(pl.col("purchases") > 0)
        .select(
            pl.col("activity_date").cast(pl.Date).alias("label_date"),
            "customer_key",
            pl.lit(1, dtype=pl.Int8).alias("label"),
        )
        .unique(["label_date", "customer_key"])
    )
    dataset = (
        rows.join(buyers, on=["label_date", "customer_key"], how="left")
        .with_columns(pl.col("label").fill_null(0))
        .select(*KEY_COLUMNS, "label_date", *SOURCE_FEATURES, "label")
        .sort(*KEY_COLUMNS)
    )
    check_point_in_time(dataset, activity=activity, sample_rows=audit_rows, seed=seed)
    return dataset


def check_point_in_time(
    dataset: pl.DataFrame,
    *,
    activity: pl.DataFrame | None = None,
    feature_columns: Sequence[str] | None = None,
    sample_rows: int = 2_000,
    seed: int = 0,
) -> int:
    """Raise :class:`LeakageError` if any feature may come from after its row's cutoff.

    The cutoff of a row is the end of its ``as_of_date``; its label window is
    ``label_date``. Three rules:

    1. every row has ``as_of_date < label_date`` (features dated on or after the label day
       are rejected);
    2. no feature column is a raw daily activity column (:data:`LABEL_WINDOW_COLUMNS`) or the
       label: ``feature_columns`` defaults to every column but the keys, ``label_date`` and
       ``label``;
    3. with ``activity``, the windowed counts (:data:`WINDOW_COUNTS`) of up to
       ``sample_rows`` rows (seeded), among those whose 30 days up to the cutoff ``activity``
       covers, must equal the sums of ``activity`` over the days up to and including
       ``as_of_date``. The error says whether a mismatch matches the window moved one day
       forward, i.e. a feature that includes the label day.

    Returns the number of rows recounted in rule 3 (0 without ``activity``).
    """
    _require(dataset, [*KEY_COLUMNS, "label_date"], DATASET_TABLE)
    late = dataset.filter(pl.col("as_of_date") >= pl.col("label_date"))
    if late.height:
        example = late.head(3).select(*KEY_COLUMNS, "label_date").rows()
        raise LeakageError(
            f"{DATASET_TABLE}: column as_of_date is on or after label_date in {late.height} of "
            f"{dataset.height} rows (e.g. {example}): features must end before the label "
            "window (t, t + 24 h]"
        )
    if feature_columns is None:
        feature_columns = [
            c for c in dataset.columns if c not in (*KEY_COLUMNS, "label_date", "label")
        ]
    raw = [c for c in feature_columns if c in LABEL_WINDOW_COLUMNS or c in ("label", "label_date")]
    if raw:
        raise LeakageError(
            f"{DATASET_TABLE}: feature column(s) {raw} are one day's raw activity (or the "
            f"label); joined on the label day they are the label window itself. Use the "
            f"windowed counts of {FEATURE_TABLE}, which end at as_of_date"
        )
    if activity is None or sample_rows <= 0:
        return 0
    counts = [c for c in WINDOW_COUNTS if c in feature_columns and c in dataset.columns]
    if not counts:
        return 0
    return _recount(dataset, activity, counts, sample_rows, seed)


def _recount(
    dataset: pl.DataFrame, activity: pl.DataFrame, counts: list[str], sample_rows: int, seed: int
) -> int:
    """Rule 3 of :func:`check_point_in_time`: recompute windowed counts from activity."""
    _require(activity, ["activity_date", "customer_key"], ACTIVITY_TABLE)
    measures = sorted({WINDOW_COUNTS[c][0] for c in counts})
    _require(activity, measures, ACTIVITY_TABLE)
    days = activity["activity_date"].cast(pl.Date)
    first, last = days.min(), days.max()
    eligible = dataset.with_row_index("row").filter(
        (pl.col("as_of_date") - pl.duration(days=29) >= first) & (pl.col("as_of_date") <= last)
    )
    if eligible.height == 0:
        return 0
    if eligible.height > sample_rows:
        eligible = eligible.sample(sample_rows, seed=seed)
    sample = eligible.select("row", *KEY_COLUMNS, *counts)
    age = (pl.col("as_of_date") - pl.col("activity_date")).dt.total_days()
    recount = (
        sample.select("row", *KEY_COLUMNS)
        .join(
            activity.select(
                pl.col("activity_date").cast(pl.Date),
                "customer_key",
                *(pl.col(m).cast(pl.Float64) for m in measures),
            ),
            on="customer_key",
            how="inner",
        )
        .with_columns(age.alias("age"))
        .filter(pl.col("age").is_between(-1, 29))
        .group_by("row")
        .agg(
            *(
                pl.col(WINDOW_COUNTS[c][0])
                .filter(pl.col("age").is_between(0, WINDOW_COUNTS[c][1] - 1))
                .sum()
                .alias(f"{c}__now")
                for c in counts
            ),
            *(
                pl.col(WINDOW_COUNTS[c][0])
                .filter(pl.col("age").is_between(-1, WINDOW_COUNTS[c][1] - 2))
                .sum()
                .alias(f"{c}__shifted")
                for c in counts
            ),
        )
    )
    checked = sample.join(recount, on="row", how="left").fill_null(0)
    for c in counts:
        wrong = checked.filter(pl.col(c).cast(pl.Float64) != pl.col(f"{c}__now"))
        if wrong.height:
            shifted = wrong.filter(pl.col(c).cast(pl.Float64) == pl.col(f"{c}__shifted")).height
            example = wrong.head(3).select(*KEY_COLUMNS, c, f"{c}__now").rows()
            raise LeakageError(
                f"{DATASET_TABLE}: column {c} differs from {ACTIVITY_TABLE} summed over the "
                f"{WINDOW_COUNTS[c][1]} days up to as_of_date in {wrong.height} of "
                f"{sample.height} recounted rows ({shifted} of them match the window moved one "
                f"day forward, i.e. they include the label day); e.g. (as_of_date, "
                f"customer_key, value, expected) = {example}"
            )
    return sample.height
