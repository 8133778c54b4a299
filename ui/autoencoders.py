"""Perceptual loss tab: train autoencoders with pixel, perceptual or feature-prediction loss; compare them;
evaluate and view their embeddings; run and plot the loss-network study."""

from __future__ import annotations

from typing import Any

import gradio as gr

from engine.autoencoders.experiment import JOB, PREVIEW_FILE, uploaded_data
from engine.autoencoders.plots import predictor_scores
from engine.autoencoders.procedures import PROCEDURES
from engine.autoencoders.training import AutoencoderConfig
from engine.backbones import backbone
from engine.jobs import Job
from ui import autoencoders_views
from ui.common import AppContext, user_errors
from ui.jobs import job_panel
from ui.similarity import backbone_choices

DEFAULT_ARCH = "mobilenet_v2"
INTRO = (
    "**Perceptual loss for autoencoders** (Pihlgren, Sandin, Liwicki: *Improving Image Autoencoder Embeddings "
    "with Perceptual Loss*; *Pretraining Image Encoders without Reconstruction via Feature Prediction Loss*; "
    "*A Systematic Performance Analysis of Deep Perceptual Loss Networks*). A procedure reads "
    "*encoder input - decoder output - loss*: **I** image, **F** the loss network's features; **PW** pixel-wise, "
    "**PS** deep perceptual (features of the reconstruction vs the image), **FP** feature prediction (the "
    "decoder predicts the features; no image is rebuilt). The embedding is judged by small predictors of the "
    "small object's **position** and **shape** in generated scenes. Offline, MobileNetV2 is the only loss network "
    "with real ImageNet weights; random ones are for testing and every result says RANDOM. These are this "
    "tool's measurements, not the papers' numbers."
)


def default_layer(arch: str) -> str:
    """The layer preselected for ``arch``: the configured default's, else the second study (or default) layer,
    like the papers' AlexNet relu2."""
    default_arch, _, default = AutoencoderConfig.loss_net.partition(".")
    if arch == default_arch:
        return default
    spec = backbone(arch)
    names = spec.study_layers or spec.default_layers
    return names[min(1, len(names) - 1)]


def result_markdown(result: dict[str, Any]) -> str:
    """A finished run in a few lines."""
    position, accuracy = result.get("position_error"), result.get("class_accuracy")
    scores = []
    if position is not None:
        scores.append(f"position error **{position:.2f} {result.get('position_unit', 'px')}** "
                      f"(predictor {result['best_predictor'].get('position')})")
    if accuracy is not None:
        scores.append(f"shape accuracy **{accuracy:.3f}** (predictor {result['best_predictor'].get('class')})")
    random = result["random_loss_network"]
    warning = "\n\n**RANDOM loss network: these numbers are for testing only.**" if random else ""
    seconds = result.get("epoch_seconds") or 0.0
    return (f"### {result['procedure']}: {' · '.join(scores) or 'no labels to predict'}\n"
            f"{seconds:.2f} s per epoch (wall clock), features cached in {result['cache_seconds']:.1f} s.  \n"
            f"*Data:* {result['data']['description']}.  \n*Model:* {result['provenance']}{warning}")


def predictor_rows(result: dict[str, Any]) -> list[list[Any]]:
    """The predictor table of a run: task, predictor, test score, validation and test MSE, epochs."""
    return [[r["task"], r["predictor"], round(r["score"], 4), round(r["validation_mse"], 4), round(r["test_mse"], 4),
             r["epochs"]] for r in result.get("predictors", [])]


PREDICTOR_HEADERS = ["task", "predictor", "test score", "validation MSE", "test MSE", "epochs"]


def build(ctx: AppContext) -> None:
    """Add the Perceptual loss tab."""
    with gr.Tab("Perceptual loss", id="autoencoders"):
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Train", id="ae-train"):
                with gr.Row():
                    with gr.Column(scale=3):
                        procedure = gr.Radio([(f"{key}: {p.title}", key) for key, p in PROCEDURES.items()],
                                             value="I-F-FP", label="Procedure", elem_id="ae-procedure")
                        with gr.Row():
                            arch = gr.Dropdown(backbone_choices(), value=DEFAULT_ARCH, label="Loss network",
                                               elem_id="ae-arch")
                            layer = gr.Dropdown(backbone(DEFAULT_ARCH).layer_names, value=default_layer(DEFAULT_ARCH),
                                                label="Layer", elem_id="ae-layer")
                        with gr.Row():
                            weights = gr.Radio(["pretrained", "random"], value="pretrained", label="Weights",
                                               info="random: for testing; results are marked RANDOM")
                            normalize = gr.Checkbox(AutoencoderConfig.normalize, label="Normalise input",
                                                    info="as the weights expect (the papers fed 0..1)")
                            sigmoid = gr.Checkbox(AutoencoderConfig.sigmoid, label="Sigmoid on features",
                                                  info="as in the first paper")
                    with gr.Column(scale=2):
                        files = gr.File(label="Your images (files or a .zip) and optionally a CSV "
                                              "(file, x, y, label); empty = generated scenes",
                                        file_count="multiple", file_types=["image", ".zip", ".csv"])
                        with gr.Row():
                            images = gr.Slider(16, 20000, value=2000, step=16, label="Generated training scenes")
                            size = gr.Dropdown([64, 80, 96], value=64, label="Image size (px)")
                with gr.Accordion("Training settings", open=False):
                    with gr.Row():
                        epochs = gr.Slider(1, 100, value=AutoencoderConfig.epochs, step=1, label="Epochs")
                        latent = gr.Dropdown([32, 64, 128], value=AutoencoderConfig.latent, label="Embedding size z")
                        gamma = gr.Number(0.0, label="KL weight gamma (> 0: VAE)")
                        batch = gr.Slider(8, 512, value=AutoencoderConfig.batch_size, step=8, label="Batch size")
                        seed = gr.Number(0, precision=0, label="Seed")
                train_button = gr.Button("Train", variant="primary", elem_id="ae-train-button")
                panel = job_panel(label="Loss and validation loss")
                preview = gr.Image(label="Reconstructions / predicted vs true features (after each epoch)",
                                   type="filepath", interactive=False)
                summary = gr.Markdown(elem_id="ae-summary")
                with gr.Row():
                    table = gr.Dataframe(headers=PREDICTOR_HEADERS, label="Predictors (test scores)",
                                         interactive=False)
                    scores_plot = gr.Plot(label="Predictor scores", show_label=False)
            views = autoencoders_views.build(ctx)

    def update_layer(chosen: str) -> Any:
        spec = backbone(chosen)
        return gr.Dropdown(choices=spec.layer_names, value=default_layer(chosen))

    @user_errors
    def train(procedure_id: str, arch_name: str, layer_name: str, weight_mode: str, normalise: bool, squash: bool,
              uploads: list[str] | None, scene_count: float, side: float, epoch_count: float, latent_size: float,
              kl: float, batch_size: float, seed_value: float) -> str:
        """Start a training job for one procedure; returns the job id (follow it with /jobs_list)."""
        config = AutoencoderConfig(procedure=procedure_id, loss_net=f"{arch_name}.{layer_name}",
                                   weights=weight_mode, normalize=bool(normalise),  # type: ignore[arg-type]
                                   sigmoid=bool(squash), latent=int(latent_size), gamma=float(kl or 0),
                                   epochs=int(epoch_count),
                                   batch_size=int(batch_size), seed=int(seed_value or 0)).checked()
        if config.procedure != "I-I-PW":
            backbone(arch_name).layer(layer_name)
        uploaded_data(uploads or [], "uploads", int(side))  # refuses a CSV without images before queueing
        params = {**config.__dict__, "images": int(scene_count), "size": int(side), "data_seed": int(seed_value or 0)}
        return ctx.jobs.submit(JOB, params, inputs=uploads or []).id

    def show_result(job: Job) -> list[Any]:
        result = job.result or {}
        figure = predictor_scores({result["procedure"]: result.get("predictors", [])},
                                  result.get("position_unit", "px"))
        return [result_markdown(result), predictor_rows(result), figure, preview_path(job.id),
                *autoencoders_views.refreshed(ctx, views)]

    def preview_path(identifier: str | None) -> str | None:
        if not identifier:
            return None
        path = ctx.jobs.store.folder(identifier) / PREVIEW_FILE
        return str(path) if path.is_file() else None

    arch.change(update_layer, arch, layer, api_visibility="private")
    train_button.click(train, [procedure, arch, layer, weights, normalize, sigmoid, files, images, size, epochs,
                               latent, gamma, batch, seed], panel.job_id, api_name="autoencoder_train")
    panel.timer.tick(preview_path, panel.job_id, preview, api_visibility="private")
    panel.follow(ctx, JOB.name, show_result, [summary, table, scores_plot, preview, *views.run_choosers])

