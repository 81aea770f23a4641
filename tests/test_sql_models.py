"""The SQL model loader: parsing, dependencies, errors, tests as checks, ranges, lineage.

Parsing is tested on the library alone; everything else materializes real assets built by
``build_defs`` from model files in a temp folder, in-process, against a real lake and DuckDB
catalog in ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import sqlglot

from retail_assets.defs.features.assets import build_defs, load
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.warehouse.frames import with_lineage
from retail_assets.lib.warehouse.sql_header import SqlModelError
from retail_assets.lib.warehouse.sql_models import column_lineage, load_models, parse_model

KNOWN = {("raw", "signals"), ("raw", "transactions"), ("governed", "sessions")}
RUN = "00000000-0000-0000-0000-000000000001"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def _model(
    root: Path,
    name: str,
    sql: str,
    header: str = "materialized: table\ndescription: d\n",
    layer: str = "marts",
) -> Path:
    path = root / layer / f"{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"/*\n{header}*/\n{sql.strip()}\n")
    return path


# ------------------------------------------------------------------ parsing


def test_dependencies_from_joins_ctes_subqueries_and_quoted_names(tmp_path):
    _model(
        tmp_path,
        "m",
        """
        WITH recent AS (SELECT * FROM raw.signals WHERE signal_date >= {{ start_date }})
        SELECT r.category, t.revenue FROM recent r
        JOIN "raw"."transactions" t ON t.category = r.category
        WHERE r.category IN (SELECT category FROM governed.sessions)
        """,
    )
    _model(tmp_path, "n", "SELECT * FROM features.m AS x LEFT JOIN raw.signals USING (category)")
    m, n = load_models(tmp_path, KNOWN)
    assert m.name == "m" and n.name == "n"  # dependency order
    assert set(m.refs) == KNOWN
    assert set(n.refs) == {("features", "m"), ("raw", "signals")}
    assert m.ref_lines[("raw", "transactions")] == 7  # header is 4 lines, SQL line 3
    assert "DATE '2025-01-02'" in m.render(dt.date(2025, 1, 2), dt.date(2025, 1, 3))


def test_missing_reference_and_cycle_fail_with_file_and_line(tmp_path):
    _model(tmp_path, "a", "SELECT 1 AS x\nFROM raw.nowhere")
    with pytest.raises(SqlModelError, match=r"marts/a.sql:6: reference to raw.nowhere"):
        load_models(tmp_path, set())
    _model(tmp_path, "a", "SELECT *\nFROM features.b")
    _model(tmp_path, "b", "SELECT * FROM features.a")
    with pytest.raises(SqlModelError, match="dependency cycle") as err:
        load_models(tmp_path, set())
    assert "marts/a.sql:6 reads features.b" in str(err.value)
    assert "marts/b.sql:5 reads features.a" in str(err.value)


def test_unqualified_and_raw_pii_tables_are_refused(tmp_path):
    _model(tmp_path, "a", "SELECT *\n  FROM signals")
    with pytest.raises(SqlModelError, match=r"a.sql:6: table 'signals' must be qualified"):
        load_models(tmp_path, KNOWN)
    _model(tmp_path, "a", "SELECT * FROM raw.customers")
    with pytest.raises(SqlModelError, match=r"raw.customers cannot be read: .*raw personal data"):
        load_models(tmp_path, {("raw", "customers")}, {("raw", "customers"): "raw personal data"})


@pytest.mark.parametrize(
    ("header", "sql", "message"),
    [
        (None, "SELECT 1", "missing header"),
        ("materialized: incremental\ndescription: d\n", "SELECT 1", "partition_column"),
        ("materialized: sometimes\ndescription: d\n", "SELECT 1", "materialized"),
        ("materialized: table\n", "SELECT 1", "description"),
        ("materialized: table\ndescription: d\nowner: [a\n", "SELECT 1", "not valid YAML"),
        ("materialized: table\ndescription: d\ncolour: red\n", "SELECT 1", "colour"),
        (
            "materialized: table\ndescription: d\ncolumns:\n  x: {type: text}\n",
            "SELECT 1 AS x",
            "unknown type 'text'",
        ),
        (
            "materialized: table\ndescription: d\ncolumns:\n  x: {description: a, b}\n",
            "SELECT 1 AS x",
            "quote a description that contains a comma",
        ),
        (
            "materialized: table\ndescription: d\ncolumns:\n  x: {tests: [sometimes]}\n",
            "SELECT 1 AS x",
            "unknown test 'sometimes'",
        ),
        (
            "materialized: table\ndescription: d\ncolumns:\n"
            "  x: {tests: [{relationships: {field: y}}]}\n",
            "SELECT 1 AS x",
            "relationships needs 'to'",
        ),
        (
            "materialized: view\ndescription: d\n",
            "SELECT * FROM raw.signals WHERE signal_date >= {{ start_date }}",
            "a view has no partition window",
        ),
        ("materialized: table\ndescription: d\n", "SELEC 1 FROM", "SQL does not parse"),
        ("materialized: table\ndescription: d\n", "DELETE FROM raw.signals", "one SELECT"),
    ],
)
def test_header_and_sql_errors_name_the_file(tmp_path, header, sql, message):
    path = tmp_path / "marts" / "y.sql"
    path.parent.mkdir(parents=True)
    path.write_text(sql if header is None else f"/*\n{header}*/\n{sql}\n")
    with pytest.raises(SqlModelError, match=message) as err:
        parse_model(path, tmp_path)
    assert str(err.value).startswith("marts/y.sql")


def test_a_table_defined_twice_fails(tmp_path):
    _model(
        tmp_path, "signals", "SELECT 1 AS x", "materialized: table\ndescription: d\nschema: raw\n"
    )
    with pytest.raises(SqlModelError, match="raw.signals is defined twice"):
        load_models(tmp_path, KNOWN)


def test_column_lineage_through_a_join_with_aliases(tmp_path):
    _model(
        tmp_path,
        "m",
        """
        WITH t AS (SELECT category AS cat, revenue AS rev FROM raw.transactions)
        SELECT
            t.cat AS category,
            s.sentiment * t.rev AS weighted,
            count(*) AS n
        FROM t
        JOIN raw.signals AS s ON s.category = t.cat
        GROUP BY ALL
        """,
    )
    (m,) = load_models(tmp_path, KNOWN)
    lineage = column_lineage(
        m,
        {
            ("raw", "transactions"): ["category", "revenue", "quantity"],
            ("raw", "signals"): ["category", "sentiment", "text"],
        },
    )
    assert lineage == {
        "category": [("raw", "transactions", "category")],
        "weighted": [("raw", "signals", "sentiment"), ("raw", "transactions", "revenue")],
        "n": [],
    }


# ------------------------------------------------------------------ running (Dagster)

HEADER = """materialized: incremental
partition_column: d
description: Units per day.
columns:
  d: {type: date, description: Day., tests: [not_null]}
  units: {type: bigint, description: Units.}
tests:
  - unique: [d]
"""
COUNT = "materialized: table\ndescription: A count.\ncolumns:\n  n: {type: bigint}\n"
DAILY_SQL = """
SELECT transaction_date AS d, sum(quantity)::BIGINT AS units
FROM raw.transactions
WHERE transaction_date >= {{ start_date }} AND transaction_date < {{ end_date }}
GROUP BY 1
"""


class World:
    """Model files, a platform in tmp_path, and helpers to write inputs and materialize."""

    def __init__(self, root: Path):
        self.root = root
        self.sql = root / "sql"
        self.platform = RetailPlatform(
            lake_root=str(root / "lake"),
            landing_root=str(root / "landing"),
            warehouse_path=str(root / "warehouse.duckdb"),
        )
        self.lake = self.platform.lake()
        self.instance = dg.DagsterInstance.ephemeral()

    def transactions(self, rows_by_day: dict[str, list[int]]) -> None:
        for day, quantities in rows_by_day.items():
            d = dt.date.fromisoformat(day)
            df = pl.DataFrame(
                {
                    "transaction_date": [d] * len(quantities),
                    "product_id": [f"P{q}" for q in quantities],
                    "category": ["A"] * len(quantities),
                    "quantity": quantities,
                },
                schema_overrides={"quantity": pl.Int64},
            )
            stamped = with_lineage(df, RUN, dt.datetime(2025, 3, 9, tzinfo=dt.UTC))
            self.lake.write_partition(stamped, "raw", "transactions", day)

    def materialize(self, names: list[str], partition=None, tags=None):
        assets = list(build_defs(self.sql).assets)
        keys = {dg.AssetKey(["features", n]) for n in names}
        return dg.materialize(
            assets,
            selection=dg.AssetSelection.keys(*keys),
            resources={"platform": self.platform},
            partition_key=partition,
            tags=tags,
            instance=self.instance,
            raise_on_error=False,
        )

    def read(self, name: str) -> pl.DataFrame:
        return self.lake.read("features", name).drop("lineage_id", "processed_at")


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def _failure(result) -> str:
    return "\n".join(
        e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    )


def test_incremental_range_in_one_run_is_idempotent(world):
    _model(world.sql, "daily_units", DAILY_SQL, HEADER)
    world.transactions({f"2025-03-0{i}": [i, 10 * i] for i in range(1, 6)})
    tags = {RANGE_START: "2025-03-02", RANGE_END: "2025-03-04"}
    first = world.materialize(["daily_units"], tags=tags)
    assert first.success
    parts = sorted(p.parent.name for p in world.lake.partition_files("features", "daily_units"))
    assert parts == ["date=2025-03-02", "date=2025-03-03", "date=2025-03-04"]
    before = world.read("daily_units").sort("d")
    assert before["units"].to_list() == [22, 33, 44]
    # The same range again: the same rows, each partition replaced, nothing duplicated.
    again = world.materialize(["daily_units"], tags=tags)
    assert again.success
    assert world.read("daily_units").sort("d").equals(before)
    versions = {
        e.materialization.tags.get("dagster/data_version")
        for r in (first, again)
        for e in r.get_asset_materialization_events()
    }
    assert len(versions) == 1
    # A day's input changes: re-running that one partition replaces only it.
    world.transactions({"2025-03-03": [7]})
    assert world.materialize(["daily_units"], partition="2025-03-03").success
    assert world.read("daily_units").sort("d")["units"].to_list() == [22, 7, 44]
    # A day without rows leaves an empty partition, not yesterday's rows.
    world.transactions({"2025-03-04": []})
    assert world.materialize(["daily_units"], partition="2025-03-04").success
    assert world.read("daily_units").sort("d")["units"].to_list() == [22, 7]


ROLLING_HEADER = """materialized: incremental
partition_column: d
lookback_days: 1
backfill_days: {days}
description: Units per day and over two days.
columns:
  d: {{type: date, tests: [not_null]}}
  units: {{type: bigint}}
  units_2d: {{type: bigint}}
tests:
  - unique: [d]
"""
ROLLING_SQL = """
SELECT d, units,
    sum(units) OVER (ORDER BY d RANGE BETWEEN INTERVAL 1 DAY PRECEDING AND CURRENT ROW)::BIGINT
        AS units_2d
FROM (
    SELECT transaction_date AS d, sum(quantity)::BIGINT AS units
    FROM raw.transactions
    WHERE transaction_date >= {{ start_date }} - INTERVAL 1 DAY
      AND transaction_date < {{ end_date }}
    GROUP BY 1
)
QUALIFY d >= {{ start_date }}
ORDER BY d
"""


def _data_version(result) -> str:
    (version,) = {
        e.materialization.tags.get("dagster/data_version")
        for e in result.get_asset_materialization_events()
    }
    return version


def test_a_range_is_queried_in_windows_of_backfill_days_with_their_lookback(world):
    world.transactions({f"2025-03-0{i}": [i, 10 * i] for i in range(1, 6)})
    _model(world.sql, "rolling", ROLLING_SQL, ROLLING_HEADER.format(days=2))
    tags = {RANGE_START: "2025-03-02", RANGE_END: "2025-03-05"}
    result = world.materialize(["rolling"], tags=tags)
    assert result.success, _failure(result)
    got = world.read("rolling")
    assert got["d"].cast(pl.Utf8).to_list() == [
        "2025-03-02",
        "2025-03-03",
        "2025-03-04",
        "2025-03-05",
    ]
    assert got["units"].to_list() == [22, 33, 44, 55]
    # 03-04 opens the second query: its two-day sum reads 03-03 through that query's lookback.
    assert got["units_2d"].to_list() == [11 + 22, 22 + 33, 33 + 44, 44 + 55]
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events) == [
        "2025-03-02",
        "2025-03-03",
        "2025-03-04",
        "2025-03-05",
    ]
    # Each day's event has its own count; the run's summary rides on the last day's.
    assert all(e.materialization.metadata["dagster/partition_row_count"].value == 1 for e in events)
    (meta,) = [e.materialization.metadata for e in events if e.partition == "2025-03-05"]
    assert meta["queries"].value == 2
    assert meta["days_written"].value == 4 and meta["rows_written"].value == 4
    assert "| 2025-03-04 | 1 |" in meta["rows_by_day"].value
    sql = meta["rendered_sql"].value
    assert "first of 2 queries, for [2025-03-02, 2025-03-04)" in sql
    assert "DATE '2025-03-02'" in sql and "DATE '2025-03-04'" in sql
    # One result per check for the run, over both queries.
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert len(checks) == len(result.get_asset_check_evaluations()) == 3
    assert checks["pandera_schema"].metadata["rows_checked"].value == 4
    assert checks["unique_d"].metadata["days_checked"].value == 4
    # The data version is the days' content, however many days each query took.
    _model(world.sql, "rolling", ROLLING_SQL, ROLLING_HEADER.format(days=31))
    whole = world.materialize(["rolling"], tags=tags)
    assert whole.success
    assert (
        whole.get_asset_materialization_events()[-1].materialization.metadata["queries"].value == 1
    )
    assert _data_version(whole) == _data_version(result)
    assert world.read("rolling").equals(got)


def test_unique_is_per_day_for_incremental_models_and_a_failure_names_the_day(world):
    header = (
        "materialized: incremental\npartition_column: d\nbackfill_days: 2\ndescription: d\n"
        "columns:\n  d: {type: date}\n  p: {type: varchar}\ntests:\n  - unique: [p]\n"
    )
    sql = (
        "SELECT transaction_date AS d, product_id AS p FROM raw.transactions "
        "WHERE transaction_date >= {{ start_date }} AND transaction_date < {{ end_date }} "
        "ORDER BY d, p"
    )
    _model(world.sql, "products_by_day", sql, header)
    (test,) = load(world.sql)[0].tests
    assert test.description == "p is unique per d"
    # The same products every day: unique within each day, as each day's partition, though
    # the first query holds two days.
    world.transactions({"2025-03-01": [1, 2], "2025-03-02": [1, 2], "2025-03-03": [1, 2]})
    tags = {RANGE_START: "2025-03-01", RANGE_END: "2025-03-03"}
    assert world.materialize(["products_by_day"], tags=tags).success
    files = world.lake.partition_files("features", "products_by_day")
    before = {f: f.read_bytes() for f in files}
    # A product twice on 03-03 (the range's second query, after the first was staged): nothing
    # is written, and the day is named.
    world.transactions({"2025-03-03": [1, 1, 2]})
    bad = world.materialize(["products_by_day"], tags=tags)
    assert not bad.success
    message = _failure(bad)
    assert "blocking checks failed on 1 of 3 day(s) (2025-03-01..2025-03-03): 2025-03-03" in message
    assert "test unique_p failed on 2 of 7 rows (2025-03-03 (2 rows))" in message
    (check,) = [c for c in bad.get_asset_check_evaluations() if c.check_name == "unique_p"]
    assert check.metadata["failing_rows_by_day"].value == {"2025-03-03": 2}
    assert world.lake.partition_files("features", "products_by_day") == files
    assert {f: f.read_bytes() for f in files} == before
    assert not list(world.lake.table_dir("features", "products_by_day").glob(".staging-*"))


def test_rows_outside_a_later_query_of_a_range_name_that_query(world):
    world.transactions({f"2025-03-0{i}": [i] for i in range(1, 6)})
    sql = (
        "SELECT transaction_date AS d, sum(quantity)::BIGINT AS units FROM raw.transactions "
        "WHERE transaction_date < {{ end_date }} GROUP BY 1"
    )
    # It reads a day of lookback and keeps it: the first query's lookback has no data (the
    # range starts on the first day), the second's is 03-02.
    _model(world.sql, "leaky", sql, HEADER + "lookback_days: 1\nbackfill_days: 2\n")
    tags = {RANGE_START: "2025-03-01", RANGE_END: "2025-03-04"}
    result = world.materialize(["leaky"], tags=tags)
    assert not result.success
    message = _failure(result)
    assert "1 rows have d outside the window [2025-03-03, 2025-03-05)" in message
    assert (
        "in the query for [2025-03-03, 2025-03-05) of the run's [2025-03-01, 2025-03-05)" in message
    )
    assert not world.lake.partition_files("features", "leaky")
    assert not list(world.lake.table_dir("features", "leaky").glob(".staging-*"))


def test_metadata_has_column_lineage_schema_rows_and_sql(world):
    _model(world.sql, "daily_units", DAILY_SQL, HEADER)
    world.transactions({"2025-03-01": [1, 2]})
    result = world.materialize(["daily_units"], partition="2025-03-01")
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    lineage = meta["dagster/column_lineage"].value.deps_by_column
    assert [(d.asset_key.path, d.column_name) for d in lineage["units"]] == [
        (["raw", "transactions"], "quantity")
    ]
    assert meta["dagster/partition_row_count"].value == 1
    assert meta["window_rows"].value == 1
    # A partitioned run reports what it wrote; counting every partition would grow with history.
    assert "dagster/row_count" not in meta
    columns = {c.name: c for c in meta["dagster/column_schema"].schema.columns}
    assert columns["units"].description == "Units." and "lineage_id" in columns
    assert "DATE '2025-03-01'" in meta["rendered_sql"].value
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"pandera_schema": True, "not_null_d": True, "unique_d": True}


BAD = {
    # test declaration, SQL producing one bad value among good ones, failing rows
    "not_null": ("[not_null]", "SELECT * FROM (VALUES ('P1'), (NULL), ('P2')) v(x)", 1),
    "unique": ("[unique]", "SELECT * FROM (VALUES ('P1'), ('P1'), ('P2')) v(x)", 2),
    "accepted_values": (
        "[{accepted_values: [P1, P2]}]",
        "SELECT * FROM (VALUES ('P1'), ('P9'), ('P2')) v(x)",
        1,
    ),
    "relationships": (
        "[{relationships: {to: raw.transactions, field: product_id}}]",
        "SELECT * FROM (VALUES ('P1'), ('P404'), ('P2')) v(x)",
        1,
    ),
    "expression": (
        "[{expression: \"LIKE 'P_'\"}]",
        "SELECT * FROM (VALUES ('P1'), ('P10'), ('P2')) v(x)",
        1,
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_each_declared_test_blocks_a_bad_table(world, kind):
    declared, bad_sql, failing = BAD[kind]
    world.transactions({"2025-03-01": [1, 2]})
    header = "materialized: table\ndescription: d\ncolumns:\n"
    header += f"  x: {{type: varchar, tests: {declared}}}\n"
    _model(world.sql, "products", "SELECT product_id AS x FROM raw.transactions", header)
    _model(world.sql, "downstream", "SELECT count(*) AS n FROM features.products", COUNT)
    good = world.materialize(["products", "downstream"])
    assert good.success
    before = world.lake.partition_path("features", "products", None).read_bytes()

    _model(world.sql, "products", bad_sql + " -- reads raw.transactions? no", header)
    bad = world.materialize(["products", "downstream"])
    assert not bad.success
    (check,) = [c for c in bad.get_asset_check_evaluations() if c.check_name.startswith(kind)]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failing_rows"].value == failing
    message = _failure(bad)
    assert "marts/products.sql" in message and f"{failing} of 3 rows" in message
    assert "Nothing was written" in message
    # The blocking check stopped the downstream model, and the table is as it was.
    ran = {e.materialization.asset_key.path[-1] for e in bad.get_asset_materialization_events()}
    assert ran == set()
    assert world.lake.partition_path("features", "products", None).read_bytes() == before


def test_warn_severity_reports_without_blocking(world):
    world.transactions({"2025-03-01": [1, 2]})
    header = (
        "materialized: table\ndescription: d\ncolumns:\n"
        "  x: {type: varchar, tests: [{accepted_values: {values: [P1], severity: warn}}]}\n"
    )
    _model(world.sql, "products", "SELECT product_id AS x FROM raw.transactions", header)
    result = world.materialize(["products"])
    assert result.success
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name != "pandera_schema"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_contract_catches_undeclared_column_and_wrong_type(world):
    world.transactions({"2025-03-01": [1, 2]})
    header = "materialized: table\ndescription: d\ncolumns:\n  x: {type: bigint}\n"
    _model(
        world.sql, "t", "SELECT product_id AS x, quantity AS extra FROM raw.transactions", header
    )
    result = world.materialize(["t"])
    assert not result.success
    message = _failure(result)
    assert "column 'extra': unexpected column" in message
    assert "column 'x'" in message and "Int64" in message
    assert not world.lake.partition_files("features", "t")


def test_sql_error_names_the_file_and_duckdb_message(world):
    world.transactions({"2025-03-01": [1]})
    _model(world.sql, "broken", "SELECT no_such_column AS n FROM raw.transactions", COUNT)
    result = world.materialize(["broken"])
    assert not result.success
    message = _failure(result)
    assert "marts/broken.sql failed in DuckDB" in message
    assert "no_such_column" in message and "Binder Error" in message
    assert "Traceback" not in message.split("\n")[0]


def test_rows_outside_the_partition_are_refused(world):
    world.transactions({"2025-03-01": [1], "2025-03-02": [2]})
    # The model reads a day of lookback but forgets to keep only its window's rows.
    sql = "SELECT transaction_date AS d, sum(quantity)::BIGINT AS units FROM raw.transactions "
    _model(world.sql, "leaky", sql + "GROUP BY 1", HEADER + "lookback_days: 1\n")
    result = world.materialize(["leaky"], partition="2025-03-02")
    assert not result.success
    assert "1 rows have d outside the window [2025-03-02, 2025-03-03)" in _failure(result)


def test_missing_upstream_data_and_optional_inputs(world):
    _model(world.sql, "daily_units", DAILY_SQL, HEADER)
    result = world.materialize(["daily_units"], partition="2025-03-01")
    assert "no data yet for raw.transactions" in _failure(result)

    world.transactions({"2025-03-01": [1]})
    header = (
        "materialized: table\ndescription: d\noptional: [raw.census_retail_sales]\n"
        "columns:\n  n: {type: bigint}\n  census: {type: bigint}\n"
    )
    sql = (
        "SELECT (SELECT count(*) FROM raw.transactions) AS n, "
        "(SELECT count(*) FROM raw.census_retail_sales) AS census"
    )
    _model(world.sql, "with_census", sql, header)
    assert world.materialize(["with_census"]).success
    assert world.read("with_census").row(0) == (1, 0)


def test_view_model_is_published_to_the_catalog_and_read_downstream(world):
    world.transactions({"2025-03-01": [1, 2, 3]})
    header = "materialized: view\ndescription: Big lines.\ncolumns:\n  q: {type: bigint}\n"
    _model(
        world.sql,
        "big_lines",
        "SELECT quantity AS q, lineage_id, processed_at FROM raw.transactions WHERE quantity > 1",
        header,
        layer="staging",
    )
    _model(world.sql, "big_count", "SELECT count(*) AS n FROM features.big_lines", COUNT)
    # A model reading a view runs on the view's SQL even before the view asset is materialized.
    assert world.materialize(["big_count"]).success
    assert world.read("big_count")["n"].to_list() == [2]
    result = world.materialize(["big_lines"])
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["dagster/row_count"].value == 2
    with duckdb.connect(str(world.lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT sum(q) FROM features.big_lines").fetchone()[0] == 5
        # A view passes on the lineage of the rows it reads.
        lineage = con.execute("SELECT DISTINCT lineage_id FROM features.big_lines").fetchall()
        assert lineage == [(RUN,)]
    # The catalog can be rebuilt from the lake alone, the view included.
    world.lake.warehouse_path.unlink()
    statuses = {v.name: v.status for v in world.lake.refresh_catalog()}
    assert statuses["features.big_lines"] == "created"
    with duckdb.connect(str(world.lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM features.big_lines").fetchone()[0] == 2


def test_shipped_models_load_with_their_tests_and_groups():
    models = {m.name: m for m in load()}
    assert {
        "daily_category_signals",
        "daily_sales_by_category",
        "daily_sales_by_store_product",
        "online_purchases",
        "user_daily_activity",
        "user_features",
        "weekly_sales_direction",
        "persona_performance",
        "calendar_uplift",
        "executive_summary",
        "sentiment_sales_correlation",
    } <= set(models)
    for m in models.values():
        assert m.columns, f"{m.rel} declares no columns"
        assert all(c.type for c in m.columns.values()), f"{m.rel}: every column needs a type"
        assert m.tests, f"{m.rel} declares no tests"
        if m.materialized != "view":
            # A fixed row order: re-running writes the same bytes and the same data version.
            tree = sqlglot.parse_one(m.render(dt.date(2025, 1, 1), dt.date(2025, 1, 2)), "duckdb")
            assert tree.args.get("order") is not None, f"{m.rel} needs a final ORDER BY"
    assert models["online_purchases"].materialized == "view"
    assert models["user_features"].refs == (("features", "user_daily_activity"),)


def test_compile_prints_the_sql_for_a_day_or_a_range(capsys):
    from retail_assets.cli import main

    assert (
        main(["compile", "user_features", "--partition", "2025-03-01", "--end", "2025-03-07"]) == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("-- dbt_like_sql/marts/user_features.sql (incremental)")
    assert "range(DATE '2025-03-01', DATE '2025-03-08', INTERVAL 1 DAY)" in out
    assert "{{" not in out
    assert main(["compile", "user_features"]) == 2
    assert "give --partition" in capsys.readouterr().err
    assert main(["compile", "no_such_model"]) == 2
    assert "unknown model 'no_such_model'" in capsys.readouterr().err
