"""The live α canvas: an inline ``st.components.v2`` component that thresholds in the browser.

Dragging the Mask explorer's α must redraw the binary-mask and estimated-vocal panels at the
speed of the hand, which a server round trip per step cannot do (a rerun alone costs a few
hundred ms). So the server sends, once per track / method / rule / frequency range, compact
display planes of the *real* mask (:func:`dashboard.figures.spectrogram.alpha_panels`):

- for each display cell, the α-grid codes (:func:`~dashboard.figures.spectrogram.alpha_codes`)
  of the P of its most vocal bin, of its median-rank bin and of its least vocal bin: at slider
  step ``k`` the real full-resolution mask ``P > α`` keeps none / under half / half or more /
  all of the cell's bins exactly when 0 / 1 / 2 / 3 of those codes are ``>= k``;
- the estimated vocal power the cell surely keeps at each of those levels (dB indices).

The component's JavaScript (``dashboard/static_components/alpha_canvas.js``, read at import; no
build step, nothing fetched) receives them as one binary message (:func:`pack`: no base64 inside
JSON; 691 instead of 915 KB for the demo track), decodes them once and, on every ``input`` event
of its own slider, recolours two canvases (one pass over the cells). On ``change`` (release of a
drag, or a key press) it sends α back as the trigger value ``alpha``; :func:`on_alpha` writes it
to the page's α (``st.session_state["sep.alpha"]``, the single source of truth), and only then
does the server rebuild stems, players, shares and downloads. With the soft rule the planes are
the mean-pooled P and the estimate ``|X|^2 P`` (α is ignored and the slider disabled); where α
has no effect (an already binary mask such as the oracle ideal binary mask) the slider is
disabled too.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from core.karaoke.methods import Rule
from dashboard.figures import spectrogram as sg

_STATIC = Path(__file__).resolve().parent / "static_components"
HTML = (_STATIC / "alpha_canvas.html").read_text(encoding="utf-8")
CSS = (_STATIC / "alpha_canvas.css").read_text(encoding="utf-8")
JS = (_STATIC / "alpha_canvas.js").read_text(encoding="utf-8")

#: The trigger the component sends on release; the mount's callback is ``on_alpha_change``.
EVENT = "alpha"
MASK_TITLE = "Binary vocal mask at α = {alpha} (live, real mask)"
SOFT_TITLE = "Soft vocal mask P (α ignored)"
LIVE_ESTIMATE_TITLE = "Estimated vocal spectrogram |X|²·mask (dB)"

_component = st.components.v2.component(
    "genex_alpha_canvas", html=HTML, css=CSS, js=JS, isolate_styles=False
)


def legend(panels: sg.AlphaPanels, *, rule: Rule) -> str:
    """What a cell of the canvas shows (the choice of pooling, stated under the panels)."""
    fb, ff, ch = panels.cell
    cell = f"{fb} frequency bin(s) × {ff} frame(s) × {ch} channel(s)"
    if rule == "soft":
        return (
            f"Soft rule: the vocal mask is P itself, averaged over each display cell of {cell}; "
            "the estimate is the mixture power times P, averaged likewise. α is not used."
        )
    return (
        f"Each pixel is one display cell of {cell} of the full-resolution STFT. The mask is "
        "thresholded at full resolution first (vocal: P > α), then pooled: a cell's colour says "
        "how many of its bins the real mask keeps (none, under half, half or more, all). The "
        "estimate shows the power of the bins the cell surely keeps at that level, averaged "
        "over the cell (exact when it keeps none or all)."
    )


def payload(
    panels: sg.AlphaPanels,
    *,
    alpha: float,
    rule: Rule,
    active: bool,
    note: str = "",
    soft: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The component's data: planes (zlib), extent, colours, α and labels (sent by :func:`pack`).

    Parameters
    ----------
    panels
        From :func:`dashboard.figures.spectrogram.alpha_panels`.
    alpha
        The page's α (the slider is set to it unless the user is dragging).
    rule
        The threshold rule; ``"soft"`` draws ``soft`` instead of thresholding.
    active
        Whether α changes the mask (the slider is disabled otherwise).
    note
        Shown next to the slider (why it is disabled).
    soft
        ``(mask_indices, estimate_indices)``, each ``(rows, cols)`` uint8, for the soft rule.

    Returns
    -------
    dict
        ``planes``: the zlib-compressed ``(n_planes, rows, cols)`` uint8 planes (bytes); every
        other value JSON-serialisable. ``token`` changes whenever the planes do, so the browser
        decodes them only then.
    """
    if rule == "soft" and soft is not None:
        planes = np.stack([np.asarray(soft[0]), np.asarray(soft[1])]).astype(np.uint8)
        mode, title = "soft", SOFT_TITLE
    else:
        planes = np.concatenate([panels.codes, panels.estimate]).astype(np.uint8)
        mode, title = "levels", MASK_TITLE
    raw = np.ascontiguousarray(planes).tobytes()
    packed = zlib.compress(raw, 1)
    rows, cols = panels.shape
    meta = f"{mode}|{rows}|{cols}|{panels.duration_s}|{panels.max_hz}|{panels.cell}"
    token = f"{zlib.crc32(raw):08x}-{zlib.crc32(meta.encode()):08x}-{len(raw)}"
    return {
        "token": token,
        "mode": mode,
        "rows": rows,
        "cols": cols,
        "n_planes": int(planes.shape[0]),
        "planes": packed,
        "step": sg.alpha_step(alpha),
        "active": bool(active and rule != "soft"),
        "note": note,
        "duration_s": float(panels.duration_s),
        "max_hz": float(panels.max_hz),
        "top_db": float(panels.top_db),
        "titles": {"mask": title, "estimate": LIVE_ESTIMATE_TITLE},
        "level_labels": [f"{name} kept" for name in sg.MASK_LEVELS],
        "legend": legend(panels, rule=rule),
        "lut_mask": sg.colormap_lut("mask").ravel().tolist(),
        "lut_db": sg.colormap_lut("magma").ravel().tolist(),
    }


def pack(data: dict[str, Any]) -> bytes:
    """The component's wire format for :func:`payload`'s ``data``, sent as raw bytes.

    A little-endian uint32 ``n``, ``n`` bytes of UTF-8 JSON (every key but ``planes``), then
    the zlib-compressed planes. The browser parses it with a ``DataView`` and ``TextDecoder``
    and inflates the planes with ``DecompressionStream``; :func:`unpack` is the inverse.
    """
    head = json.dumps({k: v for k, v in data.items() if k != "planes"}).encode("utf-8")
    return struct.pack("<I", len(head)) + head + bytes(data["planes"])


def unpack(blob: bytes) -> dict[str, Any]:
    """:func:`pack`'s input from its output (what the browser reads)."""
    (n,) = struct.unpack_from("<I", blob)
    data: dict[str, Any] = json.loads(blob[4 : 4 + n].decode("utf-8"))
    data["planes"] = bytes(blob[4 + n :])
    return data


def alpha_canvas(data: dict[str, Any], *, key: str, on_alpha: Callable[[], None]) -> Any:
    """Mount the canvas with ``data`` (:func:`payload`, sent as :func:`pack`).

    ``on_alpha`` runs when α is released.

    Returns
    -------
    ComponentResult
        ``.alpha``: the α released in this run, or ``None``.
    """
    return _component(key=key, data=pack(data), on_alpha_change=on_alpha, height="content")


def released_alpha(key: str) -> float | None:
    """The α the canvas with widget key ``key`` sent in this run (in its callback), or ``None``."""
    value = st.session_state.get(key)
    got = value.get(EVENT) if isinstance(value, dict) else None
    return None if got is None else float(got)
