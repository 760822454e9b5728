#!/usr/bin/env bash
# The prepared GPU check: run it on a CUDA machine, from a fresh checkout of this repository, in under 8 minutes.
#
#   bash tools/gpu_check.sh                 # on the GPU machine (appends a dated row to reports/benchmarks/gpu.md)
#   bash tools/gpu_check.sh --cpu-dry-run   # the same steps, tiny, on the CPU (CI: tests/test_gpu_check.py)
#
# 1. install: pip install -e ".[dev]" when csa_nb, pytest or nbdev cannot be imported
# 2. the CUDA tests: pytest -k "cuda or mixed_precision" (every test that needs a GPU has "cuda" in its name)
# 3. AMP: a few smoke-profile training steps in bf16 and in fp16
# 4. paper-profile training steps (256 px, width 64, batch 1): seconds per step and peak memory
# 5. inference: seconds per 256 px image of the paper-profile generator (centre hole, batch 1)
# 6. one dated row appended to reports/benchmarks/gpu.md (then `python benchmarks/collect.py` updates reports/benchmarks.md)
#
# Environment: CSA_GPU_CHECK_CPU=1 (same as --cpu-dry-run), CSA_GPU_CHECK_OUT=FILE (where the row goes),
# CSA_GPU_CHECK_STEPS=N (paper-profile steps, default 300), CSA_GPU_CHECK_SECONDS=S (their time budget, default 180:
# the run is stopped there and measured on the steps it did), CSA_VGG_WEIGHTS=imagenet|PATH|random (default random:
# a step costs the same with any weights, and ImageNet weights need a download the machine may not allow).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=${CSA_GPU_CHECK_CPU:-0}
[ "${1:-}" = "--cpu-dry-run" ] && dry_run=1
out=${CSA_GPU_CHECK_OUT:-reports/benchmarks/gpu.md}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PIP_DISABLE_PIP_VERSION_CHECK=1
python=${PYTHON:-python}
start=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - start )) s] $*"; }

step "1/6 install"
if ! $python -c "import csa_nb, pytest, nbdev" 2>/dev/null; then
  $python -m pip install -e ".[dev]"
fi
$python -c "import torch, csa_nb; print(f'torch {torch.__version__}, CUDA {torch.version.cuda}, csa_nb from {csa_nb.__file__}')"
if [ "$dry_run" != 1 ] && ! $python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: torch sees no CUDA device (torch.cuda.is_available() is False); run with --cpu-dry-run to check the steps on the CPU" >&2
  exit 1
fi

step "2/6 CUDA tests"
tests_log=$(mktemp)
set +e
$python -m pytest tests -q -p no:cacheprovider -k "cuda or mixed_precision" 2>&1 | tee "$tests_log"
tests_status=${PIPESTATUS[0]}
set -e
tests_summary=$(grep -E "passed|failed|skipped|error" "$tests_log" | tail -1 | sed -E 's/ in [0-9.]+s.*//; s/=//g; s/^ +//')

step "3/6 - 6/6 AMP, paper-profile steps, inference, benchmark row"
args=(--out "$out" --tests "${tests_summary:-no result}")
[ "$dry_run" = 1 ] && args+=(--cpu-dry-run)
$python tools/gpu_check.py "${args[@]}"

step "done in $(( $(date +%s) - start )) s"
if [ "$tests_status" != 0 ]; then
  echo "gpu_check: the CUDA tests failed (pytest exit status $tests_status): see above" >&2
  exit 1
fi
