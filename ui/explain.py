"""Explanations tab: perturbation-based saliency (RISE family) with segmentation, smoothing and SRG scores."""

from __future__ import annotations

import json
import math
import random
import tempfile
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from engine.annotations import content_hash
from engine.errors import InputError
from engine.explain import figures
from engine.explain.classifier import from_registry
from engine.explain.pipeline import ExplainConfig, Explanation, classify, explain
from engine.images import load_image
from engine.registry import Registry
from engine.samples import write_natural_images
from ui.common import HEAVY, AppContext, require_annotator, user_errors
from ui.explain_controls import ConfigControls, build_controls
from ui.sessions import session_id

TASK = "explain-rating"
EXAMPLES = ["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "china", "flower", "grace_hopper"]
EXAMPLE_DIR = Path(tempfile.gettempdir()) / "workbench-explain-examples"
TOP_CLASS = -1
DISPLAY_MAX_SIDE = 1024
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


@dataclass(frozen=True)
class Run:
    """One explanation kept on the server: the result, its image, the facts a rating stores, whose it is."""

    result: Explanation
    pixels: Any
    facts: dict[str, Any]
    session: str


class RecentResults:
    """The last few explanations by run id (an opaque random id, all the page holds), oldest dropped first."""

    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        self._items: OrderedDict[str, Run] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, item: Run) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = item
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Run | None:
        with self._lock:
            return self._items.get(key)


RECENT = RecentResults()


def _json_safe(facts: dict[str, Any]) -> dict[str, Any]:
    """NaN (an unstable normalised SRG) as null, since JSON has no NaN."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in facts.items()}


def class_choices(registry: Registry, model_name: str | None) -> list[tuple[str, int]]:
    """Every class of the model, in index order, after "top class" (nothing is loaded)."""
    labels = registry.spec(model_name).labels if model_name else ()
    return [("top class", TOP_CLASS)] + [(label, index) for index, label in enumerate(labels)]


def _summary(result: Explanation) -> str:
    scores = result.evaluation
    norm = "n/a (class barely reacts)" if math.isnan(scores.norm_srg) else f"{scores.norm_srg:.3f}"
    settled = "" if result.settled_r is None else (
        f" · r ≈ {result.settled_r:.3f} with the converged map{' (converged)' if result.converged else ''}")
    return (f"**{result.label}** (class {result.target}, p = {result.probability:.3f}) · **SRG {scores.srg:.3f}** "
            f"(LIF {scores.lif_auc:.3f} − MIF {scores.mif_auc:.3f}; normalised {norm})  \n"
            f"{result.segmentation.n_segments} segments · {len(result.samples)} samples{settled} · "
            f"{result.model_calls} model calls in {result.seconds:.1f} s · "
            f"**seed {result.seed}**  \n`{result.config.label()}`  \n{result.provenance}"
            + "".join(f"  \n*{note}*" for note in result.notes()))


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
                model = gr.Dropdown(models, value="mobilenet_v2" if "mobilenet_v2" in models else None, label="Model",
                                    allow_custom_value=True)  # checkpoints registered after the page was built
                top = gr.Label(num_top_classes=5, label="Top classes", elem_id="explain-top")
                # Filled with every class when an image is classified (the labels are read then, not at start-up).
                target = gr.Dropdown([("top class", TOP_CLASS)], value=TOP_CLASS, label="Class to explain",
                                     allow_custom_value=True)  # API callers may name any class, by index or name
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="explain-seed")
                    reseed = gr.Button("New seed", size="sm")
                run_both = gr.Button("Explain with A and B", variant="primary")
                with gr.Row():
                    by_rank = gr.Checkbox(False, label="Colour by rank")
                    boundaries = gr.Checkbox(True, label="Segment boundaries")
                opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Map opacity")
            sides: list[tuple[ConfigControls, gr.Button, gr.Image, gr.Plot, gr.Markdown, gr.JSON]] = []
            for letter, preset in (("A", "slic-smooth-pixel"), ("B", "rise")):
                with gr.Column(scale=2, min_width=360):
                    gr.Markdown(f"### Configuration {letter}")
                    controls = build_controls(letter.lower(), preset)
                    run = gr.Button(f"Explain with {letter}")
                    picture = gr.Image(label=f"Map {letter}", interactive=False,
                                       elem_id=f"explain-map-{letter.lower()}")
                    plot = gr.Plot(label=f"LIF / MIF and convergence {letter}", show_label=False)
                    summary = gr.Markdown(elem_id=f"explain-summary-{letter.lower()}")
                    # The page holds only the run's opaque id; the result and the facts a rating stores stay
                    # on the server (RECENT), so a rating cannot be attached to forged facts.
                    record = gr.Textbox(visible=False)
                    sides.append((controls, run, picture, plot, summary, record))
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
        # The model sees 224 x 224; a display-sized copy (not a 4096-pixel float image) is all the page needs.
        return load_image(path, max_side=DISPLAY_MAX_SIDE, name=Path(path).name)

    def target_of(value: int | float | str | None, model_name: str) -> int | None:
        """The class to explain: None for the top class (-1, "-1", "top class" or empty), else an index or a name."""
        text = str(value).strip() if value is not None else ""
        if text in ("", str(TOP_CLASS), "top class"):
            return None
        labels = list(registry.spec(model_name).labels)
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(labels):
            return int(text)
        if text in labels:
            return labels.index(text)
        raise InputError(f"{text[:60]!r} is not a class of {model_name}: give an index 0-{len(labels) - 1}, a class "
                         "name, or -1 for the top class.")

    @user_errors
    def classify_image(path: str | None, model_name: str) -> tuple[Any, dict[str, float], dict]:
        """The model's top classes for an image (and every class, to pick one to explain)."""
        if not path:  # cleared
            return None, {}, gr.update(choices=class_choices(registry, model_name), value=TOP_CLASS)
        image = loaded(path)
        ranked = classify(image.pixels, from_registry(registry, model_name), top=1000)
        choices = [("top class", TOP_CLASS)] + [(f"{c.label} ({c.probability:.1%})", c.index) for c in ranked]
        return image.pixels, {c.label: c.probability for c in ranked[:5]}, gr.update(choices=choices, value=TOP_CLASS)

    @user_errors
    def run_side(path: str | None, model_name: str, target_index: int | str | None, seed_value: float | None,
                 config_text: str, rank: bool, edges: bool, alpha: float, request: gr.Request,
                 progress: gr.Progress = gr.Progress()) -> tuple[Any, Any, str, str]:
        """Explain an image's class with a configuration: the map over the image, LIF/MIF and convergence curves,
        a summary with SRG, and the run's id (to rate it with /explain_rate).

        Args:
            path: the image.
            model_name: a registered image classifier, e.g. "mobilenet_v2".
            target_index: the class to explain: -1 for the top class, an index, or a class name.
            seed_value: the seed of the random masks (the same seed gives the same map).
            config_text: the configuration as JSON (the tab's "As JSON"); default the tab's configuration A.
            rank: colour by rank instead of by value.
            edges: draw segment boundaries.
            alpha: the map's opacity over the image, 0..1.
        """
        try:
            config = ExplainConfig.from_dict(json.loads(config_text))
        except json.JSONDecodeError as error:
            raise InputError(f"The configuration is not valid JSON: {error}.") from error
        image = loaded(path)
        classifier = from_registry(registry, model_name)
        chosen = target_of(target_index, model_name)
        result = explain(image.pixels, classifier, config, target=chosen, seed=int(seed_value or 0),
                         progress=lambda fraction, message: progress(fraction, desc=message))
        facts = {**result.summary(), "model": model_name, "image_hash": content_hash(image.pixels),
                 "source": Path(path).name}
        run_id = RECENT.add(Run(result, image.pixels, _json_safe(facts), session_id(request)))
        return render(run_id, rank, edges, alpha) + (_summary(result), run_id)

    def render(run_id: str | None, rank: bool, edges: bool, alpha: float) -> tuple[Any, Any]:
        kept = RECENT.get(run_id) if run_id else None
        if kept is None:
            return gr.update(), gr.update()
        return (figures.overlay(kept.result, kept.pixels, by_rank=rank, boundaries=edges, opacity=alpha),
                figures.curves(kept.result))

    @user_errors
    def save_rating(annotator: str, letter: str, verdict: str | None, text: str, run_a: str | None,
                    run_b: str | None, request: gr.Request) -> str:
        """Save whether explanation A or B is a plausible reason for its class (annotation task explain-rating).

        Args:
            annotator: your name (ignored when the app requires a login).
            letter: "A" or "B".
            verdict: "plausible" or "not plausible".
            text: an optional note.
            run_a: the id of explanation A (returned by /explain_run).
            run_b: the id of explanation B.
        """
        who = require_annotator(annotator, request)
        run_id = run_a if letter == "A" else run_b
        run = RECENT.get(run_id) if run_id else None
        if run is None or run.session != session_id(request):
            raise InputError(f"Run configuration {letter} first (or again: only recent runs of this page can be "
                             "rated), then rate its map.")
        if verdict not in ("plausible", "not plausible"):
            raise InputError("Choose plausible or not plausible.")
        facts = run.facts
        item = content_hash(json.dumps({k: facts[k] for k in ("image_hash", "model", "target", "seed", "config")},
                                       sort_keys=True))
        store.add(TASK, item, {"rating": verdict, "note": text.strip()}, who, source=facts["source"], payload=facts)
        return f"Saved: {letter} is **{verdict}** for {facts['label']} (seed {facts['seed']}), by {who}."

    model.focus(lambda: gr.update(choices=registry.names("image-classification")), None, model,
                api_visibility="private")
    example.change(_example_path, example, upload, api_visibility="private")
    upload.change(classify_image, [upload, model], [preview, top, target], api_name="explain_classify", **HEAVY)
    model.change(classify_image, [upload, model], [preview, top, target], api_visibility="private", **HEAVY)
    reseed.click(lambda: random.randrange(2**31), None, seed, api_visibility="private")
    display = [by_rank, boundaries, opacity]
    records = [side[5] for side in sides]
    runs = []
    for index, (controls, run, picture, plot, summary, record) in enumerate(sides):
        inputs = [upload, model, target, seed, controls.config_json, *display]
        outputs = [picture, plot, summary, record]
        run.click(run_side, inputs, outputs, api_name="explain_run" if index == 0 else None,
                  api_visibility="public" if index == 0 else "private", **HEAVY)
        runs.append((inputs, outputs))
        gr.on([c.change for c in display], render, [record, *display], [picture, plot], api_visibility="private")
    run_both.click(run_side, *runs[0], api_visibility="private", **HEAVY).then(
        run_side, *runs[1], api_visibility="private", **HEAVY)
    save.click(save_rating, [ctx.annotator, which, rating, note, *records], rated, api_name="explain_rate")
