"""The Dagster instance folder (``DAGSTER_HOME``): run history, schedules, the run queue.

:func:`ensure_dagster_home` creates the folder and installs the packaged ``dagster.yaml``
(run queue, concurrency pools, run monitoring and retries for a 2-core, 8 GB laptop) when the
folder has none. A ``dagster.yaml`` already there is the user's and is left alone.
"""

from __future__ import annotations

import logging
import os
from importlib.resources import files
from pathlib import Path

log = logging.getLogger("retail_assets")

DEFAULT_HOME = ".dagster_home"


def packaged_dagster_yaml() -> str:
    """The text of the ``dagster.yaml`` shipped with the package."""
    return files("retail_assets").joinpath("dagster.yaml").read_text(encoding="utf-8")


def ensure_dagster_home(home: str | Path | None = None, *, set_env: bool = True) -> Path:
    """Create the instance folder with our ``dagster.yaml`` and point ``DAGSTER_HOME`` at it.

    ``home`` defaults to ``$DAGSTER_HOME``, else ``./.dagster_home``; ``set_env=False`` leaves
    this process's environment alone. Returns the folder's absolute path.

    Raises:
        SystemExit: the folder cannot be created or written, with what to do about it.

    """
    home = Path(home or os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).absolute()
    config = home / "dagster.yaml"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if not config.exists():
            tmp = config.with_name(".dagster.yaml.tmp")
            tmp.write_text(packaged_dagster_yaml(), encoding="utf-8")
            os.replace(tmp, config)
            log.info("installed %s (run queue, pools, retries for a 2-core laptop)", config)
    except OSError as exc:
        raise SystemExit(
            f"cannot set up the Dagster instance folder {home}: {exc.strerror or exc}. "
            "Set DAGSTER_HOME to a writable folder."
        ) from exc
    if set_env:
        os.environ["DAGSTER_HOME"] = str(home)
    return home
