"""The data versions a run consumed, and the record `retail-assets verify` checks a payload with."""

import dagster as dg

from retail_assets.lib.activation.provenance import RunRecord

INPUT_POINTER = "dagster/input_event_pointer/"


def _data_version(record) -> str | None:
    return (record.asset_materialization.tags or {}).get("dagster/data_version")


def latest_data_versions(
    instance: dg.DagsterInstance, keys: list[dg.AssetKey], partition: str | None
) -> dict[str, str | None]:
    """The data version of each key's latest materialization (of ``partition`` if it has one).

    Run inside an asset, these are the inputs the run consumes: Dagster records the same
    materializations as the run's input event pointers, which :func:`run_record` follows.
    """
    versions: dict[str, str | None] = {}
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records
        if not records:  # an unpartitioned input
            records = instance.fetch_materializations(key, limit=1).records
        versions[key.to_user_string()] = _data_version(records[0]) if records else None
    return versions


def run_record(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, run_id: str, partition: str | None
) -> RunRecord | None:
    """What ``instance`` recorded for ``asset_key`` materialized by ``run_id``, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition])
        if partition
        else asset_key,
        limit=1000,
    ).records
    mine = [r for r in records if r.run_id == run_id]
    if not mine:
        return None
    rec = mine[0]
    tags = rec.asset_materialization.tags or {}
    inputs: dict[str, str | None] = {}
    for tag, pointer in tags.items():
        if not tag.startswith(INPUT_POINTER):
            continue
        key = dg.AssetKey.from_user_string(tag[len(INPUT_POINTER) :])
        consumed = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=[int(pointer)]), limit=1
        ).records
        inputs[key.to_user_string()] = _data_version(consumed[0]) if consumed else None
    return RunRecord(
        run_id=run_id,
        partition=rec.partition_key,
        data_version=tags.get("dagster/data_version"),
        code_version=tags.get("dagster/code_version"),
        input_data_versions=inputs,
    )
