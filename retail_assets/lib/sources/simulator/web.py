"""Web events: a day of GA4-export-shaped sessions, from session start to purchase."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from retail_assets.lib.sources.simulator.columns import (
    VIEW,
    Text,
    constant,
    frame,
    lists,
    nibbles,
    nulls,
    param_structs,
    struct,
    values,
)
from retail_assets.lib.sources.simulator.customers import _DAY_US, _EPOCH, _HOST, _fmt
from retail_assets.lib.sources.simulator.draws import draw_grouped, rng_for
from retail_assets.lib.sources.simulator.tables import WEB_EVENTS
from retail_assets.lib.sources.simulator.visits import Visits

# Validity bits of the four event params (slot i is bit i) holding a string / an int, for
# consented hits (ga_session_id, ga_session_number, page_location, page_title) and denied
# ones (page_location, page_title, engagement_time_msec, page_referrer).
_PARAM_STRING = np.array([0b1100, 0b1011], np.uint8)
_PARAM_INT = np.array([0b0011, 0b0100], np.uint8)


class WebEvents(Visits):
    """The web day method: :meth:`sessions`."""

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
