"""Histopathology tab: MPCS (magnification-prior contrastive learning) on H&E images.

Views: *Predict* (an image or a bundled CC0 tile, its magnification, a loaded classifier's probabilities with
provenance, an explanation, its nearest neighbours), *Slides* (whole-slide or large images: tissue tiles scored
as a heat map, click to zoom), and the views of :mod:`ui.histology_data` (neighbours, embedding view, patch
labelling) and :mod:`ui.histology_train` (scan, pretrain, fine-tune as jobs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from engine.errors import InputError
from engine.explain import figures
from engine.histology import bundled, slides
from engine.histology import classifier as histology_classifier
from engine.histology.classifier import TASK, classifier_scorer, explain_prediction, magnification_from_name, predict
from engine.histology.dataset import MAGNIFICATIONS
from engine.histology.finetune import positive_index
from engine.histology.index import embed_image, similarity_scorer
from engine.histology.jobs import FINETUNE_JOB, LABELS_JOB, storage
from engine.images import load_image
from engine.paths import user_path
from ui import histology_data, histology_train
from ui.common import HEAVY, AppContext, user_errors

HEAD = histology_data.HEAD
FROM_NAME = "from the file name"
NO_MODEL = "none (no classifier loaded)"
NO_CLASSIFIER = (
    "**No malignancy classifier is loaded.** This app ships none: no labelled breast H&E data may be shipped with it "
    "(BreakHis is for non-commercial research only), so any benign/malignant answer here would be made up. Load "
    "your own classifier file, or train one on your folder or from your patch labels (views *Train* and *Label "
    "patches*). Neighbours and the embedding view below work without one."
)
INTRO = (
    "**Magnification Prior Contrastive Similarity (MPCS)** (Chhipa et al., WACV 2023): self-supervised pretraining "
    "whose positive pair is the same tissue seen at two magnifications (40X, 100X, 200X, 400X), then fine-tuning "
    "on BreakHis with patient-level evaluation. The encoder shipped here was pretrained with MPCS on regions of a "
    "CC0 H&E scan (`python -m trainers.histology demo`); point the *Train* view at your own BreakHis download."
)


def classifier_names(ctx: AppContext) -> list[str]:
    """Registered histology classifiers, after the "none" choice."""
    return [NO_MODEL, *ctx.registry.names(task=TASK)]


def _magnification(choice: str, path: str) -> str | None:
    if choice != FROM_NAME:
        return choice
    return magnification_from_name(Path(path).name)


def _gallery(found: list[Any]) -> list[tuple[str, str]]:
    return [(n.path, f"{n.similarity:.3f} · {n.magnification or '?'} · {n.patient or Path(n.path).stem}")
            for n in found]


def build(ctx: AppContext) -> None:
    """Add the Histopathology tab."""
    models = storage("models")
    histology_classifier.register_classifiers(ctx.registry, models)
    for job in (FINETUNE_JOB, LABELS_JOB):
        ctx.jobs.when_done(job.name, lambda done: ctx.registry.register(
            histology_classifier.classifier_spec((done.result or {})["model"]), replace=True))
    with gr.Tab("Histopathology", id="histology"):
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Predict", id="histology-predict"):
                with gr.Row():
                    with gr.Column(scale=2):
                        image = gr.Image(label="H&E image", type="filepath", height=300, elem_id="histology-image")
                        gr.Examples([[str(p)] for p in bundled.example_tiles()], [image],
                                               label="Bundled CC0 tiles (held-out regions of the demo scan)")
                        magnification = gr.Dropdown([FROM_NAME, *MAGNIFICATIONS], value=FROM_NAME,
                                                    label="Magnification")
                        with gr.Row():
                            model = gr.Dropdown(classifier_names(ctx), value=NO_MODEL, label="Classifier", scale=4,
                                                allow_custom_value=True)
                            refresh = gr.Button("↻", scale=0, min_width=40)
                        upload_model = gr.File(label="Load a classifier file (.safetensors written by this app)",
                                               file_types=[".safetensors"])
                        predict_button = gr.Button("Predict and find neighbours", variant="primary")
                    with gr.Column(scale=3):
                        verdict = gr.Markdown(NO_CLASSIFIER, elem_id="histology-verdict")
                        probabilities = gr.Label(label="Class probabilities", num_top_classes=8)
                        neighbours = gr.Gallery(label="Nearest neighbours (example index, shipped MPCS encoder)",
                                                columns=4, height=260)
                with gr.Accordion("Explanation (perturbation-based, from the Explanations engine)", open=False):
                    with gr.Row():
                        samples = gr.Slider(50, 1000, value=300, step=50, label="Perturbed samples N")
                        explain_button = gr.Button("Explain the prediction")
                    with gr.Row():
                        overlay = gr.Image(label="Attribution map (red: supports the predicted class)", height=300)
                        curves = gr.Plot(label="LIF / MIF curves", show_label=False)
            with gr.Tab("Slides", id="histology-slides"):
                gr.Markdown("Whole-slide images (`.svs`, `.ndpi`, `.mrxs`, `.scn`, pyramidal `.tiff`) are read by "
                            "region through OpenSlide, never decoded whole; plain large images are tiled the same "
                            "way. Tissue is found on a thumbnail; tissue tiles are cut at a BreakHis magnification's "
                            "field of view and scored: by the loaded classifier, or by similarity (shipped MPCS "
                            "encoder) to the tile you click.")
                with gr.Row():
                    slide_file = gr.File(label="Slide or large image", scale=2)
                    slide_path = gr.Textbox(label="…or a path on this machine (needed for .mrxs)", scale=2)
                    slide_magnification = gr.Dropdown(list(MAGNIFICATIONS), value="40X", label="Tile field of view",
                                                      scale=1)
                    slide_button = gr.Button("Score the tissue tiles", variant="primary", scale=1)
                slide_status = gr.Markdown(elem_id="histology-slide-status")
                with gr.Row():
                    heat = gr.Plot(label="Heat map over the thumbnail", show_label=False)
                    with gr.Column():
                        thumbnail = gr.Image(label="Thumbnail: click to zoom (and to choose the similarity query)",
                                             interactive=False, height=320)
                        zoom = gr.Image(label="Full-resolution region", interactive=False, height=320)
                point = gr.JSON(None, visible=False)
            histology_data.build(ctx)
            histology_train.build(ctx)

    @user_errors
    def load_model(path: str | None) -> Any:
        """Register a histology classifier file (safetensors, from this tab's training) and select it."""
        if not path:
            raise InputError("Choose a classifier file.")
        name = histology_classifier.import_classifier(ctx.registry, path, models)
        return gr.update(choices=classifier_names(ctx), value=name)

    def loaded(name: str | None) -> Any:
        return ctx.registry.get(name).model if name and name != NO_MODEL else None

    @user_errors
    def run_predict(path: str | None, choice: str, name: str | None) -> tuple[str, Any, list[tuple[str, str]]]:
        """Classify an H&E image (when a classifier is chosen) and list its nearest neighbours in the example index."""
        if not path:
            raise InputError("Upload an H&E image or pick a bundled tile.")
        pixels = load_image(path)
        found_magnification = _magnification(choice, path)
        index = bundled.example_index()
        query = embed_image(bundled.shipped_encoder(), pixels.pixels, index.image_size)
        gallery = _gallery(index.neighbours(query, 8, exclude=str(Path(path).resolve())))
        where = f"Magnification: **{found_magnification or 'unknown'}**" + (
            " (read from the file name)" if choice == FROM_NAME and found_magnification else "")
        notes = "".join(f"  \n{note}" for note in pixels.notes)
        current = loaded(name)
        if current is None:
            return f"{NO_CLASSIFIER}  \n{where}{notes}", None, gallery
        result = predict(current, pixels.pixels, found_magnification)
        text = (f"### {result.label}\n{where}; model part **{result.part}**, threshold {current.threshold:g}.  \n"
                f"*Provenance:* {result.provenance}{notes}")
        return text, result.probabilities, gallery

    @user_errors
    def run_explain(path: str | None, choice: str, name: str | None, count: float,
                    progress: gr.Progress = gr.Progress()) -> tuple[Any, Any]:
        """Explain the loaded classifier's decision on the image with the Explanations engine."""
        current = loaded(name)
        if current is None:
            raise InputError("Load a classifier first: there is no prediction to explain.")
        if not path:
            raise InputError("Upload an H&E image or pick a bundled tile.")
        pixels = load_image(path).pixels
        explanation = explain_prediction(current, pixels, _magnification(choice, path), int(count),
                                         progress=lambda f, m: progress(f, desc=m))
        return figures.overlay(explanation, pixels), figures.curves(explanation, f"{explanation.label}: "
                                                                               f"SRG {explanation.evaluation.srg:.3f}")

    def _open(file: str | None, typed: str | None) -> slides.Slide:
        if not file and not (typed or "").strip():
            raise InputError("Upload a slide or type its path.")
        return slides.open_slide(file or user_path(typed, "slide"))

    @user_errors
    def score_slide(file: str | None, typed: str | None, field: str, name: str | None,
                    point: dict[str, Any] | None, progress: gr.Progress = gr.Progress()) -> tuple[str, Any, Any]:
        """Score every tissue tile of a slide: the classifier's positive probability, or similarity to a point."""
        slide = _open(file, typed)
        try:
            picture = slide.thumbnail(1024)
            tile = slides.tile_size_for(slide, field) if slide.mpp else max(32, min(slide.dimensions) // 24)
            grid = slides.tile_grid(slide, tile, thumbnail=picture)
            current = loaded(name)
            if current is not None:
                positive = current.classes[positive_index(current.classes)]
                scorer, label = classifier_scorer(current, field), f"p({positive}) · {current.provenance}"
            else:
                x, y = (point or {}).get("x"), (point or {}).get("y")
                centre = (int(x), int(y)) if x is not None else tuple(int(v) for v in grid.positions[len(grid) // 2])
                query = slides.read_tile(slide, centre[0], centre[1], tile, bundled.shipped_image_size())
                scorer = similarity_scorer(bundled.shipped_encoder(), query, bundled.shipped_image_size())
                label = f"similarity to the tile at {centre} (shipped MPCS encoder)"
            scores = slides.score_tiles(slide, grid, scorer, bundled.shipped_image_size(),
                                        progress=lambda f, m: progress(f, desc=m))
            figure = slides.heat_map_figure(picture, slide, grid, scores, slide.describe(), label)
            scale = "" if slide.mpp else " (no resolution recorded: tiles of 1/24 of the shorter side)"
            status = (f"{slide.describe()}  \n{len(grid)} tissue tiles of {tile} px{scale}, grid {grid.shape[0]}x"
                      f"{grid.shape[1]}; scores {scores.min():.3f}..{scores.max():.3f}.")
            return status, figure, picture
        finally:
            slide.close()

    @user_errors
    def zoom_in(file: str | None, typed: str | None, field: str, event: gr.SelectData) -> tuple[Any, dict[str, int]]:
        slide = _open(file, typed)
        try:
            picture = slide.thumbnail(1024)
            column, row = event.index
            x = int(column * slide.dimensions[0] / picture.shape[1])
            y = int(row * slide.dimensions[1] / picture.shape[0])
            side = slides.tile_size_for(slide, field) if slide.mpp else max(32, min(slide.dimensions) // 24)
            region = slide.read_region(x - side // 2, y - side // 2, side, side)
            return region, {"x": x - side // 2, "y": y - side // 2}
        finally:
            slide.close()

    upload_model.upload(load_model, upload_model, model, api_name="histology_load_model")
    refresh.click(lambda current: gr.update(choices=classifier_names(ctx), value=current), model, model,
                  api_visibility="private")
    predict_button.click(run_predict, [image, magnification, model], [verdict, probabilities, neighbours],
                         api_name="histology_predict", **HEAVY)
    explain_button.click(run_explain, [image, magnification, model, samples], [overlay, curves],
                         api_name="histology_explain", **HEAVY)
    slide_button.click(score_slide, [slide_file, slide_path, slide_magnification, model, point],
                       [slide_status, heat, thumbnail], api_name="histology_slide", **HEAVY)
    thumbnail.select(zoom_in, [slide_file, slide_path, slide_magnification], [zoom, point],
                     api_visibility="private")
