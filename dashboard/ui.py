"""Small Streamlit widgets shared by the pages: errors, audio upload, playback, downloads."""

from __future__ import annotations

import hashlib

import streamlit as st

from core.audio import DEFAULT_MAX_SECONDS, audio_to_bytes, load_audio
from core.errors import CoreError
from core.types import FloatArray

#: File types offered by every audio uploader.
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]


def show_error(exc: CoreError) -> None:
    """Show a :class:`~core.errors.CoreError` as an ``st.error`` box; the app keeps running."""
    st.error(f"{type(exc).__name__}: {exc}", icon=":material/error:")


@st.cache_data(max_entries=8, show_spinner="Decoding audio…")
def _decode(
    data: bytes, name: str, sr: int | None, channels: int | None, max_seconds: float
) -> tuple[FloatArray, int]:
    return load_audio(data, sr=sr, channels=channels, max_seconds=max_seconds, name=name)


def audio_upload(
    label: str,
    *,
    key: str,
    sr: int | None = None,
    channels: int | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    help: str | None = None,
) -> tuple[FloatArray, int] | None:
    """An audio file uploader that decodes and validates the upload.

    Returns
    -------
    (y, sr) or None
        ``y`` shaped ``(channels, samples)`` float32; ``None`` when nothing is uploaded or the
        upload was refused (the reason is shown with ``st.error``).
    """
    file = st.file_uploader(label, type=AUDIO_TYPES, key=key, help=help)
    if file is None:
        return None
    try:
        return _decode(file.getvalue(), file.name, sr, channels, max_seconds)
    except CoreError as exc:
        show_error(exc)
        return None


# Few entries: a 10-minute stereo 44.1 kHz clip is ~106 MB of WAV, and each α change makes two.
@st.cache_data(max_entries=6, show_spinner=False)
def _wav_bytes(y: FloatArray, sr: int) -> bytes:
    return audio_to_bytes(y, sr, fmt="WAV", subtype="PCM_16")


def audio_player(y: FloatArray, sr: int) -> None:
    """Play ``(channels, samples)`` audio at its true level.

    WAV bytes, not ``st.audio(array)``, which would rescale every clip to full volume.
    """
    st.audio(_wav_bytes(y, sr), format="audio/wav")


def download_audio_button(
    label: str, y: FloatArray, sr: int, *, file_name: str, key: str
) -> None:
    """A download button for ``(channels, samples)`` audio as a 16-bit WAV file."""
    st.download_button(
        label, data=_wav_bytes(y, sr), file_name=file_name, mime="audio/wav", key=key
    )


def digest(data: bytes) -> str:
    """Short content digest for cache keys and widget keys."""
    return hashlib.sha256(data).hexdigest()[:16]
