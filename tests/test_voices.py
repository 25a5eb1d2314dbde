"""The non-GM singers: source-filter (formant) singer and espeak-ng singer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import DependencyError, InvalidConfigError
from core.karaoke.voices import (
    VOICE_RANGES,
    EspeakVoice,
    FormantVoice,
    SungNote,
    espeak_path,
    estimate_f0,
    midi_to_hz,
    sing_espeak,
    sing_formant,
)

SR = 16000
STEADY = FormantVoice(vibrato_cents=0.0, jitter=0.0, consonants=0.0)


@pytest.fixture
def espeak() -> str:
    """The espeak-ng program; a missing one fails with what to install (CI must have it)."""
    try:
        return espeak_path()
    except DependencyError as exc:
        pytest.fail(str(exc))


def test_estimate_f0_of_a_tone():
    t = np.arange(SR // 2) / SR
    for f in (110.0, 261.6, 880.0):
        y = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2 * f * t)
        assert abs(estimate_f0(y, SR) / f - 1) < 0.005


def test_formant_shape_dtype_and_determinism():
    notes = [SungNote(0.1, 0.4, 60), SungNote(0.45, 0.9, 64, 80)]
    a = sing_formant(notes, sr=SR, n_samples=SR, rng=np.random.default_rng(3))
    b = sing_formant(notes, sr=SR, n_samples=SR, rng=np.random.default_rng(3))
    c = sing_formant(notes, sr=SR, n_samples=SR, rng=np.random.default_rng(4))
    assert a.shape == (1, SR) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.isfinite(a)) and np.isclose(np.abs(a).max(), 0.5)


@pytest.mark.parametrize(("pitch", "voice_type"),
                         [(43, "bass"), (55, "tenor"), (67, "alto"), (79, "soprano")])
def test_formant_pitch_matches_the_note(pitch, voice_type):
    voice = FormantVoice(voice_type=voice_type, vibrato_cents=0.0, jitter=0.0, consonants=0.0)
    y = sing_formant([SungNote(0.05, 0.95, pitch)], sr=SR, n_samples=SR,
                     rng=np.random.default_rng(0), voice=voice)
    f0 = estimate_f0(y[0, 3200:12800], SR)
    assert abs(f0 / midi_to_hz(pitch) - 1) < 0.02


def test_formant_vibrato_and_jitter_keep_the_mean_pitch():
    voice = FormantVoice(vibrato_cents=50.0, vibrato_rate=5.0, vibrato_delay=0.0, jitter=0.005,
                         consonants=0.0)
    y = sing_formant([SungNote(0.0, 1.0, 62)], sr=SR, n_samples=SR,
                     rng=np.random.default_rng(1), voice=voice)
    f0 = estimate_f0(y[0, 4000:16000], SR)  # three vibrato cycles
    assert abs(f0 / midi_to_hz(62) - 1) < 0.02


def test_formant_is_silent_between_notes_and_octave_shift_moves_pitch():
    notes = [SungNote(0.1, 0.3, 60), SungNote(0.7, 0.9, 60)]
    voice = FormantVoice(vibrato_cents=0.0, jitter=0.0, consonants=0.0, release=0.05,
                         octave_shift=-1)
    y = sing_formant(notes, sr=SR, n_samples=SR, rng=np.random.default_rng(0), voice=voice)[0]
    rms = lambda a, b: float(np.sqrt(np.mean(y[int(a * SR):int(b * SR)] ** 2)))  # noqa: E731
    assert rms(0.0, 0.08) < 1e-3 * rms(0.15, 0.25)
    assert rms(0.45, 0.65) < 1e-3 * rms(0.15, 0.25)
    assert abs(estimate_f0(y[int(0.15 * SR):int(0.28 * SR)], SR) / midi_to_hz(48) - 1) < 0.02


def test_formant_vowels_shape_the_spectrum():
    def share(vowel: str, lo: float, hi: float) -> float:
        """Energy share of the band lo..hi Hz."""
        y = sing_formant([SungNote(0.0, 1.0, 57)], sr=SR, n_samples=SR, voice=STEADY,
                         rng=np.random.default_rng(0), vowels=[vowel])[0]
        power = np.abs(np.fft.rfft(y[4000:12000])) ** 2
        freqs = np.fft.rfftfreq(8000, 1 / SR)
        return float(power[(freqs > lo) & (freqs < hi)].sum() / power.sum())

    assert share("a", 500, 1000) > 5 * share("i", 500, 1000)  # F1 800 Hz vs 350 Hz
    assert share("i", 1600, 2600) > 2 * share("u", 1600, 2600)  # F2 1700 Hz vs 700 Hz


def test_random_formant_voice_suits_the_melody():
    rng = np.random.default_rng(5)
    notes = [SungNote(0.1 * k, 0.1 * k + 0.08, 72 + k % 5) for k in range(10)]
    for _ in range(10):
        voice = FormantVoice.random(rng, notes=notes)
        lo, hi = VOICE_RANGES[voice.voice_type]
        assert lo - 6 <= 74 + 12 * voice.octave_shift <= hi + 6
        json.dumps(voice.to_dict())


def test_formant_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidConfigError, match="start < end"):
        sing_formant([SungNote(0.5, 0.5, 60)], sr=SR, n_samples=SR, rng=rng)
    with pytest.raises(InvalidConfigError, match="pitch"):
        sing_formant([SungNote(0.1, 0.5, 200)], sr=SR, n_samples=SR, rng=rng)
    with pytest.raises(InvalidConfigError, match="sr"):
        sing_formant([SungNote(0.1, 0.5, 60)], sr=4000, n_samples=SR, rng=rng)
    with pytest.raises(InvalidConfigError, match="vowels"):
        sing_formant([SungNote(0.1, 0.5, 60)], sr=SR, n_samples=SR, rng=rng, vowels=["x"])
    with pytest.raises(InvalidConfigError, match="voice_type"):
        sing_formant([SungNote(0.1, 0.5, 60)], sr=SR, n_samples=SR, rng=rng,
                     voice=FormantVoice(voice_type="baritone"))  # type: ignore[arg-type]


def test_formant_without_notes_is_silence():
    y = sing_formant([], sr=SR, n_samples=100, rng=np.random.default_rng(0))
    assert y.shape == (1, 100) and not np.any(y)


# ---------------------------------------------------------------- espeak-ng


def test_espeak_sings_at_the_note_pitch_and_times(espeak):
    notes = [SungNote(0.1, 0.55, 57), SungNote(0.75, 1.3, 64)]
    voice = EspeakVoice(voice="en", vibrato_cents=0.0, syllables=("laa",))
    y = sing_espeak(notes, sr=SR, n_samples=int(1.5 * SR), rng=np.random.default_rng(0),
                    voice=voice)
    assert y.shape == (1, int(1.5 * SR)) and y.dtype == np.float32
    y = y[0]
    inside = float(np.sqrt(np.mean(y[int(0.2 * SR):int(0.5 * SR)] ** 2)))
    assert inside > 0.02
    for a, b in ((0.0, 0.1), (0.551, 0.75), (1.301, 1.5)):  # silence outside the notes
        assert not np.any(y[int(np.ceil(a * SR)):int(b * SR)])
    for note, (a, b) in zip(notes, ((0.25, 0.5), (0.9, 1.25)), strict=True):
        f0 = estimate_f0(y[int(a * SR):int(b * SR)], SR)
        assert abs(f0 / midi_to_hz(note.pitch) - 1) < 0.02, (note, f0)


def test_espeak_is_deterministic_and_voices_differ(espeak):
    notes = [SungNote(0.05, 0.4, 60), SungNote(0.45, 0.9, 62)]
    a = sing_espeak(notes, sr=SR, n_samples=SR, rng=np.random.default_rng(1))
    b = sing_espeak(notes, sr=SR, n_samples=SR, rng=np.random.default_rng(1))
    c = sing_espeak(notes, sr=SR, n_samples=SR, rng=np.random.default_rng(1),
                    voice=EspeakVoice(voice="de+f4", octave_shift=0))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    voice = EspeakVoice.random(np.random.default_rng(2), notes=notes)
    json.dumps(voice.to_dict())


def test_missing_espeak_is_a_dependency_error(monkeypatch):
    import core.karaoke.voices as voices

    monkeypatch.setattr(voices.shutil, "which", lambda name: None)
    with pytest.raises(DependencyError, match="apt-get install espeak-ng"):
        sing_espeak([SungNote(0.1, 0.5, 60)], sr=SR, n_samples=SR, rng=np.random.default_rng(0))
