"""The real Mask explorer in headless Chromium: moving the page's α slider re-draws the live
α canvas (its own slider and the stems: test_alpha_live_browser.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import REPO_ROOT, wait_for_app

pytestmark = pytest.mark.browser
ASSETS = REPO_ROOT / "assets"

# plotly draws layout images as SVG <image> elements, in the order of fig.layout.images
IMAGES_JS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] image')]
    .map(im => im.getAttribute('href') || im.getAttribute('xlink:href') || '')"""


def _images(page) -> list[str]:
    return page.evaluate(IMAGES_JS)


def test_shipped_demo_tracks_and_separator_are_present():
    """The page opens on the first shipped demo track with the shipped DNN: both must exist."""
    demos = sorted(p.name for p in (ASSETS / "demo_tracks").glob("*") if p.is_dir())
    assert demos, f"no demo tracks under {ASSETS / 'demo_tracks'}: restore them from git"
    for name in ("dnn.pt", "nmf.npz"):
        path = ASSETS / "separator" / name
        assert path.is_file(), f"the shipped model {path} is missing: restore it from git"


def test_page_alpha_slider_moves_the_live_canvas_and_keeps_static_panels(app_url, page, tmp_path):
    """The Streamlit α slider (the page's α) drives the live canvas; the plotly panels stay."""
    page.goto(f"{app_url}/mask_explorer")
    wait_for_app(page, timeout=180_000)
    assert page.locator("h1").first.inner_text().strip() == "Mask explorer"
    # the static figure: mixture, ideal mask, probability (the α panels are the canvas)
    page.wait_for_function(
        f"() => ({IMAGES_JS})().filter(s => s.startsWith('data:image/png')).length >= 3",
        timeout=180_000,
    )
    page.wait_for_selector(".ac-root[data-ready='1']", timeout=180_000)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="Error").count() == 0
    before = _images(page)
    mask = "() => document.querySelector('canvas.ac-canvas[data-panel=\"mask\"]').toDataURL()"
    canvas_before = page.evaluate(mask)
    assert page.locator('[data-testid="stException"]').count() == 0

    slider = page.get_by_role("slider", name=re.compile("confidence threshold"))
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    # ten steps of 0.01 end at 0.60: the canvas and the URL follow (read location: page.url
    # lags behind history.replaceState)
    page.wait_for_function("() => location.search.includes('alpha=0.60')", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.ac-root').dataset.drawnStep === '60'", timeout=60_000
    )
    wait_for_app(page)
    assert page.evaluate(mask) != canvas_before
    assert _images(page)[0] == before[0]  # the mixture spectrogram did not change
    assert page.get_by_role("slider", name=re.compile("α live")).input_value() == "60"
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / "mask_explorer_figure.png"
    error: PlaywrightError | None = None
    for _ in range(5):  # the chart element may be swapped by a late re-render
        try:
            # the panels' chart; the reliability diagram below it is a second plotly chart
            page.locator('[data-testid="stPlotlyChart"]').first.screenshot(path=str(shot))
            break
        except PlaywrightError as exc:
            error = exc
            page.wait_for_timeout(500)
    assert shot.is_file(), f"no screenshot of the figure: {error}"
    assert shot.stat().st_size > 20_000
    page.screenshot(path=str(tmp_path / "mask_explorer.png"), full_page=True)
