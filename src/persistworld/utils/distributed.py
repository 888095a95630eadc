"""Data parallelism over `torchrun` processes: gloo on CPU, NCCL on GPU.

Post-training does not wrap the model in `DistributedDataParallel`: one loss calls the network two
or three times with different adapters active (trained, old, reference) and the collection runs it
without gradients, which DDP's per-forward hooks do not fit. The parallel step is simple enough to
do by hand and stays exact: every rank draws the same work list from the same seed, takes its
contiguous share, and the gradients of the shares are summed with one all-reduce, so N processes
compute the 1-process step up to the order of float additions (tests/rl/test_distributed.py).

Without `torchrun` (no ``WORLD_SIZE`` in the environment) everything here is a no-op on one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    collective_device: str = "cpu"  # NCCL reduces CUDA tensors only
    owns_group: bool = False  # this object initialised the process group, so `close` ends it

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs and checkpoints and runs the probe."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process: the collectives below communicate."""
        return self.world_size > 1

    @classmethod
    def from_environment(cls, device: torch.device) -> Distributed:
        """Join the `torchrun` job described by the environment (or a 1-process job without one).

        The backend follows the device: NCCL for CUDA, gloo otherwise.
        """
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        owns_group = not dist.is_initialized()
        if owns_group:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        collective = f"cuda:{local_rank}" if device.type == "cuda" else "cpu"
        return cls(rank, world_size, local_rank, collective, owns_group)

    def device(self, device: torch.device) -> torch.device:
        """One GPU per local rank; CPU stays CPU."""
        if device.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return device

    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's contiguous share of `items`, whose length must divide evenly by the world size."""
        if len(items) % self.world_size:
            raise ValueError(
                f"{len(items)} work items cannot be split evenly over {self.world_size} processes; "
                f"choose a multiple of {self.world_size}."
            )
        size = len(items) // self.world_size
        return list(items[self.rank * size : (self.rank + 1) * size])

    def gather_rows(self, local: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's equally shaped `local` along dim 0, in rank order (= the work-list order)."""
        if not self.enabled:
            return local
        parts = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts)

    def sum_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Sum the gradients over ranks, flattened into one buffer (one collective instead of one per tensor)."""
        if not self.enabled:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def sum_values(self, values: dict[str, float]) -> dict[str, float]:
        """Sum scalar logs over ranks (same keys on every rank)."""
        if not self.enabled:
            return values
        keys = sorted(values)
        summed = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.collective_device)
        dist.all_reduce(summed)
        return dict(zip(keys, summed.cpu().tolist(), strict=True))

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (a picklable object)."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank (e.g. until rank 0 has written the result)."""
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """End the process group if `from_environment` started it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
