"""The Perceptual loss tab through the app's API: train as jobs, compare, evaluate, embed, plot a study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.conftest import wait_for_job

# procedure, arch, layer, weights, normalise, sigmoid, files, scenes, size, epochs, z, gamma, batch, seed
TRAIN = dict(arch="mobilenet_v2", weights="pretrained", normalise=False, sigmoid=True, files=None, scenes=16,
             size=64, epochs=1, z=32, gamma=0.0, batch=8, seed=0)


def train(client, procedure: str, layer: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    values = dict(TRAIN)
    job_id = client.predict(procedure, values.pop("arch"), layer, *values.values(), api_name="/autoencoder_train")
    job = wait_for_job(client, job_id)
    assert job["state"] == "done", job["error"]
    return job


@pytest.fixture(scope="module")
def finished(client) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    return {"fp": train(client, "I-F-FP", "block6"), "pw": train(client, "I-I-PW", "block6")}


def test_training_jobs_report_the_contract_metrics(finished: dict[str, dict]) -> None:  # type: ignore[type-arg]
    result = finished["fp"]["result"]
    assert result["procedure"] == "I-F-FP" and result["loss_net"] == "mobilenet_v2.block6"
    assert result["epoch_seconds"] > 0 and result["position_error"] > 0 and 0 <= result["class_accuracy"] <= 1
    assert result["random_loss_network"] is False and result["feature_vector"] == "32 x 8 x 8 = 2048"
    assert finished["pw"]["result"]["loss_net"] is None and finished["fp"]["kind"] == "autoencoder-train"


def test_runs_compare_side_by_side_and_embeddings_can_be_evaluated_and_seen(client, finished) -> None:  # type: ignore[no-untyped-def]
    ids = [finished["pw"]["id"], finished["fp"]["id"]]
    table, reconstructions, features, scores = client.predict(ids, api_name="/autoencoder_compare")
    assert [row[1] for row in table["data"]] == ["I-I-PW", "I-F-FP"]
    assert reconstructions is not None and features is not None and scores is not None
    rows, plot = client.predict(ids[1], ["linear", "64"], 20, api_name="/autoencoder_evaluate")
    assert [row[1].rstrip(" *") for row in rows["data"]] == ["linear", "64", "linear", "64"]
    assert sum(row[1].endswith("*") for row in rows["data"]) == 2 and plot is not None  # one best per task
    assert client.predict(ids[0], "pca", "x position", api_name="/autoencoder_embedding") is not None
    with pytest.raises(AppError, match="at least one finished run"):
        client.predict([], api_name="/autoencoder_compare")


def test_training_refuses_a_layer_of_another_network(client) -> None:  # type: ignore[no-untyped-def]
    values = dict(TRAIN)
    values.pop("arch")
    with pytest.raises(AppError, match="has no layer 'block6'"):
        client.predict("I-I-PS", "alexnet", "block6", *values.values(), api_name="/autoencoder_train")


def test_a_study_csv_is_plotted_with_its_verdicts(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    header = "arch,layer,depth,task,metric,value,higher_is_better,weights,random,imagenet_top1,seconds,settings\n"
    lines = [f"{arch},l{depth},{depth},autoencoding,position_error,{value},False,w,False,{top1},1,s\n"
             for arch, top1, values in (("a", 60, [9, 5, 7]), ("b", 70, [8, 4, 6]), ("c", 80, [7, 6, 5]))
             for depth, value in enumerate(values, start=1)]
    path = tmp_path / "results.csv"
    path.write_text(header + "".join(lines))
    markdown, by_arch, by_layer, table = client.predict(None, handle_file(str(path)),
                                                        api_name="/autoencoder_study_plot")
    assert "**held**: the deepest layer is the best in 1 of 3" in markdown
    assert "Spearman rho" in markdown and by_arch is not None and by_layer is not None
    assert len(table["data"]) == 9


def test_the_similarity_tab_can_pick_a_study_loss_network(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths = []
    for index, value in enumerate((40, 180)):
        path = tmp_path / f"{index}.png"
        Image.fromarray(np.full((32, 32, 3), value, dtype=np.uint8)).save(path)
        paths.append(handle_file(str(path)))
    markdown, *_ = client.predict(*paths, "64 x 64 (BAPPS)", "efficientnet_b0", ["stem", "stage1"], "spatial", True,
                                  "exact", "random", None, None, api_name="/similarity_compare")
    assert "efficientnet_b0 spatial" in markdown and "RANDOM" in markdown


def test_your_images_with_a_csv_of_targets_train_and_are_scored(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    files, lines = [], ["file,x,y,label"]
    for index in range(8):
        path = tmp_path / f"photo {index}.png"
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
        files.append(handle_file(str(path)))
        lines.append(f"photo {index}.png,{index},{2 * index},{'odd' if index % 2 else 'even'}")
    (tmp_path / "targets.csv").write_text("\n".join(lines) + "\n")
    values = {**TRAIN, "files": [*files, handle_file(str(tmp_path / "targets.csv"))]}
    values.pop("arch")
    job = wait_for_job(client, client.predict("I-I-PW", "mobilenet_v2", "block6", *values.values(),
                                              api_name="/autoencoder_train"))
    assert job["state"] == "done", job["error"]
    result = job["result"]
    assert "8 images from inputs" in result["data"]["description"] and result["position_unit"] == "CSV units"
    assert result["position_error"] is not None and result["class_accuracy"] is not None
    with pytest.raises(AppError, match="needs the images"):
        client.predict("I-I-PW", "mobilenet_v2", "block6", *{**values, "files": [
            handle_file(str(tmp_path / "targets.csv"))]}.values(), api_name="/autoencoder_train")
