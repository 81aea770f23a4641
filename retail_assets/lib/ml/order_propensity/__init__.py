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

from retail_assets.lib.ml.order_propensity.dataset import (
    BASELINES,
    DATASET_TABLE,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_STEP_DAYS,
    KEY_COLUMNS,
    MAX_AS_OF_DAYS,
    MAX_TEST_AS_OF_DAYS,
    MIN_CALIBRATION_DAYS,
    MIN_FIT_DAYS,
    MIN_HISTORY_DAYS,
    MIN_TEST_BUYERS,
    MIN_TEST_DAYS,
    MODEL,
    MODEL_FEATURES,
    RAW_COLUMNS,
    TARGET_TEST_BUYERS,
    Readiness,
    build_dataset,
    check_point_in_time,
    needed_as_of_days,
    plan,
)
from retail_assets.lib.ml.order_propensity.model import (
    OrderEvaluation,
    OrderPropensityModel,
    OrderRun,
    OrderSplit,
    baseline_scores,
    evaluate,
    model_matrix,
    run,
    score,
    split,
    train,
)
from retail_assets.lib.ml.propensity.dataset import LeakageError, PropensityDataError
from retail_assets.lib.ml.propensity.model import Estimator

__all__ = [
    "BASELINES",
    "DATASET_TABLE",
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_STEP_DAYS",
    "Estimator",
    "KEY_COLUMNS",
    "LeakageError",
    "MAX_AS_OF_DAYS",
    "MAX_TEST_AS_OF_DAYS",
    "MIN_CALIBRATION_DAYS",
    "MIN_FIT_DAYS",
    "MIN_HISTORY_DAYS",
    "MIN_TEST_BUYERS",
    "MIN_TEST_DAYS",
    "MODEL",
    "MODEL_FEATURES",
    "OrderEvaluation",
    "OrderPropensityModel",
    "OrderRun",
    "OrderSplit",
    "PropensityDataError",
    "RAW_COLUMNS",
    "Readiness",
    "TARGET_TEST_BUYERS",
    "baseline_scores",
    "build_dataset",
    "check_point_in_time",
    "evaluate",
    "model_matrix",
    "needed_as_of_days",
    "plan",
    "run",
    "score",
    "split",
    "train",
]
