"""Per-stem effects (pedalboard) and panning for the synthetic corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import InvalidAudioError, InvalidConfigError
from core.karaoke.augment import apply_effects, augment_stem, draw_effects, pan

SR = 16000


@pytest.fixture
def stem(rng: np.random.Generator) -> np.ndarray:
    """Half a second of a decaying 220 Hz tone plus noise, ``(1, 8000)`` float32."""
    t = np.arange(SR // 2) / SR
    y = 0.4 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t) + 0.02 * rng.standard_normal(t.size)
    return y[None, :].astype(np.float32)


@pytest.mark.parametrize("role", ["vocals", "accompaniment"])
def test_chains_are_seeded_json_records(role):
    a = [draw_effects(np.random.default_rng(k), role=role, sr=SR) for k in range(30)]
    b = [draw_effects(np.random.default_rng(k), role=role, sr=SR) for k in range(30)]
    assert a == b
    json.dumps(a)
    names = {item["effect"] for chain in a for item in chain}
    assert {"Reverb", "Compressor"} <= names and len(names) >= 4
    for chain in a:  # filters stay below Nyquist
        for item in chain:
            assert item.get("cutoff_frequency_hz", 0) < SR / 2


def test_augment_keeps_shape_changes_signal_and_replays_from_record(stem):
    rng = np.random.default_rng(3)
    for _ in range(5):
        out, chain = augment_stem(stem, sr=SR, rng=rng, role="vocals")
        assert out.shape == stem.shape and out.dtype == np.float32
        assert np.all(np.isfinite(out))
        if chain:
            assert not np.allclose(out, stem, atol=1e-4)
        assert np.array_equal(apply_effects(stem, sr=SR, chain=chain), out)  # replayable


def test_stereo_stems_and_empty_chain(stem):
    stereo = np.concatenate([stem, 0.5 * stem])
    chain = [{"effect": "Reverb", "room_size": 0.6, "wet_level": 0.3},
             {"effect": "Chorus", "rate_hz": 1.0, "depth": 0.3, "mix": 0.3}]
    out = apply_effects(stereo, sr=SR, chain=chain)
    assert out.shape == (2, SR // 2) and np.all(np.isfinite(out))
    same = apply_effects(stem, sr=SR, chain=[])
    assert np.array_equal(same, stem) and same is not stem


def test_pan_is_constant_power(stem):
    for position in (-1.0, -0.3, 0.0, 0.7, 1.0):
        lr = pan(stem, position=position)
        assert lr.shape == (2, stem.shape[1])
        assert np.allclose(lr[0] ** 2 + lr[1] ** 2, stem[0] ** 2, atol=1e-6)
    left = pan(stem, position=-1.0)
    assert np.allclose(left[1], 0, atol=1e-7)


def test_bad_input_is_rejected(stem):
    with pytest.raises(InvalidConfigError, match="unknown effect"):
        apply_effects(stem, sr=SR, chain=[{"effect": "Bitcrusher9000"}])
    with pytest.raises(InvalidConfigError, match="bad parameters"):
        apply_effects(stem, sr=SR, chain=[{"effect": "Reverb", "loudness": 3}])
    bad = stem.copy()
    bad[0, 10] = np.nan
    with pytest.raises(InvalidAudioError, match="NaN"):
        apply_effects(bad, sr=SR, chain=[])
    with pytest.raises(InvalidAudioError, match="shape"):
        apply_effects(stem[0], sr=SR, chain=[])
    with pytest.raises(InvalidConfigError, match="role"):
        draw_effects(np.random.default_rng(0), role="drums", sr=SR)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="position"):
        pan(stem, position=2.0)
