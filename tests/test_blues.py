from __future__ import annotations

import numpy as np
import pytest

from core.blues.midi import load_midi_folder
from core.blues.representation import (
    BARS_PER_CHORUS,
    STEPS_PER_BAR,
    BluesCorpus,
    BluesForm,
    ideal_chord_roll,
    make_corpus,
    melody_fragments,
    parse_chord,
)
from core.errors import DatasetError, InvalidConfigError, InvalidMidiError


def test_default_form_layout_and_chords():
    f = BluesForm()
    assert f.n_units == 25 and f.n_chord == 12 and f.n_melody == 13
    assert STEPS_PER_BAR == 8 and BARS_PER_CHORUS == 12 and f.steps_per_chorus == 96
    assert f.chord_pitches(0) == (48, 52, 55, 58)  # C7 = C E G Bb
    assert f.chord_pitches(4) == (48, 51, 53, 57)  # F7 inverted into C3..B3: C Eb F A
    assert f.chord_pitches(8) == (50, 53, 55, 59)  # G7: D F G B
    assert f.chord_label(12) == "C7" and f.chord_label(23) == "G7"
    assert all(48 <= p <= 59 for b in range(12) for p in f.chord_pitches(b))


def test_form_round_trip_and_custom_progression():
    f = BluesForm(progression=("Bb7", "Eb7", "F#m7", "Cmaj7"))
    assert BluesForm.from_dict(f.to_dict()) == f
    assert f.n_bars == 4 and f.chord_label(5) == "Eb7"
    assert parse_chord("Bb7") == (10, (2, 5, 8, 10))
    with pytest.raises(InvalidConfigError):
        BluesForm(progression=("H7",))
    with pytest.raises(InvalidConfigError):
        BluesForm(progression=("C13b9",))


def test_corpus_shapes_form_and_determinism():
    c = make_corpus(n_segments=16, seed=3)
    assert isinstance(c, BluesCorpus)
    assert c.sequences.shape == (16, 25, 96) and c.sequences.dtype == np.float32
    ideal = ideal_chord_roll(c.form, bars=12)
    assert ideal.shape == (12, 96)
    assert np.array_equal(c.sequences[:, :12], np.broadcast_to(ideal, (16, 12, 96)))
    mel = c.sequences[:, 12:]
    assert np.all(mel.sum(axis=1) == 1)  # one melody note per step, no rests
    # quarter notes: each note lasts two steps
    assert np.array_equal(mel[..., 0::2], mel[..., 1::2])
    pcs = {(60 + i) % 12 for i in np.nonzero(mel.any(axis=(0, 2)))[0]}
    assert pcs <= set(c.form.scale)
    assert np.array_equal(make_corpus(n_segments=16, seed=3).sequences, c.sequences)
    assert not np.array_equal(make_corpus(n_segments=16, seed=4).sequences, c.sequences)


def test_default_corpus_size_is_the_papers():
    c = make_corpus(seed=0, melody=False)
    assert c.sequences.shape[0] == 4096
    assert not c.sequences[:, 12:].any()


def test_fragments_fit_the_chord():
    f = BluesForm()
    for sym in ("C7", "F7", "G7"):
        frags = melody_fragments(f, sym, n=2)
        assert len(frags) == 2 and frags[0] != frags[1]
        pcs = set(parse_chord(sym)[1])
        for fr in frags:
            assert len(fr) == 4
            assert fr[0] % 12 in pcs and fr[2] % 12 in pcs  # chord tones on beats 1 and 3
            assert all(60 <= p <= 72 and p % 12 in f.scale for p in fr)


def test_ideal_chord_roll_start_bar():
    f = BluesForm()
    r = ideal_chord_roll(f, bars=2, start_bar=4)
    assert np.array_equal(r[:, 0], f.chord_vector(4)) and r.shape == (12, 16)


def _write_midi(path, notes, *, tempo=120.0, name=""):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=0, name=name)
    for pitch, s, e in notes:
        inst.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=s, end=e))
    pm.instruments.append(inst)
    pm.write(str(path))


def test_load_midi_folder_quantises_and_transposes(tmp_path):
    # D7 chord (D F# A C) for one bar at 120 bpm with a melody note on top: transposed to C
    dt = 0.25
    notes = [(p, 0.0, 8 * dt) for p in (50, 54, 57, 60)] + [(74, 0.0, 2 * dt), (77, 2 * dt, 4 * dt)]
    _write_midi(tmp_path / "a.mid", notes)
    c = load_midi_folder(tmp_path, form=BluesForm())
    assert c.sequences.shape == (1, 25, 96) and c.seed == -1
    roll = c.sequences[0]
    chord_rows = set(np.nonzero(roll[:12, 0])[0].tolist())
    assert len(chord_rows) == 4 and roll[:12, 8:].sum() == 0
    assert roll[12:, :4].sum(axis=0).tolist() == [1, 1, 1, 1]  # melody on steps 0..3
    c2 = load_midi_folder(tmp_path, form=BluesForm(), transpose=False)
    assert set(np.nonzero(c2.sequences[0, :12, 0])[0].tolist()) == {2, 6, 9, 0}


def test_load_midi_folder_errors(tmp_path):
    with pytest.raises(DatasetError):
        load_midi_folder(tmp_path / "missing")
    with pytest.raises(DatasetError):
        load_midi_folder(tmp_path)
    (tmp_path / "bad.mid").write_bytes(b"not a midi file")
    with pytest.raises(InvalidMidiError, match="bad.mid"):
        load_midi_folder(tmp_path)
    _write_midi(tmp_path / "good.mid", [(60, 0.0, 2.0)])
    c = load_midi_folder(tmp_path, skip_bad=True)
    assert c.sequences.shape[0] == 1
