"""Google Ads rendering: a ``CampaignBudget`` and a ``Campaign`` per line item.

The budget is an average DAILY amount, ``lifetime / flight days`` rounded DOWN to the billable
unit, so the flight never schedules more than the plan; what the rounding leaves is reported
per line and in total (``rounding``), always less than one unit per flight day.
"""

from __future__ import annotations

from typing import Any

from retail_assets.lib.activation.dsp_adapters.base import _Context, _finish
from retail_assets.lib.activation.payload import (
    flight_days,
)

_GOOGLE_CHANNEL = {"Display": "DISPLAY", "CTV": "VIDEO", "PPC": "SEARCH", "Email": "DEMAND_GEN"}


def _google_ads(ctx: _Context) -> dict[str, Any]:
    items = []
    scheduled_total = 0
    for line in ctx.lines:
        lifetime = int(line["budget"]["amount_micros"])
        days = flight_days(line["flight"])
        daily = lifetime // days // ctx.unit * ctx.unit
        if daily == 0:
            raise ctx.fail(
                f"line {line['ref']!r}: {lifetime} micros over {days} days is less than one "
                f"{ctx.currency} billable unit per day, too small for a daily budget"
            )
        scheduled_total += daily * days
        goal = line["goal"]
        if goal["type"] == "TARGET_CPA":
            bidding = {"maximize_conversions": {"target_cpa_micros": int(goal["target_micros"])}}
        elif goal["type"] == "MAXIMIZE_CONVERSIONS":
            bidding = {"maximize_conversions": {}}
        else:
            bidding = {"maximize_conversion_value": {"target_roas": goal["target_roas"]}}
        if line["pacing"]["type"] != "EVEN":
            ctx.note("Google Ads has one delivery method (STANDARD); AHEAD/ASAP pacing is lost.")
        if line["channel"] == "Email":
            ctx.note("Email lines go to Google Ads as DEMAND_GEN (Gmail placements).")
        items.append(
            {
                "ref": line["ref"],
                "segment_ref": line["audience"]["segment_ref"],
                "campaign_budget": {
                    "name": f"{ctx.name(line)} budget",
                    "amount_micros": daily,
                    "delivery_method": "STANDARD",
                    "period": "DAILY",
                    "explicitly_shared": False,
                },
                "campaign": {
                    "name": ctx.name(line),
                    "status": "PAUSED",
                    "advertising_channel_type": _GOOGLE_CHANNEL[line["channel"]],
                    "start_date": line["flight"]["start_date"],
                    "end_date": line["flight"]["end_date"],
                    **bidding,
                },
                "budget_rounding": {
                    "lifetime_micros": lifetime,
                    "flight_days": days,
                    "scheduled_micros": daily * days,
                    "remainder_micros": lifetime - daily * days,
                },
            }
        )
    ctx.note(
        "amount_micros is the average daily budget, lifetime / days rounded down to the "
        "billable unit; Google may spend up to 2x on a day and caps a month at 30.4x daily."
    )
    rounding = {
        "total_micros": ctx.total_micros,
        "scheduled_micros": scheduled_total,
        "remainder_micros": ctx.total_micros - scheduled_total,
    }
    return _finish(ctx, "campaigns", items, rounding=rounding)


def _check_google_ads(ctx: _Context, out: dict[str, Any]) -> list[str]:
    problems = []
    scheduled = remainder = 0
    for item, line in zip(out["campaigns"], ctx.lines, strict=True):
        daily = item["campaign_budget"]["amount_micros"]
        days = flight_days(line["flight"])
        lifetime = int(line["budget"]["amount_micros"])
        rounding = item["budget_rounding"]
        if daily % ctx.unit:
            problems.append(f"{line['ref']}: daily {daily} micros is not a whole billable unit")
        if daily * days > lifetime:
            problems.append(f"{line['ref']}: daily x days {daily * days} exceeds {lifetime}")
        if lifetime - daily * days >= days * ctx.unit:
            problems.append(f"{line['ref']}: rounding left a unit or more per day unspent")
        if rounding["scheduled_micros"] + rounding["remainder_micros"] != lifetime:
            problems.append(f"{line['ref']}: scheduled + remainder is not the lifetime budget")
        scheduled += daily * days
        remainder += rounding["remainder_micros"]
    if scheduled + remainder != ctx.total_micros or out["rounding"]["remainder_micros"] != (
        remainder
    ):
        problems.append("money not conserved: scheduled + remainders differ from the plan total")
    return problems
