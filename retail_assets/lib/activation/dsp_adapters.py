"""Per-platform renderings of a canonical DSP plan (``dsp-plan/1.0``).

Each adapter turns the plan's line items into what that platform's campaign API takes, one
object per line item under a small wrapper of ours (plan id, body hash, idempotency key,
currency, notes). The platform objects follow the field names of:

- Google Ads (``google_ads``): a ``CampaignBudget`` and a ``Campaign`` per line. The budget is
  an average DAILY amount, ``lifetime / flight days`` rounded DOWN to the billable unit, so the
  flight never schedules more than the plan; what the rounding leaves is reported per line and
  in total (``rounding``), always less than one unit per flight day.
- Display & Video 360 (``dv360``): an insertion order per line with one budget segment
  (``budgetAmountMicros`` an int64 as a string) over a ``dateRange`` of calendar dates, which
  DV360 resolves in the advertiser's time zone; pacing period x type, ASAP with FLIGHT refused.
- Meta (``meta``): an ad set per line with ``lifetime_budget`` in minor units (cents for USD;
  the conversion from micros must be exact) and ``start_time``/``end_time`` in ISO 8601 with the
  advertiser's UTC offset on that date.
- The Trade Desk (``ttd``): a campaign per line with decimal amounts in the advertiser's
  currency, carrying exactly the currency's number of decimals (``decimal.Decimal``, never a
  binary float), and the advertiser-local flight converted to UTC.

Times: a flight runs from local midnight of ``start_date`` to local midnight after
``end_date`` (end exclusive), in the advertiser's IANA time zone, so daylight-saving changes
give the right offset. Every rendering is validated against its own JSON Schema
(``retail_assets/schemas/<dsp>.schema.json``) and code rules (units exact, money conserved);
a failure raises :class:`~retail_assets.lib.activation.payload.PlanValidationError` naming the
platform.

Every line item is rendered for every platform unless ``refs`` picks a subset: routing lines to
platforms is the caller's decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from retail_assets.lib.activation.allocation import CURRENCY_EXPONENT, billable_unit_micros
from retail_assets.lib.activation.payload import (
    PlanValidationError,
    body_sha256,
    flight_days,
    idempotency_key,
    schema_problems,
    validate_plan,
)

DSPS = ("google_ads", "dv360", "meta", "ttd")

_GOOGLE_CHANNEL = {"Display": "DISPLAY", "CTV": "VIDEO", "PPC": "SEARCH", "Email": "DEMAND_GEN"}
_DV360_IO_TYPE = {"Display": "RTB", "CTV": "OVER_THE_TOP", "PPC": "RTB", "Email": "RTB"}
_TTD_CHANNEL = {"Display": "Display", "CTV": "TV", "PPC": "Display", "Email": "NativeDisplay"}
_DV360_PERIOD = {"FLIGHT": "PACING_PERIOD_FLIGHT", "DAILY": "PACING_PERIOD_DAILY"}
_DV360_TYPE = {"EVEN": "PACING_TYPE_EVEN", "AHEAD": "PACING_TYPE_AHEAD", "ASAP": "PACING_TYPE_ASAP"}
_TTD_PACING = {
    ("FLIGHT", "EVEN"): "PaceEvenly",
    ("DAILY", "EVEN"): "PaceEvenly",
    ("FLIGHT", "AHEAD"): "PaceAhead",
    ("DAILY", "AHEAD"): "PaceAhead",
    # As fast as possible within each day's cap is what TTD calls pacing to the daily cap.
    ("DAILY", "ASAP"): "PaceToDailyCap",
    ("FLIGHT", "ASAP"): "PaceAsSoonAsPossible",
}
# Meta's min-ROAS floor is the ROAS scaled by 10,000 (1.0x = 10000).
_META_ROAS_SCALE = 10_000


# --------------------------------------------------------------------------- public API


def render(
    payload: dict[str, Any], dsp: str, *, refs: Iterable[str] | None = None
) -> dict[str, Any]:
    """Render a validated plan for one platform.

    Args:
        payload: The canonical plan envelope; it is validated first.
        dsp: One of :data:`DSPS`.
        refs: Line-item refs to render (default: every line item).

    Returns:
        The platform rendering (a JSON-ready dict; the Trade Desk's amounts are ``Decimal``,
        which :func:`retail_assets.lib.activation.payload.dumps` writes digit for digit).

    Raises:
        PlanValidationError: the plan is invalid, or the platform cannot take it (the message
            names the platform and the rule).
        ValueError: ``dsp`` is unknown or ``refs`` names no line item of the plan.

    """
    if dsp not in DSPS:
        raise ValueError(f"unknown DSP {dsp!r}; known: {list(DSPS)}")
    validate_plan(payload)
    return render_validated(payload, dsp, refs=refs)


def render_all(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every platform's rendering of a plan, validated once: ``{dsp: rendering}``."""
    validate_plan(payload)
    return {dsp: render_validated(payload, dsp) for dsp in DSPS}


def render_validated(
    payload: dict[str, Any], dsp: str, *, refs: Iterable[str] | None = None
) -> dict[str, Any]:
    """:func:`render` for a plan the caller has already validated with ``validate_plan``."""
    if dsp not in DSPS:
        raise ValueError(f"unknown DSP {dsp!r}; known: {list(DSPS)}")
    ctx = _Context(payload, dsp, refs)
    out = _RENDERERS[dsp](ctx)
    problems = [f"{dsp}: {p}" for p in schema_problems(out, dsp)]
    problems += [f"{dsp}: {p}" for p in _CHECKS[dsp](ctx, out)]
    if problems:
        raise PlanValidationError(problems, subject=f"{dsp} rendering")
    return out


# --------------------------------------------------------------------------- shared helpers


class _Context:
    """What every adapter needs from the plan, computed once."""

    def __init__(self, payload: dict[str, Any], dsp: str, refs: Iterable[str] | None) -> None:
        body = payload["body"]
        self.dsp = dsp
        self.body = body
        self.currency: str = body["advertiser"]["currency"]
        self.exponent = CURRENCY_EXPONENT[self.currency]
        self.unit = billable_unit_micros(self.currency)
        self.zone = ZoneInfo(body["advertiser"]["time_zone"])
        wanted = None if refs is None else set(refs)
        self.lines = [li for li in body["line_items"] if wanted is None or li["ref"] in wanted]
        if wanted is not None and {li["ref"] for li in self.lines} != wanted:
            missing = sorted(wanted - {li["ref"] for li in self.lines})
            raise ValueError(f"refs not in the plan: {missing}")
        self.total_micros = sum(int(li["budget"]["amount_micros"]) for li in self.lines)
        self.notes: list[str] = []
        digest = body_sha256(body)
        self.wrapper = {
            "dsp": dsp,
            "plan_id": body["plan_id"],
            "source_body_sha256": digest,
            "idempotency_key": idempotency_key(body["plan_id"], dsp, digest),
            "advertiser_id": body["advertiser"]["id"],
            "currency": self.currency,
            "time_zone": body["advertiser"]["time_zone"],
        }

    def fail(self, rule: str) -> PlanValidationError:
        return PlanValidationError([f"{self.dsp}: {rule}"], subject=f"{self.dsp} rendering")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def name(self, line: dict[str, Any]) -> str:
        # Names must be unique per account; the plan id prefix keeps reruns of other days apart.
        return f"{line['segment_name']} x {line['channel']} [{self.body['plan_id'][:8]}]"

    def minor(self, micros: int, what: str) -> int:
        """Micros to minor units (cents for USD), refusing an inexact conversion."""
        factor = 10 ** (6 - self.exponent)
        if micros % factor:
            raise self.fail(f"{what}: {micros} micros is not a whole number of minor units")
        return micros // factor

    def decimal(self, micros: int) -> Decimal:
        """Micros as a decimal amount with exactly the currency's number of decimals."""
        value = Decimal(micros).scaleb(-6)
        quantum = Decimal(1).scaleb(-self.exponent)
        exact = value.quantize(quantum)
        if exact != value:
            raise self.fail(f"{micros} micros is not a whole number of {self.currency} units")
        return exact

    def local_start(self, day: str) -> dt.datetime:
        """The first instant of a calendar day in the advertiser's time zone."""
        naive = dt.datetime.combine(dt.date.fromisoformat(day), dt.time())
        # Through UTC and back: a midnight that a DST jump skips becomes the jump's instant.
        return naive.replace(tzinfo=self.zone).astimezone(dt.UTC).astimezone(self.zone)

    def local_end(self, day: str) -> dt.datetime:
        """The instant after a calendar day ends (the next local midnight), exclusive."""
        return self.local_start((dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat())


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ymd(day: str) -> dict[str, int]:
    d = dt.date.fromisoformat(day)
    return {"year": d.year, "month": d.month, "day": d.day}


def _finish(ctx: _Context, key: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {**ctx.wrapper, **extra, key: items, "notes": ctx.notes}


# --------------------------------------------------------------------------- Google Ads


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


# --------------------------------------------------------------------------- DV360


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


# --------------------------------------------------------------------------- Meta


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


# --------------------------------------------------------------------------- The Trade Desk


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


_RENDERERS: dict[str, Callable[[_Context], dict[str, Any]]] = {
    "google_ads": _google_ads,
    "dv360": _dv360,
    "meta": _meta,
    "ttd": _ttd,
}
_CHECKS: dict[str, Callable[[_Context, dict[str, Any]], list[str]]] = {
    "google_ads": _check_google_ads,
    "dv360": _check_dv360,
    "meta": _check_meta,
    "ttd": _check_ttd,
}
