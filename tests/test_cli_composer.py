from __future__ import annotations

import json

import numpy as np
import pytest

from core.blues.midi import load_midi, midi_to_roll
from core.blues.model import ComposerConfig, build_model, save_composer
from core.cli import main


@pytest.fixture
def ckpt(tmp_path):
    model = build_model(ComposerConfig(experiment=2), seed=0)
    return save_composer(tmp_path / "tiny.pt", model, meta={"command": "test"})


def test_compose_writes_midi_and_measures(tmp_path, ckpt, capsys):
    out = tmp_path / "song.mid"
    argv = ["compose", "--checkpoint", str(ckpt), "--bars", "3", "--seed", "1", "--out", str(out)]
    rc = main([*argv, "--mode", "sample", "--temperature", "0.8", "--json"])
    assert rc == 0 and out.is_file()
    pm = load_midi(out)
    assert [i.name for i in pm.instruments] == ["chords", "melody"]
    measures = json.loads(capsys.readouterr().out)
    assert 0.0 <= measures["form_accuracy"] <= 1.0 and "rest_ratio" in measures


def test_compose_with_wav_and_prime(tmp_path, ckpt, capsys):
    from core.blues.midi import midi_to_bytes, roll_to_midi
    from core.blues.representation import make_corpus

    prime = tmp_path / "prime.mid"
    prime.write_bytes(midi_to_bytes(roll_to_midi(make_corpus(n_segments=1).sequences[0][:, :8])))
    out, wav = tmp_path / "s.mid", tmp_path / "s.wav"
    rc = main(["compose", "--checkpoint", str(ckpt), "--bars", "1", "--out", str(out),
               "--wav", str(wav), "--prime-midi", str(prime)])  # fmt: skip
    assert rc == 0 and wav.stat().st_size > 1000
    roll = midi_to_roll(out, steps=16)
    assert np.array_equal(roll[:, :8], make_corpus(n_segments=1).sequences[0][:, :8])
    assert "n_prime_steps: 8" in capsys.readouterr().out


def test_compose_wrong_checkpoint_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    rc = main(
        ["compose", "--checkpoint", str(bad), "--bars", "1", "--out", str(tmp_path / "x.mid")]
    )
    assert rc == 2 and "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_train_composer_cli(tmp_path, capsys):
    out = tmp_path / "e1.pt"
    rc = main(["train-composer", "--experiment", "1", "--epochs", "1", "--seed", "0",
               "--out", str(out), "--n-segments", "8", "--batch-size", "4"])  # fmt: skip
    assert rc == 0 and out.is_file()
    meta = json.loads((tmp_path / "e1.pt.meta.json").read_text())
    assert meta["seed"] == 0 and meta["command"].startswith("genex ")
    assert "form_accuracy_100" in meta["summary"]
    assert "epoch    1/1" in capsys.readouterr().out
