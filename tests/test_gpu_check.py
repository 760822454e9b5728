"""tools/gpu_check.sh, the prepared GPU check, run with --cpu-dry-run: every step (install check, the CUDA tests' selection,
paper-profile training through csa-train, inference timing, the benchmark row) on the CPU, tiny."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_cpu_dry_run(tmp_path):
    out = tmp_path / "gpu.md"
    env = {**os.environ, "CSA_GPU_CHECK_OUT": str(out), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--cpu-dry-run"], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    for step in ("1/6 install", "2/6 CUDA tests", "3/6 - 6/6"):
        assert step in run.stdout, run.stdout
    text = out.read_text()
    assert text.startswith("## GPU check") and text.count("\n| 20") == 1, text  # the header and one dated row
    row = text.strip().splitlines()[-1].split(" | ")
    assert "cpu dry run" in row[-1] and "skipped" in row[3] and float(row[5]) > 0 and float(row[7]) > 0, row
