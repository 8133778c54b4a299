"""Training and probing views of the Video harm tab: train a rater as a job with live curves (from a
folder, a CSV, an uploaded VidHarm-layout zip or the synthetic set), and probe a rater for bias."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from engine.errors import InputError
from engine.jobs import Job
from engine.paths import inside
from engine.video import catalog, plots
from engine.video.annotate import unpack_archive
from engine.video.probing import probe, read_probe_csv
from engine.video.training import JOB, datasets_folder
from ui.common import HEAVY, AppContext, user_errors
from ui.jobs import job_panel
from ui.sessions import session_folder

METRIC_HEADERS = ["modality", "clips", "accuracy", "mean class accuracy", "mean class ordinal distance"]
TRAIN_HELP = (
    "Name a data set in the data folder's `video/datasets/`: a folder in VidHarm's layout (`train.json`, "
    "`val.json`, `test.json` listing `{\"filename\", \"label\"}`, and `clips/<filename>.mp4`) or a CSV "
    "`path,label[,group]`; or upload a zip of such a folder (e.g. your export above). Or tick *synthetic* to see "
    "the whole pipeline on generated clips (shapes, patterns and tones whose level shows in the picture, in the "
    "sound, or only in both). Clip features are cached once; the visual head, the audio network and the fusion "
    "are trained with class-balanced sampling. Same as `python -m trainers.vidharm --data DIR --epochs N --out OUT`."
)


def metric_rows(test: dict[str, Any]) -> list[list[Any]]:
    """One row per modality of a finished job's test metrics."""
    return [[modality, test[modality]["n"], test[modality]["accuracy"], test[modality]["mean_class_accuracy"],
             test[modality]["mean_class_euclidean"]] for modality in ("video", "audio", "fused")]


def build(ctx: AppContext, rater: gr.Dropdown, status: gr.Markdown, rater_status: Callable[[], str]) -> None:
    """Add the training and probing accordions (inside the Video harm tab); ``rater`` is the tab's picker."""
    registry = ctx.registry
    ctx.jobs.when_done(JOB.name, lambda job: registry.register(catalog.folder_spec((job.result or {})["model_folder"]),
                                                                replace=True))
    with gr.Accordion("Train a rater", open=not catalog.real_data_raters()):
        gr.Markdown(TRAIN_HELP)
        with gr.Row():
            data_path = gr.Textbox(label=f"Data set: a folder or CSV in {datasets_folder()}", scale=3,
                                   placeholder="e.g. vidharm (a VidHarm-layout folder) or clips.csv")
            data_zip = gr.File(label="or a zip of a VidHarm-layout folder", file_types=[".zip"], scale=2)
        with gr.Row():
            synthetic = gr.Checkbox(False, label="Use the synthetic demonstration set instead")
            epochs = gr.Slider(1, 40, value=5, step=1, label="Epochs")
            name = gr.Textbox(label="Name of the rater (default: the job id)")
        train = gr.Button("Train", variant="primary", elem_id="vid-train")
        panel = job_panel(label="Loss and validation mean class accuracy")
        train_result = gr.Markdown(elem_id="vid-train-result")
        train_metrics = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="Test metrics")
    with gr.Accordion("Discrimination probe", open=False):
        gr.Markdown("Does the rater give harmless footage different levels depending on who is in it? Upload a zip "
                    "holding `probe.csv` (`path,group`) and the clips it lists: matched benign scenes with different "
                    "people (all truly Btl). Each clip is rated by its worst window with the picture alone (as "
                    "VidHarm probed) or fused; the gap between group means comes with a permutation p-value.")
        with gr.Row():
            probe_zip = gr.File(label="Probe zip", file_types=[".zip"], scale=3)
            modality = gr.Radio(["video", "fused"], value="video", label="Rated by", scale=1)
            run_probe = gr.Button("Probe", scale=1)
        probe_plot = gr.Plot(label="Predicted levels per group", show_label=False)
        probe_json = gr.JSON(label="Probe result")

    @user_errors
    def start_training(path: str, upload: str | None, use_synthetic: bool, epoch_count: float, title: str) -> str:
        """Queue a training job; returns its id."""
        name_given = (path or "").strip()
        if not (use_synthetic or upload or name_given):
            raise InputError("Name a data set, upload a zip, or tick the synthetic set.")
        if not (use_synthetic or upload or inside(datasets_folder(), name_given, what="data set name").exists()):
            raise InputError(f"No data set {name_given!r} in {datasets_folder()}.")
        params = {"data": (path or "").strip(), "synthetic": bool(use_synthetic), "epochs": int(epoch_count),
                  "name": (title or "").strip() or None}
        return ctx.jobs.submit(JOB, params, inputs=[upload] if upload and not use_synthetic else []).id

    def show_result(job: Job) -> list[Any]:
        result = job.result or {}
        names = registry.names(catalog.TASK)
        kind = "synthetic clips: a demonstration, not a real rater" if result.get("synthetic") else "your clips"
        splits = "; ".join(f"{split}: {facts['clips']} clips from {facts['groups']} groups ("
                           + ", ".join(f"{level} {count}" for level, count in facts["levels"].items()) + ")"
                           for split, facts in result.get("data", {}).items())
        return [f"Saved **vidharm:{result.get('name')}** (trained on {kind}); pick it as the rater above.  \n"
                f"Data: {splits}. Mean class accuracy is the score to read: VidHarm's test set is 74% Btl.",
                metric_rows(result.get("test", {})), gr.Dropdown(choices=names, value=f"vidharm:{result.get('name')}"),
                rater_status()]

    @user_errors
    def run_probe_on(upload: str | None, name: str | None, chosen: str, request: gr.Request,
                     progress: gr.Progress = gr.Progress()) -> tuple[Any, dict[str, Any]]:
        """Probe the chosen rater on a zip of probe.csv + clips."""
        if not upload:
            raise InputError("Upload a zip holding probe.csv (path,group) and its clips.")
        folder = session_folder(request, "probe")
        unpack = unpack_archive(upload, folder, required="probe.csv")
        result = probe(read_probe_csv(unpack / "probe.csv"), registry.get(name or catalog.UNTRAINED_NAME).model,
                       chosen, on_clip=lambda done, total: progress(done / total, desc=f"clip {done}/{total}"))
        return plots.probe_bars(result), result.to_json()

    train.click(start_training, [data_path, data_zip, synthetic, epochs, name], panel.job_id, api_name="video_train")
    panel.follow(ctx, JOB.name, show_result, [train_result, train_metrics, rater, status])
    run_probe.click(run_probe_on, [probe_zip, rater, modality], [probe_plot, probe_json], api_name="video_probe",
                    **HEAVY)
