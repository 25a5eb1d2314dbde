"""``genex`` subcommands that build corpora (make-corpus)."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands to ``sub``."""
    p = sub.add_parser(
        "make-corpus",
        help="render a seeded synthetic multitrack corpus (vocals + accompaniment stems)",
        description=(
            "Render songs from MIDI with FluidSynth and the GM soundfont: a voice-like lead as "
            "the vocals stem, chords/bass/drums as the accompaniment. Writes "
            "OUT/{train,valid,test}/<song>/{mixture,vocals,accompaniment}.wav and OUT/corpus.json. "
            "With --demo, writes the shipped demo-track layout instead (flat track folders, "
            "README.md, tracks.meta.json)."
        ),
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--songs", type=int, required=True, help="number of songs")
    p.add_argument("--seed", type=int, required=True, help="corpus seed")
    p.add_argument("--seconds", type=float, default=None,
                   help="length of each song in seconds (default 15; 12 with --demo)")
    p.add_argument("--sr", type=int, default=22050, help="sample rate in Hz (default 22050)")
    p.add_argument("--channels", type=int, choices=(1, 2), default=1,
                   help="1 = mono, 2 = stereo with panned instruments (default 1)")
    p.add_argument("--splits", default="0.8,0.1,0.1",
                   help="train,valid,test fractions (default 0.8,0.1,0.1)")
    p.add_argument("--format", dest="fmt", choices=("wav", "flac"), default=None,
                   help="audio file format (default wav; flac with --demo)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing corpus in --out")
    p.add_argument("--demo", action="store_true",
                   help="write demo tracks (test-split songs; every second track stereo)")
    p.set_defaults(func=_make_corpus)


def _make_corpus(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.corpus import make_demo_tracks, make_synthetic_corpus
    from core.errors import InvalidConfigError

    try:
        splits = tuple(float(x) for x in args.splits.split(","))
    except ValueError:
        raise InvalidConfigError(
            f"--splits must be three comma-separated fractions, got {args.splits!r}"
        ) from None
    start = time.perf_counter()
    with tqdm(total=args.songs, unit="song", desc="make-corpus", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        if args.demo:
            out = make_demo_tracks(
                args.out,
                songs=args.songs,
                seed=args.seed,
                sr=args.sr,
                seconds=args.seconds if args.seconds is not None else 12.0,
                fmt=args.fmt or "flac",
                progress=progress,
            )
        else:
            out = make_synthetic_corpus(
                args.out,
                songs=args.songs,
                seed=args.seed,
                sr=args.sr,
                seconds=args.seconds if args.seconds is not None else 15.0,
                splits=splits,
                channels=args.channels,
                fmt=args.fmt or "wav",
                overwrite=args.overwrite,
                progress=progress,
            )
    elapsed = time.perf_counter() - start
    from core.corpus import list_tracks, split_tracks

    print(f"wrote {args.songs} songs to {out} in {elapsed:.1f} s")
    if args.demo:
        for path in list_tracks(out):
            print(f"  {path.name}")
    else:
        for split in ("train", "valid", "test"):
            print(f"  {split}: {len(split_tracks(out, split))} songs")  # type: ignore[arg-type]
    return 0
