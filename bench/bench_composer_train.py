"""Time training Experiment 2 (blues LSTM, melody + chords) from scratch to the form-learned stop.

Trains with the same settings as ``genex train-composer --experiment 2`` (the shipped model's
defaults), stops when free-running generation keeps the 12-bar form (>= 0.99 of steps over 24 bars,
confirmed over 100), then reports the wall-clock time and the form accuracy of 100 free-running
bars. Prints a markdown section and writes it to ``bench/results/composer_train.md``.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_composer_train.py [--seed 0] [--epochs N]
       [--chord-output softmax --stop-mode sample [--chord-noise 0.1]]   (issue 14's recipe;
       written to ``bench/results/composer_train_<recipe>.md``)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def main() -> None:
    """Run the benchmark and print a markdown section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="epoch cap (default: CLI's)")
    parser.add_argument("--experiment", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--chord-output", choices=("sigmoid", "softmax"), default=None)
    parser.add_argument("--chord-noise", type=float, default=None)
    parser.add_argument("--stop-mode", choices=("threshold", "sample"), default=None)
    args = parser.parse_args()

    import torch

    from core.blues.generate import compose
    from core.blues.measures import form_accuracy
    from core.blues.model import ComposerConfig, TrainConfig
    from core.blues.train import train_composer
    from core.cli import build_parser

    # the CLI's defaults are the shipped settings: read them from the parser, not a copy
    cli = build_parser().parse_args(
        ["train-composer", "--experiment", str(args.experiment), "--out", "unused.pt"]
    )
    epochs = args.epochs or cli.epochs
    chord_output = args.chord_output or cli.chord_output
    chord_noise = cli.chord_noise if args.chord_noise is None else args.chord_noise
    stop_mode = args.stop_mode or cli.stop_mode
    cfg = TrainConfig(
        model=ComposerConfig(experiment=args.experiment, melody_output=cli.melody_output,
                             chord_output=chord_output),
        chord_noise=chord_noise, stop_mode=stop_mode,
        epochs=epochs, seed=args.seed, n_segments=cli.n_segments,
        choruses_per_sequence=cli.choruses_per_sequence, batch_size=cli.batch_size, lr=cli.lr,
        restarts=cli.restarts, init=cli.init, chord_first=cli.chord_first,
        melody_epochs=cli.melody_epochs,
    )  # fmt: skip
    t0 = time.perf_counter()
    res = train_composer(cfg)
    seconds = time.perf_counter() - t0
    staged = cfg.chord_first and args.experiment == 2
    form_epochs = res.epochs_run - (cfg.melody_epochs if staged else 0)
    form_seconds = res.history[form_epochs - 1]["seconds"] if form_epochs > 0 else float("nan")
    comp = compose(res.model, bars=100, seed=args.seed)
    acc100 = form_accuracy(comp.roll, form=comp.form)
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    except OSError:
        rev = "?"
    cmd = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} .venv/bin/python " + \
        " ".join(["bench/bench_composer_train.py", *sys.argv[1:]])
    lines = [
        f"## Composer: training Experiment {args.experiment} from scratch",
        "",
        f"`{cmd}` — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {rev}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
        f"load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| stopped because the form was learned | {'yes' if res.stopped_early else 'no'} |",
        f"| epochs run (cap {epochs} + melody stage) | {res.epochs_run} |",
        f"| time until the form was kept (chord stage) | {form_seconds:.1f} s "
        f"({form_epochs} epochs) |",
        f"| total training time incl. melody stage | {seconds:.1f} s ({seconds / 60:.1f} min) |",
        f"| final training loss | {res.history[-1]['loss']:.4f} nats/step |",
        f"| form accuracy, 100 free-running bars (threshold 0.5) | {acc100:.4f} |",
        f"| held-out NLL | {res.summary.get('held_out_nll', float('nan')):.4f} nats/step |",
        f"| parameters | {res.model.n_parameters} |",
        "",
        "Settings: " + ", ".join(f"{k}={v}" for k, v in (
            ("n_segments", cfg.n_segments), ("batch_size", cfg.batch_size), ("lr", cfg.lr),
            ("choruses_per_sequence", cfg.choruses_per_sequence), ("seed", cfg.seed),
            ("restarts", cfg.restarts), ("init", cfg.init), ("melody_epochs", cfg.melody_epochs),
            ("chord_output", chord_output), ("chord_noise", chord_noise),
            ("stop_mode", stop_mode),
        )) + ". Early stop: form accuracy >= 0.99 over 24 free-running bars, confirmed over 100"
        + (" (threshold rule and two sampled runs)." if stop_mode == "sample" else "."),
        "",
    ]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    name = "composer_train" if args.experiment == 2 else f"composer_train_exp{args.experiment}"
    if chord_output != "sigmoid" or chord_noise > 0 or stop_mode != "threshold":
        name += f"_{chord_output}_{stop_mode}" + (f"_noise{chord_noise:g}" if chord_noise else "")
    out = REPO_ROOT / "bench" / "results" / f"{name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
