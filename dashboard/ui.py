"""Small Streamlit widgets shared by the pages: errors, playback, downloads, cache keys."""

from __future__ import annotations

import hashlib

import streamlit as st

from core.errors import CoreError
from core.signal.audio import audio_to_bytes
from core.types import FloatArray

#: File types offered by every audio uploader (what :func:`core.signal.audio.load_audio` decodes).
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]


def show_error(exc: CoreError) -> None:
    """Show a :class:`~core.errors.CoreError` as an ``st.error`` box; the app keeps running."""
    st.error(f"{type(exc).__name__}: {exc}", icon=":material/error:")


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


def digest(*parts: bytes) -> str:
    """Short content digest of ``parts``, hashed in order, for cache keys and widget keys."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]
