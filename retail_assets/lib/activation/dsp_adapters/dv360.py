"""Display & Video 360 rendering: an insertion order per line item with one budget segment.

``budgetAmountMicros`` is an int64 as a string, over a ``dateRange`` of calendar dates which
DV360 resolves in the advertiser's time zone; pacing period x type, ASAP with FLIGHT refused.
"""

from __future__ import annotations

from typing import Any

from retail_assets.lib.activation.dsp_adapters.base import _Context, _finish, _ymd

_DV360_IO_TYPE = {"Display": "RTB", "CTV": "OVER_THE_TOP", "PPC": "RTB", "Email": "RTB"}


_DV360_PERIOD = {"FLIGHT": "PACING_PERIOD_FLIGHT", "DAILY": "PACING_PERIOD_DAILY"}
_DV360_TYPE = {"EVEN": "PACING_TYPE_EVEN", "AHEAD": "PACING_TYPE_AHEAD", "ASAP": "PACING_TYPE_ASAP"}


def _dv360(ctx: _Context) -> dict[str, Any]:
    items = []
    for line in ctx.lines:
        period, kind = line["pacing"]["period"], line["pacing"]["type"]
        if (period, kind) == ("FLIGHT", "ASAP"):
            raise ctx.fail(
                f"line {line['ref']!r}: DV360 insertion orders do not allow ASAP pacing over "
                "the FLIGHT period; use DAILY + ASAP or FLIGHT + EVEN/AHEAD"
            )
        goal = line["goal"]
        if goal["type"] == "TARGET_CPA":
            kpi = {"kpiType": "KPI_TYPE_CPA", "kpiAmountMicros": goal["target_micros"]}
        elif goal["type"] == "MAXIMIZE_CONVERSIONS":
            kpi = {"kpiType": "KPI_TYPE_OTHER", "kpiString": "Maximize conversions"}
        else:
            kpi = {"kpiType": "KPI_TYPE_OTHER", "kpiString": f"ROAS {goal['target_roas']:.2f}"}
            ctx.note("DV360 has no ROAS KPI type: TARGET_ROAS is written as KPI_TYPE_OTHER.")
        items.append(
            {
                "ref": line["ref"],
                "segment_ref": line["audience"]["segment_ref"],
                "insertion_order": {
                    "displayName": ctx.name(line),
                    "entityStatus": "ENTITY_STATUS_DRAFT",
                    "insertionOrderType": _DV360_IO_TYPE[line["channel"]],
                    "pacing": {
                        "pacingPeriod": _DV360_PERIOD[period],
                        "pacingType": _DV360_TYPE[kind],
                        "dailyMaxMicros": line["daily_cap_micros"],
                    },
                    "frequencyCap": {"unlimited": True},
                    "kpi": kpi,
                    "budget": {
                        "budgetUnit": "BUDGET_UNIT_CURRENCY",
                        "automationType": "INSERTION_ORDER_AUTOMATION_TYPE_NONE",
                        "budgetSegments": [
                            {
                                "budgetAmountMicros": line["budget"]["amount_micros"],
                                "description": f"{line['ref']} flight",
                                "dateRange": {
                                    "startDate": _ymd(line["flight"]["start_date"]),
                                    "endDate": _ymd(line["flight"]["end_date"]),
                                },
                            }
                        ],
                    },
                },
            }
        )
    flight = ctx.body["flight"]
    campaign = {
        "displayName": f"Plan {ctx.body['plan_date']} [{ctx.body['plan_id'][:8]}]",
        "entityStatus": "ENTITY_STATUS_PAUSED",
        "campaignGoal": {
            "campaignGoalType": "CAMPAIGN_GOAL_TYPE_ONLINE_ACTION",
            "performanceGoal": {
                "performanceGoalType": "PERFORMANCE_GOAL_TYPE_OTHER",
                "performanceGoalString": f"Maximize {ctx.body['objective']} within budget",
            },
        },
        "campaignFlight": {
            "plannedSpendAmountMicros": str(ctx.total_micros),
            "plannedDates": {
                "startDate": _ymd(flight["start_date"]),
                "endDate": _ymd(flight["end_date"]),
            },
        },
        "frequencyCap": {"unlimited": True},
    }
    ctx.note("dateRange dates are calendar dates that DV360 resolves in the advertiser time zone.")
    return _finish(ctx, "insertion_orders", items, campaign=campaign)


def _check_dv360(ctx: _Context, out: dict[str, Any]) -> list[str]:
    problems = []
    total = 0
    for item, line in zip(out["insertion_orders"], ctx.lines, strict=True):
        io = item["insertion_order"]
        segments = io["budget"]["budgetSegments"]
        amount = sum(int(s["budgetAmountMicros"]) for s in segments)
        if amount != int(line["budget"]["amount_micros"]):
            problems.append(f"{line['ref']}: budget segments do not add up to the line budget")
        if any(int(s["budgetAmountMicros"]) % ctx.unit for s in segments):
            problems.append(f"{line['ref']}: a budget segment is not a whole billable unit")
        if int(io["pacing"]["dailyMaxMicros"]) % ctx.unit:
            problems.append(f"{line['ref']}: dailyMaxMicros is not a whole billable unit")
        if (io["pacing"]["pacingPeriod"], io["pacing"]["pacingType"]) == (
            "PACING_PERIOD_FLIGHT",
            "PACING_TYPE_ASAP",
        ):
            problems.append(f"{line['ref']}: ASAP pacing with the FLIGHT period")
        total += amount
    if total != ctx.total_micros:
        problems.append(f"money not conserved: {total} micros, plan {ctx.total_micros}")
    if int(out["campaign"]["campaignFlight"]["plannedSpendAmountMicros"]) != ctx.total_micros:
        problems.append("plannedSpendAmountMicros is not the rendered total")
    return problems
