"""Purchase propensity: the probability that a customer buys online in the next 24 hours.

Rows are ``features.user_features`` (one per customer and ``as_of_date``, computed from
activity up to the end of that day, for customers active in the 30 days up to it); the label
is whether ``features.user_daily_activity`` shows a purchase on the next day,
``label_date = as_of_date + 1``: the window (t, t + 24 h] after the cutoff t at the end of
``as_of_date`` (DOMAIN.md, "Purchase propensity"; Google's marketing-analytics-jumpstart
calls it ``purchase_day_1``). Customers who were not active in the 30 days before a cutoff
have no feature row and are not scored.

Design:

- **Point in time, checked** (:func:`check_point_in_time`, run by :func:`build_dataset`):
  every row's features end before its label day; no feature column is one of the raw daily
  activity columns (``purchases``, ``revenue``...: joined on the label day they are the
  label); and, given the activity table, the windowed counts of a seeded sample of rows
  (``views/carts/purchases_1d/7d/14d/30d``) are recomputed from the days up to the cutoff and
  must match exactly. A count that includes the label day (computed after the cutoff) fails
  with :class:`LeakageError`, which names the column and the rows.
- **Split on time, grouped by user** (:func:`time_group_split`): training rows are earlier
  as-of days, test rows the last ``test_days``, with ``gap_days`` between them so the last
  training label lies before the first test cutoff; and customers are split once with
  :class:`~sklearn.model_selection.GroupShuffleSplit`, so no test customer is ever trained on.
  :func:`choose_test_days` lengthens the test period by whole weeks when a small customer
  base would leave a week of test rows with few buyers.
- **Model** (:func:`train`): a scikit-learn pipeline, by default a logistic regression on
  ``log1p``-transformed, standardized features (histogram gradient boosting is the
  alternative; on simulated data it ranked no better and took over ten times as long: the
  signal is mostly each customer's steady rate of activity). It is fitted on the training
  days except the last ``calibration_days``, then calibrated on those later days with
  :class:`~sklearn.calibration.CalibratedClassifierCV` (sigmoid, as scikit-learn advises for
  small calibration sets; the fitted model is frozen, so calibration data never trains it).
  Calibrating on *later* days is how the model is used: scores computed today, purchases
  tomorrow. Probabilities drive budgets, so calibration matters more than AUC.
- **Threshold**: the probability that maximizes F1 on the calibration days (also where each
  baseline's threshold is chosen, the same way). It is reported with the recall and
  precision it gives on the test rows; the top decile (lift, capture) is reported besides,
  for campaigns that target a fixed share of customers instead.
- **Baselines** (:data:`BASELINES`): "added to the cart in the last 24 hours"
  (``carts_1d > 0``), an RFM score (``r_score + f_score + m_score``, 0 for customers without
  an order in 90 days) and the SQL model's rule-based ``purchase_intent_score``.
- :func:`score` writes the table users query: ``customer_key, as_of_date, probability,
  decile, rank`` (per as-of day, rank 1 and decile 1 are the most likely buyers).

Frames are polars in and out; no Dagster here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from retail_assets.lib.ml.evaluation import (
    BinaryMetrics,
    best_f1_threshold,
    binary_metrics,
    gains_figure,
    lift_table,
    metrics_frame,
    reliability_figure,
    roc_pr_figure,
)

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

MODEL = "model"
BASELINES = ("carted_last_24h", "rfm", "intent_rule")

Estimator = Literal["hist_gradient_boosting", "logistic_regression"]


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


# ---------------------------------------------------------------------------- dataset


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


# ---------------------------------------------------------------------------- split


@dataclass(frozen=True)
class PropensitySplit:
    """Training and test rows: earlier days and other customers for training."""

    train: pl.DataFrame
    test: pl.DataFrame
    train_end: dt.date
    test_start: dt.date
    gap_days: int


def time_group_split(
    dataset: pl.DataFrame,
    test_days: int = 7,
    gap_days: int = 1,
    *,
    test_users: float = 0.3,
    seed: int = 0,
) -> PropensitySplit:
    """Train on earlier as-of days, test on the last ``test_days``, on disjoint customers.

    The test period is the last ``test_days`` calendar days up to the latest ``as_of_date``;
    training rows end ``gap_days`` days before it (with the default 1, the last training
    label day is the day before the first test cutoff). Customers are split once with
    :class:`~sklearn.model_selection.GroupShuffleSplit` (``test_users`` of them, seeded) and
    each side keeps only its own customers. The order and the disjointness are checked.
    """
    _require(dataset, [*KEY_COLUMNS, "label"], DATASET_TABLE)
    if test_days < 1 or gap_days < 0:
        raise PropensityDataError("test_days must be at least 1 and gap_days at least 0")
    if dataset.height == 0:
        raise PropensityDataError(f"{DATASET_TABLE}: no rows to split")
    last = dataset["as_of_date"].max()
    test_start = last - dt.timedelta(days=test_days - 1)
    train_end = test_start - dt.timedelta(days=gap_days + 1)
    _, test_idx = next(
        GroupShuffleSplit(n_splits=1, test_size=test_users, random_state=seed).split(
            np.zeros(dataset.height), groups=dataset["customer_key"].to_numpy()
        )
    )
    in_test_group = np.zeros(dataset.height, dtype=bool)
    in_test_group[test_idx] = True
    group = pl.Series("test_group", in_test_group)
    marked = dataset.with_columns(group)
    train = marked.filter(~pl.col("test_group") & (pl.col("as_of_date") <= train_end))
    test = marked.filter(pl.col("test_group") & (pl.col("as_of_date") >= test_start))
    train, test = train.drop("test_group"), test.drop("test_group")
    first = dataset["as_of_date"].min()
    if train.height == 0 or test.height == 0:
        raise PropensityDataError(
            f"{DATASET_TABLE}: as-of days {first} to {last} leave "
            f"{train.height} training and {test.height} test rows with test_days={test_days}, "
            f"gap_days={gap_days}; add days or shorten the test period"
        )
    if not train["as_of_date"].max() + dt.timedelta(days=gap_days) < test["as_of_date"].min():
        raise LeakageError("training rows are not before the test rows")
    shared = set(train["customer_key"].unique()) & set(test["customer_key"].unique())
    if shared:
        raise LeakageError(f"{len(shared)} customers are in both training and test rows")
    return PropensitySplit(train, test, train_end, test_start, gap_days)


def choose_test_days(
    dataset: pl.DataFrame,
    *,
    min_buyers: int = 100,
    test_users: float = 0.3,
    step: int = 7,
    max_days: int = 21,
    gap_days: int = 1,
    min_train_days: int = 28,
) -> int:
    """How many as-of days to test on: ``step`` (a week), longer when that holds few buyers.

    The test rows are the last days' rows of the ``test_users`` share of customers, so a
    small customer base gives a test with few buyers and noisy metrics (about 50 buyers
    a week at 2,000 customers). The period grows by whole weeks (so every weekday counts
    alike) until the expected test buyers (``test_users`` times the buyers of those days)
    reach ``min_buyers``, up to ``max_days``, and only while ``min_train_days`` days are left
    to train and calibrate on. A large base keeps one week.
    """
    _require(dataset, ["as_of_date", "label"], DATASET_TABLE)
    if step < 1 or max_days < step:
        raise PropensityDataError("step must be at least 1 and max_days at least step")
    if dataset.height == 0:
        return step
    per_day = dataset.group_by("as_of_date").agg(pl.col("label").sum().alias("buyers"))
    last = per_day["as_of_date"].max()
    span = (last - per_day["as_of_date"].min()).days + 1

    def buyers(days: int) -> float:
        since = last - dt.timedelta(days=days - 1)
        return test_users * float(per_day.filter(pl.col("as_of_date") >= since)["buyers"].sum())

    days = step
    while (
        buyers(days) < min_buyers
        and days + step <= max_days
        and span - (days + step) - gap_days >= min_train_days
    ):
        days += step
    return days


# ---------------------------------------------------------------------------- model


def model_matrix(frame: pl.DataFrame) -> pl.DataFrame:
    """The model inputs of :data:`MODEL_FEATURES` as floats, from user_features rows.

    Fills NULL ``recency_days`` with :data:`NO_PURCHASE_RECENCY` and NULL RFM scores with 0
    (no order in 90 days); any other NULL is an error naming the column and the row count.
    """
    _require(frame, ["as_of_date", *SOURCE_FEATURES], FEATURE_TABLE)
    nulls = {
        c: n
        for c, n in frame.select(
            pl.col(c).null_count()
            for c in SOURCE_FEATURES
            if c not in ("recency_days", "r_score", "f_score", "m_score")
        )
        .row(0, named=True)
        .items()
        if n
    }
    if nulls:
        raise PropensityDataError(
            f"{FEATURE_TABLE}: NULLs in {nulls} (column: rows) of {frame.height} rows; those "
            "columns are NOT NULL in the SQL model"
        )
    return frame.select(
        *(pl.col(c).cast(pl.Float64) for c in SOURCE_FEATURES),
        (pl.col("frequency_90d") > 0).cast(pl.Float64).alias("has_order_90d"),
        (pl.col("as_of_date").cast(pl.Date) + pl.duration(days=1))
        .dt.weekday()
        .ge(6)
        .cast(pl.Float64)
        .alias("next_day_is_weekend"),
    ).with_columns(
        pl.col("recency_days").fill_null(float(NO_PURCHASE_RECENCY)),
        pl.col("r_score", "f_score", "m_score").fill_null(0.0),
    )


def make_estimator(estimator: Estimator = "logistic_regression", seed: int = 0) -> Pipeline:
    """The unfitted, uncalibrated model pipeline."""
    if estimator == "hist_gradient_boosting":
        return Pipeline(
            [
                (
                    "model",
                    HistGradientBoostingClassifier(
                        learning_rate=0.05,
                        max_iter=200,
                        max_leaf_nodes=15,
                        min_samples_leaf=50,
                        l2_regularization=1.0,
                        early_stopping=False,
                        random_state=seed,
                    ),
                )
            ]
        )
    if estimator == "logistic_regression":
        return Pipeline(
            [
                ("log1p", FunctionTransformer(np.log1p)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=1.0, max_iter=2000)),
            ]
        )
    raise PropensityDataError(
        f"unknown estimator {estimator!r}; choose hist_gradient_boosting or logistic_regression"
    )


def baseline_scores(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """Scores of the baselines: carted in the last 24 h (0/1), RFM sum, the intent rule."""
    _require(frame, ["carts_1d", "r_score", "f_score", "m_score", "purchase_intent_score"], "rows")
    rfm = frame.select(
        pl.sum_horizontal(pl.col("r_score", "f_score", "m_score").fill_null(0)).cast(pl.Float64)
    ).to_series()
    return {
        "carted_last_24h": (frame["carts_1d"] > 0).cast(pl.Float64).to_numpy(),
        "rfm": rfm.to_numpy(),
        "intent_rule": frame["purchase_intent_score"].cast(pl.Float64).to_numpy(),
    }


@dataclass(frozen=True)
class PropensityModel:
    """A calibrated propensity model and what it was trained on.

    ``calibrated`` gives the probabilities; ``uncalibrated`` is the same fitted pipeline
    before calibration (for the reliability plot). ``thresholds`` holds the F1-maximizing
    cut of the model (:data:`MODEL`) and of each baseline, chosen on the calibration days.
    """

    calibrated: CalibratedClassifierCV
    uncalibrated: Pipeline
    estimator: str
    features: tuple[str, ...]
    thresholds: dict[str, float]
    fit_days: tuple[dt.date, dt.date]
    calibration_days: tuple[dt.date, dt.date]
    fit_rows: int
    calibration_rows: int
    base_rate: float
    seed: int

    @property
    def threshold(self) -> float:
        """The model's decision threshold (probability)."""
        return self.thresholds[MODEL]

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of a purchase on the next day, per user_features row."""
        return self.calibrated.predict_proba(model_matrix(frame).to_numpy())[:, 1]


def _two_classes(frame: pl.DataFrame, what: str) -> None:
    positives = int(frame["label"].sum())
    if positives == 0 or positives == frame.height:
        raise PropensityDataError(
            f"{DATASET_TABLE}: the {what} ({frame.height} rows, {positives} buyers) needs both "
            "buyers and non-buyers; use more days or customers"
        )


def train(
    train_rows: pl.DataFrame,
    *,
    estimator: Estimator = "logistic_regression",
    calibration_days: int = 7,
    seed: int = 0,
) -> PropensityModel:
    """Fit on the earlier training days, calibrate (sigmoid) and pick thresholds on the last.

    ``train_rows`` are dataset rows (:func:`build_dataset`, usually ``split.train``). The
    last ``calibration_days`` as-of days calibrate the frozen fitted pipeline with
    :class:`~sklearn.calibration.CalibratedClassifierCV` and choose the thresholds; one day
    before them is left out, so the last fitted label precedes the first calibration cutoff.
    """
    _require(train_rows, [*KEY_COLUMNS, "label", *SOURCE_FEATURES], DATASET_TABLE)
    if "label_date" in train_rows.columns:
        check_point_in_time(train_rows)
    if calibration_days < 1:
        raise PropensityDataError("calibration_days must be at least 1")
    last = train_rows["as_of_date"].max()
    calibration_start = last - dt.timedelta(days=calibration_days - 1)
    fit_part = train_rows.filter(pl.col("as_of_date") < calibration_start - dt.timedelta(days=1))
    calibration_part = train_rows.filter(pl.col("as_of_date") >= calibration_start)
    if fit_part.height == 0:
        raise PropensityDataError(
            f"{DATASET_TABLE}: the training rows span {train_rows['as_of_date'].min()} to "
            f"{last}, which leaves nothing to fit before {calibration_days} calibration days "
            "and a day's gap; add days or lower calibration_days"
        )
    _two_classes(fit_part, "fitting period")
    _two_classes(calibration_part, "calibration period")
    X_fit = model_matrix(fit_part).to_numpy()
    X_cal = model_matrix(calibration_part).to_numpy()
    y_fit, y_cal = fit_part["label"].to_numpy(), calibration_part["label"].to_numpy()
    fitted, calibrated, thresholds = fit_and_calibrate(
        estimator, seed, X_fit, y_fit, X_cal, y_cal, baseline_scores(calibration_part)
    )
    return PropensityModel(
        calibrated=calibrated,
        uncalibrated=fitted,
        estimator=estimator,
        features=MODEL_FEATURES,
        thresholds=thresholds,
        fit_days=(fit_part["as_of_date"].min(), fit_part["as_of_date"].max()),
        calibration_days=(calibration_start, last),
        fit_rows=fit_part.height,
        calibration_rows=calibration_part.height,
        base_rate=float(y_fit.mean()),
        seed=seed,
    )


# ---------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class PropensityEvaluation:
    """Test-set metrics of the model and the baselines, and the scores behind them.

    ``scores``: ``as_of_date, customer_key, label``, one column per scorer (``model`` is the
    calibrated probability) and ``model_uncalibrated``. ``metrics``: :class:`BinaryMetrics`
    per scorer at its own threshold. ``lift``: the model's cumulative gains by decile.
    """

    scores: pl.DataFrame
    metrics: dict[str, BinaryMetrics]
    lift: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    def metrics_frame(self) -> pl.DataFrame:
        """One row per scorer with every metric."""
        return metrics_frame(self.metrics)

    @property
    def pr_auc_over_base_rate(self) -> float:
        """The model's PR-AUC divided by the base rate (the target is at least 2)."""
        m = self.metrics[MODEL]
        return m.pr_auc / m.base_rate

    def _y(self) -> np.ndarray:
        return self.scores["label"].to_numpy()

    def roc_pr_figure(self):
        """ROC and PR curves of the model and the baselines on the test rows."""
        scorers = (MODEL, *BASELINES)
        return roc_pr_figure(
            self._y(),
            {s: self.scores[s].to_numpy() for s in scorers},
            title="Purchase in the next 24 h (test customers, test days)",
        )

    def reliability_figure(self):
        """Reliability of the calibrated and the uncalibrated probabilities."""
        return reliability_figure(
            self._y(),
            {
                "calibrated": self.scores[MODEL].to_numpy(),
                "uncalibrated": self.scores["model_uncalibrated"].to_numpy(),
            },
            title="Reliability of next-day purchase probabilities",
        )

    def gains_figure(self):
        """Cumulative gains of the model and the baselines."""
        scorers = (MODEL, *BASELINES)
        return gains_figure(self._y(), {s: self.scores[s].to_numpy() for s in scorers})


def evaluate(model: PropensityModel, test_rows: pl.DataFrame) -> PropensityEvaluation:
    """Metrics of the model and the baselines on ``test_rows`` (dataset rows with labels).

    Each scorer is cut at the threshold chosen for it on the calibration days. Only the
    model's scores are probabilities (and get a Brier score).
    """
    _require(test_rows, [*KEY_COLUMNS, "label", *SOURCE_FEATURES], DATASET_TABLE)
    if "label_date" in test_rows.columns:
        check_point_in_time(test_rows)
    _two_classes(test_rows, "test period")
    X = model_matrix(test_rows).to_numpy()
    baselines = baseline_scores(test_rows)
    scores, metrics, lift, notes = scores_on_test_rows(model, test_rows, X, baselines)
    return PropensityEvaluation(scores=scores, metrics=metrics, lift=lift, notes=notes)


def fit_and_calibrate(estimator, seed, X_fit, y_fit, X_cal, y_cal, baselines):
    """Fit, calibrate the frozen fit (sigmoid), choose every scorer's threshold (best F1).

    Returns ``(fitted, calibrated, thresholds)``; calibration and thresholds on the
    calibration rows, which ``baselines`` scores (a baseline's name -> its scores). Shared by
    the behavioural and the orders-only models.
    """
    fitted = clone(make_estimator(estimator, seed)).fit(X_fit, y_fit)
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted), method="sigmoid")
    calibrated.fit(X_cal, y_cal)
    thresholds = {
        MODEL: best_f1_threshold(y_cal, calibrated.predict_proba(X_cal)[:, 1], name=MODEL)
    }
    for name, s in baselines.items():
        thresholds[name] = best_f1_threshold(y_cal, s, name=name)
    return fitted, calibrated, thresholds


def scores_on_test_rows(model, test_rows: pl.DataFrame, X: np.ndarray, baselines: dict):
    """``(scores, metrics, lift, notes)`` of a fitted model and its baselines on test rows.

    Each scorer is cut at the threshold chosen for it on the calibration rows; only the
    model's scores are probabilities (and get a Brier score). ``baselines`` maps a baseline's
    name to its scores of ``test_rows``. Shared by the behavioural and orders-only models.
    """
    y = test_rows["label"].to_numpy()
    columns = {
        MODEL: model.calibrated.predict_proba(X)[:, 1],
        "model_uncalibrated": model.uncalibrated.predict_proba(X)[:, 1],
        **baselines,
    }
    metrics = {
        MODEL: binary_metrics(y, columns[MODEL], threshold=model.threshold, name=MODEL),
        **{
            b: binary_metrics(
                y, columns[b], threshold=model.thresholds[b], probability=False, name=b
            )
            for b in baselines
        },
    }
    notes = []
    positives = int(y.sum())
    if positives < 1_000:
        notes.append(
            f"only {positives} buyers in the test rows: metrics are noisy below about 1,000"
        )
    scores = test_rows.select(*KEY_COLUMNS, "label").with_columns(
        pl.Series(name, values) for name, values in columns.items()
    )
    return scores, metrics, lift_table(y, columns[MODEL], name=MODEL), notes


# ---------------------------------------------------------------------------- scoring


def score(model: PropensityModel, features: pl.DataFrame) -> pl.DataFrame:
    """The scores table: ``customer_key, as_of_date, probability, decile, rank``.

    One row per row of ``features`` (``features.user_features``). Within each as-of day,
    ``rank`` 1 is the highest probability (ties broken by ``customer_key``, so reruns agree)
    and ``decile`` 1 the top tenth of the day's customers.
    """
    _require(features, [*KEY_COLUMNS, *SOURCE_FEATURES], FEATURE_TABLE)
    if features.height == 0:
        return pl.DataFrame(
            schema={
                "customer_key": pl.String,
                "as_of_date": pl.Date,
                "probability": pl.Float64,
                "decile": pl.Int64,
                "rank": pl.Int64,
            }
        )
    probability = model.predict_proba(features)
    scored = features.select(
        pl.col("customer_key").cast(pl.String), pl.col("as_of_date").cast(pl.Date)
    ).with_columns(pl.Series("probability", probability))
    rank = pl.int_range(1, pl.len() + 1).over("as_of_date").cast(pl.Int64)
    return (
        scored.sort(["as_of_date", "probability", "customer_key"], descending=[False, True, False])
        .with_columns(rank.alias("rank"))
        .with_columns(
            ((pl.col("rank") - 1) * 10 // pl.len() + 1)
            .over("as_of_date")
            .cast(pl.Int64)
            .alias("decile")
        )
        .select("customer_key", "as_of_date", "probability", "decile", "rank")
    )
