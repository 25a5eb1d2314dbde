"""GenEx Lab in Jupyter: widget explorers over ``core`` and the pure figure builders.

One line starts each explorer in a notebook cell::

    from widgets import MaskExplorer, MetricsExplorer, ComposerExplorer
    MaskExplorer.demo()        # the shipped demo track, live α slider
    MetricsExplorer.demo()     # the shipped results run; click a point to open a MaskExplorer
    ComposerExplorer()         # the shipped blues LSTMs

Each explorer is an ``ipywidgets.VBox`` (so it displays itself) and exposes its state for
scripting: ``.alpha`` (settable), ``.figure`` (a plotly ``FigureWidget``) and ``.stems`` (the
mask explorer's ``(2, channels, samples)`` estimates). Nothing here imports Streamlit: the
package sits beside ``dashboard/``, using ``core`` and :mod:`dashboard.figures` only, and works
offline on the shipped assets.
"""

from __future__ import annotations

from widgets.composer import ComposerExplorer
from widgets.mask import MaskExplorer
from widgets.metrics import MetricsExplorer
from widgets.roll_player import RollPlayer

__all__ = ["ComposerExplorer", "MaskExplorer", "MetricsExplorer", "RollPlayer"]
