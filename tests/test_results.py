"""Results store: round trip, atomic writes, resume, config mismatch, non-run folders."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import core.evaluation.results as results
from core.errors import CoreError, InvalidConfigError, ResultsError
from core.evaluation.bss import BssEval
from core.evaluation.results import (
    TIDY_COLUMNS,
    create_run,
    describe,
    export_museval,
    museval_document,
    open_run,
    per_track_medians,
    read_track_table,
    sir_sar_means,
    summary,
    tidy,
    track_summary,
)
from core.io_utils import output_lock

CONFIG = {"methods": ["dnn", "oracle"], "alphas": [0.25, 0.5], "rule": "paper", "seed": 0}


def _fake_eval(rng: np.random.Generator, n_win: int = 3) -> BssEval:
    vals = rng.normal(5, 2, size=(4, 2, n_win))
    vals[:, :, 1] = np.nan  # a silent window
    vals[2, 0, 0] = np.inf  # museval stores +inf as NaN
    return BssEval(
        sdr=vals[0],
        isr=vals[1],
        sir=vals[2],
        sar=vals[3],
        window_starts=np.arange(n_win, dtype=float),
        win_seconds=1.0,
        hop_seconds=1.0,
        sr=8000,
    )


def test_round_trip_json_and_tidy(tmp_path, rng):
    run = create_run(tmp_path / "run", CONFIG)
    res = {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)}
    path = run.write_track("song.one", "dnn", res)
    assert path.name == "song.one.dnn.json"
    reopened = open_run(tmp_path / "run")
    assert reopened.config["methods"] == ["dnn", "oracle"]
    assert reopened.config["format"] == "genex-results"
    assert reopened.finished() == [("song.one", "dnn")]

    df = reopened.tidy()
    assert tuple(df.columns) == TIDY_COLUMNS
    assert len(df) == 2 * 2 * 4 * 3  # alphas x targets x metrics x windows
    assert set(df["target"]) == {"vocals", "accompaniment"}
    row = df[(df.alpha == 0.5) & (df.target == "accompaniment") & (df.metric == "SAR")]
    np.testing.assert_allclose(
        row.sort_values("window")["value"], res[0.5].sar[1], atol=1e-5, equal_nan=True
    )
    sir = df[(df.alpha == 0.25) & (df.target == "vocals") & (df.metric == "SIR") & (df.window == 0)]
    assert math.isnan(sir["value"].item())  # +inf stored as NaN (museval's convention)
    # the table is written once, when the run ends; before that it is built from the JSON files
    assert not (tmp_path / "run" / "metrics.parquet").exists()
    written = reopened.write_tidy()
    assert written == tmp_path / "run" / "metrics.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(written), df)
    pd.testing.assert_frame_equal(tidy(tmp_path / "run"), df)


def test_a_stale_table_is_not_served(tmp_path, rng):
    run = create_run(tmp_path, CONFIG)
    run.write_track("a", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    run.write_tidy()
    run.write_track("b", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    # the written table lacks track b: tidy() rebuilds from the JSON files instead
    assert set(pd.read_parquet(tmp_path / "metrics.parquet")["track"]) == {"a"}
    assert set(run.tidy()["track"]) == {"a", "b"}


def test_document_is_museval_schema_and_json2df_readable(tmp_path, rng):
    run = create_run(tmp_path, CONFIG)
    run.write_track("t", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    doc = json.loads((tmp_path / "t.dnn.json").read_text())
    assert doc["alphas"] == [0.25, 0.5]
    frame = doc["targets"][0]["frames"][0]
    assert set(frame) == {"time", "duration", "metrics"}
    assert set(frame["metrics"]) == {"SDR", "SIR", "SAR", "ISR"}
    flat = pd.json_normalize(doc["targets"], ["frames"], ["name", "alpha"])
    assert set(flat["alpha"]) == {0.25, 0.5}

    plain = museval_document(run, "t", "dnn", 0.5)
    assert [t["name"] for t in plain["targets"]] == ["vocals", "accompaniment"]
    import jsonschema

    from core.evaluation.bss import _import_museval

    museval = _import_museval()
    schema = json.loads((Path(museval.__path__[0]) / "musdb.schema.json").read_text())
    jsonschema.validate(doc, schema)
    jsonschema.validate(plain, schema)
    df = museval.aggregate.json2df(plain, "t")
    assert len(df) == 2 * 4 * 3

    files = export_museval(run, tmp_path / "export")
    assert (tmp_path / "export" / "dnn" / "alpha-0.50" / "test" / "t.json") in files
    store = museval.MethodStore()
    store.add_eval_dir(tmp_path / "export" / "dnn" / "alpha-0.50")
    assert set(store.df["track"]) == {"t"}


def test_summary_median_then_iqr_over_tracks():
    rows = []
    per_track = {"a": [1.0, 3.0, np.nan], "b": [5.0, 5.0, 5.0], "c": [9.0, 11.0, 10.0]}
    for track, vals in per_track.items():
        for w, v in enumerate(vals):
            rows.append((track, "dnn", 0.5, "vocals", "SDR", w, float(w), v))
    df = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    s = summary(df)
    assert len(s) == 1
    r = s.iloc[0]
    # per-track medians 2, 5, 10 -> median 5, IQR 3.5 .. 7.5
    assert r["median"] == 5.0 and r["q25"] == 3.5 and r["q75"] == 7.5 and r["n_tracks"] == 3
    assert summary(df.iloc[:0]).empty
    assert per_track_medians(df)["value"].tolist() == [2.0, 5.0, 10.0]  # NaN window ignored

    one = track_summary(df, "c")  # quartiles over the windows of one track
    assert one[["median", "q25", "q75", "n_windows"]].iloc[0].tolist() == [10.0, 9.5, 10.5, 3]
    assert track_summary(df, "a")["n_windows"].item() == 2


def test_sir_sar_means_are_means_over_tracks_of_per_track_medians():
    rows = []
    values = {("a", "SIR"): [1.0, 3.0], ("a", "SAR"): [10.0, 10.0],
              ("b", "SIR"): [5.0, 5.0], ("b", "SAR"): [np.nan, 20.0],
              ("c", "SIR"): [7.0, 7.0], ("c", "SAR"): [np.nan, np.nan]}  # fmt: skip
    for (track, metric), vals in values.items():
        for w, v in enumerate(vals):
            rows.append((track, "dnn", 0.5, "vocals", metric, w, float(w), v))
    df = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    means = sir_sar_means(df, target="vocals")
    # track c has no SAR at all: left out; a: (2, 10), b: (5, 20)
    assert means[["SIR", "SAR", "n"]].iloc[0].tolist() == [3.5, 15.0, 2]
    assert sir_sar_means(df, target="accompaniment").empty


def test_describe_names_the_best_alpha_and_refuses_unknown_metrics(tmp_path, rng):
    run = create_run(tmp_path, CONFIG)
    assert "no finished tracks" in describe(run)
    run.write_track("a", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    s = run.summary()
    best = s[(s.metric == "SAR") & (s.target == "vocals")].sort_values("median").iloc[-1]
    text = describe(run, metric="SAR")
    assert f"best median SAR {best['median']:6.2f} dB at α={best['alpha']:.2f}" in text
    with pytest.raises(InvalidConfigError, match="metric must be one of SDR, SIR, SAR, ISR"):
        describe(run, metric="PESQ")


def test_resume_keeps_finished_and_config_mismatch_errors(tmp_path, rng):
    run = create_run(tmp_path, CONFIG)
    run.write_track("a", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    again = create_run(tmp_path, {**CONFIG, "created": "later"})
    assert again.is_done("a", "dnn") and not again.is_done("a", "oracle")
    with pytest.raises(ResultsError, match="different configuration.*alphas"):
        create_run(tmp_path, {**CONFIG, "alphas": [0.1]})
    fresh = create_run(tmp_path, {**CONFIG, "alphas": [0.1]}, overwrite=True)
    assert fresh.finished() == []
    assert open_run(tmp_path).config["alphas"] == [0.1]


def test_crash_leftovers_do_not_break_the_run(tmp_path, rng):
    run = create_run(tmp_path, CONFIG)
    run.write_track("a", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    # a crash mid-write leaves only a hidden temp file (atomic writes), or a stale table
    (tmp_path / ".b.dnn.json.123.tmp").write_text('{"targets": [')
    (tmp_path / "metrics.parquet").write_bytes(b"garbage")
    assert run.finished() == [("a", "dnn")]
    df = open_run(tmp_path).tidy()  # rebuilt from the JSON files
    assert set(df["track"]) == {"a"}
    # a truncated (non-atomic) file from another tool is ignored, not fatal
    (tmp_path / "c.dnn.json").write_text('{"targets": [')
    assert not run.is_done("c", "dnn")


def test_atomic_write_leaves_old_file_on_failure(tmp_path, rng, monkeypatch):
    run = create_run(tmp_path, CONFIG)
    run.write_track("a", "dnn", {0.5: _fake_eval(rng)})
    before = (tmp_path / "a.dnn.json").read_text()
    import core.evaluation.results as results

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(results.json, "dumps", boom)
    with pytest.raises(OSError):
        run.write_track("a", "dnn", {0.5: _fake_eval(rng)})
    assert (tmp_path / "a.dnn.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda p: None, "not a folder"),
        (lambda p: p.mkdir(), "no config.json"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text("{oops")), "not valid JSON"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text('{"a": 1}')), "not a GenEx"),
    ],
)
def test_open_run_on_non_runs(tmp_path, setup, match):
    p = tmp_path / "x"
    setup(p)
    with pytest.raises(ResultsError, match=f"not a results run: .*{match}"):
        open_run(p)
    assert issubclass(ResultsError, CoreError)


def test_create_run_refuses_foreign_nonempty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ResultsError, match="not empty"):
        create_run(tmp_path, CONFIG)
    assert (tmp_path / "notes.txt").is_file()


# ----------------------------------------------------------------------- a run being written


def test_status_counts_expected_results_corrupt_files_and_failures(tmp_path, rng):
    run = create_run(tmp_path, {**CONFIG, "tracks": ["a", "b"]})
    st = run.status()
    assert (st.done, st.expected, st.corrupt, st.failures) == (0, 4, (), ())
    assert not st.writing and not st.complete
    assert st.headline().startswith("0 of 4 track×method files complete, not being written")
    run.write_track("a", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    run.write_track("a", "oracle", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    (tmp_path / "b.dnn.json").write_text('{"targets": [{"name": "vocals", "fra')  # truncated
    run.write_failures(["b (oracle): InvalidAudioError: silent vocals"])
    st = run.status()
    assert st.done == 2 and st.corrupt == ("b.dnn.json",)
    assert st.failures == ("b (oracle): InvalidAudioError: silent vocals",)
    text = describe(run)
    assert "2 of 4 track×method files complete" in text
    assert "b.dnn.json is corrupt" in text and "failed: b (oracle): InvalidAudioError" in text
    # a run with nothing finished yet still says how far it is
    empty = create_run(tmp_path / "empty", {**CONFIG, "tracks": ["a"]})
    assert "0 of 2 track×method files complete" in describe(empty)


def test_a_corrupt_file_is_named_when_read(tmp_path, rng):
    run = create_run(tmp_path, CONFIG)
    run.write_track("a", "dnn", {0.5: _fake_eval(rng)})
    (tmp_path / "b.dnn.json").write_text("{not json")
    (tmp_path / "c.dnn.json").write_text('{"targets": [{"name": "vocals", "frames": [{}]}]}')
    for name in ("b", "c"):
        with pytest.raises(ResultsError, match=f"malformed results file .*{name}.dnn.json"):
            read_track_table(tmp_path / f"{name}.dnn.json", track=name, method="dnn")
    assert [t for t, _, _ in run.track_files()] == ["a", "b", "c"]
    assert set(run.tidy()["track"]) == {"a"}  # left out of the table, not fatal


def test_writer_pid_is_the_live_lock_holder(tmp_path, rng):
    run = create_run(tmp_path, CONFIG)
    assert run.writer_pid() is None and not run.status().writing
    with output_lock(tmp_path):
        assert run.writer_pid() == os.getpid()
        st = run.status()
        assert st.writing and f"being written now (pid {os.getpid()})" in st.headline()
        assert f"pid {os.getpid()}" in describe(run)
    assert run.writer_pid() is None  # the lock file is gone
    # a killed run leaves its lock file with a pid that no longer runs (or is a zombie)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    stat = Path(f"/proc/{proc.pid}/stat")
    while stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (tmp_path / ".genex.lock").write_text(str(proc.pid))
    assert run.writer_pid() is None  # a zombie, not reaped yet
    proc.wait()
    assert run.writer_pid() is None  # gone
    (tmp_path / ".genex.lock").write_text("")
    assert run.writer_pid() is None


def test_write_tidy_on_resume_keeps_old_rows_and_equals_a_full_rebuild(tmp_path, rng, monkeypatch):
    run = create_run(tmp_path, CONFIG)
    for track in ("a", "b"):
        run.write_track(track, "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    run.write_tidy()
    # resume: two new files, one of them sorting between the old ones
    run.write_track("ab", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    run.write_track("c", "oracle", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    parsed = []
    real = results.read_track_columns

    def spy(path, **kwargs):
        parsed.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(results, "read_track_columns", spy)
    run.write_tidy()
    assert sorted(parsed) == ["ab.dnn.json", "c.oracle.json"]  # old rows reused
    monkeypatch.setattr(results, "read_track_columns", real)
    stored = pd.read_parquet(tmp_path / "metrics.parquet")
    pd.testing.assert_frame_equal(stored, run._tidy_from_json())
    # a file rewritten after the table (e.g. redone after corruption) is read again
    time.sleep(0.01)
    run.write_track("a", "dnn", {0.25: _fake_eval(rng), 0.5: _fake_eval(rng)})
    run.write_tidy()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "metrics.parquet"), run._tidy_from_json()
    )


@pytest.mark.slow
def test_evaluate_writes_the_tidy_table_once_at_the_end(tmp_path, rng, monkeypatch):
    from core.evaluation.sweep import evaluate_tracks
    from tests.test_evaluate import _make_corpus

    corpus = _make_corpus(tmp_path / "corpus", rng, n=3, seconds=1.0)
    calls, seen = [], []
    real = results.ResultsRun.write_tidy

    def counting(self):
        calls.append(len(self.finished()))
        return real(self)

    monkeypatch.setattr(results.ResultsRun, "write_tidy", counting)
    out = tmp_path / "run"

    def progress(event):
        if event.stage == "track":
            seen.append((event.done, (out / "metrics.parquet").exists()))

    tracks = sorted(p for p in corpus.iterdir())
    evaluate_tracks(tracks, methods=["oracle"], alphas=[0.25, 0.75], out=out, progress=progress)
    assert calls == [3]  # one table, with every track, written after the last one
    assert seen == [(1, False), (2, False), (3, False)]
    # resume (nothing left to do): the table is rebuilt once more, from the same files
    before = pd.read_parquet(out / "metrics.parquet")
    evaluate_tracks(tracks, methods=["oracle"], alphas=[0.25, 0.75], out=out)
    assert calls == [3, 3]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "metrics.parquet"), before)
