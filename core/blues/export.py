"""A composition as files: standard MIDI, 16-bit WAV and compact audio for a web player.

Rendering goes through :func:`core.blues.midi.render_audio` (FluidSynth when usable, else sine
waves); the player audio is MP3 when libsndfile can encode it (about a tenth of the WAV's size
inside a base64 web page), else the WAV itself.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from core.blues.midi import midi_to_bytes, render_audio, roll_to_midi
from core.blues.representation import BluesForm
from core.signal.audio import audio_to_bytes
from core.types import FloatArray


@dataclass(frozen=True)
class RenderedPiece:
    """A composition as files.

    Attributes
    ----------
    midi
        Standard MIDI file bytes (instruments ``chords`` and ``melody``).
    wav
        16-bit mono WAV bytes (for download).
    player_audio, player_mime
        Compressed audio for an in-page player (MP3 when it can be encoded, else the WAV).
    synth
        ``"fluidsynth"`` or ``"sine"``.
    sr
        Sample rate in Hz.
    seconds
        Audio duration.
    """

    midi: bytes
    wav: bytes
    player_audio: bytes
    player_mime: str
    synth: str
    sr: int
    seconds: float


def encode_mp3(y: FloatArray, sr: int) -> bytes | None:
    """``(1, samples)`` float32 audio as MP3 bytes, or None when libsndfile cannot encode MP3.

    libsndfile writes MP3 from version 1.1 on; older builds raise, and some write nothing.
    """
    buf = io.BytesIO()
    try:
        sf.write(buf, np.asarray(y, dtype=np.float32)[0], int(sr), format="MP3")
    except (sf.LibsndfileError, TypeError, ValueError, RuntimeError):
        return None
    return buf.getvalue() if buf.tell() > 0 else None


def render_piece(
    roll: FloatArray, *, form: BluesForm, tempo: float = 120.0, sr: int = 16000
) -> RenderedPiece:
    """MIDI, WAV and player audio of a ``(n_units, steps)`` roll.

    A missing FluidSynth does not warn here (the caller says which synth was used).

    Raises
    ------
    core.errors.InvalidConfigError
        Bad roll shape, tempo or sample rate (from :mod:`core.blues.midi`).
    """
    pm = roll_to_midi(roll, form=form, tempo=tempo)
    midi = midi_to_bytes(pm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no FluidSynth": RenderedPiece.synth says so
        audio = render_audio(pm, sr=sr)
    y = np.asarray(audio.y, dtype=np.float32).reshape(1, -1)
    wav = audio_to_bytes(y, int(audio.sr), fmt="WAV", subtype="PCM_16")
    mp3 = encode_mp3(y, int(audio.sr))
    player, mime = (wav, "audio/wav") if mp3 is None else (mp3, "audio/mpeg")
    return RenderedPiece(
        midi=midi, wav=wav, player_audio=player, player_mime=mime, synth=str(audio.synth),
        sr=int(audio.sr), seconds=y.shape[1] / float(audio.sr),
    )  # fmt: skip
