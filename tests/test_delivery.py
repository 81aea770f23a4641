"""Delivery to a folder and to a real local HTTP server: idempotency keys, retries, atomicity."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from retail_assets.lib.activation import delivery
from retail_assets.lib.activation import dsp_adapters as da
from retail_assets.lib.activation import payload as plan

EXAMPLE = Path(__file__).parent / "fixtures" / "dsp_plan_example.json"


def example() -> dict:
    return json.loads(EXAMPLE.read_text())


class Receiver:
    """A toy idempotent receiver: stores each Idempotency-Key's body once.

    ``script`` is a list of actions for successive requests: an int answers with that status
    before storing anything; ``"store-then-stall"`` stores the body, then sleeps past the
    client's timeout before answering. Once the script is used up, requests are accepted.
    """

    def __init__(self, script: list, stall: float = 0.0, retry_after: str | None = None):
        self.script = list(script)
        self.stall = stall
        self.retry_after = retry_after
        self.stored: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_POST(self):  # noqa: N802 - the http.server API
            data = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers.get("Idempotency-Key")
            with receiver.lock:
                receiver.requests.append({"key": key, "data": data, "headers": dict(self.headers)})
                action = receiver.script.pop(0) if receiver.script else "accept"
                if action in ("accept", "store-then-stall"):
                    duplicate = key in receiver.stored
                    receiver.stored.setdefault(key, data)
            if isinstance(action, int):
                self.send_response(action)
                if receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                body = json.dumps({"error": f"scripted {action}", "detail": "x" * 2000}).encode()
            else:
                if action == "store-then-stall":
                    time.sleep(receiver.stall)
                self.send_response(200 if duplicate else 201)
                body = json.dumps({"duplicate": duplicate}).encode()
            try:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up on this attempt
                pass

    return Handler


@contextmanager
def serve(receiver: Receiver) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    # A short poll interval makes shutdown() quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/plans/{{plan_id}}/{{target}}"
    finally:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------- HTTP


def test_two_503s_then_accepted_arrives_once_with_the_same_key():
    p = example()
    receiver = Receiver([503, 503])
    with serve(receiver) as url:
        sink = delivery.HttpSink(url, timeout=2.0, retries=3, backoff=0.01)
        (receipt,) = delivery.deliver(p, sink)
    sent = plan.dumps(p)
    key = plan.idempotency_key(p["body"]["plan_id"], "canonical", p["lineage"]["body_sha256"])
    assert receipt.attempts == 3 and receipt.status == "delivered"
    assert receipt.key == key and receipt.target == "canonical"
    assert receipt.bytes == len(sent) and receipt.sha256 == hashlib.sha256(sent).hexdigest()
    assert receipt.location_or_url.endswith(f"/plans/{p['body']['plan_id']}/canonical")
    assert [r["key"] for r in receiver.requests] == [key, key, key]
    assert all(r["data"] == sent for r in receiver.requests)
    assert receiver.stored == {key: sent}
    headers = receiver.requests[0]["headers"]
    assert headers["Content-Type"] == "application/json"
    digest = base64.b64encode(hashlib.sha256(sent).digest()).decode()
    assert headers["Content-Digest"] == f"sha-256=:{digest}:"


def test_a_timeout_after_storing_is_retried_and_deduplicated_by_key():
    p = example()
    # Generous figures so a loaded machine still answers the retry within the timeout.
    receiver = Receiver(["store-then-stall"], stall=6.0)
    with serve(receiver) as url:
        sink = delivery.HttpSink(url, timeout=1.5, retries=2, backoff=0.01)
        started = time.monotonic()
        receipts = delivery.deliver(p, sink, dsps=("canonical", "meta"))
        elapsed = time.monotonic() - started
    canonical, meta = receipts
    assert canonical.attempts == 2 and meta.attempts == 1
    assert elapsed < 5.0  # the stalled attempt was cut at the client's timeout, not the stall
    keys = [r["key"] for r in receiver.requests]
    assert keys == [canonical.key, canonical.key, meta.key] and canonical.key != meta.key
    # The server saw the plan twice but stored it once: exactly what was sent.
    assert receiver.stored == {
        canonical.key: plan.dumps(p),
        meta.key: plan.dumps(da.render(p, "meta")),
    }


def test_429_with_retry_after_is_honoured_but_capped():
    p = example()
    receiver = Receiver([429], retry_after="3600")
    with serve(receiver) as url:
        sink = delivery.HttpSink(url, timeout=2.0, retries=1, backoff=0.01, max_retry_after=0.2)
        started = time.monotonic()
        (receipt,) = delivery.deliver(p, sink)
        waited = time.monotonic() - started
    assert receipt.attempts == 2
    assert 0.2 <= waited < 1.5


def test_a_400_is_not_retried_and_names_the_status():
    p = example()
    receiver = Receiver([400])
    with serve(receiver) as url:
        sink = delivery.HttpSink(url, timeout=2.0, retries=3, backoff=0.01)
        with pytest.raises(delivery.DeliveryError) as info:
            delivery.deliver(p, sink)
    assert len(receiver.requests) == 1 and receiver.stored == {}
    err = info.value
    assert err.status == 400 and err.attempts == 1
    assert "HTTP 400" in str(err) and "scripted 400" in str(err)
    assert len(str(err)) < 800  # the response text is cut


def test_retries_run_out_on_persistent_5xx():
    p = example()
    receiver = Receiver([502, 502, 502])
    with serve(receiver) as url:
        sink = delivery.HttpSink(url, timeout=2.0, retries=2, backoff=0.01)
        with pytest.raises(
            delivery.DeliveryError, match="failed after 3 attempts .*HTTP 502"
        ) as info:
            delivery.deliver(p, sink)
    assert info.value.status == 502 and len(receiver.requests) == 3


def test_connection_refused_is_retried_then_reported():
    with serve(Receiver([])) as url:
        pass  # the port is closed again now
    sink = delivery.HttpSink(url, timeout=1.0, retries=2, backoff=0.01)
    with pytest.raises(
        delivery.DeliveryError, match="failed after 3 attempts .*ConnectionError"
    ) as info:
        sink.send(plan_id="p1", target="canonical", key="k", data=b"{}")
    assert info.value.status is None


def test_retry_after_reads_seconds_and_http_dates():
    import datetime as dt

    now = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert delivery.retry_after_seconds("120") == 120.0
    assert delivery.retry_after_seconds("Sat, 01 Mar 2025 12:00:30 GMT", now=now) == 30.0
    assert delivery.retry_after_seconds("Sat, 01 Mar 2025 11:00:00 GMT", now=now) == 0.0
    assert delivery.retry_after_seconds("soon") is None
    assert delivery.retry_after_seconds(None) is None


# ----------------------------------------------------------------------- folder


def test_folder_sink_writes_each_target_and_is_idempotent(tmp_path):
    p = example()
    sink = delivery.FolderSink(tmp_path)
    first = delivery.deliver(p, sink, dsps=("canonical", "dv360", "ttd"))
    assert [r.status for r in first] == ["delivered"] * 3
    folder = tmp_path / p["body"]["plan_id"]
    assert sorted(f.name for f in folder.iterdir()) == ["canonical.json", "dv360.json", "ttd.json"]
    assert (folder / "canonical.json").read_bytes() == plan.dumps(p)
    assert json.loads((folder / "dv360.json").read_text())["dsp"] == "dv360"
    mtime = (folder / "canonical.json").stat().st_mtime_ns
    time.sleep(0.01)
    again = delivery.deliver(p, sink, dsps=("canonical", "dv360", "ttd"))
    assert [r.status for r in again] == ["already_delivered"] * 3
    assert [(r.key, r.sha256) for r in again] == [(r.key, r.sha256) for r in first]
    assert (folder / "canonical.json").stat().st_mtime_ns == mtime  # not rewritten
    # A rerun with new lineage only: same key (same body), new bytes, replaced in place.
    p["lineage"]["processed_at"] = "2025-03-01T11:00:00Z"
    (rerun,) = delivery.deliver(p, sink)
    assert rerun.status == "replaced" and rerun.key == first[0].key
    assert (folder / "canonical.json").read_bytes() == plan.dumps(p)
    assert not list(folder.glob(".*"))  # no temp files left behind


def test_folder_sink_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    p = example()
    sink = delivery.FolderSink(tmp_path)
    (receipt,) = delivery.deliver(p, sink)
    path = Path(receipt.location_or_url)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(delivery.os, "replace", broken_replace)
    p["lineage"]["processed_at"] = "2025-03-01T12:00:00Z"
    with pytest.raises(OSError, match="disk full"):
        delivery.deliver(p, sink)
    assert path.read_bytes() == before  # the old file, whole
    assert [f.name for f in path.parent.iterdir()] == ["canonical.json"]  # temp file removed


def test_folder_sink_refuses_paths_that_climb_out(tmp_path):
    sink = delivery.FolderSink(tmp_path)
    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="unsafe"):
            sink.send(plan_id=bad, target="canonical", key="k", data=b"{}")


def test_nothing_is_delivered_when_the_plan_or_a_rendering_is_invalid(tmp_path):
    p = example()
    p["body"]["line_items"][1]["pacing"] = {"period": "FLIGHT", "type": "ASAP"}
    p["lineage"]["body_sha256"] = plan.body_sha256(p["body"])
    plan.validate_plan(p)  # a valid plan that DV360 cannot take
    sink = delivery.FolderSink(tmp_path)
    with pytest.raises(plan.PlanValidationError, match="dv360"):
        delivery.deliver(p, sink, dsps=("canonical", "dv360"))
    assert list(tmp_path.iterdir()) == []  # the canonical file was not sent either
    p["lineage"]["body_sha256"] = "0" * 64
    with pytest.raises(plan.PlanValidationError, match="body_sha256"):
        delivery.deliver(p, sink)
    with pytest.raises(ValueError, match="unknown targets"):
        delivery.deliver(example(), sink, dsps=("tiktok",))
