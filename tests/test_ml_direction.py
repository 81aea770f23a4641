"""Weekly sales direction: leakage guards, time-ordered folds and the models against baselines.

Frames are built by hand with the columns of dbt_like_sql/marts/weekly_sales_direction.sql.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from retail_assets.lib.ml import direction as d

MONDAY = dt.date(2025, 1, 6)
CATEGORIES = ("Apparel", "Electronics", "Grocery")


def weekly_table(
    n_weeks: int = 40, categories=CATEGORIES, strength: float = 1.0, seed: int = 0
) -> pl.DataFrame:
    """A weekly_sales_direction table whose search and social changes lead next week's sales.

    Week k's revenue moves by ``d[k]``; the signal week before it (k - 1) already shows
    ``strength * d[k]`` in its search and social changes, plus noise. The first week of a
    category has no direction and its signal week no change features, as in the SQL model.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for category in categories:
        step = rng.normal(size=n_weeks)
        revenue = 10_000 * np.exp(np.cumsum(0.2 * step))
        for k in range(n_weeks):
            week = MONDAY + dt.timedelta(weeks=k)
            first = k == 0
            rows.append(
                {
                    "week_start": week,
                    "category": category,
                    "revenue": round(float(revenue[k]), 2),
                    "prev_week_revenue": None if first else round(float(revenue[k - 1]), 2),
                    "revenue_change": None if first else float(revenue[k] / revenue[k - 1] - 1),
                    "direction": None
                    if first
                    else ("up" if revenue[k] > revenue[k - 1] else "down"),
                    "signal_week_start": week - dt.timedelta(days=7),
                    "review_count_lag1w": int(rng.poisson(280)),
                    "search_volume_lag1w": int(rng.poisson(8_000)),
                    "social_count_lag1w": int(rng.poisson(420)),
                    "sentiment_mean_lag1w": float(np.tanh(rng.normal(0.4, 0.2))),
                    "sentiment_change_lag1w": None if first else float(rng.normal(0, 0.05)),
                    "search_volume_change_lag1w": None
                    if first
                    else float(0.1 * (strength * step[k] + 0.5 * rng.normal())),
                    "social_count_change_lag1w": None
                    if first
                    else float(0.1 * (0.5 * strength * step[k] + rng.normal())),
                }
            )
    schema = {
        "week_start": pl.Date,
        "category": pl.String,
        "revenue": pl.Float64,
        "prev_week_revenue": pl.Float64,
        "revenue_change": pl.Float64,
        "direction": pl.String,
        "signal_week_start": pl.Date,
        "review_count_lag1w": pl.Int64,
        "search_volume_lag1w": pl.Int64,
        "social_count_lag1w": pl.Int64,
        "sentiment_mean_lag1w": pl.Float64,
        "sentiment_change_lag1w": pl.Float64,
        "search_volume_change_lag1w": pl.Float64,
        "social_count_change_lag1w": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema).sort("week_start", "category")


# ---------------------------------------------------------------------------- dataset


def test_build_dataset_labels_up_as_one_and_takes_last_weeks_direction():
    weekly = weekly_table(n_weeks=4, categories=("Beauty",))
    directions = weekly["direction"].to_list()
    ds = d.build_dataset(weekly)
    # Week 0 has no direction (and no change features): it is the only row left out.
    assert ds.dropped_unlabelled == 1
    assert ds.dropped_incomplete == 0
    assert ds.frame["week_start"].to_list() == weekly["week_start"].to_list()[1:]
    assert ds.y.tolist() == [1 if x == "up" else 0 for x in directions[1:]]
    # Last week's direction: none for the first labelled week, then the week before's.
    expected = [None] + [1.0 if x == "up" else 0.0 for x in directions[1:-1]]
    assert ds.frame["last_week_up"].to_list() == expected
    assert ds.X.columns == list(d.SIGNAL_FEATURES)


def test_build_dataset_drops_rows_with_missing_features_and_ignores_extra_columns():
    weekly = weekly_table(n_weeks=6, categories=("Beauty",)).with_columns(
        pl.lit("run-1").alias("lineage_id"),
        pl.when(pl.col("week_start") == MONDAY + dt.timedelta(weeks=3))
        .then(None)
        .otherwise(pl.col("sentiment_change_lag1w"))
        .alias("sentiment_change_lag1w"),
    )
    ds = d.build_dataset(weekly)
    assert ds.dropped_incomplete == 1
    assert MONDAY + dt.timedelta(weeks=3) not in ds.frame["week_start"].to_list()
    assert "lineage_id" not in ds.frame.columns


def test_build_dataset_names_missing_columns():
    weekly = weekly_table(n_weeks=4).drop("search_volume_lag1w")
    with pytest.raises(d.DirectionDataError, match="search_volume_lag1w"):
        d.build_dataset(weekly)


def test_build_dataset_rejects_unknown_directions():
    weekly = weekly_table(n_weeks=4).with_columns(pl.col("direction").replace({"up": "UP"}))
    with pytest.raises(d.DirectionDataError, match="'up', 'down' or NULL"):
        d.build_dataset(weekly)


# ---------------------------------------------------------------------------- leakage


def test_clean_table_passes_the_leakage_check():
    d.check_no_leakage(weekly_table())  # does not raise


def test_features_from_the_label_week_are_rejected():
    """A feature computed after the cutoff (from the week it predicts) fails loudly."""
    weekly = weekly_table()
    late = pl.col("week_start") >= MONDAY + dt.timedelta(weeks=30)
    leaky = weekly.with_columns(
        pl.when(late)
        .then(pl.col("week_start"))
        .otherwise(pl.col("signal_week_start"))
        .alias("signal_week_start")
    )
    n_leaky = leaky.filter(late).height
    with pytest.raises(d.LeakageError, match=rf"signal_week_start .* in {n_leaky} of"):
        d.build_dataset(leaky)


def test_null_signal_week_counts_as_leakage():
    weekly = weekly_table(n_weeks=5).with_columns(
        pl.when(pl.col("category") == "Grocery")
        .then(None)
        .otherwise(pl.col("signal_week_start"))
        .alias("signal_week_start")
    )
    with pytest.raises(d.LeakageError, match="signal_week_start"):
        d.check_no_leakage(weekly)


@pytest.mark.parametrize("column", ["revenue", "revenue_change", "direction"])
def test_label_week_revenue_is_never_a_feature(column):
    with pytest.raises(d.LeakageError, match=column):
        d.build_dataset(weekly_table(), features=(*d.SIGNAL_FEATURES, column))


# ---------------------------------------------------------------------------- splits


def test_expanding_window_splits_are_ordered_in_time():
    ds = d.build_dataset(weekly_table(n_weeks=40))
    weeks = ds.weeks
    folds = d.expanding_window_splits(weeks, n_splits=4, min_train_weeks=10)
    assert len(folds) == 4
    previous_test_end, previous_train_size = None, 0
    for train, test in folds:
        assert weeks[train].max() < weeks[test].min()  # never trains on the future
        assert train.size > previous_train_size  # the window expands
        assert np.unique(weeks[train]).size >= 10
        if previous_test_end is not None:  # test blocks follow each other
            assert weeks[test].min() == previous_test_end + np.timedelta64(7, "D")
        # every category of a test week is tested together
        assert test.size == np.unique(weeks[test]).size * len(CATEGORIES)
        previous_test_end, previous_train_size = weeks[test].max(), train.size
    assert previous_test_end == weeks.max()


def test_expanding_window_splits_accept_unsorted_rows():
    weeks = np.array(
        [MONDAY + dt.timedelta(weeks=k) for k in (5, 0, 3, 1, 4, 2, 5, 0)], dtype="datetime64[D]"
    )
    folds = d.expanding_window_splits(weeks, n_splits=2, min_train_weeks=2)
    for train, test in folds:
        assert weeks[train].max() < weeks[test].min()
    # 6 weeks: 2 test blocks of 2 weeks; the last holds weeks 4 and 5 (rows 4, then 0 and 6).
    assert sorted(folds[-1][1].tolist()) == [0, 4, 6]


def test_too_few_weeks_for_the_folds_is_an_error():
    weeks = [MONDAY + dt.timedelta(weeks=k) for k in range(8)]
    with pytest.raises(d.DirectionDataError, match="need at least 15 weeks"):
        d.expanding_window_splits(weeks, n_splits=3, min_train_weeks=12)


# ---------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def evaluation():
    return d.evaluate(
        d.build_dataset(weekly_table(n_weeks=40)), seed=3, n_splits=4, min_train_weeks=12
    )


def test_models_beat_the_baselines_when_signals_lead_sales(evaluation):
    main = evaluation.metrics[d.MAIN_MODEL]
    assert main.roc_auc > 0.8
    assert evaluation.roc_auc_margin >= 0.10
    assert evaluation.metrics[d.ROBUSTNESS_MODEL].roc_auc > 0.7
    assert main.pr_auc > main.base_rate + 0.2
    assert main.accuracy_at_threshold > 0.7
    frame = evaluation.metrics_frame()
    assert frame["model"].to_list() == list(d.MODELS)


def test_out_of_fold_predictions_cover_the_test_weeks_only(evaluation):
    preds = evaluation.predictions
    for model in d.MODELS:
        values = preds[model].to_numpy()
        assert np.isfinite(values).all()
        assert ((values >= 0) & (values <= 1)).all()
    # Test folds: 4 blocks of (39 - 12) // 4 = 6 weeks, 3 categories each.
    assert preds.height == 4 * 6 * 3
    assert preds["week_start"].min() == MONDAY + dt.timedelta(weeks=1 + 39 - 24)
    assert (
        preds.group_by("fold").agg(pl.col("week_start").n_unique())["week_start"].to_list()
        == [6] * 4
    )


def test_majority_baseline_scores_the_training_base_rate(evaluation):
    preds = evaluation.predictions
    ds = d.build_dataset(weekly_table(n_weeks=40))
    for _, group in preds.group_by("fold"):
        first_test_week = group["week_start"].min()
        train_rate = ds.frame.filter(pl.col("week_start") < first_test_week)["label"].mean()
        assert group["majority_class"].unique().to_list() == [pytest.approx(train_rate)]


def test_per_fold_results_are_ordered(evaluation):
    folds = evaluation.folds.filter(pl.col("model") == d.MAIN_MODEL).sort("fold")
    assert folds["train_weeks"].to_list() == sorted(folds["train_weeks"].to_list())
    starts, ends = folds["test_start"].to_list(), folds["test_end"].to_list()
    assert all(e < s for e, s in zip(ends[:-1], starts[1:], strict=True))


def test_without_signal_the_model_does_not_beat_the_baselines_by_much():
    """With features unrelated to sales, nothing to find: guards against a leak in evaluate."""
    categories = ("Apparel", "Appliances", "Beauty", "Electronics", "Grocery", "Home & Garden")
    ds = d.build_dataset(weekly_table(n_weeks=60, categories=categories, strength=0.0, seed=5))
    result = d.evaluate(ds, seed=0, n_splits=4, min_train_weeks=12)
    assert result.predictions.height == 44 * 6
    assert result.metrics[d.MAIN_MODEL].roc_auc < 0.6
    assert result.metrics[d.ROBUSTNESS_MODEL].roc_auc < 0.6


def test_roc_pr_figure_has_both_panels(evaluation):
    fig = evaluation.roc_pr_figure()
    assert len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()) == len(d.MODELS) + 1  # plus the diagonal


def test_fit_final_and_predict():
    weekly = weekly_table(n_weeks=30)
    model = d.fit_final(d.build_dataset(weekly))
    rows = weekly.filter(pl.col("search_volume_change_lag1w").is_not_null())
    out = d.predict(model, rows)
    assert out.columns == [
        "week_start",
        "category",
        "signal_week_start",
        "probability_up",
        "direction",
    ]
    assert out.height == rows.height
    p = out["probability_up"].to_numpy()
    assert ((p > 0) & (p < 1)).all()
    assert (out["direction"] == "up").to_list() == (p >= 0.5).tolist()
    # In-sample the strong signal separates the weeks well.
    up = (rows["direction"] == "up").to_numpy()
    assert (out["direction"].to_numpy() == np.where(up, "up", "down")).mean() > 0.75


def test_predict_rejects_missing_features_and_leaky_rows():
    weekly = weekly_table(n_weeks=30)
    model = d.fit_final(d.build_dataset(weekly))
    rows = weekly.filter(pl.col("search_volume_change_lag1w").is_not_null())
    with pytest.raises(d.DirectionDataError, match="social_count_lag1w"):
        d.predict(model, rows.drop("social_count_lag1w"))
    with pytest.raises(d.DirectionDataError, match="miss a feature"):
        d.predict(model, weekly)  # the first week has no change features
    with pytest.raises(d.LeakageError):
        d.predict(model, rows.with_columns(pl.col("week_start").alias("signal_week_start")))
