"""engine.training: the shared training loop converges, hooks run, checkpoints resume, DDP averages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from scipy.optimize import nnls
from torch import nn

from engine import training as loop

ROOT = Path(__file__).resolve().parents[2]
TRUE_WEIGHTS = torch.tensor([[2.0, -3.0, 0.5]])


def regression_data(seed: int = 0, count: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count, 3, generator=generator)
    return inputs, inputs @ TRUE_WEIGHTS.T


def make_run(model: nn.Module, batch_size: int = 16):  # type: ignore[no-untyped-def]
    inputs, targets = regression_data()

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": nn.functional.mse_loss(model(x), y)}

    def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(epoch))
        return [(inputs[order[i:i + batch_size]], targets[order[i:i + batch_size]])
                for i in range(0, len(inputs), batch_size)]

    return step, batches


def test_fit_recovers_known_weights_and_reports_progress() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    step, batches = make_run(model)
    events: list[loop.Progress] = []
    history = loop.fit(model, step, batches, torch.optim.SGD(model.parameters(), lr=0.1), epochs=30,
                       on_progress=events.append, show_bar=False)
    assert torch.allclose(model.weight.detach(), TRUE_WEIGHTS, atol=1e-3)
    assert len(history.losses) == 30 * 4 and history.losses[-1] < 1e-6 < history.losses[0]
    assert events[-1].fraction == pytest.approx(1.0) and events[0].steps == 4


def test_after_step_hook_keeps_weights_non_negative() -> None:
    model = nn.Linear(3, 1, bias=False)
    step, batches = make_run(model, batch_size=64)  # full batch: the iterates converge, no SGD noise

    def clamp() -> None:
        with torch.no_grad():
            model.weight.clamp_(min=0.0)

    loop.fit(model, step, batches, torch.optim.SGD(model.parameters(), lr=0.1), epochs=300, after_step=clamp,
             show_bar=False)
    weights = model.weight.detach()[0]

    # projected gradient descent converges to the non-negative least-squares solution
    inputs, targets = regression_data()
    expected, _ = nnls(inputs.numpy(), targets[:, 0].numpy())
    assert (weights >= 0).all() and weights[1] == 0.0
    assert torch.allclose(weights, torch.from_numpy(expected).float(), atol=1e-4)


def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    def run(epochs: int, checkpoint: Path | None, resume: bool, model: nn.Module) -> loop.History:
        step, batches = make_run(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        scheduler = loop.warmup_then_linear_decay(optimizer, 2, 3)
        return loop.fit(model, step, batches, optimizer, epochs, scheduler=scheduler, checkpoint=checkpoint,
                        resume=resume, show_bar=False)

    torch.manual_seed(1)
    straight = nn.Linear(3, 1)
    reference = run(5, None, False, straight)

    torch.manual_seed(1)
    interrupted = nn.Linear(3, 1)
    checkpoint = tmp_path / "run.pt"
    run(2, checkpoint, False, interrupted)
    resumed = run(5, checkpoint, True, interrupted)
    assert torch.allclose(interrupted.weight, straight.weight) and torch.allclose(interrupted.bias, straight.bias)
    assert resumed.losses == pytest.approx(reference.losses)


def test_schedule_is_constant_then_linear_to_zero() -> None:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = loop.warmup_then_linear_decay(optimizer, constant_epochs=2, decay_epochs=4)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_non_finite_loss_stops_with_a_clear_error() -> None:
    model = nn.Linear(3, 1)

    def step(batch: object) -> dict[str, torch.Tensor]:
        return {"loss": model.weight.sum() * float("nan")}

    with pytest.raises(FloatingPointError, match="epoch 1, step 1"):
        loop.fit(model, step, lambda epoch: [None], torch.optim.SGD(model.parameters(), lr=0.1), 1, show_bar=False)


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch
    from torch import nn
    from engine import distributed, training as loop
    from tests.engine.test_training import regression_data
    rank = distributed.setup("cpu")
    torch.manual_seed(0)
    model = distributed.wrap(nn.Linear(3, 1, bias=False), rank)
    inputs, targets = regression_data()
    shard = slice(rank.rank * 32, (rank.rank + 1) * 32)  # each rank sees half of every batch
    def step(batch):
        x, y = batch
        return {"loss": nn.functional.mse_loss(model(x), y)}
    def batches(epoch):
        return [(inputs[shard][i:i + 8], targets[shard][i:i + 8]) for i in range(0, 32, 8)]
    loop.fit(model, step, batches, torch.optim.SGD(model.parameters(), lr=0.05), 3, show_bar=False)
    if rank.is_main:
        torch.save(distributed.unwrap(model).state_dict(), sys.argv[1])
    distributed.teardown()
""")


def test_ddp_with_torchrun_equals_single_process_on_the_full_batch(tmp_path: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    result_file = tmp_path / "ddp.pt"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    str(script), str(result_file)], cwd=ROOT, check=True, timeout=180,
                   env={**__import__("os").environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    ddp_weights = torch.load(result_file, weights_only=True)["weight"]

    torch.manual_seed(0)
    single = nn.Linear(3, 1, bias=False)
    inputs, targets = regression_data()
    optimizer = torch.optim.SGD(single.parameters(), lr=0.05)
    for _ in range(3):
        for i in range(0, 32, 8):  # the same two half-batches, taken together
            x = torch.cat([inputs[i:i + 8], inputs[32 + i:32 + i + 8]])
            y = torch.cat([targets[i:i + 8], targets[32 + i:32 + i + 8]])
            optimizer.zero_grad()
            nn.functional.mse_loss(single(x), y).backward()
            optimizer.step()
    assert torch.allclose(ddp_weights, single.weight.detach(), atol=1e-6)
