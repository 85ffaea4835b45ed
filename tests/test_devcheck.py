"""Did a phase learn (devcheck), choosing recipes from the sweep (recipes), the cost model (cost),
and the parameters behind them (head learning rate, extra target steps, token budgets, truncation)."""
from __future__ import annotations

import types

import pytest
import torch

from xstilts import cost, devcheck, params, recipes, runs, train


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

    chosen = recipes.choose([run(1e-4, 1e-3, 70.2), run(3e-5, 1e-3, 70.0), run(3e-5, 0.0, 90.0, failed=True),
                             run(1e-4, 0.0, 40.0)])
    assert chosen["ud_parse"]["params"] == {"learning_rate": 3e-5, "head_learning_rate": 1e-3}
    assert chosen["ud_parse"]["failed"] == 1 and chosen["ud_parse"]["runs"] == 4
    assert recipes.choose([run(1e-4, 0.0, 10.0, failed=True)])["ud_parse"]["params"] is None


def test_new_keys_at_their_neutral_value_keep_every_run_hash():
    cfg = params.resolve({}, scale="smoke")
    for phase in ("intermediate", "target"):
        assert not set(params.NEUTRAL) & set(params.phase_params(cfg, phase))
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
    plain = cost.training_flops(config, 1000)
    assert plain == pytest.approx(6 * 12 * (4 * 384 ** 2 + 2 * 384 * 1536) * 1000)
    assert cost.training_flops(config, 1000, mlm=True) > 5 * plain  # 250k-way softmax dominates


def test_cost_estimate_from_committed_throughput():
    rates = cost.throughput()
    assert rates["cpu_runs"] >= 1 and rates["cpu_train_tokens_per_s"] > 0
    cfg = params.resolve({"intermediate_tasks": ["mnli"], "target_task": "xnli"}, scale="smoke")
    base = cost.estimate_job(cfg, "target", rates)
    longer = cost.estimate_job(dict(cfg, extra_target_steps=500), "target", rates)
    assert longer["seconds"] > base["seconds"] > cost.STARTUP_S
