"""csa-reproduce end to end: every experiment notebook on the smoke profile, and a broken one named in the failure report."""
import subprocess
import sys
from pathlib import Path

import nbformat

from csa_nb.reproduce import find_experiments

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from csa_nb.reproduce import main; sys.exit(main())"]  # csa-reproduce, from this checkout


def test_smoke_profile_regenerates_every_experiment(tmp_path):
    out = tmp_path / "reports"
    run = subprocess.run(CLI + ["--profile", "smoke", "--out", str(out),
                          "--runs", str(tmp_path / "runs")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    executed = {p.stem for p in (out / "notebooks").glob("*.ipynb")}
    assert executed == set(find_experiments()), executed
    assert (out / "figures" / "fig_masks.png").stat().st_size > 0


def test_broken_notebook_fails_the_run_and_is_named(tmp_path):
    notebooks = tmp_path / "experiments"
    notebooks.mkdir()
    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("profile = 'paper'", metadata={"tags": ["parameters"]}),
                                           nbformat.v4.new_code_cell("print(profile)")])
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    nbformat.write(good, notebooks / "good.ipynb")
    nbformat.write(broken, notebooks / "broken.ipynb")
    run = subprocess.run(CLI + ["--profile", "smoke", "--out", str(tmp_path / "out"),
                          "--notebooks", str(notebooks)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    assert "FAILED broken" in run.stderr and "ZeroDivisionError" in run.stderr, run.stderr
    assert "1 of 2 notebooks ran" in run.stderr
