"""Composer figures, primes, page glue and the playhead player's HTML, on small real rolls."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from core.blues import priming
from core.blues.midi import steps_per_second
from core.blues.representation import BluesForm
from dashboard import composer_view as cv
from dashboard import player
from dashboard.figures import piano_roll as pr

SPB = 8


@pytest.fixture
def form():
    return BluesForm()


def blues_roll(form, bars: int, *, melody: bool = True) -> np.ndarray:
    """Chords of the form plus a one-note-per-step melody, ``(25, bars*8)`` float32."""
    rows = form.n_chord + (form.n_melody if melody else 0)
    roll = np.zeros((rows, bars * SPB), np.float32)
    for b in range(bars):
        for p in form.chord_pitches(b):
            roll[(p - form.chord_low) % form.n_chord, b * SPB : (b + 1) * SPB] = 1
        if melody:
            for s in range(SPB):
                roll[form.n_chord + (b + s) % form.n_melody, b * SPB + s] = 1
    return roll


def traces_by_name(fig):
    return {t.name: t for t in fig.data}


def named(items, name):
    return [i for i in items if i.name == name]


# ---------------------------------------------------------------- piano roll figure


def test_roll_figure_has_two_voices_bar_lines_and_chord_labels(form):
    roll = blues_roll(form, 12)
    fig = pr.piano_roll_figure(roll, form=form)
    assert [t.name for t in fig.data] == ["chords", "melody"]
    chords, melody = fig.data
    assert np.asarray(chords.z).shape == (12, 96)
    assert np.asarray(melody.z).shape == (13, 96)
    assert list(chords.y) == list(range(48, 60))
    assert list(melody.y) == list(range(60, 73))
    assert chords.colorscale[0][1] != melody.colorscale[0][1]  # two colours
    # off cells are NaN (background shows), on cells 1
    z = np.asarray(chords.z, dtype=float)
    assert np.isnan(z[roll[:12] == 0]).all() and (z[roll[:12] == 1] == 1).all()
    assert len(named(fig.layout.shapes, "bar line")) == 12 + 1
    labels = named(fig.layout.annotations, "chord label")
    assert [a.text for a in labels] == [form.chord_label(b) for b in range(12)]
    assert [a.x for a in labels] == [b + 0.5 for b in range(12)]
    assert tuple(fig.layout.xaxis.range) == (0, 12)


def test_roll_cells_are_aligned_to_bars(form):
    fig = pr.piano_roll_figure(blues_roll(form, 2), form=form)
    t = fig.data[0]
    assert t.x0 == pytest.approx(0.5 / SPB) and t.dx == pytest.approx(1 / SPB)  # cell centres


def test_roll_with_probabilities_shares_the_x_axis(form):
    roll = blues_roll(form, 24)
    probs = np.clip(roll * 0.8 + 0.1, 0, 1)
    fig = pr.piano_roll_figure(roll, form=form, probs=probs)
    by_name = traces_by_name(fig)
    assert set(by_name) == {"chords", "melody", "probabilities"}
    heat = by_name["probabilities"]
    assert np.asarray(heat.z).shape == (25, 24 * SPB)
    assert heat.xaxis == "x2" and heat.yaxis == "y2"
    assert by_name["chords"].xaxis == "x"
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"
    assert (heat.zmin, heat.zmax) == (0, 1)
    assert len(named(fig.layout.shapes, "bar line")) == 25
    # bar lines span both panels
    lines = named(fig.layout.shapes, "bar line")
    assert all(s.yref == "paper" and s.y0 == 0 and s.y1 == 1 for s in lines)
    (split,) = named(fig.layout.shapes, "voice split")
    assert split.y0 == 59.5 and split.yref == "y"
    assert tuple(fig.layout.xaxis2.range) == (0, 24)


def test_priming_end_is_marked(form):
    roll = blues_roll(form, 4)
    fig = pr.piano_roll_figure(roll, form=form, probs=roll, n_prime_steps=SPB)
    (prime,) = named(fig.layout.shapes, "prime")
    assert (prime.x0, prime.x1) == (0, 1.0)
    assert named(fig.layout.annotations, "prime end")
    plain = pr.piano_roll_figure(roll, form=form, probs=roll)
    assert not named(plain.layout.shapes, "prime")


def test_chords_only_roll_and_partial_last_bar(form):
    roll = blues_roll(form, 3, melody=False)[:, :20]  # 2.5 bars
    fig = pr.piano_roll_figure(roll, form=form)
    assert [t.name for t in fig.data] == ["chords"]
    assert len(named(fig.layout.shapes, "bar line")) == 3 + 1
    assert tuple(fig.layout.xaxis.range) == (0, 2.5)


def test_roll_figure_rejects_bad_shapes(form):
    with pytest.raises(ValueError, match="rows"):
        pr.piano_roll_figure(np.zeros((7, 16)), form=form)
    with pytest.raises(ValueError, match="shape"):
        pr.piano_roll_figure(np.zeros(16), form=form)
    with pytest.raises(ValueError, match="probs"):
        pr.piano_roll_figure(np.zeros((25, 16)), form=form, probs=np.zeros((25, 8)))


def test_long_rolls_stay_light(form):
    fig = pr.piano_roll_figure(blues_roll(form, 200), form=form, probs=blues_roll(form, 200))
    assert len(named(fig.layout.shapes, "bar line")) == 201
    assert len(named(fig.layout.annotations, "chord label")) == 200
    assert fig.layout.xaxis.dtick == 12


def test_note_names():
    assert pr.note_name(60) == "C4" and pr.note_name(48) == "C3" and pr.note_name(70) == "A#4"


# ---------------------------------------------------------------- small charts


def test_form_accuracy_chart():
    fig = pr.form_accuracy_chart([1.0, 0.995, 0.5])
    (bar,) = fig.data
    assert list(bar.x) == [1, 2, 3]
    assert np.allclose(bar.y, [100, 99.5, 50])
    assert tuple(fig.layout.yaxis.range) == (0, 100.5)
    assert bar.marker.color[2] != bar.marker.color[0]  # below the goal is flagged
    with pytest.raises(ValueError):
        pr.form_accuracy_chart(np.zeros((2, 2)))


def test_loss_figure():
    fig = pr.loss_figure([1.0, 0.5, 0.2], [0.1, 0.5, 1.0])
    assert [t.name for t in fig.data] == ["loss", "form accuracy"]
    assert list(fig.data[0].x) == [1, 2, 3]
    assert len(pr.loss_figure([]).data) == 1


# ---------------------------------------------------------------- priming helpers


def test_bar_pattern_prime(form):
    bar = priming.bar_pattern_prime("pentatonic run up", form=form)
    assert bar.shape == (25, SPB) and bar.dtype == np.float32
    chord_rows = sorted((p - 48) % 12 for p in form.chord_pitches(0))
    assert sorted(np.flatnonzero(bar[:12, 0])) == chord_rows
    assert bar[12 + 0, 0] == 1 and bar[12 + 12, 5] == 1 and bar[12:, 6:].sum() == 0
    assert priming.bar_pattern_prime("chord only (melody rests)", form=form)[12:].sum() == 0
    assert priming.bar_pattern_prime("blue note riff", form=form, melody=False).shape == (12, SPB)
    for name in priming.BAR_PATTERNS:
        assert priming.bar_pattern_prime(name, form=form).shape == (25, SPB)


def test_fit_prime_cuts_and_pads():
    prime = np.ones((25, 96), np.float32)
    assert priming.fit_prime(prime, 12, max_steps=40).shape == (12, 40)
    padded = priming.fit_prime(np.ones((12, 8), np.float32), 25, max_steps=96)
    assert padded.shape == (25, 8) and padded[12:].sum() == 0


def test_array_key_depends_on_content_and_shape():
    a = np.zeros((2, 4), np.float32)
    assert cv.array_key(a) == cv.array_key(a.copy())
    assert cv.array_key(a) != cv.array_key(a.reshape(4, 2))
    b = a.copy()
    b[1, 3] = 1.0
    assert cv.array_key(a) != cv.array_key(b)
    assert cv.array_key(None) == "none"


def test_steps_per_second(form):
    assert steps_per_second(form, 120.0) == pytest.approx(4.0)


# ---------------------------------------------------------------- player HTML


def test_player_html_is_stable_and_holds_audio_roll_and_playhead(form):
    roll = blues_roll(form, 4)
    audio = b"RIFF0000WAVEfake"
    doc = player.player_html(audio, roll=roll, steps_per_second=4.0, key="comp-player")
    assert doc == player.player_html(audio, roll=roll.copy(), steps_per_second=4.0,
                                     key="comp-player")  # fmt: skip
    assert f"data:audio/wav;base64,{base64.b64encode(audio).decode()}" in doc
    assert 'id="comp-player-audio"' in doc and "<audio" in doc and " controls" in doc
    assert 'id="comp-player-playhead"' in doc and 'data-playhead-x="0"' in doc
    assert "requestAnimationFrame" in doc and "currentTime" in doc
    assert 'viewBox="0 0 32 25"' in doc
    assert doc.count('class="bar"') == 4 + 1
    # held chord notes are merged into one rect per run
    chord_rects = re.findall(r'<rect class="note"[^>]*fill="#3b6fb6"', doc)
    runs = sum(len(player._runs(r)) for r in roll[:12])
    assert len(chord_rects) == runs
    assert len(re.findall(r'<rect class="note"', doc)) == sum(
        len(player._runs(r)) for r in roll
    )


def test_long_pieces_get_a_paging_window_and_an_overview(form):
    roll = blues_roll(form, 100)
    doc = player.player_html(b"a", roll=roll, steps_per_second=4.0, key="p", window_bars=32)
    assert 'viewBox="0 0 256 25"' in doc  # 32 bars visible
    assert 'id="p-overview"' in doc and 'viewBox="0 0 800 25"' in doc
    assert '<use href="#p-notes"/>' in doc  # the overview reuses the notes, not a copy
    assert doc.count('class="note"') == sum(len(player._runs(r)) for r in roll)
    assert 'id="p-window"' in doc and "display: block" in doc
    short = player.player_html(b"a", roll=roll[:, :512], steps_per_second=4.0, key="p")
    assert 'viewBox="0 0 512 25"' in short and "display: none" in short
    full = player.player_html(b"a", roll=roll, steps_per_second=4.0, key="p", window_bars=None)
    assert 'viewBox="0 0 800 25"' in full and "display: none" in full


def test_player_html_changes_with_inputs_and_validates(form):
    roll = blues_roll(form, 2)
    a = player.player_html(b"a", roll=roll, steps_per_second=4.0, key="p")
    assert a != player.player_html(b"b", roll=roll, steps_per_second=4.0, key="p")
    assert "audio/mpeg" in player.player_html(
        b"a", roll=roll, steps_per_second=4.0, key="p", mime="audio/mpeg"
    )
    with pytest.raises(ValueError, match="empty"):
        player.player_html(b"", roll=roll, steps_per_second=4.0, key="p")
    with pytest.raises(ValueError, match="steps_per_second"):
        player.player_html(b"a", roll=roll, steps_per_second=0, key="p")
    with pytest.raises(ValueError, match="key"):
        player.player_html(b"a", roll=roll, steps_per_second=4.0, key='x" onload="')
    with pytest.raises(ValueError, match="roll"):
        player.player_html(b"a", roll=np.zeros(8), steps_per_second=4.0, key="p")


def test_runs():
    assert player._runs(np.array([0, 1, 1, 0, 1])) == [(1, 2), (4, 1)]
    assert player._runs(np.zeros(3)) == []


# ---------------------------------------------------------------- loaders and formatting


def test_measure_cards_format_and_skip_missing():
    m = {"form_accuracy": 0.995, "note_density": 3.0, "chord_tone_share": float("nan"),
         "longest_copied_bars": 2.5}  # fmt: skip
    cards = cv.measure_cards(m)
    assert [(label, value) for label, value, _ in cards] == [
        ("Form accuracy (all bars)", "99.5 %"),
        ("Note density", "3.00 / bar"),
        ("Longest copied run", "2.5 bars"),
    ]
    assert all(help_ for *_, help_ in cards)


def test_shipped_models_lists_checkpoints(tmp_path):
    assert cv.shipped_models(tmp_path) == []
    (tmp_path / "composer").mkdir()
    for name in ("exp2.pt", "exp1.pt", "exp1.pt.meta.json"):
        (tmp_path / "composer" / name).write_bytes(b"x")
    models = cv.shipped_models(tmp_path)
    assert [m.name for m in models] == ["exp1", "exp2"]
    assert all(m.path.endswith(".pt") and m.key.startswith(m.path) for m in models)


def test_session_models_and_corpus_priming(form):
    from core.blues.representation import make_corpus
    from core.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no longer"):
        cv.get_model(cv.ModelChoice("gone", None, "session:x"), {})
    corpus = make_corpus(form=form, n_segments=3, seed=0)
    prime = priming.corpus_prime(corpus, 4)  # wraps around
    assert prime.shape == (25, 96) and np.array_equal(prime, corpus.sequences[1])
    assert priming.corpus_prime(corpus, 0, bars=2).shape == (25, 16)


def test_midi_prime_round_trip_and_bad_bytes(form):
    from core.blues.midi import midi_to_bytes, roll_to_midi
    from core.errors import InvalidMidiError

    roll = blues_roll(form, 14)
    data = midi_to_bytes(roll_to_midi(roll, form=form))
    prime = cv.midi_prime(data, form=form, max_bars=12)
    assert prime.shape == (25, 96)
    assert np.array_equal(prime[:12], roll[:12, :96])
    with pytest.raises(InvalidMidiError):
        cv.midi_prime(b"garbage", form=form)


def test_model_summary_and_training_corpus():
    from core.blues.model import ComposerConfig, build_model

    model = build_model(ComposerConfig(experiment=1), seed=0)
    model.meta.update({"corpus": {"source": "synthetic", "seed": 3, "n_sequences": 8},
                       "train": {"n_segments": 8}, "summary": {"epochs_run": 5.0}})  # fmt: skip
    text = cv.model_summary(model)
    assert "Experiment 1" in text and "5 epochs" in text and "melody" not in text
    corpus, key = cv.training_corpus(model)
    assert corpus.sequences.shape == (8, 25, 96) and corpus.seed == 3
    assert corpus.sequences[:, 12:].sum() == 0  # chords-only corpus for Experiment 1
    assert cv.training_corpus(model)[0] is corpus  # cached
