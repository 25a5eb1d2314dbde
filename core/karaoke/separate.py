"""One interface for every separation method: a probabilistic vocal mask, then α thresholds.

``probability_mask`` runs a method once (the DNN, the NMF baseline, or an oracle mask from the
reference stems) and returns a :class:`MaskResult`; ``separate_at_alpha`` thresholds it and
reconstructs the two stems with the mixture phase, cheaply, as often as the α slider moves.

Sample rates (the choice made here). The learned models work at their own rate (22.05 kHz,
n_fft 1024, hop 256). The mixture is resampled to that rate *only to compute the mask*; the
mask is then mapped onto an STFT of the original, un-resampled mixture whose window and hop
span the same durations (``n_fft_in = n_fft * sr / model_sr`` rounded to even,
``hop_in = hop * sr / model_sr``), by linear interpolation in frequency (Hz) and time (s). At
44.1 kHz the grids line up exactly (every model bin and frame lands on an input bin and frame);
bins above the model's Nyquist frequency (11.025 kHz) take the mask of the model's top bin.
The stems are the masked *input-rate* mixture STFT inverted with the mixture phase, so they
keep the input's sample rate, channel count, length and full bandwidth, and α changes never
touch the resampler or the network. Oracle masks are computed on the same input-rate grid.

Stereo: each channel is masked on its own (the network sees one channel at a time).

Methods, their labels and their shipped model files come from the registry,
:mod:`core.karaoke.methods`. The DNN's mask is computed in numpy (:mod:`core.karaoke.infer`):
torch is imported only by :func:`load_model` (training, a checkpoint the torch-free reader
does not understand).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CheckpointError, InvalidConfigError
from core.karaoke.masks import (
    ideal_binary_mask,
    ideal_ratio_mask,
    separate_frames_major,
)
from core.karaoke.methods import MethodId, Rule, method_spec
from core.karaoke.nmf import NmfModel, load_nmf, nmf_prob
from core.paths import assets_dir
from core.signal.audio import resample, validate_audio
from core.signal.stft import StftConfig, stft
from core.types import FloatArray

#: The models' rate and STFT (also the grid of the oracle masks, scaled to the input rate).
MODEL_SR = 22050
MODEL_STFT = StftConfig(n_fft=1024, hop_length=256, window="hann", center=True)


@dataclass(frozen=True)
class MaskResult:
    """A probabilistic vocal mask and what is needed to turn it into stems.

    Attributes
    ----------
    prob : ndarray, shape (channels, bins, frames), float32 in [0, 1]
        Probability that each bin of the input-rate mixture STFT is vocal.
    mixture_stft : ndarray, shape (channels, bins, frames), complex64
        STFT of the mixture at its own sample rate (``stft_config``).
    stft_config
        The input-rate STFT configuration.
    sr
        The mixture's sample rate, Hz.
    length
        The mixture's length in samples.
    method
        One of :data:`core.karaoke.methods.METHODS`.
    model_sr
        Rate the mask was computed at (``sr`` for the oracles).
    seconds
        Time taken to compute the mask.
    info
        Small extras (checkpoint path, model summary).
    """

    prob: np.ndarray
    mixture_stft: np.ndarray
    stft_config: StftConfig
    sr: int
    length: int
    method: str
    model_sr: int = MODEL_SR
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        """Number of audio channels."""
        return int(self.prob.shape[0])

    @cached_property
    def frames_major(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mixture_stft, prob)`` as contiguous ``(channels, frames, bins)`` copies.

        Made once per result, so every α change masks and inverts contiguous memory.
        """
        return (
            np.ascontiguousarray(self.mixture_stft.transpose(0, 2, 1), dtype=np.complex64),
            np.ascontiguousarray(self.prob.transpose(0, 2, 1), dtype=np.float32),
        )


def input_stft_config(
    sr: int, *, model_sr: int = MODEL_SR, model: StftConfig = MODEL_STFT
) -> StftConfig:
    """STFT at rate ``sr`` whose window and hop last as long as the model's.

    Returns
    -------
    StftConfig
        ``n_fft = model.n_fft * sr / model_sr`` rounded to an even number, hop likewise rounded.
    """
    scale = sr / model_sr
    n_fft = max(16, 2 * int(round(model.n_fft * scale / 2)))
    hop = min(n_fft, max(1, int(round(model.hop_length * scale))))
    return StftConfig(n_fft=n_fft, hop_length=hop, window=model.window, center=model.center)


def _interp_axis(x: FloatArray, pos: FloatArray, axis: int) -> FloatArray:
    """Linear interpolation of ``x`` at fractional indices ``pos`` along ``axis`` (edge clamped)."""
    n = x.shape[axis]
    pos = np.clip(pos, 0.0, n - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0).astype(np.float32)
    lo: FloatArray = np.take(x, i0, axis=axis)
    if np.all(w == 0):
        return lo
    shape = [1] * x.ndim
    shape[axis] = len(pos)
    w = w.reshape(shape)
    hi: FloatArray = np.take(x, i1, axis=axis)
    return lo * (1 - w) + hi * w


def map_mask(
    prob: FloatArray,
    *,
    src_sr: int,
    src_config: StftConfig,
    dst_sr: int,
    dst_config: StftConfig,
    n_frames: int,
) -> FloatArray:
    """Resample a mask from one STFT grid to another by physical frequency and time.

    Parameters
    ----------
    prob : ndarray, shape (channels, src_bins, src_frames), float
    src_sr, src_config
        Grid the mask was computed on.
    dst_sr, dst_config
        Target grid.
    n_frames
        Number of target frames.

    Returns
    -------
    ndarray, shape (channels, dst_bins, n_frames), float32
    """
    prob = np.asarray(prob, dtype=np.float32)
    if src_sr == dst_sr and src_config == dst_config and prob.shape[2] == n_frames:
        return prob
    f_pos = np.arange(dst_config.n_bins) * (dst_sr / dst_config.n_fft) / (src_sr / src_config.n_fft)
    t_pos = (
        np.arange(n_frames) * (dst_config.hop_length / dst_sr) / (src_config.hop_length / src_sr)
    )
    out = _interp_axis(prob, f_pos, axis=1)
    out = _interp_axis(out, t_pos, axis=2)
    return np.ascontiguousarray(out, dtype=np.float32)


def default_model_file(method: str) -> Path:
    """The shipped model file of ``method`` (``assets/separator/`` + its registry ``model_file``).

    Parameters
    ----------
    method
        A method of :data:`core.karaoke.methods.METHODS` that has a model file
        (``"dnn"``: ``dnn.pt``, ``"traditional"``: ``nmf.npz``).

    Returns
    -------
    Path
        An existing file.

    Raises
    ------
    InvalidConfigError
        Unknown method, or a method without a model file (the oracles).
    CheckpointError
        The file is missing (restore it from git, or train one with the command the message
        names).
    """
    spec = method_spec(method)
    if spec.model_file is None:
        raise InvalidConfigError(f"method {method!r} uses no model file")
    path = assets_dir() / "separator" / spec.model_file
    if not path.is_file():
        how = f" or make one with `{spec.train_command}`" if spec.train_command else ""
        raise CheckpointError(
            f"the shipped {spec.label} model {str(path)!r} is missing; restore it from git{how}"
        )
    return path


def _check_references(references: Any, mixture: np.ndarray) -> np.ndarray:
    ref = np.asarray(references, dtype=np.float32)
    if ref.ndim == 2 and mixture.shape[0] == 1:
        ref = ref[:, None, :]
    if ref.shape != (2,) + mixture.shape:
        raise InvalidConfigError(
            f"references must be shaped (2, channels, samples) = {(2,) + mixture.shape} "
            f"([vocals, accompaniment] like the mixture), got {ref.shape}"
        )
    return ref


def load_model(method: str, checkpoint: str | Path | Any | None) -> tuple[Any, dict[str, Any]]:
    """The model of ``"dnn"`` or ``"traditional"``: ``(model, info)``.

    ``checkpoint`` is a loaded ``KaraokeDNN`` / ``NmfModel`` (returned as it is), a model file, or
    ``None`` for the shipped one; ``info["checkpoint"]`` names the file that was read.

    Raises
    ------
    CheckpointError
        A missing, corrupt or foreign model file.
    """
    info: dict[str, Any] = {}
    if method == "dnn":
        # lazy: the DNN module imports torch (~1 s), which the other methods never need
        from core.karaoke.dnn import KaraokeDNN, load_separator

        if isinstance(checkpoint, KaraokeDNN):
            return checkpoint, info
        path = Path(checkpoint) if checkpoint is not None else default_model_file("dnn")
        info["checkpoint"] = str(path)
        return load_separator(path), info
    if isinstance(checkpoint, NmfModel):
        return checkpoint, info
    path = Path(checkpoint) if checkpoint is not None else default_model_file("traditional")
    info["checkpoint"] = str(path)
    return load_nmf(path), info


def _model_prob(
    mixture: np.ndarray, sr: int, method: str, checkpoint: Any
) -> tuple[np.ndarray, int, StftConfig, dict[str, Any]]:
    """Mask on the model's own grid: (prob (ch, bins, frames), model_sr, model_stft, info).

    The DNN runs in numpy (:func:`core.karaoke.infer.predict_prob_fast`, its checkpoint read
    without torch), so a separation or an evaluation never pays torch's import (2-3 s).
    """
    if method == "dnn":
        # lazy: the network's forward pass in numpy, only when the DNN is asked for
        from core.karaoke.infer import as_separator_weights, predict_prob_fast

        info: dict[str, Any] = {}
        if checkpoint is None or isinstance(checkpoint, str | Path):
            path = Path(checkpoint) if checkpoint is not None else default_model_file("dnn")
            info["checkpoint"] = str(path)
            checkpoint = path
        weights = as_separator_weights(checkpoint)  # a file, a loaded network, or weights
        cfg: Any = weights.config
        y = resample(mixture, orig_sr=sr, target_sr=cfg.sr)
        mag = np.abs(stft(y, cfg.stft_config))
        return predict_prob_fast(weights, mag), cfg.sr, cfg.stft_config, info
    model, info = load_model(method, checkpoint)
    cfg = model.config
    y = resample(mixture, orig_sr=sr, target_sr=cfg.sr)
    mag = np.abs(stft(y, cfg.stft_config))
    return nmf_prob(model, mag), cfg.sr, cfg.stft_config, info


def probability_mask(
    mixture: FloatArray,
    sr: int,
    *,
    method: MethodId = "dnn",
    references: FloatArray | None = None,
    checkpoint: str | Path | Any | None = None,
) -> MaskResult:
    """Probabilistic vocal mask of a mixture by one of :data:`core.karaoke.methods.METHODS`.

    Parameters
    ----------
    mixture : ndarray, shape (channels, samples), float
        The mixture (mono or stereo) at ``sr`` Hz.
    sr
        Its sample rate, Hz.
    method
        ``"dnn"`` (Deep Karaoke network), ``"traditional"`` (supervised KL-NMF ratio mask),
        ``"oracle"`` (ideal binary mask from the references, 0/1) or ``"oracle-irm"`` (ideal
        ratio mask).
    references : ndarray, shape (2, channels, samples), optional
        ``[vocals, accompaniment]`` at ``sr``; required by the oracle methods.
    checkpoint
        For ``"dnn"``: a checkpoint path or a loaded ``KaraokeDNN`` (default: the shipped
        ``assets/separator/dnn.pt``). For ``"traditional"``: an ``nmf.npz`` path or an
        ``NmfModel`` (default: the shipped ``assets/separator/nmf.npz``). Ignored by oracles.

    Returns
    -------
    MaskResult
        On the input-rate STFT grid (see the module docstring).

    Raises
    ------
    InvalidConfigError
        Unknown method, or an oracle method without (matching) references.
    InvalidAudioError
        The mixture is not valid audio.
    CheckpointError
        The checkpoint is missing, corrupt or of another kind (never silently the input).
    """
    t0 = time.perf_counter()
    spec = method_spec(method)
    mixture = np.asarray(mixture, dtype=np.float32)
    validate_audio(mixture, sr=sr, name="mixture")
    refs = None
    if spec.needs_references:
        if references is None:
            raise InvalidConfigError(
                f"method {method!r} needs the reference stems (vocals, accompaniment)"
            )
        refs = _check_references(references, mixture)
    cfg_in = input_stft_config(sr)
    S = stft(mixture, cfg_in)  # (ch, bins, frames) complex64
    info: dict[str, Any] = {}
    if refs is not None:
        V, A = np.abs(stft(refs[0], cfg_in)), np.abs(stft(refs[1], cfg_in))
        prob = ideal_binary_mask(V, A) if spec.binary else ideal_ratio_mask(V, A)
        model_sr = sr
    else:
        p_model, model_sr, model_stft, info = _model_prob(mixture, sr, method, checkpoint)
        prob = map_mask(
            p_model,
            src_sr=model_sr,
            src_config=model_stft,
            dst_sr=sr,
            dst_config=cfg_in,
            n_frames=S.shape[2],
        )
    return MaskResult(
        prob=np.clip(prob, 0.0, 1.0).astype(np.float32, copy=False),
        mixture_stft=S,
        stft_config=cfg_in,
        sr=int(sr),
        length=int(mixture.shape[1]),
        method=method,
        model_sr=int(model_sr),
        seconds=time.perf_counter() - t0,
        info=info,
    )


def mask_result_from_prob(
    mixture: FloatArray,
    sr: int,
    prob: FloatArray,
    *,
    method: str = "dnn",
    stft_config: StftConfig | None = None,
) -> MaskResult:
    """Rebuild a :class:`MaskResult` from a saved probabilistic mask (no network needed).

    Parameters
    ----------
    mixture : ndarray, shape (channels, samples)
        The same mixture the mask was computed for.
    sr
        Its sample rate.
    prob : ndarray, shape (channels or 1, bins, frames)
        The saved mask (e.g. ``prob_mask.npy`` written by ``genex separate``, which stores the
        mono downmix's mask once for a stereo file): one channel applies to every channel.
    method
        Label only.
    stft_config
        The grid of ``prob`` (default: :func:`input_stft_config` of ``sr``).

    Raises
    ------
    InvalidConfigError
        The mask does not fit the mixture's STFT.
    """
    mixture = np.asarray(mixture, dtype=np.float32)
    validate_audio(mixture, sr=sr, name="mixture")
    cfg = stft_config or input_stft_config(sr)
    S = stft(mixture, cfg)
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim == 3 and prob.shape[0] == 1 and S.shape[0] > 1 and prob.shape[1:] == S.shape[1:]:
        prob = np.ascontiguousarray(np.broadcast_to(prob, S.shape))
    if prob.shape != S.shape:
        raise InvalidConfigError(
            f"the mask has shape {prob.shape} but the mixture's STFT is {S.shape}: "
            "it was computed for another file or sample rate"
        )
    return MaskResult(
        prob=np.clip(prob, 0.0, 1.0),
        mixture_stft=S,
        stft_config=cfg,
        sr=int(sr),
        length=int(mixture.shape[1]),
        method=method,
    )


def separate_at_alpha(
    result: MaskResult,
    *,
    alpha: float = 0.5,
    rule: Rule = "paper",
    mixture: FloatArray | None = None,
) -> FloatArray:
    """Stems at threshold ``alpha``: binary (or soft) masks, mixture phase, inverse STFT.

    Parameters
    ----------
    result
        From :func:`probability_mask`.
    alpha
        Threshold in [0, 1] (ignored by ``rule="soft"``).
    rule
        ``"paper"`` (vocal ``P > alpha``, accompaniment ``P < 1 - alpha``), ``"complement"`` or
        ``"soft"``; see :func:`core.karaoke.masks.threshold_masks`.
    mixture : ndarray, shape (channels, length), float, optional
        The samples ``result`` was computed from. With them the accompaniment is the mixture
        minus the vocals, plus a correction where the two masks do not add up to one: about
        half the inverse FFTs for the complement and soft rules and the paper rule at α = 0.5
        (:func:`core.karaoke.masks.separate_frames_major`).

    Returns
    -------
    ndarray, shape (2, channels, length), float32
        ``[vocals, accompaniment]`` at the input's sample rate.

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1], an unknown ``rule``, or a ``mixture`` that is not the one
        ``result`` was computed from.
    """
    stft_t, prob_t = result.frames_major  # thresholds are elementwise: any layout will do
    # fused threshold + inverse STFT, block by block (no full-size mask or masked copy)
    return separate_frames_major(
        stft_t, prob_t, alpha=alpha, rule=rule, config=result.stft_config,
        length=result.length, mixture=mixture,
    )  # fmt: skip
