"""Erasure of a data subject end to end, suppression on re-ingestion, and the TTL on raw data."""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Pipeline, make_platform

from retail_assets.defs.governance import erasure as erasure_defs
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.governance.consent import APP_EVENT_DROP_REASONS, CUSTOMER_DROP_REASONS
from retail_assets.lib.governance.erasure import erase, read_erasure_log
from retail_assets.lib.governance.privacy import govern_app_events, govern_customers
from retail_assets.lib.governance.pseudonyms import Pseudonymizer
from retail_assets.lib.governance.subject import resolve_subject
from retail_assets.lib.governance.suppression import load_suppression, read_suppression
from retail_assets.lib.warehouse.lake import Lake

DAY1, DAY2 = "2025-03-01", "2025-03-02"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------- helpers


def arrow_strings(array) -> list[str]:
    """Every string in an Arrow array, nested ones included (decompressed Parquet content)."""
    if isinstance(array, pa.ChunkedArray):
        return [s for chunk in array.chunks for s in arrow_strings(chunk)]
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return [v for v in array.to_pylist() if v is not None]
    if pa.types.is_dictionary(kind):
        return arrow_strings(array.dictionary)
    if pa.types.is_struct(kind):
        return [s for child in array.flatten() for s in arrow_strings(child)]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return arrow_strings(array.flatten())
    return []


def parquet_strings(path: Path) -> list[str]:
    table = pq.read_table(path)
    return [s for column in table.columns for s in arrow_strings(column)]


def leaks(root: Path, needles: set[str]) -> dict[str, list[str]]:
    """Files under ``root`` whose raw bytes, or decompressed Parquet strings, hold a needle.

    Returns ``{file: [needle digest, ...]}`` so a failure does not print the needle itself.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = {n for n in needles if n.encode() in data or n.encode("utf-32-le") in data}
        if path.suffix == ".parquet":
            text = "\n".join(parquet_strings(path)).lower()
            hits |= {n for n in needles if n.lower() in text}
        if hits:
            found[str(path.relative_to(root))] = sorted(sha(h)[:12] for h in hits)
    return found


def catalog_counts(catalog: Path, people: dict[str, set[str]]) -> dict[str, dict[str, int]]:
    """Per catalog view: total rows and, per person, rows holding one of their pseudonyms."""
    counts: dict[str, dict[str, int]] = {}
    with duckdb.connect(str(catalog), read_only=True) as con:
        views = con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        for schema, view in views:
            name = f'"{schema}"."{view}"'
            columns = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? "
                    "AND table_name = ? AND data_type = 'VARCHAR'",
                    [schema, view],
                ).fetchall()
            ]
            entry = {"total": con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]}
            for person, keys in people.items():
                cond = " OR ".join(f'list_contains(?, "{c}")' for c in columns) or "false"
                entry[person] = con.execute(
                    f"SELECT count(*) FROM {name} WHERE {cond}", [sorted(keys)] * len(columns)
                ).fetchone()[0]
            counts[f"{schema}.{view}"] = entry
    return counts


@dataclass
class Person:
    customer_id: str
    user_pseudo_id: str
    email: str
    customer_key: str
    user_key: str
    #: Every pseudonym of theirs in the lake: customer key, device keys, app session keys.
    keys: set[str] = field(default_factory=set)

    @property
    def raw_ids(self) -> set[str]:
        return {self.customer_id, self.user_pseudo_id, self.email}


def pick_people(p: Pipeline, n: int) -> list[Person]:
    """Customers with analytics consent who have web sessions (logged in) and app events."""
    lake = p.lake
    ps = p.platform.pseudonymizer()
    sessions = lake.read("governed", "sessions")
    app = lake.read("governed", "app_events")
    both = set(sessions["customer_key"].drop_nulls()) & set(app["customer_key"])
    customers = lake.read("raw", "customers", landing=True).filter(
        pl.col("analytics_storage") == "Yes"
    )
    customers = customers.with_columns(ps.hash_series(customers["customer_id"]).alias("k"))
    chosen = customers.filter(pl.col("k").is_in(list(both))).sort("customer_id").head(n)
    assert chosen.height == n, "the simulation has too few active consenting customers"
    people = []
    for row in chosen.iter_rows(named=True):
        person = Person(
            customer_id=row["customer_id"],
            user_pseudo_id=row["user_pseudo_id"],
            email=row["email"],
            customer_key=row["k"],
            user_key=ps.hash_one(row["user_pseudo_id"]),
        )
        mine_web = sessions.filter(pl.col("customer_key") == person.customer_key)
        mine_app = app.filter(pl.col("customer_key") == person.customer_key)
        person.keys = (
            {person.customer_key, person.user_key}
            | set(mine_web["user_key"].drop_nulls())
            | set(mine_app["session_key"])
        )
        people.append(person)
    return people


def landing_rows(lake: Lake, person: Person) -> dict[str, int]:
    ids = list(person.raw_ids)
    out = {}
    for table, columns in {
        "customers": ["customer_id", "user_pseudo_id", "email"],
        "sessions": ["user_id", "user_pseudo_id"],
        "app_events": ["user_id"],
    }.items():
        frame = lake.read("raw", table, None, landing=True, columns=columns)
        out[table] = frame.filter(pl.any_horizontal(pl.col(c).is_in(ids) for c in columns)).height
    return out


def file_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*.parquet")
        if p.is_file()
    }


def run_erasure(p: Pipeline, **config) -> dg.ExecuteInProcessResult:
    return erasure_defs.erasure_job.execute_in_process(
        run_config={"ops": {"erase_data_subject": {"config": config}}},
        resources={"platform": p.platform},
        instance=p.instance,
        raise_on_error=False,
    )


@dataclass
class World:
    p: Pipeline
    a: Person
    b: Person
    before: dict[str, dict[str, int]]
    after: dict[str, dict[str, int]]
    landing_before: dict[str, dict[str, int]]
    matched_files: set[str]
    digests_before: dict[str, str]
    run_a: dg.ExecuteInProcessResult
    run_b: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Two days materialized, then A erased by customer id and B by pseudonym from a file."""
    root = tmp_path_factory.mktemp("erasure")
    p = Pipeline(root, customers=500)
    for day in (DAY1, DAY2):
        assert p.run(day).success, f"partition {day} failed"
    a, b = pick_people(p, 2)
    people = {"a": a.keys, "b": b.keys}
    before = catalog_counts(p.lake.warehouse_path, people)
    landing_before = {"a": landing_rows(p.lake, a), "b": landing_rows(p.lake, b)}
    needles = a.keys | b.keys | a.raw_ids | b.raw_ids
    matched_files = set(leaks(root, needles))
    digests_before = file_digests(root)

    run_a = run_erasure(p, identifiers=[a.customer_id], request_id="DSR-A")
    assert run_a.success
    secret = root / "dsr_b.txt"
    secret.write_text(f"# request B\n{b.customer_key}\n", encoding="utf-8")
    run_b = run_erasure(p, identifiers_file=str(secret), request_id="DSR-B")
    secret.unlink()
    assert run_b.success
    after = catalog_counts(p.lake.warehouse_path, people)
    return World(
        p, a, b, before, after, landing_before, matched_files, digests_before, run_a, run_b
    )


# ---------------------------------------------------------------------- end to end


def test_no_row_of_the_person_is_left_in_any_table(world: World):
    before, after = world.before, world.after
    for table in (
        "governed.sessions",
        "governed.app_events",
        "governed.customers",
        "features.user_daily_activity",
        "features.user_features",
    ):
        assert before[table]["a"] > 0 and before[table]["b"] > 0, table
    for table, counts in after.items():
        assert counts["a"] == 0 and counts["b"] == 0, table
    for who, person in (("a", world.a), ("b", world.b)):
        assert all(n > 0 for n in world.landing_before[who].values()), world.landing_before[who]
        assert landing_rows(world.p.lake, person) == {
            "customers": 0,
            "sessions": 0,
            "app_events": 0,
        }


def test_no_byte_of_their_pseudonyms_or_ids_is_left_in_any_file(world: World):
    root = world.p.root
    needles = world.a.keys | world.b.keys | world.a.raw_ids | world.b.raw_ids
    assert world.matched_files, "the scan found nothing before the erasure: it checks nothing"
    assert leaks(root, needles) == {}
    # The catalog holds views only, over the Parquet files: no data of its own.
    with duckdb.connect(str(world.p.lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0]


def test_other_rows_and_files_are_untouched(world: World):
    for table, counts in world.after.items():
        expected = world.before[table]["total"] - world.before[table]["a"]
        expected -= world.before[table]["b"]
        assert counts["total"] == expected, table
    customers = world.p.lake.read("raw", "customers", landing=True)
    assert customers.height == 500 - 2
    after = file_digests(world.p.root)
    untouched = {f for f in world.digests_before if f not in world.matched_files}
    assert untouched
    for name in untouched:
        assert after.get(name) == world.digests_before[name], f"{name} was rewritten"
    changed = {f for f in world.matched_files if after.get(f) != world.digests_before.get(f)}
    assert changed == {f for f in world.matched_files if f.endswith(".parquet")}


def test_erasure_log_and_suppression_list_hold_digests_and_counts_only(world: World):
    lake = world.p.lake
    log = read_erasure_log(lake)
    assert [r["request_id"] for r in log] == ["DSR-A", "DSR-B"]
    for record, person, who in ((log[0], world.a, "a"), (log[1], world.b, "b")):
        assert record["pseudonym_count"] == len(record["pseudonym_sha256"]) >= 2
        assert {sha(person.customer_key), sha(person.user_key)} <= set(record["pseudonym_sha256"])
        tables = record["tables"]
        for table in ("governed.sessions", "governed.app_events", "governed.customers"):
            assert tables[table]["rows_removed"] == world.before[table][who], table
        assert tables["landing:raw.customers"]["rows_removed"] == 1
        assert record["unresolved"] == [] and record["catalog_tables"] == 0
    text = (lake.lake_root / "governance" / "erasure_log.jsonl").read_text()
    for secret in world.a.keys | world.b.keys | world.a.raw_ids | world.b.raw_ids:
        assert secret not in text

    suppression = read_suppression(lake)
    assert set(suppression.columns) == {"pseudonym_sha256", "key_id", "erased_at", "request_id"}
    digests = load_suppression(lake)
    for person in (world.a, world.b):
        assert {sha(person.customer_key), sha(person.user_key)} <= digests
    assert set(suppression["request_id"]) == {"DSR-A", "DSR-B"}
    assert set(suppression.filter(pl.col("key_id") != "unknown")["key_id"]) == {"demo"}


def test_the_jobs_log_no_identifier(world: World):
    secrets = world.a.keys | world.b.keys | world.a.raw_ids | world.b.raw_ids
    for result in (world.run_a, world.run_b):
        messages = [e.user_message or "" for e in world.p.instance.all_logs(result.run_id)]
        assert any("removed" in m for m in messages)
        for message in messages:
            assert not any(s in message for s in secrets)
    warned = [e.user_message for e in world.p.instance.all_logs(world.run_a.run_id)]
    assert any("raw identifier(s) were passed in the run config" in m for m in warned)


def test_a_late_reexport_is_dropped_on_ingestion(world: World):
    """GA4 re-exports a day: the simulator re-creates their events; governance drops them."""
    p, a, b = world.p, world.a, world.b
    result = p.run(
        DAY1,
        selection="raw/sessions,governed/sessions,governed/consent_audit,"
        "raw/app_events,governed/app_events",
    )
    assert result.success
    ids = [a.customer_id, a.user_pseudo_id, b.customer_id, b.user_pseudo_id]
    raw = p.lake.read("raw", "sessions", [DAY1], landing=True)
    mine = raw.filter(pl.col("user_id").is_in(ids) | pl.col("user_pseudo_id").is_in(ids))
    assert mine.height > 0, "the re-export has no rows of theirs: the test would prove nothing"

    keys = sorted(a.keys | b.keys)
    sessions = p.lake.read("governed", "sessions", [DAY1])
    assert sessions.height > 0
    assert sessions.filter(
        pl.col("customer_key").is_in(keys) | pl.col("user_key").is_in(keys)
    ).is_empty()
    app = p.lake.read("governed", "app_events", [DAY1])
    assert app.filter(pl.col("customer_key").is_in(keys)).is_empty()

    audit = p.lake.read("governed", "consent_audit", [DAY1]).row(0, named=True)
    assert audit["dropped_erased"] == mine.height > 0
    dropped = sum(v for k, v in audit.items() if k.startswith("dropped_"))
    assert audit["rows_in"] == audit["rows_kept"] + dropped

    # The customer base rebuilt from the source (a CRM export, say) drops them too.
    assert p.reference().success
    customers = p.lake.read("governed", "customers")
    assert customers.height > 0
    assert customers.filter(pl.col("customer_key").is_in(keys)).is_empty()


# ---------------------------------------------------------------------- lib, small


def test_erase_reaches_nested_strings_catalog_tables_and_flags_artifacts(tmp_path):
    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "warehouse.duckdb")
    key, other = sha("person"), sha("someone else")
    nested = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "params": [
                [{"k": "a", "v": "x"}],
                [{"k": "ref", "v": f"key={key}"}],
                [{"k": "ref", "v": other}],
            ],
        }
    )
    lake.write_partition(nested, "features", "nested", DAY1)
    lake.write_partition(nested.filter(pl.col("id") == 3), "features", "nested", DAY2)
    clean = lake.partition_path("features", "nested", DAY2).read_bytes()
    raw = pl.DataFrame({"user_id": ["C1", "C2"], "email": ["Ann@Example.com ", "b@x.org"]})
    lake.write_partition(raw, "raw", "customers", None, landing=True)
    registry = tmp_path / "lake" / "models" / "propensity" / "v0001"
    registry.mkdir(parents=True)
    (registry / "model.pkl").write_bytes(pickle.dumps({"keys": np.array([key])}))
    (registry / "metadata.json").write_text('{"rows": 3}')
    with duckdb.connect(str(lake.warehouse_path)) as con:
        con.execute("CREATE TABLE scratch AS SELECT * FROM (VALUES (?), (?)) t(k)", [key, other])

    report = erase(lake, {key}, {"ann@example.com", "C9"}, request_id="R1")

    assert lake.read("features", "nested")["id"].to_list() == [1, 3, 3]
    assert lake.partition_path("features", "nested", DAY2).read_bytes() == clean
    assert lake.read("raw", "customers", landing=True)["user_id"].to_list() == ["C2"]
    assert report.tables["features.nested"].rows_removed == 1
    assert report.tables["landing:raw.customers"].rows_removed == 1
    # A pickle cannot be rewritten: it is reported, the metadata without the key is not.
    assert [Path(f).name for f in report.unresolved] == ["model.pkl"]
    assert report.catalog_tables == 1 and report.catalog_rows_removed == 1
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT k FROM scratch").fetchall() == [(other,)]
    assert read_erasure_log(lake)[0]["rows_removed"] == 3
    # Nothing more to remove on a retry.
    assert erase(lake, {key}, {"ann@example.com"}, log=False).rows_removed == 0


def test_resolve_subject_finds_all_their_ids_but_not_a_shared_browser(tmp_path):
    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "warehouse.duckdb")
    old, new = Pseudonymizer("o" * 40, "k0"), Pseudonymizer("n" * 40, "k1")
    customers = pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "user_pseudo_id": ["1.1", "2.2"],
            "email": ["Ann@Example.com", "bob@example.com"],
        }
    )
    lake.write_partition(customers, "raw", "customers", None, landing=True)
    sessions = pl.DataFrame(
        {
            # C1 logs in on her own browser 1.1, on a phone 9.9 and on a shared PC 5.5.
            "user_id": ["C1", "C1", None, "C1", "C2", None],
            "user_pseudo_id": ["1.1", "9.9", "9.9", "5.5", "5.5", "7.7"],
        }
    )
    lake.write_partition(sessions, "raw", "sessions", DAY1, landing=True)
    app = pl.DataFrame({"user_id": ["C1", "C2"], "session_id": ["C1-1-1", "C2-1-1"]})
    lake.write_partition(app, "raw", "app_events", DAY1, landing=True)

    for given in (["  ann@EXAMPLE.com "], [old.hash_one("C1")], [new.hash_one("1.1")]):
        subject = resolve_subject(lake, given, [new, old])
        assert {"C1", "1.1", "Ann@Example.com", "9.9", "C1-1-1"} <= subject.raw_ids, given
        assert not {"5.5", "7.7", "C2", "2.2"} & subject.raw_ids
        assert subject.customers_found == 1 and subject.unmatched == 0
        for value in ("C1", "9.9", "C1-1-1"):
            assert subject.pseudonyms[new.hash_one(value)] == "k1"
            assert subject.pseudonyms[old.hash_one(value)] == "k0"
        assert new.hash_one("5.5") not in subject.pseudonyms
        assert "C1" not in repr(subject) and new.hash_one("C1") not in repr(subject)

    nobody = resolve_subject(lake, ["C404", sha("nobody")], [new])
    assert nobody.unmatched == 2 and nobody.customers_found == 0
    assert nobody.pseudonyms[sha("nobody")] == "unknown"


def test_govern_drops_suppressed_people_first_and_counts_reconcile():
    ps = Pseudonymizer(key="k" * 40, key_id="test")
    ids = ["C1", "C2", "C3"]
    customers = pl.DataFrame(
        {
            "customer_id": ids,
            "user_pseudo_id": ["1.1", "2.2", "3.3"],
            "persona": ["Family Shopper"] * 3,
            "age": [30, 40, 50],
            "income_band": ["middle"] * 3,
            "household_size": [2] * 3,
            "home_store": ["S001"] * 3,
            "first_seen": [dt.date(2024, 1, 1)] * 3,
            "analytics_storage": ["Yes", "No", "Yes"],
            "ads_storage": ["Yes"] * 3,
            "ad_user_data": ["Yes"] * 3,
            "ad_personalization": ["Yes"] * 3,
        }
    )
    # C1 is erased by customer id; C2 (consent denied too) by client id: erasure wins.
    suppressed = {sha(ps.hash_one("C1")), sha(ps.hash_one("2.2"))}
    governed, counts = govern_customers(customers, ps, suppressed)
    assert governed["customer_key"].to_list() == [ps.hash_one("C3")]
    assert counts["dropped_erased"] == 2 and counts["dropped_analytics_denied"] == 0
    assert counts["rows_in"] == counts["rows_kept"] + sum(counts[k] for k in CUSTOMER_DROP_REASONS)
    assert govern_customers(customers, ps)[1]["dropped_erased"] == 0

    ts = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    events = pl.DataFrame(
        {
            "event_id": ["E1", "E2", "E3", "E4"],
            "event_date": [dt.date(2025, 3, 1)] * 4,
            "event_timestamp": [ts] * 4,
            "user_id": ["C1", "C3", "C3", "X9"],
            "session_id": ["C1-1", "C3-1", "C3-2", "X9-1"],
            "event_type": ["view"] * 4,
            "product_id": ["P1"] * 4,
            "category": ["Grocery"] * 4,
            "price": [1.0] * 4,
        }
    )
    # A session key on the list drops its events even without the customer id.
    suppressed |= {sha(ps.hash_one("C3-2"))}
    governed, counts = govern_app_events(events, customers, ps, suppressed)
    assert governed["event_id"].to_list() == ["E2"]
    assert counts["dropped_erased"] == 2 and counts["dropped_unknown_customer"] == 1
    assert counts["rows_in"] == counts["rows_kept"] + sum(counts[k] for k in APP_EVENT_DROP_REASONS)


# ---------------------------------------------------------------------- retention


def _write_landing(lake: Lake, day: str) -> None:
    frame = pl.DataFrame({"user_id": ["C1"], "event_date": [day]})
    lake.write_partition(frame, "raw", "sessions", day, landing=True)


def test_raw_retention_deletes_only_old_landing_partitions(tmp_path):
    platform = make_platform(tmp_path, customers=50, raw_retention_days=3)
    lake = platform.lake()
    days = ["2025-02-26", "2025-02-27", "2025-02-28", "2025-03-01", "2025-03-02"]
    for day in days:
        _write_landing(lake, day)
    lake.write_partition(pl.DataFrame({"customer_id": ["C1"]}), "raw", "customers", None, True)
    # Lake tables as old as can be: never touched.
    for schema, table in (("raw", "sessions"), ("governed", "sessions")):
        lake.write_partition(pl.DataFrame({"x": [1]}), schema, table, "2024-01-01")
    lake_files = file_digests(tmp_path / "lake")
    inbox = platform.inbox("ga4") / "old_export.json"
    inbox.parent.mkdir(parents=True)
    inbox.write_text("{}")

    defs = dg.Definitions.merge(erasure_defs.defs, dg.Definitions(resources={"platform": platform}))
    job = defs.resolve_job_def("raw_retention")

    def run(**config):
        result = job.execute_in_process(
            run_config={"ops": {"expire_raw_data": {"config": config}}}, raise_on_error=False
        )
        assert result.success
        return sorted(p.name for p in lake.table_dir("raw", "sessions", landing=True).iterdir())

    # Dry run: nothing goes. Then the platform's 3 days: cutoff 2025-02-28.
    assert run(as_of="2025-03-03", dry_run=True) == [f"date={d}" for d in days]
    assert run(as_of="2025-03-03") == [f"date={d}" for d in days[2:]]
    # A run's own retention: 1 day, cutoff 2025-03-02.
    assert run(as_of="2025-03-03", retention_days=1) == ["date=2025-03-02"]
    assert lake.read("raw", "customers", landing=True).height == 1
    assert inbox.exists()
    assert file_digests(tmp_path / "lake") == lake_files

    schedule = defs.resolve_schedule_def("raw_retention_daily")
    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_job_def("erasure").name == "erasure"


def test_raw_retention_refuses_a_landing_area_inside_the_lake(tmp_path):
    platform = RetailPlatform(
        lake_root=str(tmp_path / "lake"),
        landing_root=str(tmp_path / "lake" / "landing"),
        warehouse_path=str(tmp_path / "warehouse.duckdb"),
    )
    lake = platform.lake()
    _write_landing(lake, "2020-01-01")
    result = erasure_defs.raw_retention_job.execute_in_process(
        resources={"platform": platform}, raise_on_error=False
    )
    assert not result.success
    assert lake.partition_files("raw", "sessions", landing=True)


def test_retention_setting_reads_the_environment():
    from retail_assets.lib.settings import Settings, SettingsError

    assert Settings.from_env({}).raw_retention_days == 30
    assert Settings.from_env({"RETAIL_RAW_RETENTION_DAYS": "7"}).raw_retention_days == 7
    with pytest.raises(SettingsError, match="RETAIL_RAW_RETENTION_DAYS"):
        Settings.from_env({"RETAIL_RAW_RETENTION_DAYS": "0"})
