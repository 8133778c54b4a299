"""Perceptual similarity tab: compare two images with DPS metrics, inspect feature maps, run the flaw
suite, annotate and evaluate 2AFC triplets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from engine.backbones import BACKBONES, availability, backbone
from engine.errors import InputError
from engine.images import load_image
from engine.similarity import plots
from engine.similarity.compare import compare, inspect_layer
from engine.similarity.contexts import storage
from engine.similarity.examples import EXAMPLES, write_example
from engine.similarity.metric import COMPARISONS, PRECISIONS, MetricConfig, build_metric
from ui import similarity_annotate, similarity_contexts, similarity_flaws
from ui.common import HEAVY, AppContext, user_errors
from ui.sessions import session_folder

HEAD = similarity_annotate.HEAD
DEFAULT_BACKBONE = "mobilenet_v2"
SIZES = {"first image's size (longer side at most 512)": None, "64 x 64 (BAPPS)": 64, "96 x 96 (flaw suite)": 96,
         "224 x 224": 224, "256 x 256": 256}
INTRO = (
    "**Deep perceptual similarity** (Sjögren et al., NLDL 2023): a pretrained CNN's features at a few layers, "
    "compared *spatially* (position by position, = LPIPS' baseline), by channel *mean* or with each channel's "
    "activations *sorted* (both ignore where things are), or spatial plus one of them. Lower = more similar. "
    "Inputs are RGB in 0..1; ImageNet normalisation is applied inside. Images of different sizes, grayscale, "
    "RGBA and 16-bit files are converted, with a note."
)


def backbone_choices() -> list[tuple[str, str]]:
    """Dropdown entries: every backbone, marked when its pretrained weights are missing."""
    entries = []
    for arch, spec in BACKBONES.items():
        status = availability(arch).status
        entries.append((spec.title if status == "available" else f"{spec.title} (weights {status})", arch))
    return entries


def weights_note() -> str:
    """Markdown listing which backbones are usable and how to add the others."""
    lines = []
    for arch, spec in BACKBONES.items():
        info = availability(arch)
        lines.append(f"- **{spec.title}** ({spec.note}): " + (info.label if info.status == "available"
                                                              else f"unavailable. {info.message}"))
    return "\n".join(lines)


@dataclass
class MetricControls:
    """The widgets that define a metric, shared by the Compare and Inspect views."""

    backbone: gr.Dropdown
    layers: gr.Dropdown
    comparison: gr.Radio
    channel_norm: gr.Checkbox
    precision: gr.Radio
    weights: gr.Radio
    heads: gr.File
    adapted: gr.Dropdown

    @property
    def inputs(self) -> list[Any]:
        """The components in the order :func:`metric_config` takes their values."""
        return [self.backbone, self.layers, self.comparison, self.channel_norm, self.precision, self.weights,
                self.heads, self.adapted]


def metric_controls() -> MetricControls:
    """Build the metric widgets (choices come from the engine's declarations)."""
    spec = backbone(DEFAULT_BACKBONE)
    with gr.Row():
        arch = gr.Dropdown(backbone_choices(), value=DEFAULT_BACKBONE, label="Backbone", scale=2,
                           elem_id="sim-backbone")
        # Choices follow the backbone; custom values let API callers name any backbone's layers (checked below).
        layers = gr.Dropdown(spec.layer_names, value=list(spec.default_layers), multiselect=True, label="Layers",
                             allow_custom_value=True, scale=3)
    with gr.Row():
        comparison = gr.Radio(list(COMPARISONS), value="spatial", label="Comparison function", scale=3,
                              info="; ".join(f"{k}: {v}" for k, v in COMPARISONS.items() if "+" not in k))
        norm = gr.Checkbox(True, label="Channel normalisation", scale=1,
                           info="unit-length channel vector at each position (LPIPS does this)")
    with gr.Accordion("Advanced: precision, weights, lin heads", open=False):
        with gr.Row():
            precision = gr.Radio(list(PRECISIONS), value="exact", label="Precision",
                                 info="; ".join(f"{k}: {v}" for k, v in PRECISIONS.items()))
            weights = gr.Radio(["pretrained", "random"], value="pretrained", label="Backbone weights",
                               info="random: untrained network for testing; every result is marked RANDOM")
        heads = gr.File(label="lin heads (LPIPS .pth such as alex.pth, or .safetensors)", file_types=[".pth", ".pt",
                                                                                                    ".safetensors"])
        adapted = gr.Dropdown(adapted_metrics(), value=None, label="Or an adapted metric (see Contexts)",
                              info="replaces every setting above with the adapted metric's", allow_custom_value=True)
    adapted.focus(lambda: gr.update(choices=adapted_metrics()), None, adapted, api_visibility="private")
    return MetricControls(arch, layers, comparison, norm, precision, weights, heads, adapted)


def adapted_metrics() -> list[str]:
    """Adapted metrics saved by the Contexts view."""
    return [f"{storage.PREFIX}{path.stem}" for path in sorted(storage.default_folder().glob("*.json"))]


def metric_config(arch: str, layers: list[str] | None, comparison: str, channel_norm: bool, precision: str,
                  weights: str, heads: str | None, adapted: str | None = None) -> MetricConfig:
    """The :class:`MetricConfig` the controls describe (layers in the backbone's order), or the
    adapted metric's when one is chosen."""
    if adapted:
        config, _ = storage.load_named(adapted)
        return config
    spec = backbone(arch)
    if not layers:
        raise InputError(f"Choose at least one layer of {spec.title}: {', '.join(spec.layer_names)}.")
    for name in layers:
        spec.layer(name)
    chosen = [name for name in spec.layer_names if name in layers]
    return MetricConfig(backbone=arch, layers=tuple(chosen), comparison=comparison,  # type: ignore[arg-type]
                        channel_norm=bool(channel_norm), precision=precision, weights=weights,  # type: ignore[arg-type]
                        heads_file=heads or None)


def _result_markdown(distance: float, provenance: str, metric: str, notes: list[str]) -> str:
    warning = "\n\n**RANDOM backbone: this number means nothing about perception.**" if "RANDOM" in provenance else ""
    note_lines = "".join(f"\n- {note}" for note in notes)
    return (f"### Distance {distance:.5f}\n{metric}  \n*Weights:* {provenance}{warning}"
            + (f"\n\n**Notes**{note_lines}" if notes else ""))


def build(ctx: AppContext) -> None:
    """Add the Perceptual similarity tab to the current Blocks."""
    with gr.Tab("Perceptual similarity", id="similarity"):
        gr.Markdown(INTRO)
        controls = metric_controls()
        with gr.Accordion("Backbones on this machine", open=False):
            note = gr.Markdown(elem_id="sim-weights-note")
        ctx.demo.load(weights_note, None, note, api_visibility="private")
        with gr.Tabs():
            with gr.Tab("Compare", id="sim-compare"):
                with gr.Row():
                    file_a = gr.File(label="First image", file_types=["image"], elem_id="sim-file-a")
                    file_b = gr.File(label="Second image", file_types=["image"], elem_id="sim-file-b")
                with gr.Row():
                    example = gr.Dropdown(list(EXAMPLES), value=None, label="Or pick an example pair", scale=3)
                    size = gr.Dropdown(list(SIZES), value=list(SIZES)[0], label="Compare at", scale=2)
                    run = gr.Button("Compare", variant="primary", scale=1, elem_id="sim-compare-button")
                result = gr.Markdown(elem_id="sim-result")
                with gr.Row():
                    bars = gr.Plot(label="Distance per layer (and part)", show_label=False)
                    details = gr.JSON(label="Result")
                heatmap = gr.Plot(label="Spatial distance map (mean and sort parts add a constant)", show_label=False)
            with gr.Tab("Feature inspector", id="sim-inspect"):
                gr.Markdown("A layer's most active channels for one image, raw and after channel normalisation "
                            "(each position's channel vector scaled to unit length), as in the paper's analysis: "
                            "normalisation makes weak positions as loud as strong ones.")
                with gr.Row():
                    inspect_file = gr.File(label="Image", file_types=["image"])
                    inspect_layer_name = gr.Dropdown(backbone(DEFAULT_BACKBONE).layer_names, value="block3",
                                                     label="Layer", allow_custom_value=True)
                    channels = gr.Slider(4, 32, value=16, step=4, label="Channels shown")
                    inspect_button = gr.Button("Inspect", variant="primary")
                inspect_status = gr.Markdown()
                grid = gr.Plot(label="Feature maps", show_label=False)
            similarity_flaws.build(controls.backbone, controls.weights)
            similarity_annotate.build(ctx, controls.inputs, metric_config)
            similarity_contexts.build(ctx)

    def update_layers(arch: str) -> tuple[dict, dict]:
        """The layers of backbone ``arch`` (all of them, and its default selection)."""
        spec = backbone(arch)
        return (gr.update(choices=spec.layer_names, value=list(spec.default_layers)),
                gr.update(choices=spec.layer_names, value=spec.default_layers[min(1, len(spec.default_layers) - 1)]))

    @user_errors
    def pick_example(name: str | None, request: gr.Request) -> tuple[Any, Any]:
        """The two image files of a bundled example pair."""
        if not name:
            return gr.update(), gr.update()
        first, second = write_example(name, session_folder(request, "example"))
        return str(first), str(second)

    @user_errors
    def run_compare(path_a: str | None, path_b: str | None, size_label: str, backbone_name: str,
                    layers: list[str] | None, comparison: str, channel_norm: bool, precision: str, weights_kind: str,
                    heads_file: str | None, adapted_metric: str | None) -> tuple[Any, ...]:
        """The deep perceptual distance between two images (lower = more similar), per layer, and its map.

        Args:
            path_a: the first image.
            path_b: the second image.
            size_label: the working size (one of the "Compare at" choices).
            backbone_name: the backbone architecture, e.g. "mobilenet_v2".
            layers: the layers to compare at (names of that backbone's layers).
            comparison: "spatial", "mean", "sort", "spatial+mean" or "spatial+sort".
            channel_norm: normalise each position's channel vector to unit length (as LPIPS does).
            precision: "exact" (float32) or "fast" (bfloat16 where the CPU supports it natively).
            weights_kind: "pretrained" or "random" (random: tests only, marked RANDOM).
            heads_file: optional LPIPS-format lin heads (.pth or .safetensors).
            adapted_metric: optional adapted metric (its settings replace all of the above).
        """
        if not path_a or not path_b:
            raise InputError("Upload two images (or pick an example pair) first.")
        first, second = load_image(path_a, name="the first image"), load_image(path_b, name="the second image")
        metric = build_metric(metric_config(backbone_name, layers, comparison, channel_norm, precision, weights_kind,
                                            heads_file, adapted_metric))
        outcome = compare(first.pixels, second.pixels, metric, size=SIZES.get(size_label))
        outcome.notes = first.notes + second.notes + outcome.notes  # loading notes first, then resizing
        return (_result_markdown(outcome.distance, outcome.provenance, outcome.metric, outcome.notes),
                plots.layer_bars(outcome), plots.distance_heatmap(outcome), outcome.to_json())

    @user_errors
    def run_inspect(path: str | None, layer: str, count: float, backbone_name: str, layers: list[str] | None,
                    comparison: str, channel_norm: bool, precision: str, weights_kind: str, heads_file: str | None,
                    adapted_metric: str | None) -> tuple[str, Any]:
        """One layer's most active channels for an image, raw and channel-normalised.

        Args:
            path: the image.
            layer: the layer to show.
            count: how many channels to show.
            backbone_name: the backbone (the other metric settings as in /similarity_compare).
        """
        if not path:
            raise InputError("Upload an image to inspect.")
        image = load_image(path, name="the image")
        metric = build_metric(metric_config(backbone_name, layers, comparison, channel_norm, precision, weights_kind,
                                            heads_file, adapted_metric))
        inspection = inspect_layer(image.pixels, metric, layer, int(count))
        status = f"*Weights:* {metric.provenance}" + "".join(f"  \n{note}" for note in image.notes)
        return status, plots.feature_grid(inspection)

    controls.backbone.change(update_layers, controls.backbone, [controls.layers, inspect_layer_name],
                             api_name="similarity_layers")
    example.change(pick_example, example, [file_a, file_b], api_name="similarity_example")
    run.click(run_compare, [file_a, file_b, size, *controls.inputs], [result, bars, heatmap, details],
              api_name="similarity_compare", **HEAVY)
    inspect_button.click(run_inspect, [inspect_file, inspect_layer_name, channels, *controls.inputs],
                         [inspect_status, grid], api_name="similarity_inspect", **HEAVY)
