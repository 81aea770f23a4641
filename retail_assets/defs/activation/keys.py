"""Asset keys of the activation group, shared by its modules."""

import dagster as dg

CHANNEL_RESPONSE_CURVES = dg.AssetKey(["activation", "channel_response_curves"])
BUDGET_ALLOCATION = dg.AssetKey(["activation", "budget_allocation"])
SEGMENT_BUDGETS = dg.AssetKey(["activation", "segment_budgets"])
CREATIVE_LIBRARY = dg.AssetKey(["activation", "creative_library"])
DSP_PAYLOAD = dg.AssetKey(["activation", "dsp_payload"])
DSP_DELIVERY = dg.AssetKey(["activation", "dsp_delivery"])
OWNERS = ["team:marketing"]
