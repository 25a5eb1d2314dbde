"""The real app in headless Chromium: Home renders with no exception box."""

from __future__ import annotations

import pytest

from tests.browser.conftest import wait_for_app

pytestmark = pytest.mark.browser


def test_home_renders_in_chromium(app_url, page, tmp_path):
    page.goto(app_url)
    wait_for_app(page)
    assert page.locator("h1").first.inner_text().strip() == "GenEx Lab"
    page.get_by_text("Available locally").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / "home.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
