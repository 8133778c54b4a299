"""The Video harm tab through the app's API: rate a clip, rate windows and the clip, export, train a rater."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from engine.video.dataset import load_clips
from engine.video.labels import LEVELS
from engine.video.training import datasets_folder
from tests.conftest import wait_for_job
from tests.video_data import shared_synthetic_set


def video_path(value: object) -> str:
    """The file path inside a gr.Video value as the client returns it."""
    return value["video"] if isinstance(value, dict) else str(value)  # type: ignore[index]


@pytest.fixture(scope="module")
def example(client) -> str:  # type: ignore[no-untyped-def]
    return video_path(client.predict(api_name="/video_example"))


def test_rating_the_example_clip(client, example: str) -> None:  # type: ignore[no-untyped-def]
    summary, plot, frames, table, token, window = client.predict(
        handle_file(example), "vidharm-untrained (RANDOM heads)", 10, "product", api_name="/video_rate")
    assert summary.startswith("## Rating:") and "RANDOM" in summary
    assert [row[1:3] for row in table["data"]] == [[0.0, 10.0], [10.0, 20.0], [20.0, 30.0]]
    assert len(token) == 32 and 0 <= window <= 2  # the page holds a token; the clip's facts stay on the server
    assert len(frames) == 4 and plot is not None
    level = summary.split("## Rating: ")[1].split()[0]
    assert level in {row[3] for row in table["data"]}


def test_ratings_go_to_the_store_and_export(client, example: str) -> None:  # type: ignore[no-untyped-def]
    *_, token, _ = client.predict(handle_file(example), "vidharm-untrained (RANDOM heads)", 10, "mean",
                                  api_name="/video_rate")
    with pytest.raises(AppError, match="annotator"):
        client.predict(token, 0, "", api_name="/video_rate_window_11")
    with pytest.raises(AppError, match="Rate a clip first"):  # a forged token rates nothing
        client.predict("f" * 32, 0, "tester", api_name="/video_rate_window_11")
    status, following = client.predict(token, 0, "tester", api_name="/video_rate_window_btl")
    assert "window 0 (0.0-10.0 s)" in status and "Btl" in status and following == 1
    status, following = client.predict(token, 1, "tester", api_name="/video_rate_window_15")
    assert "**15**" in status and following == 2
    assert "**11**" in client.predict(token, "tester", api_name="/video_rate_clip_11")
    assert "Undid your rating of the whole clip" in client.predict("tester", api_name="/video_undo")
    message, archive = client.predict(api_name="/video_export")
    assert "Exported 2 rated" in message
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        entries = [e for split in ("train", "val", "test") for e in json.loads(opened.read(f"{split}.json"))]
    assert sorted(tuple(e["label"]) for e in entries) == [("15", "15"), ("bt", "bt")]
    assert all(f"clips/{e['filename']}.mp4" in names for e in entries)


def test_rating_needs_a_clip(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AppError, match="Upload a clip"):
        client.predict(None, None, 10, "product", api_name="/video_rate")


def test_training_job_registers_a_rater(client, tmp_path_factory: pytest.TempPathFactory) -> None:  # type: ignore[no-untyped-def]
    data = load_clips(shared_synthetic_set(tmp_path_factory))
    clips = [clip for clip in data.splits["train"] if clip.tag == "picture"][::2] + data.splits["test"][:6]
    datasets_folder().mkdir(parents=True, exist_ok=True)
    table = datasets_folder() / "few-clips.csv"  # the tab reads data sets from the data folder only
    table.write_text("path,label,group\n" + "".join(f"{c.path},{LEVELS[c.level]},g{i}\n" for i, c in enumerate(clips)))
    with pytest.raises(AppError, match="not allowed"):
        client.predict("../../etc", None, False, 1, "", api_name="/video_train")
    with pytest.raises(AppError, match="No data set 'absent'"):
        client.predict("absent", None, False, 1, "", api_name="/video_train")
    job_id = client.predict("few-clips.csv", None, False, 1, "api-rater", api_name="/video_train")
    job = wait_for_job(client, job_id)
    assert job["state"] == "done", job["error"]
    assert job["result"]["name"] == "api-rater" and set(job["result"]["test"]) == {"video", "audio", "fused"}
    assert Path(job["result"]["model_folder"], "model.json").is_file()
    summary, *_ = client.predict(handle_file(str(clips[0].path)), "vidharm:api-rater", 10, "product",
                                 api_name="/video_rate")
    assert "api-rater" in summary and "RANDOM" not in summary
