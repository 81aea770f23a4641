"""The Trade Desk rendering: a campaign per line item with exact decimal amounts, flights in UTC.

Amounts are in the advertiser's currency, carrying exactly the currency's number of decimals
(``decimal.Decimal``, never a binary float), and the advertiser-local flight is converted to
UTC.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from retail_assets.lib.activation.dsp_adapters.base import _Context, _finish, _utc

_TTD_CHANNEL = {"Display": "Display", "CTV": "TV", "PPC": "Display", "Email": "NativeDisplay"}


_TTD_PACING = {
    ("FLIGHT", "EVEN"): "PaceEvenly",
    ("DAILY", "EVEN"): "PaceEvenly",
    ("FLIGHT", "AHEAD"): "PaceAhead",
    ("DAILY", "AHEAD"): "PaceAhead",
    # As fast as possible within each day's cap is what TTD calls pacing to the daily cap.
    ("DAILY", "ASAP"): "PaceToDailyCap",
    ("FLIGHT", "ASAP"): "PaceAsSoonAsPossible",
}


def _ttd(ctx: _Context) -> dict[str, Any]:
    items = []
    for line in ctx.lines:
        goal = line["goal"]
        if goal["type"] == "TARGET_CPA":
            primary = {"cpa_in_advertiser_currency": ctx.decimal(int(goal["target_micros"]))}
        elif goal["type"] == "TARGET_ROAS":
            percent = Decimal(str(goal["target_roas"])) * 100
            primary = {"return_on_ad_spend_percent": percent.quantize(Decimal("0.01"))}
        else:
            conversions = line["expected"]["conversions_p50"]
            if not conversions > 0:
                raise ctx.fail(
                    f"line {line['ref']!r}: MAXIMIZE_CONVERSIONS becomes a CPA goal at the "
                    "expected average CPA, which needs expected.conversions_p50 > 0"
                )
            cpa = Decimal(int(line["budget"]["amount_micros"])) / Decimal(str(conversions))
            units = (cpa / ctx.unit).to_integral_value(ROUND_HALF_UP)
            primary = {"cpa_in_advertiser_currency": ctx.decimal(int(max(units, 1)) * ctx.unit)}
            ctx.note(
                "TTD has no maximize-conversions goal: MAXIMIZE_CONVERSIONS lines get a CPA goal "
                "at their expected average CPA (budget / conversions_p50)."
            )
        if line["channel"] in ("PPC", "Email"):
            ctx.note("TTD has no search or email channel: PPC goes as Display, Email as Native.")
        items.append(
            {
                "ref": line["ref"],
                "segment_ref": line["audience"]["segment_ref"],
                "campaign": {
                    "name": ctx.name(line),
                    "primary_channel": _TTD_CHANNEL[line["channel"]],
                    "budget": {
                        "pacing_mode": _TTD_PACING[
                            (line["pacing"]["period"], line["pacing"]["type"])
                        ],
                        "budget_in_advertiser_currency": ctx.decimal(
                            int(line["budget"]["amount_micros"])
                        ),
                        "daily_target_in_advertiser_currency": ctx.decimal(
                            int(line["daily_cap_micros"])
                        ),
                    },
                    "start_date_in_utc": _utc(ctx.local_start(line["flight"]["start_date"])),
                    "end_date_in_utc": _utc(ctx.local_end(line["flight"]["end_date"])),
                    "primary_goal": primary,
                },
            }
        )
    ctx.note("end_date_in_utc is the local midnight after end_date, in UTC (end exclusive).")
    return _finish(
        ctx, "campaigns", items, total_in_advertiser_currency=ctx.decimal(ctx.total_micros)
    )


def _check_ttd(ctx: _Context, out: dict[str, Any]) -> list[str]:
    problems = []
    total = Decimal(0)
    for item, line in zip(out["campaigns"], ctx.lines, strict=True):
        budget = item["campaign"]["budget"]
        for field in ("budget_in_advertiser_currency", "daily_target_in_advertiser_currency"):
            value = budget[field]
            if not isinstance(value, Decimal) or value.as_tuple().exponent != -ctx.exponent:
                problems.append(
                    f"{line['ref']}: {field} must be a Decimal with {ctx.exponent} decimals"
                )
        amount = budget["budget_in_advertiser_currency"]
        if Decimal(amount) * 10**6 != int(line["budget"]["amount_micros"]):
            problems.append(f"{line['ref']}: budget is not the line budget exactly")
        total += Decimal(amount)
    if total * 10**6 != ctx.total_micros or total != out["total_in_advertiser_currency"]:
        problems.append(f"money not conserved: {total} {ctx.currency}, plan {ctx.total_micros}")
    return problems
