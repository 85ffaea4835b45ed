"""What a phase notebook does when it runs: its phase, an upstream run it lacks, and one line saying which.

Under Snakemake every upstream run is finished before a notebook starts. Run on its own
(`papermill notebooks/03_target.ipynb out.ipynb -p seed 3`), a notebook may need an upstream run
nobody has computed yet: it is computed by executing the upstream phase's own notebook into that
run's folder, so its folder holds an executed `notebook.ipynb` like every other run. The notebook
then prints where its run lives and whether it was reused or computed now; nbval compares that
line through a sanitiser (notebooks/nbval_sanitize.cfg) that maps both words to one token.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from xstilts import params as P
from xstilts import config, phases, pipeline, runs

NOTEBOOKS = P.REPO_ROOT / "notebooks"
RUN = {"mlm": pipeline.run_mlm, "intermediate": pipeline.run_intermediate, "target": pipeline.run_target}


def execute_upstream(cfg: dict, phase: str) -> list[str]:
    """The line saying where the phase's upstream run lives, computing it first through its own
    notebook when it is missing. The line reads the same either way, but for the word "reused" or
    "computed now", which nbval's sanitiser maps to one token: a notebook executed on an empty runs
    folder and one executed after `make smoke` print the same."""
    up = phases.upstream_run(cfg, phase)
    if up is None:
        return []
    d = runs.run_dir(cfg, up)
    if (done := runs.finished(d)):
        return [_upstream_line(up, d, "reused", done)]
    d.mkdir(parents=True, exist_ok=True)
    values = {k: v for k, v in cfg.items() if k in config.KEYS}
    values["runs_dir"] = str(runs.runs_root(cfg).resolve())
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(values, f, sort_keys=True)
    try:
        done = subprocess.run([sys.executable, "-m", "xstilts.workflow", str(NOTEBOOKS / phases.get(up).notebook),
                               str(d / "notebook.ipynb"), "-f", f.name], capture_output=True, text=True)
    finally:
        Path(f.name).unlink(missing_ok=True)
    if done.returncode != 0 or not runs.finished(d):
        from xstilts import status

        error = status.notebook_error(d / "notebook.ipynb") or (done.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"The upstream {up} run this notebook needs failed: {error}. "
                           f"Its executed notebook: {d / 'notebook.ipynb'}")
    return [_upstream_line(up, d, "computed now", runs.finished(d))]


def _upstream_line(up: str, d: Path, how: str, result: dict) -> str:
    finished_at = (result or {}).get("provenance", {}).get("finished_at", "?")
    return f"upstream {up} run {_shown(d)}: {how} (finished {finished_at}; {phases.get(up).notebook})"


def _shown(path: Path) -> str:
    """A run path as a notebook shows it: relative to the repository when inside it (a stored
    output names no machine's folders)."""
    try:
        return str(Path(path).resolve().relative_to(P.REPO_ROOT))
    except ValueError:
        return str(path)


def run(phase: str, cfg: dict) -> dict:
    """Run the phase (reusing a finished run) and print where it lives and whether it was reused."""
    lines = execute_upstream(cfg, phase) if phases.trains(cfg, phase) else []
    if not phases.trains(cfg, phase):
        result = RUN[phase](cfg)
        lines.append(f"{phase}: nothing to train (the upstream checkpoint is used as is)")
    else:
        d = runs.run_dir(cfg, phase)
        reused = runs.finished(d) is not None
        result = RUN[phase](cfg)
        finished_at = (runs.finished(d) or {}).get("provenance", {}).get("finished_at", "?")
        lines.append(f"{phase} run {_shown(d)}: {'reused' if reused else 'computed now'} (finished {finished_at}; "
                     f"{cfg['scale']} scale, params/scales/{cfg['scale']}.yaml)")
    print("\n".join(lines))
    return result
