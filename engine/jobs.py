"""Long work as jobs: start, follow, cancel and resume training, studies and sweeps.

A job is one call of a :class:`JobKind`'s function ``run(params, ctx) -> result`` with JSON
parameters. Its record (id, kind, parameters, state, progress, result, error) lives in
``<data dir>/jobs/jobs.sqlite`` and its files (log, checkpoint, outputs) in ``<data dir>/jobs/<id>/``,
so a reloaded page, a second browser tab, a restarted app and the command line all see the same jobs.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``. A :class:`JobRunner` runs
the queued jobs of one device one at a time, in one worker thread, oldest first; the queue is
bounded. Cancelling a queued job is immediate; a running job stops at its next step boundary
(the function reports progress through :class:`JobContext`, which raises :class:`Cancelled` once
cancel is asked). Resuming puts a cancelled or failed job back in the queue and hands its function
``ctx.resume=True`` with the same folder, so training continues from its last checkpoint. A job
whose process died (kill -9, power loss) is found on the next start of a runner by its released
lock file and queued again to resume.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import importlib
import json
import math
import re
import secrets
import shutil
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from engine import runtime, settings
from engine.errors import Cancelled, WorkbenchError, command_line
from engine.paths import safe_file_name
from engine.sqlite import SqliteFile

JobState = Literal["queued", "running", "cancelled", "failed", "done"]
FINISHED: tuple[JobState, ...] = ("cancelled", "failed", "done")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")
TARGET_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*:[a-z_][a-z0-9_]*$")
EVENT_FLUSH_S = 0.5  # progress events are written (and cancel checked) at most this often
LOG_FILE = "log.txt"
CHECKPOINT_FILE = "checkpoint.pt"
INPUTS_FOLDER = "inputs"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    title TEXT NOT NULL,
    params TEXT NOT NULL,
    device TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    loss REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    message TEXT NOT NULL DEFAULT '',
    eta_s REAL,
    result TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, device, created_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    step INTEGER NOT NULL,
    total INTEGER NOT NULL,
    loss REAL,
    metrics TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, id);
"""
_COLUMNS = ("id, kind, target, title, params, device, state, created_at, started_at, finished_at, attempts, step, "
            "total, loss, metrics, message, eta_s, result, error, cancel_requested")


@dataclass(frozen=True)
class JobKind:
    """A kind of long work: a name, the function that does it, a title for people.

    ``target`` is ``"<module>:<function>"`` (e.g. ``"engine.similarity.contexts.adaptation:run_job"``);
    it is stored with every job so any process can run or resume the job without registering anything.
    """

    name: str
    target: str
    title: str

    def __post_init__(self) -> None:
        if not TARGET_PATTERN.match(self.target):
            raise ValueError(f"A job target must look like 'package.module:function', not {self.target!r}.")


@dataclass(frozen=True)
class Job:
    """A job's stored record."""

    id: str
    kind: str
    target: str
    title: str
    params: dict[str, Any]
    device: str
    state: JobState
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    step: int = 0
    total: int = 0
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""
    eta_s: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False

    @property
    def fraction(self) -> float:
        """Share done, 0..1 (1 when finished successfully)."""
        if self.state == "done":
            return 1.0
        return self.step / self.total if self.total else 0.0

    @property
    def finished(self) -> bool:
        """Whether the job reached a final state (it can still be resumed if cancelled or failed)."""
        return self.state in FINISHED


@dataclass(frozen=True)
class Event:
    """One progress report: step of total, the loss then, and any metrics."""

    at: float
    step: int
    total: int
    loss: float | None
    metrics: dict[str, float]


def _decode(row: tuple[Any, ...]) -> Job:
    values = list(row)
    values[4] = json.loads(values[4])
    values[14] = json.loads(values[14])
    values[17] = json.loads(values[17]) if values[17] is not None else None
    values[19] = bool(values[19])
    return Job(*values)


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class JobStore:
    """Job records in SQLite and one folder per job, under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._db = SqliteFile(self.root / "jobs.sqlite", _SCHEMA, synchronous="NORMAL")

    def folder(self, job_id: str) -> Path:
        """The folder of a job (log, checkpoint, outputs); ``job_id`` is validated first."""
        if not ID_PATTERN.match(job_id or ""):
            raise WorkbenchError(f"{job_id!r} is not a job id (lowercase letters, digits and '-').")
        return self.root / job_id

    def create(self, kind: JobKind, params: Mapping[str, Any], device: str) -> Job:
        """Store a new queued job and make its folder."""
        try:
            params_json = json.dumps(dict(params), sort_keys=True)
        except (TypeError, ValueError) as error:
            raise WorkbenchError(f"Job parameters must be JSON values: {error}") from error
        job_id = f"{kind.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        self.folder(job_id).mkdir(parents=True, exist_ok=True)
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO jobs (id, kind, target, title, params, device, state, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                (job_id, kind.name, kind.target, kind.title, params_json, device, time.time()))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """The job's record.

        Raises:
            WorkbenchError: no such job.
        """
        self.folder(job_id)  # validates the id
        with self._db.connect() as connection:
            row = connection.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise WorkbenchError(f"No job {job_id!r}.")
        return _decode(row)

    def list(self, limit: int = 200, kind: str | None = None) -> list[Job]:
        """The newest jobs first, optionally of one kind."""
        query = f"SELECT {_COLUMNS} FROM jobs" + (" WHERE kind = ?" if kind else "") + " ORDER BY created_at DESC"
        with self._db.connect() as connection:
            rows = connection.execute(query + " LIMIT ?", ((kind,) if kind else ()) + (limit,)).fetchall()
        return [_decode(row) for row in rows]

    def count(self, state: JobState, device: str | None = None) -> int:
        """How many jobs are in ``state`` (on ``device``)."""
        query = "SELECT COUNT(*) FROM jobs WHERE state = ?" + (" AND device = ?" if device else "")
        with self._db.connect() as connection:
            return int(connection.execute(query, (state, device) if device else (state,)).fetchone()[0])

    def claim(self, device: str, job_id: str | None = None) -> Job | None:
        """Mark the oldest queued job of ``device`` (or the queued job ``job_id``) as running and return it.

        Returns None when there is no such queued job (another worker may have claimed it).
        """
        with self._db.write() as connection:
            if job_id is None:
                row = connection.execute(
                    "SELECT id FROM jobs WHERE state = 'queued' AND device = ? ORDER BY created_at LIMIT 1",
                    (device,)).fetchone()
            else:
                row = connection.execute("SELECT id FROM jobs WHERE state = 'queued' AND id = ?",
                                         (job_id,)).fetchone()
            if row is None:
                return None
            connection.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1, error = NULL, "
                "eta_s = NULL WHERE id = ?", (time.time(), row[0]))
        return self.get(row[0])

    def report(self, job_id: str, events: list[Event], message: str, eta_s: float | None) -> bool:
        """Append progress events, update the job's latest progress; returns whether cancel was asked."""
        last = events[-1] if events else None
        with self._db.write() as connection:
            connection.executemany(
                "INSERT INTO events (job_id, at, step, total, loss, metrics) VALUES (?, ?, ?, ?, ?, ?)",
                [(job_id, e.at, e.step, e.total, _finite_or_none(e.loss), json.dumps(e.metrics)) for e in events])
            if last is not None:
                connection.execute(
                    "UPDATE jobs SET step = ?, total = ?, loss = COALESCE(?, loss), metrics = ?, message = ?, "
                    "eta_s = ? WHERE id = ?",
                    (last.step, last.total, _finite_or_none(last.loss), json.dumps(last.metrics), message,
                     eta_s, job_id))
            else:
                connection.execute("UPDATE jobs SET message = ? WHERE id = ?", (message, job_id))
            row = connection.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def events(self, job_id: str, after: int = 0) -> list[Event]:
        """The job's progress events in order (those with row id above ``after``)."""
        with self._db.connect() as connection:
            rows = connection.execute(
                "SELECT at, step, total, loss, metrics FROM events WHERE job_id = ? AND id > ? ORDER BY id",
                (job_id, after)).fetchall()
        return [Event(at, step, total, loss, json.loads(metrics)) for at, step, total, loss, metrics in rows]

    def finish(self, job_id: str, state: JobState, result: Mapping[str, Any] | None = None,
               error: str | None = None) -> None:
        """Record a final state."""
        with self._db.write() as connection:
            connection.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, result = ?, error = ?, cancel_requested = 0, "
                "eta_s = NULL WHERE id = ?",
                (state, time.time(), json.dumps(result) if result is not None else None, error, job_id))

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued job now, or ask a running one to stop at its next step."""
        with self._db.write() as connection:
            connection.execute("UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'",
                               (time.time(), job_id))
            connection.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", (job_id,))
        return self.get(job_id)

    def requeue(self, job_id: str, message: str) -> Job:
        """Put a cancelled, failed or interrupted job back in the queue to resume."""
        with self._db.write() as connection:
            connection.execute(
                "UPDATE jobs SET state = 'queued', cancel_requested = 0, finished_at = NULL, message = ? WHERE id = ?",
                (message, job_id))
        return self.get(job_id)


class JobFunction(Protocol):
    """What a :class:`JobKind` runs: parameters in, a JSON-serialisable result out."""

    def __call__(self, params: dict[str, Any], ctx: JobContext) -> dict[str, Any]: ...


class JobContext:
    """Handed to a job function: report progress, write the log, know where to checkpoint.

    Attributes:
        job_id: the job's id.
        folder: the job's own folder (outputs go here).
        checkpoint: the checkpoint path to pass to :func:`engine.training.fit`.
        inputs: the folder holding the files given to :meth:`JobRunner.submit` (may not exist).
        resume: True when the job ran before and should continue from ``checkpoint``.
        device: where the job's models run.
    """

    def __init__(self, store: JobStore, job: Job) -> None:
        self.store = store
        self.job_id = job.id
        self.folder = store.folder(job.id)
        self.checkpoint = self.folder / CHECKPOINT_FILE
        self.inputs = self.folder / INPUTS_FOLDER
        self.resume = job.attempts > 1
        self.device = job.device
        self._pending: list[Event] = []
        self._last_flush = 0.0
        self._started = time.monotonic()
        self._start_fraction: float | None = None
        self._message = ""

    def log(self, text: str) -> None:
        """Append a line to the job's log file."""
        with open(self.folder / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def progress(self, step: int, total: int, loss: float | None = None,
                 metrics: Mapping[str, float] | None = None, message: str = "") -> None:
        """Report progress (``step`` of ``total`` done); raises :class:`Cancelled` once cancel is asked."""
        self._pending.append(Event(time.time(), int(step), int(total), loss, dict(metrics or {})))
        if message:
            self._message = message
        fraction = step / total if total else 0.0
        if self._start_fraction is None:
            self._start_fraction = fraction
        if time.monotonic() - self._last_flush >= EVENT_FLUSH_S or (total and step >= total):
            self._flush(fraction)

    def training_progress(self, progress: Any) -> None:
        """Report an :class:`engine.training.Progress` (pass this as ``fit(on_progress=...)``)."""
        steps = max(progress.steps, 1)
        self.progress(progress.epoch * steps + progress.step + 1, progress.epochs * steps, progress.loss,
                      progress.metrics, f"epoch {progress.epoch + 1}/{progress.epochs}")

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancel was asked (call it between units of work)."""
        self._flush(None)

    def close(self, message: str) -> None:
        """Write what is still pending with a last message (no cancel check: the work is over)."""
        self.store.report(self.job_id, self._pending, message, None)
        self._pending = []

    def _flush(self, fraction: float | None) -> None:
        eta = None
        if fraction is not None and self._start_fraction is not None and fraction > self._start_fraction:
            elapsed = time.monotonic() - self._started
            eta = elapsed * (1.0 - fraction) / (fraction - self._start_fraction)
        cancel = self.store.report(self.job_id, self._pending, self._message, eta)
        self._pending = []
        self._last_flush = time.monotonic()
        if cancel:
            raise Cancelled(f"Job {self.job_id} was cancelled.")


def resolve_target(target: str) -> JobFunction:
    """Import ``"package.module:function"``."""
    if not TARGET_PATTERN.match(target):
        raise WorkbenchError(f"Not a job function: {target!r}.")
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


class _RunLock:
    """An exclusive lock file held while a job runs; the OS drops it when the process dies."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "running.lock"
        self._handle: Any = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def execute(store: JobStore, job: Job) -> Job:
    """Run a claimed job in this thread and record how it ended."""
    lock = _RunLock(store.folder(job.id))
    if not lock.acquire():
        raise WorkbenchError(f"Job {job.id} is already running in another process.")
    ctx = JobContext(store, job)
    ctx.log(f"{'resuming' if ctx.resume else 'starting'} {job.kind} on {job.device} (attempt {job.attempts})")
    try:
        result = resolve_target(job.target)(dict(job.params), ctx)
        ctx.close("done")
        store.finish(job.id, "done", result=result)
        ctx.log("done")
    except Cancelled:
        ctx.close("cancelled; resume continues from the last checkpoint")
        store.finish(job.id, "cancelled")
        ctx.log("cancelled")
    except WorkbenchError as error:
        store.finish(job.id, "failed", error=str(error))
        ctx.log(f"failed: {error}")
    except Exception as error:  # a real fault: keep the traceback in the job's log
        store.finish(job.id, "failed", error=f"{type(error).__name__}: {error}")
        ctx.log("failed with a traceback:\n" + traceback.format_exc())
    finally:
        lock.release()
        runtime.release_memory()  # a training run's buffers should not stay resident after it
    return store.get(job.id)


class JobRunner:
    """Runs queued jobs, one at a time per device, in one worker thread per device.

    Args:
        store: where jobs are kept.
        max_queued: how many jobs may wait per device; more are refused.
        recover: on start, queue again the jobs left ``running`` by a process that died.
    """

    def __init__(self, store: JobStore, max_queued: int = 8, recover: bool = True) -> None:
        self.store = store
        self.max_queued = max_queued
        self._wake: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._on_done: dict[str, list[Callable[[Job], None]]] = {}
        if recover:
            self.recover()

    def recover(self) -> list[str]:
        """Queue again every job marked running whose process is gone; returns their ids."""
        recovered = []
        for job in self.store.list(limit=10_000):
            if job.state != "running":
                continue
            lock = _RunLock(self.store.folder(job.id))
            if lock.acquire():  # nobody holds it: its process died
                lock.release()
                self.store.requeue(job.id, "interrupted (the app stopped); resuming from the last checkpoint")
                recovered.append(job.id)
        for device in {job.device for job in self.store.list(limit=10_000) if job.state == "queued"}:
            self._ensure_worker(device)
        return recovered

    def submit(self, kind: JobKind, params: Mapping[str, Any], device: str | None = None,
               inputs: Sequence[str | Path] = ()) -> Job:
        """Queue a job; it starts when the device's earlier jobs have finished.

        ``inputs`` (uploaded files, which live only as long as the browser session) are copied
        into the job's ``inputs/`` folder first, so the job can run and resume after the session ends.

        Raises:
            WorkbenchError: the device's queue is full.
        """
        device = device or settings.current().device
        waiting = self.store.count("queued", device)
        if waiting >= self.max_queued:
            raise WorkbenchError(f"{waiting} jobs are already waiting for {device}; wait or cancel one in Jobs.")
        job = self.store.create(kind, params, device)
        folder = self.store.folder(job.id) / INPUTS_FOLDER
        for index, source in enumerate(inputs):
            folder.mkdir(exist_ok=True)
            shutil.copyfile(source, folder / f"{index:04d}_{safe_file_name(Path(source).name)}")
        self._ensure_worker(device)
        return job

    def when_done(self, kind: str, callback: Callable[[Job], None]) -> None:
        """Call ``callback(job)`` in the worker each time a job of ``kind`` run here ends ``done``
        (e.g. to register the model it saved)."""
        with self._lock:
            self._on_done.setdefault(kind, []).append(callback)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job now or stop a running one at its next step (it can be resumed)."""
        return self.store.request_cancel(job_id)

    def resume(self, job_id: str) -> Job:
        """Queue a cancelled or failed job again; it continues from its checkpoint.

        Raises:
            WorkbenchError: the job is queued, running or done.
        """
        job = self.store.get(job_id)
        if job.state not in ("cancelled", "failed"):
            raise WorkbenchError(f"Job {job_id} is {job.state}; only cancelled or failed jobs can be resumed.")
        job = self.store.requeue(job_id, "resuming from the last checkpoint")
        self._ensure_worker(job.device)
        return job

    def wait(self, job_id: str, timeout: float = 600.0, poll_s: float = 0.1) -> Job:
        """Block until the job is finished (or ``timeout`` seconds passed) and return its record."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.store.get(job_id)
            if job.finished or time.monotonic() > deadline:
                return job
            time.sleep(poll_s)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the workers: running jobs are asked to stop (they resume on the next start)."""
        self._stopping.set()
        try:
            running = [job.id for job in self.store.list(limit=10_000) if job.state == "running"]
        except sqlite3.Error:  # the data folder is already gone (e.g. a test's temporary folder)
            running = []
        for job_id in running:
            self.store.request_cancel(job_id)
        for event in self._wake.values():
            event.set()
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def _ensure_worker(self, device: str) -> None:
        with self._lock:
            self._wake.setdefault(device, threading.Event()).set()
            thread = self._threads.get(device)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._work, args=(device,), name=f"jobs-{device}", daemon=True)
                self._threads[device] = thread
                thread.start()

    def _work(self, device: str) -> None:
        wake = self._wake[device]
        while not self._stopping.is_set():
            try:
                job = self.store.claim(device)
            except sqlite3.Error:  # the data folder is gone or locked for long: try again later
                job = None
            if job is None:
                wake.wait(timeout=2.0)
                wake.clear()
                continue
            finished = execute(self.store, job)
            if finished.state == "done":
                for callback in list(self._on_done.get(finished.kind, [])):
                    try:
                        callback(finished)
                    except Exception:  # the job's result stays; say in its log what could not follow it
                        JobContext(self.store, finished).log("after the job:\n" + traceback.format_exc())


_default: JobRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> JobRunner:
    """The process-wide runner over ``<data dir>/jobs`` (created, and recovered, on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobRunner(JobStore(settings.current().data_dir / "jobs"))
            atexit.register(_default.shutdown, 5.0)
        return _default


def describe(job: Job, separator: str = "  ", bold_state: bool = False) -> str:
    """One line a person reads: id, state, progress, loss, ETA, message, error (``bold_state``: Markdown)."""
    parts = [f"`{job.id}`: **{job.state}**" if bold_state else f"{job.id} {job.state}"]
    if job.total:
        parts.append(f"{job.step}/{job.total} ({100 * job.fraction:.0f}%)")
    if job.loss is not None:
        parts.append(f"loss {job.loss:.4f}")
    if job.eta_s is not None and job.state == "running":
        parts.append(f"ETA {job.eta_s:.0f} s")
    if job.message:
        parts.append(job.message)
    if job.error:
        parts.append(f"error: {job.error}")
    return separator.join(parts)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m engine.jobs",
                                     description="List, follow, cancel and resume the jobs in the data folder "
                                                 "(WORKBENCH_DATA_DIR, default ./data).")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the newest jobs")
    listing.add_argument("--json", action="store_true", help="print JSON records")
    for name, text in (("show", "one job's record and log"), ("follow", "print progress until the job finishes"),
                       ("cancel", "cancel a queued job or stop a running one"),
                       ("resume", "continue a cancelled or failed job here, with a progress bar")):
        command = commands.add_parser(name, help=text)
        command.add_argument("job_id")
    return parser.parse_args(argv)


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine.jobs``."""
    args = _parse_args(argv)
    store = JobStore(settings.current().data_dir / "jobs")
    if args.command == "list":
        jobs = store.list()
        if args.json:
            print(json.dumps([job.__dict__ for job in jobs], indent=2))
        for job in [] if args.json else jobs:
            print(describe(job))
    elif args.command == "show":
        job = store.get(args.job_id)
        print(json.dumps(job.__dict__, indent=2))
        log = store.folder(job.id) / LOG_FILE
        if log.is_file():
            print(log.read_text(encoding="utf-8"))
    elif args.command == "follow":
        _follow(store, args.job_id)
    elif args.command == "cancel":
        print(describe(store.request_cancel(args.job_id)))
    elif args.command == "resume":
        job = store.get(args.job_id)
        if job.state not in ("cancelled", "failed"):
            raise WorkbenchError(f"Job {job.id} is {job.state}; only cancelled or failed jobs can be resumed.")
        store.requeue(job.id, "resuming from the last checkpoint (command line)")
        claimed = store.claim(job.device, job.id)
        if claimed is None:  # a running app took it first: follow it there
            _follow(store, job.id)
        else:
            worker = threading.Thread(target=execute, args=(store, claimed))
            worker.start()
            _follow(store, job.id)
            worker.join()
    return 0


def _follow(store: JobStore, job_id: str) -> None:
    from tqdm import tqdm

    job = store.get(job_id)
    with tqdm(total=job.total or None, desc=job.id, file=sys.stdout) as bar:
        while True:
            job = store.get(job_id)
            bar.total = job.total or None
            bar.n = job.step
            bar.set_postfix_str(f"{job.state} {job.message}"[:60])
            bar.refresh()
            if job.finished:
                break
            time.sleep(0.5)
    print(describe(job))


if __name__ == "__main__":
    sys.exit(main())
