"""``genex`` subcommands of the separator experiment: train-separator, train-nmf, separate.

Flags map 1:1 onto :class:`core.separator.DnnConfig` and :class:`core.nmf_baseline.NmfConfig`
fields. Heavy modules (torch, sklearn) are imported inside the handlers, so ``genex --help``
stays fast.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InvalidConfigError
from core.io_utils import atomic_write_json

# defaults shown in --help come from the dataclasses (kept in sync by hand: plain literals here
# so that building the parser does not import torch)
_DNN_DEFAULTS = {
    "hidden": 128, "lr": 1e-3, "batch_size": 128, "patience": 4, "train_step": 4,
    "gain_db": 6.0, "loss": "bce", "weight_decay": 0.0, "remix": 0.5, "vocal_gain_db": 3.0,
}


def _command(args: argparse.Namespace, name: str) -> str:
    """The full ``genex`` command line equivalent to ``args`` (every flag spelled out)."""
    parts = ["genex", name]
    for key, value in vars(args).items():
        if key in ("func", "command") or value is None or value is False:
            continue
        if key == "mixture":
            parts.insert(2, shlex.quote(str(value)))
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, shlex.quote(str(value))]
    return " ".join(parts)


def write_sidecar(path: str | Path, *, command: str, seed: int, summary: dict[str, Any]) -> Path:
    """Write ``<path>.meta.json`` (command, created, seed, summary) next to an asset."""
    path = Path(path)
    return atomic_write_json(
        path.with_name(path.name + ".meta.json"),
        {
            "command": command,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": int(seed),
            "summary": summary,
        },
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands to ``sub``."""
    p = sub.add_parser(
        "train-separator",
        help="train the Deep Karaoke DNN on a corpus (train/valid splits)",
        description="Train the Deep Karaoke DNN on the ideal binary masks of a corpus made by "
        "`genex make-corpus` (or any MUSDB18-HQ-style folder with train/valid splits).",
    )
    p.add_argument("--data", required=True, help="corpus root with train/ and valid/")
    p.add_argument("--epochs", type=int, default=30, help="maximum epochs (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", required=True, help="checkpoint path (.pt)")
    p.add_argument("--hidden", type=int, default=_DNN_DEFAULTS["hidden"], help="hidden units")
    p.add_argument("--lr", type=float, default=_DNN_DEFAULTS["lr"], help="Adam learning rate")
    p.add_argument("--batch-size", type=int, default=_DNN_DEFAULTS["batch_size"])
    p.add_argument("--patience", type=int, default=_DNN_DEFAULTS["patience"],
                   help="early stopping: epochs without a better validation loss")
    p.add_argument("--train-step", type=int, default=_DNN_DEFAULTS["train_step"],
                   help="hop between training windows in frames (paper: 60)")
    p.add_argument("--gain-db", type=float, default=_DNN_DEFAULTS["gain_db"],
                   help="random level augmentation range in dB")
    p.add_argument("--remix", type=float, default=_DNN_DEFAULTS["remix"],
                   help="share of training windows remixed from random stems (augmentation)")
    p.add_argument("--vocal-gain-db", type=float, default=_DNN_DEFAULTS["vocal_gain_db"],
                   help="random vocal level range in dB when remixing")
    p.add_argument("--loss", choices=("bce", "mse"), default=_DNN_DEFAULTS["loss"])
    p.add_argument("--weight-decay", type=float, default=_DNN_DEFAULTS["weight_decay"])
    p.add_argument("--nmf-out", default=None,
                   help="also fit the NMF baseline's bases and save them here (.npz)")
    _add_nmf_flags(p)
    p.add_argument("--no-sidecar", action="store_true", help="do not write OUT.meta.json")
    p.set_defaults(func=_train_separator)

    p = sub.add_parser(
        "train-nmf",
        help="learn the supervised KL-NMF baseline's bases on a corpus",
        description="Fit vocal and accompaniment bases (scikit-learn NMF, KL divergence) on "
        "20-frame context windows of the corpus's training stems.",
    )
    p.add_argument("--data", required=True, help="corpus root with train/")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="bases file (.npz)")
    _add_nmf_flags(p)
    p.add_argument("--no-sidecar", action="store_true", help="do not write OUT.meta.json")
    p.set_defaults(func=_train_nmf)

    p = sub.add_parser(
        "separate",
        help="separate vocals and accompaniment of a mixture at threshold alpha",
        description="Write vocals.wav and accompaniment.wav (input rate and channels), "
        "prob_mask.npy (the probabilistic vocal mask on the input-rate STFT grid) and "
        "separation.json into OUT. Re-apply another alpha without the network with "
        "--from-mask OUT/prob_mask.npy.",
    )
    p.add_argument("mixture", help="mixture audio file (wav, flac, ...)")
    p.add_argument("--method", default="dnn",
                   choices=("dnn", "traditional", "nmf", "oracle", "oracle-irm"),
                   help="dnn (default), traditional (= nmf), oracle, oracle-irm")
    p.add_argument("--checkpoint", default=None,
                   help="dnn.pt (dnn) or nmf.npz (traditional); default: the shipped one")
    p.add_argument("--references", default=None,
                   help="folder with vocals and accompaniment stems (oracle methods)")
    p.add_argument("--alpha", type=float, default=0.5, help="threshold in [0, 1] (default 0.5)")
    p.add_argument("--rule", choices=("paper", "complement", "soft"), default="paper",
                   help="paper: vocal P>a, accomp. P<1-a; complement; soft: P and 1-P")
    p.add_argument("--from-mask", default=None,
                   help="reuse a prob_mask.npy written by an earlier run (no network)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_separate)


def _add_nmf_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-components", type=int, default=64,
                   help="NMF bases per source (paper 1500)")
    p.add_argument("--max-iter", type=int, default=200, help="NMF MU iterations when learning")
    p.add_argument("--max-windows", type=int, default=2000,
                   help="NMF training windows per source")
    p.add_argument("--nmf-train-step", dest="nmf_train_step", type=int, default=10,
                   help="hop between NMF training windows in frames")
    p.add_argument("--test-step", type=int, default=10, help="NMF window hop at separation time")
    p.add_argument("--test-max-iter", type=int, default=50, help="NMF MU iterations at test time")


def _nmf_config(args: argparse.Namespace) -> Any:
    from core.nmf_baseline import NmfConfig

    return NmfConfig(
        n_components=args.n_components,
        max_iter=args.max_iter,
        max_windows=args.max_windows,
        train_step=args.nmf_train_step,
        test_step=args.test_step,
        test_max_iter=args.test_max_iter,
        seed=args.seed,
    )


def _train_separator(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.separator import DnnConfig, save_separator, train_separator

    config = DnnConfig(
        hidden=args.hidden,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        patience=args.patience,
        train_step=args.train_step,
        gain_db=args.gain_db,
        loss=args.loss,
        weight_decay=args.weight_decay,
        remix=args.remix,
        vocal_gain_db=args.vocal_gain_db,
        seed=args.seed,
    )
    command = _command(args, "train-separator")
    bar = tqdm(total=config.epochs, desc="train-separator", unit="epoch")

    def progress(epoch: int, n: int, train_loss: float, valid_loss: float) -> None:
        bar.update(1)
        bar.set_postfix(train=f"{train_loss:.4f}", valid=f"{valid_loss:.4f}")
        tqdm.write(f"epoch {epoch}/{n}: train loss {train_loss:.4f}, valid loss {valid_loss:.4f}")

    result = train_separator(config, data=args.data, progress=progress)
    bar.close()
    path = save_separator(args.out, result, meta={"command": command})
    size = path.stat().st_size
    print(
        f"saved {path} ({size / 1e6:.2f} MB): best valid loss {result.best_valid_loss:.4f} "
        f"at epoch {result.best_epoch}, {result.seconds:.0f} s"
    )
    if not args.no_sidecar:
        write_sidecar(
            path,
            command=command,
            seed=args.seed,
            summary={
                "best_valid_loss": round(result.best_valid_loss, 5),
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
                "train_seconds": round(result.seconds, 1),
                "train_tracks": result.corpus.get("train_tracks"),
                "train_windows": result.corpus.get("train_windows"),
                "size_mb": round(size / 1e6, 3),
            },
        )
    if args.nmf_out:
        args.out = args.nmf_out
        return _train_nmf(args, command=command)
    return 0


def _train_nmf(args: argparse.Namespace, *, command: str | None = None) -> int:
    from tqdm import tqdm

    from core.nmf_baseline import fit_nmf, save_nmf

    config = _nmf_config(args)
    command = command or _command(args, "train-nmf")
    bar = tqdm(total=2, desc="train-nmf", unit="source")

    def progress(step: int, n: int, message: str) -> None:
        bar.n = step
        bar.set_postfix_str(message)
        bar.refresh()

    model = fit_nmf(config, data=args.data, progress=progress)
    bar.close()
    path = save_nmf(args.out, model, meta={"command": command})
    size = path.stat().st_size
    print(f"saved {path} ({size / 1e6:.2f} MB) in {model.meta['fit_seconds']:.0f} s")
    if not getattr(args, "no_sidecar", False):
        write_sidecar(
            path,
            command=command,
            seed=args.seed,
            summary={
                "n_components": config.n_components,
                "vocals_windows": model.meta.get("vocals_windows"),
                "accompaniment_windows": model.meta.get("accompaniment_windows"),
                "fit_seconds": round(model.meta["fit_seconds"], 1),
                "size_mb": round(size / 1e6, 3),
            },
        )
    return 0


def _separate(args: argparse.Namespace) -> int:
    from core.audio import load_audio, write_audio
    from core.separation import mask_result_from_prob, probability_mask, separate_at_alpha
    from core.stft import StftConfig

    method = "traditional" if args.method == "nmf" else args.method
    t0 = time.perf_counter()
    mixture, sr = load_audio(args.mixture)
    out = Path(args.out)
    settings: dict[str, Any]
    if args.from_mask:
        mask_path = Path(args.from_mask)
        try:
            prob = np.load(mask_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidConfigError(f"cannot read the mask {str(mask_path)!r}: {exc}") from exc
        side = mask_path.with_name("separation.json")
        saved = json.loads(side.read_text()) if side.is_file() else {}
        cfg = StftConfig.from_dict(saved["stft_config"]) if "stft_config" in saved else None
        result = mask_result_from_prob(
            mixture, sr, prob, method=saved.get("method", method), stft_config=cfg
        )
        settings = {**saved, "from_mask": str(mask_path)}
    else:
        references = None
        if args.references:
            from core.corpus import load_track

            references = load_track(args.references, sr=sr).references
        result = probability_mask(
            mixture, sr, method=method, references=references, checkpoint=args.checkpoint
        )
        settings = {
            "mixture": str(Path(args.mixture).resolve()),
            "method": method,
            "checkpoint": result.info.get("checkpoint"),
            "references": args.references,
            "sr": sr,
            "channels": int(mixture.shape[0]),
            "length": int(mixture.shape[1]),
            "stft_config": result.stft_config.to_dict(),
            "model_sr": result.model_sr,
            "mask_seconds": round(result.seconds, 3),
        }
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "prob_mask.npy", result.prob)
    stems = separate_at_alpha(result, alpha=args.alpha, rule=args.rule)
    write_audio(out / "vocals.wav", stems[0], sr)
    write_audio(out / "accompaniment.wav", stems[1], sr)
    settings.update(alpha=args.alpha, rule=args.rule, command=_command(args, "separate"))
    atomic_write_json(out / "separation.json", settings)
    dt = time.perf_counter() - t0
    print(
        f"{method}: wrote {out / 'vocals.wav'}, {out / 'accompaniment.wav'} "
        f"({mixture.shape[0]} ch, {sr} Hz, {mixture.shape[1] / sr:.1f} s) in {dt:.1f} s"
    )
    return 0
