"""Train an intent classifier (subword semantic hashing) on your own labelled sentences.

    python -m trainers.intent --train FILE [--test FILE] --out DIR [options]

FILE is a CSV with ``text,label`` columns, JSONL (one ``{"text", "label"}`` object per line) or
corpus JSON (NLU Evaluation Corpora format; ``--train`` keeps its ``training: true`` sentences,
``--test`` its ``training: false`` ones). Writes ``DIR/model.safetensors`` (safe to share: no
pickle) and, with ``--test``, ``DIR/metrics.json`` with ``accuracy``, ``micro_f1``,
``weighted_f1`` (and ``macro_f1``) on the test file, which are also printed. ``--cv K`` adds
K-fold cross-validation accuracy on the training file (model selection never looks at --test).
Errors in the input (missing columns, empty labels, one class, not UTF-8) are reported with
the file's line number; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path

from tqdm import tqdm

from engine.errors import WorkbenchError, command_line
from engine.intent import persistence
from engine.intent.data import read_labelled
from engine.intent.model import OPTIONS, IntentConfig, ModelInfo, evaluate, fit
from engine.intent.persistence import METRICS_FILE, MODEL_FILE
from engine.intent.selection import cross_validate


def get_args_parser() -> argparse.ArgumentParser:
    """The command-line options; pipeline options come from :data:`engine.intent.model.OPTIONS`."""
    parser = argparse.ArgumentParser(prog="python -m trainers.intent", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--train", type=Path, required=True, help="labelled training sentences (CSV, JSONL, JSON)")
    parser.add_argument("--test", type=Path, help="labelled test sentences; writes DIR/metrics.json")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--name", help="model name shown in the app (default: the output folder's name)")
    parser.add_argument("--cv", type=int, default=5, metavar="K",
                        help="K-fold cross-validation on the training file (0 to skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed for augmentation and the classifier")
    defaults = IntentConfig()
    for option in OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        default = getattr(defaults, option.name)
        if option.choices:
            parser.add_argument(flag, choices=option.choices, default=default, help=option.help)
        else:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=option.help)
    return parser


def _config(args: argparse.Namespace) -> IntentConfig:
    return IntentConfig(**{f.name: getattr(args, f.name) for f in fields(IntentConfig)})


def run(args: argparse.Namespace) -> dict[str, object]:
    """Train, optionally cross-validate and test, save; returns what was written to metrics.json."""
    config = _config(args)
    train = read_labelled(args.train, "train")
    test = read_labelled(args.test, "test") if args.test else None
    print(f"{train.source}: {len(train):,} sentences, {len(train.intents)} intents; pipeline {config.describe()}")
    results: dict[str, object] = {"train_file": str(args.train), "n_train": len(train)}
    with tqdm(total=100, unit="%", desc="training", file=sys.stdout) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message[:60])
            bar.update(max(0, round(fraction * 100) - bar.n))

        model = fit(train, config, ModelInfo(name=args.name or args.out.resolve().name, source=train.source),
                    progress)
    results["train_seconds"] = model.info.train_seconds
    cv = None
    if args.cv:
        with tqdm(total=100, unit="%", desc=f"{args.cv}-fold CV", file=sys.stdout) as bar:
            cv = cross_validate(train, config, folds=args.cv, seed=args.seed,
                                progress=lambda f, m: bar.update(max(0, round(f * 100) - bar.n)))
        results["cv_accuracy"] = cv.to_json()
        print(f"cross-validation accuracy on the training file: {cv.mean:.4f} ± {cv.std:.4f} "
              f"({len(cv.folds)} folds)")
    test_metrics = None
    if test is not None:
        metrics = evaluate(model, test)
        test_metrics = {**metrics.to_json(), "source": test.source}
        results.update(metrics.to_json())
        results["test_file"] = str(args.test)
        print(f"test ({test.source}, {metrics.n} sentences): accuracy {metrics.accuracy:.4f}  "
              f"micro_f1 {metrics.micro_f1:.4f}  weighted_f1 {metrics.weighted_f1:.4f}  "
              f"macro_f1 {metrics.macro_f1:.4f}")
    model.info = replace(model.info, test=test_metrics, cv=cv.to_json() if cv else None)
    args.out.mkdir(parents=True, exist_ok=True)
    if test is not None:
        (args.out / METRICS_FILE).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out / METRICS_FILE}")
    try:
        persistence.save(model, args.out / MODEL_FILE)
        print(f"wrote {args.out / MODEL_FILE}")
    except WorkbenchError as error:
        print(f"model not saved: {error}")
    return results


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m trainers.intent``; exit status 2 on a user error."""
    args = get_args_parser().parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
