"""Train an intent classifier on your own labelled sentences; by default the pipeline is chosen for them.

    python -m trainers.intent --train FILE [--test FILE] --out DIR [--pipeline auto] [--budget-s 90]

FILE is a CSV with ``text,label`` columns, JSONL (one ``{"text", "label"}`` object per line) or
corpus JSON (NLU Evaluation Corpora format; ``--train`` keeps its ``training: true`` sentences,
``--test`` its ``training: false`` ones).

``--pipeline auto`` (the default) scores a fixed set of candidate pipelines (subword semantic
hashing with the paper's classifiers, letter n-gram ranges, the MiniLM sentence embedding, their
hybrid and blend) by stratified K-fold cross-validation on the training file only, within
``--budget-s`` seconds, refits the best on the whole file and calibrates its probabilities on the
held-out scores. ``--pipeline NAME`` trains one candidate (cross-validated with ``--cv K`` for its
score and calibration; ``--cv 0`` skips that); the option flags (``--classifier``, ``--ngram-min``
...) change a named pipeline.

Writes ``DIR/model.safetensors`` (safe to share: no pickle) and, with ``--test``,
``DIR/metrics.json`` with ``accuracy``, ``micro_f1``, ``weighted_f1``, ``macro_f1``, ``selection``
(every candidate's ``pipeline``, ``cv_accuracy``, ``seconds``, ``status``), ``selection_reason``
and ``typo_robustness`` (test accuracy at typo rates 0-20 % for the model and a word TF-IDF
baseline). Errors in the input are reported with the file's line number; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine.errors import InputError, WorkbenchError, command_line
from engine.intent import persistence, robustness
from engine.intent.data import LabelledTexts, read_labelled
from engine.intent.model import OPTIONS, IntentConfig, IntentModel, ModelInfo, evaluate
from engine.intent.persistence import METRICS_FILE, MODEL_FILE
from engine.intent.selection import AUTO, DEFAULT_BUDGET_S, PIPELINES, Selection, candidate, train

EPILOG = ("No --resume or --checkpoint-dir: training has no epochs to resume. It takes seconds on a few "
          "hundred sentences and about a minute or two on 10,000 (bounded by --budget-s plus one refit), and "
          "sentence embeddings, the slow part, are cached per distinct sentence for the whole run.")


def get_args_parser() -> argparse.ArgumentParser:
    """The command-line options; pipeline options come from :data:`engine.intent.model.OPTIONS`."""
    parser = argparse.ArgumentParser(prog="python -m trainers.intent", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter, epilog=EPILOG)
    parser.add_argument("--train", type=Path, required=True, help="labelled training sentences (CSV, JSONL, JSON)")
    parser.add_argument("--test", type=Path, help="labelled test sentences; writes DIR/metrics.json")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--name", help="model name shown in the app (default: the output folder's name)")
    parser.add_argument("--pipeline", choices=PIPELINES, default=AUTO,
                        help="auto: choose among the candidates by cross-validation on --train; or one candidate")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                        help="seconds for choosing the pipeline (embedding + cross-validation; the refit comes on top)")
    parser.add_argument("--cv", type=int, default=5, metavar="K",
                        help="K-fold cross-validation on the training file (0: none, only for a named pipeline)")
    parser.add_argument("--oos-threshold", type=float, default=0.0,
                        help="answer 'out_of_scope' when the most likely intent's probability is below this (0: never)")
    parser.add_argument("--seed", type=int, default=0, help="seed for folds, augmentation and classifiers")
    group = parser.add_argument_group("pipeline options (change a named --pipeline; default: the pipeline's own)")
    for option in OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        if option.kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=option.help)
        else:
            group.add_argument(flag, type=option.kind, choices=option.choices or None, default=None,
                               help=option.help)
    return parser


def pipeline_config(args: argparse.Namespace) -> str | IntentConfig:
    """``auto``, a candidate's name, or a candidate's configuration changed by the option flags."""
    changes = {f.name: getattr(args, f.name) for f in fields(IntentConfig)
               if getattr(args, f.name, None) is not None and f.name not in ("seed", "oos_threshold")}
    if not changes:
        return args.pipeline
    if args.pipeline == AUTO:
        raise InputError(f"--{next(iter(changes)).replace('_', '-')} changes one pipeline: name it with --pipeline "
                         f"(one of {', '.join(PIPELINES[1:])}), or leave the options out for auto.")
    try:
        return replace(candidate(args.pipeline).config, **changes)
    except WorkbenchError as error:
        raise InputError(str(error)) from error


def print_selection(selection: Selection) -> None:
    """Every candidate's CV accuracy, time and status, then why the winner won."""
    print(f"pipelines scored by {selection.folds}-split stratified cross-validation on {selection.n_sentences:,} "
          f"training sentences ({selection.seconds:.1f} s of a {selection.budget_s:g} s budget; embedding "
          f"{selection.embedding_seconds:.1f} s, shared):")
    for found in selection.candidates:
        cv = found.cv
        score = f"{cv.mean:.4f} ± {cv.std:.4f} ({len(cv.folds)} splits)" if cv else "-"
        note = f"  [{found.note}]" if found.note else ""
        print(f"  {found.status:8} {found.pipeline:12} CV accuracy {score:32} {found.seconds:7.1f} s{note}")
    print(f"chosen: {selection.reason}")


def report_test(model: IntentModel, train_data: LabelledTexts, test: LabelledTexts) -> dict[str, Any]:
    """Test metrics, and the typo-robustness curves of the model and the word TF-IDF baseline."""
    metrics = evaluate(model, test)
    print(f"test ({test.source}, {metrics.n} sentences): accuracy {metrics.accuracy:.4f}  "
          f"micro_f1 {metrics.micro_f1:.4f}  weighted_f1 {metrics.weighted_f1:.4f}  macro_f1 {metrics.macro_f1:.4f}")
    curve = robustness.typo_curve(model.predict_labels, test)
    baseline = robustness.typo_curve(robustness.word_tfidf_baseline(train_data), test)
    print(f"typo robustness on {curve['n']} test sentences (rate: this model / word TF-IDF): " + ", ".join(
        f"{rate:.0%}: {ours:.3f}/{theirs:.3f}" for rate, ours, theirs in
        zip(curve["rates"], curve["accuracy"], baseline["accuracy"])))
    return {**metrics.to_json(), "typo_robustness": {"model": curve, "word_tfidf": baseline}}


def run(args: argparse.Namespace) -> dict[str, object]:
    """Choose or take the pipeline, train, test, save; returns what was written to metrics.json."""
    pipeline = pipeline_config(args)
    train_data = read_labelled(args.train, "train")
    test = read_labelled(args.test, "test") if args.test else None
    described = pipeline.describe() if isinstance(pipeline, IntentConfig) else pipeline
    print(f"{train_data.source}: {len(train_data):,} sentences, {len(train_data.intents)} intents; "
          f"pipeline {described}")
    with tqdm(total=100, unit="%", desc="training", file=sys.stdout) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message[:60])
            bar.update(max(0, round(fraction * 100) - bar.n))

        trained = train(train_data, pipeline, args.budget_s, args.cv, args.seed,
                        ModelInfo(name=args.name or args.out.resolve().name, source=train_data.source), progress,
                        args.oos_threshold)
    model = trained.model
    results: dict[str, Any] = {"train_file": str(args.train), "n_train": len(train_data),
                               "train_seconds": model.info.train_seconds, "pipeline": model.config.describe()}
    if trained.selection is not None:
        print_selection(trained.selection)
        results["selection"] = [c.to_json() for c in trained.selection.candidates]
        results["selection_reason"] = trained.selection.reason
    if model.info.cv:
        results["cv_accuracy"] = model.info.cv
    print(f"trained {model.config.describe()} in {model.info.train_seconds:.1f} s")
    if test is not None:
        tested = report_test(model, train_data, test)
        results |= tested
        results["test_file"] = str(args.test)
        model.info = replace(model.info, test={k: v for k, v in tested.items() if k != "typo_robustness"}
                             | {"source": test.source}, typo_curve=tested["typo_robustness"])
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
