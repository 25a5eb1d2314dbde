"""Composer page: pure figure builders and cached loaders around :mod:`core.composer`.

The figure builders (:func:`piano_roll_figure`, :func:`form_accuracy_chart`,
:func:`loss_figure`) take arrays and return plotly figures, with no ``st.*`` call, so they work
in a notebook and in unit tests. The cached wrappers below them key every expensive step
(model load, composition, MIDI, audio, measures) by its inputs, so a control that changes one
thing recomputes only what depends on it.

Piano-roll conventions (see :class:`core.blues.BluesForm`): rows are the chord units
(``chord_low`` .. ``chord_low + n_chord - 1``) followed by the melody units (``melody_low`` ..);
``steps_per_bar`` steps (eighth notes) per 4/4 bar; x axes are in bars.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.types import FloatArray

#: Colours of the two voices (also used by :mod:`dashboard.player`).
CHORD_COLOR = "#3b6fb6"
MELODY_COLOR = "#e8772e"
PRIME_COLOR = "rgba(120, 120, 120, 0.18)"
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class FormLike(Protocol):
    """What the figures need from a :class:`core.blues.BluesForm`."""

    chord_low: int
    n_chord: int
    melody_low: int
    n_melody: int
    steps_per_bar: int

    def chord_label(self, bar: int) -> str: ...  # noqa: D102


# --------------------------------------------------------------------------------------------
# pure helpers and figure builders
# --------------------------------------------------------------------------------------------


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


def piano_roll_figure(
    roll: FloatArray,
    *,
    form: FormLike,
    probs: FloatArray | None = None,
    n_prime_steps: int = 0,
    height: int | None = None,
    label_chords: bool = True,
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
        Write ``form.chord_label(bar)`` above every bar.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: ``chords`` and ``melody`` heatmaps (melody only when the roll has melody rows),
        then ``probabilities``. Shapes named ``bar line`` (``bars + 1`` of them, spanning both
        panels), ``voice split`` (with melody) and ``prime`` (when primed); annotations named
        ``chord label``.

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
        size = 10 if bars <= 24 else 8 if bars <= 64 else 6
        notes.extend({
            "x": b + 0.5, "y": 1.0, "xref": "x", "yref": "y domain", "yanchor": "bottom",
            "text": form.chord_label(b), "showarrow": False, "name": "chord label",
            "font": {"size": size},
        } for b in range(bars))  # fmt: skip
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
    return fig


def form_accuracy_chart(
    per_chorus: Sequence[float] | FloatArray, *, goal: float = 0.99
) -> go.Figure:
    """Chord-form accuracy per 12-bar chorus as a small bar chart.

    Parameters
    ----------
    per_chorus
        ``(n_choruses,)`` accuracies in [0, 1] (share of steps whose chord follows the form).
    goal
        Accuracy drawn as a dashed reference line (the issue's 99 % target).

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace (``form accuracy``) in percent, x = chorus number from 1, y in [0, 100].

    Raises
    ------
    ValueError
        If ``per_chorus`` is not 1-D.
    """
    acc = np.asarray(per_chorus, dtype=np.float64)
    if acc.ndim != 1:
        raise ValueError(f"per_chorus must be 1-D, got shape {acc.shape}")
    x = np.arange(1, acc.size + 1)
    colors = [CHORD_COLOR if a >= goal else "#c0392b" for a in acc]
    fig = go.Figure(
        go.Bar(
            x=x, y=100 * acc, name="form accuracy", marker_color=colors,
            hovertemplate="chorus %{x}: %{y:.1f} %<extra></extra>",
        )  # fmt: skip
    )
    fig.add_hline(y=100 * goal, line={"dash": "dash", "color": "grey", "width": 1})
    fig.update_layout(
        height=220, margin={"l": 40, "r": 10, "t": 30, "b": 35}, showlegend=False,
        title={"text": "Form accuracy per 12-bar chorus", "font": {"size": 12}},
        xaxis={"title": "chorus", "dtick": 1 if acc.size <= 20 else None},
        yaxis={"title": "%", "range": [0, 100.5]},
    )  # fmt: skip
    return fig


def loss_figure(losses: Sequence[float], form_accs: Sequence[float] | None = None) -> go.Figure:
    """Training curve: loss per epoch, and form accuracy (right axis) when given.

    Parameters
    ----------
    losses
        Training loss per finished epoch.
    form_accs
        Form accuracy in [0, 1] per finished epoch (same length), optional.

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
                x=x[: len(form_accs)], y=[100 * a for a in form_accs], name="form accuracy",
                mode="lines", yaxis="y2", line={"dash": "dot"},
            )  # fmt: skip
        )
    fig.update_layout(
        height=260, margin={"l": 40, "r": 40, "t": 20, "b": 35},
        xaxis={"title": "epoch"}, yaxis={"title": "loss"},
        yaxis2={"title": "form %", "overlaying": "y", "side": "right", "range": [0, 100]},
        legend={"orientation": "h", "y": 1.1},
    )  # fmt: skip
    return fig


def steps_per_second(form: FormLike, tempo: float = 120.0) -> float:
    """Roll steps per second of audio at ``tempo`` quarter notes per minute (4/4 bars)."""
    return float(tempo) / 60.0 * form.steps_per_bar / 4.0


# --------------------------------------------------------------------------------------------
# priming
# --------------------------------------------------------------------------------------------

#: First-bar patterns offered as a priming source (melody scale degrees, per step; None = rest).
BAR_PATTERNS: dict[str, tuple[int | None, ...]] = {
    "chord only (melody rests)": (None,) * 8,
    "pentatonic run up": (0, 3, 5, 7, 10, 12, None, None),
    "pentatonic run down": (12, 10, 7, 5, 3, 0, None, None),
    "blue note riff": (0, 3, 4, 3, 0, None, 7, None),
}


def bar_pattern_prime(name: str, *, form: Any, melody: bool = True) -> FloatArray:
    """One bar to prime the model with: the form's first chord plus a melody pattern.

    Parameters
    ----------
    name
        A key of :data:`BAR_PATTERNS` (semitones above ``form.melody_low``; None = rest).
    form
        The blues form (``chord_pitches(0)``, ``steps_per_bar``, pitch layout).
    melody
        Include melody rows (``n_chord + n_melody`` rows) or only chord rows.

    Returns
    -------
    ndarray
        ``(n_rows, steps_per_bar)`` float32 binary roll.

    Raises
    ------
    KeyError
        On an unknown pattern name.
    """
    pattern = BAR_PATTERNS[name]
    spb = form.steps_per_bar
    n_rows = form.n_chord + (form.n_melody if melody else 0)
    bar = np.zeros((n_rows, spb), np.float32)
    for pitch in form.chord_pitches(0):
        bar[(pitch - form.chord_low) % form.n_chord, :] = 1.0  # voiced inside the octave
    if melody:
        for step in range(spb):
            deg = pattern[step % len(pattern)]
            if deg is not None and 0 <= deg < form.n_melody:
                bar[form.n_chord + deg, step] = 1.0
    return bar


def fit_prime(prime: FloatArray, n_rows: int, *, max_steps: int) -> FloatArray:
    """Cut or pad a priming roll to the model's rows and at most ``max_steps`` steps.

    A chords + melody prime given to a chords-only model keeps its chord rows; a chords-only
    prime given to a melody model gets silent melody rows.

    Returns
    -------
    ndarray
        ``(n_rows, min(steps, max_steps))`` float32.
    """
    arr = np.asarray(prime, dtype=np.float32)[:, :max_steps]
    if arr.shape[0] >= n_rows:
        return np.ascontiguousarray(arr[:n_rows])
    pad = np.zeros((n_rows - arr.shape[0], arr.shape[1]), np.float32)
    return np.concatenate([arr, pad])


def digest(arr: np.ndarray | bytes | None) -> str:
    """Short content digest of an array or bytes (``"none"`` for None), for cache keys."""
    if arr is None:
        return "none"
    data = arr if isinstance(arr, bytes) else np.ascontiguousarray(arr).tobytes()
    shape = b"" if isinstance(arr, bytes) else repr(arr.shape).encode()
    return hashlib.sha256(shape + data).hexdigest()[:16]



def shown_rows(comp: Any) -> tuple[FloatArray, FloatArray]:
    """The composition's roll and probabilities to draw.

    Chord rows only for a chords-only model (Experiment 1), whose melody rows are always empty.

    Returns
    -------
    (roll, probs)
        ``(rows, steps)`` float32 each.
    """
    if (comp.settings or {}).get("experiment", 2) == 1:
        nc = comp.form.n_chord
        return comp.roll[:nc], comp.probs[:nc]
    return comp.roll, comp.probs


def measure_cards(m: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The composition's measures as ``(label, value, help)`` rows for ``st.metric``.

    Missing measures (a chords-only model has no melody; a short piece has no 100-bar
    accuracy; no corpus, no novelty) are left out.
    """

    def pct(v: float) -> str:
        return f"{100 * v:.1f} %"

    spec: list[tuple[str, str, Any, str]] = [
        ("form_accuracy", "Form accuracy (all bars)", pct,
         "Share of steps whose chord units equal the 12-bar blues form's chord."),
        ("form_accuracy_10", "Form accuracy, first 10 bars", pct, "Drift check."),
        ("form_accuracy_50", "Form accuracy, first 50 bars", pct, "Drift check."),
        ("form_accuracy_100", "Form accuracy, first 100 bars", pct, "Drift check."),
        ("chord_tone_share", "Chord tones", pct, "Share of melody notes in the bar's chord."),
        ("in_scale_share", "In scale", pct, "Share of melody notes in the blues scale."),
        ("note_density", "Note density", lambda v: f"{v:.2f} / bar",
         "Melody note onsets per bar."),
        ("rest_ratio", "Rest ratio", pct, "Share of steps with no melody note."),
        ("longest_copied_bars", "Longest copied run", lambda v: f"{v:.1f} bars",
         "Longest stretch that occurs verbatim in the training corpus (memorisation check)."),
        ("ngram_overlap", "n-gram overlap", pct,
         "Share of the piece's one-bar windows found in the training corpus."),
    ]  # fmt: skip
    out = []
    for key, label, fmt, help_ in spec:
        v = m.get(key)
        if v is None or not np.isfinite(v):
            continue
        out.append((label, fmt(float(v)), help_))
    return out


def model_summary(model: Any) -> str:
    """One line about a composer model: experiment, melody output, size, training."""
    cfg = model.config
    kinds = {1: "Experiment 1 (chords only)", 2: "Experiment 2 (chords + melody)",
             0: "modern LSTM (chords + melody)"}  # fmt: skip
    kind = kinds.get(cfg.experiment, f"experiment {cfg.experiment}")
    parts = [kind]
    if cfg.has_melody:
        parts.append(f"{cfg.melody_output} melody")
    parts.append(f"{model.n_parameters:,} parameters")
    summary = (model.meta or {}).get("summary") or {}
    if "epochs_run" in summary:
        parts.append(f"{int(summary['epochs_run'])} epochs")
    return " · ".join(parts)


# --------------------------------------------------------------------------------------------
# cached loaders (the only place the Composer page caches)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """A model the page can compose with: a checkpoint file or a model trained in this session.

    Attributes
    ----------
    name
        Label shown in the picker.
    path
        Checkpoint path, or None for a session-trained model.
    key
        Cache key of the model's compositions: path and modification time for a file, a
        random id for a session-trained model.
    """

    name: str
    path: str | None = None
    key: str = ""


def shipped_models(assets: str | Path | None = None) -> list[ModelChoice]:
    """Composer checkpoints ``<assets>/composer/*.pt``, sorted by name."""
    from core.paths import assets_dir

    folder = (Path(assets) if assets is not None else assets_dir()) / "composer"
    if not folder.is_dir():
        return []
    return [
        ModelChoice(p.stem, str(p), f"{p}@{p.stat().st_mtime_ns}")
        for p in sorted(folder.glob("*.pt"))
    ]


@st.cache_resource(max_entries=8, show_spinner="Loading model…")
def _load_model(path: str, key: str) -> Any:
    from core.composer import load_composer

    return load_composer(path)


def get_model(choice: ModelChoice, trained: Mapping[str, Any] | None = None) -> Any:
    """The :class:`core.composer.ComposerModel` of a choice (checkpoints cached per file).

    Parameters
    ----------
    choice
        From :func:`shipped_models`, or a session-trained model's choice.
    trained
        Session-trained models by ``choice.key``.

    Raises
    ------
    core.errors.CheckpointError
        Missing, corrupt or wrong-kind checkpoint, or an unknown session model.
    """
    from core.errors import CheckpointError

    if choice.path is None:
        if not trained or choice.key not in trained:
            raise CheckpointError(f"model {choice.name!r} is no longer in this session")
        return trained[choice.key]
    return _load_model(choice.path, choice.key)


@st.cache_data(max_entries=32, show_spinner="Composing…")
def _compose(
    model_key: str, bars: int, seed: int, mode: str, threshold: float, temperature: float,
    prime_key: str, _model: Any, _prime: np.ndarray | None,
) -> Any:  # fmt: skip
    from core.composer import compose

    return compose(
        _model, bars=bars, seed=seed, mode=mode,  # type: ignore[arg-type]
        threshold=threshold, temperature=temperature, prime=_prime,
    )  # fmt: skip


def composition(
    model: Any,
    *,
    model_key: str,
    bars: int,
    seed: int,
    mode: Literal["threshold", "sample"],
    threshold: float = 0.5,
    temperature: float = 1.0,
    prime: np.ndarray | None = None,
) -> Any:
    """Compose, cached by (model key, bars, seed, mode, the setting that mode uses, prime).

    The setting the mode ignores is normalised away, so moving the temperature in threshold
    mode (or the threshold in sample mode) does not recompose.

    Returns
    -------
    core.composer.Composition

    Raises
    ------
    core.errors.InvalidConfigError
        Bad bars, threshold, temperature or prime shape.
    """
    if mode == "threshold":
        temperature = 1.0
    else:
        threshold = 0.5
    return _compose(
        model_key, int(bars), int(seed), mode, float(threshold), float(temperature),
        digest(prime), model, prime,
    )  # fmt: skip


@st.cache_resource(max_entries=4, show_spinner="Building the training corpus…")
def _synthetic_corpus(form_key: str, n_segments: int, seed: int, melody: bool, _form: Any) -> Any:
    from core.blues import make_corpus

    return make_corpus(form=_form, n_segments=n_segments, seed=seed, melody=melody)


def training_corpus(model: Any) -> tuple[Any, str]:
    """The built-in corpus a model was trained on (for priming and novelty), and its key.

    Rebuilt from the checkpoint's meta (corpus seed and size); models trained on a MIDI folder,
    or without that meta, get the default corpus of their form.

    Returns
    -------
    (core.blues.BluesCorpus, str)
    """
    meta = model.meta or {}
    corpus = meta.get("corpus") or {}
    train = meta.get("train") or {}
    seed = int(corpus.get("seed", train.get("seed", 0)))
    if corpus.get("source", "synthetic") != "synthetic" or seed < 0:
        seed = 0
    n = int(train.get("n_segments", corpus.get("n_sequences", 4096)))
    form = model.form
    melody = bool(model.config.has_melody)
    key = f"{form.to_dict()!r}|{n}|{seed}|{melody}"
    return _synthetic_corpus(key, n, seed, melody, form), key


@st.cache_data(max_entries=32, show_spinner="Measuring…")
def _measures(comp_key: str, corpus_key: str, _comp: Any, _corpus: Any) -> dict[str, Any]:
    from core.composer_measures import form_accuracy_per_chorus, measure_composition

    out: dict[str, Any] = dict(measure_composition(_comp, corpus=_corpus))
    out["per_chorus"] = np.asarray(
        form_accuracy_per_chorus(_comp.roll, form=_comp.form), dtype=np.float64
    )
    return out


def measures(comp: Any, *, corpus: Any = None, corpus_key: str = "none") -> dict[str, Any]:
    """Objective measures of a composition (cached by its roll), plus ``per_chorus``.

    Returns
    -------
    dict
        :func:`core.composer_measures.measure_composition`'s name → float mapping (novelty
        only with a corpus) and ``per_chorus`` ``(n_choruses,)`` float64 accuracies.
    """
    key = f"{digest(comp.roll)}|{comp.settings.get('experiment', 2)}"
    return _measures(key, corpus_key if corpus is not None else "none", comp, corpus)


@st.cache_data(max_entries=32, show_spinner=False)
def _novelty(roll_key: str, corpus_key: str, _roll: np.ndarray, _corpus: Any) -> dict[str, float]:
    from core.composer_measures import novelty

    return dict(novelty(_roll, corpus=_corpus))


def novelty_measures(comp: Any, *, corpus: Any, corpus_key: str) -> dict[str, float]:
    """Similarity to the training corpus (longest copied run, n-gram overlap), cached.

    Kept apart from :func:`measures` because it is the slow one (seconds on the papers'
    4096-chorus corpus), so the page can draw everything else first.
    """
    return _novelty(digest(comp.roll), corpus_key, comp.roll, corpus)


@dataclass(frozen=True)
class Rendered:
    """A composition as files.

    Attributes
    ----------
    midi
        Standard MIDI file bytes (instruments ``chords`` and ``melody``).
    wav
        16-bit mono WAV bytes (for download).
    player_audio, player_mime
        Compressed audio for the in-page player (MP3 when it can be encoded, else the WAV).
    synth
        ``"fluidsynth"`` or ``"sine"``.
    sr
        Sample rate in Hz.
    seconds
        Audio duration.
    """

    midi: bytes
    wav: bytes
    player_audio: bytes
    player_mime: str
    synth: str
    sr: int
    seconds: float


@st.cache_data(max_entries=8, show_spinner="Rendering audio…")  # a few MB each
def _render(
    roll_key: str, form_key: str, tempo: float, sr: int, _roll: np.ndarray, _form: Any
) -> Rendered:
    import io
    import warnings

    import soundfile as sf

    from core.audio import audio_to_bytes
    from core.midi import midi_to_bytes, render_audio, roll_to_midi

    pm = roll_to_midi(_roll, form=_form, tempo=tempo)
    midi = midi_to_bytes(pm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no FluidSynth" is shown by the page instead
        audio = render_audio(pm, sr=sr)
    y = np.asarray(audio.y, dtype=np.float32).reshape(1, -1)
    wav = audio_to_bytes(y, int(audio.sr), fmt="WAV", subtype="PCM_16")
    player, mime = wav, "audio/wav"
    try:  # MP3 is ~10x smaller than WAV in the base64 player page
        buf = io.BytesIO()
        sf.write(buf, y[0], int(audio.sr), format="MP3")
        if buf.tell() > 0:
            player, mime = buf.getvalue(), "audio/mpeg"
    except (sf.LibsndfileError, TypeError, ValueError, RuntimeError):
        pass
    return Rendered(
        midi=midi, wav=wav, player_audio=player, player_mime=mime, synth=str(audio.synth),
        sr=int(audio.sr), seconds=y.shape[1] / float(audio.sr),
    )  # fmt: skip


def render(roll: np.ndarray, *, form: Any, tempo: float = 120.0, sr: int = 16000) -> Rendered:
    """MIDI, WAV and player audio of a roll (cached by the roll's content, form and tempo).

    Raises
    ------
    core.errors.CoreError
        From :mod:`core.midi` (bad tempo or sample rate).
    """
    return _render(digest(roll), repr(form.to_dict()), float(tempo), int(sr), roll, form)


# --------------------------------------------------------------------------------------------
# priming sources
# --------------------------------------------------------------------------------------------

PRIME_SOURCES = ("none", "corpus chorus", "uploaded MIDI", "first-bar pattern")


def corpus_prime(corpus: Any, index: int, *, bars: int | None = None) -> FloatArray:
    """Chorus ``index`` (wrapped) of a corpus, cut to ``bars`` bars: ``(n_units, steps)``."""
    seqs = corpus.sequences
    seq = seqs[int(index) % seqs.shape[0]]
    if bars is not None:
        seq = seq[:, : int(bars) * corpus.form.steps_per_bar]
    return np.ascontiguousarray(seq, dtype=np.float32)


@st.cache_data(max_entries=8, show_spinner="Reading MIDI…")
def _midi_roll(data: bytes, form_key: str, _form: Any) -> np.ndarray:
    from core.midi import midi_to_roll

    return np.asarray(midi_to_roll(data, form=_form), dtype=np.float32)


def midi_prime(data: bytes, *, form: Any, max_bars: int = 12) -> FloatArray:
    """The first ``max_bars`` bars of an uploaded MIDI file as a prime ``(n_units, steps)``.

    Raises
    ------
    core.errors.InvalidMidiError
        Corrupt bytes, an empty file or no notes.
    """
    roll = _midi_roll(bytes(data), repr(form.to_dict()), form)
    return np.ascontiguousarray(roll[:, : int(max_bars) * form.steps_per_bar])


# --------------------------------------------------------------------------------------------
# quick training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickTraining:
    """A model trained from the page: its picker entry, the model and its loss history."""

    choice: ModelChoice
    model: Any
    history: list[dict[str, float]]
    stopped_early: bool
    seconds: float


def train_quick(
    *,
    experiment: int,
    epochs: int,
    seed: int,
    n_segments: int = 512,
    progress: Any = None,
    number: int = 1,
) -> QuickTraining:
    """Train a small composer with :func:`core.composer.train_composer`.

    Parameters
    ----------
    experiment
        1, 2 or 0 (modern LSTM).
    epochs
        Maximum epochs (training stops early once the form is learned).
    seed
        Seeds corpus, weights and batch order.
    n_segments
        Corpus size in choruses (smaller than the papers' 4096 to keep it quick).
    progress
        ``progress(epoch, n_epochs, loss, form_accuracy)`` after every epoch.
    number
        Running number of the session's quick models (keeps picker names unique).

    Raises
    ------
    core.errors.InvalidConfigError
        Bad settings.
    """
    import uuid

    from core.composer import ComposerConfig, TrainConfig, train_composer

    config = TrainConfig(
        model=ComposerConfig(experiment=int(experiment)), epochs=int(epochs), seed=int(seed),
        n_segments=int(n_segments),
    )  # fmt: skip
    result = train_composer(config, progress=progress)
    name = f"quick #{number}: exp{experiment}, {result.epochs_run} ep, seed {seed}, {n_segments} ch"
    choice = ModelChoice(name, None, f"session:{uuid.uuid4().hex}")
    return QuickTraining(choice, result.model, list(result.history), result.stopped_early,
                         float(result.seconds))  # fmt: skip
