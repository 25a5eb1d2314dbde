"""AppTest of the Metrics page: run picking, selectors, bad folders, clicks into the explorer."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
import streamlit as st

from core.errors import ResultsError
from core.evaluation.bss import BssEval
from core.evaluation.results import create_run, open_run
from core.io_utils import output_lock
from core.paths import assets_dir
from dashboard import metrics_view as mv
from tests.conftest import app_test
from tests.test_metrics_view import make_tidy


def write_run(folder, tidy, config):
    """Write ``tidy`` as a real results run: core's BssEval per α, stored by core.evaluation."""
    run = create_run(folder, config)
    for (track, method), g in tidy.groupby(["track", "method"], sort=True):
        by_alpha = {}
        for alpha, ga in g.groupby("alpha", sort=True):
            times = np.sort(ga["time"].unique())
            arrays = {}
            for m in ("SDR", "ISR", "SIR", "SAR"):
                gm = ga[ga.metric == m]
                arrays[m.lower()] = np.stack(
                    [
                        gm[gm.target == t].sort_values("time")["value"].to_numpy(float)
                        for t in ("vocals", "accompaniment")
                    ]
                )
            by_alpha[float(alpha)] = BssEval(
                **arrays, window_starts=times, win_seconds=1.0, hop_seconds=1.0, sr=16000,
                sources=("vocals", "accompaniment"),
            )  # fmt: skip
        run.write_track(track, method, by_alpha)
    run.write_tidy()
    return run


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """A real results run (3 tracks × dnn/traditional/oracle × 10 α) in a temp assets dir."""
    assets = tmp_path_factory.mktemp("assets")
    tidy = make_tidy(np.random.default_rng(1))
    config = {
        "command": "genex evaluate --data assets/demo_tracks --out assets/results/demo",
        "methods": ["dnn", "traditional", "oracle"],
        "alphas": [float(a) for a in np.round(np.arange(0.05, 0.96, 0.1), 2)],
        "tracks": ["song_a", "song_b", "song_c"],
        "code_version": "0.1.0",
    }
    write_run(assets / "results" / "demo", tidy, config)
    return assets


@pytest.fixture
def run_dir(synthetic_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GENEX_ASSETS", str(synthetic_run))
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "no_results"))
    return synthetic_run / "results" / "demo"


def _spec(at, i=0):
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def _curves(spec):
    return [t for t in spec["data"] if (t.get("meta") or {}).get("role") in ("curve", "ceiling")]


def _array(values):
    """A plotly JSON array: a list, or a typed array ``{"dtype": "f8", "bdata": base64}``."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def test_default_run_renders_every_view(run_dir):
    at = app_test("metrics.py", timeout=120)
    _ok(at)
    assert at.title[0].value == "Metrics"
    assert at.selectbox(key="met.run").value == run_dir
    charts = at.get("plotly_chart")
    assert len(charts) == 5  # α curves, panels, SAR vs SIR, per track, framewise
    spec = _spec(at)
    assert {t["meta"]["method"] for t in _curves(spec)} == {"dnn", "traditional", "oracle"}
    assert "median over tracks" in spec["layout"]["title"]["text"]
    # the curve is core's summary (median over tracks of per-track medians), not a page's own
    expected = open_run(run_dir).summary()
    expected = expected[
        (expected.method == "dnn") & (expected.metric == "SDR") & (expected.target == "vocals")
    ]
    dnn = next(t for t in _curves(spec) if t["meta"]["method"] == "dnn")
    np.testing.assert_allclose(_array(dnn["y"]), expected.sort_values("alpha")["median"])
    captions = " ".join(c.value for c in at.caption)
    assert "vocals + accompaniment" in captions and "1 s windows" in captions
    assert "median" in captions
    config_text = " ".join(m.value for m in at.expander[0].markdown)
    assert "genex evaluate" in config_text and "10 values" in config_text
    assert not at.error


@pytest.mark.slow
def test_method_and_track_switches_redraw_the_curves(run_dir):
    at = app_test("metrics.py", timeout=120)
    at.selectbox(key="met.fw_method").set_value("oracle").run()
    at.multiselect(key="met.methods").set_value(["dnn"]).run()
    _ok(at)
    assert [t["meta"]["method"] for t in _curves(_spec(at))] == ["dnn"]
    assert at.selectbox(key="met.fw_method").value == "dnn"  # a dropped method is not kept
    assert "· dnn ·" in _spec(at, 4)["layout"]["title"]["text"]
    sarsir = _spec(at, 2)
    assert [t["meta"]["method"] for t in sarsir["data"]] == ["dnn"]
    at.selectbox(key="met.track").set_value("song_b").run()
    _ok(at)
    spec = _spec(at)
    assert "track song_b" in spec["layout"]["title"]["text"]
    assert _curves(spec)[0]["customdata"][0][0] == "song_b"
    assert at.selectbox(key="met.fw_track").value == "song_b"
    at.selectbox(key="met.metric").set_value("SAR").run()
    at.selectbox(key="met.target").set_value("accompaniment").run()
    _ok(at)
    assert "SAR of accompaniment" in _spec(at)["layout"]["title"]["text"]


def test_no_method_selected_asks_for_one(run_dir):
    at = app_test("metrics.py", timeout=120)
    at.multiselect(key="met.methods").set_value([]).run()
    _ok(at)
    assert any("at least one method" in i.value for i in at.info)
    assert not at.get("plotly_chart")


@pytest.mark.slow
def test_framewise_alpha_slider_moves_the_framewise_view(run_dir):
    at = app_test("metrics.py", timeout=120)
    assert "α = 0.45" in _spec(at, 4)["layout"]["title"]["text"]  # nearest to 0.5
    at.select_slider(key="met.fw_alpha").set_value(0.85).run()
    _ok(at)
    assert "α = 0.85" in _spec(at, 4)["layout"]["title"]["text"]


@pytest.mark.slow
def test_a_folder_that_is_not_a_run_shows_an_error(run_dir, tmp_path):
    bad = tmp_path / "not_a_run"
    bad.mkdir()
    at = app_test("metrics.py", timeout=120)
    at.text_input(key="met.folder").set_value(str(bad)).run()
    _ok(at)
    assert len(at.error) == 1
    assert "ResultsError" in at.error[0].value and "not a results run" in at.error[0].value
    assert "not_a_run" in at.error[0].value
    assert not at.get("plotly_chart")
    at.text_input(key="met.folder").set_value("").run()  # back to the picked run
    _ok(at)
    assert not at.error and len(at.get("plotly_chart")) == 5


def test_no_runs_found_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEX_ASSETS", str(tmp_path / "empty_assets"))
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "empty_results"))
    at = app_test("metrics.py", timeout=120)
    _ok(at)
    assert any("genex evaluate" in i.value for i in at.info)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("track_choice", "chart", "custom", "expected_track"),
    [
        ("median", "met.curves", ["", "dnn", 0.35], "song_a"),  # median → first track
        ("song_c", "met.curves", ["song_c", "traditional", 0.75], "song_c"),
        ("median", "met.sarsir", ["", "oracle", 0.05], "song_a"),
        ("song_b", "met.panels", ["song_b", "oracle", 0.15], "song_b"),
    ],
)
def test_clicking_a_point_opens_the_mask_explorer(
    run_dir, monkeypatch, track_choice, chart, custom, expected_track
):
    calls = []
    real_switch = st.switch_page

    def spy(page, *, query_params=None):
        calls.append((str(page), dict(query_params or {})))
        real_switch(page, query_params=query_params)

    monkeypatch.setattr(st, "switch_page", spy)
    at = app_test("metrics.py", timeout=120)
    at.selectbox(key="met.track").set_value(track_choice).run()
    point = {"curve_number": 2, "point_number": 3, "point_index": 3, "customdata": custom}
    at.session_state[chart] = {"selection": {"points": [point], "point_indices": [3]}}
    at.run()
    _ok(at)
    expected = {"track": expected_track, "method": custom[1], "alpha": f"{custom[2]:.2f}"}
    assert calls == [("../pages/mask_explorer.py", expected)]
    # landed on the explorer, which keeps the α and method it was sent
    assert at.title[0].value == "Mask explorer"
    assert at.query_params["alpha"] in (expected["alpha"], [expected["alpha"]])
    assert at.query_params["method"] in (expected["method"], [expected["method"]])


def test_a_click_on_a_band_or_nothing_stays_on_the_page(run_dir):
    at = app_test("metrics.py", timeout=120)
    at.session_state["met.curves"] = {"selection": {"points": [{"curve_number": 0}]}}
    at.run()
    _ok(at)
    assert at.title[0].value == "Metrics"


def test_a_folder_with_a_foreign_config_json_is_refused(run_dir, tmp_path):
    other = tmp_path / "someone_elses"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"lr": 0.001}))
    at = app_test("metrics.py", timeout=120)
    at.text_input(key="met.folder").set_value(str(other)).run()
    _ok(at)
    assert len(at.error) == 1 and "genex-results" in at.error[0].value


def test_the_page_reads_what_core_results_wrote(run_dir):
    run = mv.load_run(run_dir)
    stored = open_run(run_dir)
    assert run.tidy.equals(stored.tidy())
    assert run.summary.equals(stored.summary())
    assert run.tracks == ["song_a", "song_b", "song_c"]
    assert run.methods == ["dnn", "traditional", "oracle"]
    assert len(run.alphas) == 10
    assert run.config["format"] == "genex-results"


@pytest.mark.slow
def test_switching_to_a_run_with_other_tracks_and_methods(run_dir, tmp_path):
    tidy = make_tidy(np.random.default_rng(2), tracks=("other_x", "other_y"), methods=("dnn",))
    other = tmp_path / "other_run"
    write_run(other, tidy, {"methods": ["dnn"], "alphas": sorted(set(tidy.alpha))})
    at = app_test("metrics.py", timeout=120)
    at.selectbox(key="met.track").set_value("song_c").run()
    at.multiselect(key="met.methods").set_value(["traditional", "oracle"]).run()
    at.select_slider(key="met.fw_alpha").set_value(0.95).run()
    at.text_input(key="met.folder").set_value(str(other)).run()
    _ok(at)
    assert not at.error
    assert at.multiselect(key="met.methods").value == ["dnn"]  # selectors start afresh
    assert at.selectbox(key="met.track").value == "median"
    assert at.selectbox(key="met.fw_track").value == "other_x"
    assert [t["meta"]["method"] for t in _curves(_spec(at))] == ["dnn"]
    at.text_input(key="met.folder").set_value("").run()  # back: all methods again
    _ok(at)
    assert at.multiselect(key="met.methods").value == ["dnn", "traditional", "oracle"]


def test_load_run_sees_new_results_and_refuses_non_runs(tmp_path):
    tidy = make_tidy(np.random.default_rng(3), tracks=("t1",))
    folder = tmp_path / "run"
    cfg = {"methods": ["dnn", "traditional", "oracle"], "alphas": sorted(set(tidy.alpha))}
    write_run(folder, tidy[tidy.method == "dnn"], cfg)
    assert mv.load_run(folder).methods == ["dnn"]
    write_run(folder, tidy, cfg)  # resumes: the cache notices the new files
    assert mv.load_run(folder).methods == ["dnn", "traditional", "oracle"]
    with pytest.raises(ResultsError, match="not a results run"):
        mv.load_run(tmp_path / "missing")


@pytest.mark.slow
def test_the_shipped_run_is_shown_by_default(monkeypatch, tmp_path):
    shipped = assets_dir() / "results" / "demo"
    run = mv.load_run(shipped)  # a missing shipped run fails here, loudly
    monkeypatch.setenv("GENEX_RESULTS", str(tmp_path / "no_results"))
    at = app_test("metrics.py", timeout=120)
    _ok(at)
    assert not at.error
    assert Path(at.selectbox(key="met.run").value).resolve() == shipped.resolve()
    assert len(at.get("plotly_chart")) == 5
    assert at.selectbox(key="met.track").options == ["median over tracks", *run.tracks]
    assert {t["meta"]["method"] for t in _curves(_spec(at))} == set(run.methods)


# ----------------------------------------------------------------------- a run being written


def _partial_run(folder, *, tracks_done=("song_a",)):
    """A run asking for 3 tracks × 3 methods with only ``tracks_done`` finished, no table yet."""
    tidy = make_tidy(np.random.default_rng(5))
    config = {
        "methods": ["dnn", "traditional", "oracle"],
        "alphas": sorted(set(tidy.alpha)),
        "tracks": ["song_a", "song_b", "song_c"],
    }
    if tracks_done:
        write_run(folder, tidy[tidy.track.isin(tracks_done)], config)
        (folder / "metrics.parquet").unlink()
    else:
        create_run(folder, config)
    return folder


def _per_track_points(at):
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        traces = [t for t in spec["data"] if (t.get("meta") or {}).get("role") == "per_track"]
        if traces:
            return sum(len(t["x"]) for t in traces)
    return None


def test_a_run_being_written_says_how_far_it_is_and_what_is_in(run_dir, tmp_path):
    folder = _partial_run(tmp_path / "live")
    at = app_test("metrics.py", timeout=120)
    with output_lock(folder):
        at.text_input(key="met.folder").set_value(str(folder)).run()
        _ok(at)
        info = " ".join(i.value for i in at.info)
        assert "Run in progress: 3 of 9 track×method files complete" in info
        assert f"being written now (pid {os.getpid()})" in info and "every 3 s" in info
        assert len(at.get("progress")) == 1
        assert len(at.get("plotly_chart")) == 5 and _per_track_points(at) == 3
        assert at.multiselect(key="met.methods").value == ["dnn", "traditional", "oracle"]
        write_run(folder, make_tidy(np.random.default_rng(5)), open_run(folder).config)
        (folder / "metrics.parquet").unlink()
        at.run()  # what the fragment's timer does
        _ok(at)
        assert "9 of 9" in " ".join(i.value for i in at.info) and _per_track_points(at) == 9
    at.run()  # the writer is gone: no more refreshing, no progress bar
    _ok(at)
    assert not at.info and not at.get("progress") and not at.warning
    assert _per_track_points(at) == 9


def test_a_run_not_being_written_says_it_is_incomplete(run_dir, tmp_path):
    folder = _partial_run(tmp_path / "stopped", tracks_done=("song_a", "song_c"))
    at = app_test("metrics.py", timeout=120)
    at.text_input(key="met.folder").set_value(str(folder)).run()
    _ok(at)
    assert not at.info
    assert at.warning[0].value.startswith("Incomplete run: 6 of 9 track×method files complete")
    assert "re-run its command" in at.warning[0].value
    assert _per_track_points(at) == 6


def test_an_empty_run_being_written_waits_for_its_first_result(run_dir, tmp_path):
    folder = _partial_run(tmp_path / "starting", tracks_done=())
    at = app_test("metrics.py", timeout=120)
    with output_lock(folder):
        at.text_input(key="met.folder").set_value(str(folder)).run()
        _ok(at)
        assert "0 of 9 track×method files complete" in at.info[0].value
        assert not at.get("plotly_chart") and not at.warning
    at.run()
    _ok(at)
    assert any("holds no metrics yet" in w.value for w in at.warning)


def test_corrupt_track_files_and_failed_tasks_are_listed(run_dir, tmp_path):
    folder = _partial_run(tmp_path / "broken", tracks_done=("song_a", "song_b"))
    (folder / "song_b.traditional.json").write_text('{"targets": [{"name": "voc')  # truncated
    (folder / "song_c.oracle.json").write_bytes(b"\x00\xff garbage")
    open_run(folder).write_failures(
        ["song_c (dnn): InvalidAudioError: the vocals stem of song_c is silent"]
    )
    at = app_test("metrics.py", timeout=120)
    at.text_input(key="met.folder").set_value(str(folder)).run()
    _ok(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "2 track file(s) cannot be read" in warnings
    assert "`song_b.traditional.json`" in warnings and "`song_c.oracle.json`" in warnings
    assert "Incomplete run: 5 of 9" in warnings
    assert len(at.error) == 1
    assert "- song_c (dnn): InvalidAudioError: the vocals stem of song_c is silent" in (
        at.error[0].value
    )
    assert _per_track_points(at) == 5  # the readable files are all shown


def test_metric_names_and_off_scale_values_are_explained(run_dir, tmp_path):
    from tests.test_metrics_view import _with_outlier

    folder = tmp_path / "outlier"
    tidy = _with_outlier(make_tidy(np.random.default_rng(6)))
    write_run(
        folder,
        tidy,
        {"methods": ["dnn", "traditional", "oracle"], "alphas": sorted(set(tidy.alpha))},
    )
    at = app_test("metrics.py", timeout=120)
    at.text_input(key="met.folder").set_value(str(folder)).run()
    at.selectbox(key="met.target").set_value("accompaniment").run()
    at.selectbox(key="met.metric").set_value("SAR").run()
    _ok(at)
    captions = [c.value for c in at.caption]
    glossary = next(c for c in captions if "**SDR** — signal-to-distortion ratio" in c)
    assert "**ISR**" in glossary and glossary.count("higher is better") == 4
    off = [c for c in captions if c.startswith("Off scale")]
    assert off and "SAR 141.3 dB, dnn, α 0.05, median over tracks (off scale)" in off[0]
    spec = _spec(at)
    assert spec["layout"]["yaxis"]["range"][1] < 60


def test_a_link_with_run_opens_that_folder(run_dir, tmp_path):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    folder = _partial_run(tmp_path / "linked", tracks_done=("song_b",))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.query_params["run"] = str(folder)
    at.switch_page("../pages/metrics.py").run()
    _ok(at)
    assert at.text_input(key="met.folder").value == str(folder)
    assert "3 of 9" in at.warning[0].value and _per_track_points(at) == 3
    at.text_input(key="met.folder").set_value("").run()  # the user's choice wins afterwards
    _ok(at)
    assert at.text_input(key="met.folder").value == "" and not at.warning
