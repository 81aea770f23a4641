"""Model registry (lib/ml/registry.py): versions, champion/challenger, decisions, triggers.

Real files in a temp lake, real scikit-learn models, real threads and processes racing to
register.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from retail_assets.lib.ml.registry import (
    ModelRegistry,
    RegistryError,
    load_champion,
    retrain_reasons,
)

HOLDOUT = "2025-03-01..2025-03-07"


def fitted_model(seed: int = 0) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    return LogisticRegression().fit(x, y)


def register(reg: ModelRegistry, auc: float, holdout: str = HOLDOUT, name: str = "propensity"):
    return reg.register(
        name,
        fitted_model(),
        metrics={"roc_auc": np.float64(auc), "brier": 0.2},
        holdout_id=holdout,
        primary_metric="roc_auc",
        higher_is_better=True,
        trained_on={"window": "2025-01-01..2025-02-28", "rows": 10_000},
        code_version="abc123",
    )


def promote_first(reg: ModelRegistry, auc: float = 0.80) -> int:
    version = register(reg, auc)
    decision = reg.decide("propensity", version)
    assert decision.promoted
    reg.record(decision)
    return version


def test_register_writes_a_complete_version(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    assert register(reg, 0.8) == 1 and register(reg, 0.81) == 2
    folder = tmp_path / "models" / "propensity" / "v0002"
    assert (folder / "model.pkl").exists()
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["version"] == 2 and meta["metrics"] == {"roc_auc": 0.81, "brier": 0.2}
    assert meta["primary_metric"] == "roc_auc" and meta["holdout_id"] == HOLDOUT
    assert meta["trained_on"]["rows"] == 10_000 and meta["code_version"] == "abc123"
    assert "scikit-learn" in meta["libraries"] and len(meta["model_sha256"]) == 64
    # Nothing half-written is left behind.
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".staging")]
    assert leftovers == [] and reg.versions("propensity") == [1, 2]
    assert reg.champion("propensity") is None  # registering does not promote


def test_first_model_becomes_champion_and_loads_back(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    version = register(reg, 0.8)
    decision = reg.decide("propensity", version)
    assert decision.promoted and decision.champion_version is None
    assert "no champion yet" in decision.reasons[0]
    reg.record(decision)
    loaded = load_champion(tmp_path, "propensity")
    assert loaded.version == 1 and loaded.metadata["metrics"]["roc_auc"] == 0.8
    x = np.random.default_rng(9).normal(size=(20, 3))
    np.testing.assert_array_equal(loaded.model.predict_proba(x), fitted_model().predict_proba(x))
    assert loaded.metadata["champion"]["reasons"] == decision.reasons


def test_champion_is_not_replaced_by_a_worse_challenger(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    promote_first(reg, 0.80)
    worse = register(reg, 0.75)
    decision = reg.decide("propensity", worse)
    assert not decision.promoted and decision.champion_version == 1
    assert decision.improvement == pytest.approx(-0.05)
    assert "worse" in decision.reasons[0] and "v0001 kept" in decision.reasons[0]
    reg.record(decision)
    assert reg.champion_version("propensity") == 1
    assert load_champion(tmp_path, "propensity").version == 1


def test_better_challenger_replaces_and_a_tie_keeps(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    promote_first(reg, 0.80)
    tie = register(reg, 0.80)
    kept = reg.decide("propensity", tie)
    assert not kept.promoted and "tie keeps the champion" in kept.reasons[0]
    reg.record(kept)
    better = register(reg, 0.83)
    # The champion was registered on the same holdout, so its stored metrics are compared.
    promoted = reg.decide("propensity", better, triggers=["input drift: PSI 0.31 on views_30d"])
    assert promoted.promoted and promoted.champion_value == 0.80
    assert "v0003 replaces v0001" in promoted.reasons[0]
    reg.record(promoted)
    assert load_champion(tmp_path, "propensity").version == better
    table = reg.version_table("propensity")
    assert table.filter(pl.col("is_champion"))["version"].to_list() == [better]


def test_min_improvement_and_lower_is_better(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    promote_first(reg, 0.80)
    slightly = register(reg, 0.805)
    decision = reg.decide("propensity", slightly, min_improvement=0.01)
    assert not decision.promoted and "not by more than the required 0.01" in decision.reasons[0]
    v1 = reg.register("demand", {"coef": 1}, {"mase": 0.9}, HOLDOUT, "mase", False, {}, "x")
    reg.record(reg.decide("demand", v1))
    v2 = reg.register("demand", {"coef": 2}, {"mase": 0.7}, HOLDOUT, "mase", False, {}, "x")
    v3 = reg.register("demand", {"coef": 3}, {"mase": 1.1}, HOLDOUT, "mase", False, {}, "x")
    assert not reg.decide("demand", v3).promoted  # a higher error is worse
    better = reg.decide("demand", v2)
    assert better.promoted and better.improvement == pytest.approx(0.2)
    assert "lower is better" in better.reasons[0]


def test_champion_must_be_scored_on_the_same_holdout(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    promote_first(reg, 0.80)
    new_holdout = "2025-03-08..2025-03-14"
    challenger = register(reg, 0.90, holdout=new_holdout)
    # The champion's stored 0.80 is from another holdout: not comparable.
    blind = reg.decide("propensity", challenger)
    assert not blind.promoted and "could not be evaluated" in blind.reasons[0]
    assert new_holdout in blind.reasons[0]
    # Scored on the same holdout, the champion is compared (and here wins).
    fair = reg.decide("propensity", challenger, champion_metrics_on_same_holdout={"roc_auc": 0.92})
    assert not fair.promoted and fair.champion_value == 0.92


def test_decisions_are_recorded_with_reasons(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    promote_first(reg, 0.80)
    reg.record(reg.decide("propensity", register(reg, 0.70), triggers=["new data: +25 %"]))
    log = reg.decisions("propensity")
    assert log.height == 2
    assert log["promoted"].to_list() == [True, False]
    assert log["challenger_version"].to_list() == [1, 2]
    assert log["champion_version"].to_list() == [None, 1]
    assert all(len(r) >= 1 for r in log["reasons"].to_list())
    assert log["triggers"].to_list()[1] == ["new data: +25 %"]
    assert ModelRegistry(tmp_path).decisions("nothing_yet").height == 0


def test_stale_decisions_and_bad_input_are_refused(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    promote_first(reg, 0.80)
    a, b = register(reg, 0.85), register(reg, 0.86)
    first, second = reg.decide("propensity", a), reg.decide("propensity", b)
    reg.record(first)
    with pytest.raises(RegistryError, match="decide again"):
        reg.record(second)  # decided against v0001, but v0002 is champion now
    assert reg.champion_version("propensity") == a
    with pytest.raises(RegistryError, match="primary metric 'auc'"):
        reg.register("propensity", 1, {"roc_auc": 0.8}, HOLDOUT, "auc", True, {}, "x")
    with pytest.raises(RegistryError, match="cannot be pickled"):
        reg.register("propensity", lambda: 1, {"roc_auc": 0.8}, HOLDOUT, "roc_auc", True, {}, "x")
    with pytest.raises(RegistryError, match="no champion"):
        load_champion(tmp_path, "churn")
    with pytest.raises(RegistryError, match="lower_snake_case"):
        reg.versions("Bad Name")
    # A damaged artifact is detected rather than unpickled.
    (tmp_path / "models" / "propensity" / "v0002" / "model.pkl").write_bytes(b"garbage")
    with pytest.raises(RegistryError, match="checksum"):
        load_champion(tmp_path, "propensity")


def test_manual_promotion_is_recorded(tmp_path: Path):
    reg = ModelRegistry(tmp_path)
    promote_first(reg, 0.80)
    register(reg, 0.90)
    reg.record(reg.decide("propensity", 2))
    decision = reg.promote("propensity", 1, "roll back: v0002 mis-scores app users")
    assert decision.promoted and reg.champion_version("propensity") == 1
    assert reg.decisions("propensity")["reasons"].to_list()[-1] == [
        "promoted by hand: roll back: v0002 mis-scores app users"
    ]


def test_versions_survive_concurrent_registration_from_threads(tmp_path: Path):
    barrier = threading.Barrier(2)

    def many(worker: int) -> list[int]:
        reg = ModelRegistry(tmp_path)  # each thread its own registry and lock object
        barrier.wait()
        return [register(reg, 0.5 + worker / 10 + i / 100) for i in range(5)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(many, [0, 1]))
    versions = sorted(got[0] + got[1])
    assert versions == list(range(1, 11))
    reg = ModelRegistry(tmp_path)
    assert reg.versions("propensity") == versions
    aucs = {reg.get("propensity", v).metrics["roc_auc"] for v in versions}
    assert len(aucs) == 10  # every registration kept its own files


#: A separate Python process registering eight versions; prints the version numbers it got.
WORKER = """
import json, pathlib, sys, time
from retail_assets.lib.ml.registry import ModelRegistry
root, worker = pathlib.Path(sys.argv[1]), int(sys.argv[2])
reg = ModelRegistry(root)
# Start together: wait until both processes have imported everything.
(root / f"ready-{worker}").touch()
deadline = time.monotonic() + 60
while len(list(root.glob("ready-*"))) < 2 and time.monotonic() < deadline:
    time.sleep(0.005)
print(json.dumps([
    reg.register("shared", {"w": worker, "i": i}, {"m": i}, "h", "m", True, {}, "x")
    for i in range(8)
]))
"""


def test_versions_survive_concurrent_registration_from_processes(tmp_path: Path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), str(worker)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for worker in (0, 1)
    ]
    got = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        got += json.loads(out)
    assert sorted(got) == list(range(1, 17))
    reg = ModelRegistry(tmp_path)
    owners = {tuple(sorted(reg.load("shared", v).model.items())) for v in range(1, 17)}
    assert len(owners) == 16


def test_retrain_reasons_for_each_trigger():
    quiet = pl.DataFrame({"feature": ["views_30d", "monetary_90d"], "psi": [0.05, 0.12]})
    assert retrain_reasons(quiet, 1_000, 1_100, 0.80, 0.81) == []
    assert retrain_reasons(None, 1_000, 1_000, None, None) == []

    drifted = pl.DataFrame(
        {"feature": ["views_30d", "monetary_90d", "recency"], "psi": [0.31, 0.26, float("nan")]}
    )
    (reason,) = retrain_reasons(drifted, 1_000, 1_000, None, None)
    assert reason.startswith("input drift") and "views_30d 0.310, monetary_90d 0.260" in reason
    assert retrain_reasons(drifted, 1_000, 1_000, None, None, psi_threshold=0.4) == []

    (growth,) = retrain_reasons(None, 1_000, 1_200, None, None)
    assert "new data" in growth and "+20%" in growth
    assert retrain_reasons(None, 1_000, 1_199, None, None) == []
    assert "none at training" in retrain_reasons(None, 0, 10, None, None)[0]

    (drop,) = retrain_reasons(None, 1_000, 1_000, live_metric=0.75, champion_metric=0.80)
    assert "live metric worse" in drop
    assert retrain_reasons(None, 1_000, 1_000, 0.76, 0.80) == []
    # An error metric (lower is better) that rises by the threshold triggers too.
    assert retrain_reasons(None, 1, 1, 1.0, 0.9, metric_drop=0.1, higher_is_better=False)
    assert retrain_reasons(None, 1, 1, 0.8, 0.9, metric_drop=0.1, higher_is_better=False) == []

    all_three = retrain_reasons(drifted, 1_000, 2_000, 0.5, 0.8)
    assert [r.split(":")[0] for r in all_three] == ["input drift", "new data", "live metric worse"]
