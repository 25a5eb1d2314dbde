"""``genex`` subcommands that build corpora (make-corpus)."""

from __future__ import annotations

import argparse
import sys
import time

from core.types import ProgressEvent


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
            "README.md, tracks.meta.json). --preset picks the source set: gm (default: "
            "TimGM6mb, GM voice patches), train (TimGM6mb + OPL3 FM soundfonts, GM and "
            "source-filter voices, effects) or unseen (FluidR3_GM, espeak-ng voices, effects; "
            "test split only, never overlapping train)."
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
    p.add_argument("--splits", default=None,
                   help="train,valid,test fractions (default 0.8,0.1,0.1; 0,0,1 for --preset "
                        "unseen)")
    p.add_argument("--preset", choices=("gm", "train", "unseen"), default="gm",
                   help="named source set (default gm, the original corpus)")
    p.add_argument("--soundfonts", default=None,
                   help="comma-separated soundfonts replacing the preset's "
                        "(TimGM6mb, FluidR3_GM, OPL3_FM)")
    p.add_argument("--voices", default=None,
                   help="comma-separated voice families replacing the preset's "
                        "(gm, formant, espeak)")
    fx = p.add_mutually_exclusive_group()
    fx.add_argument("--effects", dest="effects", action="store_true", default=None,
                    help="apply random per-stem effects (default: the preset's choice)")
    fx.add_argument("--no-effects", dest="effects", action="store_false",
                    help="no effects")
    p.add_argument("--format", dest="fmt", choices=("wav", "flac"), default=None,
                   help="audio file format (default wav; flac with --demo)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing corpus in --out")
    p.add_argument("--demo", action="store_true",
                   help="write demo tracks (test-split songs; every second track stereo)")
    p.add_argument("--demo-sources", default="gm",
                   help="with --demo: comma-separated presets, track k uses the k-th "
                        "(cycling), e.g. gm,train,unseen (default gm)")
    p.set_defaults(func=_make_corpus)


def _make_corpus(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.errors import InvalidConfigError
    from core.karaoke.corpus import make_demo_tracks, make_synthetic_corpus
    from core.karaoke.synth import source_set

    splits: tuple[float, ...] | None = None
    if args.splits is not None:
        try:
            splits = tuple(float(x) for x in args.splits.split(","))
        except ValueError:
            raise InvalidConfigError(
                f"--splits must be three comma-separated fractions, got {args.splits!r}"
            ) from None

    def _list(value: str | None) -> list[str] | None:
        return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

    sources = source_set(args.preset, soundfonts=_list(args.soundfonts),
                         voices=_list(args.voices), effects=args.effects)
    start = time.perf_counter()
    with tqdm(total=args.songs, unit="song", desc="make-corpus", file=sys.stderr) as bar:

        def progress(event: ProgressEvent) -> None:
            bar.update(event.done - bar.n)

        if args.demo:
            out = make_demo_tracks(
                args.out,
                songs=args.songs,
                seed=args.seed,
                sr=args.sr,
                seconds=args.seconds if args.seconds is not None else 12.0,
                fmt=args.fmt or "flac",
                sources=_list(args.demo_sources) or ["gm"],
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
                sources=sources,
                channels=args.channels,
                fmt=args.fmt or "wav",
                overwrite=args.overwrite,
                progress=progress,
            )
    elapsed = time.perf_counter() - start
    from core.karaoke.tracks import list_tracks, split_tracks

    print(f"wrote {args.songs} songs to {out} in {elapsed:.1f} s")
    if args.demo:
        for path in list_tracks(out):
            print(f"  {path.name}")
    else:
        for split in ("train", "valid", "test"):
            print(f"  {split}: {len(split_tracks(out, split))} songs")
    return 0
