"""governed/customers: customers who gave analytics consent, without contact data."""

import dagster as dg

from retail_assets.defs.governance.governing import (
    GOVERNED_CUSTOMERS,
    OWNERS,
    _customer_policy,
    _drop_metadata,
    _raw_customers,
    consent_check,
    consent_check_spec,
)
from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import CUSTOMERS as RAW_CUSTOMERS
from retail_assets.lib.governance.consent import CUSTOMER_DROP_REASONS
from retail_assets.lib.governance.privacy import govern_customers
from retail_assets.lib.governance.suppression import load_suppression


@dg.asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
    key=GOVERNED_CUSTOMERS,
    deps=[RAW_CUSTOMERS],
    group_name="governance",
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(GOVERNED_CUSTOMERS), consent_check_spec(GOVERNED_CUSTOMERS)],
    code_version="2",
)
def governed_customers(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Customers who gave analytics consent, without contact data: one row per customer.

    For segmenting and joining behavior to customers without personal data. Customers whose
    analytics consent is 'No' are left out, and so are those with no signal ('Unset') unless
    the source's consent policy is `unset: grant`. Customer and web ids are replaced by
    the same HMAC-SHA256 pseudonyms as in `governed.sessions` (customer_key, user_key, with
    the key's id in key_id), so the tables join; exact age becomes an age band (16-24 ... 65+);
    email, phone, country and city are dropped. Keeps persona, income band, household size,
    home store, first visit and the three ads consents (ads_storage, ad_user_data,
    ad_personalization) that decide whether a customer may be activated. A retailer's own
    customer file has no persona or demographics: those columns are NULL.
    """
    lake = platform.lake()
    policy = _customer_policy(platform)
    governed, counts = govern_customers(
        _raw_customers(lake),
        platform.pseudonymizer(context.log),
        load_suppression(lake),
        unset=policy.unset,
    )
    dropped = {k: counts[k] for k in CUSTOMER_DROP_REASONS}
    context.log.info(f"{counts['rows_in']} customers in, {counts['rows_kept']} kept, {dropped}")
    yield from publish_table(
        context,
        lake,
        GOVERNED_CUSTOMERS,
        governed,
        metadata={
            **_drop_metadata(counts, CUSTOMER_DROP_REASONS),
            "kept_without_signal": counts["kept_without_signal"],
            "unset_policy": policy.unset,
            **({"consent_basis": policy.basis} if policy.basis else {}),
        },
    )
    yield consent_check(context, GOVERNED_CUSTOMERS, "customers", {"all": counts}, policy)


#: Both worlds: the customers.
defs = dg.Definitions(assets=[governed_customers])
