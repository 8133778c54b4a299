"""engine.autoencoders.predictors: the family, early stopping on validation, known answers for both tasks."""

from __future__ import annotations

import pytest
import torch

from engine.autoencoders.data import Labels, split
from engine.autoencoders.predictors import (
    PREDICTOR_SIZES,
    EmbeddingEvaluation,
    PredictorConfig,
    PredictorResult,
    build_predictor,
    evaluate_embeddings,
    predictor_name,
    train_predictor,
)

FAST = PredictorConfig(max_epochs=300, patience=20, batch_size=64)


def test_the_family_is_the_papers_seven_nets() -> None:
    assert [predictor_name(hidden) for hidden in PREDICTOR_SIZES] == [
        "linear", "32", "64", "32-32", "64-32", "64-64", "128-128"]
    net = build_predictor(16, (64, 32), 2)
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "LeakyReLU", "Linear", "LeakyReLU", "Linear"]  # linear output
    assert [layer.out_features for layer in net if hasattr(layer, "out_features")] == [64, 32, 2]


def test_positions_written_linearly_into_the_embedding_are_recovered_and_noise_is_not() -> None:
    generator = torch.Generator().manual_seed(0)
    positions = torch.rand(300, 2, generator=generator) * 64
    mixing = torch.randn(2, 8, generator=generator)
    informative = positions @ mixing + 0.01 * torch.randn(300, 8, generator=generator)
    noise = torch.randn(300, 8, generator=generator)
    parts = split(300, seed=0)
    labels = Labels(positions, None)
    good = evaluate_embeddings(informative, labels, parts, [()], FAST)
    bad = evaluate_embeddings(noise, labels, parts, [()], FAST)
    assert good.position_error < 1.0  # px, with positions spread over 64 px
    assert bad.position_error > 15.0  # about the mean distance to the centre
    assert good.class_accuracy is None and good.best("class") is None


def test_class_accuracy_is_the_argmax_match_on_the_test_split() -> None:
    generator = torch.Generator().manual_seed(1)
    classes = torch.randint(0, 3, (240,), generator=generator)
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    embeddings = centres[classes] + 0.3 * torch.randn(240, 2, generator=generator)
    found = evaluate_embeddings(embeddings, Labels(None, classes, ("a", "b", "c")), split(240, seed=1), [(), (32,)],
                                FAST)
    assert found.class_accuracy == 1.0 and len(found.results) == 2
    assert {result.task for result in found.results} == {"class"}


def test_early_stopping_stops_on_a_flat_validation_loss_and_keeps_the_best_weights() -> None:
    generator = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 4, generator=generator), torch.randn(64, 1, generator=generator)
    config = PredictorConfig(max_epochs=500, patience=5, batch_size=64)
    model, epochs = train_predictor(x[:48], y[:48], x[48:], y[48:], (), config)
    assert epochs < 500  # labels are noise: validation stops improving
    with torch.no_grad():
        best = float(torch.nn.functional.mse_loss(model(x[48:]), y[48:]))
    model_longer, _ = train_predictor(x[:48], y[:48], x[48:], y[48:], (), PredictorConfig(max_epochs=epochs,
                                                                                          patience=10_000,
                                                                                          batch_size=64))
    with torch.no_grad():
        assert best <= float(torch.nn.functional.mse_loss(model_longer(x[48:]), y[48:])) + 1e-6


def test_the_task_score_comes_from_the_best_predictor_on_validation_not_test() -> None:
    results = [PredictorResult("position", "linear", 0.5, 0.1, 3.0, 10, 0.1),
               PredictorResult("position", "64", 0.2, 0.9, 9.0, 10, 0.1)]
    evaluation = EmbeddingEvaluation(results)
    assert evaluation.position_error == 9.0 and evaluation.to_json()["best_predictor"] == {"position": "64"}


def test_predictors_train_on_one_thread_and_restore_the_count() -> None:
    before = torch.get_num_threads()
    seen = []
    labels = Labels(torch.rand(30, 2), None)
    evaluate_embeddings(torch.rand(30, 3), labels, split(30), [()], PredictorConfig(max_epochs=2),
                        on_progress=lambda done, total, message: seen.append((torch.get_num_threads(), message)))
    assert seen == [(1, "predictor position linear")] and torch.get_num_threads() == before


@pytest.mark.parametrize("hidden", [(), (128, 128)])
def test_predictors_are_seeded(hidden: tuple[int, ...]) -> None:
    x, y = torch.rand(40, 3), torch.rand(40, 2)
    first, _ = train_predictor(x, y, x, y, hidden, PredictorConfig(max_epochs=3, seed=4))
    second, _ = train_predictor(x, y, x, y, hidden, PredictorConfig(max_epochs=3, seed=4))
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
