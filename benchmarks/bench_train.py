"""Training speed and memory of the trainer at the smoke, cpu and paper model sizes, on this machine.

    python benchmarks/bench_train.py                      # smoke, cpu, paper on the default device -> reports/benchmarks/train.md
    python benchmarks/bench_train.py --profiles cpu --steps 20 --models csa ca shift pconv gated
    python benchmarks/bench_train.py --full-cpu-run       # also time one whole cpu-profile run (long: the integrator schedules it)

Each measurement runs `csa_nb.train.train` in a fresh process (so peak memory is that run's own), with sample grids,
validation and intermediate checkpoints off, and reads images/s and peak memory from the run's `log.csv`. The first
`--warmup` steps are left out of the speed. The `paper` profile uses a seeded random VGG16 here unless the ImageNet file
is present (speed does not depend on the weights). Timing targets are reported, never asserted.
"""
import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "benchmarks" / "train.md"
RESULTS = ROOT / "reports" / "benchmarks" / "train.json"  # every measurement so far, one per (profile, model, device, threads)


def worker(profile: str, model: str, steps: int, out: str, device: str, threads: int, overrides: str):
    "Run in a child process: train `steps` steps of `profile` and exit."
    sys.path.insert(0, str(ROOT))
    from csa_nb.config import make_config
    from csa_nb.vgg import vgg16_imagenet_path
    extra = json.loads(overrides)
    train_settings = {"steps": steps, "checkpoint_every": 0, "sample_every": 0, "val_every": 0, "log_every": 1, "device": device}
    if threads: train_settings["threads"] = threads
    config = make_config(profile, {"model": {"name": model}, "train": train_settings, **extra})
    if config.loss.vgg_weights == "imagenet" and not vgg16_imagenet_path().is_file():
        config.loss.vgg_weights = "random"
    from csa_nb.train import train
    train(config, out, progress=False)


def measure(profile: str, model: str, steps: int, warmup: int, device: str, threads: int, overrides: dict) -> dict:
    "Train in a fresh process; images/s (median after warm-up) and peak memory from log.csv."
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        started = time.perf_counter()
        result = subprocess.run([sys.executable, __file__, "--worker", profile, model, str(steps), str(out), device, str(threads),
                                 json.dumps(overrides)], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        wall = time.perf_counter() - started
        if result.returncode:
            return {"profile": profile, "model": model, "device": device, "threads": threads,
                    "error": (result.stderr.strip().splitlines() or ["?"])[-1]}
        rows = list(csv.DictReader(open(out / "log.csv")))
        run = json.loads((out / "run.json").read_text())["sessions"][0]
        config = json.loads(json.dumps(__import__("yaml").safe_load((out / "config.yaml").read_text())))
    timed = rows[warmup:] or rows
    speed = statistics.median(float(r["images_per_s"]) for r in timed)
    cpu = statistics.median(float(r["cpu_s_per_step"]) for r in timed)
    batch = config["train"]["batch_size"]
    return {"profile": profile, "model": model, "image_size": config["data"]["image_size"], "width": config["model"]["width"],
            "batch": batch, "device": run["device"], "threads": run["threads"], "images_per_s": speed,
            "seconds_per_step": batch / speed, "cpu_seconds_per_step": cpu, "peak_memory_mb": float(rows[-1]["peak_memory_mb"]),
            "measured_steps": len(timed), "process_wall_s": wall, "measured": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")}


def full_run(model: str, device: str) -> dict:
    "Time one whole cpu-profile run through the command line."
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "csa_nb.train", "--profile", "cpu", "--model", model, "--device", device,
                                 "--no-progress", "--out", str(Path(folder) / "run")], env=dict(os.environ, PYTHONPATH=str(ROOT)))
        return {"model": model, "seconds": time.perf_counter() - started, "ok": result.returncode == 0}


def machine() -> str:
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu}; torch {torch.__version__}; "
            f"load average {load:.1f} when this report was written")


def merged(results: list[dict]) -> list[dict]:
    "The stored measurements updated with `results` (a new measurement replaces the old one of the same setting)."
    key = lambda r: (r["profile"], r["model"], r.get("device", "?"), r.get("threads", 0))
    stored = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    table = {key(r): r for r in stored + results}
    order = {"smoke": 0, "cpu": 1, "paper": 2}
    rows = sorted(table.values(), key=lambda r: (order.get(r["profile"], 9), r["model"] != "csa", r["model"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    return rows


def write_report(results: list[dict], full: list[dict], args) -> Path:
    from csa_nb.config import make_config
    results = merged(results)
    lines = ["# Training speed (csa_nb.train)", "",
             f"Measured by `benchmarks/bench_train.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {machine()}.",
             f"Each row trains a few steps (`--steps`, here {args.steps}) in a fresh process (median images/s after the warm-up steps; "
             "sample grids, validation and intermediate checkpoints off). Peak memory: CUDA memory allocated by torch, or the "
             "process's peak resident size on CPU (torch itself takes ~0.5 GB). One step = one discriminator step + one generator step.",
             "`CPU s/step` is the process's CPU time per step: on a shared machine it is the steadier number (with one thread it is "
             "the wall time the step would take on an idle core); the estimate for the profile's steps uses it when the device is the CPU.",
             "`measured`: when the row was measured (UTC) and the machine's 1-minute load average then (rows measured by different "
             "runs of this script are kept, each with its own time; blank for rows older than this column).",
             "", "| profile | model | size | width | batch | device | threads | wall s/step | images/s | CPU s/step | peak memory (MB) | profile's steps | est. time for them | measured |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['profile']} | {r['model']} | failed: {r['error']} |||||||||")
            continue
        total = make_config(r["profile"]).train.steps
        per_step = r["cpu_seconds_per_step"] / r["threads"] if r["device"] == "cpu" else r["seconds_per_step"]
        estimate = total * per_step
        lines.append(f"| {r['profile']} | {r['model']} | {r['image_size']} | {r['width']} | {r['batch']} | {r['device']} | {r['threads']} | "
                     f"{r['seconds_per_step']:.3f} | {r['images_per_s']:.2f} | {r['cpu_seconds_per_step']:.3f} | {r['peak_memory_mb']:.0f} | "
                     f"{total} | {estimate / 60:.1f} min | "
                     + (f"{r['measured']}, load {r['load_1min']:.1f}" if "measured" in r else "") + " |")
    if full:
        lines += ["", "Whole `cpu`-profile runs (`csa-train --profile cpu`, wall time including start-up, checkpoints and samples):", ""]
        lines += [f"- {f['model']}: {f['seconds'] / 60:.1f} min{'' if f['ok'] else ' (failed)'}" for f in full]
    lines += ["", "The `paper` profile is meant for a GPU; its CPU rows only show the scale. On the CPU the estimate is CPU seconds "
              "per step divided by the threads: the wall time on idle cores. With one thread that holds on a busy machine too; "
              "with 2 threads only on an idle one (see the load): on a busy 2-core machine 2 threads are slower than 1, so use "
              "`--set train.threads=1` there. The wall-clock columns move with the load; rerun before comparing."]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    return REPORT


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        profile, model, steps, out, device, threads, overrides = sys.argv[2:9]
        return worker(profile, model, int(steps), out, device, int(threads), overrides)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["smoke", "cpu", "paper"])
    parser.add_argument("--models", nargs="+", default=["csa"], help="csa ca shift pconv gated")
    parser.add_argument("--steps", type=int, default=12, help="steps per measurement (paper on CPU: fewer are used)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the profile's own setting)")
    parser.add_argument("--full-cpu-run", action="store_true", help="also time one whole cpu-profile run")
    args = parser.parse_args()
    import torch
    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    results = []
    for model in args.models:
        for profile in args.profiles:
            steps = args.steps if (profile != "paper" or on_gpu) else min(args.steps, args.warmup + 3)
            result = measure(profile, model, steps, args.warmup, args.device, args.threads, {})
            print(json.dumps(result), flush=True)
            results.append(result)
    full = [full_run(model, args.device) for model in args.models] if args.full_cpu_run else []
    print(f"wrote {write_report(results, full, args)}")


if __name__ == "__main__":
    main()
