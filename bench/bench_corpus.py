"""Time the synthetic corpus generator and the track loader.

Usage: ``.venv/bin/python bench/bench_corpus.py [--songs 100] [--seconds 15] [--sr 22050]``

Generates a corpus into a temporary folder with ``core.corpus.make_synthetic_corpus`` (the same
code path as ``genex make-corpus``), times composing, rendering and writing separately on the
first songs, then loads every track back with ``core.corpus.load_track``. Baseline: the audio
duration itself (real-time factor = audio seconds per wall-clock second). Prints a markdown
section for BENCHMARKS.md and writes it to ``bench/results/corpus.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.corpus import (  # noqa: E402
    list_tracks,
    load_track,
    make_synthetic_corpus,
    split_counts,
)
from core.synth_corpus import compose_song, render_song  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--sr", type=int, default=22050)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parts", type=int, default=10, help="songs timed part by part")
    args = parser.parse_args()

    # Part-by-part timing on the first songs (compose / render / both stems).
    compose_s = render_s = 0.0
    for i in range(args.parts):
        t0 = time.perf_counter()
        song = compose_song(args.seed, i, seconds=args.seconds)
        t1 = time.perf_counter()
        render_song(song, sr=args.sr, seconds=args.seconds)
        t2 = time.perf_counter()
        compose_s += t1 - t0
        render_s += t2 - t1

    tmp = Path(tempfile.mkdtemp(prefix="bench_corpus_"))
    try:
        t0 = time.perf_counter()
        out = make_synthetic_corpus(
            tmp / "c", songs=args.songs, seed=args.seed, sr=args.sr, seconds=args.seconds
        )
        make_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        paths = list_tracks(out)
        t0 = time.perf_counter()
        for p in paths:
            load_track(p)
        load_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    audio_s = args.songs * args.seconds
    counts = split_counts(args.songs)
    cmd = (
        f"genex make-corpus --out DIR --songs {args.songs} --seed {args.seed} "
        f"--seconds {args.seconds:g} --sr {args.sr}"
    )
    lines = [
        "## Synthetic corpus generation and loading",
        "",
        f"Command: `.venv/bin/python bench/bench_corpus.py --songs {args.songs} "
        f"--seconds {args.seconds:g} --sr {args.sr}` (times `{cmd}` through "
        "`core.corpus.make_synthetic_corpus`, then `load_track` on every song). Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), Python "
        f"{platform.python_version()}. Baseline: the audio's own duration.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| songs (train/valid/test) | {args.songs} ({counts['train']}/{counts['valid']}/"
        f"{counts['test']}) x {args.seconds:g} s mono at {args.sr} Hz |",
        f"| compose one song (MIDI score), mean of {args.parts} | "
        f"{1000 * compose_s / args.parts:.0f} ms |",
        f"| render one song (2 FluidSynth stems + mix), mean of {args.parts} | "
        f"{1000 * render_s / args.parts:.0f} ms |",
        f"| whole corpus (compose + render + write 3 WAV + MIDI per song) | {make_s:.1f} s "
        f"({make_s / args.songs:.2f} s per song) |",
        f"| generation speed | {audio_s / make_s:.0f}x real time |",
        f"| corpus size on disk (PCM16 WAV) | {size / 1e6:.0f} MB |",
        f"| load every track back (`load_track`) | {load_s:.1f} s "
        f"({1000 * load_s / len(paths):.0f} ms per song, {audio_s / load_s:.0f}x real time) |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "corpus.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
