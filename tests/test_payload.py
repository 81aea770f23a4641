"""The canonical DSP plan: schema, cross-field rules, hash and idempotency keys."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest
from conftest import DSP_PLAN_EXAMPLE, example_plan, restamp
from jsonschema import Draft202012Validator

from retail_assets.lib.activation import payload as plan


def problems(p: dict, **kw) -> list[str]:
    with pytest.raises(plan.PlanValidationError) as info:
        plan.validate_plan(p, **kw)
    assert isinstance(info.value, ValueError)
    return info.value.problems


def only(p: dict, needle: str, **kw) -> str:
    """The single problem found, which must mention ``needle``."""
    found = problems(p, **kw)
    assert len(found) == 1, found
    assert needle in found[0], found
    return found[0]


def test_the_example_fixture_is_valid_and_stamped():
    p = example_plan()
    plan.validate_plan(p)
    assert plan.verify_payload(p)
    assert p["schema_version"] == plan.SCHEMA_VERSION == "dsp-plan/1.0"
    body = p["body"]
    assert body["plan_id"] == plan.plan_id("demo-retailer", "2025-03-01")
    assert sum(int(li["budget"]["amount_micros"]) for li in body["line_items"]) == int(
        body["budget"]["total_micros"]
    )
    # The file is exactly what dumps writes, so the lead can regenerate and diff it.
    assert DSP_PLAN_EXAMPLE.read_bytes() == plan.dumps(p)


def test_shipped_schemas_are_valid_draft_2020_12():
    for name in ("dsp_plan", "google_ads", "dv360", "meta", "ttd"):
        Draft202012Validator.check_schema(plan.load_schema(name))
        assert plan.load_schema(name)["$schema"].endswith("2020-12/schema")


def test_line_items_that_do_not_sum_are_rejected():
    p = example_plan()
    p["body"]["line_items"][0]["budget"]["amount_micros"] = "6515000000"
    p["body"]["line_items"][0]["daily_cap_micros"] = "1500000000"
    only(restamp(p), "amounts sum to 70001000000 micros, not the total 70000000000")


def test_a_line_item_currency_that_differs_is_rejected():
    p = example_plan()
    p["body"]["line_items"][2]["budget"]["currency"] = "EUR"
    only(restamp(p), "$.body.line_items[2].budget.currency: 'EUR' differs")


def test_a_plan_currency_that_differs_from_the_advertiser_is_rejected():
    p = example_plan()
    p["body"]["budget"]["currency"] = "GBP"
    only(restamp(p), "$.body.budget.currency")


def test_an_unknown_currency_is_rejected():
    p = example_plan()
    p["body"]["advertiser"]["currency"] = "XYZ"
    p["body"]["budget"]["currency"] = "XYZ"
    for li in p["body"]["line_items"]:
        li["budget"]["currency"] = "XYZ"
    only(restamp(p), "unknown currency 'XYZ'")


def test_a_reversed_plan_flight_is_rejected():
    p = example_plan()
    p["body"]["flight"] = {"start_date": "2025-03-08", "end_date": "2025-03-02"}
    found = problems(restamp(p))
    assert any(f.startswith("$.body.flight: end_date 2025-03-02 is before") for f in found)


def test_a_reversed_line_flight_is_rejected():
    p = example_plan()
    p["body"]["line_items"][1]["flight"] = {"start_date": "2025-03-06", "end_date": "2025-03-04"}
    only(restamp(p), "$.body.line_items[1].flight: end_date 2025-03-04 is before")


def test_a_line_flight_outside_the_plan_flight_is_rejected():
    p = example_plan()
    p["body"]["line_items"][3]["flight"]["end_date"] = "2025-03-09"
    only(restamp(p), "$.body.line_items[3].flight: 2025-03-02..2025-03-09 is not within")


def test_a_daily_cap_too_small_for_the_lifetime_budget_is_rejected():
    p = example_plan()
    p["body"]["line_items"][0]["daily_cap_micros"] = "900000000"  # 7 x 900 < 6514
    only(restamp(p), "$.body.line_items[0].daily_cap_micros: 900000000 x 7 days")


def test_an_invalid_time_zone_is_rejected():
    p = example_plan()
    p["body"]["advertiser"]["time_zone"] = "America/Springfield"
    only(restamp(p), "'America/Springfield' is not an IANA time zone")


def _single_line_plan(currency: str, amount: int) -> dict:
    p = example_plan()
    body = p["body"]
    body["line_items"] = body["line_items"][:1]
    li = body["line_items"][0]
    for obj in (body["advertiser"], body["budget"], li["budget"]):
        obj["currency"] = currency
    li["budget"]["amount_micros"] = str(amount)
    body["budget"]["total_micros"] = str(amount)
    li["daily_cap_micros"] = str(amount)
    li["goal"] = {"type": "MAXIMIZE_CONVERSIONS"}
    return restamp(p)


@pytest.mark.parametrize(
    ("currency", "good", "bad"),
    [
        ("JPY", 5_000_000_000, 5_000_500_000),  # exponent 0: whole yen, 1 000 000 micros
        ("KWD", 5_000_001_000, 5_000_000_500),  # exponent 3: fils, 1 000 micros
        ("USD", 5_000_010_000, 5_000_005_000),  # exponent 2: cents, 10 000 micros
    ],
)
def test_amounts_must_be_whole_billable_units(currency, good, bad):
    plan.validate_plan(_single_line_plan(currency, good))
    found = problems(_single_line_plan(currency, bad))
    # The line amount and the total are both off-unit; the daily cap equals them here.
    assert len(found) == 3, found
    assert all(f"not a whole number of {currency} billable units" in f for f in found)
    assert any(f.startswith("$.body.budget.total_micros") for f in found)


def test_money_as_a_number_instead_of_a_string_is_rejected():
    p = example_plan()
    p["body"]["line_items"][0]["budget"]["amount_micros"] = 6514000000
    found = problems(restamp(p))
    assert any(
        f.startswith("$.body.line_items[0].budget.amount_micros: 6514000000 is not of type")
        for f in found
    ), found


def test_money_with_too_many_digits_or_a_sign_is_rejected():
    for bad in ("-6514000000", "6514000000.0", "1" * 19):
        p = example_plan()
        p["body"]["budget"]["total_micros"] = bad
        found = problems(restamp(p))
        assert any(f.startswith("$.body.budget.total_micros: ") for f in found), found


def test_an_extra_property_is_rejected_at_every_level():
    for where in ("top", "body", "line", "goal", "lineage"):
        p = example_plan()
        target = {
            "top": p,
            "body": p["body"],
            "line": p["body"]["line_items"][0],
            "goal": p["body"]["line_items"][0]["goal"],
            "lineage": p["lineage"],
        }[where]
        target["note"] = "x"
        found = problems(restamp(p))
        assert any("Additional properties are not allowed ('note'" in f for f in found), where


def test_a_red_creative_is_rejected():
    p = example_plan()
    p["body"]["line_items"][1]["creatives"][0]["compliance"] = "red"
    only(restamp(p), "$.body.line_items[1].creatives[0].compliance: 'red' is not one of")


def test_an_identifier_in_the_audience_is_rejected():
    p = example_plan()
    p["body"]["line_items"][0]["audience"]["user_ids"] = ["u_123"]
    found = problems(restamp(p))
    assert any(f.startswith("$.body.line_items[0].audience: Additional properties") for f in found)
    # A match key posing as a segment reference does not fit the pattern either.
    p = example_plan()
    p["body"]["line_items"][0]["audience"]["segment_ref"] = "jane@example.com"
    found = problems(restamp(p))
    assert any("segment_ref: 'jane@example.com' does not match" in f for f in found)


def test_denied_consent_is_rejected():
    p = example_plan()
    p["body"]["line_items"][0]["audience"]["consent"]["ad_personalization"] = "DENIED"
    only(restamp(p), "consent.ad_personalization: 'GRANTED' was expected")


@pytest.mark.parametrize(
    ("field", "text", "kind"),
    [
        ("headline", "Hi jane.doe+ads@example.co.uk, it's sale time", "email address"),
        ("body", "Call +1 650 555 1212 today", "phone number"),
        ("body", "Call (650) 555-1212 today", "phone number"),
        ("headline", "Seen from 192.168.10.7", "IPv4 address"),
        ("body", "ref 62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f", "64-hex"),
    ],
)
def test_pii_hidden_in_creative_text_is_rejected(field, text, kind):
    p = example_plan()
    p["body"]["line_items"][2]["creatives"][1][field] = text
    only(restamp(p), f"$.body.line_items[2].creatives[1].{field}: {kind}")


def test_pii_scan_leaves_hashes_ids_and_money_alone():
    assert plan.scan_pii(example_plan()) == []
    # ... but an email in the lineage is still caught.
    p = example_plan()
    p["lineage"]["code_version"] = "ops@example.com"
    assert plan.scan_pii(p) == ["$.lineage.code_version: email address"]


def test_weights_that_do_not_sum_to_one_are_rejected():
    p = example_plan()
    p["body"]["line_items"][0]["creatives"][0]["weight"] = 0.6
    only(restamp(p), "$.body.line_items[0].creatives: weights sum to 1.1")
    p = example_plan()
    p["body"]["line_items"][0]["creatives"][0]["weight"] = 0.1
    p["body"]["line_items"][0]["creatives"][1]["weight"] = 0.2
    only(restamp(p), "weights sum to 0.30000000000000004, not 1")


def test_weights_within_the_tolerance_pass():
    p = example_plan()
    creatives = p["body"]["line_items"][0]["creatives"]
    creatives[0]["weight"], creatives[1]["weight"] = 0.1 + 0.2, 0.7  # fsum: 1.0000000000000002
    plan.validate_plan(restamp(p))


def test_repeated_refs_and_variant_ids_are_rejected():
    p = example_plan()
    p["body"]["line_items"][1]["ref"] = "ctv-brand-loyalist"
    only(restamp(p), "$.body.line_items[1].ref: 'ctv-brand-loyalist' repeats line_items[0]")
    p = example_plan()
    p["body"]["line_items"][1]["creatives"][0]["variant_id"] = "ctv-brand-loyalist-a"
    only(restamp(p), "variant_id: 'ctv-brand-loyalist-a' repeats $.body.line_items[0]")


def test_goal_fields_must_match_the_goal_type():
    p = example_plan()
    p["body"]["line_items"][0]["goal"] = {"type": "TARGET_CPA"}
    only(restamp(p), "'target_micros' is a required property")
    p = example_plan()
    p["body"]["line_items"][1]["goal"] = {"type": "MAXIMIZE_CONVERSIONS", "target_roas": 3.0}
    only(restamp(p), "$.body.line_items[1].goal: False schema does not allow 3.0")


def test_a_bad_date_or_uuid_fails_the_format_check():
    p = example_plan()
    p["body"]["flight"]["end_date"] = "2025-02-30"
    found = problems(restamp(p))
    assert "$.body.flight.end_date: '2025-02-30' is not a 'date'" in found
    p = example_plan()
    p["lineage"]["processed_at"] = "2025-03-01T25:00:00Z"
    found = problems(restamp(p))
    assert any(f.startswith("$.lineage.processed_at: ") for f in found)


def test_start_must_be_in_the_future_only_when_asked():
    p = example_plan()
    plan.validate_plan(p)  # a backfill of a past plan date is fine
    # 2025-03-02 00:30 in New York is still 2025-03-02 05:30 UTC: the flight starts today.
    now = dt.datetime(2025, 3, 2, 5, 30, tzinfo=dt.UTC)
    only(p, "is not in the future (today is 2025-03-02 in America/New_York)", now=now)
    # 23:30 UTC on 2025-03-01 is 18:30 in New York: the flight starts tomorrow.
    plan.validate_plan(p, now=dt.datetime(2025, 3, 1, 23, 30, tzinfo=dt.UTC))


def test_all_problems_are_reported_at_once():
    p = example_plan()
    p["body"]["line_items"][0]["creatives"][0]["compliance"] = "red"
    p["body"]["line_items"][1]["budget"]["currency"] = "EUR"
    p["body"]["line_items"][2]["creatives"][0]["headline"] = "mail me: a@b.io"
    found = problems(p)  # not re-stamped: the hash is wrong too
    assert len(found) == 4, found
    assert any("red" in f for f in found) and any("EUR" in f for f in found)
    assert any("email address" in f for f in found)
    assert any(f.startswith("$.lineage.body_sha256") for f in found)


def test_garbage_is_reported_not_crashed_on():
    for junk in (None, [], "plan", {"body": 1, "lineage": []}, {"body": {"line_items": [1]}}):
        assert problems(junk)


# ----------------------------------------------------------------------- hash and tampering


def test_one_flipped_digit_fails_verification_and_validation():
    p = example_plan()
    p["body"]["line_items"][0]["budget"]["amount_micros"] = "6514000001"
    assert not plan.verify_payload(p)
    found = problems(p)
    assert any(f.startswith("$.lineage.body_sha256: ") for f in found)
    p = example_plan()
    p["body"]["line_items"][0]["budget"]["amount_micros"] = "6524000000"
    p["body"]["line_items"][1]["budget"]["amount_micros"] = "23476000000"
    # Still sums, still whole cents: only the hash gives the tampering away.
    only(p, "$.lineage.body_sha256")


def test_hash_ignores_key_order_and_the_envelope():
    p = example_plan()
    body = p["body"]

    def reverse(obj):
        if isinstance(obj, dict):
            return {k: reverse(v) for k, v in reversed(list(obj.items()))}
        if isinstance(obj, list):
            return [reverse(v) for v in obj]
        return obj

    shuffled = reverse(body)
    assert list(shuffled) != list(body)
    assert plan.body_sha256(shuffled) == plan.body_sha256(body)
    lineage = {k: v for k, v in p["lineage"].items() if k != "body_sha256"}
    later = {**lineage, "processed_at": "2025-03-02T09:00:00Z", "dagster_run_id": "other"}
    a = plan.build_payload(copy.deepcopy(body), lineage)
    b = plan.build_payload(shuffled, later)
    assert a["lineage"]["body_sha256"] == b["lineage"]["body_sha256"]
    assert a["lineage"]["body_sha256"] == p["lineage"]["body_sha256"]


def test_a_changed_body_changes_the_hash():
    p = example_plan()
    other = copy.deepcopy(p["body"])
    other["line_items"][0]["creatives"][0]["headline"] += "!"
    assert plan.body_sha256(other) != plan.body_sha256(p["body"])


# ----------------------------------------------------------------------- idempotency keys


def test_idempotency_key_is_stable_per_plan_target_and_body():
    p = example_plan()
    pid, digest = p["body"]["plan_id"], p["lineage"]["body_sha256"]
    key = plan.idempotency_key(pid, "dv360", digest)
    assert key == plan.idempotency_key(pid, "dv360", digest)
    assert str(__import__("uuid").UUID(key)) == key and 16 <= len(key) <= 255
    assert key != plan.idempotency_key(pid, "meta", digest)
    assert key != plan.idempotency_key(pid, "dv360", "0" * 64)  # a changed plan: a new key
    assert key != plan.idempotency_key(plan.plan_id("demo-retailer", "2025-03-02"), "dv360", digest)
    assert key != pid


# ----------------------------------------------------------------------- dumps


def test_dumps_matches_json_dumps_and_writes_decimals_exactly():
    p = example_plan()
    expected = json.dumps(p, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"
    assert plan.dumps(p) == expected
    doc = {"b": [Decimal("65.10"), Decimal("7"), {}], "a": Decimal("0.001"), "c": "é"}
    text = plan.dumps(doc).decode()
    assert '"a": 0.001' in text and "65.10" in text and '"c": "é"' in text
    assert json.loads(text, parse_float=Decimal) == doc
    with pytest.raises(ValueError):
        plan.dumps({"x": Decimal("NaN")})
