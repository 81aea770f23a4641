"""Where the command keeps and shows things: the Dagster home, and paths as a person reads them."""

from __future__ import annotations

from pathlib import Path


def _dagster_home() -> Path:
    from retail_assets.instance import ensure_dagster_home

    return ensure_dagster_home()


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when inside it, else absolute."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)
