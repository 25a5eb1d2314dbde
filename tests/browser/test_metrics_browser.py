"""The real Metrics page in headless Chromium: clicking an α-curve point opens the Mask explorer
at that track, method and α."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from core.paths import assets_dir
from tests.browser.conftest import REPO_ROOT, wait_for_app

pytestmark = pytest.mark.browser

# Page-space centre of point `k` of the first curve of `method` in a plotly graph div.
_POINT_JS = """([method, k]) => {
    const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    const i = gd._fullData.findIndex(
        t => t.meta && t.meta.role === "curve" && t.meta.method === method);
    if (i < 0) return null;
    const t = gd._fullData[i], L = gd._fullLayout, box = gd.getBoundingClientRect();
    const xa = L[t.xaxis.replace("x", "xaxis")], ya = L[t.yaxis.replace("y", "yaxis")];
    const x = t.x[k], y = t.y[k];
    return {alpha: x, custom: t.customdata[k], curve: i,
            px: box.left + xa._offset + xa.l2p(x), py: box.top + ya._offset + ya.l2p(y)};
}"""


def test_clicking_an_alpha_point_opens_the_mask_explorer_there(app_url, page, tmp_path):
    if not (REPO_ROOT / "pages" / "mask_explorer.py").is_file():
        pytest.skip("pages/mask_explorer.py is not present yet: nothing to land on")
    if not (assets_dir() / "results" / "demo" / "config.json").is_file():
        pytest.skip("the shipped results run assets/results/demo is not present yet")
    page.goto(f"{app_url}/metrics")
    wait_for_app(page)
    assert page.locator("h1").first.inner_text().strip() == "Metrics"
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator("path.point").first.wait_for(state="attached")
    chart.scroll_into_view_if_needed()
    assert page.locator('[data-testid="stException"]').count() == 0

    methods = page.evaluate(
        """() => document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot')
        ._fullData.filter(t => t.meta && t.meta.role === "curve").map(t => t.meta.method)"""
    )
    assert methods, "no clickable method curve on the α-curves chart"
    method = "dnn" if "dnn" in methods else methods[0]
    n_points = page.evaluate(
        """(m) => document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot')
        ._fullData.find(t => t.meta && t.meta.method === m).x.length""",
        method,
    )
    k = n_points // 3  # a point off the ends, not hidden behind the legend or axis
    point = page.evaluate(_POINT_JS, [method, k])
    assert point is not None
    alpha = f"{point['alpha']:.2f}"
    page.screenshot(path=str(tmp_path / "metrics.png"), full_page=True)

    page.mouse.move(point["px"], point["py"])  # hover first, as a user does
    page.wait_for_timeout(200)
    page.mouse.click(point["px"], point["py"])
    page.wait_for_url(re.compile(r".*/mask_explorer\?.*alpha=.*"), timeout=30_000)
    query = parse_qs(urlparse(page.url).query)
    assert query["alpha"] == [alpha]
    assert query["method"] == [method]
    assert query["track"][0]  # the median curve opens the first (or selected) track

    wait_for_app(page)
    page.locator('[data-testid="stSlider"]').first.wait_for()
    sliders = page.get_by_role("slider")
    labelled = page.get_by_role("slider", name=re.compile("α|alpha", re.IGNORECASE))
    target = labelled.first if labelled.count() else sliders.first
    value = target.get_attribute("aria-valuenow") or target.get_attribute("value")
    assert value is not None and float(value) == pytest.approx(float(alpha), abs=1e-6)
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / "mask_explorer_from_metrics.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
