"""Which sentiment model serves: training, measuring against the lexicon, scoring texts.

:func:`fit_or_lexicon` trains on a stratified split and keeps the lexicon when labels are
missing or too few, or when the lexicon beats the trained model on the held-out rows;
:func:`score` gives the class and the three class probabilities per text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import train_test_split

from retail_assets.lib.ml.sentiment.labels import (
    CLASSES,
    MIN_PER_CLASS,
    MIN_ROWS,
    SentimentDataError,
)
from retail_assets.lib.ml.sentiment.lexicon import lexicon_model
from retail_assets.lib.ml.sentiment.stack import DEFAULT_KIND, make_pipeline
from retail_assets.lib.plots import plt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentimentModel:
    """The serving model and how it did on the held-out split.

    ``per_class`` has ``class, precision, recall, f1, support``; ``confusion`` is a 3 x 3 count
    matrix with true classes in rows and predicted classes in columns, both in
    :data:`CLASSES` order. ``kind`` is ``lexicon`` or the trained kind (:data:`KINDS`);
    ``reason`` says why that one serves. ``candidates`` holds accuracy and macro-F1 of each
    model measured on the same held-out rows (the trained model and the lexicon).
    """

    pipeline: BaseEstimator
    accuracy: float
    macro_f1: float
    per_class: pl.DataFrame
    confusion: np.ndarray
    train_rows: int
    test_rows: int
    test: pl.DataFrame  # the held-out ``text, label`` rows, to score another model on
    kind: str = DEFAULT_KIND
    reason: str = ""
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float | int]:
        """Flat numbers for metadata: accuracy, macro-F1, per-class F1 and the split sizes."""
        out: dict[str, float | int] = {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
        }
        for row in self.per_class.iter_rows(named=True):
            out[f"f1_{row['class']}"] = round(row["f1"], 4)
        return out | {"train_rows": self.train_rows, "test_rows": self.test_rows}


def train(
    frame: pl.DataFrame,
    seed: int = 0,
    test_size: float = 0.2,
    c: float = 1.0,
    kind: str = DEFAULT_KIND,
) -> SentimentModel:
    """Fit ``kind`` on a stratified split of ``text, label`` rows, measure it on the rest.

    The lexicon is measured on the same held-out rows (``candidates``); the returned model is
    the trained one. Raises :class:`SentimentDataError` when the rows are too few
    (:func:`too_few_labels`); :func:`fit_or_lexicon` falls back to the lexicon instead.
    """
    _check_training_frame(frame, test_size)
    short = too_few_labels(frame)
    if short:
        raise SentimentDataError(short)
    text = frame["text"].to_list()
    label = frame["label"].to_list()
    x_train, x_test, y_train, y_test = train_test_split(
        text, label, test_size=test_size, stratify=label, random_state=seed
    )
    model = make_pipeline(seed, c, kind).fit(x_train, y_train)
    test = pl.DataFrame(
        {"text": x_test, "label": y_test}, schema={"text": pl.Utf8, "label": pl.Utf8}
    )
    lexicon = lexicon_model(y_train)
    return _measured(
        model,
        test,
        kind=kind,
        train_rows=len(x_train),
        reason=f"trained on {len(x_train):,} labeled texts",
        candidates={kind: evaluate(model, test), "lexicon": evaluate(lexicon, test)},
    )


def fit_or_lexicon(
    frame: pl.DataFrame | None,
    seed: int = 0,
    test_size: float = 0.2,
    c: float = 1.0,
    kind: str = DEFAULT_KIND,
) -> SentimentModel:
    """The model to serve: the trained one, or the lexicon.

    The lexicon serves when labels are missing or too few, or when the model trained on them
    is no better than the lexicon on the held-out rows:

    - No labeled rows (``None`` or empty): the lexicon with three classes, unmeasured
      (accuracy and macro-F1 are NaN, ``test_rows`` 0).
    - Too few (:func:`too_few_labels`): the lexicon, measured on every labeled row (it learned
      nothing from them), and the reason, also logged as a warning.
    - Otherwise :func:`train`; the lexicon serves instead when its macro-F1 on the same
      held-out rows is higher, so a small or skewed file never gives a model worse than the
      lexicon on its own holdout.

    Labels that are not classes still raise :class:`SentimentDataError`.
    """
    if frame is None or frame.height == 0:
        return _measured(
            lexicon_model(),
            pl.DataFrame(schema={"text": pl.Utf8, "label": pl.Utf8}),
            kind="lexicon",
            train_rows=0,
            reason="no labeled reviews: the VADER lexicon scores them (nothing to train on)",
        )
    _check_training_frame(frame, test_size)
    short = too_few_labels(frame)
    if short:
        reason = f"{short}: the VADER lexicon scores the texts instead (measured on all of them)"
        log.warning("sentiment: %s", reason)
        lexicon = lexicon_model(frame["label"])
        return _measured(
            lexicon,
            frame.select("text", "label"),
            kind="lexicon",
            train_rows=0,
            reason=reason,
            candidates={"lexicon": evaluate(lexicon, frame)},
        )
    trained = train(frame, seed=seed, test_size=test_size, c=c, kind=kind)
    ours, lexicon = trained.candidates[kind], trained.candidates["lexicon"]
    if lexicon["macro_f1"] > ours["macro_f1"]:
        reason = (
            f"the lexicon beat the model trained on {trained.train_rows:,} labeled texts on the "
            f"same {trained.test_rows:,} held-out texts (macro-F1 {lexicon['macro_f1']:.3f} "
            f"against {ours['macro_f1']:.3f}): the lexicon serves"
        )
        log.warning("sentiment: %s", reason)
        return _measured(
            lexicon_model(frame["label"]),
            trained.test,
            kind="lexicon",
            train_rows=0,
            reason=reason,
            candidates=trained.candidates,
        )
    return trained


def _measured(
    model,
    test: pl.DataFrame,
    *,
    kind: str,
    train_rows: int,
    reason: str,
    candidates: dict[str, dict[str, float]] | None = None,
) -> SentimentModel:
    """``model`` with its figures on the ``text, label`` rows of ``test``."""
    y_test = test["label"].to_list()
    if y_test:
        predicted = model.predict(test["text"].to_list())
        precision, recall, f1, support = precision_recall_fscore_support(
            y_test, predicted, labels=list(CLASSES), zero_division=0
        )
        figures = evaluate(model, test)
        confusion = confusion_matrix(y_test, predicted, labels=list(CLASSES))
    else:
        precision = recall = f1 = np.zeros(len(CLASSES))
        support = np.zeros(len(CLASSES), dtype=np.int64)
        figures = {"accuracy": float("nan"), "macro_f1": float("nan")}
        confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    return SentimentModel(
        pipeline=model,
        accuracy=figures["accuracy"],
        macro_f1=figures["macro_f1"],
        per_class=pl.DataFrame(
            {
                "class": list(CLASSES),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": np.asarray(support).astype(np.int64),
            }
        ),
        confusion=confusion,
        train_rows=train_rows,
        test_rows=len(y_test),
        test=test.select("text", "label"),
        kind=kind,
        reason=reason,
        candidates=candidates or {},
    )


def evaluate(pipeline, frame: pl.DataFrame) -> dict[str, float]:
    """Accuracy and macro-F1 of a fitted model on ``text, label`` rows (e.g. a holdout).

    Macro-F1 is over the classes the model learned: a positive/negative file is not scored on
    neutral.
    """
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


def too_few_labels(frame: pl.DataFrame) -> str | None:
    """Why ``text, label`` rows are too few to train on, or None when they are enough.

    At least :data:`MIN_ROWS` rows and :data:`MIN_PER_CLASS` of each class (the split is
    stratified and both sides need each class); a file with no neutral row at all is a
    positive/negative file and trains two classes.
    """
    if frame.height < MIN_ROWS:
        return f"training data: {frame.height} rows; at least {MIN_ROWS} labelled rows are needed"
    counts = dict(frame["label"].value_counts().iter_rows())
    # A file labelled positive/negative only (0/1, as many public sets are) has no neutral
    # class at all: the model then learns two. A few neutral rows are too few to learn.
    short = {
        c: counts.get(c, 0)
        for c in CLASSES
        if counts.get(c, 0) < MIN_PER_CLASS and not (c == "neutral" and c not in counts)
    }
    if short:
        return (
            f"training data: too few rows of class(es) {short} (of {frame.height}); each of "
            f"{list(CLASSES)} needs at least {MIN_PER_CLASS} (neutral may be absent)"
        )
    return None


def score(pipeline: BaseEstimator, texts: Sequence[str] | pl.Series) -> pl.DataFrame:
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
