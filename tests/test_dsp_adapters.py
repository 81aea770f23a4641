"""Platform renderings of the canonical plan: units, time zones, pacing, money conservation."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest
from conftest import example_plan, restamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_assets.lib.activation import dsp_adapters as da
from retail_assets.lib.activation import payload as plan
from retail_assets.lib.activation.allocation.money import CURRENCY_EXPONENT, billable_unit_micros


def total_micros(p: dict) -> int:
    return int(p["body"]["budget"]["total_micros"])


def with_currency(p: dict, currency: str) -> dict:
    body = p["body"]
    for obj in (body["advertiser"], body["budget"], *(li["budget"] for li in body["line_items"])):
        obj["currency"] = currency
    return restamp(p)


def test_every_rendering_validates_against_its_schema_and_names_the_plan():
    p = example_plan()
    out = da.render_all(p)
    assert set(out) == set(da.DSPS) == {"google_ads", "dv360", "meta", "ttd"}
    digest = p["lineage"]["body_sha256"]
    for dsp, doc in out.items():
        assert plan.schema_problems(doc, dsp) == []
        # Written to JSON and read back (Decimals become floats), it still validates.
        assert plan.schema_problems(json.loads(plan.dumps(doc)), dsp) == []
        assert doc["plan_id"] == p["body"]["plan_id"] and doc["source_body_sha256"] == digest
        assert doc["idempotency_key"] == plan.idempotency_key(p["body"]["plan_id"], dsp, digest)
        assert plan.scan_pii(doc) == []


def test_a_schema_rejects_a_broken_rendering():
    doc = da.render(example_plan(), "dv360")
    io = doc["insertion_orders"][0]["insertion_order"]
    io["budget"]["budgetSegments"][0]["budgetAmountMicros"] = 6514000000  # int, not a string
    io["pacing"]["pacingType"] = "PACING_TYPE_ASAP"  # with FLIGHT
    found = plan.schema_problems(doc, "dv360")
    assert any("budgetAmountMicros: 6514000000 is not of type 'string'" in f for f in found)
    assert any(f.startswith("$.insertion_orders[0].insertion_order.pacing: ") for f in found)


# ----------------------------------------------------------------------- money per platform


def test_meta_gives_integer_cents_that_sum_to_the_total():
    p = example_plan()
    doc = da.render(p, "meta")
    budgets = [a["ad_set"]["lifetime_budget"] for a in doc["ad_sets"]]
    assert all(type(b) is int for b in budgets)
    assert budgets == [651_400, 2_348_600, 3_000_000, 1_000_000]
    assert sum(budgets) == total_micros(p) // 10_000 == doc["total_minor_units"] == 7_000_000
    cost_cap = doc["ad_sets"][0]["ad_set"]
    assert cost_cap["bid_strategy"] == "COST_CAP" and cost_cap["bid_amount"] == 4500
    assert doc["ad_sets"][1]["ad_set"]["bid_strategy"] == "LOWEST_COST_WITHOUT_CAP"
    assert "bid_amount" not in doc["ad_sets"][1]["ad_set"]


def test_dv360_gives_micros_strings_and_pacing_enums():
    p = example_plan()
    doc = da.render(p, "dv360")
    segments = [
        s
        for io in doc["insertion_orders"]
        for s in io["insertion_order"]["budget"]["budgetSegments"]
    ]
    amounts = [s["budgetAmountMicros"] for s in segments]
    assert amounts == ["6514000000", "23486000000", "30000000000", "10000000000"]
    assert sum(map(int, amounts)) == total_micros(p)
    assert doc["campaign"]["campaignFlight"]["plannedSpendAmountMicros"] == "70000000000"
    first = doc["insertion_orders"][0]["insertion_order"]
    assert first["pacing"] == {
        "pacingPeriod": "PACING_PERIOD_FLIGHT",
        "pacingType": "PACING_TYPE_EVEN",
        "dailyMaxMicros": "1400000000",
    }
    assert first["kpi"] == {"kpiType": "KPI_TYPE_CPA", "kpiAmountMicros": "45000000"}
    assert first["insertionOrderType"] == "OVER_THE_TOP"  # CTV
    ppc = doc["insertion_orders"][2]["insertion_order"]["budget"]["budgetSegments"][0]
    assert ppc["dateRange"] == {
        "startDate": {"year": 2025, "month": 3, "day": 3},
        "endDate": {"year": 2025, "month": 3, "day": 8},
    }
    email = doc["insertion_orders"][3]["insertion_order"]["pacing"]
    assert (email["pacingPeriod"], email["pacingType"]) == (
        "PACING_PERIOD_DAILY",
        "PACING_TYPE_ASAP",
    )


def test_dv360_rejects_asap_over_the_flight():
    p = example_plan()
    p["body"]["line_items"][1]["pacing"] = {"period": "FLIGHT", "type": "ASAP"}
    restamp(p)
    plan.validate_plan(p)  # fine in the canonical plan ...
    with pytest.raises(plan.PlanValidationError) as info:
        da.render(p, "dv360")  # ... but not for DV360
    assert info.value.problems == [
        "dv360: line 'display-value-shopper': DV360 insertion orders do not allow ASAP pacing "
        "over the FLIGHT period; use DAILY + ASAP or FLIGHT + EVEN/AHEAD"
    ]
    assert "dv360 rendering" in str(info.value)
    # The other platforms take it.
    assert da.render(p, "ttd")["campaigns"][1]["campaign"]["budget"]["pacing_mode"] == (
        "PaceAsSoonAsPossible"
    )
    with pytest.raises(plan.PlanValidationError):
        da.render_all(p)


def test_ttd_gives_decimals_with_the_currency_exponent_that_sum_exactly():
    p = example_plan()
    doc = da.render(p, "ttd")
    budgets = [c["campaign"]["budget"]["budget_in_advertiser_currency"] for c in doc["campaigns"]]
    assert all(isinstance(b, Decimal) and b.as_tuple().exponent == -2 for b in budgets)
    assert sum(budgets, Decimal(0)) == Decimal("70000.00") == doc["total_in_advertiser_currency"]
    first = doc["campaigns"][0]["campaign"]
    assert first["budget"]["daily_target_in_advertiser_currency"] == Decimal("1400.00")
    assert first["primary_goal"] == {"cpa_in_advertiser_currency": Decimal("45.00")}
    # No maximize-conversions goal at TTD: budget / expected conversions, to the cent.
    assert doc["campaigns"][1]["campaign"]["primary_goal"] == {
        "cpa_in_advertiser_currency": Decimal("38.50")  # 23486 / 610 = 38.501...
    }
    assert any("no maximize-conversions goal" in n for n in doc["notes"])
    # On disk the amounts are written digit for digit, never through a float.
    text = plan.dumps(doc).decode()
    assert '"budget_in_advertiser_currency": 6514.00,' in text
    again = json.loads(text, parse_float=Decimal)
    assert [
        c["campaign"]["budget"]["budget_in_advertiser_currency"] for c in again["campaigns"]
    ] == (budgets)


def test_google_ads_daily_budgets_never_exceed_the_lifetime_and_lose_under_a_unit_a_day():
    p = example_plan()
    doc = da.render(p, "google_ads")
    unit = billable_unit_micros("USD")
    for item, line in zip(doc["campaigns"], p["body"]["line_items"], strict=True):
        daily = item["campaign_budget"]["amount_micros"]
        days = plan.flight_days(line["flight"])
        lifetime = int(line["budget"]["amount_micros"])
        assert type(daily) is int and daily % unit == 0
        assert daily * days <= lifetime < (daily + unit) * days
        assert item["budget_rounding"]["remainder_micros"] == lifetime - daily * days
        assert item["campaign_budget"]["delivery_method"] == "STANDARD"
        assert item["campaign_budget"]["period"] == "DAILY"
        assert item["campaign"]["start_date"] == line["flight"]["start_date"]
        assert item["campaign"]["end_date"] == line["flight"]["end_date"]
    first = doc["campaigns"][0]
    assert first["campaign_budget"]["amount_micros"] == 930_570_000  # 6514 / 7 = 930.5714...
    assert first["budget_rounding"]["remainder_micros"] == 10_000
    assert doc["campaigns"][2]["campaign_budget"]["amount_micros"] == 5_000_000_000  # 6 days
    r = doc["rounding"]
    assert r["scheduled_micros"] + r["remainder_micros"] == r["total_micros"] == total_micros(p)
    assert first["campaign"]["maximize_conversions"] == {"target_cpa_micros": 45_000_000}
    assert doc["campaigns"][2]["campaign"]["advertising_channel_type"] == "SEARCH"


def test_google_ads_refuses_a_budget_below_one_unit_a_day():
    p = example_plan()
    body = p["body"]
    body["line_items"][0]["budget"]["amount_micros"] = "60000"  # 6 cents over 7 days
    body["line_items"][1]["budget"]["amount_micros"] = str(23_486_000_000 + 6_514_000_000 - 60_000)
    body["line_items"][1]["daily_cap_micros"] = "6000000000"
    restamp(p)
    plan.validate_plan(p)
    with pytest.raises(plan.PlanValidationError, match="google_ads: line 'ctv-brand-loyalist'"):
        da.render(p, "google_ads")


def test_refs_render_a_subset_and_conserve_its_money():
    p = example_plan()
    doc = da.render(p, "meta", refs=["ppc-speed-seeker"])
    assert [a["ref"] for a in doc["ad_sets"]] == ["ppc-speed-seeker"]
    assert doc["total_minor_units"] == 3_000_000
    with pytest.raises(ValueError, match="refs not in the plan"):
        da.render(p, "meta", refs=["nope"])
    with pytest.raises(ValueError, match="unknown DSP"):
        da.render(p, "tiktok")


def test_render_refuses_an_invalid_plan():
    p = example_plan()
    p["body"]["line_items"][0]["creatives"][0]["compliance"] = "red"
    with pytest.raises(plan.PlanValidationError, match="compliance"):
        da.render(restamp(p), "meta")


# ----------------------------------------------------------------------- time zones


def _single_line(start: str, end: str, tz: str = "America/New_York") -> dict:
    p = example_plan()
    body = p["body"]
    body["advertiser"]["time_zone"] = tz
    body["flight"] = {"start_date": min(start, "2025-03-02"), "end_date": max(end, "2025-03-08")}
    body["line_items"] = body["line_items"][:1]
    li = body["line_items"][0]
    li["flight"] = {"start_date": start, "end_date": end}
    li["budget"]["amount_micros"] = body["budget"]["total_micros"] = "7000000000"
    li["daily_cap_micros"] = "7000000000"
    return restamp(p)


def test_a_line_starting_on_the_dst_change_date_gets_the_right_offsets():
    # New York springs forward at 02:00 on 2025-03-09: midnight that day is still EST.
    p = _single_line("2025-03-09", "2025-03-09")
    meta = da.render(p, "meta")["ad_sets"][0]["ad_set"]
    assert meta["start_time"] == "2025-03-09T00:00:00-05:00"
    assert meta["end_time"] == "2025-03-10T00:00:00-04:00"  # a 23-hour day
    ttd = da.render(p, "ttd")["campaigns"][0]["campaign"]
    assert ttd["start_date_in_utc"] == "2025-03-09T05:00:00Z"
    assert ttd["end_date_in_utc"] == "2025-03-10T04:00:00Z"
    p = _single_line("2025-03-10", "2025-03-12")
    assert da.render(p, "meta")["ad_sets"][0]["ad_set"]["start_time"] == (
        "2025-03-10T00:00:00-04:00"
    )
    assert da.render(p, "ttd")["campaigns"][0]["campaign"]["start_date_in_utc"] == (
        "2025-03-10T04:00:00Z"
    )
    # Falling back on 2025-11-02: a 25-hour day.
    p = _single_line("2025-11-02", "2025-11-02")
    p["body"]["flight"] = {"start_date": "2025-11-02", "end_date": "2025-11-02"}
    ttd = da.render(restamp(p), "ttd")["campaigns"][0]["campaign"]
    assert (ttd["start_date_in_utc"], ttd["end_date_in_utc"]) == (
        "2025-11-02T04:00:00Z",
        "2025-11-03T05:00:00Z",
    )


def test_a_midnight_skipped_by_dst_starts_at_the_jump():
    # Santiago springs forward at 24:00 on 2025-09-06: 2025-09-07 00:00 never happens.
    p = _single_line("2025-09-07", "2025-09-08", tz="America/Santiago")
    p["body"]["flight"] = {"start_date": "2025-09-07", "end_date": "2025-09-08"}
    meta = da.render(restamp(p), "meta")["ad_sets"][0]["ad_set"]
    assert meta["start_time"] == "2025-09-07T01:00:00-03:00"
    start = dt.datetime.fromisoformat(meta["start_time"])
    assert start.astimezone(dt.UTC) == dt.datetime(2025, 9, 7, 4, tzinfo=dt.UTC)


def test_a_far_east_advertiser_starts_the_previous_day_in_utc():
    p = _single_line("2025-03-02", "2025-03-08", tz="Asia/Tokyo")
    ttd = da.render(p, "ttd")["campaigns"][0]["campaign"]
    assert ttd["start_date_in_utc"] == "2025-03-01T15:00:00Z"
    assert ttd["end_date_in_utc"] == "2025-03-08T15:00:00Z"
    # DV360 takes calendar dates and resolves them in the advertiser time zone itself.
    io = da.render(p, "dv360")["insertion_orders"][0]["insertion_order"]
    assert io["budget"]["budgetSegments"][0]["dateRange"]["startDate"] == {
        "year": 2025,
        "month": 3,
        "day": 2,
    }


# ----------------------------------------------------------------------- other currencies


def test_meta_and_ttd_in_yen_use_whole_units():
    p = example_plan()
    p["body"]["line_items"][2]["goal"]["target_micros"] = "38000000"  # 38.5 is no yen amount
    p = with_currency(p, "JPY")  # every other example amount is whole yen too
    meta = da.render(p, "meta")
    assert [a["ad_set"]["lifetime_budget"] for a in meta["ad_sets"]] == [6514, 23486, 30000, 10000]
    assert meta["ad_sets"][0]["ad_set"]["bid_amount"] == 45
    ttd = da.render(p, "ttd")
    first = ttd["campaigns"][0]["campaign"]["budget"]["budget_in_advertiser_currency"]
    assert first == Decimal("6514") and first.as_tuple().exponent == 0
    assert '"budget_in_advertiser_currency": 6514,' in plan.dumps(ttd).decode()


def test_meta_and_ttd_in_kuwaiti_dinar_use_fils():
    p = example_plan()
    body = p["body"]
    body["line_items"][0]["budget"]["amount_micros"] = "6514001000"  # 6514.001 KWD
    body["line_items"][1]["budget"]["amount_micros"] = "23485999000"
    p = with_currency(p, "KWD")
    meta = da.render(p, "meta")
    budgets = [a["ad_set"]["lifetime_budget"] for a in meta["ad_sets"]]
    assert budgets[:2] == [6_514_001, 23_485_999]
    assert sum(budgets) == 70_000_000 == total_micros(p) // 1000
    ttd = da.render(p, "ttd")
    amounts = [c["campaign"]["budget"]["budget_in_advertiser_currency"] for c in ttd["campaigns"]]
    assert amounts[0] == Decimal("6514.001") and amounts[0].as_tuple().exponent == -3
    assert sum(amounts, Decimal(0)) == Decimal("70000.000")
    # The same amount in USD would be a tenth of a cent: refused before any adapter runs.
    with pytest.raises(plan.PlanValidationError, match="billable units"):
        da.render(with_currency(copy.deepcopy(p), "USD"), "meta")


def test_meta_min_roas_floor_and_ttd_roas_percent():
    p = example_plan()
    p["body"]["objective"] = p["body"]["allocation"]["objective"] = "revenue"
    p["body"]["line_items"][0]["goal"] = {"type": "TARGET_ROAS", "target_roas": 4.25}
    restamp(p)
    ad_set = da.render(p, "meta")["ad_sets"][0]["ad_set"]
    assert ad_set["bid_strategy"] == "LOWEST_COST_WITH_MIN_ROAS"
    assert ad_set["bid_constraints"] == {"roas_average_floor": 42_500}
    assert ad_set["optimization_goal"] == "VALUE"
    goal = da.render(p, "ttd")["campaigns"][0]["campaign"]["primary_goal"]
    assert goal == {"return_on_ad_spend_percent": Decimal("425.00")}
    google = da.render(p, "google_ads")["campaigns"][0]["campaign"]
    assert google["maximize_conversion_value"] == {"target_roas": 4.25}


# ----------------------------------------------------------------------- property


@st.composite
def random_plans(draw):
    currency = draw(st.sampled_from(sorted(CURRENCY_EXPONENT)))
    unit = billable_unit_micros(currency)
    days = draw(st.integers(1, 45))
    n = draw(st.integers(1, 8))
    # Whole units per line, at least one per day so Google's daily budget is not zero.
    units = draw(st.lists(st.integers(days, 10**9 // unit * 10), min_size=n, max_size=n))
    tz = draw(st.sampled_from(["America/New_York", "Europe/London", "Asia/Kolkata", "UTC"]))
    p = example_plan()
    body = p["body"]
    start = dt.date(2025, 3, 2)
    end = start + dt.timedelta(days=days - 1)
    body["flight"] = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    body["advertiser"]["time_zone"] = tz
    template = body["line_items"][0]
    body["line_items"] = []
    for i, u in enumerate(units):
        li = copy.deepcopy(template)
        li["ref"] = f"line-{i}"
        for j, c in enumerate(li["creatives"]):
            c["variant_id"] = f"line-{i}-{j}"
        amount = u * unit
        li["budget"]["amount_micros"] = str(amount)
        li["daily_cap_micros"] = str(-(-amount // days // unit) * unit)  # ceil to a unit
        li["flight"] = dict(body["flight"])
        li["goal"] = draw(
            st.sampled_from(
                [
                    {"type": "MAXIMIZE_CONVERSIONS"},
                    {"type": "TARGET_CPA", "target_micros": str(unit * 7)},
                ]
            )
        )
        body["line_items"].append(li)
    body["budget"]["total_micros"] = str(sum(units) * unit)
    return with_currency(p, currency)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_plans())
def test_every_adapter_conserves_money_within_its_documented_rounding(p):
    total = total_micros(p)
    currency = p["body"]["advertiser"]["currency"]
    unit = billable_unit_micros(currency)
    factor = 10 ** (6 - CURRENCY_EXPONENT[currency])
    out = da.render_all(p)

    dv = out["dv360"]["insertion_orders"]
    assert (
        sum(
            int(io["insertion_order"]["budget"]["budgetSegments"][0]["budgetAmountMicros"])
            for io in dv
        )
        == total
    )

    meta = [a["ad_set"]["lifetime_budget"] for a in out["meta"]["ad_sets"]]
    assert sum(meta) * factor == total

    ttd = [
        c["campaign"]["budget"]["budget_in_advertiser_currency"] for c in out["ttd"]["campaigns"]
    ]
    assert sum(ttd, Decimal(0)) * 10**6 == total

    google = out["google_ads"]["campaigns"]
    scheduled = 0
    for item in google:
        days = item["budget_rounding"]["flight_days"]
        daily = item["campaign_budget"]["amount_micros"]
        lifetime = item["budget_rounding"]["lifetime_micros"]
        assert 0 <= lifetime - daily * days < days * unit
        scheduled += daily * days
    assert scheduled <= total
    assert scheduled + out["google_ads"]["rounding"]["remainder_micros"] == total
