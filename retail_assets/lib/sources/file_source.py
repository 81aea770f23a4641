"""One declared source's files: where they are and how to read them (FileSource), and their format.

:class:`FileSource` is the part of every ``sources.yaml`` declaration
(:mod:`retail_assets.lib.sources.declarations`) the file readers take: the glob, the format,
the header, the time zone and timestamp format, and the invalid-rows policy.
:func:`check_timestamp_format` and :func:`check_timezone` validate those fields here and in
``events_mapping.yaml`` (:mod:`retail_assets.lib.sources.events_mapping`).
"""

from __future__ import annotations

import glob
import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FORMATS = ("csv", "tsv", "parquet", "ndjson")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timestamp_format(v: str) -> str:
    """``v`` if it is a timestamp format the readers know, else a ValueError saying which."""
    if v in ("epoch_s", "epoch_ms", "epoch_us", "iso") or "%" in v:
        return v
    raise ValueError("must be epoch_s, epoch_ms, epoch_us, iso or a strftime pattern")


def check_timezone(v: str) -> str:
    """``v`` if it is an IANA time zone, else a ValueError naming it."""
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {v!r}") from exc
    return v


class FileSource(_Strict):
    """Files of one source and how to read them."""

    files: str = Field(min_length=1, description="Glob under <landing>/inbox/, or absolute.")
    format: Literal["auto", "csv", "tsv", "parquet", "ndjson"] = "auto"
    header: bool = True
    timezone: str = "UTC"
    timestamp_format: str = "iso"
    invalid_rows: Literal["error", "quarantine"] = "quarantine"
    max_invalid_share: float = Field(default=0.01, ge=0, le=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, v: str) -> str:
        return check_timestamp_format(v)

    def paths(self, inbox: Path) -> list[Path]:
        """The files the glob matches now, sorted (absolute globs are used as they are)."""
        pattern = self.files if Path(self.files).is_absolute() else str(Path(inbox) / self.files)
        return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


def file_format(path: Path, declared: str) -> tuple[str, bool]:
    """``(format, gzipped)`` of ``path``: the declared format, or the one its name says."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    stem = name.removesuffix(".gz")
    if declared != "auto":
        return declared, gz
    for suffixes, fmt in (
        ((".csv",), "csv"),
        ((".tsv", ".tab", ".txt"), "tsv"),
        ((".parquet", ".pq"), "parquet"),
        ((".ndjson", ".jsonl", ".json"), "ndjson"),
    ):
        if stem.endswith(suffixes):
            return fmt, gz
    return "", gz
