from __future__ import annotations

import numpy as np
import pytest

from core.blues.measures import (
    form_accuracy,
    form_accuracy_at,
    form_accuracy_per_bar,
    form_accuracy_per_chorus,
    measure_composition,
    melody_stats,
    nll,
    novelty,
)
from core.blues.representation import BluesForm, ideal_chord_roll, make_corpus
from core.errors import InvalidConfigError

FORM = BluesForm()


def _blues(bars: int, *, shift_bars: int = 0) -> np.ndarray:
    roll = np.zeros((FORM.n_units, bars * 8), np.float32)
    roll[:12] = ideal_chord_roll(FORM, bars=bars, start_bar=-shift_bars)
    return roll


def test_perfect_blues_has_full_form_accuracy():
    roll = _blues(100)
    assert form_accuracy(roll, form=FORM) == 1.0
    assert np.all(form_accuracy_per_chorus(roll, form=FORM) == 1.0)
    assert len(form_accuracy_per_chorus(roll, form=FORM)) == 9  # 8 full choruses + 4 bars
    assert form_accuracy_at(roll, form=FORM) == {10: 1.0, 50: 1.0, 100: 1.0}


def test_chords_shifted_by_one_bar_give_known_accuracy():
    # C C C C F F C C G F C G shifted by a bar: bars 1, 2, 3, 5, 7 still carry the right chord
    roll = _blues(12, shift_bars=1)
    assert form_accuracy(roll, form=FORM) == pytest.approx(5 / 12)
    per_bar = form_accuracy_per_bar(roll, form=FORM)
    assert np.nonzero(per_bar)[0].tolist() == [1, 2, 3, 5, 7]


def test_one_wrong_unit_in_one_step_and_start_bar():
    roll = _blues(12)
    roll[0, 5] = 0.0  # drop C from one step of bar 0
    assert form_accuracy(roll, form=FORM) == pytest.approx(95 / 96)
    assert form_accuracy(_blues(12)[:, 32:], form=FORM, start_bar=4) == 1.0
    assert form_accuracy(_blues(12)[:, 32:], form=FORM) < 1.0


def test_form_accuracy_drift_windows():
    roll = _blues(60)
    roll[:12, 50 * 8 :] = 0.0  # chords stop after bar 50
    at = form_accuracy_at(roll, form=FORM)
    assert at[10] == 1.0 and at[50] == 1.0 and 100 not in at
    assert form_accuracy(roll, form=FORM) == pytest.approx(50 / 60)


def test_melody_stats_known_values():
    roll = _blues(2)
    # bar 0 (C7): C4 for 2 steps, E4 (chord tone, not in C minor pentatonic) 2 steps,
    # D4 (neither) 2 steps, 2 steps rest
    for row, steps in ((0, (0, 1)), (4, (2, 3)), (2, (4, 5))):
        roll[12 + row, list(steps)] = 1.0
    st = melody_stats(roll, form=FORM)
    assert st["chord_tone_share"] == pytest.approx(4 / 6)
    assert st["in_scale_share"] == pytest.approx(2 / 6)
    assert st["note_density"] == pytest.approx(3 / 2)  # 3 onsets in 2 bars
    assert st["rest_ratio"] == pytest.approx(10 / 16)
    assert st["polyphony"] == 1.0
    empty = melody_stats(_blues(1), form=FORM)
    assert np.isnan(empty["chord_tone_share"]) and empty["rest_ratio"] == 1.0


def test_nll_closed_form():
    target = np.array([[1, 0], [0, 1]], np.float32)
    p = np.full((2, 2), 0.5, np.float32)
    assert nll(p, target) == pytest.approx(2 * np.log(2))
    assert nll(target, target) == pytest.approx(0.0, abs=1e-5)
    # categorical melody: one event per step
    t = np.zeros((25, 2), np.float32)
    t[12, 0] = 1.0  # step 0: C4; step 1: rest
    probs = np.zeros((25, 2), np.float32)
    probs[12:16] = 0.25  # 4 notes at 1/4 each -> rest has p = 0
    probs[12, 1] = 0.1
    probs[13:16, 1] = 0.1  # rest 0.6 at step 1
    v = nll(probs, t, form=FORM, melody="categorical", eps=1e-12)
    assert v == pytest.approx((-np.log(0.25) - np.log(0.6)) / 2, rel=1e-5)
    with pytest.raises(InvalidConfigError):
        nll(p, target[:, :1])
    with pytest.raises(InvalidConfigError):
        nll(p * 3, target)


def test_novelty_copied_segment_is_maximal():
    corpus = make_corpus(n_segments=8, seed=1)
    stream = corpus.stream()
    segment = stream[:, 100:300]
    nov = novelty(segment, corpus=corpus)
    assert nov["longest_copied_steps"] == 200 and nov["longest_copied_share"] == 1.0
    assert nov["ngram_overlap"] == 1.0 and nov["longest_copied_bars"] == 25.0


def test_novelty_of_unseen_music_is_low():
    corpus = make_corpus(n_segments=8, seed=1)
    roll = _blues(4)
    roll[12 + 1, :] = 1.0  # a held C#4 never occurs in the corpus
    nov = novelty(roll, corpus=corpus)
    assert nov["longest_copied_steps"] == 0 and nov["ngram_overlap"] == 0.0
    # half copied: first 16 steps from the corpus, then the unseen note
    roll2 = roll.copy()
    roll2[:, :16] = corpus.stream()[:, :16]
    nov2 = novelty(roll2, corpus=corpus)
    assert nov2["longest_copied_steps"] == 16
    assert 0 < nov2["ngram_overlap"] < 1


def test_measure_composition_keys():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class FakeComp:
        roll: np.ndarray
        form: BluesForm
        settings: dict

    corpus = make_corpus(n_segments=4, seed=0)
    comp = FakeComp(corpus.stream()[:, : 96 * 2], FORM, {"experiment": 2})
    m = measure_composition(comp, corpus=corpus)
    assert m["form_accuracy"] == 1.0 and m["form_accuracy_10"] == 1.0
    assert m["longest_copied_steps"] == 192 and m["rest_ratio"] == 0.0
    assert all(isinstance(v, float) for v in m.values())


def test_bad_shapes_raise():
    with pytest.raises(InvalidConfigError):
        form_accuracy(np.zeros((12, 8)), form=FORM)
    with pytest.raises(InvalidConfigError):
        form_accuracy(np.zeros((25, 0)), form=FORM)


def test_novelty_matches_brute_force_on_random_rolls():
    # regression for the sorted-search rewrite: same answers as comparing every window
    rng = np.random.default_rng(3)
    for _ in range(5):
        stream = (rng.random((25, 300)) < 0.08).astype(np.float32)
        roll = stream[:, 40:100].copy()
        roll[:, rng.integers(0, 60, size=3)] = 1.0  # break the copy in a few places
        cols = [tuple(c) for c in (stream > 0.5).T]
        rcols = [tuple(c) for c in (roll > 0.5).T]
        best = 0
        for i in range(len(rcols)):
            for j in range(len(cols)):
                k = 0
                while i + k < len(rcols) and j + k < len(cols) and rcols[i + k] == cols[j + k]:
                    k += 1
                best = max(best, k)
        windows = {tuple(cols[j : j + 8]) for j in range(len(cols) - 7)}
        hits = [tuple(rcols[i : i + 8]) in windows for i in range(len(rcols) - 7)]
        got = novelty(roll, corpus=stream)
        assert got["longest_copied_steps"] == best
        assert got["ngram_overlap"] == pytest.approx(np.mean(hits))
