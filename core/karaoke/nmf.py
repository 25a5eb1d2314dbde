"""Deep Karaoke's "traditional" comparison: supervised NMF with the KL divergence.

As in the paper, a set of bases is learned per source (vocals, accompaniment) on the same
20-frame context-window stacks the DNN sees: each training example is the unpacked vector of 20
consecutive magnitude frames (``20 x 513 = 10,260`` values here) of one *source*. At test time
the bases of both sources are fixed, the activations of each mixture window are fitted, the
vocal part ``W_v H_v`` and the accompaniment part ``W_a H_a`` give a ratio mask per window,
and the windows go through the same overlap averaging (:func:`core.karaoke.masks.overlap_average`)
and α thresholds as the DNN's.

Implementation: both steps use scikit-learn, no hand-written updates.

- learning: ``sklearn.decomposition.NMF(beta_loss="kullback-leibler", solver="mu",
  init="nndsvda")`` on ``(n_windows, 10260)`` per source; ``components_`` are the bases;
- test time: ``sklearn.decomposition.non_negative_factorization(X, H=bases, update_H=False,
  solver="mu", beta_loss="kullback-leibler")``, which keeps the ``(2K, 10260)`` dictionary
  fixed and fits only the ``(n_windows, 2K)`` activations (sklearn's ``W``) -- sklearn's own
  ``X ~ W H`` convention with samples as rows, so no transposition is needed.

Differences from the paper: ``n_components`` bases per source (default 64, the paper 1,500) so
fitting takes a minute and the shipped file stays under 1 MB; 22.05 kHz / n_fft 1024 / hop 256
(the paper 44.1 kHz / 2048 / 512); test windows every ``test_step`` frames (default 10, so each
frame is still covered by 2 windows) and 50 multiplicative updates, instead of every frame,
because fitting activations for every window of a song costs ``frames/test_step`` times more
(about 3 s per 15 s of mono audio on one busy core; step 4 / 100 iterations took twice as long
for no better SDR on a test track); bases are stored as 8-bit codes
of their log value (0.3 dB steps over an 80 dB range) in a compressed ``.npz``.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CheckpointError, DatasetError, InvalidConfigError
from core.io_utils import atomic_write_bytes
from core.karaoke.masks import context_windows, overlap_average
from core.karaoke.tracks import load_track, split_tracks, training_parts
from core.signal.audio import resample
from core.signal.stft import FeatureGrid, stft
from core.types import FloatArray, Progress, ProgressEvent

KIND = "nmf"
FORMAT_VERSION = 1
#: Dynamic range kept when storing bases (values below ``max * 10**(-RANGE_DB/20)`` become 0).
RANGE_DB = 80.0
_EPS = 1e-9

@dataclass(frozen=True)
class NmfConfig(FeatureGrid):
    """Supervised NMF baseline settings.

    Attributes
    ----------
    sr, n_fft, hop_length, frames
        Features, as the DNN's (:class:`core.karaoke.dnn.DnnConfig`).
    n_components
        Bases per source (the paper: 1,500).
    train_step
        Hop between training window starts in frames.
    max_windows
        At most this many training windows per source (chosen at random, seeded).
    max_iter
        Multiplicative-update iterations when learning the bases.
    test_step, test_max_iter
        Window hop and iterations when fitting the activations of a mixture.
    seed
        Seeds the window choice and sklearn's initialisation.
    """

    sr: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    frames: int = 20
    n_components: int = 64
    train_step: int = 10
    max_windows: int = 2000
    max_iter: int = 200
    test_step: int = 10
    test_max_iter: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("frames", "n_components", "train_step", "max_windows", "max_iter",
                     "test_step", "test_max_iter"):
            if int(getattr(self, name)) < 1:
                raise InvalidConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.test_step > self.frames:
            raise InvalidConfigError(
                f"test_step ({self.test_step}) must not exceed frames ({self.frames}), "
                "or some frames would be covered by no window"
            )
        _ = self.stft_config  # validates n_fft / hop_length

    def to_dict(self) -> dict[str, Any]:
        """Primitive fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NmfConfig:
        """Rebuild from :meth:`to_dict`, ignoring unknown keys."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class NmfModel:
    """Learned bases of both sources.

    Attributes
    ----------
    config
        The settings it was learned with.
    bases : ndarray, shape (2, n_components, frames * bins), float32, non-negative
        ``[vocals, accompaniment]`` dictionaries; each row is an unpacked 20-frame window
        (frame-major, as :func:`core.karaoke.masks.context_windows` ``.reshape(n, -1)``).
    meta
        Provenance (corpus, seed, command, summary).
    """

    config: NmfConfig
    bases: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def _source_windows(
    examples: Sequence[Any], config: NmfConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Unpacked windows ``(n, frames*bins)`` of vocal and accompaniment magnitudes (mono)."""
    cfg = config.stft_config
    voc: list[FloatArray] = []  # per track, (n, frames*bins)
    acc: list[FloatArray] = []
    for ex in examples:
        _mix, refs, sr, _name = training_parts(ex, purpose="learn bases")
        mono = resample(refs.mean(axis=1).astype(np.float32), orig_sr=sr, target_sr=config.sr)
        mag = np.abs(stft(mono, cfg))  # (2, bins, frames)
        if mag.shape[2] < config.frames:
            continue
        for j, out in enumerate((voc, acc)):
            w = context_windows(mag[j], frames=config.frames, step=config.train_step)
            flat = w.reshape(w.shape[0], -1)
            # silent windows (a vocal rest) teach the dictionary nothing
            energy = flat.sum(axis=1)
            out.append(flat[energy > 1e-3 * max(float(energy.max()), _EPS)])
    if not voc:
        raise DatasetError("no training track long enough for one NMF context window")
    return np.concatenate(voc), np.concatenate(acc)


def fit_nmf(
    config: NmfConfig,
    *,
    data: str | Path | Sequence[Any],
    progress: Progress | None = None,
) -> NmfModel:
    """Learn the vocal and accompaniment bases with scikit-learn's KL NMF.

    Parameters
    ----------
    config
        Settings.
    data
        A corpus root (its ``train`` split is used) or a list of ``Track`` objects /
        ``(mixture, references, sr)`` tuples.
    progress
        Called with ``ProgressEvent("source", j, 2, message=...)`` before each source and
        ``ProgressEvent("source", 2, 2)`` at the end.

    Returns
    -------
    NmfModel

    Raises
    ------
    DatasetError
        No usable training track.
    """
    # lazy: importing scikit-learn takes a second or more, which loading bases never needs
    from sklearn.decomposition import NMF

    t0 = time.perf_counter()
    meta: dict[str, Any] = {}
    if isinstance(data, str | Path):
        root = Path(data)
        paths = split_tracks(root, "train")
        if not paths:
            raise DatasetError(f"corpus {str(root)!r} has no 'train' tracks")
        data = [load_track(p) for p in paths]
        meta["corpus"] = {"root": str(root), "train_tracks": len(paths)}
    rng = np.random.default_rng(config.seed)
    windows = _source_windows(data, config)
    bases = []
    for j, (name, X) in enumerate(zip(("vocals", "accompaniment"), windows, strict=True)):
        if len(X) > config.max_windows:
            X = X[np.sort(rng.choice(len(X), config.max_windows, replace=False))]
        if progress is not None:
            progress(ProgressEvent("source", j, 2, message=f"{name}: {len(X)} windows"))
        nmf = NMF(
            n_components=config.n_components,
            beta_loss="kullback-leibler",
            solver="mu",
            init="nndsvda",
            max_iter=config.max_iter,
            random_state=config.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter is expected
            nmf.fit(X.astype(np.float32))
        H = nmf.components_.astype(np.float32)  # (K, frames*bins)
        H /= np.maximum(H.sum(axis=1, keepdims=True), _EPS)  # unit-sum bases; W absorbs scale
        bases.append(H)
        meta[f"{name}_windows"] = int(len(X))
        meta[f"{name}_reconstruction_err"] = float(nmf.reconstruction_err_)
    if progress is not None:
        progress(ProgressEvent("source", 2, 2, message="done"))
    meta["fit_seconds"] = time.perf_counter() - t0
    meta["seed"] = config.seed
    return NmfModel(config=config, bases=np.stack(bases), meta=meta)


# --------------------------------------------------------------------------- files


def save_nmf(path: str | Path, model: NmfModel, *, meta: dict[str, Any] | None = None) -> Path:
    """Save the bases as a compressed ``.npz`` (8-bit log codes), written atomically.

    Returns
    -------
    Path
    """
    b = np.asarray(model.bases, dtype=np.float64)
    peak = np.maximum(b.max(axis=2, keepdims=True), _EPS)  # (2, K, 1) per-basis peak
    floor = 10.0 ** (-RANGE_DB / 20.0)
    rel = np.log10(np.maximum(b / peak, floor)) * 20.0  # dB re. peak, in [-RANGE_DB, 0]
    codes = np.round((rel + RANGE_DB) / RANGE_DB * 255.0).astype(np.uint8)
    header = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "config": model.config.to_dict(),
        "meta": {**model.meta, **(meta or {})},
    }
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        codes=codes,
        peak=peak.astype(np.float32),
        header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
    )
    return atomic_write_bytes(path, buf.getvalue())


def load_nmf(path: str | Path) -> NmfModel:
    """Load bases written by :func:`save_nmf`.

    Raises
    ------
    CheckpointError
        Missing, corrupt, not an NMF baseline file, or inconsistent shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"NMF bases {str(path)!r} do not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            codes, peak = z["codes"], z["peak"]
            header = json.loads(bytes(z["header"]).decode())
    except Exception as exc:  # zipfile/ValueError/KeyError/JSON errors for corrupt files
        raise CheckpointError(
            f"{str(path)!r} is corrupt or not an NMF baseline file ({type(exc).__name__})"
        ) from exc
    if header.get("kind") != KIND:
        raise CheckpointError(f"{str(path)!r} holds {header.get('kind')!r}, expected {KIND!r}")
    if int(header.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{str(path)!r} has a newer format; upgrade the package")
    try:
        config = NmfConfig.from_dict(header["config"])
    except (KeyError, TypeError, InvalidConfigError) as exc:
        raise CheckpointError(f"{str(path)!r} has an invalid NMF config") from exc
    expected = (2, config.n_components, config.frames * config.n_bins)
    if codes.shape != expected or peak.shape != (2, config.n_components, 1):
        raise CheckpointError(f"{str(path)!r} holds bases {codes.shape}, expected {expected}")
    rel = codes.astype(np.float32) / 255.0 * RANGE_DB - RANGE_DB
    bases = peak * 10.0 ** (rel / 20.0)
    bases[codes == 0] = 0.0
    return NmfModel(config=config, bases=bases.astype(np.float32), meta=header.get("meta", {}))


# --------------------------------------------------------------------------- inference


def nmf_prob(
    model: NmfModel,
    mag: FloatArray,
    *,
    chunk: int = 256,
    step: int | None = None,
    max_iter: int | None = None,
) -> FloatArray:
    """Probabilistic vocal mask of a mixture from the fixed NMF bases.

    For each context window (every ``config.test_step`` frames), fit the activations with the
    bases fixed, form the ratio mask ``V_v / (V_v + V_a)`` of the window, then average every
    window covering a frame (:func:`core.karaoke.masks.overlap_average`).

    Parameters
    ----------
    model
        Learned bases.
    mag : ndarray, shape (channels, bins, frames), non-negative
        Mixture magnitudes at the model's STFT.
    chunk
        Windows per call to sklearn (activations are independent per window, so chunking is
        exact and bounds memory).
    step, max_iter
        Override ``config.test_step`` / ``config.test_max_iter``.

    Returns
    -------
    ndarray, shape (channels, bins, frames), float32 in [0, 1]

    Raises
    ------
    InvalidConfigError
        ``mag`` has the wrong shape.
    """
    from sklearn.decomposition import non_negative_factorization  # lazy, as in fit_nmf

    cfg = model.config
    mag = np.asarray(mag, dtype=np.float32)
    if mag.ndim != 3 or mag.shape[1] != cfg.n_bins:
        raise InvalidConfigError(
            f"mag must be (channels, {cfg.n_bins}, frames) for these bases, got {mag.shape}"
        )
    ch, bins, n_frames = mag.shape
    f = cfg.frames
    step = int(step or cfg.test_step)
    max_iter = int(max_iter or cfg.test_max_iter)
    if not 1 <= step <= f:
        raise InvalidConfigError(f"step must be in [1, {f}], got {step}")
    k = cfg.n_components
    H = np.ascontiguousarray(model.bases.reshape(2 * k, -1), dtype=np.float32)
    out = np.empty_like(mag)
    for c in range(ch):
        # pad so the last frame is covered by a window starting on the step grid
        n_win = max(1, -(-(max(n_frames, f) - f) // step) + 1)
        padded = np.zeros((bins, (n_win - 1) * step + f), dtype=np.float32)
        padded[:, :n_frames] = mag[c]
        win = context_windows(padded, frames=f, step=step)  # (n_win, frames, bins)
        preds = np.empty(win.shape, dtype=np.float32)
        for s in range(0, n_win, chunk):
            X = np.ascontiguousarray(win[s : s + chunk]).reshape(-1, f * bins)
            X = X + np.float32(_EPS)  # all-zero windows (padding, digital silence)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                W, _, _ = non_negative_factorization(
                    X,
                    H=H,
                    n_components=2 * k,
                    update_H=False,
                    solver="mu",
                    beta_loss="kullback-leibler",
                    max_iter=max_iter,
                    tol=1e-4,
                )
            W = W.astype(np.float32)
            v = W[:, :k] @ H[:k]  # (n, frames*bins) vocal model
            a = W[:, k:] @ H[k:]
            ratio = v / np.maximum(v + a, np.float32(_EPS))
            preds[s : s + len(X)] = ratio.reshape(len(X), f, bins)
        out[c] = overlap_average(preds, n_frames=padded.shape[1], step=step)[:, :n_frames]
    return np.clip(out, 0.0, 1.0)
