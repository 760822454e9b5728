"""Score a run's raw generator weights against its weight average (`train.ema_decay`), on the run's own validation set.

    python tools/average_vs_raw.py RUN/last.pt [--out RUN_LOGS/average_vs_raw.csv] [--threads 2]

Both sets of weights come from the one checkpoint (`model` and `generator_average`), so the comparison is at equal
training: it measures what the average alone bought. The batch is the first 16 windows (centre crops) of the run's
validation split with 16 masks of the run's own mixture (its mask sampler, seeded). Writes one CSV row per weight set.
"""
import argparse
import copy
import csv
from pathlib import Path

import torch

import csa_nb.metrics as metrics
from csa_nb.config import config_from_dict
from csa_nb.data import build_dataset
from csa_nb.networks import build_model
from csa_nb.train import _collate, _validation_metrics, build_parts, generator_weights, load_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a csa-train last.pt of a run with train.ema_decay > 0")
    parser.add_argument("--out", type=Path, help="CSV to write (default: print only)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    stored = load_checkpoint(args.checkpoint)
    if not stored.get("generator_average"):
        raise SystemExit(f"average_vs_raw: {args.checkpoint} holds no weight average (train.ema_decay was 0)")
    config = config_from_dict(stored["config"])
    model = build_model(config)
    model.load_state_dict(stored["model"])
    model.eval()
    _, _, sampler = build_parts(config, model=model, dataset=[0])
    validation = build_dataset(config.data, "val")
    count = min(16, len(validation))
    images, masks = _collate([validation[i] for i in range(count)]), copy.deepcopy(sampler).sample(count).float()
    raw = {name: value.clone() for name, value in model.generator.state_dict().items()}
    rows = []
    for weights_name, weights in (("raw", raw), ("average", generator_weights(stored))):
        model.generator.load_state_dict(weights)
        with torch.no_grad():
            values = _validation_metrics(metrics, model, images, masks)
        rows.append({"weights": weights_name, "step": stored["step"], "ema_decay": config.train.ema_decay, "val_images": count,
                     **{k: round(v, 4) for k, v in values.items()}})
        print(rows[-1])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader(); writer.writerows(rows)


if __name__ == "__main__":
    main()
