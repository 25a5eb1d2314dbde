"""Mask explorer: the pure figure builder and the cached computations behind the page.

What is cached, and why (the α slider must stay live on a full song):

- the track (``st.cache_data``, keyed by its folder path and modification time, or by the
  digest of an upload);
- the probabilistic mask of a (track, method, checkpoint) (``st.cache_resource``): the network
  runs once, never on an α change;
- the display arrays derived from it (``st.cache_resource``): channel-mean power, probability
  and ideal binary mask pooled to at most 256 x 1300 pixels, and the PNGs of the panels that do
  not depend on α (mixture, ideal mask, probabilistic mask);
- per α: a full-resolution threshold + reconstruction (:func:`core.separation.separate_at_alpha`,
  small cache of 4) and two small PNGs (binary mask, estimated vocal spectrogram) made from the
  *pooled* arrays (see :mod:`dashboard.spectro_image` for why that is a faithful display).

The page calls :func:`figure_at_alpha` before :func:`stems_at_alpha`, so the new mask reaches
the browser while the stems are rebuilt; :func:`view_at_alpha` does both and times them (for
benchmarks). Query parameters ``track`` / ``method`` / ``alpha`` are read by
:func:`apply_query_params` and written back by :func:`sync_query_params`.

:func:`spectrogram_panels` is pure (PNG images in, plotly figure out) and works in a notebook.
Core modules are imported lazily through :func:`_corpus`, :func:`_masking` and
:func:`_separation`, so tests can replace them with fakes and this module imports quickly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.errors import DatasetError, InvalidConfigError
from core.paths import assets_dir
from core.types import FloatArray
from dashboard import spectro_image as si

if TYPE_CHECKING:  # pragma: no cover
    from core.corpus import Track
    from core.separation import MaskResult

#: Human names of the separation methods (ids from ``core.separation.METHODS``).
METHOD_LABELS = {
    "dnn": "DNN (Deep Karaoke)",
    "traditional": "Traditional (supervised NMF)",
    "oracle": "Oracle ideal binary mask",
    "oracle-irm": "Oracle ideal ratio mask",
}
#: Methods that need the reference stems.
ORACLE_METHODS = ("oracle", "oracle-irm")
#: Threshold rules of ``core.masking.threshold_masks``.
RULES = ("paper", "complement", "soft")
RULE_LABELS = {
    "paper": "paper: vocal P > α, accompaniment P < 1 − α",
    "complement": "complement: vocal P > α, accompaniment the rest",
    "soft": "soft: vocal P, accompaniment 1 − P (α ignored)",
}
#: Dynamic range of the dB panels.
TOP_DB = 80.0
#: Largest length difference between an uploaded stem and the mixture that is silently fitted
#: (resampling can change a length by a sample or two), in seconds.
LENGTH_TOLERANCE_S = 0.01
#: Longest upload or dataset track accepted by the page, in seconds.
MAX_SECONDS = 600.0


# --------------------------------------------------------------------------- core seams
def _corpus() -> ModuleType:
    import core.corpus

    return core.corpus


def _masking() -> ModuleType:
    import core.masking

    return core.masking


def _separation() -> ModuleType:
    import core.separation

    return core.separation


# --------------------------------------------------------------------------- figure builder
def spectrogram_panels(
    images: Sequence[str | bytes],
    *,
    duration_s: float,
    max_hz: float | Sequence[float],
    titles: Sequence[str],
    panel_height: int = 190,
    display_hz: float | None = None,
    uirevision: str = "mask-explorer",
) -> go.Figure:
    """Stack spectrogram / mask images into one figure with shared time and frequency axes.

    Each image becomes a plotly *layout image* stretched over ``[0, duration_s] x [0, max_hz]``
    of its own subplot, so the browser draws a few small PNGs instead of a large heatmap; all
    panels share the time and the frequency axes (zoom and pan together).

    Parameters
    ----------
    images
        One PNG per panel, as bytes or ``data:image/png;base64,...`` URIs, top row = highest
        frequency (as made by :mod:`dashboard.spectro_image`).
    duration_s
        Length of the audio in seconds (the images' width).
    max_hz
        Top frequency of the images in Hz (Nyquist), one for all or one per panel.
    titles
        One title per panel.
    panel_height
        Height of each panel in pixels.
    display_hz
        Top of the frequency axis in Hz (default: the largest ``max_hz``).
    uirevision
        Plotly's ``uirevision``: the user's zoom survives updates while it stays the same.

    Returns
    -------
    plotly.graph_objects.Figure
        ``len(images)`` layout images, axes ``x``/``x2``/... in seconds, ``y``/``y2``/... in Hz;
        every axis after the first ``matches`` the first, so zoom and pan act on all panels.

    Raises
    ------
    InvalidConfigError
        If the numbers of images and titles differ, there are no images, or a size is not
        positive.
    """
    n = len(images)
    if np.ndim(max_hz) == 0:
        tops = [float(max_hz)] * n  # type: ignore[arg-type]
    else:
        tops = [float(h) for h in max_hz]
    if n == 0 or len(titles) != n or len(tops) != n:
        raise InvalidConfigError(
            f"need one title and max_hz per image, got {n} images, {len(titles)} titles, "
            f"{len(tops)} max_hz"
        )
    if not duration_s > 0 or min(tops) <= 0:
        raise InvalidConfigError(
            f"duration_s and max_hz must be positive, got {duration_s} and {tops}"
        )
    top = float(display_hz) if display_hz else max(tops)
    gap = 0.35 / max(n, 1) / 2  # vertical space between panels, as a fraction of the figure
    height = 1.0 - gap * (n - 1)
    layout: dict[str, Any] = {}
    pieces: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    for i, (img, title, hz) in enumerate(zip(images, titles, tops, strict=True)):
        ax = "" if i == 0 else str(i + 1)
        y1 = 1.0 - i * (height / n + gap)
        y0 = max(y1 - height / n, 0.0)
        layout[f"xaxis{ax}"] = {
            "range": [0.0, float(duration_s)],
            "domain": [0.0, 1.0],
            "anchor": f"y{ax}",
            "showticklabels": i == n - 1,
            "showgrid": False,
            "zeroline": False,
            **({"matches": "x"} if i else {}),
            **({"title": {"text": "time (s)"}} if i == n - 1 else {}),
        }
        layout[f"yaxis{ax}"] = {
            "range": [0.0, top],
            "domain": [y0, y1],
            "anchor": f"x{ax}",
            "title": {"text": "Hz"},
            "showgrid": False,
            "zeroline": False,
            **({"matches": "y"} if i else {}),  # frequency zoom is shared too
        }
        src = si.data_uri(bytes(img)) if isinstance(img, bytes | bytearray) else str(img)
        pieces.append(
            {
                "source": src,
                "xref": f"x{ax}",
                "yref": f"y{ax}",
                "x": 0.0,
                "y": hz,
                "sizex": float(duration_s),
                "sizey": hz,
                "xanchor": "left",
                "yanchor": "top",
                "sizing": "stretch",
                "layer": "below",
                "name": title,
            }
        )
        annotations.append(
            {
                "text": f"<b>{title}</b>",
                "xref": "paper",
                "yref": "paper",
                "x": 0.0,
                "y": y1,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
        # an invisible trace per panel: gives each subplot its hover coordinates
        traces.append(
            {
                "type": "scatter",
                "x": [0.0, float(duration_s)],
                "y": [0.0, top],
                "xaxis": f"x{ax}",
                "yaxis": f"y{ax}",
                "mode": "markers",
                "marker": {"opacity": 0},
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    layout.update(
        images=pieces,
        annotations=annotations,
        height=int(panel_height * n + 70),
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
        uirevision=uirevision,
        dragmode="zoom",
        plot_bgcolor="white",
    )
    # one constructor call, without plotly's per-property validation (~90 ms for 5 panels):
    # the structure above is fixed and covered by tests that round-trip it through validation.
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


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
        From :func:`core.corpus.list_tracks` when ``root`` is not a usable dataset folder.
    """
    if not Path(root).is_dir():
        return []
    return [str(p) for p in _corpus().list_tracks(Path(root))]


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
    return _corpus().load_track(Path(folder), max_seconds=max_seconds)


def load_track(folder: str | Path, *, max_seconds: float = MAX_SECONDS) -> Track:
    """Load a track folder (cached by path and file modification time).

    Raises
    ------
    DatasetError
        Missing files or mismatched stems (from :func:`core.corpus.load_track`).
    InvalidAudioError
        Undecodable or too long audio.
    """
    return _load_track(str(folder), _mtime(str(folder)), max_seconds)


def track_from_upload(
    name: str,
    mixture: FloatArray,
    sr: int,
    *,
    vocals: FloatArray | None = None,
    accompaniment: FloatArray | None = None,
) -> Track:
    """Build a :class:`core.corpus.Track` from an uploaded mixture and optional references.

    With one reference only, the other is taken as the mixture minus it (the two sources sum
    to the mixture). References must already have the mixture's rate and channel count
    (``dashboard.ui.audio_upload(sr=..., channels=...)`` converts them).

    Parameters
    ----------
    name
        Display name.
    mixture : ndarray, shape (channels, samples), float32
    sr
        Sample rate of all signals in Hz.
    vocals, accompaniment : ndarray, shape (channels, samples), float32, optional

    Returns
    -------
    Track
        ``references`` is ``(2, channels, samples)`` [vocals, accompaniment] or ``None``.

    Raises
    ------
    DatasetError
        If a reference's channels differ from the mixture's, or its length by more than
        :data:`LENGTH_TOLERANCE_S` (shorter differences, e.g. from resampling an upload, are
        trimmed or zero-padded).
    """
    n = mixture.shape[1]
    tolerance = max(1, round(LENGTH_TOLERANCE_S * sr))
    fitted: list[FloatArray | None] = []
    for label, ref in zip(("vocals", "accompaniment"), (vocals, accompaniment), strict=True):
        if ref is not None:
            if ref.shape[0] != mixture.shape[0] or abs(ref.shape[1] - n) > tolerance:
                raise DatasetError(
                    f"the {label} reference is shaped {ref.shape} (channels, samples) but the "
                    f"mixture is {mixture.shape}: stems must have the mixture's length "
                    f"({n} samples at {sr} Hz) and channels"
                )
            # a resampled upload may differ by a few samples: trim or zero-pad to the mixture
            ref = ref[:, :n] if ref.shape[1] >= n else np.pad(ref, ((0, 0), (0, n - ref.shape[1])))
        fitted.append(ref)
    vocals, accompaniment = fitted
    if vocals is None and accompaniment is None:
        references = None
    else:
        v = vocals if vocals is not None else mixture - accompaniment  # type: ignore[operator]
        a = accompaniment if accompaniment is not None else mixture - vocals
        references = np.stack([v, a]).astype(np.float32)
    return _corpus().Track(
        name=name, sr=int(sr), mixture=mixture.astype(np.float32), references=references,
        path=None,
    )  # fmt: skip


def track_key(track: Track) -> str:
    """A cache key for a track: its folder and files' time, or a digest of an upload's audio."""
    if getattr(track, "path", None) is not None:
        return f"path:{track.path}:{_mtime(str(track.path))}"
    h = hashlib.sha256(np.ascontiguousarray(track.mixture).tobytes())
    if track.references is not None:
        h.update(np.ascontiguousarray(track.references).tobytes())
    h.update(str(track.sr).encode())
    return f"upload:{track.name}:{h.hexdigest()[:16]}"


def available_methods(track: Track) -> list[str]:
    """Methods usable on ``track``: oracle methods only when its references are known."""
    methods = list(_separation().METHODS)
    if track.references is None:
        methods = [m for m in methods if m not in ORACLE_METHODS]
    return methods


def checkpoint_for(method: str, text: str | None) -> str | None:
    """The model file typed by the user for ``method`` (``None``: the shipped one, or oracle)."""
    path = (text or "").strip()
    if not path or method in ORACLE_METHODS:
        return None
    return str(Path(path).expanduser())


# --------------------------------------------------------------------------- masks
# a 10-minute stereo song's result holds ~1.3 GB (mask + STFT): keep few
@st.cache_resource(max_entries=6, show_spinner="Computing the probabilistic mask…")
def mask_result(key: str, method: str, checkpoint: str | None, _track: Track) -> MaskResult:
    """The probabilistic mask of a track (cached by track key, method and checkpoint).

    Raises
    ------
    InvalidConfigError
        Oracle method without references, unknown method.
    CheckpointError
        Missing or corrupt model file.
    """
    return _separation().probability_mask(
        _track.mixture,
        _track.sr,
        method=method,
        references=_track.references,
        checkpoint=Path(checkpoint) if checkpoint else None,
    )


@dataclass(frozen=True)
class Display:
    """Pooled display arrays and the α-independent panel images of one mask result.

    Attributes
    ----------
    power : ndarray, shape (b, f), float32
        Channel-mean mixture power ``|X|^2``, block-mean pooled.
    prob : ndarray, shape (b, f), float32
        Channel-mean vocal probability, block-mean pooled.
    ref_power
        Maximum of ``power`` (0 dB).
    duration_s, max_hz
        Extent of the images in seconds and Hz.
    static
        Title -> PNG data URI of the panels that do not depend on α, in display order before
        the α panels (mixture, ideal binary mask when references are known, probability).
    static_hz
        Title -> Nyquist in Hz of each static panel (the ideal mask may come at another rate).
    """

    power: FloatArray
    prob: FloatArray
    ref_power: float
    duration_s: float
    max_hz: float
    static: dict[str, str] = field(default_factory=dict)
    static_hz: dict[str, float] = field(default_factory=dict)


MIXTURE_TITLE = "Mixture (dB)"
IBM_TITLE = "Ideal binary mask (from the reference stems)"
PROB_TITLE = "Probabilistic vocal mask P"


#: Top frequencies offered for the panels (``None``: up to Nyquist).
FMAX_CHOICES: tuple[float | None, ...] = (None, 8000.0, 4000.0, 2000.0)


def crop_bins(
    a: FloatArray, *, sr: int, n_fft: int, fmax: float | None
) -> tuple[FloatArray, float]:
    """Keep the STFT bins up to ``fmax`` Hz (before pooling, so a zoomed band keeps detail).

    Parameters
    ----------
    a : ndarray, shape (..., bins, frames)
    sr, n_fft
        Sample rate (Hz) and FFT size of the STFT; bin ``k`` is at ``k * sr / n_fft`` Hz.
    fmax
        Top frequency in Hz, or ``None`` for all bins.

    Returns
    -------
    cropped : ndarray, shape (..., kept_bins, frames)
    top_hz : float
        The frequency of the top edge of the kept bins (``sr / 2`` when all are kept).
    """
    bins = a.shape[-2]
    bin_hz = sr / n_fft
    keep = bins if fmax is None else int(np.clip(int(fmax / bin_hz) + 1, 2, bins))
    top = sr / 2.0 if keep >= bins else keep * bin_hz
    return a[..., :keep, :], float(top)


@st.cache_resource(max_entries=6, show_spinner="Preparing the spectrograms…")
def display_arrays(
    key: str, method: str, checkpoint: str | None, fmax: float | None, _track: Track
) -> Display:
    """Pool the mask result of ``(key, method, checkpoint)`` up to ``fmax`` Hz (cached).

    Raises
    ------
    CoreError
        As :func:`mask_result`.
    """
    res = mask_result(key, method, checkpoint, _track)
    n_fft = res.stft_config.n_fft
    stft_c, max_hz = crop_bins(res.mixture_stft, sr=res.sr, n_fft=n_fft, fmax=fmax)
    power = si.downsample(np.mean(np.abs(stft_c) ** 2, axis=0))
    prob_c, _ = crop_bins(np.asarray(res.prob), sr=res.sr, n_fft=n_fft, fmax=fmax)
    prob = si.downsample(prob_c.astype(np.float32))
    ref = float(power.max())
    duration = _track.mixture.shape[-1] / _track.sr
    static = {MIXTURE_TITLE: si.data_uri(_db_png(power, ref))}
    static_hz = {MIXTURE_TITLE: max_hz}
    if _track.references is not None:
        ibm = res if method == "oracle" else mask_result(key, "oracle", None, _track)
        ibm_c, ibm_hz = crop_bins(
            np.asarray(ibm.prob), sr=ibm.sr, n_fft=ibm.stft_config.n_fft, fmax=fmax
        )
        static[IBM_TITLE] = si.data_uri(_mask_png(si.downsample(ibm_c)))
        static_hz[IBM_TITLE] = ibm_hz
    static[PROB_TITLE] = si.data_uri(_mask_png(prob))
    static_hz[PROB_TITLE] = max_hz
    return Display(power, prob, ref, duration, max_hz, static, static_hz)


def _db_png(power: FloatArray, ref: float) -> bytes:
    db = si.power_to_db(power, top_db=TOP_DB, ref=ref)
    return si.encode_png(si.to_indices(db, vmin=-TOP_DB, vmax=0.0), cmap="magma")


def _mask_png(mask: FloatArray) -> bytes:
    return si.encode_png(si.to_indices(mask, vmin=0.0, vmax=1.0), cmap="mask")


# --------------------------------------------------------------------------- per α
@st.cache_data(max_entries=4, show_spinner=False)
def stems_at_alpha(
    key: str, method: str, checkpoint: str | None, alpha: float, rule: str, _track: Track
) -> FloatArray:
    """Vocal and accompaniment estimates at ``alpha`` (small cache: a long song's are large).

    Returns
    -------
    ndarray, shape (2, channels, samples), float32
        [vocals, accompaniment] at the track's rate.
    """
    res = mask_result(key, method, checkpoint, _track)
    return _separation().separate_at_alpha(res, alpha=alpha, rule=rule)


def binary_title(alpha: float, rule: str) -> str:
    """Title of the α-dependent mask panel."""
    if rule == "soft":
        return "Soft vocal mask P (α ignored)"
    return f"Binary vocal mask at α = {alpha:.2f}"


ESTIMATE_TITLE = "Estimated vocal spectrogram (dB)"


def alpha_images(display: Display, *, alpha: float, rule: str) -> tuple[bytes, bytes]:
    """PNGs of the vocal mask at ``alpha`` and of the estimated vocal spectrogram.

    The vocal mask is ``threshold_masks`` applied to the *pooled* probability, and the
    estimated vocal power is the pooled mixture power times that mask (display only).

    Returns
    -------
    (mask_png, estimate_png) : bytes, bytes
    """
    vocal_mask, _ = _masking().threshold_masks(display.prob, alpha=alpha, rule=rule)
    vocal_mask = np.asarray(vocal_mask, dtype=np.float32)
    return _mask_png(vocal_mask), _db_png(display.power * vocal_mask, display.ref_power)


def mask_shares(
    key: str, method: str, checkpoint: str | None, alpha: float, rule: str, track: Track
) -> dict[str, float]:
    """Share of time-frequency bins each mask keeps at ``alpha``.

    Counted on the full-resolution probability (subsampled by a stride when it holds more than
    ~4 million bins, e.g. a long song).

    Returns
    -------
    dict
        ``vocals`` and ``accompaniment`` (mean mask value, 0-1), ``p99`` (99th percentile of
        P), and for binary rules ``both`` (bins given to both sources, α < 0.5 with the paper
        rule) and ``neither`` (α > 0.5).
    """
    prob = np.asarray(mask_result(key, method, checkpoint, track).prob)
    stride = max(1, int(np.ceil(np.sqrt(prob.size / 4e6))))
    p = prob[..., ::stride, ::stride]
    vocal, accomp = _masking().threshold_masks(p, alpha=alpha, rule=rule)
    shares = {"vocals": float(np.mean(vocal)), "accompaniment": float(np.mean(accomp))}
    flat = p.ravel()
    k = int(0.99 * (flat.size - 1))
    shares["p99"] = float(np.partition(flat, k)[k])  # how high P goes, for the hint below
    if rule != "soft":
        v, a = vocal > 0.5, accomp > 0.5
        shares["both"] = float(np.mean(v & a))
        shares["neither"] = float(np.mean(~v & ~a))
    return shares


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


@dataclass(frozen=True)
class AlphaView:
    """What the page shows for one α: the figure, the stems and server-side timings in ms."""

    figure: go.Figure
    stems: FloatArray
    timings: dict[str, float]


def figure_at_alpha(
    track: Track,
    *,
    method: str,
    alpha: float,
    rule: str = "paper",
    checkpoint: str | None = None,
    key: str | None = None,
    fmax: float | None = None,
) -> go.Figure:
    """The panels figure at ``alpha``: cached static panels plus two fresh small PNGs.

    Raises
    ------
    CoreError
        From the mask computation (first call for a track and method).
    """
    key = key or track_key(track)
    display = display_arrays(key, method, checkpoint, fmax, track)
    mask_png, est_png = alpha_images(display, alpha=alpha, rule=rule)
    titles = [*display.static, binary_title(alpha, rule), ESTIMATE_TITLE]
    images = [*display.static.values(), si.data_uri(mask_png), si.data_uri(est_png)]
    tops = [*display.static_hz.values(), display.max_hz, display.max_hz]
    return spectrogram_panels(
        images, duration_s=display.duration_s, max_hz=tops, titles=titles,
        uirevision=f"{key}|{method}|{fmax}",
    )  # fmt: skip


def view_at_alpha(
    track: Track,
    *,
    method: str,
    alpha: float,
    rule: str = "paper",
    checkpoint: str | None = None,
    key: str | None = None,
    fmax: float | None = None,
) -> AlphaView:
    """Everything that depends on α: the figure and the full-resolution stems, with timings.

    The probabilistic mask and display arrays come from the caches, so after the first call
    for a (track, method) this costs one threshold + reconstruction + two small PNGs.
    (The page calls :func:`figure_at_alpha` and :func:`stems_at_alpha` separately, so the
    figure reaches the browser before the reconstruction is done.)

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside (0, 1).
    CoreError
        From the mask computation (first call) or :func:`core.separation.separate_at_alpha`.
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidConfigError(f"alpha must be in (0, 1), got {alpha}")
    key = key or track_key(track)
    t0 = time.perf_counter()
    display_arrays(key, method, checkpoint, fmax, track)
    t1 = time.perf_counter()
    fig = figure_at_alpha(
        track, method=method, alpha=alpha, rule=rule, checkpoint=checkpoint, key=key, fmax=fmax
    )
    t2 = time.perf_counter()
    stems = stems_at_alpha(key, method, checkpoint, round(float(alpha), 4), rule, track)
    t3 = time.perf_counter()
    timings = {
        "cached masks (ms)": (t1 - t0) * 1e3,
        "images + figure (ms)": (t2 - t1) * 1e3,
        "threshold + reconstruction (ms)": (t3 - t2) * 1e3,
    }
    return AlphaView(fig, stems, timings)


# --------------------------------------------------------------------------- query params
QP_KEYS = ("track", "method", "alpha")
#: α shown first (the paper's operating range is 0.2-0.8).
DEFAULT_ALPHA = 0.5


def parse_alpha(value: str | None, default: float = 0.5) -> float:
    """An α from a query parameter, clipped to the slider's [0.01, 0.99] (default when bad)."""
    try:
        a = float(value) if value is not None else default
    except ValueError:
        return default
    if not np.isfinite(a):
        return default
    return float(np.clip(round(a, 2), 0.01, 0.99))


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
    if qp.get("method") in METHOD_LABELS:
        state["sep.method"] = qp["method"]
    if "alpha" in qp:
        state["sep.alpha"] = parse_alpha(qp["alpha"])


def stop_without_track() -> NoReturn:
    """Drop ``track`` from the URL (no track is loaded) and stop the script run."""
    sync_query_params(track=None)
    st.stop()


def pop_query_warning() -> str | None:
    """A message about a link's ``track`` that could not be found (once), or ``None``."""
    return st.session_state.pop("sep._qp_warning", None)


def sync_query_params(**values: str | float | None) -> None:
    """Write ``track`` / ``method`` / ``alpha`` to the URL (``None`` removes a parameter)."""
    for name, value in values.items():
        if name == "alpha" and value is not None:
            value = f"{float(value):.2f}"
        _set_qp(name, None if value is None else str(value))
    st.session_state["sep._qp"] = _current_qp()


def fmax_label(fmax: float | None) -> str:
    """Label of a frequency-range choice."""
    return "full band" if fmax is None else f"0–{fmax / 1000:g} kHz"


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
    path = getattr(track, "path", None)
    if path is None:
        return None
    path = Path(path)
    if path.parent.resolve() == demo_root().resolve():
        return path.name
    return str(path)


#: Where the track comes from, and how the picker names it.
SOURCES = ("demo", "dataset", "upload")
SOURCE_LABELS = {"demo": "Demo track", "dataset": "Dataset folder", "upload": "Upload"}
