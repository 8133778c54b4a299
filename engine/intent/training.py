"""Training an intent model as a job (:mod:`engine.jobs`): what the Intent tab's Train button runs.

The job reads its input files (training file first, optional test file second), trains with
:func:`engine.intent.selection.train` (``auto`` by default), tests, writes the model into its own
job folder and then copies it into a new user model folder, which the tab registers when the job is
done. Progress goes to the job record (live curve of the candidates' CV accuracy; cancel stops at
the next candidate or fold). Resuming a job whose model file was already written skips training.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.intent import catalog, persistence, robustness
from engine.intent.data import read_labelled
from engine.intent.model import ModelInfo, evaluate
from engine.intent.persistence import MODEL_FILE
from engine.intent.selection import AUTO, DEFAULT_BUDGET_S, PIPELINES, train
from engine.jobs import JobContext, JobKind

JOB = JobKind("intent-train", "engine.intent.training:run_job", "Train an intent model")
STEPS = 1000  # progress is reported as step / STEPS


def run_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Train, test, save; returns ``{"name", "folder", "report"}`` (``report``: what the tab shows).

    Params: ``name`` (model name), ``pipeline`` (``auto`` or a candidate), ``budget_s``, ``seed``,
    ``oos_threshold``, ``has_test`` (whether the second input file is a test file).
    """
    inputs = sorted(ctx.inputs.glob("*")) if ctx.inputs.is_dir() else []
    if not inputs:
        raise InputError("Upload a training file first (CSV with text,label columns, JSONL or corpus JSON).")
    pipeline = str(params.get("pipeline", AUTO))
    if pipeline not in PIPELINES:
        raise InputError(f"Unknown pipeline {pipeline!r}; choose one of {', '.join(PIPELINES)}.")
    data = read_labelled(inputs[0], "train", _original_name(inputs[0]))
    test = read_labelled(inputs[1], "test", _original_name(inputs[1])) if params.get("has_test") else None
    saved = ctx.folder / MODEL_FILE
    if ctx.resume and saved.is_file():
        ctx.log("model already trained before the interruption: skipping training")
        model = persistence.load(saved)
    else:
        ctx.log(f"training on {data.source}: {len(data):,} sentences, {len(data.intents)} intents, {pipeline}")

        def progress(fraction: float, message: str) -> None:
            ctx.progress(round(fraction * STEPS), STEPS, message=message)

        trained = train(data, pipeline, float(params.get("budget_s", DEFAULT_BUDGET_S)), 5,
                        int(params.get("seed", 0)), ModelInfo(name=str(params.get("name") or "my-intents"),
                                                              source=data.source),
                        progress, float(params.get("oos_threshold", 0.0)))
        model = trained.model
        if test is not None:
            metrics = evaluate(model, test)
            curves = {"model": robustness.typo_curve(model.predict_labels, test),
                      "word_tfidf": robustness.typo_curve(robustness.word_tfidf_baseline(data), test)}
            model.info = replace(model.info, test={**metrics.to_json(), "source": test.source}, typo_curve=curves)
        persistence.save(model, saved)
    folder = catalog.unused_folder(model.info.name)
    folder.mkdir(parents=True)
    shutil.copyfile(saved, folder / MODEL_FILE)
    ctx.log(f"saved as {folder}")
    return {"name": catalog.registry_name(folder), "folder": str(folder), "report": report(model)}


def _original_name(path: Path) -> str:
    """An input file's name as uploaded (the job runner prefixes ``0000_``)."""
    return path.name.split("_", 1)[1] if "_" in path.name else path.name


def report(model: Any) -> str:
    """Markdown: what was trained, the candidates' scores and why the winner won, the test scores."""
    info = model.info
    lines = [f"Trained **{model.config.describe()}** on {info.n_train:,} sentences, {len(model.labels)} intents, "
             f"in {info.train_seconds:.1f} s."]
    if info.selection:
        lines.append(selection_table(info.selection))
        lines.append(f"**Why:** {info.selection['reason']}.")
    elif info.cv:
        lines.append(f"Cross-validation accuracy {info.cv['mean']:.3f} ± {info.cv['std']:.3f}.")
    if info.test:
        lines.append(f"Test ({info.test['n']} sentences): accuracy {info.test['accuracy']:.3f}, micro-F1 "
                     f"{info.test['micro_f1']:.3f}, macro-F1 {info.test['macro_f1']:.3f}.")
    lines.append(f"Probabilities: {model.probability_kind}"
                 + (f" (temperature {model.temperature:.2f})." if model.temperature else "."))
    return "\n\n".join(lines)


def selection_table(selection: dict[str, Any]) -> str:
    """The candidates of a stored selection as a Markdown table."""
    rows = ["| pipeline | CV accuracy | splits | seconds | status | note |", "| --- | --- | --- | --- | --- | --- |"]
    for found in selection["candidates"]:
        score = "-" if found["cv_accuracy"] is None else f"{found['cv_accuracy']:.3f} ± {found['cv_std']:.3f}"
        rows.append(f"| {found['pipeline']} | {score} | {found['folds']} | {found['seconds']:.1f} | "
                    f"{found['status']} | {found['note']} |")
    return "\n".join(rows)
