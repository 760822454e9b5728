"""A corrupt checkpoint, read through the exported package (not a notebook's namespace): CheckpointError, never NameError.

The trainer once caught `pickle.UnpicklingError` while `pickle` was imported only in a test cell of nbs/10_train.ipynb:
the notebook passed, the package raised NameError. These tests import csa_nb fresh in a subprocess, so nothing a notebook
or another test imported can hide a missing import.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_clean(code: str, cwd: Path) -> subprocess.CompletedProcess:
    "Run `code` in a fresh interpreter that imports the checkout's csa_nb."
    prelude = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd)


def test_corrupt_and_foreign_checkpoints_raise_checkpoint_error(tmp_path):
    run = run_clean("""
        import torch
        from csa_nb.train import CheckpointError, load_checkpoint
        cases = {
            "garbage.pt": lambda p: p.write_bytes(b"this is not a torch file"),  # torch.load raises IndexError on it
            "random_bytes.pt": lambda p: p.write_bytes(bytes(range(256))),
            "empty.pt": lambda p: p.write_bytes(b""),
            "truncated.pt": lambda p: p.write_bytes(open(p.with_name("good.pt"), "rb").read()[:100]),
            "pickled_object.pt": lambda p: torch.save({"format": "x", "thing": Exception("an object")}, p),
            "not_ours.pt": lambda p: torch.save({"weights": torch.zeros(2)}, p),
        }
        from pathlib import Path
        torch.save({"format": "csa-nb-checkpoint/1", "config": {}, "step": 1, "model": {}, "optimizers": {}, "rng": {},
                    "vgg_weights": "random"}, "good.pt")
        for name, write in cases.items():
            path = Path(name)
            write(path)
            try:
                load_checkpoint(path)
            except CheckpointError as error:
                print(f"{name}: CheckpointError: {str(error)[:80]}")
            else:
                raise SystemExit(f"{name} loaded")
        """, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("CheckpointError") == 6, run.stdout
    assert "NameError" not in run.stdout + run.stderr


def test_find_run_skips_a_corrupt_cached_run_and_trained_model_names_it(tmp_path):
    run = run_clean("""
        import warnings
        from pathlib import Path
        from csa_nb.config import config_to_dict
        from csa_nb.experiments import NotTrainedError, config_key, experiment_config, find_run, trained_model
        runs = Path("runs")
        config = experiment_config("smoke", "", "celeba")
        # a run of another key whose last.pt is corrupt (and no config.yaml): find_run must skip it with a warning
        other = runs / "csa-0000000000"
        other.mkdir(parents=True)
        (other / "last.pt").write_bytes(b"corrupt")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert find_run("csa", config, runs) is None
        assert any("csa-0000000000" in str(w.message) and "skipped" in str(w.message) for w in caught), [str(w.message) for w in caught]
        # the run of this very key with a corrupt last.pt: trained_model refuses it with a message naming the file
        mine = runs / f"csa-{config_key(config)}"
        mine.mkdir()
        (mine / "last.pt").write_bytes(b"")  # e.g. a disk that filled up
        try:
            trained_model("csa", config, runs, train=False)
        except NotTrainedError as error:
            print("refused:", error)
            assert "last.pt" in str(error) and "not a readable checkpoint" in str(error), error
        else:
            raise SystemExit("a corrupt run was accepted")
        """, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "refused:" in run.stdout, run.stdout
