"""The Mask explorer's stem downloads in headless Chromium (issue 11: a cheap α release).

The players and the download buttons share the WAV bytes encoded once per released α
(``dashboard.mask_explorer_view.stem_wavs``): the file must arrive, decode, and follow α.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import soundfile as sf

from tests.browser.conftest import wait_for_app

pytestmark = pytest.mark.browser

ROOT = ".ac-root"


def _download(page, label: str) -> tuple[str, bytes]:
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=label).click()
    download = info.value
    path = download.path()
    assert path is not None
    with open(path, "rb") as fh:
        return download.suggested_filename, fh.read()


def test_stem_downloads_arrive_on_click_and_follow_alpha(app_url, page):
    page.goto(f"{app_url}/mask_explorer?method=oracle-irm&alpha=0.50")
    wait_for_app(page, timeout=240_000)
    page.wait_for_selector(f"{ROOT}[data-ready='1']", timeout=240_000)
    wait_for_app(page, timeout=120_000)

    name, vocals = _download(page, "Download vocals (WAV)")
    assert re.search(r"\.oracle-irm\.alpha0\.50\.vocals\.wav$", name), name
    v, sr = sf.read(io.BytesIO(vocals), dtype="float32", always_2d=True)
    assert sf.info(io.BytesIO(vocals)).subtype == "PCM_16"
    assert sr > 0 and v.shape[0] > sr // 2 and np.abs(v).max() > 0.01
    name, accomp = _download(page, "Download accompaniment (WAV)")
    assert name.endswith(".alpha0.50.accompaniment.wav")
    a, _ = sf.read(io.BytesIO(accomp), dtype="float32", always_2d=True)
    assert a.shape == v.shape and not np.allclose(a, v, atol=1e-3)

    # another α: the page's slider moves (keys), the stems are rebuilt, the download follows
    slider = page.get_by_role("slider", name=re.compile("confidence threshold"))
    slider.focus()
    for _ in range(20):
        slider.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('alpha=0.70')", timeout=120_000)
    page.wait_for_function(
        f"() => document.querySelector('{ROOT}').dataset.serverStep === '70'", timeout=120_000
    )
    wait_for_app(page, timeout=120_000)
    page.wait_for_timeout(500)  # the keys' queued reruns: let the last one start, then end
    wait_for_app(page, timeout=120_000)
    name, vocals_hi = _download(page, "Download vocals (WAV)")
    assert name.endswith(".alpha0.70.vocals.wav")
    v_hi, _ = sf.read(io.BytesIO(vocals_hi), dtype="float32", always_2d=True)
    assert v_hi.shape == v.shape
    assert float(np.sum(v_hi**2)) < float(np.sum(v**2))  # a stricter vocal mask keeps less
    assert page.locator('[data-testid="stException"]').count() == 0
