"""Write the checkpoint shipped inside the package, and its model card, from a finished csa-train run.

    python tools/ship_checkpoint.py RUN/last.pt --corpus PHOTOS --heldout HELDOUT [--masks-per-bin 8] [--solver-steps N]
        [--blend-fit image|component] [--correction-ring N] [--correction-fit image|component]

writes csa_nb/assets/csa_cpu.pt (generator only, float16 weights, with the run's training summary: images seen,
CPU-hours) and csa_nb/assets/csa_cpu.md, the model card: the model beside Telea and biharmonic on the photo corpus's
test split (data/prepare_photos.py), the builtin test crops and the held-out photographs (data/prepare_heldout.py),
measured now. Without --corpus / --heldout those sets are left out of the card.
"""
import argparse
from pathlib import Path

from csa_nb.inference import DEFAULT_CHECKPOINT, shipping_checkpoint
from csa_nb.model_card import model_card, training_summary
from csa_nb.networks import BLEND_FITS
from csa_nb.train import load_checkpoint, save_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a csa-train run's last.pt (its folder holds log.csv and run.json)")
    parser.add_argument("--corpus", type=Path, help="photo corpus folder: its test split is scored")
    parser.add_argument("--heldout", type=Path, help="held-out photographs folder")
    parser.add_argument("--masks-per-bin", type=int, default=8, help="seeded irregular masks per hole-ratio bin")
    parser.add_argument("--solver-steps", type=int, help="model.biharmonic_steps of the shipped model (default: as trained)")
    parser.add_argument("--blend-fit", choices=BLEND_FITS,
                        help="model.blend_fit of the shipped model, for a model with a fitted blend weight (default: as trained)")
    parser.add_argument("--correction-ring", type=int,
                        help="model.correction_ring of the shipped model: the networks' corrections scaled by a gain fitted on "
                             "this many known pixels around the hole (0: off; default: as trained)")
    parser.add_argument("--correction-fit", choices=BLEND_FITS,
                        help="model.correction_fit of the shipped model: one correction gain per image or per hole component")
    args = parser.parse_args(argv)
    DEFAULT_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    path = shipping_checkpoint(args.checkpoint, DEFAULT_CHECKPOINT, half=True, solver_steps=args.solver_steps,
                                blend_fit=args.blend_fit, correction_ring=args.correction_ring, correction_fit=args.correction_fit)
    if (args.checkpoint.parent / "log.csv").is_file():  # keep what training cost inside the shipped file
        save_checkpoint({**load_checkpoint(path), "training": training_summary(args.checkpoint.parent)}, path)
    card = DEFAULT_CHECKPOINT.with_suffix(".md")
    card.write_text(model_card(path, corpus=args.corpus, heldout=args.heldout, masks_per_bin=args.masks_per_bin), encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {card}")


if __name__ == "__main__":
    main()
