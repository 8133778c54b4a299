"""The app's shell through its API: Models and Annotations tabs, bad uploads handled."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.client import Job
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


@pytest.fixture(scope="module")
def browser(app_url: str) -> Iterator[Client]:
    """A gradio_client that identifies itself as the app's own page does (``x-gradio-user: app``)."""
    connection = Client(app_url, headers={"x-gradio-user": "app"}, verbose=False)
    yield connection
    connection.close()


def shown_messages(job: Job) -> list[tuple[str, str]]:
    """The (message, level) toasts the server sent while ``job`` ran."""
    messages = []
    while not job.communicator.updates.empty():
        update = job.communicator.updates.get_nowait()
        if getattr(update, "log", None):
            messages.append(update.log)
    return messages


def bad_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    """Refused files and what the refusal must say about each."""
    from torchvision import models

    torch.save({"conv.weight": torch.zeros(2, 2)}, folder / "good-format.pth")
    archive = (folder / "good-format.pth").read_bytes()
    files = {
        "random.pth": (bytes(range(256)) * 4, "random.pth is not a weights file"),
        "empty.safetensors": (b"", "empty.safetensors is empty (0 bytes)"),
        "truncated.pth": (archive[: len(archive) // 2], "truncated.pth is a damaged PyTorch file"),
    }
    cases = {}
    for name, (content, expected) in files.items():
        (folder / name).write_bytes(content)
        cases[name] = (folder / name, expected)
    torch.save(models.squeezenet1_1(weights=None, num_classes=2), folder / "whole-model.pth")
    cases["whole-model.pth"] = (folder / "whole-model.pth",
                                "holds pickled Python objects (torchvision.models.squeezenet.SqueezeNet)")
    cases["good-format.pth"] = (folder / "good-format.pth", "good-format.pth fits none of the supported architectures")
    return cases


def test_refused_checkpoints_say_what_the_file_is_and_what_is_accepted(  # type: ignore[no-untyped-def]
    client, tmp_path: Path
) -> None:
    for name, (path, expected) in bad_checkpoints(tmp_path).items():
        with pytest.raises(AppError) as error:
            client.predict(handle_file(str(path)), "detect", api_name="/checkpoint_register")
        message = str(error.value)
        assert expected in message, name
        assert "weights_only" not in message and "Unpickl" not in message, name  # never PyTorch's own text
        assert "Accepted:" in message or "only the classifier's last layer may differ" in message, name
    models, _ = client.predict(api_name="/models_refresh")  # still answering
    assert models["data"]


def test_refused_upload_in_the_browser_is_a_message_and_outputs_keep_their_values(  # type: ignore[no-untyped-def]
    browser, tmp_path: Path
) -> None:
    path, expected = bad_checkpoints(tmp_path)["whole-model.pth"]
    job = browser.submit(handle_file(str(path)), "detect", api_name="/checkpoint_register")
    message, table, dropdown = job.result()  # no AppError: the page shows a message, not "Error" badges
    assert message == table == dropdown == {"__type__": "update"}  # unchanged: no value sent for any output
    assert any(expected in text and level == "warning" for text, level in shown_messages(job))


def test_good_checkpoint_upload_registers_a_model(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "mine.pth"
    shutil.copyfile(weights.find("mobilenet_v2").path or "", good)
    message, models, choice = client.predict(handle_file(str(good)), "mobilenet_v2", api_name="/checkpoint_register")
    assert "user:mine" in message and "1000 classes" in message
    assert any(row[0] == "user:mine" for row in models["data"])


def choice_names(update: dict) -> list[str]:
    """The choices a dropdown update offers."""
    return [value for _, value in update["choices"]]


def test_fine_tuned_checkpoint_registers_with_its_class_names(  # type: ignore[no-untyped-def]
    client, tmp_path: Path
) -> None:
    from torchvision import models

    checkpoint = tmp_path / "pets.pth"
    torch.save(models.squeezenet1_1(weights=None, num_classes=3).state_dict(), checkpoint)
    names = tmp_path / "labels.json"
    names.write_text(json.dumps(["cat", "dog", "hamster"]))
    message, table, choice = client.predict(handle_file(str(checkpoint)), "detect", handle_file(str(names)),
                                            api_name="/checkpoint_register")
    assert choice["value"] == "user:pets" and "user:pets" in choice_names(choice)
    assert "squeezenet1_1" in message and "3 classes" in message
    assert "class names from labels.json" in message
    row = next(row for row in table["data"] if row[0] == "user:pets")
    assert row[3] == "available"
    message, _, choice = client.predict(handle_file(str(checkpoint)), "detect", None, "a\nb\nc", "numbers",
                                        api_name="/checkpoint_register")
    assert choice["value"] == "user:numbers" and "the typed list" in message
    message, table, _ = client.predict("user:numbers", api_name="/checkpoint_remove")
    assert "Removed" in message and all(row[0] != "user:numbers" for row in table["data"])


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


def test_a_user_error_logs_one_line_not_a_traceback(client, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    capfd: pytest.CaptureFixture[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    capfd.readouterr()
    with caplog.at_level("INFO", logger="workbench"):
        with pytest.raises(AppError, match="empty"):
            client.predict(handle_file(str(empty)), "mobilenet_v2", api_name="/explain_classify")
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert [r.getMessage() for r in caplog.records if "refused in" in r.getMessage()] == [
        "refused in classify_image: empty.png is empty (0 bytes)."]
