"""Rotation of the pseudonymization key: the ``key_rotation`` job.

To rotate: set the new key (``RETAIL_PSEUDONYMIZATION_KEY`` or ``..._KEY_FILE``) and a new
``RETAIL_KEY_ID``, list the old one in ``RETAIL_PREVIOUS_KEYS`` (``old_id=KEY`` or
``old_id=file:PATH``), stop the daily runs, and run ``key_rotation``. It translates every
pseudonym stored under an old key to the new key (``retail_assets.lib.governance.rotation``), so old
partitions join new ones, and adds the new-key digests of erased people to the suppression
list. Run it with ``dry_run: true`` first to see the counts:

.. code-block:: yaml

    ops:
      rotate_pseudonymization_key:
        config:
          dry_run: true

Pseudonyms whose raw identifiers are no longer in the landing area (past raw retention, or
erased) cannot be translated: their rows keep the old ``key_id``, and the job logs how many
per table as warnings. Keep the old key in ``RETAIL_PREVIOUS_KEYS`` until those rows age out.
The job logs counts only, never a key, a pseudonym or a raw identifier. Running it again is
safe and changes nothing.
"""

import dagster as dg
from pydantic import Field

from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.governance.rotation import rotate


class RotationConfig(dg.Config):
    """How to run the rotation."""

    dry_run: bool = Field(default=False, description="Only count what would be translated.")


@dg.op(
    description="Translate every pseudonym stored under a previous key (RETAIL_PREVIOUS_KEYS) "
    "to the current key, so old partitions join new ones (counts only in the log).",
)
def rotate_pseudonymization_key(
    context: dg.OpExecutionContext, config: RotationConfig, platform: RetailPlatform
) -> None:
    """Rotate the lake to the current key and log the counts per table."""
    ring = platform.key_ring(context.log)
    if not ring.previous:
        context.log.warning(
            "RETAIL_PREVIOUS_KEYS lists no key: there is nothing to rotate from. Set the new "
            "key and RETAIL_KEY_ID, and list the old key there."
        )
    report = rotate(platform.lake(), ring, dry_run=config.dry_run)
    verb = "would translate" if config.dry_run else "translated"
    context.log.info(
        f"to key {report.key_id} from {report.previous_key_ids}: {report.raw_identifiers} raw "
        f"identifier(s) in the landing area; {verb} {report.rows_translated} row(s) in "
        f"{report.files_rewritten} file(s); {report.skipped_files} staged file(s) skipped; "
        f"catalog views {report.catalog_views}"
    )
    for name, table in sorted(report.tables.items()):
        if table.rows_translated:
            context.log.info(
                f"{name}: {verb} {table.rows_translated} row(s) in {table.files_rewritten} "
                f"of {table.files_scanned} file(s)"
            )
    incomplete = report.incomplete()
    for name, counts in incomplete.items():
        context.log.warning(
            f"{name}: {counts['untranslated_rows']} row(s) keep a previous key_id "
            f"({counts['untranslated_pseudonyms']} pseudonym(s) whose raw identifiers are "
            f"gone); {counts['unknown_pseudonyms']} pseudonym(s) match no key. They will not "
            "join rows under the new key."
        )
    context.add_output_metadata(
        {
            "key_id": report.key_id,
            "previous_key_ids": dg.MetadataValue.json(report.previous_key_ids),
            "dry_run": report.dry_run,
            "raw_identifiers": report.raw_identifiers,
            "rows_translated": report.rows_translated,
            "files_rewritten": report.files_rewritten,
            "untranslated_rows": report.untranslated_rows,
            "unknown_pseudonyms": report.unknown_pseudonyms,
            "incomplete_tables": dg.MetadataValue.json(incomplete),
            "tables": dg.MetadataValue.json(report.to_record()["tables"]),
        }
    )


@dg.job(
    name="key_rotation",
    description="Move every stored pseudonym from the keys in RETAIL_PREVIOUS_KEYS to the "
    "current pseudonymization key, so old partitions join new ones. Stop daily runs first.",
)
def key_rotation_job():
    """Rotate the pseudonymization key of the whole lake."""
    rotate_pseudonymization_key()


defs = dg.Definitions(jobs=[key_rotation_job])
