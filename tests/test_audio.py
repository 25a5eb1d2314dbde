"""Audio I/O: round trips and one test per refusal."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import soundfile as sf

from core.errors import CoreError, InvalidAudioError
from core.signal.audio import audio_to_bytes, load_audio, resample, to_channels, write_audio


def _wav(y: np.ndarray, sr: int, subtype: str = "FLOAT", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y.T, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def test_float_wav_round_trip_is_exact(tone):
    y, sr = tone
    out, out_sr = load_audio(audio_to_bytes(y, sr, subtype="FLOAT"))
    assert out_sr == sr
    assert out.shape == (2, sr) and out.dtype == np.float32
    np.testing.assert_array_equal(out, y)


@pytest.mark.parametrize("fmt", ["FLAC", "OGG"])
def test_compressed_formats_decode(tone, fmt):
    y, sr = tone
    subtype = "PCM_16" if fmt == "FLAC" else "VORBIS"
    out, _ = load_audio(_wav(y, sr, subtype=subtype, fmt=fmt))
    assert out.shape[0] == 2 and abs(out.shape[1] - sr) < 2048
    if fmt == "FLAC":
        np.testing.assert_allclose(out, y, atol=1e-4)


def test_write_audio_from_path_round_trip(tmp_path, tone):
    y, sr = tone
    path = write_audio(tmp_path / "sub" / "x.wav", y, sr)
    out, out_sr = load_audio(path)
    np.testing.assert_array_equal(out, y)
    assert out_sr == sr
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]  # no temp file left behind


def test_resample_and_downmix_warn_and_convert(tone):
    y, sr = tone
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, out_sr = load_audio(_wav(y, sr), sr=8000, channels=1)
    assert out_sr == 8000 and out.shape == (1, 8000)
    messages = " ".join(str(w.message) for w in caught)
    assert "resampled" in messages and "downmixed" in messages
    # a 440 Hz tone survives resampling: its spectrum peaks at 440 Hz
    spectrum = np.abs(np.fft.rfft(out[0]))
    assert abs(np.argmax(spectrum) * 8000 / out.shape[1] - 440) < 2


def test_mono_upmix_copies_channel_and_downmix_averages(tone):
    y, _ = tone
    up = to_channels(y[:1], 2)
    assert up.shape == (2, y.shape[1]) and up.dtype == np.float32
    np.testing.assert_array_equal(up[0], up[1])
    np.testing.assert_array_equal(up[0], y[0])
    np.testing.assert_allclose(to_channels(y, 1)[0], y.mean(axis=0), atol=1e-7)


@pytest.mark.parametrize("target_sr", [8000, 22050])
def test_resample_sets_length_and_keeps_each_sines_frequency_and_level(target_sr):
    sr = 16000
    t = np.arange(sr) / sr  # 1 s
    y = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 1000 * t)])
    out = resample(y.astype(np.float32), orig_sr=sr, target_sr=target_sr)
    assert out.shape == (2, target_sr) and out.dtype == np.float32  # still 1 s
    for channel, (freq, level) in enumerate([(440, 1.0), (1000, 0.5)]):
        spectrum = np.abs(np.fft.rfft(out[channel]))  # 1 Hz bins over 1 s
        assert int(np.argmax(spectrum)) == freq
        inner = out[channel, target_sr // 10 : -target_sr // 10]  # away from the edges
        assert np.max(np.abs(inner)) == pytest.approx(level, abs=0.02)


def test_resample_to_the_same_rate_returns_the_signal(tone):
    y, sr = tone
    np.testing.assert_array_equal(resample(y, orig_sr=sr, target_sr=sr), y)


def test_errors_are_core_and_value_errors():
    assert issubclass(InvalidAudioError, CoreError) and issubclass(InvalidAudioError, ValueError)


def test_undecodable_bytes_are_refused():
    with pytest.raises(InvalidAudioError, match="could not be decoded"):
        load_audio(bytes(range(256)) * 8, name="noise.wav")


def test_text_file_renamed_wav_is_refused(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 10)
    with pytest.raises(InvalidAudioError, match="notes.wav"):
        load_audio(path)


def test_empty_bytes_are_refused():
    with pytest.raises(InvalidAudioError, match="empty"):
        load_audio(b"")


def test_zero_sample_wav_is_refused():
    data = _wav(np.zeros((1, 0), dtype=np.float32), 16000, subtype="PCM_16")
    with pytest.raises(InvalidAudioError, match="zero samples"):
        load_audio(data)


def test_nan_samples_are_refused(tone):
    y, sr = tone
    y = y.copy()
    y[0, 100] = np.nan
    y[1, 5] = np.inf
    with pytest.raises(InvalidAudioError, match="2 NaN or infinite"):
        load_audio(_wav(y, sr))


def test_too_long_is_refused_before_decoding(tone):
    y, sr = tone
    with pytest.raises(InvalidAudioError, match="limit is 0 s"):
        load_audio(_wav(y, sr), max_seconds=0.5)


def test_more_than_two_channels_is_refused():
    y = np.zeros((6, 1600), dtype=np.float32)
    with pytest.raises(InvalidAudioError, match="6 channels"):
        load_audio(_wav(y, 16000))


def test_low_sample_rate_is_refused():
    y = np.zeros((1, 4000), dtype=np.float32)
    with pytest.raises(InvalidAudioError, match="4000 Hz"):
        load_audio(_wav(y, 4000, subtype="PCM_16"))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InvalidAudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")


def test_write_audio_refuses_unknown_suffix(tmp_path, tone):
    y, sr = tone
    with pytest.raises(InvalidAudioError, match=".mp4"):
        write_audio(tmp_path / "x.mp4", y, sr)
