"""STFT helpers: perfect reconstruction, shapes, dB display, config round trip."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidConfigError
from core.signal.stft import (
    StftConfig,
    frame_times,
    istft,
    istft_frames_major,
    magnitude_db,
    stft,
)


@pytest.mark.parametrize("cfg", [StftConfig(), StftConfig(n_fft=512, hop_length=128)])
def test_istft_of_stft_reconstructs(tone, cfg):
    y, sr = tone
    S = stft(y, cfg)
    assert S.dtype == np.complex64
    assert S.shape[:2] == (2, cfg.n_bins)
    back = istft(S, cfg, length=y.shape[1])
    assert back.shape == y.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, y, atol=1e-5)


def test_magnitude_db_range_and_peak():
    mag = np.array([[1e-9, 0.1, 1.0]], dtype=np.float32)
    db = magnitude_db(mag, top_db=60.0)
    np.testing.assert_allclose(db, [[-60.0, -20.0, 0.0]], atol=1e-4)
    assert magnitude_db(np.zeros((2, 3))).min() == -80.0


def test_config_round_trip_and_validation():
    cfg = StftConfig(n_fft=1024, hop_length=256)
    assert StftConfig.from_dict(cfg.to_dict() | {"extra": 1}) == cfg
    with pytest.raises(InvalidConfigError):
        StftConfig(n_fft=1024, hop_length=0)
    with pytest.raises(InvalidConfigError, match="513"):
        istft(np.zeros((1, 10, 4), np.complex64), cfg, length=100)


def test_frame_times():
    t = frame_times(3, sr=22050, config=StftConfig(hop_length=441))
    np.testing.assert_allclose(t, [0.0, 0.02, 0.04])


@pytest.mark.parametrize("hop", [128, 300])  # 300 does not divide n_fft: librosa fallback
def test_istft_frames_major_equals_istft(tone, rng, hop):
    y, _ = tone
    cfg = StftConfig(n_fft=512, hop_length=hop)
    S = stft(y, cfg) * rng.random((1, cfg.n_bins, 1)).astype(np.float32)  # a masked spectrum
    fast = istft_frames_major(np.ascontiguousarray(S.transpose(0, 2, 1)), cfg, length=y.shape[1])
    assert fast.shape == y.shape and fast.dtype == np.float32
    np.testing.assert_allclose(fast, istft(S, cfg, length=y.shape[1]), atol=1e-6)
    with pytest.raises(InvalidConfigError, match="frames"):
        istft_frames_major(S, cfg, length=y.shape[1])  # bins-major by mistake
