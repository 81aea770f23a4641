"""Marketing models with scikit-learn: sentiment, direction, propensity, segments, drift.

Also the champion/challenger registry the models are kept in. Plain Python, no Dagster.
"""
