"""Mask explorer glue: what the page caches, and its session and query-parameter state.

What is cached, and why (the α slider must stay live on a full song):

- the track (``st.cache_data``, keyed by its folder path and modification time, or by the
  bytes of an upload);
- the probabilistic mask of a (track, method, checkpoint) (``st.cache_resource``): the network
  runs once, never on an α change;
- the display arrays derived from it (``st.cache_resource``): pooled power and probability and
  the PNGs of the panels that do not depend on α
  (:func:`dashboard.figures.spectrogram.pooled_display`);
- the live α canvas's planes (:func:`canvas_data`, ``st.cache_resource``): codes of the real
  mask per display cell, thresholded in the browser on every move of the canvas's slider
  (:mod:`dashboard.alpha_canvas`); the α-independent panels (mixture, ideal mask, P) stay a
  plotly figure with colour bars (:func:`static_panels`);
- per released α: a full-resolution threshold + reconstruction of both stems
  (:func:`core.karaoke.masks.separate_frames_major`, block-wise, the accompaniment as the
  mixture minus the vocals where the masks add up to one) and their 16-bit WAV bytes for the
  players and downloads (:func:`stem_wavs`, encoded once per α with numpy); both in
  ``st.cache_resource`` (no pickled copy of large arrays on every store and hit; the arrays
  are read-only), small caches.

α and the frequency range survive runs where no track is loaded (:func:`restore_view_state`).

After a slow new mask, or when many modules were imported since (the first mask of the
process; torch loaded by another page or the preload), :func:`settle_heap` freezes the objects
alive then (``gc.freeze``), so Streamlit's full collection after every run, which holds the GIL
while the run's last messages wait, walks only what a run created.

The reliability diagram of a model's mask (:func:`track_reliability`, ``st.cache_data`` keyed
by track key, method, checkpoint and weighting) does not depend on α: it is computed once per
(track, method) from the cached mask; an α change only redraws its small figure with the α line.

Query parameters ``track`` / ``method`` / ``alpha``
are read by :func:`apply_query_params` and written back by :func:`sync_query_params`.

Methods, rules and their labels come from the registry, :mod:`core.karaoke.methods`. torch is
not imported here: :mod:`core.karaoke.separate` imports the DNN only when it runs.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.errors import InvalidConfigError
from core.karaoke import separate
from core.karaoke.calibration import ReliabilityCurve, stem_reliability
from core.karaoke.masks import mask_shares as core_mask_shares
from core.karaoke.masks import separate_frames_major
from core.karaoke.methods import METHODS, RULE_LABELS, MethodId, Rule, check_alpha, method_spec
from core.karaoke.separate import MaskResult
from core.karaoke.tracks import Track, list_tracks, track_from_bytes
from core.karaoke.tracks import load_track as core_load_track
from core.paths import assets_dir
from core.types import FloatArray
from dashboard import alpha_canvas as ac
from dashboard.figures import reliability as rf
from dashboard.figures import spectrogram as sg
from dashboard.player import pcm16_wav
from dashboard.ui import digest

#: Longest upload or dataset track accepted by the page, in seconds.
MAX_SECONDS = 600.0
#: Top frequencies offered for the panels (``None``: up to Nyquist).
FMAX_CHOICES: tuple[float | None, ...] = (None, 8000.0, 4000.0, 2000.0)
#: Where the track comes from, and how the picker names it.
TRACK_ORIGINS = ("demo", "dataset", "upload")
ORIGIN_LABELS = {"demo": "Demo track", "dataset": "Dataset folder", "upload": "Upload"}
#: The α slider's range and step (the paper's operating range is 0.2-0.8).
ALPHA_MIN, ALPHA_MAX, ALPHA_STEP = 0.01, 0.99, 0.01
#: α shown first.
DEFAULT_ALPHA = 0.5


def method_label(method: str) -> str:
    """The registry's label of ``method`` (for the picker)."""
    return method_spec(method).label


def rule_label(rule: Rule) -> str:
    """The registry's one-line meaning of a threshold rule (for the picker)."""
    return RULE_LABELS[rule]


# --------------------------------------------------------------------------- tracks
def demo_root() -> Path:
    """Folder of the shipped demo tracks (``assets/demo_tracks``)."""
    return assets_dir() / "demo_tracks"


@st.cache_data(ttl=10, max_entries=8, show_spinner=False)
def list_track_folders(root: str) -> list[str]:
    """Track folders under ``root`` (``[]`` when it does not exist), as strings.

    Raises
    ------
    DatasetError
        From :func:`core.karaoke.tracks.list_tracks` when ``root`` is not a usable dataset folder.
    """
    if not Path(root).is_dir():
        return []
    return [str(p) for p in list_tracks(Path(root))]


def demo_tracks() -> dict[str, str]:
    """Demo track name -> folder path, sorted by name."""
    paths = list_track_folders(str(demo_root()))
    return {Path(p).name: p for p in sorted(paths, key=lambda p: Path(p).name)}


def _mtime(folder: str) -> float:
    """Latest modification time of a track folder's files (or of a ``.stem.mp4`` file)."""
    path = Path(folder)
    try:
        if path.is_file():
            return path.stat().st_mtime
        return max((p.stat().st_mtime for p in path.iterdir()), default=0.0)
    except OSError:
        return 0.0


def folder_label(folder: str, root: str) -> str:
    """How the dataset picker names a track folder: its path relative to ``root``."""
    try:
        rel = Path(folder).relative_to(root)
    except ValueError:
        return folder
    return Path(folder).name if str(rel) == "." else str(rel)


@st.cache_data(max_entries=4, show_spinner="Loading the track…")
def _load_track(folder: str, mtime: float, max_seconds: float) -> Track:
    return core_load_track(Path(folder), max_seconds=max_seconds)


def load_track(folder: str | Path, *, max_seconds: float = MAX_SECONDS) -> Track:
    """Load a track folder (cached by path and file modification time).

    Raises
    ------
    DatasetError
        Missing files or mismatched stems (from :func:`core.karaoke.tracks.load_track`).
    InvalidAudioError
        Undecodable or too long audio.
    """
    return _load_track(str(folder), _mtime(str(folder)), max_seconds)


@st.cache_data(max_entries=4, show_spinner="Decoding the upload…")
def track_from_upload(
    name: str,
    mixture: bytes,
    vocals: bytes | None = None,
    accompaniment: bytes | None = None,
    *,
    max_seconds: float = MAX_SECONDS,
) -> Track:
    """A track from uploaded files' bytes (cached by their content).

    Raises
    ------
    InvalidAudioError, DatasetError
        From :func:`core.karaoke.tracks.track_from_bytes`.
    """
    return track_from_bytes(
        mixture, vocals=vocals, accompaniment=accompaniment, name=name, max_seconds=max_seconds
    )


def track_key(track: Track) -> str:
    """A cache key for a track: its folder and files' time, or a digest of an upload's audio."""
    if track.path is not None:
        return f"path:{track.path}:{_mtime(str(track.path))}"
    refs = b"" if track.references is None else np.ascontiguousarray(track.references).tobytes()
    audio = np.ascontiguousarray(track.mixture).tobytes()
    return f"upload:{track.name}:{digest(audio, refs, str(track.sr).encode())}"


def available_methods(track: Track) -> list[MethodId]:
    """Methods usable on ``track``: those needing references only when it has them."""
    has_refs = track.references is not None
    return [m for m in METHODS if has_refs or not method_spec(m).needs_references]


def checkpoint_for(method: str, text: str | None) -> str | None:
    """The model file typed by the user for ``method`` (``None``: the shipped one, or none)."""
    path = (text or "").strip()
    if not path or method_spec(method).model_file is None:
        return None
    return str(Path(path).expanduser())


# --------------------------------------------------------------------------- masks
# a 10-minute stereo song's result holds ~1.3 GB (mask + STFT): keep few
@st.cache_resource(max_entries=6, show_spinner="Computing the probabilistic mask…")
def mask_result(key: str, method: MethodId, checkpoint: str | None, _track: Track) -> MaskResult:
    """The probabilistic mask of a track (cached by track key, method and checkpoint).

    Raises
    ------
    InvalidConfigError
        A method needing references without them, unknown method.
    CheckpointError
        Missing or corrupt model file.
    """
    res = separate.probability_mask(
        _track.mixture,
        _track.sr,
        method=method,
        references=_track.references,
        checkpoint=Path(checkpoint) if checkpoint else None,
    )
    if res.seconds >= SETTLE_AFTER_SECONDS:
        settle_heap()
    else:
        settle_heap_if_grown()  # the first mask of the process
    return res


#: A mask that took at least this long is followed by :func:`settle_heap` (its full collection
#: costs ~0.1-0.3 s).
SETTLE_AFTER_SECONDS = 0.5
#: :func:`settle_heap_if_grown` settles when this many modules were imported since the last
#: settle (e.g. torch, by another page or the preload: ~10^5 new objects).
SETTLE_NEW_MODULES = 50
_HEAP = {"modules": 0}
_SETTLE_LOCK = threading.Lock()
_TIMERS: list[threading.Timer] = []  # the pending delayed settle, if any
#: Seconds after an α release that noticed new modules before the heap is settled.
SETTLE_DELAY_S = 2.0


def settle_heap() -> None:
    """Collect garbage, then keep every surviving object out of later collections (``gc.freeze``).

    Streamlit runs a full ``gc.collect()`` after every script run (``runner.postScriptGC``).
    With streamlit, plotly, scipy (and torch, once a page loaded it) in the process, that walks
    10^5 objects: about 80-250 ms during which the GIL is held, so the messages of the run
    that just ended (an α release's new players) wait for it. Frozen objects are skipped by
    later collections, which then walk only what each run created (a few ms). Garbage cycles
    among frozen objects are collected at the next call (``gc.unfreeze`` first); objects freed
    by reference counting (arrays, bytes, most of a cache entry) are freed at once as ever.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _HEAP["modules"] = len(sys.modules)


def settle_heap_if_grown(*, delay: float | None = None) -> bool:
    """:func:`settle_heap` when many modules were imported since the last settle (or none was).

    A cheap test (the size of ``sys.modules``), so it can run on every α release.

    Parameters
    ----------
    delay
        ``None``: settle now. Otherwise settle that many seconds later in a background thread
        (once), off the path of the run that noticed: an α release after the preload or
        another page imported e.g. torch then costs what it did, and the next ones less.

    Returns
    -------
    bool
        Whether the heap was (or will be) settled.
    """
    if len(sys.modules) - _HEAP["modules"] < SETTLE_NEW_MODULES:
        return False
    if delay is None:
        settle_heap()
        return True
    with _SETTLE_LOCK:
        if not any(t.is_alive() for t in _TIMERS):
            timer = threading.Timer(delay, settle_heap)
            timer.daemon = True
            _TIMERS[:] = [timer]
            timer.start()
    return True


@st.cache_resource(max_entries=6, show_spinner="Preparing the spectrograms…")
def display_arrays(
    key: str, method: MethodId, checkpoint: str | None, fmax: float | None, _track: Track
) -> sg.Display:
    """The pooled display of ``(key, method, checkpoint)`` up to ``fmax`` Hz (cached).

    With the track's references known, the ideal binary mask panel comes from the oracle.

    Raises
    ------
    CoreError
        As :func:`mask_result`.
    """
    res = mask_result(key, method, checkpoint, _track)
    ibm = None
    if _track.references is not None:
        ibm = res if method == "oracle" else mask_result(key, "oracle", None, _track)
    return sg.pooled_display(res, ibm=ibm, fmax=fmax)


# --------------------------------------------------------------------------- live α canvas
#: Widget key of the live α canvas (:mod:`dashboard.alpha_canvas`).
CANVAS_KEY = "sep.alpha_canvas"


@st.cache_resource(max_entries=6, show_spinner=False)
def alpha_effect(key: str, method: MethodId, checkpoint: str | None, _track: Track) -> bool:
    """Whether α changes the full-resolution mask of ``(key, method, checkpoint)`` at all."""
    return sg.alpha_has_effect(mask_result(key, method, checkpoint, _track).prob)


def alpha_note(method: str, rule: Rule, active: bool) -> str:
    """Why the α sliders are disabled (``""`` when α has an effect)."""
    if rule == "soft":
        return "α has no effect with the soft rule: the masks are P and 1 − P."
    if not active:
        return (
            f"α has no effect on the {method_label(method)}: every P is already 0 or 1 (a binary "
            "mask), so every threshold gives the same mask and the same stems."
        )
    return ""


@st.cache_resource(max_entries=6, show_spinner="Preparing the live α panels…")
def _canvas_base(
    key: str, method: MethodId, checkpoint: str | None, fmax: float | None, rule: Rule,
    _track: Track,
) -> dict[str, object]:  # fmt: skip
    res = mask_result(key, method, checkpoint, _track)
    panels = sg.alpha_panels(res, fmax=fmax)
    active = alpha_effect(key, method, checkpoint, _track)
    soft = sg.soft_planes(res, fmax=fmax) if rule == "soft" else None
    return ac.payload(
        panels, alpha=DEFAULT_ALPHA, rule=rule, active=active,
        note=alpha_note(method, rule, active), soft=soft,
    )  # fmt: skip


def canvas_data(
    key: str, method: MethodId, checkpoint: str | None, fmax: float | None, rule: Rule,
    alpha: float, track: Track,
) -> dict[str, object]:  # fmt: skip
    """The live α canvas's data (:func:`dashboard.alpha_canvas.payload`) at ``alpha``.

    The planes are made once per (track, method, checkpoint, frequency range, rule) and cached;
    only the slider position changes with α.

    Raises
    ------
    CoreError
        As :func:`mask_result`.
    """
    base = _canvas_base(key, method, checkpoint, fmax, rule, track)
    return {**base, "step": sg.alpha_step(alpha)}


def on_canvas_alpha() -> None:
    """Callback of the canvas: its released α becomes the page's α (``sep.alpha``)."""
    value = ac.released_alpha(CANVAS_KEY)
    if value is not None:
        st.session_state["sep.alpha"] = parse_alpha(str(value))


@st.cache_resource(max_entries=6, show_spinner=False)
def _static_panels(
    key: str, method: MethodId, checkpoint: str | None, fmax: float | None, _track: Track
) -> go.Figure:
    display = display_arrays(key, method, checkpoint, fmax, _track)
    return sg.static_figure(display, uirevision=f"{key}|{method}|{fmax}")


def static_panels(
    track: Track, *, method: MethodId, checkpoint: str | None, key: str, fmax: float | None
) -> go.Figure:
    """The α-independent panels with colour bars (built once per track, method and range).

    The figure is shared between runs and sessions: do not modify it.

    Raises
    ------
    CoreError
        As :func:`mask_result`.
    """
    return _static_panels(key, method, checkpoint, fmax, track)


# --------------------------------------------------------------------------- view state
#: Widget keys whose values must survive runs where their widgets are not drawn (no track).
KEPT_KEYS = ("sep.alpha", "sep.fmax")


#: Set when a run stopped before drawing the α widgets.
_HIDDEN = "sep._view_hidden"


def _kept(name: str) -> str:
    return f"sep._kept.{name.removeprefix('sep.')}"


def restore_view_state() -> None:
    """Put back α and the frequency range after a run that did not draw them (before widgets).

    After a run that stopped without a track (:func:`stop_without_track`), the browser has
    forgotten the two widgets: redrawn, they would show their defaults (α = 0.01, an empty
    Frequencies box) while the server still holds the old values. Writing the values kept by
    :func:`remember_view_state` back through the session state makes Streamlit send them to
    the browser with the widgets; a value Streamlit dropped is restored the same way.
    """
    state = st.session_state
    hidden = state.pop(_HIDDEN, False)
    for name in KEPT_KEYS:
        if _kept(name) in state and (hidden or name not in state):
            state[name] = state[_kept(name)]


def remember_view_state() -> None:
    """Copy α and the frequency range into plain session keys (call after their widgets)."""
    state = st.session_state
    for name in KEPT_KEYS:
        if name in state:
            state[_kept(name)] = state[name]


# --------------------------------------------------------------------------- per α
# a 10-minute stereo song's stems are ~420 MB of float32: keep two (the WAV bytes keep four)
@st.cache_resource(max_entries=2, show_spinner=False)
def stems_at_alpha(
    key: str, method: MethodId, checkpoint: str | None, alpha: float, rule: Rule, _track: Track
) -> FloatArray:
    """Vocal and accompaniment estimates at ``alpha`` (small cache: a long song's are large).

    The accompaniment is the track's mixture minus the vocals where the two masks add up to
    one (:func:`core.karaoke.masks.separate_frames_major` with ``mixture``): about one inverse
    STFT instead of two. Shared between runs and sessions, so read-only.

    Returns
    -------
    ndarray, shape (2, channels, samples), float32, read-only
        [vocals, accompaniment] at the track's rate.

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1] or an unknown rule (:func:`core.karaoke.methods.check_alpha`).
    """
    settle_heap_if_grown(delay=SETTLE_DELAY_S)  # e.g. torch imported since (preload, pages)
    res = mask_result(key, method, checkpoint, _track)
    stft_t, prob_t = res.frames_major  # contiguous copies, made once per mask result
    stems = separate_frames_major(
        stft_t, prob_t, alpha=check_alpha(alpha), rule=rule, config=res.stft_config,
        length=res.length, mixture=_track.mixture,
    )  # fmt: skip
    stems.setflags(write=False)
    return stems


@st.cache_resource(max_entries=4, show_spinner=False)
def stem_wavs(
    key: str, method: MethodId, checkpoint: str | None, alpha: float, rule: Rule, _track: Track
) -> tuple[bytes, bytes]:
    """16-bit WAV bytes of the vocal and accompaniment estimates at ``alpha`` (cached).

    Encoded once per α (:func:`dashboard.player.pcm16_wav`) for both the players and the
    downloads, at the stems' true level.

    Raises
    ------
    InvalidConfigError
        As :func:`stems_at_alpha`.
    """
    from concurrent.futures import ThreadPoolExecutor

    stems = stems_at_alpha(key, method, checkpoint, alpha, rule, _track)
    # numpy's passes release the GIL: the two stems encode on two cores at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        vocals, accomp = pool.map(lambda y: pcm16_wav(y, _track.sr), stems)
    return vocals, accomp


@st.cache_data(max_entries=64, show_spinner=False)
def _mask_shares(
    key: str, method: MethodId, checkpoint: str | None, alpha: float, rule: Rule, _track: Track
) -> dict[str, float]:
    prob = mask_result(key, method, checkpoint, _track).prob
    # the caption rounds to 1 %: a strided subsample of ~0.5 M bins is far within that
    return core_mask_shares(prob, alpha=alpha, rule=rule, max_bins=500_000)


def mask_shares(
    key: str, method: MethodId, checkpoint: str | None, alpha: float, rule: Rule, track: Track
) -> dict[str, float]:
    """:func:`core.karaoke.masks.mask_shares` of the cached full-resolution mask, cached per α."""
    return _mask_shares(key, method, checkpoint, alpha, rule, track)


def shares_text(shares: dict[str, float]) -> str:
    """One line describing :func:`mask_shares` for the page."""
    parts = [
        f"vocal mask {shares['vocals']:.0%}",
        f"accompaniment mask {shares['accompaniment']:.0%}",
    ]
    if shares.get("both", 0.0) >= 0.005:
        parts.append(f"{shares['both']:.0%} in both")
    if shares.get("neither", 0.0) >= 0.005:
        parts.append(f"{shares['neither']:.0%} in neither (dropped)")
    text = "Time-frequency bins kept: " + ", ".join(parts) + "."
    if "both" in shares and shares["vocals"] < 0.01:
        text += (
            f" The mask is rarely confident here (99% of bins have P ≤ {shares['p99']:.2f}): "
            "try a lower α."
        )
    return text


def fmax_label(fmax: float | None) -> str:
    """Label of a frequency-range choice."""
    return "full band" if fmax is None else f"0–{fmax / 1000:g} kHz"


# --------------------------------------------------------------------------- calibration
def reliability_note(track: Track, method: str) -> str | None:
    """Why the page shows no reliability diagram for ``(track, method)``, or ``None``."""
    if track.references is None:
        return (
            "No reliability diagram: it compares P with the ideal binary mask of the track's "
            "reference stems, and this track has none. Upload its vocals or accompaniment stem "
            "too (or pick a demo track) to see how well P is calibrated."
        )
    if method_spec(method).needs_references:
        return (
            "No reliability diagram for an oracle mask: it is computed from the very stems it "
            "would be checked against. Pick a model (DNN or NMF) to see its calibration."
        )
    return None


@st.cache_data(max_entries=16, show_spinner="Computing the reliability diagram…")
def track_reliability(
    key: str, method: MethodId, checkpoint: str | None, weighted: bool, _track: Track
) -> ReliabilityCurve:
    """Reliability of the cached mask of ``(key, method, checkpoint)`` on the track's stems.

    :func:`core.karaoke.calibration.stem_reliability` on the mask's own grid, silent bins left
    out, optionally weighted by the mixture magnitude. Independent of α: cached once.

    Raises
    ------
    InvalidConfigError
        The track has no reference stems, or they do not fit the mask's grid.
    CoreError
        As :func:`mask_result`.
    """
    if _track.references is None:
        raise InvalidConfigError("the reliability diagram needs the track's reference stems")
    res = mask_result(key, method, checkpoint, _track)
    weights = np.abs(res.mixture_stft) if weighted else None
    return stem_reliability(
        res.prob, _track.references, stft_config=res.stft_config, weights=weights
    )


def reliability_plot(
    curve: ReliabilityCurve, *, alpha: float, rule: Rule, key: str, method: str
) -> go.Figure:
    """The reliability figure with the current α marked (not with the soft rule, which has none)."""
    return rf.reliability_figure(
        curve,
        title=f"Reliability of {method_label(method)}",
        alpha=None if rule == "soft" else alpha,
        uirevision=f"{key}|{method}",
    )


def reliability_text(curve: ReliabilityCurve) -> str:
    """One paragraph giving the track's ECE and how to read the diagram."""
    if not np.isfinite(curve.ece):
        return "ECE undefined: every time-frequency bin of the stems is silent."
    weighting = ", weighted by mixture magnitude" if curve.weighted else ""
    return (
        f"**ECE {curve.ece:.3f}** on this track ({curve.n:,} non-silent time-frequency bins, "
        f"{curve.bins} equal-width P bins{weighting}): on average P is "
        f"{100 * curve.ece:.1f} points away from how often the vocal actually dominates. "
        "Points below the diagonal: P overstates the vocal there (at P ≈ 0.8 the vocal "
        "dominates less than 80% of the time); above it: P understates the vocal."
    )


# --------------------------------------------------------------------------- query params
QP_KEYS = ("track", "method", "alpha")


def parse_alpha(value: str | None, default: float = DEFAULT_ALPHA) -> float:
    """An α from a query parameter, on the slider's grid and range (``default`` when bad).

    A link's number outside the slider's [0.01, 0.99] is clipped to it, anything else that is
    not a finite number gives ``default``; the α the page computes with is then checked by
    :func:`core.karaoke.methods.check_alpha` (:func:`stems_at_alpha`).
    """
    if value is None:
        return default
    try:
        a = float(value)
    except ValueError:
        return default
    if not np.isfinite(a):
        return default
    return float(np.clip(round(a, 2), ALPHA_MIN, ALPHA_MAX))


def _set_qp(name: str, value: str | None) -> None:
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


def _current_qp() -> dict[str, str]:
    return {k: st.query_params[k] for k in QP_KEYS if k in st.query_params}


def apply_query_params() -> None:
    """Preselect the track, method and α from ``?track=&method=&alpha=`` (call before widgets).

    First puts back α and the frequency range kept by :func:`remember_view_state` when
    Streamlit dropped them (a run that stopped before drawing them).

    Applied only when the query parameters differ from those the page last wrote, so a link
    (e.g. ``st.switch_page("pages/mask_explorer.py", query_params={...})`` from the Metrics
    page) takes effect but the page's own updates do not fight the widgets. ``track`` is a demo
    track name or a track folder path.
    """
    qp = _current_qp()
    state = st.session_state
    # the slider's state is dropped by Streamlit when it was not rendered in the last run
    # (another page, or this page stopped early): then the URL holds the user's last values
    fresh = "sep.alpha" not in state
    restore_view_state()  # α and Frequencies as last drawn (the link's α below still wins)
    state.setdefault("sep.alpha", DEFAULT_ALPHA)
    if qp == state.get("sep._qp") and not fresh:
        return
    state["sep._qp"] = qp
    if "track" in qp:
        t = qp["track"]
        demos = demo_tracks()
        if t in demos:
            state["sep.source"] = "demo"
            state["sep.demo"] = t
        elif Path(t).is_dir():
            state["sep.source"] = "dataset"
            state["sep.root"] = str(Path(t).parent)
            state["sep.folder"] = str(Path(t))
        else:
            state["sep._qp_warning"] = (
                f"Track {t!r} from the link is neither a demo track nor a folder on this machine."
            )
    if qp.get("method") in METHODS:
        state["sep.method"] = qp["method"]
    if "alpha" in qp:
        state["sep.alpha"] = parse_alpha(qp["alpha"])


def stop_without_track() -> NoReturn:
    """Drop ``track`` from the URL (no track is loaded) and stop the script run.

    The α widgets are not drawn in this run: the next one restores them
    (:func:`restore_view_state`).
    """
    sync_query_params(track=None)
    stop_before_view()


def stop_before_view() -> NoReturn:
    """Stop the script run before the α widgets; the next run restores them."""
    st.session_state[_HIDDEN] = True
    st.stop()


def pop_query_warning() -> str | None:
    """A message about a link's ``track`` that could not be found (once), or ``None``."""
    message: str | None = st.session_state.pop("sep._qp_warning", None)
    return message


def sync_query_params(**values: str | float | None) -> None:
    """Write ``track`` / ``method`` / ``alpha`` to the URL (``None`` removes a parameter)."""
    for name, value in values.items():
        if name == "alpha" and value is not None:
            value = f"{float(value):.2f}"
        _set_qp(name, None if value is None else str(value))
    st.session_state["sep._qp"] = _current_qp()


def fit_choice(key: str, options: Sequence[str]) -> None:
    """Drop a preset widget value that is not among ``options`` (path spellings are matched).

    Call before creating the widget, so a stale or linked value never breaks it.
    """
    state = st.session_state
    if key not in state or state[key] in options:
        return
    value = state[key]
    for opt in options:
        try:
            if Path(opt).resolve() == Path(str(value)).resolve():
                state[key] = opt
                return
        except (OSError, ValueError):
            break
    del state[key]


def track_param(track: Track) -> str | None:
    """The ``track`` query parameter of a track: demo name, folder path, or ``None`` (upload)."""
    if track.path is None:
        return None
    if track.path.parent.resolve() == demo_root().resolve():
        return track.path.name
    return str(track.path)
