"""Who comes on a day and what they look at: active customers, journey stages, products."""

from __future__ import annotations

import datetime as dt
import threading
from functools import cached_property

import numpy as np

from retail_assets.lib.sources.simulator.calendar import Calendar
from retail_assets.lib.sources.simulator.customers import _DAY_US, _EPOCH
from retail_assets.lib.sources.simulator.draws import rng_for
from retail_assets.lib.sources.simulator.journeys import _STAGES, _JourneyPlan
from retail_assets.lib.sources.simulator.tables import _Tables


class Visits(Calendar):
    """Active customers per channel and day, their journey stages, products and start times."""

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
    def _tables(self) -> _Tables:
        return _Tables.build(self)
