"""The one FluidSynth probe and the General MIDI soundfonts the lab can render with.

``TimGM6mb`` ships inside pretty_midi (always present). ``FluidR3_GM`` comes from Debian's
``fluid-soundfont-gm`` package (``/usr/share/sounds/sf2/FluidR3_GM.sf2``) and ``OPL3_FM`` from
Debian's ``opl3-soundfont`` (an FM-synthesis GM set, independent of FluidR3; MuseScore General
is not listed because it is derived from FluidR3 Mono). Both are optional and needed only to make
the diverse corpora (``make corpus`` installs them). ``GENEX_SF2_<FILE STEM>`` (e.g.
``GENEX_SF2_FLUIDR3_GM``) points a soundfont at another file.
"""

from __future__ import annotations

import ctypes.util
import functools
import os
import warnings
from pathlib import Path
from types import ModuleType

from core.errors import DependencyError

#: Soundfonts by name: where each is looked for, in order.
SOUNDFONT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "TimGM6mb": ("<pretty_midi>/TimGM6mb.sf2",),
    "FluidR3_GM": (
        "/usr/share/sounds/sf2/FluidR3_GM.sf2",
        "/usr/share/soundfonts/FluidR3_GM.sf2",
    ),
    "OPL3_FM": (
        "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2",
        "/usr/share/soundfonts/OPL-3_FM_128M.sf2",
    ),
}
#: How to get each soundfont when it is missing.
SOUNDFONT_PACKAGES = {
    "TimGM6mb": "pip install pretty_midi",
    "FluidR3_GM": "apt-get install fluid-soundfont-gm",
    "OPL3_FM": "apt-get install opl3-soundfont",
}


def _expand(candidate: str) -> Path:
    if candidate.startswith("<pretty_midi>"):
        import pretty_midi  # light, but only needed here

        return Path(os.path.dirname(pretty_midi.__file__)) / candidate.split("/", 1)[1]
    return Path(os.environ.get("GENEX_SF2_" + Path(candidate).stem.upper(), candidate))


def soundfont_path(name: str = "TimGM6mb") -> Path:
    """Path of the soundfont ``name`` (one of :data:`SOUNDFONT_CANDIDATES`).

    Raises
    ------
    DependencyError
        Unknown name, or the file is not installed (the message says what to install).
    """
    if name not in SOUNDFONT_CANDIDATES:
        raise DependencyError(
            f"unknown soundfont {name!r}; choose from {', '.join(SOUNDFONT_CANDIDATES)}"
        )
    for candidate in SOUNDFONT_CANDIDATES[name]:
        path = _expand(candidate)
        if path.is_file():
            return path
    raise DependencyError(
        f"the soundfont {name} is not installed; install it with `{SOUNDFONT_PACKAGES[name]}`"
    )


def available_soundfonts() -> list[str]:
    """Names of the soundfonts present on this machine."""
    out = []
    for name in SOUNDFONT_CANDIDATES:
        try:
            soundfont_path(name)
        except DependencyError:
            continue
        out.append(name)
    return out


def require_fluidsynth() -> ModuleType:
    """Import pyfluidsynth, or raise :class:`DependencyError` saying what to install.

    Raises
    ------
    DependencyError
        libfluidsynth or pyfluidsynth is missing.
    """
    if ctypes.util.find_library("fluidsynth") is None:
        raise DependencyError(
            "the FluidSynth library (libfluidsynth) is not installed; install it with "
            "`apt-get install libfluidsynth3` (Debian/Ubuntu) or `brew install fluid-synth` (macOS)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import fluidsynth
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise DependencyError(
            f"pyfluidsynth could not be imported ({exc}); install it with "
            "`pip install pyfluidsynth` (and libfluidsynth3 from your package manager)"
        ) from exc
    module: ModuleType = fluidsynth
    return module


@functools.lru_cache(maxsize=1)
def fluidsynth_available() -> bool:
    """True when libfluidsynth is installed and pyfluidsynth can start a synthesizer."""
    try:
        fluidsynth = require_fluidsynth()
        synth = fluidsynth.Synth(samplerate=22050.0)
        synth.delete()
    except Exception:  # any failure to start a synth means: not available
        return False
    return True
