"""The U.S. Census Monthly Retail Trade series, from the workbook or CSV a user drops in."""

from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.sources.census import CensusFormatError, read_mrts
from retail_assets.lib.sources.errors import non_utf8_lines

CENSUS = dg.AssetKey(["raw", "census_retail_sales"])
INBOX = Path("inbox") / "census"


def census_files(platform: RetailPlatform) -> list[Path]:
    """Workbooks and CSVs in the census inbox, newest last."""
    folder = platform.lake().landing_root / INBOX
    files = [p for p in folder.glob("*") if p.suffix.lower() in (".xlsx", ".csv")]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


@dg.asset(
    key=CENSUS,
    group_name="sources",
    kinds={"python", "polars", "parquet"},
    owners=["team:data-platform"],
    check_specs=[schema_check_spec(CENSUS)],
    code_version="1",
)
def census_retail_sales(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """U.S. retail sales by month and kind of business (Census Monthly Retail Trade).

    Not and seasonally adjusted, millions of USD, with the Census flags for suppressed or
    unavailable figures and preliminary months. Read from the newest `mrtssales92-present.xlsx`
    workbook (as published) or its long CSV in `<landing>/inbox/census/`; each new publication
    replaces the table whole, since the Census revises past months. Market context for the
    forecasts (NAICS 443 is electronics and appliance stores).
    """
    files = census_files(platform)
    if not files:
        raise dg.Failure(
            description=f"no .xlsx or .csv file in {platform.lake().landing_root / INBOX}: "
            "put the Census MRTS workbook (mrtssales92-present.xlsx) or its long CSV there",
            allow_retries=False,
        )
    path = files[-1]
    try:
        df = read_mrts(path)
    except CensusFormatError as exc:
        raise _bad_file(path, exc) from None
    months = df["month"]
    context.log.info(f"read {df.height} figures for {months.min()}..{months.max()} from {path}")
    yield from publish_table(
        context,
        platform.lake(),
        CENSUS,
        df,
        source=str(path),
        metadata={
            "first_month": str(months.min()),
            "last_month": str(months.max()),
            "kinds_of_business": df["kind_of_business"].n_unique(),
            "flagged_figures": df.filter(pl.col("flag").is_not_null()).height,
        },
    )


def _bad_file(path: Path, exc: CensusFormatError) -> dg.Failure:
    """The reader's error as a Failure that names the file and its rows and is not retried.

    Bad input does not get better by retrying, so a retry policy must not rerun it. A CSV's
    error gains the number of data rows in the file and, for bytes that are not UTF-8, the
    lines that hold them; the workbook's already names the sheet and row.
    """
    message = str(exc).strip().splitlines()[0]
    metadata: dict[str, dg.RawMetadataValue] = {"file": str(path)}
    if path.suffix.lower() == ".csv":
        raw = path.read_bytes()
        rows = max(len([line for line in raw.split(b"\n") if line.strip()]) - 1, 0)
        bad, total = non_utf8_lines(raw)
        if bad:
            shown = ", ".join(map(str, bad[:3]))
            message = (
                f"{path}: {len(bad)} of {total} lines are not UTF-8 text: line {shown} "
                "(save the file as UTF-8)"
            )
            metadata["non_utf8_lines"] = len(bad)
        message += f"; the file has {rows} data rows"
        metadata["rows"] = rows
    return dg.Failure(
        description=f"{message}. Nothing was loaded: raw.census_retail_sales is unchanged.",
        metadata=metadata,
        allow_retries=False,
    )


census_job = dg.define_asset_job(
    "census_ingest",
    selection=dg.AssetSelection.assets(CENSUS),
    description="Load the newest Census MRTS file from the landing inbox.",
)


defs = dg.Definitions(assets=[census_retail_sales], jobs=[census_job])
