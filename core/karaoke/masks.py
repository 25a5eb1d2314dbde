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
    _window64,
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


def _check_mixture(mixture: FloatArray, S: ComplexArray, config: StftConfig, length: int) -> None:
    """Raise unless ``S`` (frames-major) is the STFT of ``mixture`` (a few frames are checked).

    The frames are recomputed as :func:`core.signal.stft.stft` computes them (float64 products
    of the window and the zero-padded frame), so a matching mixture agrees to float rounding.
    """
    ch, frames, _ = S.shape
    if mixture.shape != (ch, length):
        raise InvalidConfigError(
            f"mixture must be (channels, length) = ({ch}, {length}), got {mixture.shape}"
        )
    n_fft, hop = config.n_fft, config.hop_length
    window = _window64(config.window, n_fft)
    for t in sorted({0, frames // 3, frames - 1}):
        seg = np.zeros((ch, n_fft), dtype=np.float64)  # padded samples [t*hop, t*hop + n_fft)
        a = t * hop - n_fft // 2
        lo, hi = max(0, a), min(length, a + n_fft)
        if hi > lo:
            seg[:, lo - a : hi - a] = mixture[:, lo:hi]
        want = np.fft.rfft(seg * window, axis=-1)
        scale = max(1e-6, float(np.abs(want).max()))
        if not np.allclose(S[:, t], want, rtol=1e-4, atol=1e-5 * scale):
            raise InvalidConfigError(
                f"mixture does not match stft_t (frame {t} differs): pass the samples the STFT "
                "was computed from, or no mixture"
            )


def _can_subtract(config: StftConfig, frames: int, length: int) -> bool:
    """Whether ``mixture - istft(...)`` is safe: the window's overlapped squares never vanish.

    They are what the inverse divides by; where they are (nearly) zero the inverse STFT keeps
    the raw sum instead (e.g. a Hann window with ``hop == n_fft``), which is not the mixture.
    """
    wss = _window_sumsquare(config.window, config.n_fft, config.hop_length, frames)
    kept = wss[config.n_fft // 2 : config.n_fft // 2 + length]
    return kept.size == length and float(kept.min()) > 1e-3 * float(wss.max())


#: With the paper rule, :func:`separate_frames_major` subtracts only when at most this share of
#: frames needs a correction (then it saves inverse FFTs net of its extra passes).
_SUBTRACT_MAX_SHARE = 0.3


def _correction_share(P: FloatArray, alpha: float, *, stride: int = 7) -> float:
    """Share of frames (every ``stride``-th) where the paper rule's masks do not add up to one.

    Frames where the accompaniment's mask is all ones are not counted: their correction is the
    vocal frame, already inverted.
    """
    p = P[:, ::stride]
    voc, acc = p > alpha, p < 1.0 - alpha
    fix = np.equal(voc, acc).any(axis=-1) & ~acc.all(axis=-1)
    return float(fix.mean()) if fix.size else 0.0


def separate_frames_major(
    stft_t: ComplexArray,
    prob_t: FloatArray,
    *,
    alpha: float,
    rule: Rule = "paper",
    config: StftConfig,
    length: int,
    block_frames: int = BLOCK_FRAMES,
    mixture: FloatArray | None = None,
) -> FloatArray:
    """Threshold ``prob_t`` at ``alpha`` and rebuild both stems, block by block (the α fast path).

    Equal to ``reconstruct(stft, threshold_masks(prob, alpha=alpha, rule=rule), ...)`` on the
    untransposed arrays (to float32 rounding), but fused: each block of ``block_frames`` frames
    is thresholded, masked, inverted (``scipy.fft.irfft`` along the contiguous bins), windowed
    and overlap-added while it is in the CPU cache; no full-size mask, masked STFT or frame
    array is allocated. Two threads each build half of the output (numpy and scipy's FFT
    release the GIL).

    Fewer inverse FFTs: a frame whose mask is all zeros is skipped (its inverse is zero). Given
    the ``mixture`` the STFT was made from, the accompaniment is ``mixture - vocals`` (the
    inverse STFT is linear and gives the mixture back from its own STFT) plus the inverse STFT
    of ``S * (vocal_mask + accomp_mask - 1)``, whose frames are zero where the two masks add
    up to one (complement and soft rules; the paper rule at α = 0.5, and elsewhere in frames
    with no bin between α and 1 − α) and equal the vocal frame where the accompaniment's mask
    is all ones: at α = 0.5 about one inverse FFT per frame instead of two.

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
    mixture : ndarray, shape (channels, length), float, optional
        The samples ``stft_t`` was computed from (:func:`core.signal.stft.stft` with ``config``),
        checked on a few frames. Without it (or when the window's overlapped squares vanish
        somewhere, see :func:`_can_subtract`) the accompaniment is inverted on its own.

    Returns
    -------
    ndarray, shape (2, channels, length), float32
        ``[vocals, accompaniment]``.

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1], an unknown ``rule``, mismatched shapes, ``block_frames < 1``,
        or a ``mixture`` whose STFT is not ``stft_t``.
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
    x = None
    if mixture is not None:
        x = np.asarray(mixture, dtype=np.float32)
        _check_mixture(x, S, config, length)
    if not frames_major_ok(config):
        masks = threshold_masks(P, alpha=alpha, rule=rule)
        return reconstruct_frames_major(S, masks, config=config, length=length)
    ch, frames, _ = S.shape
    if x is not None and not _can_subtract(config, frames, length):
        x = None
    if x is not None and rule == "paper" and _correction_share(P, alpha) > _SUBTRACT_MAX_SHARE:
        x = None  # as many inverse FFTs either way: the simpler direct accompaniment
    hops = frames + config.n_fft // config.hop_length - 1  # hop-long blocks of padded output
    out = np.empty((2, ch, length), dtype=np.float32)
    plan = _FramePlan(S, P, x, alpha=alpha, rule=rule, config=config, block_frames=block_frames)
    # two threads, each owning half of the output's hop blocks (disjoint writes); the
    # n_fft / hop - 1 frames overlapping the cut are inverted by both (a few FFTs of thousands)
    cut = hops // 2 if frames >= 4 * block_frames else hops
    parts = [(0, cut), (cut, hops)] if cut < hops else [(0, hops)]
    if len(parts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            list(pool.map(lambda part: plan.run(out, *part), parts))
    else:
        plan.run(out, *parts[0])
    return out


#: Above this many runs of frames to invert in one block, the block is inverted in one piece
#: (the masked-out frames inside are zeros) instead of run by run.
_MAX_RUNS = 6


def _rows(mask: np.ndarray, how: Literal["any", "all"]) -> np.ndarray:
    """Per frame (row) of a ``(frames, bins)`` mask: whether any / all of its bins are set."""
    return np.asarray(mask.any(axis=1) if how == "any" else mask.all(axis=1), dtype=bool)


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in the 1-D boolean ``rows`` (one span if many)."""
    if rows.all():
        return [(0, rows.shape[0])]
    if not rows.any():
        return []
    edges = np.flatnonzero(np.diff(rows.view(np.int8), prepend=0, append=0))
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    if len(runs) > _MAX_RUNS:
        return [(runs[0][0], runs[-1][1])]
    return runs


class _FramePlan:
    """The block loop of :func:`separate_frames_major` (see there), for one range of the output.

    ``run`` fills two overlap-add buffers: ``[vocals, accompaniment]`` without a mixture, and
    ``[vocals, correction]`` with one (accompaniment = mixture − vocals + correction).
    """

    def __init__(
        self,
        S: ComplexArray,
        P: FloatArray,
        x: FloatArray | None,
        *,
        alpha: float,
        rule: Rule,
        config: StftConfig,
        block_frames: int,
    ) -> None:
        self.S, self.P, self.x = S, P, x
        self.alpha, self.rule, self.block = alpha, rule, block_frames
        self.n_fft, self.hop = config.n_fft, config.hop_length
        self.r = self.n_fft // self.hop
        self.window = _window(config.window, self.n_fft)
        self.wss = _window_sumsquare(config.window, self.n_fft, self.hop, S.shape[1])

    def _add(self, y: np.ndarray, fr: np.ndarray, t: int, lo: int, hi: int) -> None:
        """Overlap-add windowed frames ``fr`` (``(n, n_fft)``, the first is frame ``t``) into ``y``.

        ``y`` (1-D) holds the padded output's hop blocks ``[lo, hi)``; the rest is dropped.
        """
        hop, n = self.hop, fr.shape[0]
        for k in range(self.r):  # frame t's k-th hop block lands at hop block t + k
            t0, t1 = max(t, lo - k), min(t + n, hi - k)
            if t1 > t0:
                y[(t0 + k - lo) * hop : (t1 + k - lo) * hop].reshape(t1 - t0, hop)[:] += fr[
                    t0 - t : t1 - t, k * hop : (k + 1) * hop
                ]

    def _inverse(self, S: ComplexArray, mask: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Windowed ``irfft(S * mask)`` of ``n`` frames, ``(n, n_fft)`` float32."""
        import scipy.fft

        n = S.shape[0]
        np.multiply(S, mask, out=X[:n])
        fr: np.ndarray = scipy.fft.irfft(X[:n], n=self.n_fft, axis=-1, overwrite_x=True)
        fr *= self.window
        return fr

    def run(self, out: np.ndarray, lo: int, hi: int) -> None:
        """Write the output samples of the padded hop blocks ``[lo, hi)`` into ``out``."""
        ch, frames, bins = self.S.shape
        n_fft, hop, r, B = self.n_fft, self.hop, self.r, self.block
        length = out.shape[2]
        y = np.zeros((2, ch, (hi - lo) * hop), dtype=np.float32)  # padded samples [lo, hi) * hop
        X = np.empty((B, bins), dtype=np.complex64)
        voc_buf, acc_buf = np.empty((B, bins), dtype=bool), np.empty((B, bins), dtype=bool)
        extra_buf = np.empty((B, bins), dtype=np.int8)
        x = self.x
        corrected = False
        t_lo, t_hi = max(0, lo - r + 1), min(frames, hi)  # frames touching the range
        for c in range(ch):
            for f0 in range(t_lo, t_hi, B):
                n = min(t_hi, f0 + B) - f0
                S, p = self.S[c, f0 : f0 + n], self.P[c, f0 : f0 + n]
                voc: np.ndarray
                acc: np.ndarray
                if self.rule == "soft":
                    voc, acc = p, (1.0 - p).astype(np.float32)
                else:
                    voc = np.greater(p, self.alpha, out=voc_buf[:n])
                    if self.rule == "paper":
                        acc = np.less(p, 1.0 - self.alpha, out=acc_buf[:n])
                    else:
                        acc = np.logical_not(voc, out=acc_buf[:n])
                acc_all: np.ndarray | None = None
                fix: np.ndarray | None = None
                if x is not None and self.rule == "paper":
                    extra = np.add(voc.view(np.int8), acc.view(np.int8), out=extra_buf[:n])
                    extra -= 1  # -1 (neither source), 0, or +1 (both)
                    fix = _rows(extra, "any")
                    if fix.any():  # the accompaniment's mask is all ones: correction = vocal
                        acc_all = _rows(acc, "all")
                        fix &= ~acc_all
                for a, b in _runs(_rows(voc, "any")):  # vocals: frames with a vocal bin
                    fr = self._inverse(S[a:b], voc[a:b], X)
                    self._add(y[0, c], fr, f0 + a, lo, hi)
                    if acc_all is not None and acc_all[a:b].any():
                        corrected = True
                        runs = _runs(acc_all[a:b])
                        if sum(v - u for u, v in runs) != np.count_nonzero(acc_all[a:b]):
                            # a merged span holds other frames too: zero them instead
                            runs, fr = [(0, b - a)], fr * acc_all[a:b, None]
                        for u, v in runs:
                            self._add(y[1, c], fr[u:v], f0 + a + u, lo, hi)
                if x is None:  # the accompaniment on its own
                    for a, b in _runs(_rows(acc, "any")):
                        self._add(y[1, c], self._inverse(S[a:b], acc[a:b], X), f0 + a, lo, hi)
                elif fix is not None and fix.any():  # frames where the masks do not add up
                    corrected = True
                    for a, b in _runs(fix):
                        fr = self._inverse(S[a:b], extra[a:b], X)
                        if acc_all is not None:  # merged runs: those frames were reused already
                            fr[acc_all[a:b]] = 0.0
                        self._add(y[1, c], fr, f0 + a, lo, hi)
        # normalise and drop the centring pad: padded sample j is output sample j - n_fft // 2
        a, b = max(lo * hop, n_fft // 2), min(hi * hop, n_fft // 2 + length)
        if b <= a:
            return
        src, dst = y[:, :, a - lo * hop : b - lo * hop], out[:, :, a - n_fft // 2 : b - n_fft // 2]
        wss = self.wss[a:b]
        if x is None:
            nonzero = wss > np.finfo(np.float32).tiny
            if not nonzero.all():  # as istft_frames_major: no window weight, left as summed
                dst[:] = src
            np.divide(src, wss, out=dst, where=nonzero)
            return
        # with a mixture every kept sample has window weight (_can_subtract)
        np.divide(src[0], wss, out=dst[0])
        np.subtract(x[:, a - n_fft // 2 : b - n_fft // 2], dst[0], out=dst[1])
        if corrected:
            dst[1] += src[1] / wss
