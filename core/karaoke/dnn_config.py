"""The separator's configuration (:class:`DnnConfig`), without importing torch.

The CLI builds its ``train-separator`` flags and help from these fields, and the dashboard
reads a checkpoint's summary, without paying for torch's import; :mod:`core.karaoke.dnn` holds
the network itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from core.errors import InvalidConfigError
from core.signal.stft import FeatureGrid
from core.types import FloatArray

#: Floor added to magnitudes before the log (keeps silence finite; ~ -60 dB re. a full bin).
LOG_EPS = 1e-3


@dataclass(frozen=True)
class DnnConfig(FeatureGrid):
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
        Units of the single hidden layer (the paper: 20,500).
    proj
        Features per input frame before the window layer (0 = none: the paper's dense layer
        over all ``frames * bins`` values).
    basis
        Features per output frame before the shared per-frame basis to the bins (0 = none: the
        paper's dense ``hidden -> frames * bins`` layer).
    activation
        Of the hidden layer: ``"sigmoid"`` (the paper) or ``"relu"``.
    average
        How the ``frames`` window predictions of a frame are overlap-averaged at test time:
        ``"prob"`` averages the window masks (the paper), ``"logit"`` averages their logits
        (the geometric mean of the odds) before the sigmoid, which lets the shared output basis
        run once per frame instead of once per window frame (``frames`` times fewer
        multiply-adds there); the calibration is fitted on whichever is used.
    loss
        ``"bce"`` (binary cross-entropy on the IBM) or ``"mse"`` (the paper's squared error).
    optimizer, lr, momentum, weight_decay, batch_size
        ``"adam"`` or ``"sgd"`` (the paper: SGD, lr 0.1, momentum 0.5, batches of 100), and the
        number of windows per batch.
    epochs, patience
        At most ``epochs`` passes; stop after ``patience`` epochs without a better validation
        loss (the best weights are kept).
    train_step
        Hop between training windows, in frames (the paper: 60), so an epoch sees about
        ``frames_total / train_step`` windows.
    chunk_windows
        Training windows computed together from one stretch of ``chunk_windows + frames - 1``
        frames (the projection of each frame is shared by the overlapping windows); stretches
        start every ``train_step * chunk_windows`` frames. 1 = isolated windows.
    gain_db
        Random level change of each training chunk, uniform in ``[-gain_db, gain_db]`` dB.
    remix
        Share of training chunks whose mixture is re-made from the vocals of one chunk and the
        accompaniment of another, random one (complex STFTs summed, the IBM recomputed).
    vocal_gain_db
        With ``remix > 0``: random vocal level relative to the accompaniment, in dB.
    eq_db
        With ``remix > 0``: a random smooth spectral envelope (peak ``eq_db`` dB) applied to each
        source, so the network cannot lean on one soundfont's or one voice's timbre.
    warp
        With ``remix > 0``: random frequency warping of each source (vocal-tract-length
        perturbation): bin ``k`` of the warped STFT takes bin ``round(k / s)``, with ``s`` drawn
        log-uniformly in ``[1 / (1 + warp), 1 + warp]`` per chunk and source, so formants and
        pitch move together as between singers and instruments of different size. 0 = off.
    lr_schedule
        ``"constant"`` or ``"cosine"`` (the learning rate decays along a half cosine from
        ``lr`` to 0 over ``epochs``; early stopping still applies).
    seed
        Seeds the weight init, the window order and the augmentation.
    """

    sr: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    frames: int = 20
    hidden: int = 512
    proj: int = 128
    basis: int = 64
    activation: Literal["sigmoid", "relu"] = "relu"
    average: Literal["logit", "prob"] = "logit"
    loss: Literal["bce", "mse"] = "bce"
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.5
    weight_decay: float = 0.0
    batch_size: int = 256
    epochs: int = 30
    patience: int = 4
    train_step: int = 1
    chunk_windows: int = 32
    gain_db: float = 6.0
    remix: float = 0.75
    vocal_gain_db: float = 6.0
    eq_db: float = 6.0
    warp: float = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sr < 8000:
            raise InvalidConfigError(f"sr must be at least 8000 Hz, got {self.sr}")
        for name in ("frames", "hidden", "batch_size", "epochs", "train_step", "chunk_windows"):
            if int(getattr(self, name)) < 1:
                raise InvalidConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("proj", "basis"):
            if int(getattr(self, name)) < 0:
                raise InvalidConfigError(
                    f"{name} must be >= 0 (0 = dense), got {getattr(self, name)}"
                )
        if self.loss not in ("bce", "mse"):
            raise InvalidConfigError(f"loss must be 'bce' or 'mse', got {self.loss!r}")
        if self.activation not in ("sigmoid", "relu"):
            raise InvalidConfigError(
                f"activation must be 'sigmoid' or 'relu', got {self.activation!r}"
            )
        if self.average not in ("logit", "prob"):
            raise InvalidConfigError(f"average must be 'logit' or 'prob', got {self.average!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise InvalidConfigError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if not 0.0 <= self.remix <= 1.0:
            raise InvalidConfigError(f"remix must be in [0, 1], got {self.remix}")
        if not 0.0 <= self.warp <= 1.0:
            raise InvalidConfigError(f"warp must be in [0, 1], got {self.warp}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise InvalidConfigError(
                f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}"
            )
        if not self.lr > 0:
            raise InvalidConfigError(f"lr must be positive, got {self.lr}")
        _ = self.stft_config  # validates n_fft / hop_length

    @classmethod
    def paper(cls, **overrides: Any) -> DnnConfig:
        """The paper's configuration, with ``overrides`` applied.

        44.1 kHz, n_fft 2048 / hop 512, 20,500 sigmoid units, dense layers, squared error,
        SGD lr 0.1 / momentum 0.5, batches of 100, windows every 60 frames, 100 epochs,
        overlap-averaged masks, no augmentation.
        """
        base = dict(
            sr=44100, n_fft=2048, hop_length=512, frames=20, hidden=20500, proj=0, basis=0,
            activation="sigmoid", average="prob", loss="mse", optimizer="sgd", lr=0.1, momentum=0.5,
            batch_size=100, epochs=100, patience=100, train_step=60, chunk_windows=1,
            gain_db=0.0, remix=0.0, vocal_gain_db=0.0, eq_db=0.0, warp=0.0, lr_schedule="constant",
        )
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    @property
    def window_size(self) -> int:
        """Length of the unpacked input/output vector, ``frames * n_bins``."""
        return self.frames * self.n_bins

    @property
    def macs_per_frame(self) -> int:
        """Multiply-adds of the network per input frame at test time (sliding by one frame)."""
        k_in = self.proj or self.n_bins
        k_out = self.basis or self.n_bins
        cost = self.frames * k_in * self.hidden + self.frames * self.hidden * k_out
        if self.proj:
            cost += self.n_bins * self.proj
        if self.basis:
            # the shared basis runs once per frame after logit averaging, else per window frame
            cost += (1 if self.average == "logit" else self.frames) * self.basis * self.n_bins
        return int(cost)

    def to_dict(self) -> dict[str, Any]:
        """Primitive fields (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DnnConfig:
        """Rebuild from :meth:`to_dict`, ignoring unknown keys."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def check_model_input(mag: Any, config: DnnConfig, *, chunk: int) -> FloatArray:
    """``mag`` as float32 ``(channels, config.n_bins, frames)``, checked for the network.

    Shared by the torch and the numpy forward passes (:func:`core.karaoke.dnn.predict_prob`,
    :func:`core.karaoke.infer.predict_prob_fast`).

    Raises
    ------
    InvalidConfigError
        ``mag`` has the wrong number of bins or dimensions, or ``chunk < 1``.
    """
    out: FloatArray = np.asarray(mag, dtype=np.float32)
    if out.ndim != 3 or out.shape[1] != config.n_bins:
        raise InvalidConfigError(
            f"mag must be (channels, {config.n_bins}, frames) for this model, got {out.shape}"
        )
    if int(chunk) < 1:
        raise InvalidConfigError(f"chunk must be >= 1, got {chunk}")
    return out
