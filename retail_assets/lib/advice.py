"""What to do about a failed run, from the text of its errors.

Every error the platform raises on purpose already names the file, column or setting at
fault; this turns the common ones into the next step to take, for the run's
``retail/what_to_do`` tag (see ``defs/failures.py``).
"""

from __future__ import annotations

import re

#: (pattern in the error text, advice), first match wins.
RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), advice)
    for pattern, advice in (
        (
            r"no space left",
            "Free disk space (or point RETAIL_DATA_DIR at a larger disk), then re-execute the "
            "run. The partitions already in the lake are unchanged.",
        ),
        (
            r"not writable|read-only file system|permission denied",
            "Make the data folder writable (or set RETAIL_DATA_DIR to a writable folder), "
            "then re-execute the run. Nothing was changed.",
        ),
        (
            r"corrupted parquet file",
            "Re-materialize the partition named in the error; it rewrites the damaged file. "
            "Then run the lake_integrity job to scrub the rest of the lake.",
        ),
        (
            r"pandera|failed the schema|column '",
            "Fix the input named in the error (file, column, rows) or the code that produced "
            "it, then re-execute. Nothing was written: the warehouse is unchanged.",
        ),
        (
            r"no data yet for",
            "Materialize the upstream assets named in the error first (for a new warehouse: "
            "the reference_data job, then the day's partition), then re-execute.",
        ),
        (
            r"RETAIL_[A-Z_]+",
            "A setting is missing or malformed: fix the environment variable named in the "
            "error and restart `retail-assets ui` (or re-run the command).",
        ),
        (
            r"delivery of the .* plan failed",
            "The ad platform did not take the plan after retries. Check RETAIL_DSP_SINK and "
            "the platform's status, then re-execute dsp_delivery: the idempotency key makes a "
            "second delivery of the same plan a no-op.",
        ),
        (
            r"run worker|process .* (exited|died|unexpectedly)|start timeout|sigkill|killed",
            "The run's process died (laptop asleep, killed, out of memory). Dagster retries it "
            "once; if that failed too, re-execute it. Partitions are written whole, so a "
            "re-run never duplicates rows.",
        ),
    )
)
DEFAULT = (
    "Read the failed step's error (it names what is wrong), fix it, then re-execute the run "
    "from failure. Partitions are replaced whole, so re-running is always safe."
)


def what_to_do(errors: list[str]) -> str:
    """The advice for the first error text that matches a rule (or the default)."""
    for pattern, advice in RULES:
        if any(pattern.search(text) for text in errors):
            return advice
    return DEFAULT
