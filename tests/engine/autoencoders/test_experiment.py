"""engine.autoencoders.experiment and compare: the files a run writes, resume, comparing runs, re-evaluating."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.autoencoders.compare import compare_runs, evaluate_saved
from engine.autoencoders.experiment import DataSpec, load_embeddings, run_experiment, uploaded_data
from engine.autoencoders.predictors import PredictorConfig
from engine.autoencoders.training import AutoencoderConfig
from engine.errors import InputError

QUICK = PredictorConfig(max_epochs=15, patience=5)
DATA = DataSpec(images=16, eval_images=20)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ae-runs")
    made = {}
    for name in ("I-I-PS", "I-F-FP"):
        config = AutoencoderConfig(procedure=name, loss_net="mobilenet_v2.block3", weights="random", epochs=1,
                                   batch_size=8)
        run_experiment(config, DATA, root / name, predictors=QUICK, show_bar=False)
        made[name] = root / name
    return made


def test_a_run_writes_the_metrics_contract_model_embeddings_and_preview(runs: dict[str, Path]) -> None:
    folder = runs["I-F-FP"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"epoch_seconds", "position_error", "class_accuracy"} <= set(metrics)
    assert metrics["epoch_seconds"] > 0 and len(metrics["epoch_seconds_each"]) == 1
    assert metrics["position_error"] > 0 and 0 <= metrics["class_accuracy"] <= 1
    assert len(metrics["predictors"]) == 14 and metrics["random_loss_network"] is True
    assert metrics["feature_vector"] == "24 x 16 x 16 = 6144"
    for name in ("autoencoder.safetensors", "autoencoder.json", "embeddings.safetensors", "preview.png"):
        assert (folder / name).is_file()
    saved = load_embeddings(folder)
    assert saved.embeddings.shape == (20, 64) and saved.labels.classes is not None
    assert len(saved.splits.train) + len(saved.splits.validation) + len(saved.splits.test) == 20


def test_a_finished_run_is_not_redone_on_resume(runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.autoencoders import experiment

    monkeypatch.setattr(experiment, "train_autoencoder", lambda *a, **k: pytest.fail("trained again"))
    config = AutoencoderConfig(procedure="I-F-FP", weights="random", epochs=1)
    again = run_experiment(config, DATA, runs["I-F-FP"], resume=True)
    assert again == json.loads((runs["I-F-FP"] / "metrics.json").read_text())


def test_runs_compare_on_the_same_images(runs: dict[str, Path]) -> None:
    result = compare_runs({"ps": runs["I-I-PS"], "fp": runs["I-F-FP"]})
    assert [row[:3] for row in result.rows] == [["ps", "I-I-PS", "mobilenet_v2.block3"],
                                                ["fp", "I-F-FP", "mobilenet_v2.block3"]]
    assert all(row[-1] == "RANDOM" for row in result.rows)
    assert len(result.reconstructions.axes) == 2 * 8  # inputs + the PS reconstructions, 8 images each
    assert result.features is not None and result.predictors is not None
    with pytest.raises(InputError, match="at least one"):
        compare_runs({})


def test_saved_embeddings_can_be_evaluated_again_with_other_predictors(runs: dict[str, Path]) -> None:
    found = evaluate_saved(runs["I-I-PS"], [(), (32,)], QUICK)
    assert [(r.task, r.predictor) for r in found.results] == [("position", "linear"), ("position", "32"),
                                                              ("class", "linear"), ("class", "32")]
    with pytest.raises(InputError, match="no saved embeddings"):
        evaluate_saved(runs["I-I-PS"].parent / "missing")


def test_generated_evaluation_scenes_follow_the_training_ones() -> None:
    train, evaluation = DataSpec(images=6, eval_images=5, seed=2).load()
    assert len(train) == 6 and len(evaluation) == 5
    assert torch.equal(DataSpec(images=6, eval_images=5, seed=2).preview(3), evaluation.images[:3])
    with pytest.raises(InputError, match="evaluation scenes"):
        DataSpec(images=2).load()


def test_uploads_become_a_folder_spec_and_a_lonely_csv_is_refused(tmp_path: Path) -> None:
    assert uploaded_data([], tmp_path, 64) is None
    spec = uploaded_data([tmp_path / "a.png", tmp_path / "b.png", tmp_path / "t.csv"], tmp_path, 80)
    assert spec.source == str(tmp_path) and spec.targets == str(tmp_path / "t.csv") and spec.size == 80
    assert uploaded_data([tmp_path / "all.zip"], tmp_path, 64).source == str(tmp_path / "all.zip")
    with pytest.raises(InputError, match="needs the images"):
        uploaded_data([tmp_path / "t.csv"], tmp_path, 64)
    with pytest.raises(InputError, match="one CSV"):
        uploaded_data([tmp_path / "a.png", tmp_path / "t.csv", tmp_path / "u.csv"], tmp_path, 64)
