"""Distributed data parallel (DDP) helpers for trainers launched with ``torchrun``.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is a no-op for a
single process, so trainers call the same functions either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Rank:
    """This process's place in the job."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and prints."""
        return self.rank == 0


def setup(device: str = "cpu") -> Rank:
    """Join the process group when started by torchrun (gloo on CPU, nccl on GPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Rank(0, 1, torch.device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    return Rank(dist.get_rank(), world_size, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))


def teardown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True on rank 0 and in single-process runs."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def wrap(module: nn.Module, rank: Rank) -> nn.Module:
    """``module`` wrapped in DDP when distributed, unchanged otherwise."""
    if rank.world_size == 1:
        return module
    device_ids = [rank.device.index] if rank.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def mean_over_ranks(value: float) -> float:
    """Average a scalar over all ranks (identity in single-process runs)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def barrier() -> None:
    """Wait until every rank reaches this point (no-op in single-process runs)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
