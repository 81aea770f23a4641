"""The default copywriter: :class:`TemplateGenerator` fills the configured templates, offline."""

from __future__ import annotations

import string
import zlib
from collections.abc import Mapping, Sequence

from retail_assets.lib.activation.creatives.model import (
    TEMPLATE_SOURCE,
    CreativeError,
    CreativeRequest,
    _segment_key,
)
from retail_assets.lib.activation.creatives.text import _capitalize, normalize, truncate_words
from retail_assets.lib.config import CreativesConfig, load_creatives_config


class TemplateGenerator:
    """The default generator: the configured templates, filled and fitted. Offline, no randomness.

    The template order is rotated by a CRC-32 of (segment, channel), so channels and segments
    lead with different copy, then templates that fit the channel comfortably come first, then
    those that fit, then those that must be cut (at a sentence or word boundary).
    """

    name = TEMPLATE_SOURCE

    def __init__(self, config: CreativesConfig | None = None):
        self.config = config or load_creatives_config()

    def template_set(self, request: CreativeRequest) -> str:
        """The key of the templates used for ``request``: its segment's, or ``default``."""
        key = _segment_key(request.segment_id)
        return key if key in self.config.templates else "default"

    def generate(self, request: CreativeRequest) -> list[tuple[str, str]]:
        """The first ``request.variants`` of :meth:`candidates`."""
        return self.candidates(request)[: request.variants]

    def candidates(self, request: CreativeRequest) -> list[tuple[str, str]]:
        """Every distinct (headline, body) the templates give, in order of preference.

        Pairs whose copy fits the channel without being cut come first; within that, headline
        *i* goes with body *i* (so the leading variants differ in both), then the remaining
        combinations.

        Raises:
            CreativeError: The channel is not configured, or fewer than two distinct pairs fit.

        """
        limits = self.config.channels.get(request.channel)
        if limits is None:
            raise CreativeError(
                f"channel {request.channel!r} is not configured in creatives.yaml; "
                f"known: {sorted(self.config.channels)}"
            )
        key = self.template_set(request)
        templates = self.config.templates[key]
        values = {
            "brand": self.config.brand,
            "segment_name": request.segment_name.strip(),
            "category": request.get("category") or self.config.defaults.category,
            "offer": request.get("offer") or templates.offer or self.config.defaults.offer,
        }
        seed = f"{_segment_key(request.segment_id)}/{request.channel}"
        heads = self._ranked(templates.headlines, values, limits.headline_max, "h/" + seed)
        bodies = self._ranked(templates.bodies, values, limits.body_max, "b/" + seed)
        grid = sorted(
            ((i, j) for i in range(len(heads)) for j in range(len(bodies))),
            key=lambda ij: (max(heads[ij[0]][0], bodies[ij[1]][0]), ij[0] != ij[1], sum(ij), ij),
        )
        pairs = list(dict.fromkeys((heads[i][1], bodies[j][1]) for i, j in grid))
        if len(pairs) < 2:
            raise CreativeError(
                f"templates {key!r} give fewer than 2 distinct variants for segment "
                f"{request.segment_id!r} on {request.channel}; add templates that fit"
            )
        return pairs

    def _ranked(
        self, templates: Sequence[str], values: Mapping[str, str], limit: int, seed: str
    ) -> list[tuple[int, str]]:
        # Tier 0 fits comfortably, 1 fits near the limit (amber), 2 had to be cut.
        start = zlib.crc32(seed.encode()) % len(templates)
        rotated = [*templates[start:], *templates[:start]]
        comfortable = self.config.near_limit * limit
        ranked: list[tuple[int, str]] = []
        for template in rotated:
            text = _capitalize(normalize(string.Formatter().vformat(template, (), values)))
            tier = 0 if len(text) <= comfortable else 1 if len(text) <= limit else 2
            text = _capitalize(truncate_words(text, limit))
            if text:
                ranked.append((tier, text))
        ranked.sort(key=lambda t: t[0])  # stable: the rotation decides within a tier
        first: dict[str, int] = {}
        for tier, text in ranked:
            first.setdefault(text, tier)
        return [(tier, text) for text, tier in first.items()]
