"""Calibration of a probabilistic mask: reliability, expected calibration error, Platt scaling.

Numpy only (no torch), so the Mask explorer can draw a reliability diagram for any method's
probabilistic mask against the ideal binary mask of known stems.

A *reliability diagram* bins the predicted probabilities P into ``bins`` equal-width bins of
[0, 1] and plots, per bin, the mean predicted P against the observed frequency of the event
(here: "the vocal dominates this time-frequency bin", i.e. the ideal binary mask is 1). A
calibrated mask lies on the diagonal. The *expected calibration error* (ECE) is the mean of the
per-bin gaps ``|observed - mean predicted|``, weighted by each bin's share of the samples.
:func:`reliability_curve` computes both; :func:`expected_calibration_error` (the number stored
in a separator checkpoint at training) is read off it, so the two always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import InvalidConfigError
from core.karaoke.masks import ideal_binary_mask
from core.signal.stft import StftConfig, stft
from core.types import BoolArray, FloatArray

_P_EPS = 1e-6
#: Equal-width bins of the ECE reported at training (:func:`core.karaoke.dnn.calibrate`).
DEFAULT_BINS = 15
#: Time-frequency bins quieter than this, relative to the loudest bin of the stems, count as
#: silent in :func:`stem_reliability`: vocal dominance is undefined there.
SILENCE_DB = -80.0


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin data of a reliability diagram and the expected calibration error.

    Bin ``k`` holds the probabilities in ``[edges[k], edges[k + 1])`` (the last bin also holds
    ``P = 1``).

    Attributes
    ----------
    edges : ndarray, shape (bins + 1,), float64
        Bin edges, ``0, 1/bins, ..., 1``.
    mean_pred : ndarray, shape (bins,), float64
        Mean predicted probability in each bin (NaN where the bin is empty).
    observed : ndarray, shape (bins,), float64
        Observed frequency of the event (mean target) in each bin (NaN where empty).
    count : ndarray, shape (bins,), int64
        Number of samples in each bin (``count.sum()`` is the number of samples used).
    weight : ndarray, shape (bins,), float64
        Total weight of each bin: equal to ``count`` when unweighted.
    ece
        Expected calibration error, ``sum(weight * |observed - mean_pred|) / sum(weight)`` over
        the non-empty bins, in [0, 1]; NaN when no sample was used.
    weighted
        Whether the samples were weighted (e.g. by magnitude).
    """

    edges: FloatArray
    mean_pred: FloatArray
    observed: FloatArray
    count: np.ndarray
    weight: FloatArray
    ece: float
    weighted: bool = False

    @property
    def bins(self) -> int:
        """Number of bins."""
        return int(self.count.size)

    @property
    def n(self) -> int:
        """Number of samples used (after the ``valid`` mask)."""
        return int(self.count.sum())

    @property
    def centers(self) -> FloatArray:
        """Bin centres, shape (bins,), float64."""
        centers: FloatArray = 0.5 * (self.edges[:-1] + self.edges[1:])
        return centers


def _finite_in_unit(x: np.ndarray, name: str) -> None:
    if x.size and not np.isfinite(x).all():
        raise InvalidConfigError(f"{name} holds NaN or inf values ({int((~np.isfinite(x)).sum())})")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise InvalidConfigError(
            f"{name} must lie in [0, 1], got values in [{x.min():.4g}, {x.max():.4g}]"
        )


def _same_shape(x: np.ndarray, shape: tuple[int, ...], name: str) -> None:
    if x.shape != shape:
        raise InvalidConfigError(f"{name} has shape {x.shape} but prob has shape {shape}")


def reliability_curve(
    prob: FloatArray,
    target: FloatArray,
    *,
    bins: int = DEFAULT_BINS,
    weights: FloatArray | None = None,
    valid: BoolArray | None = None,
) -> ReliabilityCurve:
    """Reliability diagram of probabilities against outcomes, with its ECE.

    Parameters
    ----------
    prob : ndarray, any shape, float in [0, 1]
        Predicted probabilities (e.g. a probabilistic vocal mask, ``(channels, bins, frames)``).
    target : ndarray, same shape, float in [0, 1]
        Outcomes: usually 0/1 (e.g. the ideal binary mask, 1 where the vocal dominates); a soft
        target makes ``observed`` its mean per bin.
    bins
        Number of equal-width probability bins (>= 1). The default, 15, is the ECE stored in a
        separator checkpoint at training.
    weights : ndarray, same shape, float >= 0, optional
        Per-sample weights (e.g. the mixture magnitude, so loud bins count more). Default: every
        sample counts once, as in the ECE reported at training.
    valid : ndarray of bool, same shape, optional
        Samples to use (e.g. not silent); default all.

    Returns
    -------
    ReliabilityCurve
        Per-bin mean prediction, observed frequency, counts and weights, and the ECE (NaN when
        no sample is used).

    Raises
    ------
    InvalidConfigError
        ``bins`` not an integer >= 1; ``target``, ``weights`` or ``valid`` shaped unlike
        ``prob``; NaN/inf or values outside [0, 1] in ``prob`` or ``target``; negative or
        non-finite weights.
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise InvalidConfigError(f"bins must be an integer >= 1, got {bins!r}")
    bins = int(bins)
    p = np.asarray(prob, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    _same_shape(t, p.shape, "target")
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        _same_shape(w, p.shape, "weights")
        if w.size and (not np.isfinite(w).all() or w.min() < 0.0):
            raise InvalidConfigError("weights must be finite and >= 0")
    keep = None
    if valid is not None:
        keep = np.asarray(valid)
        _same_shape(keep, p.shape, "valid")
        if keep.dtype != np.bool_:
            raise InvalidConfigError(f"valid must be a boolean mask, got dtype {keep.dtype}")
    _finite_in_unit(p, "prob")
    _finite_in_unit(t, "target")
    if keep is not None:  # boolean indexing flattens
        p, t = p[keep], t[keep]
        w = None if w is None else w[keep]
    p, t = p.ravel(), t.ravel()
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)  # bin k: [k/bins, (k+1)/bins)
    count = np.bincount(idx, minlength=bins).astype(np.int64)
    if w is None:
        weight = count.astype(np.float64)
        sum_p = np.bincount(idx, weights=p, minlength=bins)
        sum_t = np.bincount(idx, weights=t, minlength=bins)
    else:
        w = w.ravel()
        weight = np.bincount(idx, weights=w, minlength=bins).astype(np.float64)
        sum_p = np.bincount(idx, weights=w * p, minlength=bins)
        sum_t = np.bincount(idx, weights=w * t, minlength=bins)
    ok = weight > 0
    mean_pred = np.full(bins, np.nan)
    observed = np.full(bins, np.nan)
    mean_pred[ok] = sum_p[ok] / weight[ok]
    observed[ok] = sum_t[ok] / weight[ok]
    total = float(weight.sum())
    gap = np.abs(observed[ok] - mean_pred[ok])
    ece = float(np.sum(weight[ok] * gap) / total) if total > 0 else float("nan")
    return ReliabilityCurve(
        edges=np.linspace(0.0, 1.0, bins + 1),
        mean_pred=mean_pred,
        observed=observed,
        count=count,
        weight=weight,
        ece=ece,
        weighted=w is not None,
    )


def expected_calibration_error(
    prob: FloatArray,
    target: FloatArray,
    *,
    bins: int = DEFAULT_BINS,
    weights: FloatArray | None = None,
    valid: BoolArray | None = None,
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    """ECE of probabilities against 0/1 outcomes, with the reliability diagram's data.

    The fields of :func:`reliability_curve` (which computes them) as a tuple.

    Returns
    -------
    ece : float
        Mean over equal-width bins of ``|observed frequency - mean predicted|``, weighted by
        the bin's share of samples (NaN when there are none).
    mean_pred, observed, count : ndarray, shape (bins,), float64
        Per bin: mean predicted probability, observed frequency of 1s (NaN where a bin is
        empty), number of samples.

    Raises
    ------
    InvalidConfigError
        As :func:`reliability_curve`.
    """
    curve = reliability_curve(prob, target, bins=bins, weights=weights, valid=valid)
    return curve.ece, curve.mean_pred, curve.observed, curve.count.astype(np.float64)


def stem_reliability(
    prob: FloatArray,
    references: FloatArray,
    *,
    stft_config: StftConfig,
    bins: int = DEFAULT_BINS,
    weights: FloatArray | None = None,
    silence_db: float = SILENCE_DB,
) -> ReliabilityCurve:
    """Reliability of a probabilistic vocal mask against the ideal binary mask of known stems.

    The target is :func:`core.karaoke.masks.ideal_binary_mask` of ``|STFT|`` of the two stems
    on the mask's own grid (``stft_config`` at the stems' rate, e.g.
    ``MaskResult.stft_config``). Silent bins are left out: where both stems are quieter than
    ``silence_db`` below the loudest bin of ``|V| + |A|`` neither source dominates, and the
    ideal mask's 0 there says nothing about the model (keeping them would pile easy zeros into
    the first bin and shrink the ECE).

    Parameters
    ----------
    prob : ndarray, shape (channels, bins, frames), float in [0, 1]
        The probabilistic vocal mask (``MaskResult.prob``).
    references : ndarray, shape (2, channels, samples), float
        ``[vocals, accompaniment]`` of the same track, at the rate ``stft_config`` is for.
    stft_config
        The grid of ``prob``.
    bins
        Number of equal-width probability bins (>= 1).
    weights : ndarray, shape as ``prob``, float >= 0, optional
        Per-bin weights, e.g. ``np.abs(MaskResult.mixture_stft)`` to weight by magnitude.
        Default: unweighted, as the ECE reported at training.
    silence_db
        Silence threshold in dB relative to the loudest bin (<= 0).

    Returns
    -------
    ReliabilityCurve
        ECE NaN when every bin is silent.

    Raises
    ------
    InvalidConfigError
        ``references`` not shaped ``(2, channels, samples)`` or their STFT not shaped like
        ``prob``; ``silence_db`` > 0 or not finite; as :func:`reliability_curve`.
    """
    refs = np.asarray(references, dtype=np.float32)
    p = np.asarray(prob)
    if refs.ndim != 3 or refs.shape[0] != 2:
        raise InvalidConfigError(
            f"references must be shaped (2, channels, samples) [vocals, accompaniment], "
            f"got {refs.shape}"
        )
    if not np.isfinite(silence_db) or silence_db > 0:
        raise InvalidConfigError(f"silence_db must be a finite number <= 0, got {silence_db!r}")
    vocals, accomp = np.abs(stft(refs[0], stft_config)), np.abs(stft(refs[1], stft_config))
    if vocals.shape != p.shape:
        raise InvalidConfigError(
            f"the stems' STFT has shape {vocals.shape} but prob has shape {p.shape}: "
            "the mask was computed on another grid or track"
        )
    target = ideal_binary_mask(vocals, accomp)
    level = vocals + accomp
    peak = float(level.max()) if level.size else 0.0
    valid = level > peak * 10.0 ** (silence_db / 20.0) if peak > 0 else np.zeros(p.shape, bool)
    return reliability_curve(p, target, bins=bins, weights=weights, valid=valid)


def bce(prob: np.ndarray, target: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities against 0/1 targets."""
    p = np.clip(prob.astype(np.float64), _P_EPS, 1 - _P_EPS)
    t = target.astype(np.float64)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log1p(-p)))


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` in float64, with ``p`` clipped to ``[1e-6, 1 - 1e-6]``."""
    q = np.clip(p.astype(np.float64), _P_EPS, 1 - _P_EPS)
    return np.log(q) - np.log1p(-q)


def fit_calibration(
    prob: np.ndarray, target: np.ndarray, *, max_samples: int = 400_000, seed: int = 0
) -> tuple[float, float]:
    """Platt scaling: ``(a, b)`` minimising the BCE of ``sigmoid(a * logit(prob) + b)``.

    Fitted with a few Newton steps on a seeded subsample of ``max_samples`` bins.
    """
    rng = np.random.default_rng(seed)
    p, t = np.asarray(prob).ravel(), np.asarray(target).ravel().astype(np.float64)
    if p.size > max_samples:
        keep = rng.choice(p.size, size=max_samples, replace=False)
        p, t = p[keep], t[keep]
    z = logit(p)
    a, b = 1.0, 0.0
    for _ in range(50):
        q = 1.0 / (1.0 + np.exp(-(a * z + b)))
        r = q - t
        w = q * (1 - q) + 1e-9
        grad = np.array([np.sum(r * z), np.sum(r)])
        hess = np.array([[np.sum(w * z * z), np.sum(w * z)], [np.sum(w * z), np.sum(w)]])
        step = np.linalg.solve(hess + 1e-6 * np.eye(2), grad)
        a, b = a - float(step[0]), b - float(step[1])
        if np.abs(step).max() < 1e-7:
            break
    return a, b


def apply_calibration(prob: np.ndarray, a: float, b: float) -> np.ndarray:
    """``sigmoid(a * logit(prob) + b)`` as float32, same shape (identity for a=1, b=0)."""
    if a == 1.0 and b == 0.0:
        return np.asarray(prob, dtype=np.float32)
    return (1.0 / (1.0 + np.exp(-(a * logit(np.asarray(prob)) + b)))).astype(np.float32)
