"""What the creative library is made of: requests, creatives, verdicts and the generator protocol.

A :class:`CreativeGenerator` turns a :class:`CreativeRequest` into (headline, body) pairs; an
LLM client can implement the same protocol as the templates do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, runtime_checkable

Light = Literal["green", "amber", "red"]
LIGHTS: tuple[Light, ...] = ("green", "amber", "red")
TEMPLATE_SOURCE = "template"


class CreativeError(ValueError):
    """The library cannot be built as asked; the message says which segment and channel."""


def slug(text: str) -> str:
    """Lower-case, hyphenated identifier: ``brand_loyalist`` -> ``brand-loyalist``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _segment_key(segment_id: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", segment_id.lower()).strip("_")


@dataclass(frozen=True)
class CreativeRequest:
    """What to write copy for: one segment on one channel.

    Attributes:
        segment_id: The segment's stable id, e.g. ``brand_loyalist``.
        segment_name: The name marketers see, e.g. ``Brand Loyalist``.
        channel: A channel configured in ``creatives.yaml`` (Display, CTV, PPC, Email).
        variants: How many non-red variants to end up with (at least 2).
        context: Extra facts for the copy, e.g. ``category``, ``offer``, ``description``. A
            mapping is accepted and stored as sorted (key, value) pairs so the request stays
            hashable.

    """

    segment_id: str
    segment_name: str
    channel: str
    variants: int = 2
    context: Mapping[str, str] | tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        ctx = self.context
        pairs = ctx.items() if isinstance(ctx, Mapping) else ctx
        object.__setattr__(self, "context", tuple(sorted((str(k), str(v)) for k, v in pairs)))
        if not _segment_key(self.segment_id):
            raise CreativeError(f"segment id {self.segment_id!r} has no letters or digits")
        if not self.segment_name.strip():
            raise CreativeError(f"segment {self.segment_id!r} needs a name")
        if not 2 <= self.variants <= 26:
            raise CreativeError(f"variants must be between 2 and 26, got {self.variants}")

    def get(self, key: str, default: str | None = None) -> str | None:
        """The context value for ``key``, or ``default``."""
        return dict(self.context).get(key, default)


@dataclass(frozen=True)
class Creative:
    """One scored copy variant of the library.

    Attributes:
        variant_id: ``<channel>-<segment>-<letter>``, e.g. ``ppc-brand-loyalist-a``.
        segment_id: The segment's id as requested.
        channel: The channel as requested.
        headline: Headline (title on CTV, subject line in email).
        body: Body (description on PPC, script line on CTV, preheader in email).
        landing_url: The configured landing page with UTM tags; ``utm_content`` is the variant.
        source: ``template`` or the name of the generator that wrote the copy.
        compliance: ``green``, ``amber`` or ``red``.
        score: 0-100 within the light's band: green 80-100, amber 40-79, red 0-39.
        reasons: Why the copy is not green, one short string per finding.

    """

    variant_id: str
    segment_id: str
    channel: str
    headline: str
    body: str
    landing_url: str
    source: str
    compliance: Light
    score: int
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.compliance not in LIGHTS:
            raise CreativeError(f"compliance must be one of {LIGHTS}, got {self.compliance!r}")
        if not 0 <= self.score <= 100:
            raise CreativeError(f"score must be within 0..100, got {self.score}")


@runtime_checkable
class CreativeGenerator(Protocol):
    """Anything that writes (headline, body) pairs for a request: templates or an LLM client."""

    name: str

    def generate(self, request: CreativeRequest) -> list[tuple[str, str]]:
        """Candidate (headline, body) pairs, best first; they are scored afterwards."""
        ...


class Verdict(NamedTuple):
    """A creative's compliance: the light, a 0-100 score and the findings behind it."""

    compliance: Light
    score: int
    reasons: tuple[str, ...]
