"""Sales history CSVs (``date,series_id,value`` or ``ds,unique_id,y``) into ``raw.sales_history``.

One value per series and period (a day, week or month), optionally with where each series
sits in the hierarchy (``category``, ``store_id``, ``product_id``); several files are one
history, and a series and day in two files is an error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from retail_assets.lib.sources.errors import IngestError, _fail, _fail_long_text, _read_csv

SALES_COLUMNS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "series_id": pl.Utf8(),
    "value": pl.Float64(),
}
_STATSFORECAST_HEADER = {"ds": "date", "unique_id": "series_id", "y": "value"}
#: Optional columns of a sales history: where each series sits in the hierarchy.
SALES_HIERARCHY_COLUMNS = ("category", "store_id", "product_id")


def read_sales_histories(files: list[Path]) -> pl.DataFrame:
    """Several sales history CSVs as one table (see :func:`read_sales_history`).

    A (series_id, date) pair in two files is an error naming the later file, not an
    overwrite.
    """
    tagged = pl.concat(
        [read_sales_history(f).with_columns(pl.lit(i).alias("_file")) for i, f in enumerate(files)],
        how="diagonal",
    )
    for column in SALES_HIERARCHY_COLUMNS:
        if column in tagged.columns and tagged[column].null_count():
            lacking = tagged.filter(pl.col(column).is_null())
            raise IngestError(
                files[int(lacking["_file"][0])],
                column,
                lacking.height,
                "is missing here but another file has it: every file of a sales history "
                "has the same hierarchy columns",
            )
    repeated = tagged.filter(pl.struct("series_id", "date").is_duplicated())
    if repeated.height:
        later = repeated.filter(pl.col("_file") == pl.col("_file").max())
        first = Path(files[int(repeated["_file"].min())]).name
        raise IngestError(
            files[int(later["_file"][0])],
            "series_id, date",
            later.height,
            f"repeat a series and day {first} already has",
            examples=[f"{r['series_id']} {r['date']}" for r in later.head(3).to_dicts()],
        )
    return tagged.drop("_file").sort("series_id", "date")


def read_sales_history(path: Path) -> pl.DataFrame:
    """A user's sales history CSV: one value per series and period (a day, week or month).

    The header is ``date,series_id,value`` or statsforecast's ``ds,unique_id,y``, optionally
    with where each series sits in the hierarchy: ``category``, ``store_id``, ``product_id``
    (other columns are ignored). Dates are ``YYYY-MM-DD`` (a midnight time, as statsforecast
    writes ``ds``, is accepted); a weekly or monthly history dates each period once.

    Returns:
        Columns ``date`` (Date), ``series_id`` (Utf8), ``value`` (Float64) and the hierarchy
        columns the file has, sorted by ``series_id`` then ``date``.

    Raises:
        IngestError: A column is missing; a value is NULL, not a date, not a finite number or
            negative; or a (series_id, date) pair appears more than once.

    """
    path = Path(path)
    df = _read_csv(path)
    if not set(SALES_COLUMNS) <= set(df.columns) and set(_STATSFORECAST_HEADER) <= set(df.columns):
        df = df.select(list(_STATSFORECAST_HEADER)).rename(_STATSFORECAST_HEADER)
    for column in SALES_COLUMNS:
        if column not in df.columns:
            raise IngestError(
                path,
                column,
                df.height,
                "is missing: the header must be date,series_id,value or ds,unique_id,y",
            )
    hierarchy = [c for c in SALES_HIERARCHY_COLUMNS if c in df.columns]
    df = df.select(*SALES_COLUMNS, *hierarchy)
    if df.is_empty():
        raise IngestError(path, "<file>", 0, "the file has a header but no rows")
    rows = pl.int_range(1, df.height + 1, eager=True)
    for column in SALES_COLUMNS:
        _fail(path, column, df[column].is_null(), "have no value", rows)
    text = pl.col("date").str.strip_chars()
    midnight = text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
    date = pl.coalesce(
        text.str.to_date("%Y-%m-%d", strict=False),
        pl.when(midnight.dt.time() == dt.time(0)).then(midnight.dt.date()),
    )
    value = pl.col("value").str.strip_chars().cast(pl.Float64, strict=False)
    out = df.select(
        date.alias("date"),
        pl.col("series_id"),
        value.alias("value"),
        *[pl.col(c).str.strip_chars() for c in hierarchy],
    )
    for column in hierarchy:
        _fail(path, column, out[column].is_null() | (out[column] == ""), "are empty", rows)
        # A series sits in one place of the hierarchy: one category, store and product.
        places = out.group_by("series_id").agg(pl.col(column).n_unique().alias("n"))
        split = out["series_id"].is_in(places.filter(pl.col("n") > 1)["series_id"].implode())
        _fail(path, column, split, f"give a series more than one {column}", rows, out["series_id"])
    _fail(path, "date", out["date"].is_null(), "are not dates (YYYY-MM-DD)", rows, df["date"])
    bad_value = out["value"].is_null() | ~out["value"].is_finite()
    _fail(path, "value", bad_value, "are not numbers", rows, df["value"])
    _fail(path, "value", out["value"] < 0, "are negative", rows, df["value"])
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    _fail(
        path,
        "date",
        out["date"] > tomorrow,
        f"are in the future (after {tomorrow}): a sales history holds days that happened",
        rows,
        df["date"],
    )
    _fail_long_text(path, out.select("series_id"), rows)
    duplicated = out.select(pl.struct("series_id", "date").is_duplicated()).to_series()
    _fail(
        path,
        "series_id, date",
        duplicated,
        "repeat a (series_id, date) pair",
        rows,
        out.select(pl.format("{} {}", "series_id", "date")).to_series(),
    )
    return out.sort("series_id", "date")
