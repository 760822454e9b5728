"""README.md as a newcomer uses it: every ```python block runs when pasted on its own into a fresh interpreter, and the
install, main and test commands CI runs are the ones the README shows (tools/readme_commands.py)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)\n```", README, re.S)


def test_readme_has_snippets():
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.splitlines()[0][:40])
def test_python_snippet_runs_when_pasted(snippet, tmp_path):
    "Each block alone, in a new interpreter outside the checkout (only the package installed), like a paste."
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MPLBACKEND="Agg", TMPDIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 0, f"README snippet fails when pasted:\n{snippet}\n---\n{run.stderr[-3000:]}"


def test_commands_ci_runs_are_in_the_readme():
    sys.path.insert(0, str(ROOT / "tools"))
    from readme_commands import readme_command
    assert readme_command("install", README).startswith("pip install")
    assert readme_command("main", README).startswith("csa-reproduce --profile smoke")
    assert readme_command("test", README).startswith("python -m pytest")
