"""Write the checkpoint shipped inside the package, and its model card, from a finished csa-train run.

    python tools/ship_checkpoint.py RUN/last.pt --corpus PHOTOS --heldout HELDOUT [--textures TEXTURES] [--limit N] [--masks-per-bin 8] [--solver-steps N]
        [--blend-fit image|component] [--correction-ring N] [--correction-fit image|component] [--tried FILE]
    python tools/ship_checkpoint.py --card-only [--tried FILE]

writes csa_nb/assets/csa_cpu.pt (generator only, float16 weights, with the run's training summary: images seen,
CPU-hours), csa_nb/assets/csa_cpu.md, the model card: the model beside Telea and biharmonic on the photo corpus's
test split (data/prepare_photos.py), the builtin test crops, the held-out photographs (data/prepare_heldout.py) and the
texture set's test split (data/prepare_textures.py), with shift-map shown beside them and the perceptual scores, measured now, and the card's scores beside it (csa_cpu_scores.csv per image, csa_cpu_scores.json the rest). Without
--corpus / --heldout / --textures those sets are left out of the card. --tried FILE: Markdown saying what was tried for the settings
the model does not win, written into the card under them (default: csa_nb/assets/csa_cpu_tried.md when it exists).
--card-only re-renders the card of the shipped file from its saved scores (seconds; nothing is measured or re-shipped).
"""
import argparse
from pathlib import Path

from csa_nb.inference import DEFAULT_CHECKPOINT, shipping_checkpoint
from csa_nb.model_card import card_scores, load_card_scores, model_card, save_card_scores, training_summary
from csa_nb.networks import BLEND_FITS
from csa_nb.train import load_checkpoint, save_checkpoint

CARD = DEFAULT_CHECKPOINT.with_suffix(".md")
SCORES = DEFAULT_CHECKPOINT.with_name(f"{DEFAULT_CHECKPOINT.stem}_scores.csv")
TRIED = DEFAULT_CHECKPOINT.with_name(f"{DEFAULT_CHECKPOINT.stem}_tried.md")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, nargs="?", help="a csa-train run's last.pt (its folder holds log.csv and run.json)")
    parser.add_argument("--corpus", type=Path, help="photo corpus folder: its test split is scored")
    parser.add_argument("--heldout", type=Path, help="held-out photographs folder")
    parser.add_argument("--textures", type=Path, help="texture set folder (data/prepare_textures.py): its test split is scored")
    parser.add_argument("--limit", type=int, help="first N windows of each set only (default: all; the card says so through its image counts)")
    parser.add_argument("--masks-per-bin", type=int, help="seeded irregular masks per hole-ratio bin (default: card_scores', 8)")
    parser.add_argument("--solver-steps", type=int, help="model.biharmonic_steps of the shipped model (default: as trained)")
    parser.add_argument("--blend-fit", choices=BLEND_FITS,
                        help="model.blend_fit of the shipped model, for a model with a fitted blend weight (default: as trained)")
    parser.add_argument("--correction-ring", type=int,
                        help="model.correction_ring of the shipped model: the networks' corrections scaled by a gain fitted on "
                             "this many known pixels around the hole (0: off; default: as trained)")
    parser.add_argument("--correction-fit", choices=BLEND_FITS,
                        help="model.correction_fit of the shipped model: one correction gain per image or per hole component")
    parser.add_argument("--tried", type=Path, help=f"Markdown: what was tried for the settings the model does not win "
                                                   f"(default: {TRIED.name} beside the shipped file, when it exists)")
    parser.add_argument("--card-only", action="store_true",
                        help="re-render the shipped file's card from its saved scores; nothing is measured or shipped")
    args = parser.parse_args(argv)
    measuring = ("corpus", "heldout", "textures", "limit", "masks_per_bin")  # card_scores' options; its defaults where not given
    shipping = ("checkpoint", "solver_steps", "blend_fit", "correction_ring", "correction_fit", *measuring)
    given = [name for name in shipping if getattr(args, name) is not None]
    if args.card_only and given:
        parser.error(f"--card-only re-renders the shipped file's card from its saved scores; drop {', '.join(n if n == 'checkpoint' else '--' + n.replace('_', '-') for n in given)}")
    if not args.card_only and args.checkpoint is None:
        parser.error("give the checkpoint to ship (a csa-train run's last.pt), or --card-only")
    tried_file = args.tried or (TRIED if TRIED.is_file() else None)
    if tried_file is not None and not tried_file.is_file():
        parser.error(f"--tried {tried_file}: no such file (a Markdown file saying what was tried)")
    tried = tried_file.read_text(encoding="utf-8") if tried_file else ""
    if args.card_only:
        try: scores = load_card_scores(SCORES, DEFAULT_CHECKPOINT)
        except (FileNotFoundError, ValueError) as error: parser.exit(1, f"ship_checkpoint: error: {error}\n")
        path = DEFAULT_CHECKPOINT
    else:
        DEFAULT_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
        path = shipping_checkpoint(args.checkpoint, DEFAULT_CHECKPOINT, half=True, solver_steps=args.solver_steps,
                                    blend_fit=args.blend_fit, correction_ring=args.correction_ring,
                                    correction_fit=args.correction_fit)
        if (args.checkpoint.parent / "log.csv").is_file():  # keep what training cost inside the shipped file
            save_checkpoint({**load_checkpoint(path), "training": training_summary(args.checkpoint.parent)}, path)
        scores = card_scores(path, **{name: getattr(args, name) for name in measuring if getattr(args, name) is not None})
        save_card_scores(scores, SCORES)
    CARD.write_text(model_card(path, scores=scores, tried=tried), encoding="utf-8")
    print(f"wrote {CARD} from {SCORES}" if args.card_only else f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB), {CARD} and {SCORES}")


if __name__ == "__main__":
    main()
