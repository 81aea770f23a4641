"""Models: the questions a retail marketer asks every week, answered with scikit-learn.

Every model lives in the registry in the lake (``<lake>/models/<name>/v0001/...``, see
``lib/ml/registry/``). A training run fits a *challenger*, measures it on a holdout, measures
the current *champion* on the same holdout, and promotes the challenger only when it is better;
the decision and its reasons are recorded (``ml/model_decisions``). The tables each asset
writes come from the champion, whichever that is after the decision.

- ``ml/review_sentiment`` (with ``ml/entity_sentiment``): 3 classes, TF-IDF stacked with the
  VADER lexicon's scores, trained on the reviews' ratings or labels or a labeled file, or the
  lexicon alone (no labels, too few, or better on the holdout); every review and mention
  scored; the products, brands and stores they name tagged from the catalog.
- ``ml/sales_direction_model``: weekly up/down per category from last week's signals, with
  expanding-window validation against a majority-class and a last-week baseline.
- ``ml/purchase_propensity``: next-24-hour purchase probability per active customer, split by
  time and by customer, calibrated, against "carted in the last 24 h" and RFM.
- ``ml/customer_segments`` (with ``ml/segment_profiles``): k-means on RFM and behaviour, named
  for marketers, names carried over from the last run.
- ``ml/feature_drift``: PSI of every champion's inputs, training data against the latest week,
  and the propensity champion's live PR-AUC. ``model_retraining_sensor`` reads it and requests
  a retrain when drift, data growth or the live metric says so.

Training runs weekly (``model_training``, Mondays 05:00 UTC), monitoring daily. Each model
trains on what its design asks for, not on the whole history: sentiment on the reviews of the
last ``RETAIL_MODEL_TRAINING_DAYS`` (56) days, propensity on the user features of those days,
segments on the latest day, direction on every labeled week (a year is ~50 rows per
category). At 20,000 customers and 365 days the four train in about 10 s of CPU
(benchmarks/RESULTS.md).

One module per model family (``sentiment``, ``direction``, ``propensity``, ``segments``),
with ``decisions``, ``monitoring`` and ``jobs``; ``common`` holds the asset keys, the
constants and the helpers they share.
"""
