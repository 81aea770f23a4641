"""String tables the day methods gather from (pages, products, devices, channels, events)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.lib.sources.simulator.columns import Text
from retail_assets.lib.sources.simulator.customers import _DEVICES, _HOST, _PLACES, Retailer, _slug
from retail_assets.lib.warehouse.schemas import APP_EVENTS

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
    def build(cls, sim: Retailer) -> _Tables:
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
