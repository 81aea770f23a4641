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
building blocks are in :mod:`retail_assets.lib.sources.simulator.columns`.

Modules (each part of :class:`Simulator` is a class its bases stack on):

* ``core.py``: :class:`Simulator`, the retailer assembled from the parts below.
* ``customers.py``: the static world (:class:`Retailer`): catalog, personas, customer base.
* ``calendar.py``: the retail calendar and latent demand per category and day.
* ``journeys.py``: purchase-journey stage multipliers and the per-customer plan.
* ``visits.py``: active customers per channel and day, journey stages, products viewed.
* ``tables.py``: the string tables the day methods gather from; the web funnel events.
* ``web.py``: web sessions in the GA4 export shape (:meth:`Simulator.sessions`).
* ``app.py``: app view / cart / purchase events (:meth:`Simulator.app_events`).
* ``review_text.py``: review and social text written to a tone (phrase pools, writer).
* ``signals.py``: reviews, searches and social mentions per category (:meth:`Simulator.signals`).
* ``stores.py``: store baskets and transactions (:meth:`Simulator.baskets`).
* ``draws.py``: seeded generators and fast categorical draws.
* ``columns.py``: Arrow columns from numpy buffers (string views, structs, lists).

Submodules import one another by full path, never from this ``__init__``.
"""

from retail_assets.lib.sources.simulator.app import SESSION_GAP_MINUTES
from retail_assets.lib.sources.simulator.calendar import CALENDAR_DAYS_AHEAD
from retail_assets.lib.sources.simulator.core import Simulator
from retail_assets.lib.sources.simulator.draws import draw_grouped, draw_rows, rng_for
from retail_assets.lib.sources.simulator.tables import WEB_EVENTS

__all__ = [
    "CALENDAR_DAYS_AHEAD",
    "SESSION_GAP_MINUTES",
    "WEB_EVENTS",
    "Simulator",
    "draw_grouped",
    "draw_rows",
    "rng_for",
]
