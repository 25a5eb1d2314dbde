"""RollPlayer: an audio player with a playhead moving over a piano roll (an anywidget).

``ipywidgets.Audio`` cannot report where playback is, so the playhead lives in the browser, as
on the dashboard's Composer page: an ``<audio controls>`` element (the audio inline as a data
URI), a ``<canvas>`` drawing the roll, and a ``requestAnimationFrame`` loop moving a line to
``audio.currentTime``; clicking the roll seeks. The position comes back to Python in
``current_time`` (seconds, synced on pause and seek), so a notebook can read where the listener
stopped. Everything is inline: no file is fetched, no network.
"""

from __future__ import annotations

import base64

import anywidget
import numpy as np
import traitlets

from core.errors import InvalidConfigError
from core.types import FloatArray

_ESM = """
function render({ model, el }) {
  const wrap = document.createElement("div");
  wrap.style.display = "flex"; wrap.style.flexDirection = "column"; wrap.style.gap = "4px";
  const audio = document.createElement("audio");
  audio.controls = true; audio.preload = "auto"; audio.style.width = "100%";
  const canvas = document.createElement("canvas");
  canvas.style.width = "100%"; canvas.style.cursor = "pointer";
  canvas.style.border = "1px solid #ddd"; canvas.title = "Click to seek";
  const pos = document.createElement("div");
  pos.style.font = "12px sans-serif"; pos.style.color = "#444";
  wrap.append(audio, canvas, pos); el.append(wrap);
  let roll = null;
  function load() {
    audio.src = "data:" + model.get("mime") + ";base64," + model.get("audio_b64");
    roll = { rows: model.get("rows"), steps: model.get("steps"), notes: model.get("notes") };
    canvas.width = Math.max(600, Math.min(4000, roll.steps * 4));
    canvas.height = model.get("height");
    draw(true);
  }
  let last = -1;
  function draw(force) {
    const t = audio.currentTime || 0;
    if (!force && t === last) return;
    last = t;
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    const sx = W / Math.max(roll.steps, 1), sy = H / Math.max(roll.rows, 1);
    ctx.fillStyle = "#fafafa"; ctx.fillRect(0, 0, W, H);
    const spb = model.get("steps_per_bar");
    ctx.strokeStyle = "#ddd";
    for (let s = 0; s <= roll.steps; s += spb) {
      ctx.beginPath(); ctx.moveTo(s * sx, 0); ctx.lineTo(s * sx, H); ctx.stroke();
    }
    const nChord = model.get("n_chord");
    for (const [row, start, len] of roll.notes) {
      ctx.fillStyle = row < nChord ? "#1f77b4" : "#ff7f0e";
      ctx.fillRect(start * sx, H - (row + 1) * sy, Math.max(len * sx - 1, 1), Math.max(sy - 1, 1));
    }
    const x = Math.min(t * model.get("steps_per_second"), roll.steps) * sx;
    ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, H); ctx.stroke();
    const bar = Math.floor(t * model.get("steps_per_second") / spb) + 1;
    const bars = Math.ceil(roll.steps / spb);
    pos.textContent = "bar " + Math.min(bar, bars) + " / " + bars + " · " + t.toFixed(1) + " s";
  }
  function loop() { if (roll) draw(false); requestAnimationFrame(loop); }
  requestAnimationFrame(loop);
  function sync() { model.set("current_time", audio.currentTime || 0); model.save_changes(); }
  audio.addEventListener("pause", sync);
  audio.addEventListener("seeked", sync);
  canvas.addEventListener("click", (e) => {
    const r = canvas.getBoundingClientRect();
    const frac = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
    audio.currentTime = frac * roll.steps / model.get("steps_per_second");
    draw(true);
  });
  model.on("change:audio_b64", load);
  model.on("change:notes", load);
  load();
}
export default { render };
"""


def roll_notes(roll: FloatArray) -> list[list[int]]:
    """The notes of a ``(rows, steps)`` binary roll as ``[row, start step, length]`` runs."""
    arr = np.asarray(roll) > 0.5
    if arr.ndim != 2:
        raise InvalidConfigError(f"roll must be 2-D (rows, steps), got shape {arr.shape}")
    padded = np.pad(arr.astype(np.int8), ((0, 0), (1, 1)))
    notes = []
    for row in range(arr.shape[0]):
        edges = np.flatnonzero(np.diff(padded[row]))
        notes += [[row, int(a), int(b - a)] for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return notes


class RollPlayer(anywidget.AnyWidget):  # type: ignore[misc]
    """Audio of a piano roll with a moving playhead; click the roll to seek.

    Parameters
    ----------
    audio
        Encoded audio (WAV, MP3, ...) of the roll, starting at step 0.
    roll : ndarray, shape (rows, steps)
        Binary piano roll, row 0 the lowest (chord rows first, then melody rows).
    steps_per_second
        Roll steps per second of audio (:func:`core.blues.midi.steps_per_second`).
    mime
        The audio's MIME type.
    n_chord
        Rows drawn in the chord colour (the rest in the melody colour).
    steps_per_bar
        Bar lines every this many steps.

    Attributes
    ----------
    current_time : float
        Playback position in seconds, as last reported by the browser (on pause and seek).
    """

    _esm = _ESM
    audio_b64 = traitlets.Unicode("").tag(sync=True)
    mime = traitlets.Unicode("audio/wav").tag(sync=True)
    notes = traitlets.List([]).tag(sync=True)
    rows = traitlets.Int(1).tag(sync=True)
    steps = traitlets.Int(1).tag(sync=True)
    steps_per_second = traitlets.Float(4.0).tag(sync=True)
    steps_per_bar = traitlets.Int(8).tag(sync=True)
    n_chord = traitlets.Int(12).tag(sync=True)
    height = traitlets.Int(160).tag(sync=True)
    current_time = traitlets.Float(0.0).tag(sync=True)

    def __init__(
        self,
        audio: bytes = b"",
        *,
        roll: FloatArray | None = None,
        steps_per_second: float = 4.0,
        mime: str = "audio/wav",
        n_chord: int = 12,
        steps_per_bar: int = 8,
    ) -> None:
        super().__init__()
        self.steps_per_bar = int(steps_per_bar)
        self.n_chord = int(n_chord)
        self.set_piece(audio, roll=roll, steps_per_second=steps_per_second, mime=mime)

    def set_piece(
        self,
        audio: bytes,
        *,
        roll: FloatArray | None,
        steps_per_second: float,
        mime: str = "audio/wav",
    ) -> None:
        """Show another piece (one message to the browser).

        Raises
        ------
        InvalidConfigError
            ``roll`` not 2-D or ``steps_per_second`` not positive.
        """
        if not steps_per_second > 0:
            raise InvalidConfigError(f"steps_per_second must be > 0, got {steps_per_second}")
        arr = np.zeros((1, 1), np.float32) if roll is None else np.asarray(roll)
        notes = roll_notes(arr)
        with self.hold_sync():
            self.rows, self.steps = int(arr.shape[0]), int(arr.shape[1])
            self.steps_per_second = float(steps_per_second)
            self.mime = mime
            self.notes = notes
            self.audio_b64 = base64.b64encode(bytes(audio)).decode("ascii")
            self.current_time = 0.0
