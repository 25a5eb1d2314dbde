"""The Composer in headless Chromium: press play and watch the playhead move over the roll."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.browser.conftest import REPO_ROOT, free_port, start_server, wait_for_app, wait_healthy

pytestmark = pytest.mark.browser

AUDIO = "document.getElementById('comp-player-audio')"
ROLL = "document.getElementById('comp-player-roll')"


@pytest.fixture(scope="module")
def composer_url(request, tmp_path_factory) -> Iterator[str]:
    """The shared server when the checkpoints ship; else a server on tiny untrained ones."""
    if (REPO_ROOT / "assets" / "composer" / "exp2.pt").is_file():
        yield request.getfixturevalue("app_url")
        return
    from core.blues.model import ComposerConfig, build_model, save_composer

    assets = tmp_path_factory.mktemp("assets")
    for e in (1, 2):
        save_composer(assets / "composer" / f"exp{e}.pt",
                      build_model(ComposerConfig(experiment=e), seed=e))  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(port, env={"GENEX_ASSETS": str(assets)})
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def playhead(frame) -> tuple[float, float]:
    """(playhead x in roll steps, audio currentTime in s) read from the player's DOM."""
    x = float(frame.locator("#comp-player-roll").get_attribute("data-playhead-x"))
    t = float(frame.evaluate(f"{AUDIO}.currentTime"))
    return x, t


def test_play_moves_the_playhead_and_clicking_the_roll_seeks(composer_url, page, tmp_path):
    page.goto(f"{composer_url}/composer")
    wait_for_app(page, timeout=120_000)
    assert page.locator("h1").first.inner_text().strip() == "Composer"
    assert page.locator('[data-testid="stException"]').count() == 0
    handle = page.wait_for_selector("iframe[srcdoc*='comp-player-audio']", timeout=60_000)
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_function(f"{AUDIO} && {AUDIO}.readyState >= 2", timeout=30_000)
    duration = float(frame.evaluate(f"{AUDIO}.duration"))
    steps = int(frame.locator("#comp-player-roll").get_attribute("data-steps"))
    sps = float(frame.locator("#comp-player-roll").get_attribute("data-steps-per-second"))
    assert duration == pytest.approx(steps / sps, rel=0.1)
    x0, t0 = playhead(frame)
    assert (x0, t0) == (0.0, 0.0)

    frame.evaluate(f"{AUDIO}.play()")
    frame.wait_for_function(f"{AUDIO}.currentTime > 0.3", timeout=15_000)
    x1, t1 = playhead(frame)
    time.sleep(1.0)
    x2, t2 = playhead(frame)
    assert t1 > 0 and t2 > t1
    assert x2 > x1 > 0  # the line follows the audio
    assert x2 == pytest.approx(t2 * sps, abs=2 * sps)  # … at the roll's speed
    line_x = float(frame.locator("#comp-player-playhead").get_attribute("x1"))
    assert line_x > 0
    handle.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "composer_playing.png"))

    # a rerun that leaves roll and audio unchanged (the seed does not matter to the threshold
    # rule) keeps the same player: playback goes on instead of restarting
    seed = page.locator("input[aria-label='Seed']").first
    seed.fill("3")
    seed.press("Enter")
    time.sleep(0.5)
    wait_for_app(page, timeout=120_000)
    frame = page.wait_for_selector("iframe[srcdoc*='comp-player-audio']").content_frame()
    frame.wait_for_function(f"{AUDIO}.currentTime > {t2}", timeout=10_000)
    assert frame.evaluate(f"{AUDIO}.paused") is False

    # clicking the middle of the roll seeks there
    frame.evaluate(f"{AUDIO}.pause()")
    box = frame.locator("#comp-player-roll").bounding_box()
    assert box is not None
    frame.locator("#comp-player-roll").click(position={"x": box["width"] / 2, "y": 10})
    frame.wait_for_function(
        f"Math.abs({ROLL}.getAttribute('data-playhead-x') - {steps / 2}) < {max(2, steps / 50)}",
        timeout=10_000,
    )
    _, t3 = playhead(frame)
    assert t3 == pytest.approx(duration / 2, rel=0.1)
    shot = tmp_path / "composer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
