"""Eck & Schmidhuber's (2002) blues representation and training corpus (no torch).

A piano roll is ``(n_units, steps)`` float32 with 1.0 = on, 0.0 = off; rows are the 12 chord units
(MIDI ``chord_low`` .. ``chord_low + 11``, C3..B3 by default) followed by the 13 melody units
(MIDI ``melody_low`` .. ``melody_low + 12``, C4..C5). One step is an eighth note, 8 steps a 4/4
bar, 96 steps a 12-bar chorus. There is no onset bit: a held note and a repeated note look alike.

Reconstructed from the papers (see ``shared/PAPERS.md`` section 1):

- chords are voiced as inversions inside the chord octave (all pitch classes folded into it) and
  played as quarter notes with no rests, so a chord unit is on for its whole bar;
- training melodies are bar-long pentatonic fragments (C minor pentatonic by default) written to
  fit each chord: quarter notes, chord tones on beats 1 and 3, scale neighbours on beats 2 and 4;
  two fragments per chord, so there are 2**12 = 4096 unique choruses, and a corpus of
  ``n_segments`` choruses (default 4096, the papers' figure) is drawn from them at random.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import DatasetError, InvalidConfigError
from core.types import FloatArray

STEPS_PER_BAR = 8
BARS_PER_CHORUS = 12
#: The papers' training-set size ("4096 segments": every 12-bar chorus of 2 fragments per bar).
DEFAULT_SEGMENTS = 4096
DEFAULT_PROGRESSION = (
    "C7", "C7", "C7", "C7", "F7", "F7", "C7", "C7", "G7", "F7", "C7", "G7",
)  # fmt: skip

_NOTE_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
#: Chord qualities understood by :func:`parse_chord`, as intervals above the root.
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "maj": (0, 4, 7),
    "m": (0, 3, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "dom7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "min7": (0, 3, 7, 10),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "9": (0, 2, 4, 7, 10),
    "dim": (0, 3, 6),
    "dim7": (0, 3, 6, 9),
    "m7b5": (0, 3, 6, 10),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
}


def parse_chord(symbol: str) -> tuple[int, tuple[int, ...]]:
    """Parse a chord symbol such as ``"C7"``, ``"Bb7"``, ``"F#m7"``.

    Returns
    -------
    root : int
        Pitch class of the root (0 = C).
    pitch_classes : tuple of int
        Sorted pitch classes of the chord.

    Raises
    ------
    InvalidConfigError
        Unknown root letter or chord quality.
    """
    s = str(symbol).strip()
    if not s or s[0].upper() not in _NOTE_PC:
        raise InvalidConfigError(f"chord symbol {symbol!r}: expected a root letter A-G first")
    root = _NOTE_PC[s[0].upper()]
    rest = s[1:]
    while rest[:1] in ("#", "b"):
        root += 1 if rest[0] == "#" else -1
        rest = rest[1:]
    if rest not in CHORD_QUALITIES:
        raise InvalidConfigError(
            f"chord symbol {symbol!r}: unknown quality {rest!r} "
            f"(known: {', '.join(repr(q) for q in CHORD_QUALITIES)})"
        )
    root %= 12
    return root, tuple(sorted({(root + i) % 12 for i in CHORD_QUALITIES[rest]}))


@dataclass(frozen=True)
class BluesForm:
    """A chord progression and the unit layout of the piano roll.

    Parameters
    ----------
    progression
        One chord symbol per bar (12 for a 12-bar blues); bar ``b`` plays
        ``progression[b % len(progression)]``.
    chord_low, n_chord
        MIDI pitch of chord unit 0 and number of chord units (one octave).
    melody_low, n_melody
        MIDI pitch of melody unit 0 and number of melody units (an octave plus the top note).
    steps_per_bar
        Time steps per bar (8 = eighth notes in 4/4).
    scale
        Pitch classes of the melody scale (default C minor pentatonic C Eb F G Bb).
    """

    progression: tuple[str, ...] = DEFAULT_PROGRESSION
    chord_low: int = 48
    n_chord: int = 12
    melody_low: int = 60
    n_melody: int = 13
    steps_per_bar: int = STEPS_PER_BAR
    scale: tuple[int, ...] = (0, 3, 5, 7, 10)
    _chords: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prog = tuple(str(c) for c in self.progression)
        object.__setattr__(self, "progression", prog)
        object.__setattr__(self, "scale", tuple(sorted({int(p) % 12 for p in self.scale})))
        if not prog:
            raise InvalidConfigError("progression: expected at least one chord symbol, got none")
        if self.n_chord != 12:
            raise InvalidConfigError(f"n_chord: expected 12 (one octave), got {self.n_chord}")
        if not 1 <= self.n_melody <= 48:
            raise InvalidConfigError(f"n_melody: expected 1..48 units, got {self.n_melody}")
        if not (0 <= self.chord_low and self.melody_low + self.n_melody <= 128):
            raise InvalidConfigError(
                f"chord_low={self.chord_low}, melody_low={self.melody_low}: outside MIDI 0..127"
            )
        if self.steps_per_bar < 1:
            raise InvalidConfigError(f"steps_per_bar: expected >= 1, got {self.steps_per_bar}")
        chords = []
        for sym in prog:
            _, pcs = parse_chord(sym)
            chords.append(
                tuple(sorted(self.chord_low + (pc - self.chord_low) % 12 for pc in pcs))
            )
        object.__setattr__(self, "_chords", tuple(chords))

    @property
    def n_units(self) -> int:
        """Rows of a roll: chord units first, then melody units."""
        return self.n_chord + self.n_melody

    @property
    def n_bars(self) -> int:
        """Bars in one chorus (12 for a 12-bar blues)."""
        return len(self.progression)

    @property
    def steps_per_chorus(self) -> int:
        """Time steps in one chorus (96 by default)."""
        return self.n_bars * self.steps_per_bar

    def chord_pitches(self, bar: int) -> tuple[int, ...]:
        """MIDI pitches of the chord in bar ``bar % n_bars``, voiced inside the chord octave."""
        return self._chords[int(bar) % self.n_bars]

    def chord_label(self, bar: int) -> str:
        """Chord symbol of bar ``bar % n_bars``."""
        return self.progression[int(bar) % self.n_bars]

    def chord_vector(self, bar: int) -> FloatArray:
        """Chord-unit activation ``(n_chord,)`` float32 of bar ``bar``."""
        v = np.zeros(self.n_chord, np.float32)
        v[[p - self.chord_low for p in self.chord_pitches(bar)]] = 1.0
        return v

    def to_dict(self) -> dict[str, Any]:
        """Primitive-only representation (JSON- and checkpoint-safe)."""
        return {
            "progression": list(self.progression),
            "chord_low": self.chord_low,
            "n_chord": self.n_chord,
            "melody_low": self.melody_low,
            "n_melody": self.n_melody,
            "steps_per_bar": self.steps_per_bar,
            "scale": list(self.scale),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BluesForm:
        """Inverse of :meth:`to_dict` (unknown keys are rejected)."""
        known = {"progression", "chord_low", "n_chord", "melody_low", "n_melody",
                 "steps_per_bar", "scale"}  # fmt: skip
        extra = set(d) - known
        if extra:
            raise InvalidConfigError(f"BluesForm: unknown keys {sorted(extra)}")
        kw = dict(d)
        for k in ("progression", "scale"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


@dataclass(frozen=True)
class BluesCorpus:
    """Training sequences in the blues representation.

    Attributes
    ----------
    sequences
        ``(n_seq, n_units, steps)`` float32 binary rolls (one chorus each for the built-in corpus).
    form
        The :class:`BluesForm` giving the row layout.
    seed
        Seed that made it (``-1`` for MIDI-folder corpora).
    source
        ``"synthetic"`` or the folder the MIDI files came from.
    """

    sequences: FloatArray
    form: BluesForm
    seed: int = 0
    source: str = "synthetic"

    @property
    def n_steps(self) -> int:
        """Total time steps over all sequences."""
        return int(self.sequences.shape[0] * self.sequences.shape[2])

    def stream(self) -> FloatArray:
        """All sequences concatenated in order, ``(n_units, n_seq * steps)`` float32."""
        s = self.sequences
        return np.ascontiguousarray(s.transpose(1, 0, 2).reshape(s.shape[1], -1))

    def split(self, *, held_out: float = 0.1) -> tuple[BluesCorpus, BluesCorpus]:
        """Split off the last ``held_out`` share of sequences (at least one) for evaluation."""
        n = self.sequences.shape[0]
        k = min(n - 1, max(1, int(round(n * held_out))))
        if n < 2:
            raise DatasetError("corpus: need at least 2 sequences to hold one out")
        return (
            BluesCorpus(self.sequences[: n - k], self.form, self.seed, self.source),
            BluesCorpus(self.sequences[n - k :], self.form, self.seed, self.source),
        )


def _scale_pitches(form: BluesForm) -> list[int]:
    lo, hi = form.melody_low, form.melody_low + form.n_melody - 1
    return [p for p in range(lo, hi + 1) if p % 12 in form.scale]


def melody_fragments(form: BluesForm, symbol: str, *, n: int = 2) -> list[list[int]]:
    """Bar-long melody fragments that fit chord ``symbol`` (deterministic per symbol).

    Each fragment is ``steps_per_bar // 2`` quarter-note MIDI pitches from the form's scale inside
    the melody range: chord tones (in the scale when possible) on beats 1 and 3, scale neighbours
    of the previous note on beats 2 and 4. Fragments of a symbol differ from each other.

    Returns
    -------
    list of list of int
        ``n`` fragments, each a list of quarter-note pitches.
    """
    scale = _scale_pitches(form)
    if not scale:
        raise InvalidConfigError("scale: no scale note falls in the melody range")
    _, pcs = parse_chord(symbol)
    strong = [p for p in scale if p % 12 in pcs] or [
        p for p in range(form.melody_low, form.melody_low + form.n_melody) if p % 12 in pcs
    ] or scale
    beats = max(1, form.steps_per_bar // 2)
    # a fixed generator per chord symbol: the fragments are "written" once, not per corpus seed
    rng = np.random.default_rng(zlib.crc32(f"{symbol}|{form.scale}".encode()))
    frags: list[list[int]] = []
    tries = 0
    while len(frags) < n and tries < 1000:
        tries += 1
        notes: list[int] = []
        for beat in range(beats):
            if beat % 2 == 0:
                notes.append(int(rng.choice(strong)))
            else:
                i = scale.index(min(scale, key=lambda p: abs(p - notes[-1])))
                j = int(np.clip(i + rng.choice([-1, 1]), 0, len(scale) - 1))
                notes.append(scale[j])
        if notes not in frags:
            frags.append(notes)
    while len(frags) < n:  # tiny scales: allow repeats
        frags.append(frags[len(frags) % max(1, len(frags))])
    return frags


def make_corpus(
    *,
    form: BluesForm | None = None,
    n_segments: int = DEFAULT_SEGMENTS,
    seed: int = 0,
    melody: bool = True,
    fragments_per_chord: int = 2,
) -> BluesCorpus:
    """Build the built-in training corpus: ``n_segments`` random 12-bar choruses.

    Parameters
    ----------
    form
        Progression and layout (default :class:`BluesForm`).
    n_segments
        Number of choruses (default 4096, the papers' training-set size).
    seed
        Seed of the random choice of fragments; the same seed gives the same corpus.
    melody
        False: chord units only (Experiment 1), melody rows stay 0.
    fragments_per_chord
        Fragments to choose from in each bar (2 gives 2**12 unique choruses).

    Returns
    -------
    BluesCorpus
        ``sequences`` of shape ``(n_segments, n_units, n_bars * steps_per_bar)`` float32.

    Raises
    ------
    InvalidConfigError
        ``n_segments`` or ``fragments_per_chord`` below 1.
    """
    form = form or BluesForm()
    if int(n_segments) < 1:
        raise InvalidConfigError(f"n_segments: expected >= 1, got {n_segments}")
    if int(fragments_per_chord) < 1:
        raise InvalidConfigError(f"fragments_per_chord: expected >= 1, got {fragments_per_chord}")
    rng = np.random.default_rng(seed)
    spb, nb = form.steps_per_bar, form.n_bars
    chords = ideal_chord_roll(form, bars=nb)  # (12, 96)
    seqs = np.zeros((int(n_segments), form.n_units, nb * spb), np.float32)
    seqs[:, : form.n_chord, :] = chords[None]
    if melody:
        frags = {s: melody_fragments(form, s, n=fragments_per_chord) for s in set(form.progression)}
        # bar-long melody rolls, (n_frag, n_melody, spb) per bar
        bar_rolls = []
        for b in range(nb):
            opts = np.zeros((fragments_per_chord, form.n_melody, spb), np.float32)
            for k, notes in enumerate(frags[form.chord_label(b)]):
                for q, p in enumerate(notes):
                    opts[k, p - form.melody_low, 2 * q : 2 * q + 2] = 1.0
            bar_rolls.append(opts)
        choice = rng.integers(0, fragments_per_chord, size=(int(n_segments), nb))
        for b in range(nb):
            seqs[:, form.n_chord :, b * spb : (b + 1) * spb] = bar_rolls[b][choice[:, b]]
    return BluesCorpus(seqs, form, int(seed), "synthetic")


def ideal_chord_roll(form: BluesForm, *, bars: int, start_bar: int = 0) -> FloatArray:
    """The chord rows a perfect blues plays: ``(n_chord, bars * steps_per_bar)`` float32."""
    if int(bars) < 0:
        raise InvalidConfigError(f"bars: expected >= 0, got {bars}")
    out = np.zeros((form.n_chord, int(bars) * form.steps_per_bar), np.float32)
    for b in range(int(bars)):
        out[:, b * form.steps_per_bar : (b + 1) * form.steps_per_bar] = form.chord_vector(
            start_bar + b
        )[:, None]
    return out


def best_transposition(roll: FloatArray, form: BluesForm) -> int:
    """Semitone shift (-5..6) that best fits ``roll``'s pitch classes to the form's chords/scale.

    ``roll`` is ``(128, steps)`` (MIDI pitch rows). The score is the on-steps whose pitch class is
    in the scale or in any chord of the progression, weighted by how often the chord occurs.
    """
    weights = np.zeros(12)
    for pc in form.scale:
        weights[pc] += 1.0
    for b in range(form.n_bars):
        for p in form.chord_pitches(b):
            weights[p % 12] += 1.0 / form.n_bars
    hist = np.zeros(12)
    per_pitch = roll.sum(axis=1)
    for p in np.nonzero(per_pitch)[0].tolist():
        hist[p % 12] += per_pitch[p]
    best, best_score = 0, -np.inf
    for shift in range(-5, 7):
        score = float(np.dot(np.roll(hist, shift), weights))
        if score > best_score + 1e-9:
            best, best_score = shift, score
    return best


def _fold(pitch: int, low: int, n: int) -> int:
    """Move ``pitch`` by octaves into ``[low, low + n)`` (n >= 12)."""
    while pitch < low:
        pitch += 12
    while pitch >= low + n:
        pitch -= 12
    return pitch


def pitch_roll_to_units(
    chord_roll: FloatArray | None, melody_roll: FloatArray | None, form: BluesForm
) -> FloatArray:
    """Fold two ``(128, steps)`` MIDI-pitch rolls into the ``(n_units, steps)`` representation.

    Chord notes are folded to pitch classes in the chord octave; each melody step keeps only its
    highest note, folded by octaves into the melody range.
    """
    steps = max(
        0 if chord_roll is None else chord_roll.shape[1],
        0 if melody_roll is None else melody_roll.shape[1],
    )
    out = np.zeros((form.n_units, steps), np.float32)
    if chord_roll is not None:
        for p in np.nonzero(chord_roll.any(axis=1))[0]:
            row = (int(p) - form.chord_low) % 12
            out[row, : chord_roll.shape[1]] = np.maximum(out[row, : chord_roll.shape[1]],
                                                         chord_roll[p] > 0)
    if melody_roll is not None:
        on = melody_roll > 0
        for t in np.nonzero(on.any(axis=0))[0]:
            top = int(np.nonzero(on[:, t])[0].max())
            out[form.n_chord + _fold(top, form.melody_low, max(12, form.n_melody))
                - form.melody_low, t] = 1.0
    return out


def iter_bars(roll: FloatArray, form: BluesForm) -> Iterable[tuple[int, FloatArray]]:
    """Yield ``(bar, roll[:, bar_steps])`` for each complete or partial bar of ``roll``."""
    spb = form.steps_per_bar
    for b in range(int(np.ceil(roll.shape[1] / spb))):
        yield b, roll[:, b * spb : (b + 1) * spb]


@dataclass(frozen=True)
class Composition:
    """A free-running composition.

    Attributes
    ----------
    roll
        ``(n_units, steps)`` float32 binary; the first ``n_prime_steps`` are the prime.
    probs
        ``(n_units, steps)`` float32: column ``t`` holds the probabilities from which step ``t``
        was chosen (the prime's columns hold the model's teacher-forced predictions, column 0 is
        0 when nothing precedes it).
    form
        The layout / progression (the prime is taken to start at bar 0).
    n_prime_steps
        Steps given as prime (1 = the default one-step prime, see :func:`default_prime`).
    seed
        Sampling seed.
    settings
        ``mode``, ``threshold``, ``temperature``, ``bars``, ``experiment``, ``melody_output``.
    """

    roll: FloatArray
    probs: FloatArray
    form: BluesForm
    n_prime_steps: int
    seed: int
    settings: dict[str, Any]

    @property
    def steps(self) -> int:
        """Total steps."""
        return int(self.roll.shape[1])

    @property
    def bars(self) -> float:
        """Length in bars."""
        return self.steps / self.form.steps_per_bar
