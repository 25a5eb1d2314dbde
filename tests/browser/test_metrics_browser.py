"""The real Metrics page in headless Chromium: clicking an α-curve point opens the Mask explorer
at that track, method and α."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError

from core.evaluation.results import open_run
from core.inventory import scan
from core.paths import assets_dir
from dashboard.figures.metric_curves import alphas_of
from tests.browser.conftest import wait_for_app
from tests.test_metrics_view import make_tidy
from tests.test_page_metrics import write_run

pytestmark = pytest.mark.browser

_GD = "document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')"

# Method curves (role "curve" or "ceiling") of the first chart: [{method, role, n}]
_CURVES_JS = f"""() => {_GD}._fullData
    .filter(t => t.meta && (t.meta.role === "curve" || t.meta.role === "ceiling"))
    .map(t => ({{method: t.meta.method, role: t.meta.role, n: t.x.length}}))"""

# Viewport centre of point `k` of `method`'s curve in the first chart, with its α and customdata.
_POINT_JS = f"""([method, k]) => {{
    const gd = {_GD};
    const t = gd._fullData.find(t => t.meta && t.meta.method === method
        && (t.meta.role === "curve" || t.meta.role === "ceiling"));
    if (!t) return null;
    const L = gd._fullLayout, box = gd.getBoundingClientRect();
    const xa = L[t.xaxis.replace("x", "xaxis")], ya = L[t.yaxis.replace("y", "yaxis")];
    return {{alpha: t.x[k], custom: t.customdata[k],
             px: box.left + xa._offset + xa.l2p(t.x[k]),
             py: box.top + ya._offset + ya.l2p(t.y[k])}};
}}"""


def _demo_tracks() -> list[str]:
    """The shipped demo tracks (the Mask explorer opens them); none shipped is a failure."""
    demos = [p.name for p in scan(assets_dir()).demo_tracks]
    assert demos, f"no demo tracks under {assets_dir() / 'demo_tracks'}: the app ships some"
    return demos


def _wait_for_curves(page) -> None:
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator("path.point").first.wait_for(state="attached")
    chart.scroll_into_view_if_needed()
    page.wait_for_function(f"() => {_GD} && {_GD}._fullData && {_GD}._fullData.length > 0")


def _scroll_to_chart(page) -> None:
    """Scroll the first chart into view; a rerun may swap the element mid-scroll, so retry."""
    for attempt in range(5):
        try:
            wait_for_app(page)
            page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed(
                timeout=10_000
            )
            return
        except PlaywrightError:
            if attempt == 4:
                raise
            page.wait_for_timeout(500)


def _click_point_and_land(page, method: str, tmp_path, name: str) -> dict[str, list[str]]:
    """Click a point of ``method``'s curve; assert the explorer opens there with that α."""
    _scroll_to_chart(page)
    page.wait_for_timeout(300)
    curves = page.evaluate(_CURVES_JS)
    n = next(c["n"] for c in curves if c["method"] == method)
    k = n // 3  # a point off the ends, away from the legend and the axes
    point = page.evaluate(_POINT_JS, [method, k])
    assert point is not None
    alpha = f"{point['alpha']:.2f}"
    page.screenshot(path=str(tmp_path / f"{name}_metrics.png"))

    page.mouse.move(point["px"], point["py"])  # hover first, as a user does
    page.wait_for_timeout(200)
    page.mouse.click(point["px"], point["py"])
    page.wait_for_url(re.compile(r".*/mask_explorer\?.*alpha=.*"), timeout=30_000)
    query = parse_qs(urlparse(page.url).query)
    assert query["alpha"] == [alpha]
    assert query["method"] == [method]

    wait_for_app(page)
    slider = page.get_by_role("slider", name=re.compile("α"))
    slider.first.wait_for(state="attached", timeout=60_000)
    wait_for_app(page)
    value = slider.first.get_attribute("aria-valuenow") or slider.first.get_attribute("value")
    assert value is not None and float(value) == pytest.approx(float(alpha), abs=1e-6)
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / f"{name}_mask_explorer.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    return query


def test_a_typed_results_folder_and_a_click_open_the_mask_explorer(app_url, page, tmp_path):
    """Any results folder typed into the page; a click on the oracle ceiling's point."""
    tracks = tuple(sorted(_demo_tracks())[:2])
    tidy = make_tidy(np.random.default_rng(0), tracks=tracks, n_windows=4)
    run = tmp_path / "typed_run"
    write_run(run, tidy, {"methods": ["dnn", "traditional", "oracle"], "alphas": alphas_of(tidy)})

    page.goto(f"{app_url}/metrics")
    wait_for_app(page)
    assert page.locator("h1").first.inner_text().strip() == "Metrics"
    box = page.get_by_role("textbox", name="…or any results folder")
    box.fill(str(run))
    box.press("Enter")
    page.get_by_text("median over tracks").first.wait_for()
    wait_for_app(page)
    _wait_for_curves(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlert"]').count() == 0

    query = _click_point_and_land(page, "oracle", tmp_path, "typed")
    assert query["track"] == [tracks[0]]  # the median curve opens the first track

    # back to Metrics through the sidebar: the old click must not bounce us to the explorer
    page.locator('[data-testid="stSidebarNav"] a', has_text="Metrics").click()
    page.wait_for_url(re.compile(r".*/metrics(\?.*)?$"))
    wait_for_app(page)
    page.wait_for_timeout(1500)
    assert "/metrics" in page.url
    assert page.locator("h1").first.inner_text().strip() == "Metrics"


def test_the_shipped_run_clicks_through_to_the_mask_explorer(app_url, page, tmp_path):
    """The shipped run, shown by default; a click on the DNN curve."""
    _demo_tracks()
    shipped = open_run(assets_dir() / "results" / "demo")  # missing: fails loudly
    page.goto(f"{app_url}/metrics")
    wait_for_app(page)
    _wait_for_curves(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    methods = [c["method"] for c in page.evaluate(_CURVES_JS)]
    assert set(methods) == set(shipped.config["methods"])
    method = "dnn" if "dnn" in methods else methods[0]
    query = _click_point_and_land(page, method, tmp_path, "shipped")
    assert query["track"][0]
