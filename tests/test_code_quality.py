"""Code quality is part of the test command: ruff on the code, strict mypy on ``core/``.

Both run as this interpreter's modules (``sys.executable -m ...``), from the repository root so
they read ``pyproject.toml`` (``[tool.ruff]``, ``[tool.mypy]``). They are in the ``test`` extra;
a test skips, saying so, only when its tool is not installed at all.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: What ruff checks (the whole code base but scripts/, notebooks included) and what mypy checks
#: strictly.
RUFF_PATHS = ("core", "dashboard", "pages", "widgets", "notebooks", "tests", "bench")
MYPY_STRICT_PATHS = ("core/",)


def _run(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed in this environment (pip install -e '.[test]')")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _assert_clean(cmd: str, res: subprocess.CompletedProcess[str]) -> None:
    if res.returncode != 0:
        pytest.fail(f"`{cmd}` exited {res.returncode}:\n{res.stdout}{res.stderr}", pytrace=False)


def test_ruff_is_clean():
    args = ("check", "--output-format", "concise", *RUFF_PATHS)
    res = _run("ruff", *args, timeout=120)
    _assert_clean("ruff " + " ".join(args), res)


@pytest.mark.slow
def test_mypy_strict_on_core_is_clean():
    args = ("--strict", *MYPY_STRICT_PATHS)
    res = _run("mypy", *args, timeout=600)
    _assert_clean("mypy " + " ".join(args), res)
