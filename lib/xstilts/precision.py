"""Numeric precision of training and evaluation: `precision: fp32 | bf16 | fp16`.

* fp32: the code path that existed before this option, untouched (no autocast, no loss scaling,
  no TF32), so smoke and offline results do not move.
* bf16: `torch.autocast` to bfloat16 (CPU and CUDA); on CUDA also TF32 for the matmuls autocast
  leaves in fp32. bf16 has fp32's exponent range, so no loss scaling is needed.
* fp16: CUDA only. `torch.autocast` to float16 plus a `GradScaler`: the loss is scaled up so small
  gradients survive fp16, gradients are unscaled before clipping, and a step whose gradients
  overflowed is skipped while the scale shrinks.

Master weights, optimiser state and saved checkpoints stay fp32 in every mode.
"""
from __future__ import annotations

import contextlib

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionError(ValueError):
    """A precision the device cannot run (raised before any model is built)."""


def check(precision: str, device: str) -> None:
    if precision == "fp16" and not device.startswith("cuda"):
        raise PrecisionError(f"precision: fp16 needs a CUDA GPU (loss scaling for fp16 autocast), but this run is on "
                             f"{device}. Use precision: bf16 (autocast works on CPU too) or fp32.")


def configure(precision: str, device: str) -> None:
    """TF32 matmuls on CUDA for the mixed-precision modes; fp32 stays true fp32."""
    if precision != "fp32" and device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast(precision: str, device: str):
    """The forward-pass context of a precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=DTYPES[precision])


def grad_scaler(precision: str, device: str):
    """A GradScaler for fp16, None otherwise."""
    return torch.amp.GradScaler(device.split(":")[0]) if precision == "fp16" else None
