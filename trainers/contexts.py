"""Adapt a deep perceptual similarity metric to a context (a ranking of six distortions).

Implements "Deep Perceptual Similarity is Adaptable to Ambiguous Contexts": per-channel
non-negative weights on a frozen backbone (``lin``) or full fine-tuning (``tune``), trained with
the LPIPS-style ranking head and the paper's sync loss on triplets drawn fresh every step, then
scored on a frozen, held-out triplet set before and after training.

Example::

    python -m trainers.contexts --ranking blur,darken,hue,rotate,translate,zoom-in \\
        --backbone mobilenet_v2 --epochs 6 --out adapted.safetensors

writes ``adapted.safetensors`` (the weights), ``adapted.json`` (ranking, before_accuracy,
after_accuracy, per_pair, provenance). Without ``--images`` the colour photographs bundled with
scikit-image/scikit-learn/matplotlib are used (some held out for testing). For large runs use
``torchrun --nproc_per_node N -m trainers.contexts ...`` (DDP; each rank draws its own triplets).
``--checkpoint-dir DIR`` keeps a resumable checkpoint there; ``--resume`` continues from it.
The library behind this command is :mod:`engine.similarity.contexts.adaptation`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import distributed
from engine.errors import command_line
from engine.similarity.contexts.adaptation import adapt, bapps_score, build_context_model, load_images
from engine.similarity.contexts.distortions import parse_context
from engine.similarity.contexts.model import VARIANTS, TrainingConfig
from engine.similarity.contexts.storage import save_adapted
from engine.similarity.metric import COMPARISONS
from trainers.options import add_checkpoint_options, require_checkpoint_dir

CHECKPOINT_FILE = "contexts.pt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m trainers.contexts", description=__doc__.split("\n\n")[0],
                                     epilog="Distortions: rotate, translate, darken, hue (or color), blur, "
                                            "zoom-in (or zoom_in).")
    parser.add_argument("--ranking", required=True,
                        help="the six distortions, most similar first, comma-separated")
    parser.add_argument("--images", type=Path, default=None,
                        help="folder or .zip of training images (default: the bundled photographs)")
    parser.add_argument("--backbone", default="mobilenet_v2", help="backbone architecture (default mobilenet_v2)")
    parser.add_argument("--layers", default=None, help="comma-separated layer names (default: the backbone's)")
    parser.add_argument("--compare", default="spatial", choices=list(COMPARISONS), help="comparison function")
    parser.add_argument("--no-channel-norm", action="store_true", help="do not L2-normalise channel vectors")
    parser.add_argument("--variant", default="lin", choices=list(VARIANTS), help="what is trained (default lin)")
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs, help="epochs (default %(default)s)")
    parser.add_argument("--steps-per-epoch", type=int, default=TrainingConfig.steps_per_epoch,
                        help="optimiser steps per epoch (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size,
                        help="triplets per step, over all ranks (default %(default)s)")
    parser.add_argument("--passes", type=int, default=TrainingConfig.passes,
                        help="lin only: optimiser passes over each epoch's fresh triplets (default %(default)s)")
    parser.add_argument("--lr", type=float, default=TrainingConfig.lr, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--sync-epochs", type=int, default=TrainingConfig.sync_epochs,
                        help="sync loss: -1 on batches with 2AFC <= 0.5 (paper default), N: on every batch of "
                             "the first N epochs, 0: never (default %(default)s)")
    parser.add_argument("--test-crops", type=int, default=6, help="crops per held-out image in the test set")
    parser.add_argument("--seed", type=int, default=0, help="seed of triplets and initialisation")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "random"],
                        help="backbone weights (random: tests only, labelled RANDOM)")
    parser.add_argument("--bapps", type=Path, default=None,
                        help="a BAPPS-layout folder: also report its 2AFC score before and after")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train")
    parser.add_argument("--out", type=Path, required=True,
                        help="where to save the adapted metric (OUT.json is written beside it)")
    add_checkpoint_options(parser, f"a resumable checkpoint ({CHECKPOINT_FILE})")
    return parser.parse_args(argv)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m trainers.contexts``."""
    args = parse_args(argv)
    require_checkpoint_dir(args)
    try:
        config = TrainingConfig(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                                passes=args.passes,
                                lr=args.lr, variant=args.variant, sync_epochs=args.sync_epochs, seed=args.seed)
        parse_context(args.ranking)  # fail before loading anything
        split = load_images(args.images)
        rank = distributed.setup(args.device)  # before building: each rank's model goes to its own device
        model = build_context_model(args.backbone, args.layers.split(",") if args.layers else None, args.compare,
                                    not args.no_channel_norm, args.variant, args.weights, args.seed, str(rank.device))
        bapps_before = bapps_score(model.metric, args.bapps)
        checkpoint = args.checkpoint_dir / CHECKPOINT_FILE if args.checkpoint_dir else None
        run = adapt(args.ranking, split, model, config, test_crops=args.test_crops, checkpoint=checkpoint,
                    resume=args.resume)
        if bapps_before is not None:
            run.bapps = {"before": bapps_before, "after": bapps_score(model.metric, args.bapps) or 0.0}
        if distributed.is_main_process():
            summary = run.summary()
            path = save_adapted(model, args.out, summary)
            print(json.dumps({key: summary[key] for key in ("ranking", "before_accuracy", "after_accuracy")}))
            print(f"saved {path.with_suffix('.safetensors')} and {path}")
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
