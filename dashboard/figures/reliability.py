"""Reliability diagram of a probabilistic mask (predicted P against observed frequency).

A pure builder (a :class:`core.karaoke.calibration.ReliabilityCurve` in, plotly figure out, no
Streamlit), usable in a notebook::

    from core.karaoke.calibration import stem_reliability
    from core.karaoke.separate import probability_mask
    res = probability_mask(track.mixture, track.sr, method="dnn")
    curve = stem_reliability(res.prob, track.references, stft_config=res.stft_config)
    reliability_figure(curve, title=track.name, alpha=0.5)

The diagonal is perfect calibration; each marker is one P bin at (mean predicted P, observed
frequency of vocal dominance), its size growing with the bin's share of the time-frequency
bins; grey bars in a lower panel (log axis) give that share. The ECE is in the title.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.karaoke.calibration import ReliabilityCurve

#: Colour of the observed curve (the DNN's colour on the Metrics page).
CURVE_COLOR = "#1f77b4"
#: Colour of the share-of-bins bars.
COUNT_COLOR = "rgba(120, 120, 120, 0.30)"
#: Marker diameters (px) of an empty bin and of the heaviest bin (area grows with weight).
MARKER_PX = (6.0, 22.0)


def ece_text(curve: ReliabilityCurve) -> str:
    """``"ECE 0.012"`` (``"ECE undefined"`` when no sample was used)."""
    return "ECE undefined" if not np.isfinite(curve.ece) else f"ECE {curve.ece:.3f}"


def marker_sizes(weight: np.ndarray) -> np.ndarray:
    """Marker diameters in px for per-bin weights: area grows with the bin's share.

    Returns
    -------
    ndarray, shape as ``weight``, float64
        ``MARKER_PX[0]`` for an empty bin, up to ``MARKER_PX[1]`` for the heaviest bin.
    """
    w = np.asarray(weight, dtype=np.float64)
    top = float(w.max()) if w.size else 0.0
    share = np.sqrt(w / top) if top > 0 else np.zeros_like(w)
    lo, hi = MARKER_PX
    sizes: np.ndarray = lo + (hi - lo) * share
    return sizes


def reliability_figure(
    curve: ReliabilityCurve,
    *,
    title: str | None = "Reliability diagram",
    alpha: float | None = None,
    height: int = 420,
    uirevision: str | None = None,
) -> go.Figure:
    """Reliability diagram: the diagonal, the observed curve, the share of samples per bin.

    Parameters
    ----------
    curve
        From :func:`core.karaoke.calibration.reliability_curve` (or ``stem_reliability``).
    title
        Title, followed by the ECE (``None``: the ECE only); the subtitle gives the number of
        samples and bins.
    alpha
        A threshold to mark with a vertical line (e.g. the explorer's current α), or ``None``.
    height
        Figure height in px.
    uirevision
        Plotly's ``uirevision``: keep the user's zoom while it is unchanged (e.g. across α).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces, in order: ``"Perfect calibration"`` (the diagonal), ``"Observed"`` (x: mean
        predicted P, y: observed frequency, one point per non-empty bin, ``customdata`` rows
        ``[count, share]``), both in the upper panel, and ``"Share of bins"`` (bars at the bin
        centres, on the log ``y2`` axis of the lower panel).
    """
    ok = curve.count > 0
    total = float(curve.weight.sum())
    share = curve.weight / total if total > 0 else np.zeros_like(curve.weight)
    what = "magnitude-weighted share" if curve.weighted else "share"
    head = f"{title} — " if title else ""
    # two panels by axis domains (make_subplots costs ~10x more, and α moves rebuild this)
    diagonal = go.Scatter(
        x=[0.0, 1.0],
        y=[0.0, 1.0],
        mode="lines",
        name="Perfect calibration",
        line={"color": "#888888", "dash": "dash", "width": 1},
        hoverinfo="skip",
    )
    observed = go.Scatter(
        x=curve.mean_pred[ok],
        y=curve.observed[ok],
        mode="lines+markers",
        name="Observed",
        line={"color": CURVE_COLOR},
        marker={"color": CURVE_COLOR, "size": marker_sizes(curve.weight)[ok]},
        customdata=np.stack([curve.count[ok], share[ok]], axis=1),
        hovertemplate="mean P %{x:.3f}<br>observed %{y:.3f}<br>%{customdata[0]:,} bins "
        f"({what} %{{customdata[1]:.1%}})<extra></extra>",
    )
    bars = go.Bar(
        x=curve.centers[ok],
        y=share[ok],
        width=float(curve.edges[1] - curve.edges[0]),
        name="Share of bins" + (" (magnitude-weighted)" if curve.weighted else ""),
        marker={"color": COUNT_COLOR},
        xaxis="x2",
        yaxis="y2",
        hovertemplate="P in bin %{x:.3f}: %{y:.2%} of the bins<extra></extra>",
    )
    shapes = []
    annotations = []
    if alpha is not None:
        shapes.append(
            {"type": "line", "xref": "x", "yref": "paper", "x0": alpha, "x1": alpha,
             "y0": 0, "y1": 1, "line": {"color": "#d62728", "width": 1, "dash": "dot"}}
        )  # fmt: skip
        annotations.append(
            {"x": alpha, "y": 0.0, "xref": "x", "yref": "y", "text": f"α = {alpha:.2f}",
             "showarrow": False, "xanchor": "left", "yanchor": "bottom", "xshift": 3,
             "font": {"color": "#d62728"}}
        )  # fmt: skip
    layout = go.Layout(
        title={
            "text": f"{head}{ece_text(curve)}",
            "subtitle": {"text": f"{curve.n:,} time-frequency bins in {curve.bins} P bins"},
        },
        height=height,
        margin={"l": 60, "r": 20, "t": 105, "b": 50},
        xaxis={"range": [0, 1], "anchor": "y", "matches": "x2", "showticklabels": False},
        xaxis2={"title": "Predicted P (mean in bin)", "range": [0, 1], "anchor": "y2"},
        yaxis={"title": "Observed vocal dominance", "range": [-0.02, 1.02], "domain": [0.3, 1]},
        yaxis2={
            "title": "Share",
            "type": "log",
            "domain": [0, 0.24],
            "tickformat": "~%",
            "nticks": 4,
        },
        legend={"orientation": "h", "x": 0, "y": 1.01, "yanchor": "bottom"},
        bargap=0.05,
        shapes=shapes,
        annotations=annotations,
        uirevision=uirevision,
    )
    return go.Figure(data=[diagonal, observed, bars], layout=layout)
