"""Kill `xstilts run` with SIGKILL at random points of a small smoke grid (one chain: MLM ->
intermediate -> target), rerun it, and compare every result.json metric and every saved model
with an uninterrupted run: nothing lost, nothing different.

`pytest -m slow` runs 2 trials through `xstilts run` (Snakemake + papermill); `pytest -m resilience`
(or `make resilience`) runs 20 through the pipeline API (`pipeline.run_target` computes its upstream
MLM and intermediate runs in the same process: the same run folders and checkpoints, several times
cheaper per trial on 2 cores than a Snakemake job with a papermill kernel per phase) and writes a summary (kills per phase, all equal
or not) to $XSTILTS_RESILIENCE_REPORT (default: the test's tmp folder), printed with `-s`, after
every trial.
"""
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

# small step counts and a checkpoint every 5 steps, so kills land between checkpoints and resumes
# really restore a mid-training state (MLM masking generator included)
GRID = """description: kill-and-resume harness, seconds per job (MLM -> intermediate -> target)
seeds: {smoke: [0]}
params: {mlm_steps: 40, mlm_batch_size: 16, intermediate_tasks: [mnli], intermediate_max_steps: 20,
         target_max_steps: 15, target_languages: [en, es, ru], max_eval_examples: 60, eval_every: 10,
         eval_examples: 40, checkpoint_every: 3}
grid: {target_task: [udpos]}
"""
# what may differ between two runs of the same thing: timings and provenance
_VOLATILE = {"provenance", "wall_seconds", "eval_examples_per_s", "train_seconds", "train_examples_per_s",
             "train_tokens_per_s", "device_seconds", "energy_joules"}  # the last two: the cost ledger's clock


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _outcome(root: Path) -> dict:
    """Every run's result (without timings) and the hash of every saved model file."""
    out = {}
    for result in sorted(root.glob("smoke/*/*/result.json")):
        run = result.parent
        out[str(run.relative_to(root))] = _strip(json.loads(result.read_text()))
        for weights in sorted(run.glob("*/model.safetensors")):
            out[str(weights.relative_to(root))] = hashlib.sha256(weights.read_bytes()).hexdigest()
    return out


def _cli(grid: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xstilts.cli", "run", str(grid), "--scale", "smoke",
                             "--runs-dir", str(root), "--cores", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


class _Forked:
    """`pipeline.run_target` in a forked child of a process that imported torch and transformers
    once (it never ran a torch op, so no thread pool is forked): a real process that SIGKILL ends
    at any point, without paying the imports (30 s on a loaded 2-core machine) for every start."""

    def __init__(self, grid: Path, root: Path):
        from xstilts import params, pipeline  # noqa: F401  (imported before the fork, on purpose)

        spec = yaml.safe_load(grid.read_text())
        values = dict(spec["params"], target_task=spec["grid"]["target_task"][0], seed=0, scale="smoke",
                      runs_dir=str(root))
        root.mkdir(parents=True, exist_ok=True)
        self.pid = os.fork()
        if self.pid == 0:  # the child
            code = 1
            try:
                os.setsid()
                with open(root / "harness.log", "a") as log:
                    os.dup2(log.fileno(), 1)
                    os.dup2(log.fileno(), 2)
                    pipeline.run_target(params.resolve(values))
                code = 0
            except BaseException:  # noqa: BLE001 (the child reports and exits; it must never return)
                import traceback
                traceback.print_exc()
            finally:
                os._exit(code)
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode


def _start(grid: Path, root: Path, via: str):
    return _cli(grid, root) if via == "cli" else _Forked(grid, root)


def _to_end(grid: Path, root: Path, via: str) -> int:
    proc = _start(grid, root, via)
    return proc.wait()


def _in_progress(root: Path) -> list[str]:
    """Phases started (params.json written) but not finished at the kill, with resume state or not."""
    busy = []
    for params in sorted(root.glob("smoke/*/*/params.json")):
        run = params.parent
        if not (run / "result.json").exists():
            busy.append(f"{run.parent.name}" + (" (checkpoint on disk)" if (run / "checkpoint.pt").exists() else ""))
    return busy


def _uninterrupted(tmp: Path, grid: Path, via: str) -> tuple[dict, float]:
    root = tmp / "reference"
    started = time.perf_counter()
    assert _to_end(grid, root, via) == 0, (root / "harness.log").read_text()[-3000:] if (root / "harness.log").exists() else ""
    return _outcome(root), time.perf_counter() - started


def kill_and_resume_trials(tmp: Path, n_trials: int, *, via: str, seed: int = 0, report=None) -> dict:
    grid = tmp / "killgrid.yaml"
    grid.write_text(GRID)
    if via == "python":
        from xstilts import pipeline  # noqa: F401  (the imports must not count in the kill window)
    reference, seconds = _uninterrupted(tmp, grid, via)
    assert any(k.startswith("smoke/mlm/") and k.endswith("model.safetensors") for k in reference), reference.keys()
    rng = random.Random(seed)
    trials = []
    for i in range(n_trials):
        root = tmp / f"trial{i}"
        at = rng.uniform(0.5, 0.95 * seconds)
        proc = _start(grid, root, via)
        time.sleep(at)
        finished_before = proc.poll() is not None
        busy = _in_progress(root)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: CLI, Snakemake, papermill, kernels
        except ProcessLookupError:  # it had finished
            pass
        proc.wait()
        n_done = len(list(root.glob("smoke/*/*/result.json")))
        rerun_exit = _to_end(grid, root, via)
        outcome = _outcome(root)
        trials.append({"trial": i, "kill_at_s": round(at, 1), "finished_before_kill": finished_before,
                       "in_progress": busy, "results_before_kill": n_done, "rerun_exit": rerun_exit,
                       "equal": outcome == reference,
                       "differs": sorted(k for k in set(outcome) | set(reference) if outcome.get(k) != reference.get(k))})
        summary = _summary(trials, seconds, via, n_trials)
        if report:
            report(summary)
        shutil.rmtree(root, ignore_errors=True)  # saved models: keep the disk use of 20 trials small
    return summary


def _summary(trials: list[dict], seconds: float, via: str, n_trials: int) -> dict:
    phases = {}
    for t in trials:
        where = ", ".join(t["in_progress"]) or "between phases (process start-up, loading, planning)"
        phases[where] = phases.get(where, 0) + 1
    return {"via": via, "trials_done": len(trials), "trials_planned": n_trials,
            "reference_seconds": round(seconds, 1), "kills_by_phase": phases,
            "all_equal": all(t["equal"] and t["rerun_exit"] == 0 for t in trials), "trials": trials}


def _reporter(tmp: Path):
    path = Path(os.environ.get("XSTILTS_RESILIENCE_REPORT") or tmp / "resilience.json")

    def report(summary: dict) -> None:
        path.write_text(json.dumps(summary, indent=1))
        print(json.dumps({k: v for k, v in summary.items() if k != "trials"}), f"(report: {path})", flush=True)
    return report


@pytest.mark.slow
def test_two_kills_resume_to_identical_results(tmp_path):
    summary = kill_and_resume_trials(tmp_path, 2, via="cli", seed=1, report=_reporter(tmp_path))
    assert summary["all_equal"], summary["trials"]


@pytest.mark.resilience
def test_twenty_kills_resume_to_identical_results(tmp_path):
    summary = kill_and_resume_trials(tmp_path, 20, via="python", seed=0, report=_reporter(tmp_path))
    assert summary["all_equal"], summary["trials"]
