"""`xstilts status` and `xstilts results` on a tiny grid in a temporary runs dir.

The fast tests write run folders the way the pipeline does (runs.start / runs.finish) with
made-up scores, so every state (done, running, interrupted, failed, missing) can be set up without
training; the slow test runs a real smoke grid and checks the table against its result files.
"""
import csv
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts import results, results_table, runs, status, workflow

GRID = """description: a tiny grid for the status and results tests
analysis: a0_main_table
seeds: {smoke: [0]}
params: {target_max_steps: 30}
grid:
  target_task: [udpos, xnli]
  intermediate_tasks: [[], [mnli]]
runs:
  # the same run as [mnli] -> udpos but for a capped intermediate budget: a twin whose folder
  # name differs only by its hash
  - {target_task: udpos, intermediate_tasks: [mnli], intermediate_max_steps: 20}
"""


def _cli(*args):
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], capture_output=True, text=True, env=env)


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(GRID)
    return path


def _fake_result(cfg, rng):
    """A target result.json as pipeline.run_target writes it, with made-up scores."""
    langs = ["en", "es", "de", "ru", "ja"]
    if cfg["target_task"] == "udpos":
        metric, per = "seqeval_f1", {l: {"f1": rng.uniform(20, 90), "precision": rng.uniform(20, 90),
                                        "recall": rng.uniform(20, 90), "upos_accuracy.accuracy": rng.uniform(20, 90),
                                        "baseline_mft_accuracy": rng.uniform(10, 40)} for l in langs}
        headline = {l: per[l]["f1"] for l in langs}
    else:
        metric, per = "accuracy", {l: {"accuracy": rng.uniform(30, 60), "total": 100} for l in langs}
        headline = {l: per[l]["accuracy"] for l in langs}
    return {"phase": "target", "scale": "smoke", "model": cfg["model"], "seed": cfg["seed"],
            "target_task": cfg["target_task"], "intermediate_tasks": cfg["intermediate_tasks"],
            "intermediate_languages": cfg["intermediate_languages"], "mlm_steps": cfg["mlm_steps"], "metric": metric,
            "per_language": per, "headline": headline, "average": sum(headline.values()) / len(headline),
            "notes": [], "wall_seconds": 1.5}


def _make_runs(grid, root, states):
    """Run folders for the grid's plan; `states` maps a run folder's name prefix to the state to fake."""
    the_plan = workflow.plan([str(grid)], "smoke", str(root))
    rng = random.Random(0)
    made = {}
    for rel, job in the_plan["jobs"].items():
        state = next((s for prefix, s in states.items() if Path(rel).name.startswith(prefix)), "done")
        cfg = dict(job["params"], runs_dir=str(root))
        if state == "missing":
            continue
        d = runs.start(cfg, job["phase"])
        if state == "done":
            result = _fake_result(cfg, rng) if job["phase"] == "target" else {"phase": job["phase"], "checkpoint": "x"}
            runs.finish(d, result, device="cpu")
        elif state == "failed":
            (d / "notebook.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [
                {"output_type": "error", "ename": "DataMissingError", "evalue": "xnli/test-xx.tsv is missing\nsecond line",
                 "traceback": []}]}]}))
        elif state == "interrupted":
            old = time.time() - 3 * 3600
            for p in d.rglob("*"):
                os.utime(p, (old, old))
        made[rel] = state
    return the_plan, made


def test_status_names_each_runs_state_and_the_first_line_of_its_error(grid, tmp_path):
    root = tmp_path / "runs"
    the_plan, made = _make_runs(grid, root, {"xnli-after-none": "missing", "xnli-after-mnli": "failed",
                                            "udpos-after-none": "running"})
    # the twin udpos-after-mnli folders: one done, the other interrupted
    twins = sorted(r for r in the_plan["jobs"] if Path(r).name.startswith("udpos-after-mnli"))
    assert len(twins) == 2
    old = time.time() - 3 * 3600
    (root / twins[1] / runs.RESULT).unlink()
    for p in (root / twins[1]).rglob("*"):
        os.utime(p, (old, old))
    state = status.grid_status([str(grid)], "smoke", str(root))
    by_run = {Path(r["run"]).name.split("-s0-")[0] + ("" if r["run"] != twins[1] else "(twin)"): r for r in state["runs"]}
    assert by_run["xnli-after-none"]["state"] == "missing" and by_run["xnli-after-none"]["next"] == "compute"
    assert by_run["xnli-after-mnli"]["state"] == "failed"
    assert by_run["xnli-after-mnli"]["error"] == "DataMissingError: xnli/test-xx.tsv is missing"
    assert by_run["udpos-after-none"]["state"] == "running"
    assert by_run["udpos-after-mnli(twin)"]["state"] == "interrupted"
    assert by_run["udpos-after-mnli(twin)"]["next"] == "resume"
    assert state["counts"] == {"done": 3, "running": 1, "interrupted": 1, "failed": 1, "missing": 1}
    (analysis,) = state["analyses"]
    assert analysis["analysis"] == "a0_main_table" and analysis["state"].startswith("waiting on 4 of 5 runs")
    out = _cli("status", str(grid), "--scale", "smoke", "--runs-dir", str(root))
    assert out.returncode == 0, out.stderr
    assert "DataMissingError: xnli/test-xx.tsv is missing" in out.stdout and "second line" not in out.stdout
    assert "7 runs at smoke scale" in out.stdout and "1 failed" in out.stdout
    assert "xnli after mnli, en, seed 0, smoke-tiny, smoke, target_max_steps 30" in out.stdout


def test_status_of_a_finished_grid_is_all_done_and_its_analysis_ready(grid, tmp_path):
    root = tmp_path / "runs"
    _make_runs(grid, root, {})
    state = status.grid_status([str(grid)], "smoke", str(root))
    assert state["counts"]["done"] == len(state["runs"]) == 7
    assert {r["next"] for r in state["runs"]} == {"reuse"}
    assert state["analyses"][0]["state"].startswith("ready")
    out_nb = root / "smoke" / "analyses" / "a0_main_table.ipynb"
    out_nb.parent.mkdir(parents=True)
    out_nb.write_text("{}")
    assert status.grid_status([str(grid)], "smoke", str(root))["analyses"][0]["state"] == "done"
    old = time.time() - 3600
    os.utime(out_nb, (old, old))  # older than its inputs: Snakemake reruns it
    assert status.grid_status([str(grid)], "smoke", str(root))["analyses"][0]["state"].startswith(
        "out of date (older than 5 of its 5 runs' results")


def test_results_table_has_one_row_per_run_language_metric_equal_to_the_result_files(grid, tmp_path):
    root = tmp_path / "runs"
    _make_runs(grid, root, {})
    out = _cli("results", str(grid), "--scale", "smoke", "--runs-dir", str(root), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    expected = {}
    for path in (root / "smoke" / "target").glob(f"*/{runs.RESULT}"):
        r = runs.read_json(path)
        for lang, scores in r["per_language"].items():
            for metric, value in scores.items():
                expected[(r["run_dir"], lang, metric)] = value
    assert len(rows) == len(expected) == 3 * 5 * 5 + 2 * 5 * 2  # udpos: 3 runs x 5 languages x 5 metrics; xnli: 2 x 5 x 2
    for row in rows:
        assert float(row["value"]) == pytest.approx(expected[(row["run"], row["language"], row["metric"])], abs=1e-9)
        assert row["scale"] == "smoke" and row["model"] == "smoke-tiny" and row["device"] == "cpu"
    headline = {(r["run"], r["language"]) for r in rows if r["headline"] == "True"}
    assert len(headline) == 5 * 5  # exactly one headline metric per (run, language)
    # the twins: same task, intermediate task, seed and model; `differs` says what tells them apart
    twins = {r["run"]: r["differs"] for r in rows if r["run"].startswith("udpos-after-mnli")}
    assert sorted(twins.values()) == ["intermediate_max_steps 152", "intermediate_max_steps 20"]
    assert all(r["differs"] == "" for r in rows if r["run"].startswith("xnli"))
    for fmt in ("markdown", "json", "text"):
        shown = _cli("results", str(grid), "--scale", "smoke", "--runs-dir", str(root), "--format", fmt)
        assert shown.returncode == 0 and "intermediate_max_steps 20" in shown.stdout, shown.stderr


def test_the_analyses_frame_is_the_tidy_table_pivoted(grid, tmp_path):
    root = tmp_path / "runs"
    _make_runs(grid, root, {})
    # one reader: the analyses' frame is the tidy table pivoted, value for value
    analyses = results.load_results("smoke", str(root))
    tidy = results_table.tidy("smoke", str(root))
    assert len(analyses) == tidy.groupby(["run", "language"]).ngroups
    for _, row in tidy.iterrows():
        match = analyses[(analyses["run"] == row["run"]) & (analyses["language"] == row["language"])]
        assert match.iloc[0][f"m.{row['metric']}"] == row["value"]


def test_params_json_describes_the_run(grid, tmp_path):
    root = tmp_path / "runs"
    _make_runs(grid, root, {})
    descriptions = {runs.read_json(p)["description"] for p in (root / "smoke" / "target").glob("*/params.json")}
    assert "udpos after mnli, en, seed 0, smoke-tiny, smoke, intermediate_max_steps 20, target_max_steps 30" in descriptions
    assert "xnli after no intermediate task, seed 0, smoke-tiny, smoke, target_max_steps 30" in descriptions


def test_status_and_results_need_no_torch(grid, tmp_path):
    root = tmp_path / "runs"
    _make_runs(grid, root, {})
    code = ("import sys; from xstilts import cli; cli.main(['status', %r, '--runs-dir', %r]); "
            "cli.main(['results', %r, '--runs-dir', %r, '--format', 'csv']); "
            "assert 'torch' not in sys.modules, 'torch was imported'") % (str(grid), str(root), str(grid), str(root))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.slow
def test_after_a_smoke_grid_status_is_all_done_and_results_match_the_result_files(tmp_path):
    grid = tmp_path / "quick.yaml"
    grid.write_text("description: two quick smoke runs\nseeds: {smoke: [0]}\nparams: {target_max_steps: 20}\n"
                    "grid:\n  target_task: [udpos, xnli]\n")
    root = tmp_path / "runs"
    ran = _cli("run", str(grid), "--scale", "smoke", "--runs-dir", str(root), "--cores", "1")
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    out = _cli("status", str(grid), "--scale", "smoke", "--runs-dir", str(root), "--format", "json")
    state = json.loads(out.stdout)
    assert state["counts"]["done"] == len(state["runs"]) == 2
    table = _cli("results", str(grid), "--scale", "smoke", "--runs-dir", str(root), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    n_expected = 0
    for path in (root / "smoke" / "target").glob(f"*/{runs.RESULT}"):
        r = runs.read_json(path)
        for lang, scores in r["per_language"].items():
            for metric, value in scores.items():
                if isinstance(value, (int, float)):
                    n_expected += 1
                    (row,) = [x for x in rows if (x["run"], x["language"], x["metric"]) == (r["run_dir"], lang, metric)]
                    assert float(row["value"]) == pytest.approx(value, abs=1e-9)
    assert len(rows) == n_expected > 0


def test_status_says_an_analysis_whose_code_changed_is_out_of_date(grid, tmp_path):
    root = tmp_path / "runs"
    _make_runs(grid, root, {})
    out_nb = root / "smoke" / "analyses" / "a0_main_table.ipynb"
    out_nb.parent.mkdir(parents=True)
    out_nb.write_text("{}")
    code = [Path(f) for f in workflow.plan([str(grid)], "smoke", str(root))["analysis_code"]["a0_main_table"]]
    old = min(f.stat().st_mtime for f in code) - 60
    for r in (root / "smoke").glob("*/*/result.json"):
        os.utime(r, (old, old))
    os.utime(out_nb, (old + 30, old + 30))  # newer than its results, older than its code
    assert status.grid_status([str(grid)], "smoke", str(root))["analyses"][0]["state"].startswith(
        "out of date (its code changed: ")
