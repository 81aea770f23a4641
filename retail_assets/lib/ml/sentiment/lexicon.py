"""The VADER lexicon as model features and as an untrained classifier (no labels needed).

VADER's compound score (``vaderSentiment``, its lexicon in the wheel; nothing downloaded):
positive at 0.05 or more, negative at -0.05 or less, neutral between. The estimators pickle
without the analyzer (rebuilt on first use), so the model registry stores them like a
trained pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from retail_assets.lib.ml.sentiment.labels import CLASSES


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
