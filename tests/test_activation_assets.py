"""The activation group materialized in-process on a real lake, with a persistent instance.

Activation needs nothing upstream to run: the spend history is simulated from the ground
truth in ``channels.yaml`` and, before the models are trained, the configured segments share
the budget. So these tests run the ``activation`` job alone on a temp warehouse, with a
Dagster instance on disk that ``retail-assets verify`` reads back.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import yaml
from conftest import make_platform

from retail_assets import cli
from retail_assets.definitions import build_definitions
from retail_assets.defs.activation.keys import DSP_PAYLOAD
from retail_assets.defs.resources import CreativeWriter
from retail_assets.lib.activation import media
from retail_assets.lib.activation import payload as plan
from retail_assets.lib.config import DEFAULT_CONFIG_DIR, load_channels_config

DAY = "2025-06-30"


class Activation:
    """The real definitions on a temp warehouse and a Dagster instance in a temp folder."""

    def __init__(self, root: Path, creative_writer: CreativeWriter | None = None, **overrides):
        self.root = root
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.platform = make_platform(root, customers=500, **overrides)
        self.defs = build_definitions(self.platform, creative_writer=creative_writer)
        self.instance = dg.DagsterInstance.local_temp(str(self.home))
        self.lake = self.platform.lake()

    def run(self, day: str = DAY, selection: list[str] | None = None):
        job = self.defs.resolve_job_def("activation")
        kwargs = {}
        if selection:
            kwargs["asset_selection"] = [dg.AssetKey.from_user_string(s) for s in selection]
        return job.execute_in_process(
            partition_key=day, instance=self.instance, raise_on_error=False, **kwargs
        )

    def payload_path(self, day: str = DAY) -> Path:
        return self.lake.partition_path("activation", "dsp_payload", day, filename="payload.json")

    def verify(self, path: Path, monkeypatch) -> int:
        monkeypatch.setenv("DAGSTER_HOME", str(self.home))
        return cli.main(["verify", str(path)])


def failures(result) -> dict[str, str]:
    return {
        e.step_key: e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    }


@pytest.fixture(scope="module")
def act(tmp_path_factory):
    a = Activation(tmp_path_factory.mktemp("activation"))
    result = a.run()
    assert result.success, failures(result)
    return a


def test_the_plan_is_valid_exact_and_beats_both_baselines(act):
    payload = json.loads(act.payload_path().read_text())
    plan.validate_plan(payload)  # raises on any schema or cross-field problem
    body = payload["body"]
    assert body["flight"] == {"start_date": "2025-07-01", "end_date": "2025-07-07"}
    amounts = [int(li["budget"]["amount_micros"]) for li in body["line_items"]]
    assert sum(amounts) == int(body["budget"]["total_micros"]) == 10_000 * 7 * 10**6
    assert all(a % 10_000 == 0 for a in amounts)  # whole cents
    # Three configured segments x four channels, each with >= 2 usable creatives.
    assert len(body["line_items"]) == 12
    assert all(len(li["creatives"]) >= 2 for li in body["line_items"])
    assert all(c["compliance"] != "red" for li in body["line_items"] for c in li["creatives"])
    assert all(set(li["audience"]) == {"segment_ref", "consent"} for li in body["line_items"])

    alloc = act.lake.read("activation", "budget_allocation", [DAY])
    assert alloc.height == 12
    totals = dict(alloc.group_by("method").agg(pl.col("conversions_p50").sum()).iter_rows())
    # On the fitted curves no feasible split beats the optimum (a baseline can tie it when the
    # same guardrails pin it to the same corner).
    assert totals["optimized"] >= totals["inverse_cpa"] - 1e-6
    assert totals["optimized"] >= totals["historical"] - 1e-6
    assert totals["optimized"] > min(totals["inverse_cpa"], totals["historical"]) + 1.0
    for method, rows in alloc.group_by("method"):
        assert rows["budget_micros"].sum() == 70_000_000_000, method
        assert (rows["spend"] >= rows["lower_bound"] - 1e-6).all(), method
        assert (rows["spend"] <= rows["upper_bound"] + 1e-6).all(), method
    # KKT on the fitted curves: channels strictly inside their bounds share one marginal
    # CPA; a channel at its ceiling is cheaper at the margin, one at its floor dearer.
    opt = alloc.filter(pl.col("method") == "optimized")
    inside = opt.filter(pl.col("binding") == "none")["marginal_cpa"].to_numpy()
    assert len(inside) >= 1
    np.testing.assert_allclose(inside, inside.mean(), rtol=2e-3)
    for row in opt.iter_rows(named=True):
        if row["binding"] == "upper":
            assert row["marginal_cpa"] <= inside.mean() * (1 + 2e-3)
        if row["binding"] == "lower":
            assert row["marginal_cpa"] >= inside.mean() * (1 - 2e-3)
    assert (opt["conversions_p05"] <= opt["conversions_p50"]).all()
    assert (opt["conversions_p50"] <= opt["conversions_p95"]).all()

    curves = act.lake.read("activation", "channel_response_curves", [DAY])
    assert sorted(curves["channel"]) == ["CTV", "Display", "Email", "PPC"]
    assert (curves["source"] == "simulated").all()
    segs = act.lake.read("activation", "segment_budgets", [DAY])
    assert set(segs["basis"]) == {"configured"}
    assert (
        segs.group_by("channel")
        .agg(pl.col("budget_micros").sum())
        .sort("channel")["budget_micros"]
        .to_list()
        == opt.sort("channel")["budget_micros"].to_list()
    )


def test_verify_accepts_the_payload_and_rejects_a_tampered_one(act, tmp_path, monkeypatch, capsys):
    path = act.payload_path()
    assert act.verify(path, monkeypatch) == 0
    assert "OK" in capsys.readouterr().out
    payload = json.loads(path.read_text())
    lineage = payload["lineage"]
    assert set(lineage["input_data_versions"]) == {
        "activation/budget_allocation",
        "activation/segment_budgets",
        "activation/creative_library",
        "activation/channel_response_curves",
    }
    assert all(lineage["input_data_versions"].values())
    record = act.instance.fetch_materializations(DSP_PAYLOAD, limit=1).records[0]
    assert record.asset_materialization.tags["dagster/data_version"] == lineage["body_sha256"]
    assert record.run_id == lineage["lineage_id"] == lineage["dagster_run_id"]

    item = payload["body"]["line_items"][0]
    amount = item["budget"]["amount_micros"]
    item["budget"]["amount_micros"] = str(int(amount) + 10_000)  # one cent more
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(payload))
    assert act.verify(tampered, monkeypatch) == 1
    err = capsys.readouterr().err
    assert "body hash mismatch" in err

    forged = json.loads(path.read_text())
    forged["lineage"]["input_data_versions"]["activation/budget_allocation"] = "0" * 64
    other = tmp_path / "forged.json"
    other.write_text(json.dumps(forged))
    assert act.verify(other, monkeypatch) == 1
    assert "input activation/budget_allocation" in capsys.readouterr().err


def test_a_rerun_on_the_same_inputs_gives_the_same_hash_and_delivers_nothing_twice(act):
    before = json.loads(act.payload_path().read_text())
    deliveries = act.lake.read("activation", "dsp_delivery", [DAY])
    assert set(deliveries["target"]) == {"canonical", "google_ads", "dv360", "meta", "ttd"}
    assert set(deliveries["status"]) == {"delivered"}
    outbox = Path(act.platform.delivery_sink())
    files = sorted(p.relative_to(outbox) for p in outbox.rglob("*.json"))
    assert len(files) == 5

    result = act.run()
    assert result.success, failures(result)
    after = json.loads(act.payload_path().read_text())
    assert after["lineage"]["body_sha256"] == before["lineage"]["body_sha256"]
    assert after["lineage"]["dagster_run_id"] != before["lineage"]["dagster_run_id"]
    again = act.lake.read("activation", "dsp_delivery", [DAY])
    # The renderings are the same bytes; the canonical file carries the new run's lineage.
    status = dict(again.select("target", "status").iter_rows())
    assert status.pop("canonical") == "replaced"
    assert set(status.values()) == {"already_delivered"}
    assert sorted(p.relative_to(outbox) for p in outbox.rglob("*.json")) == files
    (meta_file,) = [f for f in files if f.name == "meta.json"]
    meta = json.loads((outbox / meta_file).read_text())
    cents = [a["ad_set"]["lifetime_budget"] for a in meta["ad_sets"]]
    assert all(isinstance(c, int) for c in cents) and sum(cents) == 10_000 * 7 * 100


def _config_dir(tmp_path: Path, channels=None, activation=None) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    for name, change in (("channels.yaml", channels), ("activation.yaml", activation)):
        if change:
            data = yaml.safe_load((folder / name).read_text())
            change(data)
            (folder / name).write_text(yaml.safe_dump(data))
    return folder


def test_infeasible_guardrails_fail_naming_them_and_write_nothing(tmp_path):
    def floors(data):
        for name, ch in data["channels"].items():
            # 3 x 2,900 + 1,900 = 10,600 a day > the 10,000 budget
            ch["min_daily"] = 1_900 if name == "Email" else 2_900
        data["guardrails"] = {"max_change": None, "max_multiple_of_observed": None}

    a = Activation(tmp_path, config_dir=str(_config_dir(tmp_path, channels=floors)))
    result = a.run()
    errors = failures(result)
    assert set(errors) == {"activation__budget_allocation"}
    message = errors["activation__budget_allocation"]
    assert "infeasible" in message.lower() and "min" in message.lower()
    assert "Display" in message and "Email" in message and "70,000.00" in message
    assert "74,200.00" in message  # the floors' sum over the 7-day flight
    assert not a.lake.partition_files("activation", "budget_allocation")
    assert not a.payload_path().exists()


def test_a_users_history_file_is_fitted_and_a_bad_one_named(tmp_path):
    sims = media.simulations_from_config(load_channels_config())
    history = media.simulate_media_history(sims, dt.date.fromisoformat(DAY), 200, seed=7)
    good = tmp_path / "spend.csv"
    history.write_csv(good)
    a = Activation(tmp_path / "w", media_history=str(good))
    result = a.run(selection=["activation/channel_response_curves"])
    assert result.success, failures(result)
    curves = a.lake.read("activation", "channel_response_curves", [DAY])
    assert set(curves["source"]) == {"spend.csv"} and (curves["days"] == 200).all()
    before = a.lake.partition_path("activation", "channel_response_curves", DAY).read_bytes()

    bad = tmp_path / "bad_spend.csv"
    history.drop("conversions").write_csv(bad)
    b = Activation(tmp_path / "w", media_history=str(bad))
    result = b.run()
    errors = failures(result)
    assert list(errors) == ["activation__channel_response_curves"]
    message = errors["activation__channel_response_curves"]
    assert "bad_spend.csv" in message and "conversions" in message
    # Nothing downstream ran and the earlier table is untouched.
    assert (
        a.lake.partition_path("activation", "channel_response_curves", DAY).read_bytes() == before
    )
    assert not a.lake.partition_files("activation", "budget_allocation")


class BannedClaimsWriter(CreativeWriter):
    """Stands in for an LLM client that writes copy the compliance rules must catch."""

    def generator(self, config):
        class Writer:
            name = "test-llm"

            def generate(self, request):
                return [
                    (f"Guaranteed results for {request.segment_name}", "Risk-free, 100% free."),
                    ("The #1 miracle deal", "Lowest price ever, guaranteed."),
                ]

        return Writer()


def test_red_creatives_from_a_plugged_in_writer_never_reach_the_payload(tmp_path):
    a = Activation(tmp_path, creative_writer=BannedClaimsWriter())
    result = a.run(
        selection=[
            "activation/channel_response_curves",
            "activation/budget_allocation",
            "activation/segment_budgets",
            "activation/creative_library",
            "activation/dsp_payload",
        ]
    )
    assert result.success, failures(result)
    library = a.lake.read("activation", "creative_library", [DAY])
    red = library.filter(pl.col("compliance") == "red")
    assert red.height >= 12 and set(red["source"]) == {"test-llm"}
    assert red["reasons"].str.contains("(?i)guarantee|risk-free|#1|miracle").all()
    text = a.payload_path().read_text().lower()
    for claim in ("guaranteed", "risk-free", "miracle", "#1"):
        assert claim not in text
    payload = json.loads(a.payload_path().read_text())
    variants = {c["variant_id"] for li in payload["body"]["line_items"] for c in li["creatives"]}
    assert variants.isdisjoint(set(red["variant_id"]))
    assert all(len(li["creatives"]) >= 2 for li in payload["body"]["line_items"])


class FlakyPlatform(BaseHTTPRequestHandler):
    """An ad platform endpoint that fails the first attempt of every key, then accepts once."""

    seen: dict[str, int] = {}
    stored: dict[str, bytes] = {}

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] == 1:
            self.send_response(503)
            self.end_headers()
            return
        self.stored.setdefault(key, body)
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "created"}')

    def log_message(self, *args):
        pass


def test_delivery_to_an_http_endpoint_retries_and_arrives_once(act, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyPlatform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/plans"
        a = Activation(tmp_path, dsp_sink=url, dsp_retries=3)
        # Reuse the module's curves and payload: copy its lake, then deliver from it.
        shutil.copytree(act.root / "lake", tmp_path / "lake", dirs_exist_ok=True)
        result = a.run(selection=["activation/dsp_delivery"])
        assert result.success, failures(result)
        receipts = a.lake.read("activation", "dsp_delivery", [DAY])
        assert receipts.height == 5 and (receipts["attempts"] == 2).all()
        assert len(FlakyPlatform.stored) == 5
        assert set(FlakyPlatform.stored) == set(receipts["idempotency_key"])
        canonical = receipts.filter(pl.col("target") == "canonical")["idempotency_key"][0]
        assert json.loads(FlakyPlatform.stored[canonical]) == json.loads(
            act.payload_path().read_text()
        )
    finally:
        server.shutdown()
