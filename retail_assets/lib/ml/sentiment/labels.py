"""Labelled review text: the three classes, a rating's class and labelled files read as text, label.

A user's labelled file (CSV, TSV, Parquet or NDJSON, read as the retailer's files are) or the
simulated reviews become ``text, label`` rows to train on; a file that cannot be used raises
:class:`SentimentDataError` naming the file, the column and how many rows are wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retail_assets.lib.sources.errors import IngestError
from retail_assets.lib.sources.file_source import FileSource, file_format
from retail_assets.lib.sources.tabular import read_columns

CLASSES = ("negative", "neutral", "positive")
#: Fewest labelled rows :func:`train` accepts, and fewest per class (the split is stratified
#: and both sides need each class).
MIN_ROWS = 50
MIN_PER_CLASS = 5


class SentimentDataError(ValueError):
    """Labelled text that cannot be used as given; the message says what to fix."""


def rating_to_class(rating: pl.Expr | str = "rating") -> pl.Expr:
    """A 1-5 star rating as a class named ``label``: 1-2 negative, 3 neutral, 4-5 positive.

    Anything else (0, 6, 1.5, null) is null.
    """
    r = pl.col(rating) if isinstance(rating, str) else rating
    return (
        pl.when(r.is_in([1, 2]))
        .then(pl.lit("negative"))
        .when(r == 3)
        .then(pl.lit("neutral"))
        .when(r.is_in([4, 5]))
        .then(pl.lit("positive"))
        .alias("label")
    )


# ---------------------------------------------------------------------------- training data
@dataclass(frozen=True)
class LabeledSource:
    """A user's labelled review file: its text column and a label or a rating column."""

    path: str | Path
    text_column: str
    label_column: str | None = None
    rating_column: str | None = None

    def load(self) -> pl.DataFrame:
        """The file as ``text, label`` (see :func:`load_labeled`)."""
        return load_labeled(self.path, self.text_column, self.label_column, self.rating_column)


def load_labeled(
    path: str | Path,
    text_column: str,
    label_column: str | None = None,
    rating_column: str | None = None,
) -> pl.DataFrame:
    """A labelled CSV, TSV, Parquet or NDJSON file (optionally gzipped) as ``text, label``.

    The file is read as the retailer's files are
    (:func:`~retail_assets.lib.sources.tabular.read_columns`: the format from the name, ``.csv``,
    ``.tsv``/``.tab``/``.txt``, ``.parquet``/``.pq``, ``.ndjson``/``.jsonl``/``.json``; a header
    row; a TSV has no quoting). Exactly one of ``label_column`` (values
    ``negative``/``neutral``/``positive``, any case, surrounding spaces ignored) or
    ``rating_column`` (whole numbers 1-5) must be given. Raises
    :class:`SentimentDataError` for a missing file or column, empty text, or labels/ratings
    outside those values, naming the file, the column and the number of rows.
    """
    path = Path(path)
    if (label_column is None) == (rating_column is None):
        raise SentimentDataError(
            f"{path}: give exactly one of a label column (negative/neutral/positive) or a "
            f"rating column (1-5); got label_column={label_column!r}, "
            f"rating_column={rating_column!r}"
        )
    roles = {"text": text_column, "label": label_column, "rating": rating_column}
    raw = _read(path, {role: column for role, column in roles.items() if column is not None})
    if raw.height == 0:
        raise SentimentDataError(f"{path}: the file has no rows")
    text = raw["text"].cast(pl.Utf8, strict=False).str.strip_chars()
    _fail_if(path, text_column, text.is_null() | (text == ""), "have empty or missing text")
    if label_column is not None:
        label = raw["label"].cast(pl.Utf8, strict=False).str.strip_chars().str.to_lowercase()
        _fail_if(
            path,
            label_column,
            ~label.is_in(CLASSES).fill_null(False),
            f"have a label that is not one of {list(CLASSES)}",
            raw["label"],
        )
    else:
        rating = raw["rating"].cast(pl.Utf8, strict=False).str.strip_chars()
        rating = rating.cast(pl.Float64, strict=False)
        whole = rating.is_in([1.0, 2.0, 3.0, 4.0, 5.0]).fill_null(False)
        _fail_if(path, rating_column, ~whole, "have a rating that is not 1-5", raw["rating"])
        label = pl.select(rating_to_class(pl.lit(rating))).to_series()
    return pl.DataFrame({"text": text, "label": label})


def _read(path: Path, wanted: dict[str, str]) -> pl.DataFrame:
    """The ``wanted`` columns (role -> column) of the file, renamed to their roles."""
    if not path.exists():
        raise SentimentDataError(f"{path}: no such file")
    if not file_format(path, "auto")[0]:
        raise SentimentDataError(
            f"{path}: unsupported file type {path.suffix.lower()!r}; use .csv, .tsv, .parquet "
            "or .ndjson (optionally .gz)"
        )
    try:
        frame, _ = read_columns(path, FileSource(files=str(path)), wanted)
    except IngestError as exc:
        missing = [role for role, column in wanted.items() if column == exc.column]
        if missing and "missing" in str(exc):
            raise SentimentDataError(
                f"{path}: no {missing[0]} column {exc.column!r}: {exc}"
            ) from exc
        raise SentimentDataError(f"{path}: {exc}") from exc
    return frame


def _fail_if(
    path: Path, column: str, bad: pl.Series, what: str, values: pl.Series | None = None
) -> None:
    count = int(bad.sum())
    if count:
        examples = ""
        if values is not None:
            seen = values.filter(bad).cast(pl.Utf8, strict=False).unique(maintain_order=True)
            examples = f" (e.g. {seen.head(5).to_list()})"
        raise SentimentDataError(
            f"{path}: {count} of {bad.len()} rows in column {column!r} {what}{examples}"
        )


def training_data_from_signals(signals: pl.DataFrame) -> pl.DataFrame:
    """The reviews (``source == "review"``) as ``text, label``.

    The label is the rating's class; a review with no rating (a retailer's file labelled
    negative/neutral/positive or 0/1) takes the class of its ``sentiment`` (-1, 0 or 1).
    """
    missing = [c for c in ("source", "text", "rating") if c not in signals.columns]
    if missing:
        raise SentimentDataError(
            f"signals: missing column(s) {missing}; the frame has {signals.columns}"
        )
    if "sentiment" in signals.columns:
        s = pl.col("sentiment")
        from_label = (
            pl.when(s < 0)
            .then(pl.lit("negative"))
            .when(s > 0)
            .then(pl.lit("positive"))
            .when(s == 0)
            .then(pl.lit("neutral"))
        )
        label = (
            pl.when(pl.col("rating").is_not_null())
            .then(rating_to_class("rating"))
            .otherwise(from_label)
        )
    else:
        label = rating_to_class("rating")
    return (
        signals.filter(pl.col("source") == "review")
        .select("text", label.alias("label"))
        .filter(pl.col("label").is_not_null())
    )
