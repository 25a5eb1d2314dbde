from __future__ import annotations

import numpy as np
import pytest

from core.blues.midi import (
    RenderedAudio,
    fluidsynth_available,
    load_midi,
    midi_to_bytes,
    midi_to_roll,
    render_audio,
    roll_to_midi,
)
from core.blues.representation import BluesForm, make_corpus
from core.errors import InvalidConfigError, InvalidMidiError

FORM = BluesForm()


@pytest.fixture
def roll() -> np.ndarray:
    r = make_corpus(n_segments=1, seed=0).sequences[0][:, :32].copy()  # 4 bars
    r[12:, 28:] = 0.0  # a rest at the end of the melody
    r[12 + 3, 30] = 1.0  # an eighth note
    return r


def test_roll_to_midi_instruments_and_tempo(roll):
    pm = roll_to_midi(roll, form=FORM, tempo=100.0)
    assert [i.name for i in pm.instruments] == ["chords", "melody"]
    assert pm.get_tempo_changes()[1][0] == pytest.approx(100.0)
    chords, melody = pm.instruments
    assert {n.pitch for n in chords.notes} == {48, 52, 55, 58}
    assert all(48 <= n.pitch <= 59 for n in chords.notes)
    assert all(60 <= n.pitch <= 72 for n in melody.notes)
    # quarter-note chords: 4 chord tones x 4 beats x 4 bars
    assert len(chords.notes) == 64
    assert roll_to_midi(roll, chord_articulation="held").instruments[0].notes[0].end == \
        pytest.approx(32 * 0.25)


@pytest.mark.parametrize("tempo", [120.0, 93.0])
def test_midi_round_trip(roll, tempo):
    data = midi_to_bytes(roll_to_midi(roll, form=FORM, tempo=tempo))
    assert data[:4] == b"MThd"
    back = midi_to_roll(data, form=FORM, steps=roll.shape[1])
    assert back.shape == roll.shape and back.dtype == np.float32
    assert np.array_equal(back, roll)
    pm = load_midi(data)
    assert np.array_equal(midi_to_roll(pm, form=FORM, steps=32), roll)


def test_midi_to_roll_from_path(tmp_path, roll):
    path = tmp_path / "x.mid"
    roll_to_midi(roll).write(str(path))
    assert np.array_equal(midi_to_roll(path, steps=32), roll)


def test_bad_midi_bytes():
    with pytest.raises(InvalidMidiError, match="not a valid"):
        load_midi(b"MThd garbage bytes")
    with pytest.raises(InvalidMidiError, match="empty"):
        load_midi(b"")
    with pytest.raises(InvalidMidiError):
        midi_to_roll(b"\x00\x01\x02")


def test_midi_without_notes():
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0, name="chords"))
    with pytest.raises(InvalidMidiError, match="no notes"):
        load_midi(midi_to_bytes(pm))


def test_missing_file(tmp_path):
    with pytest.raises(InvalidMidiError, match="does not exist"):
        load_midi(tmp_path / "nope.mid")


def test_roll_validation():
    with pytest.raises(InvalidConfigError):
        roll_to_midi(np.zeros((12, 8)))
    with pytest.raises(InvalidConfigError):
        roll_to_midi(np.zeros((25, 8)), tempo=0)


def test_render_sine(roll):
    pm = roll_to_midi(roll[:, :16])
    out = render_audio(pm, sr=8000, synth="sine")
    assert isinstance(out, RenderedAudio) and out.synth == "sine"
    assert out.y.ndim == 2 and out.y.shape[0] == 1 and out.y.dtype == np.float32
    assert pm.get_end_time() <= out.seconds <= pm.get_end_time() + 1.5  # release tail
    assert 0.85 < np.abs(out.y).max() <= 0.9 + 1e-6


def test_render_empty_midi_is_silence():
    out = render_audio(roll_to_midi(np.zeros((25, 8), np.float32)), sr=8000, synth="sine")
    assert out.y.shape[1] >= 1 and not out.y.any()


@pytest.mark.skipif(not fluidsynth_available(), reason="libfluidsynth not installed")
def test_render_fluidsynth(roll):
    out = render_audio(roll_to_midi(roll[:, :16]), sr=16000)
    assert out.synth == "fluidsynth" and out.sr == 16000
    assert np.isfinite(out.y).all() and np.abs(out.y).max() > 0.1


def test_render_auto_falls_back_to_sine(monkeypatch, roll):
    import core.blues.midi as midi

    monkeypatch.setattr(midi, "fluidsynth_available", lambda: False)
    with pytest.warns(UserWarning, match="sine"):
        out = midi.render_audio(roll_to_midi(roll[:, :8]), sr=8000)
    assert out.synth == "sine"


def test_render_piece_gives_midi_wav_and_player_audio(roll):
    from core.blues.export import render_piece
    from core.signal.audio import load_audio

    piece = render_piece(roll[:, :16], form=FORM, tempo=120.0, sr=8000)
    assert np.array_equal(midi_to_roll(piece.midi, form=FORM, steps=16), roll[:, :16])
    y, sr = load_audio(piece.wav)
    assert sr == 8000 and y.shape[1] / sr == pytest.approx(piece.seconds)
    assert 4.0 <= piece.seconds <= 5.5  # two 4/4 bars at 120 bpm, plus the release tail
    assert piece.player_mime in ("audio/mpeg", "audio/wav") and piece.player_audio
    assert piece.synth in ("fluidsynth", "sine")
