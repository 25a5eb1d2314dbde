"""ComposerExplorer: compose with a blues LSTM, see the roll and its probabilities, listen.

The same steps as the dashboard's Composer page, without Streamlit: a model (a shipped
checkpoint, or a :class:`core.blues.model.ComposerModel` made in the notebook), a composition
(:func:`core.blues.generate.compose`), its piano roll over the output probabilities
(:func:`dashboard.figures.piano_roll.piano_roll_figure` in a plotly ``FigureWidget``), the audio
with a playhead (:class:`widgets.roll_player.RollPlayer`) and the measures
(:func:`core.blues.measures.measure_composition`). Any control change composes again.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go

from core.blues import generate
from core.blues.export import RenderedPiece, render_piece
from core.blues.measures import form_accuracy_per_chorus, measure_composition
from core.blues.midi import steps_per_second
from core.blues.model import ComposerModel, load_composer, training_corpus_recipe
from core.blues.priming import BAR_PATTERNS, bar_pattern_prime, corpus_prime, fit_prime
from core.blues.representation import Composition, make_corpus
from core.errors import CheckpointError, CoreError, InvalidConfigError
from core.paths import assets_dir
from core.types import FloatArray
from dashboard.figures.piano_roll import piano_roll_figure
from widgets.common import LRU, error_html
from widgets.roll_player import RollPlayer

#: Priming sources offered (a prime array passed to the explorer adds "given prime").
PRIMINGS = ("none", "corpus chorus", *(f"first bar: {name}" for name in BAR_PATTERNS))

#: Measures shown in the table, with their labels; missing ones are left out.
MEASURE_LABELS = {
    "form_accuracy": "Form accuracy (all bars)",
    "form_accuracy_10": "Form accuracy, first 10 bars",
    "form_accuracy_50": "Form accuracy, first 50 bars",
    "form_accuracy_100": "Form accuracy, first 100 bars",
    "form_accuracy_last_chorus": "Form accuracy, last chorus",
    "chord_tone_share": "Chord tones (share of melody notes)",
    "in_scale_share": "In the blues scale",
    "note_density": "Melody onsets per bar",
    "rest_ratio": "Rest ratio",
    "polyphony": "Melody notes per sounding step",
}


def shipped_composers() -> dict[str, Path]:
    """Shipped composer checkpoints ``assets/composer/*.pt`` by file stem."""
    folder = assets_dir() / "composer"
    return {p.stem: p for p in sorted(folder.glob("*.pt"))} if folder.is_dir() else {}


def measures_table(measures: Mapping[str, float]) -> str:
    """The measures as a small HTML table (percentages for shares, plain numbers otherwise)."""
    rows = []
    for key, label in MEASURE_LABELS.items():
        v = measures.get(key)
        if v is None or not np.isfinite(v):
            continue
        text = f"{v:.2f}" if key in ("note_density", "polyphony") else f"{100 * v:.1f} %"
        rows.append(f"<tr><td>{html.escape(label)}</td><td align='right'>{text}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


class ComposerExplorer(w.VBox):
    """Compose blues with an LSTM; every control change composes again.

    Parameters
    ----------
    model
        A shipped model's name (``"exp2"``; see :func:`shipped_composers`), a checkpoint path,
        or a :class:`core.blues.model.ComposerModel` (e.g. trained in the notebook). Default:
        ``"exp2"`` when shipped, else the first shipped model.
    bars, seed, mode, threshold, temperature
        As :func:`core.blues.generate.compose`.
    priming
        One of :data:`PRIMINGS`, or ``"given prime"`` with ``prime``.
    prime : ndarray, shape (n_units, steps), optional
        A roll to start from (e.g. :func:`core.blues.midi.midi_to_roll` of a MIDI file).
    tempo
        Playback tempo in bpm.

    Attributes
    ----------
    figure : plotly.graph_objects.FigureWidget
        The piano roll over the probability heatmap.
    composition : core.blues.representation.Composition
        The current composition.
    measures : dict
        :func:`core.blues.measures.measure_composition` of it, plus ``per_chorus`` accuracies.
    rendered : core.blues.export.RenderedPiece
        Its MIDI, WAV and player audio.
    player : RollPlayer
        The audio player with the playhead.

    Raises
    ------
    CheckpointError
        No such model, or a corrupt checkpoint.
    InvalidConfigError
        Bad bars, threshold, temperature or prime.
    """

    def __init__(
        self,
        model: str | Path | ComposerModel | None = None,
        *,
        bars: int = 24,
        seed: int = 0,
        mode: Literal["threshold", "sample"] = "threshold",
        threshold: float = 0.5,
        temperature: float = 1.0,
        priming: str = "none",
        prime: FloatArray | None = None,
        tempo: float = 120.0,
    ) -> None:
        self._models: dict[str, ComposerModel | Path] = dict(shipped_composers())
        if isinstance(model, ComposerModel):
            name = "model from the notebook"
            self._models = {name: model, **self._models}
        elif model is not None and str(model) in self._models:
            name = str(model)
        elif model is not None:
            path = Path(model).expanduser()
            if not path.is_file():
                raise CheckpointError(
                    f"no composer model {str(model)!r}: expected a checkpoint file or one of "
                    f"{list(self._models)}"
                )
            name = path.stem
            self._models = {name: path, **self._models}
        elif self._models:
            name = "exp2" if "exp2" in self._models else next(iter(self._models))
        else:
            raise CheckpointError("no composer checkpoints in assets/composer: pass a model")
        self._prime_array = prime
        primings = list(PRIMINGS) + (["given prime"] if prime is not None else [])
        if priming not in primings:
            raise InvalidConfigError(f"priming {priming!r} unknown; expected one of {primings}")
        self._loaded: LRU[ComposerModel] = LRU(4)
        self._compositions: LRU[Composition] = LRU(16)

        small = w.Layout(width="160px")
        self._model = w.Dropdown(options=list(self._models), value=name, description="Model")
        self._bars = w.IntSlider(
            value=bars, min=1, max=200, description="Bars", continuous_update=False
        )
        self._seed = w.BoundedIntText(
            value=seed, min=0, max=10_000, description="Seed", layout=small
        )
        self._mode = w.ToggleButtons(options=["threshold", "sample"], value=mode)
        self._threshold = w.FloatSlider(
            value=threshold, min=0.05, max=0.95, step=0.05, description="Threshold",
            continuous_update=False,
        )  # fmt: skip
        self._temperature = w.FloatSlider(
            value=temperature, min=0.1, max=3.0, step=0.1, description="Temperature",
            continuous_update=False,
        )  # fmt: skip
        self._priming = w.Dropdown(
            options=primings, value=priming, description="Priming", layout=w.Layout(width="360px")
        )
        self._chorus = w.BoundedIntText(
            value=0, min=0, max=4095, description="Chorus", layout=small
        )
        self._tempo = w.BoundedFloatText(
            value=tempo, min=40, max=240, step=10, description="Tempo", layout=small
        )
        self._summary = w.HTML()
        self._status = w.HTML()
        self._table = w.HTML()
        self.figure = go.FigureWidget()
        self.player = RollPlayer()
        self.composition: Composition | None = None
        self.measures: dict[str, Any] = {}
        self.rendered: RenderedPiece | None = None

        super().__init__(
            [
                w.HBox([self._model, self._bars, self._seed]),
                w.HBox([self._mode, self._threshold, self._temperature]),
                w.HBox([self._priming, self._chorus, self._tempo]),
                self._summary,
                self._status,
                w.HBox([self.figure, w.VBox([w.HTML("<b>Measures</b>"), self._table])]),
                self.player,
            ]
        )
        for control in (
            self._model, self._bars, self._seed, self._mode, self._threshold,
            self._temperature, self._priming, self._chorus, self._tempo,
        ):  # fmt: skip
            control.observe(self._on_change, names="value")
        self.compose()

    # ------------------------------------------------------------------ state for scripting
    @property
    def model(self) -> ComposerModel:
        """The current model (checkpoints are loaded once)."""
        name = self._model.value
        entry = self._models[name]
        if isinstance(entry, ComposerModel):
            return entry
        return self._loaded.get(name, lambda: load_composer(entry))

    @property
    def alpha(self) -> float:
        """The decision threshold of ``mode="threshold"`` (the composer's α; settable)."""
        return float(self._threshold.value)

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._threshold.value = float(value)

    def set(self, **values: Any) -> None:
        """Set several controls at once and compose once: ``set(bars=12, seed=3)``.

        Keys: ``model``, ``bars``, ``seed``, ``mode``, ``threshold``, ``temperature``,
        ``priming``, ``chorus``, ``tempo``.

        Raises
        ------
        KeyError
            An unknown control.
        """
        controls = {
            "model": self._model, "bars": self._bars, "seed": self._seed, "mode": self._mode,
            "threshold": self._threshold, "temperature": self._temperature,
            "priming": self._priming, "chorus": self._chorus, "tempo": self._tempo,
        }  # fmt: skip
        for key, value in values.items():
            control = controls[key]
            control.unobserve(self._on_change, names="value")
            try:
                control.value = value
            finally:
                control.observe(self._on_change, names="value")
        self.compose()

    # ------------------------------------------------------------------ composing
    def _prime(self, model: ComposerModel) -> FloatArray | None:
        form, source = model.form, self._priming.value
        if source == "none":
            return None
        if source == "given prime":
            prime = self._prime_array
        elif source == "corpus chorus":
            recipe = training_corpus_recipe(model)
            corpus = make_corpus(form=form, n_segments=recipe.n_segments, seed=recipe.seed,
                                 melody=recipe.melody)  # fmt: skip
            prime = corpus_prime(corpus, int(self._chorus.value))
        else:
            name = source.removeprefix("first bar: ")
            prime = bar_pattern_prime(name, form=form, melody=model.config.has_melody)
        assert prime is not None
        return fit_prime(prime, form.n_units, max_steps=12 * form.steps_per_bar)

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.compose()

    def compose(self) -> Composition | None:
        """Compose with the current controls and redraw (a ``CoreError`` shows as a message).

        Returns
        -------
        Composition or None
            ``None`` when the settings were refused (the message is shown).
        """
        self._threshold.disabled = self._mode.value != "threshold"
        self._temperature.disabled = self._mode.value != "sample"
        self._chorus.layout.display = "" if self._priming.value == "corpus chorus" else "none"
        try:
            model = self.model
            prime = self._prime(model)
            mode = self._mode.value
            threshold = float(self._threshold.value) if mode == "threshold" else 0.5
            temperature = float(self._temperature.value) if mode == "sample" else 1.0
            key = (
                self._model.value, int(self._bars.value), int(self._seed.value), mode, threshold,
                temperature, None if prime is None else prime.tobytes(),
            )  # fmt: skip
            comp = self._compositions.get(
                key,
                lambda: generate.compose(
                    model, bars=int(self._bars.value), seed=int(self._seed.value), mode=mode,
                    threshold=threshold, temperature=temperature, prime=prime,
                ),
            )  # fmt: skip
            tempo = float(self._tempo.value)
            rendered = render_piece(comp.roll, form=comp.form, tempo=tempo)
        except CoreError as exc:
            self._status.value = error_html(exc)
            return None
        self._status.value = ""
        self.composition, self.rendered = comp, rendered
        self.measures = dict(measure_composition(comp))
        self.measures["per_chorus"] = form_accuracy_per_chorus(comp.roll, form=comp.form)
        rows, probs = comp.roll, comp.probs
        if model.config.experiment == 1:  # chords only: no empty melody rows
            rows, probs = rows[: comp.form.n_chord], probs[: comp.form.n_chord]
        primed = comp.n_prime_steps if prime is not None else 0
        fig = piano_roll_figure(rows, form=comp.form, probs=probs, n_prime_steps=primed)
        with self.figure.batch_update():
            self.figure.data = ()
            self.figure.layout = fig.layout
        self.figure.add_traces(fig.data)
        self._table.value = measures_table(self.measures)
        synth = "FluidSynth" if rendered.synth == "fluidsynth" else "sine waves (no FluidSynth)"
        self._summary.value = (
            f"{comp.roll.shape[1] // comp.form.steps_per_bar} bars · {rendered.seconds:.0f} s "
            f"of audio ({synth}) · click the roll under the player to seek"
        )
        self.player.n_chord = comp.form.n_chord
        self.player.steps_per_bar = comp.form.steps_per_bar
        self.player.set_piece(
            rendered.player_audio, roll=rows, mime=rendered.player_mime,
            steps_per_second=steps_per_second(comp.form, tempo),
        )  # fmt: skip
        return comp
