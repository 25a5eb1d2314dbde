"""``genex`` subcommands of the separator experiment: train-separator, train-nmf, separate.

Flags map 1:1 onto :class:`core.karaoke.dnn.DnnConfig` and :class:`core.karaoke.nmf.NmfConfig`
fields. Heavy modules (torch, sklearn) are imported inside the handlers, so ``genex --help``
stays fast.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from core.errors import CoreError, InvalidConfigError
from core.io_utils import (
    OutputSet,
    atomic_write_json,
    check_output_dir,
    check_output_file,
    output_lock,
)
from core.karaoke.dnn_config import DnnConfig
from core.karaoke.methods import (
    METHOD_SPECS,
    METHODS,
    RULE_LABELS,
    RULES,
    MethodId,
    check_alpha,
    check_rule,
)
from core.types import ProgressEvent

#: Defaults shown in ``--help`` (the config module does not import torch).
_DNN_DEFAULTS = DnnConfig().to_dict()


def _command(args: argparse.Namespace, name: str, *, skip: tuple[str, ...] = ()) -> str:
    """The full ``genex`` command line equivalent to ``args``.

    Every flag is spelled out, except the destinations in ``skip``.
    """
    parts = ["genex", name]
    for key, value in vars(args).items():
        if key in ("func", "command", "debug", *skip) or value is None or value is False:
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


#: ``train-separator`` flags that set one :class:`DnnConfig` field: (flag, type or choices, help).
_DNN_FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("--epochs", int, "maximum epochs"),
    ("--patience", int, "early stopping: epochs without a better validation loss"),
    ("--sr", int, "model sample rate, Hz"),
    ("--n-fft", int, "model STFT size"),
    ("--hop-length", int, "model STFT hop"),
    ("--frames", int, "context window, frames (the paper: 20)"),
    ("--hidden", int, "hidden units (the paper: 20,500)"),
    ("--proj", int, "per-frame input features before the window layer (0 = dense, the paper)"),
    ("--basis", int, "per-frame output basis size (0 = dense, the paper)"),
    ("--activation", ("relu", "sigmoid"), "hidden activation (the paper: sigmoid)"),
    ("--average", ("logit", "prob"), "overlap-average window logits or masks (the paper: prob)"),
    ("--loss", ("bce", "mse"), "training loss (the paper: mse)"),
    ("--optimizer", ("adam", "sgd"), "optimizer (the paper: sgd)"),
    ("--lr", float, "learning rate"),
    ("--momentum", float, "SGD momentum (the paper: 0.5)"),
    ("--weight-decay", float, "L2 weight decay"),
    ("--batch-size", int, "windows per batch (the paper: 100)"),
    ("--train-step", int, "hop between training windows, frames (the paper: 60)"),
    ("--chunk-windows", int, "consecutive windows computed together from one stretch"),
    ("--gain-db", float, "random level augmentation range, dB"),
    ("--remix", float, "share of training stretches remixed from random stems"),
    ("--vocal-gain-db", float, "random vocal level range when remixing, dB"),
    ("--eq-db", float, "random per-source spectral envelope when remixing, peak dB"),
    ("--warp", float, "per-source frequency warp when remixing (VTLP; 0.1: up to 10 percent)"),
    ("--lr-schedule", ("constant", "cosine"), "learning-rate schedule over --epochs"),
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
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", required=True, help="checkpoint path (.pt)")
    p.add_argument("--paper", action="store_true",
                   help="start from the paper's configuration (DnnConfig.paper(): 44.1 kHz, "
                   "n_fft 2048/hop 512, 20,500 sigmoid units, squared error, SGD 0.1/0.5); "
                   "the flags below override single fields")
    for flag, kind, help_text in _DNN_FLAGS:
        field_name = flag[2:].replace("-", "_")
        extra: dict[str, Any] = {"choices": kind} if isinstance(kind, tuple) else {"type": kind}
        p.add_argument(flag, dest=field_name, default=None, help=f"{help_text} "
                       f"(default {_DNN_DEFAULTS[field_name]})", **extra)
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
        "--from-mask OUT/prob_mask.npy. The dnn and traditional methods stream the file block "
        "by block (bounded memory; the mask of a stereo file is computed on its mono downmix, "
        "applied to both channels and saved once, shape (1, bins, frames)); the oracle methods "
        "load it whole.",
    )
    p.add_argument("mixture", help="mixture audio file (wav, flac, ...)")
    p.add_argument("--method", default="dnn", choices=(*METHODS, "nmf"),
                   help="; ".join(f"{m.id}: {m.label}" for m in METHOD_SPECS)
                   + " (default dnn; nmf = traditional)")
    p.add_argument("--checkpoint", default=None,
                   help="dnn.pt (dnn) or nmf.npz (traditional); default: the shipped one")
    p.add_argument("--references", default=None,
                   help="folder with vocals and accompaniment stems (oracle methods)")
    p.add_argument("--alpha", type=float, default=0.5, help="threshold in [0, 1] (default 0.5)")
    p.add_argument("--rule", choices=RULES, default="paper",
                   help="; ".join(RULE_LABELS.values()) + " (default paper)")
    p.add_argument("--from-mask", default=None,
                   help="reuse a prob_mask.npy written by an earlier run (no network); one "
                   "channel applies to every channel")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--block-seconds", type=float, default=10.0,
                   help="audio separated per block (dnn, traditional, --from-mask): memory grows "
                   "with it, the result does not (default 10; NMF takes at least ~60)")
    p.add_argument("--mask-dtype", choices=("float16", "float32"), default="float16",
                   help="precision of prob_mask.npy; the mask is rounded to it before the "
                   "threshold, so --from-mask gives the same stems (default float16)")
    p.add_argument("--no-save-mask", action="store_true", help="do not write prob_mask.npy")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="longest mixture accepted, seconds (default 14400 for dnn, traditional "
                   "and --from-mask, which stream; 600 for the oracle methods, which hold the "
                   "whole file in memory: per minute of 44.1 kHz stereo, 21 MB per copy of the "
                   "audio and 40 MB per copy of its STFT)")
    p.set_defaults(func=_separate)


def _add_nmf_flags(p: argparse.ArgumentParser) -> tuple[str, ...]:
    """Add the NMF options to ``p``; returns their destinations."""
    actions = [
        p.add_argument("--n-components", type=int, default=64,
                       help="NMF bases per source (paper 1500)"),
        p.add_argument("--max-iter", type=int, default=200,
                       help="NMF MU iterations when learning"),
        p.add_argument("--max-windows", type=int, default=2000,
                       help="NMF training windows per source"),
        p.add_argument("--nmf-train-step", dest="nmf_train_step", type=int, default=10,
                       help="hop between NMF training windows in frames"),
        p.add_argument("--test-step", type=int, default=10,
                       help="NMF window hop at separation time"),
        p.add_argument("--test-max-iter", type=int, default=50,
                       help="NMF MU iterations at test time"),
    ]  # fmt: skip
    return tuple(a.dest for a in actions)


#: Destinations of :func:`_add_nmf_flags` (they matter to train-separator only with --nmf-out).
_NMF_KEYS = _add_nmf_flags(argparse.ArgumentParser(add_help=False))


def _nmf_config(args: argparse.Namespace) -> Any:
    from core.karaoke.nmf import NmfConfig

    return NmfConfig(
        n_components=args.n_components,
        max_iter=args.max_iter,
        max_windows=args.max_windows,
        train_step=args.nmf_train_step,
        test_step=args.test_step,
        test_max_iter=args.test_max_iter,
        seed=args.seed,
    )


def _check_train_outputs(args: argparse.Namespace, *flags: str) -> None:
    """Check each ``--out``-like file flag (and its ``.meta.json``) before data or training."""
    for flag in flags:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None:
            continue
        path = check_output_file(value, what=flag)
        if not getattr(args, "no_sidecar", False):
            check_output_file(path.with_name(path.name + ".meta.json"), what=f"{flag} sidecar")


def _train_separator(args: argparse.Namespace) -> int:
    _check_train_outputs(args, "--out", "--nmf-out")  # before the corpus loads
    from tqdm import tqdm

    from core.karaoke.dnn import save_separator, train_separator

    overrides = {
        name: getattr(args, name)
        for name in (flag[2:].replace("-", "_") for flag, _, _ in _DNN_FLAGS)
        if getattr(args, name) is not None
    }
    overrides["seed"] = args.seed
    config = DnnConfig.paper(**overrides) if args.paper else DnnConfig(**overrides)
    command = _command(args, "train-separator", skip=() if args.nmf_out else _NMF_KEYS)
    bar = tqdm(total=config.epochs, desc="train-separator", unit="epoch")

    def progress(event: ProgressEvent) -> None:
        train, valid = event.metrics["train_loss"], event.metrics["valid_loss"]
        bar.update(1)
        bar.set_postfix(train=f"{train:.4f}", valid=f"{valid:.4f}")
        tqdm.write(
            f"epoch {event.done}/{event.total}: train loss {train:.4f}, valid loss {valid:.4f}"
        )

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
                "macs_per_frame": config.macs_per_frame,
                "calibration": {k: round(v, 5) for k, v in result.calibration.items()},
                "size_mb": round(size / 1e6, 3),
            },
        )
    if args.nmf_out:
        args.out = args.nmf_out
        return _train_nmf(args, command=command)
    return 0


def _train_nmf(args: argparse.Namespace, *, command: str | None = None) -> int:
    _check_train_outputs(args, "--out")  # before the corpus loads
    from tqdm import tqdm

    from core.karaoke.nmf import fit_nmf, save_nmf

    config = _nmf_config(args)
    command = command or _command(args, "train-nmf")
    bar = tqdm(total=2, desc="train-nmf", unit="source")

    def progress(event: ProgressEvent) -> None:
        bar.n = event.done
        bar.set_postfix_str(event.message)
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
    method = cast(MethodId, "traditional" if args.method == "nmf" else args.method)
    alpha = check_alpha(args.alpha, name="--alpha")  # before any decoding or network
    rule = check_rule(args.rule)
    out = check_output_dir(args.out, what="--out")  # before the model loads
    if args.max_seconds is not None and not (np.isfinite(args.max_seconds)
                                             and args.max_seconds > 0):
        raise InvalidConfigError(f"--max-seconds must be positive, got {args.max_seconds}")
    # one run at a time per output folder: concurrent runs would mix their files
    with output_lock(out, what="--out"):
        if args.from_mask or method in ("dnn", "traditional"):
            return _separate_streaming(args, method, alpha, rule)
        return _separate_in_memory(args, method, alpha, rule)


def _read_mask_settings(mask: Path) -> dict[str, Any]:
    """The ``separation.json`` next to ``mask`` (``{}`` when there is none).

    Raises
    ------
    InvalidConfigError
        The file exists but is not a JSON object with a valid ``stft_config``.
    """
    from core.signal.stft import StftConfig  # lazy, as in _separate_streaming

    side = mask.with_name("separation.json")
    if not side.is_file():
        return {}
    try:
        saved = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidConfigError(
            f"cannot read {str(side)!r} (written with the mask {mask.name!r}): "
            f"{' '.join(str(exc).split())}; delete it or re-run without --from-mask"
        ) from exc
    if not isinstance(saved, dict):
        raise InvalidConfigError(f"{str(side)!r} is not a JSON object; delete it or re-run")
    if "stft_config" in saved:
        try:
            StftConfig.from_dict(saved["stft_config"])
        except (CoreError, TypeError, KeyError, ValueError, AttributeError) as exc:
            raise InvalidConfigError(
                f"{str(side)!r} holds an invalid stft_config ({exc}); delete it or re-run"
            ) from exc
    return saved


def _reuse_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of handing it back to the system.

    The streaming separation allocates and frees the same few arrays of 1-15 MB block after
    block. glibc's malloc serves each from a fresh ``mmap`` that the kernel zero-fills page by
    page: about 50,000 page faults and 0.2-0.3 s of system time on a 3-minute song. With the
    mmap threshold at 32 MB (glibc's largest) and a 256 MB trim threshold those arrays stay in
    the heap and are reused; the peak memory is the same working set. Process-wide, so the
    command sets it for its own process and the library leaves malloc alone.

    Returns
    -------
    bool
        Whether the C library took the settings (``False`` without glibc's ``mallopt``).
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 * 2**20)) and bool(
        mallopt(m_trim_threshold, 256 * 2**20)
    )


def _separate_streaming(args: argparse.Namespace, method: MethodId, alpha: float, rule: Any) -> int:
    """``genex separate`` for a file, block by block (:func:`core.karaoke.stream.separate_file`).

    Imports stay few (numpy, soundfile, soxr; no torch, scipy or librosa): on a 3-minute song
    they are a good part of the command's time. tqdm loads only when stderr is a terminal.
    """
    from core.karaoke.stream import separate_file
    from core.signal.stft import StftConfig

    _reuse_freed_memory()
    out = Path(args.out)
    settings: dict[str, Any] = {}
    cfg = None
    if args.from_mask:
        saved = _read_mask_settings(Path(args.from_mask))
        if "stft_config" in saved:
            cfg = StftConfig.from_dict(saved["stft_config"])
        settings = {**saved, "from_mask": str(args.from_mask)}
    bar: Any = None
    if sys.stderr.isatty():  # tqdm's own rule (disable=None), without importing it otherwise
        from tqdm import tqdm

        bar = tqdm(desc="separate", unit="block")

    def progress(event: ProgressEvent) -> None:
        if bar is not None:
            bar.total = event.total
            bar.update(event.done - bar.n)

    def settings_json(result: Any) -> dict[str, bytes]:
        # separation.json joins the stems' output set: they land together or not at all
        final = settings
        if not args.from_mask:
            final = {
                "mixture": str(Path(args.mixture).resolve()),
                "method": method,
                "checkpoint": result.info.get("checkpoint"),
                "references": None,
                "sr": result.sr,
                "channels": result.channels,
                "length": result.length,
                "stft_config": result.stft_config.to_dict(),
                "model_sr": result.model_sr,
                "mask_seconds": result.info.get("model_seconds"),
                "model_reader": result.info.get("dnn_reader"),
                "mask_channels": result.info.get("mask_channels"),
                "mask_dtype": result.info.get("mask_dtype"),
            }
        final = {
            **final, "alpha": args.alpha, "rule": args.rule, "seconds": round(result.seconds, 3),
            "block_seconds": round(result.info["block_seconds"], 3),
            "command": _command(args, "separate"),
        }  # fmt: skip
        return {"separation.json": (json.dumps(final, indent=2) + "\n").encode()}

    try:
        result = separate_file(
            args.mixture, out, method=cast(Any, method), alpha=alpha, rule=rule,
            checkpoint=args.checkpoint, from_mask=args.from_mask,
            save_mask=not args.no_save_mask, mask_dtype=args.mask_dtype, stft_config=cfg,
            block_seconds=args.block_seconds, progress=progress, lock=False,
            extra_files=settings_json,
            **({} if args.max_seconds is None else {"max_seconds": args.max_seconds}),
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    print(
        f"{settings.get('method', method)}: wrote {result.vocals}, {result.accompaniment} "
        f"({result.channels} ch, {result.sr} Hz, {result.length / result.sr:.1f} s) in "
        f"{result.seconds:.1f} s, {result.blocks} block(s)"
    )
    return 0


def _separate_in_memory(args: argparse.Namespace, method: MethodId, alpha: float, rule: Any) -> int:
    """``genex separate`` with reference stems (the oracle masks), on the whole file at once."""
    # lazy: librosa and the models load in ~1 s, which `genex --help` should not pay
    from core.karaoke.separate import probability_mask, separate_at_alpha
    from core.karaoke.stream import SEPARATION_FILES
    from core.karaoke.tracks import load_track
    from core.signal.audio import DEFAULT_MAX_SECONDS, audio_to_bytes, load_audio

    t0 = time.perf_counter()
    limit = DEFAULT_MAX_SECONDS if args.max_seconds is None else args.max_seconds
    mixture, sr = load_audio(args.mixture, max_seconds=limit)
    out = Path(args.out)
    references = None
    if args.references:
        references = load_track(args.references, sr=sr, max_seconds=limit).references
    result = probability_mask(
        mixture, sr, method=method, references=references, checkpoint=args.checkpoint
    )
    settings: dict[str, Any] = {
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
    stems = separate_at_alpha(result, alpha=alpha, rule=rule)
    settings.update(alpha=args.alpha, rule=args.rule, command=_command(args, "separate"))
    # every output into one staged set, installed as a unit: a failed or interrupted run
    # leaves the folder's old set, never a mix
    files: dict[str, Any] = {
        "vocals.wav": audio_to_bytes(stems[0], sr, fmt="WAV", subtype="FLOAT"),
        "accompaniment.wav": audio_to_bytes(stems[1], sr, fmt="WAV", subtype="FLOAT"),
    }
    if not args.no_save_mask:
        files["prob_mask.npy"] = result.prob
    files["separation.json"] = (json.dumps(settings, indent=2) + "\n").encode()
    with OutputSet(out, stale=set(SEPARATION_FILES) - set(files)) as outputs:
        for name, data in files.items():
            with open(outputs.path(name), "wb") as fh:
                if isinstance(data, np.ndarray):
                    np.save(fh, data, allow_pickle=False)
                else:
                    fh.write(data)
    dt = time.perf_counter() - t0
    print(
        f"{method}: wrote {out / 'vocals.wav'}, {out / 'accompaniment.wav'} "
        f"({mixture.shape[0]} ch, {sr} Hz, {mixture.shape[1] / sr:.1f} s) in {dt:.1f} s"
    )
    return 0
