"""What the lab has locally: shipped models, demo tracks and evaluation runs.

Reads only the small ``*.meta.json`` sidecars and folder listings (never checkpoints or audio),
so it is cheap enough for the Home page on every start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.karaoke.tracks import is_track_folder


@dataclass(frozen=True)
class AssetInfo:
    """One shipped file and its provenance sidecar.

    Attributes
    ----------
    path
        The asset file.
    size_bytes
        Its size on disk.
    command
        The command that regenerates it ("" when the sidecar is missing).
    summary
        Small name → value mapping of the asset's key measures.
    """

    path: Path
    size_bytes: int
    command: str = ""
    created: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    """Everything the Home page lists.

    Attributes
    ----------
    composer_models, separator_models
        Checkpoints (and other model files) under ``assets/composer`` and ``assets/separator``.
    demo_tracks
        Track folders (MUSDB18-HQ style) under ``assets/demo_tracks``.
    results_runs
        Evaluation run folders (holding ``config.json``) under the shipped and user results dirs.
    """

    composer_models: tuple[AssetInfo, ...]
    separator_models: tuple[AssetInfo, ...]
    demo_tracks: tuple[Path, ...]
    results_runs: tuple[Path, ...]


def read_sidecar(path: Path) -> AssetInfo:
    """Describe ``path`` from its ``<path>.meta.json`` sidecar (empty fields when absent or bad)."""
    meta_path = path.with_name(path.name + ".meta.json")
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            loaded = json.loads(meta_path.read_text(encoding="utf-8"))
            meta = loaded if isinstance(loaded, dict) else {}
        except (OSError, json.JSONDecodeError):
            meta = {}
    summary = meta.get("summary")
    return AssetInfo(
        path=path,
        size_bytes=path.stat().st_size if path.exists() else 0,
        command=str(meta.get("command", "")),
        created=str(meta.get("created", "")),
        summary=summary if isinstance(summary, dict) else {},
    )


def _models(folder: Path) -> tuple[AssetInfo, ...]:
    if not folder.is_dir():
        return ()
    files = [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith(".meta.json") and p.suffix in (".pt", ".npz")
    ]
    return tuple(read_sidecar(p) for p in files)


def _track_folders(folder: Path) -> tuple[Path, ...]:
    if not folder.is_dir():
        return ()
    return tuple(p for p in sorted(folder.iterdir()) if is_track_folder(p))


def _runs(*folders: Path) -> tuple[Path, ...]:
    runs: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
        runs.extend(p for p in candidates if (p / "config.json").is_file())
    return tuple(dict.fromkeys(runs))


def scan(assets: Path, results: Path | None = None) -> Inventory:
    """List what is available under ``assets`` (and a user results folder).

    Parameters
    ----------
    assets
        The assets folder (see :func:`core.paths.assets_dir`).
    results
        The user's results folder (see :func:`core.paths.results_dir`), optional.
    """
    return Inventory(
        composer_models=_models(assets / "composer"),
        separator_models=_models(assets / "separator"),
        demo_tracks=_track_folders(assets / "demo_tracks"),
        results_runs=_runs(assets / "results", *(() if results is None else (results,))),
    )
