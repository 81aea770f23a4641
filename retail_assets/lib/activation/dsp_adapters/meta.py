"""Meta rendering: an ad set per line item with a lifetime budget in minor units.

``lifetime_budget`` is in minor units (cents for USD; the conversion from micros must be
exact) and ``start_time``/``end_time`` in ISO 8601 with the advertiser's UTC offset on that
date.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from retail_assets.lib.activation.dsp_adapters.base import _Context, _finish

# Meta's min-ROAS floor is the ROAS scaled by 10,000 (1.0x = 10000).
_META_ROAS_SCALE = 10_000


def _meta(ctx: _Context) -> dict[str, Any]:
    items = []
    for line in ctx.lines:
        goal = line["goal"]
        ad_set: dict[str, Any] = {
            "name": ctx.name(line),
            "status": "PAUSED",
            "lifetime_budget": ctx.minor(int(line["budget"]["amount_micros"]), line["ref"]),
            "start_time": ctx.local_start(line["flight"]["start_date"]).isoformat(),
            "end_time": ctx.local_end(line["flight"]["end_date"]).isoformat(),
            "billing_event": "IMPRESSIONS",
            "optimization_goal": "VALUE"
            if goal["type"] == "TARGET_ROAS"
            else "OFFSITE_CONVERSIONS",
        }
        if goal["type"] == "TARGET_CPA":
            ad_set["bid_strategy"] = "COST_CAP"
            ad_set["bid_amount"] = ctx.minor(int(goal["target_micros"]), f"{line['ref']} CPA")
        elif goal["type"] == "MAXIMIZE_CONVERSIONS":
            ad_set["bid_strategy"] = "LOWEST_COST_WITHOUT_CAP"
        else:
            floor = Decimal(str(goal["target_roas"])) * _META_ROAS_SCALE
            ad_set["bid_strategy"] = "LOWEST_COST_WITH_MIN_ROAS"
            ad_set["bid_constraints"] = {
                "roas_average_floor": int(floor.to_integral_value(ROUND_HALF_UP))
            }
        items.append(
            {"ref": line["ref"], "segment_ref": line["audience"]["segment_ref"], "ad_set": ad_set}
        )
    ctx.note(
        "Meta ad sets with a lifetime budget take no daily cap or pacing period: daily_cap_micros "
        "and pacing are not sent; end_time is the local midnight after end_date."
    )
    campaign = {
        "name": f"Plan {ctx.body['plan_date']} [{ctx.body['plan_id'][:8]}]",
        "objective": "OUTCOME_SALES",
        "status": "PAUSED",
        "buying_type": "AUCTION",
        "special_ad_categories": [],
    }
    return _finish(
        ctx,
        "ad_sets",
        items,
        campaign=campaign,
        total_minor_units=ctx.minor(ctx.total_micros, "total"),
    )


def _check_meta(ctx: _Context, out: dict[str, Any]) -> list[str]:
    problems = []
    factor = 10 ** (6 - ctx.exponent)
    total = 0
    for item, line in zip(out["ad_sets"], ctx.lines, strict=True):
        ad_set = item["ad_set"]
        minor = ad_set["lifetime_budget"]
        if not isinstance(minor, int) or minor * factor != int(line["budget"]["amount_micros"]):
            problems.append(f"{line['ref']}: lifetime_budget is not the line budget exactly")
            continue
        total += minor
        start = dt.datetime.fromisoformat(ad_set["start_time"])
        end = dt.datetime.fromisoformat(ad_set["end_time"])
        if start.utcoffset() != start.astimezone(ctx.zone).utcoffset() or end <= start:
            problems.append(f"{line['ref']}: start/end offsets or order are wrong")
    if total * factor != ctx.total_micros or total != out["total_minor_units"]:
        problems.append(f"money not conserved: {total} minor units, plan {ctx.total_micros} micros")
    return problems
