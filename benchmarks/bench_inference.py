"""Inference speed: the full CSA model at 256 px on this machine's CPU, and `csa-inpaint` end to end.

    OMP_NUM_THREADS=2 python benchmarks/bench_inference.py            # writes reports/benchmarks/inference.md
    python benchmarks/bench_inference.py --device cuda --out reports/benchmarks/inference_cuda.md

1. The paper's full generator (profile `paper`: 256 px, width 64, CSA at the 3rd down-sampling), random
   weights (speed does not depend on the weights), one image with the paper's centre hole (128 x 128):
   median seconds per image over `--repeats` runs after one warm-up, and the share of the CSA layer.
   The paper reports 0.82 s per image on a GPU (Sec. 4, model and GPU unnamed).
2. `csa-inpaint IMAGE MASK -o OUT` as a user runs it (a fresh interpreter: start-up, imports, checkpoint
   load, inference, PNG write) on a real photograph (scikit-image's `astronaut`, 256 x 256) with the
   shipped checkpoint; when the package ships none, an untrained `cpu`-profile checkpoint of the same
   architecture stands in (same cost), and the report says so. Target: under 2 s on 2 CPU cores.
"""
import argparse
import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from csa_nb.config import config_to_dict, make_config  # noqa: E402
from csa_nb.masks import center_mask  # noqa: E402
from csa_nb.networks import CSAGenerator  # noqa: E402

PAPER_SECONDS = 0.82


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_full_model(device: torch.device, repeats: int) -> dict:
    "Median seconds per 256 px image of the paper's generator, and of its CSA layer."
    config = make_config("paper")
    torch.manual_seed(0)
    generator = CSAGenerator(config.model, config.data.image_size).to(device).eval()
    image = (torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
    mask = torch.as_tensor(np.asarray(center_mask(256), np.float32)).reshape(1, 1, 256, 256).to(device)
    middle_times = []

    def start(module, inputs):
        synchronize(device)
        middle_times.append(-time.perf_counter())

    def stop(module, inputs, output):
        synchronize(device)
        middle_times[-1] += time.perf_counter()

    middle = generator.refinement.middle
    middle.register_forward_pre_hook(start)
    middle.register_forward_hook(stop)
    totals, cpu_seconds = [], []
    with torch.no_grad():
        for _ in range(repeats + 1):
            synchronize(device)
            begin, begin_cpu = time.perf_counter(), time.process_time()
            generator(image, mask)
            synchronize(device)
            totals.append(time.perf_counter() - begin)
            cpu_seconds.append(time.process_time() - begin_cpu)
    parameters = sum(p.numel() for p in generator.parameters())
    return {"total": statistics.median(totals[1:]), "middle": statistics.median(middle_times[1:]),
            "cpu": statistics.median(cpu_seconds[1:]), "runs": totals[1:], "parameters": parameters}


def shipped_or_stand_in(folder: Path) -> tuple[Path, str]:
    "The shipped checkpoint, or an untrained cpu-profile checkpoint in the trainer's format."
    from csa_nb.inference import DEFAULT_CHECKPOINT
    if DEFAULT_CHECKPOINT.is_file():
        return DEFAULT_CHECKPOINT, f"the shipped checkpoint `{DEFAULT_CHECKPOINT.relative_to(ROOT)}`"
    from csa_nb import train
    from csa_nb.networks import build_model
    config = make_config("cpu")
    torch.manual_seed(0)
    model = build_model(config)
    checkpoint = {"format": train.CHECKPOINT_FORMAT, "config": config_to_dict(config), "step": 0,
                  "model": model.state_dict(), "optimizers": {}, "rng": {}, "vgg_weights": "random"}
    path = train.save_checkpoint(checkpoint, folder / "cpu_untrained.pt")
    return path, "an untrained `cpu`-profile checkpoint (no shipped checkpoint in this build; same architecture, same cost)"


def time_cli(threads: int, repeats: int) -> dict:
    "Wall seconds of `csa-inpaint` on a 256 px photograph, in a fresh interpreter each run."
    from skimage import data
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        Image.fromarray(data.astronaut()).resize((256, 256), Image.LANCZOS).save(folder / "astronaut.png")
        Image.fromarray((np.asarray(center_mask(256), np.float32).reshape(256, 256) * 255).astype(np.uint8)).save(folder / "mask.png")
        checkpoint, description = shipped_or_stand_in(folder)
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        command = [sys.executable, "-c", "import sys; from csa_nb.inference import main; sys.exit(main())",
                   str(folder / "astronaut.png"), str(folder / "mask.png"), "-o", str(folder / "out.png"),
                   "--checkpoint", str(checkpoint), "--device", "cpu"]
        runs, cpu_runs = [], []
        for _ in range(repeats + 1):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            begin = time.perf_counter()
            subprocess.run(command, check=True, env=env, capture_output=True)
            runs.append(time.perf_counter() - begin)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_runs.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        def interpreter(code):
            times = []
            for _ in range(repeats):
                begin = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, env=env)
                times.append(time.perf_counter() - begin)
            return statistics.median(times)

        torch_import, package_import = interpreter("import torch"), interpreter("import csa_nb.inference")
        from csa_nb import inference
        inference._MODEL_CACHE.clear()
        begin = time.perf_counter()
        inference.load_inpainting_model(checkpoint, "cpu")
        load = time.perf_counter() - begin
        photo, mask = Image.open(folder / "astronaut.png"), Image.open(folder / "mask.png")
        inpaint_runs = []
        for _ in range(repeats + 1):
            begin = time.perf_counter()
            inference.inpaint(photo, mask, checkpoint, device="cpu")
            inpaint_runs.append(time.perf_counter() - begin)
    return {"total": statistics.median(runs[1:]), "runs": runs[1:], "cpu": statistics.median(cpu_runs[1:]),
            "torch_import": torch_import,
            "package_import": package_import, "load": load, "inpaint": statistics.median(inpaint_runs[1:]),
            "checkpoint": description}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the project's machine has 2 cores)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up")
    parser.add_argument("--skip-cli", action="store_true", help="only time the full model")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "inference.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {args.threads} torch threads"

    model = time_full_model(device, args.repeats)
    lines = [
        "# Inference speed",
        "",
        f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/bench_inference.py` on "
        f"{where} (torch {torch.__version__}, Python {platform.python_version()}; 1-minute load average {load:.1f} "
        f"on {os.cpu_count()} cores at the start: the machine is shared, so times are upper bounds).",
        "",
        "## The paper's full model at 256 x 256",
        "",
        f"Generator of the `paper` profile (width 64, CSA at the 3rd down-sampling on a 32 x 32 map, "
        f"{model['parameters'] / 1e6:.1f} M parameters, random weights), one image, centre hole of 128 x 128, "
        f"median of {args.repeats} runs after a warm-up.",
        "",
        "| device | seconds per image (wall) | CPU seconds of the process | of which the CSA layer (wall) | paper (GPU) | ratio to the paper |",
        "|---|---:|---:|---:|---:|---:|",
        f"| {device.type} | {model['total']:.2f} | {model['cpu']:.2f} | {model['middle']:.2f} "
        f"({100 * model['middle'] / model['total']:.0f} %) | {PAPER_SECONDS:.2f} | {model['total'] / PAPER_SECONDS:.1f}x |",
        "",
        f"Wall-clock runs: {', '.join(f'{t:.2f}' for t in model['runs'])} s. On a CPU shared with other jobs the wall time "
        f"exceeds what the model needs; CPU seconds / {args.threads} threads ({model['cpu'] / args.threads:.2f} s) is a rough "
        "estimate of the wall time on an idle machine. The paper's 0.82 s is for an unnamed GPU: the comparison is across hardware "
        "and only says how far this CPU is from the paper's figure.",
    ]
    if not args.skip_cli:
        cli = time_cli(args.threads, args.repeats)
        verdict = "meets" if cli["total"] < 2 else "misses"
        lines += [
            "",
            "## `csa-inpaint` on a 256 px photograph",
            "",
            f"`csa-inpaint astronaut.png mask.png -o out.png --checkpoint CKPT --device cpu` with {cli['checkpoint']}, "
            f"scikit-image's `astronaut` resized to 256 x 256, centre hole, {args.threads} threads, a fresh interpreter "
            f"each run (start-up, imports, checkpoint load, inference, PNG write), median of {args.repeats} runs after a warm-up.",
            "",
            "| step | seconds |",
            "|---|---:|",
            f"| whole command | {cli['total']:.2f} |",
            f"| whole command, CPU seconds (user + system) | {cli['cpu']:.2f} |",
            f"| a fresh interpreter running only `import torch` | {cli['torch_import']:.2f} |",
            f"| a fresh interpreter running `import csa_nb.inference` (torch included) | {cli['package_import']:.2f} |",
            f"| in-process: loading the checkpoint (generator only) | {cli['load']:.2f} |",
            f"| in-process: `inpaint` of the 256 px photograph, model loaded | {cli['inpaint']:.2f} |",
            "",
            f"Whole-command runs: {', '.join(f'{t:.2f}' for t in cli['runs'])} s. Target under 2 s on 2 CPU cores: the "
            f"measurement {verdict} it{' (on a shared, loaded machine)' if load > 2 else ''}. The interpreter start-up with "
            "`import torch` is a floor no code in this package can lower; the CPU seconds of the whole command (mostly "
            "single-threaded start-up) are close to what an idle machine would take.",
        ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
