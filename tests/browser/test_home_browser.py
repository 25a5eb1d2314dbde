"""The real app in headless Chromium: Home renders its inventory and links every page."""

from __future__ import annotations

import re

import pytest

from core.inventory import scan
from core.paths import assets_dir
from tests.browser.conftest import wait_for_app

pytestmark = pytest.mark.browser


def test_home_renders_in_chromium(app_url, page, tmp_path):
    page.goto(app_url)
    wait_for_app(page)
    assert page.locator("h1").first.inner_text().strip() == "GenEx Lab"
    page.get_by_text("Available locally").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    # every experiment page is linked (no "page may not exist" guard)
    links = page.locator('[data-testid="stPageLink"]')
    links.filter(has_text="Open Metrics").wait_for()
    assert links.count() == 3
    for label in ("Open the Composer", "Open the Mask explorer", "Open Metrics"):
        assert links.filter(has_text=label).count() == 1
    # the inventory counts what is shipped
    shipped = scan(assets_dir())
    demo = f"Demo tracks ({len(shipped.demo_tracks)})"
    assert shipped.demo_tracks and page.get_by_text(demo).count() == 1
    runs = page.get_by_text(re.compile(r"Evaluation runs \(\d+\)")).inner_text()
    assert int(re.search(r"\d+", runs).group()) >= len(shipped.results_runs) >= 1
    # System: the preload of the pages' caches started after the server's first run (this one's,
    # if no other test came first: a second run shows it)
    page.reload()
    wait_for_app(page)
    page.locator('[data-testid="stExpander"] summary').filter(has_text="System").click()
    preload = page.locator("li", has_text="Preload").inner_text()
    assert re.search(r"Preload[^:]*: (running for|done in) [\d.]+ s", preload), preload
    shot = tmp_path / "home.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
