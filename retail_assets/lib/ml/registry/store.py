"""The model registry's storage: versioned artifacts written atomically under a file lock.

:class:`ModelRegistry` registers, lists and loads versions; its champion and decision methods
come from :class:`~retail_assets.lib.ml.registry.champion.ChampionDecisions`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
from filelock import FileLock

from retail_assets.lib.ml.registry.champion import ChampionDecisions
from retail_assets.lib.ml.registry.records import (
    _VERSION_DIR,
    LOCK_FILE,
    METADATA_FILE,
    MODEL_FILE,
    MODELS_DIR,
    LoadedModel,
    ModelVersion,
    RegistryError,
    _check_name,
    _clean_metrics,
    _dumps,
    _fsync,
    _library_versions,
    _now,
    _version_dir,
)


class ModelRegistry(ChampionDecisions):
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


def load_champion(root: str | Path, model_name: str) -> LoadedModel:
    """The serving model of ``model_name`` from the lake at ``root``: ``.model``, ``.metadata``."""
    return ModelRegistry(root).load_champion(model_name)
