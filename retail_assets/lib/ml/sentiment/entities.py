"""Entity sentiment: products, brands and stores named in review text, and sentiment per entity.

A :class:`Gazetteer` finds catalog names by whole-word, case-insensitive matching (a brand is
the first word of a product name; a product mention counts for its brand too);
:func:`sentiment_by_entity` aggregates scored texts per entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from retail_assets.lib.ml.sentiment.labels import SentimentDataError

ENTITY_TYPES = ("product", "brand", "store")


@dataclass(frozen=True)
class Gazetteer:
    """Named products, brands and stores, and the compiled patterns that find them in text.

    ``names`` maps each entity type to {lower-case name with single spaces: entity}; the
    entity is the product id, the brand as the catalog spells it, or the store id.
    """

    names: dict[str, dict[str, str]]
    product_brand: dict[str, str]  # product id -> brand
    patterns: dict[str, re.Pattern[str]]

    @classmethod
    def build(cls, catalog: pl.DataFrame, stores: Iterable[str] = ()) -> Gazetteer:
        """From the product catalog (``product_id, product_name``) and store ids.

        A product's brand is the first word of its name.
        """
        missing = [c for c in ("product_id", "product_name") if c not in catalog.columns]
        if missing:
            raise SentimentDataError(
                f"product catalog: missing column(s) {missing}; the frame has {catalog.columns}"
            )
        rows = catalog.select("product_id", "product_name").drop_nulls().iter_rows()
        products, product_brand, brands = {}, {}, {}
        for product_id, name in rows:
            words = name.split()
            if not words:
                continue
            products[_key(name)] = product_id
            product_brand[product_id] = words[0]
            brands[_key(words[0])] = words[0]
        store_names = {_key(s): s for s in stores if s and s.strip()}
        names = dict(zip(ENTITY_TYPES, (products, brands, store_names), strict=True))
        return cls(
            names=names,
            product_brand=product_brand,
            patterns={kind: _pattern(keys) for kind, keys in names.items() if keys},
        )

    def tag(self, texts: Sequence[str] | pl.Series) -> pl.DataFrame:
        """One row per text index, entity type and entity found in it (each once).

        Matching is case-insensitive on whole words: a name must not be preceded or followed
        by a letter, digit or underscore, so ``Contoso`` does not match ``Contosos`` and
        product ``... 1`` does not match ``... 12``.
        """
        found: list[tuple[int, str, str]] = []
        for i, text in enumerate(texts):
            if not text:
                continue
            seen = set()
            for kind, pattern in self.patterns.items():
                for match in pattern.finditer(text):
                    entity = self.names[kind][_key(match.group())]
                    seen.add((kind, entity))
                    if kind == "product":
                        seen.add(("brand", self.product_brand[entity]))
            found.extend((i, kind, entity) for kind, entity in sorted(seen))
        return pl.DataFrame(
            found,
            schema={"text_index": pl.Int64, "entity_type": pl.Utf8, "entity": pl.Utf8},
            orient="row",
        )


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _pattern(keys: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so a name wins over a shorter name it starts with; each word escaped and
    # any run of spaces between words accepted.
    alternatives = (
        r"\s+".join(re.escape(w) for w in key.split())
        for key in sorted(keys, key=len, reverse=True)
    )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def sentiment_by_entity(scored: pl.DataFrame, tags: pl.DataFrame) -> pl.DataFrame:
    """Sentiment per ``entity_type, entity``, most mentioned first.

    Columns ``mentions``, ``mean_score`` (mean of p_positive - p_negative), ``share_positive``
    and ``share_negative`` (shares of mentions classed so).

    ``scored`` is :func:`score` output, one row per text in the order :meth:`Gazetteer.tag`
    saw them (or with a ``text_index`` column); ``tags`` is :meth:`Gazetteer.tag` output.
    """
    if "text_index" not in scored.columns:
        scored = scored.with_row_index("text_index").with_columns(
            pl.col("text_index").cast(pl.Int64)
        )
    missing = [c for c in ("text_index", "label", "score") if c not in scored.columns]
    if missing:
        raise SentimentDataError(f"scored texts: missing column(s) {missing}")
    return (
        tags.join(scored.select("text_index", "label", "score"), on="text_index", how="inner")
        .group_by("entity_type", "entity")
        .agg(
            pl.len().alias("mentions"),
            pl.col("score").mean().alias("mean_score"),
            (pl.col("label") == "positive").mean().alias("share_positive"),
            (pl.col("label") == "negative").mean().alias("share_negative"),
        )
        .with_columns(pl.col("mentions").cast(pl.Int64))
        .sort(["entity_type", "mentions", "entity"], descending=[False, True, False])
    )
