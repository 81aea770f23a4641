"""The propensity model's test: metrics of the model and the baselines on held-out rows.

Each scorer is cut at the threshold chosen for it on the calibration days; only the model's
scores are probabilities. The figures (ROC/PR, reliability, gains) come from
:mod:`retail_assets.lib.ml.evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from retail_assets.lib.ml.evaluation import (
    BinaryMetrics,
    binary_metrics,
    gains_figure,
    lift_table,
    metrics_frame,
    reliability_figure,
    roc_pr_figure,
)
from retail_assets.lib.ml.propensity.dataset import (
    DATASET_TABLE,
    KEY_COLUMNS,
    SOURCE_FEATURES,
    _require,
    check_point_in_time,
)
from retail_assets.lib.ml.propensity.model import (
    BASELINES,
    MODEL,
    PropensityModel,
    _two_classes,
    baseline_scores,
    model_matrix,
)


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
