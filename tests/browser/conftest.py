"""Real-browser fixtures: the real Streamlit server on a free loopback port, and a Playwright page
in Debian's Chromium (``/usr/bin/chromium``; never ``playwright install``).

Nothing here skips: a browser test that cannot start its browser or server fails.

Offline guard: every browser context made from the ``browser`` fixture (``page``, or a test's own
``browser.new_context()`` / ``browser.new_page()``) records each request to a host that is not
loopback, and every test in this folder fails at teardown when one was made (the app must work
with no network: no font host, no CDN, no telemetry).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
]


#: URL schemes that reach a host (``data:``, ``blob:``, ``about:`` never leave the browser).
NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")


def is_external(url: str) -> bool:
    """True when ``url`` would leave the machine: a network scheme and a non-loopback host."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in NETWORK_SCHEMES:
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: resolving it would go out
        return True


class RequestGuard:
    """Records the external requests (:func:`is_external`) of the browser contexts it watches."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self._watched: set[int] = set()

    def watch(self, target: Any) -> None:
        """Listen to ``target``'s (a BrowserContext's or Page's) requests, once per target."""
        if id(target) in self._watched:
            return
        self._watched.add(id(target))
        target.on("request", lambda request: self.seen(request.url))

    def seen(self, url: str) -> None:
        """Record ``url`` when it is external."""
        if is_external(url):
            self.urls.append(url)

    def take(self) -> list[str]:
        """The external URLs recorded since the last call (and forget them)."""
        out, self.urls = self.urls, []
        return out


#: The guard shared by all browser tests of the session.
GUARD = RequestGuard()


def guard_browser(b: Any) -> Any:
    """Make every context that ``b.new_context``/``b.new_page`` creates report to :data:`GUARD`."""
    new_context, new_page = b.new_context, b.new_page

    def guarded_context(*args: Any, **kwargs: Any) -> Any:
        ctx = new_context(*args, **kwargs)
        GUARD.watch(ctx)
        return ctx

    def guarded_page(*args: Any, **kwargs: Any) -> Any:
        pg = new_page(*args, **kwargs)
        GUARD.watch(pg.context)
        return pg

    b.new_context, b.new_page = guarded_context, guarded_page
    return b


@pytest.fixture(autouse=True)
def _no_external_requests() -> Iterator[None]:
    """Fail the test (at teardown) when any of its browser requests left the machine."""
    GUARD.take()
    yield
    urls = GUARD.take()
    if urls:
        pytest.fail(
            "requests left the machine (the app must work offline):\n"
            + "\n".join(sorted(set(urls)))
        )


@pytest.fixture
def external_requests() -> RequestGuard:
    """The offline guard, to look at the external requests recorded so far in a test."""
    return GUARD


def chromium_path() -> str:
    """Debian's Chromium, or ``$CHROMIUM``; fails loudly with what to install."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium not found: apt-get install chromium (or set CHROMIUM=/path)")
    return path


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``streamlit run dashboard/app.py`` headless on ``127.0.0.1:port``."""
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=REPO_ROOT, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_healthy(url: str, proc: subprocess.Popen[bytes], *, timeout: float = 60.0) -> None:
    """Poll ``/_stcore/health`` until it says ``ok``; fail with the server's output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{out}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"streamlit at {url} not healthy after {timeout} s")


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """Base URL of a real GenEx Lab server, shared by the browser tests of one session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(port)
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium shared by the browser tests; its contexts report to :data:`GUARD`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield guard_browser(b)
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser page (1400×1000), closed after the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def wait_for_app(pg, *, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished a run: a title is shown and nothing is 'running'."""
    pg.wait_for_selector("h1", timeout=timeout)
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )


def pick_option(pg, box_text: str, option: str, *, attempts: int = 3) -> None:
    """Open the selectbox labelled ``box_text`` and click its ``option`` (exact name).

    A late rerun may redraw the box and close its list (or the first click may land before the
    list is ready): the list is opened again, after waiting for the run to end, up to
    ``attempts`` times.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    box = pg.locator('[data-testid="stSelectbox"]').filter(has_text=box_text)
    for _ in range(attempts):
        box.click()
        try:
            pg.get_by_role("option", name=option, exact=True).click(timeout=15_000)
            return
        except PlaywrightTimeoutError:
            wait_for_app(pg, timeout=120_000)
    pytest.fail(f"the {box_text!r} list never offered {option!r}")
