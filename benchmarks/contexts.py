"""Context adaptation on random contexts: held-out ranking accuracy before and after training.

For each of ``--contexts`` random contexts (seeded), a fresh metric is adapted with
``engine.similarity.contexts.adaptation.adapt`` on the bundled photographs (some held out) and scored on one frozen
test set. Prints one line per context and the mean; ``--json`` prints one JSON object.
The baseline is the same metric without adaptation (the paper's comparison).

    python -m benchmarks.contexts [--contexts 5] [--backbone mobilenet_v2] [--epochs 6] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from engine.similarity.contexts import adaptation as trainer
from engine.similarity.contexts.distortions import random_context
from engine.similarity.contexts.evaluate import difficulty
from engine.similarity.contexts.model import TrainingConfig
from engine.similarity.contexts.triplets import frozen_triplets


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contexts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", type=int, default=5, help="number of random contexts (default 5)")
    parser.add_argument("--backbone", default="mobilenet_v2", help="backbone (default mobilenet_v2)")
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs, help="epochs per context")
    parser.add_argument("--seed", type=int, default=0, help="seed of the contexts (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    split = trainer.load_images(None)
    test_set = frozen_triplets(split.test, 6, TrainingConfig.image_size)
    rows = []
    for index in range(args.contexts):
        context = random_context(torch.Generator().manual_seed(args.seed + index))
        model = trainer.build_context_model(args.backbone, None, "spatial", True, "lin")
        started = time.perf_counter()
        run = trainer.adapt(context, split, model, TrainingConfig(epochs=args.epochs, seed=index),
                            test_set=test_set, show_bar=not args.json)
        hard = difficulty(run.before, run.after)
        rows.append({"context": list(context), "before": round(run.before.overall, 4),
                     "after": round(run.after.overall, 4), "seconds": round(time.perf_counter() - started, 1),
                     "hardest_before": hard.hardest_before, "their_rank_after": hard.their_rank_after,
                     "rank_correlation": round(hard.rank_correlation, 3)})
        if not args.json:
            print(f"{' > '.join(context):55} {rows[-1]['before']:.3f} -> {rows[-1]['after']:.3f} "
                  f"({rows[-1]['seconds']:.0f} s; per-pair rank correlation {rows[-1]['rank_correlation']:.2f})")
    summary = {
        "backbone": args.backbone, "images": split.description, "test_triplets": len(test_set),
        "mean_before": round(float(np.mean([r["before"] for r in rows])), 4),
        "mean_after": round(float(np.mean([r["after"] for r in rows])), 4),
        "improved": sum(r["after"] > r["before"] for r in rows), "contexts": rows,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"mean {summary['mean_before']:.3f} -> {summary['mean_after']:.3f}; improved in "
              f"{summary['improved']}/{len(rows)} contexts ({split.description}; {len(test_set)} test triplets)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
