"""Spectrogram and mask panels: arrays to small PNG images, stacked in one plotly figure.

The mask explorer's figure builders, pure (numpy in, PNG bytes or a plotly figure out; no
Streamlit), so they work in a notebook and in unit tests:

- :func:`pooled_display` pools a :class:`core.karaoke.separate.MaskResult` to display size and
  draws the panels that do not depend on α (mixture, ideal binary mask, probability);
- :func:`alpha_images` draws the two α panels (binary mask, estimated vocal spectrogram) from
  the display's α codes (or the pooled arrays), a few milliseconds per α;
- :func:`spectrogram_panels` stacks PNGs into one figure with shared axes
  (:func:`alpha_figure` does it for a display at one α);
- :func:`alpha_panels` / :func:`soft_planes` make the live α canvas's planes
  (:mod:`dashboard.alpha_canvas`).

A full-resolution spectrogram heatmap (1025 bins x thousands of frames) is a figure of many MB
that the browser redraws slowly. These helpers shrink a ``(bins, frames)`` array to at most
about ``256 x 1300`` display pixels by block pooling, colour it through a 256-entry colour
table and encode it as a palette PNG (fast zlib level), ready to be placed in a plotly figure as
a layout image (see :func:`spectrogram_panels`).

Conventions
-----------
- Input arrays are ``(bins, frames)``: row 0 is the lowest frequency. Images are returned with
  row 0 at the *top*, i.e. flipped, so that the image's top edge is the highest frequency.
- Masks are pooled with the mean (the share of a block that is "vocal"); power spectrograms are
  pooled with the mean of the power before conversion to dB, so a block's level is the
  energy-preserving average.
- The α panels show the *real* mask, thresholded at full resolution, then pooled:
  :func:`alpha_panels` codes, per display cell, three order statistics of P on the slider's α
  grid, so that thresholding them (in the browser for the Mask explorer page, in
  :func:`alpha_images` for the notebook widget) gives exactly how many of the cell's
  full-resolution bins the real mask ``P > alpha`` keeps (none / under half / half or more /
  all). Only a :class:`Display` made without those codes (``pooled_display(...,
  exact_alpha=False)``, or built by hand) falls back to thresholding the pooled probability,
  which is not the real mask inside a block. :func:`static_figure` draws the α-independent
  panels with colour bars.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from core.errors import InvalidConfigError
from core.karaoke.masks import threshold_masks
from core.karaoke.methods import Rule, check_alpha, check_rule
from core.karaoke.separate import MaskResult
from core.types import FloatArray

#: Most display rows (frequency) and columns (time) of a spectrogram image.
MAX_BINS = 256
MAX_FRAMES = 1300
#: Dynamic range of the dB panels.
TOP_DB = 80.0

Colormap = Literal["viridis", "magma", "greys", "mask"]

# Anchor colours of plotly's sequential scales (the matplotlib palettes sampled at 10 points,
# plus a dark-to-light grey and a "mask" scale: dark blue = accompaniment, yellow = vocal).
_ANCHORS: dict[str, tuple[str, ...]] = {
    "viridis": (
        "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
        "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
    ),
    "magma": (
        "#000004", "#180f3d", "#440f76", "#721f81", "#9e2f7f",
        "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf",
    ),
    "greys": ("#000000", "#ffffff"),
    "mask": ("#1b1f3b", "#3b4a8a", "#7a8fc9", "#f2d45c", "#ffe14d"),
}  # fmt: skip

_LUT_CACHE: dict[str, np.ndarray] = {}


def colormap_lut(name: Colormap = "magma") -> np.ndarray:
    """A 256-entry RGB colour table.

    Parameters
    ----------
    name
        ``"viridis"``, ``"magma"``, ``"greys"`` or ``"mask"``.

    Returns
    -------
    ndarray, shape (256, 3), uint8
        Row ``i`` is the colour of the value ``i / 255`` of the normalised scale.

    Raises
    ------
    InvalidConfigError
        If ``name`` is not a known colour scale.
    """
    if name not in _ANCHORS:
        raise InvalidConfigError(f"colormap must be one of {sorted(_ANCHORS)}, got {name!r}")
    if name not in _LUT_CACHE:
        anchors = np.array(
            [[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _ANCHORS[name]], dtype=np.float64
        )  # (n_anchors, 3)
        pos = np.linspace(0.0, 1.0, len(anchors))
        x = np.linspace(0.0, 1.0, 256)
        lut = np.stack([np.interp(x, pos, anchors[:, c]) for c in range(3)], axis=1)
        _LUT_CACHE[name] = np.round(lut).astype(np.uint8)
    return _LUT_CACHE[name]


def pool_factors(
    shape: tuple[int, int], *, max_bins: int = MAX_BINS, max_frames: int = MAX_FRAMES
) -> tuple[int, int]:
    """Integer block sizes ``(fb, ff)`` that bring ``shape`` within ``max_bins x max_frames``."""
    bins, frames = shape
    if max_bins < 1 or max_frames < 1:
        raise InvalidConfigError(
            f"max_bins and max_frames must be >= 1, got {max_bins}, {max_frames}"
        )
    return max(1, -(-bins // max_bins)), max(1, -(-frames // max_frames))


def downsample(
    a: FloatArray,
    *,
    max_bins: int = MAX_BINS,
    max_frames: int = MAX_FRAMES,
    reduce: Literal["mean", "max"] = "mean",
) -> FloatArray:
    """Block-pool a ``(bins, frames)`` array to at most ``max_bins x max_frames``.

    Parameters
    ----------
    a : ndarray, shape (bins, frames), float
        E.g. a power spectrogram or a mask. A leading channel axis ``(ch, bins, frames)`` is
        averaged first.
    max_bins, max_frames
        Largest output size.
    reduce
        ``"mean"`` (masks, power) or ``"max"`` (peak picking).

    Returns
    -------
    ndarray, shape (ceil(bins / fb), ceil(frames / ff)), float32
        With integer block sizes ``(fb, ff)`` from :func:`pool_factors`. The last, partial
        block of each axis is pooled over the samples it has.

    Raises
    ------
    InvalidConfigError
        If ``a`` is not 2-D (or 3-D with channels) or is empty, or ``reduce`` is unknown.
    """
    a = np.asarray(a)
    if a.ndim == 3:
        a = a.mean(axis=0)
    if a.ndim != 2 or a.size == 0:
        raise InvalidConfigError(f"expected a non-empty (bins, frames) array, got {a.shape}")
    if reduce not in ("mean", "max"):
        raise InvalidConfigError(f"reduce must be 'mean' or 'max', got {reduce!r}")
    a = a.astype(np.float32, copy=False)
    fb, ff = pool_factors(a.shape, max_bins=max_bins, max_frames=max_frames)
    if fb == 1 and ff == 1:
        return a.copy()
    bins, frames = a.shape
    ob, of = -(-bins // fb), -(-frames // ff)
    if reduce == "max":
        padded = np.pad(a, ((0, ob * fb - bins), (0, of * ff - frames)), mode="edge")
        return padded.reshape(ob, fb, of, ff).max(axis=(1, 3))
    # mean: sum with zero padding, divide by the true count of each (possibly partial) block
    padded = np.pad(a, ((0, ob * fb - bins), (0, of * ff - frames)))
    sums = padded.reshape(ob, fb, of, ff).sum(axis=(1, 3), dtype=np.float64)
    nb = np.minimum(fb, bins - np.arange(ob) * fb)[:, None]
    nf = np.minimum(ff, frames - np.arange(of) * ff)[None, :]
    return (sums / (nb * nf)).astype(np.float32)


def power_to_db(power: FloatArray, *, top_db: float = 80.0, ref: float | None = None) -> FloatArray:
    """Power to dB relative to ``ref`` (default: the maximum), floored ``top_db`` below.

    Returns
    -------
    ndarray, same shape, float32, values in ``[-top_db, 0]`` when ``ref`` is the maximum.
    """
    p = np.asarray(power, dtype=np.float32)
    r = float(p.max()) if ref is None and p.size else float(ref or 0.0)
    if r <= 0.0:
        return np.full(p.shape, -top_db, dtype=np.float32)
    floor = r * 10.0 ** (-top_db / 10.0)
    return (10.0 * np.log10(np.maximum(p, floor) / r)).astype(np.float32)


def to_indices(a: FloatArray, *, vmin: float, vmax: float) -> np.ndarray:
    """Map values linearly onto 0..255 (clipped), flipped so row 0 is the top (highest bin).

    Returns
    -------
    ndarray, shape (bins, frames), uint8
    """
    if not vmax > vmin:
        raise InvalidConfigError(f"vmax must exceed vmin, got vmin={vmin}, vmax={vmax}")
    scaled = (np.asarray(a, dtype=np.float32) - vmin) * (255.0 / (vmax - vmin))
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return np.ascontiguousarray(scaled[::-1].astype(np.uint8))


def encode_png(indices: np.ndarray, *, cmap: Colormap = "magma", compress_level: int = 1) -> bytes:
    """Encode a ``(rows, cols)`` uint8 index image as a palette PNG coloured by ``cmap``.

    A palette PNG stores one byte per pixel (3x smaller and faster than RGB) and the browser
    shows it in full colour.

    Returns
    -------
    bytes
        The PNG file.
    """
    idx = np.ascontiguousarray(indices, dtype=np.uint8)
    if idx.ndim != 2 or idx.size == 0:
        raise InvalidConfigError(f"expected a non-empty (rows, cols) image, got {idx.shape}")
    img = Image.frombytes("P", (idx.shape[1], idx.shape[0]), idx.tobytes())
    img.putpalette(colormap_lut(cmap).ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for a PNG (what plotly layout images take as ``source``)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def array_png(
    a: FloatArray,
    *,
    vmin: float,
    vmax: float,
    cmap: Colormap = "magma",
    max_bins: int = MAX_BINS,
    max_frames: int = MAX_FRAMES,
) -> bytes:
    """Downsample (mean), colour and encode a ``(bins, frames)`` array in one call.

    Returns
    -------
    bytes
        A palette PNG of at most ``max_bins x max_frames`` pixels, highest bin at the top.
    """
    small = downsample(a, max_bins=max_bins, max_frames=max_frames)
    return encode_png(to_indices(small, vmin=vmin, vmax=vmax), cmap=cmap)


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` of a PNG, in pixels."""
    with Image.open(io.BytesIO(png)) as img:
        return img.size


# ----------------------------------------------------------------------------- mask panels
def db_png(power: FloatArray, ref: float, *, top_db: float = TOP_DB) -> bytes:
    """A power spectrogram ``(bins, frames)`` as a magma PNG, 0 dB at ``ref``."""
    db = power_to_db(power, top_db=top_db, ref=ref)
    return encode_png(to_indices(db, vmin=-top_db, vmax=0.0), cmap="magma")


def mask_png(mask: FloatArray) -> bytes:
    """A mask ``(bins, frames)`` in [0, 1] as a PNG (dark blue accompaniment, yellow vocal)."""
    return encode_png(to_indices(mask, vmin=0.0, vmax=1.0), cmap="mask")


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
    panels
        The :class:`AlphaPanels` of the same result and band (the real mask's codes per display
        cell), or ``None``: then :func:`alpha_images` thresholds the pooled ``prob``.
    """

    power: FloatArray
    prob: FloatArray
    ref_power: float
    duration_s: float
    max_hz: float
    static: dict[str, str] = field(default_factory=dict)
    static_hz: dict[str, float] = field(default_factory=dict)
    panels: AlphaPanels | None = None


MIXTURE_TITLE = "Mixture (dB)"
IBM_TITLE = "Ideal binary mask (from the reference stems)"
PROB_TITLE = "Probabilistic vocal mask P"


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


def pooled_display(
    result: MaskResult,
    *,
    ibm: MaskResult | None = None,
    fmax: float | None = None,
    exact_alpha: bool = False,
) -> Display:
    """Pool a mask result to display size and draw its α-independent panels.

    Parameters
    ----------
    result
        The probabilistic mask of a track (:func:`core.karaoke.separate.probability_mask`).
    ibm
        The oracle ideal binary mask of the same track, when its references are known (may be
        ``result`` itself).
    fmax
        Top frequency shown, in Hz (``None``: up to Nyquist). Bins are cropped before pooling,
        so a zoomed band keeps its detail.
    exact_alpha
        Also code the real mask per display cell (:func:`alpha_panels`), so that
        :func:`alpha_images` draws the full-resolution mask ``P > alpha`` pooled, not the
        threshold of the pooled P (the notebook widget; the page's canvas has its own codes).

    Returns
    -------
    Display
        Channel-mean power and probability pooled to at most ``MAX_BINS x MAX_FRAMES``, and
        the PNG data URIs of the mixture, ideal mask (with ``ibm``) and probability panels.
    """
    n_fft = result.stft_config.n_fft
    stft_c, max_hz = crop_bins(result.mixture_stft, sr=result.sr, n_fft=n_fft, fmax=fmax)
    power = downsample(np.mean(np.abs(stft_c) ** 2, axis=0))
    prob_c, _ = crop_bins(np.asarray(result.prob), sr=result.sr, n_fft=n_fft, fmax=fmax)
    prob = downsample(prob_c.astype(np.float32))
    ref = float(power.max())
    static = {MIXTURE_TITLE: data_uri(db_png(power, ref))}
    static_hz = {MIXTURE_TITLE: max_hz}
    if ibm is not None:
        ibm_c, ibm_hz = crop_bins(
            np.asarray(ibm.prob), sr=ibm.sr, n_fft=ibm.stft_config.n_fft, fmax=fmax
        )
        static[IBM_TITLE] = data_uri(mask_png(downsample(ibm_c)))
        static_hz[IBM_TITLE] = ibm_hz
    static[PROB_TITLE] = data_uri(mask_png(prob))
    static_hz[PROB_TITLE] = max_hz
    panels = alpha_panels(result, fmax=fmax) if exact_alpha else None
    return Display(power, prob, ref, result.length / result.sr, max_hz, static, static_hz, panels)


def binary_title(alpha: float, rule: Rule) -> str:
    """Title of the α-dependent mask panel."""
    if rule == "soft":
        return "Soft vocal mask P (α ignored)"
    return f"Binary vocal mask at α = {alpha:.2f}"


ESTIMATE_TITLE = "Estimated vocal spectrogram (dB)"


def alpha_images(display: Display, *, alpha: float, rule: Rule) -> tuple[bytes, bytes]:
    """PNGs of the vocal mask at ``alpha`` and of the estimated vocal spectrogram.

    With ``display.panels`` (``pooled_display(..., exact_alpha=True)``) and a thresholding rule,
    the mask is the real one: each pixel is the share of its cell's full-resolution bins with
    ``P > alpha`` (0, 1/3 under half, 2/3 half or more, 1 all; :func:`mask_levels` at the α's
    slider step) and the estimate the power those bins surely keep (:class:`AlphaPanels`), as
    the Mask explorer's canvas draws them. Otherwise (or for the soft rule, where the pooled P
    *is* the pooled mask) the pooled probability is thresholded and the estimate is the pooled
    mixture power times that mask.

    Returns
    -------
    (mask_png, estimate_png) : bytes, bytes

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1] or an unknown ``rule``.
    """
    panels = display.panels
    if panels is not None and check_rule(rule) != "soft":
        # (rows, cols), row 0 the highest frequency
        levels = mask_levels(panels, step=alpha_step(check_alpha(alpha)))
        mask_idx = np.ascontiguousarray((levels.astype(np.uint16) * 85).astype(np.uint8))
        planes = np.concatenate([np.zeros_like(panels.estimate[:1]), panels.estimate])
        est_idx = np.take_along_axis(planes, levels[None].astype(np.intp), axis=0)[0]
        return encode_png(mask_idx, cmap="mask"), encode_png(est_idx, cmap="magma")
    vocal_mask, _ = threshold_masks(display.prob, alpha=alpha, rule=rule)
    vocal_mask = np.asarray(vocal_mask, dtype=np.float32)
    return mask_png(vocal_mask), db_png(display.power * vocal_mask, display.ref_power)


def alpha_figure(
    display: Display, *, alpha: float, rule: Rule, uirevision: str = "mask-explorer"
) -> go.Figure:
    """The mask explorer's figure at ``alpha``: the static panels, then the two α panels.

    Raises
    ------
    InvalidConfigError
        ``alpha`` outside [0, 1] or an unknown ``rule``.
    """
    mask, estimate = alpha_images(display, alpha=alpha, rule=rule)
    titles = [*display.static, binary_title(alpha, rule), ESTIMATE_TITLE]
    images = [*display.static.values(), data_uri(mask), data_uri(estimate)]
    tops = [*display.static_hz.values(), display.max_hz, display.max_hz]
    return spectrogram_panels(
        images, duration_s=display.duration_s, max_hz=tops, titles=titles, uirevision=uirevision
    )


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
        frequency (as made by :func:`encode_png`).
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
    if isinstance(max_hz, int | float):
        tops = [float(max_hz)] * n
    else:  # a sequence or an array, one per panel
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
        src = data_uri(bytes(img)) if isinstance(img, bytes | bytearray) else str(img)
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


# ----------------------------------------------------------------------------- live α canvas
#: The α values the sliders can take (0.01 ... 0.99, step 0.01), as the masks compare them.
ALPHA_GRID: tuple[float, ...] = tuple(round(0.01 * k, 2) for k in range(1, 100))
#: Levels of a display cell of the binary mask: how many of its full-resolution bins are kept.
MASK_LEVELS = ("none", "under half", "half or more", "all")


def alpha_step(alpha: float) -> int:
    """The slider step of ``alpha`` (``alpha = ALPHA_GRID[step - 1]``), 1..99."""
    return int(np.clip(round(float(alpha) * 100), 1, len(ALPHA_GRID)))


def alpha_codes(p: FloatArray, *, grid: Sequence[float] = ALPHA_GRID) -> np.ndarray:
    """For each value of ``p``, how many α of ``grid`` it exceeds (``p > α``, as float32).

    ``p > grid[k - 1]`` holds exactly when the code is at least ``k`` (the grid is increasing),
    so a browser can threshold the codes at slider step ``k`` with an integer comparison and get
    the same bins as :func:`core.karaoke.masks.threshold_masks` at ``alpha = grid[k - 1]``
    (which compares float32 ``P`` with the α rounded to float32).

    Returns
    -------
    ndarray, same shape as ``p``, uint8 in ``[0, len(grid)]``
    """
    g = np.asarray(grid, dtype=np.float32)
    if g.ndim != 1 or g.size > 255 or np.any(np.diff(g) <= 0):
        raise InvalidConfigError("grid must be increasing with at most 255 values")
    x = np.asarray(p, dtype=np.float32)
    n = g.size
    if n == 1:
        return (x > g[0]).astype(np.uint8)
    # bounds[c] < x <= bounds[c + 1] defines code c; guess it from a uniform grid, then fix
    # the guess with exact float32 comparisons (a binary search per value is ~10x slower)
    bounds = np.concatenate([[-np.inf], g, [np.inf]]).astype(np.float32)
    scale = np.float32((n - 1) / float(g[-1] - g[0]))
    code = np.empty(x.shape, dtype=np.int16)
    guess = np.floor((x - g[0]) * scale)
    np.nan_to_num(guess, copy=False, nan=-1.0)
    np.clip(guess + 1, 0, n, out=guess)
    code[...] = guess
    for step in (-1, 1):  # a non-uniform grid may need a few steps: loop until none is wrong
        while True:
            wrong = x <= bounds[code] if step < 0 else x > bounds[code + 1]
            if not wrong.any():
                break
            code[wrong] += step
    return code.astype(np.uint8)


def _cells(a: np.ndarray, fb: int, ff: int) -> np.ndarray:
    """``(ch, bins, frames)`` -> ``(ob, of, ch * fb * ff)``: the values of each display cell.

    Partial cells at the top and right edges are filled by repeating the last bin / frame.
    """
    ch, bins, frames = a.shape
    ob, of = -(-bins // fb), -(-frames // ff)
    padded = np.pad(a, ((0, 0), (0, ob * fb - bins), (0, of * ff - frames)), mode="edge")
    cells = padded.reshape(ch, ob, fb, of, ff).transpose(1, 3, 0, 2, 4)
    return cells.reshape(ob, of, ch * fb * ff)


@dataclass(frozen=True)
class AlphaPanels:
    """What the live α canvas needs to draw the real mask at any α of the slider grid.

    A display cell pools ``cell = (fb, ff, channels)`` full-resolution bins (frequency bins x
    frames x channels). Its bins, sorted by P from most to least vocal, have the ranks
    ``1``, ``ceil(n / 2)`` and ``n``; at slider step ``k`` (α = ``ALPHA_GRID[k - 1]``) the real
    binary vocal mask ``P > α`` keeps at least that many of them exactly when the code of that
    rank is ``>= k``. So ``level = sum_j (codes[j] >= k)`` is, exactly, whether the cell keeps
    none, under half, half or more, or all of its bins (:data:`MASK_LEVELS`).

    Attributes
    ----------
    codes : ndarray, shape (3, rows, cols), uint8
        :func:`alpha_codes` of the P of ranks ``1``, ``ceil(n/2)``, ``n`` in each cell; row 0 is
        the highest frequency.
    estimate : ndarray, shape (3, rows, cols), uint8
        The estimated vocal power ``|X|^2 * mask`` of a cell at levels 1, 2, 3, as 0..255
        indices of ``[-top_db, 0]`` dB (0 dB: the loudest cell of the mixture): the power of
        the bins whose code is at least the code of rank ``1``, ``ceil(n/2)``, ``n``, averaged
        over the cell, i.e. the energy the cell surely keeps at that level (a lower bound,
        exact at levels 0 and 3). Partial cells at the top and right edges repeat their last
        bin / frame.
    cell
        ``(fb, ff, channels)`` bins per display cell.
    duration_s, max_hz
        Extent of the panels in seconds and Hz.
    top_db
        Dynamic range of ``estimate``.
    """

    codes: np.ndarray
    estimate: np.ndarray
    cell: tuple[int, int, int]
    duration_s: float
    max_hz: float
    top_db: float = TOP_DB

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the panels."""
        return int(self.codes.shape[1]), int(self.codes.shape[2])


def alpha_panels(
    result: MaskResult,
    *,
    fmax: float | None = None,
    max_bins: int = MAX_BINS,
    max_frames: int = MAX_FRAMES,
    grid: Sequence[float] = ALPHA_GRID,
) -> AlphaPanels:
    """The display data of the live α canvas from a full-resolution mask result.

    Parameters
    ----------
    result
        The probabilistic mask and mixture STFT, shapes ``(channels, bins, frames)``.
    fmax
        Top frequency in Hz (``None``: Nyquist); bins are cropped before pooling.
    max_bins, max_frames
        Largest panel size (cells).
    grid
        The slider's α values (increasing).

    Returns
    -------
    AlphaPanels
        See there for what the codes and estimate planes mean.
    """
    n_fft = result.stft_config.n_fft
    prob, max_hz = crop_bins(np.asarray(result.prob), sr=result.sr, n_fft=n_fft, fmax=fmax)
    stft_c, _ = crop_bins(result.mixture_stft, sr=result.sr, n_fft=n_fft, fmax=fmax)
    ch, bins, frames = prob.shape
    fb, ff = pool_factors((bins, frames), max_bins=max_bins, max_frames=max_frames)
    # bins with the same code are kept at the same slider steps: sort the small codes, not P
    code_cells = _cells(alpha_codes(prob, grid=grid), fb, ff)  # (ob, of, n) uint8
    n = code_cells.shape[-1]
    ranks = [n - 1, n - (n + 1) // 2, 0]  # ascending order: the 1st, ceil(n/2)-th, n-th largest
    rank_codes = np.sort(code_cells, axis=-1)[..., ranks]  # (ob, of, 3)
    pow_cells = _cells((np.abs(stft_c) ** 2).astype(np.float32), fb, ff)
    # at a level >= j every bin whose code is >= the rank-j code is kept: its energy is a lower
    # bound of the kept energy (exact at level 3, all bins)
    kept = np.stack(
        [
            np.where(code_cells >= rank_codes[..., j : j + 1], pow_cells, 0.0).sum(
                axis=-1, dtype=np.float64
            )
            / n
            for j in range(3)
        ]
    )  # (3, ob, of)
    ref = float(kept[2].max())
    codes = rank_codes.transpose(2, 0, 1)[:, ::-1]
    est = np.stack(
        [
            to_indices(power_to_db(kept[j], top_db=TOP_DB, ref=ref), vmin=-TOP_DB, vmax=0.0)
            for j in range(3)
        ]
    )
    return AlphaPanels(
        codes=np.ascontiguousarray(codes),
        estimate=est,
        cell=(fb, ff, ch),
        duration_s=result.length / result.sr,
        max_hz=max_hz,
    )


def mask_levels(panels: AlphaPanels, *, step: int) -> np.ndarray:
    """The binary-mask level (0 none .. 3 all) of every cell at slider step ``step``.

    What the canvas computes in the browser: ``sum_j (codes[j] >= step)``.

    Returns
    -------
    ndarray, shape (rows, cols), uint8, row 0 the highest frequency
    """
    return (panels.codes >= step).sum(axis=0).astype(np.uint8)


def alpha_has_effect(prob: FloatArray, *, grid: Sequence[float] = ALPHA_GRID) -> bool:
    """Whether moving α along ``grid`` changes a binary mask of ``prob`` at all.

    False for a mask that is already binary (the oracle ideal binary mask: every P is 0 or 1)
    and for any P outside ``(grid[0], grid[-1]]`` and ``[1 - grid[-1], 1 - grid[0])``.
    """
    p = np.asarray(prob, dtype=np.float32)
    lo, hi = float(grid[0]), float(grid[-1])
    vocal = np.any((p > lo) & (p <= hi))
    accomp = np.any((p >= 1.0 - hi) & (p < 1.0 - lo))
    return bool(vocal or accomp)


#: Colour bar of each static panel: (colour scale, min, max, title).
_SCALES: dict[str, tuple[Colormap, float, float, str]] = {
    MIXTURE_TITLE: ("magma", -TOP_DB, 0.0, "dB"),
    IBM_TITLE: ("mask", 0.0, 1.0, "vocal"),
    PROB_TITLE: ("mask", 0.0, 1.0, "P"),
}


def colorscale(name: Colormap) -> list[list[float | str]]:
    """A plotly colour scale of ``name`` (its anchors, evenly spaced)."""
    anchors = _ANCHORS[name]
    return [[i / (len(anchors) - 1), c] for i, c in enumerate(anchors)]


def static_figure(display: Display, *, uirevision: str = "mask-explorer") -> go.Figure:
    """The α-independent panels (mixture, ideal binary mask, P), each with its colour bar.

    The α panels are drawn live in the browser (:mod:`dashboard.alpha_canvas`).

    Returns
    -------
    plotly.graph_objects.Figure
        As :func:`spectrogram_panels`, plus one invisible marker trace per panel whose colour
        bar (dB for the mixture, 0-1 for the masks) sits beside that panel.
    """
    titles = list(display.static)
    fig = spectrogram_panels(
        list(display.static.values()),
        duration_s=display.duration_s,
        max_hz=list(display.static_hz.values()),
        titles=titles,
        uirevision=uirevision,
    )
    bars = []
    for i, title in enumerate(titles):
        ax = "" if i == 0 else str(i + 1)
        cmap, lo, hi, label = _SCALES.get(title, ("mask", 0.0, 1.0, ""))
        y0, y1 = fig.layout[f"yaxis{ax}"].domain
        bars.append(
            {
                "type": "scatter",
                "x": [0.0, 0.0],
                "y": [0.0, 0.0],
                "xaxis": f"x{ax}",
                "yaxis": f"y{ax}",
                "mode": "markers",
                "name": f"{title} colour scale",
                "marker": {
                    "opacity": 0,
                    "color": [lo, hi],
                    "cmin": lo,
                    "cmax": hi,
                    "colorscale": colorscale(cmap),
                    "showscale": True,
                    "colorbar": {
                        "title": {"text": label},
                        "y": (y0 + y1) / 2,
                        "len": y1 - y0,
                        "yanchor": "middle",
                        "thickness": 12,
                        "x": 1.01,
                    },
                },
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    layout = fig.to_dict()["layout"]
    layout["margin"] = {**layout["margin"], "r": 90}
    return go.Figure({"data": [*fig.to_dict()["data"], *bars], "layout": layout}, _validate=False)


def soft_planes(
    result: MaskResult,
    *,
    fmax: float | None = None,
    max_bins: int = MAX_BINS,
    max_frames: int = MAX_FRAMES,
) -> tuple[np.ndarray, np.ndarray]:
    """The soft rule's two panels as 0..255 indices, on the grid of :func:`alpha_panels`.

    Returns
    -------
    mask, estimate : ndarray, shape (rows, cols), uint8
        The channel- and cell-mean P, and the cell-mean ``|X|^2 P`` in dB (0 dB: the loudest
        cell of the mixture, ``TOP_DB`` range); row 0 is the highest frequency.
    """
    n_fft = result.stft_config.n_fft
    prob, _ = crop_bins(np.asarray(result.prob), sr=result.sr, n_fft=n_fft, fmax=fmax)
    stft_c, _ = crop_bins(result.mixture_stft, sr=result.sr, n_fft=n_fft, fmax=fmax)
    power = (np.abs(stft_c) ** 2).astype(np.float32)
    size = {"max_bins": max_bins, "max_frames": max_frames}
    fb, ff = pool_factors(prob.shape[1:], **size)
    # the same cells as alpha_panels (edge cells repeat their last bin / frame)
    mean_p = _cells(prob.astype(np.float32), fb, ff).mean(axis=-1)
    mix = _cells(power, fb, ff).mean(axis=-1, dtype=np.float64)
    est = _cells(power * prob, fb, ff).mean(axis=-1, dtype=np.float64)
    ref = float(mix.max())
    return (
        to_indices(mean_p, vmin=0.0, vmax=1.0),
        to_indices(power_to_db(est, top_db=TOP_DB, ref=ref), vmin=-TOP_DB, vmax=0.0),
    )
