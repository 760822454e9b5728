"""The training engine end to end, in real processes: SIGKILL mid-run + resume is bit-exact, 2-process DDP (gloo) keeps
identical replicas on the global batch, and the `csa-train` command line.

The stand-in model here (a small two-stage generator with a patch discriminator, the `InpaintingModel` interface) keeps the
engine's tests independent of the networks; the same checks run through `csa-train` on the real smoke model when
`csa_nb.networks`, `csa_nb.data` and `csa_nb.masks` are present.
"""
import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from csa_nb.config import make_config
from csa_nb.train import DataOrder, load_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _in_checkout(module: str) -> bool:
    "`module` exists in this checkout (not only in another install of csa_nb)."
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.origin is not None and Path(spec.origin).resolve().is_relative_to(ROOT)


REAL_PARTS = all(_in_checkout(f"csa_nb.{m}") for m in ("networks", "data", "masks", "csa_model"))
needs_real_parts = pytest.mark.skipif(not REAL_PARTS, reason="the CSA model, data or masks are not in this checkout yet")


# ---------------------------------------------------------------- stand-ins (the InpaintingModel interface)
@dataclass
class Output:
    rough: torch.Tensor
    refined: torch.Tensor
    composited: torch.Tensor


class Generator(nn.Module):
    def __init__(self, normalise=True):
        super().__init__()
        norm = nn.BatchNorm2d(8) if normalise else nn.Identity()
        self.rough_net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), norm, nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
        self.refine_net = nn.Sequential(nn.Conv2d(7, 8, 3, padding=1), nn.Dropout(0.2 if normalise else 0.0), nn.ReLU(),
                                        nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, image, mask):
        known = image * (1 - mask)
        rough = torch.tanh(self.rough_net(torch.cat([known, mask], 1)))
        refined = torch.tanh(self.refine_net(torch.cat([known, rough * mask, mask], 1)))
        return Output(rough, refined, known + refined * mask)


class PatchDiscriminator(nn.Sequential):
    input_layer = "image"

    def __init__(self):
        super().__init__(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 4, 2, 1))


class StandInModel(nn.Module):
    """L1 + LSGAN with one patch discriminator. `normalise=False` drops BatchNorm and dropout, so the loss is a plain
    mean over samples and a DDP run must match a one-process run on the same global batch."""
    def __init__(self, normalise=True):
        super().__init__()
        self.generator = Generator(normalise)
        self.discriminators = nn.ModuleDict({"patch": PatchDiscriminator()})

    def discriminator_loss(self, image, mask, output):
        d = self.discriminators["patch"]
        assert d.input_layer == "image"  # attributes of a discriminator stay reachable under DDP
        loss = ((d(image) - 1) ** 2).mean() + (d(output.composited) ** 2).mean()
        return loss, {"adversarial": loss.detach()}

    def generator_loss(self, image, mask, output):
        reconstruction = (output.rough - image).abs().mean() + (output.refined - image).abs().mean()
        adversarial = ((self.discriminators["patch"](output.composited) - 1) ** 2).mean()
        return reconstruction + 0.01 * adversarial, {"reconstruction": reconstruction.detach(), "adversarial": adversarial.detach()}


class StandInMasks:
    def __init__(self, size, seed=0):
        self.size, self.generator = size, torch.Generator().manual_seed(seed)

    def sample(self, batch_size):
        masks = torch.zeros(batch_size, 1, self.size, self.size)
        for m in masks:
            top, left = torch.randint(0, self.size // 2, (2,), generator=self.generator).tolist()
            m[:, top:top + self.size // 2, left:left + self.size // 2] = 1
        return masks

    def state_dict(self): return {"generator": self.generator.get_state()}
    def load_state_dict(self, state): self.generator.set_state(state["generator"])


class RecordingImages(torch.utils.data.Dataset):
    def __init__(self, count=12, size=16):
        g = torch.Generator().manual_seed(0)
        low = torch.rand(count, 3, 4, 4, generator=g) * 2 - 1
        self.images = list(nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False))
        self.seen = []

    def __len__(self): return len(self.images)
    def __getitem__(self, i):
        self.seen.append(int(i))
        return self.images[i]


def standin_config(**train):
    "Smoke settings at 16 px on one CPU thread (the same in the test process and in subprocesses, so runs can be compared bit for bit)."
    return make_config("smoke", {"data": {"image_size": 16}, "train": {"device": "cpu", "sample_every": 0, "threads": 1, **train}})


def standin_parts(normalise=True):
    torch.manual_seed(0)
    return dict(model=StandInModel(normalise), dataset=RecordingImages(), mask_sampler=StandInMasks(16))


# ---------------------------------------------------------------- helpers
WORKER = """
import json, os, sys, torch
sys.path.insert(0, {tests!r})
import test_train as t
from csa_nb.train import train
out, steps, resume, normalise, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume", sys.argv[4] == "1", int(sys.argv[5])
parts = t.standin_parts(normalise)
train(t.standin_config(steps=steps, checkpoint_every=10, batch_size=batch), out, resume=resume, progress=False, **parts)
rank = int(os.environ.get("RANK", "0"))
torch.save(parts["model"].state_dict(), os.path.join(out, f"rank{{rank}}.pt"))
json.dump(parts["dataset"].seen, open(os.path.join(out, f"seen{{rank}}.json"), "w"))
"""


def environment():
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture
def worker(tmp_path):
    path = tmp_path / "worker.py"
    path.write_text(WORKER.format(tests=str(TESTS)))
    return path


def run(command, timeout=120):
    command = [str(c) for c in command]
    result = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def torchrun(processes, *args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *map(str, args)]


def kill_after_first_checkpoint(command, run_dir, timeout=90):
    "Start `command`, SIGKILL it as soon as run_dir/last.pt exists; the process must not have finished by itself."
    process = subprocess.Popen([str(c) for c in command], env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not (run_dir / "last.pt").exists():
        assert process.poll() is None, f"run ended before its first checkpoint:\n{process.stderr.read()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed; lengthen it"
    return load_checkpoint(run_dir / "last.pt")  # whatever moment the kill hit, the checkpoint on disk is whole


def assert_same_tensors(a, b, where=""):
    "Every tensor in the nested structures `a` and `b` is bit-identical (torch.equal)."
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"tensors differ at {where}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"keys differ at {where}: {set(a) ^ set(b)}"
        for k in a: assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"lengths differ at {where}"
        for i, (x, y) in enumerate(zip(a, b)): assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"values differ at {where}: {a!r} vs {b!r}"


def assert_same_run(reference, resumed):
    assert reference["step"] == resumed["step"]
    assert_same_tensors(reference["model"], resumed["model"], "model")
    assert_same_tensors(reference["optimizers"], resumed["optimizers"], "optimizers")
    assert_same_tensors(reference["rng"], resumed["rng"], "rng")


# ---------------------------------------------------------------- kill -9 and resume
def test_sigkill_then_resume_is_bit_exact_standin(tmp_path, worker):
    "kill -9 after the first checkpoint, resume, SIGTERM, resume again: the same weights as one uninterrupted run."
    steps = 150
    reference = train(standin_config(steps=steps, checkpoint_every=10, batch_size=2), tmp_path / "reference", progress=False,
                      **standin_parts())
    killed = tmp_path / "killed"
    checkpoint = kill_after_first_checkpoint([sys.executable, worker, killed, steps, "fresh", 1, 2], killed)
    assert 0 < checkpoint["step"] < steps
    # resumed, then stopped politely: SIGTERM once the run has moved past its resume point -> checkpoint, exit
    process = subprocess.Popen([str(c) for c in [sys.executable, worker, killed, steps, "resume", 1, 2]], env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not any(int(r["step"]) > checkpoint["step"] for r in csv.DictReader(open(killed / "log.csv"))):
        assert process.poll() is None and time.monotonic() < deadline, "the resumed run did not get going"
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and "stopped by SIGTERM after step" in stderr, stderr[-2000:]
    stopped = load_checkpoint(killed / "last.pt")["step"]
    assert checkpoint["step"] < stopped < steps
    run([sys.executable, worker, killed, steps, "resume", 1, 2])
    assert_same_run(load_checkpoint(reference / "last.pt"), load_checkpoint(killed / "last.pt"))
    logged = [int(r["step"]) for r in csv.DictReader(open(killed / "log.csv"))]
    assert logged == list(range(1, steps + 1))  # rows logged after the checkpoint by the killed run were dropped
    sessions = json.loads((killed / "run.json").read_text())["sessions"]
    assert [s["from_step"] for s in sessions] == [0, checkpoint["step"], stopped]


def real_smoke_overrides(**train):
    return {"train": {"threads": 1, "sample_every": 0, **train}}


@needs_real_parts
def test_sigkill_then_resume_is_bit_exact_cli(tmp_path):
    "csa-train on the real smoke model: kill -9 after the first checkpoint, --resume, same weights as one uninterrupted run."
    steps = 8
    reference = train(make_config("smoke", real_smoke_overrides(steps=steps, checkpoint_every=2)), tmp_path / "reference", progress=False)
    cli = [sys.executable, "-m", "csa_nb.train", "--profile", "smoke", "--steps", steps, "--set", "train.checkpoint_every=2",
           "--set", "train.sample_every=0", "--set", "train.threads=1", "--no-progress", "--out", tmp_path / "killed"]
    checkpoint = kill_after_first_checkpoint(cli, tmp_path / "killed", timeout=300)
    assert 0 < checkpoint["step"] < steps
    run([*cli, "--resume"], timeout=300)
    assert_same_run(load_checkpoint(reference / "last.pt"), load_checkpoint(tmp_path / "killed" / "last.pt"))


# ---------------------------------------------------------------- DDP
def test_ddp_two_processes_standin(tmp_path, worker):
    "2 gloo processes: identical replicas, each step's global batch split in halves, same result as one process."
    steps, batch = 6, 4
    run(torchrun(2, worker, tmp_path / "ddp", steps, "fresh", 0, batch), timeout=180)
    parts = standin_parts(normalise=False)
    train(standin_config(steps=steps, checkpoint_every=10, batch_size=batch), tmp_path / "single", progress=False, **parts)
    single = parts["model"].state_dict()
    rank0, rank1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert_same_tensors(rank0, rank1, "replicas")
    assert_same_tensors(rank0, load_checkpoint(tmp_path / "ddp" / "last.pt")["model"], "checkpoint")

    seen = [json.loads((tmp_path / "ddp" / f"seen{r}.json").read_text())[4:] for r in (0, 1)]  # 4 preview reads first
    order = DataOrder(len(RecordingImages()), batch, seed=0)
    for step in range(steps):
        share0, share1 = seen[0][2 * step:2 * step + 2], seen[1][2 * step:2 * step + 2]
        assert share0 + share1 == order.batch(step), f"step {step}: the processes did not split the global batch"
    run_info = json.loads((tmp_path / "ddp" / "run.json").read_text())["sessions"][0]
    assert (run_info["processes"], run_info["global_batch"], run_info["per_process_batch"]) == (2, batch, batch // 2)
    assert int(list(csv.DictReader(open(tmp_path / "ddp" / "log.csv")))[-1]["images"]) == steps * batch

    # Without BatchNorm/dropout the loss is a mean over samples, so averaging two half-batch gradients (DDP) equals the
    # one-process gradient of the global batch: the weights agree up to float rounding, not to a different batch's update.
    torch.manual_seed(0)
    initial = StandInModel(normalise=False).state_dict()
    for name, value in single.items():
        moved = (value - initial[name]).abs().max()
        gap = (rank0[name] - value).abs().max()
        assert gap <= 1e-2 * moved + 1e-6, f"{name}: DDP and one-process runs differ by {gap:.2e} (moved {moved:.2e})"


@needs_real_parts
def test_ddp_two_processes_cli(tmp_path):
    "csa-train under torchrun on the real smoke model, then resumed under torchrun: global batch 4 = 2 x 2."
    out = tmp_path / "ddp"
    run(torchrun(2, "-m", "csa_nb.train", "--profile", "smoke", "--steps", "1", "--set", "train.batch_size=4",
                 "--set", "train.threads=1", "--no-progress", "--out", out), timeout=300)
    run(torchrun(2, "-m", "csa_nb.train", "--steps", "2", "--resume", "--no-progress", "--out", out), timeout=300)
    checkpoint = load_checkpoint(out / "last.pt")
    assert checkpoint["step"] == 2 and checkpoint["world_size"] == 2
    sessions = json.loads((out / "run.json").read_text())["sessions"]
    assert [(s["from_step"], s["processes"], s["global_batch"], s["per_process_batch"]) for s in sessions] == [(0, 2, 4, 2), (1, 2, 4, 2)]
    assert [int(r["images"]) for r in csv.DictReader(open(out / "log.csv"))] == [4, 8]


# ---------------------------------------------------------------- command line
def test_cli_refusals(tmp_path, capsys):
    "Bad command lines exit with status 1 and say what is wrong (in-process: main(argv))."
    from csa_nb.train import main
    for argv, message in [(["--out", tmp_path / "x"], "say what to train"),
                          (["--out", tmp_path / "x", "--resume"], "nothing to resume"),
                          (["--profile", "smoke", "--set", "train.bogus=1", "--out", tmp_path / "x"], "unknown config key 'train.bogus'"),
                          (["--profile", "smoke", "--set", "train.batch_size", "--out", tmp_path / "x"], "expected NAME=VALUE"),
                          (["--profile", "smoke", "--set", "train.precision=fp16", "--device", "cpu", "--out", tmp_path / "x"], "needs a CUDA device")]:
        assert main([str(a) for a in argv]) == 1
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--profile", "huge", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'huge'" in capsys.readouterr().err


@needs_real_parts
def test_cli_smoke_train_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    cli = [sys.executable, "-m", "csa_nb.train", "--profile", "smoke", "--no-progress", "--out", out]
    result = run(cli, timeout=300)
    assert "final weights in" in result.stdout
    assert {"config.yaml", "last.pt", "log.csv", "run.json", "samples"} <= {p.name for p in out.iterdir()}
    checkpoint = load_checkpoint(out / "last.pt")
    assert checkpoint["step"] == make_config("smoke").train.steps
    from csa_nb.train import main
    assert main([str(c) for c in cli[3:]]) == 1  # the same command again, in-process: refused, the run is kept
    assert "already holds a run" in capsys.readouterr().err
    run([*cli, "--resume", "--steps", "6"], timeout=300)
    assert load_checkpoint(out / "last.pt")["step"] == 6
    from csa_nb.train import load_model
    model, config = load_model(out / "last.pt")
    assert config.profile == "smoke" and not model.training


# ---------------------------------------------------------------- options that must not change the maths
def test_worker_processes_and_channels_last(tmp_path):
    "DataLoader workers give the same run as loading in the main process; channels-last trains to finite weights."
    results = {}
    for name, workers in [("main", 0), ("workers", 2)]:
        parts = standin_parts()
        config = standin_config(steps=4, batch_size=2)
        config.data.num_workers = workers
        train(config, tmp_path / name, progress=False, **parts)
        results[name] = load_checkpoint(tmp_path / name / "last.pt")
    assert_same_run(results["main"], results["workers"])
    train(standin_config(steps=2), tmp_path / "channels_last", progress=False, channels_last=True, **standin_parts())
    weights = load_checkpoint(tmp_path / "channels_last" / "last.pt")["model"]
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_resume_beyond_the_total_is_refused(tmp_path):
    train(standin_config(steps=4), tmp_path / "run", progress=False, **standin_parts())
    train(standin_config(steps=4), tmp_path / "run", resume=True, progress=False, **standin_parts())  # done already: no-op
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4
    with pytest.raises(ValueError, match="already at step 4, beyond train.steps 2"):
        train(standin_config(steps=2), tmp_path / "run", resume=True, progress=False, **standin_parts())


def test_mixed_precision_step_code_paths_on_cpu():
    "The AMP branches of a training step (bf16 autocast; fp16 with gradient scalers) run and update both networks (CPU autocast stands in for CUDA)."
    from csa_nb.train import StepParts, make_optimizers, training_step
    images = torch.stack(RecordingImages(count=2).images)
    masks = StandInMasks(16).sample(2)
    for dtype, scaled in [(torch.bfloat16, False), (torch.float16, True)]:
        torch.manual_seed(0)
        model = StandInModel()
        generator_optimizer, discriminator_optimizer, discriminator_parameters = make_optimizers(model, standin_config())
        scalers = [torch.amp.GradScaler("cpu", init_scale=16.0) if scaled else None for _ in range(2)]  # 2**16 would skip step 1 (overflow)
        parts = StepParts(model, model.generator, None, generator_optimizer, discriminator_optimizer, discriminator_parameters,
                          *scalers, autocast_dtype=dtype)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        _, logs = training_step(parts, images, masks, step=1)
        assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())
        changed = {k.split(".")[0] for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])}
        assert changed == {"generator", "discriminators"}, (dtype, changed)


def test_tensorboard_receives_losses_and_samples(tmp_path, monkeypatch):
    "When TensorBoard is installed the run also writes loss curves and sample grids to it (a recording writer stands in)."
    import csa_nb.train as train_module
    calls = []

    class Writer:
        def add_scalar(self, tag, value, step): calls.append(("scalar", tag, step))
        def add_image(self, tag, image, step): calls.append(("image", tag, step, tuple(image.shape)))
        def close(self): calls.append(("close",))

    monkeypatch.setattr(train_module, "_tensorboard", lambda path: Writer())
    train(standin_config(steps=2, sample_every=2, log_every=1), tmp_path / "run", progress=False, **standin_parts())
    assert ("scalar", "loss/g_loss", 1) in calls and ("scalar", "speed/images_per_s", 2) in calls
    assert [c for c in calls if c[0] == "image"] == [("image", "samples", 2, (3, 4 * 16, 4 * 16))]
    assert calls[-1] == ("close",)


@needs_real_parts
def test_cli_resume_finished_run_and_empty_folder(tmp_path, capsys):
    "Issue 18: --resume on a finished run says so and how to go on; on an empty folder it says it starts afresh; the refusal says --resume."
    from csa_nb.train import main
    out = tmp_path / "run"
    common = ["--profile", "smoke", "--no-progress", "--set", "train.sample_every=0", "--out", str(out)]
    assert main([*common, "--resume", "--steps", "1"]) == 0  # nothing to resume yet: a new run starts
    err = capsys.readouterr().err
    assert f"nothing to resume in {out} (no last.pt yet): starting a new run there" in err, err
    assert load_checkpoint(out / "last.pt")["step"] == 1
    assert main([*common, "--resume", "--steps", "1"]) == 0  # finished: nothing to do, and how to train longer
    err = capsys.readouterr().err
    assert f"the run in {out} is already finished at step 1" in err and "--resume --steps 2" in err, err
    assert main([*common, "--steps", "1"]) == 1  # the same folder without --resume: refused, in CLI words
    err = capsys.readouterr().err
    assert "pass --resume to continue it" in err and "resume=True" not in err, err
# ---------------------------------------------------------------- precision (issue 14)
def _floating_dtypes(checkpoint) -> set:
    "The dtypes of the floating-point tensors in a checkpoint's weights and optimiser state."
    found = set()
    def visit(value):
        if isinstance(value, torch.Tensor):
            if value.is_floating_point(): found.add(value.dtype)
        elif isinstance(value, dict):
            for v in value.values(): visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value: visit(v)
    visit(checkpoint["model"]); visit(checkpoint["optimizers"])
    return found


def test_auto_precision_falls_back_to_fp32_without_bf16(tmp_path, monkeypatch):
    "On a CPU without AVX512-BF16 / AMX-BF16 (forced here), `train.precision=auto` trains in fp32: run.json and config.yaml say so, and the run is bit for bit an fp32 run."
    import csa_nb.train as train_module
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: False)
    auto = train(standin_config(steps=3, precision="auto"), tmp_path / "auto", progress=False, **standin_parts())
    session = json.loads((auto / "run.json").read_text())["sessions"][0]
    assert (session["precision"], session["channels_last"]) == ("fp32", False)
    assert "# train.precision 'auto' ran as fp32 on cpu" in (auto / "config.yaml").read_text()
    fp32 = train(standin_config(steps=3, precision="fp32"), tmp_path / "fp32", progress=False, **standin_parts())
    assert_same_tensors(load_checkpoint(fp32 / "last.pt")["model"], load_checkpoint(auto / "last.pt")["model"], "model")
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: True)  # and with the instructions: bf16
    native = train(standin_config(steps=1, precision="auto"), tmp_path / "native", progress=False, **standin_parts())
    assert json.loads((native / "run.json").read_text())["sessions"][0]["precision"] == "bf16"


def test_bf16_resume_is_bit_exact_standin(tmp_path):
    "bf16 (autocast + channels-last): a run stopped at its checkpoint and resumed ends bit for bit where an uninterrupted bf16 run ends; checkpoints stay float32."
    full = train(standin_config(steps=6, checkpoint_every=3, precision="bf16"), tmp_path / "full", progress=False, **standin_parts())
    split = tmp_path / "split"
    train(standin_config(steps=3, checkpoint_every=3, precision="bf16"), split, progress=False, **standin_parts())
    halfway = load_checkpoint(split / "last.pt")
    assert halfway["step"] == 3 and _floating_dtypes(halfway) == {torch.float32}
    train(standin_config(steps=6, checkpoint_every=3, precision="bf16"), split, resume=True, progress=False, **standin_parts())
    assert_same_run(load_checkpoint(full / "last.pt"), load_checkpoint(split / "last.pt"))
    fp32 = train(standin_config(steps=6, checkpoint_every=3, precision="fp32"), tmp_path / "fp32", progress=False, **standin_parts())
    assert not torch.equal(load_checkpoint(fp32 / "last.pt")["model"]["generator.rough_net.0.weight"],
                           load_checkpoint(full / "last.pt")["model"]["generator.rough_net.0.weight"])  # bf16 did run


@needs_real_parts
def test_bf16_resume_is_bit_exact_smoke_csa(tmp_path):
    "The same on the real smoke CSA model (VGG16 features, both discriminators, the CSA layer in float32 under autocast)."
    config = lambda steps: make_config("smoke", real_smoke_overrides(steps=steps, checkpoint_every=2, precision="bf16"))
    full = train(config(4), tmp_path / "full", progress=False)
    train(config(2), tmp_path / "split", progress=False)
    train(config(4), tmp_path / "split", resume=True, progress=False)
    reference, resumed = load_checkpoint(full / "last.pt"), load_checkpoint(tmp_path / "split" / "last.pt")
    assert_same_run(reference, resumed)
    assert _floating_dtypes(reference) == {torch.float32}


@needs_real_parts
@pytest.mark.parametrize("name", ["csa", "ca", "shift", "pconv", "gated"])
def test_every_model_trains_in_bf16(tmp_path, name):
    "Each model takes two bf16 steps on the CPU (smoke scale): finite losses, every trainable part updated, float32 checkpoint."
    config = make_config("smoke", {"model": {"name": name}, **real_smoke_overrides(steps=2, checkpoint_every=0, precision="bf16")})
    out = train(config, tmp_path / name, progress=False)
    session = json.loads((out / "run.json").read_text())["sessions"][0]
    assert (session["precision"], session["channels_last"]) == ("bf16", True)
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert len(rows) == 2 and all(torch.isfinite(torch.tensor(float(v))) for r in rows for k, v in r.items() if k.startswith(("g_", "d_")) and v)
    checkpoint = load_checkpoint(out / "last.pt")
    assert _floating_dtypes(checkpoint) == {torch.float32}
    config.train.steps = 0  # a zero-step run leaves the initial weights
    initial = load_checkpoint(train(config, tmp_path / f"{name}-initial", progress=False) / "last.pt")["model"]
    moved = {k.split(".")[0] for k, v in checkpoint["model"].items() if v.is_floating_point() and not torch.equal(v, initial[k])}
    assert moved == ({"generator"} if name == "pconv" else {"generator", "discriminators"}), (name, moved)  # PC has no discriminator
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point())
