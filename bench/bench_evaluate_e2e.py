"""``genex evaluate`` end to end versus plain museval, on one 20 s stereo 44.1 kHz track.

Issue 12, item 3: what a user feels is the whole command, not the sweep engine alone. The
script, in one run:

1. makes one track in a temporary folder with the demo generator
   (:func:`core.karaoke.corpus.make_demo_tracks`: a test-split song of the synthetic corpus,
   ``--seconds`` long, stereo, 44.1 kHz, WAV);
2. times the whole command as a user runs it, a fresh process (Python start, imports, track
   loading, the mask, every α, the results files and the table)::

       genex evaluate --data DIR --methods dnn --alphas 0.05:0.95:0.05 --out RUN --quiet

   in a user's environment: Python caches compiled bytecode (``PYTHONDONTWRITEBYTECODE``, which
   some sandboxes set, is removed for the command), so the command runs once untimed first
   ("first run": compiles what is not compiled yet, warms the OS file cache), then timed
   ``--repeats`` times (3; the median counts: the machine may be shared); wall and CPU seconds
   (user + system, all threads) of each;

3. makes the same 19 pairs of stems in this process (the DNN mask once, then
   :func:`core.karaoke.separate.separate_at_alpha` at every α; not timed) and times 19 plain
   ``museval.evaluate`` calls on them (BSS Eval v4, 1 s windows), interleaved with nothing;
4. prints both times and their ratio (goal: the command >= 10x faster), the largest difference
   between the SDR the command stored and museval's (the numbers must be museval's), and a
   per-phase profile of the command: Python start and imports (a separate fresh process that
   imports what the command imports), the probability mask (the engine is set up meanwhile in
   a second thread), the stems (inverse STFTs, made in a second thread) and the sweep engine
   (from the timing the command records in its results file), the rest (track loading,
   writing).

The Markdown report goes to stdout and ``bench/results/evaluate_e2e.md``.

Usage: .venv/bin/python bench/bench_evaluate_e2e.py [--seconds 20] [--method dnn]
    [--alphas 0.05:0.95:0.05] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.evaluation.results import open_run  # noqa: E402
from core.evaluation.sweep import parse_alphas  # noqa: E402
from core.karaoke.corpus import make_demo_tracks  # noqa: E402
from core.karaoke.separate import probability_mask, separate_at_alpha  # noqa: E402
from core.karaoke.tracks import load_track  # noqa: E402

BIN = Path(sys.executable).parent
#: What ``genex evaluate --methods M`` imports: the CLI, the evaluation (scipy's FFT and LU;
#: pyarrow to write the table, no pandas), the method's model code (the DNN runs in numpy: no
#: torch) and soxr.
_COMMON = "core.cli, core.cli.metrics, core.evaluation.sweep, soxr, pyarrow.parquet"
IMPORTS = {
    "dnn": f"{_COMMON}, core.karaoke.infer",
    "traditional": f"{_COMMON}, core.karaoke.nmf",
}
#: The command's environment: a user's (Python writes its bytecode cache).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_track(root: Path, seconds: float) -> Path:
    """One stereo 44.1 kHz demo track under ``root``; returns its folder."""
    make_demo_tracks(root, songs=1, sr=44100, seconds=seconds, stereo_every=1, fmt="wav")
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, every thread) of one child process."""
    c0, t0 = _child_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t0, _child_cpu() - c0


def time_command(data: Path, out: Path, method: str, alphas: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``genex evaluate`` process into a new folder ``out``."""
    cmd = [str(BIN / "genex"), "evaluate", "--data", str(data), "--methods", method]
    cmd += ["--alphas", alphas, "--out", str(out), "--quiet"]
    return run_child(cmd)


def time_imports(method: str) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh Python process importing what the command imports."""
    modules = IMPORTS.get(method, "core.cli, core.cli.metrics, core.evaluation.sweep")
    run_child([sys.executable, "-c", f"import {modules}"])  # its bytecode, once
    return run_child([sys.executable, "-c", f"import {modules}"])


def time_museval(
    track_dir: Path, method: str, alphas: list[float]
) -> tuple[float, float, dict]:
    """Wall and CPU seconds of one plain ``museval.evaluate`` per α on ready-made stems, SDRs."""
    import museval

    track = load_track(track_dir)
    mask = probability_mask(
        track.mixture,
        track.sr,
        method=method,
        references=track.references if method.startswith("oracle") else None,
    )
    stems = [separate_at_alpha(mask, alpha=a) for a in alphas]  # ready-made, not timed
    refs = track.references.transpose(0, 2, 1)  # museval's (sources, samples, channels)
    sdr = {}
    total = cpu = 0.0
    for a, est in zip(alphas, stems, strict=True):
        t0, c0 = time.perf_counter(), time.process_time()
        out = museval.evaluate(refs, est.transpose(0, 2, 1), win=track.sr, hop=track.sr)
        total += time.perf_counter() - t0
        cpu += time.process_time() - c0
        sdr[a] = np.asarray(out[0], dtype=np.float64)
        print(f"museval α={a:.2f}: {total:6.1f} s so far", file=sys.stderr)
    return total, cpu, sdr


def main() -> None:
    """Run the benchmark, print and save the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--method", default="dnn")
    parser.add_argument("--alphas", default="0.05:0.95:0.05")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of the command (the median counts)"
    )
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "evaluate_e2e.md"))
    args = parser.parse_args()
    alphas = parse_alphas(args.alphas)
    load = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        data = Path(tmp) / "data"
        track_dir = make_track(data, args.seconds)
        first = time_command(data, Path(tmp) / "first", args.method, args.alphas)
        runs = []  # (wall, cpu, folder): the median wall time counts (a shared machine)
        for i in range(max(1, args.repeats)):
            folder = Path(tmp) / f"run{i}"
            runs.append((*time_command(data, folder, args.method, args.alphas), folder))
        t_cmd, cpu_cmd, run_dir = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        doc = json.loads((run_dir / f"{track_dir.name}.{args.method}.json").read_text())
        timing = doc["timing"]
        table = open_run(run_dir).tidy()
        t_imports, cpu_imports = time_imports(args.method)
        t_museval, cpu_museval, museval_sdr = time_museval(track_dir, args.method, alphas)

    worst = 0.0
    sdr = table[table["metric"] == "SDR"]
    for a, ref in museval_sdr.items():
        for s, target in enumerate(("vocals", "accompaniment")):
            got = sdr[(sdr["alpha"] == a) & (sdr["target"] == target)].sort_values("window")
            x, y = got["value"].to_numpy(), ref[s]
            ok = np.isfinite(x) & np.isfinite(y)
            if not np.array_equal(np.isfinite(x), np.isfinite(y)):
                raise SystemExit(f"NaN windows differ from museval at α={a} {target}")
            worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]))) if ok.any() else 0.0)

    mask_s = float(timing["mask_seconds"])
    stems_s = float(timing.get("stems_seconds", 0.0))
    sweep_s = float(timing.get("sweep_seconds", 0.0))
    setup_s = float(timing.get("engine_setup_seconds", 0.0))
    wait_s = float(timing.get("engine_wait_seconds", 0.0))  # set-up left after the mask
    both_s = float(timing["total_seconds"]) - mask_s - wait_s  # stems and sweep, overlapped
    rest = t_cmd - t_imports - float(timing["total_seconds"])
    n = len(alphas)
    imported = IMPORTS.get(args.method, "the CLI")
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_after = os.getloadavg()
    lines = [
        "## `genex evaluate` end to end vs plain museval (issue 12)",
        "",
        f"One {args.seconds:g} s stereo 44.1 kHz track (demo generator), method "
        f"`{args.method}`, {n} α values, BSS Eval v4 with 1 s windows. {when}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared; load "
        f"average {load[0]:.1f} at the start, {load_after[0]:.1f} at the end).",
        "",
        "| | wall time (s) | CPU time (s) |",
        "| --- | ---: | ---: |",
        f"| `genex evaluate` (a fresh process: start, imports, mask, {n} α, files; the median "
        f"of {len(runs)} runs: {', '.join(f'{r[0]:.2f}' for r in runs)} s) | "
        f"{t_cmd:.2f} | {cpu_cmd:.2f} |",
        f"| {n} plain `museval.evaluate` calls on ready-made stems | {t_museval:.1f} | "
        f"{cpu_museval:.1f} |",
        f"| (the command's untimed first run: bytecode compiled, files cached) | {first[0]:.2f} "
        f"| {first[1]:.2f} |",
        "",
        f"**The whole command is {t_museval / t_cmd:.1f}x faster** than museval alone "
        f"(goal >= 10x; {cpu_museval / cpu_cmd:.1f}x in CPU time). Largest |SDR difference| "
        f"between the stored table and museval over every window, target and α: {worst:.1e} dB.",
        "",
        "Where the command's time goes (wall):",
        "",
        "| phase | s |",
        "| --- | ---: |",
        f"| Python start and imports (a fresh process importing {imported}; CPU "
        f"{cpu_imports:.2f} s) | {t_imports:.2f} |",
        f"| probability mask (STFTs, resampling, network) and, in a second thread, the sweep "
        f"engine set-up (reference statistics, LU factors: {setup_s:.2f} s; {wait_s:.2f} s of "
        f"it after the mask) | {mask_s + wait_s:.2f} |",
        f"| stems and sweep, overlapped ({n} α: stems {stems_s:.2f} s in a second thread, sweep "
        f"engine {sweep_s:.2f} s, {sweep_s / n:.3f} s per α) | {both_s:.2f} |",
        f"| the rest (track loading, results files, the table) | {rest:.2f} |",
        "",
        "Command: `.venv/bin/python bench/bench_evaluate_e2e.py"
        + (f" --seconds {args.seconds:g}" if args.seconds != 20 else "")
        + (f" --method {args.method}" if args.method != "dnn" else "")
        + (f" --alphas {args.alphas}" if args.alphas != "0.05:0.95:0.05" else "")
        + (f" --repeats {args.repeats}" if args.repeats != 3 else "")
        + "`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
