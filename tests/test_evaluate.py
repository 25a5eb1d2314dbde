"""evaluate_tracks and ``genex evaluate`` on a tiny fake corpus (oracle or injected methods)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import core.evaluation.results as results
from core.cli import main
from core.errors import InvalidConfigError, ResultsError
from core.evaluation.bss import bss_eval
from core.evaluation.results import file_sha256, open_run
from core.evaluation.sweep import evaluate_tracks, parse_alphas, parse_methods, track_name
from core.karaoke.methods import METHODS
from core.karaoke.tracks import Track, load_track
from core.types import ProgressEvent

SR = 8000


def _make_corpus(root: Path, rng: np.random.Generator, n: int = 2, seconds: float = 2.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    for i in range(n):
        folder = root / f"song{i}"
        folder.mkdir(parents=True)
        voc = 0.3 * np.sin(2 * np.pi * (300 + 50 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        acc = 0.2 * np.sign(np.sin(2 * np.pi * 110 * t)) + 0.02 * rng.standard_normal(t.size)
        voc = voc + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / "vocals.wav", voc.astype(np.float32), SR, subtype="FLOAT")
        sf.write(folder / "accompaniment.wav", acc.astype(np.float32), SR, subtype="FLOAT")
        sf.write(folder / "mixture.wav", (voc + acc).astype(np.float32), SR, subtype="FLOAT")
    return root


class _FakeMethods:
    """Injected separation: the estimate at α leaks (1-α) of the other source into each stem."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[int, str]] = []
        self.fail_on = fail_on

    def mask_fn(self, mixture, sr, *, method, references, checkpoint):
        self.calls.append((mixture.shape[-1], method))
        if self.fail_on is not None and len(self.calls) > 1:
            raise RuntimeError("simulated crash")
        return SimpleNamespace(mixture=mixture, sr=sr, method=method)

    @staticmethod
    def separate_fn(result, *, alpha, rule):
        mix = result.mixture
        # a fake "method": scaled mixture, different per alpha
        return np.stack([alpha * mix, (1 - alpha) * mix + 1e-3])


def test_parse_alphas():
    grid = parse_alphas("0.05:0.95:0.05")
    assert len(grid) == 19 and grid[0] == 0.05 and grid[-1] == 0.95 and grid[9] == 0.5
    assert parse_alphas("0.5, 0.25, 0.5") == [0.25, 0.5]
    assert parse_alphas([1, 0]) == [0.0, 1.0]  # both ends are valid thresholds


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("0:1:0", "step must be positive"),
        ("a:b:c", "start:stop:step"),
        ("0.1:0.2", "start:stop:step"),
        ("0.9:0.1:0.1", "empty"),
        ("1.5", r"α must be in \[0, 1\], got 1.5"),
        ("nan", "α must be in"),
        ("", "empty"),
    ],
)
def test_parse_alphas_errors(spec, match):
    with pytest.raises(InvalidConfigError, match=match):
        parse_alphas(spec)


def test_parse_methods_reads_the_registry():
    assert parse_methods("dnn, oracle,dnn") == ["dnn", "oracle"]
    assert parse_methods(METHODS) == list(METHODS)
    with pytest.raises(InvalidConfigError, match="unknown method.*magic.*oracle-irm"):
        parse_methods("dnn,magic")
    with pytest.raises(InvalidConfigError, match="empty"):
        parse_methods(" , ")


def test_track_names(tmp_path):
    assert track_name(tmp_path / "song.stem.mp4") == "song"
    assert track_name(str(tmp_path / "a b")) == "a b"
    mix = np.zeros((1, 8), np.float32)
    assert track_name(Track("mem", SR, mix, None, None)) == "mem"


def test_bad_requests_fail_before_any_work(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng, n=1)
    fake = _FakeMethods()
    kwargs = dict(methods=["dnn"], alphas=[0.5], out=tmp_path / "run", mask_fn=fake.mask_fn)
    with pytest.raises(InvalidConfigError, match="rule must be one of paper"):
        evaluate_tracks([corpus / "song0"], rule="hard", **kwargs)
    with pytest.raises(InvalidConfigError, match="no tracks"):
        evaluate_tracks([], **kwargs)
    with pytest.raises(InvalidConfigError, match="not unique"):
        evaluate_tracks([corpus / "song0", corpus / "song0"], **kwargs)
    assert fake.calls == [] and not (tmp_path / "run").exists()
    mix = np.zeros((1, SR), np.float32)
    # a track that cannot be scored is skipped and reported at the end (issue 10)
    with pytest.raises(ResultsError, match="1 of 1 track.*solo: .*no reference stems"):
        evaluate_tracks([Track("solo", SR, mix, None, None)], **kwargs)


def test_evaluate_with_injected_method_matches_bss_eval(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng)
    fake = _FakeMethods()
    tracks = sorted(corpus.iterdir())
    run = evaluate_tracks(
        tracks,
        methods=["dnn"],
        alphas=[0.3, 0.7],
        out=tmp_path / "run",
        checkpoint=None,
        mask_fn=fake.mask_fn,
        separate_fn=fake.separate_fn,
    )
    assert run.finished() == [("song0", "dnn"), ("song1", "dnn")]
    df = run.tidy()
    assert sorted(df["alpha"].unique()) == [0.3, 0.7]
    # the stored numbers are bss_eval's, to museval's 1e-5 quantisation
    tr = load_track(tracks[0])
    est = fake.separate_fn(SimpleNamespace(mixture=tr.mixture), alpha=0.3, rule="paper")
    ref = bss_eval(tr.references, est, sr=SR)
    sel = (df.track == "song0") & (df.alpha == 0.3) & (df.target == "vocals")
    got = df[sel & (df.metric == "SIR")]
    np.testing.assert_allclose(got.sort_values("window")["value"], ref.sir[0], atol=1e-5)


def _count_table_writes(monkeypatch) -> list[str]:
    """Record every atomic write of the tidy table (``metrics.parquet``)."""
    writes: list[str] = []
    real = results.atomic_write_bytes

    def counting(path, data):
        writes.append(path.name)
        return real(path, data)

    monkeypatch.setattr(results, "atomic_write_bytes", counting)
    return writes


def test_the_tidy_table_is_written_once_per_run(tmp_path, rng, monkeypatch):
    corpus = _make_corpus(tmp_path / "data", rng, n=3)
    writes = _count_table_writes(monkeypatch)
    fake = _FakeMethods()
    events: list[ProgressEvent] = []
    run = evaluate_tracks(
        sorted(corpus.iterdir()), methods=["dnn", "oracle"], alphas=[0.25, 0.5, 0.75],
        out=tmp_path / "run", mask_fn=fake.mask_fn, separate_fn=fake.separate_fn,
        progress=events.append,
    )  # fmt: skip
    assert len(run.finished()) == 6
    assert writes == ["metrics.parquet"]  # not once per track x method
    table = pd.read_parquet(tmp_path / "run" / "metrics.parquet")
    assert len(table) == 3 * 2 * 3 * 2 * 4 * 2  # tracks, methods, α, targets, metrics, windows
    # one progress type: a track event per track, an α event per (track, method, α)
    tracks_done = [(e.done, e.total, e.message) for e in events if e.stage == "track"]
    assert tracks_done == [(1, 3, "song0"), (2, 3, "song1"), (3, 3, "song2")]
    alphas = [e for e in events if e.stage == "alpha"]
    assert len(alphas) == 3 * 2 * 3 and alphas[0].message == "song0 dnn α=0.25"
    assert [e.metrics["alpha"] for e in alphas[:3]] == [0.25, 0.5, 0.75]


def test_a_resumed_run_gives_the_table_of_an_uninterrupted_one(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng, n=3)
    tracks = sorted(corpus.iterdir())
    kwargs = dict(methods=["dnn", "oracle"], alphas=[0.3, 0.6])
    whole = _FakeMethods()
    evaluate_tracks(
        tracks, out=tmp_path / "whole", mask_fn=whole.mask_fn, separate_fn=whole.separate_fn,
        **kwargs,
    )  # fmt: skip
    crashing = _FakeMethods(fail_on="second")
    with pytest.raises(RuntimeError, match="simulated crash"):
        evaluate_tracks(
            tracks, out=tmp_path / "resumed", mask_fn=crashing.mask_fn,
            separate_fn=crashing.separate_fn, **kwargs,
        )  # fmt: skip
    assert not (tmp_path / "resumed" / "metrics.parquet").exists()
    again = _FakeMethods()
    evaluate_tracks(
        tracks, out=tmp_path / "resumed", mask_fn=again.mask_fn, separate_fn=again.separate_fn,
        **kwargs,
    )  # fmt: skip
    assert len(again.calls) == 3 * 2 - 1  # everything but the one finished track x method
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "resumed" / "metrics.parquet"),
        pd.read_parquet(tmp_path / "whole" / "metrics.parquet"),
    )


def test_resume_after_crash_skips_finished_tracks(tmp_path, rng):
    corpus = _make_corpus(tmp_path / "data", rng)
    tracks = sorted(corpus.iterdir())
    kwargs = dict(methods=["dnn"], alphas=[0.5], out=tmp_path / "run")
    crashing = _FakeMethods(fail_on="second")
    with pytest.raises(RuntimeError, match="simulated crash"):
        evaluate_tracks(
            tracks, mask_fn=crashing.mask_fn, separate_fn=crashing.separate_fn, **kwargs
        )
    run = open_run(tmp_path / "run")
    assert run.finished() == [("song0", "dnn")]  # the finished track is usable
    assert set(run.tidy()["track"]) == {"song0"}

    second = _FakeMethods()
    run = evaluate_tracks(tracks, mask_fn=second.mask_fn, separate_fn=second.separate_fn, **kwargs)
    assert [m for _, m in second.calls] == ["dnn"]  # only song1 was computed
    assert run.finished() == [("song0", "dnn"), ("song1", "dnn")]

    with pytest.raises(ResultsError, match="different configuration"):
        evaluate_tracks(
            tracks, mask_fn=second.mask_fn, separate_fn=second.separate_fn,
            **{**kwargs, "alphas": [0.25]},
        )


@pytest.mark.slow
def test_cli_evaluate_oracle_on_tiny_corpus(tmp_path, rng, capsys):
    corpus = _make_corpus(tmp_path / "data", rng)
    out = tmp_path / "run"
    argv = [
        "evaluate", "--data", str(corpus), "--methods", "oracle,oracle-irm",
        "--alphas", "0.25:0.75:0.25", "--out", str(out), "--quiet",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "best median SDR" in printed
    run = open_run(out)
    cfg = run.config
    assert cfg["methods"] == ["oracle", "oracle-irm"]
    assert cfg["alphas"] == [0.25, 0.5, 0.75]
    assert cfg["tracks"] == ["song0", "song1"]
    assert cfg["command"].startswith("genex evaluate --data ")
    assert cfg["code_version"] and cfg["created"] and cfg["stft"]["n_fft"] > 0
    df = run.tidy()
    assert len(df) == 2 * 2 * 3 * 2 * 4 * 2  # tracks, methods, alphas, targets, metrics, windows
    med = df[(df.method == "oracle-irm") & (df.metric == "SDR")]["value"].median()
    assert med > 5  # the oracle is a ceiling: clearly positive SDR on these easy tracks
    doc = json.loads((out / "song0.oracle.json").read_text())
    assert doc["track"] == "song0" and doc["method"] == "oracle" and doc["sr"] == SR

    # same command again: resumes, nothing to do, same numbers
    assert main(argv) == 0
    assert open_run(out).tidy().equals(df)
    # a different grid into the same folder is refused (exit code 2, message on stderr)
    assert main([*argv[:5], "--alphas", "0.5", "--out", str(out), "--quiet"]) == 2
    assert "different configuration" in capsys.readouterr().err
    assert main(["results", str(out)]) == 0
    assert main(["results", str(tmp_path / "data")]) == 2
    assert "not a results run" in capsys.readouterr().err


REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = REPO_ROOT / "assets" / "results" / "demo"


@pytest.mark.slow
def test_shipped_demo_results_are_reproduced(tmp_path):
    """Re-running evaluate on the first demo track reproduces the shipped numbers."""
    shipped = open_run(DEMO_RUN)  # a missing shipped run fails here, loudly
    cfg = shipped.config

    def repo_path(p):
        return None if p is None else (Path(p) if Path(p).is_absolute() else REPO_ROOT / p)

    for key in ("checkpoint", "nmf"):
        if cfg.get(key):
            assert file_sha256(repo_path(cfg[key])) == cfg[f"{key}_sha256"], (
                f"{cfg[key]} changed since the shipped results were made; re-run: {cfg['command']}"
            )
    track = cfg["tracks"][0]
    folder = repo_path(cfg["data"]) / track
    run = evaluate_tracks(
        [folder],
        methods=cfg["methods"],
        alphas=cfg["alphas"],
        out=tmp_path / "again",
        checkpoint=repo_path(cfg.get("checkpoint")),
        nmf=repo_path(cfg.get("nmf")),
        rule=cfg["rule"],
        win_seconds=cfg["win_seconds"],
        hop_seconds=cfg["hop_seconds"],
        max_seconds=cfg.get("max_seconds"),
    )
    keys = ["track", "method", "alpha", "target", "metric", "window"]
    new = run.tidy().set_index(keys).sort_index()
    old = shipped.tidy()
    old = old[old["track"] == track].set_index(keys).sort_index()
    assert new.index.equals(old.index)
    np.testing.assert_allclose(new["value"], old["value"], atol=2e-4, equal_nan=True)
