"""Job functions used by the job-runner tests (their targets are stored like any engine job's)."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from engine import training
from engine.errors import WorkbenchError
from engine.jobs import JobContext, JobKind

COUNT = JobKind("test-count", "tests.engine.job_functions:count", "Count slowly")
TRAIN = JobKind("test-train", "tests.engine.job_functions:train", "Fit a line")
FAIL = JobKind("test-fail", "tests.engine.job_functions:fail", "Fail")


def count(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Count to ``steps``, sleeping ``sleep_s`` per step; the count so far is the checkpoint."""
    done = int(ctx.checkpoint.read_text()) if ctx.resume and ctx.checkpoint.is_file() else 0
    started_at = done
    for step in range(done, int(params["steps"])):
        time.sleep(float(params.get("sleep_s", 0.0)))
        ctx.checkpoint.write_text(str(step + 1))
        ctx.progress(step + 1, int(params["steps"]), loss=1.0 / (step + 1))
    return {"counted": int(params["steps"]), "started_at": started_at, "resumed": ctx.resume,
            "inputs": sorted(p.name for p in ctx.inputs.glob("*")) if ctx.inputs.is_dir() else []}


def regression_batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Eight fixed batches of a noiseless linear problem, shuffled per epoch."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 3, generator=generator)
    targets = inputs @ torch.tensor([[2.0], [-3.0], [0.5]])
    order = torch.randperm(64, generator=torch.Generator().manual_seed(epoch))
    return [(inputs[order[i:i + 8]], targets[order[i:i + 8]]) for i in range(0, 64, 8)]


def train(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Fit a linear model with the shared loop, checkpointing into the job's folder."""
    model = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    sleep_s = float(params.get("sleep_s", 0.0))

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        time.sleep(sleep_s)
        inputs, targets = batch
        return {"loss": nn.functional.mse_loss(model(inputs), targets)}

    history = training.fit(model, step, regression_batches, optimizer, int(params["epochs"]),
                           on_progress=ctx.training_progress, checkpoint=ctx.checkpoint, resume=ctx.resume,
                           show_bar=False)
    return {"weight": model.weight.detach().flatten().tolist(), "steps": len(history.losses)}


def fail(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Fail the way ``params["how"]`` says: a user error or a real fault."""
    if params["how"] == "user":
        raise WorkbenchError("The folder holds no images.")
    raise RuntimeError("something broke")
