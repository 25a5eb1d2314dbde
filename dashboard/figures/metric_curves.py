"""Figures of the Metrics page: SDR / SIR / SAR across the confidence threshold α.

Pure builders (pandas in, plotly figure out, no Streamlit), usable in a notebook::

    from core.evaluation.results import open_run
    run = open_run("assets/results/demo")
    alpha_curves_figure(run.summary(), metric="SDR", target="vocals")

The α-curve builders draw aggregated tables and never aggregate themselves:
:func:`core.evaluation.results.summary` (median and IQR over tracks of the per-track medians,
the SiSEC aggregation) or :func:`core.evaluation.results.track_summary` (one track, IQR over its
windows); :func:`sar_vs_sir_figure` draws :func:`core.evaluation.results.sir_sar_means`;
:func:`framewise_figure` draws rows of the tidy table
(:data:`core.evaluation.results.TIDY_COLUMNS`).

Clickable curves carry ``customdata`` rows ``[track, method, alpha]`` (track ``""`` for the
median over tracks), which the page turns into a jump to the Mask explorer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.evaluation.bss import METRICS
from core.evaluation.results import per_track_medians
from core.karaoke.methods import METHODS, ORACLE_METHODS
from core.karaoke.tracks import SOURCES

#: The three metrics of the paper's panels.
PANEL_METRICS = ("SDR", "SIR", "SAR")
#: Human labels of the targets (the paper's "vocal" and "non-vocal").
TARGET_LABELS = {"vocals": "vocals", "accompaniment": "accompaniment (non-vocal)"}
#: The track label meaning "median over tracks".
MEDIAN = "median"

METHOD_COLORS = {
    "dnn": "#1f77b4",
    "traditional": "#ff7f0e",
    "oracle": "#555555",
    "oracle-irm": "#8c8c8c",
}
_FALLBACK_COLORS = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
METRIC_COLORS = {"SDR": "#2ca02c", "SIR": "#d62728", "SAR": "#9467bd", "ISR": "#8c564b"}
#: What each BSS Eval metric is called.
METRIC_NAMES = {
    "SDR": "signal-to-distortion ratio",
    "SIR": "signal-to-interference ratio",
    "SAR": "signal-to-artefacts ratio",
    "ISR": "source image-to-spatial-distortion ratio",
}
#: One line per metric: what it measures (all in dB, higher is better).
METRIC_HELP = {
    "SDR": "overall quality: everything in the estimate that differs from the true source "
    "(leaks of the other source, artefacts, spatial distortion)",
    "SIR": "how little of the other source leaks into the estimate",
    "SAR": "how few artefacts the separation adds (musical noise, holes cut by the mask)",
    "ISR": "how well the source's own level and stereo image are kept",
}
#: Tukey's "far out" fence: values beyond 3 interquartile ranges (and 20 dB) of the quartiles
#: are drawn off scale (e.g. museval's ~140 dB SAR when an estimate equals its reference up to
#: rounding), so the ordinary values keep a readable axis.
OUTLIER_FENCE = 3.0


# --------------------------------------------------------------------------- helpers


def method_color(method: str, methods: Sequence[str] = ()) -> str:
    """A stable colour for ``method`` (known methods fixed, others from a small palette)."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    others = [m for m in methods if m not in METHOD_COLORS] or [method]
    idx = others.index(method) if method in others else 0
    return _FALLBACK_COLORS[idx % len(_FALLBACK_COLORS)]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    vals = list(dict.fromkeys(values))
    return [v for v in order if v in vals] + sorted(v for v in vals if v not in order)


def methods_of(df: pd.DataFrame) -> list[str]:
    """Methods present in ``df``: the registry's in its order, then any others sorted."""
    return _ordered(df["method"].unique(), METHODS)


def tracks_of(df: pd.DataFrame) -> list[str]:
    """Tracks present in ``df``, sorted."""
    return sorted(df["track"].unique())


def targets_of(df: pd.DataFrame) -> list[str]:
    """Targets present in ``df`` (vocals first)."""
    return _ordered(df["target"].unique(), SOURCES)


def metrics_of(df: pd.DataFrame) -> list[str]:
    """Metrics present in ``df`` (SDR, SIR, SAR, ISR order)."""
    return _ordered(df["metric"].unique(), METRICS)


def alphas_of(df: pd.DataFrame) -> list[float]:
    """The α grid of ``df``, ascending."""
    return sorted(float(a) for a in df["alpha"].unique())


def nearest_alpha(alphas: Sequence[float], alpha: float) -> float:
    """The value of ``alphas`` closest to ``alpha``.

    Raises
    ------
    ValueError
        If ``alphas`` is empty.
    """
    if len(alphas) == 0:
        raise ValueError("nearest_alpha: empty α grid")
    arr = np.asarray(alphas, dtype=float)
    return float(arr[int(np.argmin(np.abs(arr - alpha)))])


def metric_label(metric: str) -> str:
    """``"SDR (signal-to-distortion ratio)"``; unknown metrics unchanged."""
    return f"{metric} ({METRIC_NAMES[metric]})" if metric in METRIC_NAMES else metric


def metric_glossary(metrics: Sequence[str] = METRICS) -> list[str]:
    """One markdown line per metric: its name, what it measures, and that higher is better."""
    return [
        f"**{m}** — {METRIC_NAMES[m]}: {METRIC_HELP[m]}; dB, higher is better."
        for m in metrics
        if m in METRIC_HELP
    ]


def _hover_help(metric: str) -> str:
    return f"<br><i>{METRIC_NAMES[metric]}, higher is better</i>" if metric in METRIC_NAMES else ""


def robust_range(
    values: Iterable[float] | np.ndarray,
    *,
    fence: float = OUTLIER_FENCE,
    min_gap: float = 20.0,
) -> tuple[float, float] | None:
    """An axis range that keeps ordinary values readable when a few are far out.

    Parameters
    ----------
    values
        Every value drawn on the axis (dB; NaN/inf ignored).
    fence
        Values more than ``max(fence·IQR, min_gap)`` below the first quartile or above the
        third (quartiles and interquartile range of ``values``) are left off scale.
    min_gap
        The least distance (dB) beyond a quartile that counts as far out, so a quiet window a
        few dB below the rest is not an "outlier" when the values are tightly grouped.

    Returns
    -------
    tuple of float or None
        ``(low, high)`` covering every value inside the fences with a 6 % margin, or ``None``
        when no value is outside them (or there are fewer than 4): let plotly autorange.
    """
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 4:
        return None
    q1, q3 = np.percentile(v, [25, 75])
    gap = max(fence * float(q3 - q1), min_gap)
    inside = v[(v >= q1 - gap) & (v <= q3 + gap)]
    if inside.size == v.size:
        return None
    lo, hi = float(inside.min()), float(inside.max())
    pad = 0.06 * max(hi - lo, 1.0)
    return (lo - pad, hi + pad)


def _point_text(trace: dict[str, Any], i: int, track_label: str) -> str:
    """Where an off-scale point comes from: method, α and track (or window time and track)."""
    custom = trace.get("customdata")
    if custom is not None:
        track, method, alpha = custom[i][0], custom[i][1], float(custom[i][2])
        where = f"on track {track}" if track else track_label
        if where == MEDIAN:
            where = "median over tracks"
        return f"{method}, α {alpha:.2f}, {where}"
    x = np.asarray(trace["x"], dtype=float)[i]
    return f"at {x:.0f} s on track {track_label}"


def _off_scale(
    traces: list[dict[str, Any]],
    *,
    axis: str,
    axes: tuple[str, str],
    label: str,
    track_label: str = MEDIAN,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Robust range of one axis (``"x"``/``"y"``) of the traces drawn on ``axes``.

    Returns
    -------
    tuple
        ``(axis layout update, marker traces, annotations, notes)``: points of curve-like
        traces beyond the range become triangles on its edge (hover: the true value and where
        it comes from, clickable like the curve), one annotation per panel names the largest
        and how many, and ``notes`` are plain-text lines for a caption.
    """
    on = [t for t in traces if (t.get("xaxis", "x"), t.get("yaxis", "y")) == axes]
    values = [np.asarray(t[axis], dtype=float) for t in on]
    rng = robust_range(np.concatenate(values) if values else np.zeros(0))
    if rng is None:
        return {}, [], [], []
    lo, hi = rng
    edge = 0.015 * (hi - lo)
    off: list[tuple[float, str, dict[str, Any], int]] = []
    markers: list[dict[str, Any]] = []
    for t in on:
        if (t.get("meta") or {}).get("role") == "band":
            continue  # bands are context: clipped, not reported
        vals = np.asarray(t[axis], dtype=float)
        idx = [i for i, v in enumerate(vals) if math.isfinite(v) and not lo <= v <= hi]
        if not idx:
            continue
        other = "y" if axis == "x" else "x"
        pos = [hi - edge if vals[i] > hi else lo + edge for i in idx]
        texts = [
            f"{label} {vals[i]:.1f} dB, {_point_text(t, i, track_label)} (off scale)" for i in idx
        ]
        off += [(float(vals[i]), texts[k], t, i) for k, i in enumerate(idx)]
        up = "up" if axis == "y" else "right"
        down = "down" if axis == "y" else "left"
        marker = dict(
            type="scatter", mode="markers", showlegend=False,
            marker={"symbol": [f"triangle-{up if vals[i] > hi else down}" for i in idx],
                    "size": 11, "color": (t.get("line") or {}).get("color", "#333333")},
            hovertext=texts, hovertemplate="%{hovertext}<extra></extra>",
            meta={"role": "off_scale", "method": (t.get("meta") or {}).get("method")},
            xaxis=axes[0], yaxis=axes[1],
        )  # fmt: skip
        marker[axis] = pos
        marker[other] = [np.asarray(t[other])[i] for i in idx]
        if t.get("customdata") is not None:
            marker["customdata"] = [t["customdata"][i] for i in idx]
        markers.append(marker)
    if not off:
        return {"range": list(rng)}, [], [], []
    off.sort(key=lambda o: -abs(o[0]))
    first = off[0][1]
    text = first if len(off) == 1 else f"{len(off)} points off scale, e.g. {first}"
    xref = f"{axes[0]} domain"
    yref = f"{axes[1]} domain"
    note = dict(
        text=text, showarrow=False, xref=xref, yref=yref, x=1, y=1 if axis == "y" else 0.02,
        xanchor="right", yanchor="top" if axis == "y" else "bottom",
        font={"size": 10, "color": "#444444"}, bgcolor="rgba(255,255,255,0.8)",
    )  # fmt: skip
    return {"range": list(rng)}, markers, [note], [o[1] for o in off]


def off_scale_notes(fig: go.Figure) -> list[str]:
    """The off-scale values a builder of this module reported (``layout.meta["off_scale"]``)."""
    meta = fig.layout.meta
    return list(meta.get("off_scale", [])) if isinstance(meta, dict) else []


def _axis_name(axis: str, ref: str) -> str:
    """``("y", "y3")`` -> ``"yaxis3"``."""
    return f"{axis}axis{ref[1:]}"


def _empty_figure(message: str, *, height: int = 360) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin={"l": 20, "r": 20, "t": 40, "b": 20})
    return fig


def _alpha_traces(
    stats: pd.DataFrame,
    *,
    metric: str,
    track_label: str,
    methods: Sequence[str],
    axes: tuple[str, str] = ("x", "y"),
    showlegend: bool = True,
    band: bool = True,
) -> list[dict[str, Any]]:
    """Band (q25–q75) and curve traces per method, as plotly trace dicts on ``axes``."""
    customtrack = "" if track_label == MEDIAN else track_label
    spread = "IQR over tracks" if track_label == MEDIAN else "IQR over windows"
    on = {"xaxis": axes[0], "yaxis": axes[1], "legendgroup": None}
    traces: list[dict[str, Any]] = []
    for method in methods:
        s = stats[stats["method"] == method].sort_values("alpha")
        if s.empty:
            continue
        on["legendgroup"] = method
        color = method_color(method, methods)
        ceiling = method in ORACLE_METHODS
        x = s["alpha"].to_numpy(float)
        if band and not ceiling:
            # upper edge first, lower edge filled up to it ("tonexty")
            traces.append(
                dict(
                    type="scatter", x=x, y=s["q75"].to_numpy(float), mode="lines",
                    line={"width": 0}, hoverinfo="skip", showlegend=False,
                    name=f"{method} q75", meta={"role": "band", "method": method, "edge": "q75"},
                    **on,
                )
            )  # fmt: skip
            traces.append(
                dict(
                    type="scatter", x=x, y=s["q25"].to_numpy(float), mode="lines",
                    line={"width": 0}, fill="tonexty", fillcolor=_rgba(color, 0.18),
                    hoverinfo="skip", showlegend=False, name=f"{method} q25",
                    meta={"role": "band", "method": method, "edge": "q25"}, **on,
                )
            )  # fmt: skip
        traces.append(
            dict(
                type="scatter",
                x=x,
                y=s["median"].to_numpy(float),
                mode="lines+markers",
                name=f"{method} (ceiling)" if ceiling else method,
                showlegend=showlegend,
                line={"color": color, "dash": "dash" if ceiling else "solid", "width": 2},
                marker={"size": 8, "color": color, "symbol": "diamond" if ceiling else "circle"},
                customdata=[[customtrack, method, float(a)] for a in x],
                text=[f"{lo:.2f} – {hi:.2f}" for lo, hi in zip(s["q25"], s["q75"], strict=True)],
                hovertemplate=(
                    f"<b>{method}</b> · {track_label}<br>α = %{{x:.2f}}<br>"
                    f"{metric} = %{{y:.2f}} dB<br>{spread}: %{{text}} dB{_hover_help(metric)}"
                    "<br><i>click: open in Mask explorer</i><extra></extra>"
                ),
                meta={"role": "ceiling" if ceiling else "curve", "method": method},
                **on,
            )
        )
    return traces


def alpha_curves_figure(
    stats: pd.DataFrame,
    *,
    metric: str,
    target: str,
    track_label: str = MEDIAN,
    methods: Sequence[str] | None = None,
    height: int = 420,
) -> go.Figure:
    """``metric`` against α, one curve per method, with the interquartile band.

    Parameters
    ----------
    stats
        :func:`core.evaluation.results.summary` (``track_label="median"``: band = IQR over
        tracks) or :func:`core.evaluation.results.track_summary` of the track ``track_label``
        (band = IQR over its windows): columns ``method, alpha, target, metric, median, q25,
        q75``.
    metric
        ``"SDR"``, ``"SIR"``, ``"SAR"`` or ``"ISR"``.
    target
        ``"vocals"`` or ``"accompaniment"``.
    track_label
        ``"median"`` or the track's name (titles, hover text and ``customdata``).
    methods
        Methods to draw (default: all in ``stats``). Oracle methods are drawn dashed, without a
        band, as the ceiling.
    height
        Figure height in pixels.

    Returns
    -------
    go.Figure
        Per method: two band traces (``meta.role == "band"``; none for a ceiling) then the
        curve (``mode="lines+markers"`` so points are clickable, ``meta.role`` ``"curve"`` or
        ``"ceiling"``) whose ``customdata`` rows are ``[track, method, alpha]`` (track ``""``
        for the median over tracks). The y range is :func:`robust_range`: points beyond it
        are triangles on its edge (``meta.role == "off_scale"``), named in an annotation and
        in ``layout.meta["off_scale"]`` (:func:`off_scale_notes`).
    """
    methods = list(methods) if methods is not None else methods_of(stats)
    sel = stats[
        (stats["metric"] == metric) & (stats["target"] == target) & stats["method"].isin(methods)
    ]
    label = TARGET_LABELS.get(target, target)
    title = f"{metric} of {label} vs α — " + (
        "median over tracks" if track_label == MEDIAN else f"track {track_label}"
    )
    if sel.empty:
        return _empty_figure(f"No {metric} values for {label} ({track_label}).", height=height)
    traces = _alpha_traces(sel, metric=metric, track_label=track_label, methods=methods)
    yaxis, markers, notes, off = _off_scale(
        traces, axis="y", axes=("x", "y"), label=metric, track_label=track_label
    )
    fig = go.Figure(traces + markers)
    fig.update_layout(
        title=title,
        height=height,
        xaxis_title="confidence threshold α",
        yaxis={"title": {"text": f"{metric} (dB, higher is better)"}, **yaxis},
        annotations=notes,
        meta={"off_scale": off},
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def alpha_panels_figure(
    stats: pd.DataFrame,
    *,
    track_label: str = MEDIAN,
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] = PANEL_METRICS,
    targets: Sequence[str] | None = None,
    height_per_row: int = 300,
) -> go.Figure:
    """The paper's panels: one row per target (vocal, non-vocal), one column per metric.

    Same ``stats`` and traces as :func:`alpha_curves_figure` in every panel (legend shown once).

    Returns
    -------
    go.Figure
        ``len(targets) × len(metrics)`` subplots; curve traces carry ``customdata`` rows
        ``[track, method, alpha]``.
    """
    methods = list(methods) if methods is not None else methods_of(stats)
    targets = list(targets) if targets is not None else targets_of(stats)
    metrics = [m for m in metrics if m in set(stats["metric"])] or list(metrics)
    if not targets or stats.empty:
        return _empty_figure("No metrics to show.")
    fig = make_subplots(
        rows=len(targets),
        cols=len(metrics),
        shared_xaxes=True,
        subplot_titles=[f"{m} — {TARGET_LABELS.get(t, t)}" for t in targets for m in metrics],
        horizontal_spacing=0.06,
        vertical_spacing=0.12,
    )
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    annotations: list[dict[str, Any]] = []
    off_scale: list[str] = []
    all_stats = stats[stats["method"].isin(methods)]
    for r, target in enumerate(targets):
        for c, metric in enumerate(metrics):
            n = r * len(metrics) + c + 1
            suffix = "" if n == 1 else str(n)
            panel = all_stats[(all_stats["target"] == target) & (all_stats["metric"] == metric)]
            axes = (f"x{suffix}", f"y{suffix}")
            these = _alpha_traces(
                panel, metric=metric, track_label=track_label, methods=methods,
                axes=axes, showlegend=not traces,
            )  # fmt: skip
            yaxis, markers, notes, off = _off_scale(
                these, axis="y", axes=axes, label=metric, track_label=track_label
            )
            traces += these + markers
            annotations += notes
            off_scale += off
            layout[f"yaxis{suffix}"] = dict(yaxis)
            if c == 0:
                layout[f"yaxis{suffix}"]["title"] = {"text": "dB"}
            if r == len(targets) - 1:
                layout[f"xaxis{suffix}"] = {"title": {"text": "α"}}
    fig.add_traces(traces)
    fig.update_layout(layout)
    for note in annotations:
        fig.add_annotation(note)
    fig.update_layout(
        meta={"off_scale": off_scale},
        height=height_per_row * len(targets) + 80,
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": -0.12},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def _alpha_label_positions(alphas: Sequence[float]) -> set[int]:
    """Indices of the α values labelled on the curve: ends and the one nearest 0.5."""
    if not alphas:
        return set()
    mid = int(np.argmin(np.abs(np.asarray(alphas) - 0.5)))
    return {0, len(alphas) - 1, mid}


def sar_vs_sir_figure(
    means: pd.DataFrame,
    *,
    target: str,
    methods: Sequence[str] | None = None,
    height: int = 420,
) -> go.Figure:
    """The like-to-like view: mean SAR as a function of mean SIR, one curve per method.

    Each point is one α of ``means`` (:func:`core.evaluation.results.sir_sar_means` of
    ``target``: per-track medians over windows, then the mean over tracks, as the paper's means
    over songs); α is the hover label and labels the ends and the middle of each curve (not of
    the oracle ceiling, whose points nearly coincide). A method that sits above another at equal
    SIR has fewer artefacts for the same interference rejection.

    Returns
    -------
    go.Figure
        One ``lines+markers+text`` trace per method, ``x`` = mean SIR, ``y`` = mean SAR (dB),
        ``customdata`` rows ``["", method, alpha]``.
    """
    methods = list(methods) if methods is not None else methods_of(means)
    stats = means[means["method"].isin(methods)]
    label = TARGET_LABELS.get(target, target)
    if stats.empty:
        return _empty_figure(f"No SIR/SAR values for {label}.", height=height)
    traces: list[dict[str, Any]] = []
    for method in methods:
        s = stats[stats["method"] == method].sort_values("alpha")
        if s.empty:
            continue
        color = method_color(method, methods)
        alphas = s["alpha"].to_list()
        # a ceiling barely moves with α: labels would pile up on one spot
        show = set() if method in ORACLE_METHODS else _alpha_label_positions(alphas)
        traces.append(
            dict(
                type="scatter",
                x=s["SIR"].to_numpy(float),
                y=s["SAR"].to_numpy(float),
                mode="lines+markers+text",
                name=f"{method} (ceiling)" if method in ORACLE_METHODS else method,
                line={"color": color, "dash": "dash" if method in ORACLE_METHODS else "solid"},
                marker={
                    "size": 8,
                    "color": color,
                    "symbol": "diamond" if method in ORACLE_METHODS else "circle",
                },
                text=[f"α={a:.2f}" if i in show else "" for i, a in enumerate(alphas)],
                textposition="top center",
                textfont={"size": 10, "color": color},
                customdata=[["", method, float(a)] for a in alphas],
                hovertemplate=(
                    f"<b>{method}</b><br>α = %{{customdata[2]:.2f}}<br>"
                    f"mean SIR = %{{x:.2f}} dB{_hover_help('SIR')}<br>"
                    f"mean SAR = %{{y:.2f}} dB{_hover_help('SAR')}<extra></extra>"
                ),
                meta={"role": "curve", "method": method},
            )
        )
    xaxis, xmarkers, xnotes, xoff = _off_scale(
        traces, axis="x", axes=("x", "y"), label="mean SIR", track_label="mean over tracks"
    )
    yaxis, ymarkers, ynotes, yoff = _off_scale(
        traces, axis="y", axes=("x", "y"), label="mean SAR", track_label="mean over tracks"
    )
    fig = go.Figure(traces + xmarkers + ymarkers)
    fig.update_layout(
        title=f"Mean SAR vs mean SIR over tracks — {label}",
        height=height,
        xaxis={"title": {"text": "mean SIR (dB, higher: less leakage)"}, **xaxis},
        yaxis={"title": {"text": "mean SAR (dB, higher: fewer artefacts)"}, **yaxis},
        annotations=xnotes + ynotes,
        meta={"off_scale": xoff + yoff},
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def framewise_figure(
    df: pd.DataFrame,
    *,
    track: str,
    method: str,
    alpha: float,
    target: str,
    metrics: Sequence[str] = PANEL_METRICS,
    duration: float | None = None,
    height: int = 460,
) -> go.Figure:
    """SDR / SIR / SAR of one track over time at one α (one panel per metric, shared time axis).

    Parameters
    ----------
    df
        Tidy metrics table.
    track, method, target
        Which curve.
    alpha
        The threshold; the nearest α of the run's grid is used.
    metrics
        Panels, top to bottom.
    duration
        Track length in seconds (x axis spans ``[0, duration]`` so it lines up with the audio);
        default: the last window's start + one window.

    Returns
    -------
    go.Figure
        One ``lines+markers`` trace per metric; ``x`` are window start times (s), NaN windows
        are gaps, and the per-track median over windows is a dotted horizontal line.
    """
    sub = df[(df["track"] == track) & (df["method"] == method) & (df["target"] == target)]
    if sub.empty:
        return _empty_figure(f"No values for {track} / {method} / {target}.", height=height)
    a = nearest_alpha(alphas_of(sub), alpha)
    sub = sub[np.isclose(sub["alpha"], a)]
    metrics = [m for m in metrics if m in set(sub["metric"])]
    if not metrics:
        return _empty_figure("No SDR/SIR/SAR values for this choice.", height=height)
    times_all = np.sort(sub["time"].unique())
    step = float(np.median(np.diff(times_all))) if len(times_all) > 1 else 1.0
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    titles: list[str] = []
    layout: dict[str, Any] = {}
    annotations: list[dict[str, Any]] = []
    off_scale: list[str] = []
    for r, metric in enumerate(metrics):
        suffix = "" if r == 0 else str(r + 1)
        s = sub[sub["metric"] == metric].sort_values("time")
        color = METRIC_COLORS.get(metric, "#333333")
        traces.append(
            dict(
                type="scatter",
                x=s["time"].to_numpy(float),
                y=s["value"].to_numpy(float),
                mode="lines+markers",
                name=metric,
                line={"color": color},
                marker={"size": 5, "color": color},
                connectgaps=False,
                hovertemplate=(
                    f"t = %{{x:.1f}} s<br>{metric} = %{{y:.2f}} dB{_hover_help(metric)}"
                    "<extra></extra>"
                ),
                meta={"role": "framewise", "metric": metric},
                xaxis=f"x{suffix}",
                yaxis=f"y{suffix}",
            )
        )
        med = float(per_track_medians(s)["value"].iloc[0])
        titles.append(f"{metric} — median {med:.2f} dB" if math.isfinite(med) else metric)
        if math.isfinite(med):
            shapes.append(
                dict(
                    type="line", xref=f"x{suffix} domain", x0=0, x1=1, yref=f"y{suffix}",
                    y0=med, y1=med, line={"dash": "dot", "color": color, "width": 1},
                )
            )  # fmt: skip
        yaxis, markers, notes, off = _off_scale(
            traces[-1:], axis="y", axes=(f"x{suffix}", f"y{suffix}"), label=metric,
            track_label=track,
        )  # fmt: skip
        traces += markers
        annotations += notes
        off_scale += off
        layout[f"yaxis{suffix}"] = {"title": {"text": "dB"}, **yaxis}
    fig = make_subplots(
        rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08,
        subplot_titles=titles,
    )  # fmt: skip
    fig.add_traces(traces)
    fig.update_layout(layout, shapes=shapes, meta={"off_scale": off_scale})
    for note in annotations:
        fig.add_annotation(note)
    end = duration if duration is not None else float(times_all[-1]) + step
    fig.update_xaxes(range=[0, end])
    fig.update_xaxes(title_text="time (s, window start)", row=len(metrics), col=1)
    fig.update_layout(
        title=f"{track} · {method} · {TARGET_LABELS.get(target, target)} · α = {a:.2f}",
        height=height,
        showlegend=False,
        hovermode="x unified",
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


def per_track_figure(
    medians: pd.DataFrame,
    *,
    metric: str,
    target: str,
    alpha: float,
    methods: Sequence[str] | None = None,
    height: int = 360,
) -> go.Figure:
    """Each track's median ``metric`` at one α, one point per track and method.

    It grows by a point per finished track × method while a run is being written, and shows
    which tracks are hard.

    Parameters
    ----------
    medians
        :func:`core.evaluation.results.per_track_medians` (columns ``track, method, alpha,
        target, metric, value``).
    metric, target
        Which values.
    alpha
        The threshold; the nearest α of ``medians`` is used.
    methods
        Methods to draw (default: all in ``medians``).

    Returns
    -------
    go.Figure
        One ``markers`` trace per method (``meta.role == "per_track"``), ``x`` = track names
        (sorted), ``y`` = per-track median (dB), ``customdata`` rows ``[track, method,
        alpha]``; the y range is :func:`robust_range` (off-scale points as in
        :func:`alpha_curves_figure`).
    """
    methods = list(methods) if methods is not None else methods_of(medians)
    label = TARGET_LABELS.get(target, target)
    sel = medians[(medians["metric"] == metric) & (medians["target"] == target)]
    sel = sel[sel["method"].isin(methods)]
    if sel.empty:
        return _empty_figure(f"No {metric} values for {label} yet.", height=height)
    a = nearest_alpha(alphas_of(sel), alpha)
    sel = sel[np.isclose(sel["alpha"], a)]
    traces: list[dict[str, Any]] = []
    for method in methods:
        s = sel[sel["method"] == method].sort_values("track")
        if s.empty:
            continue
        color = method_color(method, methods)
        ceiling = method in ORACLE_METHODS
        tracks = s["track"].astype(str).to_list()
        traces.append(
            dict(
                type="scatter",
                x=tracks,
                y=s["value"].to_numpy(float),
                mode="markers",
                name=f"{method} (ceiling)" if ceiling else method,
                marker={"size": 10, "color": color, "symbol": "diamond" if ceiling else "circle"},
                customdata=[[t, method, a] for t in tracks],
                hovertemplate=(
                    f"<b>{method}</b> · %{{x}}<br>α = {a:.2f}<br>median {metric} = %{{y:.2f}} dB"
                    f"{_hover_help(metric)}<br><i>click: open in Mask explorer</i><extra></extra>"
                ),
                meta={"role": "per_track", "method": method},
            )
        )
    yaxis, markers, notes, off = _off_scale(
        traces, axis="y", axes=("x", "y"), label=metric, track_label="per track"
    )
    n = sel["track"].nunique()
    fig = go.Figure(traces + markers)
    fig.update_layout(
        title=f"Per track: median {metric} of {label} at α = {a:.2f} — {n} track(s)",
        height=height,
        xaxis={
            "title": {"text": "track"},
            "type": "category",
            "categoryorder": "category ascending",
        },
        yaxis={"title": {"text": f"{metric} (dB, higher is better)"}, **yaxis},
        annotations=notes,
        meta={"off_scale": off},
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": -0.3},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig
