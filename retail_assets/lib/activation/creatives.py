"""The creative library: ad copy variants per segment and channel, scored for compliance.

A :class:`CreativeGenerator` turns a :class:`CreativeRequest` into (headline, body) pairs. The
default :class:`TemplateGenerator` fills the templates of ``config/creatives.yaml``: it is
deterministic and offline. An LLM client can implement the same protocol; whatever it returns
goes through the same checks.

:func:`score_creative` gives each pair a traffic light from the configured lists and the
channel's limits: **red** for a banned claim, raw personal data (an email address, a phone
number, a link off the landing domain), an unfilled placeholder or copy over the limit;
**amber** for off-tone words, shouting, no brand-tone word or copy near the limit; **green**
otherwise. :func:`build_library` keeps red variants so marketers can see what was rejected and
why, tops every (segment, channel) up to its requested number of non-red variants from the
templates, and :func:`payload_ready` is the only way out to a payload: it re-scores every
creative and drops anything red.
"""

from __future__ import annotations

import re
import string
import unicodedata
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlencode, urlsplit

from retail_assets.lib.config import CreativesConfig, load_creatives_config

Light = Literal["green", "amber", "red"]
LIGHTS: tuple[Light, ...] = ("green", "amber", "red")
TEMPLATE_SOURCE = "template"

#: Score bands per light: the score orders creatives within a light, never across lights.
_BANDS: dict[str, tuple[int, int]] = {"green": (80, 100), "amber": (40, 79), "red": (0, 39)}
_RED_PENALTY, _AMBER_PENALTY = 40, 15


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


# ------------------------------------------------------------------ text helpers

# Zero-width characters and soft hyphens would let "gua\u200branteed" slip past the lists.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_SEPARATOR = r"[\s\-\u2010-\u2015]*"
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_DANGLING = frozenset(
    "a an and at but by for from in into of on or our so than that the to with your &".split()
)


def normalize(text: str) -> str:
    """Copy as it is checked: NFKC, straight quotes, no invisible characters, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_QUOTES)
    return " ".join(text.split())


def truncate_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, never inside a word.

    Prefers the last full sentence that keeps at least half the limit; otherwise cuts at the
    last word that fits and drops dangling connectives ("and", "with", ...) and trailing
    commas or dashes, so the copy does not end mid-phrase. Returns ``""`` when not even the
    first word fits.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() <= limit]
    if ends and ends[-1] >= limit / 2:
        return text[: ends[-1]]
    words: list[str] = []
    for word in text.split(" "):
        if len(" ".join([*words, word])) > limit:
            break
        words.append(word)
    while words:
        words[-1] = words[-1].rstrip(",;:-\u2013\u2014")
        if words[-1] and words[-1].lower() not in _DANGLING:
            break
        words.pop()
    return " ".join(words)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _phrase_regex(phrase: str) -> str:
    # Spaces and hyphens between words are interchangeable and optional ("risk free",
    # "risk-free", "riskfree"); inside a word, punctuation may be spaced ("100 %") and
    # apostrophes are optional ("dont").
    parts = []
    for part in re.split(r"[\s\-\u2010-\u2015]+", normalize(phrase)):
        tokens = re.findall(r"\w+|[^\w\s]", part)
        parts.append(r"\s?".join("'?" if t == "'" else re.escape(t) for t in tokens))
    return _SEPARATOR.join(p for p in parts if p)


def _bounded(pattern: str, stem: bool = False) -> re.Pattern[str]:
    tail = r"\w*" if stem else r"(?!\w)"
    return re.compile(rf"(?<!\w)(?:{pattern}){tail}", re.IGNORECASE)


@cache
def _claim_rules(claims: tuple[tuple[str, str | None], ...]) -> tuple[tuple[str, re.Pattern], ...]:
    return tuple((c, _bounded(p if p is not None else _phrase_regex(c))) for c, p in claims)


@cache
def _word_rules(words: tuple[str, ...], stem: bool) -> tuple[tuple[str, re.Pattern], ...]:
    return tuple((w, _bounded(_phrase_regex(w), stem=stem)) for w in words)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Long digit runs with separators (phone numbers), or the 3-4 local form ("555-0100").
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{6,}\d(?!\w)")
_PHONE_LOCAL = re.compile(r"(?<![\w.-])\d{3}[.-]\d{4}(?![\w.-])")
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    r"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    r"(?:com|net|org|co|io|shop|store|info|biz|us|uk|ca|de|fr|au|app|online|site|xyz|ly|me|ai|tv)"
    r"(?![\w-])(?:/\S*)?",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|\{|\}")
_EXCLAIM = re.compile(r"[!?]{2,}")
_WORD = re.compile(r"[^\W\d_]+")


def _core_host(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _url_host(url: str) -> str:
    url = url.rstrip(".,;:!?)]'\"")
    if "://" not in url:
        url = "//" + url
    return _core_host(urlsplit(url).hostname or "")


def _on_domain(url: str, config: CreativesConfig) -> bool:
    base = _core_host(urlsplit(config.landing_url).hostname or "")
    host = _url_host(url)
    return host == base or host.endswith("." + base)


# ------------------------------------------------------------------ scoring


def score_creative(
    headline: str, body: str, channel: str, config: CreativesConfig | None = None
) -> Verdict:
    """The traffic light for one (headline, body) on ``channel``.

    Red: a banned claim (whole words, any case, spaces and hyphens alike), an email address, a
    phone number, a link to any domain but the landing page's, an unfilled placeholder, empty
    copy, copy over the channel's limit or a channel with no configured limits. Amber: a
    discouraged tone word, an upper-case word of four or more letters that is not an allowed
    acronym, repeated exclamation marks, no brand-tone word at all, or copy longer than
    ``near_limit`` of the channel's limit. Green otherwise.

    Args:
        headline: The headline as it would run.
        body: The body as it would run.
        channel: The channel's name in ``creatives.yaml``.
        config: The creatives configuration; the packaged one when omitted.

    Returns:
        The light, a score within the light's band (fewer findings score higher) and one
        reason per finding, naming the rule and the offending text.

    """
    config = config or load_creatives_config()
    red: list[str] = []
    amber: list[str] = []
    limits = config.channels.get(channel)
    if limits is None:
        red.append(f"channel {channel!r} has no configured limits")
    parts = (
        (limits.headline_label if limits else "headline", normalize(headline), "headline_max"),
        (limits.body_label if limits else "body", normalize(body), "body_max"),
    )
    claims = _claim_rules(tuple((c.claim, c.pattern) for c in config.banned_claims))
    discouraged = _word_rules(tuple(config.discouraged_tone), stem=False)
    tone = _word_rules(tuple(config.brand_tone), stem=True)
    allowed_caps = {w.upper() for w in config.allowed_caps} | {
        w.upper() for w in _WORD.findall(config.brand)
    }
    for label, text, limit_key in parts:
        if not text:
            red.append(f"empty {label}")
            continue
        for claim, rule in claims:
            hit = rule.search(text)
            if hit:
                red.append(f"banned claim {claim!r} in {label}: {hit.group(0)!r}")
        emails = _EMAIL.findall(text)
        red.extend(f"email address in {label}: {e!r}" for e in emails)
        rest = _EMAIL.sub(" ", text)
        for url in _URL.findall(rest):
            if not _on_domain(url, config):
                red.append(f"link off the landing domain in {label}: {url!r}")
        rest = _URL.sub(" ", rest)
        phones = [m for m in _PHONE.findall(rest) if 9 <= sum(c.isdigit() for c in m) <= 15]
        for phone in phones:
            rest = rest.replace(phone, " ")
        phones += _PHONE_LOCAL.findall(rest)
        red.extend(f"phone number in {label}: {phone.strip()!r}" for phone in phones)
        brace = _PLACEHOLDER.search(text)
        if brace:
            red.append(f"unfilled placeholder in {label}: {brace.group(0)!r}")
        for word, rule in discouraged:
            hit = rule.search(text)
            if hit:
                amber.append(f"discouraged tone {word!r} in {label}: {hit.group(0)!r}")
        shouted = [
            w for w in _WORD.findall(text) if len(w) >= 4 and w.isupper() and w not in allowed_caps
        ]
        if shouted:
            amber.append(f"shouting in {label}: {' '.join(dict.fromkeys(shouted))!r}")
        bangs = [m for m in _EXCLAIM.findall(text) if "!" in m]
        if bangs:
            amber.append(f"repeated exclamation marks in {label}: {bangs[0]!r}")
        if limits is not None:
            limit = getattr(limits, limit_key)
            if len(text) > limit:
                red.append(f"{label} over the {channel} limit: {len(text)} > {limit} characters")
            elif len(text) > config.near_limit * limit:
                amber.append(f"{label} near the {channel} limit: {len(text)} of {limit} characters")
    if not any(rule.search(text) for _, text, _ in parts for _, rule in tone):
        examples = ", ".join(repr(w) for w in config.brand_tone[:3])
        amber.append(f"no brand-tone word (e.g. {examples})")
    light: Light = "red" if red else "amber" if amber else "green"
    low, high = _BANDS[light]
    score = max(low, min(high, 100 - _RED_PENALTY * len(red) - _AMBER_PENALTY * len(amber)))
    return Verdict(light, score, tuple(red + amber))


# ------------------------------------------------------------------ generation


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


# ------------------------------------------------------------------ the library


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
