"""GenEx Lab core: models, DSP and metrics as a plain scientific library.

Nothing in ``core`` imports Streamlit or ``dashboard``; torch is imported only by the
model modules, so ``import core.signal.audio`` or ``import core.evaluation.bss`` stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"
