"""The app's shell through its API: Models and Annotations tabs, bad uploads handled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from engine import weights
from engine.annotations import default_store


def test_models_table_shows_offline_mobilenet_with_sha256(client) -> None:  # type: ignore[no-untyped-def]
    models, weight_rows = client.predict(api_name="/models_refresh")
    by_arch = {row[0]: row for row in weight_rows["data"]}
    assert by_arch["mobilenet_v2"][2] == "available"
    assert by_arch["mobilenet_v2"][4] == weights.ARCHITECTURES["mobilenet_v2"].packaged.sha256
    assert by_arch["alexnet"][2] == "missing" and "engine.weights add" in by_arch["alexnet"][5]
    names = [row[0] for row in models["data"]]
    assert "mobilenet_v2" in names


def test_bad_checkpoint_upload_is_a_clear_error_and_app_stays_up(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x00garbage that is no checkpoint")
    with pytest.raises(AppError, match="could not be read as a checkpoint"):
        client.predict(handle_file(str(bad)), "detect", api_name="/checkpoint_register")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match="could not be read"):
        client.predict(handle_file(str(empty)), "detect", api_name="/checkpoint_register")
    models, _ = client.predict(api_name="/models_refresh")  # still answering
    assert models["data"]


def test_good_checkpoint_upload_registers_a_model(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "mine.pth"
    shutil.copyfile(weights.find("mobilenet_v2").path or "", good)
    message, models, choice = client.predict(handle_file(str(good)), "mobilenet_v2", api_name="/checkpoint_register")
    assert "user:mine" in message
    assert any(row[0] == "user:mine" for row in models["data"])


def test_annotation_undo_export_import_through_the_app(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = default_store()  # the same file the app writes to
    store.add("api-test", "h1", "left", "tester")
    store.add("api-test", "h2", "right", "tester")
    message, counts, recent = client.predict("api-test", "tester", api_name="/annotations_undo")
    assert "Undid" in message and "right" in message
    row = next(r for r in counts["data"] if r[0] == "api-test")
    assert row[1:] == [2, 1, 1, 1]

    with pytest.raises(AppError, match="annotator"):
        client.predict("api-test", "", api_name="/annotations_undo")

    path, status = client.predict(task="api-test", format="jsonl", api_name="/annotations_export")
    lines = Path(path).read_text().splitlines()
    assert [json.loads(line)["label"] for line in lines] == ["left", "right"]
    assert "2 decisions" in status

    message, _, _ = client.predict(handle_file(path), "api-test", api_name="/annotations_import")
    assert "Imported 0" in message and "2 were already stored" in message

    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(AppError, match="line 1"):
        client.predict(handle_file(str(bad)), "api-test", api_name="/annotations_import")


@pytest.mark.parametrize("task", ["../../x", "../../../../../../tmp/x", "/etc/passwd", "a/b", "..", ".hidden"])
def test_export_refuses_task_names_that_leave_the_folder(client, session_data_dir: Path,  # type: ignore[no-untyped-def]
                                                         task: str) -> None:
    before = set(Path("/tmp").glob("*.csv"))
    with pytest.raises(AppError, match="not allowed"):
        client.predict(task=task, format="csv", api_name="/annotations_export")
    assert set(Path("/tmp").glob("*.csv")) == before and not (session_data_dir.parent / "x.csv").exists()


def test_export_writes_inside_the_data_folder(client, session_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    default_store().add("export-check", "h9", "yes", "tester")
    path, status = client.predict(task="export-check", format="csv", api_name="/annotations_export")
    assert "1 decisions" in status and Path(path).name == "annotations-export-check.csv"
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(task="export-check", format="exe", api_name="/annotations_export")
