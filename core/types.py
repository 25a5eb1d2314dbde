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

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

FloatArray: TypeAlias = NDArray[np.floating]
ComplexArray: TypeAlias = NDArray[np.complexfloating]
IntArray: TypeAlias = NDArray[np.integer]
BoolArray: TypeAlias = NDArray[np.bool_]
