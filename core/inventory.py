"""What the lab has locally: shipped models, demo tracks and evaluation runs.

Reads only the small ``*.meta.json`` sidecars, the runs' ``config.json`` and folder listings (never
checkpoints or audio), so it is cheap enough for the Home page on every start.
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
    made_by
        The command that made each demo track folder and results run, keyed by its path (as in
        ``demo_tracks`` and ``results_runs``); absent when no sidecar names one.
    """

    composer_models: tuple[AssetInfo, ...]
    separator_models: tuple[AssetInfo, ...]
    demo_tracks: tuple[Path, ...]
    results_runs: tuple[Path, ...]
    made_by: dict[Path, str] = field(default_factory=dict)

    def command_of(self, path: Path) -> str:
        """The command that made a listed track folder or run (``""`` when unknown)."""
        return self.made_by.get(path, "")


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file's content (``{}`` when absent, unreadable or not an object)."""
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def read_sidecar(path: Path) -> AssetInfo:
    """Describe ``path`` from its ``<path>.meta.json`` sidecar (empty fields when absent or bad)."""
    meta = _read_json(path.with_name(path.name + ".meta.json"))
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


def track_commands(folder: Path, tracks: tuple[Path, ...]) -> dict[Path, str]:
    """The command that made each track folder, from ``<folder>/tracks.meta.json``.

    ``genex make-corpus`` writes that sidecar with its ``command`` and a ``tracks`` mapping of
    the folders it made; folders it does not list (added by hand) get no command.
    """
    meta = _read_json(folder / "tracks.meta.json")
    command = str(meta.get("command", "") or "")
    listed = meta.get("tracks")
    if not command or not isinstance(listed, dict):
        return {}
    return {t: command for t in tracks if t.name in listed}


def run_command(run: Path) -> str:
    """The command that made a results run (``""`` when unknown).

    The run's asset sidecar ``results.meta.json`` (how the shipped copy was regenerated) comes
    first, then the ``command`` that ``genex evaluate`` records in ``config.json``.
    """
    for name in ("results.meta.json", "config.json"):
        command = _read_json(run / name).get("command")
        if command:
            return str(command)
    return ""


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
    tracks = _track_folders(assets / "demo_tracks")
    runs = _runs(assets / "results", *(() if results is None else (results,)))
    made_by = track_commands(assets / "demo_tracks", tracks)
    made_by.update({run: cmd for run in runs if (cmd := run_command(run))})
    return Inventory(
        composer_models=_models(assets / "composer"),
        separator_models=_models(assets / "separator"),
        demo_tracks=tracks,
        results_runs=runs,
        made_by=made_by,
    )
