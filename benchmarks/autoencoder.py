"""Feature prediction against perceptual and pixel-wise loss: seconds per epoch and embedding quality.

In one run on the same generated scenes (64 px by default), with the same loss network, this trains
I-I-PW (pixel-wise), I-I-PS (deep perceptual, the peer at its best setting: its target features are
cached too, so each step runs the loss network on the reconstructions only) and I-F-FP (feature
prediction, cached targets). It reports the median wall-clock seconds per epoch of each, the speed-up
of feature prediction over perceptual loss (``fp_speedup`` = PS seconds / FP seconds per epoch), the
one-off caching time, and the test position error (px) of one fixed predictor (``--predictor``,
early stopping on validation) trained on each embedding of held-out scenes.

    python -m benchmarks.autoencoder [--images 2000] [--epochs 4] [--loss-net mobilenet_v2.block6]
                                     [--threads 1] [--json]

A 2-core CPU measurement with AlexNet relu2 put the speed-up at 1.2-1.6x at 64 px (batch 128); the papers'
GPU claim is larger.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from engine.autoencoders.data import Labels, generated, split
from engine.autoencoders.predictors import PREDICTOR_SIZES, PredictorConfig, evaluate_embeddings, predictor_name
from engine.autoencoders.training import AutoencoderConfig, train_autoencoder

PROCEDURES = ("I-I-PW", "I-I-PS", "I-F-FP")
PREDICTORS = {predictor_name(hidden): hidden for hidden in PREDICTOR_SIZES}


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.autoencoder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="generated training scenes (default 2000)")
    parser.add_argument("--eval-images", type=int, default=600, help="held-out scenes for the predictor")
    parser.add_argument("--size", type=int, default=64, help="image side in px (default 64)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per procedure (default 4)")
    parser.add_argument("--loss-net", default=AutoencoderConfig.loss_net, help="loss network layer (ARCH.LAYER)")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "random"],
                        help="loss network weights (random: labelled RANDOM)")
    parser.add_argument("--predictor", default="64-64", choices=list(PREDICTORS), help="the fixed predictor")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core machine two OpenMP threads per "
                             "process were 3-4x slower for every procedure)")
    parser.add_argument("--batch-size", type=int, default=AutoencoderConfig.batch_size, help="images per step")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and models")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train = generated(args.images, args.size, args.seed)
    held_out = generated(args.eval_images, args.size, args.seed, start=args.images)
    parts = split(len(held_out), seed=args.seed)
    seconds, errors, caches, provenance = {}, {}, {}, {}
    for name in PROCEDURES:
        config = AutoencoderConfig(procedure=name, loss_net=args.loss_net, weights=args.weights, epochs=args.epochs,
                                   batch_size=args.batch_size, seed=args.seed)
        started = time.perf_counter()
        trained = train_autoencoder(config, train, show_bar=not args.json)
        evaluation = evaluate_embeddings(trained.embed(held_out.images),
                                         Labels(held_out.positions, None), parts,
                                         [PREDICTORS[args.predictor]], PredictorConfig(seed=args.seed))
        seconds[name] = statistics.median(trained.epoch_seconds)
        errors[name] = evaluation.position_error
        caches[name] = trained.cache_seconds
        provenance[name] = trained.provenance
        if not args.json:
            print(f"{name}: {seconds[name]:.2f} s/epoch (epochs {', '.join(f'{s:.2f}' for s in trained.epoch_seconds)}"
                  f"; cache {caches[name]:.1f} s), position error {errors[name]:.2f} px "
                  f"({time.perf_counter() - started:.0f} s in all)")
    result = {
        "fp_speedup": seconds["I-I-PS"] / seconds["I-F-FP"],
        "pw_over_fp_seconds": seconds["I-I-PW"] / seconds["I-F-FP"],
        "epoch_seconds": seconds,
        "position_error": errors,
        "cache_seconds": caches,
        "settings": {"images": args.images, "eval_images": args.eval_images, "size": args.size, "epochs": args.epochs,
                     "loss_net": args.loss_net, "weights": args.weights, "predictor": args.predictor,
                     "threads": args.threads, "batch_size": args.batch_size, "seed": args.seed,
                     "position_unit": "px"},
        "provenance": provenance,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"feature prediction is {result['fp_speedup']:.2f}x faster per epoch than perceptual loss "
              f"(target >= 1.2x); position error PW {errors['I-I-PW']:.2f}, PS {errors['I-I-PS']:.2f}, "
              f"FP {errors['I-F-FP']:.2f} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
