"""Compliance scoring: the traffic light of one (headline, body) from the configured rules.

**Red** for a banned claim, raw personal data (an email address, a phone number, a link off the
landing domain), an unfilled placeholder or copy over the limit; **amber** for off-tone words,
shouting, no brand-tone word or copy near the limit; **green** otherwise.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlsplit

from retail_assets.lib.activation.creatives.model import Light, Verdict
from retail_assets.lib.activation.creatives.text import normalize
from retail_assets.lib.config import CreativesConfig, load_creatives_config

#: Score bands per light: the score orders creatives within a light, never across lights.
_BANDS: dict[str, tuple[int, int]] = {"green": (80, 100), "amber": (40, 79), "red": (0, 39)}
_RED_PENALTY, _AMBER_PENALTY = 40, 15


_SEPARATOR = r"[\s\-\u2010-\u2015]*"


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
