"""Contexts view of the Perceptual similarity tab: adapt a DPS metric to a ranking of six distortions.

Order the distortions (or draw a random order, or estimate it from your 2AFC judgements), choose
training images, train with a live loss curve, then compare accuracy per pair before and after and
try the adapted metric on your own image pairs. Adapted metrics are saved in the data folder and
registered as models (task ``similarity-metric``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import torch

from engine.backbones import BACKBONES
from engine.errors import InputError
from engine.images import load_image
from engine.jobs import Job
from engine.similarity import plots as similarity_plots
from engine.similarity.compare import compare
from engine.similarity.contexts import adaptation, judgements, plots, storage
from engine.similarity.contexts.distortions import DISTORTIONS, parse_context, random_context
from engine.similarity.contexts.evaluate import RankingAccuracy, difficulty
from engine.similarity.contexts.model import VARIANTS, TrainingConfig
from engine.similarity.metric import MetricConfig, build_metric
from ui.common import HEAVY, AppContext, user_errors
from ui.jobs import job_panel

NAMES = list(DISTORTIONS)
POSITIONS = ["1st (most similar)", "2nd", "3rd", "4th", "5th", "6th (least similar)"]
INTRO = (
    "**Context adaptation** (Pihlgren et al., *Deep Perceptual Similarity is Adaptable to Ambiguous Contexts*): "
    "whether a rotated or a darkened image is \"more similar\" depends on what you need. A *context* orders six "
    "distortions from most to least similar; training learns non-negative per-channel weights (`lin`) - or "
    "fine-tunes the backbone (`tune`) - so that the metric ranks distorted copies as the context says. "
    "Accuracy is measured on a frozen set of triplets from held-out images, before and after."
)


def adapted_names(ctx: AppContext) -> list[str]:
    """Registered adapted metrics, newest last."""
    return ctx.registry.names(task=storage.TASK)


def _accuracies(summary: dict[str, Any]) -> tuple[RankingAccuracy, RankingAccuracy]:
    """Accuracy before and after adaptation, read back from a saved summary."""
    return tuple(RankingAccuracy.from_pairs(summary[f"{when}_accuracy"],  # type: ignore[return-value]
                                            {pair: v[when] for pair, v in summary["per_pair"].items()})
                 for when in ("before", "after"))


def _result_markdown(summary: dict[str, Any], name: str, provenance: str) -> str:
    before, after = _accuracies(summary)
    hard = difficulty(before, after)
    ranks = ", ".join(f"{pair} (now #{rank})" for pair, rank in zip(hard.hardest_before, hard.their_rank_after))
    return (f"### Ranking accuracy {before.overall:.3f} → {after.overall:.3f}\n"
            f"Context: {' > '.join(summary['context'])} (most similar first). Held-out set: "
            f"{summary['test_triplets']} triplets; images: {summary['images']}.  \n"
            f"Hardest pairs before: {ranks}; rank correlation of per-pair accuracy before/after "
            f"{hard.rank_correlation:.2f}.  \nSaved and registered as **{name}**.  \n"
            f"*Weights:* {provenance}")


def build(ctx: AppContext) -> None:
    """Add the Contexts view (inside the Perceptual similarity tab's views)."""
    storage.register_folder(ctx.registry, storage.default_folder())
    ctx.jobs.when_done(adaptation.JOB.name, lambda job: storage.register_adapted(ctx.registry,
                                                                                (job.result or {})["summary_path"]))
    with gr.Tab("Contexts", id="sim-contexts"):
        gr.Markdown(INTRO)
        with gr.Row():
            order = [gr.Dropdown(NAMES, value=name, label=label, min_width=110, elem_id=f"ctx-rank-{k}")
                     for k, (name, label) in enumerate(zip(NAMES, POSITIONS))]
        with gr.Row():
            seed = gr.Number(0, precision=0, label="Seed", scale=1)
            draw = gr.Button("Random context", scale=1)
            from_store = gr.Button("Estimate from my 2AFC judgements", scale=2)
        context_status = gr.Markdown()
        with gr.Row():
            images = gr.File(label="Training images (several images or one .zip; empty = bundled photographs)",
                             file_count="multiple", file_types=["image", ".zip"], scale=3)
            with gr.Column(scale=2):
                arch = gr.Dropdown([(spec.title, key) for key, spec in BACKBONES.items()], value="mobilenet_v2",
                                   label="Backbone")
                variant = gr.Radio(list(VARIANTS), value="lin", label="What is trained",
                                   info="; ".join(f"{k}: {v}" for k, v in VARIANTS.items()))
        with gr.Accordion("Training settings", open=False):
            with gr.Row():
                epochs = gr.Slider(1, 20, value=TrainingConfig.epochs, step=1, label="Epochs")
                steps = gr.Slider(1, 50, value=TrainingConfig.steps_per_epoch, step=1, label="Steps per epoch")
                batch = gr.Slider(8, 256, value=TrainingConfig.batch_size, step=8, label="Triplets per step")
                learning_rate = gr.Number(TrainingConfig.lr, label="Learning rate")
        train_button = gr.Button("Train", variant="primary", elem_id="ctx-train")
        panel = job_panel(label="Loss and held-out accuracy")
        status = gr.Markdown(elem_id="ctx-status")
        heatmap = gr.Plot(label="Ranking accuracy per pair of distortions", show_label=False)
        summary = gr.JSON(label="Summary")
        with gr.Accordion("Try an adapted metric", open=True):
            with gr.Row():
                metric_choice = gr.Dropdown(adapted_names(ctx), label="Adapted metric", allow_custom_value=True,
                                            scale=2, elem_id="ctx-metric")
                file_a = gr.File(label="First image", file_types=["image"], scale=2)
                file_b = gr.File(label="Second image", file_types=["image"], scale=2)
                try_button = gr.Button("Compare", scale=1)
            try_result = gr.Markdown()
            try_bars = gr.Plot(label="Adapted distance per layer", show_label=False)

    def draw_context(value: float) -> list[Any]:
        """A random ranking of the six distortions, reproducible from its seed."""
        context = random_context(torch.Generator().manual_seed(int(value or 0)))
        return [*context, f"Random context (seed {int(value or 0)}): {' > '.join(context)}"]

    @user_errors
    def estimate() -> list[Any]:
        """The ranking of the six distortions estimated (Bradley-Terry) from the stored 2AFC judgements of
        "context distortions" triplets."""
        found = judgements.estimate_context(judgements.context_outcomes(ctx.store))
        detail = ", ".join(f"{name} {found.strengths[name]:.2f}" for name in found.context)
        return [*found.context,
                f"From {found.judgements} judgements (Bradley-Terry strength, most similar first): {detail}"]

    @user_errors
    def train(first: str, second: str, third: str, fourth: str, fifth: str, sixth: str, images: list[str] | None,
              backbone_name: str, variant: str, epochs: float, steps_per_epoch: float, batch_size: float,
              learning_rate: float) -> str:
        """Start a job adapting a metric to a context; returns the job's id (follow it with /jobs_list).

        Args:
            first: the distortion that should count as most similar (then second ... sixth, least similar).
            images: training images (several, or one zip); none for the bundled photographs.
            backbone_name: the backbone, e.g. "mobilenet_v2".
            variant: "lin" (per-channel weights) or "tune" (fine-tune the backbone too).
            epochs: training epochs.
            steps_per_epoch: optimiser steps per epoch.
            batch_size: triplets per step.
            learning_rate: Adam's learning rate.
        """
        context = parse_context([first, second, third, fourth, fifth, sixth])
        config = TrainingConfig(epochs=int(epochs), steps_per_epoch=int(steps_per_epoch), batch_size=int(batch_size),
                                lr=float(learning_rate), variant=variant)
        params = {"ranking": list(context), "backbone": backbone_name, "variant": config.variant,
                  "epochs": config.epochs, "steps_per_epoch": config.steps_per_epoch,
                  "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed}
        return ctx.jobs.submit(adaptation.JOB, params, inputs=images or []).id

    def show_result(job: Job) -> list[Any]:
        result = job.result or {}
        summary, name = result["summary"], result["name"]
        return [_result_markdown(summary, name, result["provenance"]), plots.pair_heatmaps(*_accuracies(summary)),
                summary, gr.update(choices=adapted_names(ctx), value=name)]

    @user_errors
    def try_metric(name: str | None, path_a: str | None, path_b: str | None) -> tuple[str, Any]:
        """An adapted metric's distance between two images, next to the same metric without adaptation."""
        if not name or not path_a or not path_b:
            raise InputError("Choose an adapted metric and upload two images.")
        adapted = ctx.registry.get(name).model
        config, record = storage.load_named(name)
        baseline = build_metric(MetricConfig(backbone=config.backbone, layers=config.layers,
                                             comparison=config.comparison, channel_norm=config.channel_norm))
        first, second = load_image(path_a, name="the first image"), load_image(path_b, name="the second image")
        with_adaptation = compare(first.pixels, second.pixels, adapted, size=64)
        without = compare(first.pixels, second.pixels, baseline, size=64)
        notes = "".join(f"  \n- {note}" for note in first.notes + second.notes + with_adaptation.notes)
        text = (f"**Adapted** ({' > '.join(record['context'])}): {with_adaptation.distance:.4f}  \n"
                f"**Baseline** (same backbone, no weights): {without.distance:.4f}  \n"
                f"Compared at 64 x 64, as trained. *Weights:* {with_adaptation.provenance}{notes}")
        return text, similarity_plots.layer_bars(with_adaptation)

    draw.click(draw_context, seed, [*order, context_status], api_name="contexts_random")
    from_store.click(estimate, None, [*order, context_status], api_name="contexts_from_judgements")
    train_button.click(train, [*order, images, arch, variant, epochs, steps, batch, learning_rate], panel.job_id,
                       api_name="contexts_train")
    panel.follow(ctx, adaptation.JOB.name, show_result, [status, heatmap, summary, metric_choice])
    try_button.click(try_metric, [metric_choice, file_a, file_b], [try_result, try_bars], api_name="contexts_try",
                     **HEAVY)
