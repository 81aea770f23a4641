"""App events: a day of app sessions, each view followed by its cart add and purchase."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from retail_assets.lib.sources.simulator.columns import Text, frame, numbered, strings, values
from retail_assets.lib.sources.simulator.customers import _DAY_US, _EPOCH, _fmt
from retail_assets.lib.sources.simulator.draws import _poisson_pmf, draw_grouped, rng_for
from retail_assets.lib.sources.simulator.journeys import _STAGES
from retail_assets.lib.sources.simulator.visits import Visits

SESSION_GAP_MINUTES = 30
_EXTRA_SESSIONS = _poisson_pmf(np.array([0.4]))  # app sessions beyond the first on a day


class AppEvents(Visits):
    """The app day method: :meth:`app_events`."""

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
