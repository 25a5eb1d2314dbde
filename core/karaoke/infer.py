"""The Deep Karaoke separator at test time without torch: its checkpoint read, its net in numpy.

``genex separate`` needs the network's forward pass only, which is a few float32 matrix products
(numpy's BLAS) around a sliding window. This module runs it without importing torch (2-4 s of
a 3-minute song's separation budget):

- :func:`read_separator_weights` reads a checkpoint written by
  :func:`core.karaoke.dnn.save_separator` directly. ``torch.save`` writes a zip holding a
  pickle (``data.pkl``) of the checkpoint dict, whose tensors are references to raw little-endian
  storages stored beside it (``data/<key>``). A restricted unpickler maps exactly the few globals
  such a pickle may name (``torch._utils._rebuild_tensor_v2``, the typed storage classes,
  ``collections.OrderedDict``) to numpy and refuses everything else, as
  ``torch.load(weights_only=True)`` does; the storages become numpy arrays. Every existing
  checkpoint is such a zip: no sidecar, no second file, the file the user passes is the model.
  A file this reader does not understand (the pre-zip torch format, a storage type it does not
  know) raises :class:`TorchFreeReadError` and :func:`load_separator_weights` falls back to
  torch (:func:`core.karaoke.dnn.load_separator`).
- :func:`predict_features_np` is :func:`core.karaoke.dnn._predict_features` in numpy, every
  branch of :class:`core.karaoke.dnn_config.DnnConfig` included (dense or factorised layers,
  ReLU or sigmoid, logit or probability averaging, Platt calibration), agreeing with it to
  float32 rounding (the tests hold the difference of the probabilities under 1e-4).
- :func:`predict_prob_fast` is the public entry: a loaded network, weights or a checkpoint
  file in, the probabilistic vocal mask out, as :func:`core.karaoke.dnn.predict_prob`.

The work per frame is the network's: the projection once per frame, the hidden layer once per
window start (one product of the unfolded window matrix, ``(windows, frames * proj)`` by
``(frames * proj, hidden)``), the output layer once per window, the overlap sum of the window
coefficients as ``frames`` shifted adds, and, when logits are averaged, the shared basis once
per frame. Products are float32 and take transposed weight views (no copies).
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.checkpoint import check_checkpoint_file, check_payload
from core.errors import CheckpointError, InvalidConfigError
from core.karaoke.dnn_config import LOG_EPS, DnnConfig, check_model_input
from core.types import FloatArray

#: ``kind`` of a separator checkpoint (``core.karaoke.dnn.KIND``).
_KIND = "separator"
#: Suffix of an int8 weight's per-row scale (``core.karaoke.dnn._SCALE``).
_INT8_SCALE = "__int8_scale"
#: ``torch.<Name>Storage`` -> numpy dtype of the raw bytes (little-endian).
_STORAGES = {
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "DoubleStorage": "<f8",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "ShortStorage": "<i2",
    "IntStorage": "<i4",
    "LongStorage": "<i8",
    "BoolStorage": "?",
}


class TorchFreeReadError(CheckpointError):
    """A checkpoint the torch-free reader does not understand (torch can still try it)."""


@dataclass(frozen=True, eq=False)
class SeparatorWeights:
    """A separator's configuration and float32 weights, for :func:`predict_features_np`.

    Attributes
    ----------
    config
        The network's configuration.
    weights
        The state dict as float32 numpy arrays, by the names of
        :class:`core.karaoke.dnn.KaraokeDNN` (``in_mean (bins,)``, ``in_std (bins,)``,
        ``calibration (2,)``, ``proj.weight (proj, bins)``, ``hidden.weight (hidden,
        frames * (proj or bins))``, ``hidden.bias``, ``out.weight (frames * (basis or bins),
        hidden)``, ``out.bias``, ``basis.weight (bins, basis)``, ``basis.bias``).
    meta
        The checkpoint's provenance (empty for an in-memory network).
    reader
        How the weights were obtained: ``"numpy"`` (the torch-free reader), ``"torch"`` (the
        fallback) or ``"model"`` (taken from a loaded network).
    """

    config: DnnConfig
    weights: Mapping[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    reader: str = "numpy"


# --------------------------------------------------------------------------- reading


class _Storage:
    """Stands for ``torch.<Name>Storage`` inside the pickle: only its dtype matters."""

    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGES[name])


def _rebuild_tensor(
    storage: np.ndarray,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_: Any,
) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2``: a strided view of a storage, copied."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    need = int(offset) + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
    if any(n == 0 for n in size):
        return np.zeros(size, dtype=storage.dtype)
    if int(offset) < 0 or need > storage.size or any(s < 0 for s in stride):
        raise TorchFreeReadError("a tensor reaches outside its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[int(offset) :], shape=size, strides=[s * storage.itemsize for s in stride]
    )
    return np.array(view)


class _Unpickler(pickle.Unpickler):
    """The unpickler of a ``torch.save`` zip that builds numpy arrays and names nothing else."""

    def __init__(self, fh: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(fh)
        self.archive = archive
        self.prefix = prefix
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _STORAGES:
            return _Storage(name)
        raise TorchFreeReadError(f"the checkpoint names {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise TorchFreeReadError("unknown persistent id in the checkpoint")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _Storage):
            raise TorchFreeReadError("a storage of an unknown type")
        key = str(key)
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            arr = np.frombuffer(raw, dtype=kind.dtype)
            if arr.size < int(numel):
                raise TorchFreeReadError(f"storage {key} is truncated")
            self.storages[key] = arr
        return self.storages[key]


def _read_payload(path: Path) -> dict[str, Any]:
    """The checkpoint dict of a ``torch.save`` zip, tensors as numpy arrays."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if len(names) != 1:
                raise TorchFreeReadError("no single data.pkl in the archive")
            prefix = names[0][: -len("data.pkl")]
            order = f"{prefix}byteorder"
            if order in archive.namelist() and archive.read(order).strip() != b"little":
                raise TorchFreeReadError("a big-endian checkpoint")
            with archive.open(names[0]) as fh:
                payload = _Unpickler(fh, archive, prefix).load()
    except TorchFreeReadError:
        raise
    except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError, EOFError, ValueError,
            TypeError, AttributeError, IndexError, OSError) as exc:  # fmt: skip
        raise TorchFreeReadError(f"not readable without torch ({type(exc).__name__})") from exc
    if not isinstance(payload, dict):
        raise TorchFreeReadError("the checkpoint is not a dict")
    return payload


def _expected_shapes(cfg: DnnConfig) -> dict[str, tuple[int, ...]]:
    """The state dict of :class:`core.karaoke.dnn.KaraokeDNN` for ``cfg``: name -> shape."""
    f, k = cfg.frames, cfg.n_bins
    k_in, k_out = cfg.proj or k, cfg.basis or k
    shapes: dict[str, tuple[int, ...]] = {"in_mean": (k,), "in_std": (k,), "calibration": (2,)}
    if cfg.proj:
        shapes["proj.weight"] = (cfg.proj, k)
    shapes.update({
        "hidden.weight": (cfg.hidden, f * k_in), "hidden.bias": (cfg.hidden,),
        "out.weight": (f * k_out, cfg.hidden), "out.bias": (f * k_out,),
    })  # fmt: skip
    if cfg.basis:
        shapes.update({"basis.weight": (k, cfg.basis), "basis.bias": (k,)})
    return shapes


def _checked_weights(
    path: str | Path, cfg: DnnConfig, state: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``state`` as float32 arrays, checked against the shapes ``cfg`` implies."""
    shapes = _expected_shapes(cfg)
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not match the model it claims to be: missing "
            f"{missing or 'nothing'}, unexpected {unexpected or 'nothing'}"
        )
    out = {}
    for name, shape in shapes.items():
        arr = np.ascontiguousarray(state[name], dtype=np.float32)
        if arr.shape != shape:
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not match the model it claims to be: {name} "
                f"has shape {arr.shape}, the config implies {shape}"
            )
        out[name] = arr
    return out


def read_separator_weights(path: str | Path) -> SeparatorWeights:
    """Read a separator checkpoint without torch.

    The checks are :func:`core.karaoke.dnn.load_separator`'s (kind, format version, config,
    weight names and shapes); fp16 and int8 weights are widened to float32 by the same
    arithmetic, so the weights equal the torch loader's bit for bit.

    Returns
    -------
    SeparatorWeights
        ``reader == "numpy"``.

    Raises
    ------
    CheckpointError
        Missing or empty file, another kind of model, a newer format, an invalid config or
        weights that do not fit it.
    TorchFreeReadError
        A file this reader cannot parse (corrupt, or a format only torch reads): try
        :func:`load_separator_weights`, which falls back to torch.
    """
    path = check_checkpoint_file(path)
    payload = check_payload(_read_payload(path), path, kind=_KIND)
    try:
        config = DnnConfig.from_dict(dict(payload["config"]["dnn"]))
    except (KeyError, TypeError, InvalidConfigError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} has an invalid separator config") from exc
    raw = payload["state_dict"]
    if not isinstance(raw, Mapping) or not all(isinstance(v, np.ndarray) for v in raw.values()):
        raise TorchFreeReadError("the state dict holds something other than tensors")
    state: dict[str, np.ndarray] = {}
    for k, v in raw.items():
        if k.endswith(_INT8_SCALE):
            continue
        if k + _INT8_SCALE in raw:  # as load_separator: int8 rows times their float32 scale
            flat = v.reshape(v.shape[0], -1).astype(np.float32) * raw[k + _INT8_SCALE]
            state[k] = flat.astype(np.float32, copy=False).reshape(v.shape)
        else:
            state[k] = v.astype(np.float32)
    weights = _checked_weights(path, config, state)
    return SeparatorWeights(config, weights, dict(payload.get("meta") or {}), "numpy")


def weights_of_model(model: Any) -> SeparatorWeights:
    """The float32 weights of a loaded :class:`core.karaoke.dnn.KaraokeDNN` (no copy of torch).

    Raises
    ------
    InvalidConfigError
        ``model`` is not a separator network.
    """
    cfg = getattr(model, "config", None)
    if not isinstance(cfg, DnnConfig) or not hasattr(model, "state_dict"):
        raise InvalidConfigError(
            "expected a KaraokeDNN, SeparatorWeights or checkpoint path, got "
            f"{type(model).__name__}"
        )
    state = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    weights = _checked_weights("<in-memory network>", cfg, state)
    return SeparatorWeights(cfg, weights, dict(getattr(model, "meta", {}) or {}), "model")


def load_separator_weights(path: str | Path) -> SeparatorWeights:
    """A separator checkpoint's weights: torch-free when possible, else through torch.

    Parameters
    ----------
    path
        The checkpoint file (the shipped one is
        ``core.karaoke.separate.default_model_file("dnn")``).

    Returns
    -------
    SeparatorWeights
        ``reader`` says which loader read it.

    Raises
    ------
    CheckpointError
        Missing, corrupt, another kind of model, or weights that do not fit the config.
    """
    try:
        return read_separator_weights(path)
    except TorchFreeReadError:
        # lazy: torch (~2 s), only for files the torch-free reader does not understand
        from core.karaoke.dnn import load_separator

        weights = weights_of_model(load_separator(path))
        return SeparatorWeights(weights.config, weights.weights, weights.meta, "torch")


def as_separator_weights(model: Any) -> SeparatorWeights:
    """``model`` (weights, a loaded network or a checkpoint path) as weights."""
    if isinstance(model, SeparatorWeights):
        return model
    if isinstance(model, str | Path):
        return load_separator_weights(model)
    return weights_of_model(model)


# --------------------------------------------------------------------------- the network


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in place, float32 (``exp`` overflow to inf gives exactly 0)."""
    with np.errstate(over="ignore"):
        np.negative(x, out=x)
        np.exp(x, out=x)
    x += 1.0
    np.reciprocal(x, out=x)
    return x


class WindowPass:
    """One channel's sliding-window pass of the network, in pieces that may run in threads.

    ``outputs(s, e)`` (the hidden and output layers of window starts ``[s, e)``: the bulk of
    the arithmetic) reads only what the constructor computed, so chunks of windows can be
    computed concurrently (numpy's BLAS releases the GIL); :meth:`add` and :meth:`finish`
    then combine them in one thread. :func:`predict_features_np` runs the pieces in order.

    Parameters
    ----------
    weights
        The network.
    feats : ndarray, shape (frames, bins), float32
        Log magnitudes (:func:`core.karaoke.dnn.log_features`), frames-major (any strides).
    calibrate
        Apply the stored calibration in :meth:`finish`.
    """

    def __init__(self, weights: SeparatorWeights, feats: FloatArray, *, calibrate: bool = True):
        cfg, w = weights.config, weights.weights
        self.config, self.w = cfg, w
        f = cfg.frames
        self.n_frames, bins = feats.shape
        self.padded = max(self.n_frames, f)
        self.n_windows = self.padded - f + 1
        self.calibration = (
            (float(w["calibration"][0]), float(w["calibration"][1])) if calibrate else (1.0, 0.0)
        )
        self.calibrate = calibrate
        x = np.full((self.padded, bins), np.log(LOG_EPS), dtype=np.float32)
        x[: self.n_frames] = feats
        x -= w["in_mean"]
        x /= w["in_std"]  # (padded, bins), standardised
        z = x @ w["proj.weight"].T if cfg.proj else x  # (padded, k_in): once per frame
        self.k_in = z.shape[1]
        # (windows, frames * k_in): row w is frames w .. w + f - 1, frame-major as in torch
        self.windows = np.lib.stride_tricks.sliding_window_view(z, (f, self.k_in))[:, 0]
        self.k_out = (cfg.basis or bins) if cfg.average == "logit" else bins

    def outputs(self, s: int, e: int) -> np.ndarray:
        """Window outputs of window starts ``[s, e)``, ``(e - s, frames, k)`` float32.

        ``k`` is ``basis`` (or ``bins``) coefficients when logits are averaged, else the
        ``bins`` window probabilities.
        """
        cfg, w = self.config, self.w
        win = self.windows[s:e].reshape(e - s, -1)  # (windows, frames * k_in)
        h = win @ w["hidden.weight"].T  # (windows, hidden)
        h += w["hidden.bias"]
        if cfg.activation == "sigmoid":
            _sigmoid(h)
        else:
            np.maximum(h, 0.0, out=h)
        o = h @ w["out.weight"].T  # (windows, frames * (basis or bins))
        o += w["out.bias"]
        o3: np.ndarray = o.reshape(e - s, cfg.frames, -1)
        if cfg.average != "logit":  # average the window masks (the paper)
            if cfg.basis:
                o3 = o3 @ w["basis.weight"].T
                o3 += w["basis.bias"]
            _sigmoid(o3)
        # logit: average the coefficients; the basis is linear, so this is exact
        return o3

    def new_total(self) -> np.ndarray:
        """Zeros ``(padded frames, k)`` for :meth:`add`."""
        return np.zeros((self.padded, self.k_out), dtype=np.float32)

    def add(self, total: np.ndarray, s: int, outputs: np.ndarray) -> None:
        """Add the outputs of window starts ``s, s + 1, ...`` to the frames they cover."""
        e = s + len(outputs)
        for j in range(self.config.frames):  # window w adds its j-th frame to frame w + j
            total[s + j : e + j] += outputs[:, j]

    def finish(self, total: np.ndarray) -> np.ndarray:
        """The probability ``(frames, bins)`` float32 from the summed outputs of every window."""
        cfg, w = self.config, self.w
        f, n_win = cfg.frames, self.n_windows
        # how many windows cover each frame: those starting in [t - f + 1, t] that exist
        t = np.arange(self.padded)
        count = (np.minimum(t, n_win - 1) - np.maximum(t - f + 1, 0) + 1).astype(np.float32)
        mean = total / count[:, None]
        a, b = self.calibration
        if cfg.average == "logit":
            if cfg.basis:
                mean = mean @ w["basis.weight"].T
                mean += w["basis.bias"]
            mean *= np.float32(a)
            mean += np.float32(b)
            prob = _sigmoid(mean)
        elif self.calibrate:
            p = np.clip(mean, 1e-6, 1 - 1e-6)
            logit = np.log(p / (1 - p))
            logit *= np.float32(a)
            logit += np.float32(b)
            prob = _sigmoid(logit)
        else:
            prob = mean
        out: np.ndarray = prob[: self.n_frames]
        return out


def predict_features_np(
    weights: SeparatorWeights,
    feats: FloatArray,
    *,
    chunk: int = 2048,
    calibrate: bool = True,
) -> FloatArray:
    """Averaged (and calibrated) window predictions of log features, in numpy.

    :func:`core.karaoke.dnn._predict_features` without torch: every window of ``frames``
    consecutive frames is predicted (sliding one frame), each frame's window outputs are
    averaged (logits or probabilities, as ``config.average`` says) and the Platt calibration
    is applied.

    Parameters
    ----------
    weights
        The network (:func:`load_separator_weights`).
    feats : ndarray, shape (channels, bins, frames), float32
        Log magnitudes (:func:`core.karaoke.dnn.log_features`) at the model's STFT.
    chunk
        Window starts per matrix product (memory: about ``chunk * frames * (proj + basis) * 4``
        bytes, besides the hidden layer's ``chunk * hidden * 4``).
    calibrate
        Apply the stored calibration.

    Returns
    -------
    ndarray, shape (channels, bins, frames), float32 in [0, 1]
    """
    ch, bins, n_frames = feats.shape
    out = np.empty((ch, bins, n_frames), dtype=np.float32)
    for c in range(ch):
        run = WindowPass(weights, feats[c].T, calibrate=calibrate)
        total = run.new_total()
        for s in range(0, run.n_windows, chunk):
            run.add(total, s, run.outputs(s, min(s + chunk, run.n_windows)))
        out[c] = run.finish(total).T
    return out


def predict_prob_fast(model: Any, mag: FloatArray, *, chunk: int = 2048) -> FloatArray:
    """Probabilistic vocal mask by the sliding window, without torch when possible.

    :func:`core.karaoke.dnn.predict_prob` in numpy (equal to float32 rounding): every window
    of ``frames`` frames is predicted, each frame's predictions are averaged, then the
    model's calibration is applied.

    Parameters
    ----------
    model
        A :class:`SeparatorWeights`, a loaded :class:`core.karaoke.dnn.KaraokeDNN` or a
        checkpoint path. Loading a path each call costs about 30 ms;
        pass weights from :func:`load_separator_weights` when calling repeatedly.
    mag : ndarray, shape (channels, bins, frames), float
        Mixture magnitudes at the model's STFT (``bins == config.n_bins``).
    chunk
        Window starts per matrix product.

    Returns
    -------
    ndarray, shape (channels, bins, frames), float32 in [0, 1]

    Raises
    ------
    InvalidConfigError
        ``mag`` has the wrong number of bins or dimensions, or ``chunk < 1``.
    CheckpointError
        A path that is not a readable separator checkpoint.
    """
    weights = as_separator_weights(model)
    cfg = weights.config
    mag = check_model_input(mag, cfg, chunk=chunk)
    feats = np.log(mag + np.float32(LOG_EPS))  # as core.karaoke.dnn.log_features
    return predict_features_np(weights, feats, chunk=int(chunk))
