"""A model registry in the lake folder: versioned artifacts, one champion per model, decisions.

Layout, under the lake root::

    models/<name>/v0001/model.pkl        the pickled model object
    models/<name>/v0001/metadata.json    metrics on its holdout, what it was trained on, ...
    models/<name>/champion.json          which version serves, since when and why
    models/<name>/decisions.jsonl        every champion/challenger decision, one JSON per line
    models/<name>/.lock                  serializes writers (a ``filelock`` file lock)

**Writes are atomic.** A version is written into a hidden staging folder and renamed into
place as a whole (``os.replace``), so a reader sees a complete version or none; the champion
pointer is a small JSON file replaced the same way. Version numbers are taken under the
model's file lock, so two processes (or threads) registering at once get two versions, never
one twice.

**Champion/challenger.** A retrain registers its model as a new version (a *challenger*) with
its metrics on a holdout. :meth:`ModelRegistry.decide` compares it with the champion on the
same holdout, on the model's primary metric, and promotes it only when it is better by more
than ``min_improvement`` (a tie keeps the champion: a change must earn its place). A first
model, with no champion, is promoted; a champion that could not be evaluated on the holdout is
kept, and the reasons say so. :meth:`ModelRegistry.record` writes the decision to the log and,
when it promotes, moves the champion pointer, refusing if the champion changed since the
decision was made.

**When to retrain.** :func:`retrain_reasons` turns the three triggers (input drift over a PSI
threshold, new data grown by a share, the champion's live metric fallen by an amount) into
sentences; an empty list means no retrain is due.

Loading the serving model needs nothing but the lake folder: ``load_champion(root, name)``.
Pickles run code when loaded: load only from a lake this platform wrote.
"""

from retail_assets.lib.ml.registry.champion import (
    DEFAULT_GROWTH_SHARE,
    DEFAULT_METRIC_DROP,
    DEFAULT_PSI_THRESHOLD,
    ChampionDecisions,
    retrain_reasons,
)
from retail_assets.lib.ml.registry.records import (
    CHAMPION_FILE,
    DECISION_SCHEMA,
    DECISIONS_FILE,
    LOCK_FILE,
    METADATA_FILE,
    MODEL_FILE,
    MODELS_DIR,
    TRACKED_LIBRARIES,
    Decision,
    LoadedModel,
    ModelVersion,
    RegistryError,
)
from retail_assets.lib.ml.registry.store import ModelRegistry, load_champion

__all__ = [
    "CHAMPION_FILE",
    "ChampionDecisions",
    "DECISIONS_FILE",
    "DECISION_SCHEMA",
    "DEFAULT_GROWTH_SHARE",
    "DEFAULT_METRIC_DROP",
    "DEFAULT_PSI_THRESHOLD",
    "Decision",
    "LOCK_FILE",
    "LoadedModel",
    "METADATA_FILE",
    "MODELS_DIR",
    "MODEL_FILE",
    "ModelRegistry",
    "ModelVersion",
    "RegistryError",
    "TRACKED_LIBRARIES",
    "load_champion",
    "retrain_reasons",
]
