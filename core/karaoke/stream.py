"""Separate an audio file block by block: bounded memory, output written as it is made.

:func:`separate_file` reads the mixture with soundfile in blocks of ``block_seconds``, computes
the vocal probability of each block, thresholds it at α and writes both stems to WAV files as
it goes, so a long song never sits in memory whole (a 10-minute stereo file at 44.1 kHz as a
float32 STFT alone is 0.4 GB per copy). :func:`core.karaoke.separate.probability_mask` +
:func:`core.karaoke.separate.separate_at_alpha` stay the in-memory path of the Mask explorer.

Exactness. Every stage works on *global* grids, so the kept part of a block equals the
whole-file result up to float rounding:

- the mono downmix is resampled to the model's rate by one streaming soxr resampler for the
  whole file (the same "HQ" soxr as :func:`core.signal.audio.resample`, bit for bit);
- model STFT frames, the DNN's sliding windows and the NMF's windows are taken on the whole
  file's frame grid, each block computing its frames plus the context they need (the DNN's
  ``frames - 1`` frames each side; for NMF, whole 256-window chunks as ``nmf_prob`` fits them);
- the mask is mapped to the input-rate STFT grid by the formula of
  :func:`core.karaoke.separate.map_mask` at global frame positions;
- the inverse STFT of a block covers every frame that overlaps its samples, so the overlap-add
  and its window normalisation are the whole file's.

Speed. The DNN's checkpoint is read and run without torch (:mod:`core.karaoke.infer`: float32
BLAS products, the hidden layer once per window start, the output basis once per frame), and
two threads share each block's work: the network's chunks of windows and then the block's
input-rate STFT go to a worker two blocks ahead, while the main thread reads, resamples, maps
masks and makes the stems; the main thread runs whatever of those tasks the worker has not
started when it needs them (and while it waits for the worker), and the worker writes each
block's stems and mask, so the two threads' CPU shares come out even. The accompaniment is
``mixture - vocals`` wherever the two masks add up to one (one inverse STFT instead of two;
see :func:`_stems`). Samples stay time-major (as soundfile reads them and a WAV file stores
them) from the reading to the writing, ``prob_mask.npy`` is appended frame after frame, and
the stems go out through a plain float WAV writer (:class:`_FloatWav`). With the DNN on the
usual grids (Hann window, hop dividing n_fft) only numpy, soundfile and soxr are imported: no
scipy, librosa or torch.

Stereo: the models are mono, so the mask is computed once on the mono downmix (the mean of
the channels) and applied to every channel (the in-memory path masks each channel on its own,
at twice the cost); ``prob_mask.npy`` stores it once, shape ``(1, bins, frames)``, and a
``from_mask`` run broadcasts a one-channel mask to every channel (a mask with one row per
channel, as earlier versions wrote, is still read). The stems keep the input's rate, channels
and length.

Atomicity: the outputs of a run (with the caller's ``extra_files``, e.g. the CLI's
``separation.json``) are written into a temporary sibling folder and moved into ``out_dir`` as
a unit (:class:`core.io_utils.OutputSet`) only when the whole file has been separated. A bad
block (e.g. NaN samples near the end), an error or Ctrl-C leaves ``out_dir`` as it was: the
old complete set of outputs, or nothing.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile as sf

from core.errors import CheckpointError, InvalidAudioError, InvalidConfigError
from core.io_utils import OutputSet, check_output_dir, output_lock
from core.karaoke.dnn_config import LOG_EPS
from core.karaoke.infer import (
    SeparatorWeights,
    WindowPass,
    load_separator_weights,
    weights_of_model,
)
from core.karaoke.masks import threshold_masks
from core.karaoke.methods import Rule, check_alpha, check_rule, method_spec
from core.karaoke.nmf import NmfModel, nmf_prob
from core.karaoke.separate import default_model_file, input_stft_config, load_model
from core.signal.audio import (
    MAX_ABS_SAMPLE,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    check_max_seconds,
    check_min_length,
    check_samples,
)
from core.signal.stft import StftConfig, _window64, _window_sumsquare, istft_frames_major
from core.types import ComplexArray, FloatArray, Progress, ProgressEvent

#: Longest file :func:`separate_file` accepts, seconds (memory does not grow with the length).
STREAM_MAX_SECONDS = 4 * 3600.0
#: Windows per NMF fit, as :func:`core.karaoke.nmf.nmf_prob` chunks them (its default).
_NMF_CHUNK = 256
#: DNN window starts per task (a 10 s block has about 900): both threads take tasks. BLAS
#: packs the 5 MB hidden weight matrix once per product, so larger chunks are cheaper (single
#: thread, 3 minutes: 0.96 s at 160, 0.88 s at 480, 0.83 s at 880); two per block still let
#: the threads share the network.
_DNN_CHUNK = 480
#: Blocks whose model tasks are queued ahead of the one being finished: with two, the worker
#: always has work queued (with one it idled while the main thread made a block's stems, and
#: the main thread's CPU share was 1.2-1.35 s against the worker's 0.8-1.0 s; with two, even).
_AHEAD = 2
#: Output WAV files above this size are written as RF64 (plain WAV stops at 4 GiB).
_WAV_MAX_BYTES = 2**32 - 2**20

MaskDtype = Literal["float16", "float32"]
#: The files of one ``genex separate`` run, replaced together in its output folder.
SEPARATION_FILES = ("vocals.wav", "accompaniment.wav", "prob_mask.npy", "separation.json")


@dataclass(frozen=True)
class StreamResult:
    """What :func:`separate_file` wrote.

    Attributes
    ----------
    vocals, accompaniment
        The stems, 32-bit float WAV at the input's rate, channels and length.
    mask
        ``prob_mask.npy``: the vocal probability of the mono downmix on the input-rate STFT
        grid, shape ``(1, bins, frames)`` in ``mask_dtype``, stored frames-major (``.npy``
        Fortran order), whatever the number of channels (``None`` when not saved).
    sr, channels, length
        The mixture's sample rate (Hz), channel count and length (samples).
    method
        ``"dnn"`` or ``"traditional"`` (or ``"from-mask"``).
    stft_config
        The input-rate STFT grid of the mask.
    model_sr
        Rate the mask was computed at.
    blocks
        Number of blocks processed.
    seconds
        Wall time of the whole separation (reading, model, writing).
    info
        Small extras (the checkpoint path, the mask's dtype, how channels were masked).
    """

    vocals: Path
    accompaniment: Path
    mask: Path | None
    sr: int
    channels: int
    length: int
    method: str
    stft_config: StftConfig
    model_sr: int
    blocks: int
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


class _Buffer:
    """Samples ``[start, start + n)`` of a ``(total, channels)`` signal held in memory.

    Time-major, as soundfile reads a file (and as a WAV file stores it): no transposes.
    """

    def __init__(self, channels: int) -> None:
        self.data = np.zeros((0, channels), dtype=np.float32)
        self.start = 0
        self.complete = False  # the signal ended: past ``end`` is silence

    @property
    def end(self) -> int:
        return self.start + self.data.shape[0]

    def append(self, x: np.ndarray) -> None:
        self.data = np.concatenate([self.data, x], axis=0) if self.data.shape[0] else x

    def drop_before(self, pos: int) -> None:
        cut = min(max(0, pos - self.start), self.data.shape[0])
        if cut:
            self.data = self.data[cut:].copy()
            self.start += cut

    def get(self, lo: int, hi: int, total: int) -> np.ndarray:
        """``(hi - lo, channels)`` float32, zeros outside ``[0, total)`` (the STFT's centring).

        A read-only view of the buffer when the range lies inside it (no copy).
        """
        a, b = max(lo, 0), min(hi, total, self.end if self.complete else total)
        if b > a and (a < self.start or b > self.end):  # pragma: no cover - a bug
            raise RuntimeError(f"samples [{a}, {b}) not buffered ([{self.start}, {self.end}))")
        if a == lo and b == hi:
            view = self.data[a - self.start : b - self.start]
            view.flags.writeable = False
            return view
        out = np.zeros((hi - lo, self.data.shape[1]), dtype=np.float32)
        if b > a:
            out[a - lo : b - lo] = self.data[a - self.start : b - self.start]
        return out


class _Source:
    """Sequential reader of the mixture, with the mono downmix resampled to the model rate."""

    def __init__(self, fh: Any, label: str, *, model_sr: int | None) -> None:
        self.fh = fh
        self.label = label
        self.sr = int(fh.samplerate)
        self.channels = int(fh.channels)
        self.length = int(fh.frames)
        self.audio = _Buffer(self.channels)
        self.read_pos = 0
        self.model_sr = model_sr
        self.model = _Buffer(1)
        self.model_length = 0
        self._resampler: Any = None
        # the model stage (a worker thread) and the stems (the main thread) share the reader
        self.lock = threading.Lock()
        if model_sr is not None:
            # librosa.resample's output length (soxr, then fixed to this many samples)
            self.model_length = int(np.ceil(self.length * (float(model_sr) / self.sr)))
            if model_sr != self.sr:
                # lazy, and direct: librosa.resample(res_type="soxr_hq") calls exactly this
                import soxr  # type: ignore[import-untyped]

                self._resampler = soxr.ResampleStream(
                    self.sr, model_sr, 1, dtype="float32", quality="HQ"
                )

    def _read(self, n: int) -> None:
        n = min(n, self.length - self.read_pos)
        if n <= 0:
            return
        try:
            y = self.fh.read(n, dtype="float32", always_2d=True)  # (n, channels)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise InvalidAudioError(
                f"{self.label} could not be decoded after {self.read_pos / self.sr:.1f} s "
                f"({getattr(exc, 'error_string', None) or type(exc).__name__})"
            ) from exc
        if y.shape[0] < n:
            raise InvalidAudioError(
                f"{self.label} ends after {(self.read_pos + y.shape[0]) / self.sr:.1f} s, "
                f"before the {self.length / self.sr:.1f} s its header announces (truncated file)"
            )
        # two reductions without temporaries; check_samples names the problem when there is one
        lo, hi = float(y.min()), float(y.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or max(-lo, hi) > MAX_ABS_SAMPLE:
            check_samples(y.T, self.label, sr=self.sr, start=self.read_pos)
        self.read_pos += n
        self.audio.append(y)
        if self.model_sr is None:
            return
        if self.channels == 1:
            mono = y[:, 0]
        else:  # y.T.mean(axis=0, dtype=np.float32) bit for bit: (a + b) / 2 is exact halving
            mono = np.add(y[:, 0], y[:, 1])
            mono *= np.float32(0.5)
        if self._resampler is None:
            self.model.append(mono[:, None])
        else:
            last = self.read_pos >= self.length
            out = self._resampler.resample_chunk(mono, last=last)
            self.model.append(np.asarray(out, dtype=np.float32)[:, None])
        if self.read_pos >= self.length:
            self.audio.complete = self.model.complete = True

    def audio_segment(self, lo: int, hi: int) -> np.ndarray:
        """Input samples ``[lo, hi)``, ``(hi - lo, channels)`` float32 (read-only), as needed."""
        with self.lock:
            if hi > self.read_pos:
                self._read(hi - self.read_pos)
            return self.audio.get(lo, hi, self.length)

    def model_segment(self, lo: int, hi: int) -> np.ndarray:
        """Model-rate mono samples ``[lo, hi)``, ``(hi - lo,)`` float32, reading as needed."""
        with self.lock:
            need = min(hi, self.model_length)
            while self.model.end < need and self.read_pos < self.length:
                assert self.model_sr is not None
                missing = (need - self.model.end) * self.sr / self.model_sr
                self._read(max(int(missing) + self.sr // 10, 4096))
            return self.model.get(lo, hi, self.model_length)[:, 0]

    def drop_audio(self, pos: int) -> None:
        """Forget input samples before ``pos``."""
        with self.lock:
            self.audio.drop_before(pos)

    def drop_model(self, pos: int) -> None:
        """Forget model-rate samples before ``pos``."""
        with self.lock:
            self.model.drop_before(pos)


# --------------------------------------------------------------------------- the model stage


def _frames(
    segment: np.ndarray, n_fft: int, hop: int, window: np.ndarray, n_frames: int
) -> np.ndarray:
    """Windowed frames ``(channels, n_frames, n_fft)`` of a segment starting at frame 0.

    ``segment`` is ``(channels, samples)``, any strides (e.g. the transpose of interleaved
    samples); the frames come out C-contiguous (numpy would otherwise lay them out like the
    input, channels innermost, and every FFT after would copy them).
    """
    view = np.lib.stride_tricks.sliding_window_view(segment, n_fft, axis=-1)[..., ::hop, :]
    view = view[:, :n_frames]
    out = np.empty(view.shape, dtype=np.result_type(segment.dtype, window.dtype))
    np.multiply(view, window, out=out)
    return out


@dataclass(frozen=True)
class _MaskJob:
    """A block's model work: ``tasks`` (independent, in any thread), then ``finish(results)``."""

    tasks: Sequence[Callable[[], Any]]
    finish: Callable[[list[Any]], np.ndarray]


class _ModelStage:
    """The vocal probability of any range of the model's frames (mono downmix).

    The DNN runs in numpy (:mod:`core.karaoke.infer`): its checkpoint is read without torch,
    so a ``genex separate`` with a checkpoint file never imports torch.
    """

    def __init__(self, method: str, checkpoint: Any, source_sr: int) -> None:
        self.method = method
        if method == "dnn":
            self.dnn, self.info = _dnn_weights(checkpoint)
            cfg: Any = self.dnn.config
            self.context = int(cfg.frames) - 1  # the DNN's windows reach this far each side
        else:
            model, self.info = load_model(method, checkpoint)
            self.nmf: NmfModel = model
            cfg = model.config
            self.context = int(cfg.frames)
        self.sr: int = int(cfg.sr)
        self.stft: StftConfig = cfg.stft_config
        # float64, as librosa.stft multiplies the frames (the features match it bit for bit)
        self.window = _window64(self.stft.window, self.stft.n_fft)
        self.seconds = 0.0  # CPU seconds of the model's work (threads added up)
        self._lock = threading.Lock()

    def n_frames(self, model_length: int) -> int:
        return 1 + model_length // self.stft.hop_length

    def _mag(self, source: _Source, f0: int, f1: int) -> np.ndarray:
        """Magnitudes ``(f1 - f0, bins)`` float32 of model frames ``[f0, f1)``, as librosa."""
        n, h = self.stft.n_fft, self.stft.hop_length
        lo, hi = f0 * h - n // 2, (f1 - 1) * h + n // 2 + (n % 2)
        seg = source.model_segment(lo, hi)  # (samples,)
        spec = np.fft.rfft(_frames(seg[None], n, h, self.window, f1 - f0), axis=-1)
        mag: np.ndarray = np.abs(spec.astype(np.complex64))[0]  # (frames, bins)
        return mag

    def begin(self, source: _Source, j0: int, j1: int) -> _MaskJob:
        """The vocal probability of model frames ``[j0, j1)``, as a :class:`_MaskJob`.

        Reads (and resamples) what the frames need; the job's tasks are the network on chunks
        of windows (or the NMF fits), its ``finish`` gives ``(j1 - j0, bins)`` float32.
        """
        t0 = time.thread_time()
        total = self.n_frames(source.model_length)
        if self.method == "dnn":
            f0, f1 = max(0, j0 - self.context), min(total, j1 + self.context)
            feats = np.log(self._mag(source, f0, f1) + np.float32(LOG_EPS))  # (frames, bins)
            run = WindowPass(self.dnn, feats)
            starts = list(range(0, run.n_windows, _DNN_CHUNK))
            tasks = [
                partial(self._timed, run.outputs, s, min(s + _DNN_CHUNK, run.n_windows))
                for s in starts
            ]

            def finish(outputs: list[Any]) -> np.ndarray:
                t1 = time.thread_time()
                acc = run.new_total()
                for s, o in zip(starts, outputs, strict=True):
                    run.add(acc, s, o)
                p: np.ndarray = run.finish(acc)[j0 - f0 : j1 - f0]
                self.seconds += time.thread_time() - t1
                return p

        else:
            cfg = self.nmf.config
            f, s = cfg.frames, cfg.test_step
            n_win = max(1, -(-(max(total, f) - f) // s) + 1)
            # the windows covering [j0, j1), widened to whole chunks of nmf_prob's fits
            w0 = max(0, -(-(j0 - f + 1) // s)) // _NMF_CHUNK * _NMF_CHUNK
            w1 = min(n_win, -(-(min((j1 - 1) // s, n_win - 1) + 1) // _NMF_CHUNK) * _NMF_CHUNK)
            f0, f1 = w0 * s, min(total, (w1 - 1) * s + f)
            mag = np.ascontiguousarray(self._mag(source, f0, f1).T[None])  # (1, bins, frames)
            tasks = [partial(self._timed, nmf_prob, self.nmf, mag, chunk=_NMF_CHUNK)]

            def finish(outputs: list[Any]) -> np.ndarray:
                p: np.ndarray = outputs[0][0][:, j0 - f0 : j1 - f0].T
                return p

        self.seconds += time.thread_time() - t0
        return _MaskJob(tasks, finish)

    def _timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, adding its thread CPU time to ``self.seconds``."""
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self.seconds += time.thread_time() - t0

    def first_needed_sample(self, j0: int) -> int:
        """Earliest model-rate sample the frames from ``j0`` on still need."""
        if self.method == "dnn":
            f0 = max(0, j0 - self.context)
        else:
            cfg = self.nmf.config
            w0 = max(0, -(-(j0 - cfg.frames + 1) // cfg.test_step)) // _NMF_CHUNK * _NMF_CHUNK
            f0 = w0 * cfg.test_step
        return f0 * self.stft.hop_length - self.stft.n_fft // 2


def _dnn_weights(checkpoint: Any) -> tuple[SeparatorWeights, dict[str, Any]]:
    """The DNN's weights from weights, a loaded network, a file or ``None`` (the shipped one)."""
    info: dict[str, Any] = {}
    if isinstance(checkpoint, SeparatorWeights):
        weights = checkpoint
    elif checkpoint is None or isinstance(checkpoint, str | Path):
        path = Path(checkpoint) if checkpoint is not None else default_model_file("dnn")
        info["checkpoint"] = str(path)
        weights = load_separator_weights(path)
    else:
        weights = weights_of_model(checkpoint)
    info["dnn_reader"] = weights.reader
    return weights, info


def _map_positions(
    dst_frames: np.ndarray,
    *,
    src_sr: int,
    src: StftConfig,
    dst_sr: int,
    dst: StftConfig,
    src_frames: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interpolation indices of :func:`core.karaoke.separate.map_mask` at global frames.

    Returns ``(i0, i1, w)``: the source frames each destination frame lies between, and the
    float32 weight of ``i1``.
    """
    pos = dst_frames * (dst.hop_length / dst_sr) / (src.hop_length / src_sr)
    pos = np.clip(pos, 0.0, src_frames - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, src_frames - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def _take_bins(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``np.take(x, idx, axis=1)``, as slices when ``idx`` is ``0, 1, ..., m-1, m-1, ..., m-1``.

    That is the input grid of a rate above the model's: the bins above the model's Nyquist
    frequency repeat its top bin.
    """
    m = int(idx.max()) + 1
    if len(idx) >= m and np.array_equal(idx[:m], np.arange(m)) and not np.any(idx[m:] != m - 1):
        out = np.empty((x.shape[0], len(idx)), dtype=x.dtype)
        out[:, :m] = x[:, :m]
        out[:, m:] = x[:, m - 1 : m]
        return out
    taken: np.ndarray = np.take(x, idx, axis=1)
    return taken


def _interp_rows(x: np.ndarray, i0: np.ndarray, i1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``_interp(x, i0, i1, w, axis=0)`` bit for bit, with arithmetic only where ``w != 0``.

    A weight of 0 gives ``x[i0] * 1 + x[i1] * 0 = x[i0]`` exactly (finite values), so those
    rows are taken. At 44.1 kHz the input frames fall on the model's up to float rounding:
    most weights are 0 and the others 1e-15 or 1 (where the arithmetic is kept).
    """
    out: np.ndarray = x[i0]
    sel = np.flatnonzero(w != 0)
    if sel.size:
        ww = w[sel, None]
        out[sel] = x[i0[sel]] * (1 - ww) + x[i1[sel]] * ww
    return out


def _interp(x: np.ndarray, i0: np.ndarray, i1: np.ndarray, w: np.ndarray, axis: int) -> np.ndarray:
    """``x`` linearly interpolated along ``axis`` (the arithmetic of ``map_mask``)."""
    lo: np.ndarray = np.take(x, i0, axis=axis)
    if np.all(w == 0):
        return lo
    shape = [1] * x.ndim
    shape[axis] = len(w)
    ww = w.reshape(shape)
    out: np.ndarray = lo * (1 - ww) + np.take(x, i1, axis=axis) * ww
    return out


# --------------------------------------------------------------------------- inputs


def _open_mixture(path: Path, max_seconds: float) -> tuple[Any, str]:
    label = repr(str(path))
    if not path.is_file():
        raise InvalidAudioError(f"{label} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise InvalidAudioError(f"{label} is empty (0 bytes): nothing to decode")
    try:
        fh = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = getattr(exc, "error_string", None) or type(exc).__name__
        raise InvalidAudioError(f"{label} could not be decoded as audio ({reason})") from exc
    sr, ch, n = int(fh.samplerate), int(fh.channels), int(fh.frames)
    problem = None
    if ch > MAX_CHANNELS:
        problem = (
            f"{label} has {ch} channels; GenEx Lab takes mono or stereo (at most "
            f"{MAX_CHANNELS}). Mix it down to stereo first (e.g. ffmpeg -ac 2)."
        )
    elif sr < MIN_SAMPLE_RATE:
        problem = f"{label} has a sample rate of {sr} Hz; at least {MIN_SAMPLE_RATE} Hz is required"
    elif sr > MAX_SAMPLE_RATE:
        problem = (
            f"{label} has a sample rate of {sr} Hz; at most {MAX_SAMPLE_RATE} Hz is accepted "
            "(a corrupt header?)"
        )
    elif n <= 0:
        problem = f"{label} holds zero samples"
    elif n / sr > max_seconds:
        problem = (
            f"{label} is {n / sr:.1f} s long; the limit is {max_seconds:.0f} s. "
            "Trim it, or raise the limit (max_seconds=..., --max-seconds in genex separate)."
        )
    try:
        if problem is not None:
            raise InvalidAudioError(problem)
        check_min_length(n, sr=sr, label=label)
    except InvalidAudioError:
        fh.close()
        raise
    return fh, label


def _load_mask(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """The saved mask as a read-only memory map, checked against ``(channels, bins, frames)``."""
    try:
        mask: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidConfigError(f"cannot read the mask {str(path)!r}: {exc}") from exc
    ch, bins, frames = shape
    if mask.ndim != 3 or mask.shape[0] not in (1, ch) or mask.shape[1:] != (bins, frames):
        raise InvalidConfigError(
            f"the mask {str(path)!r} has shape {mask.shape} but the mixture's STFT is "
            f"{shape}: it was computed for another file or sample rate"
        )
    return mask


def _write_mask_header(fh: Any, dtype: Any, bins: int, frames: int) -> None:
    """The ``.npy`` header of a ``(1, bins, frames)`` mask stored frames-major.

    ``fortran_order`` is the ``.npy`` format's own way to say the first axis varies fastest:
    the file holds frame after frame, each frame's bins together, so the blocks append it in
    order (no transposed writes into a memory map) and ``np.load`` gives the
    ``(1, bins, frames)`` array as usual.
    """
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": True,
        "shape": (1, bins, frames),
    }
    np.lib.format.write_array_header_1_0(fh, header)


class _FloatWav:
    """A 32-bit float WAV of known length, written frame block after frame block.

    The header (RIFF, ``fmt`` with ``WAVE_FORMAT_IEEE_FLOAT``, ``fact``, ``data``) is complete
    from the start, since the length is known, and the samples go to the file as they are
    (little-endian float32): half the CPU time of libsndfile's converting writer.
    """

    def __init__(self, fh: Any, sr: int, channels: int, frames: int) -> None:
        self.fh = fh
        data = frames * channels * 4
        fmt = struct.pack("<HHIIHH", 3, channels, sr, sr * channels * 4, channels * 4, 32)
        fact = struct.pack("<II", 4, frames)
        head = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + fact
        head += b"data" + struct.pack("<I", data)
        fh.write(b"RIFF" + struct.pack("<I", 4 + len(head) + data) + b"WAVE" + head)

    def write(self, y: np.ndarray) -> None:
        """Append ``(frames, channels)`` samples (time-major)."""
        self.fh.write(np.ascontiguousarray(y, dtype="<f4").data)

    def __enter__(self) -> _FloatWav:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _float_wav(fh: Any, sr: int, channels: int, frames: int, fmt: str) -> Any:
    """A writer of ``frames`` float32 frames into ``fh``.

    :class:`_FloatWav`, or libsndfile for RF64 (files above 4 GiB: their sizes sit in a
    ``ds64`` chunk).
    """
    if fmt == "WAV":
        return _FloatWav(fh, sr, channels, frames)
    return sf.SoundFile(fh, "w", sr, channels, subtype="FLOAT", format=fmt)


def _rfft_scaled(frames: np.ndarray) -> np.ndarray:
    """``rfft(frames) / n`` along the last axis (``n = frames.shape[-1]``), complex64.

    numpy's own FFT (pocketfft), as ``scipy.fft`` would cost the command 0.2-0.4 s of imports.
    With ``norm="forward"`` numpy runs its float32 loop, four times faster than its default,
    which computes a float32 input in float64; the caller multiplies the window by ``n`` to
    undo the scaling (exactly, for a power-of-two ``n``).
    """
    out: np.ndarray = np.fft.rfft(frames, axis=-1, norm="forward")
    return out.astype(np.complex64, copy=False)


def _can_subtract(cfg: StftConfig) -> bool:
    """Whether ``istft(stft(x)) == x`` on ``cfg``'s fast path (Hann, centred, ``n_fft / hop >= 2``).

    The window's overlapped squares are then positive everywhere, so the normalised
    overlap-add of the unmasked frames gives the mixture back (to float rounding).
    """
    return (
        cfg.center
        and cfg.window == "hann"
        and not cfg.n_fft % cfg.hop_length
        and (cfg.n_fft // cfg.hop_length >= 2)
    )


def _overlap_add(
    spec: ComplexArray,
    cfg: StftConfig,
    window: np.ndarray,
    first: int,
    a: int,
    b: int,
    n_frames: int,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Samples ``[a, b)`` of the inverse STFT of frames whose first is centred at ``first``.

    The arithmetic of :func:`core.signal.stft.istft_frames_major` (``hop`` divides ``n_fft``,
    centred), with its window and overlapped-window normalisation (no ``scipy.signal`` import
    for Hann).

    Parameters
    ----------
    spec : ndarray, shape (channels, n_frames or len(rows), bins), complex64
        Every frame overlapping ``[a, b)`` (so the overlap-add and its normalisation there are
        the whole file's), or only the frames ``rows`` (the others are zero).
    window : ndarray, shape (n_fft,), float32
    rows : ndarray of int, optional
        Which of the ``n_frames`` frames ``spec`` holds (increasing).

    Returns
    -------
    ndarray, shape (b - a, channels), float32
        Time-major, as a WAV file stores it: the normalisation writes it interleaved, so
        the stems need no transpose before they are written.
    """
    n_fft, hop = cfg.n_fft, cfg.hop_length
    ch = spec.shape[0]
    fr = np.fft.irfft(spec, n=n_fft, axis=-1).astype(np.float32, copy=False)
    fr *= window  # (channels, frames, n_fft)
    r = n_fft // hop
    y = np.zeros((ch, n_frames + r - 1, hop), dtype=np.float32)
    for k in range(r):  # frame t's k-th hop block lands at hop block t + k
        if rows is None:
            y[:, k : k + n_frames, :] += fr[..., k * hop : (k + 1) * hop]
        else:
            y[:, rows + k, :] += fr[..., k * hop : (k + 1) * hop]
    del fr
    flat = y.reshape(ch, -1)
    lo = n_fft // 2 + a - first  # the centring pad, then the samples before a
    m = max(0, min(b - a, flat.shape[1] - lo))
    wss = _window_sumsquare(cfg.window, n_fft, hop, n_frames)[lo : lo + m].copy()  # cached
    # where the overlapped windows vanish the samples stay as they are (x / 1), as in istft
    wss[wss <= np.finfo(np.float32).tiny] = 1.0
    out = np.empty((b - a, ch), dtype=np.float32)
    for c in range(ch):  # one channel at a time: numpy's 2-D transposed loop is 8x slower
        np.divide(flat[c, lo : lo + m], wss, out=out[:m, c])
    out[m:] = 0.0
    return out


def _stems(
    spec: ComplexArray,
    masks: tuple[FloatArray, FloatArray],
    cfg: StftConfig,
    window: np.ndarray,
    first: int,
    a: int,
    b: int,
    *,
    rule: Rule,
    mixture: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``[a, b)`` of ``istft(spec * vocal_mask)`` and ``istft(spec * accomp_mask)``.

    ``spec`` (``(channels, frames, bins)``) holds every frame overlapping ``[a, b)``, the first
    centred at sample ``first``; the masks are ``(1 | channels, frames, bins)``. The inverse STFT
    is linear, so where the accompaniment's mask is one minus the vocals' (the complement and
    soft rules; the paper rule at α = 0.5 but for bins at exactly 0.5) the accompaniment is
    ``mixture - vocals`` (``mixture`` = the block's samples ``(b - a, channels)``, given when
    :func:`_can_subtract`), plus the inverse STFT of the few frames where the masks do not add
    up to one: one inverse STFT instead of two.

    Returns
    -------
    vocals, accompaniment : ndarray, shape (b - a, channels), float32
        Time-major (interleaved), ready for the WAV writer.
    """
    m_v, m_a = masks
    ch, n, _ = spec.shape
    if cfg.n_fft % cfg.hop_length or not cfg.center:
        # the general path: both stems through one inverse STFT call
        both = (spec[None] * np.stack([m_v, m_a])).reshape(2 * ch, n, -1)
        y = istft_frames_major(both, cfg, length=b - first)[:, a - first :]
        return np.ascontiguousarray(y[:ch].T), np.ascontiguousarray(y[ch:].T)
    voc = _overlap_add(spec * m_v, cfg, window, first, a, b, n)
    if mixture is None:
        return voc, _overlap_add(spec * m_a, cfg, window, first, a, b, n)
    acc = mixture - voc
    if rule in ("soft", "complement"):
        return voc, acc
    extra = m_a + m_v
    extra -= 1.0  # -1 (neither source), 0, or +1 (both)
    rows = np.flatnonzero(extra.any(axis=(0, 2)))
    if rows.size * 2 > n:  # too many frames: the accompaniment's own inverse STFT
        return voc, _overlap_add(spec * m_a, cfg, window, first, a, b, n)
    if rows.size:
        acc += _overlap_add(spec[:, rows] * extra[:, rows], cfg, window, first, a, b, n, rows)
    return voc, acc


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit numpy's BLAS to one thread while entered (the pipeline's two threads share 2 cores).

    Through ``threadpoolctl`` (installed with scikit-learn); without it, nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="blas")
    return limits


# --------------------------------------------------------------------------- the driver


def separate_file(
    mixture: str | Path,
    out_dir: str | Path,
    *,
    method: Literal["dnn", "traditional"] = "dnn",
    alpha: float = 0.5,
    rule: Rule = "paper",
    checkpoint: str | Path | Any | None = None,
    from_mask: str | Path | None = None,
    save_mask: bool = True,
    mask_dtype: MaskDtype = "float16",
    stft_config: StftConfig | None = None,
    block_seconds: float = 10.0,
    max_seconds: float = STREAM_MAX_SECONDS,
    progress: Progress | None = None,
    lock: bool = True,
    extra_files: Callable[[StreamResult], Mapping[str, bytes]] | None = None,
) -> StreamResult:
    """Separate a mixture file into ``vocals.wav`` and ``accompaniment.wav``, block by block.

    Memory stays bounded by the block size (two 10 s blocks of 44.1 kHz stereo in flight
    need about 0.1 GB of arrays; a 10-minute file peaks near 0.2 GB), whatever the file's
    length. The kept part of every block equals the whole-file result
    (:func:`core.karaoke.separate.probability_mask` of the mono downmix, then
    :func:`core.karaoke.separate.separate_at_alpha`) up to float rounding. The DNN runs in
    numpy (:mod:`core.karaoke.infer`): a checkpoint file is read without importing torch.

    Parameters
    ----------
    mixture
        An audio file (WAV, FLAC, ... whatever libsndfile decodes), mono or stereo.
    out_dir
        Folder for ``vocals.wav``, ``accompaniment.wav`` and ``prob_mask.npy`` (created). The
        run's files replace the previous run's as a unit (:class:`core.io_utils.OutputSet`):
        the files of :data:`SEPARATION_FILES` this run does not write (a ``prob_mask.npy`` when
        the mask is not saved, unless it is ``from_mask`` itself; ``separation.json`` unless
        ``extra_files`` gives one) are deleted with the commit. Other files are never touched.
    method
        ``"dnn"`` or ``"traditional"`` (NMF). The oracle methods need reference stems and go
        through the in-memory path.
    alpha, rule
        Threshold and rule of :func:`core.karaoke.masks.threshold_masks`.
    checkpoint
        A model file or loaded model (``KaraokeDNN`` / ``NmfModel``); default the shipped one.
    from_mask
        A ``prob_mask.npy`` of an earlier run on the same file: no model runs. Its shape is
        ``(1, bins, frames)`` (applied to every channel) or ``(channels, bins, frames)`` on
        ``stft_config``'s grid, in either memory order.
    save_mask
        Write ``prob_mask.npy``, shape ``(1, bins, frames)`` (the mask of the mono downmix,
        applied to every channel), frames-major; ignored with ``from_mask``.
    mask_dtype
        The mask is rounded to this dtype before thresholding and saved in it, so a later
        ``from_mask`` run reproduces the stems exactly (``float16``: half the disk, steps of
        at most 2.4e-4 in [0.5, 1]).
    stft_config
        Input-rate STFT grid of the mask (default :func:`core.karaoke.separate.input_stft_config`).
    block_seconds
        Audio per block, seconds (> 0); memory grows with it, the result does not change.
        10 s keeps a block's arrays in the CPU caches' reach better than longer blocks (faster
        on a 2-core machine) and costs the DNN 4 % extra context frames. NMF blocks are at
        least two of its 256-window fits long (about 60 s with the shipped model).
    max_seconds
        Longest accepted file, seconds, checked from the header.
    progress
        Receives ``ProgressEvent("block", done, total)`` after each block.
    lock
        Hold :func:`core.io_utils.output_lock` on ``out_dir`` while separating, so a concurrent
        run into the same folder fails at once instead of mixing files (``False`` when the
        caller holds it).
    extra_files
        Called with the result once the stems are complete; the ``{name: bytes}`` it returns
        (e.g. ``separation.json``) are written into the same set, so they land with the stems
        or not at all.

    Returns
    -------
    StreamResult

    Raises
    ------
    InvalidAudioError
        Missing, empty or undecodable file, zero samples or fewer than
        :data:`core.signal.audio.MIN_SECONDS` (0.05 s), more than two channels, a rate below
        8 kHz or above 384 kHz, longer than ``max_seconds``, or NaN/inf samples anywhere
        (nothing is left in ``out_dir`` then).
    InvalidConfigError
        A bad option, an oracle method, or a mask that does not fit the file or holds NaN/inf
        values.
    OutputError
        ``out_dir`` is a file or not writable, or another run is writing to it.
    CheckpointError
        A missing or corrupt model file.
    """
    t_start = time.perf_counter()
    alpha = check_alpha(alpha)
    rule = check_rule(rule)
    spec = method_spec(method)
    if spec.needs_references:
        raise InvalidConfigError(
            f"method {method!r} needs the reference stems; use "
            "core.karaoke.separate.probability_mask for oracle masks"
        )
    if mask_dtype not in ("float16", "float32"):
        raise InvalidConfigError(f"mask_dtype must be 'float16' or 'float32', got {mask_dtype!r}")
    if not (np.isfinite(block_seconds) and block_seconds > 0):
        raise InvalidConfigError(f"block_seconds must be positive, got {block_seconds}")
    max_seconds = check_max_seconds(max_seconds)
    mixture, out_dir = Path(mixture), Path(out_dir)
    check_output_dir(out_dir, what="out_dir")  # before the model loads
    fh, label = _open_mixture(mixture, max_seconds)
    with fh, output_lock(out_dir, what="out_dir") if lock else contextlib.nullcontext():
        return _separate(
            fh, label, out_dir, method=method, alpha=alpha, rule=rule, checkpoint=checkpoint,
            from_mask=None if from_mask is None else Path(from_mask), save_mask=save_mask,
            mask_dtype=mask_dtype, stft_config=stft_config, block_seconds=float(block_seconds),
            progress=progress, t_start=t_start, extra_files=extra_files,
        )  # fmt: skip


def _separate(
    fh: Any,
    label: str,
    out_dir: Path,
    *,
    method: str,
    alpha: float,
    rule: Rule,
    checkpoint: Any,
    from_mask: Path | None,
    save_mask: bool,
    mask_dtype: MaskDtype,
    stft_config: StftConfig | None,
    block_seconds: float,
    progress: Progress | None,
    t_start: float,
    extra_files: Callable[[StreamResult], Mapping[str, bytes]] | None,
) -> StreamResult:
    sr, ch, length = int(fh.samplerate), int(fh.channels), int(fh.frames)
    cfg = stft_config or input_stft_config(sr)
    n_fft, hop = cfg.n_fft, cfg.hop_length
    if not cfg.center:
        raise InvalidConfigError("stft_config must be centred (center=True)")
    n_frames = 1 + length // hop  # librosa's frame count for a centred STFT
    bins = cfg.n_bins

    saved = None
    stage: _ModelStage | None = None
    if from_mask is not None:
        saved = _load_mask(from_mask, (ch, bins, n_frames))
        model_sr = sr
    else:
        try:
            stage = _ModelStage(method, checkpoint, sr)
        except (OSError, KeyError) as exc:  # pragma: no cover - loaders raise CheckpointError
            raise CheckpointError(f"cannot load the {method} model: {exc}") from exc
        model_sr = stage.sr
    source = _Source(fh, label, model_sr=None if stage is None else stage.sr)
    model_frames = 0 if stage is None else stage.n_frames(source.model_length)
    if stage is not None:
        fpos = np.arange(bins) * (sr / n_fft) / (stage.sr / stage.stft.n_fft)
        fpos = np.clip(fpos, 0.0, stage.stft.n_bins - 1)
        f_i0 = np.floor(fpos).astype(np.int64)
        f_i1 = np.minimum(f_i0 + 1, stage.stft.n_bins - 1)
        f_w = (fpos - f_i0).astype(np.float32)
        f_pure = not f_w.any()  # every input bin lies on a model bin (44.1 kHz: bin k on k)

    window = _window64(cfg.window, n_fft).astype(np.float32)
    window_n = window * np.float32(n_fft)  # for _rfft_scaled
    if stage is not None and stage.method == "traditional":
        # at least two of nmf_prob's 256-window fits per block: each block refits up to one
        # chunk at each end, which would otherwise dominate
        ncfg = stage.nmf.config
        chunk_s = _NMF_CHUNK * ncfg.test_step * ncfg.hop_length / ncfg.sr
        block_seconds = max(block_seconds, 2 * chunk_s)
    block = max(hop, int(round(block_seconds * sr / hop)) * hop)  # samples, a whole number of hops
    n_blocks = -(-length // block)
    wav_format = "RF64" if length * ch * 4 > _WAV_MAX_BYTES else "WAV"
    dtype = np.float16 if mask_dtype == "float16" else np.float32
    # accompaniment = mixture - vocals where the two masks add up to one (see _stems)
    subtract = _can_subtract(cfg)

    written = {"vocals.wav", "accompaniment.wav"}
    if saved is None and save_mask:
        written.add("prob_mask.npy")
    stale = set(SEPARATION_FILES) - written
    old_mask = out_dir / "prob_mask.npy"
    if from_mask is not None and old_mask.is_file() and os.path.samefile(from_mask, old_mask):
        stale.discard("prob_mask.npy")  # the input of this run: it stays
    outputs = OutputSet(out_dir, stale=stale)

    def frames_of(k: int) -> tuple[int, int, int, int]:
        """Block ``k``: kept samples ``[a, b)`` and the frames ``[t_lo, t_hi)`` overlapping them."""
        a, b = k * block, min(length, (k + 1) * block)
        # frame t covers [t*hop - n_fft/2, t*hop + n_fft/2)
        t_lo = max(0, (a - n_fft // 2) // hop + 1)
        t_hi = min(n_frames, -(-(b + n_fft // 2) // hop))
        return a, b, t_lo, t_hi

    @dataclass
    class Started:
        """Block ``k`` under way: its model job and tasks' futures (or the mask), its STFT task."""

        k: int
        job: _MaskJob | None = None
        futures: list[Future[Any]] = field(default_factory=list)
        results: list[Any] = field(default_factory=list)  # futures, replaced when stolen
        map: tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None = None
        prob: np.ndarray | None = None
        fwd: Future[Any] | None = None

    def start(k: int, pool: ThreadPoolExecutor) -> Started:
        """Read what block ``k``'s mask needs and hand its model tasks to ``pool``.

        Block ``k``'s input-rate STFT goes to ``pool`` too, behind them: the worker makes it
        when it has finished the network before this thread needs it, else this thread does.
        """
        a, b, t_lo, t_hi = frames_of(k)
        if saved is not None:
            # (1|ch, frames, bins); contiguous reading for the frames-major files of this module
            part = np.asarray(saved[:, :, t_lo:t_hi].transpose(0, 2, 1), dtype=np.float32)
            if not np.isfinite(part).all():  # NaN would silently give silent stems
                raise InvalidConfigError(
                    f"the mask {str(from_mask)!r} holds NaN or infinite values (first in "
                    f"frames {t_lo}..{t_hi - 1}); it is corrupt: re-run without "
                    "--from-mask to compute it again"
                )
            prob = np.clip(np.ascontiguousarray(part), 0.0, 1.0)
            return Started(k, prob=prob, fwd=pool.submit(forward, k))
        assert stage is not None
        i0, i1, w = _map_positions(
            np.arange(t_lo, t_hi, dtype=np.float64), src_sr=stage.sr, src=stage.stft,
            dst_sr=sr, dst=cfg, src_frames=model_frames,
        )  # fmt: skip
        j0, j1 = int(i0.min()), int(i1.max()) + 1
        job = stage.begin(source, j0, j1)
        futures = [pool.submit(t) for t in job.tasks]
        fwd = pool.submit(forward, k)
        return Started(k, job, futures, list(futures), (i0, i1, w, j0, j1), fwd=fwd)

    def run_pending(blocks: Sequence[Started]) -> bool:
        """Run one model task the pool has not started: the oldest block's last one.

        Its result replaces the future in the block's ``results``; ``False`` when none waits.
        """
        for st_ in blocks:
            if st_.job is None:
                continue
            for i in reversed(range(len(st_.results))):
                r = st_.results[i]
                if isinstance(r, Future) and r.cancel():
                    st_.results[i] = st_.job.tasks[i]()
                    return True
        return False

    def wait(fut: Future[Any], busy: Sequence[Started]) -> Any:
        """``fut.result()``, running the unstarted model tasks of ``busy`` meanwhile.

        This thread then works instead of idling while the worker ends its task.
        """
        while not fut.done() and run_pending(busy):
            pass
        return fut.result()

    def complete(started: Started, busy: Sequence[Started]) -> tuple[np.ndarray, np.ndarray | None]:
        """Block ``k``'s mask, once the pool's tasks are done.

        Returns the mask ``(1 | channels, frames, bins)`` float32 (rounded to ``mask_dtype``)
        and the frames of it ``prob_mask.npy`` stores from this block, ``(frames, bins)`` in
        ``mask_dtype`` (``None`` when no mask is saved).
        """
        if started.prob is not None:
            return started.prob, None
        assert stage is not None and started.job is not None and started.map is not None
        results = [wait(r, busy) if isinstance(r, Future) else r for r in started.results]
        p = started.job.finish(results)  # (j1 - j0, model bins)
        i0, i1, w, j0, j1 = started.map
        a, b, t_lo, t_hi = frames_of(started.k)
        if f_pure:
            # every input bin lies on a model bin (44.1 kHz): the bins are taken, so
            # interpolate the frames, clip and round on the model's grid, then take the bins
            p = _interp_rows(p, i0 - j0, i1 - j0, w)  # (frames, model bins)
            p = np.clip(p, 0.0, 1.0).astype(dtype)
            p = _take_bins(p, f_i0)  # (frames, bins)
        else:
            p = _interp(p, f_i0, f_i1, f_w, axis=1)  # (j1 - j0, bins)
            p = _interp(p, i0 - j0, i1 - j0, w, axis=0)  # (frames, bins)
            p = np.clip(p, 0.0, 1.0).astype(dtype)
        part = None
        if save:
            o_lo, o_hi = -(-a // hop), (n_frames if b == length else -(-b // hop))
            part = np.ascontiguousarray(p[o_lo - t_lo : o_hi - t_lo])
        if b < length:  # forget the model-rate samples the next blocks no longer need
            nxt = max(0, (b - n_fft // 2) // hop + 1)
            pos = nxt * (hop / sr) / (stage.stft.hop_length / stage.sr)
            source.drop_model(stage.first_needed_sample(int(np.floor(min(pos, model_frames - 1)))))
        return p.astype(np.float32)[None], part

    def forward(k: int) -> tuple[np.ndarray, ComplexArray]:
        """Block ``k``'s input samples and their STFT: no mask needed.

        ``(samples, channels)`` float32 (read-only) and ``(channels, frames, bins)`` complex64
        (scaled by ``1 / n_fft``).
        """
        a, b, t_lo, t_hi = frames_of(k)
        lo = t_lo * hop - n_fft // 2
        seg = source.audio_segment(lo, (t_hi - 1) * hop - n_fft // 2 + n_fft)
        # one channel after the other in memory first: framing them is faster that way
        chans = np.ascontiguousarray(seg.T)
        return seg, _rfft_scaled(_frames(chans, n_fft, hop, window_n, t_hi - t_lo))

    def stems_of(
        k: int, seg: np.ndarray, spec: ComplexArray, prob_t: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vocals and accompaniment of block ``k``'s samples, each ``(b - a, channels)``."""
        a, b, t_lo, t_hi = frames_of(k)
        lo = t_lo * hop - n_fft // 2
        masks = threshold_masks(prob_t, alpha=alpha, rule=rule)
        stems = _stems(spec, masks, cfg, window, t_lo * hop, a, b, rule=rule,
                       mixture=seg[a - lo : b - lo] if subtract else None)  # fmt: skip
        # forget what the next block no longer needs
        source.drop_audio(max(0, (b - n_fft // 2) // hop + 1) * hop - n_fft // 2)
        return stems

    # Two threads share the work: this one reads, maps the masks and makes the stems; each
    # block's model tasks (the network on chunks of windows), then its input-rate STFT, go to a
    # worker thread _AHEAD blocks ahead. This thread runs block k's tasks the worker has not
    # started when it needs them, and while it waits for one the worker is running it runs
    # the next blocks' unstarted tasks. Writing a block's stems and mask goes to the worker,
    # so the two threads' shares stay even. numpy's BLAS, FFTs and ufuncs and the file writes
    # release the GIL; BLAS runs one thread each, so the two never queue for a core.
    blas = _one_blas_thread if stage is not None else contextlib.nullcontext
    save = "prob_mask.npy" in written
    try:
        tmp_voc, tmp_acc = outputs.path("vocals.wav"), outputs.path("accompaniment.wav")
        tmp_mask = outputs.path("prob_mask.npy") if save else None
        # through Python file objects: libsndfile then skips its fsync on close (0.1-0.3 s per
        # stem on a 3-minute song); the rename at the end is what makes the outputs atomic
        with (
            open(tmp_voc, "wb") as voc_fh,
            open(tmp_acc, "wb") as acc_fh,
            open(tmp_mask, "wb") if tmp_mask is not None else contextlib.nullcontext() as mask_fh,
            _float_wav(voc_fh, sr, ch, length, wav_format) as voc,
            _float_wav(acc_fh, sr, ch, length, wav_format) as acc,
            ThreadPoolExecutor(max_workers=1) as pool,
            blas(),
        ):
            if mask_fh is not None:
                _write_mask_header(mask_fh, dtype, bins, n_frames)

            def write(v: np.ndarray, acc_y: np.ndarray, part: np.ndarray | None) -> None:
                voc.write(v)
                acc.write(acc_y)
                if part is not None and mask_fh is not None:
                    mask_fh.write(part.data)  # frames-major: the file grows in order

            started = [start(k, pool) for k in range(min(_AHEAD, n_blocks))]
            writes: list[Future[Any]] = []
            try:
                for k in range(n_blocks):
                    # the next blocks' tasks queue behind block k's: the worker never waits
                    # for this thread's reading, mapping or stems
                    if k + _AHEAD < n_blocks:
                        started.append(start(k + _AHEAD, pool))
                    job = started.pop(0)
                    while run_pending([job]):  # block k's tasks no thread has started
                        pass
                    assert job.fwd is not None
                    seg, spec = forward(k) if job.fwd.cancel() else wait(job.fwd, started)
                    prob_t, part = complete(job, started)
                    v, acc_y = stems_of(k, seg, spec, prob_t)
                    del seg, spec, prob_t
                    writes.append(pool.submit(write, v, acc_y, part))
                    while writes and writes[0].done():  # a failed write stops the run early
                        writes.pop(0).result()
                    if progress is not None:
                        b = min(length, (k + 1) * block)
                        progress(ProgressEvent("block", k + 1, n_blocks, {"seconds": b / sr}))
                while writes:
                    writes.pop(0).result()
            finally:
                # an error or Ctrl-C: drop the queued tasks and writes, let one finish
                for job in started:
                    for fut in [*job.futures, job.fwd]:
                        if fut is not None:
                            fut.cancel()
                for fut in writes:
                    fut.cancel()
        info: dict[str, Any] = {
            "mask_dtype": mask_dtype,
            "mask_channels": "saved mask" if saved is not None else "mono downmix",
            "block_seconds": block / sr,
        }
        if stage is not None:
            info.update(stage.info)
            info["model_seconds"] = round(stage.seconds, 3)
        result = StreamResult(
            vocals=out_dir / "vocals.wav",
            accompaniment=out_dir / "accompaniment.wav",
            mask=out_dir / "prob_mask.npy" if tmp_mask is not None else None,
            sr=sr,
            channels=ch,
            length=length,
            method="from-mask" if saved is not None else method,
            stft_config=cfg,
            model_sr=model_sr,
            blocks=n_blocks,
            seconds=time.perf_counter() - t_start,
            info=info,
        )
        if extra_files is not None:
            for name, data in extra_files(result).items():
                with open(outputs.path(name), "wb") as fh:
                    fh.write(data)
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    return result
