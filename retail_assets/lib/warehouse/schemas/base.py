"""Shared pieces of every table schema: value lists, patterns and the strict ``Lineage`` base.

Schemas are strict: a column that is not listed is an error, so nothing (PII in particular)
slips into a table by accident.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

HEX64 = r"^[0-9a-f]{64}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CONSENT = ["Yes", "No", "Unset"]
CHANNEL_GROUPS = [
    "Display",
    "CTV",
    "PPC",
    "Email",
    "Organic Search",
    "Social",
    "Direct",
    "Other",
]
APP_EVENTS = ["view", "add_to_cart", "purchase"]
PAID_CHANNELS = ["Display", "CTV", "PPC", "Email"]
SIGNAL_SOURCES = ["review", "search", "social"]
#: Age bands of governed.customers: exact age is a quasi-identifier, so it is not kept.
AGE_BANDS = ["16-24", "25-34", "35-44", "45-54", "55-64", "65+"]
UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]


class _Strict(pa.DataFrameModel):
    class Config:
        strict = True


class Lineage(_Strict):
    """Columns every table carries: the Dagster run that wrote the row, and when."""

    lineage_id: str = pa.Field(str_matches=UUID, description="Dagster run id that wrote the row.")
    processed_at: UtcTimestamp = pa.Field(description="When the row was written (UTC).")
