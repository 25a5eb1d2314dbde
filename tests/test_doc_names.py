"""The docs name only modules, files and functions that exist (no stale names after a move)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = (
    "README.md",
    "BENCHMARKS.md",
    *sorted(p.relative_to(REPO_ROOT).as_posix() for p in REPO_ROOT.glob("bench/results/*.md")),
)
#: A code span starting with a dotted module path or a file of ours: `core.karaoke.separate`,
#: `dashboard.figures.metric_curves.alpha_curves_figure`, `core/karaoke/dnn.py`,
#: `core.signal.audio.load_audio(path, ...)`.
CODE_REF = re.compile(r"`((?:core|dashboard|pages|bench|tests)(?:[./]\w+)+/?)(?=[`( ])")


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


def _module_file(base: Path) -> Path | None:
    """``base.py`` or ``base/__init__.py``, whichever exists."""
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def stale(ref: str, root: Path = REPO_ROOT) -> bool:
    """Whether ``ref`` (a path, or a dotted module path with an optional attribute) is missing."""
    if "/" in ref or ref.endswith(".py"):
        return not (root / ref.rstrip("/")).exists()
    parts = ref.split(".")
    for k in range(len(parts), 0, -1):  # the longest prefix that is a module
        module = _module_file(root.joinpath(*parts[:k]))
        if module is not None:
            rest = parts[k:]
            return bool(rest) and rest[0] not in _top_level_names(module)
    return True


def test_stale_finds_moved_modules_and_names(tmp_path):
    (tmp_path / "core" / "evaluation").mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "evaluation" / "__init__.py").write_text("")
    (tmp_path / "core" / "evaluation" / "bss.py").write_text("def bss_eval():\n    pass\n")
    assert not stale("core.evaluation.bss", tmp_path)
    assert not stale("core.evaluation.bss.bss_eval", tmp_path)
    assert not stale("core/evaluation/bss.py", tmp_path)
    assert stale("core.metrics", tmp_path)
    assert stale("core/metrics.py", tmp_path)
    assert stale("core.evaluation.bss.view_at_alpha", tmp_path)
    assert stale("dashboard.explorer_view", tmp_path)


@pytest.mark.parametrize("doc", DOCS)
def test_docs_name_existing_modules(doc):
    bad = [
        f"{doc}:{i}: {m.group(1)}"
        for i, line in enumerate((REPO_ROOT / doc).read_text(encoding="utf-8").splitlines(), 1)
        for m in CODE_REF.finditer(line)
        if stale(m.group(1))
    ]
    assert not bad, "names that no longer exist (update them to today's layout):\n" + "\n".join(
        bad
    )
