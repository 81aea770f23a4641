"""Find personal data where it must not be: catalog tables, JSON artifacts and run logs.

The landing area holds raw contact data by design and is never scanned. Everything a user can
query or a platform receives is: every table of the lake (each one has, or is about to get, a
catalog view), stored SQL views, views of the DuckDB catalog that read outside the lake, JSON
and text artifacts beside the tables (``activation/dsp_payload/*/payload.json``), the delivery
outbox and run logs.

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
Columns that hold pseudonyms by design (``customer_key``, ``body_sha256``, ...) are checked
only for known hashes and known identifiers as long as their values look like pseudonyms (hex
digests, UUIDs), see :func:`pseudonym_columns`.

Entry points: :func:`scan_text` (one string), :func:`scan_frame` (a polars frame),
:func:`scan_file` / :func:`scan_files` (Parquet, JSON, text, logs, pickles), :func:`scan_lake`
(everything but the landing area) and :func:`known_identifiers` (what to look for).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import unquote_plus

import duckdb
import phonenumbers
import polars as pl

from retail_assets.lib.warehouse.lake import Lake, read_parquet_file

KINDS = ("email", "phone", "ipv4", "ipv6", "known_hash", "known_id")
#: Where the scan job writes its reports, under the lake root (skipped by the scan itself).
REPORT_DIR = ("governance", "pii_scan")
#: Files scanned as text beside the tables and in extra folders.
TEXT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".txt", ".md", ".html", ".yaml", ".yml")
LOG_SUFFIXES = (".log", ".out", ".err", ".txt")
#: Binary artifacts (pickled models, whose vocabularies and fitted data may hold text): their
#: printable runs are scanned, as ``strings`` shows them.
BINARY_SUFFIXES = (".pkl", ".pickle", ".joblib")
#: Known identifiers shorter than this are not looked for verbatim (too many chance matches).
MIN_KNOWN_LENGTH = 6
#: Columns named like this hold pseudonyms or run ids by design.
PSEUDONYM_COLUMNS = frozenset(
    {
        "customer_key",
        "user_key",
        "session_key",
        "segment_ref",
        "body_sha256",
        "content_sha256",
        "lineage_id",
        "idempotency_key",
        "plan_id",
        "dagster_run_id",
    }
)
_PSEUDONYM_SUFFIXES = ("_key", "_sha256", "_hash", "_pseudonym")

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
#: Rust-regex prefilters (polars): a value that can hold no hit of the kind never reaches Python.
_PREFILTER = r"@|%[0-9A-Fa-f]{2}|\+\d|\d[ .()\-]{1,2}\d|[0-9A-Fa-f]?:[0-9A-Fa-f]{0,4}:"
_HASH_PREFILTER = r"[0-9A-Fa-f]{32}|[A-Za-z0-9+/_-]{43}"
#: A whole value that is a hex digest, a UUID or a base64 digest: a pseudonym's shape.
_PSEUDONYM_SHAPE = (
    r"^(?:[0-9A-Fa-f]{32,128}|[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"|[A-Za-z0-9+/_-]{43}=?)$"
)


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


# ---------------------------------------------------------------------------- known ids
@dataclass(frozen=True)
class KnownIdentifiers:
    """Identifiers to look for: their unkeyed hashes and the verbatim forms matching needs.

    Attributes:
        hashes: Hex (lowercase) or base64 digest -> what it is of, e.g. ``sha256 of email``.
        values: Lowercased verbatim forms -> their label (``customer_id``, ``email``, ...).

    """

    hashes: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.hashes or self.values)

    def __len__(self) -> int:
        """The number of verbatim forms looked for (about one per identifier)."""
        return len(self.values)


def _label_of(value: str) -> str:
    if "@" in value:
        return "email"
    if _looks_like_phone(value):
        return "phone"
    return "identifier"


def _looks_like_phone(value: str) -> bool:
    return bool(re.fullmatch(r"\+?[\d ().-]{7,}", value)) and 7 <= _digit_count(value) <= 15


def _digit_count(value: str) -> int:
    return sum(ch.isdigit() for ch in value)


def _e164(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identifier_forms(value: str, label: str, region: str = "US") -> dict[str, str]:
    """The forms platforms hash an identifier in: form -> how it was normalized."""
    raw = value.strip()
    forms: dict[str, str] = {}

    def add(form: str, how: str) -> None:
        forms.setdefault(form, how)

    add(value, "as stored")
    add(raw, "trimmed")
    if label == "email" or "@" in raw:
        email = raw.lower()
        add(email, "normalized")
        local, _, domain = email.partition("@")
        if domain in ("gmail.com", "googlemail.com"):
            add(local.replace(".", "") + "@" + domain, "normalized, gmail dots removed")
    elif label == "phone" or _looks_like_phone(raw):
        digits = re.sub(r"\D", "", raw)
        e164 = _e164(raw, region) or "+" + digits
        add(e164, "E.164")
        add(e164.lstrip("+"), "E.164 digits (Meta)")
        add(digits, "digits")
        add(digits.lstrip("0"), "digits, leading zeros removed")
    forms.pop("", None)
    return forms


def _digests(form: str) -> Iterator[tuple[str, str]]:
    data = form.encode()
    for name in ("sha256", "sha1", "md5"):
        digest = hashlib.new(name, data).digest()
        yield digest.hex(), name
        if name == "sha256":
            yield base64.b64encode(digest).decode(), "sha256 (base64)"
            yield base64.urlsafe_b64encode(digest).decode(), "sha256 (base64url)"
            yield base64.urlsafe_b64encode(digest).decode().rstrip("="), "sha256 (base64url)"


def known_identifiers(
    known: Iterable[str] | Mapping[str, Iterable[str]], region: str = "US"
) -> KnownIdentifiers:
    """Precompute the hashes and verbatim forms of known identifiers.

    Args:
        known: The identifiers, or label -> identifiers (``{"email": [...], "phone": [...]}``);
            a plain iterable is labeled by shape (email, phone or identifier).
        region: Region of phone numbers written without a country code.

    """
    groups = known.items() if isinstance(known, Mapping) else [(None, known)]
    hashes: dict[str, str] = {}
    values: dict[str, str] = {}
    for label, items in groups:
        for value in items:
            if value is None or not str(value).strip():
                continue
            value = str(value)
            kind = label or _label_of(value.strip())
            for form, how in identifier_forms(value, kind, region).items():
                for digest, algorithm in _digests(form):
                    key = digest if "base64" in algorithm else digest.lower()
                    hashes.setdefault(key, f"{algorithm} of {kind} ({how})")
            verbatim = {value.strip(), value.strip().lower()}
            if kind == "phone" or _looks_like_phone(value.strip()):
                e164 = _e164(value, region)
                # Only the "+" form: a bare digit run is too often an amount or a timestamp.
                verbatim = {v for v in verbatim if " " not in v} | ({e164} if e164 else set())
            for form in verbatim:
                # An all-digit form (a phone without "+", a numeric id) would match amounts and
                # timestamps: such identifiers are looked for as hashes only.
                if len(form) >= MIN_KNOWN_LENGTH and not re.search(r"\s", form):
                    if not form.isdigit():
                        values.setdefault(form.lower(), kind)
    return KnownIdentifiers(hashes=hashes, values=values)


def known_from_frame(df: pl.DataFrame, columns: Sequence[str] | None = None) -> KnownIdentifiers:
    """Known identifiers from the string columns of a frame (e.g. raw.customers), by column.

    Args:
        df: The frame, e.g. ``customer_id, user_pseudo_id, email, phone`` of raw.customers.
        columns: The columns to take (default: every string column).

    """
    names = columns or [c for c, t in df.schema.items() if t == pl.Utf8]
    groups = {
        c: df[c].cast(pl.Utf8).drop_nulls().unique().to_list() for c in names if c in df.columns
    }
    labelled = {
        ("email" if "email" in c else "phone" if "phone" in c else c): v for c, v in groups.items()
    }
    return known_identifiers(labelled)


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


# ---------------------------------------------------------------------------- frames
@cache
def _marked_pseudonyms(table: str) -> frozenset[str]:
    from retail_assets.lib.warehouse import (
        schemas,  # pandera is heavy: imported when a table is scanned
    )

    model = schemas.SCHEMAS.get(table)
    if model is None:
        return frozenset()
    return frozenset(
        name
        for name, col in model.to_schema().columns.items()
        if (col.metadata or {}).get("pii") == "pseudonymous_id"
    )


def pseudonym_columns(table: str, columns: Iterable[str]) -> set[str]:
    """Columns of ``table`` that hold pseudonyms, hashes or run ids by design.

    Named in :data:`PSEUDONYM_COLUMNS`, ending in ``_key``/``_sha256``/``_hash``, or marked
    ``metadata={"pii": "pseudonymous_id"}`` in the table's pandera schema.
    """
    marked = _marked_pseudonyms(table)
    return {
        c
        for c in columns
        if c in PSEUDONYM_COLUMNS or c.endswith(_PSEUDONYM_SUFFIXES) or c in marked
    }


def _as_text(df: pl.DataFrame, column: str) -> pl.Series | None:
    dtype = df.schema[column]
    if dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum):
        return df[column].cast(pl.Utf8)
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        # Nested values (GA4 event_params, say) are scanned as their JSON text.
        return df.select(pl.struct(pl.col(column)).struct.json_encode()).to_series()
    if dtype == pl.Binary:
        return df[column].cast(pl.Utf8, strict=False)
    return None  # numbers, dates, booleans cannot hold an email, a formatted phone or an IP


def _candidates(
    distinct: pl.Series, patterns: bool, known: KnownIdentifiers | None, known_values: pl.Series
) -> list[str]:
    """The values that may hold a hit: cheap polars filters before the Python regexes."""
    frame = pl.DataFrame({"v": distinct})
    keep = pl.lit(False)
    if patterns:
        keep = keep | pl.col("v").str.contains(_PREFILTER)
    if known and known.hashes:
        keep = keep | pl.col("v").str.contains(_HASH_PREFILTER)
    found = frame.filter(keep)["v"]
    if known_values.len():
        # Tokens and their parts (split at - and _), as scan_text takes them, joined to the ids.
        tokens = (
            frame.select(
                "v",
                pl.concat_list(
                    pl.col("v").str.extract_all(_TOKEN.pattern),
                    pl.col("v").str.extract_all(r"[A-Za-z0-9.%+@]+"),
                ).alias("t"),
            )
            .explode("t")
            .filter(
                pl.col("t").str.to_lowercase().is_in(known_values)
                | pl.col("t").str.strip_chars(".-_%+@").str.to_lowercase().is_in(known_values)
            )
        )
        found = pl.concat([found, tokens["v"]]).unique()
    return found.to_list()


def scan_frame(
    df: pl.DataFrame,
    table: str,
    known: KnownIdentifiers | None = None,
    allow_columns: Iterable[str] | None = None,
    location: str | None = None,
    path: str = "",
) -> list[Hit]:
    """Personal data in a frame's text columns: one hit per column and kind.

    Each distinct value is looked at once; a hit names the first row holding it and counts the
    rows holding any value of that kind.

    Args:
        df: The frame.
        table: Its name (``governed.sessions``); the location unless ``location`` is given.
        known: Identifiers whose hashes and verbatim forms count as hits.
        allow_columns: Columns holding pseudonyms by design: their pseudonym-shaped values
            (hex digests, UUIDs) are checked only against ``known`` (default:
            :func:`pseudonym_columns`).
        location: Where the frame is from, e.g. ``governed.sessions date=2025-03-01``.
        path: The file the frame was read from.

    """
    allowed = (
        set(allow_columns) if allow_columns is not None else pseudonym_columns(table, df.columns)
    )
    known_values = pl.Series(sorted(known.values) if known else [], dtype=pl.Utf8)
    hits: list[Hit] = []
    for column in df.columns:
        series = _as_text(df, column)
        if series is None:
            continue
        distinct = series.drop_nulls().unique()
        if distinct.is_empty():
            continue
        if column in allowed:
            # Pseudonyms are checked against the known hashes only; anything else found in a
            # pseudonym column (a raw email, say) is scanned like any other value.
            shaped = distinct.str.contains(_PSEUDONYM_SHAPE)
            batches = [(distinct.filter(shaped), False), (distinct.filter(~shaped), True)]
        else:
            batches = [(distinct, True)]
        by_kind: dict[str, tuple[list[str], Hit]] = {}
        for batch, patterns in batches:
            for value in _candidates(batch, patterns, known, known_values):
                for hit in scan_text(value, known, patterns=patterns):
                    values, first = by_kind.get(hit.kind, ([], hit))
                    values.append(value)
                    by_kind[hit.kind] = (values, first)
        for kind, (values, first) in by_kind.items():
            rows = series.is_in(values)
            hits.append(
                Hit(
                    kind=kind,
                    sample=first.sample,
                    location=location or table,
                    column=column,
                    row=int(rows.arg_true()[0]),
                    count=int(rows.sum()),
                    detail=first.detail,
                    path=path,
                )
            )
    return hits


# ---------------------------------------------------------------------------- files
def _walk_json(value: object, pointer: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            yield child, str(key)
            yield from _walk_json(item, child)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_json(item, f"{pointer}/{i}")
    elif isinstance(value, str):
        yield pointer, value


def scan_records(
    records: Iterable[tuple[str, object]], known: KnownIdentifiers | None = None, path: str = ""
) -> list[Hit]:
    """Scan ``(location, value)`` pairs whose values are parsed JSON (dicts, lists, strings).

    Every string and every key is scanned; a hit's column is the JSON pointer
    (``/line_items/0/creatives/0/landing_url``). One hit per location, pointer and kind.
    """
    found = []
    for location, value in records:
        for pointer, text in _walk_json(value):
            for hit in scan_text(text, known):
                found.append(
                    Hit(**{**asdict(hit), "location": location, "column": pointer, "path": path})
                )
    return _aggregate(found)


def scan_log(
    location: str, text: str, known: KnownIdentifiers | None = None, path: str = ""
) -> tuple[list[Hit], int]:
    """Scan a log (or any text) line by line: hits with their first line, and the line count."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        for hit in scan_text(line, known):
            found.append(Hit(**{**asdict(hit), "location": location, "row": number, "path": path}))
    return _aggregate(found), len(lines)


def scan_file(path: str | Path, known: KnownIdentifiers | None = None) -> ScanReport:
    """Scan one file: Parquet as a table, JSON value by value, anything else line by line."""
    path = Path(path)
    report = ScanReport(scanned=[str(path)], known=len(known or ()))
    if path.suffix == ".parquet":
        df = read_parquet_file(path)
        report.rows = df.height
        report.hits = scan_frame(df, path.parent.name, known, location=str(path), path=str(path))
        return report
    if path.suffix in BINARY_SUFFIXES:
        runs = re.findall(rb"[\x20-\x7e]{6,}", path.read_bytes())
        report.hits, report.rows = scan_log(
            str(path), "\n".join(r.decode("ascii") for r in runs), known, path=str(path)
        )
        return report
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            report.rows = 1
            report.hits = scan_records([(str(path), parsed)], known, path=str(path))
            return report
    report.hits, report.rows = scan_log(str(path), text, known, path=str(path))
    return report


def _files_under(root: Path, suffixes: Sequence[str], skip: Sequence[Path] = ()) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(part.startswith(".") for part in rel) or not path.is_file():
            continue
        if any(s == path or s in path.parents for s in skip):
            continue
        if path.suffix.lower() in suffixes:
            out.append(path)
    return out


def scan_files(
    paths: Iterable[str | Path],
    known: KnownIdentifiers | None = None,
    suffixes: Sequence[str] = TEXT_SUFFIXES + LOG_SUFFIXES + BINARY_SUFFIXES + (".parquet",),
) -> ScanReport:
    """Scan files and folders (recursively; hidden files skipped), e.g. run logs or an outbox."""
    report = ScanReport(known=len(known or ()))
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else _files_under(root, suffixes)
        for path in files:
            try:
                report.extend(scan_file(path, known))
            except (OSError, pl.exceptions.PolarsError) as exc:
                report.warnings.append(f"could not read {path}: {exc.__class__.__name__}")
    return report


# ---------------------------------------------------------------------------- the lake
def lake_tables(lake: Lake) -> list[tuple[str, str]]:
    """Every ``(schema, table)`` of the lake with data files or a stored view."""
    tables = []
    if not lake.lake_root.exists():
        return tables
    for schema_dir in sorted(p for p in lake.lake_root.iterdir() if p.is_dir()):
        for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
            if re.fullmatch(r"[a-z][a-z0-9_]*", schema_dir.name) and re.fullmatch(
                r"[a-z][a-z0-9_]*", table_dir.name
            ):
                if lake.has_data(schema_dir.name, table_dir.name):
                    tables.append((schema_dir.name, table_dir.name))
    return tables


def scan_lake(
    lake: Lake,
    known: KnownIdentifiers | Iterable[str] | None = None,
    include_payloads: bool = True,
    extra_paths: Iterable[str | Path] = (),
    use_catalog: bool = True,
) -> ScanReport:
    """Scan what users and platforms can see: never the landing area.

    - every partition file of every lake table (each has or will get a catalog view);
    - every stored SQL view (through an in-memory connection, never the catalog file);
    - with ``use_catalog``, every catalog view whose data is not in the lake (a view someone
      pointed at the landing area, say), through a read-only connection;
    - with ``include_payloads``, every JSON, text or pickled artifact under the lake
      (``activation/dsp_payload/*/payload.json``, the model registry), except the scan
      reports themselves;
    - ``extra_paths``: files or folders, e.g. the delivery outbox.

    Args:
        lake: The lake.
        known: Identifiers to look for (see :func:`known_identifiers`).
        include_payloads: Scan JSON and text artifacts beside the tables.
        extra_paths: More files or folders to scan.
        use_catalog: Also scan catalog views that read outside the lake.

    """
    if known is not None and not isinstance(known, KnownIdentifiers):
        known = known_identifiers(known)
    report = ScanReport(known=len(known or ()))
    tables = lake_tables(lake)
    for schema, table in tables:
        name = f"{schema}.{table}"
        files = lake.partition_files(schema, table)
        for path in files:
            try:
                df = read_parquet_file(path)
            except (OSError, pl.exceptions.PolarsError) as exc:
                report.warnings.append(f"could not read {path}: {exc.__class__.__name__}")
                continue
            part = path.parent.name if path.parent.name.startswith("date=") else ""
            location = f"{name} {part}".strip()
            report.scanned.append(location)
            report.rows += df.height
            report.hits += scan_frame(df, name, known, location=location, path=str(path))
        if not files and lake.view_definition(schema, table) is not None:
            try:
                with lake.compute_connection([(schema, table)]) as con:
                    df = con.execute(f'SELECT * FROM "{schema}"."{table}"').pl()
            except (LookupError, duckdb.Error) as exc:
                report.warnings.append(f"view {name} could not be read: {exc}")
                continue
            report.scanned.append(f"{name} (view)")
            report.rows += df.height
            report.hits += scan_frame(df, name, known, location=f"{name} (view)")
    if use_catalog:
        _scan_foreign_catalog_views(lake, {f"{s}.{t}" for s, t in tables}, known, report)
    if include_payloads:
        skip = [lake.lake_root.joinpath(*REPORT_DIR)]
        # Stored views' view.json too: a literal in a view's SQL is published with it.
        artifacts = _files_under(lake.lake_root, TEXT_SUFFIXES + BINARY_SUFFIXES, skip)
        report.extend(scan_files(artifacts, known))
    if extra_paths:
        report.extend(scan_files(extra_paths, known))
    return report


def _scan_foreign_catalog_views(
    lake: Lake, in_lake: set[str], known: KnownIdentifiers | None, report: ScanReport
) -> None:
    """Catalog views whose table is not in the lake: read them through the catalog itself."""
    try:
        views = lake.catalog_views()
    except duckdb.Error as exc:
        report.warnings.append(
            f"catalog {lake.warehouse_path} could not be opened read-only "
            f"({exc.__class__.__name__}); its views over lake tables were scanned as files"
        )
        return
    foreign = sorted(views - in_lake)
    if not foreign:
        return
    try:
        with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
            for name in foreign:
                schema, table = name.split(".", 1)
                try:
                    df = con.execute(f'SELECT * FROM "{schema}"."{table}"').pl()
                except duckdb.Error as exc:
                    report.warnings.append(f"catalog view {name} could not be read: {exc}")
                    continue
                location = f"{name} (catalog view outside the lake)"
                report.scanned.append(location)
                report.rows += df.height
                report.hits += scan_frame(df, name, known, location=location)
    except duckdb.Error as exc:
        report.warnings.append(f"catalog views outside the lake not scanned: {exc}")
