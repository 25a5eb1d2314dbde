"""First visit of each page, cold and on a warm server, in headless Chromium (issue 11 item 4).

For each run and each page (Home, Composer, Mask explorer, Metrics) it measures the time from
navigation (``page.goto`` in a fresh browser context, i.e. a new session) to interactive: the
page's title is shown, Streamlit's script run is over (``stApp`` says ``notRunning``), every
plotly chart has drawn and no exception box is shown.

- **cold** (the baseline): a fresh server started with ``GENEX_PRELOAD=0``; Home is visited
  once, then the page. Home's own figure is its visit on the fresh server.
- **warm**: a fresh server with the preload on (``dashboard/preload.py``); Home is visited once,
  then Home is reloaded until its System section says the preload is done; then each page is
  visited for the first time, each in a new context.
- **warm, in the app**: on the same warm server, a new session opens Home, then the page's
  link in the sidebar is clicked: the time from the click to interactive is the first visit of
  that page as a user navigating the app meets it (Streamlit's front end is already loaded).
- **floor**: a bare Streamlit page (a title and a line of text, its own server), visited the
  same way: what any first visit costs on this machine, whatever the app does.

It prints each run, then a Markdown table of medians with the ratio cold / warm and the 2 s goal,
the floor, the server's time to healthy, the preload's own time and the machine's load average.

Usage: .venv/bin/python bench/bench_cold_start.py [--runs 3] [--pages home,composer,...]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, free_port, start_server  # noqa: E402

#: (key, URL path, title shown as the page's h1)
PAGES = (
    ("home", "", "GenEx Lab"),
    ("composer", "composer", "Composer"),
    ("mask_explorer", "mask_explorer", "Mask explorer"),
    ("metrics", "metrics", "Metrics"),
)
GOAL_SECONDS = 2.0
TIMEOUT_MS = 300_000

_INTERACTIVE = """(title) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const h1 = document.querySelector('h1');
    if (!app || !h1 || app.dataset.testScriptState !== 'notRunning') return false;
    if (h1.innerText.trim() !== title) return false;
    if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
    return [...charts].every((c) => c.querySelector('.js-plotly-plot'));
}"""


def _healthy(url: str, timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server not healthy")


def _timed_visit(browser: Any, url: str, title: str, *, via_link: bool) -> float:
    """Seconds to interactive in a fresh context (a new session); ``nan`` after ``TIMEOUT_MS``.

    ``via_link=False``: from navigation to ``url``. ``True``: ``url`` (Home) is opened first and
    the clock starts at the click on ``title``'s sidebar link.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        try:
            t0 = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
            if via_link:
                page.wait_for_function(
                    _INTERACTIVE, arg="GenEx Lab", timeout=TIMEOUT_MS, polling=20
                )
                link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first
                link.wait_for(state="visible", timeout=TIMEOUT_MS)
                t0 = time.perf_counter()
                link.click()
            page.wait_for_function(_INTERACTIVE, arg=title, timeout=TIMEOUT_MS, polling=20)
        except PlaywrightTimeout:
            print(f"{url} -> {title}: not interactive after {TIMEOUT_MS / 1000:.0f} s", flush=True)
            return float("nan")
        seconds = time.perf_counter() - t0
        if page.locator('[data-testid="stException"]').count():
            raise RuntimeError(f"{url} -> {title} shows an exception")
        return seconds
    finally:
        ctx.close()


def visit(browser: Any, url: str, title: str) -> float:
    """Seconds from navigation to interactive, in a fresh context (a new session)."""
    return _timed_visit(browser, url, title, via_link=False)


def visit_in_app(browser: Any, url: str, title: str) -> float:
    """Seconds from a click on ``title``'s sidebar link (Home open, new session) to interactive."""
    return _timed_visit(browser, url, title, via_link=True)


def wait_for_preload(browser: Any, url: str, timeout: float = 600.0) -> str:
    """Reload Home until its System section says the preload is done; return that line."""
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
            page.wait_for_function(_INTERACTIVE, arg="GenEx Lab", timeout=TIMEOUT_MS)
            line = page.locator("li", has_text="Preload").first.text_content() or ""
            if re.search(r": done in [\d.]+ s", line):
                return line.split(":", 1)[1].strip()
            time.sleep(1.0)
        raise RuntimeError("the preload did not finish")
    finally:
        ctx.close()


HELLO = 'import streamlit as st\n\nst.title("Hello")\nst.write("A bare Streamlit page.")\n'


class Server:
    """``streamlit run dashboard/app.py`` on a free port, healthy on entry, stopped on exit.

    ``hello``: a folder in which to serve :data:`HELLO` instead (the floor).
    """

    def __init__(self, *, preload: bool, hello: Path | None = None) -> None:
        self.preload, self.hello = preload, hello

    def __enter__(self) -> Server:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        if self.hello is None:
            env = {"GENEX_PRELOAD": "1" if self.preload else "0"}
            self.proc = start_server(port, env=env)
        else:
            script = self.hello / "hello.py"
            script.write_text(HELLO, encoding="utf-8")
            cmd = [
                sys.executable, "-m", "streamlit", "run", str(script),
                "--server.address", "127.0.0.1", "--server.port", str(port),
                "--server.headless", "true", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none",
            ]  # fmt: skip
            self.proc = subprocess.Popen(
                cmd, cwd=self.hello, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        self.healthy = _healthy(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", default=",".join(k for k, *_ in PAGES))
    args = parser.parse_args()
    chosen = [p for p in PAGES if p[0] in args.pages.split(",")]
    from playwright.sync_api import sync_playwright

    load0 = os.getloadavg()[0]  # 1-minute load average: other work on the machine
    cold: dict[str, list[float]] = {k: [] for k, *_ in chosen}
    warm: dict[str, list[float]] = {k: [] for k, *_ in chosen}
    in_app: dict[str, list[float]] = {k: [] for k, *_ in chosen if k != "home"}
    healthy: list[float] = []
    preloads: list[str] = []
    floor: list[float] = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for i in range(args.runs):
            with Server(preload=False, hello=Path(tmp)) as srv:
                visit(browser, srv.url, "Hello")  # the server's first session
                floor.append(visit(browser, srv.url, "Hello"))
            print(f"run {i + 1} floor (bare Streamlit page): {floor[-1]:.2f} s", flush=True)
            for key, path, title in chosen:  # cold: a fresh server per page, no preload
                with Server(preload=False) as srv:
                    healthy.append(srv.healthy)
                    home = visit(browser, srv.url, "GenEx Lab")
                    t = home if key == "home" else visit(browser, f"{srv.url}/{path}", title)
                cold[key].append(t)
                print(f"run {i + 1} cold {key}: {t:.2f} s", flush=True)
            with Server(preload=True) as srv:  # warm: one server, each page's first visit
                healthy.append(srv.healthy)
                visit(browser, srv.url, "GenEx Lab")
                preloads.append(wait_for_preload(browser, srv.url))
                print(f"run {i + 1} preload: {preloads[-1]}", flush=True)
                for key, path, title in chosen:
                    t = visit(browser, f"{srv.url}/{path}", title)
                    warm[key].append(t)
                    print(f"run {i + 1} warm {key}: {t:.2f} s", flush=True)
                for key, _path, title in chosen:
                    if key in in_app:
                        t = visit_in_app(browser, srv.url, title)
                        in_app[key].append(t)
                        print(f"run {i + 1} warm, in the app {key}: {t:.2f} s", flush=True)
        browser.close()

    print()
    print(f"| page | cold first visit, no preload (baseline) | warm first visit, preload done "
          f"| cold / warm | goal (≤ {GOAL_SECONDS:.0f} s) | warm, from the app's sidebar "
          f"| goal |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, _path, title in chosen:
        c, w = statistics.median(cold[key]), statistics.median(warm[key])
        met = "met" if max(warm[key]) <= GOAL_SECONDS else "NOT met"
        nav = in_app.get(key) or warm[key]  # Home: the app's first page, no link to click
        nav_met = "met" if max(nav) <= GOAL_SECONDS else "NOT met"
        nav_text = f"{statistics.median(nav):.2f} s (max {max(nav):.2f})"
        print(f"| {title} | {c:.2f} s | {w:.2f} s (max {max(warm[key]):.2f}) | {c / w:.1f}x "
              f"| {met} | {nav_text} | {nav_met} |")  # fmt: skip
    print(f"| floor: a bare Streamlit page | | {statistics.median(floor):.2f} s | | | | |")
    print()
    print(f"Medians of {args.runs} runs; server start to healthy "
          f"{statistics.median(healthy):.2f} s; load average at the start {load0:.1f}, "
          f"at the end {os.getloadavg()[0]:.1f}.")  # fmt: skip
    print("Preload per warm run: " + " | ".join(preloads))


if __name__ == "__main__":
    main()
