"""Incremental SQL models over a partition range in one run (issue 18).

A model's step takes the whole range and queries it in windows of at most ``backfill_days``
days, each with its own lookback, then publishes every day only when every window passed.
These tests run the shipped models, from a temp copy of ``dbt_like_sql/`` whose headers force
small windows, on a simulated retailer (sources and governance materialized by the real job)
in a temp warehouse:

- a 9-day range in one run writes, for every incremental model, the same data (every column
  but the lineage columns, row order included) as the 9 days run one by one;
- a range in which one day's rows fail a blocking check publishes nothing of that model,
  leaves every partition already in the lake byte-identical, and names the day.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from conftest import Pipeline, make_platform

from retail_assets.defs.features.assets import build_defs, load
from retail_assets.defs.operations import with_operations
from retail_assets.defs.partitions import day_keys
from retail_assets.lib.warehouse.frames import LINEAGE_COLUMNS, content_hash
from retail_assets.lib.warehouse.sql_runner import day_hashes, range_version, sub_windows

SQL_DIR = Path(__file__).resolve().parents[1] / "dbt_like_sql"
SOURCES = ",".join(
    [
        "raw/sessions",
        "raw/app_events",
        "raw/signals",
        "raw/transactions",
        "governed/sessions",
        "governed/app_events",
        "governed/consent_audit",
    ]
)
#: Upstream days: the range's lookback reaches three days before it.
UPSTREAM = ("2025-03-01", "2025-03-12")
FIRST, LAST = "2025-03-04", "2025-03-12"
RANGE = day_keys(dt.date.fromisoformat(FIRST), dt.date.fromisoformat(LAST))
#: Days per query forced in the copy's headers: 9 days are 4 + 4 + 1 (user_features 2 x 4 + 1).
DAYS_PER_QUERY = {"user_features": 2}
DEFAULT_DAYS_PER_QUERY = 4
RANGE_TAGS = {
    "dagster/asset_partition_range_start": FIRST,
    "dagster/asset_partition_range_end": LAST,
}


def copy_sql(target: Path, days: dict[str, int], default: int) -> Path:
    """A copy of dbt_like_sql/ whose incremental models query at most ``days`` days at once."""
    shutil.copytree(SQL_DIR, target, ignore=shutil.ignore_patterns("*.md"))
    for path in target.rglob("*.sql"):
        text = path.read_text()
        if not re.search(r"^materialized: incremental$", text, re.MULTILINE):
            continue
        n = days.get(path.stem, default)
        text = re.sub(r"^backfill_days:.*\n", "", text, flags=re.MULTILINE)
        text = re.sub(
            r"^(partition_column: .*\n)", rf"\1backfill_days: {n}\n", text, flags=re.MULTILINE
        )
        path.write_text(text)
    return target


class Ranges:
    """A simulated retailer's sources, and the SQL models built from a copy of their files."""

    def __init__(self, root: Path):
        self.root = root
        self.pipeline = Pipeline(root / "warehouse", customers=800)
        assert self.pipeline.reference().success
        assert self.pipeline.run_range(*UPSTREAM, selection=SOURCES).success
        self.sql = copy_sql(root / "sql", DAYS_PER_QUERY, DEFAULT_DAYS_PER_QUERY)
        self.models = [m for m in load(self.sql) if m.partitioned]
        # As in the real definitions: with_operations sets each daily asset's backfill policy.
        self.assets = with_operations(list(build_defs(self.sql).assets))

    def materialize(self, names, platform=None, partition=None, tags=None):
        keys = [dg.AssetKey(["features", n]) for n in names]
        return dg.materialize(
            self.assets,
            selection=dg.AssetSelection.keys(*keys),
            resources={"platform": platform or self.pipeline.platform},
            partition_key=partition,
            tags=tags,
            instance=self.pipeline.instance,
            raise_on_error=False,
        )


@pytest.fixture(scope="module")
def ranges(tmp_path_factory) -> Ranges:
    return Ranges(tmp_path_factory.mktemp("ranges"))


def day_file(lake, name: str, day: str) -> Path:
    return lake.partition_path("features", name, day)


def read_day(lake, name: str, day: str) -> pl.DataFrame:
    return pl.read_parquet(day_file(lake, name, day))


def table_files(lake, name: str) -> dict[str, bytes]:
    """Every file under a table's folder (staging leftovers included), by relative path."""
    base = lake.table_dir("features", name)
    return {
        str(p.relative_to(base)): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.name != ".in_catalog"
    }


def failure_message(result) -> str:
    return "\n".join(
        e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    )


# ----------------------------------------------------------------------------- library


def test_sub_windows_cover_the_range_in_order():
    d = dt.date.fromisoformat
    assert sub_windows(d("2025-03-04"), d("2025-03-13"), 4) == [
        (d("2025-03-04"), d("2025-03-08")),
        (d("2025-03-08"), d("2025-03-12")),
        (d("2025-03-12"), d("2025-03-13")),
    ]
    assert sub_windows(d("2025-03-04"), d("2025-03-05"), 31) == [(d("2025-03-04"), d("2025-03-05"))]
    with pytest.raises(ValueError):
        sub_windows(d("2025-03-04"), d("2025-03-05"), 0)


def test_day_hashes_are_the_content_hash_of_each_day_alone():
    d = dt.date.fromisoformat
    frame = pl.DataFrame(
        {
            "day": [d("2025-03-02"), d("2025-03-01"), d("2025-03-02")],
            "x": ["a", None, "c"],
            "lineage_id": ["r1", "r1", "r1"],
        }
    )
    days = ["2025-03-01", "2025-03-02", "2025-03-03"]
    hashes = day_hashes(frame, "day", days)
    for day in days:
        alone = frame.filter(pl.col("day") == d(day))
        assert hashes[day] == content_hash(alone)
    # One day: its hash; a range: a hash of every day's, whatever windows computed them.
    assert range_version({"2025-03-01": hashes["2025-03-01"]}) == hashes["2025-03-01"]
    split = {**day_hashes(frame, "day", days[:1]), **day_hashes(frame, "day", days[1:])}
    assert range_version(split) == range_version(hashes)


# ----------------------------------------------------------------------------- ranges


def test_a_range_in_one_run_equals_the_days_run_one_by_one(ranges):
    lake = ranges.pipeline.lake
    names = [m.name for m in ranges.models]
    assert {"user_features", "daily_category_signals", "user_daily_activity"} <= set(names)

    one_run = ranges.materialize(names, tags=RANGE_TAGS)
    assert one_run.success, failure_message(one_run)
    run_id = one_run.run_id
    by_range = {n: {day: read_day(lake, n, day) for day in RANGE} for n in names}

    # What the run reported: one materialization per partition, with the range's counts.
    events = one_run.get_asset_materialization_events()
    for name in names:
        mine = [e for e in events if e.asset_key == dg.AssetKey(["features", name])]
        assert sorted(e.partition for e in mine) == RANGE
        rows = {day: by_range[name][day].height for day in RANGE}
        for e in mine:  # each day's own count; the run's summary on the last day only
            assert (
                e.materialization.metadata["dagster/partition_row_count"].value == rows[e.partition]
            )
            assert ("rows_by_day" in e.materialization.metadata) == (e.partition == RANGE[-1])
        (meta,) = [e.materialization.metadata for e in mine if e.partition == RANGE[-1]]
        assert meta["days_written"].value == 9
        assert meta["rows_written"].value == sum(rows.values())
        table = meta["rows_by_day"].value
        for day, n in rows.items():
            assert f"| {day} | {n:,} |" in table
        queries = 5 if name == "user_features" else 3
        assert meta["queries"].value == queries
        sql = meta["rendered_sql"].value
        assert f"first of {queries} queries" in sql and f"DATE '{FIRST}'" in sql
        assert "lineage_id" in {c.name for c in meta["dagster/column_schema"].schema.columns}
        assert meta["dagster/column_lineage"].value.deps_by_column
    # One result per check per run, for every check of every model.
    checks = [(c.asset_key.path[-1], c.check_name) for c in one_run.get_asset_check_evaluations()]
    expected = [
        (m.name, c) for m in ranges.models for c in ["pandera_schema", *(t.name for t in m.tests)]
    ]
    assert sorted(checks) == sorted(expected)
    assert all(c.passed for c in one_run.get_asset_check_evaluations())

    # The same days, one run each.
    for day in RANGE:
        single = ranges.materialize(names, partition=day)
        assert single.success, failure_message(single)
        (meta,) = [
            e.materialization.metadata
            for e in single.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey(["features", "user_features"])
        ]
        assert (
            meta["dagster/partition_row_count"].value == read_day(lake, "user_features", day).height
        )
        assert "days_written" not in meta

    for name in names:
        for day in RANGE:
            alone = read_day(lake, name, day)
            # The file was rewritten by the day's own run...
            assert alone["lineage_id"].unique().to_list() != [run_id] or alone.height == 0
            ranged = by_range[name][day]
            assert ranged["lineage_id"].unique().to_list() in ([run_id], [])
            # ...and holds the same rows, in the same order, with the same types.
            data = [c for c in alone.columns if c not in LINEAGE_COLUMNS]
            assert ranged.columns == alone.columns
            assert ranged.select(data).equals(alone.select(data)), f"{name} {day} differs"
    # Not vacuous: every model has rows, and the windows' boundary days have some.
    for name in names:
        assert sum(by_range[name][day].height for day in RANGE) > 0, name
    for day in ("2025-03-07", "2025-03-08", "2025-03-11", "2025-03-12"):
        assert by_range["user_features"][day].height > 0
        assert by_range["daily_category_signals"][day].height > 0
    # Rolling features look across a window's start: the 28-day window sees days before it.
    first_of_window = by_range["daily_category_signals"]["2025-03-08"]
    assert (first_of_window["days_in_28d_window"] > 1).all()


def test_a_failing_day_publishes_nothing_of_the_model_and_names_the_day(ranges, tmp_path):
    # A copy of the warehouse's lake, so the shared one is left as it is.
    source = ranges.pipeline.root
    for folder in ("lake", "landing"):
        shutil.copytree(source / folder, tmp_path / folder)
    platform = make_platform(tmp_path, customers=800)
    lake = platform.lake()
    models = ["daily_sales_by_category", "daily_sales_by_store_product"]
    good = ranges.materialize(models, platform=platform, tags=RANGE_TAGS)
    assert good.success, failure_message(good)
    before = table_files(lake, "daily_sales_by_category")
    assert sorted(before) == [f"date={d}/data.parquet" for d in RANGE]
    other_before = table_files(lake, "daily_sales_by_store_product")

    # Two days of upstream rows go bad, in the first and the second window of the range
    # (days per query: 4, so 03-04..03-07, 03-08..03-11, 03-12): one product's sales name a
    # category the catalog does not have.
    bad_days = {"2025-03-06": 0, "2025-03-10": 0}
    for day in bad_days:
        tx = lake.read("raw", "transactions", [day])
        product = tx["product_id"][0]
        tx = tx.with_columns(
            pl.when(pl.col("product_id") == product)
            .then(pl.lit("Unlisted"))
            .otherwise(pl.col("category"))
            .alias("category")
        )
        lake.write_partition(tx, "raw", "transactions", day)
    bad = ranges.materialize(models, platform=platform, tags=RANGE_TAGS)
    assert not bad.success

    # Nothing of the model was published: every partition is byte for byte as it was, and no
    # staged file is left behind.
    assert table_files(lake, "daily_sales_by_category") == before
    # The blocking check failed once for the run, naming the days and their rows.
    evaluations = [
        c for c in bad.get_asset_check_evaluations() if c.asset_key.path[-1] == models[0]
    ]
    by_name = {c.check_name: c for c in evaluations}
    assert len(by_name) == len(evaluations)
    check = by_name["relationships_category"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failing_rows_by_day"].value == {day: 1 for day in bad_days}
    assert check.metadata["failing_rows"].value == 2
    assert check.metadata["days_checked"].value == 9
    assert "Unlisted" in check.metadata["examples"].value
    assert by_name["pandera_schema"].passed
    message = failure_message(bad)
    assert "blocking checks failed on 2 of 9 day(s)" in message
    assert "2025-03-06 (1 rows), 2025-03-10 (1 rows)" in message
    assert "Nothing was written" in message
    ran = {e.asset_key.path[-1] for e in bad.get_asset_materialization_events()}
    assert models[0] not in ran
    # The other model read the same days and passed: it was published for the whole range.
    assert ran == {models[1]}
    after = table_files(lake, "daily_sales_by_store_product")
    assert sorted(after) == sorted(other_before) and after != other_before
