"""The shared widgets: a CoreError from an upload becomes an st.error and the app keeps running;
the player plays WAV bytes at the true level."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st

    from core.errors import CoreError
    from core.signal.audio import load_audio
    from dashboard.ui import AUDIO_TYPES, audio_player, show_error

    file = st.file_uploader("Mixture", type=AUDIO_TYPES, key="t.up")
    res = None
    if file is not None:
        try:
            res = load_audio(file.getvalue(), max_seconds=2.0, name=file.name)
        except CoreError as exc:
            show_error(exc)
    if res is None:
        st.write("no audio")
    else:
        y, sr = res
        st.write(f"loaded {y.shape[0]}x{y.shape[1]} at {sr}")
        audio_player(y, sr)
    st.button("still alive", key="t.btn")


def _wav(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y.T, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def _upload(data: bytes, name: str) -> AppTest:
    at = AppTest.from_function(_script, default_timeout=30).run()
    at.file_uploader(key="t.up").set_value((name, data, "audio/wav")).run()
    return at


def test_good_upload_is_decoded_and_played_as_16_bit_wav(tone):
    y, sr = tone
    at = _upload(_wav(y, sr), "tone.wav")
    assert not at.exception and not at.error
    assert any("loaded 2x16000 at 16000" in m.value for m in at.markdown)
    assert len(at.get("audio")) == 1


def test_wav_bytes_keep_the_level():
    from core.signal.audio import load_audio
    from dashboard.ui import _wav_bytes

    quiet = np.full((1, 1600), 0.01, np.float32)
    y, sr = load_audio(_wav_bytes(quiet, 16000))
    assert sr == 16000 and y.shape == (1, 1600)
    np.testing.assert_allclose(y, quiet, atol=1 / 32768)  # not normalised to full scale


def test_text_renamed_wav_shows_error_and_app_keeps_running():
    at = _upload(b"definitely not audio\n" * 50, "fake.wav")
    assert not at.exception
    assert len(at.error) == 1 and "fake.wav" in at.error[0].value
    assert any(m.value == "no audio" for m in at.markdown)
    at.button(key="t.btn").click().run()  # the page is still interactive
    assert not at.exception


def test_too_long_and_nan_uploads_show_errors(tone):
    y, sr = tone
    long = np.zeros((1, sr * 3), np.float32)
    at = _upload(_wav(long, sr), "long.wav")
    assert "limit is 2 s" in at.error[0].value
    bad = y.copy()
    bad[0, 0] = np.nan
    at = _upload(_wav(bad, sr), "nan.wav")
    assert "NaN" in at.error[0].value
