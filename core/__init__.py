"""GenEx Lab core: models, DSP and metrics as a plain scientific library.

Nothing in ``core`` imports Streamlit or ``dashboard``; torch is imported only by the
model modules, so ``import core.audio`` or ``import core.metrics`` stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"
