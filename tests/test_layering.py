"""Layering: core never pulls in streamlit or dashboard; light modules never pull in torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Modules that must stay importable without torch (the model modules are the exceptions).
TORCH_FREE = (
    "core.signal.audio",
    "core.signal.stft",
    "core.errors",
    "core.io_utils",
    "core.inventory",
    "core.blues.representation",
    "core.blues.midi",
    "core.blues.measures",
    "core.karaoke.tracks",
    "core.karaoke.masks",
    "core.karaoke.separate",
    "core.karaoke.nmf",
    "core.evaluation.bss",
    "core.evaluation.results",
)


def _core_modules() -> list[str]:
    names = []
    for path in sorted((REPO_ROOT / "core").rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _imported_after(modules: list[str]) -> dict[str, list[str]]:
    code = (
        "import importlib, json, sys\n"
        f"mods = {modules!r}\n"
        "out = {}\n"
        "for m in mods:\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(m)\n"
        "out['all'] = sorted(sys.modules)\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_every_core_module_imports_without_streamlit_or_dashboard():
    modules = _core_modules()
    assert "core.signal.audio" in modules and "core.signal.stft" in modules
    loaded = set(_imported_after(modules)["all"])
    assert not {m for m in loaded if m == "streamlit" or m.startswith("streamlit.")}
    assert not {m for m in loaded if m == "dashboard" or m.startswith("dashboard.")}


def test_light_core_modules_do_not_import_torch():
    loaded = set(_imported_after(list(TORCH_FREE))["all"])
    assert "torch" not in loaded
    assert "streamlit" not in loaded
