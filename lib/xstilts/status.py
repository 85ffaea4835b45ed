"""Where the runs of experiment grids stand: done, running, interrupted, failed or missing.

Read from the run folders alone (no model, no network, no torch): `result.json` (written last,
atomically) means done; an executed notebook holding an error output means failed, and its first
line is the error; a started folder that changed in the last `stale_minutes` is running, an older
one was interrupted (the next `xstilts run` resumes it from its checkpoint). Analyses wait on the
target runs of their grid.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from xstilts import runs, workflow

STATES = ("done", "running", "interrupted", "failed", "missing")
# what the next `xstilts run` does with a run in each state
NEXT = {"done": "reuse", "running": "wait", "interrupted": "resume", "failed": "retry", "missing": "compute"}
_ERROR_LINE = re.compile(r"^\s*(\w+(Error|Exception|Interrupt)|Killed)\b.*$")


def notebook_error(path: Path) -> str | None:
    """'ValueError: ...' of the first error output in an executed notebook, or None."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                value = (out.get("evalue") or "").strip().splitlines()
                return f"{out.get('ename', 'Error')}: {value[0] if value else ''}".rstrip(": ")
    return None


def log_error(path: Path) -> str | None:
    """The last line of a log that names an exception, or None."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    hits = [line.strip() for line in lines if _ERROR_LINE.match(line)]
    return hits[-1] if hits else None


def run_state(folder: Path, *, stale_minutes: float = 60, now: float | None = None) -> dict:
    """{'state', 'error', 'log', 'finished_at', 'wall_seconds'} of one run folder."""
    out = {"state": "missing", "error": None, "log": None, "finished_at": None, "wall_seconds": None}
    result = folder / runs.RESULT
    if result.exists():
        r = runs.read_json(result)
        return dict(out, state="done", finished_at=(r.get("provenance") or {}).get("finished_at"),
                    wall_seconds=r.get("wall_seconds"))
    if not folder.exists():
        return out
    notebook, log = folder / "notebook.ipynb", folder / "log.txt"
    out["log"] = str(notebook if notebook.exists() else log) if (notebook.exists() or log.exists()) else None
    error = (notebook_error(notebook) if notebook.exists() else None) or (log_error(log) if log.exists() else None)
    if error:
        return dict(out, state="failed", error=error)
    touched = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=folder.stat().st_mtime)
    recent = ((now or time.time()) - touched) < stale_minutes * 60
    return dict(out, state="running" if recent else "interrupted")


def grid_status(grid_paths: list[str], scale: str, runs_dir: str | None = None, *,
                stale_minutes: float = 60) -> dict:
    """Every run of the grids' plan with its state and the grids that need it, the counts per
    state, and each analysis: done, out of date, ready (every input done) or waiting on N runs."""
    the_plan = workflow.plan(grid_paths, scale, runs_dir)
    root = Path(the_plan["runs_root"])
    grids_of: dict[str, list[str]] = {}
    for path in grid_paths:
        grid = workflow.load_grid(path)
        for cfg in workflow.grid_runs(grid, scale):
            for rel in workflow.jobs_for([cfg], root):
                grids_of.setdefault(rel, [])
                if grid["name"] not in grids_of[rel]:
                    grids_of[rel].append(grid["name"])
    now = time.time()
    rows = []
    for rel, job in the_plan["jobs"].items():
        state = run_state(root / rel, stale_minutes=stale_minutes, now=now)
        rows.append({"run": rel, "phase": job["phase"], "description": runs.describe(job["params"], job["phase"]),
                     "grids": grids_of.get(rel, []), "next": NEXT[state["state"]], **state})
    done = {r["run"] for r in rows if r["state"] == "done"}
    analyses = []
    for name, needed in the_plan["analyses"].items():
        waiting = [r for r in needed if r not in done]
        output = root / scale / "analyses" / f"{name}.ipynb"
        if waiting:
            state = f"waiting on {len(waiting)} of {len(needed)} runs"
        elif not output.exists():
            state = "ready (every run done; the next `xstilts run` executes it)"
        else:  # Snakemake reruns an analysis whose notebook is older than one of its inputs
            newer = sum((root / r / runs.RESULT).stat().st_mtime > output.stat().st_mtime for r in needed)
            code = [Path(f).name for f in the_plan.get("analysis_code", {}).get(name, [])
                    if Path(f).stat().st_mtime > output.stat().st_mtime]
            if newer:
                state = (f"out of date (older than {newer} of its {len(needed)} runs' results; the next "
                         "`xstilts run` reruns it)")
            elif code:
                state = f"out of date (its code changed: {', '.join(code)}; the next `xstilts run` reruns it)"
            else:
                state = "done"
        analyses.append({"analysis": name, "state": state, "waiting_on": waiting, "notebook": str(output)})
    counts = {s: sum(r["state"] == s for r in rows) for s in STATES}
    return {"scale": scale, "runs_root": str(root), "runs": rows, "counts": counts, "analyses": analyses}


def format_status(status: dict, *, only_pending: bool = False) -> str:
    """One line per run (state, what the next run does, folder, description; failures with their
    error's first line and log), then the counts and the analyses."""
    lines = []
    rows = [r for r in status["runs"] if not (only_pending and r["state"] == "done")]
    width = max((len(r["run"]) for r in rows), default=0)
    for r in rows:
        shared = f"  [{', '.join(r['grids'])}]" if len(r["grids"]) > 1 else ""
        lines.append(f"{r['state']:<11} {r['next']:<7} {r['run']:<{width}}  {r['description']}{shared}")
        if r["error"]:
            lines.append(f"{'':<20}{r['error']}  (log: {r['log']})")
        elif r["state"] in ("running", "interrupted") and r["log"]:
            lines.append(f"{'':<20}log: {r['log']}")
    counts = status["counts"]
    total = sum(counts.values())
    lines.append(f"{total} runs at {status['scale']} scale under {status['runs_root']}: "
                 + ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s] or s in ("done", "missing")))
    for a in status["analyses"]:
        lines.append(f"analysis {a['analysis']}: {a['state']}")
    return "\n".join(lines)
