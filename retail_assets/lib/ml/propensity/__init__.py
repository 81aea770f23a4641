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

from retail_assets.lib.ml.propensity.dataset import (
    ACTIVITY_TABLE,
    DATASET_TABLE,
    FEATURE_TABLE,
    KEY_COLUMNS,
    LABEL_WINDOW_COLUMNS,
    MODEL_FEATURES,
    NO_PURCHASE_RECENCY,
    SOURCE_FEATURES,
    WINDOW_COUNTS,
    LeakageError,
    PropensityDataError,
    build_dataset,
    check_point_in_time,
)
from retail_assets.lib.ml.propensity.evaluation import (
    PropensityEvaluation,
    evaluate,
    scores_on_test_rows,
)
from retail_assets.lib.ml.propensity.model import (
    BASELINES,
    MODEL,
    Estimator,
    PropensityModel,
    baseline_scores,
    fit_and_calibrate,
    make_estimator,
    model_matrix,
    score,
    train,
)
from retail_assets.lib.ml.propensity.split import (
    PropensitySplit,
    choose_test_days,
    time_group_split,
)

__all__ = [
    "ACTIVITY_TABLE",
    "BASELINES",
    "DATASET_TABLE",
    "Estimator",
    "FEATURE_TABLE",
    "KEY_COLUMNS",
    "LABEL_WINDOW_COLUMNS",
    "LeakageError",
    "MODEL",
    "MODEL_FEATURES",
    "NO_PURCHASE_RECENCY",
    "PropensityDataError",
    "PropensityEvaluation",
    "PropensityModel",
    "PropensitySplit",
    "SOURCE_FEATURES",
    "WINDOW_COUNTS",
    "baseline_scores",
    "build_dataset",
    "check_point_in_time",
    "choose_test_days",
    "evaluate",
    "fit_and_calibrate",
    "make_estimator",
    "model_matrix",
    "score",
    "scores_on_test_rows",
    "time_group_split",
    "train",
]
