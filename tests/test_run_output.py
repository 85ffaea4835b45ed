"""`xstilts run` reads well (one line per run, a summary) and its warm kernels give a new kernel's results."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from xstilts import params as P
from xstilts import progress, runs, warm, workflow

QUICK_GRID = """description: three quick smoke runs
seeds: {smoke: [0]}
params: {target_max_steps: 30}
grid:
  target_task: [udpos, xnli, tatoeba]
"""
LINE = re.compile(r"^\d+/3 (udpos|xnli|tatoeba) after none s0: \d+\.\d( in \d+ s| \(reused\))$")


def _job(phase="target", **params):
    base = {"intermediate_tasks": [], "intermediate_languages": ["en"], "mlm_steps": 0, "seed": 0,
            "target_task": "xnli"}
    return {"phase": phase, "params": dict(base, **params)}


def test_describe_says_what_a_run_is():
    assert progress.describe(_job(intermediate_tasks=["mnli"])) == "xnli after mnli s0"
    assert progress.describe(_job()) == "xnli after none s0"
    assert progress.describe(_job(mlm_steps=80, seed=2)) == "xnli after none mlm80 s2"
    assert progress.describe(_job(intermediate_tasks=["mnli"], intermediate_languages=["en", "de"])) == \
        "xnli after mnli (en,de) s0"
    assert progress.describe(_job("intermediate", intermediate_tasks=["mnli", "squad_v1"])) == \
        "mnli+squad_v1 (intermediate) s0"
    assert progress.describe(_job("mlm", mlm_steps=80)) == "mlm 80 steps s0"


def _plan(tmp_path, jobs):
    return {"scale": "smoke", "runs_root": str(tmp_path), "jobs": jobs, "analyses": {}}


def test_one_line_per_reused_finished_and_failed_run(tmp_path):
    jobs = {"smoke/target/a": _job(target_task="udpos"), "smoke/target/b": _job(intermediate_tasks=["mnli"]),
            "smoke/target/c": _job(target_task="tatoeba"), "smoke/intermediate/d": _job("intermediate",
                                                                                     intermediate_tasks=["mnli"])}
    runs.write_json(tmp_path / "smoke/target/a/result.json", {"phase": "target", "average_zero_shot": 37.44})
    lines = []
    shown = progress.Progress(_plan(tmp_path, jobs), out=lambda text, flush: lines.append(text))
    shown.show_reused()
    assert lines == ["1/4 udpos after none s0: 37.4 (reused)"]
    shown.poll()
    assert len(lines) == 1  # nothing else has ended
    runs.write_json(tmp_path / "smoke/target/b/result.json", {"phase": "target", "average_zero_shot": 54.06})
    progress.record(tmp_path / "smoke/target/b/notebook.ipynb", "done", seconds=38.2)
    progress.record(tmp_path / "smoke/target/c/notebook.ipynb", "failed", seconds=3.0,
                    error="ValueError: a bad thing\nmore detail")
    progress.record(tmp_path / "smoke/intermediate/d/notebook.ipynb", "running")
    shown.poll()
    assert lines[1] == "2/4 xnli after mnli s0: 54.1 in 38 s"
    assert lines[2] == "3/4 tatoeba after none s0: FAILED in 3 s"
    assert lines[3:5] == ["    ValueError: a bad thing", "    more detail"]
    assert lines[5].startswith("    executed notebook: ") and lines[5].endswith("smoke/target/c/notebook.ipynb")
    shown.poll()
    assert len(lines) == 6  # each run is reported once
    lines.clear()
    shown.summary(75.0, tmp_path / "_logs/x.log")
    assert lines[0] == "4 runs in 75 s: 1 computed, 1 reused, 1 failed, 1 not run (an upstream run or Snakemake failed)."
    assert "smoke/<phase>/<run>/notebook.ipynb" in lines[1] and "_logs/x.log" in lines[1]


def test_records_of_an_earlier_invocation_are_ignored_and_a_retry_is_reported(tmp_path):
    jobs = {"smoke/target/a": _job()}
    notebook = tmp_path / "smoke/target/a/notebook.ipynb"
    progress.record(notebook, "failed", seconds=1.0, error="OSError: earlier")
    lines = []
    shown = progress.Progress(_plan(tmp_path, jobs), out=lambda text, flush: lines.append(text))
    shown.poll()
    assert lines == []  # that failure was an earlier `xstilts run`'s
    progress.record(notebook, "failed", seconds=2.0, error="OSError: now")
    shown.poll()
    shown.poll()
    assert lines[0] == "1/1 xnli after none s0: FAILED in 2 s" and len(lines) == 3
    runs.write_json(tmp_path / "smoke/target/a/result.json", {"phase": "target", "average_zero_shot": 5.0})
    progress.record(notebook, "done", seconds=3.0)
    shown.poll()
    assert lines[3] == "1/1 xnli after none s0: 5.0 in 3 s"
    assert shown.computed == ["smoke/target/a"] and not shown.failed and not shown.pending


def test_the_summary_says_which_analyses_were_written_and_where(tmp_path):
    from xstilts import paper

    the_plan = dict(_plan(tmp_path, {}), analyses={"a0_main_table": [], "a1_task_scaling_pos": [], "a2_mixed": []})
    notebook = tmp_path / "smoke/analyses/a0_main_table.ipynb"
    lines = []
    shown = progress.Progress(the_plan, ["a0_main_table", "a1_task_scaling_pos"], out=lambda text, flush: lines.append(text))
    progress.record(notebook, "done", seconds=9.0)
    shown.summary(10.0, None)
    # a1 was stale but Snakemake did not rerun it (its inputs' content is unchanged: checksums)
    assert lines[1].startswith("Analyses: 1 written, 2 up to date. ")
    progress.record(tmp_path / "smoke/analyses/a1_task_scaling_pos.ipynb", "failed", seconds=1.0, error="ValueError")
    lines.clear()
    shown.summary(10.0, None)
    assert lines[1].startswith("Analyses: 1 written, 1 up to date, failed: a1_task_scaling_pos. ")
    assert f"Figures in {progress.short(paper.FIGURES / 'smoke')}/, " in lines[1]
    assert "tables and macros in" in lines[1] and str(tmp_path / "smoke/analyses") in lines[1]


def test_a_score_is_the_zero_shot_average_or_the_best_dev_score():
    assert progress.score({"phase": "target", "average_zero_shot": float("nan"), "average": 12.34}) == "12.3"
    assert progress.score({"phase": "intermediate", "train": {"best_dev": 61.25}}) == "dev 61.2"
    assert progress.score({"phase": "mlm", "train": {"best_dev": None}}) == "trained"


def test_an_analysis_older_than_a_result_or_code_file_it_reads_is_stale(tmp_path):
    code = tmp_path / "a0.py"
    code.write_text("")
    the_plan = {"scale": "smoke", "analyses": {"a0": ["smoke/target/a"]}, "analysis_code": {"a0": [str(code)]}}
    result = tmp_path / "smoke/target/a/result.json"
    runs.write_json(result, {})
    assert workflow._stale_analyses(the_plan, tmp_path) == ["a0"]  # never written
    out = tmp_path / "smoke/analyses/a0.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("{}")
    os.utime(result, (time.time() - 60,) * 2)
    os.utime(code, (time.time() - 60,) * 2)
    assert workflow._stale_analyses(the_plan, tmp_path) == []
    os.utime(code, (time.time() + 60,) * 2)  # its code changed
    assert workflow._stale_analyses(the_plan, tmp_path) == ["a0"]
    os.utime(code, (time.time() - 60,) * 2)
    os.utime(result, (time.time() + 60,) * 2)
    assert workflow._stale_analyses(the_plan, tmp_path) == ["a0"]


def test_an_analysis_depends_on_its_notebook_its_module_and_the_shared_analysis_modules():
    the_plan = workflow.plan([str(P.PARAMS_DIR / "experiments" / "a0_main_table.yaml")], "smoke", "/tmp/nowhere")
    names = {Path(f).name for f in the_plan["analysis_code"]["a0_main_table"]}
    assert names == {"a0_main_table.ipynb", "a0_main_table.py", "results.py", "results_table.py", "stats.py", "paper.py",
                     "devcheck.py", "ledger.py", "recipe_sweep.py"}


def test_incomplete_markers_are_seen(tmp_path):
    assert not workflow._incomplete_markers(tmp_path)
    (tmp_path / ".snakemake/incomplete").mkdir(parents=True)
    assert not workflow._incomplete_markers(tmp_path)
    (tmp_path / ".snakemake/incomplete/c21va2U=").write_text("")
    assert workflow._incomplete_markers(tmp_path)


def test_a_run_with_nothing_to_do_does_not_start_snakemake(tmp_path, monkeypatch, capsys):
    grid = tmp_path / "quick.yaml"
    grid.write_text(QUICK_GRID)
    root = tmp_path / "runs"
    for rel in workflow.plan([str(grid)], "smoke", str(root))["jobs"]:
        runs.write_json(root / rel / runs.RESULT, {"phase": "target", "average_zero_shot": 20.0})

    def no_snakemake(*args, **kwargs):
        raise AssertionError("Snakemake was started with nothing to do")

    monkeypatch.setattr(subprocess, "Popen", no_snakemake)
    monkeypatch.setattr(subprocess, "call", no_snakemake)
    assert workflow.run([str(grid)], "smoke", runs_dir=str(root)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "3 runs in the plan, 0 to compute; 0 analyses, 0 to write."
    assert all(LINE.match(line) for line in out[1:4]), out
    assert re.match(r"3 runs in \d+ s: 0 computed, 3 reused, 0 failed\.$", out[4])
    assert len(out) == 6


# ---------------------------------------------------------------------------------- slow: kernels
def _notebook(path: Path, *sources: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return str(path)


STATE = """import json, os, warnings, torch, matplotlib
print(json.dumps({"cwd": os.getcwd(), "env": os.environ.get("XSTILTS_LEAK"), "threads": torch.get_num_threads(),
                  "grad": torch.is_grad_enabled(), "font": matplotlib.rcParams["font.size"],
                  "leaked": "leaked" in globals(), "filters": len(warnings.filters)}))"""
DIRTY = """import os, warnings, torch, matplotlib
os.chdir("/"); os.environ["XSTILTS_LEAK"] = "1"; torch.set_num_threads(2); torch.set_grad_enabled(False)
matplotlib.rcParams["font.size"] = 3.0; leaked = 1; warnings.simplefilter("ignore")"""


def _printed(notebook: str) -> dict:
    return json.loads(nbformat.read(notebook, as_version=4).cells[-1].outputs[0]["text"])


@pytest.mark.slow
def test_a_warm_kernel_forgets_the_last_notebook_and_a_failed_one_is_replaced(tmp_path, monkeypatch):
    for var in warm.THREAD_VARS:  # as Snakemake sets them for a job of the phase rule
        monkeypatch.setenv(var, "1")
    state, dirty = _notebook(tmp_path / "state.ipynb", STATE), _notebook(tmp_path / "dirty.ipynb", DIRTY)
    failing = _notebook(tmp_path / "failing.ipynb", "x = 1", "1 / 0")
    pool = warm.Pool(1, cwd=str(tmp_path), env=dict(os.environ), thread_env=workflow.PHASE_THREAD_ENV)
    monkeypatch.setenv(warm.SOCKET_ENV, pool.socket_path)
    try:
        warm.request(pool.socket_path, state, str(tmp_path / "fresh.ipynb"), {})
        fresh = _printed(str(tmp_path / "fresh.ipynb"))
        assert fresh["threads"] == 1 and fresh["cwd"] == str(tmp_path) and not fresh["leaked"]
        warm.request(pool.socket_path, dirty, str(tmp_path / "dirty-out.ipynb"), {})
        warm.request(pool.socket_path, state, str(tmp_path / "after.ipynb"), {})
        assert _printed(str(tmp_path / "after.ipynb")) == fresh
        counts = [c.execution_count for c in nbformat.read(str(tmp_path / "after.ipynb"), as_version=4).cells]
        assert counts == [c.execution_count for c in nbformat.read(str(tmp_path / "fresh.ipynb"), as_version=4).cells]
        out = tmp_path / "failed" / "notebook.ipynb"
        out.parent.mkdir()
        with pytest.raises(SystemExit, match="ZeroDivisionError: division by zero"):
            workflow.main([failing, str(out)])  # a job, as the Snakefile runs it
        record = json.loads((out.parent / "notebook.job.json").read_text())
        assert record["state"] == "failed" and record["error"] == "ZeroDivisionError: division by zero"
        assert record["notebook"] == str(out) and out.exists()  # the executed notebook holds the traceback
        workflow.main([state, str(tmp_path / "replaced.ipynb")])
        assert _printed(str(tmp_path / "replaced.ipynb")) == fresh
    finally:
        pool.close()


def _untimed(result: dict) -> dict:
    return {k: v for k, v in (result["train"] or {}).items() if not ("_per_s" in k or "seconds" in k)}


@pytest.mark.slow
def test_a_tiny_grid_prints_a_line_per_run_and_warm_results_equal_a_new_kernels(tmp_path):
    grid = tmp_path / "quick.yaml"
    grid.write_text(QUICK_GRID)
    root = tmp_path / "runs"
    cmd = [sys.executable, "-m", "xstilts.cli", "run", str(grid), "--scale", "smoke", "--runs-dir", str(root),
           "--cores", "1"]  # one kernel executes all three runs, one after the other
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "3 runs in the plan, 3 to compute; 0 analyses, 0 to write."
    assert all(LINE.match(line) and "reused" not in line for line in out[1:4]), out
    assert re.match(r"3 runs in [\d a-z]+ s: 3 computed, 0 reused, 0 failed\.$", out[4])
    assert "smoke/<phase>/<run>/notebook.ipynb" in out[5] and "Snakemake's in" in out[5]
    assert len(out) == 6 and "Snakemake" not in done.stderr
    # the run executed last shared its kernel with two others: a new kernel gives the same numbers
    records = {p.parent: json.loads(p.read_text()) for p in root.glob("smoke/target/*/notebook.job.json")}
    last = max(records, key=lambda d: records[d]["at"] + str(records[d]["pid"]))
    cold_root = tmp_path / "cold"
    params_file = tmp_path / "cold.yaml"
    # the plan's params files hold `runs_dir: ..` (relative to their folder: a moved runs folder works)
    params_file.write_text((root / "_params" / f"{last.name}.yaml").read_text().replace(
        "runs_dir: ..", f"runs_dir: {cold_root}"))
    assert f"runs_dir: {cold_root}" in params_file.read_text()
    cold = subprocess.run([sys.executable, "-m", "xstilts.workflow", str(workflow.NOTEBOOKS / "03_target.ipynb"),
                           str(tmp_path / "cold.ipynb"), "-f", str(params_file)], capture_output=True, text=True,
                          timeout=600, env={k: v for k, v in os.environ.items() if k != warm.SOCKET_ENV})
    assert cold.returncode == 0, cold.stderr
    warm_result = runs.read_json(last / runs.RESULT)
    cold_result = runs.read_json(cold_root / "smoke" / "target" / last.name / runs.RESULT)
    assert warm_result["per_language"] == cold_result["per_language"]
    assert _untimed(warm_result) == _untimed(cold_result)
    # nothing left to do: every run reused, Snakemake not started (no new log)
    logs = set((root / "_logs").iterdir())
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and set((root / "_logs").iterdir()) == logs
    assert sum(line.endswith("(reused)") for line in again.stdout.splitlines()) == 3
