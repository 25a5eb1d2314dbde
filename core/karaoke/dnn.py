"""The Deep Karaoke network: a feed-forward DNN that predicts the mask of a whole context window.

The contract of the paper (Simpson, Roma & Plumbley 2015; ``shared/PAPERS.md`` section 2) is
kept: a window of ``frames`` (20) consecutive mixture magnitude frames goes in, the window's
vocal mask (20 frames x all bins) comes out, the window slides one frame at a time at test time
and every prediction covering a frame is averaged into the probabilistic mask that
:func:`core.karaoke.masks.threshold_masks` turns into binary masks at a confidence α.

Paper (``DnnConfig.paper()``) versus shipped (``DnnConfig()``):

- audio: 44.1 kHz mono | 22.05 kHz, mono downmix
- STFT: n_fft 2048, hop 512 (1025 bins) | n_fft 1024, hop 256 (513 bins)
- input: 20 frames of magnitudes, unpacked | 20 frames of ``log(|X| + 1e-3)``, standardised
  per bin
- window -> hidden: dense, 20,500 sigmoid units | a per-frame projection to ``proj`` features,
  then dense ``frames * proj -> hidden`` (ReLU)
- hidden -> window mask: dense, 20,500 sigmoids | dense ``hidden -> frames * basis``, then a
  shared per-frame basis ``basis -> bins``
- overlap averaging: of the window masks | of the window logits (``DnnConfig.average``)
- loss / optimiser: squared error, SGD 0.1 / momentum 0.5 | BCE, Adam
- training data: 50 MedleyDB songs | a synthetic multitrack corpus (several soundfonts, GM and
  formant-synthesised voices), remixed, re-levelled and re-equalised on the fly

``proj = basis = 0`` gives the paper's dense layers exactly (``DnnConfig.paper()`` is the
faithful configuration; ``genex train-separator --paper`` trains it). The factorised layers
are what makes a wide hidden layer affordable: a dense window net that slides one frame at a
time costs ``2 x frames x bins x hidden`` multiply-adds per frame, the factorised one
``bins*proj + frames*proj*hidden + frames*hidden*basis + frames*basis*bins``.

The sliding window shares work between overlapping windows: each frame is projected once, the
hidden layer runs once per window start on the unfolded window, and the overlap averaging is a
``fold`` (a transposed convolution over time); training scores stretches of ``chunk_windows``
consecutive windows through the same code path.

Calibration: the averaged probability ``P`` is passed through a Platt scaling
``sigmoid(a * logit(P) + b)`` fitted on the validation split (:func:`fit_calibration`), so that
``P`` means "the share of such bins that are vocal-dominant" and α is a confidence, as the paper
reads it. ``a = 1, b = 0`` is the identity (uncalibrated).

torch is imported at module level here: this is a model module. Light modules
(:mod:`core.karaoke.masks`, :mod:`core.karaoke.separate`) import it lazily.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from core.checkpoint import checkpoint_error_for_state, load_checkpoint, save_checkpoint
from core.errors import CheckpointError, DatasetError, InvalidConfigError
from core.karaoke.calibration import (
    apply_calibration,
    bce,
    expected_calibration_error,
    fit_calibration,
)
from core.karaoke.dnn_config import LOG_EPS, DnnConfig, check_model_input
from core.karaoke.masks import ideal_binary_mask
from core.karaoke.tracks import load_track, split_tracks, training_parts
from core.signal.audio import resample
from core.signal.stft import stft
from core.types import FloatArray, Progress, ProgressEvent

KIND = "separator"
#: Budget of a shipped separator checkpoint, bytes.
MAX_BYTES = 25_000_000
_SCALE = "__int8_scale"


def log_features(mag: FloatArray) -> FloatArray:
    """Log-compressed magnitude ``log(|X| + LOG_EPS)``, same shape, float32."""
    out: FloatArray = np.log(np.asarray(mag, dtype=np.float32) + np.float32(LOG_EPS))
    return out


class KaraokeDNN(nn.Module):
    """Feed-forward DNN mapping each window of mixture frames to the window's vocal mask.

    Parameters
    ----------
    config
        The model configuration.
    """

    in_mean: torch.Tensor
    in_std: torch.Tensor
    calibration: torch.Tensor

    def __init__(self, config: DnnConfig) -> None:
        super().__init__()
        self.config = config
        f, k = config.frames, config.n_bins
        # Per-bin standardisation of the log magnitudes, fitted on the training data.
        self.register_buffer("in_mean", torch.zeros(k))
        self.register_buffer("in_std", torch.ones(k))
        # Platt scaling (a, b) of the averaged probability; identity until fitted.
        self.register_buffer("calibration", torch.tensor([1.0, 0.0]))
        k_in = config.proj or k
        k_out = config.basis or k
        self.proj = nn.Linear(k, config.proj, bias=False) if config.proj else None
        # The window layer: one hidden vector per window start, from the window's frames.
        self.hidden = nn.Linear(f * k_in, config.hidden)
        self.out = nn.Linear(config.hidden, f * k_out)
        self.basis = nn.Linear(config.basis, k) if config.basis else None
        self.meta: dict[str, Any] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mask logits of every window of a stretch of frames.

        Parameters
        ----------
        x : Tensor, shape (batch, time, bins), float32
            Log magnitudes (:func:`log_features`) of ``time >= frames`` consecutive frames.

        Returns
        -------
        Tensor, shape (batch, windows, frames, bins)
            ``windows = time - frames + 1``; ``sigmoid`` of ``[:, w, j]`` is the vocal
            probability that the window starting at frame ``w`` gives frame ``w + j``.
        """
        o = self.window_coefficients(x)
        if self.basis is not None:
            o = self.basis(o)  # (batch, windows, frames, bins)
        return o

    def window_coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """Per-window output before the shared per-frame basis (the logits when ``basis == 0``).

        Parameters
        ----------
        x : Tensor, shape (batch, time, bins), float32
            Log magnitudes of ``time >= frames`` consecutive frames.

        Returns
        -------
        Tensor, shape (batch, windows, frames, basis or bins)
        """
        cfg = self.config
        z = (x - self.in_mean) / self.in_std  # (batch, time, bins)
        if self.proj is not None:
            z = self.proj(z)  # (batch, time, proj)
        b = z.shape[0]
        win = z.unfold(1, cfg.frames, 1)  # (batch, windows, k_in, frames)
        win = win.transpose(2, 3).reshape(b, win.shape[1], -1)  # (batch, windows, frames*k_in)
        h = self.hidden(win)  # (batch, windows, hidden)
        h = torch.sigmoid(h) if cfg.activation == "sigmoid" else torch.relu(h)
        o = self.out(h)  # (batch, windows, frames * k_out)
        coefficients: torch.Tensor = o.reshape(b, o.shape[1], cfg.frames, -1)
        return coefficients

    def frame_logits(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Map per-frame coefficients ``(..., basis or bins)`` to bin logits ``(..., bins)``."""
        if self.basis is None:
            return coefficients
        out: torch.Tensor = self.basis(coefficients)
        return out


def overlap_average_windows(p: torch.Tensor, *, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and count of window predictions per frame.

    Parameters
    ----------
    p : Tensor, shape (windows, frames, bins)
        Per-window probabilities, window ``w`` covering frames ``w .. w + frames - 1``.

    Returns
    -------
    total : Tensor, shape (windows + frames - 1, bins)
    count : Tensor, shape (windows + frames - 1,)
    """
    w, f, k = p.shape
    n = w + f - 1
    cols = p.permute(2, 1, 0).reshape(1, k * f, w)  # fold's layout: (1, channels * kernel, L)
    total = nn.functional.fold(cols, output_size=(n, 1), kernel_size=(f, 1))[0, :, :, 0].T
    t = torch.arange(n, dtype=p.dtype)
    cap = torch.tensor(float(min(f, w)), dtype=p.dtype)
    count = torch.minimum(torch.minimum(t + 1, n - t), cap)
    return total, count


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class WindowData:
    """Training frames of several tracks, indexed by window start.

    Attributes
    ----------
    features : ndarray, shape (total_frames, bins), float32
        Log mixture magnitudes of every track, concatenated along time.
    targets : ndarray, shape (total_frames, bins), uint8
        Ideal binary mask (vocal magnitude > accompaniment magnitude).
    starts : ndarray, shape (n_windows,), int64
        Global frame index where each window starts (windows never cross tracks).
    n_tracks
        Number of tracks.
    names
        Track names.
    spans
        Frame range ``[lo, hi)`` of each track in ``features``.
    vocals_stft, accomp_stft : ndarray, shape (total_frames, bins), complex64, optional
        The stems' STFTs, kept only for remixing augmentation (``DnnConfig.remix > 0``).
    """

    features: np.ndarray
    targets: np.ndarray
    starts: np.ndarray
    n_tracks: int
    names: tuple[str, ...] = field(default=())
    spans: tuple[tuple[int, int], ...] = field(default=())
    vocals_stft: np.ndarray | None = None
    accomp_stft: np.ndarray | None = None


def build_windows(
    examples: Sequence[Any], config: DnnConfig, *, step: int, span: int | None = None,
    keep_stems: bool = False,
) -> WindowData:
    """Features and IBM targets of tracks, ready for window sampling.

    Parameters
    ----------
    examples
        ``core.karaoke.tracks.Track`` objects, or tuples ``(mixture (ch, n), references
        (2, ch, n), sr)`` with references ``[vocals, accompaniment]``. Channels are averaged to
        mono (as the paper made its stems mono) and audio is resampled to ``config.sr``.
    config
        Model configuration (STFT, context length).
    step
        Hop between window starts in frames.
    span
        Frames each start must have after it (default ``config.frames``; training chunks need
        ``chunk_windows + frames - 1``).
    keep_stems
        Also keep the stems' complex STFTs (for remixing augmentation).

    Returns
    -------
    WindowData

    Raises
    ------
    DatasetError
        No example, an example without references, or no example long enough for one window.
    """
    span = int(span or config.frames)
    feats, targs, starts, names, voc, acc = [], [], [], [], [], []
    spans: list[tuple[int, int]] = []
    offset = 0
    cfg = config.stft_config
    for ex in examples:
        mixture, references, sr, name = training_parts(ex)
        mono = np.concatenate([mixture.mean(axis=0, keepdims=True), references.mean(axis=1)], 0)
        mono = resample(mono.astype(np.float32), orig_sr=sr, target_sr=config.sr)
        spec = stft(mono, cfg)  # (3, bins, frames): mixture, vocals, accompaniment
        mag = np.abs(spec)
        n_frames = mag.shape[2]
        if n_frames < span:
            continue
        if keep_stems:
            voc.append(np.ascontiguousarray(spec[1].T))
            acc.append(np.ascontiguousarray(spec[2].T))
        feats.append(log_features(mag[0]).T)  # (frames, bins)
        targs.append(ideal_binary_mask(mag[1], mag[2]).T.astype(np.uint8))
        starts.append(offset + np.arange(0, n_frames - span + 1, step))
        names.append(name)
        spans.append((offset, offset + n_frames))
        offset += n_frames
    if not feats:
        raise DatasetError(
            f"no track with at least {span} STFT frames to train on ({len(examples)} given)"
        )
    return WindowData(
        features=np.concatenate(feats),
        targets=np.concatenate(targs),
        starts=np.concatenate(starts).astype(np.int64),
        n_tracks=len(feats),
        names=tuple(names),
        spans=tuple(spans),
        vocals_stft=np.concatenate(voc) if keep_stems else None,
        accomp_stft=np.concatenate(acc) if keep_stems else None,
    )


def _load_split(root: Path, split: str) -> list[Any]:
    paths = split_tracks(root, split)  # type: ignore[arg-type]
    if not paths:
        raise DatasetError(f"corpus {str(root)!r} has no {split!r} tracks")
    return [load_track(p) for p in paths]


def _random_eq(rng: np.random.Generator, n: int, bins: int, db: float) -> np.ndarray:
    """``(n, 1, bins)`` smooth random gains (cosines over log frequency), peak ``db`` dB."""
    logf = np.log1p(np.arange(bins, dtype=np.float32)) / np.log1p(bins - 1)  # 0..1
    curves = np.zeros((n, bins), dtype=np.float32)
    for order in (1, 2, 3, 5):
        amp = rng.uniform(-1.0, 1.0, (n, 1)).astype(np.float32) / order
        phase = rng.uniform(0, 2 * np.pi, (n, 1)).astype(np.float32)
        curves += amp * np.cos(np.pi * order * logf[None, :] + phase)
    curves *= db / max(float(np.abs(curves).max()), 1e-6)
    return (10.0 ** (curves / 20.0))[:, None, :].astype(np.float32)


def _random_warp(rng: np.random.Generator, x: np.ndarray, warp: float) -> np.ndarray:
    """Frequency-warp each stretch of ``x`` ``(n, span, bins)`` by its own random factor.

    Bin ``k`` takes bin ``round(k / s)`` (clipped), ``s`` log-uniform in
    ``[1 / (1 + warp), 1 + warp]``: vocal-tract-length perturbation on the STFT.
    """
    n, _, bins = x.shape
    s = np.exp(rng.uniform(-math.log1p(warp), math.log1p(warp), (n, 1)))
    src = np.clip(np.rint(np.arange(bins)[None, :] / s), 0, bins - 1).astype(np.intp)  # (n, bins)
    return np.take_along_axis(x, src[:, None, :], axis=2)


def _chunk_batch(
    data: WindowData, idx: np.ndarray, config: DnnConfig, rng: np.random.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(batch, span, bins)`` and IBM ``(batch, span, bins)`` of training stretches.

    With ``rng`` (training) the mixtures are augmented: remixed from other stretches' stems,
    re-levelled and re-equalised per source, and shifted in level.
    """
    span = config.chunk_windows + config.frames - 1
    rows = data.starts[idx][:, None] + np.arange(span)[None, :]  # (batch, span)
    if rng is None or config.remix == 0 or data.vocals_stft is None:
        x = data.features[rows]
        y = data.targets[rows].astype(np.float32)
    else:
        assert data.accomp_stft is not None
        other = idx.copy()
        swap = rng.random(len(idx)) < config.remix
        other[swap] = rng.integers(0, len(data.starts), size=int(swap.sum()))
        v = data.vocals_stft[rows]  # (batch, span, bins) complex64
        a = data.accomp_stft[data.starts[other][:, None] + np.arange(span)[None, :]]
        db = rng.uniform(-config.vocal_gain_db, config.vocal_gain_db, (len(idx), 1, 1))
        g = 10.0 ** (db / 20)
        v = v * g.astype(np.float32)
        if config.eq_db > 0:
            v = v * _random_eq(rng, len(idx), v.shape[2], config.eq_db)
            a = a * _random_eq(rng, len(idx), a.shape[2], config.eq_db)
        if config.warp > 0:
            v = _random_warp(rng, v, config.warp)
            a = _random_warp(rng, a, config.warp)
        x = log_features(np.abs(v + a))
        y = (np.abs(v) > np.abs(a)).astype(np.float32)
    if rng is not None and config.gain_db > 0:
        gain = config.gain_db * math.log(10.0) / 20.0  # dB -> natural-log units
        x = x + rng.uniform(-gain, gain, size=(len(idx), 1, 1)).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y)


def _window_loss(config: DnnConfig, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss of window logits ``(b, w, frames, bins)`` against frame targets ``(b, span, bins)``."""
    target = y.unfold(1, config.frames, 1).permute(0, 1, 3, 2)  # (b, w, frames, bins)
    if config.loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits(logits, target)
    return nn.functional.mse_loss(torch.sigmoid(logits), target)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class SeparatorTrainResult:
    """Outcome of :func:`train_separator`.

    Attributes
    ----------
    model
        The network with the best validation weights, calibrated on validation, in eval mode.
    history
        One dict per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``seconds``.
    best_epoch, best_valid_loss
        Epoch (1-based) and validation loss (BCE of the averaged mask) of the kept weights.
    corpus
        What it was trained on (root, corpus.json sources, tracks and windows per split).
    calibration
        ``a``, ``b`` and the validation expected calibration error before and after.
    seconds
        Wall time of the training loop.
    """

    model: KaraokeDNN
    history: list[dict[str, float]]
    best_epoch: int
    best_valid_loss: float
    corpus: dict[str, Any]
    calibration: dict[str, float]
    seconds: float


def valid_predictions(model: KaraokeDNN, data: WindowData) -> tuple[np.ndarray, np.ndarray]:
    """Averaged probabilities and IBM targets of every frame of ``data``, flattened.

    Each track is predicted whole (sliding window, overlap averaging), as at test time,
    without calibration.

    Returns
    -------
    prob, target : ndarray, shape (total_frames * bins,), float32
    """
    probs, targets = [], []
    for lo, hi in data.spans:
        feats = data.features[lo:hi].T  # (bins, frames)
        p = _predict_features(model, feats[None], calibrate=False)[0]  # (bins, frames)
        probs.append(p.T.reshape(-1))
        targets.append(data.targets[lo:hi].reshape(-1).astype(np.float32))
    return np.concatenate(probs), np.concatenate(targets)


def _make_optimizer(model: KaraokeDNN, config: DnnConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _prepare_data(
    config: DnnConfig,
    data: str | Path | tuple[Sequence[Any], Sequence[Any]] | tuple[WindowData, WindowData],
) -> tuple[WindowData, WindowData, dict[str, Any]]:
    corpus: dict[str, Any] = {}
    if isinstance(data, str | Path):
        root = Path(data)
        corpus["root"] = str(root)
        info = root / "corpus.json"
        if info.is_file():
            try:
                meta = json.loads(info.read_text())
            except (OSError, ValueError):
                meta = {}
            corpus["sources"] = meta.get("sources")
            corpus["command"] = meta.get("command")
        data = (_load_split(root, "train"), _load_split(root, "valid"))
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise InvalidConfigError("data must be a corpus folder or a (train, valid) pair")
    train, valid = data
    span = config.chunk_windows + config.frames - 1
    if not isinstance(train, WindowData):
        train = build_windows(train, config, step=config.train_step * config.chunk_windows,
                              span=span,
                              keep_stems=config.remix > 0)
    if config.remix > 0 and train.vocals_stft is None:
        raise InvalidConfigError("remix > 0 needs WindowData built with keep_stems=True")
    if not isinstance(valid, WindowData):
        valid = build_windows(valid, config, step=config.frames)
    corpus.update(
        train_tracks=train.n_tracks,
        valid_tracks=valid.n_tracks,
        train_frames=int(len(train.features)),
        train_windows=int(len(train.starts)) * config.chunk_windows,
        valid_frames=int(len(valid.features)),
    )
    return train, valid, corpus


def train_separator(
    config: DnnConfig,
    *,
    data: str | Path | tuple[Sequence[Any], Sequence[Any]] | tuple[WindowData, WindowData],
    progress: Progress | None = None,
) -> SeparatorTrainResult:
    """Train the Deep Karaoke DNN on the IBM of training tracks, early-stopping on validation.

    Each step takes ``batch_size // chunk_windows`` stretches of ``chunk_windows + frames - 1``
    frames (augmented), predicts every window of each stretch and scores every window's
    20-frame mask against the IBM, as the paper does. After each epoch the validation tracks
    are predicted whole (sliding window, overlap averaging) and scored by BCE; the best epoch is
    kept, then a Platt calibration is fitted on the validation predictions.

    Parameters
    ----------
    config
        Model and training settings.
    data
        A corpus root (``train`` and ``valid`` splits), a pair ``(train, valid)`` of track lists
        (``Track`` objects or ``(mixture, references, sr)`` tuples), or of :class:`WindowData`.
    progress
        Receives ``ProgressEvent("epoch", epoch, epochs, {"train_loss", "valid_loss"})``.

    Returns
    -------
    SeparatorTrainResult

    Raises
    ------
    DatasetError
        Missing splits or tracks without stems.
    InvalidConfigError
        Bad ``data`` argument.
    """
    t0 = time.perf_counter()
    train, valid, corpus = _prepare_data(config, data)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # weight init only, inside a forked RNG state
        model = KaraokeDNN(config)
    model.in_mean.copy_(torch.from_numpy(train.features.mean(axis=0)))
    model.in_std.copy_(torch.from_numpy(train.features.std(axis=0) + 1e-3))
    opt = _make_optimizer(model, config)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
             if config.lr_schedule == "cosine" else None)
    per_batch = max(1, config.batch_size // config.chunk_windows)

    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
    n = len(train.starts)
    for epoch in range(1, config.epochs + 1):
        te = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen).numpy()
        total = 0.0
        for i in range(0, n, per_batch):
            idx = order[i : i + per_batch]
            x, y = _chunk_batch(train, idx, config, rng)
            loss = _window_loss(config, model(x), y)
            opt.zero_grad()
            torch.autograd.backward(loss)
            opt.step()
            total += float(loss.detach()) * len(idx)
        train_loss = total / n
        if sched is not None:
            sched.step()
        prob, target = valid_predictions(model, valid)
        valid_loss = bce(prob, target)
        history.append({"epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss,
                        "seconds": time.perf_counter() - te})
        if progress is not None:
            progress(ProgressEvent("epoch", epoch, config.epochs,
                                   {"train_loss": train_loss, "valid_loss": valid_loss}))
        if valid_loss < best_loss - 1e-5:
            best_loss, best_epoch, stale = valid_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    calibration = calibrate(model, valid, seed=config.seed)
    return SeparatorTrainResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
        best_valid_loss=float(best_loss),
        corpus=corpus,
        calibration=calibration,
        seconds=time.perf_counter() - t0,
    )


def calibrate(model: KaraokeDNN, valid: WindowData, *, seed: int = 0) -> dict[str, float]:
    """Fit and store the model's Platt calibration on validation data.

    Returns
    -------
    dict
        ``a``, ``b``, ``ece_before``, ``ece_after``, ``bce_before``, ``bce_after``.
    """
    prob, target = valid_predictions(model, valid)
    a, b = fit_calibration(prob, target, seed=seed)
    model.calibration.copy_(torch.tensor([a, b]))
    after = apply_calibration(prob, a, b)
    return {
        "a": a,
        "b": b,
        "ece_before": expected_calibration_error(prob, target)[0],
        "ece_after": expected_calibration_error(after, target)[0],
        "bce_before": bce(prob, target),
        "bce_after": bce(after, target),
    }


# --------------------------------------------------------------------------- checkpoints


def save_separator(
    path: str | Path,
    model: KaraokeDNN | SeparatorTrainResult,
    *,
    meta: dict[str, Any] | None = None,
    storage: Literal["fp32", "fp16", "int8"] | None = None,
) -> Path:
    """Save a separator checkpoint (kind ``"separator"``).

    Weight matrices are stored in fp16 when the file stays under :data:`MAX_BYTES`, else int8
    with one float32 scale per row (``storage`` forces one); ``meta["weight_storage"]`` says
    which. :func:`load_separator` restores float32 weights either way.

    Parameters
    ----------
    path
        Target file.
    model
        The network, or a :class:`SeparatorTrainResult` (history, corpus, calibration go to meta).
    meta
        Extra provenance (command, seed, metrics); merged over the training info.
    storage
        Force a weight storage.

    Returns
    -------
    Path
    """
    info: dict[str, Any] = {}
    if isinstance(model, SeparatorTrainResult):
        info = {
            "history": model.history,
            "best_epoch": model.best_epoch,
            "best_valid_loss": model.best_valid_loss,
            "corpus": model.corpus,
            "calibration": model.calibration,
            "train_seconds": model.seconds,
        }
        model = model.model
    cfg = model.config
    info.update({"seed": cfg.seed})
    info.update(meta or {})
    sd = model.state_dict()
    big = [k for k, v in sd.items() if k.endswith("weight") and v.numel() > 4096]
    n_big = sum(sd[k].numel() for k in big)
    if storage is None:
        storage = "fp16" if 2 * n_big <= MAX_BYTES - 500_000 else "int8"
    state: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        v = v.detach()
        if k in big and storage == "fp16":
            state[k] = v.to(torch.float16)
        elif k in big and storage == "int8":
            flat = v.reshape(v.shape[0], -1)
            scale = (flat.abs().amax(dim=1, keepdim=True) / 127.0).clamp_min(1e-12)
            state[k] = torch.round(flat / scale).to(torch.int8).reshape(v.shape)
            state[k + _SCALE] = scale.float()
        else:
            state[k] = v
    info["weight_storage"] = storage
    return save_checkpoint(
        path,
        kind=KIND,
        config={"dnn": cfg.to_dict(), "stft": cfg.stft_config.to_dict()},
        state_dict=state,
        meta=info,
    )


def load_separator(path: str | Path) -> KaraokeDNN:
    """Load a separator checkpoint written by :func:`save_separator`.

    Returns
    -------
    KaraokeDNN
        In eval mode, float32, with ``.config`` and ``.meta`` (the checkpoint's provenance).

    Raises
    ------
    CheckpointError
        Missing, corrupt, another kind of model, or weights that do not fit the config.
    """
    payload = load_checkpoint(path, kind=KIND)
    try:
        config = DnnConfig.from_dict(dict(payload["config"]["dnn"]))
    except (KeyError, TypeError, InvalidConfigError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} has an invalid separator config") from exc
    model = KaraokeDNN(config)
    raw = payload["state_dict"]
    state = {}
    for k, v in raw.items():
        if k.endswith(_SCALE):
            continue
        if k + _SCALE in raw:
            flat = v.reshape(v.shape[0], -1).float() * raw[k + _SCALE]
            state[k] = flat.reshape(v.shape)
        else:
            state[k] = v.float()
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        raise checkpoint_error_for_state(path, exc) from exc
    model.meta = dict(payload.get("meta") or {})
    model.eval()
    return model


# --------------------------------------------------------------------------- inference


def _predict_features(
    model: KaraokeDNN, feats: np.ndarray, *, chunk: int = 2048, calibrate: bool = True
) -> np.ndarray:
    """Averaged (and calibrated) window predictions of log features ``(ch, bins, frames)``.

    Only the dense layers run in torch; the data movement around them is numpy. The window
    matrix is a copy of a sliding-window view of the projected frames, and the overlap sum is
    ``frames`` shifted in-place adds instead of ``unfold``/``fold``: small multi-threaded torch
    ops cost a thread barrier each, which on a busy 2-core machine was most of the time.
    Results equal the ``fold`` of :func:`overlap_average_windows` up to float rounding (the
    summation order differs).
    """
    cfg = model.config
    f = cfg.frames
    ch, bins, n_frames = feats.shape
    padded = max(n_frames, f)
    n_win = padded - f + 1
    out = np.empty((ch, bins, n_frames), dtype=np.float32)
    a, b = (float(v) for v in model.calibration) if calibrate else (1.0, 0.0)
    by_logit = cfg.average == "logit"
    # how many windows cover each frame: those starting in [t - f + 1, t] that exist
    t = np.arange(padded)
    count = (np.minimum(t, n_win - 1) - np.maximum(t - f + 1, 0) + 1).astype(np.float32)
    mean_in = model.in_mean.detach().numpy()
    std_in = model.in_std.detach().numpy()
    model.eval()
    with torch.inference_mode():
        for c in range(ch):
            x = np.full((padded, bins), np.log(LOG_EPS), dtype=np.float32)
            x[:n_frames] = feats[c].T
            z = (x - mean_in) / std_in  # (padded, bins), standardised
            if model.proj is not None:
                z = model.proj(torch.from_numpy(z)).numpy()  # (padded, proj): once per frame
            k_in = z.shape[1]
            windows = np.lib.stride_tricks.sliding_window_view(z, (f, k_in))[:, 0]
            total: np.ndarray | None = None
            for s in range(0, n_win, chunk):
                e = min(s + chunk, n_win)
                # (windows, frames * k_in), frame-major as in window_coefficients
                win = windows[s:e].copy().reshape(e - s, f * k_in)
                h = model.hidden(torch.from_numpy(win))  # (windows, hidden)
                h = torch.sigmoid(h) if cfg.activation == "sigmoid" else h.numpy().clip(0.0)
                o = model.out(torch.as_tensor(h))  # (windows, frames * (basis or bins))
                o = o.reshape(e - s, f, -1)
                if not by_logit:  # average the window masks (the paper)
                    o = torch.sigmoid(model.frame_logits(o))
                # by_logit: average the coefficients; the basis is linear, so this is exact
                on = o.numpy()
                if total is None:
                    total = np.zeros((padded, on.shape[-1]), dtype=np.float32)
                for j in range(f):  # window w adds its j-th frame to frame w + j
                    total[s + j : e + j] += on[:, j]
            assert total is not None
            mean = torch.from_numpy(total / count[:, None])
            if by_logit:
                prob = torch.sigmoid(a * model.frame_logits(mean) + b)
            else:
                p = mean.clamp(1e-6, 1 - 1e-6)
                prob = torch.sigmoid(a * torch.log(p / (1 - p)) + b) if calibrate else mean
            out[c] = prob.numpy()[:n_frames].T
    return out


def predict_prob(model: KaraokeDNN, mag: FloatArray, *, chunk: int = 2048) -> FloatArray:
    """Probabilistic vocal mask by a sliding window (step 1) with overlap averaging.

    Every window of ``frames`` consecutive frames is predicted; each frame's probability is the
    mean of the ``frames`` predictions covering it (fewer at the edges), then the model's
    calibration is applied. Windows are computed ``chunk`` at a time, so memory stays bounded
    for long songs (about ``chunk * frames * bins * 4`` bytes).

    Parameters
    ----------
    model
        A trained :class:`KaraokeDNN`.
    mag : ndarray, shape (channels, bins, frames), float
        Mixture magnitudes at the model's STFT (``bins == model.config.n_bins``).
    chunk
        Window starts per forward pass.

    Returns
    -------
    ndarray, shape (channels, bins, frames), float32 in [0, 1]

    Raises
    ------
    InvalidConfigError
        ``mag`` has the wrong number of bins or dimensions.
    """
    cfg = model.config
    mag = check_model_input(mag, cfg, chunk=chunk)
    return _predict_features(model, log_features(mag), chunk=int(chunk))
