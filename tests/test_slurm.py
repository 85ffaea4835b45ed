"""A smoke grid submitted through `--profile profiles/slurm` to a real (single-node, loopback)
SLURM cluster gives exactly the results of the same grid run locally.

The cluster (tests/slurm_loopback.py) needs root and Debian's slurmctld, slurmd, slurm-client and
munge; without them the test skips, saying why. CI installs them and sets XSTILTS_REQUIRE_SLURM=1,
which turns that skip into a failure.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import slurm_loopback
from xstilts import cli, verify, workflow

REPO = Path(__file__).resolve().parents[1]
# two target runs, one after an intermediate run (so one sbatch job waits for another): 3 jobs
GRID = """description: SLURM smoke grid (tests/test_slurm.py)
seeds: {smoke: [0]}
params: {target_task: udpos, intermediate_max_steps: 20, target_max_steps: 20}
grid:
  intermediate_tasks: [[], [mnli]]
"""
N_JOBS = 3
# the test cluster is one 2-CPU node with 2 GB and no accounting database: the profile's GPU-sized
# requests are replaced as a cluster user would (after `--`), and job states are read with squeue
SITE_ARGS = ["--default-resources", "runtime=10", "mem_mb=400", "cpus_per_task=1",
             "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2"]
TIMING = re.compile(r"(_seconds|_per_s)$")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        cluster = slurm_loopback.start(tmp_path_factory.mktemp("slurm"))
    except slurm_loopback.Unavailable as err:
        if os.environ.get("XSTILTS_REQUIRE_SLURM") == "1":
            pytest.fail(f"SLURM is required here (XSTILTS_REQUIRE_SLURM=1) but cannot start: {err}")
        pytest.skip(f"SLURM cannot start here: {err}")
    yield cluster
    cluster.stop()


def _xstilts_run(grid: Path, runs_dir: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "xstilts.cli", "run", str(grid), "--scale", "smoke", "--runs-dir", str(runs_dir),
           *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _without_timings(value):
    """A result with provenance and every wall-clock figure (*_seconds, *_per_s) left out."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "provenance" and not TIMING.search(k)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _results(root: Path) -> dict:
    return {str(p.relative_to(root)): _without_timings(json.loads(p.read_text()))
            for p in root.glob("smoke/*/*/result.json")}


def test_arguments_after_double_dash_go_to_snakemake(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(workflow, "run", lambda grids, scale, **kw: seen.update(kw, grids=grids) or 0)
    assert cli.main(["run", "a0_main_table", "--profile", "profiles/slurm", "--", *SITE_ARGS]) == 0
    assert seen["grids"] == ["a0_main_table"] and seen["profile"] == "profiles/slurm"
    assert seen["extra"] == SITE_ARGS
    with pytest.raises(SystemExit):
        cli.main(["check", "a0_main_table", "--", "--dry-run"])
    assert "only `xstilts run` accepts them" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_grid_through_sbatch_equals_local_run(cluster, tmp_path):
    grid = tmp_path / "slurm_smoke.yaml"
    grid.write_text(GRID)
    env = dict(cluster.env, PYTHONPATH=os.pathsep.join([str(REPO / "lib"), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "xstilts.cli", "smoke-model"], env=env, check=True, capture_output=True)

    _xstilts_run(grid, tmp_path / "local", env, "--cores", "2")
    # --verbose: Snakemake's own output (with the plugin's "submitted with SLURM jobid" lines) to the terminal
    done = _xstilts_run(grid, tmp_path / "slurm", env, "--verbose", "--profile", str(REPO / "profiles" / "slurm"),
                        "--", *SITE_ARGS)

    log = done.stdout + done.stderr
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    print("\n".join(line for line in log.splitlines() if "SLURM jobid" in line))
    assert len(set(submitted)) == N_JOBS, log[-3000:]
    for job_id in submitted:  # slurmctld ran each of them to completion
        info = subprocess.run(["scontrol", "show", "job", job_id], env=cluster.env, capture_output=True, text=True)
        assert "JobState=COMPLETED" in info.stdout, info.stdout + info.stderr

    local, slurm = _results(tmp_path / "local"), _results(tmp_path / "slurm")
    assert len(local) == N_JOBS and sorted(slurm) == sorted(local)
    for run, result in local.items():
        assert verify.flatten_metrics(result), run  # the comparison below sees metrics
        assert slurm[run] == result, run  # every metric, dev curve and step count, exactly
