"""The Deep Karaoke network: a feed-forward DNN that predicts the mask of a whole context window.

Paper (Simpson, Roma & Plumbley 2015; see ``shared/PAPERS.md`` section 2) versus this model:

============================  =====================================  ==============================
                              paper                                  here (``DnnConfig`` defaults)
============================  =====================================  ==============================
audio                         44.1 kHz, mono stems                   22.05 kHz, mono (downmixed)
STFT                          n_fft 2048, hop 512 (1025 bins)        n_fft 1024, hop 256 (513 bins)
context                       20 frames (~0.23 s), unpacked          20 frames (~0.23 s), unpacked
input                         raw mixture magnitudes, 20,500 values  ``log(|X| + 1e-3)``,
                                                                     standardised per bin, 10,260
                                                                     values
hidden layer                  20,500 sigmoid units                   ``hidden`` sigmoid units (128)
output                        20,500 sigmoids (window's IBM)         10,260 sigmoids (window's IBM)
loss / optimiser              squared error, SGD lr 0.1 mom. 0.5     BCE (or squared error), Adam
training windows              every 60 frames, 100 epochs            every ``train_step`` frames,
                                                                     half remixed from random
                                                                     stems, early stopping on valid
weights                       ~0.84 billion                          ~2.6 million, stored int8
                                                                     (fp16 when hidden <= ~70)
============================  =====================================  ==============================

The hidden layer is this narrow because the whole checkpoint must stay under 3 MB (two dense
layers of ``10,260 x hidden`` weights: fp16 fits 64 units, int8 with per-row scales 128); the
network still sees and predicts the whole 20-frame window, as in the paper. On the 120-song
synthetic corpus 128 units with remixing reached a validation BCE of 0.306 against 0.320 for 64
units without remixing. At test time the window slides one frame at a time and every
prediction covering a frame is averaged (:func:`core.masking.overlap_average`), giving the
probabilistic vocal mask that :func:`core.masking.threshold_masks` turns into binary masks.

torch is imported at module level here: this is a model module. Light modules
(:mod:`core.masking`, :mod:`core.separation`) import it lazily.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from core.checkpoint import checkpoint_error_for_state, load_checkpoint, save_checkpoint
from core.corpus import training_parts
from core.errors import CheckpointError, DatasetError, InvalidConfigError
from core.masking import context_windows, ideal_binary_mask
from core.stft import StftConfig, stft
from core.types import FloatArray

KIND = "separator"
#: Budget of a shipped separator checkpoint, bytes.
MAX_BYTES = 3_000_000
_BIG = ("hidden.weight", "out.weight")
_SCALE = "__int8_scale"
#: Floor added to magnitudes before the log (keeps silence finite; ~ -60 dB re. a full bin).
LOG_EPS = 1e-3

#: ``progress(epoch, n_epochs, train_loss, valid_loss)`` after every epoch.
ProgressFn = Callable[[int, int, float, float], None]


@dataclass(frozen=True)
class DnnConfig:
    """Model, features and training settings of the separator.

    Attributes
    ----------
    sr
        Sample rate the model works at, Hz (inputs are resampled to it).
    n_fft, hop_length
        STFT of the model (Hann window, centred).
    frames
        Context window length in frames (the paper: 20).
    hidden
        Sigmoid units of the single hidden layer.
    loss
        ``"bce"`` (binary cross-entropy on the IBM) or ``"mse"`` (the paper's squared error).
    lr, weight_decay, batch_size
        Adam settings and windows per batch.
    epochs, patience
        At most ``epochs`` passes; stop after ``patience`` epochs without a better validation loss
        (the best weights are kept).
    train_step
        Hop between training window starts, in frames (the paper: 60; smaller = more windows).
    gain_db
        Random level change of each training window, uniform in ``[-gain_db, gain_db]`` dB, so the
        net does not depend on the mixture's loudness.
    remix
        Share of training windows whose mixture is re-made on the fly from the vocals of one
        window and the accompaniment of another, random one (complex STFTs summed, the IBM
        recomputed): the usual remixing augmentation of source separation (e.g. open-unmix),
        which multiplies the distinct training examples of a small corpus. 0 = off (the paper).
        Default 0.5.
    vocal_gain_db
        With ``remix > 0``: random vocal level relative to the accompaniment, uniform in
        ``[-vocal_gain_db, vocal_gain_db]`` dB, for every training window.
    seed
        Seeds the weight init, the window order and the augmentation.
    """

    sr: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    frames: int = 20
    hidden: int = 128
    loss: Literal["bce", "mse"] = "bce"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 30
    patience: int = 4
    train_step: int = 4
    gain_db: float = 6.0
    remix: float = 0.5
    vocal_gain_db: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sr < 8000:
            raise InvalidConfigError(f"sr must be at least 8000 Hz, got {self.sr}")
        for name in ("frames", "hidden", "batch_size", "epochs", "train_step"):
            if int(getattr(self, name)) < 1:
                raise InvalidConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.loss not in ("bce", "mse"):
            raise InvalidConfigError(f"loss must be 'bce' or 'mse', got {self.loss!r}")
        if not 0.0 <= self.remix <= 1.0:
            raise InvalidConfigError(f"remix must be in [0, 1], got {self.remix}")
        if not self.lr > 0:
            raise InvalidConfigError(f"lr must be positive, got {self.lr}")
        _ = self.stft_config  # validates n_fft / hop_length

    @property
    def stft_config(self) -> StftConfig:
        """The model's STFT configuration."""
        return StftConfig(n_fft=self.n_fft, hop_length=self.hop_length, window="hann", center=True)

    @property
    def n_bins(self) -> int:
        """Frequency bins per frame (``n_fft // 2 + 1``)."""
        return self.n_fft // 2 + 1

    @property
    def window_size(self) -> int:
        """Length of the unpacked input/output vector, ``frames * n_bins``."""
        return self.frames * self.n_bins

    def to_dict(self) -> dict[str, Any]:
        """Primitive fields (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DnnConfig:
        """Rebuild from :meth:`to_dict`, ignoring unknown keys."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def log_features(mag: FloatArray) -> FloatArray:
    """Log-compressed magnitude ``log(|X| + LOG_EPS)``, same shape, float32."""
    return np.log(np.asarray(mag, dtype=np.float32) + np.float32(LOG_EPS))


class KaraokeDNN(nn.Module):
    """Feed-forward DNN mapping a window of mixture frames to the window's vocal mask.

    Parameters
    ----------
    config
        The model configuration (sizes come from ``frames``, ``n_fft`` and ``hidden``).
    """

    def __init__(self, config: DnnConfig) -> None:
        super().__init__()
        self.config = config
        d = config.window_size
        # Per-bin standardisation of the log magnitudes, fitted on the training data.
        self.register_buffer("in_mean", torch.zeros(config.n_bins))
        self.register_buffer("in_std", torch.ones(config.n_bins))
        self.hidden = nn.Linear(d, config.hidden)
        self.out = nn.Linear(config.hidden, d)
        self.meta: dict[str, Any] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mask logits of each window.

        Parameters
        ----------
        x : Tensor, shape (batch, frames, bins), float32
            Log magnitudes (:func:`log_features`) of the mixture windows.

        Returns
        -------
        Tensor, shape (batch, frames, bins)
            Logits; ``sigmoid`` gives the vocal probability of every bin of the window.
        """
        b, f, k = x.shape
        z = (x - self.in_mean) / self.in_std  # (batch, frames, bins)
        h = torch.sigmoid(self.hidden(z.reshape(b, f * k)))  # (batch, hidden)
        return self.out(h).reshape(b, f, k)  # (batch, frames, bins)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class WindowData:
    """Training windows of several tracks, stored once as frames and indexed by window start.

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
    vocals_stft, accomp_stft : ndarray, shape (total_frames, bins), complex64, optional
        The stems' STFTs, kept only for remixing augmentation (``DnnConfig.remix > 0``).
    """

    features: np.ndarray
    targets: np.ndarray
    starts: np.ndarray
    n_tracks: int
    names: tuple[str, ...] = field(default=())
    vocals_stft: np.ndarray | None = None
    accomp_stft: np.ndarray | None = None


def build_windows(
    examples: Sequence[Any], config: DnnConfig, *, step: int, keep_stems: bool = False
) -> WindowData:
    """Features and IBM targets of tracks, ready for window sampling.

    Parameters
    ----------
    examples
        ``core.corpus.Track`` objects, or tuples ``(mixture (ch, n), references (2, ch, n), sr)``
        with references ``[vocals, accompaniment]``. Channels are averaged to mono (as the paper
        made its stems mono) and audio is resampled to ``config.sr``.
    config
        Model configuration (STFT, context length).
    step
        Hop between window starts in frames.
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
    from core.audio import resample

    feats, targs, starts, names, voc, acc = [], [], [], [], [], []
    offset = 0
    cfg = config.stft_config
    for ex in examples:
        mixture, references, sr, name = training_parts(ex)
        mono = np.concatenate([mixture.mean(axis=0, keepdims=True), references.mean(axis=1)], 0)
        mono = resample(mono.astype(np.float32), orig_sr=sr, target_sr=config.sr)
        spec = stft(mono, cfg)  # (3, bins, frames): mixture, vocals, accompaniment
        mag = np.abs(spec)
        n_frames = mag.shape[2]
        if n_frames < config.frames:
            continue
        if keep_stems:
            voc.append(np.ascontiguousarray(spec[1].T))
            acc.append(np.ascontiguousarray(spec[2].T))
        feats.append(log_features(mag[0]).T)  # (frames, bins)
        targs.append(ideal_binary_mask(mag[1], mag[2]).T.astype(np.uint8))
        starts.append(offset + np.arange(0, n_frames - config.frames + 1, step))
        names.append(name)
        offset += n_frames
    if not feats:
        raise DatasetError(
            f"no track with at least {config.frames} STFT frames to train on "
            f"({len(examples)} given)"
        )
    return WindowData(
        features=np.concatenate(feats),
        targets=np.concatenate(targs),
        starts=np.concatenate(starts).astype(np.int64),
        n_tracks=len(feats),
        names=tuple(names),
        vocals_stft=np.concatenate(voc) if keep_stems else None,
        accomp_stft=np.concatenate(acc) if keep_stems else None,
    )


def _load_split(root: Path, split: str, config: DnnConfig) -> list[Any]:
    from core.corpus import load_track, split_tracks

    paths = split_tracks(root, split)  # type: ignore[arg-type]
    if not paths:
        raise DatasetError(f"corpus {str(root)!r} has no {split!r} tracks")
    return [load_track(p) for p in paths]


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_separator`.

    Attributes
    ----------
    model
        The network with the best validation weights, in eval mode.
    history
        One dict per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``seconds``.
    best_epoch, best_valid_loss
        Epoch (1-based) and validation loss of the kept weights.
    corpus
        What it was trained on (root, tracks and windows per split).
    seconds
        Wall time of the training loop.
    """

    model: KaraokeDNN
    history: list[dict[str, float]]
    best_epoch: int
    best_valid_loss: float
    corpus: dict[str, Any]
    seconds: float


def _batch(data: WindowData, idx: np.ndarray, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = data.starts[idx][:, None] + np.arange(frames)[None, :]  # (batch, frames)
    x = torch.from_numpy(data.features[rows])  # (batch, frames, bins)
    y = torch.from_numpy(data.targets[rows].astype(np.float32))
    return x, y


def _remix_batch(
    data: WindowData, idx: np.ndarray, config: DnnConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch whose mixtures are re-made from (possibly) different windows' stems."""
    assert data.vocals_stft is not None and data.accomp_stft is not None
    f = config.frames
    other = idx.copy()
    swap = rng.random(len(idx)) < config.remix
    other[swap] = rng.integers(0, len(data.starts), size=int(swap.sum()))
    ar = np.arange(f)[None, :]
    v = data.vocals_stft[data.starts[idx][:, None] + ar]  # (batch, frames, bins) complex
    a = data.accomp_stft[data.starts[other][:, None] + ar]
    g = 10.0 ** (rng.uniform(-config.vocal_gain_db, config.vocal_gain_db, (len(idx), 1, 1)) / 20)
    v = v * g.astype(np.float32)
    x = log_features(np.abs(v + a))
    y = (np.abs(v) > np.abs(a)).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def _loss_fn(config: DnnConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if config.loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits
    return lambda logits, y: nn.functional.mse_loss(torch.sigmoid(logits), y)


def evaluate_loss(model: KaraokeDNN, data: WindowData, *, batch_size: int = 512) -> float:
    """Mean loss of ``model`` over every window of ``data`` (no augmentation)."""
    loss_fn = _loss_fn(model.config)
    model.eval()
    total, n = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(data.starts), batch_size):
            idx = np.arange(i, min(i + batch_size, len(data.starts)))
            x, y = _batch(data, idx, model.config.frames)
            total += float(loss_fn(model(x), y)) * len(idx)
            n += len(idx)
    return total / max(n, 1)


def train_separator(
    config: DnnConfig,
    *,
    data: str | Path | tuple[Sequence[Any], Sequence[Any]] | tuple[WindowData, WindowData],
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train the Deep Karaoke DNN on the IBM of training tracks, early-stopping on validation.

    Parameters
    ----------
    config
        Model and training settings.
    data
        A corpus root (``core.corpus`` layout with ``train`` and ``valid`` splits), or a pair
        ``(train, valid)`` of track lists (``Track`` objects or ``(mixture, references, sr)``
        tuples), or of prepared :class:`WindowData`.
    progress
        Called as ``progress(epoch, n_epochs, train_loss, valid_loss)`` after each epoch.

    Returns
    -------
    TrainResult

    Raises
    ------
    DatasetError
        Missing splits or tracks without stems.
    InvalidConfigError
        Bad ``data`` argument.
    """
    t0 = time.perf_counter()
    corpus: dict[str, Any] = {}
    if isinstance(data, str | Path):
        root = Path(data)
        train_tracks = _load_split(root, "train", config)
        valid_tracks = _load_split(root, "valid", config)
        corpus["root"] = str(root)
        info = root / "corpus.json"
        if info.is_file():
            import json

            try:
                corpus["corpus_json"] = json.loads(info.read_text())
            except (OSError, ValueError):
                pass
        data = (train_tracks, valid_tracks)
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise InvalidConfigError("data must be a corpus folder or a (train, valid) pair")
    train, valid = data
    if not isinstance(train, WindowData):
        train = build_windows(train, config, step=config.train_step, keep_stems=config.remix > 0)
    if config.remix > 0 and train.vocals_stft is None:
        raise InvalidConfigError("remix > 0 needs WindowData built with keep_stems=True")
    if not isinstance(valid, WindowData):
        valid = build_windows(valid, config, step=config.frames)
    corpus.update(
        train_tracks=train.n_tracks,
        valid_tracks=valid.n_tracks,
        train_windows=int(len(train.starts)),
        valid_windows=int(len(valid.starts)),
    )

    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # weight init only, inside a forked RNG state
        model = KaraokeDNN(config)
    feats = train.features
    model.in_mean.copy_(torch.from_numpy(feats.mean(axis=0)))
    model.in_std.copy_(torch.from_numpy(feats.std(axis=0) + 1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = _loss_fn(config)
    gain = config.gain_db * math.log(10.0) / 20.0  # dB -> natural-log units

    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
    n = len(train.starts)
    for epoch in range(1, config.epochs + 1):
        te = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen).numpy()
        total = 0.0
        for i in range(0, n, config.batch_size):
            idx = order[i : i + config.batch_size]
            if config.remix > 0:
                x, y = _remix_batch(train, idx, config, rng)
            else:
                x, y = _batch(train, idx, config.frames)
            if gain > 0:
                shift = rng.uniform(-gain, gain, size=(len(idx), 1, 1)).astype(np.float32)
                x = x + torch.from_numpy(shift)  # log(g |X|) = log g + log |X| (above the floor)
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        train_loss = total / n
        valid_loss = evaluate_loss(model, valid)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "valid_loss": valid_loss,
                "seconds": time.perf_counter() - te,
            }
        )
        if progress is not None:
            progress(epoch, config.epochs, train_loss, valid_loss)
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
    return TrainResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
        best_valid_loss=float(best_loss),
        corpus=corpus,
        seconds=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- checkpoints


def save_separator(
    path: str | Path, model: KaraokeDNN | TrainResult, *, meta: dict[str, Any] | None = None
) -> Path:
    """Save a separator checkpoint (kind ``"separator"``), dense weights in fp16 (or int8).

    The two dense matrices are stored in fp16, or, when that would not fit the 3 MB budget
    (``hidden`` above ~70 units), in int8 with a float32 scale per row; ``meta["weight_storage"]``
    says which. :func:`load_separator` restores float32 weights either way.

    Parameters
    ----------
    path
        Target file.
    model
        The network, or a :class:`TrainResult` (its history, corpus and best loss go to meta).
    meta
        Extra provenance (command, seed, metrics); merged over the training info.

    Returns
    -------
    Path
    """
    info: dict[str, Any] = {}
    if isinstance(model, TrainResult):
        info = {
            "history": model.history,
            "best_epoch": model.best_epoch,
            "best_valid_loss": model.best_valid_loss,
            "corpus": model.corpus,
            "train_seconds": model.seconds,
        }
        model = model.model
    cfg = model.config
    info.update({"seed": cfg.seed})
    info.update(meta or {})
    # The two dense matrices hold nearly every parameter: fp16 halves the file; when fp16 would
    # still exceed MAX_BYTES (hidden > ~70), they go to int8 with one float32 scale per row
    # (symmetric, |error| <= scale / 2, well below the model's own noise). Buffers and biases
    # are tiny and stay float32.
    n_big = sum(model.state_dict()[k].numel() for k in _BIG)
    storage = "fp16" if 2 * n_big <= MAX_BYTES - 200_000 else "int8"
    state: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        v = v.detach()
        if k in _BIG and storage == "fp16":
            state[k] = v.to(torch.float16)
        elif k in _BIG:
            scale = (v.abs().amax(dim=1, keepdim=True) / 127.0).clamp_min(1e-12)
            state[k] = torch.round(v / scale).to(torch.int8)
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
        state[k] = v.float() * raw[k + _SCALE] if k + _SCALE in raw else v.float()
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        raise checkpoint_error_for_state(path, exc) from exc
    model.meta = dict(payload.get("meta") or {})
    model.eval()
    return model


# --------------------------------------------------------------------------- inference


def predict_prob(model: KaraokeDNN, mag: FloatArray, *, batch_size: int = 1024) -> FloatArray:
    """Probabilistic vocal mask by a sliding window (step 1) with overlap averaging.

    Every window of ``frames`` consecutive frames is predicted; each frame's probability is the
    mean of the ``frames`` predictions covering it (fewer at the edges). Windows are processed
    in chunks of ``batch_size``, so memory stays bounded for long songs.

    Parameters
    ----------
    model
        A trained :class:`KaraokeDNN`.
    mag : ndarray, shape (channels, bins, frames), float
        Mixture magnitudes at the model's STFT (``bins == model.config.n_bins``).
    batch_size
        Windows per forward pass.

    Returns
    -------
    ndarray, shape (channels, bins, frames), float32 in [0, 1]

    Raises
    ------
    InvalidConfigError
        ``mag`` has the wrong number of bins or dimensions.
    """
    cfg = model.config
    mag = np.asarray(mag, dtype=np.float32)
    if mag.ndim != 3 or mag.shape[1] != cfg.n_bins:
        raise InvalidConfigError(
            f"mag must be (channels, {cfg.n_bins}, frames) for this model, got {mag.shape}"
        )
    ch, bins, n_frames = mag.shape
    f = cfg.frames
    padded = max(n_frames, f)
    out = np.empty((ch, bins, n_frames), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for c in range(ch):
            feats = np.full((bins, padded), np.log(LOG_EPS), dtype=np.float32)
            feats[:, :n_frames] = log_features(mag[c])
            win = context_windows(feats, frames=f, step=1)  # (n_win, frames, bins) view
            n_win = win.shape[0]
            total = torch.zeros(padded, bins)
            count = torch.zeros(padded)
            for s in range(0, n_win, batch_size):
                e = min(s + batch_size, n_win)
                x = torch.from_numpy(np.ascontiguousarray(win[s:e]))
                p = torch.sigmoid(model(x))  # (chunk, frames, bins)
                for k in range(f):
                    total[s + k : e + k] += p[:, k]
                    count[s + k : e + k] += 1.0
            prob = (total / count[:, None]).numpy()  # (padded, bins)
            out[c] = prob[:n_frames].T
    return out
