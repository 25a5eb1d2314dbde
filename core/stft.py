"""Short-time Fourier transform helpers (librosa underneath).

Shapes follow :mod:`core.types`: audio ``(channels, samples)`` float32 in, STFT
``(channels, bins, frames)`` complex64 out, ``bins = n_fft // 2 + 1``.
The default configuration is Deep Karaoke's (n_fft 2048, hop 512, Hann window).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.errors import InvalidConfigError
from core.types import ComplexArray, FloatArray


@dataclass(frozen=True)
class StftConfig:
    """STFT parameters.

    Attributes
    ----------
    n_fft
        FFT size in samples (also the window length).
    hop_length
        Hop between frames in samples.
    window
        Window name understood by ``scipy.signal.get_window`` (e.g. ``"hann"``).
    center
        Pad the signal so frame ``t`` is centred at ``t * hop_length``.
    """

    n_fft: int = 2048
    hop_length: int = 512
    window: str = "hann"
    center: bool = True

    def __post_init__(self) -> None:
        if self.n_fft < 16:
            raise InvalidConfigError(f"n_fft must be at least 16, got {self.n_fft}")
        if not 0 < self.hop_length <= self.n_fft:
            raise InvalidConfigError(
                f"hop_length must be in (0, n_fft={self.n_fft}], got {self.hop_length}"
            )

    @property
    def n_bins(self) -> int:
        """Number of frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as primitives (for checkpoints and result configs)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StftConfig:
        """Build a config from :meth:`to_dict` output, ignoring unknown keys."""
        names = {"n_fft", "hop_length", "window", "center"}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise InvalidConfigError(f"not an STFT config: {data!r}") from exc


def stft(y: FloatArray, config: StftConfig | None = None) -> ComplexArray:
    """Complex STFT of every channel.

    Parameters
    ----------
    y : ndarray, shape (channels, samples), float
        Audio.
    config
        STFT parameters (default :class:`StftConfig`).

    Returns
    -------
    ndarray, shape (channels, bins, frames), complex64
    """
    import librosa

    cfg = config or StftConfig()
    if y.ndim != 2:
        raise InvalidConfigError(f"stft expects (channels, samples), got shape {y.shape}")
    S = librosa.stft(
        np.ascontiguousarray(y, dtype=np.float32),
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        window=cfg.window,
        center=cfg.center,
    )
    return S.astype(np.complex64, copy=False)


def istft(S: ComplexArray, config: StftConfig | None = None, *, length: int) -> FloatArray:
    """Inverse STFT, the exact inverse of :func:`stft` for the same config and length.

    Parameters
    ----------
    S : ndarray, shape (channels, bins, frames), complex
    config
        The config used for the forward transform.
    length
        Number of output samples (the original signal's length).

    Returns
    -------
    ndarray, shape (channels, length), float32
    """
    import librosa

    cfg = config or StftConfig()
    if S.ndim != 3 or S.shape[1] != cfg.n_bins:
        raise InvalidConfigError(
            f"istft expects (channels, {cfg.n_bins}, frames) for n_fft={cfg.n_fft}, got {S.shape}"
        )
    y = librosa.istft(
        S,
        hop_length=cfg.hop_length,
        n_fft=cfg.n_fft,
        window=cfg.window,
        center=cfg.center,
        length=length,
    )
    return np.ascontiguousarray(y, dtype=np.float32)


def magnitude_db(S: ComplexArray | FloatArray, *, top_db: float = 80.0) -> FloatArray:
    """Magnitude in dB relative to the maximum, floored ``top_db`` below it.

    Parameters
    ----------
    S : ndarray, complex or non-negative magnitude, any shape
    top_db
        Dynamic range kept, in dB.

    Returns
    -------
    ndarray, same shape, float32, values in [-top_db, 0]
    """
    mag = np.abs(S).astype(np.float32, copy=False)
    ref = float(mag.max()) if mag.size else 0.0
    if ref <= 0.0:
        return np.full(mag.shape, -top_db, dtype=np.float32)
    db = 20.0 * np.log10(np.maximum(mag, ref * 10.0 ** (-top_db / 20.0)) / ref)
    return db.astype(np.float32, copy=False)


def frame_times(n_frames: int, *, sr: int, config: StftConfig | None = None) -> FloatArray:
    """Centre time in seconds of each STFT frame, shape ``(n_frames,)`` float64."""
    cfg = config or StftConfig()
    return np.arange(n_frames, dtype=np.float64) * cfg.hop_length / sr
