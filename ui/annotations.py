"""Annotations tab: counts per task, recent decisions, undo, export and import."""

from __future__ import annotations

import json
import time

import gradio as gr

from engine.paths import validate_name
from ui.common import AppContext, require_annotator, user_errors
from ui.sessions import session_folder

COUNT_HEADERS = ["task", "items", "decisions", "annotators", "undone"]
RECENT_HEADERS = ["time", "task", "annotator", "label", "source", "item", "undone"]
ALL_TASKS = "all tasks"


def build(ctx: AppContext) -> None:
    """Add the Annotations tab to the current Blocks."""
    store = ctx.store

    def count_rows() -> list[list[object]]:
        return [[c.task, c.items, c.annotations, c.annotators, c.undone] for c in store.counts()]

    def task_choices() -> list[str]:
        return [ALL_TASKS] + [c.task for c in store.counts()]

    def recent_rows(task: str | None = ALL_TASKS) -> list[list[object]]:
        """The latest 50 decisions of a task (or of all tasks), newest first."""
        chosen = None if task in (None, ALL_TASKS) else task
        return [
            [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.created_at)), a.task, a.annotator,
             json.dumps(a.label, ensure_ascii=False)[:200], a.source, a.content_hash[:12], "yes" if a.undone else ""]
            for a in store.annotations(chosen, include_undone=True, limit=50, newest_first=True)
        ]

    with gr.Tab("Annotations", id="annotations"):
        gr.Markdown(
            f"Every decision made in any tab is saved at once to `{store.path.name}` (SQLite). Nothing is "
            "deleted: undo marks your latest decision as undone. Export to CSV or JSONL to train or share; "
            "importing an export adds only the decisions not already stored."
        )
        counts = gr.Dataframe(headers=COUNT_HEADERS, interactive=False, label="Per task",
                              elem_id="annotation-counts")
        with gr.Row():
            task = gr.Dropdown(task_choices(), value=ALL_TASKS, label="Task", scale=3, allow_custom_value=True)
            refresh_button = gr.Button("Refresh", scale=1)
            undo_button = gr.Button("Undo my last decision in this task", scale=2)
        recent = gr.Dataframe(headers=RECENT_HEADERS, interactive=False, wrap=True,
                              label="Most recent 50 decisions", elem_id="annotation-recent")
        status = gr.Markdown(elem_id="annotation-status")
        with gr.Row():
            fmt = gr.Radio(["jsonl", "csv"], value="jsonl", label="Export format")
            export_button = gr.Button("Export")
            export_file = gr.File(label="Download", interactive=False)
        with gr.Row():
            import_file = gr.File(label="Import an export (.jsonl or .csv)", file_types=[".jsonl", ".csv"])
            import_button = gr.Button("Import")

    def refresh(chosen: str) -> tuple[list[list[object]], list[list[object]], dict]:
        """Counts per task, the latest 50 decisions (of ``chosen``, or all tasks) and the task list."""
        return count_rows(), recent_rows(chosen), gr.update(choices=task_choices())

    @user_errors
    def undo(chosen: str, annotator: str, request: gr.Request) -> tuple[str, list[list[object]], list[list[object]]]:
        """Undo your own latest decision in a task (only the caller's decisions are ever touched).

        Args:
            chosen: the task name.
            annotator: your name (ignored when the app requires a login).
        """
        who = require_annotator(annotator, request)
        if chosen in (None, ALL_TASKS):
            raise gr.Error("Choose the task whose last decision you want to undo.")
        undone = store.undo(chosen, who)
        message = (f"Undid {who}'s decision {json.dumps(undone.label)} on item {undone.content_hash[:12]}."
                   if undone else f"{who} has no decision left to undo in {chosen}.")
        return message, count_rows(), recent_rows(chosen)

    @user_errors
    def export(task: str | None, format: str, request: gr.Request) -> tuple[str, str]:  # noqa: A002 (API name)
        """Export the decisions of one task (or "all tasks") as a CSV or JSONL file to download.

        Args:
            task: the task name, as listed in the Annotations tab, or "all tasks".
            format: "csv" or "jsonl".
        """
        everything = task in (None, "", ALL_TASKS)
        name = "annotations" if everything else f"annotations-{validate_name(task, 'task name')}"
        path = session_folder(request, "export") / f"{name}.{format}"
        rows = store.export(path, format, None if everything else task)  # type: ignore[arg-type]
        return str(path), f"Exported {rows} decisions."

    @user_errors
    def import_(path: str | None, chosen: str) -> tuple[str, list[list[object]], list[list[object]]]:
        """Add the decisions of a CSV or JSONL export; those already stored are skipped."""
        if not path:
            raise gr.Error("Upload an annotation export first.")
        result = store.import_file(path)
        return (f"Imported {result.added} decisions; {result.skipped} were already stored.",
                count_rows(), recent_rows(chosen))

    ctx.demo.load(refresh, task, [counts, recent, task], api_visibility="private")
    refresh_button.click(refresh, task, [counts, recent, task], api_name="annotations_refresh")
    task.change(recent_rows, task, recent, api_name="annotations_recent")
    undo_button.click(undo, [task, ctx.annotator], [status, counts, recent], api_name="annotations_undo")
    export_button.click(export, [task, fmt], [export_file, status], api_name="annotations_export")
    import_button.click(import_, [import_file, task], [status, counts, recent], api_name="annotations_import")
