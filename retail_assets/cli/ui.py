"""Getting started: ``init`` writes a configuration folder, ``ui`` starts ``dagster dev``.

``ui`` runs ``dagster dev`` on the instance ``materialize`` uses, so its runs show up there.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from pathlib import Path

from retail_assets.cli.paths import _dagster_home
from retail_assets.cli.runner import PLANNED_EVENTS_ENV

log = logging.getLogger("retail_assets")


def cmd_init(args: argparse.Namespace) -> int:
    """Write a configuration folder: the packaged YAML files and a sources.yaml template."""
    from retail_assets.lib.sources.world import FILENAME, init_config

    folder = Path(args.folder)
    written = init_config(folder, force=args.force)
    for path in written:
        print(f"wrote {path}")
    kept = sorted({p.name for p in folder.glob("*.yaml")} - {p.name for p in written})
    if kept:
        print(f"kept (exists; --force overwrites): {', '.join(kept)}")
    print(
        f"next: edit {folder / FILENAME} (world: retailer, your sources), then\n"
        f"  export RETAIL_CONFIG_DIR={folder}\n"
        "  retail-assets materialize --start YYYY-MM-DD --end YYYY-MM-DD"
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` (webserver and daemon) with a persistent DAGSTER_HOME."""
    import subprocess

    home = _dagster_home()
    workspace = Path(__file__).resolve().parent.parent.parent / "workspace.yaml"
    cmd = ["dagster", "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)] if workspace.exists() else ["-m", "retail_assets.definitions"]
    log.info("starting %s (DAGSTER_HOME=%s); stop with Ctrl-C", " ".join(cmd), home)
    # dagster dev must receive SIGINT to shut down its webserver and daemon cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A backfill's range run records one planned event per asset, not one per asset and day
    # (4,745 for a year of the history assets), as `materialize` does.
    os.environ.setdefault(PLANNED_EVENTS_ENV, "true")
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()
