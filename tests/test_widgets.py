"""The Jupyter explorers (``widgets/``), driven from code as a notebook user would (issue 13).

No browser and no kernel: ipywidgets run their observers in Python when a value is set, and a
plotly ``FigureWidget`` dispatches a click to its trace's ``on_click`` handlers through
``_dispatch_on_click`` (what the front end's click message ends in).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="pip install -e '.[test]'")
pytest.importorskip("anywidget", reason="pip install -e '.[test]'")

from plotly.callbacks import InputDeviceState, Points  # noqa: E402

from core.errors import CheckpointError, DatasetError, InvalidConfigError  # noqa: E402
from widgets import ComposerExplorer, MaskExplorer, MetricsExplorer, RollPlayer  # noqa: E402
from widgets.mask import demo_track_folders  # noqa: E402
from widgets.roll_player import roll_notes  # noqa: E402


def _tone_track(sr: int = 8000, seconds: float = 1.0):
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(0)
    vocals = (0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.3)).astype(np.float32)[None]
    accomp = (0.1 * rng.standard_normal(t.size)).astype(np.float32)[None]
    return vocals + accomp, sr, vocals, accomp


def _alpha_sources(ex: MaskExplorer) -> list[str]:
    return [im.source for im in ex.figure.layout.images]


# --------------------------------------------------------------------------- MaskExplorer
def test_mask_explorer_alpha_changes_alpha_panels_and_stems_only():
    mix, sr, voc, acc = _tone_track()
    ex = MaskExplorer.from_arrays(
        mix, sr, vocals=voc, accompaniment=acc, method="oracle-irm", alpha=0.3
    )
    assert ex.alpha == pytest.approx(0.3)
    assert ex.stems.shape == (2, 1, mix.shape[1]) and ex.stems.dtype == np.float32
    before, stems_before = _alpha_sources(ex), ex.stems.copy()
    masks_computed = len(ex._masks)

    ex.alpha = 0.8

    after = _alpha_sources(ex)
    assert ex.alpha == pytest.approx(0.8)
    assert after[:-2] == before[:-2]  # mixture, IBM, P: untouched
    assert after[-2] != before[-2] and after[-1] != before[-1]  # binary mask and estimate
    assert "α = 0.80" in ex.figure.layout.annotations[-2].text
    assert not np.array_equal(ex.stems, stems_before)
    assert len(ex._masks) == masks_computed  # the mask was not recomputed
    assert set(ex.timings) == {"figure", "stems"}
    assert ex._stem_players[0].value[:4] == b"RIFF"


def test_mask_explorer_binary_panel_is_the_real_mask():
    """The α panel is the full-resolution mask, pooled: an oracle IBM looks alike at every α."""
    mix, sr, voc, acc = _tone_track(sr=22050, seconds=3.0)  # display cells pool 3 bins each
    ex = MaskExplorer.from_arrays(
        mix, sr, vocals=voc, accompaniment=acc, method="oracle", alpha=0.1
    )
    assert ex._display().panels is not None and ex._display().panels.cell[0] > 1
    low = _alpha_sources(ex)[-2:]
    ex.alpha = 0.9
    assert _alpha_sources(ex)[-2:] == low  # the stems are identical too: so is the panel
    ex.method = "oracle-irm"
    ex.alpha = 0.2
    irm_low = _alpha_sources(ex)[-2]
    ex.alpha = 0.9
    assert _alpha_sources(ex)[-2] != irm_low  # a probabilistic mask does change


def test_mask_explorer_method_rule_and_band():
    mix, sr, voc, acc = _tone_track()
    ex = MaskExplorer.from_arrays(mix, sr, vocals=voc, accompaniment=acc, method="oracle")
    n_images = len(ex.figure.layout.images)
    ex.method = "oracle-irm"
    assert ex.mask.method == "oracle-irm" and len(ex.figure.layout.images) == n_images
    ex.rule = "soft"
    assert "Soft" in ex.figure.layout.annotations[-2].text
    assert ex.fmax is None and ex._fmax.label == "full band"  # shown, not a blank selection
    ex.fmax = 2000.0
    assert ex.figure.layout.yaxis.range[1] <= 2100
    ex.fmax = None
    assert ex.figure.layout.yaxis.range[1] == pytest.approx(sr / 2)


def test_mask_explorer_refuses_bad_settings():
    mix, sr, _, _ = _tone_track()
    with pytest.raises(InvalidConfigError, match="oracle"):
        MaskExplorer.from_arrays(mix, sr, method="oracle")  # no references
    with pytest.warns(UserWarning, match="accompaniment"):  # the other stem is derived
        ex = MaskExplorer.from_arrays(mix, sr, method="oracle-irm", vocals=mix * 0.5)
    with pytest.raises(InvalidConfigError):
        ex.alpha = 1.5
    with pytest.raises(DatasetError, match="no demo track"):
        MaskExplorer.demo("no-such-track")


def test_mask_explorer_demo_opens_a_shipped_track():
    ex = MaskExplorer.demo(method="oracle-irm", alpha=0.6)
    assert ex.track.name == demo_track_folders()[0].name
    assert ex.alpha == pytest.approx(0.6)
    assert ex.stems.shape[-1] == ex.track.n_samples


# --------------------------------------------------------------------------- MetricsExplorer
def test_metrics_click_opens_the_mask_explorer_at_that_alpha():
    mx = MetricsExplorer.demo()
    assert mx.explorer is None and mx.alpha is None
    clickable = [i for i, tr in enumerate(mx.figure.data) if tr.customdata is not None]
    assert clickable, "the α curves carry customdata [track, method, alpha]"
    oracle = next(
        i for i in clickable if str(mx.figure.data[i].customdata[0][1]).startswith("oracle")
    )
    trace = mx.figure.data[oracle]
    k = 2
    expected_alpha = float(trace.customdata[k][2])
    trace._dispatch_on_click(Points([k], [0.0], [0.0], oracle, trace.name), InputDeviceState())

    assert mx.alpha == pytest.approx(expected_alpha)
    assert mx.explorer is not None and mx.explorer in mx.children[-1].children
    assert mx.explorer.alpha == pytest.approx(round(expected_alpha, 2))
    assert mx.explorer.method == trace.customdata[k][1]
    assert mx.explorer.track.name == (trace.customdata[k][0] or mx._track.options[1][1])
    assert mx.stems is mx.explorer.stems


def test_metrics_track_picker_redraws_and_unknown_track_is_reported():
    mx = MetricsExplorer.demo(metric="SIR", target="accompaniment")
    track = mx._track.options[1][1]
    mx.track = track
    assert track in mx.figure.layout.title.text
    assert mx.open_point("not-on-this-machine", "dnn", 0.5) is None
    assert "not on this machine" in mx._status.value


# --------------------------------------------------------------------------- ComposerExplorer
def test_composer_explorer_recomposes_on_change():
    cx = ComposerExplorer("exp2", bars=4)
    comp = cx.composition
    assert comp is not None and comp.roll.shape[1] == 4 * comp.form.steps_per_bar
    assert [tr.name for tr in cx.figure.data][-1] == "probabilities"
    assert cx.rendered is not None and cx.player.audio_b64
    assert 0.0 <= cx.measures["form_accuracy"] <= 1.0

    cx.set(mode="sample", temperature=2.0, seed=5)
    assert cx.composition is not comp
    assert cx._threshold.disabled and not cx._temperature.disabled

    cx.set(priming="first bar: blue note riff")
    shapes = [s.name for s in cx.figure.layout.shapes]
    assert "prime" in shapes


def test_composer_explorer_errors():
    with pytest.raises(CheckpointError, match="no composer model"):
        ComposerExplorer("no-such-model")
    cx = ComposerExplorer("exp1", bars=2)
    cx.alpha = 0.95  # the threshold: a valid, extreme setting
    assert cx.alpha == pytest.approx(0.95) and cx.composition is not None


def test_roll_player_notes_and_piece():
    roll = np.zeros((3, 8), np.float32)
    roll[0, 1:4] = 1
    roll[2, 6:] = 1
    assert roll_notes(roll) == [[0, 1, 3], [2, 6, 2]]
    player = RollPlayer(b"RIFF", roll=roll, steps_per_second=4.0)
    assert (player.rows, player.steps, player.notes) == (3, 8, [[0, 1, 3], [2, 6, 2]])
    with pytest.raises(InvalidConfigError):
        player.set_piece(b"", roll=roll, steps_per_second=0.0)
