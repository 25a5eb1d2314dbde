"""Shared fixtures: seeded RNG, tiny signals, cache clearing, AppTest construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = REPO_ROOT / "dashboard" / "app.py"


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """Caches persist across AppTest instances in one process: start every test clean."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, the only source of randomness in tests."""
    return np.random.default_rng(0)


@pytest.fixture
def tone(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One second of a stereo 440 Hz tone plus a little noise at 16 kHz, ``(2, 16000)`` float32."""
    sr = 16000
    t = np.arange(sr) / sr
    y = 0.3 * np.sin(2 * np.pi * 440 * t)
    y = np.stack([y, 0.5 * y]) + 0.01 * rng.standard_normal((2, sr))
    return y.astype(np.float32), sr


def app_test(page: str | None = None, *, timeout: float = 30):
    """An ``AppTest`` of the real router, switched to ``pages/<page>`` and already run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    if page is not None:
        at.switch_page(f"../pages/{page}").run()
    return at
