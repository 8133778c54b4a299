"""engine.jobs: queue, progress, cancel, resume, failures, recovery after kill -9, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from engine import jobs
from engine.errors import WorkbenchError
from engine.jobs import JobRunner, JobStore
from tests.engine import job_functions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def runner(tmp_path: Path) -> JobRunner:
    runner = JobRunner(JobStore(tmp_path / "jobs"), max_queued=3)
    yield runner
    runner.shutdown(timeout=10)


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_job_runs_to_done_with_progress_events_and_result(runner: JobRunner, tmp_path: Path) -> None:
    upload = tmp_path / "my photo (1).png"
    upload.write_bytes(b"not really a png")
    job = runner.submit(job_functions.COUNT, {"steps": 5}, device="cpu", inputs=[upload])
    assert job.state == "queued" and job.kind == "test-count" and jobs.ID_PATTERN.match(job.id)
    done = runner.wait(job.id, timeout=30)
    assert done.state == "done" and done.fraction == 1.0
    assert done.result == {"counted": 5, "started_at": 0, "resumed": False, "inputs": ["0000_my_photo_1_.png"]}
    events = runner.store.events(job.id)
    assert [e.step for e in events] == [1, 2, 3, 4, 5] and all(e.total == 5 for e in events)
    assert [e.loss for e in events] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert done.step == 5 and done.loss == pytest.approx(0.2)
    assert "starting test-count" in (runner.store.folder(job.id) / jobs.LOG_FILE).read_text()


def test_jobs_of_one_device_run_one_at_a_time_oldest_first(runner: JobRunner) -> None:
    first = runner.submit(job_functions.COUNT, {"steps": 3, "sleep_s": 0.05}, device="cpu")
    second = runner.submit(job_functions.COUNT, {"steps": 2}, device="cpu")
    a, b = runner.wait(first.id), runner.wait(second.id)
    assert a.state == b.state == "done"
    assert b.started_at >= a.finished_at


def test_the_queue_is_bounded(runner: JobRunner) -> None:
    blocker = runner.submit(job_functions.COUNT, {"steps": 200, "sleep_s": 0.05}, device="cpu")
    wait_until(lambda: runner.store.get(blocker.id).state == "running")
    for _ in range(3):
        runner.submit(job_functions.COUNT, {"steps": 1}, device="cpu")
    with pytest.raises(WorkbenchError, match="3 jobs are already waiting"):
        runner.submit(job_functions.COUNT, {"steps": 1}, device="cpu")
    runner.cancel(blocker.id)


def test_cancel_stops_a_running_job_within_seconds_and_resume_continues(runner: JobRunner) -> None:
    job = runner.submit(job_functions.COUNT, {"steps": 400, "sleep_s": 0.02}, device="cpu")
    wait_until(lambda: runner.store.get(job.id).step >= 10)
    asked = time.monotonic()
    runner.cancel(job.id)
    stopped = runner.wait(job.id, timeout=10)
    assert stopped.state == "cancelled" and time.monotonic() - asked < 3
    reached = int(runner.store.folder(job.id).joinpath(jobs.CHECKPOINT_FILE).read_text())
    assert 10 <= reached < 400
    with pytest.raises(WorkbenchError, match="only cancelled or failed"):
        runner.resume(runner.submit(job_functions.COUNT, {"steps": 1}, device="cpu").id)
    resumed = runner.wait(runner.resume(job.id).id, timeout=60)
    assert resumed.state == "done" and resumed.attempts == 2
    assert resumed.result["resumed"] is True and resumed.result["started_at"] == reached


def test_cancelling_a_queued_job_is_immediate(runner: JobRunner) -> None:
    blocker = runner.submit(job_functions.COUNT, {"steps": 200, "sleep_s": 0.05}, device="cpu")
    waiting = runner.submit(job_functions.COUNT, {"steps": 1}, device="cpu")
    assert runner.cancel(waiting.id).state == "cancelled"
    runner.cancel(blocker.id)
    assert runner.wait(blocker.id).state == "cancelled" and runner.store.get(waiting.id).attempts == 0


def test_cancelled_training_resumes_mid_epoch_to_the_uninterrupted_result(runner: JobRunner) -> None:
    straight = runner.wait(runner.submit(job_functions.TRAIN, {"epochs": 3}, device="cpu").id)
    job = runner.submit(job_functions.TRAIN, {"epochs": 3, "sleep_s": 0.1}, device="cpu")
    wait_until(lambda: 3 <= runner.store.get(job.id).step)
    runner.cancel(job.id)
    stopped = runner.wait(job.id)
    assert stopped.state == "cancelled" and 3 <= stopped.step < 24
    state = torch.load(runner.store.folder(job.id) / jobs.CHECKPOINT_FILE, weights_only=True)
    assert (state["epoch"], state["steps_done"]) != (0, 0)
    finished = runner.wait(runner.resume(job.id).id)
    assert finished.state == "done" and finished.result["steps"] == straight.result["steps"] == 24
    assert finished.result["weight"] == pytest.approx(straight.result["weight"], abs=1e-6)


def test_failures_keep_the_users_message_or_the_traceback(runner: JobRunner) -> None:
    user = runner.wait(runner.submit(job_functions.FAIL, {"how": "user"}, device="cpu").id)
    fault = runner.wait(runner.submit(job_functions.FAIL, {"how": "fault"}, device="cpu").id)
    assert user.state == fault.state == "failed"
    assert user.error == "The folder holds no images."
    assert fault.error == "RuntimeError: something broke"
    assert "Traceback" in (runner.store.folder(fault.id) / jobs.LOG_FILE).read_text()


def test_job_ids_are_validated_before_they_become_paths(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    for bad in ("../x", "a/b", "", "A" * 3, "x" * 90):
        with pytest.raises(WorkbenchError, match="not a job id"):
            store.folder(bad)


def test_parameters_must_be_json(runner: JobRunner) -> None:
    with pytest.raises(WorkbenchError, match="JSON"):
        runner.submit(job_functions.COUNT, {"steps": object()}, device="cpu")


KILLED_APP = textwrap.dedent("""
    import sys, time
    from engine.jobs import JobRunner, JobStore
    from tests.engine import job_functions
    runner = JobRunner(JobStore(sys.argv[1]))
    job = runner.submit(job_functions.COUNT, {"steps": 60, "sleep_s": 0.05}, device="cpu")
    print(job.id, flush=True)
    runner.wait(job.id)
""")


def test_a_job_killed_with_its_process_resumes_on_the_next_start(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(KILLED_APP)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "jobs")], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    job_id = process.stdout.readline().strip()
    store = JobStore(tmp_path / "jobs")
    wait_until(lambda: store.get(job_id).step >= 5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert store.get(job_id).state == "running"  # nobody could record anything
    reached = int((store.folder(job_id) / jobs.CHECKPOINT_FILE).read_text())
    restarted = JobRunner(store)
    try:
        finished = restarted.wait(job_id, timeout=60)
    finally:
        restarted.shutdown()
    assert finished.state == "done" and finished.result["resumed"] is True
    assert finished.result["started_at"] == reached >= 5


def test_recovery_leaves_a_job_that_another_live_process_runs(runner: JobRunner) -> None:
    job = runner.submit(job_functions.COUNT, {"steps": 100, "sleep_s": 0.05}, device="cpu")
    wait_until(lambda: runner.store.get(job.id).state == "running")
    assert JobRunner(runner.store, recover=False).recover() == []
    runner.cancel(job.id)


def test_cli_lists_shows_and_cancels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    store = JobStore(tmp_path / "jobs")
    job = store.create(job_functions.COUNT, {"steps": 2}, "cpu")
    assert jobs.main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == job.id
    assert jobs.main(["cancel", job.id]) == 0 and "cancelled" in capsys.readouterr().out
    assert jobs.main(["resume", job.id]) == 0
    assert store.get(job.id).state == "done"
    assert jobs.main(["show", "../etc"]) == 2
    assert "not a job id" in capsys.readouterr().err
