"""What every platform adapter shares: the plan context, money conversions and local times.

Times: a flight runs from local midnight of ``start_date`` to local midnight after ``end_date``
(end exclusive), in the advertiser's IANA time zone, so daylight-saving changes give the right
offset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from retail_assets.lib.activation.allocation.money import CURRENCY_EXPONENT, billable_unit_micros
from retail_assets.lib.activation.payload import (
    PlanValidationError,
    body_sha256,
    idempotency_key,
)


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
