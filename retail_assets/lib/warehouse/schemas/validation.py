"""Validating a frame against its table's schema, with failures summarized and PII masked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaError, SchemaErrors

from retail_assets.lib.warehouse.schemas.registry import SCHEMAS

_PII_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    # Not inside a decimal number (the digits after a point are not a phone number).
    re.compile(r"(?<![\d.])\+?\d[\d ()-]{7,}\d(?![\d.])"),
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),
]
#: Dates and timestamps, which the phone pattern would otherwise take for numbers: kept.
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def mask_pii(text: str) -> str:
    """Replace anything that looks like an email, a phone number or an IP with ``***``.

    Dates (``2025-03-01``, with a time or not) and decimal numbers are left as they are, so
    an error message can still show which day or value was wrong.
    """
    dates: list[str] = []

    def keep(match: re.Match) -> str:
        dates.append(match.group(0))
        return f"\x00{len(dates) - 1}\x00"

    text = _DATE.sub(keep, text)
    for pattern in _PII_PATTERNS:
        text = pattern.sub("***", text)
    return re.sub("\x00(\\d+)\x00", lambda m: dates[int(m.group(1))], text)


@dataclass
class ValidationReport:
    """Outcome of validating a frame: per (column, check) failure counts, PII masked."""

    table: str
    rows: int
    failures: list[dict] = field(default_factory=list)
    source: str = ""

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.failures

    @property
    def failed_columns(self) -> list[str]:
        """Columns named by at least one failure, in order of first appearance."""
        return list(dict.fromkeys(f["column"] for f in self.failures))

    def message(self) -> str:
        """One readable sentence per failure, naming the source, table, column and rows."""
        where = f" from {self.source}" if self.source else ""
        lines = [
            f"{self.table}{where}: {len(self.failures)} schema check(s) failed on {self.rows} rows"
        ]
        for f in self.failures:
            rows = f"{f['failed_rows']} of {self.rows} rows" if f["failed_rows"] else "structure"
            examples = f" (e.g. {f['examples']})" if f["examples"] else ""
            lines.append(f"  - column {f['column']!r}: {f['check']} failed ({rows}){examples}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The failures as a markdown table for the check's metadata."""
        head = "| column | check | failed rows | examples (masked) |\n|---|---|---|---|\n"
        body = "".join(
            f"| {f['column']} | {f['check']} | {f['failed_rows']} | {f['examples']} |\n"
            for f in self.failures
        )
        return head + body


def validate(
    table: str,
    df: pl.DataFrame,
    source: str = "",
    schema: pa.DataFrameSchema | None = None,
) -> ValidationReport:
    """Validate ``df`` against ``schema`` or the one registered for ``table``; never raises.

    SQL models pass the schema built from their header.
    """
    model = schema if schema is not None else SCHEMAS[table]
    report = ValidationReport(table=table, rows=df.height, source=source)
    try:
        model.validate(df, lazy=True)
    except SchemaErrors as exc:
        report.failures = _summarize(model, exc.failure_cases)
    except SchemaError as exc:  # raised for some structural problems even when lazy
        report.failures = [
            {
                "column": "<table>",
                "check": mask_pii(str(exc))[:200],
                "failed_rows": 0,
                "examples": "",
            }
        ]
    return report


def _summarize(
    model: type[pa.DataFrameModel] | pa.DataFrameSchema, cases: pl.DataFrame
) -> list[dict]:
    schema = model if isinstance(model, pa.DataFrameSchema) else model.to_schema()
    pii_columns = {name for name, col in schema.columns.items() if (col.metadata or {}).get("pii")}
    failures = []
    for (column, check), group in cases.group_by(["column", "check"], maintain_order=True):
        structural = group["index"].null_count() == group.height
        if structural and check in ("column_in_schema", "column_in_dataframe"):
            # pandera reports the table as the "column" and the column name as the case.
            for name in group["failure_case"].to_list():
                failures.append(
                    {
                        "column": name,
                        "check": "unexpected column"
                        if check == "column_in_schema"
                        else "missing column",
                        "failed_rows": 0,
                        "examples": "",
                    }
                )
            continue
        examples = ""
        if column not in pii_columns:
            values = group["failure_case"].cast(pl.Utf8).unique(maintain_order=True).head(3)
            examples = ", ".join(mask_pii(str(v))[:40] for v in values.to_list())
        failed_rows = 0 if structural else group["index"].n_unique()
        failures.append(
            {"column": column, "check": check, "failed_rows": failed_rows, "examples": examples}
        )
    return failures


# pandera registers its polars backends on the first validation, which imports hypothesis
# (about 0.25 s). Do it when this module is imported, with the definitions, instead of inside
# the first asset's run.
pa.DataFrameSchema({"warm_up": pa.Column(pl.Int64)}).validate(pl.DataFrame({"warm_up": [1]}))
