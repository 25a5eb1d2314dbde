"""BSS Eval v4 (SDR, ISR, SIR, SAR) exactly as museval computes it, and a fast α-sweep engine.

museval's ``evaluate`` (BSS Eval v4, the SiSEC 2018 standard) computes 512-tap distortion
filters **once on the whole signal** (``framewise_filters=False``), then splits each window of
the estimate into true-source image, spatial distortion, interference and artefacts with those
filters, in the "images" variant (``bsseval_sources_version=False``). Windows where any
reference or estimate source is silent are NaN; the last partial window is dropped.

:class:`SweepEngine` reproduces that arithmetic with the reference-only work done once:

* the whole-signal reference Gram matrix ``G`` over the 512 filter lags (``(S*C*512)²``, built
  from block spectra of the references) and its LU factorisation, plus that of each source's own
  block (for the spatial-distortion filters), with museval's regularisation ``G + eps*I``;
* spectra of the reference segments and, per window, the windowed reference auto/cross
  correlations at lags ``-511..511`` (the windowed Gram matrices are block Toeplitz).

Per estimate only the estimate-dependent parts are computed: one batched FFT of the estimate's
segments, the reference/estimate cross-correlations (summed over segments in the frequency
domain), triangular solves with the stored LU factors, and the window energies. The energies are
quadratic forms of the filter coefficients with the windowed reference correlations, so no
projection is synthesised; where a rounding bound says a quadratic form could be inaccurate
(filters with huge coefficients from a near-singular ``G``), those windows are recomputed from
synthesised projections instead. The equality with museval (within 0.01 dB on every window) is
checked by ``tests/test_metrics.py``; the speed by ``bench/bench_sweep.py``.

Limits of "equal": where museval's own result is decided by float rounding, no implementation
can match it: (i) values above ~100 dB (e.g. SAR when the estimate lies in the span of the
filtered references, like the accompaniment at small α, which is nearly the mixture) differ in
the rounding noise (135.53 vs 135.57 dB seen on a demo track); (ii) references whose channels
are exact float32 multiples of each other with no noise at all make ``G`` singular to rounding,
and museval itself then moves by several dB under a 1e-9 perturbation of its input. An estimate
source that is silent throughout gives NaN everywhere here, where museval raises.

Arrays follow :mod:`core.types`: stems are ``(sources, channels, samples)``; museval's
``(sources, samples, channels)`` is used only at the boundary of :func:`museval_reference`.
This module imports neither torch nor streamlit, and imports museval only when asked to.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft as sfft
import scipy.linalg as sla

from core.errors import DependencyError, InvalidConfigError, MetricsError
from core.karaoke.tracks import SOURCES  # default source names, in the order of the stems axis
from core.types import FloatArray, Progress, ProgressEvent

#: Metric names, in the order museval's JSON files (and the tidy table, and the pages) list them.
METRICS: tuple[str, ...] = ("SDR", "SIR", "SAR", "ISR")
#: Length of the distortion filters (museval's ``filters_len``).
FILTERS_LEN = 512

_EPS = np.finfo(float).eps  # museval's regulariser on the Gram matrix diagonal
#: Relative rounding bound above which window energies are recomputed from synthesised
#: projections instead of quadratic forms (tests set it negative to force that path).
_QF_TOL = 1e-4
#: Memory :meth:`SweepEngine.batch_size` lets a batch of estimates in flight take, bytes.
BATCH_BYTES = 512 * 2**20
#: Most estimates :meth:`SweepEngine.batch_size` puts in one batch.
MAX_BATCH = 8


@dataclass(frozen=True)
class BssEval:
    """Framewise BSS Eval v4 metrics of one set of estimates.

    Attributes
    ----------
    sdr, isr, sir, sar : ndarray, shape (sources, windows), float64
        Metrics in dB; NaN in windows where a reference or estimate source is silent.
    window_starts : ndarray, shape (windows,), float64
        Start of each window in seconds.
    win_seconds, hop_seconds : float
        Window and hop length in seconds.
    sr : int
        Sample rate in Hz.
    sources : tuple of str
        Source names, in the order of the first axis.
    """

    sdr: FloatArray
    isr: FloatArray
    sir: FloatArray
    sar: FloatArray
    window_starts: FloatArray
    win_seconds: float
    hop_seconds: float
    sr: int
    sources: tuple[str, ...] = field(default=SOURCES)

    def metric(self, name: str) -> FloatArray:
        """Return one metric by museval name (``"SDR"``, ``"ISR"``, ``"SIR"``, ``"SAR"``)."""
        values = {"SDR": self.sdr, "ISR": self.isr, "SIR": self.sir, "SAR": self.sar}
        if name.upper() not in values:
            raise InvalidConfigError(f"metric must be one of {METRICS}, got {name!r}")
        return values[name.upper()]

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.window_starts.shape[0])

    def medians(self) -> dict[str, FloatArray]:
        """Median over windows ignoring NaN, per metric: ``{"SDR": (sources,), ...}``."""
        return {m: median_over_windows(self.metric(m)) for m in METRICS}


def median_over_windows(values: FloatArray) -> FloatArray:
    """Median over the last axis ignoring NaN (SiSEC aggregation); all-NaN rows give NaN.

    Parameters
    ----------
    values : ndarray, shape (..., windows)
        Framewise metric values in dB.

    Returns
    -------
    ndarray, shape (...)
        Median per row, float64.
    """
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if values.shape[-1] == 0:
            return np.full(values.shape[:-1], np.nan)
        return np.nanmedian(values, axis=-1)


# --------------------------------------------------------------------------------------------
# validation and framing
# --------------------------------------------------------------------------------------------


def _as_stems(x: Any, name: str, *, float64: bool = True) -> np.ndarray:
    """Validate a ``(sources, channels, samples)`` array and return it as float64.

    With ``float64=False`` a float32 or float64 array is returned as it is (no copy; the
    engine converts estimates while it copies them into its own buffers).
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise MetricsError(
            f"{name} must be an array of shape (sources, channels, samples)"
        ) from exc
    if arr.ndim != 3:
        raise MetricsError(
            f"{name} must have shape (sources, channels, samples), got shape {tuple(arr.shape)}"
        )
    if arr.shape[2] == 0 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MetricsError(f"{name} is empty: shape {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise MetricsError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():  # before the float64 copy (float32 stems: half the bytes)
        raise MetricsError(f"{name} contains NaN or infinite samples")
    if not float64 and arr.dtype in (np.float32, np.float64):
        return arr
    return arr.astype(np.float64, copy=False)


def _silent_sources(x: np.ndarray) -> np.ndarray:
    """Museval's silence rule per source: the channel sum is zero at every sample.

    ``x`` is ``(sources, channels, samples)``; returns ``(sources,)`` bool.
    """
    silent: np.ndarray = np.all(x.sum(axis=1) == 0, axis=-1)
    return silent


def _framing(n: int, win: int, hop: int) -> tuple[np.ndarray, int]:
    """Window starts and length exactly as ``museval.metrics.Framing`` (no partial window)."""
    if win < n:
        nwin = int(np.floor((n - win + hop) / hop))
        return np.arange(nwin, dtype=np.int64) * hop, win
    return np.zeros(1, dtype=np.int64), n


def _window_samples(sr: int, seconds: float, what: str) -> int:
    if not np.isfinite(seconds) or seconds <= 0:
        raise InvalidConfigError(f"{what} must be a positive number of seconds, got {seconds!r}")
    samples = int(round(seconds * sr))
    if samples < 1:
        raise InvalidConfigError(f"{what}={seconds} s is shorter than one sample at sr={sr}")
    return samples


def _source_names(n: int, sources: Sequence[str] | None) -> tuple[str, ...]:
    if sources is not None:
        if len(sources) != n:
            raise InvalidConfigError(f"sources has {len(sources)} names for {n} sources")
        return tuple(sources)
    if n == len(SOURCES):
        return SOURCES
    return tuple(f"source{i}" for i in range(n))


def compute_threads() -> int:
    """Threads for parallel work: the CPUs this process may use, or ``OMP_NUM_THREADS``.

    Dask workers and single-thread benchmarks set ``OMP_NUM_THREADS=1``; the FFTs, the
    engine's thread pool and the evaluation's stems pipeline follow it.
    """
    env = os.environ.get("OMP_NUM_THREADS", "")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, int(env)) if env.isdigit() else max(1, cpus or 1)


def _map(fn: Callable[[Any], np.ndarray], items: Sequence[Any] | range) -> list[np.ndarray]:
    """``[fn(x) for x in items]``, in :func:`compute_threads` threads when there are several.

    Each call's arithmetic is the same whatever the thread, so results do not depend on it.
    """
    threads = min(compute_threads(), len(items))
    if threads <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, items))


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``10*log10(num/den)``; ``+inf`` where ``den <= 0`` (museval's ``_safe_db``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(num / np.where(den > 0, den, 1.0))
    return np.where(den > 0, out, np.inf)


# --------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spectra:
    """What :class:`SweepEngine` knows of one estimate before its filters are solved.

    Attributes
    ----------
    EB : ndarray, shape (S, C, segments, K), complex128
        Spectra of the estimate's segments (zero-padded to the FFT size).
    corr : list of ndarray, each shape (P*F, C), float64
        Per source ``j``, the full-signal correlations with every reference signal.
    est_silent : ndarray, shape (W,), bool
        Windows where an estimate source is silent.
    energy, err : ndarray, shape (S, W), float64
        Window energies of the estimate and of its difference from the references.
    head : ndarray, shape (S, C, W, F-1), float64
        The first samples of each window.
    """

    EB: np.ndarray
    corr: list[np.ndarray]
    est_silent: np.ndarray
    energy: np.ndarray
    err: np.ndarray
    head: np.ndarray


class SweepEngine:
    """BSS Eval v4 of many estimates against fixed references, reusing reference statistics.

    Parameters
    ----------
    references : array_like, shape (sources, channels, samples)
        True source images (float; any real dtype, used as float64).
    sr : int
        Sample rate in Hz (windows are given in seconds).
    win_seconds, hop_seconds : float, optional
        Window and hop of the framewise evaluation, 1 s each by default (as SiSEC).
    filters_len : int, optional
        Distortion filter length in samples (museval's 512).
    sources : sequence of str, optional
        Source names; ``("vocals", "accompaniment")`` for two sources.

    Raises
    ------
    MetricsError
        If ``references`` is not 3-D, is empty or non-finite, or a reference source is silent.
    InvalidConfigError
        If ``sr``, the window or the hop is not positive.

    Notes
    -----
    Setup costs one FFT correlation of the references, one LU factorisation of the
    ``(S*C*L)²`` Gram matrix (2048² for two stereo sources), and per-window reference
    correlations. :meth:`evaluate` then costs a few FFTs of the estimate and small solves.
    """

    def __init__(
        self,
        references: Any,
        *,
        sr: int,
        win_seconds: float = 1.0,
        hop_seconds: float = 1.0,
        filters_len: int = FILTERS_LEN,
        sources: Sequence[str] | None = None,
    ) -> None:
        t0 = time.perf_counter()
        if not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise InvalidConfigError(f"sr must be a positive integer in Hz, got {sr!r}")
        refs = _as_stems(references, "references")
        self.sr = int(sr)
        self.win_seconds = float(win_seconds)
        self.hop_seconds = float(hop_seconds)
        self.sources = _source_names(refs.shape[0], sources)
        silent = _silent_sources(refs)
        if silent.any():
            names = ", ".join(repr(self.sources[i]) for i in np.flatnonzero(silent))
            raise MetricsError(
                f"reference source {names} is silent (all zeros) over the whole signal; "
                "BSS Eval is undefined for a silent reference (museval refuses it too)"
            )
        self.shape = refs.shape
        n_src, n_ch, n = refs.shape
        F = int(filters_len)
        if F < 1:
            raise InvalidConfigError(f"filters_len must be positive, got {filters_len}")
        self.filters_len = F
        self.win = _window_samples(self.sr, self.win_seconds, "win_seconds")
        self.hop = _window_samples(self.sr, self.hop_seconds, "hop_seconds")
        starts, lw = _framing(n, self.win, self.hop)
        self.starts, self.lw = starts, lw
        P = n_src * n_ch  # reference signals (source, channel), p = s*n_ch + c
        self._P = P
        flat = refs.reshape(P, n)

        # --- segments: partition blocks (for the full-signal cross-correlation) and windows ---
        nb = int(np.ceil(n / lw))
        block_starts = np.arange(nb, dtype=np.int64) * lw
        block_lens = np.minimum(lw, n - block_starts)
        same = np.array_equal(starts, block_starts[: len(starts)]) and np.all(
            block_lens[: len(starts)] == lw
        )
        if same:
            seg_starts, seg_lens = block_starts, block_lens
            self._win_seg = np.arange(len(starts))
        else:
            seg_starts = np.concatenate([block_starts, starts])
            seg_lens = np.concatenate([block_lens, np.full(len(starts), lw)])
            self._win_seg = nb + np.arange(len(starts))
        self._nb = nb
        self._same = bool(same)
        self._seg_starts, self._seg_lens = seg_starts, seg_lens
        M = sfft.next_fast_len(lw + F - 1, real=True)
        self._M = M
        K = M // 2 + 1
        self._chunks = [slice(k, min(k + 512, K)) for k in range(0, K, 512)]
        wk = np.full(K, 2.0)
        wk[0] = 1.0
        if M % 2 == 0:
            wk[-1] = 1.0
        self._wk = wk / M  # Parseval weights of a half spectrum

        # reference segments extended by F-1 samples of history: their spectra, conjugated
        # (segments, P, K); every product below takes the conjugate of the reference side, so
        # it is stored so once (conj(a)*b == conj(a*conj(b)) to the bit)
        padded = np.zeros((P, n + F - 1))
        padded[:, F - 1 :] = flat
        ext = np.zeros((len(seg_starts), P, M))
        for i, (s0, ln) in enumerate(zip(seg_starts, seg_lens, strict=True)):
            ext[i, :, : ln + F - 1] = padded[:, s0 : s0 + ln + F - 1]
        self._XBc = np.conjugate(sfft.rfft(ext, n=M, axis=-1, workers=compute_threads()))
        del ext

        # --- full-signal Gram matrix G[(p,a),(q,b)] = xc_pq(a-b) and its LU factorisations ---
        # xc_pq(-tau) = sum_u ref_p(u) ref_q(u - tau), tau in [0, F-1], summed over the blocks
        # of the partition (block spectra times extended-segment spectra); positive lags by
        # symmetry xc_pq(tau) = xc_qp(-tau).
        blocks = np.zeros((nb, P, M))
        for b in range(nb):
            s0, ln = block_starts[b], block_lens[b]
            blocks[b, :, :ln] = flat[:, s0 : s0 + ln]
        RB = sfft.rfft(blocks, axis=-1, workers=compute_threads())  # (nb, P, K)
        del blocks
        ssum = np.empty((P, P, K), dtype=np.complex128)
        for sl in self._chunks:  # conj(sum_b conj(RB) XB) = sum_b RB conj(XB), conjugated
            ssum[..., sl] = (RB[:, :, None, sl] * self._XBc[:nb, None, :, sl]).sum(axis=0)
        np.conjugate(ssum, out=ssum)
        y = sfft.irfft(ssum, n=M, axis=-1)[..., :F]  # (P, P, F): lags -(F-1)..0
        del ssum
        xc = np.concatenate([y, y.transpose(1, 0, 2)[..., : F - 1][..., ::-1]], axis=-1)
        ab = np.arange(F)
        toe = ab[:, None] - ab[None, :] + (F - 1)  # (a - b) as index into the lag axis
        G = xc[:, :, toe]  # (P, P, F, F)
        G = G.transpose(0, 2, 1, 3).reshape(P * F, P * F)
        self._lu_full = self._factor(G)
        self._lu_src = []
        for j in range(n_src):
            blk = slice(j * n_ch * F, (j + 1) * n_ch * F)
            self._lu_src.append(self._factor(G[blk, blk]))
        del G, xc

        # window spectra at offset 0 (W, P, K): the first blocks when the windows are the
        # blocks (the default, hop == win), for the window correlations and the direct fallback
        W = len(starts)
        if self._same:
            self._REFW = RB[:W]
        else:
            self._REFW = sfft.rfft(
                np.lib.stride_tricks.sliding_window_view(flat, lw, axis=1)[:, starts], n=M,
                axis=-1, workers=compute_threads(),
            ).transpose(1, 0, 2)  # fmt: skip
        del RB
        # per window: reference correlations at lags -(F-1)..F-1, (W, P, P, 2F-1)
        lagw = np.arange(-(F - 1), F) % M
        self._XCw = np.empty((W, P, P, 2 * F - 1))
        iu, ju = np.triu_indices(P)  # xc_qp(m) = xc_pq(-m): correlate each pair once
        for w0 in range(0, W, 4):  # a few windows per call: (4, pairs, M) temporaries
            rw = self._REFW[w0 : w0 + 4]
            xw = sfft.irfft(np.conj(rw[:, iu]) * rw[:, ju], n=M, axis=-1, workers=compute_threads())
            xw = xw[..., lagw]  # (w, pairs, 2F-1)
            self._XCw[w0 : w0 + 4, iu, ju] = xw
            self._XCw[w0 : w0 + 4, ju, iu] = xw[..., ::-1]
        # history before each window (F-1 samples), spectra at a small FFT size
        self._n2 = sfft.next_fast_len(2 * F - 1, real=True)
        prev = np.stack([padded[:, s0 : s0 + F - 1] for s0 in starts])  # (W, P, F-1)
        self._PREV = sfft.rfft(prev, n=self._n2, axis=-1)
        # time-domain per-window reference energies and silence (museval rule)
        self._ref_win = np.lib.stride_tricks.sliding_window_view(refs, lw, axis=2)[:, :, starts]
        self._ref_energy = np.einsum("scwl,scwl->sw", self._ref_win, self._ref_win)  # (S, W)
        self._ref_norm = np.sqrt(
            np.einsum("pwl,pwl->wp", *(2 * (self._ref_win.reshape(P, len(starts), lw),)))
        )  # (W, P) window norms per reference signal
        self._ref_silent = np.any(np.all(self._ref_win.sum(axis=1) == 0, axis=-1), axis=0)  # (W,)
        self._lag_idx2 = np.arange(-(F - 1), F) % self._n2
        self._pad: np.ndarray | None = None  # (S, C, segments, M) buffer of _spectra
        #: Seconds the set-up took (the results files record it).
        self.setup_seconds = time.perf_counter() - t0

    # ----------------------------------------------------------------------------------------
    @staticmethod
    def _factor(G: np.ndarray) -> tuple[str, Any]:
        """LU of ``G + eps*I`` as museval's ``np.linalg.solve``; ``lstsq`` on exact singularity.

        ``G + eps*I`` is built in Fortran order and factorised in place: one copy of ``G``
        (no ``eye``, no second copy for LAPACK); the off-diagonal sums ``G + 0`` are exact.
        """
        A = np.asfortranarray(G)
        if A is G or np.shares_memory(A, G):
            A = A.copy(order="F")
        A[np.diag_indices_from(A)] += _EPS
        with warnings.catch_warnings():
            warnings.simplefilter("error", sla.LinAlgWarning)
            try:
                lu = sla.lu_factor(A, overwrite_a=True, check_finite=False)
            except (sla.LinAlgWarning, np.linalg.LinAlgError, ValueError):
                return ("lstsq", G)
        if np.any(np.diag(lu[0]) == 0):
            return ("lstsq", G)
        return ("lu", lu)

    @staticmethod
    def _solve(fact: tuple[str, Any], rhs: np.ndarray) -> np.ndarray:
        kind, obj = fact
        x: np.ndarray = (
            sla.lu_solve(obj, rhs, check_finite=False)
            if kind == "lu"
            else np.linalg.lstsq(obj, rhs, rcond=None)[0]
        )
        return x

    def _direct(
        self, idx: np.ndarray, j: int, fA: np.ndarray, fJ: np.ndarray, EW: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Energies from synthesised projections for windows ``idx`` (museval's arithmetic).

        ``fA``, ``fJ`` are ``(C, P, F)`` filters, ``EW`` the windows' estimate spectra
        ``(len(idx), C, K)``. Returns ``||PJ||², ||PA||²`` and the ISR, SIR, SAR denominators.
        """
        n_ch = fA.shape[0]
        M = self._M
        R = self._REFW[idx]  # (w, P, K)
        PA = np.einsum("cpk,wpk->wck", sfft.rfft(fA, n=M, axis=-1), R)
        PJ = np.einsum("cpk,wpk->wck", sfft.rfft(fJ, n=M, axis=-1), R)
        S = R[:, j * n_ch : (j + 1) * n_ch]

        def energy(x: np.ndarray) -> np.ndarray:
            e: np.ndarray = ((x.real**2 + x.imag**2) @ self._wk).sum(axis=1)
            return e

        return energy(PJ), energy(PA), energy(PJ - S), energy(PA - PJ), energy(EW - PA)

    @property
    def n_windows(self) -> int:
        """Number of evaluation windows."""
        return int(self.starts.shape[0])

    @property
    def window_starts(self) -> FloatArray:
        """Window starts in seconds, ``(windows,)`` float64."""
        return self.starts.astype(np.float64) / self.sr

    def batch_size(self, *, budget_bytes: int = BATCH_BYTES) -> int:
        """How many estimates :meth:`evaluate_many` scores together within ``budget_bytes``.

        One estimate in flight costs about six float64 copies of its samples (the estimate,
        its windowed difference from the references, the spectra of its segments); between 1
        and :data:`MAX_BATCH`.
        """
        n_src, n_ch, n = self.shape
        per_item = 6 * n_src * n_ch * n * 8
        return int(max(1, min(MAX_BATCH, budget_bytes // per_item)))

    def evaluate(self, estimates: Any) -> BssEval:
        """BSS Eval v4 of ``estimates`` against the engine's references.

        Parameters
        ----------
        estimates : array_like, shape (sources, channels, samples)
            Estimated source images, same shape as the references.

        Returns
        -------
        BssEval
            Framewise SDR, ISR, SIR, SAR in dB, ``(sources, windows)``. Windows where a reference
            or an estimate source is silent are NaN (an all-silent estimate source makes every
            window NaN, where museval would raise).

        Raises
        ------
        MetricsError
            If the shape differs from the references' or the estimates are not finite.
        """
        return self.evaluate_many([estimates])[0]

    def evaluate_many(self, estimates: Sequence[Any]) -> list[BssEval]:
        """BSS Eval v4 of several sets of estimates (e.g. one per α), scored together.

        The estimates share every batched step: their segment spectra are one FFT call, and the
        distortion filters of all of them are one triangular solve per source with every
        estimate's right-hand sides (the LU factors are read once, not once per estimate).
        Each result equals :meth:`evaluate` of that estimate alone (same arithmetic per item).

        Parameters
        ----------
        estimates : sequence of array_like, each shape (sources, channels, samples)
            Estimated source images, each the shape of the references. Memory grows with their
            number (:meth:`batch_size` says how many fit a budget).

        Returns
        -------
        list of BssEval
            One per estimate, in order (see :meth:`evaluate`).

        Raises
        ------
        MetricsError
            If a shape differs from the references' or an estimate is not finite.
        """
        items = [_as_stems(e, "estimates", float64=False) for e in estimates]
        for est in items:
            if est.shape != self.shape:
                raise MetricsError(
                    f"estimates shape {tuple(est.shape)} does not match references shape "
                    f"{tuple(self.shape)}; expected (sources, channels, samples)"
                )
        if not items:
            return []
        out = self._evaluate_batch(items)  # (B, 4, S, W)
        del items
        return [
            BssEval(
                sdr=o[0],
                isr=o[1],
                sir=o[2],
                sar=o[3],
                window_starts=self.window_starts,
                win_seconds=self.win_seconds,
                hop_seconds=self.hop_seconds,
                sr=self.sr,
                sources=self.sources,
            )
            for o in out
        ]

    def _evaluate_batch(self, est: Sequence[np.ndarray]) -> np.ndarray:
        """Metrics of ``B`` estimates ``(S, C, n)`` (float32 or float64): ``(B, 4, S, W)``.

        Metrics in the order SDR, ISR, SIR, SAR. Per estimate: segment spectra, full-signal
        correlations and window statistics (:meth:`_spectra`); per source, one solve for the
        filters of every estimate; per estimate and source again, the window energies
        (:meth:`_window_metrics`). Large temporaries stay per estimate, so memory is reused
        between them instead of growing with the batch.
        """
        B = len(est)
        n_src, n_ch, _ = self.shape
        P, F = self._P, self.filters_len
        spectra = [self._spectra(e) for e in est]
        out = np.full((B, 4, n_src, self.n_windows), np.nan)
        jobs = []
        for j in range(n_src):
            D = np.concatenate([sp.corr[j] for sp in spectra], axis=1)  # (P*F, B*C), (b, c)
            cA = self._solve(self._lu_full, D).reshape(P, F, B, n_ch)  # interference filters
            blk = slice(j * n_ch * F, (j + 1) * n_ch * F)
            cJ = self._solve(self._lu_src[j], D[blk]).reshape(n_ch, F, B, n_ch)  # spatial
            for b in range(B):
                fA = np.ascontiguousarray(cA[:, :, b].transpose(2, 0, 1))  # (C_out, P, F)
                fJ = np.zeros_like(fA)
                fJ[:, j * n_ch : (j + 1) * n_ch] = cJ[:, :, b].transpose(2, 0, 1)
                jobs.append((b, j, fA, fJ))

        def metrics(job: tuple[int, int, np.ndarray, np.ndarray]) -> np.ndarray:
            b, j, fA, fJ = job
            return self._window_metrics(spectra[b], j, fA, fJ)

        # independent (estimate, source) pairs: numpy and scipy's FFT release the GIL
        for (b, j, _, _), values in zip(jobs, _map(metrics, jobs), strict=True):
            out[b, :, j] = values
        return out

    def _segments(self, est: np.ndarray) -> np.ndarray:
        """The engine's buffer ``(S, C, segments, M)`` holding ``est``'s segments, zero-padded.

        The estimate is converted to float64 as it is copied (no float64 copy of its own).
        """
        n_src, n_ch, _ = self.shape
        M, lw = self._M, self.lw
        nseg = len(self._seg_starts)
        if self._pad is None:  # kept between estimates: no page faults for a fresh array
            self._pad = np.zeros((n_src, n_ch, nseg, M))
        pad = self._pad
        if self._same:
            nfull = int(np.count_nonzero(self._seg_lens == lw))
            pad[:, :, :nfull, :lw] = est[:, :, : nfull * lw].reshape(n_src, n_ch, nfull, lw)
            rest = range(nfull, nseg)
        else:
            rest = range(nseg)
        for i in rest:
            s0, ln = self._seg_starts[i], self._seg_lens[i]
            pad[:, :, i, :ln] = est[:, :, s0 : s0 + ln]
            pad[:, :, i, ln:] = 0.0
        return pad

    def _window_stats(
        self, est: np.ndarray, pad: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Time-domain facts of each window of one estimate ``(S, C, n)``.

        Returns the windows where an estimate source is silent ``(W,)`` bool (museval's rule:
        the channel sum is zero throughout), the window energies ``(S, W)``, the energies of
        the difference from the references ``(S, W)``, and the first ``F - 1`` samples of each
        window ``(S, C, W, F-1)``. When the windows are the segments (hop == win) they are
        read from the segment buffer ``pad`` in place, one window at a time (cache-sized).
        """
        n_src, n_ch, _ = self.shape
        lw, W = self.lw, self.n_windows
        head = min(self.filters_len - 1, lw)
        if self._same:
            ew = pad[:, :, :W, :lw]  # (S, C, W, lw), a view
        else:
            ew = np.lib.stride_tricks.sliding_window_view(
                est.astype(np.float64, copy=False), lw, axis=2
            )[:, :, self.starts]
        silent = np.zeros((n_src, W), dtype=bool)
        energy = np.empty((n_src, W))
        err = np.empty((n_src, W))
        diff = np.empty((n_src, n_ch, lw))
        csum = np.empty((n_src, lw))
        for w in range(W):
            e = ew[:, :, w]  # (S, C, lw)
            np.sum(e, axis=1, out=csum)
            silent[:, w] = ~np.any(csum, axis=-1)
            energy[:, w] = np.einsum("scl,scl->s", e, e)
            np.subtract(e, self._ref_win[:, :, w], out=diff)
            err[:, w] = np.einsum("scl,scl->s", diff, diff)
        est_silent: np.ndarray = np.any(silent, axis=0)
        return est_silent, energy, err, np.ascontiguousarray(ew[..., :head])

    def _spectra(self, est: np.ndarray) -> _Spectra:
        """Segment spectra, full-signal reference correlations and window facts of one estimate.

        ``est`` is ``(S, C, n)``. See :class:`_Spectra`: the spectra ``(S, C, segments, K)``
        and, per source ``j``, the correlations ``D[p, tau, c] = sum_t ref_p(t - tau)
        est_jc(t)`` as ``(P*F, C)``, rows ``(p, tau)``.
        """
        n_src, n_ch, _ = self.shape
        F, M, P = self.filters_len, self._M, self._P
        pad = self._segments(est)
        stats = self._window_stats(est, pad)  # before the buffer is reused
        EB = sfft.rfft(pad, axis=-1, workers=compute_threads())  # (S, C, segments, K)
        XBc, nb = self._XBc, self._nb

        def correlations(j: int) -> np.ndarray:
            # D[p, tau, c] = sum_t ref_p(t - tau) est_jc(t), from the segment cross-spectra
            # conj(E_jc) X_p = conj(E_jc conj(X_p)) summed over segments (one einsum: faster
            # here than cache-sized chunks)
            dsum = np.einsum("csk,spk->cpk", EB[j, :, :nb], XBc[:nb])  # (C, P, K)
            np.conjugate(dsum, out=dsum)
            y = sfft.irfft(dsum, n=M, axis=-1)[..., :F]  # (C, P, F)
            D: np.ndarray = y[..., ::-1].transpose(1, 2, 0).reshape(P * F, n_ch)
            return D

        return _Spectra(EB, _map(correlations, range(n_src)), *stats)

    def _window_metrics(
        self, sp: _Spectra, j: int, fA: np.ndarray, fJ: np.ndarray
    ) -> np.ndarray:
        """SDR, ISR, SIR, SAR ``(4, W)`` of source ``j`` of one estimate.

        ``sp`` holds its spectra and window facts (:meth:`_spectra`), ``fA`` and ``fJ`` its
        interference and spatial filters ``(C_out, P, F)``. Windows where a reference or an
        estimate source is silent are NaN.
        """
        n_ch = self.shape[1]
        F, M, lw = self.filters_len, self._M, self.lw
        W = self.n_windows
        wk = self._wk
        EB = sp.EB
        nan_win = self._ref_silent | sp.est_silent
        est_energy = sp.energy[j]  # (W,)
        err_energy = sp.err[j]  # (W,)

        # <est_w, PA_w>: cross-spectra of each window's segment with the lag-reversed filter,
        # minus the part of PA coming from reference samples before the window start.
        # Re(conj(E) sum_p conj(H) X wk) = Re(E sum_p H conj(X) wk), conj(X) being stored.
        H = sfft.rfft(fA[..., ::-1], n=M, axis=-1, workers=compute_threads())  # (C, P, K)
        Hw = H * wk
        ws = slice(0, W) if self._same else self._win_seg
        Ew, Xw = EB[j][:, ws], self._XBc[ws]  # (C, W, K), (W, P, K)
        et = np.zeros((W, n_ch))
        for sl in self._chunks:
            v = np.einsum("cpk,wpk->wck", Hw[:, :, sl], Xw[:, :, sl])
            et += np.einsum("cwk,wck->wc", Ew[:, :, sl], v).real
        n2 = self._n2
        head = min(F - 1, lw)
        FA2 = sfft.rfft(fA, n=n2, axis=-1)  # (C, P, K2)
        q = sfft.irfft(np.einsum("wpk,cpk->wck", self._PREV, FA2), n=n2, axis=-1)
        q = q[..., F - 1 : F - 1 + head]  # (W, C, head): PA at t = start + u from history
        et -= np.einsum("wcu,cwu->wc", q, sp.head[j])
        e_est_pa = et.sum(axis=1)  # (W,)

        # quadratic forms with the windowed Gram matrices (block Toeplitz in the lags)
        FJ2 = sfft.rfft(fJ, n=n2, axis=-1)

        def cc(Fa: np.ndarray, Fb: np.ndarray) -> np.ndarray:
            # sum_c cc_{a_p, b_q}(m) = sum_b a[p, b+m] b[q, b], lags -(F-1)..F-1 -> flat
            prod = np.einsum("cpk,cqk->pqk", Fa, np.conj(Fb))
            flat: np.ndarray = sfft.irfft(prod, n=n2, axis=-1)[..., self._lag_idx2].reshape(-1)
            return flat

        XC = self._XCw.reshape(W, -1)  # (W, P*P*(2F-1))
        e_aa = XC @ cc(FA2, FA2)
        e_jj = XC @ cc(FJ2, FJ2)
        e_aj = XC @ cc(FA2, FJ2)
        # <PJ, S>: S_c is the basis vector (source j, channel c, lag 0)
        xc_js = self._XCw[:, :, j * n_ch : (j + 1) * n_ch, F - 1 :]  # (W, P, C, F) lags >= 0
        e_js = np.einsum("wpca,cpa->w", xc_js, fJ)

        s_e = self._ref_energy[j]
        isr_den = e_jj - 2 * e_js + s_e
        sir_den = e_aa - 2 * e_aj + e_jj
        sar_den = est_energy - 2 * e_est_pa + e_aa
        # Rounding of the quadratic forms grows with the filter gain (huge coefficients when
        # the Gram matrix is near singular, e.g. pure tones or proportional channels):
        # |error| <~ log2(M) * eps * (sum_p ||f_p||_1 ||r_p||)^2. Where that bound could
        # reach _QF_TOL of a denominator (1e-4 -> 4e-4 dB), synthesise the projections
        # (as museval does, in the frequency domain) instead.
        b_a = (np.abs(fA).sum(axis=2)[None] * self._ref_norm[:, None, :]).sum(axis=2) ** 2
        b_j = (np.abs(fJ).sum(axis=2)[None] * self._ref_norm[:, None, :]).sum(axis=2) ** 2
        bound = 32 * _EPS * (b_a.sum(1) + b_j.sum(1) + est_energy + s_e)  # (W,)
        dens = np.stack([isr_den, sir_den, sar_den])
        risky = np.any(bound[None] > _QF_TOL * np.abs(dens), axis=0) & ~nan_win
        if risky.any():
            idx = np.flatnonzero(risky)
            d = self._direct(idx, j, fA, fJ, EB[j][:, self._win_seg[idx]].transpose(1, 0, 2))
            e_jj[idx], e_aa[idx], isr_den[idx], sir_den[idx], sar_den[idx] = d
        out = np.stack(
            [_db(s_e, err_energy), _db(s_e, isr_den), _db(e_jj, sir_den), _db(e_aa, sar_den)]
        )
        out[:, nan_win] = np.nan
        return out


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------


def bss_eval(
    references: Any,
    estimates: Any,
    *,
    sr: int,
    win_seconds: float = 1.0,
    hop_seconds: float = 1.0,
    sources: Sequence[str] | None = None,
) -> BssEval:
    """BSS Eval v4 metrics, framewise, equal to ``museval.evaluate`` within 0.01 dB.

    Parameters
    ----------
    references, estimates : array_like, shape (sources, channels, samples)
        True and estimated source images (float, same shape).
    sr : int
        Sample rate in Hz.
    win_seconds, hop_seconds : float, optional
        Window and hop in seconds (1 s each by default).
    sources : sequence of str, optional
        Source names (default ``("vocals", "accompaniment")`` for two sources).

    Returns
    -------
    BssEval
        SDR, ISR, SIR, SAR as ``(sources, windows)`` float64 dB, NaN in silent windows.

    Raises
    ------
    MetricsError
        On a shape mismatch, non-finite samples, or a reference source that is silent throughout.
    """
    _check_same_shape(references, estimates)
    engine = SweepEngine(
        references, sr=sr, win_seconds=win_seconds, hop_seconds=hop_seconds, sources=sources
    )
    return engine.evaluate(estimates)


def _check_same_shape(references: Any, estimates: Any) -> None:
    rs, es = np.shape(references), np.shape(estimates)
    if rs != es:
        raise MetricsError(
            f"estimates shape {tuple(es)} does not match references shape {tuple(rs)}; "
            "expected (sources, channels, samples)"
        )


def _import_museval() -> Any:
    """Import museval lazily (it imports musdb -> stempeg, which needs ffmpeg/ffprobe)."""
    try:
        import museval  # noqa: PLC0415
    except Exception as exc:
        raise DependencyError(
            f"museval could not be imported ({type(exc).__name__}: {exc}); install ffmpeg "
            "(ffmpeg and ffprobe on PATH, e.g. `apt-get install ffmpeg`) and `pip install museval`"
        ) from exc
    return museval


def museval_reference(
    references: Any,
    estimates: Any,
    *,
    sr: int,
    win_seconds: float = 1.0,
    hop_seconds: float = 1.0,
    sources: Sequence[str] | None = None,
) -> BssEval:
    """The same metrics computed by ``museval.evaluate`` itself (slow; the trusted reference).

    Parameters
    ----------
    references, estimates : array_like, shape (sources, channels, samples)
        True and estimated source images.
    sr : int
        Sample rate in Hz.
    win_seconds, hop_seconds : float, optional
        Window and hop in seconds, converted to samples for museval.

    Returns
    -------
    BssEval
        museval's SDR, ISR, SIR, SAR, ``(sources, windows)``.

    Raises
    ------
    MetricsError
        On a shape mismatch, or when museval refuses the input (a silent reference or estimate).
    DependencyError
        If museval cannot be imported (ffmpeg missing).
    """
    _check_same_shape(references, estimates)
    refs = _as_stems(references, "references")
    est = _as_stems(estimates, "estimates")
    names = _source_names(refs.shape[0], sources)
    win = _window_samples(int(sr), win_seconds, "win_seconds")
    hop = _window_samples(int(sr), hop_seconds, "hop_seconds")
    museval = _import_museval()
    try:
        sdr, isr, sir, sar = museval.evaluate(
            refs.transpose(0, 2, 1), est.transpose(0, 2, 1), win=win, hop=hop
        )
    except ValueError as exc:
        raise MetricsError(f"museval refused the signals: {exc}") from exc
    starts, _ = _framing(refs.shape[2], win, hop)
    return BssEval(
        sdr=np.asarray(sdr, dtype=np.float64),
        isr=np.asarray(isr, dtype=np.float64),
        sir=np.asarray(sir, dtype=np.float64),
        sar=np.asarray(sar, dtype=np.float64),
        window_starts=starts.astype(np.float64) / sr,
        win_seconds=float(win_seconds),
        hop_seconds=float(hop_seconds),
        sr=int(sr),
        sources=names,
    )


def sweep(
    references: Any,
    estimates_by_alpha: Any | Callable[[float], Any],
    alphas: Iterable[float],
    *,
    sr: int,
    win_seconds: float = 1.0,
    hop_seconds: float = 1.0,
    sources: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[float, BssEval]:
    """Evaluate one method at many thresholds α with one :class:`SweepEngine`.

    Parameters
    ----------
    references : array_like, shape (sources, channels, samples)
        True source images.
    estimates_by_alpha : array_like, shape (n_alpha, sources, channels, samples), or callable
        The estimates for each α in order, or a function ``alpha -> estimates`` called lazily
        (so all α never need to be in memory at once).
    alphas : iterable of float
        The α grid.
    sr : int
        Sample rate in Hz.
    win_seconds, hop_seconds : float, optional
        Window and hop in seconds.
    progress : callable, optional
        Receives ``ProgressEvent("alpha", i, n_alpha, {"alpha": alpha})`` after the ``i``-th α
        (:class:`core.types.ProgressEvent`, counted from 1).

    Returns
    -------
    dict
        ``{alpha: BssEval}`` in the order of ``alphas``.

    Raises
    ------
    MetricsError
        As :func:`bss_eval`; also when the stack of estimates does not have one entry per α.
    """
    alphas = [float(a) for a in alphas]
    engine = SweepEngine(
        references, sr=sr, win_seconds=win_seconds, hop_seconds=hop_seconds, sources=sources
    )
    if not callable(estimates_by_alpha):
        stack = np.asarray(estimates_by_alpha)
        if stack.ndim != 4 or stack.shape[0] != len(alphas):
            raise MetricsError(
                f"estimates_by_alpha must have shape (n_alpha={len(alphas)}, sources, channels, "
                f"samples), got {tuple(stack.shape)}"
            )

        def get(i: int, a: float) -> Any:
            return stack[i]
    else:
        fn = estimates_by_alpha

        def get(i: int, a: float) -> Any:
            return fn(a)

    results: dict[float, BssEval] = {}
    for i, a in enumerate(alphas):
        results[a] = engine.evaluate(get(i, a))
        if progress is not None:
            progress(ProgressEvent("alpha", i + 1, len(alphas), {"alpha": a}))
    return results
