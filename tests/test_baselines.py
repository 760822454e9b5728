"""The trainable baselines as the trainer sees them: built by name from a config through `csa_nb.networks.build_model`,
one generator / discriminator / generator-loss step each, on the smoke profile.

Runs in a fresh interpreter: the baseline notebooks register their own (notebook-defined) classes under the same
names when the notebook tests run in this process, and the registry refuses a second class for a name."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINABLE = ["pconv", "gated", "ca", "shift"]

SCRIPT = r'''
import sys, torch
torch.set_num_threads(1)
from csa_nb.config import make_config
from csa_nb.networks import MODELS, build_model, InpaintingModel
name = sys.argv[1]
torch.manual_seed(0)
config = make_config("smoke", {"model": {"name": name}})
model = build_model(config)
assert isinstance(model, InpaintingModel) and type(model) is MODELS[name], type(model)
assert type(model).__module__.startswith("csa_nb.baselines."), type(model).__module__
size = config.data.image_size
image = torch.rand(2, 3, size, size) * 2 - 1
mask = torch.zeros(2, 1, size, size)
mask[0, :, size // 4:3 * size // 4, size // 4:3 * size // 4] = 1
mask[1, :, :size // 2, size // 3:] = 1
output = model(image, mask)
assert output.composited.shape == image.shape
assert torch.equal(output.composited.detach() * (1 - mask), image * (1 - mask))
d_loss, d_logs = model.discriminator_loss(image, mask, output)
g_loss, g_logs = model.generator_loss(image, mask, output)
assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
assert all(isinstance(v, float) for v in {**d_logs, **g_logs}.values())
g_loss.backward()
grads = [p.grad for p in model.generator.parameters() if p.requires_grad]
assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
print("ok", name)
'''


@pytest.mark.parametrize("name", TRAINABLE)
def test_build_and_step(name):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"ok {name}" in result.stdout


TRAIN_SCRIPT = r"""
import sys, tempfile, torch
from csa_nb.config import make_config
from csa_nb.train import train, load_checkpoint, load_model
name = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    config = make_config("smoke", {"model": {"name": name}, "train": {"steps": 2, "threads": 1}})
    train(config, tmp, progress=False)
    assert load_checkpoint(f"{tmp}/last.pt")["step"] == 2
    model, _ = load_model(f"{tmp}/last.pt", "cpu")
    assert type(model).__module__.startswith("csa_nb.baselines."), type(model)
print("trained", name)
"""

@pytest.mark.parametrize("name", TRAINABLE)
def test_trains_on_smoke(name):
    "Two training steps with the project's trainer, a checkpoint, and the model loaded back from it."
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"trained {name}" in result.stdout


def test_classical_methods_through_the_evaluator():
    "The classical inpaint_fns run through csa_nb.metrics.evaluate on the same masks, and beat a flat grey fill."
    from csa_nb.baselines import CLASSICAL_METHODS
    from csa_nb.config import make_config
    from csa_nb.data import build_dataset
    from csa_nb.masks import center_mask, irregular_mask
    from csa_nb.metrics import evaluate

    config = make_config("smoke")
    dataset = build_dataset(config.data, "test")
    size = config.data.image_size
    masks = [center_mask(size), irregular_mask(size, (0.1, 0.2), seed=0), irregular_mask(size, (0.3, 0.4), seed=1)]
    grey = lambda image, mask: image * (1 - mask)  # the hole at 0, mid-grey in [-1, 1]
    baseline = evaluate(grey, dataset, masks, limit=3)
    for name, method in CLASSICAL_METHODS.items():
        table = evaluate(method, dataset, masks, limit=3)
        overall = table[table["bin"] == "all"].iloc[0]
        assert overall["images"] == 3
        assert overall["psnr_mean"] > baseline[baseline["bin"] == "all"].iloc[0]["psnr_mean"] + 1, (name, overall)


FINETUNE_SCRIPT = r"""
import tempfile, torch
from csa_nb.config import make_config
from csa_nb.train import train, load_checkpoint

def run(folder, steps, resume=False):
    config = make_config("smoke", {"model": {"name": "pconv"}, "train": {
        "steps": steps, "threads": 1, "device": "cpu", "deterministic": True, "sample_every": 0, "finetune_step": 2}})
    train(config, folder, resume=resume, progress=False)
    return load_checkpoint(f"{folder}/last.pt")

def norms(checkpoint, part):
    return {k: v for k, v in checkpoint["model"].items() if f"unet.{part}_norms." in k and k.endswith("running_mean")}

with tempfile.TemporaryDirectory() as tmp:
    first_phase, whole = run(f"{tmp}/a", 2), run(f"{tmp}/b", 4)
    assert [g["lr"] for g in first_phase["optimizers"]["generator"]["param_groups"]] == [2e-4]
    assert [g["lr"] for g in whole["optimizers"]["generator"]["param_groups"]] == [5e-5]
    frozen, after = norms(first_phase, "encoder"), norms(whole, "encoder")
    assert frozen and all(torch.equal(frozen[k], after[k]) for k in frozen), "encoder batch norms moved in phase 2"
    moving_before, moving_after = norms(first_phase, "decoder"), norms(whole, "decoder")
    assert any(not torch.equal(moving_before[k], moving_after[k]) for k in moving_before), "decoder batch norms froze"
    run(f"{tmp}/c", 3)  # stops inside phase 2; resuming re-enters it
    resumed = run(f"{tmp}/c", 4, resume=True)
    assert [g["lr"] for g in resumed["optimizers"]["generator"]["param_groups"]] == [5e-5]
    assert all(torch.equal(frozen[k], norms(resumed, "encoder")[k]) for k in frozen)
print("finetuned")
"""


def test_pconv_second_phase_freezes_the_encoder_batch_norms():
    "train.finetune_step: lr 5e-5 and frozen encoder batch-norm statistics afterwards, also after a resume (PC's phase 2)."
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", FINETUNE_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finetuned" in result.stdout
