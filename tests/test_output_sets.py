"""Issue 10: the outputs of one ``genex separate`` run replace the previous run's as a unit.

vocals.wav, accompaniment.wav, prob_mask.npy and separation.json are staged in a temporary
sibling folder and installed together (core.io_utils.OutputSet); a failure anywhere before
that, including between the stems and separation.json, leaves the old complete set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core.cli import main
from core.io_utils import LOCK_NAME, OutputSet, output_lock
from core.karaoke.dnn import KaraokeDNN, save_separator
from core.karaoke.dnn_config import DnnConfig
from core.karaoke.stream import SEPARATION_FILES

SR = 16000


@pytest.fixture
def setup(tmp_path, rng):
    """A tiny DNN checkpoint, two different mixtures and a finished output folder of the first."""
    torch.manual_seed(0)
    cfg = DnnConfig(sr=16000, n_fft=256, hop_length=64, frames=6, hidden=16, proj=8, basis=4)
    ckpt = save_separator(tmp_path / "tiny.pt", KaraokeDNN(cfg).eval())
    mixes = []
    for k, seconds in enumerate((0.5, 0.7)):
        path = tmp_path / f"mix{k}.wav"
        sf.write(path, 0.1 * rng.standard_normal(int(SR * seconds)).astype(np.float32), SR,
                 subtype="FLOAT")  # fmt: skip
        mixes.append(path)
    out = tmp_path / "out"
    assert _separate(mixes[0], ckpt, out) == 0
    return ckpt, mixes, out


def _separate(mix: Path, ckpt: Path, out: Path, *flags: str) -> int:
    return main(["separate", str(mix), "--checkpoint", str(ckpt), "--out", str(out), *flags])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _no_leftovers(out: Path) -> None:
    assert not list(out.parent.glob(f".{out.name}.tmp-*")), "a staging folder was left behind"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp or lock file left"


def test_a_failure_between_the_stems_and_separation_json_keeps_the_old_set(
    setup, monkeypatch, capsys
):
    import core.cli.separator as cli_separator

    ckpt, mixes, out = setup
    before = _snapshot(out)
    assert set(before) == set(SEPARATION_FILES)

    def fail(*args, **kwargs):  # called while separation.json is made, after both stems
        raise OSError(28, "No space left on device", str(out / "separation.json"))

    monkeypatch.setattr(cli_separator, "_command", fail)
    assert _separate(mixes[1], ckpt, out, "--alpha", "0.2") == 2
    assert "No space left" in capsys.readouterr().err
    assert _snapshot(out) == before  # the old complete set: not the new stems with the old json
    _no_leftovers(out)


def test_a_successful_rerun_replaces_all_four_files(setup):
    ckpt, mixes, out = setup
    before = _snapshot(out)
    inode = out.stat().st_ino
    assert _separate(mixes[1], ckpt, out, "--alpha", "0.2") == 0
    after = _snapshot(out)
    assert set(after) == set(SEPARATION_FILES)
    assert all(after[name] != before[name] for name in SEPARATION_FILES)
    settings = json.loads(after["separation.json"])
    assert settings["mixture"] == str(mixes[1].resolve()) and settings["alpha"] == 0.2
    assert settings["length"] == sf.info(out / "vocals.wav").frames == int(SR * 0.7)
    hop = settings["stft_config"]["hop_length"]
    assert np.load(out / "prob_mask.npy").shape[-1] == 1 + settings["length"] // hop
    assert out.stat().st_ino != inode  # only our files there: the folders were swapped
    _no_leftovers(out)


def test_foreign_files_stay_and_a_mask_not_saved_again_is_removed(setup):
    ckpt, mixes, out = setup
    (out / "notes.txt").write_text("mine")
    assert _separate(mixes[1], ckpt, out, "--no-save-mask") == 0
    names = {p.name for p in out.iterdir()}
    # the old mask belonged to the old stems: it goes with them; the user's file stays
    assert names == {"vocals.wav", "accompaniment.wav", "separation.json", "notes.txt"}
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "separation.json").read_text())["mixture"] == str(mixes[1].resolve())
    _no_leftovers(out)


def test_from_mask_in_the_output_folder_keeps_its_mask(setup):
    ckpt, mixes, out = setup
    mask = (out / "prob_mask.npy").read_bytes()
    rc = main(["separate", str(mixes[0]), "--from-mask", str(out / "prob_mask.npy"),
               "--alpha", "0.8", "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert (out / "prob_mask.npy").read_bytes() == mask
    assert json.loads((out / "separation.json").read_text())["alpha"] == 0.8
    _no_leftovers(out)


def test_an_interrupted_staging_leaves_the_folder_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old")
    with output_lock(out), pytest.raises(KeyboardInterrupt), OutputSet(out) as outputs:
        outputs.path("a.txt").write_text("new")
        raise KeyboardInterrupt
    assert _snapshot(out) == {"a.txt": b"old"}
    # a killed run (no cleanup) leaves its staging folder: the next run under the lock removes it
    (tmp_path / ".out.tmp-dead").mkdir()
    (tmp_path / ".out.tmp-dead" / "a.txt").write_text("half")
    with output_lock(out), OutputSet(out, stale={"b.txt"}) as outputs:
        outputs.path("a.txt").write_text("new")
    assert _snapshot(out) == {"a.txt": b"new"}
    _no_leftovers(out)


def test_the_lock_is_held_through_the_swap(tmp_path):
    out = tmp_path / "out"
    with output_lock(out):
        lock_inode = (out / LOCK_NAME).stat().st_ino
        with OutputSet(out) as outputs:
            outputs.path("x.bin").write_bytes(b"1")
        assert (out / LOCK_NAME).stat().st_ino == lock_inode  # the held file, in the new folder
        from core.errors import OutputError

        with pytest.raises(OutputError, match="another genex run"), output_lock(out):
            pass
    assert _snapshot(out) == {"x.bin": b"1"}


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", LOCK_NAME])
def test_output_names_must_be_plain_file_names(tmp_path, name):
    outputs = OutputSet(tmp_path / "out")
    with pytest.raises(ValueError, match="plain file name"):
        outputs.path(name)
    outputs.discard()
    assert not (tmp_path / "out").exists()
