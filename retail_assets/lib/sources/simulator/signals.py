"""Signals that lead demand: reviews, search queries and social mentions per category."""

from __future__ import annotations

import datetime as dt
from functools import cached_property

import numpy as np
import polars as pl

from retail_assets.lib.sources.simulator.calendar import Calendar
from retail_assets.lib.sources.simulator.customers import _prefix
from retail_assets.lib.sources.simulator.draws import rng_for
from retail_assets.lib.sources.simulator.review_text import _TONE_FROM_RATING, _TextWriter

_SEARCH_TERMS = ["deals", "best", "cheap", "near me", "reviews", "sale", "new", "gift"]


class Signals(Calendar):
    """The signals day method: :meth:`signals`."""

    @cached_property
    def _writer(self) -> _TextWriter:
        return _TextWriter.build(self)

    def signals(self, day: dt.date) -> pl.DataFrame:
        """Reviews, search queries and social mentions per category for ``day``."""
        sig = self.config.signals
        rng = rng_for(self.seed, "signals", day)
        # Text has its own stream, so the counts, sentiment and ratings are drawn as before.
        text_rng = rng_for(self.seed, "signal_text", day)
        latent = self.latent_demand(day)
        lift = self.interest(day) * self.traffic_multiplier(day)
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
            hashtag = f"#{_prefix(cat).lower()} "
            # A reviewer writes to the stars they give (which follow the latent sentiment),
            # a social post to its sentiment.
            review_tone = np.clip(
                _TONE_FROM_RATING * (rating - 3) / 2 + (1 - _TONE_FROM_RATING) * rev_sent, -1, 1
            )
            # The draw the former fixed templates made: later categories' numbers stay as they were.
            rng.integers(0, 4, n_rev + n_soc)
            frames.append(
                pl.DataFrame(
                    {
                        "category": cat,
                        "source": ["review"] * n_rev + ["social"] * n_soc + ["search"] * q,
                        "text": self._writer.write(review_tone, cat, text_rng)
                        + [
                            hashtag + t
                            for t in self._writer.write(soc_sent, cat, text_rng, social=True)
                        ]
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
