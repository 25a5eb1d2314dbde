"""``genex train-composer`` and ``genex compose``: the blues LSTM experiment from the shell.

torch is imported inside the command functions, so building the parser stays light.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from core.types import ProgressEvent


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``train-composer`` and ``compose`` to ``sub``."""
    t = sub.add_parser(
        "train-composer",
        help="train Eck & Schmidhuber's blues LSTM (Experiment 1, 2, or 0 = modern LSTM)",
        description="Train a blues LSTM by next-step prediction; stops early when free-running "
        "generation keeps the 12-bar form. Writes a checkpoint and a .meta.json sidecar.",
    )
    t.add_argument("--experiment", type=int, choices=(0, 1, 2), default=2)
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", type=Path, required=True, help="checkpoint path (.pt)")
    t.add_argument("--melody-output", choices=("sigmoid", "softmax"), default="sigmoid")
    t.add_argument(
        "--chord-output",
        choices=("sigmoid", "softmax"),
        default="sigmoid",
        help="sigmoid: 12 independent chord units (the papers); softmax: one choice among the "
        "corpus's chords (C7/F7/G7)",
    )
    t.add_argument(
        "--chord-noise",
        type=float,
        default=0.0,
        help="share of bars whose fed-back chord input is made wrong for 1-8 steps while the "
        "target stays the form (exposure to its own mistakes; 0 = teacher forcing)",
    )
    t.add_argument(
        "--stop-mode",
        choices=("threshold", "sample"),
        default="threshold",
        help="run the networks free with the threshold rule or with sampled chords (T = 1) "
        "when choosing the network and stopping early",
    )
    t.add_argument("--n-segments", type=int, default=4096, help="corpus size in choruses")
    t.add_argument("--choruses-per-sequence", type=int, default=2)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, default=5e-3)
    t.add_argument(
        "--restarts",
        type=int,
        default=8,
        help="independent networks trained side by side; the first to keep the form wins",
    )
    t.add_argument("--init", choices=("gers", "chrono"), default="gers")
    t.add_argument(
        "--no-chord-first",
        dest="chord_first",
        action="store_false",
        help="Experiment 2: train chords and melody at once (as the papers did)",
    )
    t.add_argument(
        "--melody-epochs",
        type=int,
        default=8,
        help="Experiment 2: melody epochs after the form is learned",
    )
    t.add_argument("--hidden-size", type=int, default=32, help="Experiment 0 only")
    t.add_argument("--num-layers", type=int, default=1, help="Experiment 0 only")
    t.add_argument("--no-early-stop", dest="early_stop", action="store_false")
    t.add_argument(
        "--midi-folder",
        type=Path,
        default=None,
        help="train on a folder of MIDI files instead of the built-in corpus",
    )
    t.set_defaults(func=_train)

    c = sub.add_parser(
        "compose",
        help="compose free-running blues with a trained model; write MIDI (and WAV)",
        description="Compose with a blues LSTM checkpoint (default: the shipped Experiment 2) "
        "and print the objective measures.",
    )
    c.add_argument("--checkpoint", type=Path, default=None)
    c.add_argument("--bars", type=int, default=24)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", type=Path, required=True, help="MIDI file to write")
    c.add_argument("--wav", type=Path, default=None, help="also render audio to this WAV")
    c.add_argument("--mode", choices=("threshold", "sample"), default="threshold")
    c.add_argument("--temperature", type=float, default=1.0)
    c.add_argument("--threshold", type=float, default=0.5)
    c.add_argument(
        "--sample-chords",
        action="store_true",
        help="--mode sample: draw chords too (the papers thresholded them)",
    )
    c.add_argument(
        "--perturb",
        type=int,
        nargs=2,
        metavar=("START_BAR", "N_BARS"),
        default=None,
        help="force a wrong chord into N_BARS bars from START_BAR (0-based) and report the "
        "bars the model needs to get back onto the form (recovery_bars)",
    )
    c.add_argument(
        "--prime-midi",
        type=Path,
        default=None,
        help="prime with this MIDI file (taken to start at bar 1 of the form)",
    )
    c.add_argument("--tempo", type=float, default=120.0)
    c.add_argument("--json", action="store_true", help="print the measures as JSON")
    c.set_defaults(func=_compose)


def _command_line() -> str:
    return "genex " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _train(args: argparse.Namespace) -> int:
    from core.io_utils import check_output_file

    # before the corpus loads and the networks train: a bad --out would only fail at the end
    out = check_output_file(args.out, what="--out")
    check_output_file(out.with_name(out.name + ".meta.json"), what="--out sidecar")
    # lazy: torch and tqdm load only when the command runs (see the module docstring)
    from tqdm import tqdm

    from core.blues.midi import load_midi_folder
    from core.blues.model import ComposerConfig, TrainConfig, save_composer
    from core.blues.train import train_composer
    from core.io_utils import atomic_write_json

    model_cfg = ComposerConfig(
        experiment=args.experiment,
        melody_output=args.melody_output,
        chord_output=args.chord_output,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
    )
    cfg = TrainConfig(
        model=model_cfg,
        epochs=args.epochs,
        seed=args.seed,
        n_segments=args.n_segments,
        choruses_per_sequence=args.choruses_per_sequence,
        batch_size=args.batch_size,
        lr=args.lr,
        restarts=args.restarts,
        init=args.init,
        chord_first=args.chord_first,
        melody_epochs=args.melody_epochs,
        early_stop=args.early_stop,
        chord_noise=args.chord_noise,
        stop_mode=args.stop_mode,
    )
    corpus = None
    if args.midi_folder is not None:
        corpus = load_midi_folder(args.midi_folder, form=model_cfg.form)
    n_total = cfg.epochs + (
        cfg.melody_epochs if cfg.chord_first and cfg.model.experiment == 2 else 0
    )
    bar = tqdm(total=n_total, desc=f"exp{cfg.model.experiment}", unit="epoch")
    log: list[str] = []

    def progress(event: ProgressEvent) -> None:
        loss, acc = event.metrics["loss"], event.metrics["form_accuracy"]
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", form=f"{acc:.3f}")
        line = (
            f"epoch {event.done:4d}/{event.total}  loss {loss:.5f} nats/step  form_acc {acc:.4f}"
        )
        log.append(line)
        tqdm.write(line)

    result = train_composer(cfg, progress=progress, corpus=corpus)
    bar.close()
    command = _command_line()
    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    meta = {"command": command, "created": created, "seed": args.seed}
    path = save_composer(args.out, result.model, meta=meta)
    summary = {k: v for k, v in result.summary.items() if isinstance(v, float)}
    atomic_write_json(
        Path(str(path) + ".meta.json"),
        {"command": command, "created": created, "seed": int(args.seed), "summary": summary,
         "stopped_early": result.stopped_early,
         "train_config": cfg.to_dict()},
    )  # fmt: skip
    state = "form learned, stopped early" if result.stopped_early else "epoch budget used up"
    print(f"{state} after {result.epochs_run} epochs in {result.seconds:.1f} s")
    for k, v in summary.items():
        print(f"  {k}: {_fmt(v)}")
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB) and {path}.meta.json")
    return 0


def _compose(args: argparse.Namespace) -> int:
    # lazy: torch and pretty_midi load only when the command runs (see the module docstring)
    from core.blues.generate import compose
    from core.blues.measures import form_accuracy_per_chorus, measure_composition
    from core.blues.midi import midi_to_bytes, midi_to_roll, render_audio, roll_to_midi
    from core.blues.model import default_checkpoint, load_composer
    from core.io_utils import atomic_write_bytes, check_output_file

    # the output paths first: a folder or a read-only place fails before the model loads
    check_output_file(args.out, what="--out")
    if args.wav is not None:
        check_output_file(args.wav, what="--wav")
    ckpt = args.checkpoint or default_checkpoint(2)
    model = load_composer(ckpt)
    prime = None
    if args.prime_midi is not None:
        prime = midi_to_roll(args.prime_midi, form=model.form)
    comp = compose(
        model,
        bars=args.bars,
        seed=args.seed,
        mode=args.mode,
        threshold=args.threshold,
        temperature=args.temperature,
        prime=prime,
        sample_chords=args.sample_chords,
        perturb=None if args.perturb is None else (args.perturb[0], args.perturb[1]),
    )
    pm = roll_to_midi(comp.roll, form=comp.form, tempo=args.tempo)
    atomic_write_bytes(args.out, midi_to_bytes(pm))
    measures = measure_composition(comp)
    measures["n_prime_steps"] = float(comp.n_prime_steps)
    if args.wav is not None:
        from core.signal.audio import audio_to_bytes

        audio = render_audio(pm, sr=22050)
        atomic_write_bytes(args.wav, audio_to_bytes(audio.y, audio.sr, fmt="WAV", subtype="PCM_16"))
        measures["audio_seconds"] = audio.seconds
        print(f"rendered {args.wav} with {audio.synth}")
    if args.json:
        print(json.dumps(measures, indent=2))
    else:
        print(f"composed {comp.bars:g} bars with {ckpt} ({args.mode}) -> {args.out}")
        for k, v in measures.items():
            print(f"  {k}: {_fmt(v)}")
        per = form_accuracy_per_chorus(comp.roll, form=comp.form)
        print("  form accuracy per chorus: " + " ".join(f"{v:.2f}" for v in per))
    return 0
