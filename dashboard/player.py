"""An audio player with a playhead that moves over a piano roll, in the browser.

``st.audio`` cannot report its playback position, so the playhead lives in the browser: one
iframe holds an ``<audio controls>`` element (the audio inline as base64), an inline SVG mini
piano roll and a ``requestAnimationFrame`` loop that moves a line to ``audio.currentTime``.
Clicking the roll seeks. The HTML depends only on the inputs (no random ids, no timestamps),
so a rerun with unchanged inputs leaves the iframe — and the playback — untouched.

Long pieces show a window of bars that pages along with the playhead, above a thin overview
of the whole piece.

The same playhead also moves over the page's main piano roll: a plotly chart drawn with
``piano_roll_figure(..., playhead=<key>)`` (its ``layout.meta["playhead"]`` is the player's
key; x axis in bars) gets a thin red line ``<key>-main-playhead`` laid over its plot area,
placed with the chart's own axis (``xaxis.l2p``), so both lines show the same time. The
iframe reaches the chart through ``window.parent`` (Streamlit's iframes are same-origin);
where that is not allowed, only the mini roll has a playhead.

For tests and other pages: the roll SVG ``<key>-roll`` carries ``data-playhead-x`` (playhead
position in roll steps), ``data-current-time`` (seconds), ``data-steps``,
``data-steps-per-second`` and ``data-window-start`` (first step shown); the playhead line has
id ``<key>-playhead``, the audio element ``<key>-audio``. The main-roll line carries
``data-playhead-x`` (steps), ``data-bar-x`` (its x in bars) and ``data-current-time``.
"""

from __future__ import annotations

import base64
import html
import re
import struct

import numpy as np
import streamlit as st

from core.errors import InvalidAudioError
from core.types import FloatArray
from dashboard.figures.piano_roll import CHORD_COLOR, MELODY_COLOR

_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body {{ margin: 0; font-family: sans-serif; font-size: 12px; color: #444; }}
#{key}-wrap {{ display: flex; flex-direction: column; gap: 4px; }}
#{key}-roll, #{key}-overview {{ width: 100%; background: #fafafa; cursor: pointer;
  border: 1px solid #ddd; box-sizing: border-box; display: block; }}
#{key}-roll {{ height: {roll_px}px; }}
#{key}-overview {{ height: {overview_px}px; display: {overview_display}; }}
#{key}-audio {{ width: 100%; height: 36px; }}
</style></head><body>
<div id="{key}-wrap" class="roll-player">
<audio id="{key}-audio" controls preload="auto" src="data:{mime};base64,{b64}"></audio>
<svg id="{key}-roll" class="roll" viewBox="0 0 {win} {rows}" preserveAspectRatio="none"
 xmlns="http://www.w3.org/2000/svg" data-playhead-x="0" data-current-time="0"
 data-steps="{steps}" data-steps-per-second="{sps}" data-window="{win}" data-window-start="0">
<title>Click to seek</title>
<g id="{key}-notes">
{notes}
</g>
{grid}
<line id="{key}-playhead" class="playhead" x1="0" x2="0" y1="0" y2="{rows}"
 stroke="#d62728" stroke-width="2" vector-effect="non-scaling-stroke"/>
</svg>
<svg id="{key}-overview" class="overview" viewBox="0 0 {steps} {rows}"
 preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">
<title>Whole piece: click to seek</title>
<use href="#{key}-notes"/>
<rect id="{key}-window" x="0" y="0" width="{win}" height="{rows}" fill="rgba(214,39,40,0.10)"
 stroke="#d62728" stroke-width="1" vector-effect="non-scaling-stroke"/>
</svg>
<div id="{key}-pos">bar 1 / {bars} · 0.0 s</div>
</div>
<script>
(function () {{
  const audio = document.getElementById("{key}-audio");
  const svg = document.getElementById("{key}-roll");
  const overview = document.getElementById("{key}-overview");
  const frame = document.getElementById("{key}-window");
  const line = document.getElementById("{key}-playhead");
  const pos = document.getElementById("{key}-pos");
  const steps = {steps}, sps = {sps}, spb = {spb}, bars = {bars}, rows = {rows}, win = {win};
  let last = -1, start = 0, chart = null, lookedUp = 0;
  function mainChart() {{  // the page's plotly roll whose layout.meta.playhead is this key
    try {{
      const doc = window.parent.document;
      if (chart && doc.contains(chart) && chart._fullLayout) return chart;
      chart = null;
      const now = Date.now();
      if (now - lookedUp < 400) return null;  // not on the page (yet): look again soon
      lookedUp = now;
      for (const gd of doc.querySelectorAll(".js-plotly-plot")) {{
        const meta = gd.layout && gd.layout.meta;
        if (meta && meta.playhead === "{key}") {{ chart = gd; break; }}
      }}
      return chart;
    }} catch (e) {{
      return null;  // cross-origin parent: the mini roll only
    }}
  }}
  function drawMain(x, t) {{
    const gd = mainChart();
    if (!gd) return;
    const fl = gd._fullLayout, xa = fl && fl.xaxis, box = gd.querySelector(".svg-container");
    if (!xa || !xa.l2p || !box) return;
    let el = box.querySelector("#{key}-main-playhead");
    if (!el) {{
      el = gd.ownerDocument.createElement("div");
      el.id = "{key}-main-playhead";
      el.className = "main-playhead";
      el.style.cssText = "position:absolute;width:2px;margin-left:-1px;background:#d62728;"
        + "pointer-events:none;z-index:5;";
      box.appendChild(el);
    }}
    const bx = x / spb, px = xa._offset + xa.l2p(bx);
    const state = px + "|" + fl._size.t + "|" + fl._size.h;
    if (el.getAttribute("data-state") === state) return;  // unchanged: no layout work
    el.setAttribute("data-state", state);
    const inside = px >= xa._offset - 1 && px <= xa._offset + xa._length + 1;
    el.style.display = inside ? "block" : "none";
    el.style.left = px + "px";
    el.style.top = fl._size.t + "px";
    el.style.height = fl._size.h + "px";
    el.setAttribute("data-playhead-x", x.toFixed(3));
    el.setAttribute("data-bar-x", bx.toFixed(4));
    el.setAttribute("data-current-time", t.toFixed(3));
  }}
  function draw() {{
    const t = audio.currentTime || 0;
    const x = Math.min(t * sps, steps);
    drawMain(x, t);  // every frame: the chart may have been redrawn or resized
    if (t === last) return;
    last = t;
    if (win < steps) {{  // page the window along with the playhead
      const s = Math.floor(Math.min(x, steps - 1e-6) / win) * win;
      if (s !== start) {{
        start = s;
        svg.setAttribute("viewBox", start + " 0 " + win + " " + rows);
        svg.setAttribute("data-window-start", start);
        frame.setAttribute("x", start);
      }}
    }}
    line.setAttribute("x1", x);
    line.setAttribute("x2", x);
    svg.setAttribute("data-playhead-x", x.toFixed(3));
    svg.setAttribute("data-current-time", t.toFixed(3));
    pos.textContent = "bar " + Math.min(Math.floor(x / spb) + 1, bars) + " / " + bars
      + " · " + t.toFixed(1) + " s";
  }}
  function loop() {{ draw(); window.requestAnimationFrame(loop); }}
  window.requestAnimationFrame(loop);
  audio.addEventListener("timeupdate", draw);  // rAF pauses in hidden tabs
  audio.addEventListener("seeked", draw);
  function seek(el, from, width, e) {{
    const r = el.getBoundingClientRect();
    const frac = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
    audio.currentTime = Math.min(from + frac * width, steps) / sps;
    draw();
  }}
  svg.addEventListener("click", function (e) {{ seek(svg, start, win, e); }});
  overview.addEventListener("click", function (e) {{ seek(overview, 0, steps, e); }});
}})();
</script>
</body></html>
"""


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of on-steps in a binary row."""
    on = np.concatenate([[0], (row > 0.5).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(on))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def roll_svg_notes(roll: FloatArray, *, n_chord: int = 12) -> str:
    """SVG ``<rect>`` notes of a piano roll in a ``steps × rows`` viewBox (highest pitch on top).

    Parameters
    ----------
    roll
        ``(rows, steps)`` binary roll, chord rows first (``n_chord`` of them), then melody.
    n_chord
        Number of chord rows (coloured differently from the melody).

    Returns
    -------
    str
        One ``<rect class="note">`` per run of on-steps (held notes merged).
    """
    arr = np.asarray(roll)
    rows = arr.shape[0]
    parts = []
    for r in range(rows):
        y = rows - 1 - r
        color = CHORD_COLOR if r < n_chord else MELODY_COLOR
        for start, length in _runs(arr[r]):
            parts.append(
                f'<rect class="note" x="{start}" y="{y}" width="{length}" height="0.9" '
                f'fill="{color}"/>'
            )
    return "\n".join(parts)


def roll_svg_grid(steps: int, rows: int, *, steps_per_bar: int = 8, chorus_bars: int = 12) -> str:
    """SVG bar lines (every ``steps_per_bar`` steps; chorus starts thicker)."""
    parts = []
    for b in range(0, steps + 1, steps_per_bar):
        width = 1.5 if (b // steps_per_bar) % chorus_bars == 0 else 0.5
        parts.append(
            f'<line class="bar" x1="{b}" x2="{b}" y1="0" y2="{rows}" stroke="#888" '
            f'stroke-width="{width}" vector-effect="non-scaling-stroke"/>'
        )
    return "\n".join(parts)


def player_html(
    audio_bytes: bytes,
    *,
    roll: FloatArray,
    steps_per_second: float,
    key: str,
    mime: str = "audio/wav",
    height: int = 220,
    n_chord: int = 12,
    steps_per_bar: int = 8,
    window_bars: int | None = 32,
) -> str:
    """The player's HTML document (pure: same inputs, same string).

    Parameters
    ----------
    audio_bytes
        Encoded audio (WAV, MP3, ...) of the roll, starting at step 0.
    roll
        ``(rows, steps)`` binary piano roll drawn under the playhead.
    steps_per_second
        Roll steps per second of audio (4.0 for eighth notes at 120 bpm).
    key
        Prefix of the element ids (letters, digits, ``-`` and ``_``).
    mime
        MIME type of ``audio_bytes``.
    height
        Total height in px (audio controls + roll + position line).
    n_chord, steps_per_bar
        Roll layout (chord rows first; bar lines every ``steps_per_bar`` steps).
    window_bars
        Pieces longer than twice this many bars show a window of ``window_bars`` bars that
        pages along with the playhead, over a thin overview of the whole piece (which also
        seeks on click). None always shows the whole piece.

    Returns
    -------
    str
        A complete HTML document.

    Raises
    ------
    ValueError
        On empty audio, a roll that is not 2-D with steps, a non-positive ``steps_per_second``
        or a ``key`` with other characters.
    """
    arr = np.asarray(roll)
    if not audio_bytes:
        raise ValueError("audio_bytes is empty")
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"roll must be (rows, steps) with steps > 0, got shape {arr.shape}")
    if not steps_per_second > 0:
        raise ValueError(f"steps_per_second must be > 0, got {steps_per_second}")
    if not re.fullmatch(r"[A-Za-z][\w-]*", key):
        raise ValueError(f"key must be letters, digits, '-' or '_', got {key!r}")
    rows, steps = arr.shape
    win = steps
    if window_bars is not None and steps > 2 * int(window_bars) * steps_per_bar:
        win = int(window_bars) * steps_per_bar
    overview_px = 28 if win < steps else 0
    return _TEMPLATE.format(
        key=key, mime=html.escape(mime), b64=base64.b64encode(audio_bytes).decode("ascii"),
        steps=steps, rows=rows, win=win, sps=repr(float(steps_per_second)),
        spb=int(steps_per_bar), bars=int(np.ceil(steps / steps_per_bar)),
        roll_px=max(60, int(height) - 70 - (overview_px + 4 if overview_px else 0)),
        overview_px=overview_px, overview_display="block" if overview_px else "none",
        notes=roll_svg_notes(arr, n_chord=n_chord),
        grid=roll_svg_grid(steps, rows, steps_per_bar=steps_per_bar),
    )  # fmt: skip


@st.cache_data(max_entries=8, show_spinner=False)
def _cached_html(
    audio_bytes: bytes, roll: np.ndarray, sps: float, key: str, mime: str, height: int,
    n_chord: int, steps_per_bar: int, window_bars: int | None,
) -> str:  # fmt: skip
    return player_html(
        audio_bytes, roll=roll, steps_per_second=sps, key=key, mime=mime, height=height,
        n_chord=n_chord, steps_per_bar=steps_per_bar, window_bars=window_bars,
    )  # fmt: skip


def roll_player(
    audio_bytes: bytes,
    *,
    roll: FloatArray,
    steps_per_second: float,
    key: str,
    mime: str = "audio/wav",
    height: int = 220,
    n_chord: int = 12,
    steps_per_bar: int = 8,
    window_bars: int | None = 32,
) -> None:
    """Show the playhead player (see :func:`player_html` for the parameters).

    Uses ``st.iframe`` when this Streamlit has it, else ``st.components.v1.html``.
    """
    doc = _cached_html(
        audio_bytes, np.ascontiguousarray(roll), float(steps_per_second), key, mime,
        int(height), int(n_chord), int(steps_per_bar), window_bars,
    )  # fmt: skip
    if hasattr(st, "iframe"):
        st.iframe(doc, height=int(height))
    else:  # pragma: no cover - older Streamlit
        import streamlit.components.v1 as components

        components.html(doc, height=int(height))


def pcm16_wav(y: FloatArray, sr: int) -> bytes:
    """``(channels, samples)`` audio as the bytes of a 16-bit PCM WAV file, made with numpy.

    Clipped to [-1, 1], scaled by 32767 and rounded to the nearest integer; the level is kept
    (no normalisation, unlike ``st.audio(array)``). One pass and a copy, about twice as fast as
    going through soundfile's in-memory file: the Mask explorer encodes both stems on every
    released α.

    Parameters
    ----------
    y : ndarray, shape (channels, samples), float
        Audio in [-1, 1].
    sr
        Sample rate, Hz.

    Returns
    -------
    bytes
        A canonical 44-byte RIFF/WAVE header (PCM, 16 bits) and the interleaved samples.

    Raises
    ------
    InvalidAudioError
        ``y`` is not ``(channels, samples)`` with samples, or the file would pass 4 GiB.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 2 or y.shape[0] < 1 or y.shape[1] == 0:
        raise InvalidAudioError(f"audio must be shaped (channels, samples), got {y.shape}")
    ch, n = y.shape
    size = n * ch * 2
    if size + 36 >= 2**32:
        raise InvalidAudioError(f"{n} samples x {ch} channels is too long for a WAV file")
    if not sr > 0:
        raise InvalidAudioError(f"sample rate must be > 0, got {sr}")
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, ch, int(sr), int(sr) * ch * 2, ch * 2, 16)
    header += b"data" + struct.pack("<I", size)
    q = np.multiply(y, 32767.0, dtype=np.float32)  # (channels, samples)
    np.clip(q, -32767.0, 32767.0, out=q)
    np.rint(q, out=q)
    buf = bytearray(len(header) + size)
    buf[: len(header)] = header
    np.frombuffer(buf, dtype="<i2", offset=len(header)).reshape(n, ch)[:] = q.T  # interleave
    return bytes(buf)
