"""TTL on raw data: landing partitions older than the retention period are deleted.

No Dagster here: ``retail_assets.defs.governance.erasure`` wraps it in the ``raw_retention``
job. :func:`expire_raw_partitions` never touches the lake.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from dataclasses import dataclass

from retail_assets.lib.governance.erasure import _DATE_DIR
from retail_assets.lib.warehouse.lake import SCHEMAS, Lake


@dataclass(frozen=True)
class ExpiredPartition:
    """A landing partition deleted by the retention job."""

    table: str
    partition: str
    files: int
    bytes: int


def expire_raw_partitions(
    lake: Lake, retention_days: int, today: dt.date | None = None, dry_run: bool = False
) -> list[ExpiredPartition]:
    """Delete landing partitions (``<landing>/<schema>/<table>/date=D``) older than the TTL.

    A partition goes when ``D < today - retention_days``. Only the landing schemas
    (:data:`retail_assets.lib.warehouse.lake.SCHEMAS`) are looked at: unpartitioned landing tables
    (``raw/customers``), the inbox and the lake are never touched. Each partition folder is
    first renamed to a hidden name, so a reader sees it whole or not at all.

    Raises:
        ValueError: ``retention_days`` is below 1, or the landing area and the lake overlap
            (deleting would reach lake data).

    """
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days}")
    landing, lake_root = lake.landing_root.resolve(), lake.lake_root.resolve()
    if landing == lake_root or landing in lake_root.parents or lake_root in landing.parents:
        raise ValueError(
            f"the landing area {landing} and the lake {lake_root} overlap: refusing to delete"
        )
    cutoff = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=retention_days)
    expired: list[ExpiredPartition] = []
    if not landing.exists():
        return expired
    if not dry_run:  # left by a run that stopped between the rename and the delete
        for leftover in landing.glob("*/*/.expired-date=*"):
            shutil.rmtree(leftover, ignore_errors=True)
    for partition in sorted(landing.glob("*/*/date=*")):
        match = _DATE_DIR.match(partition.name)
        schema = partition.parent.parent.name
        if not partition.is_dir() or not match or schema not in SCHEMAS:
            continue
        try:
            day = dt.date.fromisoformat(match.group(1))
        except ValueError:
            continue
        if day >= cutoff:
            continue
        files = [p for p in partition.rglob("*") if p.is_file()]
        table = ".".join(partition.relative_to(landing).parts[:2])
        expired.append(
            ExpiredPartition(
                table, day.isoformat(), len(files), sum(f.stat().st_size for f in files)
            )
        )
        if not dry_run:
            doomed = partition.with_name(f".expired-{partition.name}-{uuid.uuid4().hex}")
            os.replace(partition, doomed)
            shutil.rmtree(doomed)
    return expired
