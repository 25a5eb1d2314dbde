"""AppTest of the Composer page, on tiny untrained checkpoints in a temporary assets folder."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from core.blues.export import render_piece
from dashboard import composer_view as cv
from tests.conftest import app_test

pytestmark = pytest.mark.slow  # each fresh page run loads torch models and renders audio


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    """``<tmp>/composer/exp1.pt`` and ``exp2.pt``: untrained models, with corpus meta."""
    from core.blues.model import ComposerConfig, build_model, save_composer

    root = tmp_path_factory.mktemp("assets")
    meta = {"corpus": {"source": "synthetic", "seed": 0, "n_sequences": 32},
            "train": {"n_segments": 32, "seed": 0}}  # fmt: skip
    for e in (1, 2):
        model = build_model(ComposerConfig(experiment=e), seed=e)
        save_composer(root / "composer" / f"exp{e}.pt", model, meta=meta)
    return root


@pytest.fixture
def fast_audio(monkeypatch):
    """Render only the first bar, at 8 kHz (full rendering is tested once, for real)."""
    real = cv.render

    def fake(roll, *, form, tempo=120.0, sr=16000):
        return render_piece(roll[:, :8], form=form, tempo=tempo, sr=8000)  # one bar, sine or FS

    monkeypatch.setattr(cv, "render", fake)
    return real


@pytest.fixture
def at(tiny_assets, monkeypatch):
    monkeypatch.setenv("GENEX_ASSETS", str(tiny_assets))

    def make():
        page = app_test("composer.py", timeout=120)
        assert not page.exception, [e.value for e in page.exception]
        return page

    return make


def chart_spec(page, trace: str = "chords") -> dict:
    """The figure JSON of the page's piano roll (the chart holding ``trace``)."""
    for chart in page.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if any(t.get("name") == trace for t in spec["data"]):
            return spec
    raise AssertionError(f"no chart with a {trace!r} trace")


def roll_z(page) -> list:
    """The encoded z data of the roll's voices (equal iff the rolls are equal)."""
    return [t["z"] for t in chart_spec(page)["data"] if t.get("name") in ("chords", "melody")]


def metric_labels(page) -> list[str]:
    return [m.label for m in page.metric]


def ok(page) -> None:
    assert not page.exception, [e.value for e in page.exception]


def test_page_renders_roll_player_measures_and_downloads(at):
    page = at()
    assert page.title[0].value == "Composer"
    model = page.selectbox(key="comp.model")
    assert model.options == ["exp1", "exp2"] and model.value == "exp2"
    spec = chart_spec(page, "probabilities")
    assert {t["name"] for t in spec["data"]} == {"chords", "melody", "probabilities"}
    bar_lines = [s for s in spec["layout"]["shapes"] if s.get("name") == "bar line"]
    assert len(bar_lines) == 48 + 1
    labels = metric_labels(page)
    for label in ("Form accuracy (all bars)", "Form accuracy, first 10 bars", "Chord tones",
                  "In scale", "Note density", "Rest ratio", "Longest copied run",
                  "n-gram overlap"):  # fmt: skip
        assert label in labels
    chorus = chorus_chart_spec(page)  # legend, and the 99 % line inside the y range
    assert chorus["layout"]["showlegend"] is True
    names = [t["name"] for t in chorus["data"]]
    assert names == ["on the form (≥ 99 %)", "off the form (< 99 %)", "99 % goal"]
    assert chorus["layout"]["yaxis"]["range"][1] > 99 + 4
    assert [a for a in chorus["layout"]["annotations"] if a.get("name") == "goal label"]
    # chord labels: readable size, thinned at 48 bars, never overlapping
    labels = [a for a in spec["layout"]["annotations"] if a.get("name") == "chord label"]
    assert 12 <= len(labels) < 48 and all(a["font"]["size"] >= 10 for a in labels)
    bar_px = cv.ROLL_PLOT_WIDTH_PX / 48
    for a, b in zip(labels, labels[1:], strict=False):
        need = (len(a["text"]) + len(b["text"])) / 2 * 0.62 * a["font"]["size"] + 4
        assert (b["x"] - a["x"]) * bar_px >= need
    # the main roll names the player whose playhead moves over it
    assert spec["layout"]["meta"] == {"playhead": "comp-player"}
    (player,) = page.get("iframe")
    doc = player.proto.srcdoc
    assert 'id="comp-player-audio"' in doc and 'id="comp-player-playhead"' in doc
    assert 'meta.playhead === "comp-player"' in doc  # finds the main roll above
    assert "data:audio/" in doc
    captions = " ".join(c.value for c in page.caption)
    assert "rendered with" in captions and ("FluidSynth" in captions or "sine" in captions)
    assert "Experiment 2" in captions
    assert len(page.get("download_button")) == 2


def test_rerun_with_same_inputs_keeps_the_player_html(at, fast_audio):
    page = at()
    doc = page.get("iframe")[0].proto.srcdoc
    page.run()
    ok(page)
    assert page.get("iframe")[0].proto.srcdoc == doc


def test_model_switch_exp1_and_back(at, fast_audio):
    page = at()
    page.selectbox(key="comp.model").set_value("exp1").run()
    ok(page)
    captions = " ".join(c.value for c in page.caption)
    assert "Experiment 1" in captions
    assert "Chord tones" not in metric_labels(page)  # chords only: no melody measures
    assert [t["name"] for t in chart_spec(page)["data"]] == ["chords", "probabilities"]
    page.selectbox(key="comp.model").set_value("exp2").run()
    ok(page)
    assert "Chord tones" in metric_labels(page)
    assert [t["name"] for t in chart_spec(page)["data"]] == ["chords", "melody", "probabilities"]
    assert "Experiment 2" in " ".join(c.value for c in page.caption)


def test_seed_changes_the_sampled_roll_and_is_deterministic(at, fast_audio):
    page = at()
    seed = page.number_input(key="comp.seed")  # threshold mode: the seed changes nothing
    assert seed.disabled and "deterministic" in seed.help
    page.radio(key="comp.mode").set_value("sample").run()
    ok(page)
    assert not page.number_input(key="comp.seed").disabled
    assert "deterministic" not in page.number_input(key="comp.seed").help
    first = roll_z(page)
    page.number_input(key="comp.seed").set_value(1).run()
    ok(page)
    assert roll_z(page) != first
    page.number_input(key="comp.seed").set_value(0).run()
    assert roll_z(page) == first


def test_threshold_and_temperature_change_the_roll(at, fast_audio):
    page = at()
    base = roll_z(page)
    page.slider(key="comp.threshold").set_value(0.05).run()
    ok(page)
    assert roll_z(page) != base
    page.radio(key="comp.mode").set_value("sample").run()
    ok(page)
    assert page.slider(key="comp.threshold").disabled
    assert not page.slider(key="comp.temperature").disabled
    cold = roll_z(page)
    page.slider(key="comp.temperature").set_value(3.0).run()
    ok(page)
    assert roll_z(page) != cold


def n_bar_lines(page) -> int:
    return len([s for s in chart_spec(page)["layout"]["shapes"] if s.get("name") == "bar line"])


def test_bars_control_sets_the_length_and_refuses_out_of_range_input(at, fast_audio):
    page = at()
    page.number_input(key="comp.bars").set_value(12).run()
    ok(page)
    spec = chart_spec(page)
    assert n_bar_lines(page) == 13
    assert len([a for a in spec["layout"]["annotations"] if a.get("name") == "chord label"]) == 12
    assert not page.error and not page.warning
    # out of range: an error and a warning that the last valid length (12) is still shown
    page.number_input(key="comp.bars").set_value(500).run()
    ok(page)
    errors = " ".join(e.value for e in page.error)
    assert "Bars" in errors and "12 to 200" in errors and "500" in errors
    (warning,) = page.warning
    assert "500 refused" in warning.value and "12 bars" in warning.value
    assert page.number_input(key="comp.bars").value == 500  # the input keeps what was typed
    assert n_bar_lines(page) == 13
    page.number_input(key="comp.bars").set_value(24).run()
    ok(page)
    assert not page.error and not page.warning and n_bar_lines(page) == 25


def test_bad_midi_upload_shows_a_clear_error_and_the_page_keeps_running(at, fast_audio):
    page = at()
    page.selectbox(key="comp.prime").set_value("uploaded MIDI").run()
    ok(page)
    page.file_uploader(key="comp.prime_midi").set_value(
        ("broken.mid", b"this is not a MIDI file", "audio/midi")
    ).run()
    ok(page)
    errors = " ".join(e.value for e in page.error)
    assert "InvalidMidiError" in errors
    spec = chart_spec(page)  # still composes, unprimed
    assert not [s for s in spec["layout"]["shapes"] if s.get("name") == "prime"]


def test_midi_upload_primes_the_composition(at, fast_audio):
    from core.blues.midi import midi_to_bytes, roll_to_midi
    from core.blues.representation import BluesForm, ideal_chord_roll

    form = BluesForm()
    roll = np.zeros((form.n_units, 2 * form.steps_per_bar), np.float32)
    roll[: form.n_chord] = ideal_chord_roll(form, bars=2)
    roll[form.n_chord + 3, ::2] = 1
    data = midi_to_bytes(roll_to_midi(roll, form=form))
    page = at()
    page.selectbox(key="comp.prime").set_value("uploaded MIDI").run()
    page.file_uploader(key="comp.prime_midi").set_value(("two_bars.mid", data, "audio/midi"))
    page.run()
    ok(page)
    assert not page.error
    (prime,) = [s for s in chart_spec(page)["layout"]["shapes"] if s.get("name") == "prime"]
    assert prime["x1"] == pytest.approx(2.0, abs=0.2)


@pytest.mark.parametrize(("source", "widget", "bars"),
                         [("corpus chorus", "comp.prime_chorus", 12),
                          ("first-bar pattern", "comp.prime_pattern", 1)])  # fmt: skip
def test_corpus_and_pattern_priming(at, fast_audio, source, widget, bars):
    page = at()
    page.selectbox(key="comp.prime").set_value(source).run()
    ok(page)
    assert page.get("number_input" if "chorus" in widget else "selectbox")
    (prime,) = [s for s in chart_spec(page)["layout"]["shapes"] if s.get("name") == "prime"]
    assert prime["x1"] == bars
    bar_lines = [s for s in chart_spec(page)["layout"]["shapes"] if s.get("name") == "bar line"]
    assert len(bar_lines) == bars + 48 + 1  # the prime, then 48 generated bars


def test_unchanged_composition_is_not_recomputed(at, fast_audio, monkeypatch):
    import core.blues.generate

    calls = []
    real = core.blues.generate.compose

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(core.blues.generate, "compose", counting)
    page = at()
    assert len(calls) == 1
    page.number_input(key="comp.tempo").set_value(100).run()  # audio only
    page.run()
    ok(page)
    assert len(calls) == 1
    page.slider(key="comp.threshold").set_value(0.3).run()
    assert len(calls) == 2
    page.slider(key="comp.threshold").set_value(0.5).run()  # back: cached
    assert len(calls) == 2


def test_irrelevant_setting_is_normalised_away(tiny_assets, monkeypatch):
    import core.blues.generate

    calls = []
    monkeypatch.setattr(core.blues.generate, "compose", lambda *a, **k: calls.append(k) or k)
    kw = {"model_key": "m", "bars": 12, "seed": 0}
    cv.composition(None, **kw, mode="threshold", threshold=0.5, temperature=1.0)
    cv.composition(None, **kw, mode="threshold", threshold=0.5, temperature=2.5)
    assert len(calls) == 1
    cv.composition(None, **kw, mode="sample", threshold=0.2, temperature=2.5)
    cv.composition(None, **kw, mode="sample", threshold=0.7, temperature=2.5)
    assert len(calls) == 2 and calls[1]["temperature"] == 2.5


def test_quick_training_runs_on_while_other_controls_change(at, fast_audio, monkeypatch):
    """The training runs in a background thread: reruns from other controls leave it alone,
    the counter states the two-stage schedule, and the finished model joins the picker."""
    real = cv.train_quick
    seen, started, gate = [], threading.Event(), threading.Event()

    def gated(**kw):  # a 16-chorus corpus keeps it quick; held after the first epoch
        seen.append(kw)
        report = kw.pop("progress")

        def progress(event):
            report(event)
            if not started.is_set():
                started.set()
                assert gate.wait(120)

        return real(**{**kw, "n_segments": 16}, progress=progress)

    monkeypatch.setattr(cv, "train_quick", gated)
    page = at()
    page.selectbox(key="comp.train_exp").set_value(2)
    page.number_input(key="comp.train_epochs").set_value(2)
    page.selectbox(key="comp.train_segments").set_value(128)
    page.button(key="comp.train_go").click().run()
    ok(page)
    job = page.session_state["comp.train_job"]
    try:
        assert started.wait(120)
        assert seen[0]["experiment"] == 2 and seen[0]["epochs"] == 2 and seen[0]["number"] == 1
        page.run()
        ok(page)
        status = " ".join(i.value for i in page.info)
        assert "chord stage epoch 1/2" in status and "then melody stage 0/8" in status
        assert page.button(key="comp.train_go").disabled  # the panel is locked while it runs
        assert page.selectbox(key="comp.train_exp").disabled
        assert chart_spec(page, "loss")  # the live curve
        # other controls change while it trains: the training goes on
        page.slider(key="comp.threshold").set_value(0.3).run()
        ok(page)
        page.selectbox(key="comp.model").set_value("exp1").run()
        ok(page)
        assert job.running and page.session_state["comp.train_job"] is job
        assert "chord stage epoch 1/2" in " ".join(i.value for i in page.info)
    finally:
        gate.set()
    assert job.wait(300) and job.error is None, job.error
    page.run()
    ok(page)
    model = page.selectbox(key="comp.model")
    assert len(model.options) == 3 and model.value == model.options[-1]
    assert model.value.startswith("quick #1: exp2")
    quick = model.value
    success = " ".join(s.value for s in page.success)
    assert "Trained" in success and "melody stage epoch 8/8" in success
    loss = chart_spec(page, "loss")  # the finished run's curve marks the stage change
    (line,) = [s for s in loss["layout"]["shapes"] if s.get("name") == "stage change"]
    assert line["x0"] == job.result.chord_epochs + 0.5 and 1 <= job.result.chord_epochs <= 2
    # the finished model is never dropped: it stays in the picker whatever changes
    page.selectbox(key="comp.model").set_value("exp2").run()
    page.number_input(key="comp.tempo").set_value(100).run()
    ok(page)
    options = page.selectbox(key="comp.model").options
    assert [o for o in options if o.startswith("quick #1")] == [quick]
    page.selectbox(key="comp.model").set_value(quick).run()
    ok(page)
    assert "Experiment 2" in " ".join(c.value for c in page.caption)


def test_training_that_ends_during_a_rerun_still_selects_its_model(at, fast_audio, monkeypatch):
    """The training ends after the picker was drawn but before the panel: no fragment polls
    it any more, so the page must notice on its own that the model has to join the picker."""
    real, real_novelty = cv.train_quick, cv.novelty_measures
    gate, holding = threading.Event(), {"job": None}

    def gated(**kw):
        assert gate.wait(120)
        return real(**{**kw, "n_segments": 16, "epochs": 1})

    def novelty_then_finish(*args, **kw):  # the slowest part of a run, before train_panel()
        job = holding["job"]
        if job is not None and job.running:
            gate.set()
            assert job.wait(300)
        return real_novelty(*args, **kw)

    monkeypatch.setattr(cv, "train_quick", gated)
    monkeypatch.setattr(cv, "novelty_measures", novelty_then_finish)
    page = at()
    page.selectbox(key="comp.train_exp").set_value(1)
    page.button(key="comp.train_go").click().run()
    ok(page)
    job = holding["job"] = page.session_state["comp.train_job"]
    assert job.running  # held at the gate: the panel shows it running
    page.number_input(key="comp.tempo").set_value(100).run()  # it finishes inside this run
    ok(page)
    assert job.error is None and job.collected
    model = page.selectbox(key="comp.model")
    assert model.value.startswith("quick #1: exp1"), model.value
    assert "Trained" in " ".join(s.value for s in page.success)


def test_no_models_shows_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path))
    page = app_test("composer.py", timeout=120)
    ok(page)
    assert "No composer model" in page.info[0].value
    assert page.get("button")  # the training panel is still there


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "composer").mkdir()
    (tmp_path / "composer" / "exp2.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path))
    page = app_test("composer.py", timeout=120)
    ok(page)
    assert "CheckpointError" in page.error[0].value


def chorus_chart_spec(page) -> dict:
    """The figure JSON of the per-chorus form accuracy chart."""
    return chart_spec(page, trace="99 % goal")


def test_chord_sampling_switch_changes_the_chords_only_in_sample_mode(at, fast_audio):
    page = at()
    assert page.toggle(key="comp.sample_chords").disabled  # threshold mode
    page.radio(key="comp.mode").set_value("sample").run()
    ok(page)
    assert not page.toggle(key="comp.sample_chords").disabled
    kept = chart_spec(page)["data"][0]["z"]  # the chords trace
    page.toggle(key="comp.sample_chords").set_value(True).run()
    ok(page)
    assert chart_spec(page)["data"][0]["z"] != kept  # an untrained model's chords drift


def test_perturb_control_shows_recovery_and_marks_the_chorus_chart(at, fast_audio):
    page = at()
    assert page.number_input(key="comp.perturb_bar").disabled
    assert "Recovery after the perturbation" not in metric_labels(page)
    assert not [s for s in chorus_chart_spec(page)["layout"].get("shapes", [])
                if s.get("name") == "perturbed"]  # fmt: skip
    page.toggle(key="comp.perturb").set_value(True).run()
    ok(page)
    page.number_input(key="comp.perturb_bar").set_value(13).run()
    page.selectbox(key="comp.perturb_bars").set_value(1).run()
    ok(page)
    assert "Recovery after the perturbation" in metric_labels(page)
    layout = chorus_chart_spec(page)["layout"]
    shapes = [s for s in layout["shapes"] if s.get("name") == "perturbed"]
    assert len(shapes) == 1 and shapes[0]["x0"] == 1.5 and shapes[0]["x1"] == 2.5  # chorus 2
    texts = [a["text"] for a in layout["annotations"]]
    assert "bar 13 forced" in texts
