"""The library: requests per segment and channel, generated, scored and named, and the payload gate.

:func:`build_library` keeps red variants so marketers can see what was rejected and why, tops
every (segment, channel) up to its requested number of non-red variants from the templates, and
:func:`payload_ready` is the only way out to a payload: it re-scores every creative and drops
anything red.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlencode

from retail_assets.lib.activation.creatives.compliance import _on_domain, score_creative
from retail_assets.lib.activation.creatives.generation import TemplateGenerator
from retail_assets.lib.activation.creatives.model import (
    TEMPLATE_SOURCE,
    Creative,
    CreativeError,
    CreativeGenerator,
    CreativeRequest,
    _segment_key,
    slug,
)
from retail_assets.lib.activation.creatives.text import normalize
from retail_assets.lib.config import CreativesConfig, load_creatives_config


def variant_letter(index: int) -> str:
    """``a``, ``b``, ... ``z``, ``aa``, ``ab``, ...: the suffix of the ``index``-th variant."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return letters


def landing_url(channel: str, segment_id: str, variant_id: str, config: CreativesConfig) -> str:
    """The landing page for a variant: the segment's path with the channel's UTM tags."""
    limits = config.channels[channel]
    templates = config.templates.get(_segment_key(segment_id), config.templates["default"])
    query = urlencode(
        {
            "utm_source": limits.utm_source,
            "utm_medium": limits.utm_medium,
            "utm_campaign": limits.utm_campaign,
            "utm_content": variant_id,
        }
    )
    return f"{config.landing_url}{templates.landing_path}?{query}"


def requests_for(
    segments: Mapping[str, str],
    channels: Iterable[str],
    variants: int = 2,
    context: Mapping[str, Mapping[str, str]] | None = None,
) -> list[CreativeRequest]:
    """One request per segment and channel, channels outermost, in the order given.

    Args:
        segments: Segment id -> name, e.g. ``activation.yaml``'s ``segments``.
        channels: Channel names.
        variants: Non-red variants wanted per pair.
        context: Optional segment id -> context (``category``, ``offer``, ...).

    """
    context = context or {}
    return [
        CreativeRequest(seg, name, ch, variants, context.get(seg, {}))
        for ch in channels
        for seg, name in segments.items()
    ]


def build_library(
    requests: Iterable[CreativeRequest],
    generator: CreativeGenerator | None = None,
    config: CreativesConfig | None = None,
) -> list[Creative]:
    """Generate, score and name the variants of every request.

    The generator's pairs are normalized (whitespace), de-duplicated (case-insensitively) and
    scored; red ones are kept so the rejection and its reasons stay visible. Once a request has
    ``variants`` non-red variants, further non-red pairs from the generator are dropped. When
    it has fewer, the template generator tops it up (``source="template"``). Variant ids are
    ``<channel>-<segment>-<letter>`` in the order the variants were kept.

    Args:
        requests: One per (segment, channel); a pair may appear once.
        generator: The copywriter; :class:`TemplateGenerator` when omitted.
        config: The creatives configuration; the packaged one when omitted.

    Returns:
        The creatives, request by request: red and non-red alike.

    Raises:
        CreativeError: A (segment, channel) repeats, a generator returned something other than
            (headline, body) string pairs, or even the templates give fewer than 2 non-red
            variants (the message lists why).

    """
    config = config or load_creatives_config()
    templates = TemplateGenerator(config)
    generator = generator or templates
    source = getattr(generator, "name", type(generator).__name__)
    out: list[Creative] = []
    seen: dict[tuple[str, str], str] = {}
    for req in requests:
        key = (slug(req.channel), slug(req.segment_id))
        if key in seen:
            raise CreativeError(
                f"segment {req.segment_id!r} on {req.channel} is requested twice (as "
                f"{seen[key]!r}); its variant ids would clash"
            )
        seen[key] = req.segment_id
        variants = _Variants(req, config)
        for item in generator.generate(req):
            if not (
                isinstance(item, Sequence)
                and not isinstance(item, str)
                and len(item) == 2
                and all(isinstance(x, str) for x in item)
            ):
                raise CreativeError(
                    f"generator {source!r} returned {item!r} for segment {req.segment_id!r} on "
                    f"{req.channel}; expected a (headline, body) pair of strings"
                )
            variants.add(item[0], item[1], source)
        if variants.non_red < req.variants:
            for headline, body in templates.candidates(req):
                variants.add(headline, body, TEMPLATE_SOURCE)
                if variants.non_red >= req.variants:
                    break
        if variants.non_red < 2:
            why = "; ".join(dict.fromkeys(r for c in variants.kept for r in c.reasons))
            raise CreativeError(
                f"segment {req.segment_id!r} on {req.channel}: only {variants.non_red} non-red "
                f"variant(s), even from the templates ({why})"
            )
        out.extend(variants.kept)
    return out


class _Variants:
    """The variants kept for one request, in order, with their copy for de-duplication."""

    def __init__(self, request: CreativeRequest, config: CreativesConfig):
        self.request, self.config = request, config
        self.prefix = f"{slug(request.channel)}-{slug(request.segment_id)}"
        self.kept: list[Creative] = []
        self.copies: set[tuple[str, str]] = set()
        self.non_red = 0

    def add(self, headline: str, body: str, source: str) -> None:
        headline, body = normalize(headline), normalize(body)
        copy = (headline.casefold(), body.casefold())
        if copy in self.copies:
            return
        req = self.request
        verdict = score_creative(headline, body, req.channel, self.config)
        if verdict.compliance != "red" and self.non_red >= req.variants:
            return
        self.copies.add(copy)
        self.non_red += verdict.compliance != "red"
        variant_id = f"{self.prefix}-{variant_letter(len(self.kept))}"
        url = (
            landing_url(req.channel, req.segment_id, variant_id, self.config)
            if req.channel in self.config.channels
            else ""
        )
        self.kept.append(
            Creative(
                variant_id=variant_id,
                segment_id=req.segment_id,
                channel=req.channel,
                headline=headline,
                body=body,
                landing_url=url,
                source=source,
                compliance=verdict.compliance,
                score=verdict.score,
                reasons=verdict.reasons,
            )
        )


def _non_red(creatives: Iterable[Creative]) -> int:
    return sum(c.compliance != "red" for c in creatives)


def payload_ready(
    creatives: Iterable[Creative], config: CreativesConfig | None = None
) -> list[Creative]:
    """The creatives that may go into a payload: never a red one.

    Each creative is re-scored from its copy, so a red one cannot get through with a hand-set
    ``compliance``; one whose stored light is red, whose copy scores red now, or whose landing
    URL is off the configured domain is dropped.

    Args:
        creatives: Creatives from :func:`build_library`.
        config: The configuration they were built with; the packaged one when omitted.

    """
    config = config or load_creatives_config()
    ready = []
    for c in creatives:
        if c.compliance == "red" or not _on_domain(c.landing_url, config):
            continue
        if score_creative(c.headline, c.body, c.channel, config).compliance == "red":
            continue
        ready.append(c)
    return ready
