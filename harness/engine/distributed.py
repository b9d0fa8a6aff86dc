"""Which process of a torchrun launch this is: only rank 0 prints, writes records and saves state."""
from __future__ import annotations

import os

import torch

from ..errors import HarnessError


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def log(message: str) -> None:
    """Console line from rank 0 only (every rank runs the same code)."""
    if is_rank0():
        print(message, flush=True)


def init_distributed() -> None:
    """torchrun on CPU: initialise gloo ourselves (mmengine calls torch.cuda.set_device unconditionally)."""
    import torch.distributed as dist

    if "RANK" not in os.environ:
        raise HarnessError("--launcher pytorch needs torchrun (e.g. torchrun --nproc_per_node 2 -m harness run ...)")
    if not dist.is_initialized() and not torch.cuda.is_available():
        dist.init_process_group("gloo")
