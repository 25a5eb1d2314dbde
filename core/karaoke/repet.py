"""REPET-SIM: librosa's documented vocal-separation recipe, the method a user reaches for first.

The recipe (librosa gallery, "Vocal separation", after Rafii & Pardo 2012): the accompaniment is
what repeats, so each frame's magnitude is replaced by the median of its most similar frames
(``librosa.decompose.nn_filter``, cosine metric, neighbours at least 2 s apart), floored by the
mixture, and two soft masks with margins split the mixture:

- vocals (foreground) ``softmask(|X| - F, margin_v * F, power=2)``, ``margin_v = 10``;
- accompaniment (background) ``softmask(F, margin_i * (|X| - F), power=2)``, ``margin_i = 2``.

The two masks are not complementary (as in the recipe). Each channel is separated on its own;
the STFT is the separator's input grid (:func:`core.karaoke.separate.input_stft_config`). It
needs no training, so it is the fair "what else would I use" baseline in
``bench/bench_separation.py``.
"""

from __future__ import annotations

import numpy as np

from core.errors import InvalidConfigError
from core.karaoke.separate import input_stft_config
from core.signal.audio import validate_audio
from core.signal.stft import StftConfig, istft, stft
from core.types import FloatArray


def repet_sim_masks(
    mag: FloatArray,
    *,
    sr: int,
    hop_length: int,
    width_seconds: float = 2.0,
    margin_vocals: float = 10.0,
    margin_accompaniment: float = 2.0,
    power: float = 2.0,
) -> tuple[FloatArray, FloatArray]:
    """Soft masks of the REPET-SIM recipe for one channel's magnitude.

    Parameters
    ----------
    mag : ndarray, shape (bins, frames), float
        Mixture magnitude.
    sr, hop_length
        Sample rate and hop of ``mag`` (they set the 2 s minimum neighbour distance).

    Returns
    -------
    (vocals, accompaniment) : ndarrays, shape (bins, frames), float32, in [0, 1]

    Raises
    ------
    InvalidConfigError
        ``mag`` is not a finite, non-negative 2-D array, or an option is out of range.
    """
    import librosa

    m = np.asarray(mag, dtype=np.float32)
    if m.ndim != 2 or m.shape[1] < 1 or not np.all(np.isfinite(m)) or np.any(m < 0):
        raise InvalidConfigError("mag must be a finite, non-negative (bins, frames) array")
    if width_seconds <= 0 or margin_vocals <= 0 or margin_accompaniment <= 0 or power <= 0:
        raise InvalidConfigError("width_seconds, margins and power must be positive")
    width = int(librosa.time_to_frames(width_seconds, sr=sr, hop_length=hop_length))
    if m.shape[1] <= 2 * width:  # too short for neighbours 2 s apart: nothing repeats
        filt = np.zeros_like(m)
    else:
        filt = librosa.decompose.nn_filter(m, aggregate=np.median, metric="cosine", width=width)
        filt = np.minimum(m, filt)
    vocals = librosa.util.softmask(m - filt, margin_vocals * filt, power=power)
    accomp = librosa.util.softmask(filt, margin_accompaniment * (m - filt), power=power)
    return vocals.astype(np.float32), accomp.astype(np.float32)


def repet_sim(
    mixture: FloatArray, sr: int, *, config: StftConfig | None = None
) -> FloatArray:
    """Separate ``mixture`` into ``[vocals, accompaniment]`` with the REPET-SIM recipe.

    Parameters
    ----------
    mixture : ndarray, shape (channels, samples), float
    sr
        Sample rate, Hz.
    config
        STFT (default: the separator's input grid at ``sr``).

    Returns
    -------
    ndarray, shape (2, channels, samples), float32

    Raises
    ------
    InvalidAudioError
        The mixture is not valid audio.
    """
    y = np.asarray(mixture, dtype=np.float32)
    validate_audio(y, sr=sr, name="mixture")
    cfg = config or input_stft_config(sr)
    S = stft(y, cfg)  # (ch, bins, frames)
    masks = [repet_sim_masks(np.abs(S[c]), sr=sr, hop_length=cfg.hop_length) for c in range(len(S))]
    vocals = istft(S * np.stack([m[0] for m in masks]), cfg, length=y.shape[1])
    accomp = istft(S * np.stack([m[1] for m in masks]), cfg, length=y.shape[1])
    return np.stack([vocals, accomp]).astype(np.float32, copy=False)
