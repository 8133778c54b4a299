"""Video harm tab: rate a clip's age level (Btl / 7 / 11 / 15) from picture and sound, window by window.

Upload a clip (or take the synthetic example), pick a rater, see per-window probabilities per
modality and fused as stacked areas over time, the rating (the worst window) with its key frames
and which modality pushed it. Rate the clip and its windows yourself with the keyboard; export the
ratings in VidHarm's layout for training. Training and the discrimination probe live in
:mod:`ui.video_train`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from engine import settings
from engine.errors import InputError
from engine.video import annotate, catalog, plots
from engine.video.labels import LEVELS
from engine.video.media import probe, read_frames
from engine.video.models import FUSION_RULES
from engine.video.scoring import HarmScores, score
from engine.video.synthetic import example_clip
from ui import video_train
from ui.common import HEAVY, AppContext, require_annotator, shortcut_script, user_errors
from ui.sessions import SessionValues

HEAD = shortcut_script({**{f"Digit{k + 1}": f"vid-win-{k}" for k in range(4)},
                        **{f"Shift+Digit{k + 1}": f"vid-clip-{k}" for k in range(4)},
                        "n": "vid-next", "p": "vid-prev", "u": "vid-undo"})
INTRO = (
    "**VidHarm** (Edstedt et al., ICPR 2022): Swedish age levels **Btl** (all ages), **7**, **11**, **15**, rated "
    "by the risk of harm to children (violence, threats, fear), not by taste. The clip is cut into 10-s windows; "
    "a visual branch (frames sampled by timestamp) and an audio branch (log-mel spectrogram) each give level "
    "probabilities, fused by their product; the clip's rating is its **worst window**, as trailers' ratings follow "
    "their most severe scene."
)
@dataclass
class RatedClip:
    """The clip a page last rated, kept on the server: its file, name, window spans, when shown, its token."""

    clip: str
    name: str
    windows: list[tuple[float, float]]
    shown_at: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


SESSIONS: SessionValues[RatedClip | None] = SessionValues(lambda: None)
TABLE_HEADERS = ["window", "start (s)", "end (s)", "rating", "picture", "sound", "pushed by", "harm score 0-3"]
KEYS = ("Keys: **1-4** rate the selected window Btl/7/11/15 (then the next one is selected), **Shift+1-4** "
        "rate the whole clip, **n**/**p** next/previous window, **u** undo your last rating.")


def rater_status() -> str:
    """Whether a rater trained on real data exists, and if not, how to get one."""
    real = catalog.real_data_raters()
    if real:
        return f"Raters trained on real clips: {', '.join(f'`{name}`' for name in real)}."
    return ("**No rater trained on real data is available here.** VidHarm's clips and trained models cannot be "
            "downloaded by the app, so the ratings below come from the untrained demonstration rater (RANDOM heads) "
            "or from raters trained on synthetic clips: they show how the tool works and mean nothing for real "
            "videos. To train one, get VidHarm's clips (the archive linked from the `vidharm/vidharm` repository, "
            "unpacked as `DIR/clips/<id>/<id>.mp4` beside its `vidharm_{train,val,test}.json`) or rate your own "
            "clips below and export them, then run `python -m trainers.vidharm --data DIR --epochs 5 --out "
            "my-rater` or use **Train a rater** below (a job with live curves).")


def default_rater(ctx: AppContext) -> str:
    """The newest rater trained on real data, else the newest saved one, else the demonstration rater."""
    trained = [name for name in ctx.registry.names(catalog.TASK) if name != catalog.UNTRAINED_NAME]
    return (catalog.real_data_raters() or trained or [catalog.UNTRAINED_NAME])[-1]


def summary_markdown(result: HarmScores) -> str:
    """The rating, its window, the pushing modality, provenance and notes."""
    worst = result.worst
    lines = [f"## Rating: {result.rating}",
             f"Worst window **{worst.start_s:.1f}-{worst.end_s:.1f} s** (harm score {worst.harm_score:.2f} of 3), "
             f"pushed by **{worst.pushed_by}**: picture says {LEVELS[int(worst.video.argmax())]}, sound says "
             f"{LEVELS[int(worst.audio.argmax())] if worst.audio is not None else 'nothing (no sound)'}. "
             f"{len(result.windows)} windows of {result.window_s:g} s every {result.stride_s:g} s over "
             f"{result.duration_s:.1f} s; fusion: {result.fusion}; {result.seconds:.1f} s to rate.",
             f"*Rater:* `{result.model}`: {result.provenance}"]
    lines += [f"- {note}" for note in result.notes]
    return "\n\n".join(lines[:3]) + ("\n" + "\n".join(lines[3:]) if len(lines) > 3 else "")


def window_rows(result: HarmScores) -> list[list[Any]]:
    """One table row per window."""
    return [[w.index, round(w.start_s, 2), round(w.end_s, 2), w.rating, LEVELS[int(w.video.argmax())],
             LEVELS[int(w.audio.argmax())] if w.audio is not None else "-", w.pushed_by, round(w.harm_score, 3)]
            for w in result.windows]


def key_frames(path: str, result: HarmScores, count: int = 4) -> list[tuple[np.ndarray, str]]:
    """Evenly spaced frames of the worst window with their times, for the gallery."""
    worst = result.worst
    times = worst.start_s + (np.arange(count) + 0.5) * (worst.end_s - worst.start_s) / count
    return [(frame, f"{t:.1f} s") for frame, t in zip(read_frames(path, times, width=320), times)]


def build(ctx: AppContext) -> None:
    """Add the Video harm tab."""
    registry, store = ctx.registry, ctx.store
    catalog.register_all(registry)
    with gr.Tab("Video harm", id="video"):
        gr.Markdown(INTRO)
        status = gr.Markdown(rater_status(), elem_id="vid-rater-status")
        with gr.Row():
            with gr.Column(scale=3):
                clip = gr.Video(label="Clip", sources=["upload"], elem_id="vid-clip", height=300)
                example = gr.Button("Use the synthetic example clip (30 s)", size="sm")
            with gr.Column(scale=2):
                rater = gr.Dropdown(registry.names(catalog.TASK), value=default_rater(ctx), label="Rater",
                                    allow_custom_value=True, elem_id="vid-rater")  # raters trained later
                stride = gr.Slider(1, 10, value=10, step=0.5, label="Stride between 10-s windows (s)")
                fusion = gr.Radio(list(FUSION_RULES), value="product", label="Fusion of picture and sound")
                run = gr.Button("Rate", variant="primary", elem_id="vid-run")
        summary = gr.Markdown(elem_id="vid-summary")
        timeline = gr.Plot(label="Level probabilities over time (picture, sound, fused)", show_label=False)
        frames = gr.Gallery(label="Key frames of the worst window", columns=4, height=200, elem_id="vid-frames")
        table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Windows", elem_id="vid-windows")
        # the rated clip (its file and windows) stays on the server; the page holds only its token
        on_screen = gr.Textbox(visible=False)
        with gr.Accordion("Rate it yourself", open=True):
            gr.Markdown(KEYS)
            window = gr.Number(0, precision=0, minimum=0, label="Selected window (its index in the table)",
                               elem_id="vid-window")
            with gr.Row():
                previous = gr.Button("◀ previous (p)", size="sm", elem_id="vid-prev")
                window_buttons = [gr.Button(f"Window: {name} ({k + 1})", elem_id=f"vid-win-{k}")
                                  for k, name in enumerate(LEVELS)]
                following = gr.Button("next (n) ▶", size="sm", elem_id="vid-next")
            with gr.Row():
                clip_buttons = [gr.Button(f"Whole clip: {name} (Shift+{k + 1})", elem_id=f"vid-clip-{k}")
                                for k, name in enumerate(LEVELS)]
                undo = gr.Button("Undo (u)", elem_id="vid-undo")
            rating_status = gr.Markdown(elem_id="vid-rating-status")
            with gr.Row():
                export = gr.Button("Export my ratings as a VidHarm-layout zip")
                exported = gr.File(label="VidHarm-layout export (train with it: Train a rater, or the CLI)",
                                   interactive=False)
        video_train.build(ctx, rater, status, rater_status)

    @user_errors
    def rate(path: str | None, name: str | None, stride_s: float, rule: str, request: gr.Request,
             progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """Rate a clip: summary, timeline, key frames of the worst window, per-window table."""
        if not path:
            raise InputError("Upload a clip first (or use the synthetic example).")
        model = registry.get(name or default_rater(ctx)).model
        duration = probe(path).duration_s or 0.0
        progress(0, desc="decoding and rating")
        result = score(path, model, stride_s=float(stride_s), fusion=rule,
                       on_window=lambda w: progress(min(w.end_s / max(duration, w.end_s), 1.0),
                                                    desc=f"window {w.index + 1}"))
        rated = RatedClip(path, Path(path).name, [(w.start_s, w.end_s) for w in result.windows], time.time())
        SESSIONS.set(request, rated)
        return (summary_markdown(result), plots.timeline(result), key_frames(path, result), window_rows(result),
                rated.token, result.worst.index)

    def use_example() -> str:
        """The synthetic example clip (made on first use)."""
        return str(example_clip(settings.current().data_dir / "video" / "examples"))

    def shown_clip(token: str | None, request: gr.Request) -> RatedClip:
        rated = SESSIONS.get(request)
        if rated is None or not token or token != rated.token:
            raise InputError("Rate a clip first (the clip on this page is no longer the one rated); then rate it "
                             "yourself.")
        return rated

    def rate_window_with(level: int) -> Any:
        @user_errors
        def save(on_screen: str | None, index: float, annotator: str, request: gr.Request) -> tuple[str, Any]:
            """Save your level for window ``index`` of the clip on screen (``on_screen``: the token /video_rate
            returned); returns a message and the next window."""
            who = require_annotator(annotator, request)
            rated = shown_clip(on_screen, request)
            index = int(min(max(index or 0, 0), len(rated.windows) - 1))
            start, end = rated.windows[index]
            annotate.rate_window(store, rated.clip, start, end, LEVELS[level], who, rated.name,
                                 time.time() - rated.shown_at)
            rated.shown_at = time.time()
            return (f"Saved window {index} ({start:.1f}-{end:.1f} s) as **{LEVELS[level]}**.",
                    min(index + 1, len(rated.windows) - 1))

        return save

    def rate_clip_with(level: int) -> Any:
        @user_errors
        def save(on_screen: str | None, annotator: str, request: gr.Request) -> str:
            """Save your level for the whole clip on screen (``on_screen``: the token /video_rate returned)."""
            who = require_annotator(annotator, request)
            rated = shown_clip(on_screen, request)
            annotate.rate_clip(store, rated.clip, LEVELS[level], who, rated.name, time.time() - rated.shown_at)
            return f"Saved the whole clip as **{LEVELS[level]}**."

        return save

    def next_window(index: float, request: gr.Request) -> int:
        rated = SESSIONS.get(request)
        return min(int(index or 0) + 1, max(len(rated.windows) - 1, 0) if rated else 0)

    @user_errors
    def undo_last(annotator: str, request: gr.Request) -> str:
        """Take back your latest clip or window rating."""
        who = require_annotator(annotator, request)
        latest = store.annotations(annotator=who, newest_first=True, limit=20)
        mine = next((a for a in latest if a.task in (annotate.CLIP_TASK, annotate.WINDOW_TASK)), None)
        if mine is None:
            return f"{who} has no video rating left to undo."
        undone = store.undo(mine.task, who)
        where = "the whole clip" if mine.task == annotate.CLIP_TASK else (
            f"window {mine.payload['start_s']:.1f}-{mine.payload['end_s']:.1f} s")
        return f"Undid your rating of {where} ({undone.label if undone else mine.label})."

    @user_errors
    def export_ratings() -> tuple[str, str]:
        """Write every clip and window rating as a VidHarm-layout zip (train/val/test.json + clips/)."""
        summary = annotate.export_vidharm(store, annotate.default_export_path())
        counts = ", ".join(f"{split} {count}" for split, count in summary.counts.items())
        return (f"Exported {summary.items} rated clips and windows ({counts}). Train on it with **Train a rater** "
                f"(upload the zip) or `python -m trainers.vidharm --data UNZIPPED --out my-rater`.",
                str(summary.path))

    outputs = [summary, timeline, frames, table, on_screen, window]
    run.click(rate, [clip, rater, stride, fusion], outputs, api_name="video_rate", **HEAVY)
    example.click(use_example, None, clip, api_name="video_example")
    for level, button in enumerate(window_buttons):
        button.click(rate_window_with(level), [on_screen, window, ctx.annotator], [rating_status, window],
                     api_name=f"video_rate_window_{LEVELS[level].lower()}")
    for level, button in enumerate(clip_buttons):
        button.click(rate_clip_with(level), [on_screen, ctx.annotator], rating_status,
                     api_name=f"video_rate_clip_{LEVELS[level].lower()}")
    previous.click(lambda index: max(int(index or 0) - 1, 0), window, window, api_visibility="private")
    following.click(next_window, window, window, api_visibility="private")
    undo.click(undo_last, ctx.annotator, rating_status, api_name="video_undo")
    export.click(export_ratings, None, [rating_status, exported], api_name="video_export", **HEAVY)
