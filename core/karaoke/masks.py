"""Time-frequency masks for Deep Karaoke: targets, context windows, combining, thresholds.

numpy only (no torch), so the mask explorer can re-threshold a cached probabilistic mask
without loading a model. Shapes follow :mod:`core.types`:

- magnitudes and masks ``(bins, frames)`` or ``(channels, bins, frames)`` float32, masks in [0, 1];
- context windows ``(n_windows, frames_per_window, bins)``: window ``i`` holds frames
  ``i * step ... i * step + frames_per_window - 1``. ``windows.reshape(n_windows, -1)`` is the
  paper's "unpacked" vector (the 20 frames concatenated one after another, frame-major);
- stems ``(sources, channels, samples)`` with sources ``[vocals, accompaniment]``.

The paper's rule for turning the probabilistic vocal mask ``P`` into binary masks is
``vocal = P > alpha`` and ``accompaniment = P < 1 - alpha`` (:func:`threshold_masks`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from core.errors import InvalidConfigError
from core.karaoke.methods import Rule, check_alpha, check_rule
from core.signal.stft import (
    StftConfig,
    _window,
    _window_sumsquare,
    frames_major_ok,
    istft,
    istft_frames_major,
)
from core.types import ComplexArray, FloatArray

#: Deep Karaoke's context: 20 consecutive STFT frames per network input.
CONTEXT_FRAMES = 20

_EPS = 1e-8


def _check_pair(a: FloatArray, b: FloatArray, names: tuple[str, str]) -> None:
    if np.shape(a) != np.shape(b):
        raise InvalidConfigError(
            f"{names[0]} and {names[1]} must have the same shape, got "
            f"{np.shape(a)} and {np.shape(b)}"
        )


def ideal_binary_mask(vocals_mag: FloatArray, accomp_mag: FloatArray) -> FloatArray:
    """Ideal binary mask: 1 where the vocal magnitude exceeds the non-vocal magnitude.

    Parameters
    ----------
    vocals_mag, accomp_mag : ndarray, same shape (e.g. (channels, bins, frames)), non-negative
        STFT magnitudes of the vocal and accompaniment stems.

    Returns
    -------
    ndarray, same shape, float32 in {0, 1}
        Strict comparison, so a bin where both are equal (e.g. both silent) is 0.

    Raises
    ------
    InvalidConfigError
        The shapes differ.
    """
    _check_pair(vocals_mag, accomp_mag, ("vocals_mag", "accomp_mag"))
    return (np.asarray(vocals_mag) > np.asarray(accomp_mag)).astype(np.float32)


def ideal_ratio_mask(
    vocals_mag: FloatArray, accomp_mag: FloatArray, *, power: float = 1.0
) -> FloatArray:
    """Ideal ratio mask ``|V|^p / (|V|^p + |A|^p)`` (``p = 1`` magnitude, ``p = 2`` Wiener-like).

    Parameters
    ----------
    vocals_mag, accomp_mag : ndarray, same shape, non-negative
        STFT magnitudes of the two stems.
    power
        Exponent applied to both magnitudes (> 0).

    Returns
    -------
    ndarray, same shape, float32 in [0, 1]
        0 where both stems are silent (as :func:`ideal_binary_mask`).

    Raises
    ------
    InvalidConfigError
        The shapes differ or ``power`` is not positive.
    """
    _check_pair(vocals_mag, accomp_mag, ("vocals_mag", "accomp_mag"))
    if not power > 0:
        raise InvalidConfigError(f"power must be positive, got {power}")
    v = np.abs(np.asarray(vocals_mag, dtype=np.float64)) ** power
    a = np.abs(np.asarray(accomp_mag, dtype=np.float64)) ** power
    return (v / np.maximum(v + a, _EPS)).astype(np.float32)


def n_windows(n_frames: int, *, frames: int = CONTEXT_FRAMES, step: int = 1) -> int:
    """Number of whole windows of ``frames`` frames taken every ``step`` frames (0 if too short)."""
    if n_frames < frames:
        return 0
    return (n_frames - frames) // step + 1


def context_windows(mag: FloatArray, *, frames: int = CONTEXT_FRAMES, step: int = 1) -> FloatArray:
    """Context windows of consecutive frames, as the paper feeds its network.

    Parameters
    ----------
    mag : ndarray, shape (bins, frames_total)
        A magnitude spectrogram (or mask) of one channel.
    frames
        Frames per window (the paper: 20, about 0.27 s at its 44.1 kHz / hop 512).
    step
        Hop between window starts, in frames: 1 at test time (the sliding window), larger for
        training (the paper took a window every 60 frames).

    Returns
    -------
    ndarray, shape (n_windows, frames, bins)
        A read-only strided view where possible (no copy); window ``i`` starts at frame
        ``i * step``. ``out.reshape(n_windows, -1)`` gives the paper's unpacked vectors of
        ``frames * bins`` values. Trailing frames that do not fill a window at the given
        ``step`` are left out; pad the input to cover them.

    Raises
    ------
    InvalidConfigError
        ``mag`` is not 2-D, ``frames``/``step`` are not positive, or there are fewer frames than
        one window.
    """
    mag = np.asarray(mag)
    if mag.ndim != 2:
        raise InvalidConfigError(f"mag must be (bins, frames), got shape {mag.shape}")
    if frames < 1 or step < 1:
        raise InvalidConfigError(f"frames and step must be >= 1, got frames={frames}, step={step}")
    if mag.shape[1] < frames:
        raise InvalidConfigError(
            f"need at least {frames} frames for one context window, got {mag.shape[1]}"
        )
    view = np.lib.stride_tricks.sliding_window_view(mag, frames, axis=1)  # (bins, n_all, frames)
    view = view[:, ::step, :]
    return view.transpose(1, 2, 0)  # (n_windows, frames, bins)


def overlap_average(
    window_preds: FloatArray,
    *,
    n_frames: int,
    step: int = 1,
    mode: Literal["all", "paper-code"] = "all",
) -> FloatArray:
    """Combine per-window mask predictions into one mask over the whole signal.

    ``mode="all"`` (default, the principled version): every prediction that covers a frame is
    averaged, i.e. ``out[:, t] = mean over windows i with i*step <= t < i*step + frames of
    window_preds[i, t - i*step]``. Frames covered by no window are 0.

    ``mode="paper-code"``: the variant of the authors' released code, which averages each
    window's ``frames`` predicted frames into the single frame at the window's start
    (``out[:, i*step] = window_preds[i].mean(axis=0)``), a temporal smoothing that shifts the
    mask towards earlier frames; kept for comparison only.

    Parameters
    ----------
    window_preds : ndarray, shape (n_windows, frames, bins)
        Predicted mask of every window, in [0, 1].
    n_frames
        Number of frames of the signal (windows reaching past it are cut).
    step
        Hop between window starts, in frames (as in :func:`context_windows`).
    mode
        ``"all"`` or ``"paper-code"``.

    Returns
    -------
    ndarray, shape (bins, n_frames), float32

    Raises
    ------
    InvalidConfigError
        Wrong shape, non-positive ``step``/``n_frames`` or an unknown ``mode``.
    """
    preds = np.asarray(window_preds, dtype=np.float32)
    if preds.ndim != 3:
        raise InvalidConfigError(
            f"window_preds must be (n_windows, frames, bins), got {preds.shape}"
        )
    if step < 1 or n_frames < 1:
        raise InvalidConfigError(f"step and n_frames must be >= 1, got {step}, {n_frames}")
    n_win, frames, bins = preds.shape
    total = np.zeros((n_frames, bins), dtype=np.float32)
    count = np.zeros(n_frames, dtype=np.float32)
    if mode == "all":
        # One vectorised add per position k inside the window (frames adds in all): window i adds
        # its k-th frame to frame i*step + k; within one k the targets never collide.
        for k in range(frames):
            stop = min(n_win, (n_frames - 1 - k) // step + 1) if n_frames > k else 0
            if stop <= 0:
                continue
            idx = slice(k, k + (stop - 1) * step + 1, step)
            total[idx] += preds[:stop, k, :]
            count[idx] += 1.0
    elif mode == "paper-code":
        starts = np.arange(n_win) * step
        keep = starts < n_frames
        total[starts[keep]] = preds[keep].mean(axis=1)
        count[starts[keep]] = 1.0
    else:
        raise InvalidConfigError(f"mode must be 'all' or 'paper-code', got {mode!r}")
    out = np.divide(total, count[:, None], out=np.zeros_like(total), where=count[:, None] > 0)
    return np.ascontiguousarray(out.T)


def threshold_masks(
    prob: FloatArray, *, alpha: float = 0.5, rule: Rule = "paper"
) -> tuple[FloatArray, FloatArray]:
    """Turn the probabilistic vocal mask into the vocal and accompaniment masks.

    Parameters
    ----------
    prob : ndarray, any shape, values in [0, 1]
        Probability that each time-frequency bin is vocal.
    alpha
        Threshold in [0, 1].
    rule
        - ``"paper"``: vocal ``P > alpha``, accompaniment ``P < 1 - alpha`` (Deep Karaoke). For
          ``alpha > 0.5`` some bins go to neither source, for ``alpha < 0.5`` to both; at
          ``alpha = 0.5`` the two are complementary except where ``P == 0.5`` exactly.
        - ``"complement"``: vocal ``P > alpha``, accompaniment its complement ``P <= alpha``.
        - ``"soft"``: vocal ``P``, accompaniment ``1 - P`` (``alpha`` ignored).

    Returns
    -------
    vocal_mask, accomp_mask : ndarray, same shape as ``prob``, float32 in [0, 1]

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1] or an unknown ``rule``.
    """
    alpha = check_alpha(alpha)
    rule = check_rule(rule)
    p = np.asarray(prob, dtype=np.float32)
    if rule == "paper":
        return (p > alpha).astype(np.float32), (p < 1.0 - alpha).astype(np.float32)
    if rule == "complement":
        vocal = p > alpha
        return vocal.astype(np.float32), (~vocal).astype(np.float32)
    return p.copy(), (1.0 - p).astype(np.float32)  # "soft"


def mask_shares(
    prob: FloatArray, *, alpha: float = 0.5, rule: Rule = "paper", max_bins: int = 4_000_000
) -> dict[str, float]:
    """Share of time-frequency bins each thresholded mask keeps, and how high ``prob`` goes.

    Parameters
    ----------
    prob : ndarray, shape (channels, bins, frames), float in [0, 1]
        The probabilistic vocal mask.
    alpha, rule
        As in :func:`threshold_masks`.
    max_bins
        Above this many values ``prob`` is subsampled by a stride along bins and frames (the
        shares of a long song change by far less than the display's rounding).

    Returns
    -------
    dict
        ``vocals`` and ``accompaniment`` (mean mask value, 0-1), ``p99`` (99th percentile of
        ``prob``), and for binary rules ``both`` (bins given to both sources: α < 0.5 with the
        paper rule) and ``neither`` (α > 0.5).

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1] or an unknown ``rule``.
    """
    prob = np.asarray(prob, dtype=np.float32)
    stride = max(1, int(np.ceil(np.sqrt(prob.size / max_bins))))
    p = prob[..., ::stride, ::stride]
    vocal, accomp = threshold_masks(p, alpha=alpha, rule=rule)
    shares = {"vocals": float(np.mean(vocal)), "accompaniment": float(np.mean(accomp))}
    flat = p.ravel()
    k = int(0.99 * (flat.size - 1))
    shares["p99"] = float(np.partition(flat, k)[k])
    if rule != "soft":
        v, a = vocal > 0.5, accomp > 0.5
        shares["both"] = float(np.mean(v & a))
        shares["neither"] = float(np.mean(~v & ~a))
    return shares


def apply_masks(
    mixture_stft: ComplexArray, masks: tuple[FloatArray, ...] | FloatArray
) -> ComplexArray:
    """Multiply the mixture STFT by each source's mask (keeping the mixture phase).

    Parameters
    ----------
    mixture_stft : ndarray, shape (channels, bins, frames), complex
    masks : sequence of arrays or ndarray shaped (sources, channels, bins, frames), float
        One mask per source, each broadcastable to ``mixture_stft``.

    Returns
    -------
    ndarray, shape (sources, channels, bins, frames), complex64

    Raises
    ------
    InvalidConfigError
        A mask does not match the mixture's shape.
    """
    S = np.asarray(mixture_stft)
    out = np.empty((len(masks),) + S.shape, dtype=np.complex64)
    for j, m in enumerate(masks):
        m = np.asarray(m, dtype=np.float32)
        if m.shape != S.shape:
            raise InvalidConfigError(f"mask {j} has shape {m.shape}, the mixture STFT {S.shape}")
        np.multiply(S, m, out=out[j])
    return out


def _masked_istft(S: ComplexArray, mask: FloatArray, config: StftConfig, length: int) -> FloatArray:
    """``istft(S * mask)`` through the frames-major fast inverse.

    The masking and the transpose to ``(ch, frames, bins)`` are one vectorised pass, then
    :func:`core.signal.stft.istft_frames_major` (librosa's :func:`~core.signal.stft.istft`
    directly when ``hop`` does not divide ``n_fft``).
    """
    ch, bins, frames = S.shape
    if not frames_major_ok(config):
        return istft((S * mask).astype(np.complex64, copy=False), config, length=length)
    X = np.empty((ch, frames, bins), dtype=np.complex64)
    np.multiply(S.transpose(0, 2, 1), mask.transpose(0, 2, 1), out=X)
    return istft_frames_major(X, config, length=length)


def _checked_masks(
    masks: tuple[FloatArray, ...] | FloatArray, shape: tuple[int, ...]
) -> list[FloatArray]:
    """The masks as float32 arrays, each checked to have the mixture STFT's ``shape``."""
    arrays = [np.asarray(m, dtype=np.float32) for m in masks]
    for j, m in enumerate(arrays):
        if m.shape != shape:
            raise InvalidConfigError(f"mask {j} has shape {m.shape}, the mixture STFT {shape}")
    return arrays


def reconstruct(
    mixture_stft: ComplexArray,
    masks: tuple[FloatArray, ...] | FloatArray,
    *,
    config: StftConfig,
    length: int,
) -> FloatArray:
    """Masked mixture STFTs back to audio, with the mixture phase (``core.signal.stft.istft``).

    Works one source at a time so a long song never holds every masked STFT at once. The
    inverse is :func:`core.signal.stft.istft_frames_major` (librosa's result to ~1e-6, several
    times faster; librosa itself when ``hop_length`` does not divide ``n_fft``), because this
    runs on every move of the α slider.

    Parameters
    ----------
    mixture_stft : ndarray, shape (channels, bins, frames), complex
        The mixture's STFT made with ``config``.
    masks
        One mask per source, each shaped like ``mixture_stft`` (values in [0, 1]).
    config
        The STFT configuration of ``mixture_stft``.
    length
        Output length in samples (the mixture's).

    Returns
    -------
    ndarray, shape (sources, channels, length), float32
        With an all-ones mask this returns the mixture (up to float rounding).

    Raises
    ------
    InvalidConfigError
        A mask does not match the mixture's shape.
    """
    S = np.asarray(mixture_stft)
    if S.ndim != 3 or S.shape[1] != config.n_bins:
        raise InvalidConfigError(
            f"mixture_stft must be (channels, {config.n_bins}, frames), got {S.shape}"
        )
    out = np.empty((len(masks), S.shape[0], length), dtype=np.float32)
    arrays = _checked_masks(masks, S.shape)
    for j, m in enumerate(arrays):
        out[j] = _masked_istft(S, m, config, length)
    return out


def reconstruct_frames_major(
    stft_t: ComplexArray,
    masks_t: tuple[FloatArray, ...],
    *,
    config: StftConfig,
    length: int,
) -> FloatArray:
    """:func:`reconstruct` for frames-major inputs, the α slider's hot path.

    With the mixture STFT and the masks already laid out ``(channels, frames, bins)`` and
    contiguous, masking is one contiguous multiply and the inverse FFT runs along the last axis
    with no transpose (about twice as fast as strided access on a 30 s stereo clip); the
    sources are inverted in two threads when the STFT is not huge.

    Parameters
    ----------
    stft_t : ndarray, shape (channels, frames, bins), complex64, C-contiguous
        The mixture STFT made with ``config``, transposed.
    masks_t
        One mask per source shaped like ``stft_t`` (values in [0, 1]).
    config, length
        As in :func:`reconstruct`.

    Returns
    -------
    ndarray, shape (sources, channels, length), float32
        Equal to ``reconstruct`` on the untransposed arrays.

    Raises
    ------
    InvalidConfigError
        A mask does not match the STFT's shape.
    """
    S = np.asarray(stft_t)
    if S.ndim != 3 or S.shape[2] != config.n_bins:
        raise InvalidConfigError(
            f"stft_t must be (channels, frames, {config.n_bins}), got {S.shape}"
        )
    if not frames_major_ok(config):
        back = S.transpose(0, 2, 1)
        return reconstruct(
            back, tuple(m.transpose(0, 2, 1) for m in masks_t), config=config, length=length
        )
    arrays = _checked_masks(masks_t, S.shape)
    out = np.empty((len(arrays), S.shape[0], length), dtype=np.float32)

    def one(j: int) -> None:
        out[j] = istft_frames_major(S * arrays[j], config, length=length)

    # numpy's multiply and scipy's FFT release the GIL: the sources run on two cores at once
    # (about 1.8x on a 30 s stereo clip). Long songs go one source at a time to bound memory.
    if len(arrays) > 1 and S.nbytes <= _THREADED_MAX_BYTES:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(2, len(arrays))) as pool:
            list(pool.map(one, range(len(arrays))))
    else:
        for j in range(len(arrays)):
            one(j)
    return out


#: Above this STFT size (~5 min of stereo 44.1 kHz) :func:`reconstruct_frames_major` works on one
#: source at a time, so peak memory stays at one masked copy plus its frames.
_THREADED_MAX_BYTES = 512 * 2**20


#: Frames per block of :func:`separate_frames_major`: a block's masked spectrum and its frames
#: (64 x 2048 samples at 44.1 kHz, ~0.5 MB each) stay in the CPU cache, and no full-size
#: temporary (masks, masked STFT, frames: ~40 MB each on 30 s of stereo) is ever allocated.
BLOCK_FRAMES = 64


def _source_masks(
    p: FloatArray, alpha: float, rule: Rule, out: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Vocal and accompaniment masks of a block of ``p``, as :func:`threshold_masks` makes them.

    Binary rules give boolean masks written into ``out``, the soft rule ``p`` and ``1 - p``
    (the same comparisons with the same Python-float thresholds, so the same bins).
    """
    voc, acc = out
    if rule == "soft":
        return p, (1.0 - p).astype(np.float32)
    np.greater(p, alpha, out=voc)
    if rule == "paper":
        np.less(p, 1.0 - alpha, out=acc)
    else:  # "complement": every bin not vocal
        np.logical_not(voc, out=acc)
    return voc, acc


def separate_frames_major(
    stft_t: ComplexArray,
    prob_t: FloatArray,
    *,
    alpha: float,
    rule: Rule = "paper",
    config: StftConfig,
    length: int,
    block_frames: int = BLOCK_FRAMES,
) -> FloatArray:
    """Threshold ``prob_t`` at ``alpha`` and rebuild both stems, block by block (the α fast path).

    Equal to ``reconstruct(stft, threshold_masks(prob, alpha=alpha, rule=rule), ...)`` on the
    untransposed arrays, but fused: each block of ``block_frames`` frames is thresholded, masked,
    inverted (``scipy.fft.irfft`` along the contiguous bins), windowed and overlap-added while it
    is in the CPU cache. The two sources run in two threads (numpy and scipy's FFT release the
    GIL). About half the CPU work of masking and inverting whole arrays, because no full-size
    mask, masked STFT or frame array is allocated (page faults and memory traffic dominated).

    Parameters
    ----------
    stft_t : ndarray, shape (channels, frames, bins), complex64, C-contiguous
        The mixture STFT made with ``config``, transposed.
    prob_t : ndarray, shape (channels, frames, bins), float32
        The probabilistic vocal mask, same layout.
    alpha, rule
        As in :func:`threshold_masks`.
    config
        The STFT configuration. When ``hop_length`` does not divide ``n_fft`` (or frames are not
        centred) this falls back to :func:`reconstruct_frames_major`.
    length
        Output length in samples.
    block_frames
        Frames per block (> 0).

    Returns
    -------
    ndarray, shape (2, channels, length), float32
        ``[vocals, accompaniment]``.

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1], an unknown ``rule``, mismatched shapes or ``block_frames < 1``.
    """
    alpha = check_alpha(alpha)
    rule = check_rule(rule)
    S = np.asarray(stft_t)
    P = np.asarray(prob_t, dtype=np.float32)
    if S.ndim != 3 or S.shape[2] != config.n_bins or P.shape != S.shape:
        raise InvalidConfigError(
            f"stft_t and prob_t must both be (channels, frames, {config.n_bins}), got "
            f"{S.shape} and {P.shape}"
        )
    if block_frames < 1:
        raise InvalidConfigError(f"block_frames must be >= 1, got {block_frames}")
    if not frames_major_ok(config):
        masks = threshold_masks(P, alpha=alpha, rule=rule)
        return reconstruct_frames_major(S, masks, config=config, length=length)
    import scipy.fft

    ch, frames, bins = S.shape
    n_fft, hop = config.n_fft, config.hop_length
    r = n_fft // hop
    window = _window(config.window, n_fft)
    wss = _window_sumsquare(config.window, n_fft, hop, frames)
    nonzero = wss > np.finfo(np.float32).tiny
    out = np.empty((2, ch, length), dtype=np.float32)

    def one(source: int) -> None:
        y = np.zeros((ch, hop * (frames + r - 1)), dtype=np.float32)
        X = np.empty((block_frames, bins), dtype=np.complex64)
        bufs = (
            np.empty((block_frames, bins), dtype=np.bool_),
            np.empty((block_frames, bins), dtype=np.bool_),
        )
        for c in range(ch):
            for f0 in range(0, frames, block_frames):
                f1 = min(frames, f0 + block_frames)
                n = f1 - f0
                masks = _source_masks(P[c, f0:f1], alpha, rule, (bufs[0][:n], bufs[1][:n]))
                np.multiply(S[c, f0:f1], masks[source], out=X[:n])
                fr = scipy.fft.irfft(X[:n], n=n_fft, axis=-1, overwrite_x=True)  # (n, n_fft)
                fr *= window
                for k in range(r):  # frame t's k-th hop block lands at sample (t + k) * hop
                    y[c, (f0 + k) * hop : (f1 + k) * hop].reshape(n, hop)[:] += fr[
                        :, k * hop : (k + 1) * hop
                    ]
        np.divide(y, wss, out=y, where=nonzero)
        kept = y[:, n_fft // 2 : n_fft // 2 + length]  # drop the centring pad
        out[source] = 0.0
        out[source, :, : kept.shape[1]] = kept

    if S.nbytes <= _THREADED_MAX_BYTES:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, range(2)))
    else:
        for source in range(2):
            one(source)
    return out
