"""The Dagster UI in a real browser: Debian's headless chromium, driven by Playwright.

A real ``dagster dev`` (webserver, daemon, code server) on a loopback port, with its own
``DAGSTER_HOME`` and data folder. The test opens the global asset lineage and checks that every
asset group of the definitions is drawn, launches one partition of ``raw/signals`` from the
asset page (*Materialize…*, the partition typed into the launch dialog, *Launch 1 run*), waits
for the run to succeed and checks the partition is materialized by that run.

Screenshots go to ``$RETAIL_TEST_ARTIFACTS/ui/`` (default ``test-artifacts/ui/`` at the repo
root); on failure also ``failure.png`` and the ``dagster dev`` log, whose tail is in the message.
Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it). Deselect
with ``-m "not ui"``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster_server import REPO, DagsterServer, dagster_dev, platform_env

from retail_assets.definitions import build_definitions

defs = build_definitions()

pytestmark = pytest.mark.ui

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root on a machine with a closed network. Playwright adds a new, empty profile
# (--user-data-dir) itself.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
#: How long to wait for an element: the UI renders in seconds, more on a busy 2-core machine.
UI_TIMEOUT_MS = 60_000
#: How long a run may take: the run worker and the step process each load the definitions.
RUN_TIMEOUT_S = 420

#: A daily source with no upstream assets: it needs no reference data and runs in seconds.
ASSET = "raw/signals"
# Two weeks of partitions, so the launch dialog lists every one; a day in the middle, away
# from the partition the `daily_refresh` schedule would pick (yesterday).
TODAY = dt.datetime.now(dt.UTC).date()
START_DATE = TODAY - dt.timedelta(days=14)
PARTITION = (TODAY - dt.timedelta(days=7)).isoformat()

RUN_STATUS = """
query ($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } }
}
"""
MATERIALIZATIONS = """
query ($path: [String!]!, $partition: String!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset { assetMaterializations(partitions: [$partition]) { partition runId } }
  }
}
"""


def asset_groups() -> list[str]:
    """Every asset group of the definitions, as the UI should draw them."""
    graph = defs.resolve_asset_graph()
    return sorted({graph.get(key).group_name for key in graph.get_all_asset_keys()})


@pytest.fixture
def artifacts() -> Path:
    """``$RETAIL_TEST_ARTIFACTS/ui`` (default ``test-artifacts/ui``), emptied of older files."""
    folder = Path(os.environ.get("RETAIL_TEST_ARTIFACTS") or REPO / "test-artifacts") / "ui"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DagsterServer]:
    env = platform_env(tmp_path, RETAIL_CUSTOMERS="1000", RETAIL_START_DATE=START_DATE.isoformat())
    with dagster_dev(tmp_path, env) as server:
        yield server


@pytest.fixture
def page():
    """A page in Debian's headless chromium; fails (not skips) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium "
            "(`apt-get install chromium`; .ci/run installs it)"
        )
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail('playwright is missing: python -m pip install -e ".[test]"')
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(UI_TIMEOUT_MS)
            # A new browser profile may be greeted with "Join the Dagster community": skip it
            # whenever it covers the page.
            community = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
            page.add_locator_handler(
                community, lambda dialog: dialog.get_by_role("button", name="Skip").click()
            )
            yield page
        finally:
            browser.close()


@contextmanager
def evidence_on_failure(page, server: DagsterServer, folder: Path) -> Iterator[None]:
    """On failure: a screenshot and the ``dagster dev`` log in ``folder``, the tail in the error."""
    try:
        yield
    except Exception as exc:
        shot = folder / "failure.png"
        try:
            page.screenshot(path=shot, full_page=True)
        except Exception as shot_error:  # the browser itself may be what failed
            shot = f"none ({shot_error})"
        if server.log_path.exists():
            shutil.copy(server.log_path, folder / "dagster_dev.log")
        raise AssertionError(
            f"{exc}\n\nscreenshot: {shot}\nlog: {folder / 'dagster_dev.log'}\n"
            f"dagster dev log tail:\n{server.log_tail(40)}"
        ) from exc


def check_asset_graph(page, url: str, groups: list[str]) -> None:
    """The global asset lineage draws one node per asset group."""
    from playwright.sync_api import expect

    page.goto(f"{url}/asset-groups")
    expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible()
    graph = page.locator("svg foreignObject")  # the graph's nodes; the sidebar lists them too
    for group in groups:
        expect(graph.get_by_text(group, exact=True), f"group {group!r}").to_be_visible()


def launch_partition(page, url: str, asset: str, partition: str, folder: Path) -> str:
    """Materialize one partition from the asset's page; returns the run id."""
    from playwright.sync_api import expect

    page.goto(f"{url}/assets/{asset}")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    expect(dialog).to_be_visible()
    # The partition selection: keys and [start...end] ranges, comma-separated.
    selection = dialog.get_by_role("textbox")
    selection.fill(partition)
    selection.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    page.screenshot(path=folder / "launch-dialog.png")
    dialog.get_by_role("button", name="Launch 1 run").click()
    toast = page.get_by_role("region", name="Notifications").get_by_role("listitem")
    view = toast.filter(has_text="Launched run").get_by_role("link", name="View")
    expect(view).to_be_visible()
    href = view.get_attribute("href")  # /runs/<run id>
    assert href and href.startswith("/runs/"), href
    return href.removeprefix("/runs/")


def wait_for_run(server: DagsterServer, run_id: str, timeout: float = RUN_TIMEOUT_S) -> str:
    """Poll the GraphQL API until the run ends; returns its status."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        status = server.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            return status
        time.sleep(2)
    raise TimeoutError(f"run {run_id} still {status} after {timeout:.0f} s")


def materializing_runs(server: DagsterServer, asset: str, partition: str) -> set[str]:
    """The runs that materialized ``partition`` of ``asset``."""
    data = server.graphql(MATERIALIZATIONS, {"path": asset.split("/"), "partition": partition})
    return {m["runId"] for m in data["assetOrError"]["assetMaterializations"]}


def test_asset_graph_and_a_partition_launched_from_the_ui(server, page, artifacts):
    from playwright.sync_api import expect

    groups = asset_groups()
    assert {"sources", "activation"} <= set(groups), groups
    started = time.monotonic()

    def lap(what: str) -> None:  # printed: where the time goes on a slow machine
        print(f"{time.monotonic() - started:6.1f} s  {what}")

    with evidence_on_failure(page, server, artifacts):
        check_asset_graph(page, server.url, groups)
        page.screenshot(path=artifacts / "asset-graph.png")
        lap(f"asset graph shows {len(groups)} groups")

        run_id = launch_partition(page, server.url, ASSET, PARTITION, artifacts)
        lap(f"launched run {run_id} for {ASSET} {PARTITION}")
        status = wait_for_run(server, run_id)
        assert status == "SUCCESS", f"run {run_id} ended {status}"
        assert run_id in materializing_runs(server, ASSET, PARTITION)
        lap("run succeeded")

        page.goto(f"{server.url}/runs/{run_id}")
        expect(page.get_by_text(f"partition: {PARTITION}", exact=True)).to_be_visible()
        expect(page.get_by_text("Success", exact=True)).to_be_visible()
        page.screenshot(path=artifacts / "run.png")
        lap("run page shows Success")
