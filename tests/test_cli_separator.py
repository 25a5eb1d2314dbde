from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.cli import build_parser, main
from core.karaoke.methods import METHOD_SPECS, RULES
from core.signal.audio import load_audio, write_audio


def _song(rng, sr, seconds, ch):
    n = int(sr * seconds)
    t = np.arange(n) / sr
    voc = 0.3 * np.sin(2 * np.pi * rng.uniform(500, 900) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    acc = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 200) * t) + 0.01 * rng.standard_normal(n)
    refs = np.stack([voc, acc])[:, None].repeat(ch, axis=1).astype(np.float32)
    return refs


def _write_track(folder, refs, sr):
    folder.mkdir(parents=True)
    write_audio(folder / "vocals.wav", refs[0], sr)
    write_audio(folder / "accompaniment.wav", refs[1], sr)
    write_audio(folder / "mixture.wav", refs.sum(0), sr)


def test_separate_writes_stems_mask_and_settings(rng, tmp_path, capsys):
    from core.karaoke.dnn import DnnConfig, KaraokeDNN, save_separator

    torch.manual_seed(0)
    ckpt = save_separator(
        tmp_path / "tiny.pt",
        KaraokeDNN(DnnConfig(sr=8000, n_fft=128, hop_length=64, frames=4, hidden=8)),
    )
    sr = 44100
    refs = _song(rng, sr, 0.4, 2)
    _write_track(tmp_path / "song", refs, sr)
    out = tmp_path / "out"
    mix = str(tmp_path / "song" / "mixture.wav")
    rc = main(["separate", mix, "--checkpoint", str(ckpt), "--alpha", "0.4", "--out", str(out)])
    assert rc == 0
    for name in ("vocals.wav", "accompaniment.wav"):
        y, ysr = load_audio(out / name)
        assert ysr == sr and y.shape == refs[0].shape
    prob = np.load(out / "prob_mask.npy")
    # the mask of the mono downmix, stored once for both channels
    assert prob.ndim == 3 and prob.shape[0] == 1 and 0 <= prob.min() and prob.max() <= 1
    settings = json.loads((out / "separation.json").read_text())
    assert settings["alpha"] == 0.4 and settings["method"] == "dnn" and settings["sr"] == sr
    v1, _ = load_audio(out / "vocals.wav")
    # re-apply alpha without the network
    out2 = tmp_path / "out2"
    rc = main(["separate", mix, "--from-mask", str(out / "prob_mask.npy"), "--alpha", "0.4",
               "--out", str(out2)])
    assert rc == 0
    v2, _ = load_audio(out2 / "vocals.wav")
    np.testing.assert_array_equal(v1, v2)
    # oracle with a references folder
    rc = main(["separate", mix, "--method", "oracle", "--references", str(tmp_path / "song"),
               "--alpha", "0.5", "--out", str(tmp_path / "oracle")])
    assert rc == 0
    # errors are printed, exit code 2
    rc = main(["separate", mix, "--method", "oracle", "--alpha", "0.5", "--out", str(out2)])
    assert rc == 2 and "reference" in capsys.readouterr().err
    rc = main(["separate", mix, "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(out2)])
    assert rc == 2


@pytest.mark.slow
def test_train_separator_and_nmf_cli(rng, tmp_path):
    sr = 22050
    for split, n in (("train", 2), ("valid", 1)):
        for i in range(n):
            _write_track(tmp_path / "corpus" / split / f"s{i}", _song(rng, sr, 1.0, 1), sr)
    out = tmp_path / "dnn.pt"
    rc = main(["train-separator", "--data", str(tmp_path / "corpus"), "--epochs", "1",
               "--seed", "3", "--hidden", "4", "--out", str(out),
               "--nmf-out", str(tmp_path / "nmf.npz"), "--n-components", "2",
               "--max-iter", "5"])
    assert rc == 0 and out.is_file() and (tmp_path / "nmf.npz").is_file()
    meta = json.loads((tmp_path / "dnn.pt.meta.json").read_text())
    assert meta["seed"] == 3 and "train-separator" in meta["command"]
    assert meta["summary"]["best_valid_loss"] > 0
    assert json.loads((tmp_path / "nmf.npz.meta.json").read_text())["summary"]["n_components"] == 2
    assert "--n-components 2" in meta["command"]  # the NMF flags count: --nmf-out was given


def test_train_separator_command_leaves_out_nmf_flags_without_nmf_out(rng, tmp_path):
    """The recorded command is the one to rerun: no NMF flags when no NMF is fitted."""
    sr = 22050
    for split in ("train", "valid"):
        _write_track(tmp_path / "corpus" / split / "s0", _song(rng, sr, 1.0, 1), sr)
    out = tmp_path / "dnn.pt"
    rc = main(["train-separator", "--data", str(tmp_path / "corpus"), "--epochs", "1",
               "--hidden", "4", "--out", str(out)])  # fmt: skip
    assert rc == 0
    command = json.loads((tmp_path / "dnn.pt.meta.json").read_text())["command"]
    assert "--hidden 4" in command and "--epochs 1" in command
    assert "--n-components" not in command and "--test-max-iter" not in command


def test_every_command_prints_its_help(capsys):
    """``genex CMD --help`` works for every command (a stray % in a help text broke one)."""
    parser = build_parser()
    commands = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    names = sorted(commands[0].choices)
    assert "train-separator" in names and "separate" in names
    for name in names:
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0, name
        assert "usage: genex " + name in " ".join(capsys.readouterr().out.split())


def test_separate_help_lists_the_registry(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["separate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for spec in METHOD_SPECS:
        assert spec.id in text and spec.label in text
    assert all(rule in text for rule in RULES)


@pytest.mark.parametrize("alpha", ["1.5", "nan"])
def test_separate_refuses_a_bad_alpha_before_reading_the_mixture(tmp_path, capsys, alpha):
    rc = main(["separate", str(tmp_path / "missing.wav"), "--alpha", alpha,
               "--out", str(tmp_path / "out")])  # fmt: skip
    assert rc == 2
    assert "--alpha must be in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
