"""Kill `xstilts run` in the middle of a grid, rerun it: finished runs are reused, nothing is lost."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

GRID = """description: three quick smoke runs
seeds: {smoke: [0]}
params: {target_max_steps: 30}
grid:
  target_task: [udpos, xnli, tatoeba]
"""


def _results(root: Path):
    return {p: p.stat().st_mtime_ns for p in root.glob("smoke/target/*/result.json")}


def test_killed_grid_resumes_and_reuses_finished_runs(tmp_path):
    grid = tmp_path / "quick.yaml"
    grid.write_text(GRID)
    root = tmp_path / "runs"
    cmd = [sys.executable, "-m", "xstilts.cli", "run", str(grid), "--scale", "smoke", "--runs-dir", str(root),
           "--cores", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while not _results(root) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: snakemake, papermill, kernels
    proc.wait()
    before = _results(root)
    assert 1 <= len(before) < 3, "the grid should have been killed part-way"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    after = _results(root)
    assert len(after) == 3
    for path, mtime in before.items():
        assert after[path] == mtime  # finished runs were reused, not recomputed
    assert all((p.parent / "notebook.ipynb").exists() for p in after)  # executed notebooks kept as logs
