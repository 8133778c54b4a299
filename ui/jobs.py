"""Jobs tab (every long run: progress, cancel, resume, log, results) and the job panel other tabs embed.

A tab that trains puts a :func:`job_panel` under its start button: the start handler submits a job
and writes its id into the panel; a timer then reads the job's record from the store every two
seconds (no thread is held by the page), draws the live curves, and hands the finished job to the
tab's ``on_finished`` to render its results. A reloaded page finds the tab's newest job again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from engine.errors import WorkbenchError
from engine.jobs import LOG_FILE, Job, JobRunner, describe
from engine.plotting import training_curves
from ui.common import AppContext, user_errors

POLL_S = 2.0
JOB_HEADERS = ["id", "kind", "state", "progress", "loss", "ETA", "message", "created"]
LOG_TAIL_LINES = 60


def when(timestamp: float | None) -> str:
    """A timestamp as local date and time (empty for None)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else ""


def job_rows(runner: JobRunner) -> list[list[str]]:
    """The Jobs table, newest first."""
    rows = []
    for job in runner.store.list(limit=100):
        progress = f"{job.step}/{job.total} ({100 * job.fraction:.0f}%)" if job.total else ""
        eta = f"{job.eta_s:.0f} s" if job.eta_s is not None and job.state == "running" else ""
        loss = f"{job.loss:.4g}" if job.loss is not None else ""
        rows.append([job.id, job.kind, job.state, progress, loss, eta, job.error or job.message, when(job.created_at)])
    return rows


def curves(runner: JobRunner, job: Job) -> Any:
    """The job's loss and metric curves as a figure (None before the first report)."""
    events = runner.store.events(job.id)
    if not events:
        return None
    metrics: dict[str, tuple[list[int], list[float]]] = {}
    for event in events:
        for name, value in event.metrics.items():
            steps, values = metrics.setdefault(name, ([], []))
            steps.append(event.step)
            values.append(value)
    return training_curves([e.step for e in events], [e.loss for e in events], metrics, f"{job.title} ({job.id})")


def status_markdown(job: Job) -> str:
    """The job's state in one line of Markdown."""
    return f"**{job.title}** · " + describe(job, separator=" · ", bold_state=True)


@dataclass
class JobPanel:
    """The widgets following one job; ``job_id`` receives the id of the job to follow."""

    job_id: gr.Textbox | gr.Dropdown
    status: gr.Markdown
    plot: gr.Plot
    cancel: gr.Button
    resume: gr.Button
    timer: gr.Timer

    def follow(self, ctx: AppContext, kind: str | None, on_finished: Callable[[Job], Sequence[Any]] | None = None,
               finished_outputs: Sequence[Any] = ()) -> None:
        """Wire the panel: poll the job while it runs, cancel/resume, results when it is done.

        Args:
            ctx: the app context (its job runner and page).
            kind: on page load the panel shows the newest job of this kind (None: nothing).
            on_finished: renders a done job's results into ``finished_outputs`` (called when the job
                ends and when a page loads with a finished job).
            finished_outputs: the components ``on_finished`` fills.
        """
        runner = ctx.jobs
        skipped = [gr.skip()] * len(finished_outputs)

        def render(identifier: str | None) -> list[Any]:
            if not identifier:
                return ["", None, gr.Timer(active=False), *skipped]
            try:
                job = runner.store.get(identifier)
            except WorkbenchError as error:
                return [str(error), None, gr.Timer(active=False), *skipped]
            results = list(on_finished(job)) if on_finished is not None and job.state == "done" else skipped
            return [status_markdown(job), curves(runner, job), gr.Timer(active=not job.finished), *results]

        @user_errors
        def cancel_job(identifier: str | None) -> list[Any]:
            if identifier:
                runner.cancel(identifier)
            return render(identifier)

        @user_errors
        def resume_job(identifier: str | None) -> list[Any]:
            if identifier:
                runner.resume(identifier)
            return render(identifier)

        outputs = [self.status, self.plot, self.timer, *finished_outputs]
        self.job_id.change(render, self.job_id, outputs, api_visibility="private")
        self.timer.tick(render, self.job_id, outputs, api_visibility="private")
        self.cancel.click(cancel_job, self.job_id, outputs, api_visibility="private")
        self.resume.click(resume_job, self.job_id, outputs, api_visibility="private")
        if kind is not None:
            def newest() -> str:
                found = runner.store.list(limit=1, kind=kind)
                return found[0].id if found else ""

            ctx.demo.load(newest, None, self.job_id, api_visibility="private")


def job_panel(job_id: gr.Textbox | gr.Dropdown | None = None, label: str = "Training") -> JobPanel:
    """Add the widgets of a job panel here (status, live curves, cancel, resume); wire them with
    :meth:`JobPanel.follow` once the components its results go to exist.

    Args:
        job_id: an existing component holding the job id (the Jobs tab's chooser); a read-only
            text box is made otherwise.
        label: the plot's label.
    """
    with gr.Group():
        if job_id is None:
            job_id = gr.Textbox(label="Job", interactive=False, elem_classes=["job-id"])
        status = gr.Markdown()
        plot = gr.Plot(label=label, show_label=False)
        with gr.Row():
            cancel = gr.Button("Cancel job", size="sm")
            resume = gr.Button("Resume job", size="sm")
    return JobPanel(job_id, status, plot, cancel, resume, gr.Timer(POLL_S, active=False))


def result_files(runner: JobRunner, job: Job) -> list[str]:
    """Files a finished job wrote into its folder (its outputs, log included), for download."""
    folder = runner.store.folder(job.id)
    return sorted(str(path) for path in folder.rglob("*")
                  if path.is_file() and path.suffix not in (".lock", ".partial") and "inputs" not in path.parts[-2:])


def build(ctx: AppContext) -> None:
    """Add the Jobs tab."""
    runner = ctx.jobs
    with gr.Tab("Jobs", id="jobs") as tab:
        gr.Markdown("Every long run started in any tab (or resumed from the command line with "
                    "`python -m engine.jobs`). Jobs run one at a time per device; they survive page reloads and "
                    "app restarts, and a cancelled or interrupted job resumes from its last checkpoint.")
        table = gr.Dataframe(job_rows(runner), headers=JOB_HEADERS, interactive=False, wrap=True,
                             label="Jobs (newest first; click a row to follow it)", elem_id="jobs-table")
        chooser = gr.Dropdown([row[0] for row in job_rows(runner)], label="Job", allow_custom_value=False,
                              elem_id="jobs-choice")
        panel = job_panel(job_id=chooser, label="Loss and metrics")
        with gr.Row():
            log = gr.Textbox(label="Log (last lines)", lines=8, max_lines=20, interactive=False, scale=3)
            with gr.Column(scale=2):
                result = gr.JSON(label="Result")
                files = gr.File(label="Files", file_count="multiple", interactive=False)
        refresh = gr.Timer(POLL_S * 2)
    panel.follow(ctx, None)

    def details(identifier: str | None) -> tuple[str, Any, Any]:
        if not identifier:
            return "", None, None
        try:
            job = runner.store.get(identifier)
        except WorkbenchError as error:
            return str(error), None, None
        path = Path(runner.store.folder(job.id)) / LOG_FILE
        lines = path.read_text(encoding="utf-8").splitlines()[-LOG_TAIL_LINES:] if path.is_file() else []
        return "\n".join(lines) or describe(job), job.result, result_files(runner, job) if job.finished else None

    def listing(current: str | None) -> tuple[list[list[str]], Any]:
        rows = job_rows(runner)
        ids = [row[0] for row in rows]
        return rows, gr.Dropdown(choices=ids, value=current if current in ids else None)

    def pick_row(event: gr.SelectData) -> str:
        return str(event.row_value[0])

    table.select(pick_row, None, chooser, api_visibility="private")
    chooser.change(details, chooser, [log, result, files], api_visibility="private")
    panel.timer.tick(details, chooser, [log, result, files], api_visibility="private")
    refresh.tick(listing, chooser, [table, chooser], api_visibility="private")
    tab.select(listing, chooser, [table, chooser], api_visibility="private")

    def jobs_list() -> list[dict[str, Any]]:
        """Every job's record, newest first (id, kind, state, step, total, loss, message, result, error)."""
        return [job.__dict__ for job in runner.store.list(limit=100)]

    with tab:
        gr.api(jobs_list, api_name="jobs_list")
