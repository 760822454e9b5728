"""Steps 3-6 of tools/gpu_check.sh: AMP, paper-profile training steps, inference time, one dated benchmark row.

    python tools/gpu_check.py                          # on a CUDA machine (bash tools/gpu_check.sh runs it)
    python tools/gpu_check.py --cpu-dry-run --out X    # the same steps, tiny, on the CPU

Every training run goes through `csa-train` in a fresh process, as a user would run it; the numbers come from the run's
own log.csv (images/s and peak memory per logged window), the first window (warm-up, cuDNN autotuning) left out.
"""
import argparse
import csv
import datetime
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRAIN = [sys.executable, "-c", "import sys; from csa_nb.train import main; sys.exit(main())"]  # csa-train, from this checkout
HEADER = """## GPU check (`tools/gpu_check.sh`)

One row per run of `bash tools/gpu_check.sh` on a CUDA machine: the CUDA tests, a few AMP steps, up to {steps} training
steps (at most 3 minutes) of the `paper` profile (256 px, width 64, batch 1, builtin photographs; `s/step` is the median over the logged
windows after the first, one step = one discriminator and one generator step) with the peak CUDA memory torch allocated,
and the paper-profile generator's inference time per 256 px image (batch 1, centre hole, median of 20 after warm-up; the
paper: 0.82 s per image, Sec. 4). Rows marked `cpu dry run` come from `--cpu-dry-run` and measure nothing.

| date (UTC) | device | torch / CUDA | CUDA tests | AMP bf16 / fp16 | paper-profile s/step | peak memory (MB) | inference s/image | steps | VGG16 | note |
|---|---|---|---|---|---|---|---|---|---|---|
"""


def csa_train(out: Path, *arguments: str, budget: float | None = None) -> bool:
    "Run csa-train into `out`; past `budget` seconds it is asked to stop (SIGTERM: it checkpoints and exits). True if it finished."
    command = TRAIN + ["--no-progress", "--out", str(out), *arguments]
    print("$ csa-train", " ".join(command[len(TRAIN):]), flush=True)
    process = subprocess.Popen(command, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the trainer finishes its step, writes last.pt and exits with 143
        output, _ = process.communicate()
    print(output[-4000:], flush=True)
    if process.returncode not in (0, 128 + signal.SIGTERM):
        raise SystemExit(f"gpu_check: csa-train failed (exit status {process.returncode}), see above")
    return process.returncode == 0


def log_rows(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as file:
        return list(csv.DictReader(file))


def amp_check(work: Path, device: str, dry_run: bool) -> str:
    "A few smoke-profile steps in each mixed precision (bf16 only on a CPU); 'ok' when they ran with finite losses (the trainer stops on NaN)."
    results = []
    for precision in ("bf16",) if dry_run else ("bf16", "fp16"):
        csa_train(work / f"amp_{precision}", "--profile", "smoke", "--steps", "2" if dry_run else "20", "--device", device,
                  "--set", f"train.precision={precision}", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0")
        results.append(f"{precision} ok")
    return " / ".join(results)


def paper_steps(work: Path, device: str, steps: int, vgg: str, dry_run: bool, budget: float) -> tuple[float, float, int, Path]:
    "Median seconds per step, peak memory and steps done of up to `steps` paper-profile steps in `budget` seconds; the checkpoint."
    run = work / "paper"
    log_every = max(1, min(10, steps // 10))
    tiny = ["--set", "data.image_size=64", "--set", "model.width=8"] if dry_run else []
    csa_train(run, "--profile", "paper", "--steps", str(steps), "--device", device, "--set", f"loss.vgg_weights={vgg}",
              "--set", f"train.log_every={log_every}", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0", *tiny,
              budget=budget)
    rows = log_rows(run)
    if not rows:
        raise SystemExit(f"gpu_check: no training step was logged within {budget:.0f} s; raise CSA_GPU_CHECK_SECONDS")
    timed = rows[1:] or rows  # the first window holds the warm-up
    seconds = statistics.median(1 / float(r["images_per_s"]) for r in timed)  # batch 1: one image per step
    peak = max(float(r["peak_memory_mb"]) for r in rows)
    return seconds, peak, int(rows[-1]["step"]), run / "last.pt"


def inference_seconds(checkpoint: Path, device: str, repeats: int = 20) -> float:
    "Median seconds per image of the trained generator at its own size (256 px on the paper profile), batch 1."
    import torch
    from csa_nb.masks import center_mask
    from csa_nb.train import load_model
    model, config = load_model(checkpoint, device)
    size = config.data.image_size
    image = torch.rand(1, 3, size, size, device=device) * 2 - 1
    mask = torch.as_tensor(center_mask(size), device=device)[None, None]
    times = []
    with torch.no_grad():
        for index in range(repeats + 2):
            if device == "cuda":
                torch.cuda.synchronize()
            begin = time.perf_counter()
            model.generator(image, mask)
            if device == "cuda":
                torch.cuda.synchronize()
            if index >= 2:  # two warm-up calls
                times.append(time.perf_counter() - begin)
    return statistics.median(times)


def device_name(device: str) -> str:
    import torch
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="GPU check: AMP, paper-profile steps, inference time, one benchmark row.")
    parser.add_argument("--cpu-dry-run", action="store_true", help="run every step tiny on the CPU (measures nothing)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "gpu.md"), help="benchmark section to append to")
    parser.add_argument("--tests", default="not run", help="the CUDA tests' pytest summary, for the row")
    parser.add_argument("--steps", type=int, default=int(os.environ.get("CSA_GPU_CHECK_STEPS", 300)), help="paper-profile steps")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("CSA_GPU_CHECK_SECONDS", 180)),
                        help="time budget of the paper-profile steps: stop (and measure what ran) after it")
    args = parser.parse_args(argv)
    import torch
    dry_run = args.cpu_dry_run
    device = "cpu" if dry_run else "cuda"
    steps = 6 if dry_run else args.steps
    vgg = os.environ.get("CSA_VGG_WEIGHTS", "random")
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = Path(tmp)
        amp = amp_check(work, device, dry_run)
        seconds, peak, done, checkpoint = paper_steps(work, device, steps, vgg, dry_run, args.seconds)
        inference = inference_seconds(checkpoint, device, repeats=3 if dry_run else 20)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    note = "cpu dry run (64 px, width 8): measures nothing" if dry_run else ""
    if done < steps:
        note = (note + "; " if note else "") + f"stopped after {args.seconds:.0f} s"
    row = (f"| {now} | {device_name(device)} | {torch.__version__} / {torch.version.cuda or 'none'} | {args.tests} | {amp} | "
           f"{seconds:.3f} | {peak:.0f} | {inference:.3f} | {done} | {vgg} | {note} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        out.write_text(HEADER.format(steps=args.steps), encoding="utf-8")
    with open(out, "a", encoding="utf-8") as file:
        file.write(row + "\n")
    print(f"paper profile: {seconds:.3f} s/step, peak memory {peak:.0f} MB; inference {inference:.3f} s per image")
    print(f"wrote a row to {out}:\n{row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
