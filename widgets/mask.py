"""MaskExplorer: a probabilistic vocal mask re-thresholded live at α, in a notebook.

The same path as the dashboard's Mask explorer page, without Streamlit: the network runs once
per (track, method) (:func:`core.karaoke.separate.probability_mask`, kept by the explorer), the
display arrays are pooled once (:func:`dashboard.figures.spectrogram.pooled_display`, with the
real mask's codes per display cell), and an α change only redraws the two small α panels of the
plotly ``FigureWidget`` (their layout images and titles) and rebuilds the stems
(:func:`core.karaoke.separate.separate_at_alpha`). As on the page, the binary-mask panel is the
real mask ``P > α`` thresholded at full resolution, then pooled (how many of each pixel's bins
it keeps), so an oracle ideal binary mask looks the same at every α, as its stems are.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go

from core.errors import CoreError, DatasetError, InvalidConfigError
from core.karaoke import separate
from core.karaoke.masks import mask_shares
from core.karaoke.methods import METHODS, RULE_LABELS, MethodId, Rule, check_alpha, method_spec
from core.karaoke.separate import MaskResult
from core.karaoke.tracks import Track, list_tracks, load_track
from core.paths import assets_dir
from core.types import FloatArray
from dashboard.figures import spectrogram as sg
from widgets.common import LRU, audio_widget, error_html, labelled, wav_bytes

#: The α slider's range and step (as the page's).
_ALPHA_MIN, _ALPHA_MAX, _ALPHA_STEP = 0.01, 0.99, 0.01
#: Top frequencies offered for the panels (``None``: up to Nyquist).
_FMAX_CHOICES: tuple[float | None, ...] = (None, 8000.0, 4000.0, 2000.0)


def demo_track_folders() -> list[Path]:
    """The shipped demo track folders (``assets/demo_tracks/*``), sorted by name."""
    root = assets_dir() / "demo_tracks"
    return list_tracks(root) if root.is_dir() else []


def track_methods(track: Track) -> list[MethodId]:
    """Methods usable on ``track``: those needing references only when it has them."""
    has_refs = track.references is not None
    return [m for m in METHODS if has_refs or not method_spec(m).needs_references]


def shares_line(shares: dict[str, float]) -> str:
    """One line saying how many time-frequency bins each mask keeps."""
    text = (
        f"Bins kept: vocal mask {shares['vocals']:.0%}, "
        f"accompaniment mask {shares['accompaniment']:.0%}"
    )
    if shares.get("both", 0.0) >= 0.005:
        text += f", {shares['both']:.0%} in both"
    if shares.get("neither", 0.0) >= 0.005:
        text += f", {shares['neither']:.0%} in neither"
    return text + "."


def _fmax_label(fmax: float | None) -> str:
    return "full band" if fmax is None else f"0–{fmax / 1000:g} kHz"


class MaskExplorer(w.VBox):
    """Drag α over a track's probabilistic vocal mask; see the panels and hear the two stems.

    Parameters
    ----------
    track
        A :class:`core.karaoke.tracks.Track`, or a track folder (MUSDB18-HQ style, as
        :func:`core.karaoke.tracks.load_track` reads), or ``None`` for the first demo track.
        For arrays use :meth:`from_arrays`.
    method
        One of :data:`core.karaoke.methods.METHODS` (default ``"dnn"``).
    alpha
        The starting threshold in [0.01, 0.99].
    rule
        ``"paper"``, ``"complement"`` or ``"soft"`` (:data:`core.karaoke.methods.RULES`).
    checkpoint
        A separator checkpoint (DNN ``.pt``) or NMF bases (``.npz``); ``None``: the shipped one.
    fmax
        Top frequency of the panels in Hz (``None``: Nyquist).
    max_seconds
        Longest audio read from a folder.

    Attributes
    ----------
    figure : plotly.graph_objects.FigureWidget
        The panels: mixture, ideal binary mask (with references), P, the binary mask at α and
        the estimated vocal spectrogram.
    stems : ndarray, shape (2, channels, samples), float32
        ``[vocals, accompaniment]`` estimates at the current α.
    timings : dict
        Server-side milliseconds of the last α change (``figure``, ``stems``).

    Raises
    ------
    DatasetError, InvalidAudioError
        The folder is not a readable track.
    InvalidConfigError
        An unknown method or rule, α outside [0, 1], or an oracle method on a track without
        references.
    CheckpointError
        A missing or corrupt model file.
    """

    def __init__(
        self,
        track: Track | str | Path | None = None,
        *,
        method: MethodId = "dnn",
        alpha: float = 0.5,
        rule: Rule = "paper",
        checkpoint: str | Path | None = None,
        fmax: float | None = None,
        max_seconds: float = 600.0,
    ) -> None:
        if track is None:
            folders = demo_track_folders()
            if not folders:
                raise DatasetError("no demo tracks in assets/demo_tracks: pass a track")
            track = folders[0]
        if not isinstance(track, Track):
            track = load_track(Path(track).expanduser(), max_seconds=max_seconds)
        self.track: Track = track
        self.checkpoint = None if checkpoint is None else str(Path(checkpoint).expanduser())
        methods = track_methods(track)
        if method not in methods:
            raise InvalidConfigError(
                f"method {method!r} is not available for this track; expected one of {methods}"
            )
        if rule not in RULE_LABELS:
            raise InvalidConfigError(f"rule {rule!r} unknown; expected one of {list(RULE_LABELS)}")
        alpha = float(np.clip(round(check_alpha(alpha), 2), _ALPHA_MIN, _ALPHA_MAX))
        if fmax not in _FMAX_CHOICES:
            raise InvalidConfigError(f"fmax {fmax!r}: expected one of {_FMAX_CHOICES}")

        self._masks: LRU[MaskResult] = LRU(4)
        self._displays: LRU[sg.Display] = LRU(4)
        self._stems: LRU[FloatArray] = LRU(4)
        self.timings: dict[str, float] = {}
        self.stems: FloatArray = np.zeros((2, track.channels, 0), np.float32)

        self._method = w.Dropdown(
            options=[(method_spec(m).label, m) for m in methods], value=method,
            description="Method",
        )  # fmt: skip
        self._rule = w.Dropdown(
            options=[(label, r) for r, label in RULE_LABELS.items()], value=rule,
            description="Rule", layout=w.Layout(width="420px"),
        )  # fmt: skip
        # 0.0 stands for "full band": a Dropdown whose value is None shows no selection
        self._fmax = w.Dropdown(
            options=[(_fmax_label(f), f or 0.0) for f in _FMAX_CHOICES],
            value=fmax or 0.0,
            description="Band",
        )
        self._alpha = w.FloatSlider(
            value=alpha, min=_ALPHA_MIN, max=_ALPHA_MAX, step=_ALPHA_STEP, description="α",
            continuous_update=False, readout_format=".2f", layout=w.Layout(width="520px"),
        )  # fmt: skip
        self._status = w.HTML()
        self._shares = w.HTML()
        self._stem_players = (
            w.Audio(format="wav", autoplay=False, loop=False),
            w.Audio(format="wav", autoplay=False, loop=False),
        )
        self._stem_box = w.HBox(
            [
                labelled("Vocals estimate", self._stem_players[0]),
                labelled("Accompaniment estimate", self._stem_players[1]),
            ]
        )
        self.figure = go.FigureWidget()

        refs: list[w.Widget] = [labelled("Mixture", audio_widget(track.mixture, track.sr))]
        if track.references is not None:
            refs += [
                labelled("Vocals reference", audio_widget(track.references[0], track.sr)),
                labelled("Accompaniment reference", audio_widget(track.references[1], track.sr)),
            ]
        header = w.HTML(
            f"<b>{track.name}</b> — {track.seconds:.1f} s, {track.sr} Hz, "
            f"{track.channels} channel(s)"
        )
        super().__init__(
            [
                header,
                w.HBox([self._method, self._rule]),
                w.HBox(refs),
                w.HBox([self._alpha, self._fmax]),
                self._status,
                self.figure,
                self._shares,
                self._stem_box,
            ]
        )
        self._method.observe(self._on_mask_change, names="value")
        self._fmax.observe(self._on_mask_change, names="value")
        self._rule.observe(self._on_alpha_change, names="value")
        self._alpha.observe(self._on_alpha_change, names="value")
        self._rebuild()

    # ------------------------------------------------------------------ one-line starts
    @classmethod
    def demo(cls, name: str | int = 0, **kwargs: Any) -> MaskExplorer:
        """An explorer on a shipped demo track (by index or folder name).

        Raises
        ------
        DatasetError
            No demo track of that name or index.
        """
        folders = demo_track_folders()
        if isinstance(name, int):
            if not 0 <= name < len(folders):
                raise DatasetError(f"demo track index {name} out of range 0..{len(folders) - 1}")
            return cls(folders[name], **kwargs)
        for folder in folders:
            if folder.name == name:
                return cls(folder, **kwargs)
        raise DatasetError(f"no demo track {name!r}; expected one of {[f.name for f in folders]}")

    @classmethod
    def from_arrays(
        cls,
        mixture: FloatArray,
        sr: int,
        *,
        vocals: FloatArray | None = None,
        accompaniment: FloatArray | None = None,
        name: str = "arrays",
        **kwargs: Any,
    ) -> MaskExplorer:
        """An explorer on in-memory audio ``(channels, samples)`` (stems optional).

        Raises
        ------
        InvalidAudioError, DatasetError
            From :meth:`core.karaoke.tracks.Track.from_arrays`.
        """
        track = Track.from_arrays(
            np.atleast_2d(np.asarray(mixture, np.float32)), int(sr),
            vocals=None if vocals is None else np.atleast_2d(np.asarray(vocals, np.float32)),
            accompaniment=(
                None if accompaniment is None
                else np.atleast_2d(np.asarray(accompaniment, np.float32))
            ),
            name=name,
        )  # fmt: skip
        return cls(track, **kwargs)

    # ------------------------------------------------------------------ state for scripting
    @property
    def alpha(self) -> float:
        """The threshold α (setting it updates the panels and the stems)."""
        return float(self._alpha.value)

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha.value = float(np.clip(round(check_alpha(value), 2), _ALPHA_MIN, _ALPHA_MAX))

    @property
    def method(self) -> MethodId:
        """The separation method (setting it computes that method's mask once)."""
        value: MethodId = self._method.value
        return value

    @method.setter
    def method(self, value: MethodId) -> None:
        self._method.value = value

    @property
    def rule(self) -> Rule:
        """The threshold rule."""
        value: Rule = self._rule.value
        return value

    @rule.setter
    def rule(self, value: Rule) -> None:
        self._rule.value = value

    @property
    def mask(self) -> MaskResult:
        """The probabilistic mask of the current method (computed once, kept)."""
        return self._mask(self.method)

    # ------------------------------------------------------------------ computation
    def _mask(self, method: MethodId) -> MaskResult:
        tr = self.track
        ckpt = None if method_spec(method).model_file is None else self.checkpoint
        return self._masks.get(
            (method, ckpt),
            lambda: separate.probability_mask(
                tr.mixture, tr.sr, method=method, references=tr.references,
                checkpoint=None if ckpt is None else Path(ckpt),
            ),
        )  # fmt: skip

    @property
    def fmax(self) -> float | None:
        """Top frequency of the panels in Hz (``None``: up to Nyquist; settable)."""
        return float(self._fmax.value) or None

    @fmax.setter
    def fmax(self, value: float | None) -> None:
        self._fmax.value = value or 0.0

    def _display(self) -> sg.Display:
        method, fmax = self.method, self.fmax

        def make() -> sg.Display:
            res = self._mask(method)
            ibm = None
            if self.track.references is not None:
                ibm = res if method == "oracle" else self._mask("oracle")
            return sg.pooled_display(res, ibm=ibm, fmax=fmax, exact_alpha=True)

        return self._displays.get((method, fmax), make)

    def _rebuild(self) -> None:
        """A new method or band: the whole figure (the mask is computed once per method)."""
        try:
            fig = sg.alpha_figure(self._display(), alpha=self.alpha, rule=self.rule)
        except CoreError as exc:
            self._status.value = error_html(exc)
            return
        self._status.value = ""
        with self.figure.batch_update():
            self.figure.data = ()
            self.figure.layout = fig.layout
        self.figure.add_traces(fig.data)
        self._update_stems()

    def _on_mask_change(self, _change: dict[str, Any]) -> None:
        self._rebuild()

    def _on_alpha_change(self, _change: dict[str, Any]) -> None:
        """α or rule moved: only the two α panels change, then the stems."""
        t0 = time.perf_counter()
        try:
            display = self._display()
            mask_png, estimate_png = sg.alpha_images(display, alpha=self.alpha, rule=self.rule)
        except CoreError as exc:
            self._status.value = error_html(exc)
            return
        self._status.value = ""
        n = len(display.static)
        with self.figure.batch_update():
            images = self.figure.layout.images
            images[n].source = sg.data_uri(mask_png)
            images[n + 1].source = sg.data_uri(estimate_png)
            self.figure.layout.annotations[
                n
            ].text = f"<b>{sg.binary_title(self.alpha, self.rule)}</b>"
        t1 = time.perf_counter()
        self._update_stems()
        self.timings = {"figure": 1e3 * (t1 - t0), "stems": 1e3 * (time.perf_counter() - t1)}

    def _update_stems(self) -> None:
        method, alpha, rule = self.method, self.alpha, self.rule
        try:
            res = self._mask(method)
            self.stems = self._stems.get(
                (method, alpha, rule),
                lambda: separate.separate_at_alpha(res, alpha=alpha, rule=rule),
            )
            shares = mask_shares(res.prob, alpha=alpha, rule=rule)
        except CoreError as exc:
            self._status.value = error_html(exc)
            return
        self._shares.value = shares_line(shares)
        for player, y in zip(self._stem_players, self.stems, strict=True):
            player.value = wav_bytes(y, self.track.sr)
