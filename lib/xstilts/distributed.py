"""One run on several GPUs: data-parallel training (DDP through `accelerate`).

Launch a run's notebook once per GPU, e.g.
    accelerate launch --num_processes 4 -m xstilts.workflow notebooks/03_target.ipynb out.ipynb -f run.yaml
Every process reads the same data and draws the same batches; within each optimiser step of
`grad_accum` micro-batches, process r computes micro-batches r, r + W, ... (W processes), and DDP
averages the gradients, so a step sees the same examples as on one device (`grad_accum` must be a
multiple of W). Process 0 alone evaluates on dev (the score is broadcast, so early stopping agrees),
writes checkpoints and the result; the others wait for its result.json and return it.
Without a launcher (WORLD_SIZE unset or 1) nothing here is used.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from torch import nn


def world() -> tuple[int, int]:
    """(rank, number of processes) as `accelerate launch` / torchrun set them."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return world()[0] == 0


def local_device(device: str) -> str:
    """This process's GPU (cuda:LOCAL_RANK) in a multi-process run; `device` otherwise."""
    if world()[1] > 1 and device == "cuda":
        import torch

        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    return device


class Dispatch(nn.Module):
    """One module over the task heads (which share an encoder), so DDP wraps the encoder once."""

    def __init__(self, holder: nn.ModuleDict):
        super().__init__()
        self.heads = holder

    def forward(self, name, batch):
        return self.heads[name](**batch)


def wrap(holder: nn.ModuleDict, device: str):
    """The heads wrapped in DDP by accelerate (gloo on CPU, NCCL on CUDA)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    # some parameters get no gradient in a step: the other heads of a multi-task run, and parts of
    # an encoder a head does not read (XLM-R's pooler, unused by the token and span heads)
    kwargs = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(cpu=not device.startswith("cuda"), kwargs_handlers=[kwargs])
    return accelerator.prepare_model(Dispatch(holder), device_placement=False)


def broadcast(value):
    """Process 0's value, in every process."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def total(value: int) -> int:
    """The sum of an integer over the processes."""
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.long)
    dist.all_reduce(t)
    return int(t.item())


def await_result(path: Path, poll_seconds: float = 5.0) -> None:
    """Wait for process 0 to write a result (if it fails, the launcher stops every process)."""
    while not path.exists():
        time.sleep(poll_seconds)
