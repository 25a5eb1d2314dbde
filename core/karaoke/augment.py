"""Per-stem audio effects for the synthetic corpus, with pedalboard (Spotify's effect library).

An effect chain is drawn as a plain record (:func:`draw_effects`: a list of
``{"effect": <pedalboard class name>, <parameter>: <value>, ...}``) and applied by
:func:`apply_effects`, so ``corpus.json`` can store exactly what was applied and the chain can be
re-applied from the metadata. Chains differ by role: vocals get high-pass, EQ, compression,
chorus/delay, reverb and occasionally distortion; the accompaniment gets EQ, low-pass, bus
compression, reverb and occasionally saturation. :func:`pan` places a mono stem in the stereo
field (constant power). Randomness comes in as ``rng``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from core.errors import DependencyError, InvalidAudioError, InvalidConfigError
from core.types import FloatArray

Role = Literal["vocals", "accompaniment"]
#: Pedalboard effects a record may name.
EFFECTS = (
    "HighpassFilter", "LowpassFilter", "PeakFilter", "LowShelfFilter", "HighShelfFilter",
    "Compressor", "Distortion", "Chorus", "Delay", "Reverb", "Gain",
)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def draw_effects(rng: np.random.Generator, *, role: Role, sr: int) -> list[dict[str, Any]]:
    """Draw a random effect chain for a stem.

    Parameters
    ----------
    rng
        Source of every choice.
    role
        ``"vocals"`` or ``"accompaniment"``.
    sr
        Sample rate in Hz (filter frequencies stay below 0.45 ``sr``).

    Returns
    -------
    list of dict
        The chain, in processing order; each item names the effect (``"effect"``) and its
        pedalboard parameters. May be empty.

    Raises
    ------
    InvalidConfigError
        Unknown ``role`` or ``sr`` below 8000.
    """
    if role not in ("vocals", "accompaniment"):
        raise InvalidConfigError(f"role must be 'vocals' or 'accompaniment', got {role!r}")
    if sr < 8000:
        raise InvalidConfigError(f"sr must be at least 8000 Hz, got {sr}")
    top = 0.45 * sr
    chain: list[dict[str, Any]] = []
    if role == "vocals":
        if rng.random() < 0.7:
            chain.append({"effect": "HighpassFilter", "cutoff_frequency_hz": _u(rng, 60, 180)})
        if rng.random() < 0.7:
            chain.append({"effect": "PeakFilter",
                          "cutoff_frequency_hz": _u(rng, 300, min(5000, top)),
                          "gain_db": _u(rng, -6, 6), "q": _u(rng, 0.5, 2.0)})
        if rng.random() < 0.4:
            chain.append({"effect": "HighShelfFilter",
                          "cutoff_frequency_hz": _u(rng, 2500, min(8000, top)),
                          "gain_db": _u(rng, -4, 5), "q": 0.707})
        if rng.random() < 0.6:
            chain.append({"effect": "Compressor", "threshold_db": _u(rng, -30, -10),
                          "ratio": _u(rng, 2, 6), "attack_ms": _u(rng, 2, 20),
                          "release_ms": _u(rng, 50, 250)})
        if rng.random() < 0.1:
            chain.append({"effect": "Distortion", "drive_db": _u(rng, 3, 12)})
        if rng.random() < 0.2:
            chain.append({"effect": "Chorus", "rate_hz": _u(rng, 0.3, 2.0),
                          "depth": _u(rng, 0.1, 0.4), "mix": _u(rng, 0.15, 0.4)})
        if rng.random() < 0.25:
            chain.append({"effect": "Delay", "delay_seconds": _u(rng, 0.08, 0.4),
                          "feedback": _u(rng, 0.05, 0.35), "mix": _u(rng, 0.08, 0.25)})
        if rng.random() < 0.6:
            wet = _u(rng, 0.05, 0.3)
            chain.append({"effect": "Reverb", "room_size": _u(rng, 0.1, 0.85),
                          "damping": _u(rng, 0.2, 0.8), "wet_level": wet,
                          "dry_level": round(1 - wet / 2, 4), "width": 1.0})
    else:
        if rng.random() < 0.5:
            chain.append({"effect": "LowShelfFilter", "cutoff_frequency_hz": _u(rng, 80, 250),
                          "gain_db": _u(rng, -4, 4), "q": 0.707})
        if rng.random() < 0.5:
            chain.append({"effect": "PeakFilter",
                          "cutoff_frequency_hz": _u(rng, 200, min(4000, top)),
                          "gain_db": _u(rng, -5, 5), "q": _u(rng, 0.5, 1.5)})
        if rng.random() < 0.3:
            chain.append({"effect": "LowpassFilter",
                          "cutoff_frequency_hz": _u(rng, min(4000, top * 0.6), top)})
        if rng.random() < 0.5:
            chain.append({"effect": "Compressor", "threshold_db": _u(rng, -24, -8),
                          "ratio": _u(rng, 1.5, 4), "attack_ms": _u(rng, 5, 30),
                          "release_ms": _u(rng, 80, 300)})
        if rng.random() < 0.05:
            chain.append({"effect": "Distortion", "drive_db": _u(rng, 2, 8)})
        if rng.random() < 0.4:
            wet = _u(rng, 0.03, 0.2)
            chain.append({"effect": "Reverb", "room_size": _u(rng, 0.1, 0.7),
                          "damping": _u(rng, 0.3, 0.9), "wet_level": wet,
                          "dry_level": round(1 - wet / 2, 4), "width": 1.0})
    return chain


def apply_effects(y: FloatArray, *, sr: int, chain: list[dict[str, Any]]) -> FloatArray:
    """Run ``y`` through an effect chain (as drawn by :func:`draw_effects`).

    Parameters
    ----------
    y : ndarray, shape (channels, samples), float32
        The stem.
    sr
        Sample rate in Hz.
    chain
        Effect records; an empty chain returns a copy of ``y``.

    Returns
    -------
    ndarray, shape (channels, samples), float32
        The processed stem (effect tails past the end are cut).

    Raises
    ------
    InvalidAudioError
        ``y`` is not 2-D or holds NaN/inf.
    InvalidConfigError
        A record names an unknown effect or parameter.
    DependencyError
        pedalboard is not installed.
    """
    x = np.asarray(y, dtype=np.float32)
    if x.ndim != 2:
        raise InvalidAudioError(f"y must have shape (channels, samples), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidAudioError("y holds NaN or infinite samples")
    if not chain:
        return x.copy()
    try:
        import pedalboard
    except ImportError as exc:  # pragma: no cover - a project dependency
        raise DependencyError(f"pedalboard is needed for effects ({exc}); "
                              "install it with `pip install pedalboard`") from exc
    plugins = []
    for item in chain:
        params = dict(item)
        name = params.pop("effect", None)
        if name not in EFFECTS:
            raise InvalidConfigError(
                f"unknown effect {name!r}; expected one of {', '.join(EFFECTS)}"
            )
        try:
            plugins.append(getattr(pedalboard, str(name))(**params))
        except TypeError as exc:
            raise InvalidConfigError(f"bad parameters for {name}: {params} ({exc})") from exc
    board = pedalboard.Pedalboard(plugins)  # type: ignore[attr-defined]
    out = board(np.ascontiguousarray(x), sr)  # (channels, samples), fresh state per call
    out = np.asarray(out, dtype=np.float32)
    if out.shape != x.shape:  # pragma: no cover - pedalboard keeps the shape
        out = out[:, : x.shape[1]]
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def augment_stem(
    y: FloatArray, *, sr: int, rng: np.random.Generator, role: Role
) -> tuple[FloatArray, list[dict[str, Any]]]:
    """Draw a chain for ``role`` and apply it: ``(processed y, chain record)``.

    Shapes as in :func:`apply_effects`; errors as there and in :func:`draw_effects`.
    """
    chain = draw_effects(rng, role=role, sr=sr)
    return apply_effects(y, sr=sr, chain=chain), chain


def pan(y: FloatArray, *, position: float) -> FloatArray:
    """Place a mono signal in the stereo field with the constant-power pan law.

    Parameters
    ----------
    y : ndarray, shape (1, samples)
        Mono signal.
    position
        -1 (left) .. 0 (centre) .. 1 (right).

    Returns
    -------
    ndarray, shape (2, samples), float32
        Left and right; at the centre each is ``y / sqrt(2)``.

    Raises
    ------
    InvalidAudioError
        ``y`` is not mono ``(1, samples)``.
    InvalidConfigError
        ``position`` outside [-1, 1].
    """
    x = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != 1:
        raise InvalidAudioError(f"y must have shape (1, samples), got {x.shape}")
    if not -1.0 <= position <= 1.0:
        raise InvalidConfigError(f"position must be in [-1, 1], got {position!r}")
    theta = (position + 1) * np.pi / 4
    return np.concatenate([x * np.float32(np.cos(theta)), x * np.float32(np.sin(theta))])
