"""The trainable sentiment models: TF-IDF, the lexicon and sentence embeddings, stacked.

:data:`KINDS` names them, :func:`make_pipeline` builds the unfitted one, :func:`default_kind`
picks ``embedded`` or ``stacked``, and :class:`EmbeddedStack` is the three-model stack.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import StackingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from retail_assets.lib.ml.sentiment.embeddings import (
    EMBEDDINGS_BACKEND,
    SentenceEmbeddings,
    sentiment_backend,
)
from retail_assets.lib.ml.sentiment.labels import SentimentDataError
from retail_assets.lib.ml.sentiment.lexicon import LexiconFeatures, _VaderState

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
