"""A vectorized simulator of a retailer: customers, web and app events, signals and store sales.

Every draw for a day is seeded from ``(base seed, entity, date)``, so any partition can be
simulated alone, in any order or in parallel, and simulating it twice gives the same rows.

What drives what:

* **Customers** belong to personas (``simulation.yaml``) with demographics, shopping
  frequency per channel (web, app, store), preferred hours, a basket profile per category,
  a channel mix and consent propensities. Each customer also has a personal activity level
  (gamma distributed, mean 1), so some customers return day after day and others rarely.
* **Purchase journeys** (web and app): per customer and week (customers' weeks start on
  different weekdays), one seeded draw decides whether a journey happens that week, on which
  days and for how many (2 to 6). On its days the customer comes back far more often and
  fills the cart; purchases concentrate on its last two days, some of them of a cart left on
  an earlier day (a view, then the purchase). Off journeys customers visit less and mostly
  browse. The stage multipliers off journeys are solved per persona so the configured visit
  frequencies, view-to-cart and cart-to-purchase rates stay about the averages (within a few
  percent). A day's journeys need only the draws of its customers' weeks, so days stay
  independent.
* **Calendar**: weekends (the weekend/weekday ratio is ``weekend_uplift`` while the weekly
  mean stays 1, so configured frequencies are the realized ones), festivals with uplift, a
  yearly trend, promotions (price discount and demand uplift) and monthly seasonality per
  category calibrated from the Census MRTS series.
* **Latent demand** per category (a sum of slow waves with seeded phases) moves reviews,
  searches, social mentions and browsing on the day, and store sales ``lag_days`` later with
  the configured ``strength``: signals lead sales the way they do for a real retailer.

How it stays fast (``benchmarks/RESULTS.md``): the day methods draw per session, view or
basket with numpy, and build their frames from Arrow buffers that polars adopts without a
copy. String columns are gathers of 16-byte Arrow string views from small per-simulator
tables (pages, products, devices, places, channels, customer ids), so string data is never
copied per row; nested GA4 lists are flat values plus offsets; categorical draws map one
uniform through a guide table instead of comparing against every category. The Arrow
building blocks are in :mod:`retail_assets.lib.sources.columns`.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl
import pyarrow as pa

from retail_assets.lib.config import SimulationConfig
from retail_assets.lib.sources.columns import (
    VIEW,
    Text,
    constant,
    frame,
    lists,
    nibbles,
    nulls,
    number_blocks,
    numbered,
    param_structs,
    strings,
    struct,
    values,
)
from retail_assets.lib.warehouse.schemas import APP_EVENTS

#: Days the retail calendar reaches beyond today.
CALENDAR_DAYS_AHEAD = 400

_EPOCH = dt.date(1970, 1, 1)
_DAY_US = 86_400_000_000
_HOST = "https://shop.example.com"
_FIRST_NAMES = "ana ben chloe dev emma farid grace hiro ines jack kemi liam maya noah olga pablo"
_LAST_NAMES = "smith garcia chen patel kim nguyen okafor rossi silva muller cohen ivanova jones"
# country, region, city, share
_PLACES = [
    ("United States", "New York", "New York", 0.22),
    ("United States", "Illinois", "Chicago", 0.14),
    ("United States", "Texas", "Austin", 0.12),
    ("United States", "Washington", "Seattle", 0.10),
    ("United States", "California", "Los Angeles", 0.18),
    ("United States", "Georgia", "Atlanta", 0.09),
    ("Canada", "Ontario", "Toronto", 0.10),
    ("Mexico", "Nuevo Leon", "Monterrey", 0.05),
]
# category, brand, operating system, share (GA4 device fields)
_DEVICES = [
    ("desktop", None, "Windows", 0.24),
    ("desktop", None, "Macintosh", 0.14),
    ("mobile", "Apple", "iOS", 0.30),
    ("mobile", "Samsung", "Android", 0.17),
    ("mobile", "Google", "Android", 0.08),
    ("tablet", "Apple", "iOS", 0.07),
]
_BRANDS = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adventure"]
#: One-line reviews per class; a share of reviews is just one of these (and the per-row
#: reference simulator in ``benchmarks/`` draws all its review text from them).
_REVIEW_TEXT = {
    "negative": [
        "Broke after a week, very disappointed",
        "Poor quality and slow delivery",
        "Would not buy this {cat} item again",
        "Not as described, returning it",
    ],
    "neutral": [
        "It is okay for the price",
        "Average {cat} product, does the job",
        "Arrived on time, nothing special",
        "Fine but packaging was damaged",
    ],
    "positive": [
        "Love it, great {cat} value",
        "Excellent quality, fast shipping",
        "Best {cat} purchase this year",
        "Works perfectly, highly recommend",
    ],
}
# Review and social text is composed from the phrase pools below (see _TextWriter): clauses at a
# polarity level from -2 (strongly negative) to 2 (strongly positive) about an aspect of the
# category, stock phrases with negations, mixed statements for the middle, and an opening that
# names a product, brand or store for some texts.
_POLARITY = {
    -2: ("terrible", "awful", "horrible", "useless", "dreadful"),
    -1: ("poor", "disappointing", "mediocre", "flimsy", "subpar"),
    0: ("okay", "fine", "average", "acceptable", "decent", "so-so"),
    1: ("good", "nice", "solid", "pleasant", "lovely"),
    2: ("excellent", "great", "outstanding", "superb", "fantastic"),
}
#: Intensifiers make a level-1 word a level-2 one ("really good"); hedges soften a word.
_INTENSIFIERS = ("really ", "very ", "truly ", "extremely ")
_HEDGES = ("", "", "quite ", "fairly ", "mostly ", "just ")
#: Stock phrases by level, negations among them.
_IDIOMS = {
    -2: (
        "never again",
        "don't waste your money",
        "stopped working after a week",
        "worst {cat} purchase I have made",
        "not worth it at all",
        "would not recommend it to anyone",
    ),
    -1: (
        "wasn't worth it",
        "not impressed",
        "not great",
        "expected better",
        "not as described",
        "would not buy it again",
    ),
    0: (
        "not bad, not great",
        "nothing special",
        "it does the job",
        "about what I expected",
        "neither good nor bad",
        "average for the price",
    ),
    1: (
        "not bad at all",
        "can't complain",
        "happy with it",
        "does what it says",
        "would buy it again",
    ),
    2: (
        "love it",
        "couldn't be happier",
        "no complaints at all",
        "best {cat} purchase this year",
        "highly recommend it",
        "exceeded my expectations",
    ),
}
#: Aspects as (noun, positive note, negative note): every category's, then per category.
_COMMON_ASPECTS = (
    ("price", "great value for money", "overpriced"),
    ("returns", "easy returns", "returns were a hassle"),
    ("delivery", "fast delivery", "arrived late"),
    ("website", "easy to order online", "the website kept crashing"),
    ("packaging", "neat packaging", "damaged packaging"),
    ("customer service", "helpful customer service", "unhelpful customer service"),
    ("staff", "friendly staff", "rude staff"),
    ("quality", "well made", "cheap materials"),
)
_CATEGORY_ASPECTS = {
    "electronics": (
        ("battery", "battery lasts all day", "battery drains fast"),
        ("screen", "sharp screen", "dim screen"),
        ("sound", "clear sound", "tinny sound"),
        ("setup", "easy setup", "setup was a pain"),
    ),
    "appliances": (
        ("noise level", "runs quietly", "very noisy"),
        ("installation", "easy installation", "installation was a nightmare"),
        ("energy use", "low energy use", "uses a lot of power"),
        ("capacity", "plenty of room inside", "too small inside"),
    ),
    "apparel": (
        ("fit", "true to size", "runs small"),
        ("fabric", "soft fabric", "itchy fabric"),
        ("stitching", "neat stitching", "loose stitching"),
        ("colour", "colour as pictured", "colour faded after one wash"),
    ),
    "grocery": (
        ("taste", "tastes fresh", "bland taste"),
        ("freshness", "fresh and crisp", "stale on arrival"),
        ("portion", "generous portion", "tiny portion"),
        ("flavour", "rich flavour", "odd aftertaste"),
    ),
    "home & garden": (
        ("assembly", "easy assembly", "assembly took hours"),
        ("durability", "holds up well", "rusted within a month"),
        ("instructions", "clear instructions", "confusing instructions"),
        ("finish", "smooth finish", "scratched finish"),
    ),
    "beauty": (
        ("scent", "lovely scent", "overpowering scent"),
        ("texture", "light texture", "greasy texture"),
        ("skin feel", "gentle on skin", "irritated my skin"),
        ("lasting power", "lasts all day", "wears off in an hour"),
    ),
}
#: Openings that name an entity ({product}, {brand}, {store}); social mentions use their own.
_OPENINGS = {
    "product": (
        "Bought the {product}",
        "Ordered the {product} last week",
        "Got the {product} as a gift",
        "Review of the {product}",
        "Second time buying the {product}",
    ),
    "brand": (
        "First time trying {brand}",
        "Another {brand} purchase",
        "Switched to {brand} for this",
        "My usual {brand} {cat} order",
    ),
    "store": (
        "Picked it up at store {store}",
        "Bought it in store {store}",
        "Went to {store} on the weekend",
        "Click and collect at {store}",
    ),
    "none": ("Update after a month", "First order here", "Bought this for my partner"),
}
_SOCIAL_OPENINGS = {
    "product": ("just got the {product}", "anyone tried the {product}?", "the {product}"),
    "brand": ("@{brand}", "{brand} again", "thoughts on {brand}:"),
    "store": ("at {store} today", "{store} run", "in {store} just now"),
    "none": ("",),
}
_SEARCH_TERMS = ["deals", "best", "cheap", "near me", "reviews", "sale", "new", "gift"]

# Web funnel, in event order within a session (GA4 recommended ecommerce events).
WEB_EVENTS = [
    "session_start",
    "page_view",
    "view_item_list",
    "view_item",
    "add_to_cart",
    "begin_checkout",
    "add_payment_info",
    "purchase",
]
SESSION_GAP_MINUTES = 30


def rng_for(seed: int, entity: str, day: dt.date | None = None) -> np.random.Generator:
    """A generator seeded from (seed, entity, date): independent of any other partition."""
    parts = [seed, zlib.crc32(entity.encode())]
    if day is not None:
        parts.append(day.toordinal())
    return np.random.default_rng(parts)


def draw_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One index per row of a (rows, k) matrix of non-negative weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def _fmt(template: str, *parts: pl.Series) -> pl.Series:
    """``pl.format`` over Series: the template's ``{}`` filled row by row."""
    return pl.select(pl.format(template, *(pl.lit(p) for p in parts))).to_series()


def _prefix(name: str) -> str:
    return name.replace(" & ", "").replace(" ", "").upper()


def _slug(name: str) -> str:
    return name.lower().replace(" & ", "-").replace(" ", "-")


@dataclass(frozen=True)
class Simulator:
    """Simulates one retailer from a validated configuration and a customer count."""

    config: SimulationConfig
    seed: int = 42
    customers: int = 20_000

    # ------------------------------------------------------------------ static world
    @cached_property
    def category_names(self) -> list[str]:
        """Category names in configuration order."""
        return list(self.config.categories)

    @cached_property
    def persona_names(self) -> list[str]:
        """Persona names in configuration order."""
        return list(self.config.personas)

    @cached_property
    def channel_names(self) -> list[str]:
        """Marketing channel names in configuration order."""
        return list(self.config.channels)

    @cached_property
    def catalog(self) -> pl.DataFrame:
        """Products: per category, ``products_per_category`` list prices spread log-uniformly.

        Products are numbered in price order within their category, so a persona's price
        range is a contiguous block of product numbers.
        """
        rng = rng_for(self.seed, "catalog")
        n = self.config.products_per_category
        frames = []
        for k, (name, cat) in enumerate(self.config.categories.items()):
            lo, hi = cat.price
            u = np.sort(rng.random(n))
            price = np.round(lo * (hi / lo) ** u, 2)
            frames.append(
                pl.DataFrame(
                    {
                        "category_index": np.full(n, k, dtype=np.int64),
                        "category": name,
                        "prefix": _prefix(name),
                        "slug": _slug(name),
                        "product_number": np.arange(1, n + 1),
                        "list_price": price,
                        "brand": [_BRANDS[i] for i in rng.integers(0, len(_BRANDS), n)],
                    }
                )
            )
        number = pl.col("product_number").cast(pl.Utf8).str.zfill(3)
        return (
            pl.concat(frames)
            .with_columns(
                pl.format("{}-{}", "prefix", number).alias("product_id"),
                pl.format("{} {} {}", "brand", "category", "product_number").alias("item_name"),
            )
            .with_columns(
                pl.format("{}/c/{}/p/{}", pl.lit(_HOST), "slug", "product_id").alias(
                    "page_location"
                )
            )
            .drop("prefix", "slug")
        )

    @cached_property
    def _p(self) -> _PersonaArrays:
        return _PersonaArrays.build(self)

    @cached_property
    def customer_table(self) -> dict[str, np.ndarray]:
        """The customer base as numeric arrays (strings are built only for rows that need them)."""
        rng = rng_for(self.seed, "customers")
        p, n = self._p, self.customers
        persona = rng.choice(len(p.share), size=n, p=p.share)
        consent = np.empty((4, n), dtype=np.int8)  # analytics, ads, ad_user_data, personalization
        for j in range(4):
            consent[j] = draw_rows(rng, p.consent[persona])
        # Ads consents mostly follow analytics consent: people answer a banner once.
        same = rng.random((3, n)) < 0.85
        consent[1:] = np.where(same, consent[0], consent[1:])
        demo = p.demographics
        age = rng.integers(demo["age_lo"][persona], demo["age_hi"][persona] + 1)
        household = rng.integers(demo["hh_lo"][persona], demo["hh_hi"][persona] + 1)
        income = draw_rows(rng, demo["income"][persona])
        place_w = np.array([pl_[3] for pl_ in _PLACES])
        device_w = np.array([d[3] for d in _DEVICES])
        return {
            "persona": persona,
            "activity": rng.gamma(2.0, 0.5, n),
            "consent": consent,
            "age": age,
            "household_size": household,
            "income": income,
            "home_store": rng.integers(0, self.config.stores, n),
            "place": rng.choice(len(_PLACES), size=n, p=place_w / place_w.sum()),
            "device": rng.choice(len(_DEVICES), size=n, p=device_w / device_w.sum()),
            "acquisition": draw_rows(rng, p.channels[persona]),
            "first_seen": (self.config.trend_origin - _EPOCH).days - rng.integers(1, 1500, n),
            "client": rng.integers(100_000_000, 2_000_000_000, n),
            "logged_in": rng.random(n) < 0.6,
            "first_name": rng.integers(0, len(_FIRST_NAMES.split()), n),
            "last_name": rng.integers(0, len(_LAST_NAMES.split()), n),
        }

    @cached_property
    def _ids(self) -> pl.DataFrame:
        """String identifiers and contact data of every customer, built once."""
        c = self.customer_table
        first = pl.Series(_FIRST_NAMES.split())
        last = pl.Series(_LAST_NAMES.split())
        idx = pl.Series(np.arange(self.customers))
        return pl.DataFrame(
            {
                "customer_id": _fmt("C{}", idx.cast(pl.Utf8).str.zfill(8)),
                "user_pseudo_id": _fmt(
                    "{}.{}", pl.Series(c["client"]), pl.Series(c["first_seen"] * 86_400)
                ),
                "email": _fmt(
                    "{}.{}{}@example.com",
                    first.gather(c["first_name"]),
                    last.gather(c["last_name"]),
                    idx,
                ),
                "phone": _fmt("+1 555 {}", (idx % 10_000_000).cast(pl.Utf8).str.zfill(7)),
            }
        )

    def customers_frame(self) -> pl.DataFrame:
        """The customer base with persona, demographics, contact data and consent."""
        c, ids = self.customer_table, self._ids
        consent = pl.Series(["Yes", "No", "Unset"])
        places = pl.DataFrame(_PLACES, schema=["country", "region", "city", "w"], orient="row")
        return ids.select("customer_id", "user_pseudo_id").with_columns(
            pl.Series("persona", self.persona_names).gather(c["persona"]),
            pl.Series("age", c["age"]),
            pl.Series(["low", "middle", "high"]).gather(c["income"]).alias("income_band"),
            pl.Series("household_size", c["household_size"]),
            pl.format("S{}", pl.Series(c["home_store"] + 1).cast(pl.Utf8).str.zfill(3)).alias(
                "home_store"
            ),
            ids["email"],
            ids["phone"],
            places["country"].gather(c["place"]),
            places["city"].gather(c["place"]),
            pl.Series("first_seen", c["first_seen"]).cast(pl.Date),
            *(
                consent.gather(c["consent"][j]).alias(name)
                for j, name in enumerate(
                    ["analytics_storage", "ads_storage", "ad_user_data", "ad_personalization"]
                )
            ),
        )

    # ------------------------------------------------------------------ calendar
    def traffic_multiplier(self, day: dt.date) -> float:
        """Visits on ``day`` relative to an average day: weekend, festivals, trend."""
        cal = self.config.calendar
        u = cal.weekend_uplift
        weekly = (u if day.weekday() >= 5 else 1.0) * 7 / (5 + 2 * u)
        years = (day - self.config.trend_origin).days / 365.25
        trend = (1 + self.config.trend_per_year) ** years
        festival = np.prod([f.uplift for f in self._festivals(day) if not f.categories])
        return float(weekly * trend * festival)

    def category_multiplier(self, day: dt.date) -> np.ndarray:
        """Per category demand on ``day``: seasonality, category festivals and promotions."""
        cats = self.config.categories
        mult = np.array([cats[c].seasonality[day.month - 1] for c in self.category_names])
        for f in self._festivals(day):
            for c in f.categories:
                mult[self.category_names.index(c)] *= f.uplift
        for promo in self._promotions(day):
            for c in promo.categories:
                mult[self.category_names.index(c)] *= promo.uplift
        return mult

    def discount(self, day: dt.date) -> np.ndarray:
        """Per category price discount on ``day`` (0 outside promotions)."""
        keep = np.ones(len(self.category_names))
        for promo in self._promotions(day):
            for c in promo.categories:
                keep[self.category_names.index(c)] *= 1 - promo.discount
        return 1 - keep

    def festivals_on(self, day: dt.date) -> list[str]:
        """Names of the festivals whose window covers ``day``."""
        return [f.name for f in self._festivals(day)]

    def _festivals(self, day: dt.date):
        out = []
        for f in self.config.calendar.festivals:
            if f.month_day:
                m, d = (int(x) for x in f.month_day.split("-"))
                dates = []
                for year in (day.year - 1, day.year, day.year + 1):
                    try:
                        dates.append(dt.date(year, m, d))
                    except ValueError:  # 02-29 outside leap years
                        continue
            else:
                dates = f.dates
            span = (dt.timedelta(days=f.days_before), dt.timedelta(days=f.days_after))
            if any(x - span[0] <= day <= x + span[1] for x in dates):
                out.append(f)
        return out

    def _promotions(self, day: dt.date):
        return [p for p in self.config.calendar.promotions if p.start <= day <= p.end]

    def product_catalog_frame(self) -> pl.DataFrame:
        """The catalog as ``raw.product_catalog`` holds it.

        Product, name, category, list price and the category's NAICS code from the
        configuration.
        """
        naics = {name: cat.naics for name, cat in self.config.categories.items()}
        return self.catalog.select(
            "product_id",
            pl.col("item_name").alias("product_name"),
            "category",
            "list_price",
            pl.col("category").replace_strict(naics, return_dtype=pl.Utf8).alias("naics_code"),
        )

    def calendar_frame(self, start: dt.date, end: dt.date | None = None) -> pl.DataFrame:
        """The retail calendar, one row per day from ``start`` through ``end`` (inclusive).

        ``end`` defaults to :data:`CALENDAR_DAYS_AHEAD` days after today (or ``start``, if
        later), so forecasts and plans can look ahead.

        Columns: ``date``, ``day_of_week`` (ISO, 1 = Monday), ``is_weekend``, ``festival``
        (names of the festivals whose window covers the day, joined with ", "; NULL when
        none), ``is_festival``, ``promotion`` (names of the active promotions, joined the same
        way) and ``max_discount``: the largest price discount of any category that day, as
        :meth:`discount` computes it (overlapping promotions of a category compound), 0 when
        no promotion runs. These are the same festivals, promotions and discounts the day
        methods simulate with.
        """
        if end is None:
            end = max(dt.datetime.now(dt.UTC).date(), start) + dt.timedelta(CALENDAR_DAYS_AHEAD)
        if end < start:
            raise ValueError(f"calendar end {end} is before start {start}")
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        festivals = [", ".join(self.festivals_on(d)) or None for d in days]
        promotions = [", ".join(p.name for p in self._promotions(d)) or None for d in days]
        discounts = [
            float(self.discount(d).max()) if p else 0.0
            for d, p in zip(days, promotions, strict=True)
        ]
        return pl.DataFrame(
            {
                "date": pl.Series(days, dtype=pl.Date),
                "festival": pl.Series(festivals, dtype=pl.Utf8),
                "promotion": pl.Series(promotions, dtype=pl.Utf8),
                "max_discount": pl.Series(discounts, dtype=pl.Float64),
            }
        ).select(
            "date",
            pl.col("date").dt.weekday().cast(pl.Int64).alias("day_of_week"),
            (pl.col("date").dt.weekday() >= 6).alias("is_weekend"),
            "festival",
            pl.col("festival").is_not_null().alias("is_festival"),
            "promotion",
            # discount() rounds 1 - (1 - d) to a hair off d; the configured figures have 2 places.
            pl.col("max_discount").round(6),
        )

    @cached_property
    def _latent_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = rng_for(self.seed, "latent")
        k = len(self.category_names)
        periods = rng.uniform(9.0, 45.0, size=(k, 3))
        phases = rng.uniform(0, 2 * np.pi, size=(k, 3))
        amps = rng.uniform(0.5, 1.0, size=(k, 3))
        return periods, phases, amps

    def latent_demand(self, day: dt.date) -> np.ndarray:
        """Latent demand per category on ``day`` (mean 0, about unit variance)."""
        periods, phases, amps = self._latent_params
        t = (day - _EPOCH).days
        wave = (amps * np.sin(2 * np.pi * t / periods + phases)).sum(axis=1)
        return wave / np.sqrt((amps**2).sum(axis=1) / 2)

    def interest(self, day: dt.date) -> np.ndarray:
        """Per category browsing interest on ``day``: calendar times latent demand on the day."""
        lift = np.exp(self.config.signals.strength * self.latent_demand(day))
        return self.category_multiplier(day) * lift

    def store_demand(self, day: dt.date) -> np.ndarray:
        """Per category store demand on ``day``: calendar times latent demand ``lag_days`` ago."""
        sig = self.config.signals
        lagged = self.latent_demand(day - dt.timedelta(days=sig.lag_days))
        return self.category_multiplier(day) * np.exp(sig.strength * lagged)

    # ------------------------------------------------------------------ shared pieces
    @cached_property
    def _propensity(self) -> dict[str, np.ndarray]:
        """Per customer visits per average day, by channel (persona frequency x activity)."""
        c, p = self.customer_table, self._p
        per_day = {"web": p.web_per_day, "app": p.app_per_day, "store": p.store_per_day}
        return {name: rate[c["persona"]] * c["activity"] for name, rate in per_day.items()}

    @cached_property
    def _scratch(self) -> threading.local:
        """Per-thread work buffers of one value per customer, reused from call to call."""
        return threading.local()

    def _active(self, rng: np.random.Generator, channel: str, day: dt.date) -> np.ndarray:
        """Customers active on ``day`` on ``channel`` (web, app or store).

        ``rng.random(customers) < propensity x traffic``, computed in reused buffers: three
        full-length arrays a call that would otherwise be fresh memory. Online (web, app) the
        propensity is the part of it not made on journeys (:class:`_JourneyPlan`) plus, for
        the few customers on a journey that day, its stage's extra visits.
        """
        buf = self._scratch
        if not hasattr(buf, "uniform"):
            n = self.customers
            buf.uniform, buf.rate, buf.hit = np.empty(n), np.empty(n), np.empty(n, bool)
        rng.random(out=buf.uniform)
        traffic = self.traffic_multiplier(day)
        if channel == "store":
            np.multiply(self._propensity[channel], traffic, out=buf.rate)
        else:
            plan = self._journey_plan
            np.multiply(self._propensity[channel], traffic * plan.kept, out=buf.rate)
            buf.rate[plan.capped] = plan.capped_visits[channel] * traffic
            _, on, cell = self._journey_stage(day)
            buf.rate[on] += plan.extra_visits[channel].take(cell) * traffic
        return np.flatnonzero(np.less(buf.uniform, buf.rate, out=buf.hit))

    @cached_property
    def _journey_plan(self) -> _JourneyPlan:
        return _JourneyPlan.build(self)

    @cached_property
    def _journey_cache(self) -> tuple[dict, threading.Lock]:
        """Journey stages of the last few days simulated (deterministic, so only a cache)."""
        return {}, threading.Lock()

    def _journey_stage(self, day: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every customer's journey stage on ``day``, the customers on a journey, their cells.

        Stages (int8): 0 off journeys, 1 two or more days before the journey's last day, 2
        the day before it, 3 the last day. Customers are in seven blocks by index whose weeks
        start on different weekdays, and a journey lies within its customer's week. Per block,
        one seeded 16-bit draw per customer (seeded from the block's week) starts a journey
        that week with the customer's weekly probability, and one more per journey picks its
        length and first day (:class:`_JourneyPlan`). So a day needs one draw per customer,
        and any day of a week sees the same journeys. Also the customers on a journey and
        their (persona, stage) cells.
        """
        cache, lock = self._journey_cache
        with lock:
            found = cache.get(day)
        if found is not None:
            return found
        plan, n = self._journey_plan, self.customers
        stage, on = np.zeros(n, np.int8), []
        for block in range(7):
            lo, hi = block * n // 7, (block + 1) * n // 7
            weekday = (day.toordinal() - block) % 7  # the day's place in the block's week
            rng = rng_for(self.seed, "journeys", day - dt.timedelta(days=weekday))
            bits = rng.bit_generator.random_raw(-(-(hi - lo) // 4)).view(np.uint16)
            who = np.flatnonzero(bits[: hi - lo] < plan.threshold[lo:hi])
            pick = rng.integers(0, plan.stage_by_pick.shape[1], who.size, np.int16)
            here = plan.stage_by_pick[weekday].take(pick)
            now = np.flatnonzero(here > 0)
            at = who.take(now) + lo
            stage[at] = here.take(now)
            on.append(at)
        at = np.concatenate(on)
        found = stage, at, self.customer_table["persona"].take(at) * _STAGES + stage.take(at)
        with lock:
            cache[day] = found
            for old in list(cache)[:-2]:  # keep the last two days
                del cache[old]
        return found

    def _products(self, rng: np.random.Generator, cell: np.ndarray) -> np.ndarray:
        """A catalog row per (persona, category) cell, within the persona's price range."""
        offset = rng.random(cell.size) * self._p.product_span.ravel()[cell]
        return self._p.product_base.ravel()[cell] + offset.astype(np.int64)

    def _product_weights(self, day: dt.date) -> np.ndarray:
        """(persona, product) view weights on ``day``.

        A category's weight (basket weight x interest) spread evenly over the products in the
        persona's price range for it.
        """
        p, tb = self._p, self._tables
        category = tb.product_category
        number = np.arange(category.size) - category * self.config.products_per_category
        inside = (number >= p.product_lo[:, category]) & (number <= p.product_hi[:, category])
        weight = (p.basket_p * self.interest(day))[:, category] / p.product_span[:, category]
        return weight * inside

    def _start_times(
        self, rng: np.random.Generator, persona: np.ndarray, day: dt.date
    ) -> np.ndarray:
        """Session start (µs since the epoch): in preferred hours 80 % of the time."""
        lo, hi = self._p.hour_lo[persona], self._p.hour_hi[persona]
        preferred = rng.random(persona.size) < 0.8
        start = np.where(preferred, lo * 3600, 0)
        width = np.where(preferred, (hi - lo + 1) * 3600, 86_400)
        secs = start + rng.random(persona.size) * width
        return (day - _EPOCH).days * _DAY_US + (secs * 1e6).astype(np.int64)

    @cached_property
    def _id_text(self) -> dict[str, Text]:
        """Customer identifiers as string views, gathered by customer index."""
        return {k: Text.of(self._ids[k]) for k in ("customer_id", "user_pseudo_id", "email")}

    @cached_property
    def _tables(self) -> _Tables:
        return _Tables.build(self)

    @cached_property
    def _writer(self) -> _TextWriter:
        return _TextWriter.build(self)

    @cached_property
    def _list_price(self) -> np.ndarray:
        return self.catalog["list_price"].to_numpy()

    # ------------------------------------------------------------------ web events
    def sessions(self, day: dt.date) -> pl.DataFrame:
        """Web events for ``day`` in the GA4 BigQuery export shape (:data:`ga4.EXPORT_SCHEMA`).

        Values are drawn per session and per event as numpy arrays; every string column is
        a gather of Arrow string views from small per-simulator tables (pages, products,
        devices, places, channels, customer ids), and nested lists are flat values plus
        offsets, so no value is built row by row.
        """
        rng = rng_for(self.seed, "sessions", day)
        c, p, tb = self.customer_table, self._p, self._tables
        users = self._active(rng, "web", day)
        s = users.size
        persona = c["persona"][users]
        category = draw_grouped(rng, p.basket_p * self.interest(day), persona)
        channel = draw_grouped(rng, p.channels, persona)
        cell = persona * len(self.category_names) + category
        product = self._products(rng, cell)
        lift = np.exp(0.5 * self.config.signals.strength * self.latent_demand(day))[category]
        # A cart add, then perhaps a purchase, or a purchase alone (of a cart left on an
        # earlier day of the journey), at the rates of the customer's journey stage.
        stage, plan = self._journey_stage(day)[0][users], self._journey_plan
        cart_p = np.minimum(p.web_cart[persona] * lift * plan.cart["web"][persona, stage], 1.0)
        carted = rng.random(s) < cart_p
        recovered = lift * plan.recover["web"][persona, stage] / np.maximum(1 - cart_p, 1e-9)
        bought = rng.random(s) < np.where(carted, plan.buy["web"][persona, stage], recovered)
        quantity = rng.integers(p.qty_lo.ravel()[cell], p.qty_hi.ravel()[cell] + 1)
        page_views = 1 + rng.poisson(1.5, s)
        item_views = 1 + rng.poisson(0.6, s)
        start = self._start_times(rng, persona, day)
        session_number = (
            1
            + ((day - _EPOCH).days - c["first_seen"][users])
            * p.web_per_day[persona]
            * c["activity"][users]
        )
        consent = c["consent"][:2, users]  # analytics, ads
        denied = consent[0] == 1
        logged_in = c["logged_in"][users]

        # Events per session, in funnel order (WEB_EVENTS).
        counts = np.ones((s, len(WEB_EVENTS)), np.int64)
        counts[:, 1], counts[:, 3], counts[:, 4] = page_views, item_views, carted
        counts[:, 5:] = bought[:, None]
        # Events on the category page, on the product page and at the checkout.
        kinds = np.stack([2 + page_views, item_views + carted, 3 * bought], axis=1)
        per_session = kinds.sum(axis=1)
        end = np.cumsum(per_session)
        n = int(end[-1]) if s else 0
        sess = np.repeat(np.arange(s), per_session)
        ts = np.arange(n)
        ts -= np.repeat(end - per_session, per_session)  # step in the session
        ts *= rng.integers(3_000_000, 90_000_000, n, np.int32)  # 3 to 90 s between events
        ts += np.repeat(start, per_session)
        # event_date stays the partition's day: events past its end move to its last
        # microseconds, one apart in session order, so no two rows of a session are equal.
        last_us = (day - _EPOCH).days * _DAY_US + _DAY_US - 1
        late = np.flatnonzero(start + (per_session - 1) * 90_000_000 > last_us)
        k = per_session[late]
        after = np.arange(k.sum()) - np.repeat(np.cumsum(k), k)  # -(events after it) - 1
        event = np.repeat(end[late], k) + after
        ts[event] = np.minimum(ts[event], last_us + 1 + after)
        engagement = rng.integers(0, 20_000, n, np.int32)

        price = self._list_price[product] * (1 - self.discount(day)[category])
        revenue = np.round(price * quantity, 2)
        sid = start // 1_000_000
        date_str = day.strftime("%Y%m%d")
        purchase = np.zeros(n, bool)
        purchase[end[bought] - 1] = True  # the last event of a buying session

        # event_params: [ga_session_id, ga_session_number, page_location, page_title] for
        # consented hits; cookieless pings (analytics denied) carry no session ids:
        # [page_location, page_title, engagement_time_msec, page_referrer]. Page and title are
        # the category's for list events, the product's for item events, the checkout's for
        # checkout events; some checkout pages leak the email in the query string, as real
        # sites do. The four string views of every (session, page kind) are repeated to events.
        leak = bought & logged_in & (sid % 7 == 0)
        leak_urls = _fmt(f"{_HOST}/checkout?email={{}}", self._ids["email"].gather(users[leak]))
        text = tb.text.concat(Text.of(leak_urls))
        checkout_page = np.where(leak, tb.text.views.size + np.cumsum(leak) - 1, tb.checkout_page)
        page = text.views.take(
            np.stack([tb.category_page + category, tb.product_page + product, checkout_page], 1)
        )
        title = text.views.take(
            np.stack(
                [
                    tb.category_name + category,
                    tb.item_name + product,
                    np.full(s, tb.checkout_title),
                ],
                axis=1,
            )
        )
        param_text = np.empty((s, 3, 4), VIEW)
        param_text[:, :, 0] = param_text[:, :, 2] = page
        param_text[:, :, 1] = title
        param_text[:, :, 3] = np.where(denied[:, None], text.views[tb.referrer], title)
        param_text = np.repeat(param_text.reshape(-1, 4), kinds.ravel(), axis=0)
        integers = np.zeros((s, 4), np.int64)
        integers[:, 0], integers[:, 1] = sid, session_number
        integers = np.repeat(integers, per_session, axis=0)
        integers[:, 2] = engagement
        d = denied.view(np.uint8)
        ev_denied = np.repeat(d, per_session)
        params = param_structs(
            tb.keys.array(np.repeat(tb.key_views[d], per_session, axis=0).ravel()),
            text.array(param_text.ravel(), nibbles(_PARAM_STRING.take(ev_denied))),
            values(integers.ravel(), nibbles(_PARAM_INT.take(ev_denied))),
        )

        # Session-level string columns, gathered to events in one take.
        ids = self._id_text
        device, place, acq = c["device"][users], c["place"][users], c["acquisition"][users]
        columns = {  # name: (table, row per session, validity per session)
            "user_id": (ids["customer_id"], users, logged_in & ~denied),
            "user_pseudo_id": (ids["user_pseudo_id"], users, ~denied),
            "analytics_storage": (tb.consent, consent[0], None),
            "ads_storage": (tb.consent, consent[1], None),
            "uses_transient_token": (tb.no_yes, d, None),
            "device_category": (tb.device_category, device, None),
            "mobile_brand_name": (tb.device_brand, device, None),
            "operating_system": (tb.device_os, device, None),
            "country": (tb.country, place, None),
            "region": (tb.region, place, None),
            "city": (tb.city, place, None),
            "name": (tb.source_name, acq, None),
            "medium": (tb.medium, acq, None),
            "source": (tb.source, acq, None),
            "manual_campaign_name": (tb.campaign, channel, None),
            "manual_source": (tb.source, channel, None),
            "manual_medium": (tb.medium, channel, None),
        }
        views = np.stack([t.views.take(i) for t, i, _ in columns.values()]).take(sess, axis=1)
        masks = {"collected_traffic_source": ~tb.direct_channel[channel]}
        for name, (table, index, ok) in columns.items():
            if table.valid is not None:
                ok = table.valid.take(index) if ok is None else ok & table.valid.take(index)
            if ok is not None:
                masks[name] = ok
        masks_ev = dict(zip(masks, np.stack(list(masks.values())).take(sess, axis=1), strict=True))
        col = {
            name: table.array(views[j], masks_ev.get(name))
            for j, (name, (table, _, _)) in enumerate(columns.items())
        }
        numbers = np.stack(
            [c["first_seen"][users] * _DAY_US, quantity, revenue.view(np.int64)]
        ).take(sess, axis=1)

        # Items: one per item event (view_item and later), none on the others.
        items_per_session = kinds[:, 1] + kinds[:, 2]
        item_sess = np.repeat(np.arange(s), items_per_session)
        item_revenue_ok = np.zeros(item_sess.size, bool)
        item_revenue_ok[np.cumsum(items_per_session)[bought] - 1] = True
        item_views = np.stack(
            [t.views.take(product) for t in (tb.product_ids, tb.item_names, tb.brands)]
            + [tb.categories.views.take(category)]
        ).take(item_sess, axis=1)
        items = struct(
            {
                "item_id": tb.product_ids.array(item_views[0]),
                "item_name": tb.item_names.array(item_views[1]),
                "item_brand": tb.brands.array(item_views[2]),
                "item_category": tb.categories.array(item_views[3]),
                "price": values(np.round(price, 2).take(item_sess)),
                "quantity": values(quantity.take(item_sess)),
                "item_revenue": values(revenue.take(item_sess), item_revenue_ok),
            }
        )
        item_offsets = np.zeros(n + 1, np.int64)
        is_item = np.repeat(np.tile(np.array([0, 1, 1], np.int8), s), kinds.ravel())
        np.cumsum(is_item, out=item_offsets[1:])

        # The customer's email as a user property on purchases by logged-in customers.
        props = bought & logged_in & ~denied
        prop_offsets = np.zeros(n + 1, np.int64)
        prop_offsets[end[props]] = 1
        np.cumsum(prop_offsets, out=prop_offsets)
        n_props = int(props.sum())
        user_props = param_structs(
            tb.customer_email.array(np.full(n_props, tb.customer_email.views[0])),
            ids["email"].array(ids["email"].views.take(users[props])),
            nulls(pa.int64(), n_props),
        )
        # Purchases carry the transaction; other events have no ecommerce block.
        transaction = Text.of(_fmt(f"T{date_str}-{{}}", pl.Series(np.flatnonzero(bought))))
        transaction_views = np.zeros(s, VIEW)
        transaction_views[bought] = transaction.views
        return frame(
            {
                "event_date": constant(date_str, n),
                "event_timestamp": values(ts),
                "event_name": tb.web_events.array(
                    np.repeat(np.tile(tb.web_events.views, s), counts.ravel())
                ),
                "event_params": lists(params, np.arange(0, 4 * n + 1, 4)),
                "event_bundle_sequence_id": nulls(pa.int64(), n),
                "user_id": col["user_id"],
                "user_pseudo_id": col["user_pseudo_id"],
                "user_first_touch_timestamp": values(numbers[0], masks_ev["user_pseudo_id"]),
                "user_properties": lists(user_props, prop_offsets),
                "privacy_info": struct(
                    {
                        k: col[k]
                        for k in ("analytics_storage", "ads_storage", "uses_transient_token")
                    }
                ),
                "device": struct(
                    {
                        "category": col["device_category"],
                        "mobile_brand_name": col["mobile_brand_name"],
                        "operating_system": col["operating_system"],
                        "language": constant("en-us", n),
                    }
                ),
                "geo": struct(
                    {"continent": constant("Americas", n)}
                    | {k: col[k] for k in ("country", "region", "city")}
                ),
                "traffic_source": struct({k: col[k] for k in ("name", "medium", "source")}),
                "collected_traffic_source": struct(
                    {k: col[k] for k in ("manual_campaign_name", "manual_source", "manual_medium")}
                    | {"gclid": nulls(pa.string_view(), n)},
                    masks_ev["collected_traffic_source"],
                ),
                "platform": constant("WEB", n),
                "ecommerce": struct(
                    {
                        "total_item_quantity": values(numbers[1]),
                        "purchase_revenue": values(numbers[2].view(np.float64)),
                        "purchase_revenue_in_usd": values(numbers[2].view(np.float64)),
                        "transaction_id": transaction.array(transaction_views.take(sess)),
                        "unique_items": values(np.ones(n, np.int64)),
                    },
                    purchase,
                ),
                "items": lists(items, item_offsets),
            }
        )

    # ------------------------------------------------------------------ app events
    def app_events(self, day: dt.date) -> pl.DataFrame:
        """App view / add-to-cart / purchase events for ``day``.

        Active customers open one or more sessions (a new session after at least 30 minutes
        without events); each view turns into a cart add with the persona's view-to-cart rate,
        and a cart into a purchase later in the session with its cart-to-purchase rate, both
        times the multipliers of the customer's purchase-journey stage that day; on a
        journey's last two days a session may end in the purchase of a cart left on an
        earlier day (its product viewed, then bought). Rows come session by session, each
        view followed by its cart add and purchase.
        """
        rng = rng_for(self.seed, "app_events", day)
        c, p, tb = self.customer_table, self._p, self._tables
        users = self._active(rng, "app", day)
        n_sessions = 1 + draw_grouped(rng, _EXTRA_SESSIONS, np.zeros(users.size, np.int64))
        first_of_user = np.cumsum(n_sessions) - n_sessions
        s_user = np.repeat(users, n_sessions)
        s_num = np.arange(s_user.size) - np.repeat(first_of_user, n_sessions)
        persona = c["persona"][s_user]
        first = self._start_times(rng, persona, day)
        views = 1 + draw_grouped(rng, p.app_extra_views, persona)
        # A session lasts at most 2 minutes a view plus 16 for a checkout; the user's next
        # session that day starts at least SESSION_GAP_MINUTES after that.
        gap = np.empty(s_user.size)
        gap[0:1] = 0
        gap[1:] = (views[:-1] * 120 + 960) * 1e6
        gap += (SESSION_GAP_MINUTES * 60 + rng.exponential(3 * 3600, s_user.size)) * 1e6
        gap[s_num == 0] = 0
        offsets = np.cumsum(gap)
        offsets -= np.repeat(offsets[first_of_user], n_sessions)
        start = np.repeat(first[first_of_user], n_sessions) + offsets
        day_end = (day - _EPOCH).days * _DAY_US + _DAY_US - 1
        keep = start < day_end - 3_600_000_000  # a session needs time to happen today
        s_user, s_num, persona, start = s_user[keep], s_num[keep], persona[keep], start[keep]
        views = views[keep]
        del n_sessions, first_of_user, first, gap, offsets, keep
        v_persona = np.repeat(persona, views)
        v = v_persona.size
        # The product viewed (its category by the persona's basket weights and the day's
        # interest, then uniform in the persona's price range) and whether it may go to the
        # cart (the persona's view-to-cart rate, lifted by latent demand, at the highest
        # multiplier of its journey stages): one joint draw.
        plan = self._journey_plan
        weight = self._product_weights(day)
        lift = np.exp(0.5 * self.config.signals.strength * self.latent_demand(day))
        top = plan.cart["app"].max(axis=1)
        cart_p = np.minimum((p.app_v2c * top)[:, None] * lift[tb.product_category], 1.0)
        joint = np.stack([weight * (1 - cart_p), weight * cart_p], axis=2)
        outcome = draw_grouped(rng, joint.reshape(weight.shape[0], -1), v_persona, bins=16_384)
        del v_persona  # intermediates go as soon as they are used: a lower peak (RESULTS.md)
        per_view = outcome & 1  # carted; then events per view: the view, cart add, purchase
        product = outcome
        product >>= 1
        view_start = np.cumsum(views) - views
        # One uniform per candidate: the cart add stays at the customer's journey stage's
        # rate, and turns into a purchase in the session at the stage's rate.
        stage = self._journey_stage(day)[0][s_user]
        maybe = np.flatnonzero(per_view)
        cell = np.searchsorted(view_start, maybe, side="right") - 1  # the session
        cell = persona[cell] * _STAGES + stage[cell]
        stays = (plan.cart["app"] / top[:, None]).ravel()[cell]
        u = rng.random(maybe.size)
        cart = maybe[u < stays]
        bought = maybe[u < stays * plan.buy["app"].ravel()[cell]]  # a subset of cart
        per_view[maybe[u >= stays]] = 0
        # On a journey's last two days a session may end with the purchase of a cart left on
        # an earlier day: its last view (of that product), then the purchase.
        del maybe, cell, stays, u
        late = np.flatnonzero(stage >= 2)
        odds = views[late] * plan.recover["app"][persona[late], stage[late]]
        back = late[rng.random(late.size) < odds]
        last = view_start[back] + views[back] - 1
        buy = np.concatenate([bought, last[per_view[last] == 0]])
        # A view comes its rank in the session x 10 to 120 s after the session start.
        view_ts = np.arange(v)
        view_ts -= np.repeat(view_start, views)
        view_ts *= rng.integers(10_000_000, 120_000_000, v, np.int32)
        view_ts += np.repeat(start.astype(np.int64), views)
        cart_wait = rng.integers(5_000_000, 60_000_000, cart.size)
        cart_ts = view_ts[cart] + cart_wait
        buy_ts = view_ts[buy] + rng.integers(60_000_000, 900_000_000, buy.size)
        buy_ts[: bought.size] += cart_wait[np.searchsorted(cart, bought)]
        del cart_wait

        # Layout: every view, followed by its cart add and its purchase (either may be absent).
        per_view += 1
        per_view[buy] += 1
        at = np.cumsum(per_view)
        at -= per_view
        n = v + cart.size + buy.size
        ts = np.empty(n, np.int64)
        ts[at] = view_ts
        del view_ts
        at_cart = at[cart] + 1
        at_buy = at[buy] + per_view[buy] - 1
        del at
        ts[at_cart] = cart_ts
        ts[at_buy] = buy_ts
        np.minimum(ts, day_end, out=ts)
        kind = np.full(n, tb.app_events.views[0])
        kind[at_cart] = tb.app_events.views[1]
        kind[at_buy] = tb.app_events.views[2]
        del at_cart, at_buy, cart_ts, buy_ts
        product = np.repeat(product, per_view)
        del per_view
        per_session = views.copy()
        for extra in (cart, buy):
            per_session += np.bincount(
                np.searchsorted(view_start, extra, side="right") - 1, minlength=views.size
            )
        ordinal = day.toordinal()
        user_ids = self._id_text["customer_id"]
        session_ids = self._app_session_ids(s_user, s_num, ordinal)
        price = np.round(self._list_price * (1 - self.discount(day)[tb.product_category]), 2)
        return frame(
            {
                "event_id": numbered(f"A{ordinal}-", n).array(),
                "event_date": values(np.full(n, (day - _EPOCH).days, np.int32), type=pa.date32()),
                "event_timestamp": values(ts, type=pa.timestamp("us", "UTC")),
                "user_id": user_ids.array(np.repeat(user_ids.views.take(s_user), per_session)),
                "session_id": session_ids.array(np.repeat(session_ids.views, per_session)),
                "event_type": tb.app_events.array(kind),
                "product_id": tb.product_ids.array(tb.product_ids.views.take(product)),
                "category": tb.categories.array(
                    tb.categories.views.take(tb.product_category).take(product)
                ),
                "price": values(price.take(product)),
            }
        )

    def _app_session_ids(self, user: np.ndarray, number: np.ndarray, ordinal: int) -> Text:
        """``{customer_id}-{ordinal}-{number}`` per app session."""
        ids = self._id_text["customer_id"]
        if self.customers > 10**8 or (number.size and number.max() > 9):
            return Text.of(
                _fmt(
                    f"{{}}-{ordinal}-{{}}", self._ids["customer_id"].gather(user), pl.Series(number)
                )
            )
        # Customer ids ("C" and 8 digits) are inline in their views: bytes 4 to 12.
        middle = f"-{ordinal}-".encode()
        width = 9 + len(middle) + 1
        out = np.zeros((user.size, -(-width // 8) * 8), np.uint8)
        out[:, :9] = ids.views.take(user).view(np.uint8).reshape(-1, 16)[:, 4:13]
        out[:, 9 : width - 1] = np.frombuffer(middle, np.uint8)
        out[:, width - 1] = number + ord("0")
        return strings([(out, width)])

    # ------------------------------------------------------------------ signals
    def signals(self, day: dt.date) -> pl.DataFrame:
        """Reviews, search queries and social mentions per category for ``day``."""
        sig = self.config.signals
        rng = rng_for(self.seed, "signals", day)
        # Text has its own stream, so the counts, sentiment and ratings are drawn as before.
        text_rng = rng_for(self.seed, "signal_text", day)
        latent = self.latent_demand(day)
        lift = self.interest(day) * self.traffic_multiplier(day)
        frames = []
        for k, cat in enumerate(self.category_names):
            n_rev = rng.poisson(sig.daily_reviews_per_category * lift[k])
            n_soc = rng.poisson(sig.daily_social_per_category * lift[k])
            mood = np.tanh(0.4 + sig.strength * latent[k])
            rev_sent = np.clip(mood + rng.normal(0, 0.45, n_rev), -1, 1)
            soc_sent = np.clip(mood + rng.normal(0, 0.6, n_soc), -1, 1)
            rating = np.clip(np.round(3 + 2 * rev_sent + rng.normal(0, 0.4, n_rev)), 1, 5)
            q = sig.search_queries_per_category
            search_vol = rng.poisson(150 * lift[k], q) + 1
            hashtag = f"#{_prefix(cat).lower()} "
            # A reviewer writes to the stars they give (which follow the latent sentiment),
            # a social post to its sentiment.
            review_tone = np.clip(
                _TONE_FROM_RATING * (rating - 3) / 2 + (1 - _TONE_FROM_RATING) * rev_sent, -1, 1
            )
            # The draw the former fixed templates made: later categories' numbers stay as they were.
            rng.integers(0, 4, n_rev + n_soc)
            frames.append(
                pl.DataFrame(
                    {
                        "category": cat,
                        "source": ["review"] * n_rev + ["social"] * n_soc + ["search"] * q,
                        "text": self._writer.write(review_tone, cat, text_rng)
                        + [
                            hashtag + t
                            for t in self._writer.write(soc_sent, cat, text_rng, social=True)
                        ]
                        + [
                            f"{cat.lower()} {_SEARCH_TERMS[i % len(_SEARCH_TERMS)]}"
                            for i in range(q)
                        ],
                        "rating": pl.Series(np.concatenate([rating, np.full(n_soc + q, np.nan)]))
                        .fill_nan(None)
                        .cast(pl.Int64),
                        "sentiment": np.round(
                            np.concatenate([rev_sent, soc_sent, np.full(q, mood)]), 4
                        ),
                        "volume": np.concatenate(
                            [np.ones(n_rev + n_soc, dtype=np.int64), search_vol]
                        ),
                    }
                )
            )
        out = pl.concat(frames)
        return out.select(
            pl.format("S{}-{}", pl.lit(day.strftime("%Y%m%d")), pl.int_range(pl.len())).alias(
                "signal_id"
            ),
            pl.lit(day).alias("signal_date"),
            "category",
            "source",
            "text",
            "rating",
            "sentiment",
            "volume",
        )

    # ------------------------------------------------------------------ store sales
    def baskets(self, day: dt.date) -> pl.DataFrame:
        """Store basket lines for ``day`` with the customer and persona behind each."""
        return self._store_lines(day, with_customer=True)

    def _store_lines(self, day: dt.date, with_customer: bool) -> pl.DataFrame:
        """The lines of :meth:`baskets`; :meth:`transactions` without the customer columns.

        Intermediates are dropped as soon as they are used and each column is built after the
        previous one, so the day's memory peak stays low (fresh pages are the cost of a day).
        """
        rng = rng_for(self.seed, "transactions", day)
        c, p, cfg, tb = self.customer_table, self._p, self.config, self._tables
        shoppers = self._active(rng, "store", day)
        persona = c["persona"][shoppers]
        incl_p = np.minimum(p.basket_p * self.store_demand(day), 1.0)[persona]
        lines = rng.random(incl_p.shape) < incl_p
        # A store visit buys something: an empty draw takes one category by its weights.
        empty = ~lines.any(axis=1)
        forced = draw_rows(rng, incl_p[empty])
        lines[np.flatnonzero(empty), forced] = True
        del incl_p, empty, forced
        basket, category = np.nonzero(lines)
        n_lines = lines.sum(axis=1)
        del lines
        l_persona = persona[basket]
        cell = l_persona * len(self.category_names) + category
        product = self._products(rng, cell)
        qty = rng.integers(p.qty_lo.ravel()[cell], p.qty_hi.ravel()[cell] + 1)
        del cell
        unit = np.round(self._list_price[product] * (1 - self.discount(day)[category]), 2)
        home = c["home_store"][shoppers]
        # 85 % shop at their home store; the others at any store, drawn per shopper.
        away = rng.integers(0, cfg.stores, shoppers.size)
        store = np.where(rng.random(shoppers.size) < 0.85, home, away)
        del home, away
        # Stores open 08:00-22:00: shoppers come in their preferred hours within that.
        lo = np.clip(p.hour_lo[persona], 8, 21)
        hi = np.clip(p.hour_hi[persona], lo, 21)
        secs = lo * 3600 + rng.random(persona.size) * (hi - lo + 1) * 3600
        ts = (day - _EPOCH).days * _DAY_US + (secs * 1e6).astype(np.int64)
        del lo, hi, secs, persona
        date_str = day.strftime("%Y%m%d")

        # Lines come basket by basket in (timestamp, basket_id) order.
        order = _order_by_time_then_id(ts)
        counts = n_lines[order]
        n = int(counts.sum())
        first = np.cumsum(counts) - counts
        at = np.repeat(np.cumsum(n_lines)[order] - counts - first, counts) + np.arange(n)
        del order, counts, first
        b = basket[at]
        del basket
        ids = self._transaction_ids(date_str, n_lines)
        columns = {"transaction_id": ids.array(ids.views.take(at))}
        del ids
        basket_ids = numbered(f"B{date_str}-", shoppers.size)
        columns["basket_id"] = basket_ids.array(basket_ids.views.take(b))
        del basket_ids
        columns["transaction_date"] = values(
            np.full(n, (day - _EPOCH).days, np.int32), type=pa.date32()
        )
        columns["transaction_ts"] = values(ts.take(b), type=pa.timestamp("us", "UTC"))
        columns["store_id"] = tb.stores.array(tb.stores.views.take(store.take(b)))
        del ts, store
        columns["product_id"] = tb.product_ids.array(tb.product_ids.views.take(product.take(at)))
        columns["category"] = tb.categories.array(tb.categories.views.take(category.take(at)))
        del product, category
        columns["quantity"] = values(qty.take(at))
        columns["unit_price"] = values(unit.take(at))
        columns["revenue"] = values(np.round(unit * qty, 2).take(at))
        del qty, unit
        if with_customer:
            columns["customer_index"] = values(shoppers.take(b))
            columns["persona"] = tb.personas.array(tb.personas.views.take(l_persona.take(at)))
        return frame(columns)

    def _transaction_ids(self, date_str: str, n_lines: np.ndarray) -> Text:
        """``X{date}-{basket}-{line}`` for every line, baskets in number order."""
        if n_lines.size and n_lines.max() > 10:
            basket = np.repeat(np.arange(n_lines.size), n_lines)
            line = np.arange(basket.size) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
            return Text.of(_fmt(f"X{date_str}-{{}}-{{}}", pl.Series(basket), pl.Series(line)))
        blocks, start = [], 0
        for block, width in number_blocks(f"X{date_str}-", n_lines.size, "-0"):
            counts = n_lines[start : start + block.shape[0]]
            start += block.shape[0]
            out = np.repeat(block, counts, axis=0)
            line = np.arange(out.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
            out[:, width - 1] += line.astype(np.uint8)
            blocks.append((out, width))
        return strings(blocks, shared=len(date_str) + 2)

    def transactions(self, day: dt.date) -> pl.DataFrame:
        """Store x product sales lines for ``day``, as a point-of-sale system records them.

        :meth:`baskets` without ``customer_index`` and ``persona`` (not built at all).
        """
        return self._store_lines(day, with_customer=False)


@dataclass(frozen=True)
class _Tables:
    """String tables the day methods gather from, built once per simulator.

    ``text`` holds every page location and title of the web events; ``category_page``,
    ``product_page``, ``checkout_page``, ``checkout_title``, ``item_name``, ``category_name``
    and ``referrer`` are row offsets into it.
    """

    categories: Text
    personas: Text
    product_ids: Text
    item_names: Text
    brands: Text
    stores: Text
    app_events: Text
    web_events: Text
    keys: Text
    key_views: np.ndarray  # (2, 4) event param keys of consented / denied hits
    customer_email: Text
    text: Text
    category_page: int
    product_page: int
    checkout_page: int
    checkout_title: int
    item_name: int
    category_name: int
    referrer: int
    consent: Text
    no_yes: Text
    device_category: Text
    device_brand: Text
    device_os: Text
    country: Text
    region: Text
    city: Text
    source: Text
    medium: Text
    campaign: Text
    source_name: Text  # campaign, or source without one (GA4 traffic_source.name)
    direct_channel: np.ndarray
    product_category: np.ndarray  # category index of every catalog row

    @classmethod
    def build(cls, sim: Simulator) -> _Tables:
        cat = sim.catalog.rechunk()
        names = sim.category_names
        k, n_products = len(names), cat.height
        channels = [sim.config.channels[x] for x in sim.channel_names]
        keys = Text.of(
            [
                "ga_session_id",
                "ga_session_number",
                "page_location",
                "page_title",
                "engagement_time_msec",
                "page_referrer",
            ]
        )
        return cls(
            categories=Text.of(names),
            personas=Text.of(sim.persona_names),
            product_ids=Text.of(cat["product_id"]),
            item_names=Text.of(cat["item_name"]),
            brands=Text.of(cat["brand"]),
            stores=Text.of([f"S{i + 1:03d}" for i in range(sim.config.stores)]),
            app_events=Text.of(APP_EVENTS),
            web_events=Text.of(WEB_EVENTS),
            keys=keys,
            key_views=keys.views[np.array([[0, 1, 2, 3], [2, 3, 4, 5]])],
            customer_email=Text.of(["customer_email"]),
            text=Text.of(
                [
                    *(f"{_HOST}/c/{_slug(x)}" for x in names),
                    *cat["page_location"],
                    f"{_HOST}/checkout",
                    "Checkout",
                    *cat["item_name"],
                    *names,
                    _HOST + "/",
                ]
            ),
            category_page=0,
            product_page=k,
            checkout_page=k + n_products,
            checkout_title=k + n_products + 1,
            item_name=k + n_products + 2,
            category_name=k + 2 * n_products + 2,
            referrer=2 * k + 2 * n_products + 2,
            consent=Text.of(["Yes", "No", "Unset"]),
            no_yes=Text.of(["No", "Yes"]),
            device_category=Text.of([d[0] for d in _DEVICES]),
            device_brand=Text.of([d[1] for d in _DEVICES]),
            device_os=Text.of([d[2] for d in _DEVICES]),
            country=Text.of([x[0] for x in _PLACES]),
            region=Text.of([x[1] for x in _PLACES]),
            city=Text.of([x[2] for x in _PLACES]),
            source=Text.of([x.source for x in channels]),
            medium=Text.of([x.medium for x in channels]),
            campaign=Text.of([x.campaign for x in channels]),
            source_name=Text.of([x.source if x.campaign is None else x.campaign for x in channels]),
            direct_channel=np.array([x.source == "(direct)" for x in channels]),
            product_category=cat["category_index"].to_numpy(),
        )


@dataclass(frozen=True)
class _PersonaArrays:
    """Per-persona figures as arrays indexed by persona (and category / channel)."""

    share: np.ndarray
    web_per_day: np.ndarray
    app_per_day: np.ndarray
    store_per_day: np.ndarray
    hour_lo: np.ndarray
    hour_hi: np.ndarray
    web_cart: np.ndarray
    web_buy: np.ndarray
    app_views: np.ndarray
    app_v2c: np.ndarray
    app_c2p: np.ndarray
    app_extra_views: np.ndarray  # Poisson probabilities of 0, 1, ... views beyond the first
    basket_p: np.ndarray
    qty_lo: np.ndarray
    qty_hi: np.ndarray
    product_lo: np.ndarray
    product_hi: np.ndarray
    product_span: np.ndarray
    product_base: np.ndarray
    channels: np.ndarray
    consent: np.ndarray
    demographics: dict[str, np.ndarray]

    @classmethod
    def build(cls, sim: Simulator) -> _PersonaArrays:
        cfg = sim.config
        ps = list(cfg.personas.values())
        cats = sim.category_names
        prices = sim.catalog.partition_by("category_index", maintain_order=True)
        n_prod = cfg.products_per_category
        shape = (len(ps), len(cats))
        basket_p = np.zeros(shape)
        qty_lo, qty_hi = np.ones(shape, int), np.ones(shape, int)
        product_lo, product_hi = np.zeros(shape, int), np.full(shape, n_prod - 1)
        for i, persona in enumerate(ps):
            for k, cat in enumerate(cats):
                line = persona.basket.get(cat)
                if line is None:
                    continue
                basket_p[i, k] = line.probability
                qty_lo[i, k], qty_hi[i, k] = line.quantity
                price = prices[k]["list_price"].to_numpy()
                lo = int(np.searchsorted(price, line.price[0]))
                hi = int(np.searchsorted(price, line.price[1], side="right")) - 1
                if hi < lo:  # no product in range: take the nearest one
                    lo = hi = int(np.clip(np.abs(price - np.mean(line.price)).argmin(), 0, None))
                product_lo[i, k], product_hi[i, k] = lo, hi
        share = np.array([x.share for x in ps])
        income_levels = ["low", "middle", "high"]
        return cls(
            share=share / share.sum(),
            web_per_day=np.array([x.web_visits_per_week / 7 for x in ps]),
            app_per_day=np.array([x.app_sessions_per_week / 7 / 1.4 for x in ps]),
            store_per_day=np.array([x.store_visits_per_month * 12 / 365.25 for x in ps]),
            hour_lo=np.array([x.preferred_hours[0] for x in ps]),
            hour_hi=np.array([x.preferred_hours[1] for x in ps]),
            web_cart=np.array([x.web_funnel.cart_rate for x in ps]),
            web_buy=np.array([x.web_funnel.purchase_given_cart for x in ps]),
            app_views=np.array([x.app_funnel.views_per_session for x in ps]),
            app_v2c=np.array([x.app_funnel.view_to_cart for x in ps]),
            app_c2p=np.array([x.app_funnel.cart_to_purchase for x in ps]),
            app_extra_views=_poisson_pmf(
                np.array([x.app_funnel.views_per_session - 1 for x in ps])
            ),
            basket_p=basket_p,
            qty_lo=qty_lo,
            qty_hi=qty_hi,
            product_lo=product_lo,
            product_hi=product_hi,
            product_span=product_hi - product_lo + 1,
            product_base=np.arange(len(cats)) * n_prod + product_lo,
            channels=np.array([[x.channels.get(c, 0.0) for c in sim.channel_names] for x in ps]),
            consent=np.array([[x.consent.get(c, 0.0) for c in ("Yes", "No", "Unset")] for x in ps]),
            demographics={
                "age_lo": np.array([x.demographics.age[0] for x in ps]),
                "age_hi": np.array([x.demographics.age[1] for x in ps]),
                "hh_lo": np.array([x.demographics.household_size[0] for x in ps]),
                "hh_hi": np.array([x.demographics.household_size[1] for x in ps]),
                "income": np.array(
                    [[x.demographics.income.get(b, 0.0) for b in income_levels] for x in ps]
                ),
            },
        )


@dataclass(frozen=True)
class _JourneyPlan:
    """What purchase journeys change: per customer, and per channel a (persona, stage) table.

    ``threshold``: the customer's weekly probability of starting a journey x 2**16, set so
    the journeys' extra visits make ``_JOURNEY_VISIT_SHARE`` of their online visits; the
    rest, ``kept`` of the visits a day (frequency x activity), come on any day. ``capped``
    customers visit so often that the weekly probability would pass
    ``_JOURNEY_MAX_PER_WEEK``: they have that one and keep ``capped_visits`` a day per
    channel. Per channel and (persona, stage): ``extra_visits``, the stage's extra visit
    probability, split over web and app as the persona's visits are; ``cart``, the
    multiplier of the persona's view-to-cart (web: cart) rate; ``buy``, the probability that
    a cart add turns into a purchase in the session; ``recover``, purchases of a cart left
    on an earlier day per view (web: per session). Off journeys (stage 0) the cart and
    purchase multipliers are solved per persona from the expected share of visits at each
    stage, so the configured rates stay about the averages over all days. ``stage_by_pick``: the
    stage on each day of the customer's week (0 to 6) of a journey by its pick.
    """

    threshold: np.ndarray
    kept: float
    capped: np.ndarray
    capped_visits: dict[str, np.ndarray]
    extra_visits: dict[str, np.ndarray]
    cart: dict[str, np.ndarray]
    buy: dict[str, np.ndarray]
    recover: dict[str, np.ndarray]
    stage_by_pick: np.ndarray

    @classmethod
    def build(cls, sim: Simulator) -> _JourneyPlan:
        p, rate = sim._p, sim._propensity
        lo, hi = _JOURNEY_DAYS
        days = np.array([0.0, (lo + hi) / 2 - 2, 1.0, 1.0])  # a journey's mean days per stage
        per_journey = float(days @ _STAGE_VISITS)  # and its expected extra visits
        share, most = _JOURNEY_VISIT_SHARE, _JOURNEY_MAX_PER_WEEK
        # Journeys a week (before the cap) x 2**16, in float32 (half the memory traffic).
        weekly = np.add(rate["web"], rate["app"], dtype=np.float32)
        weekly *= np.float32(share * 7 / per_journey * 2**16)
        cap = np.float32(most * 2**16)
        capped = np.flatnonzero(weekly > cap)
        kept_capped = 1 - share * most * 2**16 / weekly[capped].astype(np.float64)
        np.minimum(weekly, cap, out=weekly)
        # Expected visits at each stage per persona, over 512 activity levels (every 8th of
        # the sorted levels of the first 4,096 customers) as if each were of every persona:
        # (persona, level) arrays.
        n_personas = len(p.share)
        level = np.sort(sim.customer_table["activity"][:4096])[::-8]
        online = np.maximum(p.web_per_day + p.app_per_day, 1e-300)
        head = (share * 7 / per_journey * online)[:, None] * level  # journeys a week, uncapped
        kept_k = 1 - share * most / np.maximum(head, most)
        on_stage = np.minimum(head, most)[..., None] / 7 * days  # share of days at each stage
        on_stage[..., 0] = 1 - on_stage.sum(axis=-1)
        funnel = {"web": (p.web_cart, p.web_buy), "app": (p.app_v2c, p.app_c2p)}
        capped_visits, extra, cart, buy, recover = {}, {}, {}, {}, {}
        for channel, own in (("web", p.web_per_day), ("app", p.app_per_day)):
            capped_visits[channel] = rate[channel][capped] * kept_capped
            extra[channel] = (own / online)[:, None] * _STAGE_VISITS
            # A visit's probability at each stage (at most 1), times the days at the stage.
            base = own[:, None] * level * kept_k  # visits a day besides the journeys' extra
            visits = np.minimum(base[..., None] + extra[channel][:, None, :], 1.0) * on_stage
            visits = visits.sum(axis=1)
            seen = visits / np.maximum(visits.sum(axis=1, keepdims=True), 1e-300)
            off = np.maximum(seen[:, 0], 1e-9)  # personas without visits keep 1 off journeys
            mult = np.tile(_STAGE_CART, (n_personas, 1))
            then = np.tile(_STAGE_BUY, (n_personas, 1))
            carts = (seen[:, 1:] * mult[:, 1:]).sum(axis=1)
            mult[:, 0] = np.where(seen[:, 0] > 0, (1 - carts) / off, 1.0)
            np.maximum(mult[:, 0], _OFF_JOURNEY_FLOOR, out=mult[:, 0])
            bought = (seen[:, 1:] * (mult[:, 1:] * then[:, 1:] + _STAGE_RECOVER[1:])).sum(axis=1)
            then[:, 0] = np.where(seen[:, 0] > 0, (1 - bought) / (off * mult[:, 0]), 1.0)
            np.maximum(then[:, 0], _OFF_JOURNEY_FLOOR, out=then[:, 0])
            to_cart, to_buy = funnel[channel]
            cart[channel] = mult
            buy[channel] = np.minimum(to_buy[:, None] * then, 1.0)
            recover[channel] = (to_cart * to_buy)[:, None] * _STAGE_RECOVER
        # A pick is a length (lo to hi days, uniform) and a first day in the customer's week
        # (uniform among those that end the journey within it): `starts` picks per length.
        starts = math.lcm(*range(8 - hi, 9 - lo))
        pick = np.arange((hi - lo + 1) * starts)
        length = lo + pick // starts
        first, weekday = pick % starts % (8 - length), np.arange(7)[:, None]
        left = first + length - 1 - weekday  # days to the journey's last day
        on = (first <= weekday) & (left >= 0)
        return cls(
            threshold=weekly.astype(np.uint16),
            kept=1 - share,
            capped=capped,
            capped_visits=capped_visits,
            extra_visits=extra,
            cart=cart,
            buy=buy,
            recover=recover,
            stage_by_pick=np.where(on, 3 - np.minimum(left, 2), 0).astype(np.int8),
        )


# ------------------------------------------------------------------ draws and GA4 details

# Validity bits of the four event params (slot i is bit i) holding a string / an int, for
# consented hits (ga_session_id, ga_session_number, page_location, page_title) and denied
# ones (page_location, page_title, engagement_time_msec, page_referrer).
_PARAM_STRING = np.array([0b1100, 0b1011], np.uint8)
_PARAM_INT = np.array([0b0011, 0b0100], np.uint8)


def _poisson_pmf(mean: np.ndarray) -> np.ndarray:
    """Poisson probabilities of 0, 1, ... per mean (rows), up to where the rest is < 1e-18.

    Drawing from these with :func:`draw_grouped` is inverse-transform sampling: the same
    distribution as ``rng.poisson`` at float precision, one uniform per draw.
    """
    top = int(mean.max() + 20 * np.sqrt(mean.max()) + 40)
    pmf = np.empty((mean.size, top + 1))
    pmf[:, 0] = np.exp(-mean)
    for k in range(1, top + 1):
        pmf[:, k] = pmf[:, k - 1] * mean / k
    tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # P(X >= k)
    return pmf[:, : int((tail > 1e-18).any(axis=0).sum())]


_EXTRA_SESSIONS = _poisson_pmf(np.array([0.4]))  # app sessions beyond the first on a day

# Purchase journeys (Simulator._journey_stage, _JourneyPlan). Stages: 0 off journeys, 1 two
# or more days before the journey's last day (research: views and carts, few purchases), 2
# the day before the last, 3 the last day (purchases, of carts left earlier among them).
# Stage 0's cart and buy multipliers are solved per persona (the 1.0 below is unused).
_STAGES = 4
_JOURNEY_DAYS = (2, 6)  # shortest and longest journey, in days (uniform; at most 7, a week)
_JOURNEY_VISIT_SHARE = 0.6  # share of a customer's online visits that are journey visits
_JOURNEY_MAX_PER_WEEK = 0.8  # highest weekly probability of starting a journey
_STAGE_VISITS = np.array([0.0, 0.6, 0.75, 0.9])  # extra visit probability a day, web + app
_STAGE_CART = np.array([1.0, 1.25, 2.0, 0.5])  # x the persona's view-to-cart rate
_STAGE_BUY = np.array([1.0, 0.2, 0.6, 1.9])  # x its cart-to-purchase rate, in the session
_STAGE_RECOVER = np.array([0.0, 0.0, 0.5, 1.5])  # purchases alone a view, x v2c x c2p
_OFF_JOURNEY_FLOOR = 0.2  # lowest stage-0 multiplier


def draw_grouped(
    rng: np.random.Generator,
    weights: np.ndarray,
    group: np.ndarray,
    bins: int = 4096,
) -> np.ndarray:
    """``draw_rows(rng, weights[group])`` for a (groups, k) table, without the (rows, k) matrix.

    One uniform per row, as ``draw_rows`` draws, mapped to its index through a guide table
    (the index at each of ``bins`` equal slices of [0, 1) per group, a power of two); the few
    rows whose slice holds a boundary between two indexes are resolved by comparing with the
    cumulative weights. The uniform is ``rng.random()``'s (53 top bits of the generator's
    next 64), taken as raw bits: the slice is their top bits, without float work.
    """
    cum = np.cumsum(weights, axis=1)
    norm = cum / cum[:, -1:]
    groups, k = norm.shape
    # Per slice i: the index at its start, #{norm <= i/bins}, and just below its end,
    # #{norm < (i+1)/bins}; equal means one index covers the whole slice.
    scaled = norm * bins  # exact: a power of two
    whole = np.floor(scaled).astype(np.int64)
    at = whole + np.arange(groups)[:, None] * (bins + 1)
    below = np.bincount(at.ravel(), minlength=groups * (bins + 1)).reshape(groups, -1)
    on_edge = np.bincount(at[scaled == whole], minlength=groups * (bins + 1))
    before = np.cumsum(below, axis=1) - below
    lo = before + on_edge.reshape(groups, -1)
    guide = np.where(lo == before + below, lo, -1)[:, :bins].ravel()
    bits = rng.bit_generator.random_raw(group.size)
    index = (bits >> np.uint64(64 - (bins.bit_length() - 1))).view(np.int64)  # < bins
    index += group * bins
    out = guide.take(index)
    odd = np.flatnonzero(out < 0)
    u_odd = (bits[odd] >> np.uint64(11)) * 2.0**-53  # what rng.random() makes of them
    if k <= 32:
        out[odd] = (u_odd[:, None] >= norm[group[odd]]).sum(axis=1)
    else:  # many indexes: binary search, groups 2 apart on one axis
        offset = 2 * np.arange(groups)[:, None]
        found = np.searchsorted((offset + norm).ravel(), 2 * group[odd] + u_odd, "right")
        out[odd] = np.minimum(found - group[odd] * k, k - 1)
    return out


def _order_by_time_then_id(ts: np.ndarray) -> np.ndarray:
    """Basket numbers by timestamp, ties broken as their ``basket_id`` strings sort."""
    bits = max(ts.size - 1, 1).bit_length()
    if ts.size and int(ts.max() - ts.min()).bit_length() + bits < 63:
        key = (ts - ts.min()) << bits  # timestamp, then basket number, in one int64
        key |= np.arange(ts.size)
        key.sort()
        order = key & ((1 << bits) - 1)
        key >>= bits
        ties = np.flatnonzero(key[1:] == key[:-1])
    else:
        order = np.argsort(ts, kind="stable")
        ties = np.flatnonzero(ts[order][1:] == ts[order][:-1])
    for i in ties:  # equal microseconds: rare, fixed one run at a time
        j = i
        while j > 0 and ts[order[j - 1]] == ts[order[i]]:
            j -= 1
        k = i + 2
        while k < order.size and ts[order[k]] == ts[order[i]]:
            k += 1
        order[j:k] = sorted(order[j:k], key=str)
    return order


#: Weight of the rating in a review's tone (the rest is its latent sentiment).
_TONE_FROM_RATING = 0.75
#: Spread (in polarity levels) of each clause's level around twice the text's tone.
_TONE_NOISE = 0.33
#: Share of texts that name a product, brand or store, and how those split over the three.
_ENTITY_SHARE = 0.5
_ENTITY_KINDS = ("product", "product", "brand", "store")
#: Share of reviews that are just a one-line review from ``_REVIEW_TEXT``.
_ONE_LINER_SHARE = 0.08
_CLASS_OF_LEVEL = ("negative", "negative", "neutral", "positive", "positive")


def _pick(pool: tuple[str, ...] | list[str], u: float) -> str:
    return pool[int(u * len(pool))]


@dataclass(frozen=True)
class _TextWriter:
    """Review and social text for a tone per row (-1..1, the scale of the latent sentiment).

    A text is an opening (which names a product of the category, a brand or a store for
    ``_ENTITY_SHARE`` of them), then one to three clauses. Each clause has its own polarity
    level: twice the tone plus normal noise (``_TONE_NOISE``), rounded into -2..2, so most
    clauses agree with the tone and some are a level off: a four-star review can read
    lukewarm, a middling one lean either way. A clause is an adjective of its level about an
    aspect of the category, the aspect's positive or negative note, or a stock phrase (with
    negations: "not bad at all", "wasn't worth it"); a level-0 clause may be a mixed statement
    ("good price but slow delivery"). All draws come from the generator passed in: a normal
    matrix and a uniform matrix per call, the loop only picks and joins strings.
    """

    products: dict[str, list[str]]  # category -> product names
    brands: list[str]
    stores: list[str]

    @classmethod
    def build(cls, sim: Simulator) -> _TextWriter:
        names = sim.catalog.group_by("category", maintain_order=True).agg("item_name")
        return cls(
            products=dict(zip(names["category"], names["item_name"].to_list(), strict=True)),
            brands=_BRANDS,
            stores=[f"S{i + 1:03d}" for i in range(sim.config.stores)],
        )

    def write(
        self, tone: np.ndarray, cat: str, rng: np.random.Generator, social: bool = False
    ) -> list[str]:
        """One text per tone, about category ``cat``; ``social`` for short, lower-case posts."""
        n = tone.size
        levels = np.round(2 * tone[:, None] + rng.normal(0, _TONE_NOISE, (n, 3)))
        levels = np.clip(levels, -2, 2).astype(np.int64).tolist()
        draws = rng.random((n, 21)).tolist()
        aspects = _COMMON_ASPECTS + _CATEGORY_ASPECTS.get(cat.lower(), ())
        names = {"product": self.products[cat], "brand": self.brands, "store": self.stores}
        openings = _SOCIAL_OPENINGS if social else _OPENINGS
        lower = cat.lower()
        out = []
        for level, u in zip(levels, draws, strict=True):
            # u[0..3] the opening, u[4..5] the body, u[6..18] three clauses, u[19..20] the style
            kind = _pick(_ENTITY_KINDS, u[1]) if u[0] < _ENTITY_SHARE else "none"
            opening = ""
            if kind != "none" or u[1] < 0.3:
                name = _pick(names[kind], u[2]) if kind != "none" else ""
                opening = _pick(openings[kind], u[3]).format(
                    product=name, brand=name, store=name, cat=lower
                )
            if not social and u[4] < _ONE_LINER_SHARE:
                body = [_pick(_REVIEW_TEXT[_CLASS_OF_LEVEL[level[0] + 2]], u[5]).format(cat=lower)]
            else:
                count = 1 if u[4] < (0.7 if social else 0.45) else 2 if u[4] < 0.85 else 3
                # Clauses' aspects a third of the list apart: one review, different aspects.
                body = [
                    _clause(
                        level[i], aspects, lower, (u[6] + i / 3) % 1.0, *u[7 + 4 * i : 11 + 4 * i]
                    )
                    for i in range(count)
                ]
            if social:
                sep = " " if opening.endswith((":", "?")) else ": " if u[19] < 0.5 else " - "
                out.append(sep.join(x for x in (opening, ", ".join(body)) if x))
                continue
            sentences = [opening] if opening else []
            sentences += body if u[19] < 0.5 else [", ".join(body)]
            end = "!" if abs(level[0]) == 2 and u[20] < 0.5 else "."
            out.append(". ".join(s[0].upper() + s[1:] for s in sentences) + end)
        return out


def _clause(
    level: int,
    aspects: tuple[tuple[str, str, str], ...],
    cat: str,
    aspect: float,
    kind: float,
    word: float,
    modifier: float,
    order: float,
) -> str:
    """One clause at ``level`` about an aspect; the other arguments are uniform draws."""
    i = int(aspect * len(aspects))
    noun, good, bad = aspects[i]
    if level == 0:
        if kind < 0.35:
            j = int(word * (len(aspects) - 1))  # another aspect
            _, other_good, other_bad = aspects[j + (j >= i)]
            return f"{good} but {other_bad}" if order < 0.5 else f"{bad} but {other_good}"
        if kind < 0.7:
            return f"the {noun} is {_pick(_HEDGES, modifier)}{_pick(_POLARITY[0], word)}"
        return _pick(_IDIOMS[0], word).format(cat=cat)
    if kind < 0.45:
        if abs(level) == 2 and modifier < 0.4:  # "really good"
            text = _pick(_INTENSIFIERS, modifier / 0.4) + _pick(_POLARITY[level // 2], word)
        elif abs(level) == 1:
            text = _pick(_HEDGES, modifier) + _pick(_POLARITY[level], word)
        else:
            text = _pick(_POLARITY[level], word)
        return f"the {noun} is {text}" if order < 0.5 else f"{text} {noun}"
    if kind < 0.7:
        return good if level > 0 else bad
    return _pick(_IDIOMS[level], word).format(cat=cat)
