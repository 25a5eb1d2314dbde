"""Import structure: the module graph of ``core/``, ``dashboard/`` and ``pages/``, from ``ast``.

Every ``import``/``from ... import`` statement counts, wherever it sits: at module level, inside a
function (a lazy import still ties the modules together, and one hidden in a function to dodge
a circle is still a circle) and under ``if TYPE_CHECKING:``. Nothing is imported to build the
graph, so the test is fast and sees modules that would fail to import.

An edge goes from the importing module to the most specific module it names:
``from core.signal import soundfont`` is an edge to ``core.signal.soundfont``,
``from core.karaoke.tracks import Track`` one to ``core.karaoke.tracks``. Parent packages, which
Python also runs, are not edges: a package ``__init__`` is not a dependency of its children.
Modules imported by a name held in a string (``core.cli``'s subcommand table, run through
``importlib``) are not seen.

The allowed directions (also in README.md, "Architecture")::

    core (errors, types, paths, io_utils, checkpoint)   <- imports only itself
      ^
    core.signal                                         <- the foundation only
      ^                  ^
    core.blues      core.karaoke                        <- never each other
                         ^
                    core.evaluation
      ^                  ^
    core.inventory, core.cli                            <- any of the above
      ^
    dashboard.figures   (no streamlit, no page glue)
      ^
    dashboard           (glue: caching, widgets, state)
      ^
    pages               (scripts; nothing imports them)

    widgets             (Jupyter explorers: core and dashboard.figures only, no streamlit;
                         nothing imports them)

and no circle anywhere in the graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Folders whose modules make the graph (``pages/`` are scripts, named ``pages.<file>`` here).
ROOTS = ("core", "dashboard", "pages", "widgets")

#: The foundation of ``core``: modules every layer may use, which import no layer above.
FOUNDATION = ("core.errors", "core.types", "core.paths", "core.io_utils", "core.checkpoint")


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """One import statement: ``importer`` names ``target`` at ``line``."""

    importer: str
    target: str
    line: int
    in_function: bool

    def where(self) -> str:
        """``core.x line 12``, flagging an import inside a function."""
        lazy = " (inside a function)" if self.in_function else ""
        return f"{self.importer} line {self.line}{lazy}"


def module_name(path: Path, root: Path) -> str:
    """Dotted module name of ``path`` relative to ``root`` (``pkg/__init__.py`` -> ``pkg``)."""
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def discover(root: Path, folders: Iterable[str] = ROOTS) -> dict[str, Path]:
    """Every module under ``folders`` of ``root``, by dotted name."""
    modules: dict[str, Path] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            modules[module_name(path, root)] = path
    return modules


def _lazy_imports(tree: ast.AST) -> set[int]:
    """Ids of the import nodes that sit inside a function or method body."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    inside.add(id(sub))
    return inside


def parse_imports(module: str, path: Path, known: Iterable[str]) -> list[Edge]:
    """The imports of one module, each resolved to the most specific module it names.

    ``known`` are the repository's own modules, used to tell ``from pkg import submodule`` from
    ``from module import name``. Third-party targets keep the dotted name as written.
    """
    known = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lazy = _lazy_imports(tree)
    is_package = path.name == "__init__.py"
    edges: list[Edge] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative: level 1 is the module's own package (itself, for an __init__).
                package = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base_parts = package[: len(package) - drop] if drop else package
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
        else:
            continue
        for target in dict.fromkeys(targets):  # one edge per target per statement
            edges.append(Edge(module, target, node.lineno, id(node) in lazy))
    return edges


def build_graph(modules: Mapping[str, Path]) -> dict[str, list[Edge]]:
    """Every module's imports (internal and third-party), keyed by importer."""
    return {name: parse_imports(name, path, modules) for name, path in modules.items()}


def internal_graph(graph: Mapping[str, list[Edge]]) -> dict[str, set[str]]:
    """The adjacency of the repository's own modules (third-party targets dropped)."""
    return {m: {e.target for e in edges if e.target in graph} for m, edges in graph.items()}


def find_cycle(adjacency: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or ``None`` when the graph is acyclic.

    Depth-first search with three colours, iterative (no recursion limit), visiting nodes and
    neighbours in sorted order so the circle reported is the same from run to run. A node that
    imports itself is a circle ``[a, a]``.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(adjacency, white)
    for start in sorted(adjacency):
        if colour[start] != white:
            continue
        path = [start]
        colour[start] = grey
        stack = [iter(sorted(adjacency[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                stack.pop()
                continue
            state = colour.get(nxt, black)  # nodes outside the graph are leaves
            if state == grey:
                return [*path[path.index(nxt) :], nxt]
            if state == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append(iter(sorted(adjacency.get(nxt, ()))))
    return None


def describe_cycle(cycle: list[str], graph: Mapping[str, list[Edge]]) -> str:
    """The circle with the line of each import that closes it."""
    steps = []
    for a, b in zip(cycle, cycle[1:], strict=False):
        lines = [e.where() for e in graph[a] if e.target == b]
        steps.append(f"  {a} -> {b}   ({'; '.join(lines)})")
    return "import circle:\n" + "\n".join(steps)


def _under(name: str, prefixes: Iterable[str]) -> bool:
    """``name`` is one of ``prefixes`` or a submodule of one (``core.blues`` covers ``.midi``)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def uncommented_lazy_imports(
    graph: Mapping[str, list[Edge]], modules: Mapping[str, Path]
) -> list[str]:
    """Imports of ``core`` modules inside a function of ``core``, with no comment saying why.

    Such an import is either a deferred heavy dependency (the DNN module pulls in torch), which
    a comment on its line or the line above says, or a circle being dodged. ``core.cli`` is
    exempt: each subcommand imports its modules when it runs, so ``genex --help`` stays fast.
    """
    silent = []
    for importer, edges in sorted(graph.items()):
        if not _under(importer, ("core",)) or _under(importer, ("core.cli",)):
            continue
        lines = modules[importer].read_text(encoding="utf-8").splitlines()
        for e in edges:
            if e.in_function and _under(e.target, ("core",)):
                above = lines[e.line - 2].strip() if e.line > 1 else ""
                if "#" not in lines[e.line - 1] and not above.startswith("#"):
                    silent.append(f"{e.where()} imports {e.target}")
    return silent


def public_definitions(modules: Mapping[str, Path]) -> dict[str, list[str]]:
    """Modules defining each public module-level name (``def``, ``class`` or assignment)."""
    found: dict[str, list[str]] = {}
    for name, path in sorted(modules.items()):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                continue
            for defined in names:
                if not defined.startswith("_"):
                    found.setdefault(defined, []).append(name)
    return found


#: Public names that several modules define on purpose, and why.
SAME_NAME_ON_PURPOSE = {
    "FORMAT_VERSION": "each file format (checkpoint, results run, NMF bases) versions itself",
    "KIND": "each model module names the kind its checkpoints carry",
    "register": "each core.cli module registers its own subcommands",
    "STEPS_PER_BAR": "the blues grid and the synthetic songs' grid; the experiments are apart",
    "load_track": "the explorer's cached wrapper of core.karaoke.tracks.load_track",
    "mask_shares": "the explorer's cached wrapper of core.karaoke.masks.mask_shares",
}


@dataclass(frozen=True)
class Rule:
    """Modules under ``importers`` (bar ``exempt``) must not import any under ``forbidden``.

    ``allowed`` carves exceptions out of ``forbidden`` (``dashboard.figures`` may import itself).
    """

    importers: tuple[str, ...]
    forbidden: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()

    def violations(self, graph: Mapping[str, list[Edge]]) -> list[str]:
        """Each offending import, as ``importer line N imports target``."""
        return [
            f"{e.where()} imports {e.target}"
            for importer, edges in sorted(graph.items())
            if _under(importer, self.importers) and not _under(importer, self.exempt)
            for e in edges
            if _under(e.target, self.forbidden) and not _under(e.target, self.allowed)
        ]


LAYERS = (
    "core.signal",
    "core.blues",
    "core.karaoke",
    "core.evaluation",
    "core.inventory",
    "core.cli",
)

RULES = (
    Rule(("core",), ("streamlit", "dashboard", "pages"), "core is a plain library, no UI"),
    Rule(FOUNDATION, LAYERS, "the foundation of core imports no layer above it"),
    Rule(
        ("core.signal",),
        ("core.blues", "core.karaoke", "core.evaluation", "core.inventory", "core.cli"),
        "core.signal is shared by both experiments and depends on neither",
    ),
    Rule(("core.blues",), ("core.karaoke", "core.evaluation"), "the two experiments are apart"),
    Rule(("core.karaoke",), ("core.blues",), "the two experiments are apart"),
    Rule(("core.karaoke",), ("core.evaluation",), "evaluation sits on top of karaoke"),
    Rule(("core.evaluation",), ("core.blues",), "evaluation measures the separators only"),
    Rule(
        ("core",),
        ("core.cli",),
        "the CLI is a thin layer nothing in core depends on",
        exempt=("core.cli",),
    ),
    Rule(
        ("core",),
        ("core.inventory",),
        "the inventory is for the app and the CLI",
        exempt=("core.inventory", "core.cli"),
    ),
    Rule(
        ("dashboard.figures",),
        ("streamlit", "dashboard"),
        "figure builders are pure (no st.*, no page glue)",
        allowed=("dashboard.figures",),
    ),
    Rule(("core", "dashboard"), ("pages",), "pages are scripts; nothing imports them"),
    Rule(
        ("widgets",),
        ("streamlit", "dashboard", "pages"),
        "the Jupyter explorers use core and the pure figure builders, never the Streamlit glue",
        allowed=("dashboard.figures",),
    ),
    Rule(("core", "dashboard", "pages"), ("widgets",), "nothing depends on the Jupyter layer"),
)


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Edge]]:
    """The repository's import graph (parsed once per module)."""
    return build_graph(discover(REPO_ROOT))


def _write(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The checker itself: it must be able to fail
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adjacency", "expected"),
    [
        ({}, None),
        ({"a": set()}, None),
        ({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}, None),  # a diamond is fine
        ({"a": {"a"}}, ["a", "a"]),
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"d", "b"}, "d": set()}, ["b", "c", "b"]),
        ({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}, ["x", "y", "z", "x"]),
        ({"a": {"ext"}, "b": {"a"}}, None),  # a target outside the graph is a leaf
    ],
)
def test_find_cycle_on_small_graphs(adjacency, expected):
    assert find_cycle(adjacency) == expected


def test_find_cycle_on_a_long_chain_does_not_recurse():
    n = 5000
    chain = {f"m{i}": {f"m{i + 1}"} for i in range(n)} | {f"m{n}": set()}
    assert find_cycle(chain) is None
    chain[f"m{n}"] = {"m0"}
    cycle = find_cycle(chain)
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == n + 2


def test_parse_imports_sees_every_kind_of_import(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from . import sub\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/a.py": (
                "from __future__ import annotations\n"
                "import os.path\n"
                "from typing import TYPE_CHECKING\n"
                "from . import b\n"
                "from .b import thing\n"
                "from .. import top\n"
                "if TYPE_CHECKING:\n"
                "    import numpy\n"
                "def f():\n"
                "    from pkg.sub.b import other\n"
                "    return other\n"
            ),
            "pkg/sub/b.py": "thing = other = 1\n",
            "pkg/top.py": "",
        },
    )
    modules = discover(tmp_path, ("pkg",))
    assert set(modules) == {"pkg", "pkg.sub", "pkg.sub.a", "pkg.sub.b", "pkg.top"}
    graph = build_graph(modules)
    got = {(e.target, e.line, e.in_function) for e in graph["pkg.sub.a"]}
    assert got == {
        ("__future__", 1, False),
        ("os.path", 2, False),
        ("typing", 3, False),
        ("pkg.sub.b", 4, False),
        ("pkg.sub.b", 5, False),
        ("pkg.top", 6, False),
        ("numpy", 8, False),
        ("pkg.sub.b", 10, True),
    }
    assert {e.target for e in graph["pkg"]} == {"pkg.sub"}


def test_a_planted_circle_through_a_function_import_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/blues/__init__.py": "",
            "core/blues/midi.py": "from core.blues.representation import Form\n",
            "core/blues/representation.py": (
                "class Form:\n"
                "    pass\n"
                "def load():\n"
                "    from core.blues.midi import read  # hidden to dodge the circle\n"
            ),
        },
    )
    graph = build_graph(discover(tmp_path, ("core",)))
    cycle = find_cycle(internal_graph(graph))
    assert cycle == ["core.blues.midi", "core.blues.representation", "core.blues.midi"]
    text = describe_cycle(cycle, graph)
    assert "core.blues.representation line 4 (inside a function)" in text


def test_planted_layer_violations_are_reported(tmp_path):
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/blues/__init__.py": "",
            "core/blues/x.py": "def f():\n    import core.karaoke.tracks\n",
            "core/karaoke/__init__.py": "",
            "core/karaoke/tracks.py": "import streamlit as st\n",
            "core/signal/__init__.py": "",
            "core/signal/audio.py": "from core.evaluation import bss\n",
            "core/evaluation/__init__.py": "",
            "core/evaluation/bss.py": "",
        },
    )
    graph = build_graph(discover(tmp_path, ("core",)))
    found = {v for rule in RULES for v in rule.violations(graph)}
    assert found == {
        "core.blues.x line 2 (inside a function) imports core.karaoke.tracks",
        "core.karaoke.tracks line 1 imports streamlit",
        "core.signal.audio line 1 imports core.evaluation.bss",
    }


def test_planted_uncommented_lazy_import_is_reported(tmp_path):
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/a.py": (
                "def f():\n"
                "    from core import b\n"
                "def g():\n"
                "    # lazy: b is heavy\n"
                "    from core import b\n"
                "def h():\n"
                "    import numpy\n"
            ),
            "core/b.py": "",
            "core/cli/__init__.py": "def main():\n    from core import a\n",
        },
    )
    modules = discover(tmp_path, ("core",))
    found = uncommented_lazy_imports(build_graph(modules), modules)
    assert found == ["core.a line 2 (inside a function) imports core.b"]


def test_planted_duplicate_definition_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/a.py": "def digest(b):\n    return b\nSOURCES: tuple = ()\n_private = 1\n",
            "core/b.py": "class digest:\n    pass\nSOURCES = ('vocals',)\n_private = 2\n",
        },
    )
    defined = public_definitions(discover(tmp_path, ("core",)))
    assert defined["digest"] == ["core.a", "core.b"]
    assert defined["SOURCES"] == ["core.a", "core.b"]
    assert "_private" not in defined


# ---------------------------------------------------------------------------------------------
# The repository
# ---------------------------------------------------------------------------------------------


def test_the_graph_covers_the_layout(graph):
    for name in (
        "core.errors",
        "core.signal.audio",
        "core.blues.midi",
        "core.karaoke.separate",
        "core.evaluation.sweep",
        "core.cli.metrics",
        "dashboard.figures.spectrogram",
        "dashboard.mask_explorer_view",
        "pages.mask_explorer",
        "widgets.mask",
    ):
        assert name in graph, f"{name} missing: has the layout moved? update this test and README"
    assert sum(len(edges) for edges in graph.values()) > 100


def test_every_internal_import_names_an_existing_module(graph):
    stale = [
        f"{e.where()} imports {e.target}"
        for edges in graph.values()
        for e in edges
        if _under(e.target, ROOTS) and e.target not in graph
    ]
    assert not stale, "imports of modules that do not exist:\n" + "\n".join(stale)


def test_no_import_circles(graph):
    cycle = find_cycle(internal_graph(graph))
    assert cycle is None, describe_cycle(cycle, graph)


def test_lazy_imports_of_core_modules_inside_core_say_why(graph):
    silent = uncommented_lazy_imports(graph, discover(REPO_ROOT))
    assert not silent, "move these imports to the top, or comment why they wait:\n" + "\n".join(
        silent
    )


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{','.join(r.importers)}-x-{r.forbidden[0]}")
def test_layer_rule(rule, graph):
    bad = rule.violations(graph)
    assert not bad, f"{rule.why}:\n" + "\n".join(bad)


def test_each_concept_is_defined_once():
    # One name per concept: a public name defined in two modules is a duplicate (TrainResult,
    # SOURCES, METRICS, digest, the FluidSynth probe, ...) unless listed, with the reason.
    defined = public_definitions(discover(REPO_ROOT, ("core", "dashboard", "widgets")))
    dupes = [
        f"{name}: {', '.join(where)}"
        for name, where in sorted(defined.items())
        if len(where) > 1 and name not in SAME_NAME_ON_PURPOSE
    ]
    assert not dupes, "defined in several modules (import it from one):\n" + "\n".join(dupes)
    assert defined["Progress"] == ["core.types"] and defined["SOURCES"] == ["core.karaoke.tracks"]
