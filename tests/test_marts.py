"""Every SQL mart under dbt_like_sql/ run on a tiny hand-made world, checked against hand sums.

The world (built once per module, in ``tmp_path``):

- two categories: ``produce`` (NAICS 445; products A1, A2) and ``toys`` (NAICS 451; B1);
  two stores, S1 and S2;
- store sales on the three complete weeks Mon 2025-03-03 .. Sun 2025-03-23: one line per
  category and day (produce: S2/A1 at 10.00 a unit; toys: S1/B1, two units), plus four extra
  produce lines on Mon 03-17 (two baskets, one basket shared with the toys line);
- signals for the four weeks 2025-02-24 .. 2025-03-23 (28 days): per category and day one
  review, one or two social mentions and one search row (search sentiment 0.9 is never averaged);
  the toys review sentiment is (toys revenue - 100) / 100 and its social sentiment -1/2 of that,
  so their correlation with toys revenue is exactly +1 and -1;
- a calendar for February and March 2025: weekends, the festival Purim on Thu 03-13 and
  "Holi, Purim" on Fri 03-14, and the promotion "Spring Sale" on Wed 03-19;
- four consented customers (personas family_shopper x2, deal_seeker, premium) with app events
  and logged-in web sessions, and one anonymous web visitor;
- Census MRTS rows: NAICS 445 monthly from 2023-03 to 2024-03 (plus 2025-01), NAICS 451 the
  same months but with 2023-08 suppressed "(S)".

Every expected value below is a literal worked out by hand (the comment shows the arithmetic).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from retail_assets.defs.features.assets import _empty_frame, load, view_models
from retail_assets.lib.warehouse import schemas
from retail_assets.lib.warehouse.frames import LINEAGE_COLUMNS, with_lineage
from retail_assets.lib.warehouse.lake import Lake
from retail_assets.lib.warehouse.sql_models import SqlModel
from retail_assets.lib.warehouse.sql_runner import Materialized, materialize

RUN_ID = "00000000-0000-4000-8000-000000000001"
NOW = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
UTC = dt.UTC


def d(month: int, day: int, year: int = 2025) -> dt.date:
    return dt.date(year, month, day)


def ts(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=UTC)


def micros(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000


def days(start: dt.date, n: int) -> list[dt.date]:
    return [start + dt.timedelta(i) for i in range(n)]


# --------------------------------------------------------------------------- keys

# Pseudonymous keys must be 64 hex characters: a two-character tag repeated.
C1, C2, C3, C4 = ("c1" * 32, "c2" * 32, "c3" * 32, "c4" * 32)  # customer_key
U1, U2, U3, U4, U9 = ("a1" * 32, "a2" * 32, "a3" * 32, "a4" * 32, "a9" * 32)  # user_key
S1A, S1B, S1C, S1D, S2A, S3A, S3B, S3C, S4A = (f"e{i}" * 32 for i in range(1, 10))  # sessions

# --------------------------------------------------------------------------- inputs

SALES_DAYS = days(d(3, 3), 21)  # Mon 03-03 .. Sun 03-23
SIGNAL_DAYS = days(d(2, 24), 28)  # Mon 02-24 .. Sun 03-23
# Revenue of the one base line per category and day, Mon..Sun for each of the three weeks.
PRODUCE_REVENUE = [200, 200, 200, 200, 200, 300, 300,
                   250, 250, 250, 280, 320, 350, 350,
                   200, 200, 260, 200, 200, 300, 300]  # fmt: skip
TOYS_REVENUE = [100, 100, 100, 100, 100, 150, 150,
                80, 80, 80, 120, 120, 120, 120,
                100, 100, 150, 100, 100, 150, 150]  # fmt: skip


def catalog_rows() -> list[tuple]:
    return [
        ("A1", "brand produce 1", "produce", 10.0, "445"),
        ("A2", "brand produce 2", "produce", 2.5, "445"),
        ("B1", "brand toys 1", "toys", 50.0, "451"),
    ]


def transaction_rows(sales_days: list[dt.date] = SALES_DAYS) -> list[tuple]:
    rows = []
    for day in sales_days:
        i = (day - SALES_DAYS[0]).days
        t = dt.datetime.combine(day, dt.time(10), UTC)
        a, b = PRODUCE_REVENUE[i], TOYS_REVENUE[i]
        # produce: a/10 units of A1 at 10.00 in S2; toys: 2 units of B1 at b/2 in S1
        rows.append((f"tA-{day}", f"bA-{day}", day, t, "S2", "A1", "produce", a // 10, 10.0, a))
        rows.append((f"tB-{day}", f"bB-{day}", day, t, "S1", "B1", "toys", 2, b / 2, float(b)))
    if d(3, 17) in sales_days:
        day, t = d(3, 17), ts(3, 17, 15)
        rows += [
            ("x1", "K1", day, t, "S2", "A1", "produce", 2, 12.5, 25.0),
            ("x2", "K1", day, t, "S2", "A2", "produce", 4, 2.5, 10.0),
            ("x3", "K2", day, t, "S1", "A2", "produce", 1, 2.75, 2.75),
            # same basket as the toys line of the day: one receipt, two categories
            ("x4", "bB-2025-03-17", day, t, "S1", "A2", "produce", 1, 1.25, 1.25),
        ]
    return rows


PRODUCE_WEEK3 = [  # (source, sentiment, volume) per day, Mon 03-17 .. Sun 03-23
    [("review", 0.8, 1), ("social", 0.4, 1), ("search", 0.9, 8)],
    [("review", 0.6, 1), ("social", 0.2, 1), ("search", 0.9, 8)],
    [("review", 0.4, 1), ("social", 0.4, 1), ("search", 0.9, 10)],
    [("review", 0.2, 1), ("social", 0.2, 1), ("search", 0.9, 8)],
    [("review", 0.0, 1), ("social", 0.4, 1), ("search", 0.9, 8)],
    [("review", -0.2, 1), ("social", 0.2, 1), ("search", 0.9, 10)],
    [("review", -0.4, 1), ("review", 0.2, 1), ("social", 0.5, 1), ("search", 0.9, 12)],
]


def signal_rows() -> list[tuple]:
    rows = []
    for i, day in enumerate(SIGNAL_DAYS):
        week = i // 7  # 0 = 02-24, 1 = 03-03, 2 = 03-10, 3 = 03-17
        if week <= 1:
            social = 0.1 if week == 0 else 0.2
            produce = [("review", 0.4, 1), ("social", social, 1), ("search", 0.9, 5)]
        elif week == 2:
            produce = [("review", 0.6, 1), ("social", 0.0, 1), ("social", 0.4, 1),
                       ("search", 0.9, 8)]  # fmt: skip
        else:
            produce = PRODUCE_WEEK3[i - 21]
        r = 0.0 if week == 0 else (TOYS_REVENUE[i - 7] - 100) / 100
        toys = [("review", r, 1), ("social", -r / 2, 1), ("search", 0.9, [10, 10, 20, 30][week])]
        for category, signals in (("produce", produce), ("toys", toys)):
            for k, (source, sentiment, volume) in enumerate(signals):
                rating = 4 if source == "review" else None
                row = (f"s-{category}-{day}-{k}", day, category, source, "text", rating,
                       sentiment, volume)  # fmt: skip
                rows.append(row)
    return rows


def calendar_rows() -> list[tuple]:
    festivals = {d(3, 13): "Purim", d(3, 14): "Holi, Purim"}
    promotions = {d(3, 19): ("Spring Sale", 0.15)}
    rows = []
    for day in days(d(2, 1), 59):  # 2025-02-01 .. 2025-03-31
        dow = day.isoweekday()
        festival = festivals.get(day)
        promotion, discount = promotions.get(day, (None, 0.0))
        rows.append((day, dow, dow >= 6, festival, festival is not None, promotion, discount))
    return rows


def census_rows() -> list[tuple]:
    rows = []
    # 2023-03 .. 2024-03, 13 months
    months = [d(m, 1, 2023) for m in range(3, 13)] + [d(m, 1, 2024) for m in (1, 2, 3)]
    for k, month in enumerate(months):
        # NAICS 445: all published; 2023-03 = 80000, 2024-03 = 84000
        nsa = {0: 80000.0, 12: 84000.0}.get(k, 81000.0 + 100 * k)
        rows.append((month, "445", "Food and beverage stores", "NSA", nsa, None, False))
        # NAICS 451: 2023-08 suppressed; 2023-03 = 2000, 2024-03 = 1800
        if month == d(8, 1, 2023):
            rows.append((month, "451", "Hobby and toy stores", "NSA", None, "(S)", False))
        else:
            nsa = {0: 2000.0, 12: 1800.0}.get(k, 1900.0)
            rows.append((month, "451", "Hobby and toy stores", "NSA", nsa, None, False))
    rows += [
        (d(3, 1, 2024), "445", "Food and beverage stores", "SA", 78000.0, None, False),
        (d(3, 1, 2024), "451", "Hobby and toy stores", "SA", 2000.0, None, False),
        # later, but another calendar month: never the context of March sales
        (d(1, 1, 2025), "445", "Food and beverage stores", "NSA", 79000.0, None, True),
        (d(1, 1, 2025), "445", "Food and beverage stores", "SA", 85000.0, None, True),
        # aggregate (no NAICS code): ignored
        (d(3, 1, 2024), None, "Retail sales, total", "NSA", 600000.0, None, False),
    ]
    return rows


def customer_rows() -> list[tuple]:
    def c(key, user, persona):
        return (key, user, "k1", persona, "25-34", "middle", 2, "S1", d(1, 1), "Yes", "Yes", "Yes")

    return [
        c(C1, U1, "family_shopper"),
        c(C2, U2, "family_shopper"),
        c(C3, U3, "deal_seeker"),
        c(C4, U4, "premium"),
    ]


APP_EVENTS = [  # (id, time, customer, session, type, product, category, price)
    ("ev01", ts(2, 25, 10, 0), C1, S1A, "view", "A1", "produce", 20.0),
    ("ev02", ts(2, 25, 10, 1), C1, S1A, "add_to_cart", "A1", "produce", 20.0),
    ("ev03", ts(2, 25, 10, 2), C1, S1A, "purchase", "A1", "produce", 20.0),
    ("ev04", ts(3, 17, 18, 0), C1, S1B, "view", "B1", "toys", 40.0),
    ("ev05", ts(3, 17, 18, 1), C1, S1B, "view", "A2", "produce", 5.0),
    ("ev06", ts(3, 17, 18, 2), C1, S1B, "add_to_cart", "B1", "toys", 40.0),
    ("ev07", ts(3, 17, 18, 3), C1, S1B, "add_to_cart", "A2", "produce", 5.0),
    ("ev08", ts(3, 17, 18, 5), C1, S1B, "purchase", "B1", "toys", 40.0),
    ("ev09", ts(3, 17, 18, 5), C1, S1B, "purchase", "A2", "produce", 5.0),
    ("ev10", ts(3, 23, 9, 0), C1, S1C, "view", "A1", "produce", 20.0),
    ("ev11", ts(3, 23, 9, 2), C1, S1C, "view", "A1", "produce", 20.0),
    ("ev12", ts(3, 23, 9, 3), C1, S1C, "add_to_cart", "A1", "produce", 20.0),
    ("ev13", ts(3, 23, 9, 4), C1, S1C, "add_to_cart", "A2", "produce", 2.5),
    ("ev14", ts(3, 22, 9, 30), C1, S1D, "view", "A1", "produce", 20.0),
    ("ev15", ts(3, 13, 12, 0), C2, S2A, "view", "A1", "produce", 30.0),
    ("ev16", ts(3, 13, 12, 1), C2, S2A, "add_to_cart", "A1", "produce", 30.0),
    ("ev17", ts(3, 13, 12, 2), C2, S2A, "purchase", "A1", "produce", 30.0),
    ("ev18", ts(3, 5, 20, 0), C3, S3A, "view", "B1", "toys", 25.0),
    ("ev19", ts(3, 5, 20, 1), C3, S3A, "add_to_cart", "B1", "toys", 25.0),
    ("ev20", ts(3, 5, 20, 2), C3, S3A, "purchase", "B1", "toys", 25.0),
    ("ev21", ts(3, 14, 20, 0), C3, S3B, "view", "B1", "toys", 35.0),
    ("ev22", ts(3, 14, 20, 3), C3, S3B, "purchase", "B1", "toys", 35.0),
    ("ev23", ts(3, 15, 11, 0), C3, S3C, "view", "A1", "produce", 10.0),
    ("ev24", ts(3, 15, 11, 1), C3, S3C, "add_to_cart", "A1", "produce", 10.0),
    ("ev25", ts(3, 15, 11, 2), C3, S3C, "purchase", "A1", "produce", 10.0),
    ("ev26", ts(2, 21, 8, 0), C4, S4A, "view", "A2", "produce", 2.5),
    ("ev27", ts(2, 21, 8, 1), C4, S4A, "add_to_cart", "A2", "produce", 2.5),
]


def app_event_rows(events=APP_EVENTS) -> list[tuple]:
    return [
        (eid, t.date(), t, cust, "k1", sess, kind, product, cat, price)
        for eid, t, cust, sess, kind, product, cat, price in events
    ]


WEB_EVENTS = [  # (time, name, user_key, customer_key, ga_session_id, item, category, revenue, tx)
    # C1, logged in, session 101 on Sat 03-22: two orders
    (ts(3, 22, 14, 0), "page_view", U1, C1, 101, None, None, None, None),
    (ts(3, 22, 14, 1), "view_item", U1, C1, 101, "B1", "toys", None, None),
    (ts(3, 22, 14, 2), "add_to_cart", U1, C1, 101, "B1", "toys", None, None),
    (ts(3, 22, 14, 5), "purchase", U1, C1, 101, "B1", "toys", 60.0, "T-101"),
    (ts(3, 22, 14, 30), "purchase", U1, C1, 101, "A1", "produce", 12.0, "T-102"),
    # C2, session 201 on Thu 03-20
    (ts(3, 20, 19, 0), "page_view", U2, C2, 201, None, None, None, None),
    (ts(3, 20, 19, 1), "view_item", U2, C2, 201, "A2", "produce", None, None),
    (ts(3, 20, 19, 4), "purchase", U2, C2, 201, "A2", "produce", 15.0, "T-201"),
    # C3 on 03-22: same ga_session_id as C1's session, another user, so another session
    (ts(3, 22, 16, 0), "view_item", U3, C3, 101, "A1", "produce", None, None),
    # an anonymous visitor (no customer_key): a purchase on 03-20, a visit on 03-22
    (ts(3, 20, 8, 0), "page_view", U9, None, 901, None, None, None, None),
    (ts(3, 20, 8, 1), "view_item", U9, None, 901, "B1", "toys", None, None),
    (ts(3, 20, 8, 2), "add_to_cart", U9, None, 901, "B1", "toys", None, None),
    (ts(3, 20, 8, 3), "purchase", U9, None, 901, "B1", "toys", 50.0, "T-901"),
    (ts(3, 22, 21, 0), "page_view", U9, None, 902, None, None, None, None),
]


def session_rows(events=WEB_EVENTS) -> list[tuple]:
    rows = []
    for t, name, user, cust, sid, item, cat, revenue, tx in events:
        row = (t.date(), micros(t), name, user, cust, "k1", sid, 1, "Yes", "Yes",
               f"/p/{item or 'home'}", "google", "organic", "Organic Search", "Organic Search",
               "mobile", "US", cat, item, 1 if item else None, revenue, tx)  # fmt: skip
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- helpers


def frame(table: str, rows: list[tuple]) -> pl.DataFrame:
    """Rows as a frame with exactly the registered types, stamped and validated."""
    empty = _empty_frame(tuple(table.split(".")))  # type: ignore[arg-type]
    schema = {k: v for k, v in empty.schema.items() if k not in LINEAGE_COLUMNS}
    df = with_lineage(pl.DataFrame(rows, schema=schema, orient="row"), RUN_ID, NOW)
    report = schemas.validate(table, df)
    assert report.passed, report.message()
    return df


def write(lake: Lake, table: str, rows: list[tuple], by: str | None = None) -> None:
    """Write an input table: one partition per day of column ``by``, or unpartitioned."""
    df = frame(table, rows)
    schema, name = table.split(".")
    if by is None:
        lake.write_partition(df, schema, name, None)
        return
    for (day,), part in df.group_by(by, maintain_order=True):
        lake.write_partition(part, schema, name, day.isoformat())


def new_lake(root: Path) -> Lake:
    return Lake(root / "lake", root / "landing", root / "warehouse.duckdb")


MODELS = {m.name: m for m in load()}
BY_TABLE = {m.table: m for m in MODELS.values()}
VIEWS = view_models(BY_TABLE)


def run(lake: Lake, name: str, start: dt.date | None = None, end: dt.date | None = None):
    """Materialize one model as its asset does (optional inputs read as empty frames)."""
    model: SqlModel = MODELS[name]
    optional = {ref: _empty_frame(ref) for ref in model.optional_refs if ref not in BY_TABLE}
    return materialize(model, lake, start, end, RUN_ID, optional, VIEWS)


def keyed(df: pl.DataFrame, *keys: str) -> dict:
    """Rows by key (one column: the value; several: a tuple), lineage columns dropped."""
    df = df.drop([c for c in LINEAGE_COLUMNS if c in df.columns])
    out = {}
    for row in df.iter_rows(named=True):
        k = row[keys[0]] if len(keys) == 1 else tuple(row[c] for c in keys)
        assert k not in out, f"duplicate key {k}"
        out[k] = row
    return out


def check(row: dict, **expected) -> None:
    """Every expected column equals the row's value (floats to 1e-9)."""

    def same(got, want) -> bool:
        if isinstance(want, float) and isinstance(got, int | float):
            return got == pytest.approx(want, rel=1e-9, abs=1e-9)
        return got == want

    bad = {k: {"got": row[k], "want": v} for k, v in expected.items() if not same(row[k], v)}
    assert not bad, bad


# --------------------------------------------------------------------------- the world

# Windows each model is run for, in two runs where that exercises the lookback.
WINDOWS: dict[str, list[tuple[dt.date | None, dt.date | None]]] = {
    "daily_sales_by_category": [(d(3, 3), d(3, 17)), (d(3, 17), d(3, 24))],
    "daily_category_signals": [(d(2, 24), d(3, 17)), (d(3, 17), d(3, 24))],
    "daily_sales_by_store_product": [(d(3, 3), d(3, 24))],
    "online_purchases": [(None, None)],
    "user_daily_activity": [(d(2, 20), d(3, 10)), (d(3, 10), d(3, 24))],
    "user_features": [(d(3, 22), d(3, 23)), (d(3, 23), d(3, 24))],
    "executive_summary": [(d(3, 17), d(3, 20)), (d(3, 20), d(3, 24))],
}


@dataclass
class World:
    lake: Lake
    done: dict[str, Materialized] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def table(self, name: str, *keys: str) -> dict:
        """The mart as written, by key; fails with the run's error if it did not run."""
        assert name not in self.errors, f"{name} failed: {self.errors[name]}"
        if MODELS[name].materialized == "view":
            return keyed(self.done[name].result.frame, *keys)
        return keyed(self.lake.read("features", name), *keys)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    lake = new_lake(tmp_path_factory.mktemp("marts"))
    write(lake, "raw.product_catalog", catalog_rows())
    write(lake, "raw.retail_calendar", calendar_rows())
    write(lake, "raw.census_retail_sales", census_rows())
    write(lake, "raw.transactions", transaction_rows(), by="transaction_date")
    write(lake, "raw.signals", signal_rows(), by="signal_date")
    write(lake, "governed.customers", customer_rows())
    write(lake, "governed.app_events", app_event_rows(), by="event_date")
    write(lake, "governed.sessions", session_rows(), by="event_date")
    w = World(lake)
    for name in MODELS:  # dependency order
        try:
            for start, end in WINDOWS.get(name, [(None, None)]):
                w.done[name] = run(lake, name, start, end)
        except Exception as exc:  # reported by the mart's own test
            w.errors[name] = f"{type(exc).__name__}: {exc}"
    return w


# --------------------------------------------------------------------------- marts


def test_every_model_is_covered():
    """A new model under dbt_like_sql/ needs its own hand-computed test here."""
    tested = {
        "daily_category_signals", "daily_sales_by_category", "daily_sales_by_store_product",
        "online_purchases", "user_daily_activity", "user_features", "weekly_sales_direction",
        "persona_performance", "calendar_uplift", "executive_summary",
        "sentiment_sales_correlation",
    }  # fmt: skip
    assert set(MODELS) == tested


def test_daily_category_signals(world):
    t = world.table("daily_category_signals", "signal_date", "category")
    assert len(t) == 56  # 28 days x 2 categories
    # produce, Sun 03-23: reviews -0.4 and 0.2, one mention 0.5, 12 searches
    check(
        t[(d(3, 23), "produce")],
        review_count=2,
        search_volume=12,
        social_count=1,
        event_volume=15,  # 2 + 12 + 1
        sentiment_mean=0.1,  # (-0.4 + 0.2 + 0.5) / 3; search sentiment 0.9 left out
        sentiment_var=0.21,  # ((-0.5)^2 + 0.1^2 + 0.4^2) / (3 - 1) = 0.42 / 2
        review_sentiment_mean=-0.1,  # (-0.4 + 0.2) / 2
        social_sentiment_mean=0.5,
        # 03-17..03-23 volumes 10, 10, 12, 10, 10, 12, 15
        volume_7d_mean=79 / 7,
        # daily means 0.6, 0.4, 0.4, 0.2, 0.2, 0.0, 0.1
        sentiment_7d_mean=1.9 / 7,
        # (sum of squares 0.77 - 1.9^2 / 7) / 6 = (5.39 - 3.61) / 42
        sentiment_7d_var=1.78 / 42,
        # 02-24..03-23: weeks of 7 x 7, 7 x 7, 7 x 11 (1 + 2 + 8) and 79 = 254
        volume_28d_mean=254 / 28,
        # daily means: 7 x 0.25, 7 x 0.3, 7 x 1/3, and 1.9 for the last week
        # = 5.75 + 7/3 = 24.25 / 3
        sentiment_28d_mean=24.25 / 84,
        # squares 7 x 0.0625 + 7 x 0.09 + 7/9 + 0.77 = 23.5375/9; minus 28 x (24.25/84)^2
        # = 588.0625/252 -> (659.05 - 588.0625) / 252 / 27
        sentiment_28d_var=70.9875 / 6804,
        days_in_28d_window=28,
    )
    # produce, Sun 03-16: a review 0.6, mentions 0.0 and 0.4, 8 searches; a constant week
    check(
        t[(d(3, 16), "produce")],
        review_count=1,
        search_volume=8,
        social_count=2,
        event_volume=11,
        sentiment_mean=1 / 3,  # (0.6 + 0.0 + 0.4) / 3
        sentiment_var=0.28 / 3,  # (0.36 + 0 + 0.16 - 3 x (1/3)^2) / 2 = (0.52 - 1/3) / 2
        review_sentiment_mean=0.6,
        social_sentiment_mean=0.2,
        volume_7d_mean=11.0,
        sentiment_7d_mean=1 / 3,
        sentiment_7d_var=0.0,
        volume_28d_mean=175 / 21,  # only 21 days of history: 49 + 49 + 77
        days_in_28d_window=21,
    )
    # the first day: one day in every window, no variance yet
    check(
        t[(d(2, 24), "produce")],
        event_volume=7,  # 1 + 1 + 5
        sentiment_mean=0.25,  # (0.4 + 0.1) / 2
        volume_7d_mean=7.0,
        sentiment_7d_var=None,
        days_in_28d_window=1,
    )
    # toys, Sat 03-22: review 0.5, mention -0.25, 30 searches
    check(
        t[(d(3, 22), "toys")],
        review_count=1,
        search_volume=30,
        social_count=1,
        event_volume=32,
        sentiment_mean=0.125,  # (0.5 - 0.25) / 2
        sentiment_var=0.28125,  # (0.5 + 0.25)^2 / 2
        days_in_28d_window=27,  # 02-24..03-22
    )


def test_daily_sales_by_category(world):
    t = world.table("daily_sales_by_category", "sales_date", "category")
    assert len(t) == 42  # 21 days x 2 categories
    # Mon 03-17, produce: base line (basket bA, 20 units, 200.00) + x1 (K1, 2, 25.00)
    # + x2 (K1, 4, 10.00) + x3 (K2, 1, 2.75) + x4 (the toys basket, 1, 1.25)
    census_445 = dict(
        naics_code="445",
        census_month=d(3, 1, 2024),  # latest March not after the day (not 2025-01, not 2023-03)
        census_sales_musd=84000.0,
        census_seasonal_factor=84000 / 78000,  # NSA / SA of 2024-03
        census_yoy=0.05,  # 84000 / 80000 (2023-03) - 1
    )
    check(
        t[(d(3, 17), "produce")],
        baskets=4,  # bA-2025-03-17, K1, K2, bB-2025-03-17
        transactions=5,
        units=28,  # 20 + 2 + 4 + 1 + 1
        revenue=239.0,  # 200 + 25 + 10 + 2.75 + 1.25
        **census_445,
    )
    check(
        t[(d(3, 17), "toys")],
        baskets=1,
        transactions=1,
        units=2,
        revenue=100.0,
        naics_code="451",
        census_month=d(3, 1, 2024),
        census_sales_musd=1800.0,
        census_seasonal_factor=0.9,  # 1800 / 2000
    )
    check(t[(d(3, 3), "produce")], baskets=1, transactions=1, units=20, revenue=200.0, **census_445)
    check(t[(d(3, 14), "produce")], baskets=1, transactions=1, units=32, revenue=320.0)
    check(t[(d(3, 23), "toys")], baskets=1, transactions=1, units=2, revenue=150.0)


def test_census_yoy_is_year_over_year_across_a_suppressed_month(world):
    """NAICS 451 has 2023-08 suppressed: the year before 2024-03 is still 2023-03."""
    t = world.table("daily_sales_by_category", "sales_date", "category")
    check(t[(d(3, 17), "toys")], census_yoy=-0.1)  # 1800 (2024-03) / 2000 (2023-03) - 1


def test_daily_sales_by_category_without_census(tmp_path):
    """raw.census_retail_sales is optional: without it the run succeeds, census columns NULL."""
    lake = new_lake(tmp_path)
    write(lake, "raw.product_catalog", catalog_rows())
    write(lake, "raw.transactions", transaction_rows([d(3, 3)]), by="transaction_date")
    done = run(lake, "daily_sales_by_category", d(3, 3), d(3, 4))
    assert done.rows_written == 2 and done.report.passed
    t = keyed(lake.read("features", "daily_sales_by_category"), "category")
    no_census = dict(
        census_month=None, census_sales_musd=None, census_seasonal_factor=None, census_yoy=None
    )
    check(t["produce"], baskets=1, units=20, revenue=200.0, naics_code="445", **no_census)
    check(t["toys"], baskets=1, units=2, revenue=100.0, naics_code="451", **no_census)


def test_daily_sales_by_store_product(world):
    t = world.table("daily_sales_by_store_product", "sales_date", "store_id", "product_id")
    assert len(t) == 21 * 2 + 2  # two lines a day, plus (S1, A2) and (S2, A2) on 03-17
    # Mon 03-17
    check(
        t[(d(3, 17), "S2", "A1")],  # base line (bA, 20 x 10.00) + x1 (K1, 2 x 12.50)
        category="produce",
        baskets=2,
        units=22,
        revenue=225.0,
        avg_unit_price=10.23,  # 225 / 22 = 10.227..
    )
    check(
        t[(d(3, 17), "S2", "A2")],  # x2
        category="produce",
        baskets=1,
        units=4,
        revenue=10.0,
        avg_unit_price=2.5,
    )
    check(
        t[(d(3, 17), "S1", "A2")],  # x3 (K2) + x4 (the toys basket)
        category="produce",
        baskets=2,
        units=2,
        revenue=4.0,  # 2.75 + 1.25
        avg_unit_price=2.0,
    )
    check(
        t[(d(3, 17), "S1", "B1")],
        category="toys",
        baskets=1,
        units=2,
        revenue=100.0,
        avg_unit_price=50.0,
    )
    check(t[(d(3, 19), "S2", "A1")], baskets=1, units=26, revenue=260.0, avg_unit_price=10.0)


def test_online_purchases(world):
    t = world.table("online_purchases", "channel", "order_id", "product_id")
    # 7 app purchase lines and 4 web purchases (one anonymous)
    assert len(t) == 11
    assert sum(r["revenue"] for r in t.values()) == pytest.approx(302.0)  # 165 app + 137 web
    check(
        t[("app", S1B, "A2")],
        purchase_date=d(3, 17),
        purchased_at=ts(3, 17, 18, 5),
        customer_key=C1,
        category="produce",
        revenue=5.0,
    )
    check(
        t[("web", "T-101", "B1")],
        purchase_date=d(3, 22),
        purchased_at=ts(3, 22, 14, 5),
        customer_key=C1,
        category="toys",
        revenue=60.0,
    )
    check(t[("web", "T-901", "B1")], customer_key=None, revenue=50.0, purchase_date=d(3, 20))
    assert {k[0] for k in t} == {"app", "web"}


def test_user_daily_activity(world):
    t = world.table("user_daily_activity", "activity_date", "customer_key")
    # C4 02-21; C1 02-25, 03-17, 03-22, 03-23; C3 03-05, 03-14, 03-15, 03-22; C2 03-13, 03-20;
    # the anonymous visitor has no customer_key and no row
    assert len(t) == 11
    check(
        t[(d(3, 22), C1)],  # app view in one session + web session 101 (view_item, cart, 2 orders)
        views=2,
        carts=1,
        purchases=2,
        orders=2,  # T-101, T-102
        revenue=72.0,  # 60 + 12
        sessions=2,
        last_event_at=ts(3, 22, 14, 30),
    )
    check(
        t[(d(3, 17), C1)],  # one app session buying two lines
        views=2,
        carts=2,
        purchases=2,
        orders=1,
        revenue=45.0,  # 40 + 5
        sessions=1,
        last_event_at=ts(3, 17, 18, 5),
    )
    check(
        t[(d(3, 20), C2)],  # web: page_view is not a product view
        views=1,
        carts=0,
        purchases=1,
        orders=1,
        revenue=15.0,
        sessions=1,
        last_event_at=ts(3, 20, 19, 4),
    )
    check(t[(d(3, 22), C3)], views=1, carts=0, purchases=0, orders=0, revenue=0.0, sessions=1)
    check(t[(d(2, 21), C4)], views=1, carts=1, purchases=0, orders=0, revenue=0.0, sessions=1)
    check(t[(d(3, 23), C1)], views=2, carts=2, purchases=0, orders=0, revenue=0.0)


def test_user_features(world):
    t = world.table("user_features", "as_of_date", "customer_key")
    # 03-22: C1, C2, C3 and C4 (last active 02-21, 29 days before); 03-23: C4 drops out (30 days)
    assert set(t) == {(d(3, 22), c) for c in (C1, C2, C3, C4)} | {
        (d(3, 23), c) for c in (C1, C2, C3)
    }
    # C1 as of 03-23. Active days (age): 02-25 (26): 1 view, 1 cart, 1 purchase, 1 order, 20;
    # 03-17 (6): 2, 2, 2, 1 order, 45; 03-22 (1): 2, 1, 2, 2 orders, 72; 03-23 (0): 2, 2, 0, 0, 0
    check(
        t[(d(3, 23), C1)],
        days_since_last_activity=0,
        active_days_30d=4,
        views_1d=2, views_7d=6, views_14d=6, views_30d=7,  # 2; 2+2+2; same; +1
        carts_1d=2, carts_7d=5, carts_14d=5, carts_30d=6,  # 2; 2+1+2; same; +1
        purchases_1d=0, purchases_7d=4, purchases_14d=4, purchases_30d=5,  # 0; 2+2; same; +1
        cart_count=1,  # 6 carts - 5 purchases
        # 1 - exp(-(0.6 x 2 + 0.05 x 2 + 0.2 x 5 + 0.01 x 6)) = 1 - exp(-2.36)
        purchase_intent_score=0.9055797768,
        recency_days=1,  # last purchase 03-22
        frequency_90d=4,  # 1 + 1 + 2
        monetary_90d=137.0,  # 20 + 45 + 72
        clv_12m=555.61,  # 137 x 365 / 90 = 555.611
    )  # fmt: skip
    # C2 as of 03-23: 03-13 (10): 1 view, 1 cart, 1 purchase, 30; 03-20 (3): 1 view, 1 purchase, 15
    check(
        t[(d(3, 23), C2)],
        days_since_last_activity=3,
        active_days_30d=2,
        views_1d=0, views_7d=1, views_14d=2, views_30d=2,
        carts_1d=0, carts_7d=0, carts_14d=1, carts_30d=1,
        purchases_1d=0, purchases_7d=1, purchases_14d=2, purchases_30d=2,
        cart_count=0,  # max(1 - 2, 0)
        purchase_intent_score=0.0099501663,  # 1 - exp(-0.01 x 1)
        recency_days=3,
        frequency_90d=2,
        monetary_90d=45.0,
        clv_12m=182.5,  # 45 x 365 / 90
    )  # fmt: skip
    # C3 as of 03-23: 03-05 (18): v1 c1 p1 25; 03-14 (9): v1 p1 35; 03-15 (8): v1 c1 p1 10;
    # 03-22 (1): v1
    check(
        t[(d(3, 23), C3)],
        days_since_last_activity=1,
        active_days_30d=4,
        views_1d=0, views_7d=1, views_14d=3, views_30d=4,
        carts_1d=0, carts_7d=0, carts_14d=1, carts_30d=2,
        purchases_1d=0, purchases_7d=0, purchases_14d=2, purchases_30d=3,
        cart_count=0,  # max(2 - 3, 0)
        purchase_intent_score=0.0099501663,  # 1 - exp(-0.01 x 1)
        recency_days=8,
        frequency_90d=3,
        monetary_90d=70.0,
        clv_12m=283.89,  # 70 x 365 / 90 = 283.888..
    )  # fmt: skip
    # RFM among the three buyers of 03-23: percent ranks 0, 0.5, 1 -> 1 + floor(5 x rank),
    # capped at 5 -> scores 1, 3, 5.
    # recency C3 8 > C2 3 > C1 1 days; frequency C2 2 < C3 3 < C1 4; monetary C2 45 < C3 70 < C1 137
    check(t[(d(3, 23), C1)], r_score=5, f_score=5, m_score=5, rfm_segment="555")
    check(t[(d(3, 23), C2)], r_score=3, f_score=1, m_score=1, rfm_segment="311")
    check(t[(d(3, 23), C3)], r_score=1, f_score=3, m_score=3, rfm_segment="133")

    # as of 03-22
    # C1: 02-25 (25), 03-17 (5), 03-22 (0: v2 c1 p2)
    check(
        t[(d(3, 22), C1)],
        views_1d=2, views_7d=4, carts_1d=1, carts_7d=3, purchases_1d=2, purchases_30d=5,
        cart_count=0,  # max(4 - 5, 0)
        purchase_intent_score=0.7381543314,  # 1 - exp(-(0.6 + 0.1 + 0.6 + 0.04)) = 1 - exp(-1.34)
        recency_days=0,
        rfm_segment="555",  # most recent (0 days), most orders (4) and revenue (137) on 03-22
    )  # fmt: skip
    # C3: 03-15 is 7 days before 03-22, outside the 7-day window
    check(
        t[(d(3, 22), C3)],
        views_1d=1, views_7d=1, views_14d=3, carts_7d=0, carts_14d=1,
        purchase_intent_score=0.0582354664,  # 1 - exp(-(0.05 x 1 + 0.01 x 1))
        recency_days=7,
    )  # fmt: skip
    # C4: one view and one cart 29 days ago, never bought
    check(
        t[(d(3, 22), C4)],
        days_since_last_activity=29,
        active_days_30d=1,
        views_1d=0, views_7d=0, views_14d=0, views_30d=1,
        carts_1d=0, carts_7d=0, carts_14d=0, carts_30d=1,
        purchases_30d=0,
        cart_count=1,
        purchase_intent_score=0.0,
        recency_days=None,
        frequency_90d=0,
        monetary_90d=0.0,
        r_score=None, f_score=None, m_score=None, rfm_segment=None,
        clv_12m=0.0,
    )  # fmt: skip


def test_weekly_sales_direction(world):
    t = world.table("weekly_sales_direction", "week_start", "category")
    # sales weeks 03-03, 03-10, 03-17; each joins the signals of the week before
    assert set(t) == {(w, c) for w in (d(3, 3), d(3, 10), d(3, 17)) for c in ("produce", "toys")}
    # produce revenue: 200x5 + 300x2 = 1600; 250x3 + 280 + 320 + 350x2 = 2050;
    # 200 + 200 + 260 + 200 + 200 + 300x2 = 1660 + 39 of extra lines on 03-17 = 1699
    # produce signals: weeks 02-24 and 03-03 each 7 reviews, 35 searches, 7 mentions, daily mean
    # sentiment 0.25 = (0.4 + 0.1) / 2 and 0.3 = (0.4 + 0.2) / 2;
    # week 03-10: 7 reviews, 56 searches, 14 mentions, mean 1/3
    check(
        t[(d(3, 3), "produce")],
        revenue=1600.0,
        prev_week_revenue=None,
        revenue_change=None,
        direction=None,
        signal_week_start=d(2, 24),
        review_count_lag1w=7,
        search_volume_lag1w=35,
        social_count_lag1w=7,
        sentiment_mean_lag1w=0.25,
        sentiment_change_lag1w=None,
        search_volume_change_lag1w=None,
        social_count_change_lag1w=None,
    )
    check(
        t[(d(3, 10), "produce")],
        revenue=2050.0,
        prev_week_revenue=1600.0,
        revenue_change=0.28125,  # 2050 / 1600 - 1
        direction="up",
        signal_week_start=d(3, 3),
        review_count_lag1w=7,
        search_volume_lag1w=35,
        social_count_lag1w=7,
        sentiment_mean_lag1w=0.3,
        sentiment_change_lag1w=0.05,  # 0.3 - 0.25
        search_volume_change_lag1w=0.0,
        social_count_change_lag1w=0.0,
    )
    check(
        t[(d(3, 17), "produce")],
        revenue=1699.0,
        prev_week_revenue=2050.0,
        revenue_change=1699 / 2050 - 1,  # -0.1712
        direction="down",
        signal_week_start=d(3, 10),
        review_count_lag1w=7,
        search_volume_lag1w=56,  # 7 x 8
        social_count_lag1w=14,  # 7 x 2
        sentiment_mean_lag1w=1 / 3,
        sentiment_change_lag1w=1 / 3 - 0.3,
        search_volume_change_lag1w=0.6,  # 56 / 35 - 1
        social_count_change_lag1w=1.0,  # 14 / 7 - 1
    )
    # toys revenue: 100x5 + 150x2 = 800; 80x3 + 120x4 = 720; 100x4 + 150x3 = 850
    # toys daily sentiment = (r - r/2) / 2 = r/4: week 03-03 0 x5, 0.125 x2 -> 0.25/7;
    # week 03-10 -0.05 x3, 0.05 x4 -> 0.05/7; week 02-24 all 0
    check(
        t[(d(3, 3), "toys")],
        revenue=800.0,
        direction=None,
        signal_week_start=d(2, 24),
        search_volume_lag1w=70,
        sentiment_mean_lag1w=0.0,
    )
    check(
        t[(d(3, 10), "toys")],
        revenue=720.0,
        prev_week_revenue=800.0,
        revenue_change=-0.1,  # 720 / 800 - 1
        direction="down",
        review_count_lag1w=7,
        search_volume_lag1w=70,  # 7 x 10
        social_count_lag1w=7,
        sentiment_mean_lag1w=0.25 / 7,
        sentiment_change_lag1w=0.25 / 7,  # - 0
        search_volume_change_lag1w=0.0,  # 70 / 70 - 1
        social_count_change_lag1w=0.0,
    )
    check(
        t[(d(3, 17), "toys")],
        revenue=850.0,
        prev_week_revenue=720.0,
        revenue_change=850 / 720 - 1,  # +0.1806
        direction="up",
        search_volume_lag1w=140,  # 7 x 20
        sentiment_mean_lag1w=0.05 / 7,
        sentiment_change_lag1w=-0.2 / 7,  # 0.05/7 - 0.25/7
        search_volume_change_lag1w=1.0,  # 140 / 70 - 1
        social_count_change_lag1w=0.0,
    )


def test_persona_performance(world):
    t = world.table("persona_performance", "persona")
    # Customer online purchases (the anonymous T-901 has no persona):
    #   family_shopper C1: 02-25 app 20, 03-17 app 45 (40 + 5, one order), 03-22 web 60 + 12;
    #                  C2: 03-13 app 30 (Purim), 03-20 web 15
    #   deal_seeker    C3: 03-05 app 25, 03-14 app 35 (Holi, Purim), Sat 03-15 app 10
    #   premium        C4: none
    # Period 02-25 (Tue) .. 03-22 (Sat) = 26 days: 7 weekend days (03-01, 02, 08, 09, 15, 16,
    # 22), 2 festival days (03-13, 14), 17 ordinary weekdays.
    assert list(t) == ["family_shopper", "deal_seeker", "premium"]  # by revenue
    period = dict(first_day=d(2, 25), last_day=d(3, 22))
    check(
        t["family_shopper"],
        customers=2,
        buyers=2,
        orders=6,  # S1A, S1B, T-101, T-102, S2A, T-201
        revenue=182.0,  # 20 + 45 + 60 + 12 + 30 + 15
        revenue_share=182 / 252,
        avg_basket=182 / 6,
        orders_per_buyer_30d=3 * 30 / 26,  # 6 / 2 per 26 days
        weekend_uplift=(72 / 7) / (80 / 17),  # weekend 72 over 7 days; weekdays 20+45+15 over 17
        festival_uplift=(30 / 2) / (80 / 17),
        **period,
    )
    check(
        t["deal_seeker"],
        customers=1,
        buyers=1,
        orders=3,
        revenue=70.0,  # 25 + 35 + 10
        revenue_share=70 / 252,
        avg_basket=70 / 3,
        orders_per_buyer_30d=3 * 30 / 26,
        weekend_uplift=(10 / 7) / (25 / 17),
        festival_uplift=(35 / 2) / (25 / 17),
        **period,
    )
    check(
        t["premium"],
        customers=1,
        buyers=0,
        orders=0,
        revenue=0.0,
        revenue_share=0.0,
        avg_basket=None,
        orders_per_buyer_30d=None,
        weekend_uplift=None,  # 0 / 0
        festival_uplift=None,
        **period,
    )


def test_persona_performance_with_no_weekend_sales(tmp_path):
    """A persona that bought only on weekdays has a weekend uplift of 0, not a failed run."""
    lake = new_lake(tmp_path)
    write(lake, "raw.retail_calendar", calendar_rows())
    write(lake, "governed.customers", customer_rows())
    events = [  # C3 buys on Mon 03-03 and on Mon 03-10; the weekend between has no sales
        ("ev1", ts(3, 3, 10), C3, S3A, "purchase", "B1", "toys", 8.0),
        ("ev2", ts(3, 10, 10), C3, S3B, "purchase", "B1", "toys", 4.0),
    ]
    write(lake, "governed.app_events", app_event_rows(events), by="event_date")
    write(lake, "governed.sessions", session_rows([]))  # no web sessions (empty partition)
    run(lake, "online_purchases")
    run(lake, "persona_performance")
    t = keyed(lake.read("features", "persona_performance"), "persona")
    # 03-03..03-10: 6 weekdays with 12 in all, 2 weekend days with 0, no festival
    check(
        t["deal_seeker"],
        orders=2,
        revenue=12.0,
        weekend_uplift=0.0,  # (0 / 2) / (12 / 6)
        festival_uplift=None,
    )


def test_calendar_uplift(world):
    t = world.table("calendar_uplift", "category", "day_type")
    # Over 03-03..03-23: ordinary weekdays are the 12 days Mon-Fri except 03-13, 03-14
    # (festival) and 03-19 (promotion); weekends 03-08, 09, 15, 16, 22, 23.
    # produce weekdays: 200 x 5 + 250 x 3 + 239 + 200 x 3 = 2589 -> 215.75
    assert set(t) == {
        (c, k)
        for c in ("produce", "toys")
        for k in ("weekday", "weekend", "promotion", "festival - Purim", "festival - Holi")
    }
    check(t[("produce", "weekday")], days=12, mean_daily_revenue=215.75, uplift=1.0)
    check(
        t[("produce", "weekend")],
        days=6,
        mean_daily_revenue=316.67,  # (300 + 300 + 350 + 350 + 300 + 300) / 6 = 316.666..
        uplift=(1900 / 6) / 215.75,
    )
    check(t[("produce", "festival - Purim")], days=2, mean_daily_revenue=300.0,  # (280 + 320) / 2
          uplift=300 / 215.75)  # fmt: skip
    check(t[("produce", "festival - Holi")], days=1, mean_daily_revenue=320.0,
          uplift=320 / 215.75)  # fmt: skip
    check(t[("produce", "promotion")], days=1, mean_daily_revenue=260.0, uplift=260 / 215.75)
    # toys weekdays: 100 x 5 + 80 x 3 + 100 x 4 = 1140 over 12 -> 95
    check(t[("toys", "weekday")], days=12, mean_daily_revenue=95.0, uplift=1.0)
    check(t[("toys", "weekend")], days=6, mean_daily_revenue=140.0,  # (150x2 + 120x2 + 150x2)/6
          uplift=140 / 95)  # fmt: skip
    check(t[("toys", "festival - Purim")], days=2, mean_daily_revenue=120.0, uplift=120 / 95)
    check(t[("toys", "festival - Holi")], days=1, mean_daily_revenue=120.0, uplift=120 / 95)
    check(t[("toys", "promotion")], days=1, mean_daily_revenue=150.0, uplift=150 / 95)


def test_executive_summary(world):
    t = world.table("executive_summary", "summary_date", "category")
    assert len(t) == 21  # 03-17..03-23 x (produce, toys, All)
    # Mon 03-17. Store: produce 239.00 / 28 units / 4 baskets; toys 100 / 2 / 1; the toys
    # basket also holds produce, so the business has 4 baskets, not 5.
    # Online: C1's app session buys toys 40 and produce 5 (one order). App: one view, one
    # cart, one purchase per category. Signals: produce review 0.8, mention 0.4; toys 0, 0.
    no_web = dict(web_sessions=None, web_conversion_rate=None)
    check(
        t[(d(3, 17), "produce")],
        store_revenue=239.0, store_units=28, store_baskets=4,
        online_orders=1, online_revenue=5.0, total_revenue=244.0,
        app_views=1, app_carts=1, app_purchases=1, view_to_cart=1.0, cart_to_purchase=1.0,
        sentiment_mean=0.6, review_count=1, **no_web,
    )  # fmt: skip
    check(
        t[(d(3, 17), "toys")],
        store_revenue=100.0, store_units=2, store_baskets=1,
        online_orders=1, online_revenue=40.0, total_revenue=140.0,
        app_views=1, app_carts=1, app_purchases=1,
        sentiment_mean=0.0, review_count=1, **no_web,
    )  # fmt: skip
    check(
        t[(d(3, 17), "All")],
        store_revenue=339.0, store_units=30, store_baskets=4,
        online_orders=1, online_revenue=45.0, total_revenue=384.0,
        app_views=2, app_carts=2, app_purchases=2, view_to_cart=1.0, cart_to_purchase=1.0,
        sentiment_mean=0.3,  # (0.8 + 0.4 + 0 + 0) / 4
        review_count=2,
        web_sessions=None, web_conversion_rate=None,  # no web events that day
    )  # fmt: skip
    # Thu 03-20: web purchases T-201 (C2, produce 15) and T-901 (anonymous, toys 50); no app.
    # Web sessions (a2, 201) and (a9, 901), both with a purchase.
    check(
        t[(d(3, 20), "All")],
        store_revenue=300.0, store_units=22, store_baskets=2,
        online_orders=2, online_revenue=65.0, total_revenue=365.0,
        app_views=0, app_carts=0, app_purchases=0, view_to_cart=None, cart_to_purchase=None,
        web_sessions=2, web_conversion_rate=1.0,
        sentiment_mean=0.1,  # (0.2 + 0.2 + 0 + 0) / 4
        review_count=2,
    )  # fmt: skip
    check(t[(d(3, 20), "toys")], online_orders=1, online_revenue=50.0, total_revenue=150.0,
          web_sessions=None)  # fmt: skip
    # Sat 03-22: web T-101 (toys 60) and T-102 (produce 12) in C1's session 101; C3 also has a
    # ga_session_id 101 (another user, another session); the anonymous visitor's session 902.
    # App: C1 views one produce item.
    check(
        t[(d(3, 22), "All")],
        store_revenue=450.0, store_units=32, store_baskets=2,
        online_orders=2, online_revenue=72.0, total_revenue=522.0,
        app_views=1, app_carts=0, app_purchases=0, view_to_cart=0.0, cart_to_purchase=None,
        web_sessions=3, web_conversion_rate=1 / 3,
        sentiment_mean=0.0625,  # (-0.2 + 0.2 + 0.5 - 0.25) / 4
        review_count=2,
    )  # fmt: skip
    check(
        t[(d(3, 22), "produce")],
        store_revenue=300.0, online_orders=1, online_revenue=12.0, total_revenue=312.0,
        app_views=1, app_carts=0, view_to_cart=0.0, sentiment_mean=0.0,
    )  # fmt: skip
    check(
        t[(d(3, 22), "toys")],
        store_revenue=150.0, online_orders=1, online_revenue=60.0, total_revenue=210.0,
        app_views=0, view_to_cart=None, sentiment_mean=0.125,
    )  # fmt: skip


def test_executive_summary_with_an_uncategorised_web_purchase(tmp_path):
    """A web purchase whose item has no category counts once, in the All row."""
    lake = new_lake(tmp_path)
    write(lake, "raw.product_catalog", catalog_rows())
    write(lake, "raw.transactions", transaction_rows([d(3, 3)]), by="transaction_date")
    write(lake, "raw.signals", [], by=None)
    write(lake, "governed.app_events", [], by=None)
    events = [
        (ts(3, 3, 9), "purchase", U1, C1, 11, "A1", "produce", 15.0, "T-1"),
        (ts(3, 3, 10), "purchase", U2, C2, 12, "X9", None, 7.0, "T-2"),  # no item_category
    ]
    write(lake, "governed.sessions", session_rows(events), by="event_date")
    run(lake, "online_purchases")
    run(lake, "executive_summary", d(3, 3), d(3, 4))
    t = keyed(lake.read("features", "executive_summary"), "category")
    check(
        t["All"],
        store_revenue=300.0,  # 200 produce + 100 toys
        online_orders=2,
        online_revenue=22.0,  # 15 + 7
        total_revenue=322.0,
        web_sessions=2,
        web_conversion_rate=1.0,
    )
    check(t["produce"], store_revenue=200.0, online_orders=1, online_revenue=15.0)


def test_sentiment_sales_correlation(world):
    t = world.table("sentiment_sales_correlation", "category", "signal_source", "lag_days")
    assert len(t) == 24  # 2 categories x 3 sources x 4 lags
    # Signals start a week before sales, so every lag pairs all 21 sales days.
    assert {r["days"] for r in t.values()} == {21}
    # toys: review sentiment = (revenue - 100) / 100 exactly, mention sentiment = -review / 2,
    # and the daily mean of both = review / 4: linear in revenue the same day.
    check(t[("toys", "review", 0)], correlation=1.0)
    check(t[("toys", "social", 0)], correlation=-1.0)
    check(t[("toys", "all", 0)], correlation=1.0)


def test_sentiment_sales_correlation_with_constant_sentiment(tmp_path):
    """Sentiment that does not move has no correlation (NULL), and the run still succeeds."""
    lake = new_lake(tmp_path)
    write(lake, "raw.product_catalog", catalog_rows())
    sales_days = [d(3, 7), d(3, 8), d(3, 9)]  # produce 200, 300, 300; toys 100, 150, 150
    write(lake, "raw.transactions", transaction_rows(sales_days), by="transaction_date")
    signals = [  # one review a day per category, always 0.5
        (f"s-{c}-{day}", day, c, "review", "text", 4, 0.5, 1)
        for day in sales_days
        for c in ("produce", "toys")
    ]
    write(lake, "raw.signals", signals, by="signal_date")
    run(lake, "daily_sales_by_category", d(3, 7), d(3, 10))
    run(lake, "daily_category_signals", d(3, 7), d(3, 10))
    run(lake, "sentiment_sales_correlation")
    t = keyed(
        lake.read("features", "sentiment_sales_correlation"),
        "category", "signal_source", "lag_days",
    )  # fmt: skip
    for c in ("produce", "toys"):
        for source in ("review", "all"):
            check(t[(c, source, 0)], days=3, correlation=None)  # variance of sentiment is 0
            check(t[(c, source, 1)], days=2, correlation=None)  # fewer than 3 pairs
