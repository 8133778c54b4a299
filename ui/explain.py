"""Explanations tab: perturbation-based saliency (RISE family) with segmentation, smoothing and SRG scores."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from engine.annotations import content_hash
from engine.errors import InputError
from engine.explain import figures
from engine.explain.classifier import from_registry
from engine.explain.pipeline import ExplainConfig, Explanation, classify, explain
from engine.images import load_image
from engine.samples import write_natural_images
from ui.common import HEAVY, AppContext, require_annotator, user_errors
from ui.explain_controls import ConfigControls, build_controls

TASK = "explain-rating"
EXAMPLES = ["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "china", "flower", "grace_hopper"]
EXAMPLE_DIR = Path(tempfile.gettempdir()) / "workbench-explain-examples"
TOP_CLASS = -1
INTRO = (
    "**Perturbation-based explanations** (Pihlgren & Främling 2024: *Segmentation and Smoothing Affect "
    "Explanation Quality More Than the Choice of Perturbation-based XAI Method*). The image is cut into "
    "segments, N copies are perturbed (segments kept or replaced), the model scores each copy, and an attribution "
    "rule (RISE, LIME, Kernel SHAP, PDA, CIU) turns the scores into a map. **SRG** = LIF − MIF: how much better "
    "the class survives deleting the *least* important pixels first than deleting the *most* important first "
    "(higher is better). The paper's best family is SLIC superpixels + smoothed masks + per-pixel maps."
)


def _example_path(name: str) -> str:
    path = EXAMPLE_DIR / f"{name}.png"
    if not path.is_file():
        write_natural_images(EXAMPLE_DIR, [name])
    return str(path)


def _summary(result: Explanation) -> str:
    scores = result.evaluation
    norm = "n/a (class barely reacts)" if scores.norm_srg != scores.norm_srg else f"{scores.norm_srg:.3f}"
    return (f"**{result.label}** (class {result.target}, p = {result.probability:.3f}) · **SRG {scores.srg:.3f}** "
            f"(LIF {scores.lif_auc:.3f} − MIF {scores.mif_auc:.3f}; normalised {norm})  \n"
            f"{result.segmentation.n_segments} segments · {result.model_calls} model calls in {result.seconds:.1f} s · "
            f"**seed {result.seed}**  \n`{result.config.label()}`  \n{result.provenance}")


def build(ctx: AppContext) -> None:
    """Add the Explanations tab to the current Blocks."""
    registry, store = ctx.registry, ctx.store
    models = registry.names("image-classification")

    with gr.Tab("Explanations", id="explain"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                example = gr.Dropdown(EXAMPLES, value=None, label="Example image (bundled, offline)")
                upload = gr.File(label="Or upload an image", file_types=["image"], elem_id="explain-file")
                preview = gr.Image(label="Image", interactive=False, height=220)
                model = gr.Dropdown(models, value="mobilenet_v2" if "mobilenet_v2" in models else None, label="Model")
                top = gr.Label(num_top_classes=5, label="Top classes", elem_id="explain-top")
                target = gr.Dropdown([("top class", TOP_CLASS)], value=TOP_CLASS, label="Class to explain")
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="explain-seed")
                    reseed = gr.Button("New seed", size="sm")
                run_both = gr.Button("Explain with A and B", variant="primary")
                with gr.Row():
                    by_rank = gr.Checkbox(False, label="Colour by rank")
                    boundaries = gr.Checkbox(True, label="Segment boundaries")
                opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Map opacity")
            sides: list[tuple[ConfigControls, gr.Button, gr.Image, gr.Plot, gr.Markdown, gr.State]] = []
            for letter, preset in (("A", "slic-smooth-pixel"), ("B", "rise")):
                with gr.Column(scale=2, min_width=360):
                    gr.Markdown(f"### Configuration {letter}")
                    controls = build_controls(letter.lower(), preset)
                    run = gr.Button(f"Explain with {letter}")
                    picture = gr.Image(label=f"Map {letter}", interactive=False, elem_id=f"explain-map-{letter.lower()}")
                    plot = gr.Plot(label=f"LIF / MIF {letter}")
                    summary = gr.Markdown(elem_id=f"explain-summary-{letter.lower()}")
                    sides.append((controls, run, picture, plot, summary, gr.State(None)))
        with gr.Accordion("Rate an explanation (saved to the annotation store)", open=False):
            with gr.Row():
                which = gr.Radio(["A", "B"], value="A", label="Explanation")
                rating = gr.Radio(["plausible", "not plausible"], label="Is the map a plausible reason for the class?")
                note = gr.Textbox(label="Note (optional)", max_lines=3)
                save = gr.Button("Save rating")
            rated = gr.Markdown(elem_id="explain-rated")

    def loaded(path: str | None) -> Any:
        if not path:
            raise InputError("Choose an example or upload an image first.")
        return load_image(path, name=Path(path).name)

    @user_errors
    def classify_image(path: str | None, model_name: str) -> tuple[Any, dict[str, float], dict]:
        if not path:  # cleared
            return None, {}, gr.update(choices=[("top class", TOP_CLASS)], value=TOP_CLASS)
        image = loaded(path)
        ranked = classify(image.pixels, from_registry(registry, model_name), top=1000)
        choices = [("top class", TOP_CLASS)] + [(f"{c.label} ({c.probability:.1%})", c.index) for c in ranked]
        return image.pixels, {c.label: c.probability for c in ranked[:5]}, gr.update(choices=choices, value=TOP_CLASS)

    @user_errors
    def run_side(path: str | None, model_name: str, target_index: int | None, seed_value: float | None,
                 config_text: str, rank: bool, edges: bool, alpha: float,
                 progress: gr.Progress = gr.Progress()) -> tuple[Any, Any, str, dict]:
        try:
            config = ExplainConfig.from_dict(json.loads(config_text))
        except json.JSONDecodeError as error:
            raise InputError(f"The configuration is not valid JSON: {error}.") from error
        image = loaded(path)
        classifier = from_registry(registry, model_name)
        chosen = None if target_index in (None, TOP_CLASS) else int(target_index)
        result = explain(image.pixels, classifier, config, target=chosen, seed=int(seed_value or 0),
                         progress=lambda fraction, message: progress(fraction, desc=message))
        state = {"result": result, "image": image.pixels, "model": model_name, "source": Path(path).name}
        return render(state, rank, edges, alpha) + (_summary(result), state)

    def render(state: dict | None, rank: bool, edges: bool, alpha: float) -> tuple[Any, Any]:
        if not state:
            return None, None
        result = state["result"]
        return (figures.overlay(result, state["image"], by_rank=rank, boundaries=edges, opacity=alpha),
                figures.curves(result))

    @user_errors
    def save_rating(annotator: str, letter: str, verdict: str | None, text: str, state_a: dict | None,
                    state_b: dict | None) -> str:
        who = require_annotator(annotator)
        state = state_a if letter == "A" else state_b
        if not state:
            raise InputError(f"Run configuration {letter} first, then rate its map.")
        if not verdict:
            raise InputError("Choose plausible or not plausible.")
        facts = {**state["result"].summary(), "model": state["model"], "image_hash": content_hash(state["image"])}
        item = content_hash(json.dumps({k: facts[k] for k in ("image_hash", "model", "target", "seed", "config")},
                                       sort_keys=True))
        store.add(TASK, item, {"rating": verdict, "note": text.strip()}, who, source=state["source"], payload=facts)
        return f"Saved: {letter} is **{verdict}** for {facts['label']} (seed {facts['seed']}), by {who}."

    example.change(_example_path, example, upload, api_visibility="private")
    upload.change(classify_image, [upload, model], [preview, top, target], api_name="explain_classify", **HEAVY)
    model.change(classify_image, [upload, model], [preview, top, target], api_visibility="private", **HEAVY)
    reseed.click(lambda: random.randrange(2**31), None, seed, api_visibility="private")
    display = [by_rank, boundaries, opacity]
    states = [side[5] for side in sides]
    runs = []
    for index, (controls, run, picture, plot, summary, state) in enumerate(sides):
        inputs = [upload, model, target, seed, controls.config_json, *display]
        outputs = [picture, plot, summary, state]
        run.click(run_side, inputs, outputs, api_name="explain_run" if index == 0 else None,
                  api_visibility="public" if index == 0 else "private", **HEAVY)
        runs.append((inputs, outputs))
        gr.on([c.change for c in display], render, [state, *display], [picture, plot], api_visibility="private")
    run_both.click(run_side, *runs[0], api_visibility="private", **HEAVY).then(
        run_side, *runs[1], api_visibility="private", **HEAVY)
    save.click(save_rating, [ctx.annotator, which, rating, note, *states], rated, api_name="explain_rate")
