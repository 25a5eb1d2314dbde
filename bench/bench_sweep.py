"""α-sweep of BSS Eval v4: naive museval per α versus the sweep engine, in one run.

Signals: 30 s of stereo 44.1 kHz "musical-ish" sources (a vibrato voice-like harmonic tone with
phrase rests, and a chordal accompaniment with a bass line and noise-burst "drums", each panned,
plus a -70 dB noise floor). A blurred, noisy ideal-ratio mask plays the role of the method's
vocal probability; each of the 21 α values thresholds it with the paper rule (vocals P > α,
accompaniment P < 1 - α) and the stems are resynthesised from the mixture STFT. The same 21
estimate sets are scored by ``museval.evaluate`` (one call per α, 1 s windows) and by one
:class:`core.evaluation.bss.SweepEngine` (what :func:`core.evaluation.bss.sweep` does),
interleaved α by α so both see the same load on a shared machine. The script prints both times,
the ratio and the largest absolute difference over every window, metric, source and α, as a
Markdown section, and writes it to ``bench/results/sweep.md``.

Usage: .venv/bin/python bench/bench_sweep.py [--seconds 30] [--alphas 21] [--sr 44100]
(``OMP_NUM_THREADS=1`` for a single-core comparison; the lead re-runs it at quiet time).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.evaluation.bss import SweepEngine, museval_reference  # noqa: E402
from core.signal.stft import StftConfig, istft, stft  # noqa: E402


def make_signals(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Two stereo sources ``(2, 2, n)`` float32: [vocals, accompaniment]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    # voice: notes of 0.5 s on a pentatonic line, vibrato, rests every 4th note
    notes = 220 * 2 ** (np.array([0, 2, 4, 7, 9, 7, 4, 2]) / 12)
    idx = (t / 0.5).astype(int)
    f0 = notes[idx % len(notes)]
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))) / sr
    voice = sum(a * np.sin((k + 1) * phase) for k, a in enumerate([1, 0.6, 0.4, 0.25, 0.15]))
    voice *= (idx % 4 != 3) * np.minimum(1, (t % 0.5) / 0.02)
    # accompaniment: chords changing every 2 s, bass, noise bursts on the beat
    roots = 110 * 2 ** (np.array([0, 5, 7, 0]) / 12)
    r = roots[(t / 2).astype(int) % 4]
    ph = 2 * np.pi * np.cumsum(r) / sr
    chords = sum(np.sin(ph * m) / (1 + j) for j, m in enumerate([1, 1.25, 1.5, 2, 2.5, 3]))
    bass = 0.8 * np.sin(ph / 2)
    beat = np.exp(-(t % 0.5) / 0.03) * rng.standard_normal(n) * 0.5
    acc = 0.3 * chords + bass + beat
    voice, acc = 0.3 * voice / np.abs(voice).max(), 0.3 * acc / np.abs(acc).max()
    refs = np.stack([np.stack([0.7 * voice, 0.5 * voice]), np.stack([0.4 * acc, 0.6 * acc])])
    refs += 10 ** (-70 / 20) * rng.standard_normal(refs.shape)
    return refs.astype(np.float32)


def make_estimates(refs: np.ndarray, alphas: np.ndarray, seed: int = 0) -> np.ndarray:
    """Stems for every α, ``(n_alpha, 2, 2, n)`` float32, from a noisy ratio mask."""
    rng = np.random.default_rng(seed + 1)
    cfg = StftConfig(n_fft=2048, hop_length=512, window="hann", center=True)
    n = refs.shape[-1]
    mix = refs.sum(0)
    X = stft(mix, cfg)
    V, A = np.abs(stft(refs[0], cfg)), np.abs(stft(refs[1], cfg))
    prob = V**2 / (V**2 + A**2 + 1e-12)
    prob = np.clip(0.85 * prob + 0.05 + 0.1 * rng.standard_normal(prob.shape), 0, 1)
    out = np.empty((len(alphas), 2, *mix.shape), dtype=np.float32)
    for i, a in enumerate(alphas):
        out[i, 0] = istft(X * (prob > a), cfg, length=n)
        out[i, 1] = istft(X * (prob < 1 - a), cfg, length=n)
    return out


def main() -> None:
    """Run the benchmark, print and save the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sr", type=int, default=44100)
    parser.add_argument("--alphas", type=int, default=21)
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "sweep.md"))
    args = parser.parse_args()

    refs = make_signals(args.seconds, args.sr)
    alphas = np.round(np.linspace(0.05, 0.85, args.alphas), 4)
    est = make_estimates(refs, alphas)

    museval_reference(refs[:, :, : args.sr * 2], est[0][:, :, : args.sr * 2], sr=args.sr)  # import
    # Interleaved (engine α, museval α, ...) so both see the same load on a shared machine.
    t0 = time.perf_counter()
    engine = SweepEngine(refs, sr=args.sr)
    t_setup = time.perf_counter() - t0
    t_engine, t_naive = t_setup, 0.0
    ours, naive = {}, []
    for a, e in zip(alphas, est, strict=True):
        t0 = time.perf_counter()
        ours[float(a)] = engine.evaluate(e)
        t_engine += time.perf_counter() - t0
        t0 = time.perf_counter()
        naive.append(museval_reference(refs, e, sr=args.sr))
        t_naive += time.perf_counter() - t0
        print(f"α={a:.3f}: engine {t_engine:7.1f} s, museval {t_naive:7.1f} s", file=sys.stderr)

    worst, n_values = 0.0, 0
    for a, ref in zip(alphas, naive, strict=True):
        for m in ("sdr", "isr", "sir", "sar"):
            x, y = getattr(ours[float(a)], m), getattr(ref, m)
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                raise SystemExit(f"NaN pattern differs at alpha={a} {m}")
            ok = np.isfinite(x) & np.isfinite(y)
            n_values += int(ok.sum())
            worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]))) if ok.any() else 0.0)

    n_win = ours[float(alphas[0])].n_windows
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        "## BSS Eval α-sweep: museval per α vs sweep engine",
        "",
        f"{args.alphas} α values × {args.seconds:g} s stereo at {args.sr} Hz, 2 sources, "
        f"{n_win} windows of 1 s (museval.evaluate v4 defaults); `OMP_NUM_THREADS={threads}`, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared).",
        "",
        "| | time (s) | per α (s) |",
        "| --- | ---: | ---: |",
        f"| museval.evaluate, once per α | {t_naive:.1f} | {t_naive / len(alphas):.2f} |",
        f"| `core.evaluation.bss.SweepEngine` (setup {t_setup:.1f} s + one `evaluate` per α) | "
        f"{t_engine:.1f} | {(t_engine - t_setup) / len(alphas):.2f} |",
        "",
        f"**Speed-up: {t_naive / t_engine:.1f}×** (goal ≥ 15×). "
        f"Largest |difference| over all {n_values} finite values (every window, metric, source "
        f"and α): **{worst:.2e} dB** (tolerance 0.01 dB); NaN windows identical.",
        "",
        "Command: `.venv/bin/python bench/bench_sweep.py"
        + (f" --seconds {args.seconds:g}" if args.seconds != 30 else "")
        + (f" --alphas {args.alphas}" if args.alphas != 21 else "")
        + (f" --sr {args.sr}" if args.sr != 44100 else "")
        + "`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
