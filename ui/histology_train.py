"""Train view of the Histopathology tab: scan a folder, pretrain with MPCS and fine-tune, as jobs with live curves.

Folders are named by their path on the machine running the app (BreakHis is 4 GB: point at your download rather
than uploading it). A synthetic BreakHis-layout folder made from the CC0 region can be written to try everything.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from engine.histology import bundled
from engine.histology.dataset import read_dataset
from engine.histology.finetune import MODES, TASKS, FinetuneConfig
from engine.histology.jobs import FINETUNE_JOB, PRETRAIN_JOB, storage
from engine.histology.mpcs import STRATEGIES, PretrainConfig
from engine.histology.synthetic import write_breakhis_fixture
from engine.paths import user_path
from ui.common import AppContext, user_errors
from ui.jobs import job_panel

FRACTIONS = ["20%", "40%", "60%", "80%", "100%"]


def build(ctx: AppContext) -> None:
    """Add the Train view."""
    with gr.Tab("Train", id="histology-train"):
        with gr.Row():
            data = gr.Textbox(label="Data: a BreakHis folder (any folder above its files), "
                                    "<class>/<patient>/<magnification>/<image> folders, or a CSV", scale=4)
            scan_button = gr.Button("Scan", scale=1)
            synth_button = gr.Button("Write a synthetic BreakHis-layout folder (CC0)", scale=2)
        counts = gr.JSON(label="Scan (images, patients, per magnification / class / subtype, problems)")
        with gr.Accordion("MPCS pretraining (on the training patients of fold 1)", open=True):
            with gr.Row():
                strategy = gr.Radio(list(STRATEGIES), value=PretrainConfig.strategy, label="Pair strategy",
                                    info="fixed: (200X, 400X); ordered: adjacent magnifications; random: any two")
                pre_epochs = gr.Slider(1, 200, value=10, step=1, label="Epochs")
                pre_batch = gr.Slider(4, 256, value=PretrainConfig.batch_size, step=4, label="Pairs per step")
                pre_size = gr.Slider(32, 384, value=PretrainConfig.image_size, step=16, label="Image size")
                pre_name = gr.Textbox(label="Encoder name", placeholder="mpcs-breakhis")
            pretrain_button = gr.Button("Pretrain", variant="primary")
            pretrain_panel = job_panel(label="Contrastive loss")
            pretrain_result = gr.Markdown(elem_id="histology-pretrain-result")
        with gr.Accordion("Fine-tuning and patient-level evaluation", open=True):
            with gr.Row():
                encoder = gr.Dropdown(list(bundled.encoder_choices()), value=bundled.IMAGENET, label="Encoder")
                task = gr.Radio(list(TASKS), value="binary", label="Task")
                mode = gr.Radio(list(MODES), value="linear", label="Mode",
                                info="linear: probe on cached features (fast); full: the paper's fine-tuning")
                agnostic = gr.Checkbox(False, label="One model for all magnifications")
            with gr.Row():
                fraction = gr.Dropdown(FRACTIONS, value="100%", label="Labelled training patients")
                ft_epochs = gr.Slider(1, 200, value=FinetuneConfig.epochs, step=1, label="Epochs")
                folds = gr.Slider(1, 5, value=1, step=1, label="Folds to run (of 5)")
                threshold = gr.Slider(0.05, 0.95, value=FinetuneConfig.threshold, step=0.05,
                                      label="Malignant threshold (reference code: 0.2)")
                ft_name = gr.Textbox(label="Classifier name", placeholder="breakhis-binary")
            finetune_button = gr.Button("Fine-tune", variant="primary")
            finetune_panel = job_panel(label="Loss and validation balanced accuracy")
            finetune_result = gr.Markdown(elem_id="histology-finetune-result")

    @user_errors
    def scan(folder: str) -> dict[str, object]:
        """Counts of a histology folder: images, patients, per magnification, class and subtype, and problems."""
        return read_dataset(user_path(folder)).counts()

    @user_errors
    def synthesise() -> tuple[str, dict[str, object]]:
        """Write a small synthetic BreakHis-layout folder from the CC0 region and scan it."""
        folder = write_breakhis_fixture(storage("synthetic"), patients_per_subtype=3, images_per_magnification=4,
                                        size=(92, 140))
        return str(folder), read_dataset(folder).counts()

    @user_errors
    def pretrain(folder: str, chosen: str, epochs: float, batch: float, size: float, name: str) -> str:
        """Start MPCS pretraining on a folder's training patients as a job; returns the job id."""
        data = user_path(folder)
        read_dataset(data, check=None)  # fail now, not in the job
        params = {"data": str(data), "strategy": chosen, "epochs": int(epochs), "batch_size": int(batch),
                  "image_size": int(size), "name": (name or "").strip() or None}
        return ctx.jobs.submit(PRETRAIN_JOB, params).id

    def pretrained(job: Any) -> list[Any]:
        result = job.result or {}
        return [f"Encoder **{result.get('name')}** from {result.get('keys')} keys of {result.get('patients')} "
                "training patients; choose it for fine-tuning and indexes (reload the page to list it).  \n"
                f"*Provenance:* {result.get('provenance')}"]

    @user_errors
    def finetune(folder: str, encoder_name: str, chosen_task: str, chosen_mode: str, one_model: bool, share: str,
                 epochs: float, fold_count: float, cut: float, name: str) -> str:
        """Start fine-tuning with patient-level folds on a folder as a job; returns the job id."""
        data = user_path(folder)
        read_dataset(data, check=None)
        params = {"data": str(data), "encoder_file": bundled.encoder_choices().get(encoder_name) or None,
                  "task": chosen_task, "mode": chosen_mode, "per_magnification": not one_model,
                  "label_fraction": int(share.rstrip("%")) / 100, "epochs": int(epochs), "folds": int(fold_count),
                  "threshold": float(cut), "name": (name or "").strip() or None}
        FinetuneConfig(**{k: v for k, v in params.items() if k in FinetuneConfig.__dataclass_fields__})
        return ctx.jobs.submit(FINETUNE_JOB, params).id

    def finetuned(job: Any) -> list[Any]:
        result = job.result or {}
        per = json.dumps({m: {k: round(v, 3) for k, v in values.items() if k in ("ila", "pla") and v is not None}
                          for m, values in result.get("per_magnification", {}).items()})
        return [f"Classifier **{result.get('name')}** saved (choose it under *Predict*). ILA mean "
                f"{result.get('ila_mean', 0):.3f}, PLA mean {result.get('pla_mean', 0):.3f}; per magnification "
                f"{per}.  \n*Encoder:* {result.get('encoder')}\n\n{result.get('comparison', '')}"]

    scan_button.click(scan, data, counts, api_name="histology_scan")
    synth_button.click(synthesise, None, [data, counts], api_name="histology_synth")
    pretrain_button.click(pretrain, [data, strategy, pre_epochs, pre_batch, pre_size, pre_name], pretrain_panel.job_id,
                          api_name="histology_pretrain")
    pretrain_panel.follow(ctx, PRETRAIN_JOB.name, pretrained, [pretrain_result])
    finetune_button.click(finetune, [data, encoder, task, mode, agnostic, fraction, ft_epochs, folds, threshold,
                                     ft_name], finetune_panel.job_id, api_name="histology_finetune")
    finetune_panel.follow(ctx, FINETUNE_JOB.name, finetuned, [finetune_result])
