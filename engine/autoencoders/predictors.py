"""How good an embedding is: the papers' family of small predictors, trained on it with early stopping.

Seven fully connected nets with hidden sizes [] (linear), [32], [64], [32, 32], [64, 32], [64, 64] and
[128, 128], LeakyReLU between layers and a linear output, trained with Adam (lr 1e-3, batches of 512)
on MSE for at most 500 epochs, stopping after 25 epochs without a better validation MSE and keeping
the best weights. Classification uses MSE against one-hot targets too (as in the papers; accuracy is
the arg-max match). Embeddings and regression targets are standardised with the training split's
mean and standard deviation (a fixed affine map, so no information is added or lost); errors are
reported in the targets' own units.

The score of a task is that of the predictor with the lowest *validation* MSE, measured on the test
split, so that choosing the predictor never looks at the test data.

The predictors are tiny, so they train on one CPU thread: more threads only add synchronisation
(on a busy 2-core machine, 10-30x slower in our measurements).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from engine.autoencoders.data import Labels, Splits

Task = Literal["position", "class"]
PREDICTOR_SIZES: tuple[tuple[int, ...], ...] = ((), (32,), (64,), (32, 32), (64, 32), (64, 64), (128, 128))


@dataclass(frozen=True)
class PredictorConfig:
    """Training settings of every predictor (the papers' values by default)."""

    max_epochs: int = 500
    patience: int = 25
    batch_size: int = 512
    lr: float = 1e-3
    seed: int = 0


def predictor_name(hidden: Sequence[int]) -> str:
    """``linear`` or the hidden sizes joined by ``-`` (``64-32``)."""
    return "-".join(map(str, hidden)) or "linear"


def build_predictor(inputs: int, hidden: Sequence[int], outputs: int) -> nn.Sequential:
    """Linear layers of the given hidden sizes with LeakyReLU between them and a linear output."""
    layers: list[nn.Module] = []
    width = inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.LeakyReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, outputs))


def train_predictor(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                    hidden: Sequence[int], config: PredictorConfig = PredictorConfig()) -> tuple[nn.Sequential, int]:
    """Fit one predictor on MSE with early stopping on validation MSE; the best model and epochs run."""
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_predictor(x_train.shape[1], hidden, y_train.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    best, best_state, since_best, epoch = float("inf"), None, 0, 0
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        for batch in torch.randperm(len(x_train), generator=generator).split(config.batch_size):
            loss = F.mse_loss(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            validation = float(F.mse_loss(model(x_val), y_val))
        if validation < best:
            best, since_best = validation, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), epoch


@dataclass(frozen=True)
class PredictorResult:
    """One predictor on one task: validation and test MSE (standardised units) and the task's score.

    ``score`` is the mean Euclidean distance to the true position (in the data's position unit) for
    ``position`` and the accuracy in 0..1 for ``class``.
    """

    task: Task
    predictor: str
    validation_mse: float
    test_mse: float
    score: float
    epochs: int
    seconds: float


@dataclass
class EmbeddingEvaluation:
    """Every predictor's result, and each task's score (from the best predictor on validation)."""

    results: list[PredictorResult]
    position_unit: str = "px"

    def best(self, task: Task) -> PredictorResult | None:
        """The predictor of ``task`` with the lowest validation MSE (None if the task was not evaluated)."""
        found = [result for result in self.results if result.task == task]
        return min(found, key=lambda result: result.validation_mse) if found else None

    @property
    def position_error(self) -> float | None:
        """Test mean distance between predicted and true positions (position unit), or None."""
        best = self.best("position")
        return best.score if best else None

    @property
    def class_accuracy(self) -> float | None:
        """Test accuracy in 0..1, or None."""
        best = self.best("class")
        return best.score if best else None

    def to_json(self) -> dict[str, object]:
        """The scores, the chosen predictors and every result."""
        return {"position_error": self.position_error, "class_accuracy": self.class_accuracy,
                "position_unit": self.position_unit,
                "best_predictor": {task: best.predictor for task in ("position", "class")
                                   if (best := self.best(task)) is not None},  # type: ignore[arg-type]
                "predictors": [asdict(result) for result in self.results]}


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch's CPU operations on one thread inside the block (the previous count is restored)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _standardise(values: torch.Tensor, train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mean, std = values[train].mean(0), values[train].std(0).clamp_min(1e-6)
    return (values - mean) / std, mean, std


def _score_one(task: Task, hidden: Sequence[int], x: torch.Tensor, targets: torch.Tensor, splits: Splits,
               config: PredictorConfig) -> PredictorResult:
    """Train one predictor for ``task`` and score it on the test split (errors in the targets' units)."""
    started = time.perf_counter()
    y, mean, std = _standardise(targets, splits.train) if task == "position" else (targets, 0.0, 1.0)
    model, epochs = train_predictor(x[splits.train], y[splits.train], x[splits.validation], y[splits.validation],
                                    hidden, config)
    with torch.no_grad():
        validation = float(F.mse_loss(model(x[splits.validation]), y[splits.validation]))
        predicted = model(x[splits.test])
        test = float(F.mse_loss(predicted, y[splits.test]))
    if task == "position":
        score = float((predicted * std + mean - targets[splits.test]).norm(dim=1).mean())
    else:
        score = float((predicted.argmax(1) == targets[splits.test].argmax(1)).float().mean())
    return PredictorResult(task, predictor_name(hidden), validation, test, score, epochs,
                           time.perf_counter() - started)


def evaluate_embeddings(embeddings: torch.Tensor, labels: Labels, splits: Splits,
                        sizes: Sequence[Sequence[int]] = PREDICTOR_SIZES, config: PredictorConfig = PredictorConfig(),
                        on_progress: Callable[[int, int, str], None] | None = None) -> EmbeddingEvaluation:
    """Train the predictors on ``embeddings`` (``[N, z]``) for every kind of label there is.

    Args:
        embeddings: one row per labelled image.
        labels: ``positions`` and/or ``classes`` of the same rows.
        splits: train / validation / test rows.
        sizes: the predictors' hidden sizes (default: the papers' seven).
        config: their training settings.
        on_progress: called with (predictors done, total, name of the next) before each.
    """
    x, _, _ = _standardise(embeddings.detach().float().cpu(), splits.train)
    tasks: list[tuple[Task, torch.Tensor]] = []
    if labels.positions is not None:
        tasks.append(("position", labels.positions.float()))
    if labels.classes is not None:
        count = max(len(labels.class_names), int(labels.classes.max()) + 1)
        tasks.append(("class", F.one_hot(labels.classes, count).float()))
    jobs = [(task, targets, hidden) for task, targets in tasks for hidden in sizes]
    results = []
    with one_thread():
        for done, (task, targets, hidden) in enumerate(jobs):
            if on_progress is not None:
                on_progress(done, len(jobs), f"predictor {task} {predictor_name(hidden)}")
            results.append(_score_one(task, hidden, x, targets, splits, config))
    return EmbeddingEvaluation(results, labels.position_unit)
