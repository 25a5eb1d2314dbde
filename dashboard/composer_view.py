"""Composer page glue: cached loaders, composition and rendering, quick training.

Every expensive step (model load, composition, MIDI, audio, measures) is cached here, keyed by
its inputs, so a control that changes one thing recomputes only what depends on it. The figures
live in :mod:`dashboard.figures.piano_roll`, the maths in :mod:`core.blues`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import streamlit as st

from core.blues import generate
from core.blues.export import RenderedPiece, render_piece
from core.blues.measures import form_accuracy_per_chorus, measure_composition, novelty
from core.blues.midi import midi_to_roll
from core.blues.model import (
    ComposerConfig,
    ComposerModel,
    TrainConfig,
    load_composer,
    training_corpus_recipe,
)
from core.blues.representation import BluesCorpus, BluesForm, Composition, make_corpus
from core.blues.train import train_composer
from core.errors import CheckpointError, InvalidConfigError
from core.paths import assets_dir
from core.types import FloatArray, Progress, ProgressEvent
from dashboard.ui import digest

#: Where a composition's prime can come from (the page's "Priming" select box).
PRIME_SOURCES = ("none", "corpus chorus", "uploaded MIDI", "first-bar pattern")

#: Bars the page composes: at least one chorus, at most 200 (the piano roll stays readable).
BARS_RANGE = (12, 200)

#: Plot-area width in px of the main piano roll on a 1400 px wide window (measured in
#: Chromium: 554 px, 3/4 of the wide layout's content minus the figure margins): used to thin
#: its chord labels so that they do not overlap there or on anything wider.
ROLL_PLOT_WIDTH_PX = 550


def check_bars(value: float | None) -> int:
    """The bar count typed into the page, validated.

    Parameters
    ----------
    value
        What the user typed (a number input without bounds, so the browser does not clamp
        it silently).

    Returns
    -------
    int
        Bars to compose, in :data:`BARS_RANGE`.

    Raises
    ------
    core.errors.InvalidConfigError
        Empty, not a whole number, or outside :data:`BARS_RANGE`.
    """
    lo, hi = BARS_RANGE
    if value is None:
        raise InvalidConfigError(f"Bars: enter a whole number of bars from {lo} to {hi}")
    v = float(value)
    if not v.is_integer() or not lo <= v <= hi:
        raise InvalidConfigError(f"Bars: expected a whole number from {lo} to {hi}, got {value:g}")
    return int(v)


def seed_help(mode: str) -> str:
    """Help text of the Seed input: what it does, or why it is disabled."""
    if seed_matters(mode):
        return "Seed of the random draws: the same seed gives the same sampled piece."
    return (
        "Disabled: no effect in threshold mode. The threshold rule is deterministic (the same "
        "model and settings always give the same piece); the seed drives sample mode's draws."
    )


def seed_matters(mode: str) -> bool:
    """True when the composition depends on the seed: only sample mode draws at random.

    The threshold rule (:func:`core.blues.generate.compose`) never touches its random
    generator, so in threshold mode every seed gives the same piece.
    """
    return mode == "sample"


def array_key(arr: np.ndarray | None) -> str:
    """Cache key of an array's shape and content (``"none"`` for None)."""
    if arr is None:
        return "none"
    return digest(repr(arr.shape).encode(), np.ascontiguousarray(arr).tobytes())


def shown_rows(comp: Composition) -> tuple[FloatArray, FloatArray]:
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
        ("recovery_bars", "Recovery after the perturbation", lambda v: f"{v:.0f} bars",
         "Bars after the forced wrong chords until a whole chorus is on the form again "
         "(at least 95 % of its steps)."),
        ("longest_copied_bars", "Longest copied run", lambda v: f"{v:.1f} bars",
         "Longest stretch that occurs verbatim in the training corpus (memorisation check)."),
        ("ngram_overlap", "n-gram overlap", pct,
         "Share of the piece's one-bar windows found in the training corpus."),
    ]  # fmt: skip
    out = []
    for key, label, fmt, help_ in spec:
        v = m.get(key)
        if key == "recovery_bars" and v is not None and np.isposinf(v):
            out.append((label, "not recovered", help_))
            continue
        if v is None or not np.isfinite(v):
            continue
        out.append((label, fmt(float(v)), help_))
    return out


def model_summary(model: ComposerModel) -> str:
    """One line about a composer model: experiment, melody output, size, training."""
    cfg = model.config
    kinds = {1: "Experiment 1 (chords only)", 2: "Experiment 2 (chords + melody)",
             0: "modern LSTM (chords + melody)"}  # fmt: skip
    kind = kinds.get(cfg.experiment, f"experiment {cfg.experiment}")
    parts = [kind]
    if cfg.chord_output == "softmax":
        parts.append("softmax chords")
    if cfg.has_melody:
        parts.append(f"{cfg.melody_output} melody")
    train = (model.meta or {}).get("train") or {}
    if float(train.get("chord_noise", 0.0) or 0.0) > 0:
        parts.append(f"chord noise {float(train['chord_noise']):g}")
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
    folder = (Path(assets) if assets is not None else assets_dir()) / "composer"
    if not folder.is_dir():
        return []
    return [
        ModelChoice(p.stem, str(p), f"{p}@{p.stat().st_mtime_ns}")
        for p in sorted(folder.glob("*.pt"))
    ]


@st.cache_resource(max_entries=8, show_spinner="Loading model…")
def _load_model(path: str, key: str) -> ComposerModel:
    return load_composer(path)


def get_model(
    choice: ModelChoice, trained: Mapping[str, ComposerModel] | None = None
) -> ComposerModel:
    """The :class:`core.blues.model.ComposerModel` of a choice (checkpoints cached per file).

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
    if choice.path is None:
        if not trained or choice.key not in trained:
            raise CheckpointError(f"model {choice.name!r} is no longer in this session")
        return trained[choice.key]
    return _load_model(choice.path, choice.key)


@st.cache_data(max_entries=32, show_spinner="Composing…")
def _compose(
    model_key: str, bars: int, seed: int, mode: str, threshold: float, temperature: float,
    prime_key: str, sample_chords: bool, perturb: tuple[int, int] | None,
    _model: ComposerModel, _prime: np.ndarray | None,
) -> Composition:  # fmt: skip
    return generate.compose(
        _model, bars=bars, seed=seed, mode=mode,  # type: ignore[arg-type]
        threshold=threshold, temperature=temperature, prime=_prime,
        sample_chords=sample_chords, perturb=perturb,
    )  # fmt: skip


def composition(
    model: ComposerModel,
    *,
    model_key: str,
    bars: int,
    seed: int,
    mode: Literal["threshold", "sample"],
    threshold: float = 0.5,
    temperature: float = 1.0,
    prime: np.ndarray | None = None,
    sample_chords: bool = False,
    perturb: tuple[int, int] | None = None,
) -> Composition:
    """Compose, cached by every input that changes the composition.

    The key: model key, bars, seed, mode, the setting that mode uses, prime, chord sampling,
    perturbation. The setting the mode ignores is normalised away, so moving the temperature
    in threshold mode (or the threshold in sample mode) does not recompose; chord sampling
    and the seed only count in sample mode. ``perturb`` is ``(start_bar, n_bars)`` of forced
    wrong chords (:func:`core.blues.generate.compose`).

    Returns
    -------
    core.blues.representation.Composition

    Raises
    ------
    core.errors.InvalidConfigError
        Bad bars, threshold, temperature or prime shape.
    """
    if mode == "threshold":
        temperature = 1.0
        sample_chords = False
    else:
        threshold = 0.5
    if not seed_matters(mode):
        seed = 0
    pert = None if perturb is None else (int(perturb[0]), int(perturb[1]))
    return _compose(
        model_key, int(bars), int(seed), mode, float(threshold), float(temperature),
        array_key(prime), bool(sample_chords), pert, model, prime,
    )  # fmt: skip


@st.cache_resource(max_entries=4, show_spinner="Building the training corpus…")
def _synthetic_corpus(
    form_key: str, n_segments: int, seed: int, melody: bool, _form: BluesForm
) -> BluesCorpus:
    return make_corpus(form=_form, n_segments=n_segments, seed=seed, melody=melody)


def training_corpus(model: ComposerModel) -> tuple[BluesCorpus, str]:
    """The built-in corpus a model was trained on (for priming and novelty), and its cache key.

    Rebuilt from the checkpoint's meta (see :func:`core.blues.model.training_corpus_recipe`).
    """
    recipe = training_corpus_recipe(model)
    form = model.form
    key = f"{form.to_dict()!r}|{recipe.n_segments}|{recipe.seed}|{recipe.melody}"
    corpus = _synthetic_corpus(key, recipe.n_segments, recipe.seed, recipe.melody, form)
    return corpus, key


@st.cache_data(max_entries=32, show_spinner="Measuring…")
def _measures(
    comp_key: str, corpus_key: str, _comp: Composition, _corpus: BluesCorpus | None
) -> dict[str, Any]:
    out: dict[str, Any] = dict(measure_composition(_comp, corpus=_corpus))
    out["per_chorus"] = np.asarray(
        form_accuracy_per_chorus(_comp.roll, form=_comp.form), dtype=np.float64
    )
    return out


def measures(
    comp: Composition, *, corpus: BluesCorpus | None = None, corpus_key: str = "none"
) -> dict[str, Any]:
    """Objective measures of a composition (cached by its roll), plus ``per_chorus``.

    Returns
    -------
    dict
        :func:`core.blues.measures.measure_composition`'s name → float mapping (novelty
        only with a corpus) and ``per_chorus`` ``(n_choruses,)`` float64 accuracies.
    """
    key = f"{array_key(comp.roll)}|{comp.settings.get('experiment', 2)}|" + repr(
        comp.settings.get("perturb")
    )
    return _measures(key, corpus_key if corpus is not None else "none", comp, corpus)


@st.cache_data(max_entries=32, show_spinner=False)
def _novelty(
    roll_key: str, corpus_key: str, _roll: np.ndarray, _corpus: BluesCorpus
) -> dict[str, float]:
    return dict(novelty(_roll, corpus=_corpus))


def novelty_measures(
    comp: Composition, *, corpus: BluesCorpus, corpus_key: str
) -> dict[str, float]:
    """Similarity to the training corpus (longest copied run, n-gram overlap), cached.

    Kept apart from :func:`measures` because it is the slow one (seconds on the papers'
    4096-chorus corpus), so the page can draw everything else first.
    """
    return _novelty(array_key(comp.roll), corpus_key, comp.roll, corpus)


@st.cache_data(max_entries=8, show_spinner="Rendering audio…")  # a few MB each
def _render(
    roll_key: str, form_key: str, tempo: float, sr: int, _roll: np.ndarray, _form: BluesForm
) -> RenderedPiece:
    return render_piece(_roll, form=_form, tempo=tempo, sr=sr)


def render(
    roll: np.ndarray, *, form: BluesForm, tempo: float = 120.0, sr: int = 16000
) -> RenderedPiece:
    """MIDI, WAV and player audio of a roll (cached by the roll's content, form and tempo).

    Raises
    ------
    core.errors.CoreError
        From :mod:`core.blues.midi` (bad tempo or sample rate).
    """
    return _render(array_key(roll), repr(form.to_dict()), float(tempo), int(sr), roll, form)


# --------------------------------------------------------------------------------------------
# priming from an upload
# --------------------------------------------------------------------------------------------


@st.cache_data(max_entries=8, show_spinner="Reading MIDI…")
def _midi_roll(data: bytes, form_key: str, _form: BluesForm) -> np.ndarray:
    return np.asarray(midi_to_roll(data, form=_form), dtype=np.float32)


def midi_prime(data: bytes, *, form: BluesForm, max_bars: int = 12) -> FloatArray:
    """The first ``max_bars`` bars of an uploaded MIDI file as a prime ``(n_units, steps)``.

    Raises
    ------
    core.errors.InvalidMidiError
        Corrupt bytes, an empty file or no notes.
    """
    roll = _midi_roll(bytes(data), repr(form.to_dict()), form)
    return np.ascontiguousarray(roll[:, : int(max_bars) * form.steps_per_bar])


# --------------------------------------------------------------------------------------------
# quick training (in a background thread, so the page stays usable while it runs)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSchedule:
    """The epochs a quick training runs: one stage, or Experiment 2's chord then melody stage.

    Attributes
    ----------
    chord_epochs
        Maximum epochs of the first stage (the only one for Experiments 1 and 0); it ends
        early once free-running generation keeps the form.
    melody_epochs
        Epochs of the melody stage (chord side frozen); 0 for a single-stage run.
    """

    chord_epochs: int
    melody_epochs: int = 0

    @property
    def staged(self) -> bool:
        """True for a two-stage (chord, then melody) run."""
        return self.melody_epochs > 0

    @property
    def total(self) -> int:
        """Most epochs the run can take."""
        return self.chord_epochs + self.melody_epochs


def quick_config(*, experiment: int, epochs: int, seed: int, n_segments: int = 512) -> TrainConfig:
    """The :class:`core.blues.model.TrainConfig` of a quick training from the page.

    Raises
    ------
    core.errors.InvalidConfigError
        Bad settings.
    """
    return TrainConfig(
        model=ComposerConfig(experiment=int(experiment)), epochs=int(epochs), seed=int(seed),
        n_segments=int(n_segments),
    )  # fmt: skip


def train_schedule(config: TrainConfig) -> TrainSchedule:
    """The stages :func:`core.blues.train.train_composer` runs for ``config``."""
    staged = bool(config.chord_first and config.model.experiment == 2)
    return TrainSchedule(int(config.epochs), int(config.melody_epochs) if staged else 0)


def schedule_caption(*, experiment: int, epochs: int) -> str:
    """What a quick training with these settings will run, in one sentence.

    Raises
    ------
    core.errors.InvalidConfigError
        Bad settings.
    """
    sched = train_schedule(quick_config(experiment=experiment, epochs=epochs, seed=0))
    if sched.staged:
        return (
            f"Two stages: the chords for up to {sched.chord_epochs} epochs (until the form is "
            f"kept), then the melody for {sched.melody_epochs} epochs with the chord side frozen."
        )
    return f"One stage: up to {sched.chord_epochs} epochs (until the form is kept)."


def stage_change(schedule: TrainSchedule, events: list[ProgressEvent]) -> int | None:
    """Epochs the chord stage took, once the melody stage has begun (else None).

    ``train_composer`` reports chord-stage epochs out of ``chord_epochs`` and melody-stage
    epochs out of ``chord_epochs + melody_epochs`` (numbered on from the chord stage), so the
    first event with the larger total is the first melody epoch.
    """
    if not schedule.staged:
        return None
    for ev in events:
        if ev.total == schedule.total:
            return int(ev.done) - 1
    return None


def epochs_left(schedule: TrainSchedule, events: list[ProgressEvent]) -> int:
    """Epochs still to run at most (0 once the last one has been reported)."""
    change = stage_change(schedule, events)
    done = int(events[-1].done) if events else 0
    if change is not None:
        return schedule.melody_epochs - (done - change)
    return schedule.total - done


def schedule_text(schedule: TrainSchedule, events: list[ProgressEvent]) -> str:
    """The epoch counter of a running training, stating the real schedule.

    Examples: ``"epoch 3/20 (stops early once the form is kept)"``;
    ``"chord stage epoch 3/10 (ends early once the form is kept), then melody stage 0/8"``;
    ``"chord stage done after 4/10 epochs, melody stage epoch 2/8"``.
    """
    done = int(events[-1].done) if events else 0
    if not schedule.staged:
        return f"epoch {done}/{schedule.chord_epochs} (stops early once the form is kept)"
    change = stage_change(schedule, events)
    if change is None:
        return (
            f"chord stage epoch {done}/{schedule.chord_epochs} (ends early once the form is "
            f"kept), then melody stage 0/{schedule.melody_epochs}"
        )
    return (
        f"chord stage done after {change}/{schedule.chord_epochs} epochs, "
        f"melody stage epoch {done - change}/{schedule.melody_epochs}"
    )


@dataclass(frozen=True)
class QuickTraining:
    """A model trained from the page: its picker entry, the model and its loss history.

    ``chord_epochs`` is the number of chord-stage epochs of a two-stage (Experiment 2) run,
    where the loss curve changes meaning, and None for a single-stage run.
    """

    choice: ModelChoice
    model: ComposerModel
    history: list[dict[str, float]]
    stopped_early: bool
    seconds: float
    chord_epochs: int | None = None


def train_quick(
    *,
    experiment: int,
    epochs: int,
    seed: int,
    n_segments: int = 512,
    progress: Progress | None = None,
    number: int = 1,
) -> QuickTraining:
    """Train a small composer with :func:`core.blues.train.train_composer`.

    Parameters
    ----------
    experiment
        1, 2 or 0 (modern LSTM).
    epochs
        Maximum epochs of the (chord) stage (training stops early once the form is learned);
        Experiment 2 then runs the melody stage (:func:`train_schedule`).
    seed
        Seeds corpus, weights and batch order.
    n_segments
        Corpus size in choruses (smaller than the papers' 4096 to keep it quick).
    progress
        Called with a :class:`core.types.ProgressEvent` after every epoch (metrics ``loss``
        and ``form_accuracy``).
    number
        Running number of the session's quick models (keeps picker names unique).

    Raises
    ------
    core.errors.InvalidConfigError
        Bad settings.
    """
    config = quick_config(experiment=experiment, epochs=epochs, seed=seed, n_segments=n_segments)
    schedule = train_schedule(config)
    result = train_composer(config, progress=progress)
    name = f"quick #{number}: exp{experiment}, {result.epochs_run} ep, seed {seed}, {n_segments} ch"
    choice = ModelChoice(name, None, f"session:{uuid.uuid4().hex}")
    chord = result.epochs_run - schedule.melody_epochs if schedule.staged else None
    return QuickTraining(choice, result.model, list(result.history), result.stopped_early,
                         float(result.seconds), chord)  # fmt: skip


class TrainingStopped(Exception):
    """Raised inside a training's progress callback to end it when the user stops it."""


@dataclass(eq=False)
class TrainingJob:
    """A quick training running in a background thread, kept in the session state.

    The page starts it (:func:`start_training`) and returns at once; reruns caused by other
    controls leave the thread alone, a polling fragment shows :meth:`status` and the loss
    curve, and once it has finished :func:`collect_training` adds the model to the picker.

    Attributes
    ----------
    settings
        ``experiment``, ``epochs``, ``seed``, ``n_segments`` and ``number`` of the run.
    schedule
        Its stages (:func:`train_schedule`).
    result
        The trained model once finished, else None.
    error
        What the training raised (a :class:`core.errors.CoreError` is shown to the user,
        anything else is a bug and re-raised on the page).
    stopped
        True when the user stopped it (no model is kept).
    collected
        True once its model joined the session's models.
    """

    settings: dict[str, int]
    schedule: TrainSchedule
    result: QuickTraining | None = None
    error: BaseException | None = None
    stopped: bool = False
    collected: bool = False
    _events: list[ProgressEvent] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def running(self) -> bool:
        """True while the training thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def events(self) -> list[ProgressEvent]:
        """A copy of the progress events so far (one per finished epoch)."""
        with self._lock:
            return list(self._events)

    def status(self) -> str:
        """One line: the epoch counter (:func:`schedule_text`), or how the run ended."""
        events = self.events()
        counter = schedule_text(self.schedule, events)
        if self.running:
            elapsed = time.perf_counter() - self._t0
            if self._stop.is_set():
                return f"Stopping after the current epoch… ({counter})"
            tail = (
                ": measuring the trained model…" if epochs_left(self.schedule, events) == 0 else ""
            )
            return f"Training {elapsed:.0f} s: {counter}{tail}"
        if self.stopped:
            return f"Stopped by you at {counter}; no model kept."
        if self.error is not None:
            return f"Failed at {counter}."
        return f"Finished: {counter}."

    def stop(self) -> None:
        """Ask the training to end after the current epoch (no model is kept)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (or ``timeout`` s); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self, train: Callable[..., QuickTraining]) -> None:
        def progress(event: ProgressEvent) -> None:
            with self._lock:
                self._events.append(event)
            if self._stop.is_set():
                raise TrainingStopped("stopped by the user")

        try:
            self.result = train(**self.settings, progress=progress)
        except TrainingStopped:
            self.stopped = True
        except BaseException as exc:  # handed to the page: CoreError shown, others re-raised
            self.error = exc


def start_training(
    *,
    experiment: int,
    epochs: int,
    seed: int,
    n_segments: int = 512,
    number: int = 1,
    train: Callable[..., QuickTraining] | None = None,
) -> TrainingJob:
    """Start :func:`train_quick` in a daemon thread and return its job at once.

    Parameters
    ----------
    experiment, epochs, seed, n_segments, number
        As for :func:`train_quick`.
    train
        The training function (default: this module's :func:`train_quick`, looked up at
        call time); called with the settings and ``progress=``.

    Raises
    ------
    core.errors.InvalidConfigError
        Bad settings (checked here, before the thread starts).
    """
    schedule = train_schedule(
        quick_config(experiment=experiment, epochs=epochs, seed=seed, n_segments=n_segments)
    )
    settings = {"experiment": int(experiment), "epochs": int(epochs), "seed": int(seed),
                "n_segments": int(n_segments), "number": int(number)}  # fmt: skip
    job = TrainingJob(settings, schedule)
    fn = train if train is not None else train_quick
    job._thread = threading.Thread(
        target=job._run, args=(fn,), name=f"genex-quick-train-{number}", daemon=True
    )
    job._thread.start()
    return job


def collect_training(job: TrainingJob | None, state: MutableMapping[str, Any]) -> bool:
    """Add a finished job's model to the session, once: it joins the picker and is selected.

    Writes ``state["comp.trained"][key] = model``, appends the choice to
    ``state["comp.trained_choices"]`` and sets ``state["comp.pending_model"]`` (the page
    selects it on this run). The model then stays in the session whatever the user changes.

    Returns
    -------
    bool
        True when a model was added now.
    """
    if job is None or job.running or job.collected or job.result is None:
        return False
    run = job.result
    state.setdefault("comp.trained", {})[run.choice.key] = run.model
    state.setdefault("comp.trained_choices", []).append(run.choice)
    state["comp.pending_model"] = run.choice.name
    job.collected = True
    return True


def training_curve(
    job: TrainingJob | None = None, run: QuickTraining | None = None
) -> tuple[list[float], list[float], int | None, int]:
    """What :func:`dashboard.figures.piano_roll.loss_figure` needs, from a job or a result.

    Returns
    -------
    (losses, form_accuracies, stage_change, epochs_planned)
        Per finished epoch; ``stage_change`` as :func:`stage_change`.
    """
    if run is not None:
        losses = [h["loss"] for h in run.history]
        accs = [h["form_accuracy"] for h in run.history]
        return losses, accs, run.chord_epochs, len(losses)
    if job is None:
        return [], [], None, 0
    events = job.events()
    losses = [float(e.metrics["loss"]) for e in events]
    accs = [float(e.metrics["form_accuracy"]) for e in events]
    change = stage_change(job.schedule, events)
    planned = job.schedule.total if change is None else change + job.schedule.melody_epochs
    return losses, accs, change, planned
