"""Train one autoencoder procedure, then evaluate its embedding with the predictor family.

Implements the perceptual-autoencoder papers: an image (I) or the loss network's features (F) are
encoded to a z-dimensional embedding and decoded to the image or the features, trained with a
pixel-wise (PW), deep perceptual (PS) or feature-prediction (FP) loss. The embedding is then scored by
seven small predictors (linear to [128, 128], early stopping on validation) on the generated scenes'
object position (regression) and shape (classification).

Example::

    python -m trainers.autoencoder --procedure I-F-FP --loss-net mobilenet_v2.block6 \\
        --epochs 10 --images 2000 --out runs/fp

writes ``OUT/metrics.json`` (``epoch_seconds``: mean wall-clock seconds per epoch, ``position_error``:
test mean distance in px between predicted and true object centres, ``class_accuracy``: test shape
accuracy; plus the predictor table, losses, config and provenance), the model, the embeddings and a
preview image. ``--data FOLDER`` trains on your images instead (``--targets CSV`` with columns
``file``, ``x``, ``y``, ``label`` for the predictors). ``--checkpoint-dir DIR`` keeps a resumable
checkpoint; ``--resume`` continues from it. For several processes use
``torchrun --nproc_per_node N -m trainers.autoencoder ...`` (DDP; each rank trains on its share).
The library behind this command is :mod:`engine.autoencoders.experiment`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import distributed
from engine.autoencoders.experiment import DataSpec, StageBars, run_experiment
from engine.autoencoders.predictors import PredictorConfig
from engine.autoencoders.procedures import PROCEDURES
from engine.autoencoders.training import AutoencoderConfig
from engine.errors import WorkbenchError, command_line
from trainers.options import add_checkpoint_options, require_checkpoint_dir

CHECKPOINT_FILE = "autoencoder.pt"
DEFAULTS = AutoencoderConfig()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m trainers.autoencoder", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--procedure", required=True, choices=list(PROCEDURES),
                        help="encoder input - decoder output - loss")
    parser.add_argument("--loss-net", default=DEFAULTS.loss_net,
                        help="loss network layer as ARCH.LAYER (see python -m engine.backbones list)")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "random"],
                        help="loss network weights (random: tests only, labelled RANDOM)")
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=DEFAULTS.normalize,
                        help="feed the loss network the input normalisation of its weights (the papers fed 0..1)")
    parser.add_argument("--sigmoid", action=argparse.BooleanOptionalAction, default=DEFAULTS.sigmoid,
                        help="squash loss-network outputs with a sigmoid (the first paper did)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="training epochs")
    parser.add_argument("--images", type=int, default=2000, help="generated training scenes")
    parser.add_argument("--eval-images", type=int, default=None,
                        help="generated scenes for the predictors (default: as many as --images)")
    parser.add_argument("--size", type=int, default=64, help="image side in px (64 + 16 n)")
    parser.add_argument("--data", type=Path, default=None, help="a folder or .zip of your images instead")
    parser.add_argument("--targets", type=Path, default=None,
                        help="CSV of labels for --data (columns file, x, y and/or label)")
    parser.add_argument("--latent", type=int, default=DEFAULTS.latent, help="embedding size z")
    parser.add_argument("--gamma", type=float, default=DEFAULTS.gamma, help="KL weight; > 0 trains a VAE")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="images per step")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate")
    parser.add_argument("--max-feature-dim", type=int, default=DEFAULTS.max_feature_dim,
                        help="longer feature vectors are average-pooled to fit")
    parser.add_argument("--predictor-epochs", type=int, default=PredictorConfig.max_epochs,
                        help="most epochs per predictor (early stopping on validation)")
    parser.add_argument("--patience", type=int, default=PredictorConfig.patience,
                        help="predictor epochs without a better validation loss before stopping")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and shuffling")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_checkpoint_options(parser, f"a resumable checkpoint ({CHECKPOINT_FILE})")
    return parser.parse_args(argv)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m trainers.autoencoder``."""
    args = parse_args(argv)
    require_checkpoint_dir(args)
    if args.targets is not None and args.data is None:
        raise WorkbenchError("--targets labels the images of --data; give --data too.")
    config = AutoencoderConfig(procedure=args.procedure, loss_net=args.loss_net, weights=args.weights,
                               normalize=args.normalize, sigmoid=args.sigmoid, latent=args.latent,
                               gamma=args.gamma, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed, max_feature_dim=args.max_feature_dim).checked()
    data = DataSpec(source=str(args.data) if args.data else "generated", images=args.images,
                    eval_images=args.eval_images, size=args.size, seed=args.seed,
                    targets=str(args.targets) if args.targets else None)
    checkpoint = args.checkpoint_dir / CHECKPOINT_FILE if args.checkpoint_dir else None
    bars = StageBars()
    try:
        rank = distributed.setup(args.device)
        metrics = run_experiment(config, data, args.out, args.device, checkpoint, args.resume,
                                 PredictorConfig(max_epochs=args.predictor_epochs, patience=args.patience,
                                                 seed=args.seed), on_stage=bars if rank.is_main else None)
        bars.close()
        if rank.is_main:
            print(json.dumps({key: metrics[key] for key in ("procedure", "loss_net", "epoch_seconds",
                                                             "position_error", "class_accuracy")}))
            if metrics["random_loss_network"]:
                print("RANDOM loss network: these numbers are for testing only.")
            print(f"wrote {args.out / 'metrics.json'}")
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
