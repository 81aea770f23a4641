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

The package holds one module per platform (:mod:`.google_ads`, :mod:`.dv360`, :mod:`.meta`,
:mod:`.ttd`), what they share (:mod:`.base`) and the entry points (:mod:`.render`). The names
below are re-exported for callers; the submodules import each other by full module path, never
from here.
"""

from retail_assets.lib.activation.dsp_adapters.render import (
    DSPS,
    render,
    render_all,
    render_validated,
)

__all__ = ["DSPS", "render", "render_all", "render_validated"]
