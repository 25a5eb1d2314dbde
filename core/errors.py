"""Typed errors raised by :mod:`core`.

Every error is a :class:`CoreError` and also subclasses the matching builtin, so a
notebook user can catch either ``InvalidAudioError`` or ``ValueError``. The dashboard
catches only :class:`CoreError` and shows its message with ``st.error``.
"""

from __future__ import annotations


class CoreError(Exception):
    """Base class of every error raised on purpose by :mod:`core`."""


class InvalidAudioError(CoreError, ValueError):
    """Audio that cannot be used: undecodable, empty, non-finite, too long, too many channels."""


class InvalidMidiError(CoreError, ValueError):
    """A MIDI file that cannot be parsed or holds nothing usable (e.g. no notes)."""


class InvalidConfigError(CoreError, ValueError):
    """An option or configuration value outside its allowed range."""


class CheckpointError(CoreError, RuntimeError):
    """A checkpoint that is missing, corrupt, or made by another kind of model."""


class DatasetError(CoreError, ValueError):
    """A corpus or track folder that is missing files or holds mismatched stems."""


class MetricsError(CoreError, ValueError):
    """Signals BSS Eval cannot score (e.g. a fully silent reference)."""


class ResultsError(CoreError, ValueError):
    """A folder that is not a GenEx results run, or a run whose files are inconsistent."""


class OutputError(CoreError, OSError):
    """An output path that cannot be written, or that another run is writing to.

    E.g. an existing file where a folder is wanted (or the reverse), a read-only folder, or an
    output folder locked by a concurrent ``genex`` run.
    """


class DependencyError(CoreError, RuntimeError):
    """A system dependency (ffmpeg, libfluidsynth) is missing; the message says what to install."""
