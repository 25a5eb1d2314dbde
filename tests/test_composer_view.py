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
    assert 0 < len(named(fig.layout.annotations, "chord label")) < 200  # thinned
    assert fig.layout.xaxis.dtick == 12


def drawn_labels_do_not_overlap(labels, bar_px: float) -> None:
    """Neighbouring chord labels (centred on their bar) keep at least the label gap apart."""
    for a, b in zip(labels, labels[1:], strict=False):
        room = (b.x - a.x) * bar_px
        need = (pr.label_width_px(a.text, a.font.size) + pr.label_width_px(b.text, b.font.size)) / 2
        assert room >= need + pr.CHORD_LABEL_GAP, (a.x, b.x, room, need)


def test_chord_labels_are_readable_and_thinned_at_48_bars(form):
    width = 640  # the page's roll on a 1400 px window: 13 px a bar
    fig = pr.piano_roll_figure(blues_roll(form, 48), form=form, plot_width=width)
    labels = named(fig.layout.annotations, "chord label")
    assert 12 <= len(labels) < 48  # thinned, not gone
    assert all(a.font.size >= pr.CHORD_LABEL_FONT for a in labels)  # readable size
    drawn_labels_do_not_overlap(labels, bar_px=width / 48)
    bars = [int(a.x - 0.5) for a in labels]
    assert {0, 12, 24, 36} <= set(bars)  # every chorus start is labelled
    assert all(a.text == form.chord_label(b) for a, b in zip(labels, bars, strict=True))
    # the hover text of a label names the bars it stands for, up to the next label
    assert labels[0].hovertext.split("<br>")[0] == f"bar 1: {form.chord_label(0)}"
    assert labels[0].hovertext.count("<br>") == bars[1] - bars[0] - 1
    # the old fixed sizes drew 48 labels at 8 px, overlapping at this width
    wide = pr.piano_roll_figure(blues_roll(form, 48), form=form, plot_width=4000)
    assert len(named(wide.layout.annotations, "chord label")) == 48


def test_chord_label_bars_priorities_and_room():
    labels = ["C7", "C7", "C7", "C7", "F7", "F7", "C7", "C7", "G7", "F7", "C7", "G7"] * 4
    assert pr.chord_label_bars(labels, bar_px=100) == list(range(48))  # room for all
    few = pr.chord_label_bars(labels, bar_px=8)
    assert few == sorted(few) and {0, 12, 24, 36} <= set(few)
    for a, b in zip(few, few[1:], strict=False):
        assert (b - a) * 8 >= pr.label_width_px("C7", 10) + pr.CHORD_LABEL_GAP
    # chord changes come before repeated chords: at 2 bars of room, bar 4 (F7) beats bar 3
    two = pr.chord_label_bars(labels[:12], bar_px=9)
    assert 4 in two and 3 not in two
    assert pr.chord_label_bars([], bar_px=10) == []


def test_roll_figure_names_the_player_whose_playhead_it_shows(form):
    fig = pr.piano_roll_figure(blues_roll(form, 2), form=form, playhead="comp-player")
    assert fig.layout.meta == {"playhead": "comp-player"}
    assert pr.piano_roll_figure(blues_roll(form, 2), form=form).layout.meta is None


def test_note_names():
    assert pr.note_name(60) == "C4" and pr.note_name(48) == "C3" and pr.note_name(70) == "A#4"


# ---------------------------------------------------------------- small charts


def test_form_accuracy_chart_has_a_legend_and_a_visible_goal_line():
    fig = pr.form_accuracy_chart([1.0, 0.995, 0.5])
    on, off, goal = fig.data
    assert (on.name, off.name, goal.name) == (
        "on the form (≥ 99 %)", "off the form (< 99 %)", "99 % goal",
    )  # fmt: skip
    assert list(on.x) == [1, 2] and np.allclose(on.y, [100, 99.5])
    assert list(off.x) == [3] and np.allclose(off.y, [50])
    assert on.marker.color != off.marker.color  # below the goal is flagged
    assert fig.layout.showlegend is True
    assert all(t.showlegend is not False for t in fig.data)
    # the goal line is a trace (so it is in the legend), inside the y range with room above
    assert list(goal.y) == [99, 99] and goal.line.dash == "dash"
    lo, hi = fig.layout.yaxis.range
    assert lo <= 99 and hi - 99 >= 5
    assert tuple(goal.x) == (0.5, 3.5) == tuple(fig.layout.xaxis.range)  # spans every bar
    (label,) = named(fig.layout.annotations, "goal label")
    assert label.y == 99 and "99 %" in label.text
    assert len(pr.form_accuracy_chart([0.2, 0.3]).data[0].x) == 0  # none on the form
    with pytest.raises(ValueError):
        pr.form_accuracy_chart(np.zeros((2, 2)))


def test_loss_figure_marks_the_stage_change():
    fig = pr.loss_figure([1.0, 0.5, 0.2], [0.1, 0.5, 1.0])
    assert [t.name for t in fig.data] == ["loss", "form accuracy"]
    assert list(fig.data[0].x) == [1, 2, 3]
    assert not named(fig.layout.shapes, "stage change")
    assert len(pr.loss_figure([]).data) == 1
    staged = pr.loss_figure([0.5, 0.3, 0.2, 9.0, 7.0], stage_change=3, epochs_planned=11)
    (line,) = named(staged.layout.shapes, "stage change")
    assert line.x0 == line.x1 == 3.5 and (line.y0, line.y1, line.yref) == (0, 1, "paper")
    (label,) = named(staged.layout.annotations, "stage change")
    assert "melody stage" in label.text and "3 chord epochs" in label.text
    assert tuple(staged.layout.xaxis.range) == (0.5, 11.5)  # the whole planned schedule


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
    # the same line on the page's main roll: the chart named by its layout.meta.playhead
    assert 'meta.playhead === "comp-player"' in doc and "comp-player-main-playhead" in doc
    assert "window.parent.document" in doc and "xa.l2p(bx)" in doc and "x / spb" in doc
    assert doc.count('class="bar"') == 4 + 1
    # held chord notes are merged into one rect per run
    chord_rects = re.findall(r'<rect class="note"[^>]*fill="#3b6fb6"', doc)
    runs = sum(len(player._runs(r)) for r in roll[:12])
    assert len(chord_rects) == runs
    assert len(re.findall(r'<rect class="note"', doc)) == sum(len(player._runs(r)) for r in roll)


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


# ---------------------------------------------------------------- page rules


def test_check_bars_refuses_out_of_range_input():
    from core.errors import InvalidConfigError

    assert cv.check_bars(48) == 48 and cv.check_bars(12.0) == 12 and cv.check_bars(200) == 200
    for bad in (500, 11, 0, -12, 30.5, None):
        with pytest.raises(InvalidConfigError, match="Bars"):
            cv.check_bars(bad)
    with pytest.raises(InvalidConfigError, match=r"12 to 200, got 500"):
        cv.check_bars(500)


def test_seed_matters_only_when_sampling(monkeypatch):
    import core.blues.generate

    assert cv.seed_matters("sample") and not cv.seed_matters("threshold")
    assert "deterministic" in cv.seed_help("threshold") and "Disabled" in cv.seed_help("threshold")
    assert "Disabled" not in cv.seed_help("sample")
    calls = []
    monkeypatch.setattr(core.blues.generate, "compose", lambda *a, **k: calls.append(k) or k)
    kw = {"model_key": "seed-test", "bars": 12}
    cv.composition(None, **kw, seed=0, mode="threshold")
    cv.composition(None, **kw, seed=7, mode="threshold")  # same piece: cached
    assert len(calls) == 1
    cv.composition(None, **kw, seed=7, mode="sample")
    assert len(calls) == 2 and calls[1]["seed"] == 7


# ---------------------------------------------------------------- quick training


def event(done: int, total: int, loss: float = 1.0):
    from core.types import ProgressEvent

    return ProgressEvent("epoch", done, total, {"loss": loss, "form_accuracy": 0.5})


def test_schedule_of_each_experiment():
    two = cv.train_schedule(cv.quick_config(experiment=2, epochs=10, seed=0))
    assert (two.chord_epochs, two.melody_epochs, two.staged, two.total) == (10, 8, True, 18)
    one = cv.train_schedule(cv.quick_config(experiment=1, epochs=10, seed=0))
    assert (one.chord_epochs, one.melody_epochs, one.staged) == (10, 0, False)
    assert "Two stages" in cv.schedule_caption(experiment=2, epochs=10)
    assert "One stage" in cv.schedule_caption(experiment=0, epochs=10)


def test_epoch_counter_states_the_real_schedule():
    sched = cv.TrainSchedule(10, 8)
    assert cv.schedule_text(sched, []) == (
        "chord stage epoch 0/10 (ends early once the form is kept), then melody stage 0/8"
    )
    chord = [event(d, 10) for d in (1, 2, 3)]
    assert cv.schedule_text(sched, chord).startswith("chord stage epoch 3/10 ")
    assert cv.stage_change(sched, chord) is None and cv.epochs_left(sched, chord) == 15
    # the chord stage stopped early after 4 epochs; melody epochs are numbered on from 5 of 18
    melody = [*(event(d, 10) for d in (1, 2, 3, 4)), event(5, 18), event(6, 18)]
    assert cv.stage_change(sched, melody) == 4
    assert cv.schedule_text(sched, melody) == (
        "chord stage done after 4/10 epochs, melody stage epoch 2/8"
    )
    assert cv.epochs_left(sched, melody) == 6
    single = cv.TrainSchedule(20)
    assert cv.schedule_text(single, [event(3, 20)]) == (
        "epoch 3/20 (stops early once the form is kept)"
    )
    assert cv.stage_change(single, [event(3, 20)]) is None


def fake_training(events, *, gate=None, fail=None):
    """A train_quick stand-in that reports ``events``, waits for ``gate``, then returns."""
    from core.blues.model import ComposerConfig, build_model

    def train(*, experiment, epochs, seed, n_segments, number, progress):
        for k, ev in enumerate(events):
            progress(ev)
            if gate is not None and k == 0:
                assert gate.wait(10)
        if fail is not None:
            raise fail
        choice = cv.ModelChoice(f"quick #{number}", None, f"session:fake{number}")
        model = build_model(ComposerConfig(experiment=experiment), seed=0)
        hist = [{"loss": e.metrics["loss"], "form_accuracy": 0.5} for e in events]
        return cv.QuickTraining(choice, model, hist, False, 0.1, 2)

    return train


def test_training_job_runs_in_the_background_and_is_collected_once():
    import threading

    gate = threading.Event()
    evs = [event(1, 2, 3.0), event(2, 2, 2.0), event(3, 10, 5.0)]
    job = cv.start_training(experiment=2, epochs=2, seed=0, n_segments=16, number=1,
                            train=fake_training(evs, gate=gate))  # fmt: skip
    state: dict = {}
    assert job.running
    assert not cv.collect_training(job, state)  # not finished: nothing yet
    assert "chord stage epoch" in job.status() and job.status().startswith("Training")
    gate.set()
    assert job.wait(10) and not job.running
    assert job.error is None and job.result is not None
    assert job.status() == "Finished: chord stage done after 2/2 epochs, melody stage epoch 1/8."
    assert cv.collect_training(job, state)
    key = job.result.choice.key
    assert state["comp.trained"][key] is job.result.model
    assert [c.name for c in state["comp.trained_choices"]] == ["quick #1"]
    assert state["comp.pending_model"] == "quick #1"
    assert not cv.collect_training(job, state)  # once only
    assert len(state["comp.trained_choices"]) == 1
    losses, accs, change, planned = cv.training_curve(job)
    assert losses == [3.0, 2.0, 5.0] and change == 2 and planned == 10
    assert cv.training_curve(run=job.result)[2] == 2


def test_training_job_stop_and_errors():
    import threading

    from core.errors import InvalidConfigError

    gate = threading.Event()
    job = cv.start_training(experiment=1, epochs=3, seed=0, number=2,
                            train=fake_training([event(1, 3), event(2, 3)], gate=gate))  # fmt: skip
    job.stop()
    assert job.status().startswith("Stopping after the current epoch")
    gate.set()
    assert job.wait(10)
    assert job.stopped and job.result is None and "no model kept" in job.status()
    assert not cv.collect_training(job, {})
    bad = cv.start_training(experiment=1, epochs=1, seed=0,
                            train=fake_training([], fail=InvalidConfigError("x")))  # fmt: skip
    assert bad.wait(10) and isinstance(bad.error, InvalidConfigError)
    assert bad.status().startswith("Failed")
    with pytest.raises(InvalidConfigError):  # bad settings fail before a thread starts
        cv.start_training(experiment=1, epochs=0, seed=0)
