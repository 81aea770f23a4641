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

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import polars as pl
from filelock import FileLock

MODELS_DIR = "models"
MODEL_FILE = "model.pkl"
METADATA_FILE = "metadata.json"
CHAMPION_FILE = "champion.json"
DECISIONS_FILE = "decisions.jsonl"
LOCK_FILE = ".lock"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION_DIR = re.compile(r"^v(\d{4,})$")
#: Library versions stored with every model: a pickle is safest loaded by the same ones.
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "polars", "statsforecast")

DEFAULT_PSI_THRESHOLD = 0.25
DEFAULT_GROWTH_SHARE = 0.2
DEFAULT_METRIC_DROP = 0.05

DECISION_SCHEMA = {
    "decided_at": pl.Utf8,
    "name": pl.Utf8,
    "challenger_version": pl.Int64,
    "champion_version": pl.Int64,
    "promoted": pl.Boolean,
    "primary_metric": pl.Utf8,
    "higher_is_better": pl.Boolean,
    "challenger_value": pl.Float64,
    "champion_value": pl.Float64,
    "improvement": pl.Float64,
    "min_improvement": pl.Float64,
    "holdout_id": pl.Utf8,
    "reasons": pl.List(pl.Utf8),
    "triggers": pl.List(pl.Utf8),
}


class RegistryError(ValueError):
    """The registry cannot do what was asked; the message says what to fix."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _version_dir(version: int) -> str:
    return f"v{version:04d}"


def _label(version: int | None) -> str:
    return "none" if version is None else _version_dir(version)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise RegistryError(f"invalid model name {name!r}: use lower_snake_case")


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _clean_metrics(metrics: Mapping[str, Any], what: str) -> dict[str, float]:
    """Metrics as plain floats (numpy scalars included); refuses non-numbers."""
    clean: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            clean[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise RegistryError(
                f"{what} metric {key!r} is {value!r}, not a number; pass numeric metrics"
            ) from exc
    return clean


def _json_default(value: Any) -> Any:
    """JSON for what metadata usually holds: dates, paths, numpy scalars, tuples."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(data: Any) -> str:
    # Non-finite floats are written as null: JSON has no NaN and other readers would choke.
    return json.dumps(_finite(data), indent=1, sort_keys=True, default=_json_default)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, Mapping):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _library_versions() -> dict[str, str]:
    found = {}
    for lib in TRACKED_LIBRARIES:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            found[lib] = importlib_metadata.version(lib)
    return found


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: where it lives and its metadata."""

    name: str
    version: int
    path: Path
    metadata: dict[str, Any]

    @property
    def metrics(self) -> dict[str, float]:
        """Metrics on the holdout it was registered with."""
        return self.metadata.get("metrics", {})

    @property
    def primary_metric(self) -> str:
        """The metric champion/challenger decisions compare."""
        return self.metadata["primary_metric"]

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger primary metric is better."""
        return bool(self.metadata["higher_is_better"])

    @property
    def holdout_id(self) -> str:
        """The holdout its metrics were measured on."""
        return self.metadata["holdout_id"]


@dataclass(frozen=True)
class LoadedModel:
    """A model object loaded from the registry, with its version and metadata."""

    name: str
    version: int
    model: Any
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """A champion/challenger decision: whether the challenger was promoted, and why."""

    name: str
    challenger_version: int
    champion_version: int | None
    promoted: bool
    reasons: list[str]
    primary_metric: str
    higher_is_better: bool
    challenger_value: float | None
    champion_value: float | None
    improvement: float | None
    min_improvement: float
    holdout_id: str
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] | None = None
    triggers: list[str] = field(default_factory=list)
    decided_at: str = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data."""
        return asdict(self)


class ModelRegistry:
    """Versioned models, champions and decisions under ``<root>/models`` (root: the lake)."""

    def __init__(self, root: str | Path, lock_timeout_s: float = 60.0) -> None:
        self.root = Path(root).absolute()
        self.lock_timeout_s = lock_timeout_s

    # ------------------------------------------------------------------ paths
    def model_dir(self, name: str) -> Path:
        """Folder of every version of one model."""
        _check_name(name)
        return self.root / MODELS_DIR / name

    def version_path(self, name: str, version: int) -> Path:
        """Folder of one version."""
        return self.model_dir(name) / _version_dir(version)

    def _lock(self, name: str) -> FileLock:
        folder = self.model_dir(name)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"cannot create {folder}: {exc.strerror or exc}. Check that the lake folder "
                "exists and is writable."
            ) from exc
        return FileLock(str(folder / LOCK_FILE), timeout=self.lock_timeout_s)

    def _atomic_write(self, target: Path, data: bytes) -> None:
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(data)
            _fsync(tmp)
            os.replace(tmp, target)
        except OSError as exc:
            raise OSError(
                f"writing {target} failed: {exc.strerror or exc}. The previous version of the "
                "file, if any, is unchanged."
            ) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # ------------------------------------------------------------------ versions
    def versions(self, name: str) -> list[int]:
        """Registered version numbers of a model, ascending (empty if none)."""
        folder = self.model_dir(name)
        if not folder.exists():
            return []
        found = []
        for child in folder.iterdir():
            match = _VERSION_DIR.match(child.name)
            if match and (child / METADATA_FILE).exists():
                found.append(int(match.group(1)))
        return sorted(found)

    def register(
        self,
        name: str,
        model_object: Any,
        metrics: Mapping[str, Any],
        holdout_id: str,
        primary_metric: str,
        higher_is_better: bool,
        trained_on: Mapping[str, Any],
        code_version: str,
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Store a model as the next version and return its number.

        ``metrics`` are measured on the holdout ``holdout_id`` (e.g. ``2025-03-01..2025-03-07``)
        and must include ``primary_metric``; ``trained_on`` says what data it saw (window, row
        count, partitions); ``extra`` is any other JSON-able metadata. Registering does not
        make it the champion: decide and record that.
        """
        clean = _clean_metrics(metrics, "the")
        if primary_metric not in clean:
            raise RegistryError(
                f"primary metric {primary_metric!r} is not among the metrics {sorted(clean)}; "
                "measure it on the holdout or choose another primary metric"
            )
        if not holdout_id:
            raise RegistryError("holdout_id is empty; name the holdout the metrics come from")
        try:
            payload = pickle.dumps(model_object, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise RegistryError(
                f"model {name!r} cannot be pickled ({exc}); store a picklable object (no open "
                "connections, lambdas or local classes)"
            ) from exc
        metadata = {
            "name": name,
            "metrics": clean,
            "holdout_id": holdout_id,
            "primary_metric": primary_metric,
            "higher_is_better": bool(higher_is_better),
            "trained_on": dict(trained_on),
            "code_version": code_version,
            "model_sha256": hashlib.sha256(payload).hexdigest(),
            "model_bytes": len(payload),
            "model_type": f"{type(model_object).__module__}.{type(model_object).__qualname__}",
            "libraries": _library_versions(),
            **({"extra": dict(extra)} if extra else {}),
        }
        folder = self.model_dir(name)
        with self._lock(name):
            existing = self.versions(name)
            version = (existing[-1] if existing else 0) + 1
            metadata.update(version=version, registered_at=_now())
            staging = folder / f".staging-{uuid.uuid4().hex}"
            try:
                staging.mkdir()
                (staging / MODEL_FILE).write_bytes(payload)
                (staging / METADATA_FILE).write_text(_dumps(metadata), encoding="utf-8")
                for file in (MODEL_FILE, METADATA_FILE):
                    _fsync(staging / file)
                os.replace(staging, self.version_path(name, version))
            except OSError as exc:
                raise OSError(
                    f"registering {name} v{version} in {folder} failed: {exc.strerror or exc}. "
                    "Earlier versions and the champion are unchanged."
                ) from exc
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return version

    def get(self, name: str, version: int) -> ModelVersion:
        """Metadata of one version (raises if it is not registered)."""
        path = self.version_path(name, version)
        meta_path = path / METADATA_FILE
        if not meta_path.exists():
            raise RegistryError(
                f"{name} v{version} is not registered in {self.model_dir(name)}; "
                f"registered versions: {self.versions(name)}"
            )
        return ModelVersion(name, version, path, json.loads(meta_path.read_text("utf-8")))

    def load(self, name: str, version: int) -> LoadedModel:
        """Unpickle one version, checking the file is the one registered."""
        info = self.get(name, version)
        payload = (info.path / MODEL_FILE).read_bytes()
        expected = info.metadata.get("model_sha256")
        if expected and hashlib.sha256(payload).hexdigest() != expected:
            raise RegistryError(
                f"{info.path / MODEL_FILE} does not match the checksum in its metadata; the file "
                "was changed or damaged: register the model again"
            )
        model = pickle.loads(payload)  # noqa: S301 - written by this registry, in our own lake
        return LoadedModel(name, version, model, info.metadata)

    def version_table(self, name: str) -> pl.DataFrame:
        """One row per version: when, holdout, primary metric and value, champion or not."""
        current = self.champion_version(name)
        rows = []
        for v in self.versions(name):
            meta = self.get(name, v).metadata
            metric = meta["primary_metric"]
            rows.append(
                {
                    "version": v,
                    "registered_at": meta.get("registered_at"),
                    "holdout_id": meta["holdout_id"],
                    "primary_metric": metric,
                    "value": meta["metrics"].get(metric),
                    "code_version": meta.get("code_version"),
                    "is_champion": v == current,
                }
            )
        schema = {
            "version": pl.Int64,
            "registered_at": pl.Utf8,
            "holdout_id": pl.Utf8,
            "primary_metric": pl.Utf8,
            "value": pl.Float64,
            "code_version": pl.Utf8,
            "is_champion": pl.Boolean,
        }
        return pl.DataFrame(rows, schema=schema)

    # ------------------------------------------------------------------ champion
    def _champion_pointer(self, name: str) -> dict[str, Any] | None:
        path = self.model_dir(name) / CHAMPION_FILE
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def champion_version(self, name: str) -> int | None:
        """The champion's version number, or None before the first promotion."""
        pointer = self._champion_pointer(name)
        return None if pointer is None else int(pointer["version"])

    def champion(self, name: str) -> ModelVersion | None:
        """The champion's metadata (with ``champion``: when and why it was promoted), or None."""
        pointer = self._champion_pointer(name)
        if pointer is None:
            return None
        info = self.get(name, int(pointer["version"]))
        return ModelVersion(name, info.version, info.path, {**info.metadata, "champion": pointer})

    def load_champion(self, name: str) -> LoadedModel:
        """The champion's model object and metadata; raises if the model has no champion."""
        pointer = self._champion_pointer(name)
        if pointer is None:
            raise RegistryError(
                f"model {name!r} has no champion in {self.model_dir(name)}: train it and record "
                "a promoting decision first (registered versions: "
                f"{self.versions(name) if self.model_dir(name).exists() else []})"
            )
        loaded = self.load(name, int(pointer["version"]))
        metadata = {**loaded.metadata, "champion": pointer}
        return LoadedModel(name, loaded.version, loaded.model, metadata)

    # ------------------------------------------------------------------ decisions
    def decide(
        self,
        name: str,
        challenger_version: int,
        challenger_metrics_on_holdout: Mapping[str, Any] | None = None,
        champion_metrics_on_same_holdout: Mapping[str, Any] | None = None,
        min_improvement: float = 0.0,
        triggers: Sequence[str] = (),
    ) -> Decision:
        """Whether the challenger should replace the champion, with the reasons.

        Compares the primary metric the challenger was registered with, on its holdout.
        ``challenger_metrics_on_holdout`` defaults to the challenger's registered metrics;
        ``champion_metrics_on_same_holdout`` defaults to the champion's registered metrics
        when the champion was registered on the same holdout, and otherwise the champion
        counts as not evaluated (and is kept). Promotes only when the challenger is better by
        more than ``min_improvement`` (in the metric's units). ``triggers`` are the reasons the
        retrain was requested (:func:`retrain_reasons`); they are recorded with the decision.
        Nothing is written: pass the result to :meth:`record`.
        """
        challenger = self.get(name, challenger_version)
        metric, higher = challenger.primary_metric, challenger.higher_is_better
        holdout = challenger.holdout_id
        ch_metrics = _clean_metrics(
            challenger.metrics
            if challenger_metrics_on_holdout is None
            else challenger_metrics_on_holdout,
            "challenger",
        )
        if metric not in ch_metrics:
            raise RegistryError(
                f"challenger metrics {sorted(ch_metrics)} lack the primary metric {metric!r}"
            )
        ch_value = ch_metrics[metric]
        label = f"v{challenger_version:04d}"
        direction = "higher" if higher else "lower"
        base = dict(
            name=name,
            challenger_version=challenger_version,
            primary_metric=metric,
            higher_is_better=higher,
            challenger_value=ch_value,
            min_improvement=float(min_improvement),
            holdout_id=holdout,
            challenger_metrics=ch_metrics,
            triggers=list(triggers),
        )
        champion = self.champion(name)
        if champion is None:
            return Decision(
                **base,
                champion_version=None,
                promoted=True,
                reasons=[
                    f"no champion yet: {label} becomes the first champion "
                    f"({metric} {ch_value:.4g} on holdout {holdout})"
                ],
                champion_value=None,
                improvement=None,
            )
        cp_label = f"v{champion.version:04d}"
        if champion.version == challenger_version:
            return Decision(
                **base,
                champion_version=champion.version,
                promoted=False,
                reasons=[f"{label} is already the champion"],
                champion_value=champion.metrics.get(metric),
                improvement=0.0,
                champion_metrics=champion.metrics,
            )
        if champion.primary_metric != metric:
            raise RegistryError(
                f"the champion {cp_label} is judged on {champion.primary_metric!r} and the "
                f"challenger {label} on {metric!r}; register both with the same primary metric"
            )
        if champion_metrics_on_same_holdout is None and champion.holdout_id == holdout:
            champion_metrics_on_same_holdout = champion.metrics
        cp_metrics = (
            None
            if champion_metrics_on_same_holdout is None
            else _clean_metrics(champion_metrics_on_same_holdout, "champion")
        )
        cp_value = None if cp_metrics is None else cp_metrics.get(metric)
        if cp_value is None or math.isnan(cp_value):
            return Decision(
                **base,
                champion_version=champion.version,
                promoted=False,
                reasons=[
                    f"the champion {cp_label} could not be evaluated on holdout {holdout} "
                    f"(no {metric} for it), so {label} cannot be shown better; champion kept. "
                    "Score the champion on this holdout and decide again, or promote by hand "
                    "with promote()"
                ],
                champion_value=None,
                improvement=None,
                champion_metrics=cp_metrics,
            )
        if math.isnan(ch_value):
            return Decision(
                **base,
                champion_version=champion.version,
                promoted=False,
                reasons=[f"challenger {label} has no usable {metric} (NaN); champion kept"],
                champion_value=cp_value,
                improvement=None,
                champion_metrics=cp_metrics,
            )
        improvement = ch_value - cp_value if higher else cp_value - ch_value
        promoted = improvement > min_improvement
        comparison = (
            f"{metric} ({direction} is better) on holdout {holdout}: challenger {label} "
            f"{ch_value:.4g} vs champion {cp_label} {cp_value:.4g}, improvement "
            f"{improvement:+.4g}"
        )
        if promoted:
            verdict = f"better by more than {min_improvement:g}: {label} replaces {cp_label}"
        elif improvement > 0:
            verdict = (
                f"better, but not by more than the required {min_improvement:g}: {cp_label} kept"
            )
        elif improvement == 0:
            verdict = f"no better (a tie keeps the champion): {cp_label} kept"
        else:
            verdict = f"worse: {cp_label} kept"
        return Decision(
            **base,
            champion_version=champion.version,
            promoted=promoted,
            reasons=[f"{comparison}; {verdict}"],
            champion_value=cp_value,
            improvement=improvement,
            champion_metrics=cp_metrics,
        )

    def record(self, decision: Decision) -> Path:
        """Append the decision to the log and, if it promotes, make the challenger champion.

        Refuses (and writes nothing) when the champion changed since the decision was made,
        so two retrains deciding at once cannot both promote over the same champion.
        """
        folder = self.model_dir(decision.name)
        with self._lock(decision.name):
            current = self.champion_version(decision.name)
            if current != decision.champion_version:
                raise RegistryError(
                    f"the champion of {decision.name} is now {_label(current)}, not "
                    f"{_label(decision.champion_version)} as when the decision was made; "
                    "decide again"
                )
            if decision.promoted:
                self.get(decision.name, decision.challenger_version)  # must exist
                pointer = {
                    "name": decision.name,
                    "version": decision.challenger_version,
                    "promoted_at": decision.decided_at,
                    "previous_version": decision.champion_version,
                    "primary_metric": decision.primary_metric,
                    "value": decision.challenger_value,
                    "holdout_id": decision.holdout_id,
                    "reasons": decision.reasons,
                }
                self._atomic_write(folder / CHAMPION_FILE, _dumps(pointer).encode("utf-8"))
            line = json.dumps(_finite(decision.to_dict()), sort_keys=True, default=_json_default)
            # One short append per decision under the lock: lines never interleave.
            with open(folder / DECISIONS_FILE, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return folder / DECISIONS_FILE

    def promote(self, name: str, version: int, reason: str, record: bool = True) -> Decision:
        """Make ``version`` the champion by hand (a rollback, or an override), recorded.

        With ``record=False`` the decision is only returned: pass it to :meth:`record` later.
        """
        if not reason.strip():
            raise RegistryError("say why the version is promoted by hand (reason is empty)")
        info = self.get(name, version)
        current = self.champion_version(name)
        decision = Decision(
            name=name,
            challenger_version=version,
            champion_version=current,
            promoted=True,
            reasons=[f"promoted by hand: {reason}"],
            primary_metric=info.primary_metric,
            higher_is_better=info.higher_is_better,
            challenger_value=info.metrics.get(info.primary_metric),
            champion_value=None,
            improvement=None,
            min_improvement=0.0,
            holdout_id=info.holdout_id,
            challenger_metrics=info.metrics,
        )
        if record:
            self.record(decision)
        return decision

    def decisions(self, name: str) -> pl.DataFrame:
        """Every recorded decision of a model, oldest first (:data:`DECISION_SCHEMA`)."""
        path = self.model_dir(name) / DECISIONS_FILE
        rows = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    data = json.loads(line)
                    rows.append({k: data.get(k) for k in DECISION_SCHEMA})
        return pl.DataFrame(rows, schema=DECISION_SCHEMA)


def load_champion(root: str | Path, model_name: str) -> LoadedModel:
    """The serving model of ``model_name`` from the lake at ``root``: ``.model``, ``.metadata``."""
    return ModelRegistry(root).load_champion(model_name)


def retrain_reasons(
    drift: pl.DataFrame | None,
    rows_at_training: int,
    rows_now: int,
    live_metric: float | None,
    champion_metric: float | None,
    psi_threshold: float = DEFAULT_PSI_THRESHOLD,
    growth_share: float = DEFAULT_GROWTH_SHARE,
    metric_drop: float = DEFAULT_METRIC_DROP,
    higher_is_better: bool = True,
) -> list[str]:
    """Why the model should be retrained now, as sentences; empty when no trigger fires.

    - **drift**: a feature's PSI (``drift``: ``feature, psi`` as ``drift.feature_drift``
      returns) at or above ``psi_threshold`` (0.25: a major shift by the usual rule);
    - **new data**: ``rows_now`` at least ``(1 + growth_share)`` times ``rows_at_training``;
    - **live metric**: the champion's metric on recent live outcomes worse than its holdout
      metric by at least ``metric_drop``, in the metric's own units (0.05 of AUC, say).
      ``higher_is_better=False`` for error metrics.
    """
    reasons: list[str] = []
    if drift is not None and drift.height:
        if not {"feature", "psi"} <= set(drift.columns):
            raise RegistryError("drift must have feature and psi columns (feature_drift's frame)")
        drifted = (
            drift.filter(pl.col("psi").is_not_null() & ~pl.col("psi").is_nan())
            .filter(pl.col("psi") >= psi_threshold)
            .sort("psi", descending=True)
        )
        if drifted.height:
            listed = ", ".join(f"{f} {p:.3f}" for f, p in drifted.select("feature", "psi").rows())
            reasons.append(
                f"input drift: PSI at or above {psi_threshold:g} on {drifted.height} "
                f"feature(s): {listed}"
            )
    if rows_at_training < 0 or rows_now < 0:
        raise RegistryError("row counts cannot be negative")
    if rows_at_training == 0:
        if rows_now > 0:
            reasons.append(f"new data: {rows_now:,} rows now and none at training")
    elif rows_now - rows_at_training >= growth_share * rows_at_training:
        growth = rows_now / rows_at_training - 1
        reasons.append(
            f"new data: {rows_now:,} rows now vs {rows_at_training:,} at training "
            f"(+{growth:.0%}, threshold +{growth_share:.0%})"
        )
    if live_metric is not None and champion_metric is not None:
        if not (math.isnan(live_metric) or math.isnan(champion_metric)):
            drop = live_metric - champion_metric
            if higher_is_better:
                drop = -drop
            # A tolerance so a drop of exactly the threshold counts despite float rounding.
            if drop >= metric_drop - 1e-12:
                reasons.append(
                    f"live metric worse: {live_metric:.4g} live vs {champion_metric:.4g} on the "
                    f"holdout ({drop:.4g} worse, threshold {metric_drop:g})"
                )
    return reasons
