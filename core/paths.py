"""Where the lab finds its shipped assets and writes its results.

``GENEX_ASSETS`` and ``GENEX_RESULTS`` override the defaults (``<repo>/assets`` and
``<repo>/results``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def assets_dir() -> Path:
    """Folder of the shipped demo data and trained weights."""
    return Path(os.environ.get("GENEX_ASSETS", REPO_ROOT / "assets"))


def results_dir() -> Path:
    """Folder under which evaluation runs are written by default."""
    return Path(os.environ.get("GENEX_RESULTS", REPO_ROOT / "results"))


def repo_relative(path: str | Path) -> str:
    """``path`` as text, relative to the repository when inside it (portable configs and UI)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)
