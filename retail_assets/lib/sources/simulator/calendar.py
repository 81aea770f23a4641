"""The retail calendar: weekends, festivals, trend, promotions and latent demand per day."""

from __future__ import annotations

import datetime as dt
from functools import cached_property

import numpy as np
import polars as pl

from retail_assets.lib.sources.simulator.customers import _EPOCH, Retailer
from retail_assets.lib.sources.simulator.draws import rng_for

#: Days the retail calendar reaches beyond today.
CALENDAR_DAYS_AHEAD = 400


class Calendar(Retailer):
    """Per-day multipliers of the retailer: traffic, category demand, discounts, latent demand."""

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
