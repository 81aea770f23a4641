"""Orders-only purchase propensity: the probability that a customer orders in the next N days.

For a retailer whose world declares orders but no web or app events (the UCI *Online
Retail* shape). Rows are customers with an order in the year up to an as-of day t
(:func:`~retail_assets.lib.ml.order_features.features_as_of`: recency, tenure, orders and
revenue over 30/90/365 days, basket size, the usual gap between orders, weekend share, RFM
scores); the label is whether the customer orders in the window (t, t + N days], N =
``horizon_days`` (default :data:`DEFAULT_HORIZON_DAYS`). The behavioural model
(:mod:`~retail_assets.lib.ml.propensity`, next-day label) stays for worlds with events.

The evaluation is the behavioural model's, adapted to an N-day label:

- **Point in time, checked** (:func:`check_point_in_time`): every row's label window starts
  after its as-of day; no feature is a raw order column or the label; and the recency, orders
  and revenue of a seeded sample of rows are recounted from the order days up to t and must
  match (a mismatch that matches a window moved N days forward is named: it read the label).
- **As-of days** every ``step_days`` (a week by default: rows of consecutive days are nearly
  the same customers with the same label), from ``min_history_days`` after the first order
  day, up to N days before the last day the activity covers (so every label is known).
- **Split on time, grouped by customer**: the test rows are the last as-of days' rows of
  customers never trained on; training as-of days end N days before the first test as-of day
  (the last training label is known before the first test cutoff). The model is fitted on the
  earlier training days and calibrated (sigmoid, frozen model) on the last training days, again
  N days after the last fitted one.
- **Baselines** (:data:`BASELINES`): "ordered in the last N days" and the RFM sum.
- **Too little history** (:func:`plan`): when the as-of days or buyers are too few for that
  split, nothing is trained and :class:`Readiness` says why, in numbers; the asset publishes no
  scores rather than figures from a test that cannot be honest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GroupShuffleSplit

from retail_assets.lib.ml import order_features as of
from retail_assets.lib.ml.evaluation import (
    BinaryMetrics,
    gains_figure,
    metrics_frame,
    reliability_figure,
    roc_pr_figure,
)
from retail_assets.lib.ml.propensity import (
    Estimator,
    LeakageError,
    PropensityDataError,
    fit_and_calibrate,
    scores_on_test_rows,
)

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


# ---------------------------------------------------------------------------- split, model


@dataclass(frozen=True)
class OrderSplit:
    """Fit, calibration and test rows: later days and disjoint customers for the test."""

    fit: pl.DataFrame
    calibration: pl.DataFrame
    test: pl.DataFrame


def split(
    dataset: pl.DataFrame,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    test_as_of_days: int = MIN_TEST_DAYS,
    calibration_as_of_days: int = MIN_CALIBRATION_DAYS,
    test_users: float = 0.3,
    seed: int = 0,
) -> OrderSplit:
    """Fit, calibration and test rows: later days and unseen customers for the test.

    The last ``test_as_of_days`` as-of days of ``test_users`` of the customers are the test;
    the others' rows ``horizon_days`` or more before them train, the last
    ``calibration_as_of_days`` of those calibrate, the rows ``horizon_days`` before those fit.
    """
    as_of = sorted(dataset["as_of_date"].unique().to_list())
    test_start = as_of[-test_as_of_days]
    gap = dt.timedelta(days=horizon_days)
    train_days = [d for d in as_of if d + gap < test_start + dt.timedelta(days=1)]
    if len(train_days) < calibration_as_of_days + 1:
        raise PropensityDataError(
            f"{DATASET_TABLE}: {len(as_of)} as-of days leave {len(train_days)} to train before "
            f"the test days from {test_start}"
        )
    calibration_start = train_days[-calibration_as_of_days]
    fit_days = [d for d in train_days if d + gap < calibration_start + dt.timedelta(days=1)]
    if not fit_days:
        raise PropensityDataError(
            f"{DATASET_TABLE}: no as-of day to fit on {horizon_days} days before the "
            f"calibration days from {calibration_start}"
        )
    _, test_idx = next(
        GroupShuffleSplit(n_splits=1, test_size=test_users, random_state=seed).split(
            np.zeros(dataset.height), groups=dataset["customer_key"].to_numpy()
        )
    )
    is_test = np.zeros(dataset.height, dtype=bool)
    is_test[test_idx] = True
    marked = dataset.with_columns(pl.Series("_test", is_test))
    day = pl.col("as_of_date")
    fit = marked.filter(~pl.col("_test") & day.is_in(fit_days)).drop("_test")
    calibration = marked.filter(
        ~pl.col("_test") & day.is_between(calibration_start, train_days[-1])
    )
    test = marked.filter(pl.col("_test") & (day >= test_start)).drop("_test")
    calibration = calibration.drop("_test")
    empty = [
        n for n, f in (("fit", fit), ("calibration", calibration), ("test", test)) if not f.height
    ]
    if empty:
        raise PropensityDataError(
            f"{DATASET_TABLE}: no {' or '.join(empty)} rows: {dataset['customer_key'].n_unique()} "
            f"customers over {len(as_of)} as-of days are too few to split"
        )
    if fit["label_end"].max() > calibration["as_of_date"].min() or (
        calibration["label_end"].max() > test["as_of_date"].min()
    ):
        raise LeakageError(f"{DATASET_TABLE}: a training label ends after a later cutoff")
    if set(test["customer_key"]) & (set(fit["customer_key"]) | set(calibration["customer_key"])):
        raise LeakageError(f"{DATASET_TABLE}: a test customer is in the training rows")
    return OrderSplit(fit, calibration, test)


def model_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The :data:`MODEL_FEATURES` as a float matrix (every feature is >= 0 and never NULL)."""
    return frame.select(pl.col(c).cast(pl.Float64) for c in MODEL_FEATURES).to_numpy()


def baseline_scores(frame: pl.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """Ordered within the last ``horizon_days`` (0/1); the RFM sum r + f + m."""
    recent = (pl.col("recency_days") < horizon_days).cast(pl.Float64)
    return {
        "bought_last_n_days": frame.select(recent).to_series().to_numpy(),
        "rfm": frame.select(pl.sum_horizontal("r_score", "f_score", "m_score").cast(pl.Float64))
        .to_series()
        .to_numpy(),
    }


@dataclass(frozen=True)
class OrderPropensityModel:
    """A calibrated orders-only model, its thresholds and what it was trained on."""

    calibrated: CalibratedClassifierCV
    uncalibrated: object
    estimator: str
    horizon_days: int
    features: tuple[str, ...]
    thresholds: dict[str, float]
    fit_days: tuple[dt.date, dt.date]
    calibration_days: tuple[dt.date, dt.date]
    fit_rows: int
    calibration_rows: int
    base_rate: float
    feature_set: str = "orders_only"

    @property
    def threshold(self) -> float:
        """The model's decision threshold (probability)."""
        return self.thresholds[MODEL]

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of an order in the next ``horizon_days`` days, per row."""
        return self.calibrated.predict_proba(model_matrix(frame))[:, 1]


def _two_classes(frame: pl.DataFrame, what: str) -> None:
    positives = int(frame["label"].sum()) if frame.height else 0
    if positives == 0 or positives == frame.height:
        raise PropensityDataError(
            f"{DATASET_TABLE}: the {what} ({frame.height} rows, {positives} buyers) needs both "
            "buyers and non-buyers"
        )


def train(
    parts: OrderSplit,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    estimator: Estimator = "logistic_regression",
    seed: int = 0,
) -> OrderPropensityModel:
    """Fit, then calibrate (sigmoid, the fit frozen) and choose the thresholds.

    The model is fitted on ``parts.fit``, calibrated on ``parts.calibration``.
    """
    _two_classes(parts.fit, "fitting rows")
    _two_classes(parts.calibration, "calibration rows")
    X_fit, X_cal = model_matrix(parts.fit), model_matrix(parts.calibration)
    y_fit, y_cal = parts.fit["label"].to_numpy(), parts.calibration["label"].to_numpy()
    fitted, calibrated, thresholds = fit_and_calibrate(
        estimator,
        seed,
        X_fit,
        y_fit,
        X_cal,
        y_cal,
        baseline_scores(parts.calibration, horizon_days),
    )
    return OrderPropensityModel(
        calibrated=calibrated,
        uncalibrated=fitted,
        estimator=estimator,
        horizon_days=horizon_days,
        features=MODEL_FEATURES,
        thresholds=thresholds,
        fit_days=(parts.fit["as_of_date"].min(), parts.fit["as_of_date"].max()),
        calibration_days=(
            parts.calibration["as_of_date"].min(),
            parts.calibration["as_of_date"].max(),
        ),
        fit_rows=parts.fit.height,
        calibration_rows=parts.calibration.height,
        base_rate=float(y_fit.mean()),
    )


@dataclass(frozen=True)
class OrderEvaluation:
    """Test metrics of the model and the baselines, and the scores behind them."""

    scores: pl.DataFrame
    metrics: dict[str, BinaryMetrics]
    lift: pl.DataFrame
    horizon_days: int
    notes: list[str] = field(default_factory=list)

    def metrics_frame(self) -> pl.DataFrame:
        """One row per scorer with every metric."""
        return metrics_frame(self.metrics)

    @property
    def pr_auc_over_base_rate(self) -> float:
        """The model's PR-AUC over the base rate."""
        m = self.metrics[MODEL]
        return m.pr_auc / m.base_rate

    def _curves(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        y = self.scores["label"].to_numpy()
        return y, {s: self.scores[s].to_numpy() for s in (MODEL, *BASELINES)}

    def roc_pr_figure(self):
        """ROC and PR curves of the model and the baselines on the test rows."""
        y, scores = self._curves()
        title = f"Order in the next {self.horizon_days} days (test customers, test days)"
        return roc_pr_figure(y, scores, title=title)

    def reliability_figure(self):
        """Reliability of the calibrated and the uncalibrated probabilities."""
        y = self.scores["label"].to_numpy()
        return reliability_figure(
            y,
            {
                "calibrated": self.scores[MODEL].to_numpy(),
                "uncalibrated": self.scores["model_uncalibrated"].to_numpy(),
            },
            title=f"Reliability of {self.horizon_days}-day order probabilities",
        )

    def gains_figure(self):
        """Cumulative gains of the model and the baselines."""
        return gains_figure(*self._curves())


def evaluate(model: OrderPropensityModel, test_rows: pl.DataFrame) -> OrderEvaluation:
    """Metrics of the model and the baselines on the test rows, each at its own threshold."""
    check_point_in_time(test_rows)
    _two_classes(test_rows, "test rows")
    X = model_matrix(test_rows)
    baselines = baseline_scores(test_rows, model.horizon_days)
    scores, metrics, lift, notes = scores_on_test_rows(model, test_rows, X, baselines)
    return OrderEvaluation(
        scores=scores,
        metrics=metrics,
        lift=lift,
        horizon_days=model.horizon_days,
        notes=notes,
    )


def score(model: OrderPropensityModel, features: pl.DataFrame) -> pl.DataFrame:
    """``customer_key, as_of_date, probability, decile, rank`` (rank 1 = most likely)."""
    scored = features.select(
        pl.col("customer_key").cast(pl.String), pl.col("as_of_date").cast(pl.Date)
    ).with_columns(pl.Series("probability", model.predict_proba(features), dtype=pl.Float64))
    rank = pl.int_range(1, pl.len() + 1).over("as_of_date").cast(pl.Int64)
    return (
        scored.sort(["as_of_date", "probability", "customer_key"], descending=[False, True, False])
        .with_columns(rank.alias("rank"))
        .with_columns(
            ((pl.col("rank") - 1) * 10 // pl.len() + 1).over("as_of_date").cast(pl.Int64)
            .alias("decile")
        )
        .select("customer_key", "as_of_date", "probability", "decile", "rank")
    )  # fmt: skip


@dataclass(frozen=True)
class OrderRun:
    """What :func:`run` did: the readiness, and when it was ready the model and its test."""

    readiness: Readiness
    dataset: pl.DataFrame | None = None
    parts: OrderSplit | None = None
    model: OrderPropensityModel | None = None
    evaluation: OrderEvaluation | None = None


def run(
    activity: pl.DataFrame,
    covered_through: dt.date,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    step_days: int = DEFAULT_STEP_DAYS,
    min_test_buyers: int = MIN_TEST_BUYERS,
    target_test_buyers: int = TARGET_TEST_BUYERS,
    max_as_of_days: int = MAX_AS_OF_DAYS,
    seed: int = 0,
) -> OrderRun:
    """Plan, build, split, train and evaluate from ``features.user_daily_activity`` rows.

    Returns an :class:`OrderRun` whose readiness says why nothing was trained when the
    history is too short or the test would hold fewer than ``min_test_buyers`` buyers. The
    test starts with the last as-of day and grows by one as-of day at a time toward
    ``target_test_buyers``, up to :data:`MAX_TEST_AS_OF_DAYS` and while the fit keeps its days.
    """
    days = of.order_days(activity)
    ready = plan(
        days,
        covered_through,
        horizon_days=horizon_days,
        step_days=step_days,
        max_as_of_days=max_as_of_days,
    )
    if not ready.ready:
        return OrderRun(ready)
    dataset = build_dataset(days, ready.as_of_days, horizon_days=horizon_days, seed=seed)
    buyers = int(dataset["label"].sum())
    spare = len(ready.as_of_days) - ready.needed_as_of_days
    test_days = MIN_TEST_DAYS
    while True:
        try:
            parts = split(dataset, horizon_days=horizon_days, test_as_of_days=test_days, seed=seed)
        except LeakageError:
            raise
        except PropensityDataError as exc:  # too few rows on one side: say so, train nothing
            return OrderRun(_with(ready, ready=False, reason=str(exc), buyers=buyers), dataset)
        test_buyers = int(parts.test["label"].sum())
        if test_buyers >= target_test_buyers or test_days > min(spare, MAX_TEST_AS_OF_DAYS - 1):
            break
        test_days += 1
    counts = {
        name: (int(part["label"].sum()), part.height)
        for name, part in (("fit", parts.fit), ("calibrate", parts.calibration),
                           ("test", parts.test))
    }  # fmt: skip
    if test_buyers < min_test_buyers or any(b in (0, n) for b, n in counts.values()):
        split_text = ", ".join(f"{b} of {n} rows to {name}" for name, (b, n) in counts.items())
        reason = (
            f"{len(ready.as_of_days)} as-of days hold {buyers} buyers in {dataset.height} rows; "
            f"the split leaves buyers in {split_text} (an honest test needs at least "
            f"{min_test_buyers} test buyers, and buyers and non-buyers in each part)"
        )
        return OrderRun(_with(ready, ready=False, reason=reason, buyers=buyers), dataset)
    model = train(parts, horizon_days=horizon_days, seed=seed)
    evaluation = evaluate(model, parts.test)
    return OrderRun(_with(ready, buyers=buyers), dataset, parts, model, evaluation)


def _with(base: Readiness, **changes) -> Readiness:
    return Readiness(**{**base.__dict__, **changes})
