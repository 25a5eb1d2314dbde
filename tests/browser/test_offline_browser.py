"""Offline for real (issue 11 item 6): walking every page sends no request off the machine, every
font comes from the app's own origin, and so does the tab icon.

The shared fixtures also fail any browser test that makes an external request (conftest's
``RequestGuard``); this file walks all pages on purpose and checks the guard itself can fail.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import expect

from dashboard.app import PAGE_ICON, PAGES
from tests.browser.conftest import is_external, wait_for_app

pytestmark = pytest.mark.browser

#: Generous waits: the first visit of a page loads its models (more on a busy machine).
SLOW_MS = 240_000


@pytest.mark.parametrize(
    ("url", "external"),
    [
        ("http://127.0.0.1:8501/static/media/x.woff2", False),
        ("ws://127.0.0.1:8501/_stcore/stream", False),
        ("http://localhost:8501/", False),
        ("http://[::1]:8501/", False),
        ("http://127.8.0.1/", False),  # all of 127/8 is loopback
        ("data:image/svg+xml,<svg/>", False),
        ("blob:http://127.0.0.1:8501/1234", False),
        ("about:blank", False),
        ("https://fonts.gstatic.com/s/i/short-term/release/x/24px.svg", True),
        ("https://cdn.plot.ly/plotly.min.js", True),
        ("http://192.168.1.10:8501/", True),
        ("wss://example.org/socket", True),
    ],
)
def test_is_external(url, external):
    assert is_external(url) is external


def test_the_guard_fails_a_test_whose_page_leaves_the_machine(page, external_requests):
    # no network here: abort at once instead of waiting for a connection
    page.route("http://192.0.2.1/**", lambda route: route.abort())
    with page.expect_request("http://192.0.2.1/**"):
        page.set_content('<img src="http://192.0.2.1/pixel.png">')
    seen = external_requests.take()  # taken, so this test's own teardown check passes
    assert seen == ["http://192.0.2.1/pixel.png"]


def _icon_hrefs(page) -> list[str]:
    return page.eval_on_selector_all("link[rel~='icon']", "els => els.map(e => e.href)")


def test_every_page_works_offline_with_its_own_fonts_and_tab_icon(app_url, page, external_requests):
    requests: list[tuple[str, str]] = []  # (resource type, url)
    page.on("request", lambda r: requests.append((r.resource_type, r.url)))
    origin = urlsplit(app_url).netloc
    for file, title, _icon, url_path in PAGES:
        page.goto(f"{app_url}/{url_path}", timeout=SLOW_MS)
        wait_for_app(page, timeout=SLOW_MS)
        assert page.locator('[data-testid="stException"]').count() == 0, file
        # open every expander, so what they hold renders too (icons, charts, players)
        # (a collapsed expander's body is ``inert``)
        inert = page.locator('[data-testid="stExpanderDetails"][inert]')
        for _ in range(5):  # a rerun may draw an expander late (or anew, collapsed): again
            page.eval_on_selector_all(
                '[data-testid="stExpanderDetails"][inert]',
                "els => els.forEach(d => d.parentElement.querySelector('summary').click())",
            )
            page.wait_for_timeout(500)
            wait_for_app(page, timeout=SLOW_MS)
            if inert.count() == 0:
                break
        expect(inert).to_have_count(0)
        page.wait_for_timeout(500)  # late requests: the favicon, lazily loaded fonts
        hrefs = _icon_hrefs(page)
        assert hrefs, f"{title}: no <link rel=icon>"
        assert all(urlsplit(h).netloc == origin for h in hrefs), (title, hrefs)
    # the sidebar navigation (st.navigation, with its page icons) works offline too
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Composer").click()
    page.wait_for_url("**/composer", timeout=SLOW_MS)
    wait_for_app(page, timeout=SLOW_MS)

    assert external_requests.take() == []
    fonts = [u for kind, u in requests if kind == "font"]
    assert fonts, "no font was requested: the walk did not render the pages"
    assert all(urlsplit(u).netloc == origin for u in fonts), fonts
    # the icon font behind the page icons is Streamlit's own copy
    assert any("MaterialSymbols" in u for u in fonts), fonts
    # the tab icon is the app's PNG, served by the app
    resp = page.request.get(_icon_hrefs(page)[0])
    assert resp.ok and resp.headers["content-type"].startswith("image/")
    served = Image.open(io.BytesIO(resp.body()))
    assert served.size == Image.open(PAGE_ICON).size
