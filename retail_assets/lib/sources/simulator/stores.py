"""Store sales: a day of baskets and point-of-sale lines, in (timestamp, basket) order."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from retail_assets.lib.sources.simulator.columns import (
    Text,
    frame,
    number_blocks,
    numbered,
    strings,
    values,
)
from retail_assets.lib.sources.simulator.customers import _DAY_US, _EPOCH, _fmt
from retail_assets.lib.sources.simulator.draws import draw_rows, rng_for
from retail_assets.lib.sources.simulator.visits import Visits


class StoreSales(Visits):
    """The store day methods: :meth:`baskets` and :meth:`transactions`."""

    def baskets(self, day: dt.date) -> pl.DataFrame:
        """Store basket lines for ``day`` with the customer and persona behind each."""
        return self._store_lines(day, with_customer=True)

    def _store_lines(self, day: dt.date, with_customer: bool) -> pl.DataFrame:
        """The lines of :meth:`baskets`; :meth:`transactions` without the customer columns.

        Intermediates are dropped as soon as they are used and each column is built after the
        previous one, so the day's memory peak stays low (fresh pages are the cost of a day).
        """
        rng = rng_for(self.seed, "transactions", day)
        c, p, cfg, tb = self.customer_table, self._p, self.config, self._tables
        shoppers = self._active(rng, "store", day)
        persona = c["persona"][shoppers]
        incl_p = np.minimum(p.basket_p * self.store_demand(day), 1.0)[persona]
        lines = rng.random(incl_p.shape) < incl_p
        # A store visit buys something: an empty draw takes one category by its weights.
        empty = ~lines.any(axis=1)
        forced = draw_rows(rng, incl_p[empty])
        lines[np.flatnonzero(empty), forced] = True
        del incl_p, empty, forced
        basket, category = np.nonzero(lines)
        n_lines = lines.sum(axis=1)
        del lines
        l_persona = persona[basket]
        cell = l_persona * len(self.category_names) + category
        product = self._products(rng, cell)
        qty = rng.integers(p.qty_lo.ravel()[cell], p.qty_hi.ravel()[cell] + 1)
        del cell
        unit = np.round(self._list_price[product] * (1 - self.discount(day)[category]), 2)
        home = c["home_store"][shoppers]
        # 85 % shop at their home store; the others at any store, drawn per shopper.
        away = rng.integers(0, cfg.stores, shoppers.size)
        store = np.where(rng.random(shoppers.size) < 0.85, home, away)
        del home, away
        # Stores open 08:00-22:00: shoppers come in their preferred hours within that.
        lo = np.clip(p.hour_lo[persona], 8, 21)
        hi = np.clip(p.hour_hi[persona], lo, 21)
        secs = lo * 3600 + rng.random(persona.size) * (hi - lo + 1) * 3600
        ts = (day - _EPOCH).days * _DAY_US + (secs * 1e6).astype(np.int64)
        del lo, hi, secs, persona
        date_str = day.strftime("%Y%m%d")

        # Lines come basket by basket in (timestamp, basket_id) order.
        order = _order_by_time_then_id(ts)
        counts = n_lines[order]
        n = int(counts.sum())
        first = np.cumsum(counts) - counts
        at = np.repeat(np.cumsum(n_lines)[order] - counts - first, counts) + np.arange(n)
        del order, counts, first
        b = basket[at]
        del basket
        ids = self._transaction_ids(date_str, n_lines)
        columns = {"transaction_id": ids.array(ids.views.take(at))}
        del ids
        basket_ids = numbered(f"B{date_str}-", shoppers.size)
        columns["basket_id"] = basket_ids.array(basket_ids.views.take(b))
        del basket_ids
        columns["transaction_date"] = values(
            np.full(n, (day - _EPOCH).days, np.int32), type=pa.date32()
        )
        columns["transaction_ts"] = values(ts.take(b), type=pa.timestamp("us", "UTC"))
        columns["store_id"] = tb.stores.array(tb.stores.views.take(store.take(b)))
        del ts, store
        columns["product_id"] = tb.product_ids.array(tb.product_ids.views.take(product.take(at)))
        columns["category"] = tb.categories.array(tb.categories.views.take(category.take(at)))
        del product, category
        columns["quantity"] = values(qty.take(at))
        columns["unit_price"] = values(unit.take(at))
        columns["revenue"] = values(np.round(unit * qty, 2).take(at))
        del qty, unit
        if with_customer:
            columns["customer_index"] = values(shoppers.take(b))
            columns["persona"] = tb.personas.array(tb.personas.views.take(l_persona.take(at)))
        return frame(columns)

    def _transaction_ids(self, date_str: str, n_lines: np.ndarray) -> Text:
        """``X{date}-{basket}-{line}`` for every line, baskets in number order."""
        if n_lines.size and n_lines.max() > 10:
            basket = np.repeat(np.arange(n_lines.size), n_lines)
            line = np.arange(basket.size) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
            return Text.of(_fmt(f"X{date_str}-{{}}-{{}}", pl.Series(basket), pl.Series(line)))
        blocks, start = [], 0
        for block, width in number_blocks(f"X{date_str}-", n_lines.size, "-0"):
            counts = n_lines[start : start + block.shape[0]]
            start += block.shape[0]
            out = np.repeat(block, counts, axis=0)
            line = np.arange(out.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
            out[:, width - 1] += line.astype(np.uint8)
            blocks.append((out, width))
        return strings(blocks, shared=len(date_str) + 2)

    def transactions(self, day: dt.date) -> pl.DataFrame:
        """Store x product sales lines for ``day``, as a point-of-sale system records them.

        :meth:`baskets` without ``customer_index`` and ``persona`` (not built at all).
        """
        return self._store_lines(day, with_customer=False)


def _order_by_time_then_id(ts: np.ndarray) -> np.ndarray:
    """Basket numbers by timestamp, ties broken as their ``basket_id`` strings sort."""
    bits = max(ts.size - 1, 1).bit_length()
    if ts.size and int(ts.max() - ts.min()).bit_length() + bits < 63:
        key = (ts - ts.min()) << bits  # timestamp, then basket number, in one int64
        key |= np.arange(ts.size)
        key.sort()
        order = key & ((1 << bits) - 1)
        key >>= bits
        ties = np.flatnonzero(key[1:] == key[:-1])
    else:
        order = np.argsort(ts, kind="stable")
        ties = np.flatnonzero(ts[order][1:] == ts[order][:-1])
    for i in ties:  # equal microseconds: rare, fixed one run at a time
        j = i
        while j > 0 and ts[order[j - 1]] == ts[order[i]]:
            j -= 1
        k = i + 2
        while k < order.size and ts[order[k]] == ts[order[i]]:
            k += 1
        order[j:k] = sorted(order[j:k], key=str)
    return order
