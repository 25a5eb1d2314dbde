"""Separation benchmark: test-split SDR, cost of one α change, real-time factor of a song.

Usage (from the repo root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_separation.py --data data/synth2 \
        --unseen data/unseen [--checkpoint assets/separator/dnn.pt] \
        [--nmf assets/separator/nmf.npz] [--sweep a.pt,b.pt,...] [--update-sidecars]

(a) per-track vocal SDR gain over the unprocessed mixture, median over tracks, on the in-domain
    test split (``--data``) and the unseen-source test split (``--unseen``, soundfont and voice
    family never used in training): the DNN at its best α, at α = 0.5, at the α picked on the
    in-domain *validation* split, and with the soft mask; the traditional NMF baseline likewise;
    librosa's REPET-SIM recipe (:mod:`core.karaoke.repet`); the oracle IBM and IRM. museval
    (BSS Eval v4, 1 s windows, median over windows per track), two fixed sources [vocals,
    accompaniment], paper threshold rule. ``--sweep`` adds a table of DNN checkpoints (e.g. the
    hidden-size sweep) with their size, MACs per frame, training time and speed.
(b) one α change on a 30 s 44.1 kHz stereo clip, as the Mask explorer does it server side
    (:func:`view_at_alpha`: the α-dependent PNG panels and figure, then
    threshold + reconstruction of both stems), against a full re-run (network + threshold +
    reconstruction).
(c) a 3-minute 44.1 kHz stereo song through the DNN: wall time and real-time factor.

Prints a markdown section and writes it to ``bench/results/separation.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.karaoke.separate import (  # noqa: E402
    default_model_file,
    probability_mask,
    separate_at_alpha,
)
from core.karaoke.tracks import Track, load_track, split_tracks  # noqa: E402
from core.signal.audio import resample  # noqa: E402

ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def vocal_sdr(references: np.ndarray, estimates: np.ndarray, sr: int) -> float:
    """Median over 1 s windows of museval's vocal SDR; arrays (2, ch, n).

    A silent estimate (e.g. no bin above a high α) scores ``-inf``.
    """
    import museval

    if not np.any(estimates[0]) or not np.any(estimates[1]):
        return float("-inf")  # a silent estimate (museval refuses it): the worst possible score
    sdr, _isr, _sir, _sar = museval.evaluate(
        np.transpose(references, (0, 2, 1)), np.transpose(estimates, (0, 2, 1)), win=sr, hop=sr
    )
    return float(np.nanmedian(sdr[0]))


SOFT = "soft"


def track_scores(
    track: Track, *, dnn: object, nmf: object, alphas: tuple[float, ...] = ALPHAS,
    baselines: bool = True,
) -> dict[str, float]:
    """Vocal SDR (dB) of every estimate of one track, keyed ``method@alpha`` / ``method@soft``.

    ``dnn`` / ``nmf`` are loaded models (or ``None`` to skip); ``baselines`` adds the mixture,
    the oracle IBM and IRM and REPET-SIM.
    """
    from core.karaoke.repet import repet_sim

    assert track.references is not None, f"{track.name} has no stems"
    refs, mix, sr = track.references, track.mixture, track.sr
    out: dict[str, float] = {"mixture": vocal_sdr(refs, np.stack([mix, mix]), sr)}
    if baselines:
        res = probability_mask(mix, sr, method="oracle", references=refs)
        out["oracle-ibm"] = vocal_sdr(refs, separate_at_alpha(res, alpha=0.5), sr)
        res = probability_mask(mix, sr, method="oracle-irm", references=refs)
        out["oracle-irm"] = vocal_sdr(refs, separate_at_alpha(res, rule="soft"), sr)
        out["repet-sim"] = vocal_sdr(refs, repet_sim(mix, sr), sr)
    for name, model, method in (("dnn", dnn, "dnn"), ("nmf", nmf, "traditional")):
        if model is None:
            continue
        res = probability_mask(mix, sr, method=method, checkpoint=model)  # type: ignore[arg-type]
        for a in alphas:
            out[f"{name}@{a:.1f}"] = vocal_sdr(refs, separate_at_alpha(res, alpha=a), sr)
        out[f"{name}@{SOFT}"] = vocal_sdr(refs, separate_at_alpha(res, rule="soft"), sr)
    return out


def _scores_worker(job: tuple[str, str | None, str | None, bool]) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    path, ckpt, nmf_path, baselines = job
    return track_scores(load_track(path), dnn=_dnn(ckpt), nmf=_nmf(nmf_path), baselines=baselines)


_MODELS: dict[tuple[str, str | None], object] = {}


def _dnn(path: str | None) -> object:
    if path == "-":
        return None
    from core.karaoke.dnn import load_separator

    key = ("dnn", path)
    if key not in _MODELS:
        _MODELS[key] = load_separator(path or default_model_file("dnn"))
    return _MODELS[key]


def _nmf(path: str | None) -> object:
    if path == "-":
        return None
    from core.karaoke.nmf import load_nmf

    key = ("nmf", path)
    if key not in _MODELS:
        _MODELS[key] = load_nmf(path or default_model_file("traditional"))
    return _MODELS[key]


def split_scores(
    root: Path, split: str, *, checkpoint: str | None, nmf: str | None, baselines: bool = True,
    workers: int = 2,
) -> list[dict[str, float]]:
    """:func:`track_scores` of every track of ``root``'s ``split``, in a process pool."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(str(p), checkpoint, nmf, baselines) for p in split_tracks(root, split)]
    if workers <= 1:
        return [_scores_worker(j) for j in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_scores_worker, jobs))


def gains(rows: list[dict[str, float]], key: str) -> list[float]:
    """Per-track gain of ``key`` over the unprocessed mixture, dB."""
    return [r[key] - r["mixture"] for r in rows]


def median_gain(rows: list[dict[str, float]], key: str) -> float:
    return float(np.nanmedian(gains(rows, key)))


def best_alpha(rows: list[dict[str, float]], name: str) -> float:
    """The α of ``name`` with the largest median gain over ``rows``."""
    return max(ALPHAS, key=lambda a: median_gain(rows, f"{name}@{a:.1f}"))


def summarize(
    rows: list[dict[str, float]], valid_alpha: dict[str, float] | None = None
) -> dict[str, object]:
    """Median gains over the mixture of one test split (see :func:`markdown`)."""
    out: dict[str, object] = {
        "tracks": len(rows),
        "mixture_sdr": float(np.nanmedian([r["mixture"] for r in rows])),
    }
    for key in ("oracle-ibm", "oracle-irm", "repet-sim"):
        if key in rows[0]:
            out[key] = median_gain(rows, key)
    for name in ("dnn", "nmf"):
        if f"{name}@0.5" not in rows[0]:
            continue
        best = best_alpha(rows, name)
        entry = {
            "best_alpha": best,
            "best": median_gain(rows, f"{name}@{best:.1f}"),
            "at_0.5": median_gain(rows, f"{name}@0.5"),
            "soft": median_gain(rows, f"{name}@{SOFT}"),
            "by_alpha": {f"{a:.1f}": median_gain(rows, f"{name}@{a:.1f}") for a in ALPHAS},
        }
        if valid_alpha and name in valid_alpha:
            va = valid_alpha[name]
            entry["valid_alpha"] = va
            entry["at_valid_alpha"] = median_gain(rows, f"{name}@{va:.1f}")
        out[name] = entry
    if "dnn" in out and "nmf" in out:
        d = gains(rows, f"dnn@{out['dnn']['best_alpha']:.1f}")  # type: ignore[index]
        n = gains(rows, f"nmf@{out['nmf']['best_alpha']:.1f}")  # type: ignore[index]
        out["dnn_minus_nmf"] = float(np.nanmedian(np.subtract(d, n)))
        out["dnn_wins"] = int(sum(x > y for x, y in zip(d, n, strict=True)))
    if "dnn" in out and "repet-sim" in rows[0]:
        d = gains(rows, f"dnn@{out['dnn']['best_alpha']:.1f}")  # type: ignore[index]
        out["dnn_minus_repet"] = float(np.nanmedian(np.subtract(d, gains(rows, "repet-sim"))))
    return out


def bench_sdr(
    corpora: dict[str, Path], checkpoint: str | None, nmf: str | None, *, valid_from: Path,
    workers: int = 2,
) -> dict[str, object]:
    """(a): every estimate on each corpus's test split; α picked on ``valid_from``'s valid split."""
    t0 = time.perf_counter()
    valid_rows = split_scores(
        valid_from, "valid", checkpoint=checkpoint, nmf=nmf, baselines=False, workers=workers
    )
    valid_alpha = {name: best_alpha(valid_rows, name) for name in ("dnn", "nmf")}
    out: dict[str, object] = {"valid_alpha": valid_alpha, "valid_tracks": len(valid_rows)}
    for label, root in corpora.items():
        rows = split_scores(root, "test", checkpoint=checkpoint, nmf=nmf, workers=workers)
        out[label] = {"root": str(root), "summary": summarize(rows, valid_alpha), "rows": rows}
    out["seconds"] = time.perf_counter() - t0
    return out


def bench_sweep(
    corpora: dict[str, Path], checkpoints: list[str], *, workers: int = 2
) -> list[dict[str, object]]:
    """Hidden-size sweep: each checkpoint's DNN gains and costs (its sidecar's training facts)."""
    import torch

    from core.karaoke.dnn import load_separator, predict_prob
    from core.signal.stft import stft

    out = []
    probe = load_track(split_tracks(next(iter(corpora.values())), "test")[0])
    for ck in checkpoints:
        model = load_separator(ck)
        side = Path(ck + ".meta.json")
        meta = json.loads(side.read_text()) if side.is_file() else {}
        summ = meta.get("summary", {})
        mag = np.abs(stft(resample(probe.mixture[:1], orig_sr=probe.sr, target_sr=model.config.sr),
                          model.config.stft_config))
        mag = np.tile(mag, (1, 1, 8))  # ~100 s of frames
        torch.set_num_threads(2)
        predict_prob(model, mag)
        t = time.perf_counter()
        predict_prob(model, mag)
        fps = mag.shape[2] / (time.perf_counter() - t)
        row: dict[str, object] = {
            "checkpoint": ck,
            "hidden": model.config.hidden,
            "params": int(sum(p.numel() for p in model.parameters())),
            "macs_per_frame": model.config.macs_per_frame,
            "size_mb": round(Path(ck).stat().st_size / 1e6, 2),
            "train_seconds": summ.get("train_seconds"),
            "best_valid_loss": summ.get("best_valid_loss"),
            "best_epoch": summ.get("best_epoch"),
            "frames_per_s": fps,
        }
        for label, root in corpora.items():
            rows = split_scores(root, "test", checkpoint=ck, nmf="-", baselines=False,
                                workers=workers)
            row[label] = summarize(rows)
        out.append(row)
    return out


def _song(data: Path, seconds: float, sr: int = 44100) -> np.ndarray:
    """A stereo 44.1 kHz song made of test mixtures back to back (channels differ)."""
    parts, total = [], 0
    paths = split_tracks(data, "test")
    i = 0
    while total < seconds * sr:
        tr = load_track(paths[i % len(paths)])
        y = resample(tr.mixture[:1], orig_sr=tr.sr, target_sr=sr)
        parts.append(y)
        total += y.shape[1]
        i += 1
    y = np.concatenate(parts, axis=1)[:, : int(seconds * sr)]
    return np.concatenate([y, 0.8 * np.roll(y, 300, axis=1)]).astype(np.float32)


def view_at_alpha(
    track: Track, *, method: str, alpha: float, checkpoint: str | None = None
) -> tuple[np.ndarray, dict[str, float]]:
    """What the Mask explorer does server side when α is released, timed: ``(stems, timings)``.

    The mask, the static panels and the live canvas's planes come from the page's caches (the
    browser re-thresholds the canvas itself while α moves), so after the first call a release
    costs the canvas's data at the new α, threshold + reconstruction of both stems, and the
    "kept" shares.
    """
    from dashboard import mask_explorer_view as ev

    key = ev.track_key(track)
    fmax = ev.FMAX_CHOICES[0]
    t0 = time.perf_counter()
    ev.static_panels(track, method=method, checkpoint=checkpoint, key=key, fmax=fmax)
    ev.canvas_data(key, method, checkpoint, fmax, "paper", alpha, track)
    t1 = time.perf_counter()
    stems = ev.stems_at_alpha(key, method, checkpoint, round(float(alpha), 4), "paper", track)
    t2 = time.perf_counter()
    ev.mask_shares(key, method, checkpoint, alpha, "paper", track)
    t3 = time.perf_counter()
    timings = {
        "panels + canvas data (ms)": (t1 - t0) * 1e3,
        "threshold + reconstruction (ms)": (t2 - t1) * 1e3,
        "kept shares (ms)": (t3 - t2) * 1e3,
    }
    return stems, timings


def bench_alpha(data: Path, checkpoint: str | None, repeats: int = 5) -> dict:
    """Time what the Mask explorer does server side on one α move (after the first view).

    :func:`view_at_alpha`: the cached panels and canvas data, threshold + reconstruction of both
    stems (``dashboard.mask_explorer_view.stems_at_alpha``) and the kept shares. Baseline: the
    same move if the network re-ran.
    """
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" cache warnings
    sr = 44100
    y = _song(data, 30.0, sr)
    track = Track.from_arrays(y, sr, name="bench-30s")
    t0 = time.perf_counter()
    res = probability_mask(y, sr, method="dnn", checkpoint=checkpoint)
    separate_at_alpha(res, alpha=0.5)
    full = time.perf_counter() - t0
    view_at_alpha(track, method="dnn", alpha=0.5, checkpoint=checkpoint)  # first view: caches
    times, parts = [], {"panels": [], "stems": [], "shares": []}
    for k in range(repeats):
        a = 0.3 + 0.1 * k
        t = time.perf_counter()
        _stems, timings = view_at_alpha(track, method="dnn", alpha=a, checkpoint=checkpoint)
        times.append(time.perf_counter() - t)
        parts["panels"].append(timings["panels + canvas data (ms)"] / 1e3)
        parts["stems"].append(timings["threshold + reconstruction (ms)"] / 1e3)
        parts["shares"].append(timings["kept shares (ms)"] / 1e3)
    return {
        "clip": "30 s, 44.1 kHz stereo",
        "stft_shape": list(res.prob.shape),
        "alpha_change_ms": 1000 * float(np.median(times)),
        "parts_ms": {k: 1000 * float(np.median(v)) for k, v in parts.items()},
        "full_rerun_ms": 1000 * full,
    }


def bench_rtf(data: Path, checkpoint: str | None) -> dict:
    sr, seconds = 44100, 180.0
    y = _song(data, seconds, sr)
    t0 = time.perf_counter()
    res = probability_mask(y, sr, method="dnn", checkpoint=checkpoint)
    t1 = time.perf_counter()
    stems = separate_at_alpha(res, alpha=0.5)
    t2 = time.perf_counter()
    assert stems.shape == (2, 2, y.shape[1])
    return {
        "song": "180 s, 44.1 kHz stereo",
        "mask_s": t1 - t0,
        "stems_s": t2 - t1,
        "total_s": t2 - t0,
        "rtf": seconds / (t2 - t0),
    }


def _git() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def _f(x: object) -> str:
    return "–" if x is None else f"{float(x):+.2f}"  # type: ignore[arg-type]


def sdr_markdown(sdr: dict, labels: dict[str, str]) -> list[str]:
    va = sdr["valid_alpha"]
    lines = [
        "Median over tracks of the per-track **vocal SDR gain over the unprocessed mixture** "
        "(dB; museval v4, 1 s windows, median over windows; sources [vocals, accompaniment]; "
        "paper threshold rule). *best α* is the best on that test split (as the paper reports); "
        f"*valid α* is picked on the in-domain validation split ({sdr['valid_tracks']} tracks: "
        f"DNN α {va['dnn']:.1f}, NMF α {va['nmf']:.1f}) and then applied unchanged.",
        "",
        "| method | " + " | ".join(
            f"{labels[k]} ({sdr[k]['summary']['tracks']} tracks)" for k in labels
        ) + " |",
        "| --- | " + " | ".join("---:" for _ in labels) + " |",
    ]

    def row(name: str, get) -> str:  # noqa: ANN001
        cells = []
        for k in labels:
            try:
                cells.append(get(sdr[k]["summary"]))
            except (KeyError, TypeError):
                cells.append("–")
        return f"| {name} | " + " | ".join(cells) + " |"

    lines += [
        row("unprocessed mixture (absolute SDR)", lambda s: f"{s['mixture_sdr']:.2f} dB"),
        row("**DNN, best α**",
            lambda s: f"**{s['dnn']['best']:+.2f}** (α {s['dnn']['best_alpha']:.1f})"),
        row("**DNN, α = 0.5**", lambda s: f"**{s['dnn']['at_0.5']:+.2f}**"),
        row("DNN, valid α", lambda s: f"{s['dnn']['at_valid_alpha']:+.2f}"),
        row("DNN, soft mask", lambda s: f"{s['dnn']['soft']:+.2f}"),
        row("traditional NMF, best α",
            lambda s: f"{s['nmf']['best']:+.2f} (α {s['nmf']['best_alpha']:.1f})"),
        row("traditional NMF, α = 0.5", lambda s: f"{s['nmf']['at_0.5']:+.2f}"),
        row("traditional NMF, soft mask", lambda s: f"{s['nmf']['soft']:+.2f}"),
        row("REPET-SIM (librosa recipe)", lambda s: f"{s['repet-sim']:+.2f}"),
        row("oracle IBM", lambda s: f"{s['oracle-ibm']:+.2f}"),
        row("oracle IRM (soft)", lambda s: f"{s['oracle-irm']:+.2f}"),
        row("DNN − NMF (median per track, best α each)",
            lambda s: f"{s['dnn_minus_nmf']:+.2f} ({s['dnn_wins']}/{s['tracks']} tracks)"),
        row("DNN − REPET-SIM (median per track)", lambda s: f"{s['dnn_minus_repet']:+.2f}"),
        "",
        "Gain by α (DNN / NMF):",
        "",
        "| split | " + " | ".join(f"{a:.1f}" for a in ALPHAS) + " |",
        "| --- | " + " | ".join("---:" for _ in ALPHAS) + " |",
    ]
    for k, lab in labels.items():
        s_ = sdr[k]["summary"]
        for name in ("dnn", "nmf"):
            if name in s_:
                lines.append(f"| {lab}, {name.upper()} | " + " | ".join(
                    f"{s_[name]['by_alpha'][f'{a:.1f}']:+.2f}" for a in ALPHAS) + " |")
    lines.append("")
    return lines


def sweep_markdown(sweep: list[dict], labels: dict[str, str]) -> list[str]:
    lines = [
        "| hidden | params | MACs/frame | size (MB) | train (s) | best valid BCE (epoch) | "
        "frames/s (2 threads) | " + " | ".join(
            f"{lab}: best α / α 0.5" for lab in labels.values()) + " |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | " + " | ".join(
            "---:" for _ in labels) + " |",
    ]
    for r in sweep:
        cells = []
        for k in labels:
            d = r[k]["dnn"]
            cells.append(f"{d['best']:+.2f} (α {d['best_alpha']:.1f}) / {d['at_0.5']:+.2f}")
        lines.append(
            f"| {r['hidden']} | {r['params'] / 1e6:.2f} M | {r['macs_per_frame'] / 1e6:.2f} M | "
            f"{r['size_mb']:.1f} | {r['train_seconds'] or '–'} | "
            f"{r['best_valid_loss'] or '–'} ({r['best_epoch'] or '–'}) | "
            f"{r['frames_per_s']:.0f} | " + " | ".join(cells) + " |"
        )
    lines.append("")
    return lines


def markdown(sdr: dict, sweep: list[dict] | None, alpha: dict | None, rtf: dict | None,
             args: argparse.Namespace, labels: dict[str, str]) -> str:
    import torch

    lines = [
        "## Separation (Deep Karaoke)",
        "",
        f"Command: `{args.command}` — git {_git()}, "
        f"{datetime.now(UTC).isoformat(timespec='minutes')}, {platform.processor() or 'cpu'}, "
        f"torch threads {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}.",
        "",
        f"**(a) Vocal SDR gains**, shipped DNN `{args.checkpoint or 'assets/separator/dnn.pt'}` "
        f"and NMF `{args.nmf or 'assets/separator/nmf.npz'}`:",
        "",
        *sdr_markdown(sdr, labels),
    ]
    if sweep:
        lines += ["**Hidden-size sweep** (same corpus, epochs and seed; DNN gains as above):",
                  "", *sweep_markdown(sweep, labels)]
    if alpha:
        lines += [
            f"**(b) One α change**, {alpha['clip']} (STFT {alpha['stft_shape']}): "
            f"**{alpha['alpha_change_ms']:.0f} ms** server side when α is released, as the Mask "
            "explorer does it (`dashboard.mask_explorer_view`: cached panels and canvas data "
            f"{alpha['parts_ms']['panels']:.0f} ms, `stems_at_alpha` threshold + reconstruction "
            f"of both stems {alpha['parts_ms']['stems']:.0f} ms, kept shares "
            f"{alpha['parts_ms']['shares']:.0f} ms; goal < 150 ms; while α moves the browser "
            "re-thresholds the canvas itself) vs a full network "
            f"re-run {alpha['full_rerun_ms']:.0f} ms "
            f"({alpha['full_rerun_ms'] / alpha['alpha_change_ms']:.0f}×).",
            "",
        ]
    if rtf:
        lines += [
            f"**(c) Real time**, {rtf['song']} through the DNN in memory: mask "
            f"{rtf['mask_s']:.1f} s + stems {rtf['stems_s']:.1f} s = {rtf['total_s']:.1f} s, "
            f"**{rtf['rtf']:.0f}× faster than real time**.",
            "",
        ]
    return "\n".join(lines)


def update_sidecars(sdr: dict, checkpoint: str | None, nmf: str | None, label: str) -> None:
    for path, method in (
        (checkpoint or default_model_file("dnn"), "dnn"),
        (nmf or default_model_file("traditional"), "nmf"),
    ):
        side = Path(str(path) + ".meta.json")
        if not side.is_file():
            continue
        meta = json.loads(side.read_text())
        s = meta.setdefault("summary", {})
        for old in [k for k in s if k.startswith("test_")]:
            del s[old]
        for k in ("in_domain", "unseen"):
            if k not in sdr:
                continue
            summ = sdr[k]["summary"]
            s[f"{k}_tracks"] = summ["tracks"]
            s[f"{k}_vocal_gain_best"] = round(summ[method]["best"], 3)
            s[f"{k}_best_alpha"] = summ[method]["best_alpha"]
            s[f"{k}_vocal_gain_at_0.5"] = round(summ[method]["at_0.5"], 3)
        s["valid_alpha"] = sdr["valid_alpha"][method]
        s["sdr_protocol"] = (
            "median per-track vocal SDR gain over the mixture; museval v4, 1 s windows, median "
            f"over windows; paper rule; bench/bench_separation.py ({label})"
        )
        side.write_text(json.dumps(meta, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synth2", help="in-domain corpus (valid + test split)")
    p.add_argument("--unseen", default="data/unseen",
                   help="held-out-source corpus (test split); '-' to skip")
    p.add_argument("--checkpoint", default=None, help="DNN checkpoint (default: shipped)")
    p.add_argument("--nmf", default=None, help="NMF bases (default: shipped)")
    p.add_argument("--sweep", default="",
                   help="comma-separated DNN checkpoints for the hidden-size sweep table")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--workers", type=int, default=2, help="processes for the SDR tables")
    p.add_argument("--only-sdr", action="store_true", help="skip (b) and (c)")
    p.add_argument(
        "--reuse-sdr",
        action="store_true",
        help="reuse bench/results/separation.json's (a) and sweep instead of recomputing "
        "(the sweep is measured when --sweep is given and none is saved)",
    )
    p.add_argument(
        "--update-sidecars",
        action="store_true",
        help="write the test gains into the assets' .meta.json summaries",
    )
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "separation.md"))
    args = p.parse_args()
    args.command = "python bench/bench_separation.py " + " ".join(sys.argv[1:])
    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    corpora = {"in_domain": data}
    labels = {"in_domain": f"in-domain `{data}`"}
    if args.unseen != "-":
        corpora["unseen"] = Path(args.unseen)
        labels["unseen"] = f"unseen sources `{args.unseen}`"
    for root in corpora.values():
        if not (root / "test").is_dir():
            raise SystemExit(
                f"bench_separation: no corpus at {root} (needs {root}/test). Make them with\n"
                "  make corpus   (see README: the training and the unseen-source corpora)"
            )
    out = Path(args.out)
    cache = out.with_suffix(".json")
    if args.reuse_sdr and cache.is_file():
        saved = json.loads(cache.read_text())
        sdr, sweep = saved["sdr"], saved.get("sweep")
        if args.sweep and not sweep:  # (a) saved, the sweep table still to measure
            sweep = bench_sweep(corpora, args.sweep.split(","), workers=args.workers)
    else:
        sdr = bench_sdr(corpora, args.checkpoint, args.nmf, valid_from=data, workers=args.workers)
        sweep = None
        if args.sweep:
            sweep = bench_sweep(corpora, args.sweep.split(","), workers=args.workers)
    print(json.dumps({k: v["summary"] for k, v in sdr.items() if isinstance(v, dict)
                      and "summary" in v}, default=float)[:2000], file=sys.stderr)
    alpha = rtf = None
    if not args.only_sdr:
        alpha = bench_alpha(data, args.checkpoint)
        rtf = bench_rtf(data, args.checkpoint)
    md = markdown(sdr, sweep, alpha, rtf, args, labels)
    print(md)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    cache.write_text(
        json.dumps({"sdr": sdr, "sweep": sweep, "alpha": alpha, "rtf": rtf}, indent=2,
                   default=float) + "\n"
    )
    if args.update_sidecars:
        update_sidecars(sdr, args.checkpoint, args.nmf, args.command)


if __name__ == "__main__":
    main()
