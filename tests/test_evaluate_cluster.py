"""``genex evaluate --workers N`` / ``--scheduler``: in-process tables, failures, a dead worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.errors import InvalidConfigError
from core.evaluation.cluster import check_cluster_options
from core.evaluation.results import describe, open_run
from core.evaluation.sweep import evaluate_tracks
from core.karaoke.separate import probability_mask
from tests.test_evaluate import _make_corpus

pytest.importorskip("distributed")

METHODS = "oracle,oracle-irm"
ALPHAS = "0.25,0.5,0.75"


_CRASH_MARKER = "GENEX_TEST_CRASH_MARKER"


def _crash_once(mixture, sr, **kwargs):
    """probability_mask, but the first call anywhere kills its worker process (no cleanup)."""
    marker = Path(os.environ[_CRASH_MARKER])
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return probability_mask(mixture, sr, **kwargs)


def _tidy(run: Path) -> pd.DataFrame:
    df = open_run(run).tidy()
    return df.sort_values(["track", "method", "alpha", "target", "metric", "window"]).reset_index(
        drop=True
    )


def _evaluate(corpus: Path, out: Path, *extra: str) -> int:
    return main(
        ["evaluate", "--data", str(corpus), "--methods", METHODS, "--alphas", ALPHAS,
         "--out", str(out), "--quiet", *extra]
    )  # fmt: skip


def test_cluster_options_are_checked_before_any_work(tmp_path):
    assert check_cluster_options() is False
    assert check_cluster_options(workers=2) is True
    assert check_cluster_options(scheduler="tcp://127.0.0.1:8786") is True
    for kwargs, match in (
        ({"workers": 0}, "positive integer"),
        ({"workers": True}, "positive integer"),
        ({"scheduler": "localhost"}, "tcp://HOST:PORT"),
        ({"workers": 2, "scheduler": "tcp://h:1"}, "not both"),
    ):
        with pytest.raises(InvalidConfigError, match=match):
            check_cluster_options(**kwargs)
    with pytest.raises(InvalidConfigError, match="--workers"):
        evaluate_tracks([tmp_path / "x"], methods=["oracle"], alphas=[0.5], out=tmp_path / "r",
                        workers=-1)  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_two_local_workers_give_the_in_process_table(tmp_path, rng, capsys, monkeypatch):
    corpus = _make_corpus(tmp_path / "data", rng, n=3, seconds=1.5)
    # song2 cannot be read: its tasks are recorded as failed, the others complete, exit 1
    mixture = (corpus / "song2" / "mixture.wav").read_bytes()
    (corpus / "song2" / "mixture.wav").write_bytes(b"not a wav file")
    dask_run = tmp_path / "dask"
    assert _evaluate(corpus, dask_run, "--workers", "2") == 2  # a CoreError exit
    err = capsys.readouterr().err
    assert "2 of 6 track x method task(s) failed" in err
    assert "song2 (oracle): InvalidAudioError" in err and "song2 (oracle-irm)" in err
    assert "failed: song2 (oracle): InvalidAudioError" in describe(open_run(dask_run))
    assert sorted(p.name for p in dask_run.glob("song*.json")) == sorted(
        f"song{i}.{m}.json" for i in (0, 1) for m in ("oracle", "oracle-irm")
    )
    kept = (dask_run / "song0.oracle.json").stat().st_mtime_ns
    # repaired: the re-run resumes (only song2's two tasks run) and completes, although the
    # first of them kills its worker (Dask restarts the worker and re-runs the task)
    (corpus / "song2" / "mixture.wav").write_bytes(mixture)
    monkeypatch.setenv(_CRASH_MARKER, str(tmp_path / "crashed"))
    evaluate_tracks(
        [corpus / f"song{i}" for i in range(3)], methods=METHODS.split(","),
        alphas=[0.25, 0.5, 0.75], out=dask_run, data=corpus, workers=2, mask_fn=_crash_once,
    )  # fmt: skip
    assert (tmp_path / "crashed").is_file()
    assert open_run(dask_run).failures() == []
    assert (dask_run / "song0.oracle.json").stat().st_mtime_ns == kept
    assert _evaluate(corpus, tmp_path / "local") == 0
    assert sorted(p.name for p in dask_run.glob("song*.json")) == sorted(
        p.name for p in (tmp_path / "local").glob("song*.json")
    )
    pd.testing.assert_frame_equal(_tidy(dask_run), _tidy(tmp_path / "local"))
    assert (dask_run / "metrics.parquet").is_file()


def test_failures_are_recorded_in_the_run_until_they_succeed(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng, n=2, seconds=1.0)
    mixture = (corpus / "song1" / "mixture.wav").read_bytes()
    (corpus / "song1" / "mixture.wav").write_bytes(b"garbage")
    assert _evaluate(corpus, tmp_path / "run") == 2
    run = open_run(tmp_path / "run")
    assert len(run.failures()) == 1 and run.failures()[0].startswith("song1: ")
    assert "failed: song1: " in describe(run) and "2 of 4 track×method files" in describe(run)
    (corpus / "song1" / "mixture.wav").write_bytes(mixture)
    assert _evaluate(corpus, tmp_path / "run") == 0
    assert open_run(tmp_path / "run").failures() == []
    assert "failed" not in describe(open_run(tmp_path / "run"))


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ))


def test_an_existing_scheduler_over_tcp_gives_the_in_process_table(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng, n=2, seconds=1.0)
    assert _evaluate(corpus, tmp_path / "local") == 0
    dask = [str(Path(sys.executable).with_name("dask"))]
    info = tmp_path / "scheduler.json"
    procs = [
        _start(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(info)],
            tmp_path / "scheduler.log",
        )  # fmt: skip
    ]
    try:
        deadline = time.monotonic() + 20
        while not info.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        procs.append(
            _start(
                [*dask, "worker", "--scheduler-file", str(info), "--nworkers", "1",
                 "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                tmp_path / "worker.log",
            )  # fmt: skip
        )
        from distributed import Client

        with Client(address, timeout="20s") as client:
            client.wait_for_workers(1, timeout=20)
        assert address.startswith("tcp://127.0.0.1:")
        assert _evaluate(corpus, tmp_path / "tcp", "--scheduler", address) == 0
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
    pd.testing.assert_frame_equal(_tidy(tmp_path / "tcp"), _tidy(tmp_path / "local"))
    assert np.isfinite(_tidy(tmp_path / "tcp")["value"]).any()
