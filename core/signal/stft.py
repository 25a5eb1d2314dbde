"""Short-time Fourier transform helpers (librosa's numerics; librosa only for :func:`istft`).

Shapes follow :mod:`core.types`: audio ``(channels, samples)`` float32 in, STFT
``(channels, bins, frames)`` complex64 out, ``bins = n_fft // 2 + 1``.
The default configuration is Deep Karaoke's (n_fft 2048, hop 512, Hann window).

:func:`istft_frames_major` is a fast inverse for frames-major ``(channels, frames, bins)``
spectra, numerically librosa's :func:`istft` (to ~1e-6): the α slider of the mask explorer
inverts two masked STFTs on every move.
"""

from __future__ import annotations

import functools
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


class FeatureGrid:
    """The STFT grid of a separator's magnitude features, shared by the DNN and NMF configs.

    A mixin for frozen dataclasses that declare ``n_fft`` and ``hop_length`` fields
    (:class:`core.karaoke.dnn_config.DnnConfig`, :class:`core.karaoke.nmf.NmfConfig`): both
    models read Hann-windowed, centred frames, so one definition serves both.
    """

    n_fft: int
    hop_length: int

    @property
    def stft_config(self) -> StftConfig:
        """The model's STFT configuration (Hann window, centred frames)."""
        return StftConfig(n_fft=self.n_fft, hop_length=self.hop_length, window="hann", center=True)

    @property
    def n_bins(self) -> int:
        """Frequency bins per frame (``n_fft // 2 + 1``)."""
        return self.n_fft // 2 + 1


def stft(y: FloatArray, config: StftConfig | None = None) -> ComplexArray:
    """Complex STFT of every channel, equal to ``librosa.stft`` (zero padding when centred).

    Computed here with numpy's FFT, frame by frame as librosa does (float64 products of the
    window and the frames, cast to complex64), so the values are librosa's to the bit, without
    importing librosa (whose import pulls in numba and ``scipy.signal``, about 2 s).

    Parameters
    ----------
    y : ndarray, shape (channels, samples), float
        Audio.
    config
        STFT parameters (default :class:`StftConfig`).

    Returns
    -------
    ndarray, shape (channels, bins, frames), complex64
        A transposed view of a frames-major ``(channels, frames, bins)`` array (so
        ``S.transpose(0, 2, 1)`` is C-contiguous, without a copy).

    Raises
    ------
    InvalidConfigError
        ``y`` is not 2-D, or shorter than one frame.
    """
    cfg = config or StftConfig()
    if y.ndim != 2:
        raise InvalidConfigError(f"stft expects (channels, samples), got shape {y.shape}")
    y = np.asarray(y, dtype=np.float32)
    n_fft, hop = cfg.n_fft, cfg.hop_length
    if cfg.center:
        y = np.pad(y, ((0, 0), (n_fft // 2, n_fft // 2)))
    if y.shape[1] < n_fft:
        raise InvalidConfigError(
            f"stft needs at least n_fft={n_fft} samples (after centring), got {y.shape[1]}"
        )
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft, axis=1)[:, ::hop]
    window = _window64(cfg.window, n_fft)
    ch, n_frames, _ = frames.shape
    out = np.empty((ch, n_frames, cfg.n_bins), dtype=np.complex64)
    step = max(1, _BLOCK_BYTES // (ch * n_fft * 8))  # frames per block of float64 products
    for f0 in range(0, n_frames, step):
        f1 = min(n_frames, f0 + step)
        out[:, f0:f1] = np.fft.rfft(frames[:, f0:f1] * window, axis=-1)
    return out.transpose(0, 2, 1)


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


#: Bytes of float64 frame products :func:`stft` transforms per call (as librosa, 256 kB).
_BLOCK_BYTES = 2**18


@functools.lru_cache(maxsize=8)
def _window64(window: str, n_fft: int) -> FloatArray:
    """The periodic analysis window as librosa uses it (float64), read-only, ``(n_fft,)``.

    ``"hann"`` is computed here exactly as ``scipy.signal.get_window("hann", n_fft)`` does
    (a general cosine on ``linspace(-pi, pi, n_fft + 1)``, truncated), so the hot path does
    not import ``scipy.signal`` (about 1 s); other windows ask scipy.
    """
    if window == "hann":
        fac = np.linspace(-np.pi, np.pi, n_fft + 1, dtype=np.float64)
        w = np.zeros(n_fft + 1, dtype=np.float64)
        for k, a in enumerate((0.5, 0.5)):
            w += a * np.cos(k * fac)
        w = w[:-1]
    else:
        import scipy.signal

        w = np.asarray(scipy.signal.get_window(window, n_fft, fftbins=True), dtype=np.float64)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=8)
def _window(window: str, n_fft: int) -> FloatArray:
    """The periodic analysis window (as librosa uses it) in float32, read-only, ``(n_fft,)``."""
    w: FloatArray = _window64(window, n_fft).astype(np.float32)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=8)
def _window_sumsquare(window: str, n_fft: int, hop: int, frames: int) -> FloatArray:
    """Sum of squared, overlapped analysis windows, shape ``(hop * (frames + n_fft/hop - 1),)``."""
    w2 = _window(window, n_fft) ** 2
    r = n_fft // hop
    wss = np.zeros(hop * (frames + r - 1), dtype=np.float32)
    for k in range(r):
        wss[k * hop : k * hop + frames * hop].reshape(frames, hop)[:] += w2[k * hop : (k + 1) * hop]
    wss.setflags(write=False)
    return wss


def frames_major_ok(config: StftConfig) -> bool:
    """Whether :func:`istft_frames_major` takes its fast path (``hop | n_fft`` and centred)."""
    return config.n_fft % config.hop_length == 0 and config.center


def istft_frames_major(X: ComplexArray, config: StftConfig, *, length: int) -> FloatArray:
    """Inverse STFT of a frames-major spectrum, numerically the same as :func:`istft`.

    The inverse real FFTs run along the last, contiguous axis in one vectorised call, and the
    overlap-add is ``n_fft / hop`` strided adds (librosa loops over blocks of frames and copies
    more): several times faster. When ``hop_length`` does not divide ``n_fft`` or the frames are
    not centred, it falls back to :func:`istft` on the transposed array.

    Parameters
    ----------
    X : ndarray, shape (channels, frames, bins), complex
        The STFT made with ``config``, transposed (C-contiguous for speed).
    config
        The config used for the forward transform.
    length
        Number of output samples (the original signal's length).

    Returns
    -------
    ndarray, shape (channels, length), float32

    Raises
    ------
    InvalidConfigError
        ``X`` is not ``(channels, frames, n_fft // 2 + 1)``.
    """
    import scipy.fft

    if X.ndim != 3 or X.shape[2] != config.n_bins:
        raise InvalidConfigError(
            f"istft_frames_major expects (channels, frames, {config.n_bins}) for "
            f"n_fft={config.n_fft}, got {X.shape}"
        )
    if not frames_major_ok(config):
        return istft(X.transpose(0, 2, 1), config, length=length)
    ch, frames, _ = X.shape
    n_fft, hop = config.n_fft, config.hop_length
    fr = scipy.fft.irfft(X, n=n_fft, axis=-1).astype(np.float32, copy=False)  # (ch, frames, n_fft)
    fr *= _window(config.window, n_fft)
    r = n_fft // hop
    y = np.zeros((ch, hop * (frames + r - 1)), dtype=np.float32)
    for k in range(r):  # overlap-add: frame t's k-th hop block lands at sample (t + k) * hop
        y[:, k * hop : k * hop + frames * hop].reshape(ch, frames, hop)[:] += fr[
            :, :, k * hop : (k + 1) * hop
        ]
    del fr
    wss = _window_sumsquare(config.window, n_fft, hop, frames)
    np.divide(y, wss, out=y, where=wss > np.finfo(np.float32).tiny)
    out = y[:, n_fft // 2 : n_fft // 2 + length]  # drop the centring pad
    if out.shape[1] < length:
        out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
    return np.ascontiguousarray(out)


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
    db: FloatArray = 20.0 * np.log10(np.maximum(mag, ref * 10.0 ** (-top_db / 20.0)) / ref)
    return db.astype(np.float32, copy=False)


def frame_times(n_frames: int, *, sr: int, config: StftConfig | None = None) -> FloatArray:
    """Centre time in seconds of each STFT frame, shape ``(n_frames,)`` float64."""
    cfg = config or StftConfig()
    return np.arange(n_frames, dtype=np.float64) * cfg.hop_length / sr
