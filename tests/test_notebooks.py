"""The notebooks in ``notebooks/`` run top to bottom, headless, without an error (issue 13).

Each notebook is executed by ``nbclient`` in a fresh kernel that is this interpreter (a kernel
spec written to a temporary ``JUPYTER_PATH``, so the venv's Python runs it whatever kernels the
machine has), from the notebooks folder, with the repository on ``PYTHONPATH``. A cell that
raises fails the test with the cell's traceback. The notebooks are stored without outputs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]'")

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "genex-test-python"
#: Per-cell limit (s): the slowest cell (the metrics sweep) takes ~10 s on 2 cores.
CELL_TIMEOUT = 180


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory):
    """A kernel spec running this interpreter, found through ``JUPYTER_PATH``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "GenEx Lab tests", "language": "python"})
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    mp.setenv("PYTHONPATH", str(REPO_ROOT))
    mp.setenv("OMP_NUM_THREADS", "2")
    yield
    mp.undo()


def test_there_are_notebooks_for_each_experiment():
    names = [p.name for p in NOTEBOOKS]
    assert any("blues" in n for n in names), names
    assert any("karaoke" in n for n in names), names
    assert any("metrics" in n for n in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs (clear them before committing)"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, kernel_env: None):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the traceback) on any error
    seconds = time.perf_counter() - t0
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "error"
    ]
    assert not errors
    assert seconds < 120, f"{path.name} took {seconds:.0f} s: keep the tours quick"
