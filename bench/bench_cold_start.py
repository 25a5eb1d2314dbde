"""Cold start of the dashboard to a rendered Home page, in headless Chromium.

Each run starts a fresh ``streamlit run dashboard/app.py`` process, opens it in a fresh browser
context and stops the clock when the Home page's title and inventory are on screen. It prints each
run, the median, and the ratio against a baseline measured in the same run: the bare Streamlit
server's own time to healthy (``/_stcore/health``), i.e. what a "hello world" app would cost.

Usage: .venv/bin/python bench/bench_cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, free_port, start_server  # noqa: E402


def _healthy(url: str, timeout: float = 60.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server not healthy")


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    totals, healths = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for i in range(args.runs):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            t0 = time.perf_counter()
            proc = start_server(port)
            try:
                health = _healthy(url)
                ctx = browser.new_context()
                page = ctx.new_page()
                page.goto(url)
                page.wait_for_selector("h1:has-text('GenEx Lab')", timeout=60_000)
                page.get_by_text("Available locally").wait_for(timeout=60_000)
                total = time.perf_counter() - t0
                ctx.close()
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            totals.append(total)
            healths.append(health)
            print(f"run {i + 1}: server healthy {health:.2f} s, Home rendered {total:.2f} s")
        browser.close()
    med, med_h = statistics.median(totals), statistics.median(healths)
    print()
    print(f"| measure | median of {args.runs} runs |")
    print("| --- | --- |")
    print(f"| bare server to healthy (baseline) | {med_h:.2f} s |")
    print(f"| cold start to rendered Home | {med:.2f} s |")
    extra, ratio = med - med_h, med / med_h
    print(f"| Home render on top of the bare server | {extra:.2f} s ({ratio:.1f}x) |")
    print(f"| goal (< 3 s) | {'met' if med < 3.0 else 'NOT met'} |")


if __name__ == "__main__":
    main()
