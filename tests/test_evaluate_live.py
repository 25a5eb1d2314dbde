"""Issue 12 item 5/6: a run's failures are on disk while it is still being written.

``failures.meta.json`` is rewritten (atomically) as each failure arrives, so the Metrics page's
live view and ``genex results`` list them during the run; a new attempt starts with an empty
record (its failed tasks are being retried), in process and on a cluster.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import core.evaluation.sweep as sweep
from core.errors import InvalidAudioError, ResultsError
from core.evaluation.results import open_run
from core.evaluation.sweep import evaluate_tracks
from tests.test_evaluate import _make_corpus


class _Watcher:
    """Injected method: fails on ``bad`` tracks; records the run's failures at every call."""

    def __init__(self, out, bad: set[int]) -> None:
        self.out = out
        self.bad = bad
        self.seen: list[list[str]] = []  # failures on disk when each track's mask starts

    def mask_fn(self, mixture, sr, *, method, references, checkpoint):
        self.seen.append(open_run(self.out).failures())
        if len(self.seen) - 1 in self.bad:
            raise InvalidAudioError(f"simulated bad track {len(self.seen) - 1}")
        return SimpleNamespace(mixture=mixture)

    @staticmethod
    def separate_fn(result, *, alpha, rule):
        mix = result.mixture
        return np.stack([alpha * mix, (1 - alpha) * mix + 1e-3])


def test_failures_are_recorded_as_they_arrive_in_process(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng, n=3, seconds=1.0)
    out = tmp_path / "run"
    tracks = sorted(corpus.iterdir())
    first = _Watcher(out, bad={0, 1})
    with pytest.raises(ResultsError, match="2 of 3 track"):
        evaluate_tracks(
            tracks, methods=["dnn"], alphas=[0.5], out=out, mask_fn=first.mask_fn,
            separate_fn=first.separate_fn, win_seconds=0.5, hop_seconds=0.5,
        )  # fmt: skip
    # before song1's mask: song0's failure is already on disk; before song2's: both
    assert first.seen[0] == []
    assert len(first.seen[1]) == 1 and first.seen[1][0].startswith("song0: ")
    assert "simulated bad track 0" in first.seen[1][0]
    assert [f.split(":")[0] for f in first.seen[2]] == ["song0", "song1"]
    assert [f.split(":")[0] for f in open_run(out).failures()] == ["song0", "song1"]
    status = open_run(out).status()
    assert status.done == 1 and len(status.failures) == 2

    # a new attempt retries the failed tracks with an empty record, and succeeds
    second = _Watcher(out, bad=set())
    evaluate_tracks(
        tracks, methods=["dnn"], alphas=[0.5], out=out, mask_fn=second.mask_fn,
        separate_fn=second.separate_fn, win_seconds=0.5, hop_seconds=0.5,
    )  # fmt: skip
    assert second.seen == [[], []]  # song0 and song1 only (song2 is done)
    assert open_run(out).failures() == [] and open_run(out).status().done == 3


def test_cluster_failures_are_recorded_as_they_arrive(tmp_path, rng, monkeypatch):
    corpus = _make_corpus(tmp_path / "data", rng, n=2, seconds=1.0)
    out = tmp_path / "run"
    on_disk: list[list[str]] = []

    def fake_run_tasks(fn, calls, *, on_done, on_error, workers, scheduler):
        # what the Dask client does: the first task fails, the second succeeds
        on_disk.append(open_run(out).failures())
        on_error(calls[0][0], InvalidAudioError("simulated worker error"))
        on_disk.append(open_run(out).failures())
        key, kwargs = calls[1]
        on_done(key, fn(**kwargs))
        on_disk.append(open_run(out).failures())

    monkeypatch.setattr(sweep, "run_tasks", fake_run_tasks)
    with pytest.raises(ResultsError, match="1 of 2 track x method task"):
        evaluate_tracks(
            sorted(corpus.iterdir()), methods=["oracle-irm"], alphas=[0.5], out=out,
            workers=2, win_seconds=0.5, hop_seconds=0.5,
        )  # fmt: skip
    expected = ["song0 (oracle-irm): InvalidAudioError: simulated worker error"]
    assert on_disk == [[], expected, expected]
    assert open_run(out).failures() == expected
