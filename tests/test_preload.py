"""The background preload (issue 11 item 4): it warms the very caches the pages read, runs once
per process, can be switched off, and never raises."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from dashboard import preload
from dashboard.preload import DEFAULT_STEPS, Step
from tests.conftest import REPO_ROOT, app_test


@pytest.fixture
def fresh(monkeypatch):
    """A process that has not preloaded yet (the module's state is restored afterwards)."""
    monkeypatch.setattr(preload, "_thread", None)
    monkeypatch.setattr(preload, "_steps", [])
    monkeypatch.setattr(preload, "_t0", None)
    monkeypatch.setattr(preload, "_t1", None)
    monkeypatch.delenv("GENEX_PRELOAD", raising=False)


def steps_named(*prefixes: str) -> list[Step]:
    return [s for s in DEFAULT_STEPS if s.name.startswith(prefixes)]


def test_run_preload_records_every_step_and_never_raises(fresh):
    seen = []

    def provide(ctx):
        seen.append("provide")
        ctx["thing"] = 41

    def broken(ctx):
        raise RuntimeError("corrupt checkpoint")

    report = preload.run_preload(
        [
            Step("provide", provide),
            Step("broken", broken),
            Step("needs a missing thing", lambda ctx: seen.append("never"), needs=("other",)),
            Step("uses", lambda ctx: seen.append(ctx["thing"] + 1), needs=("thing",)),
            Step("not found", lambda ctx: {}["key"]),
        ]
    )
    assert seen == ["provide", 42]
    assert report.state == "done"
    assert [s.ok for s in report.steps] == [True, False, False, True, False]
    assert report.steps[1].error == "RuntimeError: corrupt checkpoint"
    assert report.steps[2].error == "skipped: needs other"
    assert report.steps[4].error.startswith("KeyError")
    assert [s.name for s in report.failed] == ["broken", "needs a missing thing", "not found"]
    assert report.text().startswith("done in ") and "(5 steps, 3 failed)" in report.text()
    assert "broken: RuntimeError: corrupt checkpoint" in report.text()
    assert preload.preload_status() == report


def test_the_default_steps_on_an_empty_assets_folder_report_and_do_not_raise(
    fresh, tmp_path, monkeypatch
):
    (tmp_path / "assets").mkdir()
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "assets"))
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "none"))
    steps = [s for s in DEFAULT_STEPS if not s.name.startswith("STFT")]  # the slow JIT one
    report = preload.run_preload(steps)
    by_name = {s.name: s.error for s in report.steps}
    assert list(by_name) == [s.name for s in steps] and len(steps) == len(DEFAULT_STEPS) - 1
    for first in ("Mask explorer: demo track", "Metrics: results run", "Composer: shipped models"):
        assert by_name[first].startswith("FileNotFoundError"), by_name
    for dependent in ("Mask explorer: DNN mask", "Metrics: figures", "Composer: first composition"):
        assert by_name[dependent].startswith("skipped: needs"), by_name


@pytest.fixture
def tiny_assets(tmp_path, monkeypatch):
    """One 1 s track with its stems, and a copy of the shipped results run."""
    rng = np.random.default_rng(0)
    sr, n = 16000, 16000
    t = np.arange(n) / sr
    vocals = 0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.3)
    accompaniment = 0.1 * rng.standard_normal(n)
    folder = tmp_path / "assets" / "demo_tracks" / "song"
    folder.mkdir(parents=True)
    for name, y in (("vocals", vocals), ("accompaniment", accompaniment)):
        sf.write(folder / f"{name}.wav", y.astype(np.float32), sr)
    sf.write(folder / "mixture.wav", (vocals + accompaniment).astype(np.float32), sr)
    shutil.copytree(REPO_ROOT / "assets" / "results" / "demo", tmp_path / "assets/results/demo")
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "assets"))
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "none"))
    return tmp_path / "assets"


def test_preload_warms_the_caches_the_mask_explorer_and_metrics_pages_read(
    fresh, tiny_assets, monkeypatch
):
    from core.karaoke import separate
    from core.paths import assets_dir, results_dir
    from dashboard import mask_explorer_view as ev
    from dashboard import metrics_view as mv

    # the oracle mask: the same cached path as the DNN's, without a model on a 1 s track
    monkeypatch.setattr(preload, "FIRST_METHOD", "oracle")
    masks, runs = [], []
    probability_mask, read_run = separate.probability_mask, mv.read_run

    def counted_mask(*args, **kwargs):
        masks.append(kwargs.get("method"))
        return probability_mask(*args, **kwargs)

    def counted_run(path):
        runs.append(str(path))
        return read_run(path)

    monkeypatch.setattr(separate, "probability_mask", counted_mask)
    monkeypatch.setattr(mv, "read_run", counted_run)

    report = preload.run_preload(steps_named("Mask explorer", "Metrics"))
    assert report.state == "done" and not report.failed, report.text()
    assert masks == ["oracle"] and len(runs) == 1

    # what the pages then ask for, as they ask for it, is served from the caches
    track = ev.load_track(ev.demo_tracks()["song"])
    key = ev.track_key(track)
    assert ev.available_methods(track)[0] in ("dnn", "oracle")
    result = ev.mask_result(key, "oracle", None, track)
    assert result.prob.shape == result.mixture_stft.shape
    run = mv.load_run(mv.find_runs(assets_dir(), results_dir())[0])
    assert run.methods == ["dnn", "traditional", "oracle"]
    assert masks == ["oracle"] and len(runs) == 1  # nothing computed again


def test_composer_steps_load_every_shipped_model_and_compose_the_pages_first_view(
    fresh, monkeypatch
):
    from dashboard import composer_view as cv

    choices = [
        cv.ModelChoice("exp1", "/m/exp1.pt", "exp1@1"),
        cv.ModelChoice("exp2", "/m/exp2.pt", "exp2@2"),
    ]
    calls: list[tuple] = []
    comp = SimpleNamespace(roll=np.zeros((3, 8), np.float32), form="form")
    monkeypatch.setattr(cv, "shipped_models", lambda: choices)
    monkeypatch.setattr(cv, "get_model", lambda c, trained=None: f"model:{c.name}")

    def composition(model, **kwargs):
        calls.append(("compose", model, kwargs))
        return comp

    monkeypatch.setattr(cv, "composition", composition)
    monkeypatch.setattr(cv, "measures", lambda c: calls.append(("measures", c)))
    monkeypatch.setattr(cv, "render", lambda roll, **kw: calls.append(("render", kw)))
    monkeypatch.setattr(cv, "training_corpus", lambda model: ("corpus", f"key:{model}"))
    monkeypatch.setattr(
        cv, "novelty_measures", lambda c, **kw: calls.append(("novelty", kw["corpus_key"]))
    )
    report = preload.run_preload(steps_named("Composer"))
    assert not report.failed, report.text()
    # the page's defaults: model exp2, 48 bars, seed 0, threshold mode, 120 bpm
    assert calls == [
        ("compose", "model:exp2", {"model_key": "exp2@2", "bars": 48, "seed": 0,
                                   "mode": "threshold"}),
        ("measures", comp),
        ("render", {"form": "form", "tempo": 120.0}),
        ("novelty", "key:model:exp2"),
    ]  # fmt: skip


def test_a_failing_loader_is_reported_not_raised(fresh, tiny_assets, monkeypatch):
    from dashboard import mask_explorer_view as ev

    def corrupt(*args, **kwargs):
        raise RuntimeError("checkpoint is corrupt")

    monkeypatch.setattr(ev, "mask_result", corrupt)
    monkeypatch.setattr(preload, "FIRST_METHOD", "oracle")
    report = preload.run_preload(steps_named("Mask explorer: demo", "Mask explorer: DNN"))
    assert [s.error for s in report.steps] == ["", "RuntimeError: checkpoint is corrupt"]


def test_start_preload_runs_once_per_process(fresh):
    ran = []
    step = Step("count", lambda ctx: ran.append(1))
    assert preload.start_preload([step]) is True
    assert preload.start_preload([step]) is False
    assert preload.preload_status().state in ("running", "done")
    preload._thread.join(timeout=30)
    assert ran == [1]
    status = preload.preload_status()
    assert status.state == "done" and [s.name for s in status.steps] == ["count"]


def test_genex_preload_0_switches_it_off(fresh, monkeypatch):
    monkeypatch.setenv("GENEX_PRELOAD", "0")
    assert preload.start_preload([Step("never", lambda ctx: None)]) is False
    assert preload._thread is None
    status = preload.preload_status()
    assert status.state == "off" and "GENEX_PRELOAD=0" in status.text()


def test_apptest_and_bare_imports_never_start_the_preload(fresh):
    assert not preload.in_server()
    at = app_test()  # the router's first run, under AppTest
    assert not at.exception
    assert preload._thread is None
