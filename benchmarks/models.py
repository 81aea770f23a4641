"""Train and evaluate the marketing models on a simulated year, next to their baselines.

    python benchmarks/models.py            # 20,000 customers, 365 days from 2025-01-01
    python benchmarks/models.py --quick    # 5,000 customers, 150 days
    python benchmarks/models.py --assets DATA_DIR [--all-cpus]   # the Dagster model jobs
    python benchmarks/models.py --sentiment-only   # sentiment across domains, in seconds

Prints one ``metric: value`` per line; progress goes to stderr. Everything runs on **one
core**: the process is pinned to one CPU before any library starts a thread (DuckDB's
threads share it), thread pools are set to 1 (polars, BLAS), scikit-learn runs with
``n_jobs=1``, and the inputs are generated in one worker process on the same CPU.
``--all-cpus`` leaves the process on every CPU (as ``retail-assets materialize`` runs).

**``--assets DATA_DIR``**: time the model assets themselves, as the main command runs them,
on a platform folder whose ``lake/`` a pipeline filled (``RETAIL_DATA_DIR`` of
``retail-assets materialize``, or a test ``Pipeline``'s root): the ``model_training`` job
(twice: a first training, then a retrain against the champion it made) and
``model_monitoring``, in process, with the real definitions. The inputs are read through
symbolic links from a scratch folder, so the folder given is never written.
``assets_<step>_seconds`` per step (wall, from the run's step stats),
``assets_<job>_seconds``/``_cpu_seconds`` per job, and per model the keys its
materialization carries for the console summary: ``<model>_trained``,
``<model>_training_seconds`` (fit, validation and the champion comparison, without scoring
and publishing), ``<model>_training_rows``, ``<model>_training_span``,
``<model>_headline_metric`` and ``<model>_headline_value``.

**Inputs** (cached). ``benchmarks/sql_models.py``'s ``generate`` writes the simulated tables
of ``--days`` days from 2025-01-01 for ``--customers`` customers (seed 42) into a lake, as
the source and governance assets write them: ``raw.product_catalog``, ``raw.retail_calendar``,
``governed.customers`` once, and per day ``raw.transactions``, ``raw.signals``,
``governed.app_events``, ``governed.sessions`` and ``governed.consent_audit``. The lake lives
in ``benchmarks/.cache/models_<customers>c_<days>d/sim-<hash>/``, where ``<hash>`` is taken
from the files that shape the data (:data:`SIMULATION_FILES`: the simulator, its
configuration, the governance code), so the inputs are regenerated whenever the simulator
changes and reused otherwise (days already written are kept). ``--data-dir`` puts the lake
elsewhere; a folder whose stamp names another hash is refused, one without a stamp is taken
as it is (and stamped). ``input_rows_*`` count the input rows.

**Features** (recomputed on every run). The SQL models the models read, run with
``sql_runner.materialize`` as the assets run them, in dependency order:
``user_daily_activity``, ``daily_category_signals`` and ``daily_sales_by_category`` over the
whole period in windows of each model's ``backfill_days``, ``user_features`` only for the
as-of days the propensity model uses (the last ``--propensity-days``, 56, whose next day is in
the period: it joins 90 days of activity per as-of day) and ``weekly_sales_direction`` (a
table) once. ``<model>_sql_seconds`` and ``<model>_rows`` per model.

**Models**, each with its library's defaults and ``--seed`` (0):

- **sentiment** (``retail_assets.lib.ml.sentiment``): ``training_data_from_signals`` on every
  review of the period (labels from the star rating), ``train`` (the default kind, TF-IDF and
  the lexicon's scores stacked, fitted on a stratified 80 %, measured on the held-out 20 %):
  ``sentiment_macro_f1``, accuracy and per-class F1, ``sentiment_kind``. On the same held-out
  rows: the lexicon (``sentiment_lexicon_macro_f1``), TF-IDF alone fitted on the same rows
  (``sentiment_tfidf_macro_f1``), and baselines fitted on the same training rows
  (``train_test_split`` with ``train``'s arguments), neither reading the text: the majority
  class and a stratified random guess (scikit-learn ``DummyClassifier``).
- **sentiment across domains** (first, on every run but ``--assets``; alone with
  ``--sentiment-only``): the UCI *Sentiment Labelled Sentences* beside the checkout
  (``../shared/data/reviews/yelp_labelled.txt`` and ``imdb_labelled.txt``, 1,000 sentences
  each, positive/negative). Each model is trained on one whole file and tested on the other
  whole file: ``sentiment_cross_domain_accuracy`` is the mean of Yelp -> IMDb and IMDb ->
  Yelp for the default model (``sentiment.default_kind``: ``embedded``, TF-IDF, sentence
  embeddings and the lexicon's scores stacked, when ``sentiment_backend`` is ``minilm-onnx``
  (the ``embeddings`` extra installed and ``RETAIL_SENTIMENT_EMBEDDINGS`` not ``off``), else
  ``stacked``, the lexicon's scores with TF-IDF), ``sentiment_cross_domain_min`` the worse
  direction, ``sentiment_cross_domain_accuracy_<test set>`` each.
  ``sentiment_lexicon_accuracy`` (and ``_imdb``/``_yelp``) is the VADER lexicon alone on the
  same test sets (no training), ``sentiment_<kind>_cross_domain_accuracy`` (and ``_min`` and
  per test set) every kind of ``sentiment.KINDS`` that can run (``embedded`` only with the
  extra), ``tfidf`` being TF-IDF alone.
  ``target_sentiment_cross_domain_0_85`` and ``target_sentiment_cross_domain_min_over_lexicon``
  (each direction above the lexicon on its test set). Without the files, stderr says so and
  these lines are left out.
- **direction** (``retail_assets.lib.ml.direction``): ``build_dataset`` on
  ``features.weekly_sales_direction`` and ``evaluate``: expanding-window cross-validation
  (5 folds after 12 training weeks), pooled out-of-fold ROC-AUC and PR-AUC of the logistic
  regression (``direction_roc_auc``), the random forest (``direction_rf_*``), the majority
  class and last week's direction. The majority class scores each fold with its training
  base rate, so its pooled ROC-AUC is not 0.5: it says how the base rate moved between folds
  (below 0.5 when it moved against the labels). ``direction_roc_auc_margin`` is the logistic
  regression's ROC-AUC minus the best baseline's. Per-fold ROC-AUCs of the main model give
  its spread (``direction_fold_roc_auc_min``/``max``): a year holds ~50 weeks, so these
  figures rest on a few hundred rows.
- **propensity** (``retail_assets.lib.ml.propensity``): ``build_dataset`` over the
  ``user_features`` days (label: a purchase in ``user_daily_activity`` the next day; the
  point-in-time audit runs), ``time_group_split`` (test: the last 7 as-of days, or 14 or 21
  when 7 would hold under 100 test buyers as the asset does, ``propensity_test_days_chosen``;
  on 30 % of customers never trained on), ``train`` (logistic regression fitted on the earlier days,
  calibrated and thresholded on the last 7 training days) and ``evaluate`` on the test rows:
  ``propensity_*`` for the model and ``propensity_<baseline>_*`` for "carted in the last
  24 h", the RFM sum and the SQL model's intent rule, each at the threshold chosen for it on
  the calibration days. ``propensity_base_rate`` is the test rows' share of buyers.
- **segments** (``retail_assets.lib.ml.segments``): ``fit_segments`` on the as-of day a week
  before the last, then on the last as-of day with ``previous=`` the first model.
  ``segments_share_<slug>``: share of the last day's customers per segment;
  ``segments_silhouette``: the refit's mean silhouette (5,000 customers sampled);
  ``segments_stable_names``: among customers present on both days, the share whose segment
  name did not change, next to ``segments_stable_names_without_previous`` (the last day
  fitted afresh, named by archetypes only; ``segments_renamed_without_previous`` counts the
  segments the archetypes alone would have named otherwise). With ``governed.customers``,
  the persona the simulator assigned (never a model input): ``segments_persona_purity``
  (share of customers in their segment's most common persona) against
  ``segments_persona_majority_share`` (the purity of a single segment), and the adjusted
  Rand index.
- **drift** (``retail_assets.lib.ml.drift``): ``feature_drift`` (PSI, 10 quantile bins) of the
  propensity model's inputs (``model_matrix``) between its training rows and every
  customer's rows of the last 7 as-of days (the rows it would score).

``<model>_train_seconds`` times the training (for direction, the whole cross-validation: 5
folds of three estimators). ``peak_memory_mb`` is this process's peak RSS,
``data_generation_peak_memory_mb`` the generation worker's (n/a when nothing was generated);
``wall_seconds`` covers the whole run, generation included. ``target_*`` lines give pass,
fail, or n/a when the model could not be measured: direction ROC-AUC margin at least 0.10,
propensity PR-AUC at least twice the base rate and top-decile lift at least 3, sentiment
macro-F1 at least 0.85.
"""

from __future__ import annotations

import os
import sys

# One core: pin the process and size the thread pools before numpy, polars, scikit-learn
# and DuckDB load (threads inherit the affinity of the thread that creates them). With
# --all-cpus, neither (as the platform runs).
_CPU: int | None = None
if "--all-cpus" not in sys.argv:
    for _var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    try:
        _CPU = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {_CPU})
    except (AttributeError, OSError):  # not Linux, or not allowed
        _CPU = None

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.dummy import DummyClassifier  # noqa: E402
from sklearn.metrics import accuracy_score, adjusted_rand_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sql_models import (  # noqa: E402
    MAX_DISK_GB,
    START,
    DiskBudgetExceeded,
    generate,
    input_bytes,
    input_rows,
    make_lake,
    period,
    report,
)

from retail_assets.lib.ml import direction, drift, propensity, segments, sentiment  # noqa: E402
from retail_assets.lib.warehouse.lake import Lake  # noqa: E402

log = logging.getLogger("models")

NA = "n/a"
#: Files whose content shapes the simulated inputs; their hash names the cache folder.
SIMULATION_FILES = (
    "retail_assets/lib/sources/simulator/__init__.py",
    "retail_assets/lib/sources/simulator/app.py",
    "retail_assets/lib/sources/simulator/calendar.py",
    "retail_assets/lib/sources/simulator/columns.py",
    "retail_assets/lib/sources/simulator/core.py",
    "retail_assets/lib/sources/simulator/customers.py",
    "retail_assets/lib/sources/simulator/draws.py",
    "retail_assets/lib/sources/simulator/journeys.py",
    "retail_assets/lib/sources/simulator/review_text.py",
    "retail_assets/lib/sources/simulator/signals.py",
    "retail_assets/lib/sources/simulator/stores.py",
    "retail_assets/lib/sources/simulator/tables.py",
    "retail_assets/lib/sources/simulator/visits.py",
    "retail_assets/lib/sources/simulator/web.py",
    "retail_assets/config/simulation.yaml",
    "retail_assets/lib/governance/privacy.py",
    "retail_assets/lib/governance/consent.py",
    "retail_assets/lib/governance/pseudonyms.py",
    "retail_assets/lib/governance/redaction.py",
    "retail_assets/lib/sources/ga4.py",
)
STAMP = "simulation.sha256"
#: Run id stamped as ``lineage_id`` on the feature tables.
RUN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "retail-assets/benchmarks/models"))
#: The SQL models the ML models read, in dependency order (checked against their refs).
FEATURE_MODELS = (
    "user_daily_activity",
    "daily_category_signals",
    "daily_sales_by_category",
    "user_features",
    "weekly_sales_direction",
)
#: Short names of the direction models in metric names.
DIRECTION_NAMES = {
    direction.MAIN_MODEL: "",
    direction.ROBUSTNESS_MODEL: "rf_",
    "majority_class": "majority_",
    "last_week_direction": "last_week_",
}
DIRECTION_MARGIN = 0.10
PROPENSITY_PR_AUC_RATIO = 2.0
PROPENSITY_LIFT = 3.0
SENTIMENT_MACRO_F1 = 0.85
SENTIMENT_CROSS_DOMAIN = 0.85
#: The public labelled sentences of the cross-domain sentiment figures (see the docstring).
REVIEWS_DATA = REPO.parent / "shared" / "data" / "reviews"
#: The propensity asset's PROPENSITY_MIN_TEST_BUYERS (not imported: that pulls in Dagster).
PROPENSITY_MIN_TEST_BUYERS = 100
#: Registry names of the models and their asset keys, for --assets.
ASSET_MODELS = {
    "sentiment": "ml/review_sentiment",
    "direction": "ml/sales_direction_model",
    "propensity": "ml/purchase_propensity",
    "segments": "ml/customer_segments",
}


def _verdict(ok: bool | None) -> str:
    return NA if ok is None else ("pass" if ok else "fail")


# ---------------------------------------------------------------------------- inputs
def simulation_hash() -> str:
    """First 12 hex digits of the SHA-256 over :data:`SIMULATION_FILES` (names and bytes)."""
    digest = hashlib.sha256()
    for rel in SIMULATION_FILES:
        digest.update(rel.encode() + b"\0" + (REPO / rel).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def prepare_data_dir(data_dir: Path, sim_hash: str) -> None:
    """Create ``data_dir`` stamped with ``sim_hash``; refuse one stamped with another."""
    stamp = data_dir / STAMP
    if stamp.exists():
        found = stamp.read_text().split()[0]
        if found != sim_hash:
            raise SystemExit(
                f"{data_dir} holds inputs of another simulator (hash {found}, now {sim_hash}); "
                "delete it or choose another --data-dir"
            )
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(f"{sim_hash}\n" + "".join(f"  {rel}\n" for rel in SIMULATION_FILES))


def stale_caches(base: Path, keep: Path) -> list[Path]:
    """Cached inputs of earlier simulators next to ``keep`` (never reused; delete by hand)."""
    return sorted(p for p in base.glob("sim-*") if p.is_dir() and p != keep)


# ---------------------------------------------------------------------------- features
def feature_windows(model, days: Sequence[dt.date]) -> list[tuple[dt.date | None, dt.date | None]]:
    """``[start, end)`` windows of the model's ``backfill_days`` over ``days``, or one run."""
    if not model.partitioned:
        return [(None, None)]
    step = getattr(model.header, "backfill_days", 31) or 31
    return [
        (days[i], days[min(i + step, len(days)) - 1] + dt.timedelta(days=1))
        for i in range(0, len(days), step)
    ]


def build_features(lake: Lake, days: Sequence[dt.date], as_of_days: Sequence[dt.date]) -> None:
    """Run :data:`FEATURE_MODELS` with ``sql_runner.materialize`` into ``lake``, from scratch."""
    from retail_assets.defs.features import assets as features
    from retail_assets.lib.warehouse.sql_runner import materialize

    every = features.load()
    by_table = {m.table: m for m in every}
    views = features.view_models(by_table)
    by_name = {m.name: m for m in every if m.schema == "features"}
    done: set[tuple[str, str]] = set()
    for name in FEATURE_MODELS:
        model = by_name[name]
        pending = [r for r in model.refs if r in by_table and r not in done]
        if pending:
            raise RuntimeError(f"{name} reads {pending}, which are not built before it")
        empty = {r: features._empty_frame(r) for r in model.optional_refs if r not in by_table}
        shutil.rmtree(lake.table_dir(model.schema, model.name), ignore_errors=True)
        span = as_of_days if name == "user_features" else days
        began, rows = time.perf_counter(), 0
        for start, end in feature_windows(model, span):
            rows += materialize(model, lake, start, end, RUN_ID, empty, views=views).rows_written
        seconds = time.perf_counter() - began
        log.info("features.%s: %d rows in %.1f s", name, rows, seconds)
        report(f"{name}_sql_seconds", seconds)
        report(f"{name}_rows", rows)
        done.add(model.table)


# ---------------------------------------------------------------------------- models
def run_sentiment(lake: Lake, days: Sequence[dt.date], seed: int) -> float:
    """Train and evaluate the sentiment model; returns its macro-F1."""
    signals = lake.read(
        "raw", "signals", [d.isoformat() for d in days], columns=["source", "text", "rating"]
    )
    frame = sentiment.training_data_from_signals(signals)
    report("sentiment_signals", signals.height)
    report("sentiment_rows", frame.height)
    for cls in sentiment.CLASSES:
        report(f"sentiment_share_{cls}", float((frame["label"] == cls).mean()))
    began = time.perf_counter()
    model = sentiment.train(frame, seed=seed)
    report("sentiment_train_seconds", time.perf_counter() - began)
    report("sentiment_train_rows", model.train_rows)
    report("sentiment_test_rows", model.test_rows)
    report("sentiment_macro_f1", model.macro_f1)
    report("sentiment_accuracy", model.accuracy)
    for row in model.per_class.iter_rows(named=True):
        report(f"sentiment_f1_{row['class']}", float(row["f1"]))
    report("sentiment_kind", model.kind)
    lexicon = model.candidates["lexicon"]
    report("sentiment_lexicon_macro_f1", lexicon["macro_f1"])
    report("sentiment_lexicon_accuracy_simulated", lexicon["accuracy"])
    tfidf = sentiment.train(frame, seed=seed, kind="tfidf")  # the same split
    report("sentiment_tfidf_macro_f1", tfidf.macro_f1)
    # Baselines on the held-out rows of the same split (train's arguments), text unread.
    _, _, y_train, y_test = train_test_split(
        frame["text"].to_list(),
        frame["label"].to_list(),
        test_size=0.2,
        stratify=frame["label"].to_list(),
        random_state=seed,
    )
    labels = list(sentiment.CLASSES)
    for name, strategy in (("majority", "most_frequent"), ("stratified", "stratified")):
        dummy = DummyClassifier(strategy=strategy, random_state=seed)
        predicted = dummy.fit(np.zeros((len(y_train), 1)), y_train).predict(
            np.zeros((len(y_test), 1))
        )
        macro = f1_score(y_test, predicted, labels=labels, average="macro", zero_division=0)
        report(f"sentiment_{name}_macro_f1", float(macro))
        report(f"sentiment_{name}_accuracy", float(accuracy_score(y_test, predicted)))
    return model.macro_f1


def read_sentences(path: Path) -> pl.DataFrame:
    """A UCI labelled-sentences file (``sentence<TAB>0|1``, no header) as ``text, label``.

    Lines split on ``\\n`` only: some IMDb sentences hold U+0085, which ``str.splitlines``
    would take for a line break.
    """
    rows = [
        line.rsplit("\t", 1)
        for line in path.read_text(encoding="utf-8").split("\n")
        if line.strip()
    ]
    return pl.DataFrame(
        {
            "text": [text.strip() for text, _ in rows],
            "label": ["positive" if flag.strip() == "1" else "negative" for _, flag in rows],
        }
    )


def run_sentiment_cross_domain(seed: int) -> tuple[float, float, float] | None:
    """Train on one public file, test on the other; returns (mean, min, min margin) or None."""
    files = {name: REVIEWS_DATA / f"{name}_labelled.txt" for name in ("yelp", "imdb")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        log.warning("sentiment across domains skipped: no %s", ", ".join(missing))
        return None
    data = {name: read_sentences(path) for name, path in files.items()}
    directions = (("yelp", "imdb"), ("imdb", "yelp"))
    mode = os.environ.get("RETAIL_SENTIMENT_EMBEDDINGS", "auto")
    backend = sentiment.sentiment_backend(mode)
    default = sentiment.default_kind(mode)
    report("sentiment_backend", backend)
    lexicon = {}
    for _, test in directions:
        model = sentiment.lexicon_model(data[test]["label"])
        lexicon[test] = sentiment.evaluate(model, data[test])["accuracy"]
        report(f"sentiment_lexicon_accuracy_{test}", lexicon[test])
    report("sentiment_lexicon_accuracy", float(np.mean(list(lexicon.values()))))
    accuracy: dict[str, dict[str, float]] = {}
    for kind in sentiment.KINDS:
        if kind == "embedded" and backend != sentiment.EMBEDDINGS_BACKEND:
            continue
        accuracy[kind] = {}
        began = time.perf_counter()
        for train_on, test in directions:
            frame = data[train_on]
            model = sentiment.make_pipeline(seed, kind=kind)
            model.fit(frame["text"].to_list(), frame["label"].to_list())
            accuracy[kind][test] = sentiment.evaluate(model, data[test])["accuracy"]
            report(f"sentiment_{kind}_cross_domain_accuracy_{test}", accuracy[kind][test])
        report(
            f"sentiment_{kind}_cross_domain_accuracy", float(np.mean(list(accuracy[kind].values())))
        )
        report(f"sentiment_{kind}_cross_domain_min", min(accuracy[kind].values()))
        report(f"sentiment_{kind}_cross_domain_train_seconds", time.perf_counter() - began)
    ours = accuracy[default]
    report("sentiment_cross_domain_kind", default)
    for test, value in ours.items():
        report(f"sentiment_cross_domain_accuracy_{test}", value)
    mean, worst = float(np.mean(list(ours.values()))), min(ours.values())
    margin = min(ours[test] - lexicon[test] for test in ours)
    report("sentiment_cross_domain_accuracy", mean)
    report("sentiment_cross_domain_min", worst)
    report("sentiment_cross_domain_min_margin_over_lexicon", margin)
    return mean, worst, margin


def report_sentiment_cross_domain_targets(result: tuple[float, float, float] | None) -> None:
    if result is None:
        return
    mean, _, margin = result
    report("target_sentiment_cross_domain_0_85", _verdict(mean >= SENTIMENT_CROSS_DOMAIN))
    report("target_sentiment_cross_domain_min_over_lexicon", _verdict(margin > 0))


def run_direction(lake: Lake, seed: int) -> float:
    """Cross-validate the direction models; returns the ROC-AUC margin over the best baseline."""
    weekly = lake.read("features", "weekly_sales_direction")
    dataset = direction.build_dataset(weekly)
    frame = dataset.frame
    report("direction_table_rows", weekly.height)
    report("direction_rows", frame.height)
    report("direction_weeks", frame["week_start"].n_unique())
    report("direction_categories", frame["category"].n_unique())
    report("direction_dropped_unlabelled", dataset.dropped_unlabelled)
    report("direction_dropped_incomplete", dataset.dropped_incomplete)
    began = time.perf_counter()
    evaluation = direction.evaluate(dataset, seed=seed)
    report("direction_train_seconds", time.perf_counter() - began)
    tested = evaluation.predictions
    report("direction_test_rows", tested.height)
    report("direction_test_weeks", tested["week_start"].n_unique())
    report("direction_test_up_share", float(tested["label"].mean()))
    for model, prefix in DIRECTION_NAMES.items():
        m = evaluation.metrics[model]
        report(f"direction_{prefix}roc_auc", m.roc_auc)
        report(f"direction_{prefix}pr_auc", m.pr_auc)
        report(f"direction_{prefix}accuracy", m.accuracy_at_threshold)
    best = evaluation.best_baseline
    report("direction_best_baseline", best)
    report("direction_best_baseline_roc_auc", evaluation.metrics[best].roc_auc)
    report("direction_roc_auc_margin", evaluation.roc_auc_margin)
    folds = evaluation.folds.filter(pl.col("model") == direction.MAIN_MODEL)
    report("direction_fold_roc_auc_min", folds["roc_auc"].min())
    report("direction_fold_roc_auc_max", folds["roc_auc"].max())
    return evaluation.roc_auc_margin


def run_propensity(
    lake: Lake, as_of_days: Sequence[dt.date], seed: int
) -> tuple[propensity.PropensityEvaluation, pl.DataFrame, propensity.PropensitySplit]:
    """Build, split, train and evaluate the propensity model; returns what drift reads too."""
    features = lake.read("features", "user_features")
    first = as_of_days[0] - dt.timedelta(days=29)  # the point-in-time audit recounts 30 days
    activity_days = period((as_of_days[-1] - first).days + 2, first)
    activity = lake.read("features", "user_daily_activity", [d.isoformat() for d in activity_days])
    dataset = propensity.build_dataset(
        features, activity, as_of_days[0], as_of_days[-1] + dt.timedelta(days=1), seed=seed
    )
    report("propensity_days", dataset["as_of_date"].n_unique())
    report("propensity_rows", dataset.height)
    report("propensity_customers", dataset["customer_key"].n_unique())
    # As the asset does: a week of test days, more when it would hold under 100 buyers.
    test_days = propensity.choose_test_days(dataset, min_buyers=PROPENSITY_MIN_TEST_BUYERS)
    report("propensity_test_days_chosen", test_days)
    split = propensity.time_group_split(dataset, test_days=test_days, seed=seed)
    began = time.perf_counter()
    model = propensity.train(split.train, seed=seed)
    report("propensity_train_seconds", time.perf_counter() - began)
    evaluation = propensity.evaluate(model, split.test)
    for note in evaluation.notes:
        log.warning("propensity: %s", note)
    report("propensity_train_rows", split.train.height)
    report("propensity_train_buyers", int(split.train["label"].sum()))
    report("propensity_fit_rows", model.fit_rows)
    report("propensity_calibration_rows", model.calibration_rows)
    report("propensity_test_rows", split.test.height)
    report("propensity_test_buyers", int(split.test["label"].sum()))
    report("propensity_test_days", f"{split.test_start}..{split.test['as_of_date'].max()}")
    m = evaluation.metrics[propensity.MODEL]
    report("propensity_base_rate", m.base_rate)
    report("propensity_pr_auc", m.pr_auc)
    report("propensity_pr_auc_over_base_rate", evaluation.pr_auc_over_base_rate)
    report("propensity_roc_auc", m.roc_auc)
    report("propensity_top_decile_lift", m.top_decile_lift)
    report("propensity_top_decile_capture", m.top_decile_capture)
    report("propensity_brier", m.brier)
    report("propensity_threshold", m.threshold)
    report("propensity_recall_at_threshold", m.recall_at_threshold)
    report("propensity_precision_at_threshold", m.precision_at_threshold)
    for name in propensity.BASELINES:
        b = evaluation.metrics[name]
        report(f"propensity_{name}_pr_auc", b.pr_auc)
        report(f"propensity_{name}_roc_auc", b.roc_auc)
        report(f"propensity_{name}_top_decile_lift", b.top_decile_lift)
        report(f"propensity_{name}_top_decile_capture", b.top_decile_capture)
        report(f"propensity_{name}_threshold", b.threshold)
        report(f"propensity_{name}_recall_at_threshold", b.recall_at_threshold)
        report(f"propensity_{name}_precision_at_threshold", b.precision_at_threshold)
    best = max(propensity.BASELINES, key=lambda b: evaluation.metrics[b].pr_auc)
    report("propensity_best_baseline", best)
    report("propensity_best_baseline_pr_auc", evaluation.metrics[best].pr_auc)
    return evaluation, dataset, split


def run_segments(lake: Lake, first_day: dt.date, last_day: dt.date, seed: int) -> None:
    """Fit segments on two days a week apart, the second with ``previous=`` the first."""
    features = lake.read("features", "user_features", [first_day.isoformat(), last_day.isoformat()])
    days = {day: features.filter(pl.col("as_of_date") == day) for day in (first_day, last_day)}
    before, after = days[first_day], days[last_day]
    began = time.perf_counter()
    first = segments.fit_segments(before, seed=seed)
    report("segments_train_seconds", time.perf_counter() - began)
    began = time.perf_counter()
    second = segments.fit_segments(after, seed=seed, previous=first)
    report("segments_refit_seconds", time.perf_counter() - began)
    fresh = segments.fit_segments(after, seed=seed)
    report("segments_k", second.k)
    report("segments_silhouette", segments.silhouette(second, after, seed=seed))
    report("segments_days", f"{first_day},{last_day}")
    report("segments_customers", after.height)
    shares = segments.profiles(second, after)
    for slug, share in shares.select("segment_id", "share").iter_rows():
        report(f"segments_share_{slug}", float(share))
    report("segments_max_matched_shift", float(np.nanmax(second.matched_shift)))
    # Same rows and seed: the same clusters; only how they are named can differ.
    renamed = sum(a != b for a, b in zip(second.names, fresh.names, strict=True))
    report("segments_renamed_without_previous", renamed)
    old = segments.assign(first, before).select("customer_key", "segment_name")
    for name, model in (("", second), ("_without_previous", fresh)):
        both = old.join(
            segments.assign(model, after).select("customer_key", "segment_name"),
            on="customer_key",
            suffix="_new",
        )
        if not name:
            report("segments_customers_both_days", both.height)
        same = both.select((pl.col("segment_name") == pl.col("segment_name_new")).mean()).item()
        report(f"segments_stable_names{name}", float(same))
    customers = lake.read("governed", "customers", columns=["customer_key", "persona"])
    if customers.height == 0 or "persona" not in customers.columns:
        log.warning("no governed.customers with a persona: no persona cross-tab")
        for name in ("purity", "majority_share", "ari"):
            report(f"segments_persona_{name}", NA)
        return
    crosstab = segments.persona_crosstab(second, after, customers)
    total = crosstab["customers"].sum()
    purity = crosstab.group_by("segment_id").agg(pl.col("customers").max())["customers"].sum()
    majority = crosstab.group_by("persona").agg(pl.col("customers").sum())["customers"].max()
    labelled = segments.assign(second, after).join(
        customers.unique("customer_key"), on="customer_key", how="left"
    )
    report("segments_persona_purity", purity / total)
    report("segments_persona_majority_share", majority / total)
    report(
        "segments_persona_ari",
        float(
            adjusted_rand_score(
                labelled["persona"].fill_null("unknown").to_list(),
                labelled["segment_id"].to_list(),
            )
        ),
    )


def run_drift(dataset: pl.DataFrame, split: propensity.PropensitySplit) -> None:
    """PSI of the propensity inputs: training rows against the last week's rows."""
    last_week = dataset["as_of_date"].max() - dt.timedelta(days=6)
    latest = dataset.filter(pl.col("as_of_date") >= last_week)
    began = time.perf_counter()
    table = drift.feature_drift(
        propensity.model_matrix(split.train),
        propensity.model_matrix(latest),
        propensity.MODEL_FEATURES,
    )
    report("drift_seconds", time.perf_counter() - began)
    report("drift_train_rows", split.train.height)
    report("drift_latest_rows", latest.height)
    report("drift_features", table.height)
    worst = table.sort("psi", descending=True).row(0, named=True)
    report("drift_max_psi", worst["psi"])
    report("drift_max_psi_feature", worst["feature"])
    for limit, tag in ((drift.PSI_MODERATE, "0_1"), (drift.PSI_MAJOR, "0_25")):
        above = table.filter(pl.col("psi") >= limit)["feature"].to_list()
        report(f"drift_features_psi_above_{tag}", len(above))
        if above:
            log.info("PSI >= %s: %s", limit, ", ".join(above))


def run_assets(source: Path, customers: int) -> int:
    """Time the model_training (twice) and model_monitoring jobs on a copy-free view of a lake."""
    import dagster as dg

    from retail_assets.definitions import build_definitions
    from retail_assets.defs.resources import RetailPlatform

    lake_dir = source / "lake"
    inputs = [d for d in ("raw", "governed", "features") if (lake_dir / d).is_dir()]
    if not inputs:
        log.error("%s has no lake/raw, governed or features: not a platform folder", source)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="models-assets-"))
    try:
        (scratch / "lake").mkdir()
        for schema in inputs:  # read through links; models and registry land in scratch
            (scratch / "lake" / schema).symlink_to((lake_dir / schema).resolve())
        platform = RetailPlatform(
            lake_root=str(scratch / "lake"),
            landing_root=str(scratch / "landing"),
            warehouse_path=str(scratch / "warehouse.duckdb"),
            customers=customers,
        )
        defs = build_definitions(platform)
        instance = dg.DagsterInstance.ephemeral()
        report("cpu", NA if _CPU is None else _CPU)
        report("assets_source", str(source))
        for label, job in (
            ("training", "model_training"),
            ("retraining", "model_training"),
            ("monitoring", "model_monitoring"),
        ):
            wall, cpu = time.perf_counter(), time.process_time()
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, raise_on_error=False
            )
            report(f"assets_{label}_seconds", time.perf_counter() - wall)
            report(f"assets_{label}_cpu_seconds", time.process_time() - cpu)
            report(f"assets_{label}_success", result.success)
            for stats in instance.get_run_step_stats(result.run_id):
                if stats.end_time and stats.start_time:
                    report(
                        f"assets_{label}_{stats.step_key}_seconds",
                        stats.end_time - stats.start_time,
                    )
            if not result.success:
                return 1
            if label == "monitoring":
                (meta,) = [
                    e.step_materialization_data.materialization.metadata
                    for e in result.get_asset_materialization_events()
                ]
                report("drift_retrain_due", ",".join(sorted(meta["retrain_reasons"].value)))
                continue
            events = {
                e.step_materialization_data.materialization.asset_key.to_user_string(): (
                    e.step_materialization_data.materialization.metadata
                )
                for e in result.get_asset_materialization_events()
            }
            for name, key in ASSET_MODELS.items():
                meta = {k: v.value for k, v in events[key].items()}
                prefix = f"{label}_{name}"
                report(f"{prefix}_trained", meta.get("trained"))
                for k in ("training_seconds", "training_rows", "headline_metric"):
                    report(f"{prefix}_{k}", meta.get(k, NA))
                report(f"{prefix}_headline_value", meta.get("headline_value") or NA)
                span = f"{meta.get('training_first')}..{meta.get('training_last')}"
                report(f"{prefix}_training_span", span)
                report(f"{prefix}_promoted", meta.get("promoted", NA))
        report("peak_memory_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _section(name: str, fn: Callable, *args):
    """Run one model's part; on failure log it, print ``<name>_error`` and return None."""
    log.info("%s", name)
    try:
        return fn(*args)
    except Exception as exc:
        log.exception("%s failed", name)
        report(f"{name}_error", " | ".join(f"{type(exc).__name__}: {exc}".split("\n"))[:500])
        return None


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the inputs, build the features, train and evaluate every model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 customers, 150 days")
    parser.add_argument("--customers", type=int, help="customers (default 20,000)")
    parser.add_argument("--days", type=int, help="days from 2025-01-01 (default 365)")
    parser.add_argument(
        "--propensity-days",
        type=int,
        default=56,
        help="as-of days of user_features for propensity, segments and drift (default 56)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the models (default 0)")
    parser.add_argument("--data-dir", type=Path, help="the lake's folder (default: a cache)")
    parser.add_argument("--max-disk-gb", type=float, default=MAX_DISK_GB)
    parser.add_argument(
        "--assets",
        type=Path,
        metavar="DATA_DIR",
        help="time the Dagster model jobs on the lake of this platform folder instead",
    )
    parser.add_argument("--all-cpus", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument(
        "--sentiment-only",
        action="store_true",
        help="only the cross-domain sentiment figures (public Yelp and IMDb sentences)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.assets is not None:
        return run_assets(args.assets.absolute(), args.customers or 20_000)
    if args.sentiment_only:
        began = time.perf_counter()
        report("cpu", NA if _CPU is None else _CPU)
        cross = _section("sentiment_cross_domain", run_sentiment_cross_domain, args.seed)
        report_sentiment_cross_domain_targets(cross)
        report("wall_seconds", time.perf_counter() - began)
        return 0
    customers = args.customers or (5_000 if args.quick else 20_000)
    n_days = args.days or (150 if args.quick else 365)
    days = period(n_days, START)
    # As-of days whose next day is in the period (the label day), ending the day before last.
    as_of_days = days[-1 - args.propensity_days : -1]
    if len(as_of_days) < 23 or n_days - args.propensity_days < 91:
        log.warning(
            "%d days with %d as-of days: user_features wants 90 days of history before the "
            "first as-of day, and propensity 23 as-of days (fit, calibration, test, gaps)",
            n_days,
            args.propensity_days,
        )
    sim_hash = simulation_hash()
    base = REPO / "benchmarks" / ".cache" / f"models_{customers}c_{n_days}d"
    data_dir = (args.data_dir or base / f"sim-{sim_hash}").absolute()
    prepare_data_dir(data_dir, sim_hash)
    if args.data_dir is None:
        for stale in stale_caches(base, data_dir):
            log.warning("%s: inputs of an earlier simulator, not used (delete it)", stale)
    run_began = time.perf_counter()
    report("cpu", NA if _CPU is None else _CPU)
    report("customers", customers)
    report("days", n_days)
    report("simulation_hash", sim_hash)
    cross = _section("sentiment_cross_domain", run_sentiment_cross_domain, args.seed)

    try:
        generated = generate(data_dir, customers, days, 1, args.max_disk_gb)
    except DiskBudgetExceeded as exc:
        log.error("%s", exc)
        return 2
    if generated and simulation_hash() != sim_hash:
        log.error(
            "the simulator changed while %s was being generated: its days mix two simulators; "
            "delete the folder and run again",
            data_dir,
        )
        return 2
    report("data_generation_seconds", time.perf_counter() - run_began)
    report("data_generated_days", generated)
    # Read now: the only children so far are the generation workers (later imports fork).
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report("data_generation_peak_memory_mb", children if generated else NA)
    lake = make_lake(data_dir)
    static, daily = input_bytes(lake, days)
    report("data_disk_gb", (static + daily) / 1e9)
    for name, rows in input_rows(lake, days).items():
        report(f"input_rows_{name}", rows)

    log.info("feature SQL models")
    began = time.perf_counter()
    build_features(lake, days, as_of_days)
    report("features_seconds", time.perf_counter() - began)

    f1 = _section("sentiment", run_sentiment, lake, days, args.seed)
    margin = _section("direction", run_direction, lake, args.seed)
    result = _section("propensity", run_propensity, lake, as_of_days, args.seed)
    _section("segments", run_segments, lake, as_of_days[-8], as_of_days[-1], args.seed)
    if result is not None:
        _section("drift", run_drift, result[1], result[2])

    report("peak_memory_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report(
        "target_direction_margin_0_10",
        _verdict(None if margin is None else margin >= DIRECTION_MARGIN),
    )
    m = None if result is None else result[0].metrics[propensity.MODEL]
    report(
        "target_propensity_pr_auc_2x",
        _verdict(None if m is None else m.pr_auc >= PROPENSITY_PR_AUC_RATIO * m.base_rate),
    )
    report(
        "target_propensity_lift_3",
        _verdict(None if m is None else m.top_decile_lift >= PROPENSITY_LIFT),
    )
    report(
        "target_sentiment_macro_f1_0_85",
        _verdict(None if f1 is None else f1 >= SENTIMENT_MACRO_F1),
    )
    report_sentiment_cross_domain_targets(cross)
    report("wall_seconds", time.perf_counter() - run_began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
