"""Models tab: what is registered, what is loaded, where the weights came from; add checkpoints."""

from __future__ import annotations

from dataclasses import astuple

import gradio as gr

from engine import registry as registry_module
from engine import weights
from ui.common import HEAVY, AppContext, user_errors

MODEL_HEADERS = ["name", "task", "arch", "status", "provenance", "loaded", "memory MB", "description"]
WEIGHT_HEADERS = ["arch", "tag", "status", "source", "sha256", "path or how to add"]


def weights_rows() -> list[list[str]]:
    """One row per supported architecture: status, source and full sha256 of its ImageNet weights."""
    rows = []
    for info in weights.list_weights():
        where = info.path if info.status == "available" else info.message
        rows.append([info.arch, info.tag, info.status, info.source or "", info.sha256 or "", where or ""])
    return rows


def build(ctx: AppContext) -> None:
    """Add the Models tab to the current Blocks."""
    registry = ctx.registry

    def model_rows() -> list[list[object]]:
        return [list(astuple(row)) for row in registry.rows()]

    with gr.Tab("Models", id="models"):
        gr.Markdown(
            "Models load on first use and are shared by everyone using this app. Pretrained weights are "
            "resolved offline first (explicit file, torch hub cache, installed package); results computed "
            "with randomly initialised networks are always labelled **RANDOM**."
        )
        models_table = gr.Dataframe(model_rows, headers=MODEL_HEADERS, interactive=False, wrap=True,
                                    label="Registered models", elem_id="models-table")
        weights_table = gr.Dataframe(weights_rows, headers=WEIGHT_HEADERS, interactive=False, wrap=True,
                                     label="Pretrained weights (ImageNet; Kinetics-400 for video) on this machine",
                                     elem_id="weights-table")
        with gr.Row():
            choice = gr.Dropdown(registry.names(), label="Model", scale=3)
            load_button = gr.Button("Load now", scale=1)
            unload_button = gr.Button("Unload", scale=1)
            refresh_button = gr.Button("Refresh", scale=1)
        status = gr.Markdown(elem_id="models-status")
        with gr.Accordion("Add an image-classifier checkpoint", open=False):
            gr.Markdown(
                "A `.pth`/`.pt` state dict or a `.safetensors` file for one of the supported torchvision "
                "architectures. Files are read without executing code (no pickled objects)."
            )
            checkpoint = gr.File(label="Checkpoint", file_types=[".pth", ".pt", ".safetensors"])
            arch = gr.Dropdown(["detect"] + weights.supported_architectures(), value="detect",
                               label="Architecture")
            register_button = gr.Button("Validate and register", variant="primary")
            register_status = gr.Markdown(elem_id="checkpoint-status")

    @user_errors
    def load(name: str | None) -> tuple[str, list[list[object]]]:
        if not name:
            raise gr.Error("Choose a model to load.")
        loaded = registry.get(name)
        message = (f"Loaded **{name}** in {loaded.load_seconds:.1f} s: {loaded.provenance}, "
                   f"{loaded.memory_bytes / 2**20:.1f} MB.")
        return message, model_rows()

    def unload(name: str | None) -> tuple[str, list[list[object]]]:
        if name:
            registry.unload(name)
        return (f"Unloaded **{name}**." if name else ""), model_rows()

    @user_errors
    def register(path: str | None, arch_choice: str) -> tuple[str, list[list[object]], dict]:
        if not path:
            raise gr.Error("Upload a checkpoint file first.")
        spec = registry_module.register_user_checkpoint(
            registry, path, arch=None if arch_choice == "detect" else arch_choice
        )
        message = f"Registered **{spec.name}** ({spec.arch}): {spec.description}. It loads on first use."
        return message, model_rows(), gr.update(choices=registry.names(), value=spec.name)

    load_button.click(load, choice, [status, models_table], api_name="model_load", **HEAVY)
    unload_button.click(unload, choice, [status, models_table], api_name="model_unload")
    refresh_button.click(lambda: (model_rows(), weights_rows()), None, [models_table, weights_table],
                         api_name="models_refresh")
    register_button.click(register, [checkpoint, arch], [register_status, models_table, choice],
                          api_name="checkpoint_register")
