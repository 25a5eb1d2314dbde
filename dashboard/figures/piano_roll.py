"""Piano-roll figures of the blues composer: numpy in, plotly figure out (no Streamlit).

:func:`piano_roll_figure` draws a roll with bar lines, chord labels and (optionally) the model's
probabilities under it; :func:`form_accuracy_chart` and :func:`loss_figure` draw the measures
and the training curve. All work in a notebook and in unit tests.

Piano-roll conventions (see :class:`core.blues.representation.BluesForm`): rows are the chord
units (``chord_low`` .. ``chord_low + n_chord - 1``) followed by the melody units
(``melody_low`` ..); ``steps_per_bar`` steps (eighth notes) per 4/4 bar; x axes are in bars.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.types import FloatArray

#: Colours of the two voices (also used by :mod:`dashboard.player`).
CHORD_COLOR = "#3b6fb6"
MELODY_COLOR = "#e8772e"
PRIME_COLOR = "rgba(120, 120, 120, 0.18)"
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class FormLike(Protocol):
    """What the figures need from a :class:`core.blues.representation.BluesForm`."""

    chord_low: int
    n_chord: int
    melody_low: int
    n_melody: int
    steps_per_bar: int

    def chord_label(self, bar: int) -> str: ...  # noqa: D102


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI note number (60 → ``"C4"``)."""
    return f"{_NOTE_NAMES[int(pitch) % 12]}{int(pitch) // 12 - 1}"


def row_pitches(form: FormLike, n_rows: int) -> np.ndarray:
    """MIDI pitch of each roll row: chord rows, then melody rows.

    Parameters
    ----------
    form
        The blues form (gives ``chord_low``, ``n_chord``, ``melody_low``).
    n_rows
        Rows of the roll: ``n_chord`` (chords only) or ``n_chord + n_melody``.

    Returns
    -------
    ndarray
        ``(n_rows,)`` int pitches.

    Raises
    ------
    ValueError
        If ``n_rows`` is neither ``n_chord`` nor ``n_chord + n_melody``.
    """
    if n_rows not in (form.n_chord, form.n_chord + form.n_melody):
        raise ValueError(
            f"roll has {n_rows} rows; expected {form.n_chord} (chords) or "
            f"{form.n_chord + form.n_melody} (chords + melody)"
        )
    chords = form.chord_low + np.arange(form.n_chord)
    melody = form.melody_low + np.arange(n_rows - form.n_chord)
    return np.concatenate([chords, melody]).astype(int)


def _check_roll(roll: FloatArray, name: str = "roll") -> np.ndarray:
    arr = np.asarray(roll, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be (pitches, steps) with steps > 0, got shape {arr.shape}")
    return arr


def _on_or_nan(rows: np.ndarray) -> np.ndarray:
    """Binary rows → 1.0 where on, NaN where off (so the background shows through)."""
    return np.where(rows > 0.5, 1.0, np.nan).astype(np.float32)


#: Font size (px) of the chord labels over the roll: the smallest that stays readable.
CHORD_LABEL_FONT = 10
#: Free space (px) kept between two neighbouring chord labels.
CHORD_LABEL_GAP = 4.0


def label_width_px(text: str, font_size: float) -> float:
    """Estimated rendered width in px of a one-line label (sans-serif, ~0.62 em a character)."""
    return 0.62 * float(font_size) * len(text)


def chord_label_bars(
    labels: Sequence[str],
    *,
    bar_px: float,
    font_size: float = CHORD_LABEL_FONT,
    chorus_bars: int = 12,
    gap: float = CHORD_LABEL_GAP,
) -> list[int]:
    """The bars whose chord label is drawn, so that no two drawn labels overlap.

    Labels are centred on their bar. They are placed greedily by priority: first the
    chorus starts, then the bars where the chord changes, then the rest, each group from
    left to right; a label is dropped when it would come closer than ``gap`` px to one
    already placed. With room enough every bar is labelled.

    Parameters
    ----------
    labels
        ``(bars,)`` chord symbol of each bar.
    bar_px
        Width of one bar on screen in px.
    font_size
        Label font size in px (see :func:`label_width_px`).
    chorus_bars
        Bars per chorus.
    gap
        Minimum free space between two labels in px.

    Returns
    -------
    list of int
        Sorted 0-based bar indices.
    """
    n = len(labels)
    if n == 0:
        return []
    half = [label_width_px(t, font_size) / 2 for t in labels]
    starts = [b for b in range(n) if b % max(int(chorus_bars), 1) == 0]
    changes = [b for b in range(1, n) if labels[b] != labels[b - 1]]
    order = list(dict.fromkeys([*starts, *changes, *range(n)]))  # priority, no repeats
    placed: list[int] = []  # sorted bars
    for b in order:
        i = bisect.bisect_left(placed, b)
        left = placed[i - 1] if i > 0 else None
        right = placed[i] if i < len(placed) else None
        if left is not None and (b - left) * bar_px < half[left] + half[b] + gap:
            continue
        if right is not None and (right - b) * bar_px < half[right] + half[b] + gap:
            continue
        placed.insert(i, b)
    return placed


def piano_roll_figure(
    roll: FloatArray,
    *,
    form: FormLike,
    probs: FloatArray | None = None,
    n_prime_steps: int = 0,
    height: int | None = None,
    label_chords: bool = True,
    plot_width: float = 900.0,
    playhead: str | None = None,
) -> go.Figure:
    """Piano roll of chords and melody, with bar lines, chord labels and probabilities under it.

    Parameters
    ----------
    roll
        ``(n_rows, steps)`` binary piano roll (float32 0/1): ``n_chord`` chord rows, then
        (optionally) ``n_melody`` melody rows.
    form
        The blues form: pitch layout, ``steps_per_bar`` and ``chord_label(bar)``.
    probs
        Optional ``(n_rows, steps)`` per-step output probabilities in [0, 1]; shown as a heatmap
        in a second panel that shares the x axis (bars) with the roll.
    n_prime_steps
        Steps at the start that were given (priming) rather than generated; shaded and marked.
    height
        Figure height in px (default: 320, plus 240 with probabilities).
    label_chords
        Write ``form.chord_label(bar)`` above the bars, thinned when crowded (see
        :func:`chord_label_bars`): a label never overlaps its neighbour, chorus starts and
        chord changes are labelled first, and each label's hover text lists the bars it
        stands for.
    plot_width
        Expected width of the plot area in px (where the figure will be shown), used only to
        thin the chord labels.
    playhead
        Key of a :func:`dashboard.player.roll_player` whose playhead should also move over
        this roll: stored as ``layout.meta["playhead"]`` (the player finds the chart by it).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: ``chords`` and ``melody`` heatmaps (melody only when the roll has melody rows),
        then ``probabilities``. Shapes named ``bar line`` (``bars + 1`` of them, spanning both
        panels), ``voice split`` (with melody) and ``prime`` (when primed); annotations named
        ``chord label`` (font size in ``font.size``). The x axis is in bars (step / steps_per_bar).

    Raises
    ------
    ValueError
        On a roll that is not 2-D, has no steps or the wrong number of rows, or probabilities
        whose shape differs from the roll's.
    """
    arr = _check_roll(roll)
    pitches = row_pitches(form, arr.shape[0])
    spb = int(form.steps_per_bar)
    steps = arr.shape[1]
    bars = int(np.ceil(steps / spb))
    has_probs = probs is not None
    if has_probs:
        p = _check_roll(probs, "probs")  # type: ignore[arg-type]
        if p.shape != arr.shape:
            raise ValueError(f"probs shape {p.shape} differs from roll shape {arr.shape}")

    if has_probs:
        fig = make_subplots(
            rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.55, 0.45],
        )  # fmt: skip
    else:
        fig = go.Figure()
    cell = {"x0": 0.5 / spb, "dx": 1.0 / spb}  # cell centres, in bars
    nc = form.n_chord
    voices = [("chords", slice(0, nc), CHORD_COLOR)]
    if arr.shape[0] > nc:
        voices.append(("melody", slice(nc, arr.shape[0]), MELODY_COLOR))
    for name, rows, color in voices:
        trace = go.Heatmap(
            z=_on_or_nan(arr[rows]), y=pitches[rows], **cell, name=name,
            colorscale=[[0.0, color], [1.0, color]], zmin=0, zmax=1, showscale=False, ygap=1,
            hovertemplate=f"{name}: pitch %{{y}}<br>bar %{{x:.2f}}<extra></extra>",
        )  # fmt: skip
        fig.add_trace(trace, row=1, col=1) if has_probs else fig.add_trace(trace)
    if has_probs:
        fig.add_trace(
            go.Heatmap(
                z=p, y=pitches, **cell, name="probabilities", colorscale="Viridis",
                zmin=0, zmax=1, colorbar={"title": "p", "len": 0.42, "y": 0.2, "thickness": 12},
                hovertemplate="pitch %{y}<br>bar %{x:.2f}<br>p = %{z:.3f}<extra></extra>",
            ),  # fmt: skip
            row=2, col=1,
        )  # fmt: skip

    # shapes and annotations are collected and set once: add_shape one by one is quadratic
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    # bar lines across both panels; chorus starts drawn darker
    chorus_bars = int(getattr(form, "n_bars", 12))
    for b in range(bars + 1):
        chorus = b % chorus_bars == 0
        shapes.append({
            "type": "line", "x0": b, "x1": b, "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
            "name": "bar line", "layer": "above",
            "line": {"color": "rgba(0,0,0,0.45)" if chorus else "rgba(0,0,0,0.15)",
                     "width": 1.5 if chorus else 1},
        })  # fmt: skip
    if arr.shape[0] > nc:  # between the chord octave and the melody
        split = (pitches[nc - 1] + pitches[nc]) / 2
        shapes.append({
            "type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": split, "y1": split,
            "yref": "y", "name": "voice split", "line": {"color": "rgba(0,0,0,0.35)", "width": 1},
        })  # fmt: skip
    if n_prime_steps > 0:
        end = min(n_prime_steps, steps) / spb
        shapes.append({
            "type": "rect", "x0": 0, "x1": end, "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
            "name": "prime", "fillcolor": PRIME_COLOR, "line": {"width": 0}, "layer": "below",
        })  # fmt: skip
        notes.append({
            "x": end, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom",
            "xanchor": "right", "text": "primed ◂", "showarrow": False, "name": "prime end",
            "font": {"size": 10}, "yshift": 14,
        })  # fmt: skip
    if label_chords:
        labels = [form.chord_label(b) for b in range(bars)]
        bar_px = float(plot_width) * spb / steps
        size = CHORD_LABEL_FONT + 1 if bar_px >= 40 else CHORD_LABEL_FONT
        shown = chord_label_bars(labels, bar_px=bar_px, font_size=size, chorus_bars=chorus_bars)
        ends = [*shown[1:], bars]
        notes.extend({
            "x": b + 0.5, "y": 1.0, "xref": "x", "yref": "y domain", "yanchor": "bottom",
            "text": labels[b], "showarrow": False, "name": "chord label",
            "font": {"size": size},
            "hovertext": "<br>".join(f"bar {c + 1}: {labels[c]}" for c in range(b, end)),
        } for b, end in zip(shown, ends, strict=True))  # fmt: skip
    fig.update_layout(
        shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *notes]
    )

    dtick = 1 if bars <= 16 else 4 if bars <= 64 else 12
    ticks = pitches[(pitches % 12 == 0) | (pitches % 12 == 7) | (pitches == pitches[-1])]
    yaxis = {
        "tickvals": ticks.tolist(), "ticktext": [note_name(q) for q in ticks],
        "range": [pitches.min() - 0.5, pitches.max() + 0.5], "tickfont": {"size": 9},
    }  # fmt: skip
    fig.update_xaxes(range=[0, steps / spb], dtick=dtick, showgrid=False)
    fig.update_yaxes(**yaxis, showgrid=False)
    if has_probs:
        fig.update_xaxes(title_text="bar", row=2, col=1)
        fig.update_yaxes(title_text="roll", row=1, col=1)
        fig.update_yaxes(title_text="p(on)", row=2, col=1)
    else:
        fig.update_xaxes(title_text="bar")
    fig.update_layout(
        height=height or (560 if has_probs else 320), margin={"l": 50, "r": 20, "t": 40, "b": 40},
        showlegend=False, plot_bgcolor="white", hovermode="closest",
    )  # fmt: skip
    if playhead is not None:
        fig.update_layout(meta={"playhead": str(playhead)})
    return fig


#: Colour of the choruses below the goal accuracy in :func:`form_accuracy_chart`.
OFF_FORM_COLOR = "#c0392b"
GOAL_COLOR = "#333333"


def form_accuracy_chart(
    per_chorus: Sequence[float] | FloatArray,
    *,
    goal: float = 0.99,
    perturb: tuple[int, int] | None = None,
    bars_per_chorus: int = 12,
) -> go.Figure:
    """Chord-form accuracy per 12-bar chorus as a small bar chart with a legend.

    Parameters
    ----------
    per_chorus
        ``(n_choruses,)`` accuracies in [0, 1] (share of steps whose chord follows the form).
    goal
        Accuracy drawn as a dashed, labelled reference line (the issue's 99 % target); the
        y range always leaves room above it, so the line shows even over full bars.
    perturb
        ``(start_bar, n_bars)`` of forced wrong chords (0-based bars): the choruses holding
        them are shaded and labelled, so the recovery shows in the following bars.
    bars_per_chorus
        Bars per chorus (to place ``perturb``).

    Returns
    -------
    plotly.graph_objects.Figure
        Bar traces ``on the form`` (accuracy >= goal) and ``off the form`` (below it), in
        percent, x = chorus number from 1; a line trace ``<goal> % goal`` at ``100 * goal``
        (all three in the legend); an annotation named ``goal label``. y range [0, 108].

    Raises
    ------
    ValueError
        If ``per_chorus`` is not 1-D.
    """
    acc = np.asarray(per_chorus, dtype=np.float64)
    if acc.ndim != 1:
        raise ValueError(f"per_chorus must be 1-D, got shape {acc.shape}")
    x = np.arange(1, acc.size + 1)
    ok = acc >= goal
    pct = f"{100 * goal:g} %"
    fig = go.Figure()
    for name, sel, color in (
        (f"on the form (≥ {pct})", ok, CHORD_COLOR),
        (f"off the form (< {pct})", ~ok, OFF_FORM_COLOR),
    ):
        fig.add_trace(
            go.Bar(
                x=x[sel],
                y=100 * acc[sel],
                name=name,
                marker_color=color,
                hovertemplate="chorus %{x}: %{y:.1f} %<extra></extra>",
            )  # fmt: skip
        )
    fig.add_trace(  # a trace, not a shape, so that it has a legend entry
        go.Scatter(
            x=[0.5, max(acc.size, 1) + 0.5],
            y=[100 * goal] * 2,
            mode="lines",
            name=f"{pct} goal",
            line={"dash": "dash", "color": GOAL_COLOR, "width": 1.5},
            hoverinfo="skip",
        )  # fmt: skip
    )
    annotations = [{
        "x": 1.0, "xref": "x domain", "y": 100 * goal, "yref": "y", "xanchor": "right",
        "yanchor": "bottom", "text": f"goal {pct}", "showarrow": False, "name": "goal label",
        "font": {"size": 10, "color": GOAL_COLOR}, "bgcolor": "rgba(255,255,255,0.7)",
    }]  # fmt: skip
    fig.update_layout(annotations=annotations)
    if perturb is not None:
        b0, n = int(perturb[0]), int(perturb[1])
        c0, c1 = b0 // bars_per_chorus + 1, (b0 + n - 1) // bars_per_chorus + 1
        label = f"bar {b0 + 1} forced" if n == 1 else f"bars {b0 + 1}-{b0 + n} forced"
        fig.add_vrect(
            x0=c0 - 0.5, x1=c1 + 0.5, fillcolor="#f39c12", opacity=0.2, line_width=0,
            annotation_text=label, annotation_position="top left",
            annotation_font_size=10, name="perturbed",
        )  # fmt: skip
    fig.update_layout(
        height=300, margin={"l": 40, "r": 10, "t": 30, "b": 35}, showlegend=True,
        title={"text": "Form accuracy per 12-bar chorus", "font": {"size": 12}},
        xaxis={"title": "chorus", "dtick": 1 if acc.size <= 20 else None,
               "range": [0.5, max(acc.size, 1) + 0.5]},
        yaxis={"title": "%", "range": [0, 108]}, barmode="overlay",
        legend={"orientation": "h", "y": -0.3, "x": 0, "font": {"size": 10}},
    )  # fmt: skip
    return fig


def loss_figure(
    losses: Sequence[float],
    form_accs: Sequence[float] | None = None,
    *,
    stage_change: int | None = None,
    epochs_planned: int | None = None,
) -> go.Figure:
    """Training curve: loss per epoch, and form accuracy (right axis) when given.

    Parameters
    ----------
    losses
        Training loss per finished epoch.
    form_accs
        Form accuracy in [0, 1] per finished epoch (same length), optional.
    stage_change
        Epochs of the first (chord) stage of a two-stage Experiment 2 run, once the second
        (melody) stage has begun: a vertical line at ``stage_change + 0.5`` named ``stage
        change`` and a label. Its loss is the chord loss only; the melody stage's loss adds
        the melody's, so the curve jumps there.
    epochs_planned
        Epochs the run may take in all (the x axis spans them, so a live curve shows how
        far it is); default: the finished epochs.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace ``loss`` (and ``form accuracy`` on ``y2``); x = epoch from 1.
    """
    x = list(range(1, len(losses) + 1))
    fig = go.Figure(go.Scatter(x=x, y=list(losses), name="loss", mode="lines+markers"))
    if form_accs is not None and len(form_accs):
        fig.add_trace(
            go.Scatter(
                x=x[: len(form_accs)],
                y=[100 * a for a in form_accs],
                name="form accuracy",
                mode="lines",
                yaxis="y2",
                line={"dash": "dot"},
            )  # fmt: skip
        )
    if stage_change is not None:
        at = int(stage_change) + 0.5
        fig.update_layout(
            shapes=[{
                "type": "line", "x0": at, "x1": at, "xref": "x", "y0": 0, "y1": 1,
                "yref": "paper", "name": "stage change",
                "line": {"color": "#7f3fbf", "width": 1.5, "dash": "dash"},
            }],
            annotations=[{
                "x": at, "y": 1.0, "xref": "x", "yref": "paper", "xanchor": "left",
                "yanchor": "top", "showarrow": False, "name": "stage change",
                "text": f"melody stage ▸<br>(after {int(stage_change)} chord epochs)",
                "font": {"size": 10, "color": "#7f3fbf"}, "align": "left",
            }],
        )  # fmt: skip
    span = max(len(losses), int(epochs_planned or 0), 1)
    fig.update_layout(
        height=260, margin={"l": 40, "r": 40, "t": 20, "b": 35},
        xaxis={"title": "epoch", "range": [0.5, span + 0.5]}, yaxis={"title": "loss"},
        yaxis2={"title": "form %", "overlaying": "y", "side": "right", "range": [0, 100]},
        legend={"orientation": "h", "y": 1.1},
    )  # fmt: skip
    return fig
