"""The propensity train/test split: earlier as-of days and other customers for training.

:func:`time_group_split` splits on time with a gap and on customers once
(``GroupShuffleSplit``); :func:`choose_test_days` lengthens the test period by whole weeks
when a small customer base would leave few test buyers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.model_selection import GroupShuffleSplit

from retail_assets.lib.ml.propensity.dataset import (
    DATASET_TABLE,
    KEY_COLUMNS,
    LeakageError,
    PropensityDataError,
    _require,
)


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
