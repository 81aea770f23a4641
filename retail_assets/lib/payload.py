"""The DSP plan payload: a canonical body, its SHA-256, and the lineage envelope around it.

The body holds only what determines the plan (advertiser, flight, budgets, line items,
creatives); the envelope adds volatile facts (run id, time). The hash is taken over the RFC 8785
canonical JSON of the body, so identical inputs and code give an identical hash.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import rfc8785

SCHEMA_VERSION = "dsp-plan/0.1"
_PLAN_NAMESPACE = uuid.UUID("6f1c2b8e-3d4a-4e5f-9a0b-1c2d3e4f5a6b")


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) canonical JSON of ``body``."""
    return rfc8785.dumps(body)


def body_sha256(body: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical body."""
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def plan_id(advertiser_id: str, plan_date: str) -> str:
    """A stable plan id for (advertiser, date): a rerun of the same day is the same plan."""
    return str(uuid.uuid5(_PLAN_NAMESPACE, f"{advertiser_id}/{plan_date}"))


def build_payload(body: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    """Wrap ``body`` in the envelope with its hash and the lineage block."""
    digest = body_sha256(body)
    return {
        "schema_version": SCHEMA_VERSION,
        "body": body,
        "lineage": {**lineage, "body_sha256": digest},
    }


def verify_payload(payload: dict[str, Any]) -> bool:
    """True when the body still hashes to the recorded ``body_sha256``."""
    return body_sha256(payload["body"]) == payload.get("lineage", {}).get("body_sha256")


def dumps(payload: dict[str, Any]) -> bytes:
    """Pretty JSON for the file on disk (the hash never depends on this formatting)."""
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"
