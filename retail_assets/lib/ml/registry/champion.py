"""Champion/challenger: which version serves, the decisions that change it, when to retrain.

:meth:`ChampionDecisions.decide` compares a challenger with the champion on the same holdout
and :meth:`ChampionDecisions.record` logs the decision and moves the champion pointer;
:func:`retrain_reasons` turns drift, data growth and a falling live metric into reasons.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from retail_assets.lib.ml.registry.records import (
    CHAMPION_FILE,
    DECISION_SCHEMA,
    DECISIONS_FILE,
    Decision,
    LoadedModel,
    ModelVersion,
    RegistryError,
    _clean_metrics,
    _dumps,
    _finite,
    _json_default,
    _label,
)

DEFAULT_PSI_THRESHOLD = 0.25
DEFAULT_GROWTH_SHARE = 0.2
DEFAULT_METRIC_DROP = 0.05


class ChampionDecisions:
    """The champion pointer and the champion/challenger decisions of a model registry.

    A base class of :class:`~retail_assets.lib.ml.registry.store.ModelRegistry`: its methods
    use the registry's storage (``model_dir``, ``get``, ``load``, ``_lock``, ``_atomic_write``).
    """

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
