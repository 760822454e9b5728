"""Score training checkpoints beside the classical methods on validation windows, for choosing a recipe.

    python tools/study_eval.py NAME=RUN/last.pt [NAME=...] --out DIR [--size 128] [--n 12] [--split val]
        [--sets corpus,builtin,heldout,textures] [--classical telea,biharmonic,shiftmap] [--data /root/csa_data]

writes DIR/per_image.csv (csa_nb.model_card.compare_methods: PSNR, L1, deep distance, gradient-energy ratio per image),
DIR/summary.csv (means per set, holes and method) and DIR/grid_SET_HOLES.png (input | each method | truth, first rows of
each set) to look at the fills. Sets: the photo corpus (data/prepare_photos.py), the builtin crops, the held-out
photographs (data/prepare_heldout.py --set val|test) and the texture set (data/prepare_textures.py), each a spread of n
windows; holes: the centre hole and 6 seeded irregular masks with 20-40 % hole. Used for reports/tables/attention_recipe.md.
"""
import argparse
import time
from pathlib import Path
import numpy as np
import torch
from csa_nb.data import PhotoWindows, builtin_dataset, tensor_to_image
from csa_nb.masks import center_mask, irregular_masks
from csa_nb.metrics import model_inpaint_fn
from csa_nb.model_card import compare_methods
from csa_nb.baselines.classical import CLASSICAL_METHODS, classical_inpaint_fn
from csa_nb.inference import load_inpainting_model

p = argparse.ArgumentParser()
p.add_argument("checkpoints", nargs="+")  # name=path
p.add_argument("--size", type=int, default=128)
p.add_argument("--n", type=int, default=12)
p.add_argument("--split", default="val")
p.add_argument("--sets", default="corpus,builtin,heldout,textures")
p.add_argument("--classical", default="telea,biharmonic,shiftmap")
p.add_argument("--out", required=True)
p.add_argument("--grid", type=int, default=6)
p.add_argument("--data", default="/root/csa_data")
a = p.parse_args()
torch.set_num_threads(1)
S = a.size
roots = {"corpus": f"{a.data}/photos/{a.split}", "heldout": f"{a.data}/heldout/{a.split}",
         "textures": f"{a.data}/textures/{a.split}"}
sets = {}
for name in a.sets.split(","):
    if name == "builtin":
        sets[name] = builtin_dataset("val" if a.split == "val" else "test", S)
    elif Path(roots[name]).is_dir():
        sets[name] = PhotoWindows(roots[name], S)
# spread the n images over each set deterministically
class Sub(torch.utils.data.Dataset):
    def __init__(self, d, n):
        self.d = d; self.idx = np.linspace(0, len(d) - 1, min(n, len(d))).round().astype(int)
    def __len__(self): return len(self.idx)
    def __getitem__(self, i): return self.d[int(self.idx[i])]
sets = {k: Sub(v, a.n) for k, v in sets.items()}
holes = {"centre": [center_mask(S)], "irregular": irregular_masks(S, 6, 0, bins=((0.2, 0.4),))[(0.2, 0.4)]}
methods = {}
for spec in a.checkpoints:
    name, path = spec.split("=", 1)
    g, size = load_inpainting_model(path, "cpu")
    assert size == S, (size, S)
    methods[name] = model_inpaint_fn(g)
for name in a.classical.split(","):
    if name in CLASSICAL_METHODS:
        methods[name] = classical_inpaint_fn(name)
t = time.time()
df = compare_methods(methods, sets, holes)
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
df.to_csv(out / "per_image.csv", index=False)
cols = [c for c in ("psnr", "l1_percent", "deep", "deep_distance", "grad_ratio", "gradient_energy_ratio") if c in df.columns]
summary = df.groupby(["set", "holes", "method"], sort=False)[cols].mean().round(4)
summary.to_csv(out / "summary.csv")
print(summary.to_string())
print(f"{time.time() - t:.0f} s")
# visual grid: for each set and hole kind, a few images: input | methods... | truth
for set_name, ds in sets.items():
    for hole_name, masks in holes.items():
        rows = []
        for i in range(min(a.grid, len(ds))):
            img = ds[i].unsqueeze(0); m = torch.as_tensor(masks[i % len(masks)]).float().view(1, 1, S, S)
            cells = [img * (1 - m) + m]
            for fn in methods.values():
                with torch.no_grad():
                    o = fn(img, m)
                cells.append(img * (1 - m) + o * m)
            cells.append(img)
            rows.append(torch.cat(cells, -1))
        grid = torch.cat(rows, -2)[0]
        tensor_to_image(grid).save(out / f"grid_{set_name}_{hole_name}.png")
print("columns:", ["input", *methods, "truth"])
