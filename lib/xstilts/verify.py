"""`xstilts verify`: rerun committed runs in a scratch folder and compare every metric.

A published number is only as good as the evidence that the code still produces it. `verify`
takes run folders (or a grid and a sample size), recomputes each run from its own `params.json`
in a scratch runs folder (upstream phases included, since checkpoints are not committed), and
compares every metric with the committed `result.json`.

Tolerances, in metric points (the repository's metrics are 0-100 scores):
- same device kind, CPU, pinned kernels (xstilts.determinism), same thread count and MKL branch, and
  for MKL's AUTO branch (`cpu_kernels: fast`, offline and full) the same CPU model (`same_cpu`): 0, exactly;
- CUDA on CUDA: 0.5 (cuBLAS/cuDNN pick algorithms at run time; repeated GPU runs of the offline
  grid agreed to 0.1 points, and 0.5 leaves room for another GPU model);
- CPU with native (unpinned) kernels, another thread count, another MKL branch, or AUTO on another
  CPU model: 0.5;
- across device kinds (a CUDA run rerun on the CPU): none is stated; the comparison is printed
  and marked 'not comparable', never counted as a pass.
"""
from __future__ import annotations

import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from xstilts import params as P
from xstilts import config, runs

SAME_KIND_GPU_TOLERANCE = 0.5
UNPINNED_CPU_TOLERANCE = 0.5
# result.json fields that hold metrics (everything else is bookkeeping, timing or provenance)
METRIC_FIELDS = ("per_language", "headline", "average", "average_zero_shot", "dev")


@dataclass
class Verdict:
    run: str
    status: str  # identical | within tolerance | DIFFERS | not comparable | missing metrics
    tolerance: float | None
    largest: float
    where: str = ""
    compared: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        tol = "exact" if self.tolerance == 0 else ("none stated" if self.tolerance is None else f"<= {self.tolerance}")
        worst = f"largest |diff| {self.largest:.6g}" + (f" ({self.where})" if self.where else "")
        return f"{self.status:<17} {self.run}: {self.compared} metrics, {worst}, tolerance {tol}" + \
            "".join(f"; {n}" for n in self.notes)


def flatten_metrics(result: dict) -> dict[str, float]:
    """Every numeric leaf under the metric fields, keyed by its path ("per_language/de/f1")."""
    out: dict[str, float] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix] = float(value)

    for name in METRIC_FIELDS:
        if name in result:
            walk(name, result[name])
    return out


def _device_kind(result: dict) -> str:
    return str((result.get("provenance") or {}).get("device", "cpu")).split(":")[0]


def tolerance(committed: dict, rerun: dict) -> float | None:
    """The stated tolerance for comparing `rerun` with `committed` (None: not comparable)."""
    before, after = _device_kind(committed), _device_kind(rerun)
    if before != after:
        return None
    if after == "cuda":
        return SAME_KIND_GPU_TOLERANCE
    k_before = (committed.get("provenance") or {}).get("kernels") or {}
    k_after = (rerun.get("provenance") or {}).get("kernels") or {}
    same_kernels = k_before.get("pinned") and k_after.get("pinned") and \
        k_before.get("aten_cpu_capability") == k_after.get("aten_cpu_capability") and \
        k_before.get("threads") == k_after.get("threads") and \
        k_before.get("mkl_cbwr") == k_after.get("mkl_cbwr") and \
        (k_before.get("mkl_cbwr") == "COMPATIBLE" or same_cpu(k_before, k_after))
    return 0.0 if same_kernels else UNPINNED_CPU_TOLERANCE


def same_cpu(k_before: dict, k_after: dict) -> bool:
    """The same CPU model, for MKL's AUTO branch: the same model name and, where both runs recorded
    them (runs since 2026-12-03), the same vendor, family/model/stepping and widest SIMD. VMs often
    name every EPYC "AMD EPYC", and AUTO may take another code path on another microarchitecture."""
    return k_before.get("cpu") == k_after.get("cpu") and all(
        k_before.get(f) == k_after.get(f) for f in ("cpu_vendor", "cpu_family_model_stepping", "cpu_isa")
        if k_before.get(f) and k_after.get(f))


def compare(committed: dict, rerun: dict, run: str) -> Verdict:
    tol = tolerance(committed, rerun)
    a, b = flatten_metrics(committed), flatten_metrics(rerun)
    notes = []
    if set(a) != set(b):
        missing = sorted(set(a) ^ set(b))
        notes.append(f"metrics present in only one of the two: {', '.join(missing[:5])}")
    largest, where = 0.0, ""
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        if math.isnan(x) and math.isnan(y):
            continue
        diff = abs(x - y) if not (math.isnan(x) or math.isnan(y)) else math.inf
        if diff > largest:
            largest, where = diff, key
    if tol is None:
        status = "not comparable"
        notes.append(f"committed on {_device_kind(committed)}, rerun on {_device_kind(rerun)}")
    elif notes:
        status = "missing metrics"
    elif largest == 0:
        status = "identical"
    elif largest <= tol:
        status = "within tolerance"
    else:
        status = "DIFFERS"
    return Verdict(run, status, tol, largest, where, len(set(a) & set(b)), notes)


def rerun(run_folder: Path, scratch: Path) -> dict:
    """Recompute one run from its params.json into `scratch`; returns the new result."""
    from xstilts import pipeline

    stored = runs.read_json(run_folder / "params.json")
    cfg = {k: v for k, v in stored["all"].items() if k in config.KEYS}
    cfg["runs_dir"] = str(scratch)
    cfg = P.resolve(cfg, where=f"{run_folder / 'params.json'}")
    phase = stored["phase"]
    return {"mlm": pipeline.run_mlm, "intermediate": pipeline.run_intermediate,
            "target": pipeline.run_target}[phase](cfg)


def sample_runs(root: Path, scale: str, *, sample: int, seed: int = 0, phase: str = "target") -> list[Path]:
    folders = sorted(p.parent for p in (root / scale / phase).glob(f"*/{runs.RESULT}"))
    if sample and sample < len(folders):
        folders = sorted(random.Random(seed).sample(folders, sample))
    return folders


def verify(run_folders: list[Path], *, scratch: Path | None = None, echo=print) -> list[Verdict]:
    for folder in run_folders:
        if not (folder / runs.RESULT).exists() or not (folder / "params.json").exists():
            raise P.ParamsError(f"{folder} is not a finished run folder (it needs params.json and "
                                f"{runs.RESULT}); pass folders such as runs/smoke/target/<run>.")
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="xstilts-verify-") as tmp:
        scratch = scratch or Path(tmp)
        for folder in run_folders:
            committed = runs.read_json(folder / runs.RESULT)
            verdict = compare(committed, rerun(folder, scratch), folder.name)
            echo(verdict.line())
            verdicts.append(verdict)
    if verdicts:
        worst = max(verdicts, key=lambda v: v.largest)
        echo(f"{len(verdicts)} runs verified: "
             + ", ".join(f"{sum(v.status == s for v in verdicts)} {s}"
                         for s in ("identical", "within tolerance", "DIFFERS", "not comparable", "missing metrics")
                         if any(v.status == s for v in verdicts))
             + f"; largest |diff| {worst.largest:.6g} ({worst.run} {worst.where})")
    return verdicts
