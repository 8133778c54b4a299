"""The one training loop every trainer uses: epochs of steps, progress, clamping hooks, checkpoints.

Trainers describe *what* to train (a step function returning the loss, a per-epoch batch source, an
optimizer); this module does the rest the same way for all of them: tqdm bars on the command line,
a progress callback for the UI, an optional learning-rate scheduler, a hook after each optimizer
step (e.g. clamping weights to be non-negative), per-epoch evaluation, and resumable checkpoints
(model, optimizer, scheduler, epoch) written by the main process only.

Distributed data parallel: launch the trainer with ``torchrun``; :func:`trainers.distributed.setup`
joins the process group, the trainer wraps its trainable module in DDP and gives each rank its own
shard of data; this loop averages the logged loss over ranks and saves checkpoints on rank 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from trainers import distributed


@dataclass(frozen=True)
class Progress:
    """Where training is, reported after every step."""

    epoch: int  # 0-based
    epochs: int
    step: int  # 0-based within the epoch
    steps: int  # steps in this epoch
    loss: float  # this step's loss, averaged over ranks
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Share of the whole run done, in 0..1."""
        return (self.epoch + (self.step + 1) / max(self.steps, 1)) / max(self.epochs, 1)


@dataclass
class History:
    """Losses of every step and the metrics returned after every epoch."""

    losses: list[float] = field(default_factory=list)
    epoch_metrics: list[dict[str, float]] = field(default_factory=list)


StepFunction = Callable[[Any], Mapping[str, torch.Tensor]]  # batch -> {"loss": tensor, other scalars}
BatchSource = Callable[[int], Iterable[Any]]  # epoch -> its batches


def warmup_then_linear_decay(optimizer: torch.optim.Optimizer, constant_epochs: int,
                             decay_epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant learning rate for ``constant_epochs``, then linear decay to 0 over ``decay_epochs``.

    Step it once per epoch (the schedule LPIPS and the context-adaptation paper use).
    """

    def factor(epoch: int) -> float:
        if epoch < constant_epochs:
            return 1.0
        return max(0.0, 1.0 - (epoch - constant_epochs + 1) / max(decay_epochs, 1))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any | None, epoch: int, history: History) -> None:
    """Write a resumable checkpoint atomically (tensors and plain values only)."""
    state = {
        "model": distributed.unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "losses": history.losses,
        "epoch_metrics": history.epoch_metrics,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(state, partial)
    partial.replace(path)


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any | None) -> tuple[int, History]:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns (next epoch, history)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    distributed.unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]) + 1, History(list(state["losses"]), list(state["epoch_metrics"]))


def fit(
    model: nn.Module,
    step: StepFunction,
    batches: BatchSource,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    after_step: Callable[[], None] | None = None,
    evaluate: Callable[[int], dict[str, float]] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    show_bar: bool = True,
    description: str = "training",
) -> History:
    """Train ``model`` for ``epochs`` epochs.

    Args:
        model: the module holding every trained parameter (DDP-wrapped when distributed); it is
            put in train mode for steps. Trainers that keep a frozen backbone in eval mode do so
            inside the module's ``train()`` override.
        step: computes the loss of one batch; must return at least ``{"loss": scalar tensor}``.
        batches: gives the batches of an epoch (fresh data per epoch is allowed).
        optimizer: steps after each backward pass.
        epochs: number of epochs.
        scheduler: stepped once per epoch.
        after_step: called after every optimizer step (e.g. clamp weights to >= 0).
        evaluate: called after each epoch with the epoch index; its metrics go to the history
            and to the progress callback.
        on_progress: called after each step (the UI's progress bar and live loss curve).
        checkpoint: where to save a resumable checkpoint after each epoch (rank 0 only).
        resume: continue from ``checkpoint`` if it exists.
        show_bar: show a tqdm bar on the main process.
        description: the bar's label.
    """
    history = History()
    first_epoch = 0
    if resume and checkpoint is not None and checkpoint.is_file():
        first_epoch, history = load_checkpoint(checkpoint, model, optimizer, scheduler)
    main_process = distributed.is_main_process()
    for epoch in range(first_epoch, epochs):
        epoch_batches = batches(epoch)  # first: making batches may run the model in eval mode
        model.train()
        steps = len(epoch_batches) if hasattr(epoch_batches, "__len__") else 0  # 0: unknown
        bar = tqdm(epoch_batches, total=steps or None, desc=f"{description} {epoch + 1}/{epochs}",
                   disable=not (show_bar and main_process), leave=False)
        last_metrics: dict[str, float] = {}
        for index, batch in enumerate(bar):
            outputs = step(batch)
            loss = outputs["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"The loss became {float(loss.detach())} at epoch {epoch + 1}, "
                                         f"step {index + 1}.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            value = distributed.mean_over_ranks(float(loss.detach()))
            history.losses.append(value)
            last_metrics = {k: float(v.detach()) for k, v in outputs.items() if k != "loss"}
            bar.set_postfix(loss=f"{value:.4f}")
            if on_progress is not None:
                on_progress(Progress(epoch, epochs, index, steps, value, last_metrics))
        if scheduler is not None:
            scheduler.step()
        metrics = evaluate(epoch) if evaluate is not None else {}
        history.epoch_metrics.append({"epoch": float(epoch + 1), **metrics})
        if metrics and on_progress is not None:
            on_progress(Progress(epoch, epochs, steps - 1, steps, history.losses[-1] if history.losses else math.nan,
                                 metrics))
        if checkpoint is not None and main_process:
            save_checkpoint(checkpoint, model, optimizer, scheduler, epoch, history)
    return history
