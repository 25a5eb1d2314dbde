"""Metrics page data and figures: SDR / SIR / SAR across the confidence threshold α.

Every figure builder here is pure (a tidy metrics table in, a plotly figure out, no ``st.*``), so
it works in a notebook and in unit tests. The tidy table has one row per framewise value, with
columns ``track, method, alpha, target, metric, window, time, value`` (``time`` is the window
start in seconds, ``value`` in dB, NaN for an undefined window), as produced by
:meth:`core.results.ResultsRun.tidy`.

Aggregation follows SiSEC / museval: the median over windows of each track (NaN ignored), then
the median over tracks; the spread is the interquartile range over tracks (or, for a single
track, over its windows).

Only :func:`load_run` and :func:`find_runs` touch Streamlit (caching) and the file system.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

#: Metric names in display order (BSS Eval v4 / museval).
METRICS = ("SDR", "SIR", "SAR", "ISR")
#: The three metrics of the paper's panels.
PANEL_METRICS = ("SDR", "SIR", "SAR")
#: The fixed two-source evaluation set.
TARGETS = ("vocals", "accompaniment")
#: Human labels of the targets (the paper's "vocal" and "non-vocal").
TARGET_LABELS = {"vocals": "vocals", "accompaniment": "accompaniment (non-vocal)"}
#: The value of the track selector meaning "median over tracks".
MEDIAN = "median"
#: Methods drawn as a ceiling rather than as a contender.
CEILING_METHODS = ("oracle", "oracle-irm")
#: Columns of the tidy table.
TIDY_COLUMNS = ("track", "method", "alpha", "target", "metric", "window", "time", "value")

METHOD_COLORS = {
    "dnn": "#1f77b4",
    "traditional": "#ff7f0e",
    "oracle": "#555555",
    "oracle-irm": "#8c8c8c",
}
_FALLBACK_COLORS = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
METRIC_COLORS = {"SDR": "#2ca02c", "SIR": "#d62728", "SAR": "#9467bd", "ISR": "#8c564b"}

#: Decimals α values are rounded to when grouping (float noise in stored grids).
_ALPHA_DECIMALS = 6


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


def normalize_tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with canonical dtypes: metric names upper-case, α rounded, value float.

    Parameters
    ----------
    df
        A tidy metrics table (see the module docstring). A missing ``time`` column is filled
        from ``window`` (1 s windows); a missing ``window`` column from ``time``.

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    required = {"track", "method", "alpha", "target", "metric", "value"}
    missing = required - set(df.columns)
    if missing:
        raise ValueError(f"tidy metrics table lacks columns {sorted(missing)}; got {list(df)}")
    out = df.copy()
    out["track"] = out["track"].astype(str)
    out["method"] = out["method"].astype(str)
    out["target"] = out["target"].astype(str)
    out["metric"] = out["metric"].astype(str).str.upper()
    out["alpha"] = out["alpha"].astype(float).round(_ALPHA_DECIMALS)
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    if "window" not in out and "time" in out:
        out["window"] = out.groupby(["track", "method", "alpha", "target", "metric"]).cumcount()
    if "window" not in out:
        out["window"] = 0
    if "time" not in out:
        out["time"] = out["window"].astype(float)
    out["time"] = out["time"].astype(float)
    return out


def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    vals = list(dict.fromkeys(values))
    return [v for v in order if v in vals] + sorted(v for v in vals if v not in order)


def methods_of(df: pd.DataFrame) -> list[str]:
    """Methods present in ``df``: known ones in the canonical order, then the rest sorted."""
    return _ordered(df["method"].unique(), ("dnn", "traditional", "oracle", "oracle-irm"))


def tracks_of(df: pd.DataFrame) -> list[str]:
    """Tracks present in ``df``, sorted."""
    return sorted(df["track"].unique())


def targets_of(df: pd.DataFrame) -> list[str]:
    """Targets present in ``df`` (vocals first)."""
    return _ordered(df["target"].unique(), TARGETS)


def metrics_of(df: pd.DataFrame) -> list[str]:
    """Metrics present in ``df`` (SDR, SIR, SAR, ISR order)."""
    return _ordered(df["metric"].unique(), METRICS)


def alphas_of(df: pd.DataFrame) -> list[float]:
    """The α grid of ``df``, ascending."""
    return sorted(float(a) for a in df["alpha"].unique())


def per_track_medians(df: pd.DataFrame) -> pd.DataFrame:
    """Median over windows of each (track, method, α, target, metric), NaN windows ignored.

    Returns
    -------
    DataFrame
        Columns ``track, method, alpha, target, metric, value`` (``value`` NaN only when every
        window of that track is NaN).
    """
    keys = ["track", "method", "alpha", "target", "metric"]
    return df.groupby(keys, sort=True)["value"].median().reset_index()


def alpha_curve_stats(
    df: pd.DataFrame,
    *,
    metric: str | None = None,
    target: str | None = None,
    tracks: str = MEDIAN,
) -> pd.DataFrame:
    """The numbers behind the α-curves panels.

    Parameters
    ----------
    df
        Tidy metrics table.
    metric, target
        E.g. ``"SDR"``, ``"vocals"``; ``None`` keeps every metric (target) and adds a
        ``metric`` (``target``) column to the result, so all panels cost one grouping.
    tracks
        ``"median"``: per-track medians over windows, then median and quartiles over tracks.
        A track name: that track's median over windows, quartiles over its windows.

    Returns
    -------
    DataFrame
        One row per (method, α): ``method, alpha, median, q25, q75, n`` where ``n`` counts the
        tracks (or windows) that had a defined value. Sorted by method then α.
    """
    keep = np.ones(len(df), dtype=bool)
    keys = ["method", "alpha"]
    if metric is not None:
        keep &= (df["metric"] == metric.upper()).to_numpy()
    else:
        keys = ["metric", *keys]
    if target is not None:
        keep &= (df["target"] == target).to_numpy()
    else:
        keys = ["target", *keys]
    if tracks != MEDIAN:
        keep &= (df["track"] == tracks).to_numpy()
    sub = df[keep]
    if tracks == MEDIAN:
        sub = per_track_medians(sub)
    grouped = sub.groupby(keys, sort=True)["value"]
    stats = pd.DataFrame(
        {
            "median": grouped.median(),
            "q25": grouped.quantile(0.25),
            "q75": grouped.quantile(0.75),
            "n": grouped.count(),
        }
    ).reset_index()
    return stats


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
        ceiling = method in CEILING_METHODS
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
                    f"{metric} = %{{y:.2f}} dB<br>{spread}: %{{text}} dB"
                    "<br><i>click: open in Mask explorer</i><extra></extra>"
                ),
                meta={"role": "ceiling" if ceiling else "curve", "method": method},
                **on,
            )
        )
    return traces


def alpha_curves_figure(
    df: pd.DataFrame,
    *,
    metric: str,
    target: str,
    tracks: str = MEDIAN,
    methods: Sequence[str] | None = None,
    height: int = 420,
) -> go.Figure:
    """``metric`` against α, one curve per method, with the interquartile band.

    Parameters
    ----------
    df
        Tidy metrics table (columns ``track, method, alpha, target, metric, window, time,
        value``).
    metric
        ``"SDR"``, ``"SIR"``, ``"SAR"`` or ``"ISR"``.
    target
        ``"vocals"`` or ``"accompaniment"``.
    tracks
        ``"median"`` (median over tracks of the per-track medians over windows, band = IQR over
        tracks) or a track name (its median over windows, band = IQR over windows).
    methods
        Methods to draw (default: all in ``df``). Oracle methods are drawn dashed, without a
        band, as the ceiling.
    height
        Figure height in pixels.

    Returns
    -------
    go.Figure
        Per method: two band traces (``meta.role == "band"``; none for a ceiling) then the
        curve (``mode="lines+markers"`` so points are clickable, ``meta.role`` ``"curve"`` or
        ``"ceiling"``) whose ``customdata`` rows are ``[track, method, alpha]`` (track ``""``
        for the median over tracks).
    """
    methods = list(methods) if methods is not None else methods_of(df)
    stats = alpha_curve_stats(df, metric=metric, target=target, tracks=tracks)
    stats = stats[stats["method"].isin(methods)]
    label = TARGET_LABELS.get(target, target)
    title = f"{metric} of {label} vs α — " + (
        "median over tracks" if tracks == MEDIAN else f"track {tracks}"
    )
    if stats.empty:
        return _empty_figure(f"No {metric} values for {label} ({tracks}).", height=height)
    fig = go.Figure(_alpha_traces(stats, metric=metric, track_label=tracks, methods=methods))
    fig.update_layout(
        title=title,
        height=height,
        xaxis_title="confidence threshold α",
        yaxis_title=f"{metric} (dB)",
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def alpha_panels_figure(
    df: pd.DataFrame,
    *,
    tracks: str = MEDIAN,
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] = PANEL_METRICS,
    targets: Sequence[str] | None = None,
    height_per_row: int = 300,
) -> go.Figure:
    """The paper's panels: one row per target (vocal, non-vocal), one column per metric.

    Same traces as :func:`alpha_curves_figure` in every panel (legend shown once).

    Returns
    -------
    go.Figure
        ``len(targets) × len(metrics)`` subplots; curve traces carry ``customdata`` rows
        ``[track, method, alpha]``.
    """
    methods = list(methods) if methods is not None else methods_of(df)
    targets = list(targets) if targets is not None else targets_of(df)
    metrics = [m for m in metrics if m in set(df["metric"])] or list(metrics)
    if not targets or df.empty:
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
    all_stats = alpha_curve_stats(df, tracks=tracks)
    all_stats = all_stats[all_stats["method"].isin(methods)]
    for r, target in enumerate(targets):
        for c, metric in enumerate(metrics):
            n = r * len(metrics) + c + 1
            suffix = "" if n == 1 else str(n)
            stats = all_stats[(all_stats["target"] == target) & (all_stats["metric"] == metric)]
            traces += _alpha_traces(
                stats, metric=metric, track_label=tracks, methods=methods,
                axes=(f"x{suffix}", f"y{suffix}"), showlegend=not traces,
            )  # fmt: skip
            if c == 0:
                layout[f"yaxis{suffix}"] = {"title": {"text": "dB"}}
            if r == len(targets) - 1:
                layout[f"xaxis{suffix}"] = {"title": {"text": "α"}}
    fig.add_traces(traces)
    fig.update_layout(layout)
    fig.update_layout(
        height=height_per_row * len(targets) + 80,
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": -0.12},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def sar_vs_sir_stats(df: pd.DataFrame, *, target: str) -> pd.DataFrame:
    """Mean over tracks of the per-track medians of SIR and SAR, per (method, α).

    Returns
    -------
    DataFrame
        Columns ``method, alpha, SIR, SAR, n`` (``n`` tracks with both values defined).
    """
    sub = df[(df["target"] == target) & (df["metric"].isin(["SIR", "SAR"]))]
    med = per_track_medians(sub)
    wide = med.pivot_table(
        index=["method", "alpha", "track"], columns="metric", values="value", dropna=False
    ).reset_index()
    for m in ("SIR", "SAR"):
        if m not in wide:
            wide[m] = np.nan
    wide = wide.dropna(subset=["SIR", "SAR"])
    g = wide.groupby(["method", "alpha"], sort=True)
    return pd.DataFrame(
        {"SIR": g["SIR"].mean(), "SAR": g["SAR"].mean(), "n": g["SIR"].count()}
    ).reset_index()


def _alpha_label_positions(alphas: Sequence[float]) -> set[int]:
    """Indices of the α values labelled on the curve: ends and the one nearest 0.5."""
    if not alphas:
        return set()
    mid = int(np.argmin(np.abs(np.asarray(alphas) - 0.5)))
    return {0, len(alphas) - 1, mid}


def sar_vs_sir_figure(
    df: pd.DataFrame,
    *,
    target: str,
    methods: Sequence[str] | None = None,
    height: int = 420,
) -> go.Figure:
    """The like-to-like view: mean SAR as a function of mean SIR, one curve per method.

    Each point is one α (per-track medians over windows, then the mean over tracks, as the
    paper's means over songs); α is the hover label and labels the ends and the middle of each
    curve (not of the oracle ceiling, whose points nearly coincide). A method that sits above
    another at equal SIR has fewer artefacts for the same interference rejection.

    Returns
    -------
    go.Figure
        One ``lines+markers+text`` trace per method, ``x`` = mean SIR, ``y`` = mean SAR (dB),
        ``customdata`` rows ``["", method, alpha]``.
    """
    methods = list(methods) if methods is not None else methods_of(df)
    stats = sar_vs_sir_stats(df, target=target)
    stats = stats[stats["method"].isin(methods)]
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
        show = set() if method in CEILING_METHODS else _alpha_label_positions(alphas)
        traces.append(
            dict(
                type="scatter",
                x=s["SIR"].to_numpy(float),
                y=s["SAR"].to_numpy(float),
                mode="lines+markers+text",
                name=f"{method} (ceiling)" if method in CEILING_METHODS else method,
                line={"color": color, "dash": "dash" if method in CEILING_METHODS else "solid"},
                marker={
                    "size": 8,
                    "color": color,
                    "symbol": "diamond" if method in CEILING_METHODS else "circle",
                },
                text=[f"α={a:.2f}" if i in show else "" for i, a in enumerate(alphas)],
                textposition="top center",
                textfont={"size": 10, "color": color},
                customdata=[["", method, float(a)] for a in alphas],
                hovertemplate=(
                    f"<b>{method}</b><br>α = %{{customdata[2]:.2f}}<br>"
                    "mean SIR = %{x:.2f} dB<br>mean SAR = %{y:.2f} dB<extra></extra>"
                ),
                meta={"role": "curve", "method": method},
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        title=f"Mean SAR vs mean SIR over tracks — {label}",
        height=height,
        xaxis_title="mean SIR (dB)",
        yaxis_title="mean SAR (dB)",
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


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
                hovertemplate=f"t = %{{x:.1f}} s<br>{metric} = %{{y:.2f}} dB<extra></extra>",
                meta={"role": "framewise", "metric": metric},
                xaxis=f"x{suffix}",
                yaxis=f"y{suffix}",
            )
        )
        med = float(np.nanmedian(s["value"])) if s["value"].notna().any() else math.nan
        titles.append(f"{metric} — median {med:.2f} dB" if math.isfinite(med) else metric)
        if math.isfinite(med):
            shapes.append(
                dict(
                    type="line", xref=f"x{suffix} domain", x0=0, x1=1, yref=f"y{suffix}",
                    y0=med, y1=med, line={"dash": "dot", "color": color, "width": 1},
                )
            )  # fmt: skip
        layout[f"yaxis{suffix}"] = {"title": {"text": "dB"}}
    fig = make_subplots(
        rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08,
        subplot_titles=titles,
    )  # fmt: skip
    fig.add_traces(traces)
    fig.update_layout(layout, shapes=shapes)
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


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class ClickTarget:
    """Where a clicked point sends the user: a track, a method and an α."""

    track: str
    method: str
    alpha: float

    def query_params(self) -> dict[str, str]:
        """The Mask explorer's query parameters (α with two decimals)."""
        return {"track": self.track, "method": self.method, "alpha": f"{self.alpha:.2f}"}


def _selection_points(selection: Any) -> list[Mapping[str, Any]]:
    """Points of a plotly selection event, whichever wrapper it comes in."""
    if selection is None:
        return []
    if isinstance(selection, Mapping) and "selection" in selection:
        selection = selection["selection"]
    if isinstance(selection, Mapping) and "points" in selection:
        return list(selection["points"] or [])
    if isinstance(selection, Mapping) and {"customdata", "curve_number"} & set(selection):
        return [selection]
    return []


def points_to_target(
    selection: Any,
    *,
    figure: go.Figure | None = None,
    fallback_track: str = "",
) -> ClickTarget | None:
    """Map a plotly selection event (or one point) to the (track, method, α) it stands for.

    Parameters
    ----------
    selection
        ``st.plotly_chart``'s event (``{"selection": {"points": [...]}}``), its ``selection``
        dict, or a single point dict. The first point is used. A point carries ``customdata``
        ``[track, method, alpha]``; without it, ``curve_number`` / ``point_index`` are looked up
        in ``figure``.
    figure
        The figure that was clicked (needed only for points without ``customdata``).
    fallback_track
        Track used when the point stands for the median over tracks (``track == ""``).

    Returns
    -------
    ClickTarget or None
        ``None`` when nothing (usable) is selected, e.g. a click on a band.
    """
    for point in _selection_points(selection):
        custom = point.get("customdata")
        if custom is None and figure is not None:
            try:
                trace = figure.data[int(point["curve_number"])]
                idx = int(point.get("point_index", point.get("point_number")))
                custom = None if trace.customdata is None else trace.customdata[idx]
            except (KeyError, IndexError, TypeError, ValueError):
                custom = None
        if custom is None or len(custom) < 3:
            continue
        track, method, alpha = str(custom[0]), str(custom[1]), custom[2]
        try:
            alpha_f = float(alpha)
        except (TypeError, ValueError):
            continue
        track = track or fallback_track
        if not track or not method or not math.isfinite(alpha_f):
            continue
        return ClickTarget(track=track, method=method, alpha=alpha_f)
    return None


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class RunData:
    """A results run as the page needs it.

    Attributes
    ----------
    path
        The run folder.
    config
        Its configuration (command, methods, α grid, code version, ...).
    tidy
        The normalized tidy metrics table (see :func:`normalize_tidy`).
    """

    path: str
    config: dict[str, Any] = field(default_factory=dict)
    tidy: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def tracks(self) -> list[str]:
        """Tracks, sorted."""
        return tracks_of(self.tidy)

    @property
    def methods(self) -> list[str]:
        """Methods in canonical order."""
        return methods_of(self.tidy)

    @property
    def alphas(self) -> list[float]:
        """The α grid, ascending."""
        return alphas_of(self.tidy)


def _fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime ns, size) of the run's files, so a re-run or an edit invalidates the cache.

    Only the folder's own files (a run is flat), so pointing at a huge folder stays cheap.
    """
    if not (path / "config.json").is_file():
        return ()
    out = []
    for p in sorted(path.iterdir()):
        if p.is_file() and (p.suffix in (".json", ".parquet", ".csv")):
            st_ = p.stat()
            out.append((p.name, st_.st_mtime_ns, st_.st_size))
    return tuple(out)


def read_run(path: str | Path) -> RunData:
    """Open a results run with :func:`core.results.open_run` (uncached).

    Raises
    ------
    core.errors.ResultsError
        If ``path`` is not a results run (message from :mod:`core.results`).
    """
    from core.results import open_run

    run = open_run(Path(path))
    tidy = run.tidy() if callable(getattr(run, "tidy", None)) else _module_tidy(run)
    config = getattr(run, "config", {}) or {}
    if not isinstance(config, dict):
        config = config.to_dict() if hasattr(config, "to_dict") else dict(vars(config))
    return RunData(path=str(path), config=dict(config), tidy=normalize_tidy(tidy))


def _module_tidy(run: Any) -> pd.DataFrame:
    from core import results

    return results.tidy(run)


@st.cache_data(max_entries=8, show_spinner="Loading results…")
def _load_run_cached(path: str, fingerprint: tuple[tuple[str, int, int], ...]) -> RunData:
    del fingerprint  # part of the cache key only
    return read_run(path)


def load_run(path: str | Path) -> RunData:
    """Cached :func:`read_run`, keyed by the folder and the mtimes/sizes of its files.

    Raises
    ------
    core.errors.ResultsError
        If ``path`` is not a results run.
    """
    p = Path(path).expanduser()
    return _load_run_cached(str(p.resolve()), _fingerprint(p))


def find_runs(assets: Path, results: Path) -> list[Path]:
    """Results runs to offer: the shipped ``assets/results/*`` runs first, then the user's."""
    from core.inventory import scan

    return list(scan(assets, results).results_runs)


def config_rows(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's configuration as (name, value) text rows, the key facts first."""
    first = (
        "command", "methods", "alphas", "tracks", "data", "metric", "code_version", "git_commit",
        "created",
    )  # fmt: skip
    keys = [k for k in first if k in config] + [k for k in config if k not in first]
    rows = []
    for k in keys:
        v = config[k]
        if k == "alphas" and isinstance(v, list | tuple) and v:
            text = f"{len(v)} values, {min(v):.2f} … {max(v):.2f}"
        elif isinstance(v, list | tuple):
            text = ", ".join(map(str, v))
        elif isinstance(v, Mapping):
            text = ", ".join(f"{a}={b}" for a, b in v.items())
        else:
            text = str(v)
        rows.append((k, text))
    return rows


def run_label(path: str | Path) -> str:
    """A run folder shown relative to the repository when it lives inside it."""
    from core.paths import REPO_ROOT

    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


@dataclass(frozen=True)
class TrackAudio:
    """A track's mixture file and the duration (s) of its evaluated part."""

    path: Path
    duration: float


def track_audio(config: Mapping[str, Any], track: str, assets: Path) -> TrackAudio | None:
    """Find the mixture of ``track``: under the run's data folder, else the shipped demo tracks.

    Looks for ``<data>/<track>/mixture.(wav|flac)`` and ``<data>/<split>/<track>/...`` where
    ``<data>`` is the run config's ``data`` (or ``corpus``) entry, then
    ``<assets>/demo_tracks/<track>/``; a relative ``data`` is taken from the repository root.
    ``duration`` is the file's, capped at the run's ``max_seconds`` (the evaluated part).
    Returns ``None`` when nothing readable is found.
    """
    import soundfile as sf

    from core.paths import REPO_ROOT

    roots: list[Path] = []
    for key in ("data", "corpus", "data_dir"):
        value = config.get(key)
        if isinstance(value, str) and value:
            # runs record paths inside the repository relative to it (portable configs)
            roots += [Path(value)] if Path(value).is_absolute() else [REPO_ROOT / value]
    roots.append(assets / "demo_tracks")
    limit = config.get("max_seconds")
    limit = float(limit) if isinstance(limit, int | float) and limit > 0 else math.inf
    for root in roots:
        for folder in (root / track, *(root / s / track for s in ("test", "valid", "train"))):
            for suffix in (".wav", ".flac"):
                f = folder / f"mixture{suffix}"
                if f.is_file():
                    try:
                        seconds = float(sf.info(str(f)).duration)
                        return TrackAudio(path=f, duration=min(seconds, limit))
                    except (RuntimeError, OSError):  # soundfile's LibsndfileError is both
                        continue
    return None


def track_folder(config: Mapping[str, Any], track: str, assets: Path) -> Path | None:
    """The folder holding ``track``'s audio (see :func:`track_audio`), or ``None``."""
    audio = track_audio(config, track, assets)
    return None if audio is None else audio.path.parent


def explorer_params(
    clicked: ClickTarget, config: Mapping[str, Any], assets: Path
) -> dict[str, str]:
    """Query parameters opening the Mask explorer at ``clicked``.

    ``track`` is the demo-track name when the track is a shipped demo track (or cannot be
    found), else the path of its folder under the run's data folder, which the explorer opens
    as a dataset track.
    """
    params = clicked.query_params()
    folder = track_folder(config, clicked.track, assets)
    demo_root = (assets / "demo_tracks").resolve()
    if folder is not None and folder.resolve().parent != demo_root:
        params["track"] = str(folder)
    return params


#: Widget keys whose values depend on the run (its tracks, methods and α grid).
RUN_DEPENDENT_KEYS = ("met.methods", "met.track", "met.fw_track", "met.fw_method", "met.fw_alpha")


def reset_on_run_change(run: RunData, state: Any) -> bool:
    """Forget run-dependent selector values when another run is opened (call before widgets).

    Parameters
    ----------
    run
        The run about to be shown.
    state
        ``st.session_state`` (any mutable mapping).

    Returns
    -------
    bool
        Whether the run changed (and the selectors were reset to their defaults).
    """
    if state.get("met._run") == run.path:
        return False
    for key in RUN_DEPENDENT_KEYS:
        if key in state:
            del state[key]
    state["met._run"] = run.path
    return True
