"""The Histopathology tab through the app's API: predictions (none shipped), slides, neighbours, embedding view,
patch labelling, and fine-tuning jobs whose classifier then predicts with provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from engine.histology.synthetic import source_path, write_breakhis_fixture
from tests.conftest import wait_for_job

NO_MODEL = "none (no classifier loaded)"


@pytest.fixture(scope="module")
def breakhis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_breakhis_fixture(tmp_path_factory.mktemp("breakhis"), size=(46, 70))


def _tile(breakhis: Path) -> str:
    return str(next(breakhis.rglob("SOB_M_DC-14-*-200-001.png")))


def test_predict_without_a_classifier_says_so_and_finds_neighbours(client, breakhis: Path) -> None:  # type: ignore[no-untyped-def]
    verdict, probabilities, gallery = client.predict(handle_file(_tile(breakhis)), "from the file name", NO_MODEL,
                                                     api_name="/histology_predict")
    assert "No malignancy classifier is loaded" in verdict and "Magnification: **200X**" in verdict
    assert not probabilities and len(gallery) == 8
    with pytest.raises(AppError, match="Upload an H&E image"):
        client.predict(None, "40X", NO_MODEL, api_name="/histology_predict")


def test_finetune_job_registers_a_classifier_that_predicts(client, breakhis: Path) -> None:  # type: ignore[no-untyped-def]
    counts = client.predict(str(breakhis), api_name="/histology_scan")
    assert counts["images"] == 192 and counts["problems"] == []
    job_id = client.predict(str(breakhis), "ImageNet MobileNetV2 (no histology training)", "binary", "linear", False,
                            "100%", 3, 1, 0.5, "fixture-binary", api_name="/histology_finetune")
    job = wait_for_job(client, job_id)
    assert job["state"] == "done", job["error"]
    result = job["result"]
    assert result["name"] == "fixture-binary" and 0 <= result["pla_mean"] <= 1
    assert set(result["per_magnification"]) == {"40X", "100X", "200X", "400X"}
    verdict, probabilities, _ = client.predict(handle_file(_tile(breakhis)), "from the file name",
                                               "histology:fixture-binary", api_name="/histology_predict")
    assert "model part **200X**" in verdict and "fixture-binary.safetensors (sha256" in verdict
    assert {c["label"] for c in probabilities["confidences"]} == {"benign", "malignant"}
    overlay, curves = client.predict(handle_file(_tile(breakhis)), "200X", "histology:fixture-binary", 50,
                                     api_name="/histology_explain")
    assert overlay and curves


def test_slide_heat_map_by_similarity(client) -> None:  # type: ignore[no-untyped-def]
    status, plot, thumbnail = client.predict(handle_file(str(source_path())), "", "40X", NO_MODEL, None,
                                             api_name="/histology_slide")
    assert "2220x2967 px" in status and "tissue tiles of 691 px" in status and plot and thumbnail


def test_index_neighbours_and_embedding(client, breakhis: Path) -> None:  # type: ignore[no-untyped-def]
    status, *_ = client.predict(str(breakhis), "ImageNet MobileNetV2 (no histology training)", "fixture-index",
                                api_name="/histology_index")
    assert "Indexed **192** images as `fixture-index`" in status
    gallery = client.predict("fixture-index", handle_file(_tile(breakhis)), api_name="/histology_neighbours")
    assert len(gallery) == 10 and gallery[0]["caption"].startswith("1.000")  # the query itself comes first
    assert client.predict("fixture-index", "tsne", "class", api_name="/histology_embedding")
    with pytest.raises(AppError, match="not allowed"):
        client.predict(str(breakhis), "ImageNet MobileNetV2 (no histology training)", "../escape",
                       api_name="/histology_index")


def test_patch_labelling_and_training_from_labels(client) -> None:  # type: ignore[no-untyped-def]
    patch, status, token = client.predict("cc0-heldout", api_name="/histology_label_next")
    assert patch and "Order: diversity" in status
    with pytest.raises(AppError, match="annotator name"):
        client.predict("cc0-heldout", token, "", api_name="/histology_label_benign")
    with pytest.raises(AppError, match="no longer on screen"):  # a forged token labels nothing
        client.predict("cc0-heldout", "0" * 32, "pathologist", api_name="/histology_label_benign")
    for choice in ("benign", "malignant", "benign", "malignant", "benign", "malignant"):
        patch, status, token = client.predict("cc0-heldout", token, "pathologist",
                                              api_name=f"/histology_label_{choice}")
    assert "uncertainty of a logistic regression on 6 labels" in status
    _, status, token = client.predict("cc0-heldout", "pathologist", api_name="/histology_label_undo")
    assert status.startswith("Undid your label") and "Order: uncertainty" in status and "on 5 labels" in status
    client.predict("cc0-heldout", token, "pathologist", api_name="/histology_label_malignant")
    job_id = client.predict("from-labels", 5, api_name="/histology_train_labels")
    job = wait_for_job(client, job_id)
    assert job["state"] == "done", job["error"]
    assert job["result"]["name"] == "from-labels" and "mpcs_mobilenet_v2" in job["result"]["encoder"]
