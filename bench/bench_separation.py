"""Separation benchmark: test-split SDR, cost of one α change, real-time factor of a song.

Usage (from the repo root)::

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_separation.py --data data/synth \
        [--checkpoint assets/separator/dnn.pt] [--nmf assets/separator/nmf.npz] \
        [--update-sidecars]

(a) vocal SDR on the corpus's test split: the unprocessed mixture, the DNN at its best α and
    the traditional NMF baseline at its best α (paper rule), plus the oracle IBM; museval
    (BSS Eval v4, 1 s windows, median over windows per track, then median over tracks), two
    fixed sources [vocals, accompaniment].
(b) one α change on a 30 s 44.1 kHz stereo clip, as the Mask explorer does it server side
    (``dashboard.explorer_view.view_at_alpha``: the α-dependent PNG panels and figure, then
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

from core.audio import resample  # noqa: E402
from core.corpus import load_track, split_tracks  # noqa: E402
from core.separation import probability_mask, separate_at_alpha  # noqa: E402

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


def bench_sdr(data: Path, checkpoint: str | None, nmf: str | None) -> dict:
    tracks = [load_track(p) for p in split_tracks(data, "test")]
    rows: dict[str, list] = {"mixture": [], "oracle": []}
    per_alpha = {m: {a: [] for a in ALPHAS} for m in ("dnn", "traditional")}
    t0 = time.perf_counter()
    for tr in tracks:
        refs, mix, sr = tr.references, tr.mixture, tr.sr
        rows["mixture"].append(vocal_sdr(refs, np.stack([mix, mix]), sr))
        res = probability_mask(mix, sr, method="oracle", references=refs)
        rows["oracle"].append(vocal_sdr(refs, separate_at_alpha(res, alpha=0.5), sr))
        for method, ck in (("dnn", checkpoint), ("traditional", nmf)):
            res = probability_mask(mix, sr, method=method, checkpoint=ck)
            for a in ALPHAS:
                per_alpha[method][a].append(vocal_sdr(refs, separate_at_alpha(res, alpha=a), sr))
    out = {
        "tracks": len(tracks),
        "seconds": time.perf_counter() - t0,
        "mixture": float(np.nanmedian(rows["mixture"])),
        "oracle": float(np.nanmedian(rows["oracle"])),
    }
    for method, by_a in per_alpha.items():
        med = {a: float(np.nanmedian(v)) for a, v in by_a.items()}
        best = max(med, key=lambda a: med[a])
        out[method] = {
            "best_alpha": best,
            "best_sdr": med[best],
            "by_alpha": med,
            "per_track_at_best": by_a[best],
        }
    out["dnn_minus_traditional_per_track"] = [
        d - t
        for d, t in zip(
            out["dnn"]["per_track_at_best"], out["traditional"]["per_track_at_best"], strict=True
        )
    ]
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


def bench_alpha(data: Path, checkpoint: str | None, repeats: int = 5) -> dict:
    """Time what the Mask explorer does server side on one α move (after the first view).

    ``dashboard.explorer_view.view_at_alpha``: the two α-dependent PNG panels and the figure,
    then threshold + reconstruction of both stems (``core.separation.separate_at_alpha``, through
    the page's ``st.cache_data`` wrapper). Baseline: the same move if the network re-ran.
    """
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" cache warnings
    from core.corpus import Track
    from dashboard.explorer_view import view_at_alpha

    sr = 44100
    y = _song(data, 30.0, sr)
    track = Track(name="bench-30s", sr=sr, mixture=y, references=None, path=None)
    t0 = time.perf_counter()
    res = probability_mask(y, sr, method="dnn", checkpoint=checkpoint)
    separate_at_alpha(res, alpha=0.5)
    full = time.perf_counter() - t0
    view_at_alpha(track, method="dnn", alpha=0.5, checkpoint=checkpoint)  # first view: caches
    times, parts = [], {"figure": [], "stems": []}
    for k in range(repeats):
        a = 0.3 + 0.1 * k
        t = time.perf_counter()
        view = view_at_alpha(track, method="dnn", alpha=a, checkpoint=checkpoint)
        times.append(time.perf_counter() - t)
        parts["figure"].append(view.timings["images + figure (ms)"] / 1e3)
        parts["stems"].append(view.timings["threshold + reconstruction (ms)"] / 1e3)
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


def markdown(sdr: dict, alpha: dict, rtf: dict, args: argparse.Namespace) -> str:
    import torch

    d, t = sdr["dnn"], sdr["traditional"]
    wins = sum(x > 0 for x in sdr["dnn_minus_traditional_per_track"])
    lines = [
        "## Separation (Deep Karaoke)",
        "",
        f"Command: `{args.command}` — git {_git()}, "
        f"{datetime.now(UTC).isoformat(timespec='minutes')}, {platform.processor() or 'cpu'}, "
        f"torch threads {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}.",
        "",
        f"**(a) Vocal SDR, test split** ({sdr['tracks']} tracks of `{args.data}`; museval v4, "
        "1 s windows, median over windows then over tracks; sources [vocals, accompaniment]; "
        "paper threshold rule):",
        "",
        "| estimate | vocal SDR (dB) | best α |",
        "| --- | ---: | ---: |",
        f"| unprocessed mixture | {sdr['mixture']:.2f} | – |",
        f"| traditional (supervised KL-NMF) | {t['best_sdr']:.2f} | {t['best_alpha']:.1f} |",
        f"| **DNN (shipped)** | **{d['best_sdr']:.2f}** | {d['best_alpha']:.1f} |",
        f"| oracle IBM (upper bound) | {sdr['oracle']:.2f} | 0.5 |",
        "",
        f"DNN − mixture: {d['best_sdr'] - sdr['mixture']:+.2f} dB; DNN − traditional: "
        f"{d['best_sdr'] - t['best_sdr']:+.2f} dB (DNN better on {wins}/{sdr['tracks']} tracks).",
        "",
        "| α | " + " | ".join(f"{a:.1f}" for a in ALPHAS) + " |",
        "| --- | " + " | ".join("---:" for _ in ALPHAS) + " |",
        "| DNN | " + " | ".join(f"{d['by_alpha'][a]:.2f}" for a in ALPHAS) + " |",
        "| traditional | " + " | ".join(f"{t['by_alpha'][a]:.2f}" for a in ALPHAS) + " |",
        "",
        f"**(b) One α change**, {alpha['clip']} (STFT {alpha['stft_shape']}): "
        f"**{alpha['alpha_change_ms']:.0f} ms** server side, as the Mask explorer does it "
        f"(`dashboard.explorer_view.view_at_alpha`: two PNG panels + figure "
        f"{alpha['parts_ms']['figure']:.0f} ms, threshold + reconstruction of both stems "
        f"{alpha['parts_ms']['stems']:.0f} ms; goal < 150 ms) vs a full network re-run "
        f"{alpha['full_rerun_ms']:.0f} ms "
        f"({alpha['full_rerun_ms'] / alpha['alpha_change_ms']:.0f}×).",
        "",
        f"**(c) Real time**, {rtf['song']} through the DNN: mask {rtf['mask_s']:.1f} s + stems "
        f"{rtf['stems_s']:.1f} s = {rtf['total_s']:.1f} s, **{rtf['rtf']:.0f}× faster than real "
        "time**.",
        "",
    ]
    return "\n".join(lines)


def update_sidecars(sdr: dict, checkpoint: str | None, nmf: str | None) -> None:
    from core.separation import default_checkpoint, default_nmf

    for path, method in (
        (checkpoint or default_checkpoint(), "dnn"),
        (nmf or default_nmf(), "traditional"),
    ):
        side = Path(str(path) + ".meta.json")
        if not side.is_file():
            continue
        meta = json.loads(side.read_text())
        s = meta.setdefault("summary", {})
        s.update(
            {
                "test_tracks": sdr["tracks"],
                "test_vocal_sdr_best": round(sdr[method]["best_sdr"], 3),
                "test_best_alpha": sdr[method]["best_alpha"],
                "test_vocal_sdr_mixture": round(sdr["mixture"], 3),
                "test_vocal_sdr_oracle_ibm": round(sdr["oracle"], 3),
                "sdr_protocol": "museval v4, 1 s windows, median/window then median/track, "
                "paper rule; bench/bench_separation.py",
            }
        )
        if method == "dnn":
            s["test_vocal_sdr_traditional_best"] = round(sdr["traditional"]["best_sdr"], 3)
        side.write_text(json.dumps(meta, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synth", help="corpus root (test split used)")
    p.add_argument("--checkpoint", default=None, help="DNN checkpoint (default: shipped)")
    p.add_argument("--nmf", default=None, help="NMF bases (default: shipped)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument(
        "--reuse-sdr",
        action="store_true",
        help="reuse bench/results/separation_sdr.json instead of recomputing (a)",
    )
    p.add_argument(
        "--update-sidecars",
        action="store_true",
        help="write the test SDRs into the assets' .meta.json summaries",
    )
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "separation.md"))
    args = p.parse_args()
    args.command = "python bench/bench_separation.py " + " ".join(sys.argv[1:])
    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    if not (data / "test").is_dir():
        raise SystemExit(
            f"bench_separation: no corpus at {data} (needs {data}/test). Make it with\n"
            f"  genex make-corpus --out {data} --songs 120 --seed 1 --seconds 15"
        )
    cache = Path(args.out).with_name("separation_sdr.json")
    if args.reuse_sdr and cache.is_file():
        sdr = json.loads(cache.read_text())
        for m in ("dnn", "traditional"):
            sdr[m]["by_alpha"] = {float(a): v for a, v in sdr[m]["by_alpha"].items()}
    else:
        sdr = bench_sdr(data, args.checkpoint, args.nmf)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(sdr, indent=2, default=float) + "\n")
    print(
        json.dumps(
            {k: v for k, v in sdr.items() if k not in ("dnn", "traditional")}, default=float
        )[:400],
        file=sys.stderr,
    )
    alpha = bench_alpha(data, args.checkpoint)
    rtf = bench_rtf(data, args.checkpoint)
    md = markdown(sdr, alpha, rtf, args)
    print(md)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    (out.with_suffix(".json")).write_text(
        json.dumps({"sdr": sdr, "alpha": alpha, "rtf": rtf}, indent=2, default=float) + "\n"
    )
    if args.update_sidecars:
        update_sidecars(sdr, args.checkpoint, args.nmf)


if __name__ == "__main__":
    main()
