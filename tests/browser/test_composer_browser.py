"""The Composer in headless Chromium: press play and watch the playhead move over both rolls;
train a quick model and change other controls while it trains."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    REPO_ROOT,
    free_port,
    pick_option,
    start_server,
    wait_for_app,
    wait_healthy,
)

pytestmark = pytest.mark.browser

AUDIO = "document.getElementById('comp-player-audio')"
ROLL = "document.getElementById('comp-player-roll')"
MAIN = "document.getElementById('comp-player-main-playhead')"  # in the page, over the plotly roll
SLOW = 300_000  # ms: a loaded 2-core machine composes, renders and trains slowly


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
    wait_for_app(page, timeout=SLOW)
    assert page.locator("h1").first.inner_text().strip() == "Composer"
    assert page.locator('[data-testid="stException"]').count() == 0
    handle = page.wait_for_selector("iframe[srcdoc*='comp-player-audio']", timeout=SLOW)
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_function(f"{AUDIO} && {AUDIO}.readyState >= 2", timeout=60_000)
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

    # a rerun that leaves roll and audio unchanged (a setting of the training panel) keeps
    # the same player: playback goes on instead of restarting
    assert page.locator("input[aria-label='Seed']").first.is_disabled()  # threshold rule
    epochs = page.locator("input[aria-label='Epochs']").first
    if not epochs.is_visible():
        page.get_by_text("Train a quick model").click()
    epochs.fill("3")
    epochs.press("Enter")
    time.sleep(0.5)
    wait_for_app(page, timeout=SLOW)
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


def main_playhead(page) -> dict:
    """The main roll's playhead: its data, its left edge and where the chart's axis puts it."""
    return page.evaluate(
        f"""() => {{
        const el = {MAIN}, gd = el.closest('.js-plotly-plot'), xa = gd._fullLayout.xaxis;
        const bx = parseFloat(el.getAttribute('data-bar-x'));
        return {{x: parseFloat(el.getAttribute('data-playhead-x')), bar: bx,
                 t: parseFloat(el.getAttribute('data-current-time')),
                 left: parseFloat(el.style.left), axis: xa._offset + xa.l2p(bx),
                 offset: xa._offset, length: xa._length, range: xa.range,
                 shown: getComputedStyle(el).display !== 'none',
                 height: el.getBoundingClientRect().height}};
    }}"""
    )


def test_main_roll_has_a_playhead_aligned_with_the_mini_roll(composer_url, page):
    page.goto(f"{composer_url}/composer")
    wait_for_app(page, timeout=SLOW)
    handle = page.wait_for_selector("iframe[srcdoc*='comp-player-audio']", state="attached",
                                    timeout=SLOW)  # fmt: skip
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_function(f"{AUDIO} && {AUDIO}.readyState >= 2", timeout=60_000)
    page.wait_for_selector("#comp-player-main-playhead", state="attached", timeout=30_000)
    start = main_playhead(page)
    assert (start["x"], start["t"]) == (0.0, 0.0)
    assert start["left"] == pytest.approx(start["offset"], abs=1)  # at bar 0 of the main roll
    assert start["height"] > 100  # spans the roll (and the probabilities under it)

    # after a seek both rolls show the audio's time at the same roll step
    duration = float(frame.evaluate(f"{AUDIO}.duration"))
    target = round(duration * 0.6, 2)
    frame.evaluate(f"{AUDIO}.currentTime = {target}")
    page.wait_for_function(
        f"Math.abs({MAIN}.getAttribute('data-current-time') - {target}) < 0.05", timeout=10_000
    )
    seek = main_playhead(page)
    mini_x = float(frame.locator("#comp-player-roll").get_attribute("data-playhead-x"))
    sps = float(frame.locator("#comp-player-roll").get_attribute("data-steps-per-second"))
    assert seek["x"] == pytest.approx(mini_x, abs=1e-3) == pytest.approx(target * sps, abs=0.05)
    assert seek["shown"] and seek["left"] == pytest.approx(seek["axis"], abs=1)
    frac = (seek["left"] - seek["offset"]) / seek["length"]
    assert frac == pytest.approx(seek["bar"] / seek["range"][1], abs=0.01) and 0.5 < frac < 0.7

    # while the audio plays, the main line moves on with it
    frame.evaluate(f"{AUDIO}.currentTime = 0; {AUDIO}.play()")
    frame.wait_for_function(f"{AUDIO}.currentTime > 0.5", timeout=15_000)
    first = main_playhead(page)
    page.wait_for_function(
        f"parseFloat({MAIN}.getAttribute('data-current-time')) > {first['t'] + 0.5}",
        timeout=15_000,
    )
    later = main_playhead(page)
    frame.evaluate(f"{AUDIO}.pause()")
    assert later["x"] > first["x"] > 0 and later["left"] > first["left"] > first["offset"]


def test_quick_training_survives_a_change_of_another_control(composer_url, page):
    page.goto(f"{composer_url}/composer")
    wait_for_app(page, timeout=SLOW)
    page.wait_for_selector("iframe[srcdoc*='comp-player-audio']", state="attached", timeout=SLOW)
    epochs = page.locator("input[aria-label='Epochs']").first
    if not epochs.is_visible():
        page.get_by_text("Train a quick model").click()
    epochs.fill("1")
    epochs.press("Enter")
    wait_for_app(page, timeout=SLOW)
    pick_option(page, "Corpus (choruses)", "128")
    wait_for_app(page, timeout=SLOW)
    page.get_by_role("button", name="Train", exact=True).click()
    # running: the counter states the schedule and the panel is locked
    page.get_by_text("chord stage epoch 0/1").wait_for(timeout=60_000)
    assert "then melody stage 0/8" in page.get_by_text("chord stage epoch 0/1").inner_text()
    assert page.get_by_role("button", name="Train", exact=True).is_disabled()
    # another control changes while it trains: a full rerun of the page
    tempo = page.locator("input[aria-label='Tempo (bpm)']").first
    tempo.fill("100")
    tempo.press("Enter")
    # the rerun leaves the training alone: it still runs or, on a loaded machine where the
    # rerun renders new audio for a while, it has finished meanwhile; either way it is shown
    shown = page.get_by_text(re.compile(r"Training \d+ s: chord stage|Trained quick #1"))
    shown.filter(visible=True).first.wait_for(timeout=SLOW)
    # it finishes anyway, and the model joins the picker, selected
    model = page.get_by_role("combobox", name="Model", exact=True)
    expect(model).to_have_value(re.compile(r"^quick #1: exp2"), timeout=900_000)
    # the panel below the roll is redrawn at the end of the run that selects the model (after
    # the new model's composition and audio): then it shows the result and is unlocked
    trained = page.get_by_text(re.compile(r"Trained quick #1: exp2")).filter(visible=True)
    expect(trained.first).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled(timeout=SLOW)
    # … and stays there when another control changes again
    tempo.fill("120")
    tempo.press("Enter")
    time.sleep(0.5)
    wait_for_app(page, timeout=SLOW)
    expect(model).to_have_value(re.compile(r"^quick #1: exp2"))
    assert page.locator('[data-testid="stException"]').count() == 0
