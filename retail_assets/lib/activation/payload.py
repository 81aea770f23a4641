"""The DSP plan payload: a canonical body, its SHA-256, and the lineage envelope around it.

The body holds only what determines the plan (advertiser, flight, budgets, line items,
creatives); the envelope adds volatile facts (run id, time). The hash is taken over the RFC 8785
canonical JSON of the body, so identical inputs and code give an identical hash.

The shape is fixed by ``retail_assets/schemas/dsp_plan.schema.json`` (JSON Schema 2020-12).
What a schema cannot say (sums, billable units, date order, time zones, the hash, PII) is
checked by :func:`validate_plan`, which reports every problem at once with its JSON path.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import rfc8785
from jsonschema import Draft202012Validator

from retail_assets.lib.activation.allocation.money import CURRENCY_EXPONENT, billable_unit_micros

SCHEMA_VERSION = "dsp-plan/1.0"
_PLAN_NAMESPACE = uuid.UUID("6f1c2b8e-3d4a-4e5f-9a0b-1c2d3e4f5a6b")
# A separate namespace, so a delivery key can never collide with a plan id.
_DELIVERY_NAMESPACE = uuid.UUID("0b8f5d2e-7c41-4a9e-b3d6-52e1f0a7c9d4")
WEIGHT_TOLERANCE = 1e-9


class PlanValidationError(ValueError):
    """A plan (or a platform rendering of it) breaks the contract.

    Attributes:
        problems: Every problem found, each starting with the JSON path it concerns.

    """

    def __init__(self, problems: list[str], *, subject: str = "DSP plan") -> None:
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{subject}: {len(self.problems)} problem(s)\n  {shown}{more}")


# --------------------------------------------------------------------------- hashing and ids


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) canonical JSON of ``body``."""
    return rfc8785.dumps(body)


def body_sha256(body: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical body."""
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def plan_id(advertiser_id: str, plan_date: str) -> str:
    """A stable plan id for (advertiser, date): a rerun of the same day is the same plan."""
    return str(uuid.uuid5(_PLAN_NAMESPACE, f"{advertiser_id}/{plan_date}"))


def idempotency_key(plan_id: str, dsp: str, body_sha256: str) -> str:
    """The ``Idempotency-Key`` for sending one plan's body to one target (a UUID5 string).

    The key is stable for the same plan, target and body, so a retried or repeated delivery of
    an unchanged plan is deduplicated by the receiver. The body hash is part of the key on
    purpose: when the plan changes (a new allocation for the same day), the key changes too,
    so the receiver cannot mistake the new plan for a retry and drop it. Only the body counts:
    a rerun that changes nothing but the lineage envelope (run id, ``processed_at``) keeps the
    key and is deduplicated.

    Args:
        plan_id: The plan's id (``body.plan_id``).
        dsp: The target: ``"canonical"`` or a platform name such as ``"dv360"``.
        body_sha256: The hex SHA-256 of the canonical body.

    """
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{plan_id}/{dsp}/{body_sha256}"))


def build_payload(body: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    """Wrap ``body`` in the envelope with its hash and the lineage block.

    This does not validate; call :func:`validate_plan` on the result before shipping it.
    """
    digest = body_sha256(body)
    return {
        "schema_version": SCHEMA_VERSION,
        "body": body,
        "lineage": {**lineage, "body_sha256": digest},
    }


def verify_payload(payload: dict[str, Any]) -> bool:
    """True when the body still hashes to the recorded ``body_sha256``."""
    try:
        return body_sha256(payload["body"]) == payload.get("lineage", {}).get("body_sha256")
    except (KeyError, TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- serialisation


def dumps(payload: Any) -> bytes:
    """Pretty JSON for the file on disk (the hash never depends on this formatting).

    Keys are sorted and indented by two spaces, as ``json.dumps(indent=2, sort_keys=True)``
    would write them. ``decimal.Decimal`` values (the Trade Desk's amounts) are written as JSON
    numbers digit for digit (``Decimal("65.10")`` -> ``65.10``), never through a binary float.
    """
    return (_encode(payload, 0) + "\n").encode()


def _encode(value: Any, level: int) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value!r} as a JSON number")
        return format(value, "f")
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = "\n" + "  " * (level + 1)
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_encode(v, level + 1)}"
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        ]
        return "{" + ",".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        pad = "\n" + "  " * (level + 1)
        items = [f"{pad}{_encode(v, level + 1)}" for v in value]
        return "[" + ",".join(items) + "\n" + "  " * level + "]"
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- schemas


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in ``retail_assets/schemas`` (e.g. ``"dsp_plan"``)."""
    text = (
        resources.files("retail_assets")
        .joinpath("schemas", f"{name}.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


@functools.cache
def schema_validator(name: str) -> Draft202012Validator:
    """A draft 2020-12 validator for a shipped schema, checking ``format`` too."""
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(instance: Any, name: str) -> list[str]:
    """Every JSON Schema error of ``instance`` against schema ``name``, as ``"<path>: <msg>"``."""
    errors = sorted(
        schema_validator(name).iter_errors(instance),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    return [f"{e.json_path}: {e.message}" for e in errors]


# --------------------------------------------------------------------------- PII scan

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_PHONE = re.compile(
    r"\+\d[\d ().-]{6,}\d"  # international, with a leading +
    r"|\(?(?<!\d)\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"  # North American, formatted
    r"|(?<![\d.])\d{10,15}(?![\d.])"  # a bare run of 10 to 15 digits
)
_HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def scan_pii(payload: Any) -> list[str]:
    """Strings in ``payload`` that look like raw or plainly hashed personal data.

    A deliberately simple regex scan over every string value and key:

    - an email address, anywhere;
    - an IPv4 address, anywhere;
    - a phone number (``+`` and 7 or more digits, ``(650) 555-1212`` style, or a bare run of
      10 to 15 digits), except in money fields (keys ending ``_micros`` or ``Micros``), in
      whole UUIDs, in the hash fields below and in the ``lineage`` block (machine ids and
      versions by design);
    - a 64-hex string (what a plain SHA-256 of an email looks like), except in the ``lineage``
      block, in ``audience.segment_ref`` and in fields named ``*sha256``.

    A 10+ digit number in a landing URL is therefore flagged: put such ids elsewhere.

    Returns:
        One ``"<path>: <kind>"`` line per hit; empty when clean.

    """
    hits: list[str] = []
    for path, key, text in _strings(payload, "$", None):
        in_lineage = path.startswith("$.lineage")
        kinds = []
        if _EMAIL.search(text):
            kinds.append("email address")
        if _IPV4.search(text):
            kinds.append("IPv4 address")
        money = key is not None and key.endswith(("_micros", "Micros"))
        hashed = key is not None and (key == "segment_ref" or key.endswith("sha256"))
        if not (in_lineage or money or hashed or _UUID.fullmatch(text)) and _PHONE.search(text):
            kinds.append("phone number")
        if not (in_lineage or hashed) and _HEX64.search(text):
            kinds.append("64-hex string (a plain SHA-256?)")
        hits.extend(f"{path}: {kind}" for kind in kinds)
    return hits


def _strings(value: Any, path: str, key: str | None) -> Iterator[tuple[str, str | None, str]]:
    if isinstance(value, str):
        yield path, key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k))
            child = f"{path}.{k}" if plain else f"{path}[{json.dumps(str(k))}]"
            yield child, "<key>", str(k)
            yield from _strings(v, child, str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]", key)


# --------------------------------------------------------------------------- validation


def validate_plan(payload: Any, *, now: dt.datetime | None = None) -> None:
    """Check a plan against the schema and the rules a schema cannot express.

    Rules in code: line items sum to the total exactly; every budget, cap and CPA target is a
    whole number of the currency's billable units; one known currency throughout; ``end >=
    start`` for the plan and each line, and each line inside the plan's flight, which starts
    no earlier than the plan date; a real IANA time zone; a line's daily cap times its days
    covers its lifetime budget; creative weights sum to 1 per line; unique refs and variant
    ids; quantiles ordered; the plan id derived from (advertiser, plan date); the recorded
    body hash equal to the recomputed one; no PII (:func:`scan_pii`).

    Args:
        payload: The envelope (``schema_version``, ``body``, ``lineage``).
        now: When given, also require the flight to start after today in the advertiser's
            time zone (platforms refuse to create budgets in the past). Leave it out to
            validate plans for past dates (backfills).

    Raises:
        PlanValidationError: with every problem found, each naming its JSON path.

    """
    problems = schema_problems(payload, "dsp_plan")
    if isinstance(payload, dict):
        problems += _rule_problems(payload, now)
    if problems:
        raise PlanValidationError(problems)


def _micros(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value) else None


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def flight_days(flight: dict[str, Any]) -> int:
    """Days in an inclusive flight (``end - start + 1``)."""
    start, end = (
        dt.date.fromisoformat(flight["start_date"]),
        dt.date.fromisoformat(flight["end_date"]),
    )
    return (end - start).days + 1


def _rule_problems(payload: dict[str, Any], now: dt.datetime | None) -> list[str]:
    problems: list[str] = []
    body = _dict(payload.get("body"))
    lineage = _dict(payload.get("lineage"))
    advertiser = _dict(body.get("advertiser"))
    currency = advertiser.get("currency")

    unit = None
    if currency not in CURRENCY_EXPONENT:
        problems.append(
            f"$.body.advertiser.currency: unknown currency {currency!r}; "
            f"known: {sorted(CURRENCY_EXPONENT)}"
        )
    else:
        unit = billable_unit_micros(currency)

    zone = None
    tz_name = advertiser.get("time_zone")
    try:
        zone = ZoneInfo(tz_name) if isinstance(tz_name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        pass
    if zone is None:
        problems.append(f"$.body.advertiser.time_zone: {tz_name!r} is not an IANA time zone")

    def money(path: str, value: Any) -> int | None:
        micros = _micros(value)
        if micros is not None and unit and micros % unit:
            problems.append(
                f"{path}: {micros} micros is not a whole number of {currency} billable units "
                f"({unit} micros)"
            )
        return micros

    budget = _dict(body.get("budget"))
    total = money("$.body.budget.total_micros", budget.get("total_micros"))
    if budget.get("currency") != currency:
        problems.append(
            f"$.body.budget.currency: {budget.get('currency')!r} differs from the advertiser's "
            f"{currency!r}"
        )

    plan_flight = _dict(body.get("flight"))
    p_start, p_end = _date(plan_flight.get("start_date")), _date(plan_flight.get("end_date"))
    if p_start and p_end and p_end < p_start:
        problems.append(f"$.body.flight: end_date {p_end} is before start_date {p_start}")
    plan_date = _date(body.get("plan_date"))
    if plan_date and p_start and p_start < plan_date:
        problems.append(f"$.body.flight.start_date: {p_start} is before the plan date {plan_date}")
    if now is not None and p_start and zone is not None:
        today = now.astimezone(zone).date()
        if p_start <= today:
            problems.append(
                f"$.body.flight.start_date: {p_start} is not in the future (today is {today} "
                f"in {tz_name})"
            )
    if (
        isinstance(advertiser.get("id"), str)
        and isinstance(body.get("plan_date"), str)
        and body.get("plan_id") != plan_id(advertiser["id"], body["plan_date"])
    ):
        problems.append(
            "$.body.plan_id: not the id of (advertiser.id, plan_date); use payload.plan_id()"
        )
    if body.get("objective") != _dict(body.get("allocation")).get("objective"):
        problems.append("$.body.allocation.objective: differs from $.body.objective")

    items = body.get("line_items") if isinstance(body.get("line_items"), list) else []
    amounts: list[int] = []
    refs: dict[str, int] = {}
    variants: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        path = f"$.body.line_items[{i}]"
        ref = item.get("ref")
        if isinstance(ref, str):
            if ref in refs:
                problems.append(f"{path}.ref: {ref!r} repeats line_items[{refs[ref]}]")
            refs.setdefault(ref, i)
        li_budget = _dict(item.get("budget"))
        amount = money(f"{path}.budget.amount_micros", li_budget.get("amount_micros"))
        if amount is not None:
            amounts.append(amount)
        if li_budget.get("currency") != currency:
            problems.append(
                f"{path}.budget.currency: {li_budget.get('currency')!r} differs from the "
                f"advertiser's {currency!r}"
            )
        cap = money(f"{path}.daily_cap_micros", item.get("daily_cap_micros"))
        goal = _dict(item.get("goal"))
        if "target_micros" in goal:
            money(f"{path}.goal.target_micros", goal.get("target_micros"))

        li_flight = _dict(item.get("flight"))
        start, end = _date(li_flight.get("start_date")), _date(li_flight.get("end_date"))
        if start and end:
            if end < start:
                problems.append(f"{path}.flight: end_date {end} is before start_date {start}")
            elif p_start and p_end and (start < p_start or end > p_end):
                problems.append(
                    f"{path}.flight: {start}..{end} is not within the plan's flight "
                    f"{p_start}..{p_end}"
                )
            elif cap is not None and amount is not None:
                days = (end - start).days + 1
                if cap * days < amount:
                    problems.append(
                        f"{path}.daily_cap_micros: {cap} x {days} days = {cap * days} is less "
                        f"than the lifetime budget {amount}"
                    )

        creatives = item.get("creatives") if isinstance(item.get("creatives"), list) else []
        weights = [c.get("weight") for c in creatives if isinstance(c, dict)]
        if weights and all(isinstance(w, int | float) for w in weights):
            weight_sum = math.fsum(weights)
            if abs(weight_sum - 1.0) > WEIGHT_TOLERANCE:
                problems.append(f"{path}.creatives: weights sum to {weight_sum!r}, not 1")
        for j, creative in enumerate(creatives):
            vid = _dict(creative).get("variant_id")
            if isinstance(vid, str):
                here = f"{path}.creatives[{j}]"
                if vid in variants:
                    problems.append(f"{here}.variant_id: {vid!r} repeats {variants[vid]}")
                variants.setdefault(vid, here)

        expected = _dict(item.get("expected"))
        quantiles = [expected.get(f"conversions_p{q}") for q in ("05", "50", "95")]
        if all(isinstance(q, int | float) for q in quantiles) and not (
            quantiles[0] <= quantiles[1] <= quantiles[2]
        ):
            problems.append(f"{path}.expected: conversions_p05 <= p50 <= p95 does not hold")

    if total is not None and len(amounts) == len(items) and sum(amounts) != total:
        problems.append(
            f"$.body.line_items: amounts sum to {sum(amounts)} micros, not the total {total}"
        )

    expected_conv = _dict(_dict(body.get("allocation")).get("expected_conversions"))
    for name, q in expected_conv.items():
        q = _dict(q)
        values = [q.get("p05"), q.get("p50"), q.get("p95")]
        if all(isinstance(v, int | float) for v in values) and not (
            values[0] <= values[1] <= values[2]
        ):
            problems.append(
                f"$.body.allocation.expected_conversions.{name}: p05 <= p50 <= p95 does not hold"
            )

    problems += _lineage_problems(body, lineage)
    problems += scan_pii(payload)
    return problems


def _lineage_problems(body: dict[str, Any], lineage: dict[str, Any]) -> list[str]:
    problems = []
    try:
        digest = body_sha256(body)
    except (TypeError, ValueError) as exc:  # NaN, non-string keys: no canonical form
        problems.append(f"$.body: cannot be canonicalised (RFC 8785): {exc}")
    else:
        if lineage.get("body_sha256") != digest:
            problems.append(
                f"$.lineage.body_sha256: {lineage.get('body_sha256')!r} is not the body's hash "
                f"{digest} (the body was changed after it was stamped)"
            )
    run_ids = {
        "lineage_id": lineage.get("lineage_id"),
        "dagster_run_id": lineage.get("dagster_run_id"),
        "openlineage.runId": _dict(lineage.get("openlineage")).get("runId"),
    }
    if len(set(map(str, run_ids.values()))) > 1:
        problems.append(f"$.lineage: the run ids differ: {run_ids}")
    if lineage.get("partition_key") != body.get("plan_date"):
        problems.append(
            f"$.lineage.partition_key: {lineage.get('partition_key')!r} is not the plan date "
            f"{body.get('plan_date')!r}"
        )
    # The schema's date-time format is only checked when rfc3339-validator is installed.
    stamp = lineage.get("processed_at")
    if isinstance(stamp, str):
        try:
            parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.utcoffset() != dt.timedelta(0):
            problems.append(f"$.lineage.processed_at: {stamp!r} is not an RFC 3339 UTC time")
    return problems
