"""The one training loop every trainer and training job uses: epochs of steps, progress, hooks, checkpoints.

Callers describe *what* to train (a step function returning the loss, a per-epoch batch source, an
optimizer); this module does the rest the same way for all of them: tqdm bars on the command line,
a progress callback for the UI's jobs, an optional learning-rate scheduler, a hook after each
optimizer step (e.g. clamping weights to be non-negative), per-epoch evaluation, and resumable
checkpoints written by the main process only.

Checkpoints hold the model, optimizer, scheduler, history, random-number states and the position
(epoch and completed steps). They are written after every epoch, every ``checkpoint_every_s``
seconds at a step boundary, and when the run is cancelled, so a resumed run continues from the
step where it stopped. A run is cancelled when the progress callback raises
:class:`engine.errors.Cancelled` (what :class:`engine.jobs.JobContext` does once cancel is asked).

Distributed data parallel: launch the trainer with ``torchrun``; :func:`engine.distributed.setup`
joins the process group and sets the rank's device, the caller wraps its trainable module in DDP
and gives each rank its own shard of data; this loop averages the logged loss over ranks.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from engine import distributed
from engine.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """Where training is, reported after every step (and after each epoch's evaluation)."""

    epoch: int  # 0-based
    epochs: int
    step: int  # 0-based within the epoch
    steps: int  # steps in this epoch (0: unknown)
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


@dataclass(frozen=True)
class Position:
    """Where a checkpoint was taken: ``steps_done`` steps of ``epoch`` are finished."""

    epoch: int
    steps_done: int


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


def warmup_then_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int,
                       total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 0 at ``total_steps`` (step it per step)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _rng_states() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
        "python": random.getstate(),
    }


def _restore_rng_states(states: Mapping[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if torch.cuda.is_available() and states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(position), int(has_gauss), float(cached)))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any | None,
                    position: Position, history: History) -> None:
    """Write a resumable checkpoint atomically (tensors and plain values only)."""
    state = {
        "model": distributed.unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": position.epoch,
        "steps_done": position.steps_done,
        "losses": history.losses,
        "epoch_metrics": history.epoch_metrics,
        "rng": _rng_states(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(state, partial)
    partial.replace(path)


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any | None) -> tuple[Position, History]:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns where to continue and the history."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    distributed.unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    _restore_rng_states(state["rng"])
    history = History(list(state["losses"]), list(state["epoch_metrics"]))
    return Position(int(state["epoch"]), int(state["steps_done"])), history


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
    checkpoint_every_s: float = 60.0,
    scheduler_per_step: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` epochs.

    Args:
        model: the module holding every trained parameter (DDP-wrapped when distributed); it is
            put in train mode for steps. Callers that keep a frozen backbone in eval mode do so
            inside the module's ``train()`` override.
        step: computes the loss of one batch; must return at least ``{"loss": scalar tensor}``.
        batches: gives the batches of an epoch (fresh data per epoch is allowed). A resumed epoch
            asks for its batches again and skips the steps already done.
        optimizer: steps after each backward pass.
        epochs: number of epochs.
        scheduler: stepped once per epoch (or once per step with ``scheduler_per_step``).
        after_step: called after every optimizer step (e.g. clamp weights to >= 0).
        evaluate: called after each epoch with the epoch index; its metrics go to the history
            and to the progress callback.
        on_progress: called after each step; raising :class:`Cancelled` stops the run after a
            checkpoint is saved.
        checkpoint: where to save a resumable checkpoint (rank 0 only).
        resume: continue from ``checkpoint`` if it exists.
        show_bar: show a tqdm bar on the main process.
        description: the bar's label.
        checkpoint_every_s: also save within an epoch when this many seconds passed since the last save.
        scheduler_per_step: step the scheduler after every optimizer step instead of every epoch.

    Raises:
        Cancelled: ``on_progress`` asked to stop (the checkpoint then holds the last finished step).
        FloatingPointError: the loss became NaN or infinite.
    """
    history = History()
    start = Position(0, 0)
    if resume and checkpoint is not None and checkpoint.is_file():
        start, history = load_checkpoint(checkpoint, model, optimizer, scheduler)
    main_process = distributed.is_main_process()
    last_save = time.monotonic()

    def save(position: Position) -> None:
        nonlocal last_save
        if checkpoint is not None and main_process:
            save_checkpoint(checkpoint, model, optimizer, scheduler, position, history)
        last_save = time.monotonic()

    for epoch in range(start.epoch, epochs):
        skip = start.steps_done if epoch == start.epoch else 0
        epoch_batches = batches(epoch)  # first: making batches may run the model in eval mode
        model.train()
        steps = len(epoch_batches) if hasattr(epoch_batches, "__len__") else 0  # 0: unknown
        bar = tqdm(total=steps or None, initial=skip, desc=f"{description} {epoch + 1}/{epochs}",
                   disable=not (show_bar and main_process), leave=False)
        for index, batch in enumerate(epoch_batches):
            if index < skip:
                continue
            outputs = step(batch)
            loss = outputs["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"The loss became {float(loss.detach())} at epoch {epoch + 1}, "
                                         f"step {index + 1}.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None and scheduler_per_step:
                scheduler.step()
            if after_step is not None:
                after_step()
            value = distributed.mean_over_ranks(float(loss.detach()))
            history.losses.append(value)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}")
            done = Position(epoch, index + 1)
            try:
                if on_progress is not None:
                    metrics = {k: float(v.detach()) for k, v in outputs.items() if k != "loss"}
                    on_progress(Progress(epoch, epochs, index, steps, value, metrics))
            except Cancelled:
                save(done)
                bar.close()
                raise
            if time.monotonic() - last_save > checkpoint_every_s:
                save(done)
        bar.close()
        if scheduler is not None and not scheduler_per_step:
            scheduler.step()
        metrics = evaluate(epoch) if evaluate is not None else {}
        history.epoch_metrics.append({"epoch": float(epoch + 1), **metrics})
        save(Position(epoch + 1, 0))
        if metrics and on_progress is not None:
            on_progress(Progress(epoch, epochs, max(steps - 1, 0), steps,
                                 history.losses[-1] if history.losses else math.nan, metrics))
    return history
