"""A retailer's reviews and search and social volumes as ``raw.signals`` rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from retail_assets.lib.sources import declarations as w
from retail_assets.lib.sources.retail_common import (
    _local_date,
    _nulls,
    _read_all,
    _timestamps,
    clean_id,
)
from retail_assets.lib.sources.tabular import Triage, number, text

_LABELS = {
    "negative": -1.0,
    "neg": -1.0,
    "0": -1.0,
    "-1": -1.0,
    "neutral": 0.0,
    "neu": 0.0,
    "positive": 1.0,
    "pos": 1.0,
    "1": 1.0,
}

SIGNAL_COLUMNS: dict[str, pl.DataType] = {
    "signal_id": pl.Utf8(),
    "signal_date": pl.Date(),
    "category": pl.Utf8(),
    "source": pl.Utf8(),
    "text": pl.Utf8(),
    "rating": pl.Int64(),
    "sentiment": pl.Float64(),
    "volume": pl.Int64(),
}


def read_reviews(
    files: list[Path], spec: w.Reviews, catalog_frame: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reviews as ``raw.signals`` rows (source ``review``), and the quarantine.

    The sentiment is the label's (negative/neutral/positive, 0/1 or -1/0/1) or the rating's
    ((rating - 3) / 2); a review with neither, an unreadable date, an empty text, or a product
    the catalog does not know (when the category comes from it) is invalid. When the file maps
    neither a rating nor a label column, the sentiment is the VADER lexicon's compound score
    (-1..1) and the rating is null.
    """
    cols = spec.columns
    wanted = {k: v for k, v in cols.model_dump().items() if v is not None}
    categories = (
        dict(catalog_frame.select("product_id", "category").iter_rows())
        if catalog_frame is not None
        else {}
    )

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        n = raw.height
        body = text(raw, "text")
        t.flag("text", body.is_null(), "have no text")
        ts = _timestamps(raw, "date", spec)
        t.flag(
            "date",
            ts.is_null(),
            f"are not dates in the format {spec.timestamp_format!r}",
            raw["date"],
        )
        rating = pl.Series([None] * n, dtype=pl.Int64)
        sentiment = pl.Series([None] * n, dtype=pl.Float64)
        if "rating" in raw.columns:
            r = number(raw, "rating")
            ok = (r == r.round()) & (r >= 1) & (r <= 5)
            t.flag(
                "rating",
                raw["rating"].is_not_null() & ~ok.fill_null(False),
                "are not ratings 1-5",
                raw["rating"],
            )
            rating = pl.select(pl.when(ok).then(r).cast(pl.Int64)).to_series()
            sentiment = ((rating.cast(pl.Float64) - 3) / 2).alias("sentiment")
        if "label" in raw.columns:
            label = text(raw, "label").str.to_lowercase()
            value = label.replace_strict(_LABELS, default=None, return_dtype=pl.Float64)
            t.flag(
                "label",
                label.is_not_null() & value.is_null(),
                "are not labels (negative/neutral/positive, 0/1)",
                raw["label"],
            )
            sentiment = pl.select(pl.coalesce(value, sentiment)).to_series()
        if "rating" in raw.columns or "label" in raw.columns:
            t.flag(
                "rating" if "rating" in raw.columns else "label",
                sentiment.is_null(),
                "have no rating or label",
            )
        else:
            # Reviews without ratings or labels: their sentiment is the lexicon's estimate
            # (VADER's compound score); ml/review_sentiment then scores them with the lexicon.
            # Imported here: the model libraries load only for a file that needs them.
            from retail_assets.lib.ml.sentiment import lexicon_compound

            sentiment = pl.Series(
                "sentiment", lexicon_compound(body.fill_null("").to_list()).round(4)
            )
        category = text(raw, "category") if "category" in raw.columns else _nulls(n)
        if "product" in raw.columns:
            product = clean_id(raw["product"])
            looked = product.replace_strict(categories, default=None, return_dtype=pl.Utf8)
            category = pl.select(pl.coalesce(category, looked)).to_series()
        t.flag(
            "product" if "product" in raw.columns else "category",
            category.is_null(),
            "have no category (the product is not in the catalog)",
        )
        return pl.DataFrame(
            {
                "signal_date": _local_date(ts, spec.timezone),
                "category": category,
                "source": ["review"] * n,
                "text": body,
                "rating": rating,
                "sentiment": sentiment,
                "volume": [1] * n,
            }
        )

    df, quarantine = _read_all("reviews", files, spec, wanted, parse)
    return _with_signal_ids(df, files), quarantine


def read_signals(files: list[Path], spec: w.Signals) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Search and social volumes as ``raw.signals`` rows, and the quarantine."""
    wanted = {k: v for k, v in spec.columns.model_dump().items() if v is not None}
    if "kind" not in wanted and spec.kind is None:
        raise ValueError("signals: map a kind column or declare kind: search|social")

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        n = raw.height
        ts = _timestamps(raw, "date", spec)
        t.flag(
            "date",
            ts.is_null(),
            f"are not dates in the format {spec.timestamp_format!r}",
            raw["date"],
        )
        category = text(raw, "category")
        t.flag("category", category.is_null(), "have no category")
        volume = number(raw, "volume")
        t.flag(
            "volume",
            volume.is_null() | (volume != volume.round()) | (volume < 1),
            "are not whole volumes >= 1",
            raw["volume"],
        )
        kind = (
            text(raw, "kind").str.to_lowercase()
            if "kind" in raw.columns
            else pl.Series([spec.kind] * n, dtype=pl.Utf8)
        )
        t.flag(
            "kind",
            ~kind.is_in(["search", "social"]).fill_null(False),
            "are not search or social",
            kind,
        )
        query = text(raw, "query").fill_null("") if "query" in raw.columns else pl.Series([""] * n)
        return pl.DataFrame(
            {
                "signal_date": _local_date(ts, spec.timezone),
                "category": category,
                "source": kind,
                "text": query,
                "rating": pl.Series([None] * n, dtype=pl.Int64),
                "sentiment": [0.0] * n,
                "volume": pl.select(
                    pl.when(volume >= 1).then(volume).cast(pl.Int64, strict=False)
                ).to_series(),
            }
        )

    df, quarantine = _read_all("signals", files, spec, wanted, parse)
    return _with_signal_ids(df, files), quarantine


def _with_signal_ids(df: pl.DataFrame, files: list[Path]) -> pl.DataFrame:
    if df.is_empty():
        return pl.DataFrame(schema=SIGNAL_COLUMNS)
    names = pl.Series([Path(f).name for f in files])
    key = pl.concat_str(
        pl.col("_file").replace_strict(list(range(len(files))), names, return_dtype=pl.Utf8),
        pl.lit(":"),
        pl.col("_row").cast(pl.Utf8),
    )
    ids = [hashlib.sha1(k.encode()).hexdigest()[:20] for k in df.select(key).to_series()]
    return df.with_columns(pl.Series("signal_id", ids)).select(list(SIGNAL_COLUMNS))
