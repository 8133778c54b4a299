"""Neighbours, embedding view and patch labelling views of the Histopathology tab.

An *index* embeds a folder of images with a chosen encoder (the shipped MPCS one, ImageNet, or one pretrained
here); the example index of held-out CC0 tiles exists from the first launch. Labelling shows an index's patches
one at a time, most useful first (diversity, then the uncertainty of a model trained on the labels so far), and
stores each decision in the annotation store (task ``histology-patch``); keys **b** benign, **m** malignant,
**s** skip, **u** undo. The labels train a classifier as a job.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from engine.annotations import content_hash
from engine.errors import InputError
from engine.histology import bundled
from engine.histology.index import (
    COLOUR_BY,
    EmbeddingIndex,
    build_index,
    embed_image,
    embedding_figure,
    index_folder,
    index_names,
    labelling_order,
    projection,
)
from engine.histology.jobs import LABELS_JOB, PATCH_TASK, labelled_patches, storage
from engine.images import load_image
from engine.paths import user_path
from ui.common import HEAVY, AppContext, require_annotator, shortcut_script, user_errors
from ui.jobs import job_panel
from ui.sessions import SessionValues

HEAD = shortcut_script({"b": "histology-benign", "m": "histology-malignant", "s": "histology-skip",
                        "u": "histology-undo"})
CLASSES = ("benign", "malignant")
THUMBNAIL_SIDE = 256
PATCH_SIDE = 512


@dataclass
class LabelSession:
    """One page's labelling session, on the server: the patch shown (and its token), when, what was skipped."""

    index: str | None = None
    current: int | None = None
    token: str = ""
    started: float = 0.0
    skipped: set[int] = field(default_factory=set)


SESSIONS: SessionValues[LabelSession] = SessionValues(LabelSession)


def load_index(name: str | None) -> EmbeddingIndex:
    """The index called ``name`` (the example index when empty)."""
    if not name or name == bundled.EXAMPLE_INDEX:
        return bundled.example_index()
    return EmbeddingIndex.load(index_folder(storage("indexes"), name))


def choices() -> list[str]:
    """Index names, the example index first."""
    return [bundled.EXAMPLE_INDEX, *[n for n in index_names(storage("indexes")) if n != bundled.EXAMPLE_INDEX]]


def build(ctx: AppContext) -> None:
    """Add the Neighbours & embedding and Label patches views."""
    with gr.Tab("Neighbours & embedding", id="histology-neighbours"):
        with gr.Row():
            index_choice = gr.Dropdown(choices(), value=bundled.EXAMPLE_INDEX, label="Index", scale=2)
            folder = gr.Textbox(label="Index a folder on this machine (BreakHis, <class>/<patient>/<mag>/<image>, "
                                      "or any images)", scale=3)
            encoder = gr.Dropdown(list(bundled.encoder_choices()), value=bundled.SHIPPED, label="Encoder", scale=2)
            name = gr.Textbox(label="Index name", placeholder="letters, digits, - _ .", scale=1)
            index_button = gr.Button("Build the index", scale=1)
        index_status = gr.Markdown(elem_id="histology-index-status")
        with gr.Row():
            with gr.Column(scale=2):
                query = gr.Image(label="Query image", type="filepath", height=240)
                query_button = gr.Button("Find neighbours", variant="primary")
            gallery = gr.Gallery(label="Nearest neighbours (cosine similarity)", columns=5, height=300, scale=3)
        with gr.Row():
            method = gr.Radio(["pca", "tsne"], value="pca", label="2-D projection")
            colour = gr.Radio(list(COLOUR_BY), value="magnification", label="Colour by")
            view_button = gr.Button("Draw the embedding")
        view = gr.Plot(label="Embedding view", show_label=False)
    with gr.Tab("Label patches", id="histology-label"):
        gr.Markdown("Label the patches of an index, most useful first. Keys: **b** benign, **m** malignant, "
                    "**s** skip, **u** undo your last label. Decisions go to the annotation store (task "
                    f"`{PATCH_TASK}`), with the annotator name at the top of the page.")
        with gr.Row():
            label_index = gr.Dropdown(choices(), value=bundled.EXAMPLE_INDEX, label="Index", scale=2)
            start = gr.Button("Start / next patch", elem_id="histology-next", scale=1)
        with gr.Row():
            patch = gr.Image(label="Patch", interactive=False, height=300, scale=2)
            with gr.Column(scale=2):
                label_status = gr.Markdown(elem_id="histology-label-status")
                with gr.Row():
                    benign = gr.Button("Benign (b)", elem_id="histology-benign")
                    malignant = gr.Button("Malignant (m)", elem_id="histology-malignant")
                with gr.Row():
                    skip = gr.Button("Skip (s)", elem_id="histology-skip")
                    undo = gr.Button("Undo (u)", elem_id="histology-undo")
        on_screen = gr.Textbox(visible=False)  # the token of the patch shown; the session is on the server
        with gr.Row():
            model_name = gr.Textbox(label="Classifier name", placeholder="patch-labels", scale=2)
            epochs = gr.Slider(5, 100, value=20, step=5, label="Epochs", scale=2)
            train_button = gr.Button("Train a classifier from my labels", variant="primary", scale=1)
        panel = job_panel(label="Loss and validation accuracy")
        train_result = gr.Markdown(elem_id="histology-labels-result")

    @user_errors
    def make_index(source: str, encoder_name: str, index_name: str,
                   progress: gr.Progress = gr.Progress()) -> tuple[str, Any, Any]:
        """Embed every image of a folder with the chosen encoder and save it as a named index."""
        folder = user_path(source)
        file = bundled.encoder_choices().get(encoder_name)
        if file is None:
            raise InputError(f"Unknown encoder {encoder_name!r}.")
        target = index_folder(storage("indexes"), (index_name or "").strip() or folder.name)
        size = bundled.shipped_image_size()
        index = build_index(folder, bundled.encoder_by_file(file), target.name, size,
                            progress=lambda done, total: progress(done / total, desc=f"{done}/{total} images"),
                            encoder_file=file)
        index.save(target)
        names = choices()
        return (f"Indexed **{len(index)}** images as `{index.name}` · {index.provenance}",
                gr.update(choices=names, value=index.name), gr.update(choices=names))

    @user_errors
    def find(name: str | None, path: str | None) -> list[tuple[str, str]]:
        """The nearest images of the index to an uploaded query image."""
        if not path:
            raise InputError("Upload a query image.")
        index = load_index(name)
        vector = embed_image(bundled.encoder_by_file(index.encoder_file), load_image(path).pixels, index.image_size)
        # pictures, not paths: the indexed folder may lie where the app does not serve files from
        return [(load_image(n.path, max_side=THUMBNAIL_SIDE).pixels,
                 f"{n.similarity:.3f} · {n.label or '?'} · {n.magnification or '?'}")
                for n in index.neighbours(vector, 10)]

    @user_errors
    def draw(name: str | None, how: str, colour_by: str) -> Any:
        """The index's embeddings in 2-D, coloured by class, patient or magnification."""
        index = load_index(name)
        points = projection(index.embeddings, how)
        return embedding_figure(points, index.colour_values(colour_by), f"{index.name}: {len(index)} images, "
                                f"{how.upper()}; {index.provenance[:90]}")

    def present(session: LabelSession, name: str | None, note: str = "") -> tuple[Any, str, str]:
        index = load_index(name)
        known = {row["path"]: row["label"] for row in labelled_patches(ctx.store)}
        labels = {i: known[p] for i, p in enumerate(index.paths) if p in known}
        skipped = session.skipped if session.index == index.name else set()
        order = labelling_order(index.embeddings, labels, exclude=skipped)
        if not len(order.indices):
            session.current = None
            return None, f"{note}  \nEvery patch of `{index.name}` is labelled ({len(labels)}).", ""
        chosen = int(order.indices[0])
        if session.index != index.name:
            session.skipped = set()
        session.current, session.index, session.started = chosen, index.name, time.time()
        session.token = uuid.uuid4().hex
        margin = "" if order.margins[0] != order.margins[0] else f", margin {order.margins[0]:.3f}"
        text = (f"{note}  \nPatch {chosen + 1} of {len(index)} (`{Path(index.paths[chosen]).name}`, "
                f"{index.magnifications[chosen] or 'magnification unknown'}). Order: {order.method}{margin}. "
                f"Labelled in this index: {len(labels)}.")
        return load_image(index.paths[chosen], max_side=PATCH_SIDE).pixels, text, session.token

    @user_errors
    def next_patch(name: str | None, request: gr.Request) -> tuple[Any, str, str]:
        """Show the most useful unlabelled patch of the index (the page then holds only its token)."""
        return present(SESSIONS.get(request), name)

    def label_with(choice: str) -> Any:
        @user_errors
        def judge(name: str | None, on_screen: str | None, annotator: str, request: gr.Request) -> tuple[Any, str, str]:
            """Label the patch on screen (``on_screen`` is the token /histology_label_next returned)."""
            who = require_annotator(annotator, request)
            session = SESSIONS.get(request)
            if session.current is None or not on_screen or on_screen != session.token or session.index != name:
                raise InputError("That patch is no longer on screen, so nothing was saved. Press Start / next patch.")
            index = load_index(name)
            position = session.current
            path = index.paths[position]
            label = {"class": choice} if choice in CLASSES else {"skip": True}
            ctx.store.add(PATCH_TASK, content_hash(Path(path).read_bytes()), label, who, source=path,
                          payload={"path": path, "index": index.name, "patient": index.patients[position],
                                   "magnification": index.magnifications[position]},
                          lead_time_s=time.time() - session.started)
            if choice == "skip":
                session.skipped.add(position)
            return present(session, name, f"Saved: {choice}.")

        return judge

    @user_errors
    def undo_last(name: str | None, annotator: str, request: gr.Request) -> tuple[Any, str, str]:
        """Take back your latest patch label and show the next patch."""
        who = require_annotator(annotator, request)
        undone = ctx.store.undo(PATCH_TASK, who)
        note = f"Undid your label of {Path(undone.source).name}." if undone else "Nothing of yours to undo."
        return present(SESSIONS.get(request), name, note)

    @user_errors
    def train(name: str, count: float) -> str:
        """Train a classifier (linear probe) from the patch labels in the annotation store, as a job."""
        return ctx.jobs.submit(LABELS_JOB, {"name": (name or "").strip() or None, "epochs": int(count),
                                            "encoder_file": str(bundled.shipped_encoder_path())}).id

    def show_result(job: Any) -> list[Any]:
        result = job.result or {}
        return [f"Saved **{result.get('name')}** (choose it under *Predict*): ILA {result.get('ila_mean', 0):.3f}, "
                f"PLA {result.get('pla_mean', 0):.3f} on test patients.  \n*Encoder:* {result.get('encoder')}"]

    index_button.click(make_index, [folder, encoder, name], [index_status, index_choice, label_index],
                       api_name="histology_index", **HEAVY)
    query_button.click(find, [index_choice, query], gallery, api_name="histology_neighbours", **HEAVY)
    view_button.click(draw, [index_choice, method, colour], view, api_name="histology_embedding", **HEAVY)
    shown = [patch, label_status, on_screen]
    start.click(next_patch, label_index, shown, api_name="histology_label_next")
    for button, choice in ((benign, "benign"), (malignant, "malignant"), (skip, "skip")):
        button.click(label_with(choice), [label_index, on_screen, ctx.annotator], shown,
                     api_name=f"histology_label_{choice}")
    undo.click(undo_last, [label_index, ctx.annotator], shown, api_name="histology_label_undo")
    train_button.click(train, [model_name, epochs], panel.job_id, api_name="histology_train_labels")
    panel.follow(ctx, LABELS_JOB.name, show_result, [train_result])
