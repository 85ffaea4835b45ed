"""What `xstilts run` prints: one line per finished or reused run, the failures, a closing summary.

Each Snakemake job records its state next to its executed notebook, in `<notebook>.job.json`
(`notebook.job.json` in a run folder): `running` (with host and pid), then `done` with its seconds
or `failed` with the error's first lines. The file is written atomically on the runs folder, so
`xstilts run` reads it the same way whether the job ran here or on a SLURM node.
"""
from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path

from xstilts import runs


def job_file(output: str | Path) -> Path:
    return Path(output).with_suffix(".job.json")


def record(output: str | Path, state: str, **info) -> None:
    runs.write_json(job_file(output), dict(info, state=state, host=socket.gethostname(), pid=os.getpid(),
                                           at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))


def read_record(output: Path) -> dict | None:
    try:
        return runs.read_json(job_file(output))
    except (OSError, ValueError):  # absent, or being replaced this instant
        return None


def describe(job: dict) -> str:
    """A run in words: "xnli after mnli s0", "mnli+squad_v1 (intermediate) s0", "mlm 80 steps s0"."""
    p = job["params"]
    langs = f" ({','.join(p['intermediate_languages'])})" if p["intermediate_languages"] != ["en"] else ""
    mlm = f" mlm{p['mlm_steps']}" if p["mlm_steps"] else ""
    if job["phase"] == "mlm":
        return f"mlm {p['mlm_steps']} steps s{p['seed']}"
    if job["phase"] == "intermediate":
        return f"{'+'.join(p['intermediate_tasks'])}{langs}{mlm} (intermediate) s{p['seed']}"
    upstream = "+".join(p["intermediate_tasks"]) + langs if p["intermediate_tasks"] else "none"
    return f"{p['target_task']} after {upstream}{mlm} s{p['seed']}"


def score(result: dict) -> str:
    """A finished run's headline: the zero-shot average of a target run, the best dev score of an intermediate one."""
    if result.get("phase") == "target":
        value = result.get("average_zero_shot")
        if value is None or math.isnan(value):
            value = result.get("average")
        return f"{value:.1f}"
    best = (result.get("train") or {}).get("best_dev")
    return f"dev {best:.1f}" if best is not None else "trained"


def seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{int(s // 60)} min {s % 60:.0f} s"


def short(path: Path) -> str:
    """A path relative to the working directory when it is inside it (what a user can paste)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Progress:
    """Prints a line when a run of the plan is reused or finishes, and the summary at the end."""

    def __init__(self, the_plan: dict, stale_analyses: list[str] = (), out=print):
        self.plan, self.out = the_plan, out
        self.root = Path(the_plan["runs_root"])
        self.jobs = the_plan["jobs"]
        self.reused = [rel for rel in self.jobs if (self.root / rel / runs.RESULT).exists()]
        self.pending = [rel for rel in self.jobs if rel not in set(self.reused)]
        self.stale_analyses = list(stale_analyses)
        # a record left by an earlier `xstilts run` says nothing about this one
        self.earlier = {rel: read_record(self._notebook(rel)) for rel in self.pending}
        self.earlier.update({a: read_record(self._analysis(a)) for a in self.stale_analyses})
        self.computed: list[str] = []
        self.failed: dict[str, dict] = {}
        self.number: dict[str, int] = {}

    def _notebook(self, rel: str) -> Path:
        return self.root / rel / "notebook.ipynb"

    def _analysis(self, name: str) -> Path:
        return self.root / self.plan["scale"] / "analyses" / f"{name}.ipynb"

    def _new_record(self, key: str, notebook: Path) -> dict | None:
        rec = read_record(notebook)
        return None if rec is None or rec == self.earlier.get(key) else rec

    def _line(self, rel: str, text: str) -> None:
        number = self.number.setdefault(rel, len(self.number) + 1)
        self.out(f"{number}/{len(self.jobs)} {describe(self.jobs[rel])}: {text}", flush=True)

    def show_reused(self) -> None:
        for rel in self.reused:
            self._line(rel, f"{score(runs.read_json(self.root / rel / runs.RESULT))} (reused)")

    def poll(self) -> None:
        for rel in self.pending + list(self.failed):  # a failed job may be retried (a profile's `retries`)
            rec = self._new_record(rel, self._notebook(rel))
            if rec is None or rec["state"] == "running" or rec == self.failed.get(rel):
                continue
            took = f" in {seconds(rec['seconds'])}" if "seconds" in rec else ""
            if rec["state"] == "done" and (self.root / rel / runs.RESULT).exists():
                self.failed.pop(rel, None)
                self.computed.append(rel)
                self._line(rel, f"{score(runs.read_json(self.root / rel / runs.RESULT))}{took}")
            elif rec["state"] == "failed":
                self.failed[rel] = rec
                self._line(rel, f"FAILED{took}")
                for line in rec.get("error", "").splitlines()[:4]:
                    self.out(f"    {line}", flush=True)
                self.out(f"    executed notebook: {short(self._notebook(rel))}", flush=True)
            else:
                continue
            if rel in self.pending:
                self.pending.remove(rel)

    def analysis_states(self) -> dict[str, str]:
        """Each analysis of the plan: "written", "up to date", "not run" or "failed". An analysis
        older than its inputs that Snakemake did not rerun is up to date: Snakemake also compares
        checksums, so an input rewritten with the same content (a touched file) reruns nothing."""
        states = {}
        for name in self.plan["analyses"]:
            rec = self._new_record(name, self._analysis(name))
            if name not in self.stale_analyses:
                states[name] = "up to date"
            elif rec is None:
                states[name] = "not run" if (self.pending or self.failed) else "up to date"
            else:
                states[name] = "written" if rec["state"] == "done" else "failed"
        return states

    def summary(self, wall: float, snakemake_log: Path | None, *, interrupted: bool = False) -> None:
        analyses = self.analysis_states()
        not_run = len(self.pending)
        parts = [f"{len(self.computed)} computed", f"{len(self.reused)} reused", f"{len(self.failed)} failed"]
        if not_run:
            parts.append(f"{not_run} not run ({'interrupted' if interrupted else 'an upstream run or Snakemake failed'})")
        self.out(f"{len(self.jobs)} runs in {seconds(wall)}: {', '.join(parts)}.", flush=True)
        if analyses:
            from xstilts import paper

            scale = self.plan["scale"]
            failed = [a for a, s in analyses.items() if s == "failed"]
            not_run_analyses = [a for a, s in analyses.items() if s == "not run"]
            written = sum(s == "written" for s in analyses.values())
            state = f"{written} written, {sum(s == 'up to date' for s in analyses.values())} up to date"
            if failed:
                state += f", failed: {', '.join(failed)}"
            if not_run_analyses:
                state += f", not run: {', '.join(not_run_analyses)}"
            self.out(f"Analyses: {state}. Figures in {short(paper.FIGURES / scale)}/, tables and macros in "
                     f"{short(paper.GENERATED / scale)}/, executed analysis notebooks in "
                     f"{short(self.root / scale / 'analyses')}/.", flush=True)
        logs = f"Logs: {short(self.root / self.plan['scale'])}/<phase>/<run>/notebook.ipynb (executed notebooks)"
        self.out(logs + (f", Snakemake's in {short(snakemake_log)}." if snakemake_log else "."), flush=True)
