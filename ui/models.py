"""Models tab: what is registered, what is loaded, where the weights came from; add and remove checkpoints."""

from __future__ import annotations

from dataclasses import astuple

import gradio as gr

from engine import labels, weights
from engine import registry as registry_module
from ui.common import HEAVY, AppContext, user_errors

MODEL_HEADERS = ["name", "task", "arch", "status", "provenance", "loaded", "memory MB", "description"]
WEIGHT_HEADERS = ["arch", "tag", "status", "source", "sha256", "path or how to add"]
CHECKPOINT_HELP = (
    "A state dict (`torch.save(model.state_dict(), 'model.pth')`, `.pth`/`.pt`, also inside a training checkpoint "
    "under `model` or `state_dict`) or a `.safetensors` file of a torchvision classifier - "
    f"{', '.join(weights.supported_architectures())} - fine-tuned to **any number of classes** (only the last "
    "layer may differ). Class names: upload a `labels.json` with it (a list of names, or `{\"0\": \"cat\", ...}`) "
    "or type them one per line; without names the classes are numbered. Files are read without executing code "
    "(pickled objects are refused). Registered checkpoints are kept in the data folder and come back after a restart."
)


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
        models_table = gr.Dataframe(headers=MODEL_HEADERS, interactive=False, wrap=True,
                                    label="Registered models", elem_id="models-table")
        weights_table = gr.Dataframe(headers=WEIGHT_HEADERS, interactive=False, wrap=True,
                                     label="Pretrained weights (ImageNet; Kinetics-400 for video) on this machine",
                                     elem_id="weights-table")
        with gr.Row():
            choice = gr.Dropdown(registry.names(), label="Model", scale=3, elem_id="models-choice")
            load_button = gr.Button("Load now", scale=1)
            unload_button = gr.Button("Unload", scale=1)
            remove_button = gr.Button("Remove checkpoint", scale=1)
            refresh_button = gr.Button("Refresh", scale=1)
        status = gr.Markdown(elem_id="models-status")
        with gr.Accordion("Add an image-classifier checkpoint", open=False):
            gr.Markdown(CHECKPOINT_HELP)
            with gr.Row():
                checkpoint = gr.File(label="Checkpoint", file_types=[".pth", ".pt", ".safetensors"],
                                     elem_id="checkpoint-file")
                labels_upload = gr.File(label="Class names file (labels.json, optional)", file_types=[".json", ".txt"])
            class_names = gr.Textbox(label="Or type the class names (one per line, in output order; optional)",
                                     lines=3, max_lines=12)
            with gr.Row():
                arch = gr.Dropdown(["detect"] + weights.supported_architectures(), value="detect",
                                   label="Architecture")
                model_name = gr.Textbox(label="Name (optional; default: the file name)", max_length=80)
            register_button = gr.Button("Validate and register", variant="primary")
            register_status = gr.Markdown(elem_id="checkpoint-status")

    @user_errors
    def load(model_name: str | None) -> tuple[str, list[list[object]]]:
        """Load a registered model now (otherwise it loads on first use).

        Args:
            model_name: a name from the registered-models table.
        """
        if not model_name:
            raise gr.Error("Choose a model to load.")
        loaded = registry.get(model_name)
        message = (f"Loaded **{model_name}** in {loaded.load_seconds:.1f} s: {loaded.provenance}, "
                   f"{loaded.memory_bytes / 2**20:.1f} MB.")
        return message, model_rows()

    def unload(model_name: str | None) -> tuple[str, list[list[object]]]:
        """Drop a loaded model from memory; it loads again on next use.

        Args:
            model_name: a name from the registered-models table.
        """
        if model_name:
            registry.unload(model_name)
        return (f"Unloaded **{model_name}**." if model_name else ""), model_rows()

    def refresh() -> tuple[list[list[object]], list[list[str]]]:
        """The registered models and the state of the pretrained ImageNet weights on this machine."""
        return model_rows(), weights_rows()

    def current_choices() -> dict:
        return gr.update(choices=registry.names())

    @user_errors
    def register(checkpoint: str | None, architecture: str, labels_file: str | None = None,
                 class_names: str | None = None, model_name: str | None = None) -> tuple[str, list[list[object]], dict]:
        """Validate an image-classifier checkpoint and register it (kept in the data folder across restarts).

        Args:
            checkpoint: a state dict (.pth/.pt) or .safetensors of a supported torchvision classifier with
                any number of classes.
            architecture: "detect" or one of the supported architectures.
            labels_file: optional labels.json (list of names or {"0": name, ...}) or text file, one name per line.
            class_names: optional class names typed one per line (or comma-separated); they win over the file.
            model_name: optional name after "user:" (letters, digits, _ . -); default: the file name.
        """
        if not checkpoint:
            raise gr.Error("Upload a checkpoint file first.")
        spec = registry_module.register_user_checkpoint(
            registry, checkpoint, arch=None if architecture == "detect" else architecture,
            name=(model_name or "").strip() or None, class_names=labels.parse_names(class_names or ""),
            labels_file=labels_file,
        )
        message = f"Registered **{spec.name}** ({spec.arch}): {spec.description}. It loads on first use."
        return message, model_rows(), gr.update(choices=registry.names(), value=spec.name)

    @user_errors
    def remove(model_name: str | None) -> tuple[str, list[list[object]], dict]:
        """Remove a registered user checkpoint (names starting with "user:") and its stored copy.

        Args:
            model_name: the user checkpoint's name.
        """
        if not model_name:
            raise gr.Error("Choose the user checkpoint to remove.")
        registry_module.remove_user_checkpoint(registry, model_name)
        return f"Removed **{model_name}**.", model_rows(), gr.update(choices=registry.names(), value=None)

    load_button.click(load, choice, [status, models_table], api_name="model_load", **HEAVY)
    unload_button.click(unload, choice, [status, models_table], api_name="model_unload")
    remove_button.click(remove, choice, [status, models_table, choice], api_name="checkpoint_remove")
    refresh_button.click(refresh, None, [models_table, weights_table], api_name="models_refresh").then(
        current_choices, None, choice, api_visibility="private")
    ctx.demo.load(current_choices, None, choice, api_visibility="private")
    ctx.demo.load(refresh, None, [models_table, weights_table], api_visibility="private")
    register_button.click(register, [checkpoint, arch, labels_upload, class_names, model_name],
                          [register_status, models_table, choice], api_name="checkpoint_register", **HEAVY)
