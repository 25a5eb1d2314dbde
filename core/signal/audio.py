"""Audio I/O: the one place where files become arrays and arrays become files.

Arrays follow :mod:`core.types`: audio is ``(channels, samples)`` float32 at ``sr`` Hz.
Everything that cannot be used is refused with :class:`~core.errors.InvalidAudioError`
*before* expensive work (the duration is checked from the header, before decoding).

Formats are whatever the installed libsndfile decodes: WAV, FLAC, OGG/Vorbis, and MP3 with
libsndfile >= 1.1 (:func:`supported_formats` says which).
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from core.errors import InvalidAudioError, InvalidConfigError
from core.io_utils import atomic_write_bytes
from core.types import FloatArray

#: Lowest sample rate accepted: below it speech and music lose too much to be worth separating.
MIN_SAMPLE_RATE = 8000
#: Highest sample rate accepted: the highest in common use. A header claiming more is corrupt,
#: and would size buffers from it (2**31 - 1 Hz asks for gigabytes before any sample is read).
MAX_SAMPLE_RATE = 384_000
#: Largest sample magnitude accepted (120 dB above full scale). A float WAV can hold up to
#: 3.4e38, whose squares overflow float32 inside the STFT and the metrics.
MAX_ABS_SAMPLE = 1e6
#: Most channels accepted (mono or stereo).
MAX_CHANNELS = 2
#: Default longest input, in seconds (10 minutes).
DEFAULT_MAX_SECONDS = 600.0
#: Shortest input accepted, seconds: a little more than one STFT window of the shipped
#: separators (1024 samples at 22.05 kHz, 46 ms). A shorter file has no full frame to analyse
#: (a 1-sample WAV only gave library warnings and empty-looking stems).
MIN_SECONDS = 0.05

_SUFFIX_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}


def supported_formats() -> list[str]:
    """Return the container formats this machine's libsndfile can decode, e.g. ``["WAV", ...]``."""
    available = sf.available_formats()
    return [fmt for fmt in ("WAV", "FLAC", "OGG", "MP3") if fmt in available]


def check_max_seconds(max_seconds: float) -> float:
    """Return ``max_seconds`` as a float, or raise if it is not a positive number.

    ``nan`` would compare false with every duration and silently disable the limit.

    Raises
    ------
    InvalidConfigError
        ``max_seconds`` is NaN, zero, negative or not a number (``inf`` is allowed: no limit).
    """
    try:
        value = float(max_seconds)
    except (TypeError, ValueError):
        raise InvalidConfigError(
            f"max_seconds must be a positive number of seconds, got {max_seconds!r}"
        ) from None
    if math.isnan(value) or value <= 0:
        raise InvalidConfigError(f"max_seconds must be a positive number of seconds, got {value}")
    return value


def check_min_length(n_samples: int, *, sr: int, label: str = "audio") -> None:
    """Refuse audio shorter than :data:`MIN_SECONDS` (0.05 s).

    Parameters
    ----------
    n_samples
        The length in samples (per channel).
    sr
        The sample rate in Hz.
    label
        How the message names the audio (e.g. the file's quoted path).

    Raises
    ------
    InvalidAudioError
        Fewer than ``ceil(MIN_SECONDS * sr)`` samples.
    """
    needed = math.ceil(round(MIN_SECONDS * sr, 6))  # 800 at 16 kHz, not 801 from 800.0000001
    if n_samples < needed:
        raise InvalidAudioError(
            f"{label} is {n_samples} sample(s) long ({1000 * n_samples / sr:.1f} ms at {sr} Hz); "
            f"at least {1000 * MIN_SECONDS:.0f} ms ({needed} samples) is needed, one STFT window "
            "of the separators and a little more"
        )


def _describe(source: str | Path | bytes, name: str | None) -> str:
    if name:
        return repr(name)
    if isinstance(source, bytes | bytearray):
        return "the uploaded data"
    return repr(str(source))


def load_audio(
    source: str | Path | bytes,
    *,
    sr: int | None = None,
    channels: int | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    name: str | None = None,
) -> tuple[FloatArray, int]:
    """Decode an audio file or its bytes into a validated float32 array.

    Parameters
    ----------
    source
        A path, or the file's bytes (e.g. a browser upload).
    sr
        Target sample rate in Hz; the audio is resampled with librosa (soxr) when it differs,
        with a warning. ``None`` keeps the file's rate.
    channels
        ``1`` or ``2`` to convert (a stereo downmix warns); ``None`` keeps the file's channels.
    max_seconds
        Longest accepted duration in seconds, checked from the header before decoding.
    name
        A display name for error messages (e.g. the uploaded file's name).

    Returns
    -------
    y : ndarray, shape (channels, samples), float32
        The audio, in [-1, 1] for integer formats.
    sr : int
        Its sample rate in Hz.

    Raises
    ------
    InvalidAudioError
        Missing, empty or undecodable input (e.g. a text file renamed ``.wav``), zero samples
        or fewer than :data:`MIN_SECONDS` (0.05 s), NaN/inf samples, longer than
        ``max_seconds``, more than two channels, or a sample rate below 8 kHz or above 384 kHz
        (the header's); or a bad ``sr``/``channels`` option.
    InvalidConfigError
        ``max_seconds`` is not a positive number (e.g. NaN).
    """
    label = _describe(source, name)
    max_seconds = check_max_seconds(max_seconds)
    if channels not in (None, 1, 2):
        raise InvalidAudioError(f"channels must be 1, 2 or None, got {channels!r}")
    if sr is not None and not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise InvalidAudioError(
            f"target sr must be in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, got {sr}"
        )
    if isinstance(source, bytes | bytearray):
        if len(source) == 0:
            raise InvalidAudioError(f"{label} is empty (0 bytes): nothing to decode")
        handle: io.BytesIO | str = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidAudioError(f"{label} does not exist or is not a file")
        if path.stat().st_size == 0:
            raise InvalidAudioError(f"{label} is empty (0 bytes): nothing to decode")
        handle = str(path)
    try:
        with sf.SoundFile(handle) as fh:
            file_sr, n_channels, n_frames = int(fh.samplerate), int(fh.channels), int(fh.frames)
            _check_header(label, file_sr, n_channels, n_frames, max_seconds)
            check_min_length(n_frames, sr=file_sr, label=label)
            data = fh.read(dtype="float32", always_2d=True)  # (samples, channels)
    except InvalidAudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = getattr(exc, "error_string", None) or type(exc).__name__
        raise InvalidAudioError(
            f"{label} could not be decoded as audio ({reason}); "
            f"supported formats here: {', '.join(supported_formats())}"
        ) from exc
    y = np.ascontiguousarray(data.T)
    if y.shape[1] == 0:
        raise InvalidAudioError(f"{label} holds zero samples")
    validate_audio(y, sr=file_sr, name=name or label.strip("'"), max_seconds=max_seconds)
    if channels is not None and y.shape[0] != channels:
        if channels == 1:
            warnings.warn(f"{label}: stereo downmixed to mono", stacklevel=2)
        y = to_channels(y, channels)
    if sr is not None and sr != file_sr:
        warnings.warn(f"{label}: resampled from {file_sr} Hz to {sr} Hz", stacklevel=2)
        y = resample(y, orig_sr=file_sr, target_sr=sr)
        file_sr = sr
    return y, file_sr


def _check_header(label: str, sr: int, n_channels: int, n_frames: int, max_seconds: float) -> None:
    if n_channels > MAX_CHANNELS:
        raise InvalidAudioError(
            f"{label} has {n_channels} channels; GenEx Lab takes mono or stereo (at most "
            f"{MAX_CHANNELS}). Mix it down to stereo first (e.g. ffmpeg -ac 2)."
        )
    if sr < MIN_SAMPLE_RATE:
        raise InvalidAudioError(
            f"{label} has a sample rate of {sr} Hz; at least {MIN_SAMPLE_RATE} Hz is required"
        )
    if sr > MAX_SAMPLE_RATE:
        raise InvalidAudioError(
            f"{label} has a sample rate of {sr} Hz; at most {MAX_SAMPLE_RATE} Hz is accepted "
            "(a corrupt header?)"
        )
    if n_frames == 0:
        raise InvalidAudioError(f"{label} holds zero samples")
    seconds = n_frames / sr
    if seconds > max_seconds:
        raise InvalidAudioError(
            f"{label} is {seconds:.1f} s long; the limit is {max_seconds:.0f} s. "
            "Trim it, or raise the limit (max_seconds=..., --max-seconds in genex separate "
            "and genex evaluate)."
        )


def validate_audio(
    y: FloatArray, *, sr: int, name: str = "audio", max_seconds: float = DEFAULT_MAX_SECONDS
) -> None:
    """Check an in-memory signal against the same rules as :func:`load_audio`.

    Parameters
    ----------
    y : ndarray, shape (channels, samples)
        The signal.
    sr
        Its sample rate in Hz.
    name
        Shown in error messages.
    max_seconds
        Longest accepted duration in seconds.

    Raises
    ------
    InvalidAudioError
        Wrong number of dimensions, zero samples, too many channels, a rate out of range, too
        long, NaN/inf samples, or samples beyond ``MAX_ABS_SAMPLE`` (1e6) in magnitude.
    InvalidConfigError
        ``max_seconds`` is not a positive number (e.g. NaN).
    """
    max_seconds = check_max_seconds(max_seconds)
    if not isinstance(y, np.ndarray) or y.ndim != 2:
        shape = getattr(y, "shape", None)
        raise InvalidAudioError(f"{name} must be an array shaped (channels, samples), got {shape}")
    _check_header(repr(name), int(sr), y.shape[0], y.shape[1], max_seconds)
    check_samples(y, repr(name))


def check_samples(y: FloatArray, label: str, *, sr: int | None = None, start: int = 0) -> None:
    """Refuse NaN/inf samples and samples beyond ``MAX_ABS_SAMPLE`` in magnitude.

    Parameters
    ----------
    y : ndarray, shape (channels, samples)
        Audio, or one block of a file being streamed.
    label
        How the messages name the audio (e.g. the file's quoted path).
    sr, start
        With ``sr``, the messages place the problem in the file: ``y`` starts at sample
        ``start`` of it.

    Raises
    ------
    InvalidAudioError
        NaN or infinite samples (how many, and with ``sr`` where the first is), or a peak above
        ``MAX_ABS_SAMPLE``.
    """
    finite = np.isfinite(y)
    if not finite.all():
        bad = int(y.size - np.count_nonzero(finite))
        where = ""
        if sr is not None:
            first = start + int(np.argmin(finite.all(axis=0)))
            where = f" (first at {first / sr:.2f} s)"
        raise InvalidAudioError(
            f"{label} contains {bad} NaN or infinite sample(s){where}; the file is corrupt or "
            "was written from a failed computation"
        )
    peak = float(np.max(np.abs(y)))
    if peak > MAX_ABS_SAMPLE:
        where = "" if sr is None else f" (after {start / sr:.1f} s)"
        raise InvalidAudioError(
            f"{label} has samples up to {peak:.3g}{where}; audio is expected in about [-1, 1] "
            f"(at most {MAX_ABS_SAMPLE:.0e}): the file is corrupt or was written unscaled"
        )


def to_channels(y: FloatArray, n: int) -> FloatArray:
    """Convert ``(channels, samples)`` audio to ``n`` channels (mean downmix, or copy up).

    Parameters
    ----------
    y : ndarray, shape (channels, samples)
    n : {1, 2}

    Returns
    -------
    ndarray, shape (n, samples), float32
    """
    if n not in (1, 2):
        raise InvalidAudioError(f"channels must be 1 or 2, got {n}")
    if y.shape[0] == n:
        return y.astype(np.float32, copy=False)
    if n == 1:
        mono: FloatArray = y.mean(axis=0, keepdims=True, dtype=np.float32)
        return mono
    return np.repeat(y[:1], n, axis=0).astype(np.float32, copy=False)


def resample(y: FloatArray, *, orig_sr: int, target_sr: int) -> FloatArray:
    """Resample ``(channels, samples)`` audio with soxr's high quality ("HQ").

    The same computation as ``librosa.resample(..., res_type="soxr_hq")`` (one soxr call per
    channel, output padded or trimmed to ``ceil(samples * target_sr / orig_sr)``), bit for bit,
    without importing librosa (about 2 s with numba and ``scipy.signal``).

    Returns
    -------
    ndarray, shape (channels, ceil(samples * target_sr / orig_sr)), float32
    """
    if orig_sr == target_sr:
        return y.astype(np.float32, copy=False)
    import soxr  # type: ignore[import-untyped]  # deferred: only resampling callers need it

    y = np.asarray(y, dtype=np.float32)
    n_out = int(np.ceil(y.shape[-1] * float(target_sr) / orig_sr))
    out = np.zeros((y.shape[0], n_out), dtype=np.float32)
    for c, channel in enumerate(y):
        z = soxr.resample(channel, orig_sr, target_sr, quality="soxr_hq")
        out[c, : min(n_out, len(z))] = z[:n_out]
    return out


def audio_to_bytes(
    y: FloatArray,
    sr: int,
    *,
    fmt: Literal["WAV", "FLAC"] = "WAV",
    subtype: str = "PCM_16",
) -> bytes:
    """Encode ``(channels, samples)`` audio as WAV or FLAC bytes (clipped to [-1, 1]).

    Integer subtypes (the default ``PCM_16``) keep files small for the browser; use
    ``subtype="FLOAT"`` with WAV to keep the exact float values.
    """
    if y.ndim != 2 or y.shape[1] == 0:
        raise InvalidAudioError(f"audio must be shaped (channels, samples), got {y.shape}")
    data = np.clip(y, -1.0, 1.0) if subtype != "FLOAT" else y
    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(data.T), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def write_audio(path: str | Path, y: FloatArray, sr: int, *, subtype: str | None = None) -> Path:
    """Write audio atomically; the format comes from the suffix (``.wav`` or ``.flac``).

    WAV files are written as 32-bit float by default (no clipping, exact for metrics), FLAC as
    24-bit PCM.
    """
    path = Path(path)
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt not in ("WAV", "FLAC"):
        raise InvalidAudioError(f"cannot write {path.name!r}: use a .wav or .flac file name")
    if subtype is None:
        subtype = "FLOAT" if fmt == "WAV" else "PCM_24"
    return atomic_write_bytes(path, audio_to_bytes(y, sr, fmt=fmt, subtype=subtype))  # type: ignore[arg-type]
