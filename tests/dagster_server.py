"""A real ``dagster dev`` (webserver + daemon) for tests, on a loopback port, with its own
``DAGSTER_HOME`` and data folder, driven through its GraphQL API.

Started in its own process group and stopped with SIGINT (which ``dagster dev`` turns into a
clean shutdown of the webserver, daemon and code server), then SIGKILL for whatever is left,
so no test leaves a server behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retail_assets.instance import ensure_dagster_home

REPO = Path(__file__).resolve().parents[1]
LOCATION = "retail_assets"
REPOSITORY = "__repository__"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterServer:
    """A running ``dagster dev``: its URL, instance folder, log file and GraphQL client."""

    def __init__(self, url: str, home: Path, log_path: Path, proc: subprocess.Popen):
        self.url = url
        self.home = home
        self.log_path = log_path
        self.proc = proc

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        """POST a GraphQL query; raises with the server's errors if it answered any."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def wait_until_ready(self, timeout: float = 240) -> None:
        """Wait for the webserver, the loaded code location and a healthy daemon."""
        deadline = time.monotonic() + timeout
        last = "not started"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            try:
                data = self.graphql(_READY_QUERY, timeout=10)
            except (urllib.error.URLError, ConnectionError, OSError, RuntimeError) as exc:
                last = str(exc)
                time.sleep(1)
                continue
            entries = data["workspaceOrError"].get("locationEntries", [])
            loaded = [
                e
                for e in entries
                if e["loadStatus"] == "LOADED"
                and (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
            ]
            errors = [
                e["locationOrLoadError"]
                for e in entries
                if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"
            ]
            if errors:
                raise RuntimeError(f"code location failed to load: {errors}")
            statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
            needed = {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "BACKFILL"}
            healthy = {s["daemonType"] for s in statuses if s["healthy"]}
            if loaded and needed <= healthy:
                return
            last = f"location loaded: {bool(loaded)}, healthy daemons: {sorted(healthy)}"
            time.sleep(1)
        raise TimeoutError(
            f"dagster dev not ready after {timeout:.0f} s ({last}):\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # the code server and run workers of the group, if any outlived the shutdown
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


_READY_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
}
"""


def platform_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment for a platform whose data lives under ``root``."""
    env = dict(os.environ)
    env.update(
        {
            "DAGSTER_HOME": str(root / "dagster_home"),
            "RETAIL_DATA_DIR": str(root / "data"),
            "RETAIL_WAREHOUSE_PATH": str(root / "data" / "warehouse.duckdb"),
            "RETAIL_LAKE_ROOT": str(root / "data" / "lake"),
            "RETAIL_LANDING_ROOT": str(root / "data" / "landing"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@contextmanager
def dagster_dev(root: Path, env: dict[str, str] | None = None) -> Iterator[DagsterServer]:
    """Start ``dagster dev`` for the workspace with data under ``root``; stop it afterwards.

    ``env`` is the full environment (see :func:`platform_env`); its ``DAGSTER_HOME`` gets the
    packaged ``dagster.yaml``, as the CLI installs it.
    """
    env = env or platform_env(root)
    home = ensure_dagster_home(env["DAGSTER_HOME"], set_env=False)
    port = free_port()
    log_path = root / "dagster_dev.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(REPO / "workspace.yaml"),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches every child
        )
    server = DagsterServer(f"http://127.0.0.1:{port}", home, log_path, proc)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()
