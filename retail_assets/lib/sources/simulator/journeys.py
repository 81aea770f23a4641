"""Purchase journeys: the stage multipliers and the per-customer plan they come from."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from retail_assets.lib.sources.simulator.customers import Retailer

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
    def build(cls, sim: Retailer) -> _JourneyPlan:
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
