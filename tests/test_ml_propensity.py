"""Purchase propensity and the shared evaluation: point-in-time guards, the time-and-user split,
metrics checked by hand, and the calibrated model against its baselines.

Frames are built by hand with the columns of dbt_like_sql/staging/user_daily_activity.sql and
dbt_like_sql/marts/user_features.sql (the features computed from the activity the way the
SQL does).
"""

from __future__ import annotations

import datetime as dt

import matplotlib.figure
import numpy as np
import polars as pl
import pytest

from retail_assets.lib.ml import evaluation as ev
from retail_assets.lib.ml import propensity as p
from retail_assets.lib.plots import png_markdown

FIRST_DAY = dt.date(2025, 3, 1)


def activity_table(n_users: int = 400, n_days: int = 75, seed: int = 0) -> pl.DataFrame:
    """user_daily_activity for customers with steady, very different rates of activity.

    Heavy users are active on more days and buy on more of their active days, so past
    activity predicts tomorrow's purchase; cart additions are drawn independently of buying.
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.0, 0.25, n_users)
    p_active = 1 - np.exp(-rate)
    p_buy = np.minimum(0.9, 0.5 * rate)
    rows = []
    for day in range(n_days):
        date = FIRST_DAY + dt.timedelta(days=day)
        active = np.flatnonzero(rng.random(n_users) < p_active)
        for u in active:
            views = 1 + int(rng.poisson(4))
            buys = rng.random() < p_buy[u]
            purchases = (1 + int(rng.poisson(0.5))) if buys else 0
            rows.append(
                {
                    "activity_date": date,
                    "customer_key": f"c{u:04d}",
                    "views": views,
                    "carts": int(rng.binomial(views, 0.1)),
                    "purchases": purchases,
                    "orders": int(buys),
                    "revenue": 25.0 * purchases,
                    "sessions": 1 + int(rng.poisson(0.3)),
                    "last_event_at": dt.datetime.combine(date, dt.time(20), tzinfo=dt.UTC),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "activity_date": pl.Date,
            "customer_key": pl.String,
            "views": pl.Int64,
            "carts": pl.Int64,
            "purchases": pl.Int64,
            "orders": pl.Int64,
            "revenue": pl.Float64,
            "sessions": pl.Int64,
            "last_event_at": pl.Datetime("us", "UTC"),
        },
    )


def user_features_from(
    activity: pl.DataFrame, start: dt.date, end: dt.date, shift_days: int = 0
) -> pl.DataFrame:
    """user_features for as-of days in [start, end), as the SQL model computes them.

    ``shift_days=1`` builds the leaky variant: each row's windows end one day *after* its
    as_of_date, so they include the label day.
    """
    days = pl.DataFrame({"as_of_date": pl.date_range(start, end, "1d", closed="left", eager=True)})
    age = (
        pl.col("as_of_date") + pl.duration(days=shift_days) - pl.col("activity_date")
    ).dt.total_days()
    windows = (
        days.join(activity, how="cross")
        .with_columns(age.alias("age"))
        .filter(pl.col("age").is_between(0, 89))
    )

    def within(measure: str, n: int) -> pl.Expr:
        return pl.col(measure).filter(pl.col("age") < n).sum().alias(f"{measure}_{n}d")

    per_user = (
        windows.group_by("as_of_date", "customer_key")
        .agg(
            pl.col("age").min().alias("days_since_last_activity"),
            (pl.col("age") < 30).sum().cast(pl.Int64).alias("active_days_30d"),
            *(within(m, n) for m in ("views", "carts", "purchases") for n in (1, 7, 14, 30)),
            pl.col("age").filter(pl.col("purchases") > 0).min().alias("recency_days"),
            pl.col("orders").sum().alias("frequency_90d"),
            pl.col("revenue").sum().alias("monetary_90d"),
        )
        .filter(pl.col("days_since_last_activity") < 30)
    )

    def quintile(column: str, descending: bool = False) -> pl.Expr:
        rank = pl.col(column).rank("min", descending=descending).over("as_of_date", "buyer")
        n = pl.len().over("as_of_date", "buyer")
        pct = pl.when(n > 1).then((rank - 1) / (n - 1)).otherwise(0.0)
        score = pl.min_horizontal(pl.lit(5), 1 + (5 * pct).floor()).cast(pl.Int32)
        return pl.when(pl.col("buyer")).then(score).otherwise(None).alias(f"{column[0]}_score")

    return (
        per_user.with_columns((pl.col("frequency_90d") > 0).alias("buyer"))
        .with_columns(
            quintile("recency_days", descending=True),
            quintile("frequency_90d"),
            quintile("monetary_90d"),
        )
        .select(
            "as_of_date",
            "customer_key",
            pl.col("days_since_last_activity").cast(pl.Int64),
            "active_days_30d",
            *(f"{m}_{n}d" for m in ("views", "carts", "purchases") for n in (1, 7, 14, 30)),
            pl.max_horizontal(pl.col("carts_30d") - pl.col("purchases_30d"), 0).alias("cart_count"),
            (
                1
                - (
                    -(
                        0.6 * pl.col("carts_1d")
                        + 0.05 * pl.col("views_1d")
                        + 0.2 * pl.col("carts_7d")
                        + 0.01 * pl.col("views_7d")
                    )
                ).exp()
            ).alias("purchase_intent_score"),
            pl.col("recency_days").cast(pl.Int64),
            "frequency_90d",
            pl.col("monetary_90d").round(2),
            "r_score",
            "f_score",
            "m_score",
            pl.when(pl.col("buyer"))
            .then(pl.format("{}{}{}", "r_score", "f_score", "m_score"))
            .alias("rfm_segment"),
            (pl.col("monetary_90d") * 365 / 90).round(2).alias("clv_12m"),
        )
        .sort("as_of_date", "customer_key")
    )


@pytest.fixture(scope="module")
def activity() -> pl.DataFrame:
    return activity_table()


@pytest.fixture(scope="module")
def features(activity) -> pl.DataFrame:
    # 30 days of history before the first as-of day, so every window is complete.
    return user_features_from(
        activity, FIRST_DAY + dt.timedelta(days=30), FIRST_DAY + dt.timedelta(days=75)
    )


@pytest.fixture(scope="module")
def dataset(features, activity) -> pl.DataFrame:
    return p.build_dataset(
        features, activity, FIRST_DAY + dt.timedelta(days=30), FIRST_DAY + dt.timedelta(days=75)
    )


# ---------------------------------------------------------------------------- evaluation


def test_perfect_scorer_has_auc_one_and_maximal_lift():
    y = np.array([0] * 16 + [1] * 4)
    score = np.linspace(0, 1, 20)  # the four positives score highest
    m = ev.binary_metrics(y, score, threshold=0.8)
    assert m.roc_auc == 1.0
    assert m.pr_auc == 1.0
    assert m.base_rate == 0.2
    assert m.top_decile_precision == 1.0
    assert m.top_decile_lift == pytest.approx(5.0)  # 1 / 0.2
    assert m.top_decile_capture == pytest.approx(0.5)  # the top 2 rows hold 2 of 4 positives
    assert m.flagged == 4 and m.recall_at_threshold == 1.0 and m.precision_at_threshold == 1.0


def test_lift_and_capture_by_hand_on_20_rows():
    # Scores 20 (highest) to 1; positives at ranks 1, 4, 7, 12 and 18: 5 of 20, base rate 0.25.
    score = np.arange(20, 0, -1, dtype=float)
    y = np.zeros(20, dtype=int)
    y[[0, 3, 6, 11, 17]] = 1
    m = ev.binary_metrics(y, score, threshold=14.0, probability=False)
    # Top decile = the top 2 rows, one positive: precision 0.5, lift 0.5 / 0.25 = 2, capture 1/5.
    assert m.top_decile_precision == pytest.approx(0.5)
    assert m.top_decile_lift == pytest.approx(2.0)
    assert m.top_decile_capture == pytest.approx(0.2)
    # score >= 14 flags the top 7 rows: positives at ranks 1, 4 and 7.
    assert m.flagged == 7
    assert m.recall_at_threshold == pytest.approx(3 / 5)
    assert m.precision_at_threshold == pytest.approx(3 / 7)
    assert m.brier is None
    table = ev.lift_table(y, score)
    assert table["rows"].to_list() == [2.0] * 10
    assert table["positives"].to_list() == [1, 1, 0, 1, 0, 1, 0, 0, 1, 0]
    assert table["capture"].to_list() == pytest.approx(
        [0.2, 0.4, 0.4, 0.6, 0.6, 0.8, 0.8, 0.8, 1.0, 1.0]
    )
    assert table["cumulative_lift"][0] == pytest.approx(2.0)
    assert table["cumulative_lift"][-1] == pytest.approx(1.0)


def test_tied_scores_share_their_positives():
    """A yes/no score: the top decile cuts through the tie and takes its positive rate."""
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0] * 2)
    flag = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0] * 2, dtype=float)  # 8 flagged, 4 positives
    m = ev.binary_metrics(y, flag, probability=False)
    # Top 2 of 20 rows come from the 8 flagged ones, half of them positive.
    assert m.top_decile_precision == pytest.approx(0.5)
    assert m.top_decile_lift == pytest.approx(0.5 / 0.3)
    constant = ev.binary_metrics(y, np.full(20, 0.3))
    assert constant.top_decile_lift == pytest.approx(1.0)
    assert constant.roc_auc == 0.5
    # The same numbers whatever the row order.
    order = np.random.default_rng(0).permutation(20)
    shuffled = ev.binary_metrics(y[order], flag[order], probability=False)
    assert shuffled.top_decile_lift == pytest.approx(m.top_decile_lift)


def test_brier_score_by_hand():
    y = np.array([1, 0, 1, 0])
    prob = np.array([0.9, 0.2, 0.6, 0.5])
    m = ev.binary_metrics(y, prob)
    assert m.brier == pytest.approx((0.01 + 0.04 + 0.16 + 0.25) / 4)


def test_best_f1_threshold_by_hand():
    y = np.array([1, 1, 0, 1, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    # Cut at 0.6: precision 3/4, recall 1, F1 6/7; at 0.8: precision 1, recall 2/3, F1 0.8.
    assert ev.best_f1_threshold(y, score) == pytest.approx(0.6)


def test_bad_labels_and_scores_are_named():
    with pytest.raises(ev.EvaluationError, match="rfm: all 3 labels are 0"):
        ev.binary_metrics([0, 0, 0], [1, 2, 3], probability=False, name="rfm")
    with pytest.raises(ev.EvaluationError, match=r"model: probabilities must lie in \[0, 1\]"):
        ev.binary_metrics([0, 1], [0.2, 1.5], name="model")
    with pytest.raises(ev.EvaluationError, match="1 of 3 scores are missing"):
        ev.binary_metrics([0, 1, 1], [0.2, np.nan, 0.4])
    with pytest.raises(ev.EvaluationError, match="labels must be 0 or 1"):
        ev.binary_metrics([0, 2, 1], [0.2, 0.3, 0.4])


def test_figures_render():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    good = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.15, 300), 0, 1)
    scores = {"model": good, "random": rng.random(300)}
    for fig in (
        ev.roc_pr_figure(y, scores),
        ev.reliability_figure(y, scores),
        ev.gains_figure(y, scores),
    ):
        assert isinstance(fig, matplotlib.figure.Figure)
        assert png_markdown(fig).startswith("![plot](data:image/png;base64,")


# ---------------------------------------------------------------------------- dataset


def test_label_is_a_purchase_on_the_next_day():
    day = dt.date(2025, 5, 1)
    features = user_features_from(
        pl.DataFrame(
            {
                "activity_date": [day, day],
                "customer_key": ["a", "b"],
                "views": [3, 2],
                "carts": [1, 0],
                "purchases": [0, 0],
                "orders": [0, 0],
                "revenue": [0.0, 0.0],
            }
        ),
        day,
        day + dt.timedelta(days=2),
    )
    activity = pl.DataFrame(
        {
            "activity_date": [day, day, day + dt.timedelta(days=1)],
            "customer_key": ["a", "b", "a"],
            "views": [3, 2, 1],
            "carts": [1, 0, 1],
            "purchases": [0, 0, 2],
            "orders": [0, 0, 1],
            "revenue": [0.0, 0.0, 50.0],
        }
    )
    ds = p.build_dataset(features, activity, day, day + dt.timedelta(days=2))
    # Day 2 has feature rows but no activity the day after: it cannot be labelled.
    assert ds.select("as_of_date", "customer_key", "label_date", "label").rows() == [
        (day, "a", day + dt.timedelta(days=1), 1),
        (day, "b", day + dt.timedelta(days=1), 0),
    ]


def test_dataset_keeps_only_the_requested_days(dataset, features):
    assert dataset["as_of_date"].min() == FIRST_DAY + dt.timedelta(days=30)
    # The last as-of day (day 74) has no next day in the activity table.
    assert dataset["as_of_date"].max() == FIRST_DAY + dt.timedelta(days=73)
    assert (dataset["label_date"] == dataset["as_of_date"] + dt.timedelta(days=1)).all()
    assert set(dataset["label"].unique()) == {0, 1}
    assert (
        dataset.height
        == features.filter(pl.col("as_of_date") < FIRST_DAY + dt.timedelta(days=74)).height
    )


def test_no_days_to_label_is_an_error(features, activity):
    late = FIRST_DAY + dt.timedelta(days=74)
    with pytest.raises(p.PropensityDataError, match="whose next day is in"):
        p.build_dataset(features, activity, late, late + dt.timedelta(days=1))


# ---------------------------------------------------------------------------- leakage


def test_clean_features_pass_the_point_in_time_recount(dataset, activity):
    audited = p.check_point_in_time(dataset, activity=activity, sample_rows=500, seed=1)
    assert audited == 500


def test_a_feature_computed_after_the_cutoff_fails(activity):
    """Windows that end on the label day instead of the as-of day are caught by the recount."""
    start, end = FIRST_DAY + dt.timedelta(days=30), FIRST_DAY + dt.timedelta(days=60)
    leaky = user_features_from(activity, start, end, shift_days=1)
    with pytest.raises(p.LeakageError, match=r"match the window moved one day forward"):
        p.build_dataset(leaky, activity, start, end)


def test_a_single_leaky_column_is_named(dataset, activity):
    # purchases_1d taken from the label day: the label itself, hidden in a feature.
    leaky = (
        dataset.join(
            activity.select(
                pl.col("activity_date").alias("label_date"), "customer_key", "purchases"
            ),
            on=["label_date", "customer_key"],
            how="left",
        )
        .with_columns(pl.col("purchases").fill_null(0).alias("purchases_1d"))
        .drop("purchases")
    )
    with pytest.raises(p.LeakageError, match="column purchases_1d differs"):
        p.check_point_in_time(leaky, activity=activity, sample_rows=5_000)


def test_rows_dated_on_the_label_day_fail(dataset):
    leaky = dataset.with_columns(
        pl.when(pl.col("customer_key") == "c0001")
        .then(pl.col("label_date"))
        .otherwise(pl.col("as_of_date"))
        .alias("as_of_date")
    )
    n = leaky.filter(pl.col("customer_key") == "c0001").height
    assert n > 0
    with pytest.raises(p.LeakageError, match=rf"on or after label_date in {n} of"):
        p.check_point_in_time(leaky)


@pytest.mark.parametrize(
    ("column", "feature_columns"),
    [("purchases", None), ("revenue", None), ("label", [*p.SOURCE_FEATURES, "label"])],
)
def test_raw_label_window_columns_are_not_features(dataset, column, feature_columns):
    # One day's raw activity joined on the label day, or the label used as a feature.
    leaky = dataset.with_columns(pl.col("label").alias(column))
    with pytest.raises(p.LeakageError, match=rf"\['{column}'\] are one day's raw activity"):
        p.check_point_in_time(leaky, feature_columns=feature_columns)


# ---------------------------------------------------------------------------- split


def test_time_group_split_orders_days_and_separates_customers(dataset):
    split = p.time_group_split(dataset, test_days=10, gap_days=1, test_users=0.3, seed=4)
    train, test = split.train, split.test
    assert split.test_start == dataset["as_of_date"].max() - dt.timedelta(days=9)
    assert test["as_of_date"].min() == split.test_start
    assert train["as_of_date"].max() == split.train_end
    # The last training label day is before the first test cutoff.
    assert train["label_date"].max() < test["as_of_date"].min()
    assert not set(train["customer_key"]) & set(test["customer_key"])
    n_users = dataset["customer_key"].n_unique()
    assert test["customer_key"].n_unique() < 0.45 * n_users
    again = p.time_group_split(dataset, test_days=10, gap_days=1, test_users=0.3, seed=4)
    assert again.test["customer_key"].unique().sort().to_list() == (
        test["customer_key"].unique().sort().to_list()
    )


def test_split_without_training_days_is_an_error(dataset):
    with pytest.raises(p.PropensityDataError, match="0 training"):
        p.time_group_split(dataset, test_days=60)


def buyers_by_day(days: int, buyers_per_day: int, customers: int = 500) -> pl.DataFrame:
    """Dataset-shaped rows: ``customers`` a day, the first ``buyers_per_day`` of them buyers."""
    return pl.DataFrame(
        {
            "as_of_date": [FIRST_DAY + dt.timedelta(days=d) for d in range(days)] * customers,
            "label": [int(c < buyers_per_day) for c in range(customers) for _ in range(days)],
        }
    )


def test_the_test_period_grows_by_weeks_until_it_holds_enough_buyers():
    # 0.3 x 30 = 9 test buyers a day: a week holds 63, two weeks 126.
    assert p.choose_test_days(buyers_by_day(56, 30), min_buyers=100) == 14
    # A large base keeps a week; a tiny one stops at three weeks.
    assert p.choose_test_days(buyers_by_day(56, 300), min_buyers=100) == 7
    assert p.choose_test_days(buyers_by_day(56, 1), min_buyers=100) == 21
    # Never at the cost of the training days: at least 28 left after the test and a gap.
    assert p.choose_test_days(buyers_by_day(40, 1), min_buyers=100) == 7
    assert p.choose_test_days(buyers_by_day(49, 1), min_buyers=100) == 14
    assert p.choose_test_days(buyers_by_day(50, 1), min_buyers=100) == 21
    with pytest.raises(p.PropensityDataError, match="max_days"):
        p.choose_test_days(buyers_by_day(56, 1), step=7, max_days=3)


# ---------------------------------------------------------------------------- model


@pytest.fixture(scope="module")
def trained(dataset):
    split = p.time_group_split(dataset, test_days=14, seed=0)
    model = p.train(split.train, calibration_days=7, seed=0)
    return split, model, p.evaluate(model, split.test)


def test_model_beats_the_baselines(trained):
    _, _, result = trained
    model = result.metrics[p.MODEL]
    assert model.pr_auc >= 2 * model.base_rate
    assert model.top_decile_lift >= 2.0
    assert model.roc_auc > result.metrics["carted_last_24h"].roc_auc + 0.1
    assert model.pr_auc > result.metrics["carted_last_24h"].pr_auc
    assert result.pr_auc_over_base_rate == pytest.approx(model.pr_auc / model.base_rate)
    assert result.metrics_frame()["model"].to_list() == [p.MODEL, *p.BASELINES]


def test_probabilities_are_calibrated_and_the_threshold_is_reported(trained):
    split, model, result = trained
    prob = result.scores[p.MODEL].to_numpy()
    assert ((prob >= 0) & (prob <= 1)).all()
    m = result.metrics[p.MODEL]
    # Better than always saying the base rate, and mean probability near the observed rate.
    assert m.brier < m.base_rate * (1 - m.base_rate)
    assert abs(prob.mean() - m.base_rate) < 0.5 * m.base_rate
    assert 0 < model.threshold < 1
    assert m.threshold == model.threshold
    assert 0 < m.recall_at_threshold <= 1
    assert m.flagged == int((prob >= model.threshold).sum())
    # The model was fitted on earlier days than it was calibrated on.
    assert model.fit_days[1] < model.calibration_days[0]
    assert model.calibration_days[1] == split.train["as_of_date"].max()
    assert result.lift["capture"][-1] == pytest.approx(1.0)
    assert len(result.reliability_figure().axes) == 2
    assert len(result.gains_figure().axes[0].get_lines()) == 1 + len(p.BASELINES) + 2


def test_training_is_reproducible(trained):
    split, model, _ = trained
    again = p.train(split.train, calibration_days=7, seed=0)
    np.testing.assert_allclose(
        again.predict_proba(split.test), model.predict_proba(split.test), rtol=0, atol=1e-12
    )


def test_gradient_boosting_alternative_gives_probabilities(trained):
    split, _, _ = trained
    model = p.train(split.train, estimator="hist_gradient_boosting", seed=0)
    prob = model.predict_proba(split.test)
    assert ((prob >= 0) & (prob <= 1)).all()
    assert p.evaluate(model, split.test).metrics[p.MODEL].roc_auc > 0.6
    with pytest.raises(p.PropensityDataError, match="unknown estimator"):
        p.make_estimator("xgboost")


def test_score_table_ranks_customers_per_day(trained, features):
    _, model, _ = trained
    rows = features.filter(pl.col("as_of_date") >= FIRST_DAY + dt.timedelta(days=72))
    table = p.score(model, rows)
    assert table.columns == ["customer_key", "as_of_date", "probability", "decile", "rank"]
    assert table.height == rows.height
    for _, group in table.group_by("as_of_date"):
        n = group.height
        group = group.sort("rank")
        assert group["rank"].to_list() == list(range(1, n + 1))
        assert group["probability"].is_sorted(descending=True)
        assert group["decile"].is_sorted()
        assert group["decile"].min() == 1 and group["decile"].max() == 10
        # Decile 1 is the top tenth (rounded up).
        assert group.filter(pl.col("decile") == 1).height == -(-n // 10)
    assert p.score(model, rows.head(0)).columns == table.columns


def test_null_in_a_not_null_feature_is_named(trained, features):
    _, model, _ = trained
    broken = features.head(20).with_columns(pl.lit(None, dtype=pl.Int64).alias("views_7d"))
    with pytest.raises(p.PropensityDataError, match=r"views_7d.*20"):
        p.score(model, broken)
