"""The Metrics page watching a run live, in headless Chromium: a real ``genex evaluate`` writes
a tiny run while the page is open, and the page shows the count and the per-track chart grow
without a reload, then the finished run.

The evaluation is paused (SIGSTOP) each time it has written new results, so the page is checked
against a known state, and resumed (SIGCONT) after: no step depends on how fast the machine is.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

from core.evaluation.results import open_run
from tests.browser.conftest import REPO_ROOT, wait_for_app
from tests.test_evaluate import _make_corpus

pytestmark = pytest.mark.browser

N_TRACKS = 4
METHODS = ("oracle", "oracle-irm")
N_RESULTS = N_TRACKS * len(METHODS)

# Points of the per-track chart (traces with meta.role "per_track"), -1 when it is not drawn.
# Plotly draws a chart once it is in view: scroll the 4th chart (per track) there on each poll,
# as a fragment rerun may replace the element between two polls.
_PER_TRACK_POINTS_JS = """() => {
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
    if (charts.length >= 4) charts[3].scrollIntoView({block: "center"});
    for (const gd of document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
        const traces = (gd._fullData || []).filter(t => t.meta && t.meta.role === "per_track");
        if (traces.length) return traces.reduce((n, t) => n + t.x.length, 0);
    }
    return -1;
}"""


def _genex(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))"
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args], cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
        )


def _results_in(run: Path) -> int:
    return len([p for p in run.glob("*.json") if p.name != "config.json"])


def _wait(cond, *, what: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None and not cond():
            pytest.fail(
                f"genex evaluate ended ({proc.returncode}) before {what}:\n{log.read_text()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s:\n{log.read_text()}")
        time.sleep(0.01)


def _page_shows(page, done: int, points: int | None, shots: Path) -> None:
    """Wait (no reload) until the page says ``done of N`` and draws ``points`` per-track points."""
    try:
        page.get_by_text(
            re.compile(rf"\b{done} of {N_RESULTS} track×method files complete")
        ).first.wait_for(timeout=180_000)
        if points is not None:
            page.wait_for_function(
                f"() => ({_PER_TRACK_POINTS_JS})() === {points}", timeout=180_000
            )
    except Exception:
        page.screenshot(path=str(shots / f"failure_at_{done}.png"), full_page=True)
        raise


def test_the_metrics_page_follows_a_run_while_genex_evaluate_writes_it(app_url, page, tmp_path):
    corpus = _make_corpus(tmp_path / "corpus", np.random.default_rng(0), n=N_TRACKS, seconds=2.0)
    out, log = tmp_path / "live_run", tmp_path / "genex.log"
    proc = _genex(
        ["evaluate", "--data", str(corpus), "--methods", ",".join(METHODS),
         "--alphas", "0.1:0.9:0.2", "--out", str(out), "--quiet"],
        log,
    )  # fmt: skip
    try:
        # pause it as soon as the run exists, before (or just after) its first result
        _wait(lambda: (out / "config.json").is_file(), what="config.json", proc=proc, log=log)
        proc.send_signal(signal.SIGSTOP)
        assert json.loads((out / "config.json").read_text())["tracks"]

        page.set_default_timeout(180_000)  # a first visit on a busy 2-core machine is slow
        page.goto(f"{app_url}/metrics?{urlencode({'run': str(out)})}")  # a link to the run
        wait_for_app(page, timeout=300_000)
        page.wait_for_function(
            """(v) => [...document.querySelectorAll("input")]
                .some(el => el.getAttribute("aria-label") === "…or any results folder"
                            && el.value === v)""",
            arg=str(out),
        )
        first = _results_in(out)
        page.get_by_text("being written now").first.wait_for(timeout=180_000)
        _page_shows(page, first, first if first else None, tmp_path)
        url = page.url
        page.screenshot(path=str(tmp_path / "live_0.png"))

        seen = [first]
        while seen[-1] < N_RESULTS and len(seen) < 4:
            proc.send_signal(signal.SIGCONT)
            before = seen[-1]
            _wait(lambda b=before: _results_in(out) > b, what="a new result", proc=proc, log=log)
            proc.send_signal(signal.SIGSTOP)
            done = _results_in(out)
            if done == N_RESULTS:
                break
            _page_shows(page, done, done, tmp_path)  # k files, k per-track points: all at one α
            assert page.get_by_text("being written now").count() > 0
            seen.append(done)
        assert len(seen) >= 3 and seen == sorted(set(seen)), seen  # grew twice, live
        assert page.url == url  # never reloaded nor navigated
        page.screenshot(path=str(tmp_path / "live_1.png"))

        proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=300) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait()

    # the run ended: the page shows all of it and stops saying it is being written
    assert open_run(out).status().done == N_RESULTS
    _page_shows(page, N_RESULTS, N_RESULTS, tmp_path)
    page.wait_for_function(
        "() => !document.body.innerText.includes('being written now')", timeout=180_000
    )
    wait_for_app(page, timeout=180_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.url == url
    page.screenshot(path=str(tmp_path / "live_done.png"))
