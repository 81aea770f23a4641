"""Review sentiment: a TF-IDF + logistic regression classifier and a gazetteer of entities.

Three classes, ``negative``, ``neutral`` and ``positive`` (:data:`CLASSES`). A star rating maps
to them as 1-2, 3 and 4-5 (:func:`rating_to_class`).

- **Training data** is the simulated reviews by default (:func:`training_data_from_signals`:
  review rows with a rating, labelled from it) or a user's own labelled CSV or Parquet file
  (:class:`LabeledSource`, :func:`load_labeled`): a text column and either a label column
  (one of the three classes, any case) or a 1-5 rating column. A file that cannot be used
  raises :class:`SentimentDataError` naming the file, the column and how many rows are wrong.
- **Model** (:func:`train`): scikit-learn ``Pipeline`` of ``TfidfVectorizer`` (word 1-2 grams,
  so negations like "not bad" are features; sublinear term frequency; ``min_df=2``) and a
  multinomial ``LogisticRegression`` with balanced class weights (reviews are mostly positive,
  and the score that matters is macro-F1). It is fitted on a stratified training split and
  measured on the held-out rest: accuracy, macro-F1, per-class precision/recall/F1 and the
  confusion matrix. The returned pipeline is the one those figures describe.
- **Scoring** (:func:`score`): the class and the three class probabilities per text.
- **Entities** (:class:`Gazetteer`): products, brands and stores named in a text, found by
  whole-word, case-insensitive matching against the catalog (a brand is the first word of a
  product name; a product mention counts for its brand too), so sentiment can be aggregated
  per entity (:func:`sentiment_by_entity`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from retail_assets.lib.plots import plt

CLASSES = ("negative", "neutral", "positive")
#: Fewest labelled rows :func:`train` accepts, and fewest per class (the split is stratified
#: and both sides need each class).
MIN_ROWS = 50
MIN_PER_CLASS = 5
ENTITY_TYPES = ("product", "brand", "store")


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
    """A labelled CSV or Parquet file as a ``text, label`` frame.

    Exactly one of ``label_column`` (values ``negative``/``neutral``/``positive``, any case,
    surrounding spaces ignored) or ``rating_column`` (whole numbers 1-5) must be given. Raises
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
    raw = _read(path)
    for role, column in (("text", text_column), ("label", label_column), ("rating", rating_column)):
        if column is not None and column not in raw.columns:
            raise SentimentDataError(
                f"{path}: no {role} column {column!r}; the file has columns {raw.columns}"
            )
    if raw.height == 0:
        raise SentimentDataError(f"{path}: the file has no rows")
    text = raw[text_column].cast(pl.Utf8, strict=False).str.strip_chars()
    _fail_if(path, text_column, text.is_null() | (text == ""), "have empty or missing text")
    if label_column is not None:
        label = raw[label_column].cast(pl.Utf8, strict=False).str.strip_chars().str.to_lowercase()
        _fail_if(
            path,
            label_column,
            ~label.is_in(CLASSES).fill_null(False),
            f"have a label that is not one of {list(CLASSES)}",
            raw[label_column],
        )
    else:
        rating = raw[rating_column].cast(pl.Float64, strict=False)
        whole = rating.is_in([1.0, 2.0, 3.0, 4.0, 5.0]).fill_null(False)
        _fail_if(path, rating_column, ~whole, "have a rating that is not 1-5", raw[rating_column])
        label = pl.select(rating_to_class(pl.lit(rating))).to_series()
    return pl.DataFrame({"text": text, "label": label})


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise SentimentDataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.read_csv(path, infer_schema_length=10_000)
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    raise SentimentDataError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


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


# ---------------------------------------------------------------------------- model
@dataclass(frozen=True)
class SentimentModel:
    """A fitted pipeline and how it did on the held-out split.

    ``per_class`` has ``class, precision, recall, f1, support``; ``confusion`` is a 3 x 3 count
    matrix with true classes in rows and predicted classes in columns, both in
    :data:`CLASSES` order.
    """

    pipeline: Pipeline
    accuracy: float
    macro_f1: float
    per_class: pl.DataFrame
    confusion: np.ndarray
    train_rows: int
    test_rows: int
    test: pl.DataFrame  # the held-out ``text, label`` rows, to score another model on

    def metrics(self) -> dict[str, float | int]:
        """Flat numbers for metadata: accuracy, macro-F1, per-class F1 and the split sizes."""
        out: dict[str, float | int] = {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
        }
        for row in self.per_class.iter_rows(named=True):
            out[f"f1_{row['class']}"] = round(row["f1"], 4)
        return out | {"train_rows": self.train_rows, "test_rows": self.test_rows}


def make_pipeline(seed: int = 0, c: float = 1.0) -> Pipeline:
    """The unfitted TF-IDF + logistic regression pipeline :func:`train` fits."""
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
            (
                "logreg",
                LogisticRegression(C=c, class_weight="balanced", max_iter=2_000, random_state=seed),
            ),
        ]
    )


def train(
    frame: pl.DataFrame, seed: int = 0, test_size: float = 0.2, c: float = 1.0
) -> SentimentModel:
    """Fit on a stratified split of ``text, label`` rows and measure on the held-out part."""
    _check_training_frame(frame, test_size)
    text = frame["text"].to_list()
    label = frame["label"].to_list()
    x_train, x_test, y_train, y_test = train_test_split(
        text, label, test_size=test_size, stratify=label, random_state=seed
    )
    pipeline = make_pipeline(seed, c).fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_test, predicted, labels=list(CLASSES), zero_division=0
    )
    learned = [c for c in CLASSES if c in set(label)]
    return SentimentModel(
        pipeline=pipeline,
        accuracy=float(accuracy_score(y_test, predicted)),
        # Over the classes the labels have: a positive/negative file is not scored on neutral.
        macro_f1=float(
            f1_score(y_test, predicted, labels=learned, average="macro", zero_division=0)
        ),
        per_class=pl.DataFrame(
            {
                "class": list(CLASSES),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": support.astype(np.int64),
            }
        ),
        confusion=confusion_matrix(y_test, predicted, labels=list(CLASSES)),
        train_rows=len(x_train),
        test_rows=len(x_test),
        test=pl.DataFrame(
            {"text": x_test, "label": y_test}, schema={"text": pl.Utf8, "label": pl.Utf8}
        ),
    )


def evaluate(pipeline: Pipeline, frame: pl.DataFrame) -> dict[str, float]:
    """Accuracy and macro-F1 of a fitted pipeline on ``text, label`` rows (e.g. a holdout)."""
    predicted = pipeline.predict(frame["text"].to_list())
    truth = frame["label"].to_list()
    learned = [c for c in CLASSES if c in set(pipeline.classes_)]
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(
            f1_score(truth, predicted, labels=learned, average="macro", zero_division=0)
        ),
    }


def _check_training_frame(frame: pl.DataFrame, test_size: float) -> None:
    missing = [c for c in ("text", "label") if c not in frame.columns]
    if missing:
        raise SentimentDataError(
            f"training data: missing column(s) {missing}; the frame has {frame.columns}"
        )
    if not 0 < test_size < 1:
        raise SentimentDataError(f"test_size must be between 0 and 1, got {test_size}")
    unknown = frame.filter(~pl.col("label").is_in(CLASSES).fill_null(False)).height
    if unknown:
        raise SentimentDataError(
            f"training data: {unknown} rows have a label that is not one of {list(CLASSES)}"
        )
    if frame.height < MIN_ROWS:
        raise SentimentDataError(
            f"training data: {frame.height} rows; at least {MIN_ROWS} labelled rows are needed"
        )
    counts = dict(frame["label"].value_counts().iter_rows())
    # A file labelled positive/negative only (0/1, as many public sets are) has no neutral
    # class at all: the model then learns two. A few neutral rows are too few to learn.
    short = {
        c: counts.get(c, 0)
        for c in CLASSES
        if counts.get(c, 0) < MIN_PER_CLASS and not (c == "neutral" and c not in counts)
    }
    if short:
        raise SentimentDataError(
            f"training data: too few rows of class(es) {short} (of {frame.height}); each of "
            f"{list(CLASSES)} needs at least {MIN_PER_CLASS} (neutral may be absent)"
        )


def score(pipeline: Pipeline, texts: Sequence[str] | pl.Series) -> pl.DataFrame:
    """Class and probabilities per text, in the order given.

    Columns ``label``, ``p_negative, p_neutral, p_positive`` (summing to 1) and ``score`` =
    p_positive - p_negative.
    """
    texts = list(texts)
    learned = list(pipeline.classes_)
    probabilities = pipeline.predict_proba(texts) if texts else np.zeros((0, len(learned)))
    # A class the model did not learn (neutral, for a positive/negative file) has p = 0.
    p = np.zeros((len(texts), len(CLASSES)))
    for i, c in enumerate(CLASSES):
        if c in learned:
            p[:, i] = probabilities[:, learned.index(c)]
    return pl.DataFrame(
        {
            "label": pl.Series([CLASSES[i] for i in p.argmax(axis=1)], dtype=pl.Utf8),
            "p_negative": p[:, 0],
            "p_neutral": p[:, 1],
            "p_positive": p[:, 2],
            "score": p[:, 2] - p[:, 0],
        }
    )


def confusion_matrix_figure(model: SentimentModel, title: str = "Held-out confusion matrix"):
    """The held-out confusion matrix as a matplotlib figure (counts, true classes in rows)."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay(model.confusion, display_labels=list(CLASSES)).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d"
    )
    ax.set_title(f"{title}\naccuracy {model.accuracy:.3f}, macro-F1 {model.macro_f1:.3f}")
    return fig


# ---------------------------------------------------------------------------- entities
@dataclass(frozen=True)
class Gazetteer:
    """Named products, brands and stores, and the compiled patterns that find them in text.

    ``names`` maps each entity type to {lower-case name with single spaces: entity}; the
    entity is the product id, the brand as the catalog spells it, or the store id.
    """

    names: dict[str, dict[str, str]]
    product_brand: dict[str, str]  # product id -> brand
    patterns: dict[str, re.Pattern[str]]

    @classmethod
    def build(cls, catalog: pl.DataFrame, stores: Iterable[str] = ()) -> Gazetteer:
        """From the product catalog (``product_id, product_name``) and store ids.

        A product's brand is the first word of its name.
        """
        missing = [c for c in ("product_id", "product_name") if c not in catalog.columns]
        if missing:
            raise SentimentDataError(
                f"product catalog: missing column(s) {missing}; the frame has {catalog.columns}"
            )
        rows = catalog.select("product_id", "product_name").drop_nulls().iter_rows()
        products, product_brand, brands = {}, {}, {}
        for product_id, name in rows:
            words = name.split()
            if not words:
                continue
            products[_key(name)] = product_id
            product_brand[product_id] = words[0]
            brands[_key(words[0])] = words[0]
        store_names = {_key(s): s for s in stores if s and s.strip()}
        names = dict(zip(ENTITY_TYPES, (products, brands, store_names), strict=True))
        return cls(
            names=names,
            product_brand=product_brand,
            patterns={kind: _pattern(keys) for kind, keys in names.items() if keys},
        )

    def tag(self, texts: Sequence[str] | pl.Series) -> pl.DataFrame:
        """One row per text index, entity type and entity found in it (each once).

        Matching is case-insensitive on whole words: a name must not be preceded or followed
        by a letter, digit or underscore, so ``Contoso`` does not match ``Contosos`` and
        product ``... 1`` does not match ``... 12``.
        """
        found: list[tuple[int, str, str]] = []
        for i, text in enumerate(texts):
            if not text:
                continue
            seen = set()
            for kind, pattern in self.patterns.items():
                for match in pattern.finditer(text):
                    entity = self.names[kind][_key(match.group())]
                    seen.add((kind, entity))
                    if kind == "product":
                        seen.add(("brand", self.product_brand[entity]))
            found.extend((i, kind, entity) for kind, entity in sorted(seen))
        return pl.DataFrame(
            found,
            schema={"text_index": pl.Int64, "entity_type": pl.Utf8, "entity": pl.Utf8},
            orient="row",
        )


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _pattern(keys: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so a name wins over a shorter name it starts with; each word escaped and
    # any run of spaces between words accepted.
    alternatives = (
        r"\s+".join(re.escape(w) for w in key.split())
        for key in sorted(keys, key=len, reverse=True)
    )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def sentiment_by_entity(scored: pl.DataFrame, tags: pl.DataFrame) -> pl.DataFrame:
    """Sentiment per ``entity_type, entity``, most mentioned first.

    Columns ``mentions``, ``mean_score`` (mean of p_positive - p_negative), ``share_positive``
    and ``share_negative`` (shares of mentions classed so).

    ``scored`` is :func:`score` output, one row per text in the order :meth:`Gazetteer.tag`
    saw them (or with a ``text_index`` column); ``tags`` is :meth:`Gazetteer.tag` output.
    """
    if "text_index" not in scored.columns:
        scored = scored.with_row_index("text_index").with_columns(
            pl.col("text_index").cast(pl.Int64)
        )
    missing = [c for c in ("text_index", "label", "score") if c not in scored.columns]
    if missing:
        raise SentimentDataError(f"scored texts: missing column(s) {missing}")
    return (
        tags.join(scored.select("text_index", "label", "score"), on="text_index", how="inner")
        .group_by("entity_type", "entity")
        .agg(
            pl.len().alias("mentions"),
            pl.col("score").mean().alias("mean_score"),
            (pl.col("label") == "positive").mean().alias("share_positive"),
            (pl.col("label") == "negative").mean().alias("share_negative"),
        )
        .with_columns(pl.col("mentions").cast(pl.Int64))
        .sort(["entity_type", "mentions", "entity"], descending=[False, True, False])
    )
