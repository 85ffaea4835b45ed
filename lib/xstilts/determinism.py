"""CPU kernels pinned, so that a seed gives the same bits on every x86-64 machine with AVX2.

PyTorch picks each vectorised CPU kernel by the SIMD level it detects (ATen builds every op for
DEFAULT, AVX2 and AVX512), MKL picks its GEMM code path by CPU vendor and ISA, and oneDNN by ISA.
With the thread count, these choices fix the order of floating-point operations; smoke training is
chaotic enough that a last-bit difference moves a score by several points. `pin()` fixes all of
them before any kernel runs, whatever the user's environment asks for:

- ``ATEN_CPU_CAPABILITY=avx2``: ATen's AVX2 kernels, also on AVX-512 / AMX machines. ATen reads
  it lazily, at the first dispatched op, so setting it after ``import torch`` still works as long
  as no tensor op has run.
- ``MKL_CBWR=COMPATIBLE``: MKL's conditional numerical reproducibility. On non-Intel CPUs MKL
  honours only the AUTO and COMPATIBLE branches (its Developer Guide, "Getting Started with
  Conditional Numerical Reproducibility"), so COMPATIBLE is the one branch that gives the same
  bits on Intel and AMD. It also fixes cache-size blocking and makes reductions deterministic.
- ``ONEDNN_MAX_CPU_ISA=AVX2`` (``DNNL_MAX_CPU_ISA`` for older oneDNN builds).
- Threads: every phase sets its own (``threads`` in params; smoke uses 1), see
  ``pipeline.seed_everything``.

Importing ``xstilts`` calls `pin()`, so papermill kernels, Snakemake jobs, JupyterLab and plain
``python`` all get it. ``XSTILTS_NATIVE_KERNELS=1`` opts out (torch then uses the fastest kernels
of the machine: faster on AVX-512, results no longer portable); `kernel_state()` records which
kernels a run used in its ``result.json``.
"""
from __future__ import annotations

import os
import sys
import warnings

PINNED_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
}
OPT_OUT = "XSTILTS_NATIVE_KERNELS"


def pinned() -> bool:
    return os.environ.get(OPT_OUT, "") in ("", "0")


def pin() -> None:
    """Set the kernel choices in this process's environment (inherited by every child process)."""
    if not pinned():
        return
    os.environ.update(PINNED_ENV)
    if "torch" in sys.modules and _cpu_has_avx2():
        import torch

        # capability is computed at the first dispatched op: if torch ran one before xstilts was
        # imported, the pin came too late for this process
        if torch.backends.cpu.get_cpu_capability() != "AVX2":
            warnings.warn("torch ran a tensor op before xstilts was imported, so its CPU kernels are "
                          f"{torch.backends.cpu.get_cpu_capability()}, not the pinned AVX2: results "
                          "will not be bit-identical across machines. Restart the kernel and import "
                          "xstilts before torch.", RuntimeWarning, stacklevel=3)


def _cpu_has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(line.startswith("flags") and " avx2" in line for line in f)
    except OSError:
        return False


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def kernel_state() -> dict:
    """Which kernels this process computes with (a run's provenance)."""
    import torch

    return {"pinned": pinned(), "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkl_cbwr": os.environ.get("MKL_CBWR"), "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "threads": torch.get_num_threads(), "cpu": cpu_model()}
