"""Array conventions used throughout :mod:`core`.

| thing | shape | dtype |
| --- | --- | --- |
| audio | ``(channels, samples)``; mono is ``(1, samples)`` | float32, rate ``sr`` in Hz |
| STFT | ``(channels, bins, frames)`` | complex64 |
| magnitude, mask | as the STFT | float32, masks in [0, 1] |
| stems | ``(sources, channels, samples)`` | float32 |
| piano roll | ``(pitches, steps)`` | float32 |
| metrics | ``(sources, windows)``, NaN = undefined window | float64, dB |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

FloatArray: TypeAlias = NDArray[np.floating]
ComplexArray: TypeAlias = NDArray[np.complexfloating]
IntArray: TypeAlias = NDArray[np.integer]
BoolArray: TypeAlias = NDArray[np.bool_]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long job, as every ``progress=`` callback in :mod:`core` receives it.

    Attributes
    ----------
    stage
        What is counted: ``"epoch"``, ``"song"``, ``"track"``, ``"alpha"``, ...
    done, total
        Steps finished so far and the number expected (``done <= total``).
    metrics
        Figures at this step (e.g. ``{"loss": 0.12, "form": 0.98}``).
    message
        A short human-readable label (e.g. the track name).
    """

    stage: str
    done: int
    total: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    message: str = ""


#: The one progress-callback type (the CLI shows a tqdm bar, the dashboard an ``st.progress``).
Progress: TypeAlias = Callable[[ProgressEvent], None]
