"""Small pieces shared by the explorers: audio players, error boxes, cached results."""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import ipywidgets as w

from core.errors import CoreError
from core.signal.audio import audio_to_bytes
from core.types import FloatArray

V = TypeVar("V")


class LRU(Generic[V]):
    """A small per-explorer cache: ``get(key, make)`` keeps the ``size`` latest values."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value of ``key``, made (and stored) on a miss."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


def wav_bytes(y: FloatArray, sr: int) -> bytes:
    """``(channels, samples)`` audio as 16-bit WAV bytes (true level, no normalisation)."""
    return audio_to_bytes(y, sr, fmt="WAV", subtype="PCM_16")


def audio_widget(y: FloatArray, sr: int) -> w.Audio:
    """An HTML5 audio player for ``(channels, samples)`` audio."""
    return w.Audio(value=wav_bytes(y, sr), format="wav", autoplay=False, loop=False)


def labelled(label: str, widget: w.Widget) -> w.VBox:
    """``widget`` under a bold one-line label."""
    return w.VBox([w.HTML(f"<b>{html.escape(label)}</b>"), widget])


def error_html(exc: CoreError) -> str:
    """A :class:`~core.errors.CoreError` as a red message box (the explorer keeps running)."""
    text = html.escape(f"{type(exc).__name__}: {exc}")
    return (
        '<div style="color:#b00020;border:1px solid #b00020;padding:4px 8px;'
        f'border-radius:4px">{text}</div>'
    )
