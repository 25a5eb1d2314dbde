"""Arrays to small coloured PNG images, for spectrograms and masks shown in the browser.

A full-resolution spectrogram heatmap (1025 bins x thousands of frames) is a figure of many MB
that the browser redraws slowly. These helpers shrink a ``(bins, frames)`` array to at most
about ``256 x 1300`` display pixels by block pooling, colour it through a 256-entry colour
table and encode it as a palette PNG (fast zlib level), ready to be placed in a plotly figure as
a layout image (see :func:`dashboard.explorer_view.spectrogram_panels`).

Pure numpy + Pillow; no Streamlit, usable from a notebook.

Conventions
-----------
- Input arrays are ``(bins, frames)``: row 0 is the lowest frequency. Images are returned with
  row 0 at the *top*, i.e. flipped, so that the image's top edge is the highest frequency.
- Masks are pooled with the mean (the share of a block that is "vocal"); power spectrograms are
  pooled with the mean of the power before conversion to dB, so a block's level is the
  energy-preserving average.
- A binary mask at a threshold ``alpha`` for display is obtained by thresholding the already
  pooled probability mask (``pooled_prob > alpha``), which is ~100x cheaper than thresholding
  at full resolution and pooling again; the two differ only at mask edges inside a block
  (display only: the audio always uses the full-resolution mask).
"""

from __future__ import annotations

import base64
import io
from typing import Literal

import numpy as np
from PIL import Image

from core.errors import InvalidConfigError
from core.types import FloatArray

#: Most display rows (frequency) and columns (time) of a spectrogram image.
MAX_BINS = 256
MAX_FRAMES = 1300

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
