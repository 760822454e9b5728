"""Training speed and memory of the trainer, fp32 and `train.precision=auto` side by side, per configuration and model.

    python benchmarks/bench_train.py                                   # cpu + cpu-256, csa, fp32 and auto -> reports/benchmarks/train.md
    python benchmarks/bench_train.py --configs cpu --models csa ca shift pconv gated --repeats 3
    python benchmarks/bench_train.py --configs smoke cpu paper --precisions fp32
    python benchmarks/bench_train.py --breakdown                       # also the torch.profiler breakdown of one cpu-profile csa step
    python benchmarks/bench_train.py --full-cpu-run                    # also time one whole cpu-profile run (long)

Configurations: the profiles `smoke`, `cpu`, `paper`, and `cpu-256`, the recipe of the shipped 256 px model (profile `cpu`
with `data.image_size=256 model.hole_fill=harmonic model.residual=true`; `cpu-256-warmup` is the same during its
reconstruction-only warm-up, `train.warmup_steps`). Each measurement runs `csa_nb.train.train` in a fresh process (so the
peak memory, the process's peak resident set size, is that run's own), with sample grids, validation and intermediate
checkpoints off and a log row per step, and reads images/s, CPU time and peak memory from the run's `log.csv` and what the
precision resolved to from its `run.json`. The first `--warmup` steps are left out. On a shared machine the wall clock
moves with the load, so every row gives the best step (the closest to an idle machine) and the median, best over
`--repeats` fresh processes, and the 1-minute load average before and after; fp32 and auto alternate so both see the
same load. Timing targets are reported, never asserted.
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
RESULTS = ROOT / "reports" / "benchmarks" / "train.json"  # every measurement so far, one per (config, model, precision, threads, CPU)
BREAKDOWN = ROOT / "reports" / "benchmarks" / "train_breakdown.json"  # the latest profiler breakdown (--breakdown)
SHIPPED_256 = {"data": {"image_size": 256}, "model": {"hole_fill": "harmonic", "residual": True}}
CONFIGURATIONS = {  # name -> (profile, overrides)
    "smoke": ("smoke", {}),
    "cpu": ("cpu", {}),
    "cpu-256": ("cpu", SHIPPED_256),
    "cpu-256-warmup": ("cpu", {**SHIPPED_256, "train": {"warmup_steps": 10**6}}),
    "paper": ("paper", {}),
}
TARGET = 2.5  # issue 14: auto >= 2.5x fp32 images/s, cpu-profile csa, 2 threads


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def experiment(config_name: str, model: str, steps: int, device: str, threads: int, precision: str):
    "The config of one measurement."
    sys.path.insert(0, str(ROOT))
    from csa_nb.config import apply_overrides, make_config
    from csa_nb.vgg import vgg16_imagenet_path
    profile, overrides = CONFIGURATIONS[config_name]
    settings = {"steps": steps, "checkpoint_every": 0, "sample_every": 0, "val_every": 0, "log_every": 1, "device": device,
                "precision": precision}
    if threads: settings["threads"] = threads
    config = apply_overrides(make_config(profile, overrides), {"model": {"name": model}, "train": settings})
    if config.loss.vgg_weights == "imagenet" and not vgg16_imagenet_path().is_file():
        config.loss.vgg_weights = "random"  # speed does not depend on the weights
    return config


def worker(config_name: str, model: str, steps: int, out: str, device: str, threads: int, precision: str):
    "Run in a child process: train `steps` steps and exit."
    from csa_nb.train import train
    train(experiment(config_name, model, steps, device, threads, precision), out, progress=False)


def measure(config_name: str, model: str, steps: int, warmup: int, device: str, threads: int, precision: str) -> dict:
    "Train in a fresh process; images/s (best and median step after the warm-up), CPU s/step and peak memory from log.csv."
    before = load_average()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        started = time.perf_counter()
        result = subprocess.run([sys.executable, __file__, "--worker", config_name, model, str(steps), str(out), device, str(threads),
                                 precision], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        wall = time.perf_counter() - started
        key = {"config": config_name, "model": model, "precision": precision, "device": device, "threads": threads, "cpu": cpu_name()}
        if result.returncode:
            return {**key, "error": (result.stderr.strip().splitlines() or ["?"])[-1]}
        rows = list(csv.DictReader(open(out / "log.csv")))
        session = json.loads((out / "run.json").read_text())["sessions"][0]
        config = __import__("yaml").safe_load((out / "config.yaml").read_text())
    timed = rows[warmup:] or rows
    speeds = [float(r["images_per_s"]) for r in timed]
    batch = config["train"]["batch_size"]
    return {**key, "threads": session["threads"], "ran_as": session["precision"] + (" + channels-last" if session["channels_last"] else ""),
            "image_size": config["data"]["image_size"], "width": config["model"]["width"], "batch": batch,
            "images_per_s": max(speeds), "images_per_s_median": statistics.median(speeds),
            "cpu_seconds_per_step": statistics.median(float(r["cpu_s_per_step"]) for r in timed),
            "cpu_seconds_per_step_min": min(float(r["cpu_s_per_step"]) for r in timed),
            "peak_memory_mb": float(rows[-1]["peak_memory_mb"]), "measured_steps": len(timed), "process_wall_s": wall,
            "measured": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "load_1min": before, "load_after": load_average(),
            "torch": session["torch"]}


def best_of(measurements: list[dict]) -> dict:
    "The measurement with the highest images/s (errors only when every try failed)."
    good = [m for m in measurements if "error" not in m]
    if not good: return measurements[-1]
    best = max(good, key=lambda m: m["images_per_s"])
    return {**best, "repeats": len(good), "cpu_seconds_per_step_min": min(m["cpu_seconds_per_step_min"] for m in good)}


def full_run(model: str, device: str) -> dict:
    "Time one whole cpu-profile run through the command line."
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "csa_nb.train", "--profile", "cpu", "--model", model, "--device", device,
                                 "--no-progress", "--out", str(Path(folder) / "run")], env=dict(os.environ, PYTHONPATH=str(ROOT)))
        return {"model": model, "seconds": time.perf_counter() - started, "ok": result.returncode == 0}


# ---------------------------------------------------------------- where the time goes
CATEGORIES = [  # (category, op-name fragments), first match wins; `aten::` names from torch.profiler
    ("convolution, backward", ("convolution_backward", "ConvolutionBackward")),
    ("convolution, forward", ("mkldnn_convolution", "_convolution", "conv_transpose", "aten::convolution", "aten::conv2d")),
    ("layout and dtype copies", ("aten::copy_", "aten::_to_copy", "aten::contiguous", "aten::clone", "aten::to", "ToCopyBackward")),
    ("activations, forward and backward", ("relu", "threshold", "clamp_min", "leaky_relu", "tanh")),
    ("normalisation", ("batch_norm", "instance_norm")),
    ("optimiser (Adam)", ("Optimizer.step", "aten::sqrt", "addcdiv", "lerp", "aten::mul_", "aten::add_", "_foreach")),
    ("CSA layer (NumPy kernels)", ("_ConstantAttention", "_Generate", "_Search", "_Assemble", "CoherentSemantic")),
    ("pooling (VGG)", ("pool",)),
]


def breakdown_worker(config_name: str, model: str, precision: str, threads: int, steps: int) -> dict:
    "Run in a child process: profile `steps` training steps (after two unprofiled ones); CPU ms per step by op and by category."
    import torch
    from torch.profiler import ProfilerActivity, profile
    from csa_nb.train import StepParts, build_parts, make_optimizers, resolve_precision, seed_everything, training_step
    config = experiment(config_name, model, 1, "cpu", threads, precision)
    torch.set_num_threads(config.train.threads or torch.get_num_threads())
    seed_everything(0)
    model, dataset, masks = build_parts(config)
    chosen = resolve_precision(precision, torch.device("cpu"))
    if chosen.channels_last: model.to(memory_format=torch.channels_last)
    generator_optimizer, discriminator_optimizer, discriminator_parameters = make_optimizers(model, config)
    parts = StepParts(model, model.generator, None, generator_optimizer, discriminator_optimizer, discriminator_parameters,
                      autocast_dtype=chosen.autocast_dtype, warmup_steps=config.train.warmup_steps)
    batch = config.train.batch_size
    images, holes = torch.stack([dataset[i] for i in range(batch)]), masks.sample(batch).float()
    if chosen.channels_last:
        images, holes = images.contiguous(memory_format=torch.channels_last), holes.contiguous(memory_format=torch.channels_last)
    for step in range(2): training_step(parts, images, holes, 10**6)
    cpu = []
    for step in range(3):
        begin = time.process_time(); training_step(parts, images, holes, 10**6); cpu.append(time.process_time() - begin)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for step in range(steps): training_step(parts, images, holes, 10**6)
    ops = {event.key: event.self_cpu_time_total / 1e3 / steps for event in profiler.key_averages()}
    categories = {}
    for name, ms in ops.items():
        category = next((c for c, fragments in CATEGORIES if any(f in name for f in fragments)), "everything else")
        categories[category] = categories.get(category, 0.0) + ms
    return {"precision": precision, "ran_as": chosen.name, "ops": ops, "categories": categories, "total_ms": sum(ops.values()),
            "unprofiled_cpu_s": min(cpu), "threads": torch.get_num_threads(), "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_1min": load_average(), "config": config_name, "model": config.model.name}


def breakdown(config_name: str, model: str, threads: int, steps: int) -> list[dict]:
    "The profiler breakdown of fp32 and auto, each in a fresh process."
    results = []
    for precision in ("fp32", "auto"):
        result = subprocess.run([sys.executable, __file__, "--breakdown-worker", config_name, model, precision, str(threads), str(steps)],
                                capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if result.returncode: raise RuntimeError(result.stderr[-3000:])
        results.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return results


def breakdown_lines(results: list[dict]) -> list[str]:
    fp32, auto = results
    config_name, model = fp32["config"], fp32["model"]
    order = sorted(set(fp32["categories"]) | set(auto["categories"]), key=lambda c: -fp32["categories"].get(c, 0))
    what = "one generator step on the reconstruction loss" if config_name.endswith("warmup") else "one discriminator + one generator step"
    lines = ["", f"### Where the time goes: one `{config_name}` {model} step, fp32 against auto ({auto['ran_as']})", "",
             f"torch.profiler, self CPU time per training step ({what}, batch of the profile), "
             f"{fp32['threads']} thread(s), mean of the profiled steps after two warm-up steps; measured "
             f"{fp32['measured']} and {auto['measured']}, load {fp32['load_1min']:.1f} and {auto['load_1min']:.1f}. The profiler adds its own cost per "
             f"operation; unprofiled, the step took {fp32['unprofiled_cpu_s']:.3f} CPU s in fp32 and {auto['unprofiled_cpu_s']:.3f} "
             f"in auto ({fp32['unprofiled_cpu_s'] / auto['unprofiled_cpu_s']:.2f}x), best of 3.", "",
             "| category | fp32 ms | auto ms | fp32 / auto | share of the auto step |", "|---|---:|---:|---:|---:|"]
    for category in order:
        a, b = fp32["categories"].get(category, 0.0), auto["categories"].get(category, 0.0)
        lines.append(f"| {category} | {a:.0f} | {b:.0f} | {a / b if b else float('inf'):.2f} | {100 * b / auto['total_ms']:.0f} % |")
    lines.append(f"| **total** | {fp32['total_ms']:.0f} | {auto['total_ms']:.0f} | {fp32['total_ms'] / auto['total_ms']:.2f} | 100 % |")
    top = sorted(auto["ops"].items(), key=lambda kv: -kv[1])[:12]
    lines += ["", "The twelve largest operations of the auto step (self CPU ms per step; the same operation in fp32 beside it):", "",
              "| operation | auto ms | fp32 ms |", "|---|---:|---:|"]
    lines += [f"| `{name}` | {ms:.1f} | {fp32['ops'].get(name, 0.0):.1f} |" for name, ms in top]
    return lines


# ---------------------------------------------------------------- the report
def merged(results: list[dict]) -> list[dict]:
    "The stored measurements updated with `results` (a new measurement replaces the old one of the same setting)."
    key = lambda r: (r.get("config", r["profile"] if "profile" in r else "?"), r["model"], r.get("precision", "fp32 (before issue 14)"),
                     r.get("device", "?"), r.get("threads", 0), r.get("cpu", "?"))
    stored = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    table = {key(r): r for r in stored + results}
    order = {name: i for i, name in enumerate(CONFIGURATIONS)}
    rows = sorted(table.values(), key=lambda r: (order.get(r.get("config", r.get("profile")), 9), r["model"] != "csa", r["model"],
                                                 r.get("threads", 0), r.get("precision", "") != "fp32"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    return rows


def precision_table(rows: list[dict]) -> list[str]:
    "fp32 and auto side by side, with auto's speed-up over the fp32 row of the same setting."
    fp32 = {(r["config"], r["model"], r["threads"], r["device"]): r for r in rows if r.get("precision") == "fp32" and "error" not in r}
    lines = ["| config | model | size | width | batch | threads | precision (ran as) | images/s best | images/s median | auto / fp32 (best) "
             "| CPU s/step | fp32 / auto CPU time | peak RSS (MB) | measured (UTC), load before / after |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['config']} | {r['model']} | | | | {r['threads']} | {r['precision']} | failed: {r['error']} ||||||")
            continue
        base = fp32.get((r["config"], r["model"], r["threads"], r["device"]))
        speedup = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base and r["precision"] != "fp32" else ""
        cpu_ratio = f"{base['cpu_seconds_per_step'] / r['cpu_seconds_per_step']:.2f}x" if base and r["precision"] != "fp32" else ""
        lines.append(f"| {r['config']} | {r['model']} | {r['image_size']} | {r['width']} | {r['batch']} | {r['threads']} | {r['precision']} "
                     f"({r['ran_as']}) | {r['images_per_s']:.2f} | {r['images_per_s_median']:.2f} | {speedup} | "
                     f"{r['cpu_seconds_per_step']:.3f} | {cpu_ratio} | {r['peak_memory_mb']:.0f} | {r['measured']}, load {r['load_1min']:.1f} / "
                     f"{r['load_after']:.1f} |")
    return lines


def shortfall_lines(results: list[dict]) -> list[str]:
    "Why auto stops where it does: Amdahl's law on the profiled step, with convolutions at most 2x faster in bf16 without AMX."
    fp32, auto = results
    conv = lambda r: sum(r["categories"].get(c, 0.0) for c in ("convolution, forward", "convolution, backward"))
    conv_fp32, conv_auto = conv(fp32), conv(auto)
    rest_fp32, rest_auto = fp32["total_ms"] - conv_fp32, auto["total_ms"] - conv_auto
    bound = fp32["total_ms"] / (conv_fp32 / 2 + rest_auto)
    budget = fp32["total_ms"] / TARGET - rest_auto
    needed = f"{conv_fp32 / budget:.1f}x faster" if budget > 0 else "faster than instantaneous (impossible)"
    ratio = lambda c: fp32["categories"].get(c, 0.0) / max(auto["categories"].get(c, 0.0), 1e-9)
    return ["", f"**Why auto stops short of {TARGET}x here.** This CPU has AVX512-BF16 but no AMX: its bf16 dot-product instruction "
            "does twice the multiply-adds of an fp32 FMA, so bf16 convolutions are at most about twice as fast as fp32 ones in the "
            "same layout (the channels-last layout that comes with auto adds a little on some layers, and fp32 could have that too; "
            "AMX tiles, on Intel Xeons since Sapphire Rapids, go far beyond; the issue's 2.5-3.2x came from such a machine). In the "
            f"profiled `{fp32['config']}` step convolutions take {100 * conv_fp32 / fp32['total_ms']:.0f} % of the fp32 time and run "
            f"{conv_fp32 / conv_auto:.2f}x faster in auto (forward {ratio('convolution, forward'):.2f}x, backward "
            f"{ratio('convolution, backward'):.2f}x), at that ceiling; the rest of the step (normalisation, activations, "
            f"Adam, layout and dtype copies, the CSA layer) takes {rest_fp32:.0f} ms in fp32 and {rest_auto:.0f} ms in auto. With "
            f"convolutions exactly 2x faster the step could gain at most {bound:.2f}x (profiled times); {TARGET}x would need "
            f"the convolutions {needed} with the rest as it is. Cheap fixes made here, each leaving fp32 bit for bit "
            "unchanged: instance norm that keeps channels-last tensors channels-last (`csa_nb.networks.InstanceNorm2d`, +7 % on "
            "the cpu-profile bf16 step), and the harmonic hole fill on an NCHW copy (the 256 px warm-up step: 1.07x -> 1.38x "
            "over fp32). Tried and dropped: channels-last inputs with NCHW weights (5 % slower), group norm as a channels-last "
            "instance norm (5x slower in bf16), float32 statistics by hand (slower)."]


def target_lines(rows: list[dict]) -> list[str]:
    "Issue 14's target: auto >= 2.5x fp32 images/s for the cpu-profile csa model on 2 threads."
    pick = {r["precision"]: r for r in rows if r.get("config") == "cpu" and r["model"] == "csa" and r.get("threads") == 2
            and r.get("cpu") == cpu_name() and "error" not in r}
    if not {"fp32", "auto"} <= set(pick): return []
    wall = pick["auto"]["images_per_s"] / pick["fp32"]["images_per_s"]
    cpu = pick["fp32"]["cpu_seconds_per_step"] / pick["auto"]["cpu_seconds_per_step"]
    verdict = "met" if wall >= TARGET else f"not met: {wall:.2f}x, {TARGET / wall:.2f}x short of the target"
    return ["", f"**Target (issue 14): auto >= {TARGET}x fp32 images/s, cpu profile, csa, 2 threads: {verdict}** (best steps; "
            f"{cpu:.2f}x in CPU time per step)."]


def write_report(results: list[dict], full: list[dict], args, extra_lines: list[str]) -> Path:
    rows = merged(results)
    current = [r for r in rows if "precision" in r and r.get("cpu") == cpu_name()]
    other = [r for r in rows if r not in current]
    import torch
    lines = ["# Training speed (csa_nb.train)", "",
             f"Written by `benchmarks/bench_train.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {cpu_name()}, "
             f"{os.cpu_count()} CPU cores, {'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}; "
             f"torch {torch.__version__}; bf16 natively: {'yes' if _bf16() else 'no'} (AVX512-BF16 / AMX-BF16).",
             "",
             "Each row trains a few steps in a fresh process (log row per step; sample grids, validation and intermediate "
             "checkpoints off) and is the best of its repeats. `images/s best` is the fastest step after the warm-up (the "
             "closest to an idle machine), `median` the typical one; `CPU s/step` is the process's median CPU time per step "
             "(all threads; steadier than the wall clock on a shared machine, though with 2 threads it includes OpenMP spinning). "
             "`precision (ran as)`: `train.precision` and what it resolved to. Peak RSS: the process's peak resident set size "
             "(torch itself takes ~0.5 GB). One step = one discriminator step + one generator step (only the generator's "
             "reconstruction step in `cpu-256-warmup`). `cpu-256` is the shipped 256 px model's recipe (`--profile cpu --set "
             "data.image_size=256 model.hole_fill=harmonic model.residual=true`). The machine is shared: each row says its "
             "1-minute load average before and after.",
             "", *precision_table(current), *target_lines(current), *extra_lines]
    if full:
        lines += ["", "Whole `cpu`-profile runs (`csa-train --profile cpu`, wall time including start-up, checkpoints and samples):", ""]
        lines += [f"- {f['model']}: {f['seconds'] / 60:.1f} min{'' if f['ok'] else ' (failed)'}" for f in full]
    if other:
        lines += ["", "<details><summary>Earlier measurements (fp32 only, before issue 14, or on another machine)</summary>", "",
                  "| profile | model | size | width | batch | device | threads | wall s/step | images/s | CPU s/step | peak memory (MB) | measured |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in other:
            if "error" in r: continue
            lines.append(f"| {r.get('config', r.get('profile'))} | {r['model']} | {r['image_size']} | {r['width']} | {r['batch']} | {r['device']} | "
                         f"{r['threads']} | {r.get('seconds_per_step', r['batch'] / r['images_per_s']):.3f} | {r['images_per_s']:.2f} | "
                         f"{r['cpu_seconds_per_step']:.3f} | {r['peak_memory_mb']:.0f} | "
                         + (f"{r['measured']}, load {r['load_1min']:.1f}" if "measured" in r else "") + " |")
        lines += ["", "</details>"]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    return REPORT


def _bf16() -> bool:
    sys.path.insert(0, str(ROOT))
    from csa_nb.train import cpu_supports_bf16
    return cpu_supports_bf16()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        config_name, model, steps, out, device, threads, precision = sys.argv[2:9]
        return worker(config_name, model, int(steps), out, device, int(threads), precision)
    if len(sys.argv) > 1 and sys.argv[1] == "--breakdown-worker":
        config_name, model, precision, threads, steps = sys.argv[2:7]
        print(json.dumps(breakdown_worker(config_name, model, precision, int(threads), int(steps))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", "--profiles", nargs="+", default=["cpu", "cpu-256"], choices=list(CONFIGURATIONS))
    parser.add_argument("--models", nargs="+", default=["csa"], help="csa ca shift pconv gated")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "auto"], help="train.precision values, side by side")
    parser.add_argument("--steps", type=int, default=8, help="steps per measurement (paper on CPU: fewer)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per row; the best is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the profile's own setting, 2 for cpu)")
    parser.add_argument("--breakdown", nargs="*", metavar="CONFIG", help="also profile one csa step of these configs (default: cpu), fp32 against auto")
    parser.add_argument("--breakdown-threads", type=int, default=1, help="threads of the profiled step (1: least disturbed by load)")
    parser.add_argument("--full-cpu-run", action="store_true", help="also time one whole cpu-profile run")
    parser.add_argument("--report-only", action="store_true", help="measure nothing: rewrite the report from the stored measurements")
    args = parser.parse_args()
    import torch
    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    results = []
    for config_name in ([] if args.report_only else args.configs):
        for model in args.models:
            steps = args.steps if (config_name != "paper" or on_gpu) else min(args.steps, args.warmup + 3)
            tries = {precision: [] for precision in args.precisions}
            for _ in range(args.repeats):
                for precision in args.precisions:  # alternate, so that both see the same load
                    tries[precision].append(measure(config_name, model, steps, args.warmup, args.device, args.threads, precision))
                    print(json.dumps(tries[precision][-1]), flush=True)
            results += [best_of(t) for t in tries.values()]
    stored = json.loads(BREAKDOWN.read_text()) if BREAKDOWN.is_file() else {}
    if isinstance(stored, list): stored = {stored[0]["config"]: stored}  # written by an earlier version: one config
    if args.breakdown is not None:
        for config_name in args.breakdown or ["cpu"]:
            stored[config_name] = breakdown(config_name, "csa", args.breakdown_threads, 3)
        BREAKDOWN.write_text(json.dumps(stored, indent=1))
    extra = [line for config_name in CONFIGURATIONS if config_name in stored for line in breakdown_lines(stored[config_name])]
    if "cpu" in stored: extra = shortfall_lines(stored["cpu"]) + extra
    full = [full_run(model, args.device) for model in args.models] if args.full_cpu_run else []
    print(f"wrote {write_report(results, full, args, extra)}")


if __name__ == "__main__":
    main()
