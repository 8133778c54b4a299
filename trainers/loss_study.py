"""The loss-network study: sweep architecture x layer x task and test the paper's two claims.

For each loss network (a named layer such as ``vgg16.relu3_3``) and task, this scores the network:
``autoencoding`` trains an autoencoder with it (I-I-PS by default) on generated scenes and evaluates
the embedding (position error, shape accuracy); ``similarity`` uses the layer as an LPIPS-style
baseline metric on a BAPPS-layout folder (2AFC agreement). Results go to ``OUT/results.csv`` as
soon as each is measured; running the same command again skips them, so an interrupted sweep
resumes. At the end the plots ``by_architecture.png`` and ``by_layer.png``, ``claims.json`` and
``summary.md`` are written: whether, on what was measured, (1) ImageNet accuracy fails to predict
loss-network quality and (2) later layers are not reliably better, each stated as held or not held.

Example (offline, MobileNetV2's real weights)::

    python -m trainers.loss_study --archs mobilenet_v2 --images 1000 --epochs 5 --out studies/mobilenet

``--archs`` defaults to the study's 14 architectures at their 4 layers each (their ImageNet weights
must be added first: ``python -m engine.weights add FILE``); ``--layers`` names layers explicitly.
``--checkpoint-dir`` keeps each autoencoder's resumable checkpoint; ``--resume`` continues an
interrupted one. Under ``torchrun`` each autoencoder trains with DDP.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine import distributed
from engine.autoencoders.procedures import PROCEDURES
from engine.autoencoders.study import TASKS, StudyConfig, default_layers, run_study, summary_markdown, write_report
from engine.backbones import STUDY_ARCHITECTURES
from engine.errors import command_line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m trainers.loss_study", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--archs", default=",".join(STUDY_ARCHITECTURES),
                        help="comma-separated architectures, each at its study (or default) layers")
    parser.add_argument("--layers", default=None, help="comma-separated ARCH.LAYER names instead of --archs")
    parser.add_argument("--tasks", default="autoencoding", help=f"comma-separated, from {', '.join(TASKS)}")
    parser.add_argument("--bapps", type=Path, default=None, help="BAPPS-layout folder for the similarity task")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "random"],
                        help="loss networks' weights (random: tests only, labelled RANDOM)")
    parser.add_argument("--procedure", default="I-I-PS", choices=list(PROCEDURES), help="autoencoding procedure")
    parser.add_argument("--images", type=int, default=1000, help="generated training scenes per autoencoder")
    parser.add_argument("--eval-images", type=int, default=500, help="generated scenes for the predictors")
    parser.add_argument("--size", type=int, default=64, help="image side in px (64 + 16 n)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per autoencoder")
    parser.add_argument("--latent", type=int, default=64, help="embedding size z")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step")
    parser.add_argument("--predictor-epochs", type=int, default=500, help="most epochs per predictor")
    parser.add_argument("--patience", type=int, default=25, help="predictor early-stopping patience")
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=True,
                        help="the input normalisation the loss networks' weights expect")
    parser.add_argument("--sigmoid", action=argparse.BooleanOptionalAction, default=False,
                        help="a sigmoid on the loss networks' outputs (the first paper's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and initialisation")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train")
    parser.add_argument("--out", type=Path, required=True, help="the study's folder (results.csv, plots)")
    parser.add_argument("--checkpoint-dir", type=Path, default=None,
                        help="keep each autoencoder's resumable checkpoint here (default OUT/checkpoints)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted autoencoder from its checkpoint")
    return parser.parse_args(argv)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m trainers.loss_study``."""
    args = parse_args(argv)
    tasks = tuple(task.strip() for task in args.tasks.split(",") if task.strip())
    if args.layers:
        layers = tuple(name.strip() for name in args.layers.split(",") if name.strip())
    else:
        layers = default_layers([arch.strip() for arch in args.archs.split(",") if arch.strip()])
    config = StudyConfig(layers=layers, tasks=tasks, weights=args.weights,  # type: ignore[arg-type]
                         bapps=str(args.bapps) if args.bapps else None, procedure=args.procedure, images=args.images,
                         eval_images=args.eval_images, size=args.size, epochs=args.epochs, latent=args.latent,
                         batch_size=args.batch_size, seed=args.seed, predictor_epochs=args.predictor_epochs,
                         patience=args.patience, normalize=args.normalize, sigmoid=args.sigmoid).checked()
    try:
        rank = distributed.setup(args.device)
        rows = run_study(config, args.out, args.device, args.resume, args.checkpoint_dir)
        if rank.is_main:
            verdicts, paths = write_report(args.out, args.out.name)
            print(summary_markdown(rows, verdicts))
            print(f"wrote {len(rows)} rows to {args.out / 'results.csv'}; plots {paths['by_architecture']}, "
                  f"{paths['by_layer']}")
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
