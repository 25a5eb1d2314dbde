"""MetricsExplorer: SDR / SIR / SAR across α from a results run; a click opens a MaskExplorer.

The same views as the dashboard's Metrics page, without Streamlit: the run is read with
:func:`core.evaluation.results.open_run` and aggregated by :mod:`core.evaluation.results`, the
figures come from :mod:`dashboard.figures.metric_curves`, whose clickable points carry
``customdata`` rows ``[track, method, alpha]``. A click on such a point opens a
:class:`widgets.mask.MaskExplorer` for that track, method and α under the curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
import plotly.graph_objects as go

from core.errors import CoreError, DatasetError
from core.evaluation.results import ResultsRun, open_run, sir_sar_means, summary, track_summary
from core.karaoke.tracks import list_tracks
from core.paths import REPO_ROOT, assets_dir
from dashboard.figures import metric_curves as mc
from widgets.common import error_html
from widgets.mask import MaskExplorer


@dataclass(frozen=True)
class Point:
    """What a clicked point stands for: a track, a method and an α."""

    track: str
    method: str
    alpha: float


def find_track_folder(config: dict[str, Any], track: str) -> Path | None:
    """The folder of ``track``: under the run's ``data`` folder, else among the demo tracks."""
    roots: list[Path] = []
    data = config.get("data")
    if isinstance(data, str) and data:
        roots.append(Path(data) if Path(data).is_absolute() else REPO_ROOT / data)
    roots.append(assets_dir() / "demo_tracks")
    for root in roots:
        try:
            folders = list_tracks(root)
        except DatasetError:  # the run's corpus is not on this machine (any more)
            continue
        for folder in folders:
            if folder.name == track:
                return folder
    return None


class MetricsExplorer(w.VBox):
    """The α curves (median and IQR band), the SAR-vs-SIR view, and a click-through explorer.

    Parameters
    ----------
    run
        A results run folder (written by ``genex evaluate`` or
        :func:`core.evaluation.sweep.evaluate_tracks`) or an opened
        :class:`core.evaluation.results.ResultsRun`; ``None``: the shipped ``assets/results/demo``.
    metric, target
        The metric (``"SDR"``, ``"SIR"``, ``"SAR"``) and target (``"vocals"``,
        ``"accompaniment"``) of the α curves.

    Attributes
    ----------
    figure : plotly.graph_objects.FigureWidget
        The α curves of the chosen metric and target.
    sar_sir : plotly.graph_objects.FigureWidget
        SAR as a function of SIR, one point per α.
    explorer : MaskExplorer or None
        The explorer opened by the last click.
    clicked : Point or None
        What the last click stood for.
    tidy, summary : pandas.DataFrame
        The run's tidy table and its summary (median and IQR over tracks).

    Raises
    ------
    ResultsError
        ``run`` is not a results run.
    """

    def __init__(
        self, run: str | Path | ResultsRun | None = None, *, metric: str = "SDR",
        target: str = "vocals",
    ) -> None:  # fmt: skip
        if run is None:
            run = assets_dir() / "results" / "demo"
        self.run = run if isinstance(run, ResultsRun) else open_run(Path(run).expanduser())
        self.tidy: pd.DataFrame = self.run.tidy()
        self.summary: pd.DataFrame = summary(self.tidy)
        self.config = dict(self.run.config)
        self.explorer: MaskExplorer | None = None
        self.clicked: Point | None = None

        tracks = mc.tracks_of(self.tidy)
        self._track = w.Dropdown(
            options=[("median over tracks", mc.MEDIAN), *((t, t) for t in tracks)],
            value=mc.MEDIAN, description="Track",
        )  # fmt: skip
        targets = mc.targets_of(self.tidy) or ["vocals"]
        self._target = w.Dropdown(
            options=[(mc.TARGET_LABELS.get(t, t), t) for t in targets],
            value=target if target in targets else targets[0], description="Target",
        )  # fmt: skip
        metrics = mc.metrics_of(self.tidy) or ["SDR"]
        self._metric = w.Dropdown(
            options=metrics, value=metric if metric in metrics else metrics[0],
            description="Metric",
        )  # fmt: skip
        self._status = w.HTML()
        self._explorer_box = w.VBox()
        self.figure = go.FigureWidget()
        self.sar_sir = go.FigureWidget()
        super().__init__(
            [
                w.HBox([self._track, self._target, self._metric]),
                self.figure,
                w.HTML(
                    "Shaded: interquartile range; dashed: the oracle mask, a ceiling. "
                    "<b>Click a point</b> to open the mask explorer at that method and α below."
                ),
                w.HTML(
                    "<small>"
                    + "<br>".join(
                        f"<b>{m}</b> — {mc.METRIC_NAMES[m]}: {mc.METRIC_HELP[m]}; dB, higher "
                        "is better."
                        for m in metrics
                        if m in mc.METRIC_HELP
                    )
                    + "</small>"
                ),
                self.sar_sir,
                self._status,
                self._explorer_box,
            ]
        )
        for control in (self._track, self._target, self._metric):
            control.observe(self._redraw, names="value")
        self._redraw()

    @classmethod
    def demo(cls, **kwargs: Any) -> MetricsExplorer:
        """An explorer of the shipped results run ``assets/results/demo``."""
        return cls(None, **kwargs)

    # ------------------------------------------------------------------ state for scripting
    @property
    def alpha(self) -> float | None:
        """The α of the last clicked point (``None`` before any click)."""
        return None if self.clicked is None else self.clicked.alpha

    @property
    def stems(self) -> Any:
        """The opened explorer's stems ``(2, channels, samples)`` (``None`` before a click)."""
        return None if self.explorer is None else self.explorer.stems

    @property
    def track(self) -> str:
        """The track of the curves (``"median"``: the median over tracks)."""
        return str(self._track.value)

    @track.setter
    def track(self, value: str) -> None:
        self._track.value = value

    # ------------------------------------------------------------------ drawing
    def _redraw(self, _change: dict[str, Any] | None = None) -> None:
        track, target = self.track, self._target.value
        stats = self.summary if track == mc.MEDIAN else track_summary(self.tidy, track)
        curves = mc.alpha_curves_figure(
            stats, metric=self._metric.value, target=target, track_label=track
        )
        sarsir = mc.sar_vs_sir_figure(sir_sar_means(self.tidy, target=target), target=target)
        for widget, fig in ((self.figure, curves), (self.sar_sir, sarsir)):
            with widget.batch_update():
                widget.data = ()
                widget.layout = fig.layout
            widget.add_traces(fig.data)
            for trace in widget.data:
                if getattr(trace, "customdata", None) is not None:
                    trace.on_click(self._on_click)

    def _on_click(self, trace: Any, points: Any, _state: Any) -> None:
        if not points.point_inds:
            return
        row = trace.customdata[points.point_inds[0]]
        self.open_point(str(row[0]), str(row[1]), float(row[2]))

    def open_point(self, track: str, method: str, alpha: float) -> MaskExplorer | None:
        """Open the mask explorer for ``track`` (``""``: the chosen or first track) at ``alpha``.

        Returns
        -------
        MaskExplorer or None
            ``None`` when the track's audio is not on this machine or the explorer refused the
            settings (the reason is shown).
        """
        if not track:
            track = self.track if self.track != mc.MEDIAN else mc.tracks_of(self.tidy)[0]
        if not math.isfinite(alpha):
            return None
        self.clicked = Point(track, method, alpha)
        folder = find_track_folder(self.config, track)
        if folder is None:
            self._status.value = error_html(
                DatasetError(f"the audio of track {track!r} is not on this machine")
            )
            return None
        try:
            explorer = MaskExplorer(folder, method=method, alpha=alpha)  # type: ignore[arg-type]
        except CoreError as exc:
            self._status.value = error_html(exc)
            return None
        self._status.value = (
            f"Opened <b>{track}</b> with <b>{method}</b> at α = {explorer.alpha:.2f}:"
        )
        self.explorer = explorer
        self._explorer_box.children = (explorer,)
        return explorer
