"""Run every component notebook in nbs/ as a test, with nbdev's runner (cells flagged `#| slow` are skipped).

Each notebook runs in its own Python process, as it would in a fresh Jupyter kernel: notebooks redefine the classes
they export (and register models by name), so sharing one interpreter would let one notebook see another's state.
Experiment notebooks (nbs/experiments/) are executed by papermill in tests/test_reproduce.py instead.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
RUNNER = ("import sys; from pathlib import Path; from nbdev.test import test_nb; "
          "ok, seconds = test_nb(Path(sys.argv[1]), skip_flags=['slow'], basepath=sys.argv[2]); sys.exit(0 if ok else 1)")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(notebook, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))  # the notebooks' temporary files go where pytest removes them
    run = subprocess.run([sys.executable, "-c", RUNNER, str(notebook), str(ROOT)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 0, f"{notebook.name} failed:\n{run.stderr[-6000:]}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_running_a_notebook_never_rewrites_the_package(notebook):
    "No cell calls nbdev_export(): Jupyter and papermill ignore nbdev's `#| eval: false`, so the last cell keeps the call commented out."
    import nbformat
    cells = nbformat.read(notebook, as_version=4).cells
    calls = [c.source for c in cells if c.cell_type == "code" and any(
        "nbdev_export(" in line and not line.lstrip().startswith("#") for line in c.source.splitlines())]
    assert not calls, f"{notebook.name} runs nbdev_export() when a reader runs it:\n{calls[0]}"
