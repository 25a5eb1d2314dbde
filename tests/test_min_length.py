"""Issue 10: a 1-sample WAV (or anything shorter than one STFT window) is refused clearly.

It used to be accepted, with library warnings (in-memory path) or near-empty stems (streaming).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import soundfile as sf

from core.cli import main
from core.errors import InvalidAudioError
from core.karaoke.stream import separate_file
from core.signal.audio import MIN_SECONDS, load_audio


def _wav(path, samples: int, sr: int = 16000):
    sf.write(path, np.full(samples, 0.1, dtype=np.float32), sr, subtype="FLOAT")
    return path


@pytest.mark.parametrize("samples", [1, 2, 799])
def test_a_file_shorter_than_the_minimum_is_refused_without_warnings(tmp_path, samples):
    path = _wav(tmp_path / "short.wav", samples)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidAudioError, match=r"at least 50 ms \(800 samples\)") as info:
            load_audio(path)
        with pytest.raises(InvalidAudioError, match="at least 50 ms"):
            load_audio(path.read_bytes(), name="upload.wav")
    assert f"{samples} sample(s) long" in str(info.value) and "short.wav" in str(info.value)


def test_exactly_the_minimum_loads(tmp_path):
    assert MIN_SECONDS == 0.05
    y, sr = load_audio(_wav(tmp_path / "ok.wav", 800))
    assert y.shape == (1, 800) and sr == 16000
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(np.ceil(44100 * MIN_SECONDS)), np.float32), 44100, format="WAV")
    assert load_audio(buf.getvalue())[0].shape == (1, 2205)


def test_streaming_separate_refuses_it_and_writes_nothing(tmp_path):
    path = _wav(tmp_path / "one.wav", 1)
    with pytest.raises(InvalidAudioError, match="1 sample"):
        separate_file(path, tmp_path / "out", checkpoint=tmp_path / "never-loaded.pt")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", [[], ["--method", "oracle", "--references", "refs"]])
def test_the_cli_says_it_in_one_line(tmp_path, capsys, flags):
    path = _wav(tmp_path / "one.wav", 1)
    rc = main(["separate", str(path), "--out", str(tmp_path / "out"), *flags])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and "at least 50 ms" in err
    assert not (tmp_path / "out").exists()
