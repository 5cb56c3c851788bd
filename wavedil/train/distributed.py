"""Process-group set-up for data-parallel training under torchrun (gloo on CPU, nccl on CUDA).

A single process (no WORLD_SIZE in the environment) gets the same object with world = 1,
whose collectives are no-ops, so the loop has one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int
    world: int
    device: torch.device

    @classmethod
    def from_env(cls, device: str = "auto") -> "Dist":
        """Join the process group torchrun describes in the environment, if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("train.device is cuda but CUDA is not available")
        use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(dev)
        if world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
        return cls(rank, world, dev)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around ``model`` when there are several processes."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def all_finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every process (all must skip a step together)."""
        ok = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
        if self.world > 1:
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        return bool(ok.item() > 0)

    def mean(self, value: torch.Tensor) -> float:
        v = value.detach().float().reshape(1).clone()
        if self.world > 1:
            dist.all_reduce(v)
            v /= self.world
        return float(v.item())

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        v = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(v, op=dist.ReduceOp.MAX)
        return bool(v.item() > 0)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group, all processes together: one that tore its group down while
        another was still at work (the main process sampling and plotting at the end of a run)
        was at times killed by gloo at exit ("terminate called without an active exception",
        about one two-process run in five on this machine)."""
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
