"""Synthetic multitrack songs with exact stems: MIDI scores rendered through FluidSynth.

Each song is a short pop/blues-like piece in a random key and tempo: a monophonic voice-like lead
(GM Choir Aahs 52, Voice Oohs 53, Synth Voice 54, Lead 6 "voice" 85, occasionally a flute or
saxophone) with vibrato, scoops and phrase rests is the ``vocals`` stem; one or two chord
instruments (piano, guitar, organ, strings, pads), a bass line and, most of the time, drums are
the ``accompaniment`` stem. Scores are :class:`pretty_midi.PrettyMIDI` objects rendered with the
General MIDI soundfont bundled with pretty_midi (``TimGM6mb.sf2``).

Rendering uses one FluidSynth instance per stem (nothing of one stem can bleed into another) and
writes float samples directly (``fluid_synth_write_float``), one channel per instrument so that
instruments can be panned for stereo songs. The same ``(seed, index)`` always gives the same song,
independent of how many songs a corpus holds.

Only :func:`render_song`/:func:`render_stems` need FluidSynth; :func:`compose_song` needs
pretty_midi only.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from core.errors import DependencyError, InvalidConfigError
from core.karaoke.augment import apply_effects, draw_effects, pan
from core.karaoke.tracks import SPLITS
from core.karaoke.voices import (
    EspeakVoice,
    FormantVoice,
    notes_from_instrument,
    sing_espeak,
    sing_formant,
)
from core.signal.soundfont import SOUNDFONT_CANDIDATES, require_fluidsynth, soundfont_path
from core.types import FloatArray

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

#: GM programs (0-based) used for the "vocal" lead, with their names. The voice patches dominate.
VOICE_PROGRAMS: dict[int, str] = {
    52: "choir_aahs",
    53: "voice_oohs",
    54: "synth_voice",
    85: "lead_voice",
}
#: Lead (non-voice) programs occasionally used for the "vocal" stem.
LEAD_PROGRAMS: dict[int, str] = {73: "flute", 65: "alto_sax", 71: "clarinet"}
#: Probability that a song's lead uses a :data:`VOICE_PROGRAMS` patch.
VOICE_SHARE = 0.85

#: Chord instruments by family (GM programs, 0-based).
CHORD_FAMILIES: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 4, 5),
    "guitar": (24, 25, 26, 27),
    "organ": (16, 17, 18, 19),
    "strings": (48, 49, 50),
    "pad": (88, 89, 90),
}
#: Bass programs (acoustic, finger, pick, fretless, synth bass).
BASS_PROGRAMS = (32, 33, 34, 35, 38)
#: GM drum kits (bank 128 presets); a kit missing from the soundfont falls back to 0.
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40)

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
#: Progressions as scale degrees (0-based), one chord per bar.
_MAJOR_PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (1, 4, 0, 0),
    (0, 3, 4, 3),
    (5, 3, 0, 4),
    (0, 3, 0, 4),
    (0, 2, 3, 4),
)
_MINOR_PROGRESSIONS = ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4))
_BLUES = (0, 0, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4)
#: Eighth-note steps per 4/4 bar.
STEPS_PER_BAR = 8
#: Melodic moves in scale steps and their probabilities (mostly steps, some leaps).
_MOVES = (-2, -1, 0, 1, 2, -3, 3, -4, 4)
_MOVE_P = (0.12, 0.2, 0.1, 0.2, 0.12, 0.06, 0.08, 0.06, 0.06)
_BEND_PER_SEMITONE = 4096  # GM default pitch-bend range is +-2 semitones over +-8192
_SF2_NAME = "TimGM6mb.sf2"
#: Recorded in corpus metadata.
GENERATOR_NAME = "genex.synth_corpus (FluidSynth + TimGM6mb.sf2)"

# GM percussion keys.
_KICK, _SNARE, _CLAP, _HAT, _OPEN_HAT, _RIDE, _CRASH = 36, 38, 39, 42, 46, 51, 49
_TOMS = (50, 47, 45, 43)


@dataclass(frozen=True)
class SongSpec:
    """The musical choices of one synthetic song (what :func:`compose_song` drew).

    Attributes
    ----------
    name
        Folder name of the song.
    seed, index, split
        The corpus seed, the song's index and split: together they determine the song.
    key, mode
        Tonic pitch class name (e.g. ``"Eb"``) and ``"major"``/``"minor"``.
    tempo
        Beats per minute.
    swing
        Whether eighth notes are swung.
    progression
        Chord roots as scale degrees (0-based), one per bar, repeated.
    vocal_program, vocal_patch
        GM program (0-based) and name of the lead ("vocal") instrument.
    vocal_range
        Lowest and highest MIDI pitch the lead may use.
    accompaniment
        ``{role: GM program}`` for the accompaniment instruments (drums: the kit number).
    vocal_db
        Vocal-to-accompaniment RMS level in dB applied when mixing.
    """

    name: str
    seed: int
    index: int
    split: str
    key: str
    mode: str
    tempo: float
    swing: bool
    progression: tuple[int, ...]
    vocal_program: int
    vocal_patch: str
    vocal_range: tuple[int, int]
    accompaniment: dict[str, int] = field(default_factory=dict)
    vocal_db: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as JSON-ready primitives."""
        return {
            "name": self.name,
            "seed": self.seed,
            "index": self.index,
            "split": self.split,
            "key": self.key,
            "mode": self.mode,
            "tempo": round(self.tempo, 3),
            "swing": self.swing,
            "progression": list(self.progression),
            "vocal_program": self.vocal_program,
            "vocal_patch": self.vocal_patch,
            "vocal_range": list(self.vocal_range),
            "accompaniment": dict(self.accompaniment),
            "vocal_db": round(self.vocal_db, 3),
        }


@dataclass(frozen=True)
class Song:
    """A composed song: its spec and the two MIDI scores (vocals, accompaniment).

    Attributes
    ----------
    spec
        The drawn musical choices.
    vocals, accompaniment
        Scores of the two stems; ``vocals`` holds one instrument named ``"vocals"``.
    pans
        ``{instrument name: MIDI pan 0..127}`` used for stereo renders.
    """

    spec: SongSpec
    vocals: pretty_midi.PrettyMIDI
    accompaniment: pretty_midi.PrettyMIDI
    pans: dict[str, int]

    def to_midi(self) -> pretty_midi.PrettyMIDI:
        """Return one MIDI score holding every instrument (vocals first)."""
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(initial_tempo=self.spec.tempo)
        pm.instruments.extend(self.vocals.instruments + self.accompaniment.instruments)
        return pm


@dataclass(frozen=True)
class RenderedSong:
    """Rendered stems of a song, scaled so that ``mixture == vocals + accompaniment`` exactly.

    Attributes
    ----------
    song
        The composed song.
    sr
        Sample rate in Hz.
    stems : ndarray, shape (2, channels, samples), float32
        ``[vocals, accompaniment]``; with ``quantize=True`` every sample is a multiple of 2**-15.
    mixture : ndarray, shape (channels, samples), float32
        ``stems[0] + stems[1]`` (computed in float32, peak below 1).
    sources
        What rendered the song (soundfont, voice, effects); ``None`` for the legacy default
        (TimGM6mb, the score's GM lead patch, no effects).
    """

    song: Song
    sr: int
    stems: FloatArray
    mixture: FloatArray
    sources: SongSources | None = None


# --------------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------------


# The split (core.karaoke.tracks.SPLITS) is part of a song's identity, so splits never share a song.


def song_rng(seed: int, index: int, split: str = "train") -> np.random.Generator:
    """Return the generator of song ``index`` of ``split`` in a corpus made with ``seed``.

    Raises
    ------
    InvalidConfigError
        ``split`` not one of :data:`core.karaoke.tracks.SPLITS`.
    """
    if split not in SPLITS:
        raise InvalidConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    return np.random.default_rng([int(seed), SPLITS.index(split), int(index), 0x5EED])


def compose_song(
    seed: int,
    index: int,
    *,
    seconds: float,
    split: str = "train",
    name: str | None = None,
    stereo: bool = False,
) -> Song:
    """Draw and write the scores of one song.

    Parameters
    ----------
    seed, index
        Corpus seed and song index; with ``split`` they fix every choice.
    seconds
        Length of the song in seconds (the score is written slightly past it).
    split
        ``"train"``, ``"valid"`` or ``"test"``: songs of different splits are drawn from
        different random streams, so no two splits (of any corpus size) share a song.
    name
        Folder name; defaults to ``f"{split}-{index:04d}"``.
    stereo
        Spread the accompaniment instruments across the stereo field (pans are drawn either way,
        so the score itself does not depend on this flag).

    Returns
    -------
    Song

    Raises
    ------
    InvalidConfigError
        ``seconds`` not positive, or an unknown ``split``.
    """
    import pretty_midi

    if not seconds > 0:
        raise InvalidConfigError(f"seconds must be positive, got {seconds!r}")
    rng = song_rng(seed, index, split)
    tonic = int(rng.integers(12))
    mode = "minor" if rng.random() < 0.35 else "major"
    scale = _MINOR if mode == "minor" else _MAJOR
    tempo = float(rng.uniform(72, 150))
    swing = bool(rng.random() < 0.25)
    blues = mode == "major" and rng.random() < 0.2
    progression: tuple[int, ...]
    if blues:
        progression = _BLUES
    else:
        pool = _MINOR_PROGRESSIONS if mode == "minor" else _MAJOR_PROGRESSIONS
        progression = pool[int(rng.integers(len(pool)))]
    beat = 60.0 / tempo
    step_dur = beat / 2
    n_bars = int(math.ceil(seconds / (4 * beat))) + 1

    def t(step: float) -> float:
        """Time in seconds of an eighth-note grid position (swung offbeats when ``swing``)."""
        whole = math.floor(step)
        frac = step - whole
        base = whole * step_dur
        if swing and whole % 2 == 1:
            base += step_dur / 3  # offbeat eighth lands on the last triplet of the beat
        return base + frac * step_dur

    chords = [_chord(tonic, scale, progression[b % len(progression)], blues) for b in range(n_bars)]

    # --- lead ("vocals") -------------------------------------------------------------------
    if rng.random() < VOICE_SHARE:
        vprog = int(rng.choice(list(VOICE_PROGRAMS), p=[0.3, 0.3, 0.25, 0.15]))
        vpatch = VOICE_PROGRAMS[vprog]
    else:
        vprog = int(rng.choice(list(LEAD_PROGRAMS)))
        vpatch = LEAD_PROGRAMS[vprog]
    centre = int(rng.integers(55, 77))
    half_span = int(rng.integers(6, 10))
    vrange = (centre - half_span, centre + half_span)
    vocals = pretty_midi.Instrument(program=vprog, name="vocals")
    # Short songs: the lead must enter within the first half (never a silent vocal stem).
    latest_start = max(0, int(seconds / 2 / step_dur) - 1)
    _write_melody(vocals, rng, chords, tonic, scale, vrange, n_bars, t, latest_start)

    # --- accompaniment -----------------------------------------------------------------------
    families = list(CHORD_FAMILIES)
    n_chord_inst = 1 if rng.random() < 0.55 else 2
    picked = rng.choice(len(families), size=n_chord_inst, replace=False)
    acc_instruments: list[pretty_midi.Instrument] = []
    acc_programs: dict[str, int] = {}
    for k, fi in enumerate(picked):
        family = families[int(fi)]
        programs = CHORD_FAMILIES[family]
        prog = int(programs[int(rng.integers(len(programs)))])
        inst = pretty_midi.Instrument(program=prog, name=f"chords{k + 1}_{family}")
        style = _chord_style(family, rng)
        low = int(rng.integers(48, 58)) if k == 0 else int(rng.integers(55, 64))
        _write_chords(inst, rng, chords, n_bars, t, style, low, family)
        acc_instruments.append(inst)
        acc_programs[inst.name] = prog
    bprog = int(BASS_PROGRAMS[int(rng.integers(len(BASS_PROGRAMS)))])
    bass = pretty_midi.Instrument(program=bprog, name="bass")
    _write_bass(bass, rng, chords, n_bars, t)
    acc_instruments.append(bass)
    acc_programs["bass"] = bprog
    if rng.random() < 0.85:
        kit = int(DRUM_KITS[int(rng.integers(len(DRUM_KITS)))])
        drums = pretty_midi.Instrument(program=kit, is_drum=True, name="drums")
        _write_drums(drums, rng, n_bars, t)
        acc_instruments.append(drums)
        acc_programs["drums"] = kit

    # Pans: vocals near the centre, accompaniment spread when stereo.
    pans = {"vocals": int(rng.integers(56, 72))}
    spread = [int(p) for p in rng.permutation([24, 40, 88, 104, 64, 52, 76])]
    for k, inst in enumerate(acc_instruments):
        if inst.name in ("bass", "drums"):
            pans[inst.name] = 64
        else:
            pans[inst.name] = spread[k % len(spread)]
    if not stereo:
        pans = {name: 64 for name in pans}

    vocal_db = float(rng.uniform(-6.0, 3.0))
    spec = SongSpec(
        name=name or f"{split}-{index:04d}",
        seed=int(seed),
        index=int(index),
        split=split,
        key=_KEY_NAMES[tonic],
        mode=mode,
        tempo=tempo,
        swing=swing,
        progression=tuple(int(p) for p in progression),
        vocal_program=vprog,
        vocal_patch=vpatch,
        vocal_range=vrange,
        accompaniment=acc_programs,
        vocal_db=vocal_db,
    )
    pm_voc = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm_voc.instruments.append(vocals)
    pm_acc = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm_acc.instruments.extend(acc_instruments)
    return Song(spec=spec, vocals=pm_voc, accompaniment=pm_acc, pans=pans)


def _chord(tonic: int, scale: tuple[int, ...], degree: int, blues: bool) -> tuple[int, ...]:
    """Pitch classes of the chord on ``degree`` (root first): a triad, a dominant 7 in blues."""
    root = (tonic + scale[degree % 7]) % 12
    if blues:
        return (root, (root + 4) % 12, (root + 7) % 12, (root + 10) % 12)
    third = (tonic + scale[(degree + 2) % 7]) % 12
    fifth = (tonic + scale[(degree + 4) % 7]) % 12
    return (root, third, fifth)


def _voicing(pcs: tuple[int, ...], low: int) -> list[int]:
    """Place each pitch class in ``[low, low + 12)`` (a close-position voicing)."""
    return sorted(low + (pc - low) % 12 for pc in pcs)


def _chord_style(family: str, rng: np.random.Generator) -> str:
    options = {
        "piano": ("block", "arpeggio", "offbeat", "halves"),
        "guitar": ("strum", "arpeggio", "offbeat"),
        "organ": ("sustain", "offbeat", "halves"),
        "strings": ("sustain", "halves"),
        "pad": ("sustain",),
    }[family]
    return str(options[int(rng.integers(len(options)))])


def _note(inst: Any, pitch: int, start: float, end: float, velocity: int) -> None:
    import pretty_midi

    velocity = int(np.clip(velocity, 1, 127))
    if end - start > 0.01 and 0 <= pitch <= 127:
        inst.notes.append(
            pretty_midi.Note(velocity=velocity, pitch=int(pitch), start=start, end=end)
        )


def _write_chords(
    inst: Any,
    rng: np.random.Generator,
    chords: list[tuple[int, ...]],
    n_bars: int,
    t: Any,
    style: str,
    low: int,
    family: str,
) -> None:
    vel = int(rng.integers(60, 95))
    for bar in range(n_bars):
        s0 = bar * STEPS_PER_BAR
        voicing = _voicing(chords[bar], low)
        if style == "sustain":
            for p in voicing:
                _note(inst, p, t(s0), t(s0 + 8) - 0.02, vel)
        elif style == "halves":
            for h in (0, 4):
                for p in voicing:
                    _note(inst, p, t(s0 + h), t(s0 + h + 4) - 0.03, vel + int(rng.integers(-6, 7)))
        elif style == "block":
            straight = rng.random() < 0.6
            hits = ((0, 2), (2, 2), (4, 2), (6, 2)) if straight else ((0, 3), (3, 3), (6, 2))
            for h, d in hits:
                for p in voicing:
                    _note(inst, p, t(s0 + h), t(s0 + h + d) - 0.03, vel + int(rng.integers(-8, 9)))
        elif style == "offbeat":
            for h in (1, 3, 5, 7):
                for p in voicing:
                    _note(inst, p, t(s0 + h), t(s0 + h + 0.7), vel + int(rng.integers(-8, 9)))
        elif style == "arpeggio":
            tones = voicing + [p + 12 for p in voicing]
            order = tones + tones[-2:0:-1]
            for k in range(8):
                p = order[(bar * 8 + k) % len(order)]
                _note(inst, p, t(s0 + k), t(s0 + k + 1.6), vel + int(rng.integers(-10, 6)))
        elif style == "strum":
            pattern = ((0, 2, 1), (2, 1, 1), (3, 1, -1), (5, 1, -1), (6, 2, 1))
            for h, d, direction in pattern:
                notes = voicing + [voicing[0] + 12]
                if direction < 0:
                    notes = notes[::-1]
                for j, p in enumerate(notes):
                    start = t(s0 + h) + 0.012 * j
                    _note(inst, p, start, t(s0 + h + d) - 0.02, vel + int(rng.integers(-10, 6)))
        else:  # pragma: no cover - styles are drawn from a fixed table
            raise AssertionError(style)
    del family


def _write_bass(
    inst: Any, rng: np.random.Generator, chords: list[tuple[int, ...]], n_bars: int, t: Any
) -> None:
    style = ("roots", "root_fifth", "eighths", "walking")[int(rng.integers(4))]
    low = int(rng.integers(28, 36))
    vel = int(rng.integers(80, 110))
    for bar in range(n_bars):
        s0 = bar * STEPS_PER_BAR
        root = low + (chords[bar][0] - low) % 12
        fifth = root + 7
        nxt = low + (chords[(bar + 1) % n_bars][0] - low) % 12
        if style == "roots":
            for h in (0, 4):
                _note(inst, root, t(s0 + h), t(s0 + h + 3.5), vel)
        elif style == "root_fifth":
            for h, p in ((0, root), (3, root), (4, fifth), (6, root)):
                _note(inst, p, t(s0 + h), t(s0 + h + 1.8), vel + int(rng.integers(-8, 5)))
        elif style == "eighths":
            for h in range(8):
                _note(inst, root, t(s0 + h), t(s0 + h + 0.8), vel - (0 if h % 2 == 0 else 12))
        else:  # walking: chord tones then a chromatic approach to the next root
            third = root + (chords[bar][1] - chords[bar][0]) % 12
            approach = nxt - 1 if rng.random() < 0.5 else nxt + 1
            for k, p in enumerate((root, third, fifth, approach)):
                _note(inst, p, t(s0 + 2 * k), t(s0 + 2 * k + 1.8), vel + int(rng.integers(-8, 5)))


def _write_drums(inst: Any, rng: np.random.Generator, n_bars: int, t: Any) -> None:
    style = ("rock", "four_floor", "half_time", "ride_jazz")[int(rng.integers(4))]
    vel = int(rng.integers(80, 110))
    hat_key = _OPEN_HAT if rng.random() < 0.15 else _HAT
    snare_key = _CLAP if rng.random() < 0.2 else _SNARE
    for bar in range(n_bars):
        s0 = bar * STEPS_PER_BAR
        fill = bar % 4 == 3 and rng.random() < 0.5

        def hit(key: int, step: float, v: int, s0: int = s0) -> None:
            _note(inst, key, t(s0 + step), t(s0 + step) + 0.1, v + int(rng.integers(-10, 8)))

        if bar % 4 == 0 and rng.random() < 0.6:
            hit(_CRASH, 0, vel)
        kicks: tuple[int, ...]
        snares: tuple[int, ...]
        hats: tuple[int, ...]
        if style == "rock":
            kicks, snares, hats = (0, 3, 4), (2, 6), tuple(range(8))
        elif style == "four_floor":
            kicks, snares, hats = (0, 2, 4, 6), (2, 6), (1, 3, 5, 7)
        elif style == "half_time":
            kicks, snares, hats = (0, 5), (4,), tuple(range(8))
        else:
            kicks, snares, hats = (0, 5), (2, 6), (0, 2, 3, 4, 6, 7)
        hat = _RIDE if style == "ride_jazz" else hat_key
        limit = 6 if fill else 8
        for h in kicks:
            if h < limit:
                hit(_KICK, h, vel)
        for h in snares:
            if h < limit:
                hit(snare_key, h, vel - 5)
        for h in hats:
            if h < limit:
                hit(hat, h, vel - 25 - (0 if h % 2 == 0 else 10))
        if fill:
            for k, tom_step in enumerate((6, 6.5, 7, 7.5)):
                hit(_TOMS[k % len(_TOMS)], tom_step, vel)


def _write_melody(
    inst: Any,
    rng: np.random.Generator,
    chords: list[tuple[int, ...]],
    tonic: int,
    scale: tuple[int, ...],
    vrange: tuple[int, int],
    n_bars: int,
    t: Any,
    latest_start: int,
) -> None:
    """A phrased monophonic line: chord tones on strong steps, steps and leaps, rests, bends.

    The line starts at eighth-note step 0-8, but no later than ``latest_start``.
    """
    import pretty_midi

    lo, hi = vrange
    in_scale = [p for p in range(lo, hi + 1) if (p - tonic) % 12 in scale]
    total = n_bars * STEPS_PER_BAR
    vib_rate = float(rng.uniform(4.5, 6.5))
    vib_cents = float(rng.uniform(15, 55))
    scoop_p = float(rng.uniform(0.05, 0.35))
    # Start after an intro of 0-1 bars (sometimes on an upbeat).
    step = min(int(rng.integers(0, 9)), latest_start)
    idx = int(rng.integers(len(in_scale) // 3, 2 * len(in_scale) // 3 + 1))
    # One instrumental break of a bar somewhere, sometimes: silent vocal stretches matter.
    brk = int(rng.integers(2, max(3, n_bars))) if rng.random() < 0.4 else -1
    while step < total:
        if step // STEPS_PER_BAR == brk:
            step = (brk + 1) * STEPS_PER_BAR
            continue
        phrase_len = int(rng.integers(5, 15))
        end = min(total, step + phrase_len)
        base_vel = int(rng.integers(78, 112))
        while step < end:
            dur = int(rng.choice([1, 1, 2, 2, 2, 3, 4, 6]))
            if step + dur >= end:
                dur = max(dur, int(rng.integers(3, 7)))  # long note ends the phrase
            bar = min(step // STEPS_PER_BAR, n_bars - 1)
            move = int(rng.choice(_MOVES, p=_MOVE_P))
            idx = int(np.clip(idx + move, 0, len(in_scale) - 1))
            pitch = in_scale[idx]
            if step % 4 == 0:  # strong beat: snap to the nearest chord tone
                cands = [p for p in in_scale if p % 12 in chords[bar]] or in_scale
                pitch = min(cands, key=lambda p: (abs(p - pitch), p))
                idx = in_scale.index(pitch)
            start, stop = t(step), t(step + dur) - float(rng.uniform(0.01, 0.06))
            vel = base_vel + int(rng.integers(-10, 8))
            _note(inst, pitch, start, stop, vel)
            # Pitch bends: an optional scoop into the note, then delayed vibrato.
            bends: list[tuple[float, int]] = []
            if rng.random() < scoop_p:
                depth = float(rng.uniform(0.5, 1.0))  # semitones below
                scoop = min(0.09, 0.4 * (stop - start))
                for k in range(4):
                    frac = k / 4
                    value = int(-depth * (1 - frac) * _BEND_PER_SEMITONE)
                    bends.append((start + frac * scoop, value))
                vib_start = start + scoop
            else:
                bends.append((start, 0))
                vib_start = start
            vib_start += float(rng.uniform(0.08, 0.2))
            if stop - vib_start > 0.12:
                amp = vib_cents / 100 * _BEND_PER_SEMITONE
                tt = vib_start
                while tt < stop:
                    ramp = min(1.0, (tt - vib_start) / 0.25)
                    val = ramp * amp * math.sin(2 * math.pi * vib_rate * (tt - vib_start))
                    bends.append((tt, int(val)))
                    tt += 0.025
            for time, value in bends:
                inst.pitch_bends.append(pretty_midi.PitchBend(pitch=int(value), time=float(time)))
            step += dur
        step += int(rng.integers(1, 7))  # rest between phrases


# --------------------------------------------------------------------------------------------
# Sources: which soundfonts and voices render a song
# --------------------------------------------------------------------------------------------

VoiceFamily = Literal["gm", "formant", "espeak"]
#: Voice families: ``gm`` = the score's GM lead patch rendered with the song's soundfont,
#: ``formant`` = :func:`core.karaoke.voices.sing_formant`, ``espeak`` =
#: :func:`core.karaoke.voices.sing_espeak`.
VOICE_FAMILIES: tuple[VoiceFamily, ...] = ("gm", "formant", "espeak")


@dataclass(frozen=True)
class SourceSet:
    """A named set of sources a corpus is rendered from.

    Attributes
    ----------
    name
        Recorded in ``corpus.json`` (``"gm"``, ``"train"``, ``"unseen"`` or a custom name).
    soundfonts
        Soundfonts for the accompaniment (and ``gm`` vocals); one is drawn per song.
    voices
        Voice families for the vocals; one is drawn per song.
    effects
        Whether each stem goes through a random effect chain (:mod:`core.karaoke.augment`).
    heldout
        A held-out (unseen-source) set: it may share no soundfont and no voice family with
        :data:`SOURCE_PRESETS` ``["train"]``, and makes a test split only.
    """

    name: str
    soundfonts: tuple[str, ...]
    voices: tuple[VoiceFamily, ...]
    effects: bool = False
    heldout: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready primitives."""
        return {"name": self.name, "soundfonts": list(self.soundfonts),
                "voices": list(self.voices), "effects": self.effects, "heldout": self.heldout}


#: The named source sets. ``gm`` is the original corpus (kept as the default); ``train`` is the
#: diverse in-domain set; ``unseen`` holds sources never used by ``train`` (its test split
#: estimates generalization).
SOURCE_PRESETS: dict[str, SourceSet] = {
    "gm": SourceSet("gm", ("TimGM6mb",), ("gm",)),
    "train": SourceSet("train", ("TimGM6mb", "OPL3_FM"), ("gm", "formant"), effects=True),
    "unseen": SourceSet("unseen", ("FluidR3_GM",), ("espeak",), effects=True, heldout=True),
}


def source_set(
    preset: str = "gm",
    *,
    soundfonts: Sequence[str] | None = None,
    voices: Sequence[str] | None = None,
    effects: bool | None = None,
) -> SourceSet:
    """The preset ``preset``, optionally with its soundfonts, voices or effects replaced.

    A modified preset is named ``"<preset>-custom"`` and keeps the preset's ``heldout`` flag.

    Raises
    ------
    InvalidConfigError
        Unknown preset, soundfont or voice family; an empty list; a held-out set that shares
        a soundfont or voice family with the ``train`` preset.
    """
    if preset not in SOURCE_PRESETS:
        raise InvalidConfigError(
            f"preset must be one of {', '.join(SOURCE_PRESETS)}, got {preset!r}"
        )
    base = SOURCE_PRESETS[preset]
    sfs = tuple(soundfonts) if soundfonts is not None else base.soundfonts
    vcs = tuple(voices) if voices is not None else base.voices
    fx = base.effects if effects is None else bool(effects)
    known_sf = tuple(SOUNDFONT_CANDIDATES)
    if not sfs or any(sf not in known_sf for sf in sfs):
        raise InvalidConfigError(
            f"soundfonts must be a non-empty list from {', '.join(known_sf)}, got {list(sfs)}"
        )
    if not vcs or any(v not in VOICE_FAMILIES for v in vcs):
        raise InvalidConfigError(
            f"voices must be a non-empty list from {', '.join(VOICE_FAMILIES)}, got {list(vcs)}"
        )
    changed = (sfs, vcs, fx) != (base.soundfonts, base.voices, base.effects)
    out = SourceSet(
        name=f"{preset}-custom" if changed else preset,
        soundfonts=tuple(dict.fromkeys(sfs)),
        voices=tuple(dict.fromkeys(vcs)),  # type: ignore[arg-type]
        effects=fx,
        heldout=base.heldout,
    )
    check_heldout(out)
    return out


def check_heldout(sources: SourceSet, *, train: SourceSet | None = None) -> None:
    """Refuse a held-out set that shares a soundfont or a voice family with ``train``.

    Parameters
    ----------
    sources
        The set to check (nothing is checked unless ``sources.heldout``).
    train
        The training set; default :data:`SOURCE_PRESETS` ``["train"]``.

    Raises
    ------
    InvalidConfigError
        Shared soundfonts or voice families (the message names them).
    """
    if not sources.heldout:
        return
    train = train or SOURCE_PRESETS["train"]
    shared_sf = sorted(set(sources.soundfonts) & set(train.soundfonts))
    shared_v = sorted(set(sources.voices) & set(train.voices))
    if shared_sf or shared_v:
        raise InvalidConfigError(
            f"the held-out source set {sources.name!r} overlaps the training set {train.name!r}: "
            f"shared soundfonts {shared_sf or 'none'}, shared voice families {shared_v or 'none'};"
            " unseen-source songs must use sources never used for training"
        )


@dataclass(frozen=True)
class SongSources:
    """The sources drawn for one song (recorded per song in ``corpus.json``).

    Attributes
    ----------
    soundfont
        Soundfont of the accompaniment (and of ``gm`` vocals).
    voice_family
        ``"gm"``, ``"formant"`` or ``"espeak"``.
    voice
        The voice's parameters (``gm``: program and patch; otherwise the voice dataclass).
    effects
        ``{"vocals": chain, "accompaniment": chain}`` of effect records (empty lists when off).
    render_seed
        Seed of the voice synthesizer's generator.
    """

    soundfont: str
    voice_family: VoiceFamily
    voice: dict[str, Any]
    effects: dict[str, list[dict[str, Any]]]
    render_seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready primitives."""
        return {"soundfont": self.soundfont, "voice_family": self.voice_family,
                "voice": dict(self.voice), "effects": {k: list(v) for k, v in self.effects.items()},
                "render_seed": self.render_seed}


def draw_sources(song: Song, sources: SourceSet, *, sr: int) -> SongSources:
    """Draw the soundfont, voice and effect chains of ``song`` from ``sources``.

    The draws use their own random stream of ``(seed, split, index)``, so the score of a song
    is the same whatever the source set.

    Raises
    ------
    InvalidConfigError
        An empty source set.
    """
    if not sources.soundfonts or not sources.voices:
        raise InvalidConfigError("a source set needs at least one soundfont and one voice family")
    spec = song.spec
    rng = np.random.default_rng([spec.seed, SPLITS.index(spec.split), spec.index, 0x50C5])
    soundfont = str(sources.soundfonts[int(rng.integers(len(sources.soundfonts)))])
    family: VoiceFamily = sources.voices[int(rng.integers(len(sources.voices)))]
    notes = notes_from_instrument(song.vocals.instruments[0])
    voice: dict[str, Any]
    if family == "formant":
        voice = FormantVoice.random(rng, notes=notes).to_dict()
    elif family == "espeak":
        voice = EspeakVoice.random(rng, notes=notes).to_dict()
    else:
        voice = {"program": spec.vocal_program, "patch": spec.vocal_patch}
    effects: dict[str, list[dict[str, Any]]] = {"vocals": [], "accompaniment": []}
    if sources.effects:
        effects = {"vocals": draw_effects(rng, role="vocals", sr=sr),
                   "accompaniment": draw_effects(rng, role="accompaniment", sr=sr)}
    return SongSources(soundfont=soundfont, voice_family=family, voice=voice, effects=effects,
                       render_seed=int(rng.integers(2**31)))


def render_vocals(
    song: Song, sources: SongSources, *, sr: int, n_samples: int, channels: int = 1
) -> FloatArray:
    """Render the vocal stem of ``song`` with the drawn voice.

    Returns
    -------
    ndarray, shape (channels, n_samples), float32
        Unnormalised; non-GM voices are panned at the score's vocal pan in stereo.

    Raises
    ------
    DependencyError
        FluidSynth, the soundfont or espeak-ng missing.
    """
    if sources.voice_family == "gm":
        return render_stems(song.vocals.instruments, sr=sr, n_samples=n_samples, pans=song.pans,
                            channels=channels, soundfont=sources.soundfont)
    notes = notes_from_instrument(song.vocals.instruments[0])
    rng = np.random.default_rng(sources.render_seed)
    params = dict(sources.voice)
    if sources.voice_family == "formant":
        y = sing_formant(notes, sr=sr, n_samples=n_samples, rng=rng,
                         voice=FormantVoice(**params))
    else:
        params["syllables"] = tuple(params.get("syllables", ()))
        y = sing_espeak(notes, sr=sr, n_samples=n_samples, rng=rng, voice=EspeakVoice(**params))
    if channels == 2:
        return pan(y, position=(song.pans.get("vocals", 64) - 64) / 64)
    return y


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render_stems(
    instruments: list[Any],
    *,
    sr: int,
    n_samples: int,
    pans: dict[str, int] | None = None,
    channels: int = 1,
    soundfont: str = "TimGM6mb",
) -> FloatArray:
    """Render instruments together with a fresh FluidSynth instance (one MIDI channel each).

    Parameters
    ----------
    instruments
        :class:`pretty_midi.Instrument` objects (at most 15 melodic plus drums).
    sr
        Sample rate in Hz.
    n_samples
        Output length in samples; later events are dropped, notes still sounding are cut.
    pans
        MIDI pan (0 = left, 64 = centre, 127 = right) by instrument name; centre by default.
    channels
        1 (the mean of FluidSynth's left and right outputs) or 2.
    soundfont
        Name of the General MIDI soundfont (:data:`core.signal.soundfont.SOUNDFONT_CANDIDATES`).

    Returns
    -------
    ndarray, shape (channels, n_samples), float32
        Unnormalised FluidSynth output (synth gain 0.2).

    Raises
    ------
    DependencyError
        libfluidsynth, pyfluidsynth or the soundfont missing.
    InvalidConfigError
        More than 15 melodic instruments, or ``channels`` not 1 or 2.
    """
    fluidsynth = require_fluidsynth()
    if channels not in (1, 2):
        raise InvalidConfigError(f"channels must be 1 or 2, got {channels!r}")
    pans = pans or {}
    sf2 = str(soundfont_path(soundfont))
    synth = fluidsynth.Synth(gain=0.2, samplerate=float(sr))
    write = fluidsynth._fl.fluid_synth_write_float
    write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                      ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    write.restype = ctypes.c_int
    out = np.zeros((2, n_samples), dtype=np.float32)
    try:
        sfid = synth.sfload(sf2)
        if sfid < 0:
            raise DependencyError(f"FluidSynth could not load the soundfont {sf2!r}")
        melodic = iter([c for c in range(16) if c != 9])
        events: list[tuple[float, int, str, int, int, int]] = []
        for inst in instruments:
            if inst.is_drum:
                chan = 9
                kit = inst.program if _has_preset(sfid, synth, 128, inst.program) else 0
                synth.program_select(chan, sfid, 128, kit)
            else:
                try:
                    chan = next(melodic)
                except StopIteration:
                    raise InvalidConfigError("at most 15 melodic instruments per stem") from None
                synth.program_select(chan, sfid, 0, inst.program)
            synth.cc(chan, 7, 100)
            synth.cc(chan, 10, int(pans.get(inst.name, 64)))
            for note in inst.notes:
                events.append((note.start, 2, "on", chan, note.pitch, note.velocity))
                events.append((note.end, 0, "off", chan, note.pitch, 0))
            for bend in inst.pitch_bends:
                events.append((bend.time, 1, "bend", chan, bend.pitch, 0))
            for cc in inst.control_changes:
                events.append((cc.time, 1, "cc", chan, cc.number, cc.value))
        events.sort(key=lambda e: (e[0], e[1], e[3], e[4]))
        pos = 0
        for time, _, kind, chan, a, b in events:
            target = min(n_samples, max(pos, int(round(time * sr))))
            if target > pos:
                _write_float(write, synth, out, pos, target)
                pos = target
            if pos >= n_samples:
                break
            if kind == "on":
                synth.noteon(chan, a, b)
            elif kind == "off":
                synth.noteoff(chan, a)
            elif kind == "bend":
                synth.pitch_bend(chan, a)
            else:
                synth.cc(chan, a, b)
        if pos < n_samples:
            _write_float(write, synth, out, pos, n_samples)
    finally:
        synth.delete()
    if channels == 1:
        return np.asarray(out.mean(axis=0, keepdims=True, dtype=np.float32))
    return out


def _has_preset(sfid: int, synth: Any, bank: int, program: int) -> bool:
    """Whether the loaded soundfont has ``bank``/``program`` (asked quietly, no error log)."""
    name = synth.sfpreset_name(sfid, bank, program)
    return bool(name)


def _write_float(write: Any, synth: Any, out: FloatArray, start: int, stop: int) -> None:
    """Render samples ``start:stop`` of both channels into ``out`` (in blocks)."""
    block = 4096
    left, right = out[0], out[1]
    for i in range(start, stop, block):
        n = min(block, stop - i)
        write(synth.synth, n, left[i:].ctypes.data, 0, 1, right[i:].ctypes.data, 0, 1)


def render_song(
    song: Song,
    *,
    sr: int,
    seconds: float,
    channels: int = 1,
    peak: float = 0.9,
    quantize: bool = True,
    sources: SongSources | None = None,
) -> RenderedSong:
    """Render a song's two stems and mix them at the song's vocal level.

    With ``sources`` (from :func:`draw_sources`) the accompaniment uses its soundfont, the
    vocals its voice, and each stem its effect chain (before the levels are set); without,
    the legacy render (TimGM6mb, the score's GM lead, no effects).

    The vocals are scaled to ``song.spec.vocal_db`` dB RMS relative to the accompaniment, then
    both stems by one common factor so that the largest of ``|vocals|``, ``|accompaniment|``
    and ``|mixture|`` is ``peak``. With ``quantize`` the stems are rounded to the 16-bit grid
    first, so PCM16 files hold them exactly and ``mixture = vocals + accompaniment`` holds
    exactly in files too.

    Returns
    -------
    RenderedSong

    Raises
    ------
    DependencyError
        FluidSynth, a soundfont or espeak-ng missing.
    InvalidConfigError
        ``seconds``, ``sr``, ``channels`` or ``peak`` out of range.
    """
    if not seconds > 0:
        raise InvalidConfigError(f"seconds must be positive, got {seconds!r}")
    if sr < 8000:
        raise InvalidConfigError(f"sr must be at least 8000 Hz, got {sr}")
    if not 0 < peak < 1:
        raise InvalidConfigError(f"peak must be in (0, 1), got {peak!r}")
    if channels not in (1, 2):
        raise InvalidConfigError(f"channels must be 1 or 2, got {channels!r}")
    n = int(round(seconds * sr))
    if sources is None:
        voc = render_stems(
            song.vocals.instruments, sr=sr, n_samples=n, pans=song.pans, channels=channels
        )
        acc = render_stems(
            song.accompaniment.instruments, sr=sr, n_samples=n, pans=song.pans, channels=channels
        )
    else:
        voc = render_vocals(song, sources, sr=sr, n_samples=n, channels=channels)
        acc = render_stems(song.accompaniment.instruments, sr=sr, n_samples=n, pans=song.pans,
                           channels=channels, soundfont=sources.soundfont)
        voc = apply_effects(voc, sr=sr, chain=sources.effects.get("vocals", []))
        acc = apply_effects(acc, sr=sr, chain=sources.effects.get("accompaniment", []))
    rms_v = float(np.sqrt(np.mean(voc.astype(np.float64) ** 2)))
    rms_a = float(np.sqrt(np.mean(acc.astype(np.float64) ** 2)))
    if rms_v > 0 and rms_a > 0:
        voc = voc * np.float32(rms_a / rms_v * 10 ** (song.spec.vocal_db / 20))
    top = max(float(np.abs(voc).max()), float(np.abs(acc).max()), float(np.abs(voc + acc).max()))
    scale = np.float32(peak / top) if top > 0 else np.float32(1.0)
    voc, acc = voc * scale, acc * scale
    if quantize:
        voc = np.round(voc * 32768.0) / np.float32(32768.0)
        acc = np.round(acc * 32768.0) / np.float32(32768.0)
    stems = np.stack([voc, acc]).astype(np.float32)
    mixture = (stems[0] + stems[1]).astype(np.float32)
    return RenderedSong(song=song, sr=sr, stems=stems, mixture=mixture, sources=sources)
