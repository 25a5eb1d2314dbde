"""Issue 10: the training commands check ``--out`` before loading data or training.

A checkpoint path that is an existing folder (or whose sidecar is) used to fail only when the
checkpoint was saved, after the whole training run.
"""

from __future__ import annotations

import pytest

from core.cli import main


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_training(monkeypatch):
    """Every trainer and corpus loader fails the test if it is reached."""
    import core.blues.midi
    import core.blues.train
    import core.karaoke.dnn
    import core.karaoke.nmf

    def reached(*args, **kwargs):
        raise AssertionError("training started before --out was checked")

    monkeypatch.setattr(core.karaoke.dnn, "train_separator", reached)
    monkeypatch.setattr(core.karaoke.nmf, "fit_nmf", reached)
    monkeypatch.setattr(core.blues.train, "train_composer", reached)
    monkeypatch.setattr(core.blues.midi, "load_midi_folder", reached)


def test_train_separator_out_a_folder_fails_before_training(tmp_path, no_training, capsys):
    (tmp_path / "model.pt").mkdir()
    rc = main(["train-separator", "--data", str(tmp_path / "corpus"), "--out",
               str(tmp_path / "model.pt")])  # fmt: skip
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--out" in line and "is an existing folder" in line


def test_train_separator_nmf_out_a_folder_fails_before_training(tmp_path, no_training, capsys):
    (tmp_path / "nmf.npz").mkdir()
    rc = main(["train-separator", "--data", str(tmp_path / "corpus"), "--out",
               str(tmp_path / "dnn.pt"), "--nmf-out", str(tmp_path / "nmf.npz")])  # fmt: skip
    assert rc == 2
    assert "--nmf-out" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "dnn.pt").exists()


def test_train_nmf_out_a_folder_fails_before_training(tmp_path, no_training, capsys):
    (tmp_path / "nmf.npz").mkdir()
    rc = main(["train-nmf", "--data", str(tmp_path / "corpus"), "--out",
               str(tmp_path / "nmf.npz")])  # fmt: skip
    assert rc == 2
    assert "is an existing folder" in _one_error_line(capsys.readouterr().err)


def test_train_nmf_sidecar_a_folder_fails_unless_no_sidecar(tmp_path, no_training, capsys):
    (tmp_path / "nmf.npz.meta.json").mkdir()
    argv = ["train-nmf", "--data", str(tmp_path / "corpus"), "--out", str(tmp_path / "nmf.npz")]
    assert main(argv) == 2
    assert "--out sidecar" in _one_error_line(capsys.readouterr().err)
    with pytest.raises(AssertionError, match="training started"):  # the check passes now
        main([*argv, "--no-sidecar"])


def test_train_composer_out_a_folder_fails_before_training(tmp_path, no_training, capsys):
    (tmp_path / "blues.pt").mkdir()
    rc = main(["train-composer", "--out", str(tmp_path / "blues.pt"), "--midi-folder",
               str(tmp_path)])  # fmt: skip
    assert rc == 2
    assert "is an existing folder" in _one_error_line(capsys.readouterr().err)


def test_train_composer_out_under_a_file_fails_before_training(tmp_path, no_training, capsys):
    (tmp_path / "file").write_text("x")
    rc = main(["train-composer", "--out", str(tmp_path / "file" / "blues.pt")])
    assert rc == 2
    assert "is a file" in _one_error_line(capsys.readouterr().err)
