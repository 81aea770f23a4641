"""A straightforward per-row simulator: the yardstick for ``benchmarks/simulate.py``.

It simulates the same retailer as :class:`retail_assets.lib.sources.simulator.Simulator` the way
seed-style demos do it: a ``random.Random``, a loop over customers, one dict per event (with
the nested GA4 fields for web events), then ``pl.DataFrame(rows)``. The distributions are the
vectorized simulator's: the same persona visit rates and personal activity, the calendar
multipliers from the simulator's own ``traffic_multiplier`` / ``interest`` /
``store_demand`` / ``discount``, the same funnels, baskets, prices, ids and output schemas.
Only the random streams differ, so the two agree on volumes and shares, not row by row.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random

import polars as pl

from retail_assets.lib.config import SimulationConfig
from retail_assets.lib.sources import ga4
from retail_assets.lib.sources.simulator.app import SESSION_GAP_MINUTES
from retail_assets.lib.sources.simulator.core import Simulator
from retail_assets.lib.sources.simulator.customers import (
    _DAY_US,
    _DEVICES,
    _EPOCH,
    _FIRST_NAMES,
    _HOST,
    _LAST_NAMES,
    _PLACES,
    _prefix,
    _slug,
)
from retail_assets.lib.sources.simulator.review_text import _REVIEW_TEXT
from retail_assets.lib.sources.simulator.signals import _SEARCH_TERMS
from retail_assets.lib.sources.simulator.tables import WEB_EVENTS
from retail_assets.lib.warehouse.schemas import APP_EVENTS

CONSENT = ["Yes", "No", "Unset"]
APP_SCHEMA = {
    "event_id": pl.Utf8,
    "event_date": pl.Date,
    "event_timestamp": pl.Int64,
    "user_id": pl.Utf8,
    "session_id": pl.Utf8,
    "event_type": pl.Utf8,
    "product_id": pl.Utf8,
    "category": pl.Utf8,
    "price": pl.Float64,
}
LINE_SCHEMA = {
    "transaction_id": pl.Utf8,
    "basket_id": pl.Utf8,
    "transaction_date": pl.Date,
    "transaction_ts": pl.Int64,
    "store_id": pl.Utf8,
    "product_id": pl.Utf8,
    "category": pl.Utf8,
    "quantity": pl.Int64,
    "unit_price": pl.Float64,
    "revenue": pl.Float64,
}
SIGNAL_SCHEMA = {
    "signal_id": pl.Utf8,
    "signal_date": pl.Date,
    "category": pl.Utf8,
    "source": pl.Utf8,
    "text": pl.Utf8,
    "rating": pl.Int64,
    "sentiment": pl.Float64,
    "volume": pl.Int64,
}


def poisson(rnd: random.Random, mean: float) -> int:
    """Knuth's multiplication method."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def param(key: str, string: str | None = None, integer: int | None = None) -> dict:
    value = {
        "string_value": string,
        "int_value": integer,
        "float_value": None,
        "double_value": None,
    }
    return {"key": key, "value": value}


class ReferenceSimulator:
    """Per-row simulation of the retailer; same day methods as the vectorized simulator."""

    def __init__(self, config: SimulationConfig, seed: int = 42, customers: int = 20_000):
        self.config, self.seed, self.n = config, seed, customers
        # The calendar, catalog and latent demand are the vectorized simulator's own.
        self.sim = Simulator(config, seed, customers)
        catalog = self.sim.catalog
        self.categories = list(config.categories)
        self.channels = list(config.channels)
        self.personas = list(config.personas.values())
        self.products = catalog.to_dicts()
        self.per_category = config.products_per_category
        prices = [
            [r["list_price"] for r in self.products[k * self.per_category :][: self.per_category]]
            for k in range(len(self.categories))
        ]
        # Price range per (persona, category): product numbers lo..hi, as the simulator does.
        self.product_range = []
        for persona in self.personas:
            ranges = {}
            for k, cat in enumerate(self.categories):
                line = persona.basket.get(cat)
                if line is None:
                    continue
                lo = bisect.bisect_left(prices[k], line.price[0])
                hi = bisect.bisect_right(prices[k], line.price[1]) - 1
                if hi < lo:
                    mid = sum(line.price) / 2
                    lo = hi = min(range(len(prices[k])), key=lambda i: abs(prices[k][i] - mid))
                ranges[k] = (lo, hi)
            self.product_range.append(ranges)
        self.customers = self._build_customers(random.Random(seed))

    def _build_customers(self, rnd: random.Random) -> list[dict]:
        first, last = _FIRST_NAMES.split(), _LAST_NAMES.split()
        origin = (self.config.trend_origin - _EPOCH).days
        share = [p.share for p in self.personas]
        out = []
        for i in range(self.n):
            g = rnd.choices(range(len(self.personas)), share)[0]
            persona = self.personas[g]
            consent_w = [persona.consent.get(c, 0.0) for c in CONSENT]
            analytics = rnd.choices(range(3), consent_w)[0]
            ads = rnd.choices(range(3), consent_w)[0]
            if rnd.random() < 0.85:  # people answer a consent banner once
                ads = analytics
            first_seen = origin - rnd.randint(1, 1499)
            client = rnd.randint(100_000_000, 1_999_999_999)
            out.append(
                {
                    "persona": g,
                    "activity": rnd.gammavariate(2.0, 0.5),
                    "analytics": analytics,
                    "ads": ads,
                    "home_store": rnd.randrange(self.config.stores),
                    "place": rnd.choices(range(len(_PLACES)), [x[3] for x in _PLACES])[0],
                    "device": rnd.choices(range(len(_DEVICES)), [x[3] for x in _DEVICES])[0],
                    "acquisition": rnd.choices(
                        range(len(self.channels)),
                        [persona.channels.get(c, 0.0) for c in self.channels],
                    )[0],
                    "first_seen": first_seen,
                    "logged_in": rnd.random() < 0.6,
                    "customer_id": f"C{i:08d}",
                    "user_pseudo_id": f"{client}.{first_seen * 86_400}",
                    "email": f"{rnd.choice(first)}.{rnd.choice(last)}{i}@example.com",
                }
            )
        return out

    def _rng(self, entity: str, day: dt.date) -> random.Random:
        return random.Random(f"{self.seed}-{entity}-{day.isoformat()}")

    def _start(self, rnd: random.Random, persona, day: dt.date) -> int:
        lo, hi = persona.preferred_hours
        if rnd.random() < 0.8:
            secs = lo * 3600 + rnd.random() * (hi - lo + 1) * 3600
        else:
            secs = rnd.random() * 86_400
        return (day - _EPOCH).days * _DAY_US + int(secs * 1e6)

    def _category_weights(self, interest) -> list[list[float]]:
        """Per persona: basket probability x the day's interest, per category."""
        return [
            [
                p.basket[c].probability * x if c in p.basket else 0.0
                for c, x in zip(self.categories, interest, strict=True)
            ]
            for p in self.personas
        ]

    def _product(self, rnd: random.Random, g: int, k: int) -> dict:
        lo, hi = self.product_range[g][k]
        return self.products[k * self.per_category + rnd.randint(lo, hi)]

    # ------------------------------------------------------------------ web events
    def sessions(self, day: dt.date) -> pl.DataFrame:
        rnd = self._rng("sessions", day)
        traffic = self.sim.traffic_multiplier(day)
        interest = self.sim.interest(day)
        discount = self.sim.discount(day)
        strength = self.config.signals.strength
        lift = [math.exp(0.5 * strength * x) for x in self.sim.latent_demand(day)]
        date_str = day.strftime("%Y%m%d")
        last_us = (day - _EPOCH).days * _DAY_US + _DAY_US - 1
        weights = self._category_weights(interest)
        rows, n_sessions = [], 0
        for cust in self.customers:
            g = cust["persona"]
            persona = self.personas[g]
            if rnd.random() >= persona.web_visits_per_week / 7 * cust["activity"] * traffic:
                continue
            k = rnd.choices(range(len(self.categories)), weights[g])[0]
            channel_weights = [persona.channels.get(c, 0.0) for c in self.channels]
            channel = self.config.channels[rnd.choices(self.channels, channel_weights)[0]]
            product = self._product(rnd, g, k)
            carted = rnd.random() < min(persona.web_funnel.cart_rate * lift[k], 1.0)
            bought = carted and rnd.random() < persona.web_funnel.purchase_given_cart
            line = persona.basket[self.categories[k]]
            quantity = rnd.randint(*line.quantity)
            page_views, item_views = 1 + poisson(rnd, 1.5), 1 + poisson(rnd, 0.6)
            start = self._start(rnd, persona, day)
            sid = start // 1_000_000
            number = int(
                1
                + ((day - _EPOCH).days - cust["first_seen"])
                * persona.web_visits_per_week
                / 7
                * cust["activity"]
            )
            denied = cust["analytics"] == 1
            known = cust["logged_in"] and not denied
            price = product["list_price"] * (1 - discount[k])
            revenue = round(price * quantity, 2)
            codes = [0] + [1] * page_views + [2] + [3] * item_views
            codes += [4] * carted + [5, 6, 7] * bought
            device, place = _DEVICES[cust["device"]], _PLACES[cust["place"]]
            acquisition = self.config.channels[self.channels[cust["acquisition"]]]
            category_page = f"{_HOST}/c/{_slug(self.categories[k])}"
            if cust["logged_in"] and sid % 7 == 0:
                checkout = f"{_HOST}/checkout?email={cust['email']}"
            else:
                checkout = f"{_HOST}/checkout"
            for step, code in enumerate(codes):
                if code >= 5:
                    page, title = checkout, "Checkout"
                elif code >= 3:
                    page, title = product["page_location"], product["item_name"]
                else:
                    page, title = category_page, product["category"]
                if denied:
                    params = [
                        param("page_location", page),
                        param("page_title", title),
                        param("engagement_time_msec", integer=rnd.randint(0, 19_999)),
                        param("page_referrer", _HOST + "/"),
                    ]
                else:
                    params = [
                        param("ga_session_id", integer=sid),
                        param("ga_session_number", integer=number),
                        param("page_location", page),
                        param("page_title", title),
                    ]
                purchase = code == 7
                gap = rnd.randint(3_000_000, 89_999_999)
                rows.append(
                    {
                        "event_date": date_str,
                        "event_timestamp": min(start + gap * step, last_us),
                        "event_name": WEB_EVENTS[code],
                        "event_params": params,
                        "event_bundle_sequence_id": None,
                        "user_id": cust["customer_id"] if known else None,
                        "user_pseudo_id": None if denied else cust["user_pseudo_id"],
                        "user_first_touch_timestamp": None
                        if denied
                        else cust["first_seen"] * _DAY_US,
                        "user_properties": [param("customer_email", cust["email"])]
                        if known and purchase
                        else [],
                        "privacy_info": {
                            "analytics_storage": CONSENT[cust["analytics"]],
                            "ads_storage": CONSENT[cust["ads"]],
                            "uses_transient_token": "Yes" if denied else "No",
                        },
                        "device": {
                            "category": device[0],
                            "mobile_brand_name": device[1],
                            "operating_system": device[2],
                            "language": "en-us",
                        },
                        "geo": {
                            "continent": "Americas",
                            "country": place[0],
                            "region": place[1],
                            "city": place[2],
                        },
                        "traffic_source": {
                            "name": acquisition.source
                            if acquisition.campaign is None
                            else acquisition.campaign,
                            "medium": acquisition.medium,
                            "source": acquisition.source,
                        },
                        "collected_traffic_source": None
                        if channel.source == "(direct)"
                        else {
                            "manual_campaign_name": channel.campaign,
                            "manual_source": channel.source,
                            "manual_medium": channel.medium,
                            "gclid": None,
                        },
                        "platform": "WEB",
                        "ecommerce": {
                            "total_item_quantity": quantity,
                            "purchase_revenue": revenue,
                            "purchase_revenue_in_usd": revenue,
                            "transaction_id": f"T{date_str}-{n_sessions}",
                            "unique_items": 1,
                        }
                        if purchase
                        else None,
                        "items": [
                            {
                                "item_id": product["product_id"],
                                "item_name": product["item_name"],
                                "item_brand": product["brand"],
                                "item_category": product["category"],
                                "price": round(price, 2),
                                "quantity": quantity,
                                "item_revenue": revenue if purchase else None,
                            }
                        ]
                        if code >= 3
                        else [],
                    }
                )
            n_sessions += 1
        return pl.DataFrame(rows, schema=ga4.EXPORT_SCHEMA)

    # ------------------------------------------------------------------ app events
    def app_events(self, day: dt.date) -> pl.DataFrame:
        rnd = self._rng("app_events", day)
        traffic = self.sim.traffic_multiplier(day)
        interest = self.sim.interest(day)
        discount = self.sim.discount(day)
        strength = self.config.signals.strength
        lift = [math.exp(0.5 * strength * x) for x in self.sim.latent_demand(day)]
        ordinal = day.toordinal()
        day_end = (day - _EPOCH).days * _DAY_US + _DAY_US - 1
        weights = self._category_weights(interest)
        rows = []
        for cust in self.customers:
            g = cust["persona"]
            persona = self.personas[g]
            if rnd.random() >= persona.app_sessions_per_week / 7 / 1.4 * cust["activity"] * traffic:
                continue
            start = self._start(rnd, persona, day)
            for number in range(1 + poisson(rnd, 0.4)):
                if number:  # later sessions start at least 30 minutes after the previous one
                    start += (SESSION_GAP_MINUTES * 60 + rnd.expovariate(1 / (3 * 3600))) * 1e6
                if start >= day_end - 3_600_000_000:
                    break  # a session needs time to happen today
                session_id = f"{cust['customer_id']}-{ordinal}-{number}"
                for step in range(1 + poisson(rnd, persona.app_funnel.views_per_session - 1)):
                    k = rnd.choices(range(len(self.categories)), weights[g])[0]
                    product = self._product(rnd, g, k)
                    ts = int(start) + step * rnd.randint(10_000_000, 119_999_999)
                    events = [(APP_EVENTS[0], ts)]
                    if rnd.random() < min(persona.app_funnel.view_to_cart * lift[k], 1.0):
                        ts += rnd.randint(5_000_000, 59_999_999)
                        events.append((APP_EVENTS[1], ts))
                        if rnd.random() < persona.app_funnel.cart_to_purchase:
                            ts += rnd.randint(60_000_000, 899_999_999)
                            events.append((APP_EVENTS[2], ts))
                    for kind, when in events:
                        rows.append(
                            {
                                "event_id": f"A{ordinal}-{len(rows)}",
                                "event_date": day,
                                "event_timestamp": min(when, day_end),
                                "user_id": cust["customer_id"],
                                "session_id": session_id,
                                "event_type": kind,
                                "product_id": product["product_id"],
                                "category": product["category"],
                                "price": round(product["list_price"] * (1 - discount[k]), 2),
                            }
                        )
        frame = pl.DataFrame(rows, schema=APP_SCHEMA)
        return frame.with_columns(pl.col("event_timestamp").cast(pl.Datetime("us", "UTC")))

    # ------------------------------------------------------------------ signals
    def signals(self, day: dt.date) -> pl.DataFrame:
        sig = self.config.signals
        rnd = self._rng("signals", day)
        latent = self.sim.latent_demand(day)
        lift = self.sim.interest(day) * self.sim.traffic_multiplier(day)
        date_str = day.strftime("%Y%m%d")
        rows = []

        def text(sentiment: float, cat: str) -> str:
            mood = "negative" if sentiment < -0.2 else "positive" if sentiment > 0.25 else "neutral"
            return rnd.choice(_REVIEW_TEXT[mood]).format(cat=cat.lower())

        for k, cat in enumerate(self.categories):
            mood = math.tanh(0.4 + sig.strength * latent[k])
            for _ in range(poisson(rnd, sig.daily_reviews_per_category * lift[k])):
                s = max(-1.0, min(1.0, mood + rnd.gauss(0, 0.45)))
                rating = int(max(1, min(5, round(3 + 2 * s + rnd.gauss(0, 0.4)))))
                rows.append((cat, "review", text(s, cat), rating, round(s, 4), 1))
            for _ in range(poisson(rnd, sig.daily_social_per_category * lift[k])):
                s = max(-1.0, min(1.0, mood + rnd.gauss(0, 0.6)))
                rows.append(
                    (
                        cat,
                        "social",
                        f"#{_prefix(cat).lower()} " + text(s, cat),
                        None,
                        round(s, 4),
                        1,
                    )
                )
            for i in range(sig.search_queries_per_category):
                term = _SEARCH_TERMS[i % len(_SEARCH_TERMS)]
                rows.append(
                    (
                        cat,
                        "search",
                        f"{cat.lower()} {term}",
                        None,
                        round(mood, 4),
                        poisson(rnd, 150 * lift[k]) + 1,
                    )
                )
        return pl.DataFrame(
            [
                {
                    "signal_id": f"S{date_str}-{i}",
                    "signal_date": day,
                    "category": c,
                    "source": source,
                    "text": t,
                    "rating": rating,
                    "sentiment": s,
                    "volume": volume,
                }
                for i, (c, source, t, rating, s, volume) in enumerate(rows)
            ],
            schema=SIGNAL_SCHEMA,
        )

    # ------------------------------------------------------------------ store sales
    def transactions(self, day: dt.date) -> pl.DataFrame:
        rnd = self._rng("transactions", day)
        traffic = self.sim.traffic_multiplier(day)
        demand = self.sim.store_demand(day)
        discount = self.sim.discount(day)
        date_str = day.strftime("%Y%m%d")
        inclusion = [
            [min(w * d, 1.0) for w, d in zip(row, demand, strict=True)]
            for row in self._category_weights([1.0] * len(self.categories))
        ]
        rows, basket = [], 0
        for cust in self.customers:
            g = cust["persona"]
            persona = self.personas[g]
            rate = persona.store_visits_per_month * 12 / 365.25
            if rnd.random() >= rate * cust["activity"] * traffic:
                continue
            incl = inclusion[g]
            chosen = [k for k, p in enumerate(incl) if rnd.random() < p]
            if not chosen:  # a store visit buys something: one category by its weights
                chosen = rnd.choices(range(len(self.categories)), incl)
            store = cust["home_store"] if rnd.random() < 0.85 else rnd.randrange(self.config.stores)
            lo, hi = persona.preferred_hours
            lo = min(max(lo, 8), 21)
            hi = min(max(hi, lo), 21)
            ts = (day - _EPOCH).days * _DAY_US + int(
                (lo * 3600 + rnd.random() * (hi - lo + 1) * 3600) * 1e6
            )
            for line, k in enumerate(chosen):
                product = self._product(rnd, g, k)
                qty = rnd.randint(*persona.basket[self.categories[k]].quantity)
                unit = round(product["list_price"] * (1 - discount[k]), 2)
                rows.append(
                    {
                        "transaction_id": f"X{date_str}-{basket}-{line}",
                        "basket_id": f"B{date_str}-{basket}",
                        "transaction_date": day,
                        "transaction_ts": ts,
                        "store_id": f"S{store + 1:03d}",
                        "product_id": product["product_id"],
                        "category": product["category"],
                        "quantity": qty,
                        "unit_price": unit,
                        "revenue": round(unit * qty, 2),
                    }
                )
            basket += 1
        rows.sort(key=lambda r: (r["transaction_ts"], r["basket_id"]))
        frame = pl.DataFrame(rows, schema=LINE_SCHEMA)
        return frame.with_columns(pl.col("transaction_ts").cast(pl.Datetime("us", "UTC")))
