"""Piano roll <-> pretty_midi <-> audio for the blues representation (no torch).

Rolls are ``(n_units, steps)`` float32 in the layout of
:class:`core.blues.representation.BluesForm` (chord units, then melody units; one step = an eighth
note). MIDI files carry two instruments named ``chords`` and ``melody``. Audio is rendered with
FluidSynth and pretty_midi's bundled General MIDI soundfont ``TimGM6mb.sf2`` when libfluidsynth
and pyfluidsynth work (:mod:`core.signal.soundfont`), else with pretty_midi's sine synthesis;
:class:`RenderedAudio` says which one was used.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.blues.representation import (
    BluesCorpus,
    BluesForm,
    best_transposition,
    pitch_roll_to_units,
)
from core.errors import DatasetError, DependencyError, InvalidConfigError, InvalidMidiError
from core.signal.soundfont import fluidsynth_available, require_fluidsynth, soundfont_path
from core.types import FloatArray

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

#: Largest MIDI file accepted (bytes); real MIDI files are far smaller.
MAX_MIDI_BYTES = 8 * 1024 * 1024
#: Longest MIDI file read into a roll, bars (as ``compose``'s ``bars`` cap): a few bytes can
#: hold a note ending days later, whose roll would take gigabytes.
MAX_MIDI_BARS = 2000


@dataclass(frozen=True)
class RenderedAudio:
    """Audio rendered from MIDI.

    Attributes
    ----------
    y
        ``(1, samples)`` float32, peak-normalised to 0.9 (silence stays 0).
    sr
        Sample rate in Hz.
    synth
        ``"fluidsynth"`` (General MIDI soundfont) or ``"sine"`` (pretty_midi's fallback).
    """

    y: FloatArray
    sr: int
    synth: Literal["fluidsynth", "sine"]

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return float(self.y.shape[1]) / self.sr


def _pm() -> ModuleType:
    # lazy: pretty_midi (with mido) is imported only when MIDI is built, read or rendered
    import pretty_midi

    module: ModuleType = pretty_midi  # untyped library: Any
    return module


def step_seconds(tempo: float) -> float:
    """Length of one step (an eighth note) in seconds at ``tempo`` quarter notes per minute."""
    return 60.0 / float(tempo) / 2.0


def steps_per_second(form: BluesForm, tempo: float = 120.0) -> float:
    """Roll steps per second of audio at ``tempo`` quarter notes per minute (4/4 bars)."""
    return float(tempo) / 60.0 * form.steps_per_bar / 4.0


def roll_to_midi(
    roll: FloatArray,
    *,
    form: BluesForm | None = None,
    tempo: float = 120.0,
    chord_program: int = 0,
    melody_program: int = 65,
    chord_velocity: int = 70,
    melody_velocity: int = 100,
    chord_articulation: Literal["quarter", "held"] = "quarter",
) -> pretty_midi.PrettyMIDI:
    """Turn a roll into a two-instrument :class:`pretty_midi.PrettyMIDI`.

    Consecutive on-steps of a unit become one note (the representation has no onset bit);
    with ``chord_articulation="quarter"`` chord notes are re-struck on every quarter note, as in
    the papers' training data, with a 2 % release gap so that re-reading gives the same roll.

    Parameters
    ----------
    roll
        ``(n_units, steps)``; values > 0.5 are on.
    form
        Row layout (default :class:`BluesForm`).
    tempo
        Quarter notes per minute (one step is an eighth note).
    chord_program, melody_program
        General MIDI programs (0-based): 0 = acoustic grand piano, 65 = alto sax.
    chord_velocity, melody_velocity
        MIDI velocities 1..127.
    chord_articulation
        ``"quarter"`` re-strikes held chord notes every 2 steps, ``"held"`` ties them.

    Returns
    -------
    pretty_midi.PrettyMIDI
        Instruments ``chords`` then ``melody`` (both present, possibly empty).

    Raises
    ------
    InvalidConfigError
        Wrong roll shape, non-finite values, tempo <= 0, program/velocity out of range.
    """
    pretty_midi = _pm()
    form = form or BluesForm()
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[0] != form.n_units:
        raise InvalidConfigError(
            f"roll: expected shape ({form.n_units}, steps), got {tuple(roll.shape)}"
        )
    if not np.all(np.isfinite(roll)):
        raise InvalidConfigError("roll: contains NaN or inf")
    if not (np.isfinite(tempo) and 10.0 <= float(tempo) <= 400.0):
        raise InvalidConfigError(f"tempo: expected 10..400 quarter notes/min, got {tempo}")
    for name, v, hi in (("chord_program", chord_program, 127),
                        ("melody_program", melody_program, 127),
                        ("chord_velocity", chord_velocity, 127),
                        ("melody_velocity", melody_velocity, 127)):  # fmt: skip
        if not 0 <= int(v) <= hi:
            raise InvalidConfigError(f"{name}: expected 0..{hi}, got {v}")
    dt = step_seconds(tempo)
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo))
    on = roll > 0.5
    for name, program, velocity, rows, low in (
        ("chords", chord_program, chord_velocity, range(form.n_chord), form.chord_low),
        ("melody", melody_program, melody_velocity,
         range(form.n_chord, form.n_units), form.melody_low - form.n_chord),
    ):  # fmt: skip
        inst = pretty_midi.Instrument(program=int(program), name=name)
        for r in rows:
            for start, end in _runs(on[r]):
                pieces = [(start, end)]
                if name == "chords" and chord_articulation == "quarter":
                    cuts = [s for s in range(start + 1, end) if s % 2 == 0]
                    bounds = [start, *cuts, end]
                    pieces = list(zip(bounds[:-1], bounds[1:], strict=True))
                for s, e in pieces:
                    gap = 0.02 * dt if name == "chords" and chord_articulation == "quarter" else 0
                    inst.notes.append(
                        pretty_midi.Note(
                            velocity=int(velocity), pitch=int(low + r),
                            start=s * dt, end=e * dt - gap,
                        )
                    )
        inst.notes.sort(key=lambda n: (n.start, n.pitch))
        pm.instruments.append(inst)
    return pm


def _runs(x: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` step pairs of the runs of True in a 1-D bool array (end exclusive)."""
    d = np.diff(np.concatenate([[0], x.astype(np.int8), [0]]))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist(), strict=True))


def _tempo(pm: pretty_midi.PrettyMIDI) -> float:
    _, tempi = pm.get_tempo_changes()
    t = float(tempi[0]) if len(tempi) else 120.0
    return t if np.isfinite(t) and t > 0 else 120.0


def _instrument_roll(
    notes: list[pretty_midi.Note], *, dt: float, n_steps: int
) -> FloatArray:
    """``(128, n_steps)`` float32 on/off roll of ``notes`` quantised to steps of ``dt`` s."""
    out = np.zeros((128, n_steps), np.float32)
    for n in notes:
        s = int(round(n.start / dt))
        e = max(s + 1, int(round(n.end / dt)))
        if s < n_steps:
            out[n.pitch, s : min(e, n_steps)] = 1.0
    return out


def split_pitch_rolls(
    pm: pretty_midi.PrettyMIDI, *, steps_per_bar: int = 8, max_bars: int = MAX_MIDI_BARS
) -> tuple[FloatArray, FloatArray]:
    """Quantise ``pm`` into a chord and a melody ``(128, steps)`` MIDI-pitch roll.

    Instruments named ``chords`` / ``melody`` are taken as such. Otherwise (any MIDI file), drums
    are ignored, each step's highest sounding note is the melody and all other notes the chords.
    One step is ``4 / steps_per_bar`` of a quarter note at the file's first tempo.

    Raises
    ------
    InvalidMidiError
        The file has no (non-drum) notes, or lasts more than ``max_bars`` bars (checked
        before the rolls are allocated).
    """
    insts = [i for i in pm.instruments if not i.is_drum and i.notes]
    if not insts:
        raise InvalidMidiError("MIDI file has no (non-drum) notes")
    dt = 60.0 / _tempo(pm) * 4.0 / steps_per_bar
    end = max(n.end for i in insts for n in i.notes)
    steps = round(end / dt) if np.isfinite(end) else float("inf")
    if steps > max_bars * steps_per_bar:
        raise InvalidMidiError(
            f"MIDI file lasts {end:,.0f} s, {steps / steps_per_bar:,.0f} bars at its first tempo; "
            f"at most {max_bars:,} bars are read"
        )
    n_steps = max(1, int(steps))
    names = {i.name.strip().lower() for i in insts}
    if names & {"chords", "melody"}:
        chords = [n for i in insts if i.name.strip().lower() == "chords" for n in i.notes]
        melody = [n for i in insts if i.name.strip().lower() != "chords" for n in i.notes]
        return (_instrument_roll(chords, dt=dt, n_steps=n_steps),
                _instrument_roll(melody, dt=dt, n_steps=n_steps))
    allr = _instrument_roll([n for i in insts for n in i.notes], dt=dt, n_steps=n_steps)
    top = np.zeros_like(allr)
    sounding = np.nonzero(allr.any(axis=0))[0]
    tops = np.array([np.nonzero(allr[:, t])[0].max() for t in sounding], dtype=int)
    top[tops, sounding] = 1.0
    return allr - top, top


def midi_to_roll(
    pm_or_bytes_or_path: pretty_midi.PrettyMIDI | bytes | str | Path,
    *,
    form: BluesForm | None = None,
    steps: int | None = None,
    max_bars: int = MAX_MIDI_BARS,
) -> FloatArray:
    """Read MIDI into the blues representation ``(n_units, steps)`` float32.

    Quantised to eighth notes at the file's first tempo; chord notes are folded into the chord
    octave by pitch class, each step keeps its highest melody note folded by octaves into the
    melody range (see :func:`split_pitch_rolls` for files without ``chords``/``melody`` tracks).
    No transposition (see :func:`load_midi_folder`). ``steps`` crops or zero-pads the
    result to that many steps (MIDI does not store trailing silence). Files longer than
    ``max_bars`` bars are refused before any roll is allocated.

    Raises
    ------
    InvalidMidiError
        Corrupt bytes, an empty file, no notes, or longer than ``max_bars`` bars.
    """
    form = form or BluesForm()
    pm = pm_or_bytes_or_path
    if isinstance(pm, (bytes, bytearray, str, Path)):
        pm = load_midi(bytes(pm) if isinstance(pm, bytearray) else pm)
    chords, melody = split_pitch_rolls(pm, steps_per_bar=form.steps_per_bar, max_bars=max_bars)
    units = pitch_roll_to_units(chords, melody, form)
    if steps is not None:
        units = units[:, : int(steps)]
        units = np.pad(units, ((0, 0), (0, int(steps) - units.shape[1])))
    return units


def midi_to_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    """Serialise a PrettyMIDI to standard MIDI file bytes."""
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def load_midi(source: str | Path | bytes) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file from a path or bytes and check it holds notes.

    Raises
    ------
    InvalidMidiError
        Missing or empty file, more than 8 MiB, undecodable bytes, or no notes at all.
    """
    pretty_midi = _pm()
    name = "MIDI bytes"
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = f"MIDI file {path.name!r}"
        if not path.is_file():
            raise InvalidMidiError(f"{name} does not exist")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise InvalidMidiError(
            f"MIDI source: expected a path or bytes, got {type(source).__name__}"
        )
    if len(data) == 0:
        raise InvalidMidiError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_MIDI_BYTES:
        raise InvalidMidiError(f"{name} is {len(data)} bytes, more than the {MAX_MIDI_BYTES} limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # mido raises OSError, EOFError, KeyError, ValueError, ...
        raise InvalidMidiError(
            f"{name} is not a valid standard MIDI file ({type(exc).__name__}: {exc})"
        ) from exc
    if not any(i.notes for i in pm.instruments):
        raise InvalidMidiError(f"{name} contains no notes")
    return pm


def render_audio(
    pm: pretty_midi.PrettyMIDI,
    *,
    sr: int = 22050,
    synth: Literal["auto", "fluidsynth", "sine"] = "auto",
) -> RenderedAudio:
    """Render MIDI to mono audio.

    Parameters
    ----------
    pm
        The MIDI to render.
    sr
        Sample rate in Hz (8000..96000).
    synth
        ``"auto"``: FluidSynth with ``TimGM6mb.sf2`` when :func:`fluidsynth_available`, else sine
        synthesis (with a warning); or force one of them.

    Returns
    -------
    RenderedAudio
        ``y (1, samples)`` float32 peak-normalised to 0.9, ``sr``, and which ``synth`` was used.
        MIDI without notes gives silence as long as the file (at least one sample).

    Raises
    ------
    InvalidConfigError
        ``sr`` out of range or unknown ``synth``.
    DependencyError
        ``synth="fluidsynth"`` but libfluidsynth/pyfluidsynth is unusable.
    """
    if not 8000 <= int(sr) <= 96000:
        raise InvalidConfigError(f"sr: expected 8000..96000 Hz, got {sr}")
    if synth not in ("auto", "fluidsynth", "sine"):
        raise InvalidConfigError(f"synth: expected 'auto', 'fluidsynth' or 'sine', got {synth!r}")
    use_fs = synth == "fluidsynth" or (synth == "auto" and fluidsynth_available())
    if synth == "fluidsynth" and not fluidsynth_available():
        require_fluidsynth()  # raises DependencyError saying what to install
        raise DependencyError("FluidSynth is installed but could not start a synthesizer")
    if synth == "auto" and not use_fs:
        warnings.warn(
            "libfluidsynth not found: rendering with sine waves "
            "(install libfluidsynth3 for General MIDI sounds)",
            stacklevel=2,
        )
    n_total = max(1, int(np.ceil(pm.get_end_time() * sr)))
    y = np.zeros(0)
    used: Literal["fluidsynth", "sine"] = "fluidsynth" if use_fs else "sine"
    if any(i.notes for i in pm.instruments):
        if use_fs:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    y = pm.fluidsynth(fs=int(sr), synthesizer=str(soundfont_path()))
            except Exception as exc:
                if synth == "fluidsynth":
                    raise DependencyError(f"FluidSynth failed to render: {exc}") from exc
                warnings.warn(f"FluidSynth failed ({exc}); using sine synthesis", stacklevel=2)
                used = "sine"
        if used == "sine":
            y = pm.synthesize(fs=int(sr))
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size < n_total:
        y = np.pad(y, (0, n_total - y.size))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = 0.9 * y / peak
    return RenderedAudio(y[None, :].astype(np.float32), int(sr), used)


def load_midi_folder(
    folder: str | Path,
    *,
    form: BluesForm | None = None,
    transpose: bool = True,
    bars_per_sequence: int | None = None,
    max_files: int = 500,
    skip_bad: bool = False,
) -> BluesCorpus:
    """Turn a folder of MIDI files into training data in the blues representation.

    Each file is quantised to eighth notes at its first tempo (see :func:`midi_to_roll`); tracks
    named ``chords``/``melody`` are used as such, otherwise each step's highest note is the
    melody and the other notes the chords. With ``transpose`` each file is shifted to the key that
    best fits the form's chords and scale. Files are cut into sequences of ``bars_per_sequence``
    bars (default one chorus); a shorter last piece is zero-padded when it holds at least a bar.

    Parameters
    ----------
    folder
        Folder searched recursively for ``*.mid`` / ``*.midi``.
    form
        Row layout and key (default :class:`BluesForm`).
    transpose
        Shift each file to the form's key.
    bars_per_sequence
        Bars per training sequence (default ``form.n_bars``).
    max_files
        Read at most this many files (sorted by path).
    skip_bad
        Skip unreadable / note-less files instead of raising.

    Returns
    -------
    BluesCorpus
        ``sequences (n_seq, n_units, bars_per_sequence * steps_per_bar)`` float32, ``seed=-1``.

    Raises
    ------
    DatasetError
        The folder does not exist or holds no MIDI file (or none usable with ``skip_bad``).
    InvalidMidiError
        A file is corrupt or has no notes (names the file), unless ``skip_bad``.
    """
    form = form or BluesForm()
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"MIDI folder {str(folder)!r} does not exist")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi")
    )[: int(max_files)]
    if not files:
        raise DatasetError(f"MIDI folder {str(folder)!r} holds no .mid/.midi files")
    seq_bars = int(bars_per_sequence or form.n_bars)
    seq_steps = seq_bars * form.steps_per_bar
    seqs: list[FloatArray] = []
    for path in files:
        try:
            pm = load_midi(path)
            chord_roll, melody_roll = split_pitch_rolls(pm, steps_per_bar=form.steps_per_bar)
        except InvalidMidiError:
            if skip_bad:
                continue
            raise
        if transpose:
            both = chord_roll + melody_roll
            shift = best_transposition(both, form)
            chord_roll = np.roll(chord_roll, shift, axis=0)
            melody_roll = np.roll(melody_roll, shift, axis=0)
        units = pitch_roll_to_units(chord_roll, melody_roll, form)
        for start in range(0, units.shape[1], seq_steps):
            piece = units[:, start : start + seq_steps]
            if piece.shape[1] < form.steps_per_bar or not piece.any():
                continue
            if piece.shape[1] < seq_steps:
                piece = np.pad(piece, ((0, 0), (0, seq_steps - piece.shape[1])))
            seqs.append(piece)
    if not seqs:
        raise DatasetError(f"MIDI folder {str(folder)!r}: no usable notes in {len(files)} file(s)")
    return BluesCorpus(np.stack(seqs).astype(np.float32), form, -1, str(folder))
