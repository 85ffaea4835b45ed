"""CPU kernels pinned, so that a seed gives the same bits on every x86-64 machine with AVX2.

PyTorch picks each vectorised CPU kernel by the SIMD level it detects (ATen builds every op for
DEFAULT, AVX2 and AVX512), MKL picks its GEMM code path by CPU vendor and ISA, and oneDNN by ISA.
With the thread count, these choices fix the order of floating-point operations; smoke training is
chaotic enough that a last-bit difference moves a score by several points. `pin()` fixes all of
them before any kernel runs, whatever the user's environment asks for:

- ``ATEN_CPU_CAPABILITY=avx2``: ATen's AVX2 kernels, also on AVX-512 / AMX machines. ATen reads
  it lazily, at the first dispatched op, so setting it after ``import torch`` still works as long
  as no tensor op has run.
- ``MKL_CBWR``: MKL's conditional numerical reproducibility, by the run's ``cpu_kernels``:
  - ``portable`` (smoke): ``COMPATIBLE``. On non-Intel CPUs MKL honours only the AUTO and
    COMPATIBLE branches (its Developer Guide, "Getting Started with Conditional Numerical
    Reproducibility"; on this repository's AMD machine ``MKL_CBWR=AVX2`` reads back as AUTO), so
    COMPATIBLE is the one branch that gives the same bits on Intel and AMD. Its GEMM is slow:
    17-20 GFLOP/s on one core of the 2-core AMD EPYC against 47-66 for AUTO (a 1024x384x1536
    fp32 matmul), which smoke's tiny models do not feel and the offline encoder does (3-4x).
  - ``fast`` (offline and full): ``AUTO``. MKL's CNR on the machine's own branch: the same bits on
    the same CPU model with the same thread count, whatever the memory alignment; another CPU may
    differ in the last bits (``xstilts verify`` compares such runs within a tolerance).
- ``ONEDNN_MAX_CPU_ISA=AVX2`` (``DNNL_MAX_CPU_ISA`` for older oneDNN builds).
- Threads: every phase sets its own (``threads`` in params; smoke uses 1), see
  ``pipeline.seed_everything``.

Importing ``xstilts`` calls `pin()`, so papermill kernels, Snakemake jobs, JupyterLab and plain
``python`` all get it. ``XSTILTS_NATIVE_KERNELS=1`` opts out (torch then uses the fastest kernels
of the machine: faster on AVX-512, results no longer portable); `kernel_state()` records which
kernels a run used in its ``result.json``.
"""
from __future__ import annotations

import functools
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
# the `cpu_kernels` parameter -> MKL's CNR branch; `xstilts run` exports the grid's choice in
# MODE_ENV before any job process starts, because MKL reads its branch once, at its first call
MODES = {"portable": "COMPATIBLE", "fast": "AUTO"}
MODE_ENV = "XSTILTS_CPU_KERNELS"
# mkl_service.h: the values mkl_cbwr_get / mkl_cbwr_set use
_MKL_CODES = {"AUTO": 2, "COMPATIBLE": 3}
_MKL_NAMES = {1: "OFF", 2: "AUTO", 3: "COMPATIBLE"}


class KernelModeError(RuntimeError):
    """The process already computes with other MKL kernels than the run asks for."""


def pinned() -> bool:
    return os.environ.get(OPT_OUT, "") in ("", "0")


def pin() -> None:
    """Set the kernel choices in this process's environment (inherited by every child process)."""
    if not pinned():
        return
    mode = os.environ.get(MODE_ENV) or "portable"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {', '.join(MODES)} (the cpu_kernels parameter).")
    os.environ.update(PINNED_ENV, MKL_CBWR=MODES[mode])
    if "torch" in sys.modules and _cpu_has_avx2():
        import torch

        # capability is computed at the first dispatched op: if torch ran one before xstilts was
        # imported, the pin came too late for this process
        if torch.backends.cpu.get_cpu_capability() != "AVX2":
            warnings.warn("torch ran a tensor op before xstilts was imported, so its CPU kernels are "
                          f"{torch.backends.cpu.get_cpu_capability()}, not the pinned AVX2: results "
                          "will not be bit-identical across machines. Restart the kernel and import "
                          "xstilts before torch.", RuntimeWarning, stacklevel=3)


@functools.cache
def _mkl():
    """MKL's service functions, as linked into torch's CPU library (None where torch has no MKL)."""
    import ctypes

    import torch

    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        return lib if hasattr(lib, "mkl_serv_cbwr_get") else None
    except OSError:
        return None


def mkl_branch() -> str | None:
    """The CNR branch MKL computes with in this process (None where it cannot be read)."""
    lib = _mkl()
    if lib is None:
        return None
    code = lib.mkl_serv_cbwr_get(1)
    return _MKL_NAMES.get(code, str(code))


def use(mode: str) -> None:
    """Make this process compute with the MKL branch of `cpu_kernels` = `mode`, or say why it cannot:
    MKL fixes its branch at its first call, so a kernel that already ran with the other branch
    (a JupyterLab kernel that ran a smoke phase, then an offline one) must be restarted."""
    if not pinned():
        return
    lib = _mkl()
    if lib is None:
        return
    wanted = MODES[mode]
    if mkl_branch() == wanted:
        return
    if lib.mkl_serv_cbwr_set(_MKL_CODES[wanted]) != 0:
        raise KernelModeError(
            f"This process already computes with MKL branch {mkl_branch()}, but the run asks for cpu_kernels: "
            f"{mode} (MKL {wanted}), and MKL fixes its branch at its first call. Restart the kernel (or "
            f"process) before running it, or set {MODE_ENV}={mode} before Python starts.")
    os.environ["MKL_CBWR"] = wanted


def _cpu_has_avx2() -> bool:
    return "avx2" in cpuinfo().get("flags", "").split()


def cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none, e.g. macOS)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_model() -> str:
    info = cpuinfo()
    if info.get("model name"):
        return info["model name"]
    import platform

    return platform.processor() or platform.machine()


def cpu_identity(info: dict[str, str] | None = None) -> dict:
    """What tells CPUs apart where the model name does not (VMs often report just "AMD EPYC"): vendor,
    family/model/stepping, and the widest SIMD the CPU has, whatever the pin lets the kernels use."""
    info = cpuinfo() if info is None else info
    flags = set(info.get("flags", "").split())
    isa = next((name for name, flag in (("AMX", "amx_tile"), ("AVX512", "avx512f"), ("AVX2", "avx2"))
                if flag in flags), "older than AVX2" if flags else None)
    fms = [info.get(k) for k in ("cpu family", "model", "stepping")]
    return {"cpu_vendor": info.get("vendor_id"),
            "cpu_family_model_stepping": "/".join(fms) if all(fms) else None, "cpu_isa": isa}


def kernel_state() -> dict:
    """Which kernels this process computes with (a run's provenance)."""
    import torch

    return {"pinned": pinned(), "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkl_cbwr": mkl_branch() or os.environ.get("MKL_CBWR"), "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "threads": torch.get_num_threads(), "cpu": cpu_model(), **cpu_identity()}
