"""Parameter validation: every bad input fails before compute, with a message naming the fix."""
import pytest

from xstilts import params as P
from xstilts import config, runs, workflow


def test_defaults_resolve_at_every_scale():
    for scale in ("smoke", "offline", "full"):
        cfg = P.resolve({"scale": scale})
        assert cfg["scale"] == scale
        assert cfg["source"] == {"smoke": "smoke", "offline": "mirror", "full": "hub"}[scale]
        assert set(cfg) == set(config.KEYS)


def test_full_scale_uses_paper_hyperparameters():
    cfg = P.resolve({"scale": "full"})
    assert (cfg["learning_rate"], cfg["intermediate_batch_size"], cfg["target_grad_accum"]) == (1e-5, 4, 8)
    assert cfg["warmup_ratio"] == 0.1 and cfg["max_grad_norm"] == 1.0 and cfg["weight_decay"] == 0.01


@pytest.mark.parametrize("values, message", [
    ({"learning_rat": 0.1}, "Unknown parameter(s) 'learning_rat'"),
    ({"seed": "zero"}, "'seed' must be int"),
    ({"seed": True}, "'seed' must be int"),
    ({"intermediate_tasks": "mnli"}, "must be a list of strings"),
    ({"target_task": "xnlii"}, "Unknown target task 'xnlii'"),
    ({"intermediate_tasks": ["xnli"]}, "'xnli' is a target task, not an intermediate task"),
    ({"intermediate_tasks": ["xnlx"]}, "Unknown intermediate task 'xnlx'"),
    ({"target_task": "xnli", "target_languages": ["en", "qq"]}, "qq are not available for xnli"),
    ({"model": "not-a-model"}, "Unknown model 'not-a-model'"),
    ({"scale": "huge"}, "Unknown scale 'huge'"),
    ({"multitask_sampling": "random"}, "is not one of uniform, proportional"),
])
def test_bad_values_are_rejected_with_a_clear_message(values, message):
    with pytest.raises(P.ParamsError) as err:
        P.resolve(values)
    assert message in str(err.value)


def test_every_problem_is_named_in_one_message():
    # pydantic collects every field error; the user fixes them all in one round, not one per run
    with pytest.raises(P.ParamsError) as err:
        P.resolve({"target_epochs": -1, "eval_batch_size": 0, "device": "gpu"})
    text = str(err.value)
    for part in ("'target_epochs' = -1.0 is out of range", "'eval_batch_size' = 0 is out of range",
                 "'device' = 'gpu' is not one of auto, cpu, cuda"):
        assert part in text
    assert "Traceback" not in text and "pydantic" not in text  # the project's sentences, not pydantic's


def test_the_configuration_is_strict_and_typed():
    # no silent coercion: "3" is not 3 and True is not 1; an int for a float becomes a float
    for bad in ({"seed": "3"}, {"target_batch_size": True}, {"learning_rate": "1e-5"}, {"freeze_embeddings": 1}):
        with pytest.raises(P.ParamsError, match="must be"):
            P.resolve(bad)
    cfg = P.resolve({"target_epochs": 3, "learning_rate": 1})
    assert cfg["target_epochs"] == 3.0 and type(cfg["target_epochs"]) is float and type(cfg["learning_rate"]) is float
    # the validated model is frozen, and it forbids keys it does not define
    model = config.RunConfig.model_validate(P.defaults("smoke"))
    with pytest.raises(Exception):
        model.seed = 3
    with pytest.raises(config.ConfigError, match="Unknown parameter 'sed'"):
        config.validate({**P.defaults("smoke"), "sed": 1})


def test_notebook_namespace_rejects_unknown_injected_names():
    namespace = {"scale": "smoke", "target_task": "udpos", "seeed": 3, "In": [], "_": None, "cfg": {"x": 1}}
    with pytest.raises(P.ParamsError, match="seeed"):
        P.from_namespace(namespace, "target")
    del namespace["seeed"]
    assert P.from_namespace(namespace, "target")["target_task"] == "udpos"


def test_run_hash_depends_on_defining_parameters_only():
    a = P.resolve({"target_task": "udpos", "intermediate_tasks": ["mnli"]})
    b = dict(a, threads=7, device="cpu", checkpoint_every=3)  # execution-only keys
    assert runs.run_id(a, "target") == runs.run_id(b, "target")
    c = dict(a, seed=1)
    assert runs.run_id(a, "target") != runs.run_id(c, "target")
    # an intermediate run is shared by every target task
    d = dict(a, target_task="xnli")
    assert runs.run_id(a, "intermediate") == runs.run_id(d, "intermediate")
    assert runs.run_id(a, "target") != runs.run_id(d, "target")
    # intermediate-only hyperparameters do not split the no-intermediate baseline
    e = P.resolve({"target_task": "udpos"})
    f = dict(e, intermediate_epochs=9.0)
    assert runs.run_id(e, "target") == runs.run_id(f, "target")


def test_every_grid_expands_and_validates_at_every_scale():
    for path in sorted((P.PARAMS_DIR / "experiments").glob("*.yaml")):
        grid = workflow.load_grid(path)
        for scale in ("smoke", "offline", "full"):
            cfgs = workflow.grid_runs(grid, scale)
            # empty only for an analysis-only grid, or one that runs no seeds at this scale on purpose
            # (the offline recipe sweep: `seeds: {smoke: [], full: []}`)
            assert cfgs or ("grid" not in grid and "runs" not in grid) or (grid.get("seeds") or {}).get(scale) == [], \
                (path.name, scale)


def test_grid_with_unknown_key_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {target_task: [udpos]}\nseed: [0]\n")
    with pytest.raises(P.ParamsError, match="Unknown key"):
        workflow.load_grid(bad)
    bad.write_text("grid: {target_task: [udpos], tagret: [1]}\n")
    with pytest.raises(P.ParamsError, match="tagret"):
        workflow.grid_runs(workflow.load_grid(bad), "smoke")


def test_plan_shares_intermediate_runs_across_targets(tmp_path):
    the_plan = workflow.plan([str(P.PARAMS_DIR / "experiments" / "a0_main_table.yaml")], "smoke", str(tmp_path))
    inter = [r for r, j in the_plan["jobs"].items() if j["phase"] == "intermediate"]
    targets = [j for j in the_plan["jobs"].values() if j["phase"] == "target"]
    assert len(targets) > len(inter) > 0
    uses = [j["upstream"] for j in targets if j["upstream"]]
    assert all(u in the_plan["jobs"] for u in uses)
    assert len(set(uses)) < len(uses)  # several targets reuse one intermediate checkpoint


def test_smoke_mlm_run_is_trained_once_for_the_main_table_and_question_e(tmp_path):
    grids = [str(P.PARAMS_DIR / "experiments" / f"{g}.yaml") for g in ("a0_main_table", "a5_intermediate_vs_mlm")]
    the_plan = workflow.plan(grids, "smoke", str(tmp_path))
    assert [j["phase"] for j in the_plan["jobs"].values()].count("mlm") == 1


def test_notebook_job_command_line_reads_params_file_then_p_overrides(tmp_path, monkeypatch):
    params_file = tmp_path / "p.yaml"
    params_file.write_text("scale: smoke\nseed: 0\n")
    seen = {}
    monkeypatch.setattr(workflow, "execute_notebook", lambda nb, out, parameters: seen.update(
        nb=nb, out=out, parameters=parameters))
    monkeypatch.chdir(tmp_path)  # the job records its state beside its output (out.job.json)
    monkeypatch.delenv("XSTILTS_WARM_SOCKET", raising=False)
    workflow.main(["in.ipynb", "out.ipynb", "-f", str(params_file), "-p", "seed", "3", "-p", "runs_dir", "/x y"])
    assert seen == {"nb": "in.ipynb", "out": "out.ipynb", "parameters": {"scale": "smoke", "seed": 3, "runs_dir": "/x y"}}


def test_languages_are_chosen_by_data_source_not_by_scale():
    from xstilts import phases, tasks

    task = tasks.get_task("udpos")
    assert task.get("mirror_languages") and set(task["mirror_languages"]) < set(task["languages"])
    # the full scale read from a local mirror evaluates on the languages the mirror has
    full_from_mirror = P.resolve({"scale": "full", "source": "mirror", "target_task": "udpos"})
    assert phases.target_languages(full_from_mirror) == task["mirror_languages"]
    assert phases.target_languages(P.resolve({"scale": "full", "target_task": "udpos"})) == task["languages"]
    assert phases.target_languages(P.resolve({"scale": "offline", "target_task": "udpos"})) == task["mirror_languages"]
    with pytest.raises(P.ParamsError, match="from the mirror source"):
        P.resolve({"scale": "full", "source": "mirror", "target_task": "udpos",
                   "target_languages": [next(l for l in task["languages"] if l not in task["mirror_languages"])]})
