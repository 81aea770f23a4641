"""The retailer's static world: its catalog, personas and customer base.

:class:`Retailer` holds the configuration, seed and customer count every part of the
simulator starts from; the other parts of the ``Simulator`` (``core.py``) subclass it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from retail_assets.lib.config import SimulationConfig
from retail_assets.lib.sources.simulator.columns import Text
from retail_assets.lib.sources.simulator.draws import _poisson_pmf, draw_rows, rng_for

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


def _fmt(template: str, *parts: pl.Series) -> pl.Series:
    """``pl.format`` over Series: the template's ``{}`` filled row by row."""
    return pl.select(pl.format(template, *(pl.lit(p) for p in parts))).to_series()


def _prefix(name: str) -> str:
    return name.replace(" & ", "").replace(" ", "").upper()


def _slug(name: str) -> str:
    return name.lower().replace(" & ", "-").replace(" ", "-")


@dataclass(frozen=True)
class Retailer:
    """The configuration, seed and customer count, and the static world built from them."""

    config: SimulationConfig
    seed: int = 42
    customers: int = 20_000

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

    @cached_property
    def _propensity(self) -> dict[str, np.ndarray]:
        """Per customer visits per average day, by channel (persona frequency x activity)."""
        c, p = self.customer_table, self._p
        per_day = {"web": p.web_per_day, "app": p.app_per_day, "store": p.store_per_day}
        return {name: rate[c["persona"]] * c["activity"] for name, rate in per_day.items()}

    @cached_property
    def _id_text(self) -> dict[str, Text]:
        """Customer identifiers as string views, gathered by customer index."""
        return {k: Text.of(self._ids[k]) for k in ("customer_id", "user_pseudo_id", "email")}

    @cached_property
    def _list_price(self) -> np.ndarray:
        return self.catalog["list_price"].to_numpy()


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
    def build(cls, sim: Retailer) -> _PersonaArrays:
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
