"""Speed of the CSA layer (issue 4) against the reference loop and a 3x3 512->512 convolution.

    OMP_NUM_THREADS=2 python benchmarks/bench_csa.py            # CPU (and CUDA when present), writes reports/benchmarks/csa.md
    python benchmarks/bench_csa.py --threads 1 --repeats 3 --no-reference
    python benchmarks/collect.py                                 # reports/benchmarks/*.md -> reports/benchmarks.md

Shape: the paper's CSA input at 256 px (C=512, 32x32 features), with the centring hole (16x16 at feature level)
and a ~50% irregular hole (csa_nb.masks.irregular_mask at 256 px, brought to 32x32 by feature_hole_mask),
batch 1 and 8. Every time is the minimum over `--repeats` calls after a warm-up (the machine may be shared:
the minimum is the least disturbed call; the load average is recorded beside the results).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from csa_nb.csa import CoherentSemanticAttention, csa_reference  # noqa: E402
from csa_nb.masks import center_mask, feature_hole_mask, irregular_mask  # noqa: E402

CHANNELS, SIZE, IMAGE_SIZE = 512, 32, 256
TARGETS = ("fast <= 1/2 conv (batch 1, centre, CPU)", "fast >= 5x faster than reference (batch 1, centre, CPU)",
           "batch 8 <= 8 x batch 1 (centre, CPU)")


def feature_masks(kind: str, batch: int) -> torch.Tensor:
    "(B, 1, 32, 32) float masks: the centring hole, or ~50% irregular holes (a different one per sample)."
    if kind == "centre":
        pixel = torch.from_numpy(center_mask(IMAGE_SIZE))[None, None].expand(batch, 1, -1, -1)
    else:
        pixel = torch.stack([torch.from_numpy(irregular_mask(IMAGE_SIZE, (0.45, 0.55), seed=sample))[None]
                             for sample in range(batch)])
    return feature_hole_mask(pixel, SIZE).float()


def synchronise(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(function, device, repeats: int, warm_up: bool = True) -> float:
    "Minimum wall time of `function()` in milliseconds over `repeats` calls, after one warm-up call."
    if warm_up:
        function()
        synchronise(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronise(device)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def stage_breakdown(layer, features, mask) -> dict[str, float]:
    "Self-contained profile of one no-grad call: milliseconds in the layer's search / generate / assemble stages."
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if features.is_cuda else [])
    with torch.no_grad():
        layer(features, mask)  # warm-up
        with profile(activities=activities) as prof:
            layer(features, mask)
    stages = {}
    for event in prof.key_averages():
        if event.key.startswith("csa."):
            stages[event.key] = event.cpu_time_total / 1e3
    return stages


def run_device(device: torch.device, repeats: int, with_reference: bool, reference_batches: tuple[int, ...]) -> tuple[list[dict], dict]:
    rows, stages = [], {}
    generator = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1).to(device)
    for kind in ("centre", "irregular"):
        for batch in (1, 8):
            features = torch.randn(batch, CHANNELS, SIZE, SIZE, generator=generator).relu().to(device)
            mask = feature_masks(kind, batch).to(device)
            row = {"device": device.type, "mask": kind, "batch": batch,
                   "hole": f"{mask.mean().item():.0%}"}
            with torch.no_grad():
                row["conv 3x3"] = best_time(lambda: conv(features), device, repeats)
                for similarity in ("paper", "official"):
                    layer = CoherentSemanticAttention(similarity)
                    row[f"fast {similarity}"] = best_time(lambda: layer(features, mask), device, repeats)
            for backward in ("official", "autograd"):
                layer = CoherentSemanticAttention("paper", backward)
                leaf = features.clone().requires_grad_(True)

                def forward_backward():
                    layer(leaf, mask).sum().backward()
                    leaf.grad = None

                row[f"fwd+bwd {backward}"] = best_time(forward_backward, device, max(1, repeats // 2))
            if with_reference and batch in reference_batches:
                with torch.no_grad():
                    row["reference"] = best_time(lambda: csa_reference(features, mask), device, 1, warm_up=False)
            if kind == "centre" and batch == 1:
                stages = stage_breakdown(CoherentSemanticAttention("paper"), features, mask)
            rows.append(row)
            print(row, flush=True)
    return rows, stages


def machine_description(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = f"{names[0]} ({len(names)} logical CPUs visible)" if names else cpu
    except OSError:
        pass
    text = f"{cpu}; torch {torch.__version__}; {threads} intra-op thread(s); Python {platform.python_version()}"
    if torch.cuda.is_available():
        text += f"; CUDA device: {torch.cuda.get_device_name(0)}"
    return text


def format_table(rows: list[dict]) -> str:
    columns = ["device", "mask", "hole", "batch", "conv 3x3", "fast paper", "fast official", "fwd+bwd official",
               "fwd+bwd autograd", "reference", "fast / conv", "reference / fast"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        row = dict(row)
        row["fast / conv"] = row["fast paper"] / row["conv 3x3"]
        if "reference" in row:
            row["reference / fast"] = row["reference"] / row["fast paper"]
        cells = []
        for column in columns:
            value = row.get(column, "")
            if isinstance(value, float):
                value = f"{value:.2f}" if column in ("fast / conv",) else f"{value:.1f}" if column == "reference / fast" else f"{value:.1f} ms"
            cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_targets(rows: list[dict]) -> list[str]:
    cpu = {(row["mask"], row["batch"]): row for row in rows if row["device"] == "cpu"}
    one, eight = cpu.get(("centre", 1)), cpu.get(("centre", 8))
    results = []
    if one:
        ratio = one["fast paper"] / one["conv 3x3"]
        results.append(f"- {TARGETS[0]}: {ratio:.3f} of the convolution: {'met' if ratio <= 0.5 else 'NOT met'}")
        if "reference" in one:
            speedup = one["reference"] / one["fast paper"]
            results.append(f"- {TARGETS[1]}: {speedup:.0f}x: {'met' if speedup >= 5 else 'NOT met'}")
    if one and eight:
        scale = eight["fast paper"] / one["fast paper"]
        results.append(f"- {TARGETS[2]}: batch 8 takes {scale:.2f}x batch 1: {'met' if scale <= 8 else 'NOT met'}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="intra-op CPU threads (2 = the target machine)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (the minimum is reported)")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference loop")
    parser.add_argument("--reference-batches", default="1,8", help="batch sizes at which to time the reference loop")
    parser.add_argument("--devices", default="cpu,cuda", help="devices to measure (cuda is skipped when absent)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "csa.md"), help="markdown section to write")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows, stages = [], {}
    for name in args.devices.split(","):
        if name == "cuda" and not torch.cuda.is_available():
            continue
        device_rows, device_stages = run_device(torch.device(name), args.repeats, not args.no_reference,
                                                tuple(int(b) for b in args.reference_batches.split(",")))
        rows += device_rows
        if name == "cpu":
            stages = device_stages
    load_after = os.getloadavg()

    stage_text = ", ".join(f"{name.split('.', 1)[1]} {ms:.1f} ms" for name, ms in sorted(stages.items()))
    text = f"""## CSA layer

Written by `benchmarks/bench_csa.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({time.perf_counter() - started:.0f} s).
Machine: {machine_description(args.threads)}.
Load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}; after: {', '.join(f'{x:.1f}' for x in load_after)}
(the machine is shared; every time is the minimum of {args.repeats} calls after a warm-up, the reference a single call).

Input: random non-negative features (post-ReLU-like), C={CHANNELS}, {SIZE}x{SIZE} (the paper's CSA layer at 256 px);
`centre` is the centring hole (16x16 at feature level), `irregular` is `irregular_mask(256, (0.45, 0.55), seed=b)`
brought to 32x32 by `feature_hole_mask` (one mask per sample). `conv 3x3` is `nn.Conv2d(512, 512, 3, padding=1)`
on the same tensor (the yardstick: the convolution next to CSA in the network). `fast paper` / `fast official`: the layer
without autograd (`torch.no_grad`); `fwd+bwd`: forward and backward (similarity `paper`) with each backward mode;
`reference`: `csa_reference`, the per-position Python loop (the test oracle).

{format_table(rows)}

Targets (issue 4):
{chr(10).join(check_targets(rows))}

Stages of one `fast paper` call (CPU, batch 1, centre; torch profiler): {stage_text or 'not measured'}.
"""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out}; run `python benchmarks/collect.py` to rebuild reports/benchmarks.md")


if __name__ == "__main__":
    main()
