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


def test_committed_reports_are_kept_and_smoke_figures_say_so(tmp_path):
    """Issue 18: a run refuses an --out holding committed files unless --overwrite; with it, --only fig_masks keeps the other
    notebooks' profile in index.md; smoke figures carry a banner; no TCP warnings; no runs/ left behind."""
    from PIL import Image
    repo = tmp_path / "repo"
    figures = repo / "reports" / "figures"
    figures.mkdir(parents=True)
    (repo / "reports" / "notebooks").mkdir()
    Image.new("RGB", (40, 30), "white").save(figures / "fig_masks.png")
    executed = nbformat.v4.new_notebook(metadata={"papermill": {"parameters": {"profile": "cpu"}}})
    nbformat.write(executed, repo / "reports" / "notebooks" / "table1.ipynb")
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "committed reports")
    before = (figures / "fig_masks.png").read_bytes()

    command = CLI + ["--profile", "smoke", "--only", "fig_masks", "--out", str(repo / "reports")]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "committed to git" in refused.stderr and "--overwrite" in refused.stderr, refused.stderr
    assert (figures / "fig_masks.png").read_bytes() == before and not (repo / "reports" / "index.md").exists()

    run = subprocess.run(command + ["--overwrite"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "without encryption" not in run.stderr
    assert not (tmp_path / "runs").exists()  # smoke models lived in a temporary folder
    index = (repo / "reports" / "index.md").read_text()
    assert "`--profile cpu` for table1; `--profile smoke` for fig_masks" in index, index.splitlines()[2]
    figure = Image.open(figures / "fig_masks.png").convert("RGB")
    assert figure.getpixel((2, 2)) == (255, 236, 179)  # the smoke banner on top
