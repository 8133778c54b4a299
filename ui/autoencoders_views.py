"""Views of the Perceptual loss tab after training: compare runs, evaluate embeddings, see them in 2-D,
and the loss-network study (run a sweep as a job, plot saved sweeps and their claims)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from engine.autoencoders import plots, study
from engine.autoencoders.compare import TABLE_HEADERS, compare_runs, evaluate_saved
from engine.autoencoders.experiment import JOB, load_embeddings
from engine.autoencoders.predictors import PREDICTOR_SIZES, PredictorConfig, predictor_name
from engine.autoencoders.projection import project
from engine.autoencoders.scenes import SHAPES
from engine.backbones import BACKBONES, STUDY_ARCHITECTURES
from engine.errors import InputError
from engine.jobs import Job
from ui.common import HEAVY, AppContext, user_errors
from ui.jobs import job_panel

PREDICTORS = {predictor_name(hidden): hidden for hidden in PREDICTOR_SIZES}
COLOURINGS = ["shape class", "x position", "y position"]
RESULT_COLUMNS = ("arch", "layer", "depth", "task", "metric", "value", "random")
STUDY_INTRO = (
    "**The loss-network study**: every chosen architecture at its layers (the study's four, or the default ones) "
    "is scored as a loss network: *autoencoding* trains an I-I-PS autoencoder on generated scenes and scores its "
    "embedding (position error, shape accuracy); *similarity* scores the layer as an LPIPS-style metric on a "
    "BAPPS-layout zip (2AFC). Results are saved as they come (a rerun resumes), then the study's two claims are "
    "tested on them: ImageNet accuracy does not predict loss-network quality, and later layers are not reliably "
    "better. Without the study's ImageNet weights, use MobileNetV2 (real weights) or random ones (RANDOM: testing "
    "only).")


@dataclass
class Views:
    """The run choosers that must learn about newly finished runs."""

    run_choosers: list[gr.Dropdown]


def run_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """Finished training runs, newest first, labelled by procedure and loss network."""
    entries = []
    for job in ctx.jobs.store.list(kind=JOB.name):
        if job.state == "done" and job.result:
            random = " RANDOM" if job.result.get("random_loss_network") else ""
            entries.append((f"{job.result['procedure']} · {job.result.get('loss_net') or 'pixels'}{random} · {job.id}",
                            job.id))
    return entries


def refreshed(ctx: AppContext, views: Views) -> list[Any]:
    """Updates giving every run chooser the current runs (values kept)."""
    choices = run_choices(ctx)
    return [gr.Dropdown(choices=choices) for _ in views.run_choosers]


def _folder(ctx: AppContext, identifier: str | None) -> Any:
    if not identifier:
        raise InputError("Choose a finished run first (train one in the Train view).")
    return ctx.jobs.store.folder(identifier)


def build(ctx: AppContext) -> Views:
    """Add the Compare, Embeddings and Study views (inside the tab's views)."""
    choices = run_choices(ctx)
    with gr.Tab("Compare", id="ae-compare"):
        gr.Markdown("Runs side by side on the same images: scores, reconstructions (image decoders), true vs "
                    "predicted features (feature decoders) and every predictor's test score.")
        with gr.Row():
            compared = gr.Dropdown(choices, multiselect=True, label="Runs", scale=4, elem_id="ae-compare-runs",
                                   allow_custom_value=True)
            compare_button = gr.Button("Compare", variant="primary", scale=1)
        compare_table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Scores")
        recon_plot = gr.Plot(label="Reconstructions", show_label=False)
        feature_plot = gr.Plot(label="Feature prediction", show_label=False)
        compare_scores = gr.Plot(label="Predictor scores", show_label=False)
        with gr.Accordion("Evaluate a run's embedding with chosen predictors", open=False):
            with gr.Row():
                evaluated = gr.Dropdown(choices, label="Run", scale=3, allow_custom_value=True)
                sizes = gr.CheckboxGroup(list(PREDICTORS), value=list(PREDICTORS), label="Predictors", scale=4)
                max_epochs = gr.Slider(10, 500, value=PredictorConfig.max_epochs, step=10, label="Max epochs")
                evaluate_button = gr.Button("Evaluate", scale=1)
            evaluate_table = gr.Dataframe(headers=["task", "predictor", "test score", "validation MSE", "epochs"],
                                          interactive=False, label="Test scores (best on validation marked *)")
            evaluate_plot = gr.Plot(label="Scores", show_label=False)
    with gr.Tab("Embeddings", id="ae-embeddings"):
        with gr.Row():
            shown = gr.Dropdown(choices, label="Run", scale=3, allow_custom_value=True)
            method = gr.Radio(["pca", "tsne"], value="pca", label="Projection", scale=1)
            colour = gr.Radio(COLOURINGS, value="shape class", label="Colour by", scale=2)
            show_button = gr.Button("Show", scale=1)
        scatter = gr.Plot(label="Evaluation images' embeddings in 2-D", show_label=False)
    with gr.Tab("Study", id="ae-study"):
        gr.Markdown(STUDY_INTRO)
        with gr.Row():
            archs = gr.CheckboxGroup(list(BACKBONES), value=["mobilenet_v2"], label="Architectures (their layers)",
                                     info=f"the study's 14: {', '.join(STUDY_ARCHITECTURES)}", scale=4)
            tasks = gr.CheckboxGroup(list(study.TASKS), value=["autoencoding"], label="Tasks", scale=1)
        with gr.Row():
            study_weights = gr.Radio(["pretrained", "random"], value="pretrained", label="Weights")
            study_images = gr.Slider(16, 5000, value=1000, step=16, label="Scenes per autoencoder")
            study_epochs = gr.Slider(1, 50, value=5, step=1, label="Epochs")
            study_name = gr.Textbox("my-study", label="Study name")
            bapps = gr.File(label="BAPPS-layout .zip (similarity task)", file_types=[".zip"])
        study_button = gr.Button("Run study", variant="primary")
        study_panel = job_panel(label="Autoencoder losses")
        with gr.Row():
            saved = gr.Dropdown(study.saved_studies(), label="Saved study", allow_custom_value=True, scale=3)
            uploaded = gr.File(label="or a results.csv", file_types=[".csv"], scale=2)
            plot_button = gr.Button("Plot", scale=1)
        claims = gr.Markdown(elem_id="ae-claims")
        by_arch = gr.Plot(label="Score by architecture", show_label=False)
        by_layer = gr.Plot(label="Score by layer", show_label=False)
        results_table = gr.Dataframe(headers=list(RESULT_COLUMNS), interactive=False, label="Results")

    @user_errors
    def compare(identifiers: list[str] | None) -> tuple[Any, ...]:
        """Compare finished runs (job ids) on the same images: scores table and three figures."""
        runs = {identifier: _folder(ctx, identifier) for identifier in identifiers or []}
        result = compare_runs(runs)
        return result.rows, result.reconstructions, result.features, result.predictors

    @user_errors
    def evaluate(identifier: str | None, names: list[str] | None, epochs: float) -> tuple[Any, Any]:
        """Train the chosen predictors again on a run's saved embedding; test scores as a table and a plot."""
        if not names:
            raise InputError(f"Choose at least one predictor: {', '.join(PREDICTORS)}.")
        found = evaluate_saved(_folder(ctx, identifier), [PREDICTORS[name] for name in names],
                               PredictorConfig(max_epochs=int(epochs)))
        best = {task: found.best(task) for task in ("position", "class")}
        rows = [[r.task, r.predictor + (" *" if best[r.task] is r else ""), round(r.score, 4),
                 round(r.validation_mse, 4), r.epochs] for r in found.results]
        return rows, plots.predictor_scores({identifier or "": [r.__dict__ for r in found.results]},
                                            found.position_unit)

    @user_errors
    def embedding(identifier: str | None, projection: str, colouring: str) -> Any:
        """A run's evaluation embeddings projected to 2-D, coloured by shape or by the object's x or y."""
        saved_embeddings = load_embeddings(_folder(ctx, identifier))
        points = project(saved_embeddings.embeddings, projection)  # type: ignore[arg-type]
        labels = saved_embeddings.labels
        title = f"{identifier}: {projection.upper()} of {len(points)} embeddings"
        if colouring == "shape class":
            if labels.classes is None:
                raise InputError("This run's images have no classes; colour by position instead.")
            return plots.embedding_scatter(points, labels.classes.numpy(), title, labels.class_names or SHAPES)
        if labels.positions is None:
            raise InputError("This run's images have no positions; colour by shape class instead.")
        axis = 0 if colouring == "x position" else 1
        return plots.embedding_scatter(points, labels.positions[:, axis].numpy(), title,
                                       continuous_label=f"{colouring} ({labels.position_unit})")

    @user_errors
    def run_study(chosen: list[str] | None, task_names: list[str] | None, weight_mode: str, count: float,
                  epoch_count: float, name: str, bapps_zip: str | None) -> str:
        """Start a loss-network study job over the chosen architectures' layers; returns the job id."""
        from engine.paths import validate_name

        validate_name(name, "study name")
        config = study.StudyConfig(layers=study.default_layers(chosen or []), tasks=tuple(task_names or ()),
                                   weights=weight_mode, bapps=bapps_zip, images=int(count),  # type: ignore[arg-type]
                                   eval_images=max(50, int(count) // 2), epochs=int(epoch_count)).checked()
        params = {key: list(value) if isinstance(value, tuple) else value for key, value in config.__dict__.items()
                  if key != "bapps"}
        return ctx.jobs.submit(study.STUDY_JOB, {**params, "name": name}, inputs=[bapps_zip] if bapps_zip else []).id

    @user_errors
    def plot_study(name: str | None, csv_file: str | None) -> tuple[Any, ...]:
        """Plot a saved study (by name) or an uploaded results.csv; the claims' verdicts as Markdown."""
        if csv_file:
            rows = study.read_results(csv_file)
        elif name:
            from engine.paths import inside

            rows = study.read_results(inside(study.studies_folder(), name, what="study name") / study.RESULTS_FILE)
        else:
            raise InputError("Choose a saved study or upload a results.csv.")
        made = study.report(rows, name or "uploaded study")
        table = [[row[column] for column in RESULT_COLUMNS] for row in rows]
        return made.markdown, made.by_architecture, made.by_layer, table

    def study_finished(job: Job) -> list[Any]:
        name = (job.result or {}).get("name")
        return [gr.Dropdown(choices=study.saved_studies(), value=name), *plot_study(name, None)]

    compare_button.click(compare, compared, [compare_table, recon_plot, feature_plot, compare_scores],
                         api_name="autoencoder_compare", **HEAVY)
    evaluate_button.click(evaluate, [evaluated, sizes, max_epochs], [evaluate_table, evaluate_plot],
                          api_name="autoencoder_evaluate", **HEAVY)
    show_button.click(embedding, [shown, method, colour], scatter, api_name="autoencoder_embedding", **HEAVY)
    study_button.click(run_study, [archs, tasks, study_weights, study_images, study_epochs, study_name, bapps],
                       study_panel.job_id, api_name="autoencoder_study")
    plot_button.click(plot_study, [saved, uploaded], [claims, by_arch, by_layer, results_table],
                      api_name="autoencoder_study_plot")
    study_panel.follow(ctx, study.STUDY_JOB.name, study_finished, [saved, claims, by_arch, by_layer, results_table])
    views = Views([compared, evaluated, shown])
    ctx.demo.load(lambda: refreshed(ctx, views), None, views.run_choosers, api_visibility="private")
    return views
