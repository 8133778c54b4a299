"""2AFC views of the Perceptual similarity tab: judge triplets (keyboard first), export them as a BAPPS
folder, and score the current metric on a BAPPS folder."""

from __future__ import annotations

import random
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from engine.errors import InputError
from engine.similarity import annotate
from engine.similarity.bapps import find_sets, unpack
from engine.similarity.contexts.judgements import context_triplet
from engine.similarity.metric import MetricConfig, build_metric
from engine.similarity.plots import twoafc_plot
from engine.similarity.twoafc import evaluate
from ui.common import HEAVY, AppContext, require_annotator, shortcut_script, user_errors
from ui.sessions import SessionValues, session_folder

HEAD = shortcut_script({"1": "sim-left", "ArrowLeft": "sim-left", "2": "sim-right", "ArrowRight": "sim-right",
                        "s": "sim-skip", "u": "sim-undo"})
TRADITIONAL = "traditional distortions"
GENERATORS: dict[str, Callable[[int], annotate.Triplet]] = {
    TRADITIONAL: annotate.generate_triplet,
    "context distortions": context_triplet,
}
SCORE_HEADERS = ["metric", "set", "n", "2AFC score", "accuracy", "JND mAP"]
INSTRUCTIONS = (
    "Which candidate is **more similar to the reference**? Keys: **1** or **←** left, **2** or **→** right, "
    "**s** skip, **u** undo your last decision. Candidates appear in random order (the order shown is saved "
    "with each decision). Triplets come from your uploads first, then from the built-in generator (bundled "
    "photographs, each candidate with a different known distortion)."
)


@dataclass
class Presented:
    """The triplet on screen: its key, where it came from, the candidate order shown, when, and its token."""

    key: str
    source: str
    shown: list[str]
    started: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class AnnotationSession:
    """One page's 2AFC session, kept on the server (the page only holds the token of what it shows)."""

    queue: list[tuple[str, str]] = field(default_factory=list)  # (triplet key, source), next first
    current: Presented | None = None
    seed: int = field(default_factory=lambda: random.randrange(1 << 30))
    judged: int = 0
    generator: str = TRADITIONAL


SESSIONS: SessionValues[AnnotationSession] = SessionValues(AnnotationSession)


def _score_rows(evaluation: Any) -> list[list[object]]:
    return [[evaluation.metric, s.subset, s.count, s.score, s.accuracy, s.map] for s in evaluation.subsets]


def build(ctx: AppContext, metric_inputs: list[Any], metric_config: Callable[..., MetricConfig]) -> None:
    """Add the 2AFC annotation and evaluation views; ``metric_inputs`` feed ``metric_config``."""
    store = ctx.store
    with gr.Tab("2AFC annotation", id="sim-annotate"):
        gr.Markdown(INSTRUCTIONS)
        # The session lives on the server (SESSIONS); the page holds only the token of the triplet it shows,
        # so a key press can never record a decision on a triplet that is not on screen.
        on_screen = gr.Textbox(visible=False, elem_id="sim-on-screen")
        with gr.Row():
            reference = gr.Image(label="Reference", type="filepath", interactive=False, height=260)
            left = gr.Image(label="Left candidate (1 / ←)", type="filepath", interactive=False, height=260)
            right = gr.Image(label="Right candidate (2 / →)", type="filepath", interactive=False, height=260)
        with gr.Row():
            left_button = gr.Button("◀ Left is closer", variant="primary", elem_id="sim-left")
            skip_button = gr.Button("Skip (s)", elem_id="sim-skip")
            undo_button = gr.Button("Undo (u)", elem_id="sim-undo")
            right_button = gr.Button("Right is closer ▶", variant="primary", elem_id="sim-right")
        status = gr.Markdown("Press **Start** (or a key) to get the first triplet.", elem_id="sim-annotate-status")
        with gr.Row():
            start = gr.Button("Start / next triplet", elem_id="sim-start", scale=1)
            generator = gr.Radio(list(GENERATORS), value=TRADITIONAL, label="Generated triplets", scale=3,
                                 info="context distortions: judgements from which the Contexts view can estimate "
                                      "your ranking of the six distortions")
        with gr.Accordion("Add your own triplets", open=False):
            with gr.Row():
                upload_ref = gr.File(label="Reference", file_types=["image"])
                upload_p0 = gr.File(label="Candidate p0", file_types=["image"])
                upload_p1 = gr.File(label="Candidate p1", file_types=["image"])
            add_one = gr.Button("Add this triplet")
            collection = gr.File(label="Or a .zip with folders ref/, p0/, p1/ (matching file names)",
                                 file_types=[".zip"])
            add_many = gr.Button("Add the triplets in the zip")
        with gr.Row():
            export_button = gr.Button("Export all judgements as a BAPPS folder (zip) and score the metric on them")
        export_status = gr.Markdown(elem_id="sim-export-status")
        export_file = gr.File(label="BAPPS-layout export", interactive=False)
    with gr.Tab("2AFC evaluation", id="sim-evaluate"):
        gr.Markdown("Score the metric chosen above on a BAPPS-layout zip (`2afc/<split>/<set>/{ref,p0,p1,judge}` "
                    "and/or `jnd/<split>/<set>/{p0,p1,same}`, e.g. an export from the annotation view). Images "
                    "are resized to 64x64 as in BAPPS. Same as `python -m engine.similarity.twoafc DIR`.")
        with gr.Row():
            dataset = gr.File(label="BAPPS-layout zip", file_types=[".zip"])
            evaluate_button = gr.Button("Evaluate", variant="primary")
        evaluation_status = gr.Markdown(elem_id="sim-evaluation-status")
        scores = gr.Dataframe(headers=SCORE_HEADERS, interactive=False, label="Scores per set")
        score_plot = gr.Plot(label="2AFC score / JND mAP per set", show_label=False)

    def present(session: AnnotationSession, message: str = "") -> tuple[Any, ...]:
        if session.current is None:
            if session.queue:
                key, source = session.queue.pop(0)
                triplet = annotate.triplet_of(key, source)
            else:
                triplet = GENERATORS[session.generator](session.seed)
                session.seed += 1
            session.current = Presented(triplet.key, triplet.source, random.sample(annotate.CANDIDATES, 2),
                                        time.time())
        current = session.current
        triplet = annotate.triplet_of(current.key, current.source)
        line = (f"{message}  \nJudged this session: **{session.judged}**; in the queue: "
                f"**{len(session.queue)}**. Source: {current.source}")
        return (str(triplet.image("ref")), str(triplet.image(current.shown[0])),
                str(triplet.image(current.shown[1])), line, current.token)

    @user_errors
    def start_session(request: gr.Request) -> tuple[Any, ...]:
        """Show the triplet to judge now (the next one from the queue or the generator)."""
        return present(SESSIONS.get(request))

    @user_errors
    def choose_generator(kind: str, request: gr.Request) -> tuple[Any, ...]:
        """Switch the generated triplets to ``kind`` ("traditional distortions" or "context distortions")."""
        if kind not in GENERATORS:
            raise InputError(f"Unknown generator {kind!r}; choose from {', '.join(GENERATORS)}.")
        session = SESSIONS.get(request)
        session.generator = kind
        session.current = None
        return present(session, f"Generating {kind} triplets.")

    def judge_with(side: str) -> Callable[..., tuple[Any, ...]]:
        @user_errors
        def judge(on_screen: str | None, annotator: str, request: gr.Request) -> tuple[Any, ...]:
            """Record which candidate is closer to the reference for the triplet on screen.

            Args:
                on_screen: the token of the triplet the page shows (returned by /similarity_next).
                annotator: the annotator's name (ignored when the app requires a login).
            """
            who = require_annotator(annotator, request)
            session = SESSIONS.get(request)
            current = session.current
            if current is None or not on_screen or on_screen != current.token:
                raise InputError("That triplet is no longer on screen, so nothing was saved. "
                                 "Press Start / next triplet and judge the one you see.")
            triplet = annotate.triplet_of(current.key, current.source)
            choice = annotate.record(store, triplet, current.shown, side, who, time.time() - current.started)
            session.current = None
            session.judged += choice != "skip"
            message = "Skipped." if choice == "skip" else (
                f"Saved: you chose the **{side}** image as closer to the reference (stored as candidate {choice}).")
            return present(session, message)

        return judge

    @user_errors
    def undo(annotator: str, request: gr.Request) -> tuple[Any, ...]:
        """Take back your latest 2AFC decision and show that triplet again."""
        who = require_annotator(annotator, request)
        session = SESSIONS.get(request)
        undone = store.undo(annotate.TASK, who)
        if undone is None:
            return present(session, f"{who} has no 2AFC decision left to undo.")
        if session.current is not None:
            session.queue.insert(0, (session.current.key, session.current.source))
        session.current = None
        session.queue.insert(0, (undone.content_hash, undone.source))
        session.judged = max(0, session.judged - (undone.label.get("choice") != "skip"))
        side = undone.label.get("side", undone.label.get("choice"))
        return present(session, f"Undid your decision ({side}); judge it again.")

    @user_errors
    def add_triplet(ref: str | None, p0: str | None, p1: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Queue your own triplet (a reference and two candidates of the same size) to judge next."""
        if not (ref and p0 and p1):
            raise InputError("Upload a reference and both candidates.")
        session = SESSIONS.get(request)
        triplet, notes = annotate.triplet_from_files(ref, p0, p1)
        session.queue.insert(0, (triplet.key, triplet.source))
        session.current = None
        return present(session, "Added your triplet. " + " ".join(notes))

    @user_errors
    def add_collection(path: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Queue the triplets of a zip with folders ref/, p0/ and p1/ (matching file names)."""
        if not path:
            raise InputError("Upload a zip with ref/, p0/ and p1/ folders.")
        session = SESSIONS.get(request)
        triplets, notes = annotate.triplets_from_collection(path)
        session.queue[:0] = [(t.key, t.source) for t in triplets]
        session.current = None
        more = f" ({len(notes)} files skipped: {'; '.join(notes[:3])})" if notes else ""
        return present(session, f"Added {len(triplets)} triplets{more}.")

    @user_errors
    def export(backbone_name: str, layers: list[str] | None, comparison: str, channel_norm: bool, precision: str,
               weights_kind: str, heads_file: str | None, adapted_metric: str | None, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> tuple[str, str]:
        """Export every 2AFC judgement as a BAPPS-layout zip and score the metric on them
        (metric settings as in /similarity_compare)."""
        settings = (backbone_name, layers, comparison, channel_norm, precision, weights_kind, heads_file,
                    adapted_metric)
        folder = session_folder(request, "2afc") / "bapps"
        summary = annotate.export_bapps(store, folder)
        archive = shutil.make_archive(str(folder), "zip", folder)
        metric = build_metric(metric_config(*settings))
        result = evaluate(find_sets(folder), metric, progress=lambda f, m: progress(f, desc=m))
        s = result.subsets[0]
        message = (f"Exported **{summary.triplets}** triplets ({summary.decisions} decisions; {summary.skipped_items} "
                   f"only skipped). Agreement of {result.metric} with these judgements: 2AFC score **{s.score:.3f}**, "
                   f"accuracy {s.accuracy:.3f}.  \n*Weights:* {result.provenance}")
        return message, archive

    @user_errors
    def evaluate_upload(path: str | None, backbone_name: str, layers: list[str] | None, comparison: str,
                        channel_norm: bool, precision: str, weights_kind: str, heads_file: str | None,
                        adapted_metric: str | None, request: gr.Request,
                        progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """The metric's 2AFC score, accuracy and JND mAP on a BAPPS-layout zip, per set
        (metric settings as in /similarity_compare)."""
        settings = (backbone_name, layers, comparison, channel_norm, precision, weights_kind, heads_file,
                    adapted_metric)
        if not path:
            raise InputError("Upload a BAPPS-layout zip first.")
        folder = unpack(path, session_folder(request, "bapps"))
        metric = build_metric(metric_config(*settings))
        result = evaluate(find_sets(folder), metric, progress=lambda f, m: progress(f, desc=m))
        warning = "  \n**RANDOM backbone: scores mean nothing.**" if "RANDOM" in result.provenance else ""
        return (f"*Weights:* {result.provenance}; images at {result.size}x{result.size} ({result.resize_method})"
                f"{warning}", _score_rows(result), twoafc_plot([result]))

    shown = [reference, left, right, status, on_screen]
    start.click(start_session, None, shown, api_name="similarity_next")
    generator.change(choose_generator, generator, shown, api_name="similarity_generator")
    for button, side in ((left_button, "left"), (right_button, "right"), (skip_button, "skip")):
        button.click(judge_with(side), [on_screen, ctx.annotator], shown, api_name=f"similarity_judge_{side}")
    undo_button.click(undo, ctx.annotator, shown, api_name="similarity_undo")
    add_one.click(add_triplet, [upload_ref, upload_p0, upload_p1], shown, api_name="similarity_add_triplet")
    add_many.click(add_collection, collection, shown, api_name="similarity_add_triplets")
    export_button.click(export, metric_inputs, [export_status, export_file], api_name="similarity_export", **HEAVY)
    evaluate_button.click(evaluate_upload, [dataset, *metric_inputs], [evaluation_status, scores, score_plot],
                          api_name="similarity_evaluate", **HEAVY)
