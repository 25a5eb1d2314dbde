"""Fast end to end (issue 12 item 3): the same numbers with fewer imports and batched α.

- ``genex evaluate`` with the DNN and the oracles imports neither torch nor librosa (nor numba,
  ``scipy.signal``, museval, Dask or pandas: the table is written with pyarrow alone): checked
  in a fresh process;
- the numpy STFT and the soxr resampling equal librosa's to the bit;
- :meth:`SweepEngine.evaluate_many` equals :meth:`SweepEngine.evaluate` on each estimate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.evaluation.bss import MAX_BATCH, SweepEngine
from core.evaluation.sweep import EvalOptions, evaluate_task
from core.signal.audio import resample
from core.signal.stft import StftConfig, _window64, stft
from tests.test_evaluate import SR, _make_corpus

REPO_ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "librosa", "numba", "scipy.signal", "museval", "distributed", "pandas")


def test_evaluate_dnn_and_oracles_imports_no_heavy_library(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng, n=1, seconds=1.0)
    code = (
        "import json, sys\n"
        "from core.cli import main\n"
        f"code = main(['evaluate', '--data', {str(corpus)!r}, '--methods', 'dnn,oracle',"
        f" '--alphas', '0.3,0.7', '--out', {str(tmp_path / 'run')!r}, '--quiet'])\n"
        f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    exit_code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert exit_code == 0
    assert loaded == []
    assert (tmp_path / "run" / "metrics.parquet").is_file()


@pytest.mark.parametrize(
    "config",
    [
        StftConfig(),
        StftConfig(1024, 256),
        StftConfig(882, 220),
        StftConfig(512, 128, "hamming"),
        StftConfig(2048, 512, "hann", False),
    ],  # fmt: skip
)
def test_stft_equals_librosa_to_the_bit(config, rng):
    librosa = pytest.importorskip("librosa")
    y = (0.3 * rng.standard_normal((2, 3 * 4410 + 17))).astype(np.float32)
    ours = stft(y, config)
    theirs = librosa.stft(
        y, n_fft=config.n_fft, hop_length=config.hop_length, window=config.window,
        center=config.center,
    ).astype(np.complex64)  # fmt: skip
    assert ours.shape == theirs.shape and ours.dtype == np.complex64
    np.testing.assert_array_equal(ours, theirs)
    assert ours.transpose(0, 2, 1).flags.c_contiguous  # frames-major without a copy


def test_hann_window_equals_scipy_to_the_bit():
    import scipy.signal

    for n in (16, 882, 1024, 2048):
        np.testing.assert_array_equal(
            _window64("hann", n), scipy.signal.get_window("hann", n, fftbins=True)
        )


@pytest.mark.parametrize(("orig", "target"), [(44100, 22050), (48000, 22050), (8000, 22050)])
def test_resample_equals_librosa_soxr_hq_to_the_bit(orig, target, rng):
    librosa = pytest.importorskip("librosa")
    y = (0.3 * rng.standard_normal((2, orig // 4 + 7))).astype(np.float32)
    ours = resample(y, orig_sr=orig, target_sr=target)
    theirs = librosa.resample(y, orig_sr=orig, target_sr=target, res_type="soxr_hq", axis=-1)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(("win", "hop"), [(0.5, 0.5), (0.5, 0.25)])
def test_evaluate_many_equals_evaluate_on_each_estimate(rng, win, hop):
    n = 2 * SR + 123
    refs = rng.standard_normal((2, 2, n))
    estimates = [refs * (1 - a) + a * refs[::-1] + 0.1 * rng.standard_normal(refs.shape)
                 for a in (0.1, 0.4, 0.7)]  # fmt: skip
    estimates[1][0, :, : SR // 2] = 0.0  # a silent window in one estimate only
    engine = SweepEngine(refs, sr=SR, win_seconds=win, hop_seconds=hop)
    together = engine.evaluate_many(estimates)
    assert len(together) == 3 and engine.evaluate_many([]) == []
    for est, many in zip(estimates, together, strict=True):
        one = engine.evaluate(est)
        for m in ("sdr", "isr", "sir", "sar"):
            x, y = getattr(many, m), getattr(one, m)
            assert np.array_equal(np.isnan(x), np.isnan(y))
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-9, equal_nan=True)
    assert np.isnan(together[1].sdr[:, 0]).all() and np.isfinite(together[0].sdr[:, 0]).all()
    assert 1 <= engine.batch_size() <= MAX_BATCH
    assert engine.batch_size(budget_bytes=1) == 1
    assert engine.setup_seconds > 0


def test_one_options_object_serves_a_cluster_task(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng, n=1, seconds=1.0)
    options = EvalOptions(
        alphas=(0.25, 0.75), rule="paper", models={}, win_seconds=0.5, hop_seconds=0.5
    )
    results, extra = evaluate_task(corpus / "song0", "oracle-irm", options)
    assert list(results) == [0.25, 0.75]
    assert results[0.25].sdr.shape == (2, 2)
    timing = extra["timing"]
    assert set(timing) >= {
        "mask_seconds", "stems_seconds", "sweep_seconds", "engine_setup_seconds",
        "engine_wait_seconds",
    }  # fmt: skip
    with pytest.raises(AttributeError):
        options.rule = "soft"  # type: ignore[misc]  # frozen


@pytest.mark.parametrize("threads", ["1", "2"])
def test_stems_are_made_one_chunk_ahead_in_order(monkeypatch, threads):
    import threading

    from core.evaluation.sweep import _ahead

    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    where = []

    def fn(x):
        where.append(threading.current_thread() is threading.main_thread())
        if x == "boom":
            raise ValueError("boom")
        return x * 2

    with _ahead(fn, [1, 2, 3]) as results:
        assert list(results) == [2, 4, 6]
    # one thread: inline, in the caller's thread; more: in a second thread
    assert where == [threads == "1"] * 3
    with pytest.raises(ValueError, match="boom"), _ahead(fn, [1, "boom", 3]) as results:
        list(results)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_the_engine_is_set_up_while_the_mask_is_computed(monkeypatch, threads):
    import threading

    from core.errors import DatasetError
    from core.evaluation.sweep import _soon
    from core.karaoke.tracks import Track

    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    refs = np.zeros((2, 1, 8), np.float32)
    track = Track("t", SR, refs.sum(0), refs, None)
    where = []

    def build(track, name, extra):
        where.append(threading.current_thread() is threading.main_thread())
        return (name, extra)

    with _soon(build, track, "t", 7) as get:
        assert get() == ("t", 7) and get() == ("t", 7)
    assert where == [threads == "1"]  # once; in a second thread when there are CPUs for it
    no_stems = Track("solo", SR, refs.sum(0), None, None)  # no references
    with pytest.raises(DatasetError, match="solo.*no reference stems"):
        _soon(build, no_stems, "solo", 7)  # at once, before any work
    assert len(where) == 1
