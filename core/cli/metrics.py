"""``genex`` subcommands of the metrics experiment: ``evaluate`` and ``results``.

:mod:`core.evaluation` (pandas, scipy) is imported when a subcommand runs, so ``genex --help``
stays quick; the method and rule choices come from the one registry, :mod:`core.karaoke.methods`.
The split and metric names are checked by core when the command runs (exit code 2 either way).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from core.errors import InvalidConfigError
from core.karaoke.methods import MAX_ALPHAS, METHODS, RULES
from core.types import ProgressEvent


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands to ``sub``."""
    p = sub.add_parser(
        "evaluate",
        help="BSS Eval v4 (SDR/SIR/SAR/ISR) of separation methods across the threshold α",
        description=(
            "Separate every track of DATA with each method at every α and score the stems with "
            "BSS Eval v4 (museval-exact, 1 s windows). Results go to a results run folder "
            "(config.json, <track>.<method>.json, metrics.parquet); re-running with the same "
            "options resumes."
        ),
    )
    p.add_argument(
        "--data", required=True, help="corpus folder (track folders, or <split>/<track>)"
    )
    p.add_argument(
        "--methods",
        default="dnn,traditional,oracle",
        help=f"comma list of {', '.join(METHODS)} (default: %(default)s)",
    )
    p.add_argument(
        "--alphas",
        default="0.05:0.95:0.05",
        help="α grid, start:stop:step (inclusive) or a comma list (default: %(default)s)",
    )
    p.add_argument(
        "--max-alphas",
        type=int,
        default=MAX_ALPHAS,
        help="most α values --alphas may give (default: %(default)s)",
    )
    p.add_argument("--out", required=True, help="results run folder")
    p.add_argument("--checkpoint", default=None, help="DNN checkpoint (default: shipped dnn.pt)")
    p.add_argument("--nmf", default=None, help="NMF bases (default: shipped nmf.npz)")
    p.add_argument(
        "--rule",
        default="paper",
        choices=RULES,
        help="thresholding rule (default: %(default)s)",
    )
    p.add_argument("--split", default=None, help="corpus split (a folder of DATA)")
    p.add_argument("--tracks", default=None, help="comma list of track names to keep")
    p.add_argument("--win", type=float, default=1.0, help="window, seconds (default: 1)")
    p.add_argument("--hop", type=float, default=1.0, help="hop, seconds (default: 1)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="longest track accepted, seconds; longer tracks are refused, not truncated "
        "(default: 600; memory grows with the length: per minute of 44.1 kHz stereo, "
        "21 MB per copy of the audio and 40 MB per copy of its STFT)",
    )
    p.add_argument("--seed", type=int, default=0, help="recorded in the config (default: 0)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a run with a different configuration"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes: 1 (default) scores in this process; N > 1 runs one task per "
        "track x method on a local Dask cluster of N processes",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="tcp://HOST:PORT of an existing Dask cluster (`dask scheduler` / `dask worker`) "
        "to run the tasks on; workers read the tracks by path (shared filesystem)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_evaluate)

    r = sub.add_parser("results", help="summarise a results run (best α per method and target)")
    r.add_argument("run", help="results run folder")
    r.add_argument("--metric", default="SDR", help="BSS Eval metric to rank by (default: SDR)")
    r.add_argument("--export-museval", default=None, help="also write plain museval JSON here")
    r.set_defaults(func=_results)


def _evaluate(args: argparse.Namespace) -> int:
    from core.evaluation.results import describe
    from core.evaluation.sweep import evaluate_tracks, find_tracks, parse_alphas, parse_methods

    methods = parse_methods(args.methods)
    alphas = parse_alphas(args.alphas, max_values=args.max_alphas)
    tracks = find_tracks(args.data, split=args.split)
    if args.tracks:
        keep = {t.strip() for t in args.tracks.split(",") if t.strip()}
        missing = keep - {t.name for t in tracks}
        if missing:
            raise InvalidConfigError(
                f"--tracks names not found under {args.data}: {sorted(missing)}"
            )
        tracks = [t for t in tracks if t.name in keep]
    command = _reconstruct(args)
    bars = None if args.quiet else _Bars(len(tracks))
    try:
        run = evaluate_tracks(
            tracks,
            methods=methods,
            alphas=alphas,
            out=args.out,
            checkpoint=args.checkpoint,
            nmf=args.nmf,
            rule=args.rule,
            win_seconds=args.win,
            hop_seconds=args.hop,
            data=args.data,
            split=args.split,
            max_seconds=args.max_seconds,
            seed=args.seed,
            overwrite=args.overwrite,
            command=command,
            progress=bars,
            max_alphas=args.max_alphas,
            workers=args.workers,
            scheduler=args.scheduler,
        )
    finally:
        if bars is not None:
            bars.close()
    print(describe(run))
    return 0


class _Bars:
    """tqdm bars for :func:`core.evaluation.sweep.evaluate_tracks`: tracks, and α within one."""

    def __init__(self, n_tracks: int) -> None:
        from tqdm import tqdm  # lazy, as the evaluation itself

        self._tqdm = tqdm
        self._track = tqdm(total=n_tracks, desc="tracks", unit="track", position=0)
        self._alpha: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "task":  # on a cluster: finished track x method tasks
            bar = self._track
            bar.total = event.total
            bar.set_description("tasks")
            bar.unit = "task"
        elif event.stage == "track":
            bar = self._track
        else:
            if self._alpha is None or event.done == 1:  # a new track x method starts
                if self._alpha is not None:
                    self._alpha.close()
                self._alpha = self._tqdm(
                    total=event.total, desc="  α", unit="α", position=1, leave=False
                )
            bar = self._alpha
        bar.n = event.done
        bar.set_postfix_str(event.message)
        bar.refresh()

    def close(self) -> None:
        for bar in (self._alpha, self._track):
            if bar is not None:
                bar.close()


def _reconstruct(args: argparse.Namespace) -> str:
    """The equivalent command line (when called programmatically, not from a shell)."""
    parts = ["genex", "evaluate", "--data", str(args.data), "--methods", args.methods]
    parts += ["--alphas", args.alphas, "--out", str(args.out)]
    for flag, value in (
        ("--checkpoint", args.checkpoint),
        ("--nmf", args.nmf),
        ("--split", args.split),
        ("--tracks", args.tracks),
        ("--max-seconds", args.max_seconds),
    ):
        if value is not None:
            parts += [flag, str(value)]
    if args.rule != "paper":
        parts += ["--rule", args.rule]
    if getattr(args, "max_alphas", MAX_ALPHAS) != MAX_ALPHAS:
        parts += ["--max-alphas", str(args.max_alphas)]
    if args.win != 1.0 or args.hop != 1.0:
        parts += ["--win", str(args.win), "--hop", str(args.hop)]
    return " ".join(map(shlex.quote, parts))


def _results(args: argparse.Namespace) -> int:
    from core.evaluation.results import describe, export_museval, open_run

    run = open_run(args.run)
    print(describe(run, metric=args.metric))
    if args.export_museval:
        files = export_museval(run, args.export_museval)
        print(f"wrote {len(files)} museval files under {args.export_museval}")
    return 0
