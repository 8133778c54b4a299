"""Fixtures shared by the whole suite: an isolated data folder and one running app per worker."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("WORKBENCH_THREADS", "1")  # two workers on two cores: do not oversubscribe

import engine  # noqa: E402,F401  (the runtime settings, before torch is imported)


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder (annotations, user models) private to this test session."""
    return tmp_path_factory.mktemp("workbench-data")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep tests away from the user's data folder and gradio's shared temp folder."""
    from engine import settings

    previous = {k: os.environ.get(k) for k in ("GRADIO_TEMP_DIR", settings.DATA_DIR_ENV)}
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-tmp"))
    settings.apply(data_dir=session_data_dir, device="cpu", allow_downloads=False)
    yield
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """The whole app, launched in-process once per worker; yields its local URL."""
    import app

    demo = app.build_app()
    demo.queue(default_concurrency_limit=4).launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
        head=app.head_scripts(),
    )
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="session")
def client(app_url: str) -> Iterator["gradio_client.Client"]:  # type: ignore[name-defined]  # noqa: F821
    """A ``gradio_client`` connected to the in-process app."""
    from gradio_client import Client

    connection = Client(app_url, verbose=False)
    yield connection
    connection.close()


def wait_for_job(client, job_id: str, timeout: float = 300) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Poll the app's job list until the job has finished; its record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = next(job for job in client.predict(api_name="/jobs_list") if job["id"] == job_id)
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")
