"""engine.autoencoders.study: the two claims' known answers, a resumable CSV, the similarity task on BAPPS."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.autoencoders import study
from engine.autoencoders.study import StudyConfig, check_claims, read_results, report, run_study, sweep_layers
from engine.errors import InputError


def _rows(values: dict[str, list[float]], top1: dict[str, float], random: bool = False,
          higher_is_better: bool = True) -> list[dict]:
    return [{"arch": arch, "layer": f"l{depth}", "depth": depth, "task": "autoencoding", "metric": "m",
             "value": value, "higher_is_better": higher_is_better, "random": random, "imagenet_top1": top1[arch]}
            for arch, scores in values.items() for depth, value in enumerate(scores, start=1)]


def _verdicts(rows: list[dict]) -> dict[str, study.Verdict]:
    return {verdict.claim: verdict for verdict in check_claims(rows)}


def test_deeper_always_better_and_accuracy_ordered_means_neither_claim_holds() -> None:
    rows = _rows({"a": [1, 2, 3, 4], "b": [2, 3, 4, 5], "c": [3, 4, 5, 6]}, {"a": 60, "b": 70, "c": 80})
    verdicts = _verdicts(rows)
    assert verdicts["depth"].verdict == "not held" and verdicts["depth"].details["deepest_best_share"] == 1.0
    assert verdicts["imagenet"].verdict == "not held" and verdicts["imagenet"].details["rho"] == pytest.approx(1.0)


def test_middle_layers_best_and_accuracy_reversed_means_both_claims_hold() -> None:
    rows = _rows({"a": [5, 9, 4, 1], "b": [4, 8, 6, 2], "c": [1, 3, 2, 0]}, {"a": 60, "b": 70, "c": 80})
    verdicts = _verdicts(rows)
    assert verdicts["depth"].verdict == "held" and verdicts["depth"].details["best_layers"] == {
        "a": "l2", "b": "l2", "c": "l2"}
    assert verdicts["imagenet"].verdict == "held" and verdicts["imagenet"].details["rho"] < 0


def test_a_deepest_layer_tied_with_the_best_counts_for_the_convention() -> None:
    rows = _rows({"a": [5, 5], "b": [1, 3]}, {"a": 60, "b": 70})
    assert _verdicts(rows)["depth"].details["deepest_best_share"] == 1.0


def test_lower_is_better_metrics_are_turned_around() -> None:
    errors = _rows({"a": [9, 8, 7, 1]}, {"a": 70}, higher_is_better=False)  # error falls with depth
    assert _verdicts(errors)["depth"].verdict == "not held"


def test_random_networks_cannot_test_the_imagenet_claim() -> None:
    rows = _rows({"a": [1, 2], "b": [2, 3], "c": [3, 1]}, {"a": 60, "b": 70, "c": 80}, random=True)
    verdict = _verdicts(rows)["imagenet"]
    assert verdict.verdict == "not testable" and "random-init" in verdict.evidence


def test_the_sweep_layers_are_the_studys_or_the_defaults() -> None:
    assert sweep_layers("vgg16") == ("relu1_2", "relu2_2", "relu3_3", "relu5_3")
    assert sweep_layers("mobilenet_v2") == ("block1", "block3", "block6", "block13", "block17")
    with pytest.raises(InputError, match="BAPPS"):
        StudyConfig(layers=("alexnet.relu1",), tasks=("similarity",)).checked()
    with pytest.raises(InputError, match="no layer"):
        StudyConfig(layers=("alexnet.relu9",)).checked()


def test_similarity_sweep_writes_a_csv_that_a_rerun_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.similarity.bapps import write_synthetic

    bapps = write_synthetic(tmp_path / "bapps", count=4, size=32, seed=0)
    config = StudyConfig(layers=("squeezenet1_1.relu1", "squeezenet1_1.fire2", "alexnet.relu1"),
                         tasks=("similarity",), weights="random", bapps=str(bapps))
    rows = run_study(config, tmp_path / "study", show_bar=False)
    assert [(row["arch"], row["layer"], row["depth"]) for row in rows] == [
        ("squeezenet1_1", "relu1", 1), ("squeezenet1_1", "fire2", 2), ("alexnet", "relu1", 1)]
    assert all(0.0 <= row["value"] <= 1.0 and row["metric"] == "2afc" and row["random"] for row in rows)
    assert rows[0]["imagenet_top1"] == pytest.approx(58.178)  # torchvision's metadata
    monkeypatch.setattr(study, "_similarity_score", lambda *args: pytest.fail("measured twice"))
    assert read_results(tmp_path / "study" / "results.csv") == run_study(config, tmp_path / "study", show_bar=False)
    made = report(rows, "test")
    assert "RANDOM" in made.markdown and "not testable" in made.markdown  # random weights: no ImageNet claim
    assert len(made.by_architecture.axes) == 1 and len(made.by_layer.axes) == 1


def test_a_foreign_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a loss-network study"):
        read_results(path)
