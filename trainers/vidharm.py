"""Train a VidHarm age-level rater (Btl / 7 / 11 / 15) from picture and sound.

Example::

    python -m trainers.vidharm --data VIDHARM_DIR --epochs 5 --out my-rater

``VIDHARM_DIR`` holds ``train.json``, ``val.json``, ``test.json`` (lists of ``{"filename", "label"}``)
and ``clips/<filename>.mp4`` (or ``clips/<filename>/<filename>.mp4``); ``--data clips.csv`` reads
``path,label[,group]`` rows instead and splits them by group. Clip features are computed once and
cached (``--cache-dir``); then the visual head, the audio network and the fusion head are trained
(class-balanced sampling, best validation epoch kept) and evaluated on the test split.

Writes ``OUT/model.safetensors`` + ``OUT/model.json`` (use it with
``python -m engine.video score CLIP --model OUT``), ``OUT/metrics.json`` (``test`` and ``val`` ->
``video`` / ``audio`` / ``fused`` -> accuracy, mean_class_accuracy, confusion, ordinal distances;
every fusion rule) and ``OUT/curves-<stage>.png``. ``--checkpoint-dir DIR`` keeps resumable
checkpoints (default ``OUT/checkpoints``), ``--resume`` continues from them; for large runs use
``torchrun --nproc_per_node N -m trainers.vidharm ...`` (DDP; features are computed in shares).
Try it on synthetic clips: ``python -m engine.video make-synthetic DIR`` first.
The library behind this command is :mod:`engine.video.training`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import distributed
from engine.errors import command_line
from engine.video.dataset import load_clips
from engine.video.models import AUDIO_ARCHS, FUSION_RULES, VISUAL_ARCHS, ModelConfig
from engine.video.training import METRICS_FILE, TrainingConfig, features_folder, save_run, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(prog="python -m trainers.vidharm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="VidHarm-layout folder, or a CSV path,label[,group]")
    parser.add_argument("--out", type=Path, required=True, help="folder for the rater, metrics.json and curves")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs per branch (default %(default)s)")
    parser.add_argument("--visual", choices=list(VISUAL_ARCHS), default="mobilenet_v2",
                        help="visual encoder (r2plus1d_18 needs its Kinetics file: python -m engine.weights add)")
    parser.add_argument("--weights", choices=["pretrained", "random"], default="pretrained",
                        help="visual encoder weights (random: tests only, labelled RANDOM)")
    parser.add_argument("--frame-size", type=int, default=None, help="frame side in pixels (default: the encoder's)")
    parser.add_argument("--frames-per-window", type=int, default=None,
                        help="frames sampled per 10-s window (default: the encoder's)")
    parser.add_argument("--audio-arch", choices=list(AUDIO_ARCHS), default="cnn", help="audio network")
    parser.add_argument("--audio-width", type=int, default=None, help="channels of the audio CNN's first block")
    parser.add_argument("--fusion", choices=list(FUSION_RULES), default="product",
                        help="fusion rule the rater uses (all are evaluated)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="clips per visual step")
    parser.add_argument("--audio-batch-size", type=int, default=defaults.audio_batch_size,
                        help="clips per audio step")
    parser.add_argument("--optimizer", choices=["adamw", "sgd"], default=defaults.optimizer,
                        help="adamw (default) or VidHarm's sgd (momentum 0.9)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="learning rate (default %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--no-balance", action="store_true", help="plain shuffling instead of class balancing")
    parser.add_argument("--fusion-epochs", type=int, default=defaults.fusion_epochs,
                        help="epochs of the learned fusion head")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and initialisation")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="clip feature cache (default: <data dir>/video/features)")
    parser.add_argument("--checkpoint-dir", type=Path, default=None,
                        help="resumable checkpoints (default: OUT/checkpoints)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --checkpoint-dir")
    return parser.parse_args(argv)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m trainers.vidharm``."""
    args = parse_args(argv)
    try:
        config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, audio_batch_size=args.audio_batch_size,
                                optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
                                balanced=not args.no_balance, fusion_epochs=args.fusion_epochs, seed=args.seed)
        model_config = ModelConfig.for_arch(args.visual, visual_weights=args.weights, frame_size=args.frame_size,
                                            frames_per_window=args.frames_per_window, audio_arch=args.audio_arch,
                                            audio_width=args.audio_width, fusion=args.fusion, seed=args.seed)
        data = load_clips(args.data)
        distributed.setup(args.device)  # joins the process group under torchrun (train() finds it joined)
        if distributed.is_main_process():
            print(json.dumps({"data": str(args.data), "splits": data.statistics()}), file=sys.stderr)
            for note in data.notes:
                print(f"note: {note}", file=sys.stderr)
        run = train(data, model_config, config, args.checkpoint_dir or args.out / "checkpoints",
                    args.cache_dir or features_folder(), resume=args.resume, device=args.device,
                    log=lambda text: print(text, file=sys.stderr))
        if distributed.is_main_process():
            save_run(run, args.out, data, config)
            test = run.metrics["test"]
            for modality in ("video", "audio", "fused"):
                scores = test[modality]
                print(f"test {modality:5}: mean class accuracy {scores['mean_class_accuracy']}, "
                      f"accuracy {scores['accuracy']}, n={scores['n']}")
            print(f"saved {args.out} (metrics in {args.out / METRICS_FILE})")
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
