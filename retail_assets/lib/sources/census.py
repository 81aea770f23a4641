"""Read the U.S. Census Monthly Retail Trade (MRTS) sales workbook, or its long CSV form.

The workbook as published (``mrtssales92-present.xlsx``) has one sheet per year. Each sheet
has a header row of months (``Jan. 2021`` ... with ``(p)`` on preliminary months), then a NOT
ADJUSTED block and an ADJUSTED block of rows ``NAICS code | kind of business | values``, where
a value is millions of USD or a flag: ``(S)`` suppressed, ``(NA)`` not available. The result
is one long frame: ``month, naics_code, kind_of_business, adjustment (NSA/SA), sales_musd,
flag, preliminary``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl

COLUMNS = {
    "month": pl.Date,
    "naics_code": pl.Utf8,
    "kind_of_business": pl.Utf8,
    "adjustment": pl.Utf8,
    "sales_musd": pl.Float64,
    "flag": pl.Utf8,
    "preliminary": pl.Boolean,
}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_MONTH_HEADER = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\.?\s+(\d{4})\s*(\(p\))?\s*$")
_FLAGS = {"(S)", "(NA)", "(X)", "(D)"}


class CensusFormatError(ValueError):
    """The file is not an MRTS workbook or long CSV; the message names file, sheet and row."""


def read_mrts(path: Path) -> pl.DataFrame:
    """Read an MRTS workbook (``.xlsx``) or long CSV (``.csv``) into the long frame."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_workbook(path)
    if suffix == ".csv":
        return _read_long_csv(path)
    raise CensusFormatError(f"{path}: expected an .xlsx workbook or a .csv file")


def _read_long_csv(path: Path) -> pl.DataFrame:
    try:
        df = pl.read_csv(
            path,
            schema_overrides={"naics_code": pl.Utf8, "flag": pl.Utf8},
            infer_schema_length=100_000,
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CensusFormatError(f"{path}: cannot read as CSV: {exc}") from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise CensusFormatError(f"{path}: missing column(s) {missing} of {list(COLUMNS)}")
    try:
        return df.select(
            pl.col("month").str.to_date("%Y-%m-%d", strict=True),
            *[pl.col(c).cast(t, strict=True) for c, t in COLUMNS.items() if c != "month"],
        )
    except pl.exceptions.PolarsError as exc:
        raise CensusFormatError(f"{path}: wrong type in a column: {exc}") from exc


def _read_workbook(path: Path) -> pl.DataFrame:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise CensusFormatError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    years = [name for name in wb.sheetnames if re.fullmatch(r"\d{4}", name.strip())]
    if not years:
        raise CensusFormatError(f"{path}: no sheet named like a year (e.g. '2021')")
    frames = [_read_year_sheet(path, name, wb[name].iter_rows(values_only=True)) for name in years]
    wb.close()
    return pl.concat(frames).sort(
        "month", "adjustment", "naics_code", "kind_of_business", nulls_last=True
    )


def _read_year_sheet(path: Path, sheet: str, rows) -> pl.DataFrame:
    months: dict[int, tuple[dt.date, bool]] = {}
    adjustment = None
    records: dict[str, list] = {c: [] for c in COLUMNS}
    for row_no, row in enumerate(rows, start=1):
        cells = list(row)
        if not months:
            found = {i: _MONTH_HEADER.match(str(c)) for i, c in enumerate(cells) if c}
            found = {i: m for i, m in found.items() if m and m.group(1).lower() in _MONTHS}
            if found:
                months = {
                    i: (dt.date(int(m.group(2)), _MONTHS[m.group(1).lower()], 1), bool(m.group(3)))
                    for i, m in found.items()
                }
            continue
        code = cells[0] if cells else None
        label = cells[1] if len(cells) > 1 else None
        if isinstance(code, str) and code.startswith("("):
            break  # footnotes
        if isinstance(label, str) and label.strip().upper().startswith("NOT ADJUSTED"):
            adjustment = "NSA"
            continue
        if isinstance(label, str) and label.strip().upper().startswith("ADJUSTED"):
            adjustment = "SA"
            continue
        if not label or not isinstance(label, str) or adjustment is None:
            continue
        naics = None if code in (None, "") else str(code).strip()
        for i, (month, preliminary) in months.items():
            value = cells[i] if i < len(cells) else None
            if value in (None, ""):
                continue  # a month not published yet
            flag = None
            if isinstance(value, str):
                if value.strip() not in _FLAGS:
                    raise CensusFormatError(
                        f"{path}, sheet {sheet!r}, row {row_no}: unexpected value {value!r} "
                        f"for {month:%b %Y} (expected a number or one of {sorted(_FLAGS)})"
                    )
                flag, value = value.strip(), None
            records["month"].append(month)
            records["naics_code"].append(naics)
            records["kind_of_business"].append(label.strip())
            records["adjustment"].append(adjustment)
            records["sales_musd"].append(None if value is None else float(value))
            records["flag"].append(flag)
            records["preliminary"].append(preliminary)
    if not months:
        raise CensusFormatError(
            f"{path}, sheet {sheet!r}: no header row of months (like 'Jan. 2021') found"
        )
    if not records["month"]:
        raise CensusFormatError(
            f"{path}, sheet {sheet!r}: no NOT ADJUSTED or ADJUSTED block with values found"
        )
    return pl.DataFrame(records, schema=COLUMNS)


def monthly_factors(sales: pl.DataFrame, naics_code: str) -> list[float]:
    """Twelve seasonal factors (mean 1) for one NAICS code, January first.

    For every month with both a not-adjusted and a seasonally adjusted figure, the ratio
    NSA / SA is that month's seasonal effect; the factor is the mean ratio per calendar month,
    rescaled so the twelve average to 1. These are the figures ``simulation.yaml`` embeds.
    """
    wide = (
        sales.filter((pl.col("naics_code") == naics_code) & pl.col("sales_musd").is_not_null())
        .pivot(on="adjustment", index="month", values="sales_musd")
        .drop_nulls(["NSA", "SA"])
    )
    if wide.is_empty():
        raise ValueError(f"no months with both NSA and SA sales for NAICS {naics_code}")
    ratios = (
        wide.group_by(pl.col("month").dt.month().alias("m"))
        .agg((pl.col("NSA") / pl.col("SA")).mean().alias("r"))
        .sort("m")
    )
    if ratios.height != 12:
        raise ValueError(f"NAICS {naics_code} does not cover all twelve calendar months")
    r = ratios["r"]
    return [round(v, 3) for v in (r / r.mean()).to_list()]
