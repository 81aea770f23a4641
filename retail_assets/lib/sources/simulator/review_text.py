"""Review and social text written to a tone: phrase pools and the writer that joins them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.lib.sources.simulator.customers import _BRANDS, Retailer

#: One-line reviews per class; a share of reviews is just one of these (and the per-row
#: reference simulator in ``benchmarks/`` draws all its review text from them).
_REVIEW_TEXT = {
    "negative": [
        "Broke after a week, very disappointed",
        "Poor quality and slow delivery",
        "Would not buy this {cat} item again",
        "Not as described, returning it",
    ],
    "neutral": [
        "It is okay for the price",
        "Average {cat} product, does the job",
        "Arrived on time, nothing special",
        "Fine but packaging was damaged",
    ],
    "positive": [
        "Love it, great {cat} value",
        "Excellent quality, fast shipping",
        "Best {cat} purchase this year",
        "Works perfectly, highly recommend",
    ],
}
# Review and social text is composed from the phrase pools below (see _TextWriter): clauses at a
# polarity level from -2 (strongly negative) to 2 (strongly positive) about an aspect of the
# category, stock phrases with negations, mixed statements for the middle, and an opening that
# names a product, brand or store for some texts.
_POLARITY = {
    -2: ("terrible", "awful", "horrible", "useless", "dreadful"),
    -1: ("poor", "disappointing", "mediocre", "flimsy", "subpar"),
    0: ("okay", "fine", "average", "acceptable", "decent", "so-so"),
    1: ("good", "nice", "solid", "pleasant", "lovely"),
    2: ("excellent", "great", "outstanding", "superb", "fantastic"),
}
#: Intensifiers make a level-1 word a level-2 one ("really good"); hedges soften a word.
_INTENSIFIERS = ("really ", "very ", "truly ", "extremely ")
_HEDGES = ("", "", "quite ", "fairly ", "mostly ", "just ")
#: Stock phrases by level, negations among them.
_IDIOMS = {
    -2: (
        "never again",
        "don't waste your money",
        "stopped working after a week",
        "worst {cat} purchase I have made",
        "not worth it at all",
        "would not recommend it to anyone",
    ),
    -1: (
        "wasn't worth it",
        "not impressed",
        "not great",
        "expected better",
        "not as described",
        "would not buy it again",
    ),
    0: (
        "not bad, not great",
        "nothing special",
        "it does the job",
        "about what I expected",
        "neither good nor bad",
        "average for the price",
    ),
    1: (
        "not bad at all",
        "can't complain",
        "happy with it",
        "does what it says",
        "would buy it again",
    ),
    2: (
        "love it",
        "couldn't be happier",
        "no complaints at all",
        "best {cat} purchase this year",
        "highly recommend it",
        "exceeded my expectations",
    ),
}
#: Aspects as (noun, positive note, negative note): every category's, then per category.
_COMMON_ASPECTS = (
    ("price", "great value for money", "overpriced"),
    ("returns", "easy returns", "returns were a hassle"),
    ("delivery", "fast delivery", "arrived late"),
    ("website", "easy to order online", "the website kept crashing"),
    ("packaging", "neat packaging", "damaged packaging"),
    ("customer service", "helpful customer service", "unhelpful customer service"),
    ("staff", "friendly staff", "rude staff"),
    ("quality", "well made", "cheap materials"),
)
_CATEGORY_ASPECTS = {
    "electronics": (
        ("battery", "battery lasts all day", "battery drains fast"),
        ("screen", "sharp screen", "dim screen"),
        ("sound", "clear sound", "tinny sound"),
        ("setup", "easy setup", "setup was a pain"),
    ),
    "appliances": (
        ("noise level", "runs quietly", "very noisy"),
        ("installation", "easy installation", "installation was a nightmare"),
        ("energy use", "low energy use", "uses a lot of power"),
        ("capacity", "plenty of room inside", "too small inside"),
    ),
    "apparel": (
        ("fit", "true to size", "runs small"),
        ("fabric", "soft fabric", "itchy fabric"),
        ("stitching", "neat stitching", "loose stitching"),
        ("colour", "colour as pictured", "colour faded after one wash"),
    ),
    "grocery": (
        ("taste", "tastes fresh", "bland taste"),
        ("freshness", "fresh and crisp", "stale on arrival"),
        ("portion", "generous portion", "tiny portion"),
        ("flavour", "rich flavour", "odd aftertaste"),
    ),
    "home & garden": (
        ("assembly", "easy assembly", "assembly took hours"),
        ("durability", "holds up well", "rusted within a month"),
        ("instructions", "clear instructions", "confusing instructions"),
        ("finish", "smooth finish", "scratched finish"),
    ),
    "beauty": (
        ("scent", "lovely scent", "overpowering scent"),
        ("texture", "light texture", "greasy texture"),
        ("skin feel", "gentle on skin", "irritated my skin"),
        ("lasting power", "lasts all day", "wears off in an hour"),
    ),
}
#: Openings that name an entity ({product}, {brand}, {store}); social mentions use their own.
_OPENINGS = {
    "product": (
        "Bought the {product}",
        "Ordered the {product} last week",
        "Got the {product} as a gift",
        "Review of the {product}",
        "Second time buying the {product}",
    ),
    "brand": (
        "First time trying {brand}",
        "Another {brand} purchase",
        "Switched to {brand} for this",
        "My usual {brand} {cat} order",
    ),
    "store": (
        "Picked it up at store {store}",
        "Bought it in store {store}",
        "Went to {store} on the weekend",
        "Click and collect at {store}",
    ),
    "none": ("Update after a month", "First order here", "Bought this for my partner"),
}
_SOCIAL_OPENINGS = {
    "product": ("just got the {product}", "anyone tried the {product}?", "the {product}"),
    "brand": ("@{brand}", "{brand} again", "thoughts on {brand}:"),
    "store": ("at {store} today", "{store} run", "in {store} just now"),
    "none": ("",),
}


#: Weight of the rating in a review's tone (the rest is its latent sentiment).
_TONE_FROM_RATING = 0.75
#: Spread (in polarity levels) of each clause's level around twice the text's tone.
_TONE_NOISE = 0.33
#: Share of texts that name a product, brand or store, and how those split over the three.
_ENTITY_SHARE = 0.5
_ENTITY_KINDS = ("product", "product", "brand", "store")
#: Share of reviews that are just a one-line review from ``_REVIEW_TEXT``.
_ONE_LINER_SHARE = 0.08
_CLASS_OF_LEVEL = ("negative", "negative", "neutral", "positive", "positive")


def _pick(pool: tuple[str, ...] | list[str], u: float) -> str:
    return pool[int(u * len(pool))]


@dataclass(frozen=True)
class _TextWriter:
    """Review and social text for a tone per row (-1..1, the scale of the latent sentiment).

    A text is an opening (which names a product of the category, a brand or a store for
    ``_ENTITY_SHARE`` of them), then one to three clauses. Each clause has its own polarity
    level: twice the tone plus normal noise (``_TONE_NOISE``), rounded into -2..2, so most
    clauses agree with the tone and some are a level off: a four-star review can read
    lukewarm, a middling one lean either way. A clause is an adjective of its level about an
    aspect of the category, the aspect's positive or negative note, or a stock phrase (with
    negations: "not bad at all", "wasn't worth it"); a level-0 clause may be a mixed statement
    ("good price but slow delivery"). All draws come from the generator passed in: a normal
    matrix and a uniform matrix per call, the loop only picks and joins strings.
    """

    products: dict[str, list[str]]  # category -> product names
    brands: list[str]
    stores: list[str]

    @classmethod
    def build(cls, sim: Retailer) -> _TextWriter:
        names = sim.catalog.group_by("category", maintain_order=True).agg("item_name")
        return cls(
            products=dict(zip(names["category"], names["item_name"].to_list(), strict=True)),
            brands=_BRANDS,
            stores=[f"S{i + 1:03d}" for i in range(sim.config.stores)],
        )

    def write(
        self, tone: np.ndarray, cat: str, rng: np.random.Generator, social: bool = False
    ) -> list[str]:
        """One text per tone, about category ``cat``; ``social`` for short, lower-case posts."""
        n = tone.size
        levels = np.round(2 * tone[:, None] + rng.normal(0, _TONE_NOISE, (n, 3)))
        levels = np.clip(levels, -2, 2).astype(np.int64).tolist()
        draws = rng.random((n, 21)).tolist()
        aspects = _COMMON_ASPECTS + _CATEGORY_ASPECTS.get(cat.lower(), ())
        names = {"product": self.products[cat], "brand": self.brands, "store": self.stores}
        openings = _SOCIAL_OPENINGS if social else _OPENINGS
        lower = cat.lower()
        out = []
        for level, u in zip(levels, draws, strict=True):
            # u[0..3] the opening, u[4..5] the body, u[6..18] three clauses, u[19..20] the style
            kind = _pick(_ENTITY_KINDS, u[1]) if u[0] < _ENTITY_SHARE else "none"
            opening = ""
            if kind != "none" or u[1] < 0.3:
                name = _pick(names[kind], u[2]) if kind != "none" else ""
                opening = _pick(openings[kind], u[3]).format(
                    product=name, brand=name, store=name, cat=lower
                )
            if not social and u[4] < _ONE_LINER_SHARE:
                body = [_pick(_REVIEW_TEXT[_CLASS_OF_LEVEL[level[0] + 2]], u[5]).format(cat=lower)]
            else:
                count = 1 if u[4] < (0.7 if social else 0.45) else 2 if u[4] < 0.85 else 3
                # Clauses' aspects a third of the list apart: one review, different aspects.
                body = [
                    _clause(
                        level[i], aspects, lower, (u[6] + i / 3) % 1.0, *u[7 + 4 * i : 11 + 4 * i]
                    )
                    for i in range(count)
                ]
            if social:
                sep = " " if opening.endswith((":", "?")) else ": " if u[19] < 0.5 else " - "
                out.append(sep.join(x for x in (opening, ", ".join(body)) if x))
                continue
            sentences = [opening] if opening else []
            sentences += body if u[19] < 0.5 else [", ".join(body)]
            end = "!" if abs(level[0]) == 2 and u[20] < 0.5 else "."
            out.append(". ".join(s[0].upper() + s[1:] for s in sentences) + end)
        return out


def _clause(
    level: int,
    aspects: tuple[tuple[str, str, str], ...],
    cat: str,
    aspect: float,
    kind: float,
    word: float,
    modifier: float,
    order: float,
) -> str:
    """One clause at ``level`` about an aspect; the other arguments are uniform draws."""
    i = int(aspect * len(aspects))
    noun, good, bad = aspects[i]
    if level == 0:
        if kind < 0.35:
            j = int(word * (len(aspects) - 1))  # another aspect
            _, other_good, other_bad = aspects[j + (j >= i)]
            return f"{good} but {other_bad}" if order < 0.5 else f"{bad} but {other_good}"
        if kind < 0.7:
            return f"the {noun} is {_pick(_HEDGES, modifier)}{_pick(_POLARITY[0], word)}"
        return _pick(_IDIOMS[0], word).format(cat=cat)
    if kind < 0.45:
        if abs(level) == 2 and modifier < 0.4:  # "really good"
            text = _pick(_INTENSIFIERS, modifier / 0.4) + _pick(_POLARITY[level // 2], word)
        elif abs(level) == 1:
            text = _pick(_HEDGES, modifier) + _pick(_POLARITY[level], word)
        else:
            text = _pick(_POLARITY[level], word)
        return f"the {noun} is {text}" if order < 0.5 else f"{text} {noun}"
    if kind < 0.7:
        return good if level > 0 else bad
    return _pick(_IDIOMS[level], word).format(cat=cat)
