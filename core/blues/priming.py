"""Primes for the blues composer: the rolls a composition starts from (numpy only, no torch).

A prime is a ``(n_units, steps)`` float32 binary roll in the layout of
:class:`~core.blues.representation.BluesForm`, starting at bar 0 of the form.
"""

from __future__ import annotations

import numpy as np

from core.blues.representation import BluesCorpus, BluesForm, melody_fragments
from core.types import FloatArray


def default_prime(form: BluesForm, *, melody: bool = True) -> FloatArray:
    """The one-step prime ``(n_units, 1)`` float32: chord of bar 0 (+ first fragment's note)."""
    prime = np.zeros((form.n_units, 1), np.float32)
    prime[: form.n_chord, 0] = form.chord_vector(0)
    if melody:
        note = melody_fragments(form, form.chord_label(0), n=1)[0][0]
        prime[form.n_chord + note - form.melody_low, 0] = 1.0
    return prime


#: First-bar patterns offered as a priming source (melody scale degrees, per step; None = rest).
BAR_PATTERNS: dict[str, tuple[int | None, ...]] = {
    "chord only (melody rests)": (None,) * 8,
    "pentatonic run up": (0, 3, 5, 7, 10, 12, None, None),
    "pentatonic run down": (12, 10, 7, 5, 3, 0, None, None),
    "blue note riff": (0, 3, 4, 3, 0, None, 7, None),
}


def bar_pattern_prime(name: str, *, form: BluesForm, melody: bool = True) -> FloatArray:
    """One bar to prime the model with: the form's first chord plus a melody pattern.

    Parameters
    ----------
    name
        A key of :data:`BAR_PATTERNS` (semitones above ``form.melody_low``; None = rest).
    form
        The blues form (``chord_pitches(0)``, ``steps_per_bar``, pitch layout).
    melody
        Include melody rows (``n_chord + n_melody`` rows) or only chord rows.

    Returns
    -------
    ndarray
        ``(n_rows, steps_per_bar)`` float32 binary roll.

    Raises
    ------
    KeyError
        On an unknown pattern name.
    """
    pattern = BAR_PATTERNS[name]
    spb = form.steps_per_bar
    n_rows = form.n_chord + (form.n_melody if melody else 0)
    bar = np.zeros((n_rows, spb), np.float32)
    for pitch in form.chord_pitches(0):
        bar[(pitch - form.chord_low) % form.n_chord, :] = 1.0  # voiced inside the octave
    if melody:
        for step in range(spb):
            deg = pattern[step % len(pattern)]
            if deg is not None and 0 <= deg < form.n_melody:
                bar[form.n_chord + deg, step] = 1.0
    return bar


def fit_prime(prime: FloatArray, n_rows: int, *, max_steps: int) -> FloatArray:
    """Cut or pad a priming roll to the model's rows and at most ``max_steps`` steps.

    A chords + melody prime given to a chords-only model keeps its chord rows; a chords-only
    prime given to a melody model gets silent melody rows.

    Returns
    -------
    ndarray
        ``(n_rows, min(steps, max_steps))`` float32.
    """
    arr = np.asarray(prime, dtype=np.float32)[:, :max_steps]
    if arr.shape[0] >= n_rows:
        return np.ascontiguousarray(arr[:n_rows])
    pad = np.zeros((n_rows - arr.shape[0], arr.shape[1]), np.float32)
    return np.concatenate([arr, pad])


def corpus_prime(corpus: BluesCorpus, index: int, *, bars: int | None = None) -> FloatArray:
    """Chorus ``index`` (wrapped) of a corpus, cut to ``bars`` bars: ``(n_units, steps)``."""
    seqs = corpus.sequences
    seq = seqs[int(index) % seqs.shape[0]]
    if bars is not None:
        seq = seq[:, : int(bars) * corpus.form.steps_per_bar]
    return np.ascontiguousarray(seq, dtype=np.float32)
