"""The real Mask explorer in headless Chromium: moving the α slider re-draws the binary mask."""

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


def test_alpha_slider_redraws_binary_mask(app_url, page, tmp_path):
    page.goto(f"{app_url}/mask_explorer")
    wait_for_app(page, timeout=180_000)
    assert page.locator("h1").first.inner_text().strip() == "Mask explorer"
    # the figure: mixture, (ideal mask), probability, binary mask at α, estimated vocal
    page.wait_for_function(
        f"() => ({IMAGES_JS})().filter(s => s.startsWith('data:image/png')).length >= 4",
        timeout=180_000,
    )
    assert page.locator('[data-testid="stAlert"]').filter(has_text="Error").count() == 0
    before = _images(page)
    binary = len(before) - 2  # the binary mask at α is the second-to-last panel
    assert page.get_by_text("Binary vocal mask at α = 0.50").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0

    slider = page.get_by_role("slider", name=re.compile("confidence threshold"))
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    page.wait_for_function(
        f"([i, old]) => {{ const s = ({IMAGES_JS})(); return s.length > i && s[i] !== old; }}",
        arg=[binary, before[binary]],
        timeout=60_000,
    )
    # ten steps of 0.01 end at 0.60: the figure and the URL follow (read location: page.url
    # lags behind history.replaceState)
    page.get_by_text("Binary vocal mask at α = 0.60").wait_for(timeout=60_000)
    page.wait_for_function("() => location.search.includes('alpha=0.60')", timeout=60_000)
    wait_for_app(page)
    after = _images(page)
    assert after[0] == before[0]  # the mixture spectrogram did not change
    assert after[binary] != before[binary]
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
