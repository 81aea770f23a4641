"""A vectorized simulator of a retailer's customers, web events, signals and store sales.

Every draw for a day is seeded from ``(base seed, entity, date)``, so any partition can be
simulated alone, in any order or in parallel, and simulating it twice gives the same rows.
Demand per category follows a latent process (a sum of slow waves with seeded phases); the
behavioral signals move with it on the day and store sales follow it ``lag_days`` later, so
signals lead sales as they do for a real retailer.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from retail_assets.lib.config import SimulationConfig

_EPOCH = dt.date(1970, 1, 1)
_FIRST_NAMES = np.array(
    [
        "ana",
        "ben",
        "chloe",
        "dev",
        "emma",
        "farid",
        "grace",
        "hiro",
        "ines",
        "jack",
        "kemi",
        "liam",
        "maya",
        "noah",
        "olga",
        "pablo",
        "quinn",
        "rosa",
        "sam",
        "tara",
    ]
)
_LAST_NAMES = np.array(
    [
        "smith",
        "garcia",
        "chen",
        "patel",
        "kim",
        "nguyen",
        "okafor",
        "rossi",
        "silva",
        "muller",
        "cohen",
        "ivanova",
        "jones",
        "brown",
        "lopez",
        "sato",
    ]
)
_COUNTRIES = np.array(["United States", "United States", "United States", "Canada", "Mexico"])
_CITIES = np.array(["New York", "Chicago", "Austin", "Seattle", "Toronto", "Monterrey"])
_DEVICES = np.array(["desktop", "mobile", "tablet"])
_DEVICE_P = np.array([0.38, 0.55, 0.07])
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
_SEARCH_TERMS = ["deals", "best", "cheap", "near me", "reviews", "sale", "new", "gift"]


def rng_for(seed: int, entity: str, day: dt.date | None = None) -> np.random.Generator:
    """A generator seeded from (seed, entity, date): independent of any other partition."""
    parts = [seed, zlib.crc32(entity.encode())]
    if day is not None:
        parts.append(day.toordinal())
    return np.random.default_rng(parts)


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
    def customer_table(self) -> dict[str, np.ndarray]:
        """The customer base: persona, identifiers, contact data and consent, as arrays."""
        rng = rng_for(self.seed, "customers")
        n = self.customers
        shares = np.array([p.share for p in self.config.personas.values()])
        persona = rng.choice(len(shares), size=n, p=shares / shares.sum())
        consent_codes = np.array(["Yes", "No", "Unset"])
        analytics = np.empty(n, dtype=object)
        ads = np.empty(n, dtype=object)
        for i, p in enumerate(self.config.personas.values()):
            idx = np.flatnonzero(persona == i)
            w = np.array([p.consent.get(c, 0.0) for c in consent_codes])
            analytics[idx] = rng.choice(consent_codes, size=idx.size, p=w / w.sum())
            ads[idx] = rng.choice(consent_codes, size=idx.size, p=w / w.sum())
        ids = np.arange(n)
        first = _FIRST_NAMES[rng.integers(0, _FIRST_NAMES.size, n)]
        last = _LAST_NAMES[rng.integers(0, _LAST_NAMES.size, n)]
        first_visit = 1_600_000_000 + rng.integers(0, 100_000_000, n)
        client = rng.integers(100_000_000, 2_000_000_000, n)
        return {
            "persona": persona,
            "user_id": np.char.add("C", np.char.zfill(ids.astype(str), 8)),
            "user_pseudo_id": np.char.add(
                np.char.add(client.astype(str), "."), first_visit.astype(str)
            ),
            "email": np.char.add(
                np.char.add(np.char.add(first, "."), last),
                np.char.add(ids.astype(str), "@example.com"),
            ),
            "phone": np.char.add("+1 555 ", np.char.zfill((ids % 10_000_000).astype(str), 7)),
            "ip_address": np.char.add(
                np.char.add("203.0.", (ids // 250 % 250).astype(str)),
                np.char.add(".", (ids % 250 + 1).astype(str)),
            ),
            "analytics_storage": analytics.astype(str),
            "ads_storage": ads.astype(str),
            "logged_in": rng.random(n) < 0.6,
            "device": _DEVICES[rng.choice(3, size=n, p=_DEVICE_P)],
            "country": _COUNTRIES[rng.integers(0, _COUNTRIES.size, n)],
            "city": _CITIES[rng.integers(0, _CITIES.size, n)],
        }

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

    def demand_multiplier(self, day: dt.date) -> float:
        """Calendar effect on ``day``: weekend uplift times the month's seasonal factor."""
        cal = self.config.calendar
        weekend = cal.weekend_uplift if day.weekday() >= 5 else 1.0
        return weekend * cal.monthly_seasonality[day.month - 1]

    # ------------------------------------------------------------------ web events
    def sessions(self, day: dt.date) -> pl.DataFrame:
        """GA4-export-shaped events for ``day``: one row per event, PII and consent included."""
        cfg = self.config
        rng = rng_for(self.seed, "sessions", day)
        cust = self.customer_table
        personas = list(cfg.personas.values())
        visit_p = np.array([p.daily_visit_probability for p in personas])[cust["persona"]]
        visit_p = np.clip(visit_p * self.demand_multiplier(day), 0, 1)
        visitors = np.flatnonzero(rng.random(self.customers) < visit_p)
        s = visitors.size
        persona = cust["persona"][visitors]

        category = np.empty(s, dtype=np.int64)
        channel = np.empty(s, dtype=np.int64)
        hour = np.empty(s, dtype=np.int64)
        cart_p = np.empty(s)
        buy_p = np.empty(s)
        channel_names = list(cfg.channels)
        for i, p in enumerate(personas):
            idx = np.flatnonzero(persona == i)
            cw = np.array([p.categories.get(c, 0.0) for c in self.category_names])
            category[idx] = rng.choice(cw.size, size=idx.size, p=cw / cw.sum())
            chw = np.array([p.channels.get(c, 0.0) for c in channel_names])
            channel[idx] = rng.choice(chw.size, size=idx.size, p=chw / chw.sum())
            hour[idx] = rng.integers(p.preferred_hours[0], p.preferred_hours[1] + 1, idx.size)
            cart_p[idx] = p.cart_rate
            buy_p[idx] = p.purchase_given_cart
        latent = self.latent_demand(day)[category]
        cart_p = np.clip(cart_p * np.exp(cfg.signals.strength * 0.5 * latent), 0, 1)
        carted = rng.random(s) < cart_p
        bought = carted & (rng.random(s) < buy_p)
        page_views = 1 + rng.poisson(2.0, s)

        # Events per session: session_start, page_view x k, view_item, then the funnel.
        n_events = 2 + page_views + carted + 2 * bought
        sess = np.repeat(np.arange(s), n_events)
        offset = np.arange(sess.size) - np.repeat(np.cumsum(n_events) - n_events, n_events)
        pv = np.repeat(page_views, n_events)
        names = np.full(sess.size, "page_view", dtype=object)
        names[offset == 0] = "session_start"
        names[offset == pv + 1] = "view_item"
        names[(offset == pv + 2) & np.repeat(carted, n_events)] = "add_to_cart"
        names[(offset == pv + 3) & np.repeat(bought, n_events)] = "begin_checkout"
        names[(offset == pv + 4) & np.repeat(bought, n_events)] = "purchase"

        start_s = (day - _EPOCH).days * 86_400 + hour * 3600 + rng.integers(0, 3600, s)
        gaps = rng.integers(5, 90, sess.size)
        ts_s = np.repeat(start_s, n_events) + offset * gaps
        ts_us = ts_s * 1_000_000 + rng.integers(0, 1_000_000, sess.size)

        cats = np.array(self.category_names)[category]
        product = rng.integers(1, cfg.products_per_category + 1, s)
        item_id = np.char.add(
            np.char.add(_prefix(cats), "-"), np.char.zfill(product.astype(str), 3)
        )
        lo = np.array([cfg.categories[c].price[0] for c in self.category_names])[category]
        hi = np.array([cfg.categories[c].price[1] for c in self.category_names])[category]
        revenue = np.round(lo + (hi - lo) * rng.beta(2, 5, s), 2) * (1 + rng.poisson(0.4, s))
        session_id = (start_s - rng.integers(0, 50, s)).astype(np.int64)

        c = visitors[sess]
        analytics = cust["analytics_storage"][c]
        denied = analytics == "No"  # advanced consent mode: cookieless pings without ids
        is_purchase = names == "purchase"
        checkout = np.isin(names, ["begin_checkout", "purchase"])
        logged_in = cust["logged_in"][c]
        ev_item = np.isin(names, ["view_item", "add_to_cart", "begin_checkout", "purchase"])
        ch = np.array(channel_names)[channel][sess]
        date_str = day.strftime("%Y%m%d")
        slug = np.char.replace(np.char.lower(cats), " & ", "-")
        page = np.char.add(
            np.char.add("https://shop.example.com/c/", slug[sess]),
            np.where(ev_item, np.char.add("/p/", item_id[sess]), ""),
        )
        sources = np.array([cfg.channels[n].source for n in channel_names])[channel][sess]
        mediums = np.array([cfg.channels[n].medium for n in channel_names])[channel][sess]
        page = np.char.add(page, np.char.add("?utm_source=", sources))
        return pl.DataFrame(
            {
                "event_date": np.full(sess.size, date_str),
                "event_timestamp": ts_us.astype(np.int64),
                "event_name": names.astype(str),
                "user_pseudo_id": _nullable(cust["user_pseudo_id"][c], ~denied),
                "ga_session_id": pl.Series(session_id[sess]).set(pl.Series(denied), None),
                "user_id": _nullable(cust["user_id"][c], logged_in & ~denied),
                "email": _nullable(cust["email"][c], checkout & logged_in),
                "phone": _nullable(cust["phone"][c], checkout & logged_in),
                "ip_address": cust["ip_address"][c],
                "analytics_storage": analytics,
                "ads_storage": cust["ads_storage"][c],
                "page_location": page,
                "traffic_source": sources,
                "traffic_medium": mediums,
                "channel_group": ch,
                "device_category": cust["device"][c],
                "geo_country": cust["country"][c],
                "geo_city": cust["city"][c],
                "category": cats[sess],
                "item_id": _nullable(item_id[sess], ev_item),
                "purchase_revenue": pl.Series(revenue[sess]).set(pl.Series(~is_purchase), None),
                "transaction_id": _nullable(
                    np.char.add(f"T{date_str}-", np.arange(s).astype(str))[sess], is_purchase
                ),
            },
            schema_overrides={"ga_session_id": pl.Int64, "purchase_revenue": pl.Float64},
        )

    # ------------------------------------------------------------------ signals
    def signals(self, day: dt.date) -> pl.DataFrame:
        """Reviews, search queries and social mentions per category for ``day``."""
        sig = self.config.signals
        rng = rng_for(self.seed, "signals", day)
        latent = self.latent_demand(day)
        lift = np.exp(sig.strength * latent) * self.demand_multiplier(day)
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
            hashtag = f"#{_prefix(np.array([cat]))[0].lower()} "
            frames.append(
                pl.DataFrame(
                    {
                        "category": cat,
                        "source": ["review"] * n_rev + ["social"] * n_soc + ["search"] * q,
                        "text": _texts(rev_sent, cat, rng)
                        + [hashtag + t for t in _texts(soc_sent, cat, rng)]
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
    def transactions(self, day: dt.date) -> pl.DataFrame:
        """Store x product sales lines for ``day``; demand follows the signals with a lag."""
        cfg = self.config
        rng = rng_for(self.seed, "transactions", day)
        lagged = self.latent_demand(day - dt.timedelta(days=cfg.signals.lag_days))
        mult = self.demand_multiplier(day)
        counts = []
        for k, cat in enumerate(self.category_names):
            lam = cfg.categories[cat].daily_transactions_per_store * cfg.stores * mult
            counts.append(rng.poisson(lam * np.exp(cfg.signals.strength * lagged[k])))
        counts = np.array(counts)
        n = int(counts.sum())
        cat_idx = np.repeat(np.arange(len(counts)), counts)
        cats = np.array(self.category_names)[cat_idx]
        product = rng.integers(1, cfg.products_per_category + 1, n)
        product_id = np.char.add(
            np.char.add(_prefix(cats), "-"), np.char.zfill(product.astype(str), 3)
        )
        lo = np.array([cfg.categories[c].price[0] for c in self.category_names])[cat_idx]
        hi = np.array([cfg.categories[c].price[1] for c in self.category_names])[cat_idx]
        # A product's list price is fixed: derived from its number, not from the day's draws.
        unit = np.round(lo + (hi - lo) * ((product * 37) % 100) / 100.0, 2)
        qty = 1 + rng.poisson(0.5, n)
        store = rng.integers(1, cfg.stores + 1, n)
        secs = np.sort(rng.integers(8 * 3600, 22 * 3600, n))
        day_start_us = (day - _EPOCH).days * 86_400 * 1_000_000
        return pl.DataFrame(
            {
                "transaction_id": np.char.add(
                    f"X{day.strftime('%Y%m%d')}-", np.arange(n).astype(str)
                ),
                "transaction_date": pl.repeat(day, n, eager=True, dtype=pl.Date),
                "transaction_ts": pl.Series(
                    (day_start_us + secs * 1_000_000).astype(np.int64)
                ).cast(pl.Datetime("us", "UTC")),
                "store_id": np.char.add("S", np.char.zfill(store.astype(str), 3)),
                "product_id": product_id,
                "category": cats,
                "quantity": qty.astype(np.int64),
                "unit_price": unit,
                "revenue": np.round(unit * qty, 2),
            }
        )


def _prefix(cats: np.ndarray) -> np.ndarray:
    return np.char.upper(np.char.replace(np.char.replace(cats, " & ", ""), " ", ""))


def _nullable(values: np.ndarray, keep: np.ndarray) -> pl.Series:
    return pl.Series(values.astype(str)).set(pl.Series(~keep), None)


def _texts(sentiment: np.ndarray, cat: str, rng: np.random.Generator) -> list[str]:
    cls = np.where(sentiment < -0.2, "negative", np.where(sentiment > 0.25, "positive", "neutral"))
    pick = rng.integers(0, 4, sentiment.size)
    return [_REVIEW_TEXT[c][i].format(cat=cat.lower()) for c, i in zip(cls, pick, strict=True)]
