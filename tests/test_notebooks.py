"""Run every component notebook in nbs/ as a test, with nbdev's runner (cells flagged `#| slow` are skipped).

Experiment notebooks (nbs/experiments/) are executed by papermill in tests/test_reproduce.py instead.
"""
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook_tests

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", "."))
)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(notebook, capsys):
    passed, seconds = run_notebook_tests(notebook, skip_flags=["slow"], basepath=ROOT)
    assert passed, f"{notebook.name} failed (traceback above)"
