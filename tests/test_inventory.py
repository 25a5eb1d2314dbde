"""core.inventory: what the lab has locally, and the command that made each item."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from core.inventory import run_command, scan, track_commands
from core.paths import assets_dir


def _track(folder):
    folder.mkdir(parents=True)
    sf.write(folder / "mixture.wav", np.zeros(800, np.float32), 8000)
    return folder


def test_track_commands_come_from_the_corpus_sidecar_for_the_folders_it_lists(tmp_path):
    a, b = _track(tmp_path / "a"), _track(tmp_path / "b")
    assert track_commands(tmp_path, (a, b)) == {}  # no sidecar
    (tmp_path / "tracks.meta.json").write_text(
        json.dumps({"command": "genex make-corpus --demo", "tracks": {"a": {}}})
    )
    assert track_commands(tmp_path, (a, b)) == {a: "genex make-corpus --demo"}
    (tmp_path / "tracks.meta.json").write_text("{not json")
    assert track_commands(tmp_path, (a, b)) == {}
    (tmp_path / "tracks.meta.json").write_text(json.dumps(["a list"]))
    assert track_commands(tmp_path, (a, b)) == {}


def test_run_command_prefers_the_asset_sidecar_then_the_config(tmp_path):
    assert run_command(tmp_path) == ""
    (tmp_path / "config.json").write_text(json.dumps({"command": "genex evaluate --out r"}))
    assert run_command(tmp_path) == "genex evaluate --out r"
    (tmp_path / "results.meta.json").write_text(json.dumps({"command": "genex evaluate --x"}))
    assert run_command(tmp_path) == "genex evaluate --x"
    (tmp_path / "results.meta.json").write_text(json.dumps({"created": "no command"}))
    assert run_command(tmp_path) == "genex evaluate --out r"


def test_scan_records_who_made_the_shipped_tracks_and_runs():
    inv = scan(assets_dir())
    assert inv.demo_tracks and inv.results_runs
    for item in (*inv.demo_tracks, *inv.results_runs):
        assert inv.command_of(item).startswith("genex "), item
    assert "make-corpus" in inv.command_of(inv.demo_tracks[0])
    assert "evaluate" in inv.command_of(inv.results_runs[0])
    assert inv.command_of(assets_dir() / "nowhere") == ""
