"""kill -9 the app during annotation and during a training job: after a restart nothing acknowledged is lost
and the job resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client

from engine.annotations import AnnotationStore
from engine.jobs import JobStore
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
RANKING = ["blur", "darken", "hue", "rotate", "translate", "zoom-in"]


class RunningApp:
    """``python app.py`` in its own process, on its own data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "WORKBENCH_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(self.port), "--data-dir", str(data_dir), "--device", "cpu"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.client = self._connect()

    def _connect(self, timeout: float = 120) -> Client:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return Client(self.url, verbose=False)
            except Exception:  # not listening yet
                assert self.process.poll() is None, "the app exited during start-up"
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.5)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_killed_app_loses_no_acknowledged_annotation_and_resumes_its_training_job(data_dir: Path) -> None:
    app = RunningApp(data_dir)
    try:
        acknowledged = 0
        for index in range(12):  # each returned call is an acknowledged decision
            *_, token = app.client.predict(api_name="/similarity_next")
            app.client.predict(token, f"rater{index % 2}", api_name="/similarity_judge_left")
            acknowledged += 1
        job_id = app.client.predict(*RANKING, None, "mobilenet_v2", "lin", 6, 2, 8, 0.01,
                                    api_name="/contexts_train")
        jobs = JobStore(data_dir / "jobs")
        deadline = time.monotonic() + 240
        while (job := jobs.get(job_id)).total == 0 or job.step <= job.total // 6:  # epoch 1 done: checkpointed
            assert time.monotonic() < deadline, f"no progress: {job}"
            time.sleep(0.2)
        steps_per_epoch = job.total // 6
        killed_at = time.time()
        app.kill()
    finally:
        app.stop()
    assert jobs.get(job_id).state == "running"  # the killed process could record nothing more
    stored = AnnotationStore(data_dir / "annotations.sqlite").annotations("similarity-2afc")
    assert len(stored) == acknowledged

    restarted = RunningApp(data_dir)
    try:
        deadline = time.monotonic() + 300
        while not (job := jobs.get(job_id)).finished:
            assert time.monotonic() < deadline, f"the job did not finish after the restart: {job}"
            time.sleep(0.5)
    finally:
        restarted.stop()
    assert job.state == "done" and job.attempts == 2 and job.result["summary"]["ranking"] == RANKING
    assert "resuming" in (jobs.folder(job_id) / "log.txt").read_text()
    after_restart = [event.step for event in jobs.events(job_id) if event.at > killed_at]
    assert min(after_restart) > steps_per_epoch  # resumed after the checkpointed epoch, not from step 1
    assert max(after_restart) == job.total
