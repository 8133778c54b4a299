"""MPCS pretraining, BreakHis fine-tuning with patient-level evaluation, and the offline retrieval demo.

Implements "Magnification Prior: A Self-Supervised Method for Learning Representations on Breast Cancer
Histopathological Images" (Chhipa et al., WACV 2023) on your own BreakHis download (never shipped: its terms are
non-commercial), any ``<class>/<patient>/<magnification>/<image>`` folder, or a CSV.

Examples::

    python -m trainers.histology demo --epochs 8 --out runs/demo      # how assets/histology was made
    python -m trainers.histology pretrain --data BreaKHis_v1 --epochs 50 --strategy ordered --out runs/mpcs
    python -m trainers.histology finetune --data BreaKHis_v1 --epochs 10 --folds 1 --out runs/ft \\
        [--encoder runs/mpcs/encoder.safetensors --split runs/mpcs/split.csv]
    python -m trainers.histology evaluate --data BreaKHis_v1 --model runs/ft/model.safetensors \\
        --split runs/ft/split.csv --out runs/eval
    torchrun --nproc_per_node 4 -m trainers.histology pretrain --data BreaKHis_v1 --optimizer lars \\
        --batch-size 1024 --device cuda --amp --out runs/mpcs

``demo`` writes ``OUT/retrieval.json`` (``imagenet_top1``, ``mpcs_top1``, ``imagenet_top5``, ``mpcs_top5``) and
the encoder. ``finetune`` writes ``OUT/split.csv`` (``path,patient,split``), ``OUT/metrics.json`` (``ila_mean``,
``pla_mean`` as fractions, ``per_magnification`` ``{"40X": {"ila", "pla", ...}}``, ...), ``OUT/comparison.md``
(beside the paper's table), ``OUT/predictions.csv`` and ``OUT/model.safetensors``. ``--checkpoint-dir DIR``
keeps resumable checkpoints; ``--resume`` continues from them. ``pretrain`` and ``demo`` run under ``torchrun``
(DDP; SyncBN and the all-gathered loss on GPUs); ``finetune`` runs in one process. The library behind this command
is :mod:`engine.histology`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import distributed
from engine.errors import command_line
from engine.histology.encoders import ENCODERS
from engine.histology.finetune import MODES, TASKS, FinetuneConfig
from engine.histology.mpcs import STRATEGIES, PretrainConfig
from trainers.options import add_checkpoint_options, require_checkpoint_dir

DEFAULTS = PretrainConfig()
FINETUNE = FinetuneConfig()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of splits, sampling and initialisation")
    add_checkpoint_options(parser, "resumable checkpoints")


def _pretraining(parser: argparse.ArgumentParser, epochs: int, strategy: str) -> None:
    parser.add_argument("--arch", default=DEFAULTS.encoder, choices=list(ENCODERS), help="encoder architecture")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "random"],
                        help="start from ImageNet (default) or random weights (tests only, labelled RANDOM)")
    parser.add_argument("--strategy", default=strategy, choices=STRATEGIES, help="pair strategy (default %(default)s)")
    parser.add_argument("--reference-bias", action="store_true",
                        help="Ordered pairs as the reference code draws them ((200X, 400X) with probability 1/2)")
    parser.add_argument("--asymmetric", action="store_true", help="the reference's single-GPU asymmetric loss")
    parser.add_argument("--no-final-bn", action="store_true", help="drop the projector's final BatchNorm")
    parser.add_argument("--temperature", type=float, default=DEFAULTS.temperature)
    parser.add_argument("--epochs", type=int, default=epochs, help="epochs (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="pairs per step over all ranks")
    parser.add_argument("--image-size", type=int, default=DEFAULTS.image_size, help="pixels (reference: 341 or 224)")
    parser.add_argument("--optimizer", default=DEFAULTS.optimizer, choices=["adam", "lars"],
                        help="adam, or lars: the large-batch recipe (lr = batch/256 x 0.2)")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate")
    parser.add_argument("--warmup-epochs", type=int, default=DEFAULTS.warmup_epochs)
    parser.add_argument("--trainable-blocks", type=int, default=DEFAULTS.trainable_blocks,
                        help="train only the encoder's last N blocks (-1: all; default %(default)s)")
    parser.add_argument("--min-magnifications", type=int, default=DEFAULTS.min_magnifications,
                        help="keep keys present at this many magnifications (reference: 4)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on a GPU (labelled fast mode)")
    parser.add_argument("--workers", type=int, default=0, help="data-loading worker processes")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m trainers.histology", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pretrain = commands.add_parser("pretrain", help="MPCS pretraining on a folder's training patients")
    pretrain.add_argument("--data", type=Path, required=True, help="BreakHis folder, generic folder or CSV")
    pretrain.add_argument("--split", type=Path, default=None, help="a manifest whose training patients to use")
    pretrain.add_argument("--k", type=int, default=5, help="folds of a new split (its fold 1 is used; default 5)")
    pretrain.add_argument("--all-patients", action="store_true",
                          help="use every patient (then evaluate on other data: test patients would leak)")
    _pretraining(pretrain, 20, DEFAULTS.strategy)
    _common(pretrain)
    finetune = commands.add_parser("finetune", help="fine-tune and test over patient-level folds")
    finetune.add_argument("--data", type=Path, required=True, help="BreakHis folder, generic folder or CSV")
    finetune.add_argument("--encoder", type=Path, default=None,
                          help="an MPCS encoder file (default: ImageNet weights of --arch)")
    finetune.add_argument("--arch", default="mobilenet_v2", choices=list(ENCODERS), help="encoder without --encoder")
    finetune.add_argument("--weights", default="pretrained", choices=["pretrained", "random"],
                          help="ImageNet (default) or random weights without --encoder (tests only)")
    finetune.add_argument("--task", default=FINETUNE.task, choices=list(TASKS), help="binary or subtype head")
    finetune.add_argument("--mode", default=FINETUNE.mode, choices=list(MODES),
                          help="linear probe on cached features (default) or full fine-tuning (the paper's)")
    finetune.add_argument("--agnostic", action="store_true", help="one model for all magnifications")
    finetune.add_argument("--label-fraction", type=float, default=FINETUNE.label_fraction,
                          help="share of training patients whose labels are used (0.2, 0.4, ..., 1)")
    finetune.add_argument("--epochs", type=int, default=FINETUNE.epochs)
    finetune.add_argument("--batch-size", type=int, default=FINETUNE.batch_size)
    finetune.add_argument("--image-size", type=int, default=FINETUNE.image_size)
    finetune.add_argument("--lr", type=float, default=None, help="default 1e-2 (linear) or 1e-4 (full)")
    finetune.add_argument("--threshold", type=float, default=FINETUNE.threshold,
                          help="malignant when its probability reaches this (reference code: 0.2)")
    finetune.add_argument("--k", type=int, default=None,
                          help="folds in the split (default 5, fewer when there are fewer accession groups)")
    finetune.add_argument("--folds", type=int, default=None, help="how many of the k folds to run (default all)")
    finetune.add_argument("--split", type=Path, default=None, help="reuse this manifest (one split) instead")
    finetune.add_argument("--feature-cache", type=Path, default=None,
                          help="keep linear-probe features in this file between runs")
    _common(finetune)
    evaluate = commands.add_parser("evaluate", help="test a saved classifier on a folder's test patients")
    evaluate.add_argument("--data", type=Path, required=True, help="BreakHis folder, generic folder or CSV")
    evaluate.add_argument("--model", type=Path, required=True, help="a classifier file written by finetune")
    evaluate.add_argument("--split", type=Path, default=None,
                          help="a manifest: evaluate its test patients (default: every image)")
    evaluate.add_argument("--out", type=Path, required=True, help="output folder (metrics.json)")
    evaluate.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    demo = commands.add_parser("demo", help="MPCS on the CC0 region; held-out cross-magnification retrieval")
    _pretraining(demo, 8, "random")  # the settings of the shipped encoder
    _common(demo)
    return parser.parse_args(argv)


def _pretrain_config(args: argparse.Namespace) -> PretrainConfig:
    return PretrainConfig(
        encoder=args.arch, weights=args.weights, strategy=args.strategy, reference_bias=args.reference_bias,
        symmetric=not args.asymmetric, temperature=args.temperature, final_bn=not args.no_final_bn,
        epochs=args.epochs, batch_size=args.batch_size, image_size=args.image_size, optimizer=args.optimizer,
        lr=args.lr, warmup_epochs=args.warmup_epochs,
        trainable_blocks=None if args.trainable_blocks is not None and args.trainable_blocks < 0
        else args.trainable_blocks, min_magnifications=args.min_magnifications, amp=args.amp,
        workers=args.workers, seed=args.seed)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m trainers.histology``."""
    args = parse_args(argv)
    require_checkpoint_dir(args)
    from engine.histology import runs
    from engine.histology.dataset import read_dataset

    try:
        if args.command == "demo":
            checkpoint = args.checkpoint_dir / "demo.pt" if args.checkpoint_dir else None
            summary = runs.demo(args.out, _pretrain_config(args), args.device, checkpoint=checkpoint,
                                resume=args.resume)
            shown = {k: round(summary[k], 4) for k in ("imagenet_top1", "mpcs_top1", "imagenet_top5", "mpcs_top5")}
        elif args.command == "pretrain":
            checkpoint = args.checkpoint_dir / "mpcs.pt" if args.checkpoint_dir else None
            summary = runs.pretrain(read_dataset(args.data), args.out, _pretrain_config(args), args.split, args.k,
                                    args.all_patients, args.device, checkpoint=checkpoint, resume=args.resume)
            shown = {"keys": summary["keys"], "patients": summary["patients"], "last_loss": summary["losses"][-1]}
        elif args.command == "finetune":
            config = FinetuneConfig(task=args.task, mode=args.mode, per_magnification=not args.agnostic,
                                    label_fraction=args.label_fraction, epochs=args.epochs, batch_size=args.batch_size,
                                    image_size=args.image_size, lr=args.lr, threshold=args.threshold, seed=args.seed)
            run = runs.finetune(read_dataset(args.data), args.out, config, args.arch, args.encoder, args.weights,
                                args.k, args.folds, args.split, args.device, checkpoint_dir=args.checkpoint_dir,
                                resume=args.resume, feature_cache=args.feature_cache)
            summary = run.summary
            print((args.out / "comparison.md").read_text(encoding="utf-8"))
            shown = {k: summary[k] for k in ("ila_mean", "pla_mean", "balanced_accuracy_mean", "auc_mean")}
        else:
            summary = runs.evaluate(read_dataset(args.data), args.model, args.out, args.split, args.device)
            shown = {k: summary[k] for k in ("ila_mean", "pla_mean", "balanced_accuracy_mean", "auc_mean")}
        if distributed.is_main_process():
            print(json.dumps(shown))
            print(f"wrote {args.out}")
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
