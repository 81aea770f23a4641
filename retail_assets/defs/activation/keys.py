"""Asset keys of the activation group, and the decorator its assets share."""

import dagster as dg

from retail_assets.defs.operations import COMPUTE_POOL
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import schema_check_spec

CHANNEL_RESPONSE_CURVES = dg.AssetKey(["activation", "channel_response_curves"])
BUDGET_ALLOCATION = dg.AssetKey(["activation", "budget_allocation"])
SEGMENT_BUDGETS = dg.AssetKey(["activation", "segment_budgets"])
CREATIVE_LIBRARY = dg.AssetKey(["activation", "creative_library"])
DSP_PAYLOAD = dg.AssetKey(["activation", "dsp_payload"])
DSP_DELIVERY = dg.AssetKey(["activation", "dsp_delivery"])
OWNERS = ["team:marketing"]


def activation_asset(key: dg.AssetKey, **kwargs):
    """``dg.asset`` for a daily activation asset with its blocking schema check."""
    return dg.asset(
        key=key,
        group_name="activation",
        partitions_def=daily_partitions,
        owners=OWNERS,
        check_specs=[schema_check_spec(key)],
        **{"pool": COMPUTE_POOL, **kwargs},
    )
