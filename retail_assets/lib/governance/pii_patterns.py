"""What counts as personal data in a string: the patterns, hits, masking and :func:`scan_text`.

What counts as a hit (:data:`KINDS`):

- ``email``: ``local@domain.tld``, also URL-encoded (``local%40domain.tld``).
- ``phone``: E.164 (``+16505551212``, ``+1 650 555 1212``, ``+44 20 7946 0958``), North
  American national (``(650) 555-1212``, ``650-555-1212``, ``650.555.1212``) and trunk-``0``
  national formats with separators (``020 7946 0958``, ``06-12345678``). Bare digit runs are
  never phones: they are timestamps, GA4 ids, micros amounts. Dates, times, decimals, UUIDs
  and hex pseudonyms do not match.
- ``ipv4`` / ``ipv6``: addresses, validated with :mod:`ipaddress` (an IPv6 address needs three
  non-empty groups, so ``a::b`` or a slice ``1::2`` is not one).
- ``known_hash``: the unkeyed MD5, SHA-1 or SHA-256 (hex or base64) of a known identifier, in
  any of its platform normalizations (trimmed, lowercased, E.164, digits only). An unkeyed
  hash of an email is reversible by a dictionary attack; an HMAC under a secret key, which the
  platform's pseudonyms are, is not and never matches.
- ``known_id``: a known identifier verbatim (a customer id, a GA4 client id, an email).

A :class:`Hit` never holds the value it found, only a masked sample (``j***@***.com``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from urllib.parse import unquote_plus

from retail_assets.lib.governance.pii_known import KnownIdentifiers, _digit_count

KINDS = ("email", "phone", "ipv4", "ipv6", "known_hash", "known_id")

# ---------------------------------------------------------------------------- patterns
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"[{_ATEXT}](?:[{_ATEXT}.]{{0,63}})(?:@|%40)(?P<domain>{_LABEL}(?:\.{_LABEL})*)"
    r"\.(?P<tld>[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9-])"
)
#: ``icon@2x.png``: an image name, not an address.
_RETINA = re.compile(r"@\d+(?:\.\d+)?x\.(?:png|jpe?g|gif|webp|svg|avif)$", re.IGNORECASE)
# A "+", then 7-15 digits with at most two separators between any two of them.
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d(?:[ ().-]{0,2}\d){6,14}(?!\d)")
_PHONE_NANP = re.compile(
    r"(?<![\w.+-])(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-]|[.:]\d)"
)
_PHONE_TRUNK = re.compile(r"(?<![\w.+-])0\d{1,4}(?:[ -]\d{2,8}){1,4}(?![\w-]|[.:/]\d)")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_HEX = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{64}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{32})(?![0-9A-Fa-f])"
)
_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{43}=?(?![A-Za-z0-9+/_=-])")
#: Where to look for a known identifier: runs of id characters, then their parts.
_TOKEN = re.compile(r"[A-Za-z0-9._%+@-]+")
_TOKEN_PARTS = re.compile(r"[-_]")


# ---------------------------------------------------------------------------- hits
@dataclass(frozen=True)
class Hit:
    """One kind of personal data found in one place, with a masked sample (never the value).

    Attributes:
        kind: One of :data:`KINDS`.
        sample: The first value found, masked.
        location: Table (``governed.sessions date=2025-03-01``), file or run log.
        column: Column, JSON pointer (``/line_items/0/name``) or "" for a line of text.
        row: First row (0-based) of the table, or line (1-based) of the file.
        count: Rows, values or lines of this location and column with this kind.
        detail: What a known hash or identifier is of (``sha256 of email (normalized)``).
        path: The file, when the location is one.

    """

    kind: str
    sample: str
    location: str = ""
    column: str = ""
    row: int | None = None
    count: int = 1
    detail: str = ""
    path: str = ""

    def describe(self) -> str:
        """One readable line: where, what, and the masked sample."""
        where = self.location + (f" column {self.column}" if self.column else "")
        if self.row is not None:
            where += f" {'row' if self.column else 'line'} {self.row}"
        more = f" ({self.count} in all)" if self.count > 1 else ""
        detail = f", {self.detail}" if self.detail else ""
        return f"{where}: {self.kind} {self.sample!r}{detail}{more}"


@dataclass
class ScanReport:
    """Everything one scan found and what it looked at."""

    hits: list[Hit] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    rows: int = 0
    known: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when nothing was found."""
        return not self.hits

    def extend(self, other: ScanReport) -> ScanReport:
        """Add another report's hits, locations, rows and warnings to this one."""
        self.hits.extend(other.hits)
        self.scanned.extend(other.scanned)
        self.rows += other.rows
        self.warnings.extend(other.warnings)
        return self

    def counts(self) -> dict[str, int]:
        """Hits (rows, values or lines) by kind."""
        out: dict[str, int] = {}
        for hit in self.hits:
            out[hit.kind] = out.get(hit.kind, 0) + hit.count
        return out

    def summary(self, max_hits: int = 50) -> str:
        """A few lines: the verdict, then one line per hit (masked)."""
        if self.passed:
            head = (
                f"no personal data found in {len(self.scanned)} tables and files "
                f"({self.rows} rows; {self.known} known identifiers looked for)"
            )
            return "\n".join([head, *(f"  warning: {w}" for w in self.warnings)])
        lines = [
            f"personal data found: {len(self.hits)} place(s), {self.counts()} "
            f"(scanned {len(self.scanned)} tables and files)"
        ]
        lines += [f"  - {h.describe()}" for h in self.hits[:max_hits]]
        if len(self.hits) > max_hits:
            lines.append(f"  ... and {len(self.hits) - max_hits} more (see the JSON report)")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def markdown(self, max_hits: int = 50) -> str:
        """The hits as a markdown table (masked samples)."""
        head = "| location | column | row | kind | count | sample |\n|---|---|---|---|---|---|\n"
        body = "".join(
            f"| {h.location} | {h.column} | {'' if h.row is None else h.row} | {h.kind} "
            f"| {h.count} | {h.sample.replace('|', '/')} |\n"
            for h in self.hits[:max_hits]
        )
        return head + body

    def to_dict(self) -> dict:
        """A JSON-ready dict of the report."""
        return {
            "passed": self.passed,
            "counts": self.counts(),
            "hits": [asdict(h) for h in self.hits],
            "scanned": self.scanned,
            "rows": self.rows,
            "known_identifiers": self.known,
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------- masking
def mask(kind: str, value: str) -> str:
    """A sample of ``value`` that shows its shape but not the value itself."""
    if kind == "email":
        local, *domain = re.split(r"@|%40", value, maxsplit=1)
        return f"{local[:1]}***@***.{''.join(domain).rsplit('.', 1)[-1]}"
    if kind == "phone":
        digits = [i for i, ch in enumerate(value) if ch.isdigit()]
        keep = set(digits[-2:])
        return "".join(ch if not ch.isdigit() or i in keep else "*" for i, ch in enumerate(value))
    if kind == "ipv4":
        return value.split(".", 1)[0] + ".*.*.*"
    if kind == "ipv6":
        return value.split(":", 1)[0] + ":*:*"
    if kind == "known_hash":
        return value[:8] + "..."
    return value[:1] + "*" * min(len(value) - 1, 12)


# ---------------------------------------------------------------------------- text
def _valid_email(match: re.Match) -> bool:
    return not _RETINA.search(match.group(0))


def _valid_intl_phone(match: re.Match) -> bool:
    text = match.group(0)
    if text.count(".") == 1 and re.search(r"\.\d{1,2}$", text):
        return False  # "+12345678.90": a signed decimal, not a number with dot separators
    return 8 <= _digit_count(text) <= 15


def _valid_trunk_phone(match: re.Match) -> bool:
    # Nine digits would take ZIP+4 codes of New England ("01234-5678") for phone numbers.
    return 10 <= _digit_count(match.group(0)) <= 12


def _valid_ipv6(match: re.Match) -> bool:
    text = match.group(0)
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return sum(1 for group in text.split(":") if group) >= 3


_PATTERNS: tuple[tuple[str, re.Pattern, Callable[[re.Match], bool]], ...] = (
    ("email", _EMAIL, _valid_email),
    ("phone", _PHONE_INTL, _valid_intl_phone),
    ("phone", _PHONE_NANP, lambda m: True),
    ("phone", _PHONE_TRUNK, _valid_trunk_phone),
    ("ipv4", _IPV4, lambda m: True),
    ("ipv6", _IPV6, _valid_ipv6),
)


def scan_text(text: str, known: KnownIdentifiers | None = None, patterns: bool = True) -> list[Hit]:
    """Personal data in one string: one :class:`Hit` per value found (location left empty).

    Args:
        text: The string.
        known: Identifiers whose hashes and verbatim forms count as hits.
        patterns: Look for emails, phones and IP addresses (off for pseudonym columns).

    """
    hits: list[Hit] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    if patterns:
        for kind, pattern, valid in _PATTERNS:
            for match in pattern.finditer(text):
                if valid(match) and free(*match.span()):
                    taken.append(match.span())
                    hits.append(Hit(kind=kind, sample=mask(kind, match.group(0))))
        if "%" in text and not hits and (decoded := unquote_plus(text)) != text:
            # A URL-encoded value (``%2B1%20650...``) is found in its decoded form.
            hits += scan_text(decoded, None)
    if known:
        if known.hashes:
            for pattern, normalize in ((_HEX, str.lower), (_B64, lambda s: s)):
                for match in pattern.finditer(text):
                    what = known.hashes.get(normalize(match.group(0)))
                    if what and free(*match.span()):
                        taken.append(match.span())
                        hits.append(
                            Hit(
                                kind="known_hash",
                                sample=mask("known_hash", match.group(0)),
                                detail=what,
                            )
                        )
        if known.values:
            for match in _TOKEN.finditer(text):
                token = match.group(0)
                candidates = {token, token.strip(".-_%+@")}
                candidates |= set(_TOKEN_PARTS.split(token))
                for candidate in candidates:
                    label = known.values.get(candidate.lower())
                    if label and free(*match.span()):
                        taken.append(match.span())
                        hits.append(
                            Hit(
                                kind="known_id",
                                sample=mask("known_id", candidate),
                                detail=f"a known {label}",
                            )
                        )
                        break
    return hits


def _aggregate(hits: Iterable[Hit]) -> list[Hit]:
    """One hit per (location, column, kind): the first one, with the total count."""
    out: dict[tuple, Hit] = {}
    for hit in hits:
        key = (hit.location, hit.column, hit.kind, hit.path)
        if key in out:
            first = out[key]
            out[key] = Hit(**{**asdict(first), "count": first.count + hit.count})
        else:
            out[key] = hit
    return list(out.values())


def scan_texts(
    items: Iterable[tuple[str, str]], known: KnownIdentifiers | None = None
) -> list[Hit]:
    """Scan ``(location, text)`` pairs (log messages, say); one hit per location and kind."""
    found = []
    for location, text in items:
        for hit in scan_text(text, known):
            found.append(Hit(**{**asdict(hit), "location": location}))
    return _aggregate(found)
