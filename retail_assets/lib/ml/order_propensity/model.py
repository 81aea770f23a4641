"""The orders-only model: split, fit and calibrate, test against the baselines, score, run.

:func:`split` gives fit, calibration and test rows (later days and unseen customers for the
test); :func:`train` and :func:`evaluate` reuse the behavioural model's fit-calibrate-threshold
and test-scoring paths; :func:`run` does it all from the activity table, or says why not.
"""

from __future__ import annotations

import datetime as dt
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
from retail_assets.lib.ml.order_propensity.dataset import (
    BASELINES,
    DATASET_TABLE,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_STEP_DAYS,
    MAX_AS_OF_DAYS,
    MAX_TEST_AS_OF_DAYS,
    MIN_CALIBRATION_DAYS,
    MIN_TEST_BUYERS,
    MIN_TEST_DAYS,
    MODEL,
    MODEL_FEATURES,
    TARGET_TEST_BUYERS,
    Readiness,
    build_dataset,
    check_point_in_time,
    plan,
)
from retail_assets.lib.ml.propensity.dataset import LeakageError, PropensityDataError
from retail_assets.lib.ml.propensity.evaluation import scores_on_test_rows
from retail_assets.lib.ml.propensity.model import Estimator, fit_and_calibrate


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
