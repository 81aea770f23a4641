"""The whole graph, materialized in-process into a real DuckDB warehouse in a temp folder."""

from __future__ import annotations

import json
import re

import dagster as dg
import duckdb
import polars as pl
import pytest
from conftest import DAYS, Pipeline

from retail_assets.cli.materialize import FORECAST_KEYS, RANGE_END, RANGE_START

TABLES = [
    "raw.product_catalog",
    "raw.retail_calendar",
    "raw.signals",
    "raw.transactions",
    "governed.customers",
    "governed.sessions",
    "governed.app_events",
    "governed.consent_audit",
    "features.daily_category_signals",
    "features.daily_sales_by_category",
    "features.daily_sales_by_store_product",
    "features.executive_summary",
    "features.user_daily_activity",
    "features.user_features",
    "ml.sales_forecasts",
    "ml.forecast_accuracy",
    "activation.channel_response_curves",
    "activation.budget_allocation",
    "activation.segment_budgets",
    "activation.creative_library",
    "activation.dsp_payload",
    "activation.dsp_delivery",
    "activation.audience_uploads",
]
# Built by the `feature_tables` job from every day so far, not per partition.
WHOLE_TABLES = [
    "features.calendar_uplift",
    "features.online_purchases",
    "features.persona_performance",
    "features.sentiment_sales_correlation",
    "features.weekly_sales_direction",
]
# Three days hold no complete week: the direction table is rightly empty. A series is
# forecast from its third day, so no day has been forecast and then seen yet: the realized
# accuracy starts on the fourth.
# No segments are trained in three days, so there is no audience to upload either.
EMPTY_IN_THREE_DAYS = (
    "features.weekly_sales_direction",
    "ml.forecast_accuracy",
    "activation.audience_uploads",
)
#: Runs the fixture makes, as `retail-assets materialize` does (less the model stages).
RUNS = ["reference_data", "all_assets", "feature_tables", "forecasts", "activation"]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
IPV4 = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    """The whole graph over three days, built as `retail-assets materialize` builds it.

    The reference data; every daily asset but the forecasts and activation over the three
    days in ONE run (tagged with the range, as a single-run backfill is); the whole-table SQL
    models; then the forecasts and the plan for the last day. (The CLI also selects forecast
    models and trains the models in between: three days are too few for either.)
    """
    # Store x product forecasts too (the default is categories), so their intervals are tested.
    p = Pipeline(
        tmp_path_factory.mktemp("warehouse"), forecast_levels=["category", "store_product"]
    )
    assert p.reference().success, "reference_data failed"
    daily = sorted(
        k.to_user_string()
        for k in p.defs.resolve_job_def("all_assets").asset_layer.selected_asset_keys
        if k.path[0] != "activation" and k.to_user_string() not in FORECAST_KEYS
    )
    assert p.run_range(DAYS[0], DAYS[-1], selection=",".join(daily)).success, "history failed"
    assert p.tables().success, "feature_tables failed"
    for job in ("forecasts", "activation"):
        result = p.defs.resolve_job_def(job).execute_in_process(
            partition_key=DAYS[-1], instance=p.instance, raise_on_error=False
        )
        assert result.success, f"{job} for {DAYS[-1]} failed"
    return p


def test_history_is_one_run_over_the_range(pipeline):
    runs = list(reversed(pipeline.instance.get_runs()))  # oldest first
    assert [r.job_name for r in runs] == RUNS
    history = runs[1]
    assert (history.tags[RANGE_START], history.tags[RANGE_END]) == (DAYS[0], DAYS[-1])
    # Every day of every daily table came from that one run.
    sessions = dg.AssetKey(["governed", "sessions"])
    records = pipeline.instance.fetch_materializations(sessions, limit=10).records
    assert sorted(r.partition_key for r in records) == DAYS
    assert {r.run_id for r in records} == {history.run_id}


def _catalog(pipeline):
    return duckdb.connect(str(pipeline.lake.warehouse_path), read_only=True)


def test_every_asset_has_rows_and_a_view(pipeline):
    with _catalog(pipeline) as con:
        views = {
            r[0]
            for r in con.execute(
                "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        # raw.sessions, raw.app_events and raw.customers hold personal data: never a view.
        assert views == set(TABLES) | set(WHOLE_TABLES)
        for table in TABLES + WHOLE_TABLES:
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert rows > 0 or table in EMPTY_IN_THREE_DAYS, table
    for table in ("sessions", "app_events"):
        assert pipeline.lake.read("raw", table, landing=True).height > 0


def _consent(raw: pl.DataFrame) -> pl.Series:
    return raw["privacy_info"].struct.field("analytics_storage")


def test_governed_rows_are_consented_subset(pipeline):
    raw = pipeline.lake.read("raw", "sessions", landing=True)
    with _catalog(pipeline) as con:
        governed = con.execute("SELECT count(*) FROM governed.sessions").fetchone()[0]
        non_consented = con.execute(
            "SELECT count(*) FROM governed.sessions WHERE analytics_storage <> 'Yes'"
        ).fetchone()[0]
        audit = con.execute(
            "SELECT sum(rows_in), sum(rows_kept), sum(dropped_analytics_denied + "
            "dropped_analytics_unset + dropped_missing_user_pseudo_id + dropped_erased), "
            "sum(cookieless_events), sum(cookieless_page_views) FROM governed.consent_audit"
        ).fetchone()
        null_user_rows = con.execute(
            "SELECT (SELECT count(*) FROM governed.sessions WHERE user_key IS NULL) + "
            "(SELECT count(*) FROM features.user_daily_activity WHERE customer_key IS NULL) + "
            "(SELECT count(*) FROM features.user_features WHERE customer_key IS NULL)"
        ).fetchone()[0]
    assert 0 < governed <= raw.height
    assert non_consented == 0
    assert audit[0] == raw.height and audit[1] == governed and audit[1] + audit[2] == audit[0]
    # Cookieless pings (no user_pseudo_id) count as volume in the audit, never as users.
    pings = raw.filter(pl.col("user_pseudo_id").is_null())
    assert audit[3] == pings.height > 0
    assert audit[4] == pings.filter(pl.col("event_name") == "page_view").height
    assert null_user_rows == 0

    # The pseudonyms are exactly the HMACs of the consenting users' ids, nobody else's.
    psd = pipeline.platform.pseudonymizer()
    consenting = raw.filter(_consent(raw) == "Yes")["user_pseudo_id"].drop_nulls()
    denied = raw.filter(_consent(raw) != "Yes")["user_pseudo_id"].drop_nulls()
    keys = set(pipeline.lake.read("governed", "sessions")["user_key"].unique().to_list())
    assert keys == {psd.hash_one(v) for v in consenting.unique().to_list()}
    only_denied = set(denied.unique().to_list()) - set(consenting.unique().to_list())
    assert not keys & {psd.hash_one(v) for v in only_denied}


def test_no_raw_pii_anywhere_in_the_catalog_or_payload(pipeline):
    raw = pipeline.lake.read("raw", "sessions", landing=True)
    app = pipeline.lake.read("raw", "app_events", landing=True)
    secrets = set()
    for col in ("user_pseudo_id", "user_id"):
        secrets |= set(raw[col].drop_nulls().unique().to_list())
    secrets |= set(app["user_id"].unique().to_list())
    props = raw["user_properties"].explode().struct.field("value").struct.field("string_value")
    emails = set(props.drop_nulls().unique().to_list())
    assert len(emails) > 10 and all(EMAIL.fullmatch(e) for e in emails)
    secrets |= emails
    assert len(secrets) > 100
    texts = []
    with _catalog(pipeline) as con:
        for table in TABLES + WHOLE_TABLES:
            df = con.execute(f"SELECT * FROM {table}").pl()
            for name, dtype in df.schema.items():
                if dtype == pl.Utf8:
                    texts.extend(df[name].drop_nulls().unique().to_list())
    # The plan is made for the last day only (activation runs one day per run).
    path = pipeline.lake.partition_path(
        "activation", "dsp_payload", DAYS[-1], filename="payload.json"
    )
    texts.append(path.read_text())
    blob = "\n".join(texts)
    assert not EMAIL.search(blob)
    assert not IPV4.search(blob)
    leaked = [s for s in secrets if s in blob]
    assert leaked == []


def test_every_row_carries_its_run(pipeline):
    runs = {r.run_id for r in pipeline.instance.get_runs()}
    with _catalog(pipeline) as con:
        for table in TABLES + WHOLE_TABLES:
            ids = {r[0] for r in con.execute(f"SELECT DISTINCT lineage_id FROM {table}").fetchall()}
            assert ids <= runs, table
            assert ids or table in EMPTY_IN_THREE_DAYS, table
            assert (
                con.execute(f"SELECT count(*) FROM {table} WHERE processed_at IS NULL").fetchone()[
                    0
                ]
                == 0
            )


def test_forecast_intervals_nest_and_payload_adds_up(pipeline):
    fc = pipeline.lake.read("ml", "sales_forecasts", [DAYS[-1]])
    h = pipeline.platform.forecast_horizon
    # Three days of history: before any model selection, every series is forecast, h days.
    assert fc.filter(pl.col("level") == "category").height == 6 * h
    assert fc.filter(pl.col("level") == "store_product")["unique_id"].n_unique() > 100
    assert (fc.group_by("unique_id").len()["len"] == h).all()
    # A series runs from its first sale; with three days, those first sold on day one are the
    # ones with the three days of history a forecast needs.
    sold = pipeline.lake.read("features", "daily_sales_by_store_product", [DAYS[0]])
    assert fc.filter(pl.col("level") == "store_product")["unique_id"].n_unique() == (
        sold.select("store_id", "product_id").n_unique()
    )
    assert (fc["lo_95"] <= fc["lo_80"]).all() and (fc["hi_80"] <= fc["hi_95"]).all()
    assert (fc["ds"] > fc["forecast_origin"]).all()
    path = pipeline.lake.partition_path(
        "activation", "dsp_payload", DAYS[-1], filename="payload.json"
    )
    payload = json.loads(path.read_text())
    items = payload["body"]["line_items"]
    assert sum(int(li["budget"]["amount_micros"]) for li in items) == int(
        payload["body"]["budget"]["total_micros"]
    )
    lineage = payload["lineage"]
    assert set(lineage["input_data_versions"]) == {
        "activation/budget_allocation",
        "activation/segment_budgets",
        "activation/creative_library",
        "activation/channel_response_curves",
    }
    # The segments' share of the flight's forecast revenue comes from this day's forecasts.
    segments = pipeline.lake.read("activation", "segment_budgets", [DAYS[-1]])
    assert segments["forecast_revenue"].null_count() == 0
    assert segments["forecast_revenue"].sum() > 0
    assert all(lineage["input_data_versions"].values())
    record = pipeline.instance.fetch_materializations(
        __import__("dagster").AssetKey(["activation", "dsp_payload"]), limit=1
    ).records[0]
    assert record.asset_materialization.tags["dagster/data_version"] == lineage["body_sha256"]
    assert record.run_id == lineage["dagster_run_id"]


def test_rematerializing_a_partition_replaces_it(fresh):
    day = "2025-03-02"
    assert fresh.run(day).success

    def snapshot():
        out = {}
        with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
            for table in TABLES:
                # A delivery receipt says what the rerun did (already delivered, replaced);
                # what it delivered (plan, target, key, body) must be the same.
                volatile = (
                    ", status, attempts, bytes, content_sha256"
                    if table == "activation.dsp_delivery"
                    else ""
                )
                df = con.execute(
                    f"SELECT * EXCLUDE (lineage_id, processed_at{volatile}) FROM {table}"
                ).pl()
                out[table] = df.sort(df.columns)
        return out

    before = snapshot()
    assert fresh.run(day).success
    after = snapshot()
    for table in TABLES:
        assert after[table].height == before[table].height, table
        assert after[table].equals(before[table]), table
        assert after[table].is_duplicated().sum() == 0, table
