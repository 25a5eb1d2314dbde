"""Home page data: what the lab has locally, as tables (cached briefly so new runs appear)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import soundfile as sf
import streamlit as st

from core import __version__
from core.inventory import AssetInfo, Inventory, scan
from core.karaoke.tracks import AUDIO_SUFFIXES
from core.paths import assets_dir, repo_relative, results_dir
from core.signal.soundfont import fluidsynth_available
from dashboard.preload import preload_status

#: What the "made by" column says when no sidecar names the command.
NO_COMMAND = "(no sidecar)"


@st.cache_data(ttl=10, max_entries=4, show_spinner=False)
def inventory(assets: str, results: str) -> Inventory:
    """Scan the assets and results folders (cached for 10 s)."""
    return scan(Path(assets), Path(results))


def current_inventory() -> Inventory:
    """The inventory of the configured assets and results folders."""
    return inventory(str(assets_dir()), str(results_dir()))


def models_table(models: tuple[AssetInfo, ...]) -> pd.DataFrame:
    """One row per model file: name, size, key measures and the command that made it."""
    rows = [
        {
            "model": m.path.name,
            "size (kB)": round(m.size_bytes / 1024, 1),
            "measures": ", ".join(f"{k}: {v}" for k, v in m.summary.items()) or "—",
            "made by": m.command or NO_COMMAND,
        }
        for m in models
    ]
    return pd.DataFrame(rows, columns=["model", "size (kB)", "measures", "made by"])


def tracks_table(
    tracks: tuple[Path, ...], *, made_by: Mapping[Path, str] | None = None
) -> pd.DataFrame:
    """One row per demo track folder: name, duration, rate, channels, stems, made by.

    ``made_by`` maps a folder to the command that made it
    (:attr:`core.inventory.Inventory.made_by`).
    """
    made_by = made_by or {}
    rows = []
    for folder in tracks:
        files = sorted(p for p in folder.iterdir() if p.suffix in AUDIO_SUFFIXES)
        info = sf.info(str(files[0])) if files else None
        rows.append(
            {
                "track": folder.name,
                "seconds": round(info.duration, 1) if info else None,
                "sr": info.samplerate if info else None,
                "channels": info.channels if info else None,
                "stems": ", ".join(p.stem for p in files),
                "made by": made_by.get(folder) or NO_COMMAND,
            }
        )
    return pd.DataFrame(rows, columns=["track", "seconds", "sr", "channels", "stems", "made by"])


def runs_table(
    runs: tuple[Path, ...], *, made_by: Mapping[Path, str] | None = None
) -> pd.DataFrame:
    """One row per evaluation run: folder, methods, number of tracks, α values, made by.

    ``made_by`` maps a run folder to the command that made it
    (:attr:`core.inventory.Inventory.made_by`).
    """
    made_by = made_by or {}
    rows = []
    for run in runs:
        try:
            cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            cfg = {}
        rows.append(
            {
                "run": repo_relative(run),
                "methods": ", ".join(map(str, cfg.get("methods", []))) or "?",
                "tracks": len(cfg.get("tracks", [])) or None,
                "α values": len(cfg.get("alphas", [])) or None,
                "made by": made_by.get(run) or NO_COMMAND,
            }
        )
    return pd.DataFrame(rows, columns=["run", "methods", "tracks", "α values", "made by"])


def system_status() -> dict[str, str]:
    """The code version, optional system pieces (FluidSynth, ffmpeg), the pages' preload."""
    return {
        "GenEx Lab": __version__,
        "FluidSynth (General MIDI rendering)": "found"
        if fluidsynth_available()
        else "missing: sine synthesis is used (apt-get install libfluidsynth3)",
        "ffmpeg (museval / stempeg)": "found"
        if shutil.which("ffmpeg") and shutil.which("ffprobe")
        else "missing: metrics unavailable (apt-get install ffmpeg)",
        "Preload (the pages' models and first views)": preload_status().text(),
    }
