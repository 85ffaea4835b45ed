"""Task recipes (tasks.yaml `recipe:`): every full-scale run gets the paper's values (study.md),
and smoke/offline runs keep exactly the parameters and hashes they had before recipes existed."""
import json
from pathlib import Path

import pytest

from xstilts import params as P
from xstilts import config, phases, recipes, runs, tasks, workflow

FIXTURE = Path(__file__).parent / "fixtures" / "run_hashes_smoke_offline.json"
GRIDS = sorted((P.PARAMS_DIR / "experiments").glob("*.yaml"))

# study.md, "Hyperparameters from jiant's X-STILTs scripts": the numbers typed in from the paper's
# description, not read from tasks.yaml, so a wrong recipe fails here
PAPER_TARGET = {  # task: (epochs, batch, grad accumulation, length key, length)
    "udpos": (10, 4, 8, "max_length", 256), "panx": (10, 4, 8, "max_length", 256),
    "xnli": (2, 4, 8, "max_length", 256), "pawsx": (5, 4, 8, "max_length", 256),
    "xquad": (2, 4, 4, "max_length_qa", 384), "mlqa": (2, 4, 4, "max_length_qa", 384),
    "tydiqa": (2, 4, 4, "max_length_qa", 384),
}
PAPER_RETRIEVAL_LENGTH = 512
PAPER_INTERMEDIATE = {"intermediate_epochs": 3, "intermediate_batch_size": 4}
PAPER_EVAL = {"eval_every": 1000, "eval_examples": 500, "early_stopping_patience": 30}
PAPER_OPTIMISER = {"learning_rate": 1e-5, "adam_epsilon": 1e-8, "weight_decay": 0.01, "warmup_ratio": 0.1,
                   "max_grad_norm": 1.0}


def _grid_overrides(grid: dict) -> set[str]:
    """Keys a grid sets itself at full scale (grids may override recipes)."""
    at = (grid.get("scales") or {}).get("full", {})
    keys = set(grid.get("params") or {}) | set(at.get("params") or {})
    for combo in (at["runs"] if "runs" in at else grid.get("runs")) or []:
        keys |= set(combo)
    return keys - {"target_task", "intermediate_tasks"}


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.stem)
def test_every_full_scale_run_gets_the_papers_values(path):
    grid = workflow.load_grid(path)
    cfgs = workflow.grid_runs(grid, "full")
    overridden = _grid_overrides(grid)
    for cfg in cfgs:
        what = f"{path.stem}: {cfg['target_task']} after {cfg['intermediate_tasks']}"
        for key, value in {**PAPER_OPTIMISER, **PAPER_EVAL}.items():
            assert cfg[key] == value, (what, key)
        assert cfg["precision"] == "bf16" and cfg["long_sentences"] == "window", what
        if cfg["target_task"] in PAPER_TARGET:
            epochs, batch, accum, length_key, length = PAPER_TARGET[cfg["target_task"]]
            assert (cfg["target_epochs"], cfg["target_batch_size"], cfg["target_grad_accum"]) == \
                   (epochs, batch, accum), what
            assert cfg[length_key] == length, what
        if tasks.get_task(cfg["target_task"])["format"] == "retrieval":
            assert cfg["max_length_retrieval"] == PAPER_RETRIEVAL_LENGTH, what
        if cfg["intermediate_tasks"]:
            for key, value in PAPER_INTERMEDIATE.items():
                if key not in overridden:
                    assert cfg[key] == value, (what, key)
            assert cfg["max_length"] == 256, what
            if any(tasks.get_task(n)["format"] == "qa" for n in cfg["intermediate_tasks"]):
                assert cfg["max_length_qa"] == 384, what


def test_a0_full_scale_recipes_per_target():
    cfgs = workflow.grid_runs(workflow.load_grid(P.PARAMS_DIR / "experiments" / "a0_main_table.yaml"), "full")
    seen = {(c["target_task"], c["target_epochs"], c["target_grad_accum"]) for c in cfgs}
    assert {("udpos", 10.0, 8), ("panx", 10.0, 8), ("pawsx", 5.0, 8), ("xnli", 2.0, 8),
            ("xquad", 2.0, 4), ("mlqa", 2.0, 4), ("tydiqa", 2.0, 4)} <= seen


def test_grids_and_explicit_values_override_recipes_and_scale_files_do_not():
    assert P.resolve({"scale": "full", "target_task": "udpos"})["target_epochs"] == 10
    assert P.resolve({"scale": "full", "target_task": "udpos", "target_epochs": 1})["target_epochs"] == 1
    # at smoke scale there is no recipe: the scale file decides
    assert P.resolve({"scale": "smoke", "target_task": "udpos"})["target_epochs"] == 3


def test_recipe_checks(monkeypatch):
    registry = dict(tasks.all_tasks())
    monkeypatch.setattr(tasks, "all_tasks", lambda: registry)
    registry["mnli"] = dict(registry["mnli"], recipe={"full": {"target_epochs": 9}})
    with pytest.raises(recipes.RecipeError, match="intermediate task.*sets target_epochs"):
        recipes.recipe("mnli", "full")
    registry["mnli"] = dict(registry["mnli"], recipe={"full": {"eval_every": 7}})
    with pytest.raises(P.ParamsError, match="mnli and udpos set eval_every to 7 and 1000"):
        P.resolve({"scale": "full", "target_task": "udpos", "intermediate_tasks": ["mnli"]})
    # a grid that sets the key itself settles the disagreement
    cfg = P.resolve({"scale": "full", "target_task": "udpos", "intermediate_tasks": ["mnli"], "eval_every": 50})
    assert cfg["eval_every"] == 50


def test_a_recipes_learning_rates_train_its_own_phase_only_and_yield_to_a_grids_shared_one(monkeypatch):
    before = {"xnli": P.resolve({"scale": "offline", "target_task": "xnli", "intermediate_tasks": ["mnli"]}),
              "plain": P.resolve({"scale": "offline", "target_task": "udpos", "intermediate_tasks": []})}
    registry = dict(tasks.all_tasks())
    monkeypatch.setattr(tasks, "all_tasks", lambda: registry)
    registry["mnli"] = dict(registry["mnli"], recipe={"offline": {"intermediate_learning_rate": 1e-4,
                                                                  "intermediate_head_learning_rate": 1e-3}})
    registry["xnli"] = dict(registry["xnli"], recipe={"offline": {"target_learning_rate": 3e-5}})
    cfg = P.resolve({"scale": "offline", "target_task": "xnli", "intermediate_tasks": ["mnli"]})
    assert phases.learning_rates(cfg, "intermediate") == {"learning_rate": 1e-4, "head_learning_rate": 1e-3}
    assert phases.learning_rates(cfg, "target") == {"learning_rate": 3e-5, "head_learning_rate": None}
    assert phases.fit_settings(cfg, "target").learning_rate == 3e-5
    # a target task's recipe is not an intermediate one's: an MNLI run for UD-POS keeps udpos's rate
    pos = P.resolve({"scale": "offline", "target_task": "udpos", "intermediate_tasks": ["mnli"]})
    assert phases.learning_rates(pos, "target") == {"learning_rate": 5e-5, "head_learning_rate": None}
    assert phases.fit_settings(pos, "intermediate").learning_rate == 1e-4
    # the recipes move the runs they change: xnli's target run, mnli's intermediate run, not udpos's
    plain = P.resolve({"scale": "offline", "target_task": "udpos", "intermediate_tasks": []})
    assert runs.run_id(cfg, "intermediate") != runs.run_id(before["xnli"], "intermediate")
    assert runs.run_id(cfg, "target") != runs.run_id(before["xnli"], "target")
    assert runs.run_id(plain, "target") == runs.run_id(before["plain"], "target")
    # a grid that sets the shared learning rate (the recipe sweep) trains every phase with it
    swept = P.resolve({"scale": "offline", "target_task": "xnli", "intermediate_tasks": ["mnli"],
                       "learning_rate": 2e-5, "head_learning_rate": 0.0})
    assert phases.learning_rates(swept, "intermediate") == {"learning_rate": 2e-5, "head_learning_rate": None}
    assert phases.learning_rates(swept, "target") == {"learning_rate": 2e-5, "head_learning_rate": None}
    # two intermediate recipes with different rates cannot train one multi-task phase
    registry["squad_v1"] = dict(registry["squad_v1"], recipe={"offline": {"intermediate_learning_rate": 3e-5}})
    with pytest.raises(P.ParamsError, match="set intermediate_learning_rate to 0.0001 and 3e-05"):
        P.resolve({"scale": "offline", "target_task": "xnli", "intermediate_tasks": ["mnli", "squad_v1"]})
    with pytest.raises(P.ParamsError, match="target_learning_rate"):
        P.resolve({"scale": "offline", "target_learning_rate": -1e-5})


def test_every_recipe_sweep_cell_trains_with_its_swept_rates_whatever_the_recipes_say(monkeypatch):
    registry = dict(tasks.all_tasks())
    monkeypatch.setattr(tasks, "all_tasks", lambda: registry)
    for name in tasks.task_names():
        role = tasks.get_task(name)["role"]
        if role in ("intermediate", "target"):
            registry[name] = dict(registry[name], recipe={"offline": {f"{role}_learning_rate": 7e-7,
                                                                      f"{role}_head_learning_rate": 7e-6}})
    grid = workflow.load_grid(P.PARAMS_DIR / "experiments" / "sweep_offline_recipes.yaml")
    cells = workflow.grid_runs(grid, "offline", check_inputs=False)
    assert len(cells) == 64
    for cfg in cells:
        for phase in ("intermediate", "target"):
            rates = phases.learning_rates(cfg, phase)
            assert rates == {"learning_rate": cfg["learning_rate"], "head_learning_rate": cfg["head_learning_rate"] or None}


def test_an_archived_designs_runs_keep_their_names_whatever_recipe_is_written_later(monkeypatch):
    """The archived offline design (params/experiments/offline-v1/) was run before the offline scale
    had recipes: its grids say `without_recipes: [offline]`, so a recipe written into tasks.yaml
    later renames the current design's runs and never the archived ones the analyses read."""
    archived = [workflow.load_grid(p) for p in sorted((P.PARAMS_DIR / "experiments" / "offline-v1").glob("a[0-5]*.yaml"))]
    current = workflow.load_grid(P.PARAMS_DIR / "experiments" / "a1_task_scaling_pos.yaml")

    def names(grid):
        return [runs.run_name(cfg, phase) for cfg in workflow.grid_runs(grid, "offline", check_inputs=False)
                for phase in phases.chain(cfg)]
    before = [names(g) for g in archived], names(current)
    registry = dict(tasks.all_tasks())
    monkeypatch.setattr(tasks, "all_tasks", lambda: registry)
    for name in tasks.task_names():
        role = tasks.get_task(name)["role"]
        if role in ("intermediate", "target"):
            registry[name] = dict(registry[name], recipe={"offline": {f"{role}_epochs": 7.0}})
    assert [names(g) for g in archived] == before[0]
    assert names(current) != before[1]  # the current design's grids do take the recipes
    assert all(g.get("without_recipes") == ["offline"] for g in archived)


def test_a_grids_without_recipes_must_name_scales(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("without_recipes: offline\ngrid: {target_task: [udpos]}\n")
    with pytest.raises(P.ParamsError, match="without_recipes.*must be a list of scales"):
        workflow.load_grid(path)
    path.write_text("without_recipes: [offlne]\ngrid: {target_task: [udpos]}\n")
    with pytest.raises(P.ParamsError, match="without_recipes"):
        workflow.load_grid(path)


def test_every_recipe_sets_only_known_keys_of_its_role():
    for name in tasks.task_names():
        for scale in (tasks.get_task(name).get("recipe") or {}):
            assert scale in tasks.SCALES, (name, scale)
            recipe = recipes.recipe(name, scale)
            assert set(recipe) <= set(config.KEYS), name


def _current():
    out = {}
    for path in GRIDS:
        grid = workflow.load_grid(path)
        for scale in ("smoke", "offline"):
            out[f"{grid['name']}@{scale}"] = [
                {"runs": {ph: runs.run_name(cfg, ph) for ph in phases.NAMES},
                 "params": {k: v for k, v in cfg.items() if k not in ("runs_dir", "data_dir")}}
                for cfg in workflow.grid_runs(grid, scale)]
    return out


def test_smoke_and_offline_runs_keep_their_hashes_and_parameters():
    """Every smoke/offline run must keep its hash and every parameter it had when the fixture was
    written; keys added since must hold the value that computes what the code did before. The
    fixture was first computed before recipes, precision and windowing existed (main 117657e) and
    rewritten on purpose when the offline study was redesigned and the MLM hash came to hold the
    optimiser settings MLM uses, and when every smoke intermediate run got the fixed 152-step budget
    (params/scales/smoke.yaml; offline runs unchanged), and when PAWS-X got its offline recipe (a0's
    30 PAWS-X runs, none of them run yet), and when STS-B, UD POS and UD parsing got theirs and XQuAD
    left the offline a0 and a2 grids (a2's 12 STS-B and a3's 18 runs renamed, a0's 30 and a2's 12
    XQuAD runs gone; none of them had run), and when a2's offline grid got seeds 3 and 4 (16 runs added,
its 24 others unchanged), and when a5's offline arms all got a 1e-3 head rate (its none and MNLI-arm runs
renamed, none of them run; its three finished MLM-arm runs unchanged), and when CommonsenseQA got its
offline recipe (a1's 40 runs that train it renamed, none of them run), and when a1's offline grid got its
pool of five that learned and one recipe for all of its cells (its subsets and intermediate runs replaced,
none of them run; its none, control and STS-B runs kept). `python tests/test_recipes.py` rewrites it:
    only for a change that is meant to move run folders."""
    before = json.loads(FIXTURE.read_text())
    now = _current()
    assert set(now) == set(before)
    new_keys = {"precision": "fp32", "gradient_checkpointing": False, "torch_compile": False,
                "max_length_retrieval": -1, "long_sentences": "truncate", "gpus_per_run": 1,
                "intermediate_learning_rate": 0.0, "intermediate_head_learning_rate": 0.0,
                "target_learning_rate": 0.0, "target_head_learning_rate": 0.0}
    # execution-only and in no hash: smoke keeps the portable MKL branch its runs were pinned to;
    # offline computes with MKL AUTO (the committed offline runs predate any MKL pin: MKL's default)
    cpu_kernels = {"smoke": "portable", "offline": "fast"}
    for key in before:
        new_keys["cpu_kernels"] = cpu_kernels[key.split("@")[1]]
        assert len(now[key]) == len(before[key]), key
        for old, new in zip(before[key], now[key]):
            assert new["runs"] == old["runs"], key
            assert {k: v for k, v in new["params"].items() if k in old["params"]} == old["params"], key
            assert {k: new["params"][k] for k in set(new["params"]) - set(old["params"])} == \
                   {k: v for k, v in new_keys.items() if k in new["params"] and k not in old["params"]}, key


def test_jobs_are_offline_by_default_at_smoke_and_offline_scale_never_at_full():
    for scale in ("smoke", "offline"):
        env = workflow.offline_env(scale, {})
        assert env == {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        assert workflow.offline_env(scale, {"HF_HUB_OFFLINE": "0"})["HF_HUB_OFFLINE"] == "0"  # the user decides
    assert workflow.offline_env("full", {}) == {}
    makefile = (P.REPO_ROOT / "Makefile").read_text()
    assert "\nexport HF_HUB_OFFLINE" not in makefile and "\nexport HF_DATASETS_OFFLINE" not in makefile


def test_the_setup_table_says_which_phase_trained_with_which_learning_rate():
    from xstilts import paper

    shared = P.resolve({"scale": "offline", "target_task": "xnli", "intermediate_tasks": ["mnli"]})
    assert paper._phase_rate(shared, "intermediate", "learning_rate") == 5e-5
    assert paper._phase_rate(shared, "target", "head_learning_rate") == 0.0
    own = dict(shared, intermediate_learning_rate=1e-4, target_head_learning_rate=1e-3)
    assert paper._phase_rate(own, "intermediate", "learning_rate") == 1e-4
    assert paper._phase_rate(own, "target", "learning_rate") == 5e-5
    assert paper._phase_rate(own, "target", "head_learning_rate") == 1e-3
    # a params.json from before the per-phase keys existed: the shared rate
    old = {k: v for k, v in shared.items() if "learning_rate" not in k or k == "learning_rate"}
    assert paper._phase_rate(old, "target", "learning_rate") == 5e-5
    # one cell per phase: the value most runs used, the tasks whose recipe chose another in brackets
    assert paper._by_task([("xnli", 5e-5), ("udpos", 5e-5), ("pawsx", 3e-5), ("xnli", 5e-5)]) == "5e-05 (pawsx: 3e-05)"
    assert paper._by_task([("xnli", 2.0), ("pawsx", 4.0), ("pawsx", 2.0), ("udpos", 2.0)]) == "2 (pawsx: 2, 4)"
    assert paper._by_task([("xnli", 2.0), ("udpos", 2.0)]) == "2"
    assert paper._by_task([(None, 16), (None, 32), (None, 16)]) == "16, 32"


def test_every_committed_run_is_named_by_its_own_params_json():
    """A run's stored params.json predates keys added since (phases.HASHED_UNLESS): read back, it must
    still name its own folder, or the ledger loses its upstream runs and the Setup its substitutes
    (both look runs up by the name their parameters give)."""
    from xstilts import ledger

    checked = 0
    for root in [P.REPO_ROOT / "runs" / "offline", P.REPO_ROOT / "runs" / "offline-v1" / "offline"]:
        for phase in phases.NAMES:
            for folder in sorted((root / phase).glob("*/params.json")):
                cfg = runs.read_json(folder)["all"]
                assert runs.run_name(cfg, phase) == folder.parent.name, folder
                checked += 1
    assert checked > 200
    archived = P.REPO_ROOT / "runs" / "offline-v1" / "offline" / "target"
    target = next(archived.glob("udpos-after-mnli-s0-*"))
    upstream = [p.parent.name + "/" + p.name.split("-s0-")[0] for p in ledger.with_upstream([target])]
    assert upstream == ["target/udpos-after-mnli", "intermediate/mnli"]


if __name__ == "__main__":  # rewrite the fixture (see the test's docstring)
    FIXTURE.write_text(json.dumps(_current(), sort_keys=True, separators=(",", ":")))
    print(f"wrote {FIXTURE}")


def test_the_setup_table_leaves_out_the_settings_of_phases_a_run_did_not_train():
    """A run with no intermediate task (none, the control, continued MLM alone) trained no
    intermediate phase: its intermediate settings are defaults nobody used, and the Setup must not
    list them beside the ones the intermediate runs trained with (every offline one: 10 epochs; 250
    steps, or no step cap where question E caps MNLI's tokens). Likewise the continued MLM's: only the
    MLM runs' 200-step transform warm-up, not the other runs' default 0."""
    from xstilts import paper, results

    table = paper.setup_table("offline", only=results.design_runs("offline", skip=("sweep_offline_recipes",)))
    assert table.loc["intermediate epochs", "value"] == "10"
    assert table.loc["intermediate optimiser steps (cap)", "value"].startswith("250 (mnli: 250, all)")
    assert table.loc["intermediate training tokens (cap)", "value"].startswith("all (mnli: 150,000")
    assert table.loc["MLM transform warm-up, encoder frozen (steps)", "value"] == "200"
    assert "27,000 tokens" in table.loc["continued-MLM budget", "value"]
