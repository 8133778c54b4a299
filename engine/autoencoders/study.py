"""The loss-network study: architecture x layer x task, a resumable CSV, plots and the paper's two claims.

Each loss network (one named layer of one architecture) is scored on each task:

- ``autoencoding``: an autoencoder is trained with that loss network (procedure I-I-PS by default)
  on generated scenes and its embedding evaluated with the predictors: ``position_error`` (lower is
  better) and ``class_accuracy`` (higher is better);
- ``similarity``: the layer as an LPIPS-style baseline metric (channel-normalised spatial distance,
  no learned weights) scored by 2AFC agreement on a BAPPS-layout folder: ``2afc`` (higher is better).

Every finished (architecture, layer, task) appends its rows to ``results.csv`` at once; a rerun skips
what the CSV already holds, so an interrupted study resumes. :func:`check_claims` then checks, on
whatever was measured, the study's two findings:

1. *ImageNet accuracy does not predict loss-network quality*: across architectures with pretrained
   weights (at least 3), the Spearman rank correlation between top-1 accuracy and the best layer's
   score is below 0.5. Random-init networks are left out: the accuracy is not theirs.
2. *Later layers are not reliably better*: the deepest measured layer is the best one (or tied with it)
   in fewer than 3/4 of the architectures (the convention would have it best nearly always).

A verdict is ``held``, ``not held`` or ``not testable`` (too little was measured), per task and metric.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine import distributed
from engine.autoencoders.experiment import DataSpec, run_experiment
from engine.autoencoders.predictors import PredictorConfig
from engine.autoencoders.training import AutoencoderConfig
from engine.backbones import backbone, parse_layer
from engine.errors import InputError
from engine.jobs import JobContext, JobKind

Task = Literal["autoencoding", "similarity"]
TASKS: tuple[Task, ...] = ("autoencoding", "similarity")
RESULTS_FILE = "results.csv"
COLUMNS = ("arch", "layer", "depth", "task", "metric", "value", "higher_is_better", "weights", "random",
           "imagenet_top1", "seconds", "settings")
METRICS: dict[str, bool] = {"position_error": False, "class_accuracy": True, "2afc": True}  # higher is better?
PRIMARY: dict[str, str] = {"autoencoding": "position_error", "similarity": "2afc"}
CORRELATION_LIMIT = 0.5
DEEPEST_BEST_LIMIT = 0.75


def sweep_layers(arch: str) -> tuple[str, ...]:
    """The layers swept for ``arch``: the study's four, or the default layers of a backbone outside it."""
    spec = backbone(arch)
    return spec.study_layers or spec.default_layers


def imagenet_top1(arch: str) -> float | None:
    """ImageNet-1k top-1 accuracy (%) of the weights Workbench uses for ``arch``, from torchvision's metadata."""
    from engine import weights

    try:
        value = weights.weights_enum(arch).meta["_metrics"]["ImageNet-1K"]["acc@1"]
    except (KeyError, AttributeError):
        return None
    return float(value)


@dataclass(frozen=True)
class StudyConfig:
    """What to sweep.

    Attributes:
        layers: explicit ``arch.layer`` names, shallow to deep within each architecture.
        tasks: which tasks to score.
        weights: loss networks' weights (``random``: tests only; every row says so).
        bapps: a BAPPS-layout folder for the similarity task.
        procedure, images, eval_images, size, epochs, latent, batch_size, seed: the autoencoding task.
        predictor_epochs, patience: the predictors' training (the papers: 500 and 25).
    """

    layers: tuple[str, ...]
    tasks: tuple[Task, ...] = ("autoencoding",)
    weights: Literal["pretrained", "random"] = "pretrained"
    bapps: str | None = None
    procedure: str = "I-I-PS"
    images: int = 1000
    eval_images: int = 500
    size: int = 64
    epochs: int = 5
    latent: int = 64
    batch_size: int = 32
    seed: int = 0
    predictor_epochs: int = 500
    patience: int = 25
    normalize: bool = True
    sigmoid: bool = False

    def checked(self) -> StudyConfig:
        """Raise :class:`InputError` for unknown layers or tasks, or a similarity task without a folder."""
        if not self.layers:
            raise InputError("Choose at least one loss network layer (ARCH.LAYER).")
        for name in self.layers:
            parse_layer(name)
        unknown = [task for task in self.tasks if task not in TASKS]
        if unknown or not self.tasks:
            raise InputError(f"Unknown task {', '.join(unknown) or '(none)'}; choose from {', '.join(TASKS)}.")
        if "similarity" in self.tasks and not self.bapps:
            raise InputError("The similarity task needs a BAPPS-layout folder (2afc/<set>/ref,p0,p1,judge).")
        return self

    def settings(self, task: Task) -> str:
        """The settings a row depends on, as a short string stored in the CSV."""
        if task == "similarity":
            return f"bapps={Path(self.bapps or '').name}; spatial, channel norm"
        return (f"{self.procedure}; {self.images} images; {self.epochs} epochs; {self.size} px; z={self.latent}; "
                f"seed {self.seed}; normalize={self.normalize}; sigmoid={self.sigmoid}")


def default_layers(archs: Sequence[str]) -> tuple[str, ...]:
    """Every sweep layer of the given architectures, as ``arch.layer``."""
    return tuple(f"{arch}.{layer}" for arch in archs for layer in sweep_layers(arch))


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a results CSV (numbers parsed); an empty list if the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"arch", "layer", "task", "metric", "value"} <= set(reader.fieldnames):
            raise InputError(f"{path.name} is not a loss-network study CSV (columns: {', '.join(COLUMNS)}).")
        rows = []
        for row in reader:
            try:
                rows.append({**row, "depth": int(row["depth"]), "value": float(row["value"]),
                             "higher_is_better": row["higher_is_better"] == "True",
                             "random": row.get("random") == "True",
                             "imagenet_top1": float(row["imagenet_top1"]) if row.get("imagenet_top1") else None})
            except (TypeError, ValueError) as error:
                raise InputError(f"{path.name}, line {reader.line_num}: {error}.") from error
    return rows


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    new = not path.is_file()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def _similarity_score(layer: str, config: StudyConfig, device: str) -> tuple[float, Any]:
    from engine.backbones import FeatureExtractor
    from engine.similarity.contexts.adaptation import bapps_score
    from engine.similarity.metric import DeepPerceptualSimilarity

    spec, chosen = parse_layer(layer)
    extractor = FeatureExtractor(spec.arch, [chosen.name], weights=config.weights, seed=config.seed, device=device)
    metric = DeepPerceptualSimilarity(extractor, [chosen.name], "spatial", channel_norm=True).eval()
    return float(bapps_score(metric, Path(config.bapps or "")) or 0.0), extractor.info


def run_study(config: StudyConfig, folder: str | Path, device: str = "cpu", resume: bool = False,
              checkpoint_dir: Path | None = None, on_item: Callable[[int, int, str], None] | None = None,
              on_progress: Callable[..., None] | None = None, show_bar: bool = True) -> list[dict[str, Any]]:
    """Measure every (layer, task) not yet in ``folder/results.csv``; returns all rows.

    Args:
        config: what to sweep (checked first).
        folder: where ``results.csv``, each run's outputs (``runs/``) and the plots go.
        device: where to train and score.
        resume: also resume an interrupted autoencoder run from its checkpoint.
        checkpoint_dir: where those checkpoints live (default ``folder/checkpoints``).
        on_item: (items done, total, description) before each item (may raise Cancelled).
        on_progress: per training step of the autoencoders.
        show_bar: tqdm bars on the command line.
    """
    config.checked()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / RESULTS_FILE
    done = {(row["arch"], row["layer"], row["task"]) for row in read_results(results)}
    items = [(layer, task) for task in config.tasks for layer in config.layers]
    checkpoints = checkpoint_dir or folder / "checkpoints"
    for index, (name, task) in enumerate(items):
        spec, layer = parse_layer(name)
        if (spec.arch, layer.name, task) in done:
            continue
        if on_item is not None:
            on_item(index, len(items), f"{task}: {name}")
        started = time.perf_counter()
        if task == "similarity":
            value, info = _similarity_score(name, config, device)
            scores, random_weights, label = {"2afc": value}, info.is_random, info.label
        else:
            key = name.replace(".", "-")
            metrics = run_experiment(
                AutoencoderConfig(procedure=config.procedure, loss_net=name, weights=config.weights,
                                  normalize=config.normalize, sigmoid=config.sigmoid, latent=config.latent,
                                  epochs=config.epochs, batch_size=config.batch_size, seed=config.seed),
                DataSpec(images=config.images, eval_images=config.eval_images, size=config.size, seed=config.seed),
                folder / "runs" / key, device, checkpoints / f"{key}.pt", resume,
                PredictorConfig(max_epochs=config.predictor_epochs, patience=config.patience, seed=config.seed),
                on_progress=on_progress, show_bar=show_bar)
            scores = {metric: metrics[metric] for metric in ("position_error", "class_accuracy")
                      if metrics.get(metric) is not None}
            random_weights, label = metrics["random_loss_network"], metrics["provenance"]
        sweep = [candidate for candidate in config.layers if candidate.startswith(f"{spec.arch}.")]
        depth = sorted(sweep, key=lambda n: parse_layer(n)[1].index).index(name) + 1
        rows = [{"arch": spec.arch, "layer": layer.name, "depth": depth, "task": task, "metric": metric,
                 "value": value, "higher_is_better": METRICS[metric], "weights": label, "random": random_weights,
                 "imagenet_top1": imagenet_top1(spec.arch) or "", "seconds": round(time.perf_counter() - started, 2),
                 "settings": config.settings(task)} for metric, value in scores.items()]
        if distributed.is_main_process():
            _append(results, rows)
    return read_results(results)


@dataclass(frozen=True)
class Verdict:
    """One claim tested on one (task, metric): ``held``, ``not held`` or ``not testable``, and why."""

    claim: str
    task: str
    metric: str
    verdict: Literal["held", "not held", "not testable"]
    evidence: str
    details: dict[str, Any] = field(default_factory=dict)


CLAIMS = {
    "imagenet": "Higher ImageNet accuracy does not imply a better loss network.",
    "depth": "Later layers are not reliably better loss networks.",
}


def _oriented(rows: Sequence[dict[str, Any]]) -> dict[str, dict[int, tuple[str, float]]]:
    """arch -> depth -> (layer, score where higher is better), averaging repeated rows."""
    collected: dict[str, dict[int, list[Any]]] = {}
    for row in rows:
        sign = 1.0 if row["higher_is_better"] else -1.0
        collected.setdefault(row["arch"], {}).setdefault(row["depth"], [row["layer"], []])[1].append(
            sign * row["value"])
    return {arch: {depth: (layer, sum(values) / len(values)) for depth, (layer, values) in by_depth.items()}
            for arch, by_depth in collected.items()}


def _imagenet_verdict(task: str, metric: str, rows: Sequence[dict[str, Any]]) -> Verdict:
    from scipy.stats import spearmanr

    pretrained = [row for row in rows if not row["random"] and row["imagenet_top1"] is not None]
    scores = _oriented(pretrained)
    top1 = {row["arch"]: row["imagenet_top1"] for row in pretrained}
    archs = sorted(scores)
    if len(archs) < 3:
        return Verdict("imagenet", task, metric, "not testable",
                       f"needs at least 3 architectures with pretrained weights; measured {len(archs)} "
                       f"({', '.join(archs) or 'none'}; random-init networks do not count)")
    best = [max(value for _, value in scores[arch].values()) for arch in archs]
    rho = float(spearmanr([top1[arch] for arch in archs], best).statistic)
    verdict = "held" if rho < CORRELATION_LIMIT else "not held"
    return Verdict("imagenet", task, metric, verdict,
                   f"Spearman rho between ImageNet top-1 and the best layer's {metric} over {len(archs)} "
                   f"architectures = {rho:.2f} ({'below' if verdict == 'held' else 'at or above'} "
                   f"{CORRELATION_LIMIT})", {"rho": rho, "architectures": archs})


def _depth_verdict(task: str, metric: str, rows: Sequence[dict[str, Any]]) -> Verdict:
    from scipy.stats import spearmanr

    scores = {arch: by_depth for arch, by_depth in _oriented(rows).items() if len(by_depth) >= 2}
    if not scores:
        return Verdict("depth", task, metric, "not testable", "needs an architecture measured at 2 or more layers")
    deepest_best, correlations = [], {}
    for arch, by_depth in scores.items():
        depths = sorted(by_depth)
        values = [by_depth[depth][1] for depth in depths]
        deepest_best.append(values[-1] >= max(values) - 1e-9)  # a tie with the best counts for the convention
        if len(depths) >= 3:
            correlations[arch] = float(spearmanr(depths, values).statistic)
    share = sum(deepest_best) / len(deepest_best)
    verdict = "held" if share < DEEPEST_BEST_LIMIT else "not held"
    best_layers = {arch: max(by_depth.values(), key=lambda item: item[1])[0] for arch, by_depth in scores.items()}
    caveat = " (one architecture only: weak evidence)" if len(scores) == 1 else ""
    return Verdict("depth", task, metric, verdict,
                   f"the deepest layer is the best in {sum(deepest_best)} of {len(scores)} architectures "
                   f"({share:.0%}; the convention needs at least {DEEPEST_BEST_LIMIT:.0%}){caveat}; best layers: "
                   + ", ".join(f"{arch} {layer}" for arch, layer in best_layers.items()),
                   {"deepest_best_share": share, "depth_correlation": correlations, "best_layers": best_layers})


def check_claims(rows: Sequence[dict[str, Any]]) -> list[Verdict]:
    """Both claims on every (task, metric) measured."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["metric"]), []).append(row)
    verdicts = []
    for (task, metric), members in groups.items():
        verdicts += [_imagenet_verdict(task, metric, members), _depth_verdict(task, metric, members)]
    return verdicts


def summary_markdown(rows: Sequence[dict[str, Any]], verdicts: Sequence[Verdict]) -> str:
    """The verdicts as Markdown, with a warning when random-init loss networks were measured."""
    lines = ["## The study's claims, on what was measured", ""]
    for key, statement in CLAIMS.items():
        lines.append(f"**{statement}**")
        for verdict in (v for v in verdicts if v.claim == key):
            primary = " (primary metric)" if PRIMARY.get(verdict.task) == verdict.metric else ""
            lines.append(f"- {verdict.task} / {verdict.metric}{primary}: **{verdict.verdict}**: {verdict.evidence}")
        lines.append("")
    if any(row["random"] for row in rows):
        lines.append("**RANDOM**: some loss networks were randomly initialised; their scores say nothing about "
                     "the pretrained networks of the paper.")
    return "\n".join(lines)


@dataclass
class StudyReport:
    """The verdicts, the two figures and the summary of a set of study rows."""

    verdicts: list[Verdict]
    by_architecture: Any
    by_layer: Any
    markdown: str


def report(rows: Sequence[dict[str, Any]], title: str = "") -> StudyReport:
    """Test the claims on ``rows`` and draw them by architecture and by layer."""
    import pandas as pd

    from engine.autoencoders import plots

    if not rows:
        raise InputError("The study has no results yet.")
    verdicts = check_claims(rows)
    table = pd.DataFrame(list(rows))
    return StudyReport(verdicts, plots.study_by_architecture(table, title), plots.study_by_layer(table, title),
                       summary_markdown(rows, verdicts))


def write_report(folder: str | Path, title: str = "") -> tuple[list[Verdict], dict[str, Path]]:
    """Plots (by architecture, by layer), ``claims.json`` and ``summary.md`` from ``folder/results.csv``."""
    folder = Path(folder)
    made = report(read_results(folder / RESULTS_FILE), title)
    paths = {"by_architecture": folder / "by_architecture.png", "by_layer": folder / "by_layer.png",
             "claims": folder / "claims.json", "summary": folder / "summary.md"}
    made.by_architecture.savefig(paths["by_architecture"], dpi=90)
    made.by_layer.savefig(paths["by_layer"], dpi=90)
    paths["claims"].write_text(json.dumps([asdict(v) for v in made.verdicts], indent=2))
    paths["summary"].write_text(made.markdown)
    return made.verdicts, paths


def saved_studies() -> list[str]:
    """Names of the app's studies that have results, newest first."""
    folder = studies_folder()
    found = [path.parent for path in folder.glob(f"*/{RESULTS_FILE}")] if folder.is_dir() else []
    return [path.name for path in sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)]


def studies_folder() -> Path:
    """Where the app keeps studies (``$WORKBENCH_DATA_DIR/autoencoders/studies``)."""
    from engine import settings

    return settings.current().data_dir / "autoencoders" / "studies"


STUDY_JOB = JobKind("loss-study", "engine.autoencoders.study:run_job", "Loss-network study")


def run_job(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """The tab's study job: params are :class:`StudyConfig` fields plus ``name`` (the study's folder)."""
    from engine.paths import inside

    fields = {key: tuple(value) if isinstance(value, list) else value for key, value in params.items()
              if key in StudyConfig.__dataclass_fields__}
    uploads = sorted(ctx.inputs.glob("*")) if ctx.inputs.is_dir() else []
    if uploads:  # a BAPPS-layout zip (or folder of files) for the similarity task
        from engine.similarity.bapps import unpack

        fields["bapps"] = str(unpack(uploads[0], ctx.folder / "bapps") if len(uploads) == 1 else ctx.inputs)
    config = StudyConfig(**fields).checked()
    folder = inside(studies_folder(), params["name"], what="study name")
    rows = run_study(config, folder, ctx.device, resume=True, checkpoint_dir=ctx.folder,
                     on_item=lambda done, total, message: ctx.progress(done, total, message=message),
                     on_progress=ctx.training_progress, show_bar=False)
    verdicts, _ = write_report(folder, params["name"])
    return {"name": params["name"], "folder": str(folder), "rows": len(rows),
            "verdicts": [asdict(verdict) for verdict in verdicts]}

