"""The live α canvas of the Mask explorer in headless Chromium (issue 11 items 1-3).

- Keys and a drag on the canvas's own slider repaint the binary-mask and estimate canvases in
  the browser (the JS logs each input event -> repaint time; only correctness is asserted
  here, the times are measured by ``bench/bench_alpha_browser.py``); the released α reaches the
  server, which then updates the page's α, the URL and the stem players.
- The oracle ideal binary mask: both sliders are disabled and the canvas is identical at every α.
- α and Frequencies survive steps with no track (upload with no file, a bad upload, an empty
  dataset folder).
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import pick_option, wait_for_app

pytestmark = pytest.mark.browser

ROOT = ".ac-root"
#: The mask canvas's pixels (a data URL changes with any pixel).
MASK_PIXELS = "() => document.querySelector('canvas.ac-canvas[data-panel=\"mask\"]').toDataURL()"
EST_PIXELS = "() => document.querySelector('canvas.ac-canvas[data-panel=\"estimate\"]').toDataURL()"
#: The stem players' sources (the last two audio elements: vocals and accompaniment estimates).
AUDIO_JS = "() => [...document.querySelectorAll('audio')].map(a => a.getAttribute('src'))"


def _open(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page, timeout=240_000)
    page.wait_for_selector(f"{ROOT}[data-ready='1']", timeout=240_000)
    wait_for_app(page, timeout=120_000)


def _dataset(page) -> dict:
    return page.evaluate(f"() => ({{...document.querySelector('{ROOT}').dataset}})")


def _wait_drawn(page, step: int) -> None:
    try:
        page.wait_for_function(
            f"() => document.querySelector('{ROOT}').dataset.drawnStep === '{step}'",
            timeout=60_000,
        )
    except Exception as exc:
        raise AssertionError(f"canvas not drawn at step {step}: {_dataset(page)}") from exc


def _live(page):
    return page.get_by_role("slider", name=re.compile("α live preview"))


def _page_alpha(page) -> str:
    """The value of the Streamlit α slider (the page's single source of truth)."""
    return page.get_by_role("slider", name=re.compile("confidence threshold")).input_value()


def _wait_server_alpha(page, alpha: str) -> None:
    page.wait_for_function(f"() => location.search.includes('alpha={alpha}')", timeout=120_000)
    step = round(float(alpha) * 100)
    page.wait_for_function(
        f"() => document.querySelector('{ROOT}').dataset.serverStep === '{step}'",
        timeout=120_000,
    )
    wait_for_app(page, timeout=120_000)


def test_keys_and_drag_repaint_the_canvas_and_release_updates_the_stems(app_url, page):
    _open(page, f"{app_url}/mask_explorer?method=dnn&alpha=0.50")
    data = _dataset(page)
    assert data["active"] == "1" and data["drawnStep"] == "50"
    mask0, est0, audio0 = (
        page.evaluate(MASK_PIXELS),
        page.evaluate(EST_PIXELS),
        page.evaluate(AUDIO_JS),
    )
    assert len(audio0) >= 3  # mixture (+ references) + two estimates
    slider = _live(page)
    assert slider.is_enabled()

    # keyboard: each arrow press repaints at once and sends α (a "change" event)
    slider.focus()
    for _ in range(8):
        slider.press("ArrowRight")
    _wait_drawn(page, 58)
    assert page.evaluate(MASK_PIXELS) != mask0
    assert page.evaluate(EST_PIXELS) != est0
    title = page.evaluate(f"() => document.querySelector('{ROOT} .ac-title').textContent")
    assert title.startswith("Binary vocal mask at α = 0.58")
    events = page.evaluate("() => window.__genexAlphaCanvas.events")
    assert [e["step"] for e in events][-8:] == list(range(51, 59))
    assert all(e["draw_ms"] >= 0 and e["frame_ms"] >= e["draw_ms"] for e in events)
    _wait_server_alpha(page, "0.58")
    assert _page_alpha(page) == "0.58"
    page.wait_for_function(
        f"(old) => {{ const a = ({AUDIO_JS})(); return a.length === old.length"
        " && a.at(-1) !== old.at(-1) && a.at(-2) !== old.at(-2); }",
        arg=audio0,
        timeout=120_000,
    )
    assert page.locator('[data-testid="stException"]').count() == 0

    # drag: the canvas follows every move; α reaches the server only on release
    mask1 = page.evaluate(MASK_PIXELS)
    draws = int(_dataset(page)["draws"])
    box = slider.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    x_at = lambda a: box["x"] + box["width"] * (a - 0.01) / 0.98  # noqa: E731
    page.mouse.move(x_at(0.58), y)
    page.mouse.down()
    for a in (0.62, 0.68, 0.74, 0.8):
        page.mouse.move(x_at(a), y, steps=3)
    page.wait_for_function(
        f"(n) => +document.querySelector('{ROOT}').dataset.draws > n", arg=draws + 2
    )
    assert page.evaluate(MASK_PIXELS) != mask1
    assert "sentStep" in _dataset(page) and _dataset(page)["sentStep"] == "58"  # not released
    assert _page_alpha(page) == "0.58"
    page.mouse.up()
    sent = _dataset(page)["sentStep"]
    assert int(sent) > 70
    _wait_server_alpha(page, f"{int(sent) / 100:.2f}")
    assert _page_alpha(page) == f"{int(sent) / 100:.2f}"
    assert _dataset(page)["drawnStep"] == sent


def test_oracle_ibm_canvas_is_identical_across_alpha_and_the_sliders_are_disabled(app_url, page):
    _open(page, f"{app_url}/mask_explorer?method=oracle&alpha=0.50")
    assert _dataset(page)["active"] == "0"
    assert _live(page).is_disabled()
    assert page.get_by_role("slider", name=re.compile("confidence threshold")).is_disabled()
    assert page.get_by_text("α has no effect on the Oracle ideal binary mask").count() >= 1
    shots = {}
    for step in (1, 25, 50, 75, 99):  # what a move would draw (the disabled slider cannot move)
        page.evaluate(
            """(step) => { const s = document.querySelector('.ac-slider');
                s.value = String(step); s.dispatchEvent(new Event('input')); }""",
            step,
        )
        assert _dataset(page)["drawnStep"] == str(step)
        shots[step] = (page.evaluate(MASK_PIXELS), page.evaluate(EST_PIXELS))
    assert len(set(shots.values())) == 1, "the oracle IBM panel changed with α"


def _frequencies(page) -> str:
    """The option the Frequencies box shows (empty when Streamlit dropped its value)."""
    return page.get_by_role("combobox", name="Frequencies").input_value()


def _choose_source(page, label: str) -> None:
    page.locator('[data-testid="stRadio"] label').filter(has_text=label).first.click()


def _set_view(page) -> None:
    """α 0.42 with the live slider's keys, Frequencies 0–4 kHz."""
    slider = _live(page)
    slider.focus()
    for _ in range(8):
        slider.press("ArrowLeft")
    _wait_server_alpha(page, "0.42")
    wait_for_app(page, timeout=120_000)  # the α release's rerun (stems, players) is over
    pick_option(page, "Frequencies", "0–4 kHz")
    page.wait_for_function(
        f"() => document.querySelector('{ROOT}').dataset.token !== undefined"
        f" && document.querySelector('{ROOT}').dataset.ready === '1'"
    )
    wait_for_app(page, timeout=120_000)
    assert _frequencies(page) == "0–4 kHz"


def _assert_view_kept(page) -> None:
    _choose_source(page, "Demo track")
    wait_for_app(page, timeout=120_000)
    page.wait_for_selector(f"{ROOT}[data-ready='1']", timeout=120_000)
    assert _page_alpha(page) == "0.42"
    assert _frequencies(page) == "0–4 kHz"
    assert _dataset(page)["serverStep"] == "42" and _dataset(page)["drawnStep"] == "42"
    assert "alpha=0.42" in page.evaluate("() => location.search")


def test_alpha_and_frequencies_survive_steps_without_a_track(app_url, page, tmp_path):
    _open(page, f"{app_url}/mask_explorer?method=dnn&alpha=0.50")
    _set_view(page)

    # 1. upload with no file
    _choose_source(page, "Upload")
    page.get_by_text("Upload a mixture").wait_for(timeout=60_000)
    wait_for_app(page)
    _assert_view_kept(page)

    # 2. a bad upload
    _choose_source(page, "Upload")
    page.get_by_text("Upload a mixture").wait_for(timeout=60_000)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": "bad.wav", "mimeType": "audio/wav", "buffer": b"not audio at all"}]
    )
    page.get_by_text("InvalidAudioError").wait_for(timeout=60_000)
    wait_for_app(page)
    _assert_view_kept(page)

    # 3. an empty dataset folder
    empty = tmp_path / "empty"
    empty.mkdir()
    _choose_source(page, "Dataset folder")
    box = page.get_by_role("textbox", name="Dataset folder")
    box.fill(str(empty))
    box.press("Enter")
    page.get_by_text("No track folders found").wait_for(timeout=60_000)
    wait_for_app(page)
    _assert_view_kept(page)
