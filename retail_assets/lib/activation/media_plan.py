"""The canonical plan body: line items per channel x segment from the allocation tables.

Pure: tables and configuration in, a JSON-ready dict out. Numbers that come from floating
point (expected conversions, the shadow price) are rounded, so the body (and its hash) is the
same on every rerun with the same inputs.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from retail_assets.lib.activation import payload as plan
from retail_assets.lib.activation.allocation.money import billable_unit_micros
from retail_assets.lib.activation.segment_split import segment_ref
from retail_assets.lib.config import ActivationConfig

METHOD = "mroas-waterfill/1"


class PlanError(ValueError):
    """The tables cannot make a valid plan; the message says which line and why."""


def _slug(text: str) -> str:
    return text.lower().replace("_", "-").replace(" ", "-")


def _round_up(micros: float, unit: int) -> int:
    return int(math.ceil(micros / unit)) * unit


def _expected(row: dict[str, Any], share: float) -> dict[str, float]:
    return {q: round(float(row[f"conversions_{q}"]) * share, 2) for q in ("p05", "p50", "p95")}


def build_body(
    cfg: ActivationConfig,
    day: dt.date,
    allocation: pl.DataFrame,
    segments: pl.DataFrame,
    creatives: Sequence[Any],
    lam: float | None,
) -> dict[str, Any]:
    """The plan body for the flight after ``day``.

    Args:
        cfg: the activation configuration (advertiser, currency, flight, pacing, goal).
        day: the plan date; the flight runs from the next day for ``cfg.flight_days`` days.
        allocation: ``activation.budget_allocation`` rows of that day (all methods).
        segments: ``activation.segment_budgets`` rows of that day.
        creatives: payload-ready creatives (never red), with ``variant_id``, ``segment_id``,
            ``channel``, ``headline``, ``body``, ``landing_url`` and ``compliance``.
        lam: the allocation's shadow price (marginal conversions per currency unit).

    """
    unit = billable_unit_micros(cfg.currency)
    days = cfg.flight_days
    start = day + dt.timedelta(days=1)
    flight = {
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=days - 1)).isoformat(),
    }
    optimized = {
        r["channel"]: r
        for r in allocation.filter(pl.col("method") == "optimized").iter_rows(named=True)
    }
    by_pair: dict[tuple[str, str], list[Any]] = {}
    for c in creatives:
        if c.compliance == "red":
            raise PlanError(f"creative {c.variant_id} is red and cannot enter a payload")
        by_pair.setdefault((c.segment_id, c.channel), []).append(c)
    line_items = []
    for seg in segments.sort("channel", "segment_id").iter_rows(named=True):
        channel, segment_id = seg["channel"], seg["segment_id"]
        amount = int(seg["budget_micros"])
        if amount == 0:
            continue
        variants = sorted(by_pair.get((segment_id, channel), []), key=lambda c: c.variant_id)
        if not variants:
            raise PlanError(
                f"no usable (green or amber) creative for segment {segment_id} on {channel}"
            )
        ch = optimized[channel]
        share = amount / int(ch["budget_micros"]) if ch["budget_micros"] else 0.0
        expected = _expected(ch, share)
        ref = f"{_slug(channel)}-{_slug(segment_id)}"
        item: dict[str, Any] = {
            "ref": ref,
            "channel": channel,
            "segment_id": segment_id,
            "segment_name": seg["segment_name"],
            "budget": {
                "type": "LIFETIME",
                "amount_micros": str(amount),
                "currency": cfg.currency,
            },
            "daily_cap_micros": str(_round_up(amount / days * cfg.daily_cap_multiple, unit)),
            "pacing": {"period": cfg.pacing.period, "type": cfg.pacing.type},
            "flight": dict(flight),
            "goal": _goal(cfg, amount, expected["p50"], float(ch["revenue_p50"]) * share, unit),
            "creatives": [
                {
                    "variant_id": c.variant_id,
                    "weight": 1.0 / len(variants),
                    "headline": c.headline,
                    "body": c.body,
                    "landing_url": c.landing_url,
                    "compliance": c.compliance,
                }
                for c in variants
            ],
            "audience": {
                "segment_ref": segment_ref(cfg.advertiser_id, segment_id),
                "consent": {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"},
            },
            "expected": {
                "conversions_p05": expected["p05"],
                "conversions_p50": expected["p50"],
                "conversions_p95": expected["p95"],
                "revenue_p50": round(float(ch["revenue_p50"]) * share, 2),
                "marginal_cpa_micros": (
                    str(_round_up(float(ch["marginal_cpa"]) * 1e6, unit))
                    if ch["marginal_cpa"] is not None
                    else None
                ),
                "binding": ch["binding"],
            },
        }
        line_items.append(item)
    totals = (
        allocation.group_by("method")
        .agg(pl.col("conversions_p05", "conversions_p50", "conversions_p95").sum())
        .sort("method")
    )
    total_micros = sum(int(li["budget"]["amount_micros"]) for li in line_items)
    return {
        "plan_id": plan.plan_id(cfg.advertiser_id, day.isoformat()),
        "plan_date": day.isoformat(),
        "advertiser": {
            "id": cfg.advertiser_id,
            "currency": cfg.currency,
            "time_zone": cfg.time_zone,
        },
        "flight": flight,
        "budget": {"total_micros": str(total_micros), "currency": cfg.currency},
        "objective": cfg.objective,
        "line_items": line_items,
        "allocation": {
            "method": METHOD,
            "lambda": float(f"{lam:.6g}") if lam is not None else None,
            "objective": cfg.objective,
            "expected_conversions": {
                r["method"]: {
                    "p05": round(r["conversions_p05"], 2),
                    "p50": round(r["conversions_p50"], 2),
                    "p95": round(r["conversions_p95"], 2),
                }
                for r in totals.iter_rows(named=True)
            },
        },
    }


def _goal(
    cfg: ActivationConfig, amount: int, conversions: float, revenue: float, unit: int
) -> dict[str, Any]:
    """The line's bidding goal: the CPA or ROAS the plan expects it to reach."""
    if cfg.goal == "TARGET_CPA" and conversions > 0:
        return {"type": "TARGET_CPA", "target_micros": str(_round_up(amount / conversions, unit))}
    if cfg.goal == "TARGET_ROAS" and amount > 0 and revenue > 0:
        return {"type": "TARGET_ROAS", "target_roas": round(revenue / (amount / 1e6), 4)}
    return {"type": "MAXIMIZE_CONVERSIONS"}
