"""Time the synthetic corpus generator and the track loader.

Usage: ``.venv/bin/python bench/bench_corpus.py [--songs 100] [--seconds 15] [--sr 22050]
[--presets gm,train,unseen]``

Generates a corpus into a temporary folder with
``core.karaoke.corpus.make_synthetic_corpus`` (the same code path as ``genex make-corpus``),
times composing and rendering separately on the first songs, then loads every track back with
``core.karaoke.tracks.load_track``. Baseline: the audio duration itself (real-time factor =
audio seconds per wall-clock second). Prints a markdown section for BENCHMARKS.md and writes it
to ``bench/results/corpus.md``. Each preset (source set: ``gm``, ``train``, ``unseen``) is timed
on its own; the first rendered songs include one-off costs (soundfont loads, espeak-ng syllable
renders, which are cached per process).
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

from core.karaoke.corpus import make_synthetic_corpus, split_counts  # noqa: E402
from core.karaoke.synth import (  # noqa: E402
    SOURCE_PRESETS,
    compose_song,
    draw_sources,
    render_song,
)
from core.karaoke.tracks import list_tracks, load_track  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--sr", type=int, default=22050)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parts", type=int, default=10, help="songs timed part by part")
    parser.add_argument("--presets", default="gm,train,unseen",
                        help="comma-separated source sets to time (default gm,train,unseen)")
    args = parser.parse_args()

    presets = [p for p in args.presets.split(",") if p]
    lines = [
        "## Synthetic corpus generation and loading",
        "",
        f"Command: `.venv/bin/python bench/bench_corpus.py --songs {args.songs} "
        f"--seconds {args.seconds:g} --sr {args.sr} --presets {args.presets}` (times "
        "`genex make-corpus --preset P` through `core.karaoke.corpus.make_synthetic_corpus`, "
        f"then `load_track` on every song). Machine: {platform.machine()}, {os.cpu_count()} CPU "
        f"cores (shared), Python {platform.python_version()}. Baseline: the audio's own "
        "duration (real-time factor = audio seconds per wall-clock second).",
        "",
        "| preset (soundfonts; voices) | compose, ms/song | render, ms/song | corpus, s "
        "(songs) | generation | size | load back |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for preset in presets:
        sources = SOURCE_PRESETS[preset]
        split = "test" if sources.heldout else "train"
        compose_s = render_s = 0.0
        for i in range(args.parts):
            t0 = time.perf_counter()
            song = compose_song(args.seed, i, seconds=args.seconds, split=split)
            t1 = time.perf_counter()
            drawn = None if preset == "gm" else draw_sources(song, sources, sr=args.sr)
            render_song(song, sr=args.sr, seconds=args.seconds, sources=drawn)
            t2 = time.perf_counter()
            compose_s += t1 - t0
            render_s += t2 - t1
        tmp = Path(tempfile.mkdtemp(prefix="bench_corpus_"))
        try:
            t0 = time.perf_counter()
            out = make_synthetic_corpus(tmp / "c", songs=args.songs, seed=args.seed + 1,
                                        sr=args.sr, seconds=args.seconds, sources=preset)
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
        splits = (0.0, 0.0, 1.0) if sources.heldout else (0.8, 0.1, 0.1)
        counts = split_counts(args.songs, splits)
        desc = f"{preset} ({', '.join(sources.soundfonts)}; {', '.join(sources.voices)}" + (
            "; effects)" if sources.effects else ")")
        line = (
            f"| {desc} | {1000 * compose_s / args.parts:.0f} | "
            f"{1000 * render_s / args.parts:.0f} (first {args.parts}, "
            f"{args.parts * args.seconds / render_s:.0f}x) | {make_s:.1f} "
            f"({counts['train']}/{counts['valid']}/{counts['test']}) | "
            f"**{audio_s / make_s:.0f}x real time** | {size / 1e6:.0f} MB | "
            f"{audio_s / load_s:.0f}x real time |"
        )
        print(line, flush=True)
        lines.append(line)
    lines += ["", f"Songs of {args.seconds:g} s, mono, {args.sr} Hz, PCM16 WAV."]
    text = "\n".join(lines) + "\n"
    print(text)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "corpus.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
