"""The Dagster instance folder (``DAGSTER_HOME``): run history, schedules, the run queue.

:func:`ensure_dagster_home` creates the folder and installs the packaged ``dagster.yaml``
(run queue, concurrency pools, run monitoring and retries for a 2-core, 8 GB laptop) when the
folder has none. A ``dagster.yaml`` already there is the user's and is left alone.
"""

from __future__ import annotations

import json
import logging
import os
from importlib.resources import files
from pathlib import Path

log = logging.getLogger("retail_assets")

DEFAULT_HOME = ".dagster_home"


#: The event log's folder in the packaged ``dagster.yaml``, made absolute when installed.
EVENT_LOG_DIR = "    base_dir: history/runs\n"


def packaged_dagster_yaml(home: Path | None = None) -> str:
    """The text of the ``dagster.yaml`` shipped with the package.

    With ``home``, as installed there: the event log's ``base_dir`` is ``home/history/runs``
    (Dagster's own place for it). A relative path would be read against whatever
    ``DAGSTER_HOME`` the reading process has, or its working folder.
    """
    text = files("retail_assets").joinpath("dagster.yaml").read_text(encoding="utf-8")
    if home is not None:
        path = (Path(home) / "history" / "runs").as_posix()
        text = text.replace(EVENT_LOG_DIR, f"    base_dir: {json.dumps(path)}\n", 1)
    return text


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
            tmp.write_text(packaged_dagster_yaml(home), encoding="utf-8")
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
