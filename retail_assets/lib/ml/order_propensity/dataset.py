"""The orders-only dataset: which as-of days can be labelled, the rows, the leakage checks.

:func:`plan` finds the as-of days whose N-day outcome is known and says (:class:`Readiness`)
whether they allow an honest evaluation; :func:`build_dataset` builds the rows from
:func:`~retail_assets.lib.ml.order_features.features_as_of` and labels an order in
(t, t + N days]; :func:`check_point_in_time` recounts a sample of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from retail_assets.lib.ml import order_features as of
from retail_assets.lib.ml.propensity.dataset import LeakageError, PropensityDataError

DATASET_TABLE = "orders-only propensity dataset"
KEY_COLUMNS = ("as_of_date", "customer_key")
DEFAULT_HORIZON_DAYS = 7
DEFAULT_STEP_DAYS = 7
#: Order history before the first as-of day (so recency and frequency mean something).
MIN_HISTORY_DAYS = 28
#: As-of days a training run reads at most (the latest; half a year of weeks by default).
MAX_AS_OF_DAYS = 26
#: As-of days the split needs: 2 to fit, 1 to calibrate, 1 to test (plus the gaps).
MIN_FIT_DAYS, MIN_CALIBRATION_DAYS, MIN_TEST_DAYS = 2, 1, 1
#: Buyers the test rows must hold for an evaluation worth reporting.
MIN_TEST_BUYERS = 20
#: Buyers the test period grows toward (one as-of day at a time, while the fit keeps 2 days).
TARGET_TEST_BUYERS = 100
#: As-of days the test period holds at most (a month of weekly cutoffs).
MAX_TEST_AS_OF_DAYS = 4
#: Columns of one order day: as features they would be (or be next to) the label.
RAW_COLUMNS = ("day", "activity_date", "orders", "lines", "purchases", "revenue", "label")

MODEL = "model"
BASELINES = ("bought_last_n_days", "rfm")
MODEL_FEATURES = of.FEATURES


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Readiness:
    """Whether the order history allows an honest evaluation, and the figures behind it."""

    ready: bool
    reason: str
    horizon_days: int
    step_days: int
    first_order_day: dt.date | None
    covered_through: dt.date | None
    as_of_days: tuple[dt.date, ...]
    needed_as_of_days: int
    customers: int
    buyers: int = 0

    def as_metadata(self) -> dict:
        """Plain values for the asset's metadata."""
        return {
            "evaluation": "ran" if self.ready else "skipped: " + self.reason,
            "horizon_days": self.horizon_days,
            "as_of_step_days": self.step_days,
            "first_order_day": str(self.first_order_day) if self.first_order_day else None,
            "covered_through": str(self.covered_through) if self.covered_through else None,
            "labeled_as_of_days": len(self.as_of_days),
            "needed_as_of_days": self.needed_as_of_days,
            "customers_with_orders": self.customers,
            "buyers_in_labeled_rows": self.buyers,
        }


def needed_as_of_days(horizon_days: int, step_days: int) -> int:
    """As-of days (``step_days`` apart) the fit / calibration / test split needs."""
    gap = -(-horizon_days // step_days)  # as-of steps to wait for a label to be known
    return MIN_FIT_DAYS + gap + MIN_CALIBRATION_DAYS + gap + MIN_TEST_DAYS - 2


def plan(
    days: pl.DataFrame,
    covered_through: dt.date,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    step_days: int = DEFAULT_STEP_DAYS,
    min_history_days: int = MIN_HISTORY_DAYS,
    max_as_of_days: int = MAX_AS_OF_DAYS,
) -> Readiness:
    """The labeled as-of days of ``days`` (:func:`order_features.order_days`), and readiness.

    As-of days run back from ``covered_through - horizon_days`` (the last day whose N-day
    outcome is known) every ``step_days`` while at least ``min_history_days`` of orders lie
    before them, the latest ``max_as_of_days`` of them. ``covered_through`` is the last day
    the activity table covers (days without orders count: they are known to have none).
    """
    if horizon_days < 1 or step_days < 1:
        raise PropensityDataError("horizon_days and step_days must be at least 1")
    needed = needed_as_of_days(horizon_days, step_days)
    customers = days["customer_key"].n_unique() if days.height else 0
    if days.height == 0:
        return Readiness(
            False, "no order with a customer yet", horizon_days, step_days, None,
            covered_through, (), needed, 0,
        )  # fmt: skip
    first = days["day"].min()
    last_labeled = covered_through - dt.timedelta(days=horizon_days)
    earliest = first + dt.timedelta(days=min_history_days - 1)
    as_of = []
    t = last_labeled
    while t >= earliest:
        as_of.append(t)
        t -= dt.timedelta(days=step_days)
    as_of = tuple(sorted(as_of[:max_as_of_days]))
    span = (covered_through - first).days + 1
    if len(as_of) < needed:
        reason = (
            f"{span} days of orders ({first}..{covered_through}) give {len(as_of)} as-of days "
            f"with a known {horizon_days}-day outcome after {min_history_days} days of history; "
            f"an honest test (fit, calibrate, test on later days and unseen customers) needs "
            f"{needed} (about {min_history_days + (needed - 1) * step_days + horizon_days} "
            "days of orders)"
        )
        return Readiness(False, reason, horizon_days, step_days, first, covered_through, as_of,
                         needed, customers)  # fmt: skip
    return Readiness(True, "", horizon_days, step_days, first, covered_through, as_of, needed,
                     customers)  # fmt: skip


# ---------------------------------------------------------------------------- dataset


def build_dataset(
    days: pl.DataFrame,
    as_of_dates: Sequence[dt.date],
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    audit_rows: int = 2_000,
    seed: int = 0,
) -> pl.DataFrame:
    """Feature rows at each as-of day and the label: an order in (t, t + horizon_days].

    Returns ``as_of_date, customer_key, label_start, label_end``, :data:`MODEL_FEATURES` and
    ``label``, checked with :func:`check_point_in_time` (``audit_rows`` rows recounted).
    The caller makes sure ``days`` covers every label window (:func:`plan`).
    """
    features = of.features_as_of(days, as_of_dates)
    if features.height == 0:
        raise PropensityDataError(f"{DATASET_TABLE}: no customer has an order before {as_of_dates}")
    rows = features.with_columns(
        (pl.col("as_of_date") + pl.duration(days=1)).alias("label_start"),
        (pl.col("as_of_date") + pl.duration(days=horizon_days)).alias("label_end"),
    )
    bought = (
        rows.select("as_of_date", "customer_key", "label_start", "label_end")
        .join(days.select("customer_key", "day"), on="customer_key", how="inner")
        .filter(pl.col("day").is_between(pl.col("label_start"), pl.col("label_end")))
        .select("as_of_date", "customer_key", pl.lit(1, pl.Int8).alias("label"))
        .unique()
    )
    dataset = (
        rows.join(bought, on=list(KEY_COLUMNS), how="left")
        .with_columns(pl.col("label").fill_null(0))
        .select(*KEY_COLUMNS, "label_start", "label_end", *MODEL_FEATURES, "label")
        .sort(*KEY_COLUMNS)
    )
    check_point_in_time(dataset, days=days, sample_rows=audit_rows, seed=seed)
    return dataset


def check_point_in_time(
    dataset: pl.DataFrame,
    *,
    days: pl.DataFrame | None = None,
    sample_rows: int = 2_000,
    seed: int = 0,
) -> int:
    """Raise :class:`LeakageError` if a feature may come from on or after its label window.

    1. ``label_start > as_of_date`` on every row;
    2. no feature column is a raw order column (:data:`RAW_COLUMNS`);
    3. with ``days``, :data:`order_features.RECOUNTED` of up to ``sample_rows`` rows (seeded)
       equal a recount from the order days up to ``as_of_date``; the error says how many of
       the wrong rows match a window that ends at ``label_end`` instead (read the label).

    Returns the number of rows recounted.
    """
    late = dataset.filter(pl.col("label_start") <= pl.col("as_of_date"))
    if late.height:
        raise LeakageError(
            f"{DATASET_TABLE}: label_start is on or before as_of_date in {late.height} of "
            f"{dataset.height} rows (e.g. {late.head(3).select(*KEY_COLUMNS).rows()}): the "
            "label window must start after the features end"
        )
    feature_columns = [
        c for c in dataset.columns if c not in (*KEY_COLUMNS, "label_start", "label_end", "label")
    ]
    raw = [c for c in feature_columns if c in RAW_COLUMNS]
    if raw:
        raise LeakageError(
            f"{DATASET_TABLE}: feature column(s) {raw} are one day's raw orders; use the "
            "windowed features, which end at as_of_date"
        )
    if days is None or sample_rows <= 0 or dataset.height == 0:
        return 0
    sample = dataset if dataset.height <= sample_rows else dataset.sample(sample_rows, seed=seed)
    sample = sample.sort(*KEY_COLUMNS)
    expected = of.recount(sample, days)
    horizon = (sample["label_end"] - sample["as_of_date"]).dt.total_days()
    for c in of.RECOUNTED:
        if c not in sample.columns:
            continue
        have = sample[c].cast(pl.Float64)
        want = expected[c].cast(pl.Float64)
        wrong = ~((have - want).abs().fill_null(0) <= 0.011) | (have.is_null() != want.is_null())
        n_wrong = int(wrong.sum())
        if n_wrong:
            shifted = 0
            for h in horizon.filter(wrong).unique().to_list():
                subset = sample.filter(wrong & (horizon == h))
                late_counts = of.recount(subset, days, shift_days=int(h))[c].cast(pl.Float64)
                shifted += int(((subset[c].cast(pl.Float64) - late_counts).abs() <= 0.011).sum())
            example = sample.filter(wrong).head(3).select(*KEY_COLUMNS, c).rows()
            raise LeakageError(
                f"{DATASET_TABLE}: column {c} differs from the order days up to as_of_date in "
                f"{n_wrong} of {sample.height} recounted rows ({shifted} of them match a window "
                f"ending at label_end, i.e. they read the label window); e.g. {example}"
            )
    return sample.height
