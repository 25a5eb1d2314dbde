"""REPET-SIM baseline (core.karaoke.repet): librosa's recipe separates what repeats."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidAudioError, InvalidConfigError
from core.karaoke.repet import repet_sim, repet_sim_masks
from core.signal.stft import StftConfig

SR = 8000


def _song(seconds: float = 12.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A one-bar loop (accompaniment) repeated, and a non-repeating gliding tone (vocals)."""
    rng = np.random.default_rng(seed)
    bar = int(0.5 * SR)
    loop = np.zeros(bar, dtype=np.float32)
    for k, f in enumerate((220.0, 330.0, 440.0, 550.0)):
        seg = np.arange(bar // 4) / SR
        loop[k * bar // 4 : (k + 1) * bar // 4] = 0.3 * np.sin(2 * np.pi * f * seg)
    n = int(seconds * SR)
    accomp = np.tile(loop, n // bar + 1)[:n]
    t = np.arange(n) / SR
    freq = 900 + 300 * np.sin(2 * np.pi * 0.13 * t) + 50 * rng.standard_normal()
    vocals = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / SR).astype(np.float32)
    return vocals[None].astype(np.float32), accomp[None].astype(np.float32)


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - est) ** 2)))


def test_repet_sim_pulls_the_non_repeating_part_out():
    vocals, accomp = _song(seconds=12.0)
    mix = vocals + accomp
    est = repet_sim(mix, SR, config=StftConfig(n_fft=512, hop_length=256))
    assert est.shape == (2, 1, mix.shape[1]) and est.dtype == np.float32
    # better than the mixture itself as an estimate of each source
    assert _sdr(vocals, est[0]) > _sdr(vocals, mix) + 3.0
    assert _sdr(accomp, est[1]) > _sdr(accomp, mix) + 3.0


def test_masks_are_soft_and_in_range():
    rng = np.random.default_rng(1)
    mag = np.abs(rng.standard_normal((65, 400))).astype(np.float32)
    mv, ma = repet_sim_masks(mag, sr=SR, hop_length=64)
    assert mv.shape == ma.shape == mag.shape
    for m in (mv, ma):
        assert m.dtype == np.float32 and np.all((m >= 0) & (m <= 1))


def test_short_input_has_no_repetition_so_all_goes_to_vocals():
    mag = np.ones((9, 10), dtype=np.float32)
    mv, ma = repet_sim_masks(mag, sr=SR, hop_length=64)
    assert np.allclose(mv, 1.0) and np.allclose(ma, 0.0)


def test_stereo_channels_are_separated_each():
    vocals, accomp = _song(seconds=5.0)
    mix = np.concatenate([vocals + accomp, 0.5 * (vocals + accomp)])
    est = repet_sim(mix, SR, config=StftConfig(n_fft=512, hop_length=256))
    assert est.shape == (2, 2, mix.shape[1])
    np.testing.assert_allclose(est[:, 1], 0.5 * est[:, 0], atol=1e-4)


@pytest.mark.parametrize(
    "mag",
    [np.full((5, 20), np.nan), -np.ones((5, 20)), np.ones(20), np.ones((5, 0))],
)
def test_bad_magnitudes_raise(mag):
    with pytest.raises(InvalidConfigError):
        repet_sim_masks(mag, sr=SR, hop_length=64)


def test_bad_audio_raises():
    with pytest.raises(InvalidAudioError):
        repet_sim(np.full((1, SR), np.nan, dtype=np.float32), SR)
