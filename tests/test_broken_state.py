"""Broken state is detected and recovered: truncated results and checkpoints, moved runs folders,
changed execution settings, stale feature caches, an interrupted MLM run, a dead lock holder."""
import inspect
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import yaml
from transformers import AutoModelForMaskedLM, XLMRobertaConfig

from xstilts import encode, models, phases, preflight, runs, train, workflow
from xstilts import params as P

from test_train import Killed, _tiny_setup, _weights


def test_a_truncated_result_is_not_finished_and_is_set_aside(tmp_path):
    run = tmp_path / "smoke" / "target" / "udpos-after-none-s0-abc"
    run.mkdir(parents=True)
    (run / runs.RESULT).write_text('{"phase": "target", "aver')
    assert runs.finished(run) is None  # the pipeline computes the run again
    assert not (run / runs.RESULT).exists() and list(run.glob("result.json.broken-*"))
    (run / runs.RESULT).write_text('{"phase": "target"')
    rel = str(run.relative_to(tmp_path))
    assert workflow.set_aside_broken_results(tmp_path, {rel: {}}) == [rel]  # and Snakemake does too
    (run / runs.RESULT).write_text('{"phase": "target"}')
    assert runs.finished(run) == {"phase": "target"}


def test_a_corrupt_checkpoint_is_set_aside_and_training_starts_over(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"PK\x03\x04 half a zip file")
    a, sa = _tiny_setup()
    train.fit(a, sa, train.FitSettings(learning_rate=1e-3, checkpoint_every=4), total_steps=12, checkpoint=ckpt, log=lambda *_: None)
    b, sb = _tiny_setup()
    train.fit(b, sb, train.FitSettings(learning_rate=1e-3), total_steps=12, log=lambda *_: None)
    assert torch.equal(_weights(a), _weights(b))
    assert (tmp_path / "checkpoint.pt.broken").read_bytes().startswith(b"PK")


def _tiny_mlm():
    texts = [f"the {w} sees a {v} near the {u}" for w in ("cat", "dog", "bird", "fish")
             for v in ("tree", "house", "river") for u in ("hill", "road", "field", "lake")]
    tokenizer = models.build_smoke_tokenizer(texts, vocab_size=80)
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=40, pad_token_id=1)
    return AutoModelForMaskedLM.from_config(config), tokenizer, texts


_MLM = dict(steps=20, batch_size=8, max_length=24, probability=0.3)
_MLM_SETTINGS = train.FitSettings(learning_rate=1e-3, seed=0, weight_decay=0.01, adam_epsilon=1e-8, warmup_ratio=0.1,
                                  max_grad_norm=1.0)


def test_a_killed_mlm_run_resumes_to_the_same_weights(tmp_path):
    model, tokenizer, texts = _tiny_mlm()
    train.train_mlm(model, tokenizer, texts, _MLM_SETTINGS, **_MLM, log=lambda *_: None)
    uninterrupted = torch.cat([p.detach().flatten() for p in model.parameters()])

    def die_at_step_13(msg):
        if msg.startswith("step 13/"):
            raise Killed
    ckpt = tmp_path / "checkpoint.pt"
    model, tokenizer, texts = _tiny_mlm()
    with pytest.raises(Killed):
        train.train_mlm(model, tokenizer, texts, replace(_MLM_SETTINGS, checkpoint_every=5), **_MLM, checkpoint=ckpt,
                        log=die_at_step_13)
    assert "generator" in torch.load(ckpt, weights_only=False)["streams"]["mlm"]  # masking state is saved
    model, tokenizer, texts = _tiny_mlm()  # a fresh process: new model, new generator
    seen = []
    train.train_mlm(model, tokenizer, texts, replace(_MLM_SETTINGS, checkpoint_every=5), **_MLM, checkpoint=ckpt,
                    log=seen.append)
    assert "resumed from step 10" in seen
    assert torch.equal(torch.cat([p.detach().flatten() for p in model.parameters()]), uninterrupted)


def test_train_mlm_takes_every_optimiser_setting_from_the_configuration():
    # the MLM phase gets its settings whole from the configuration, not from fit()'s or train_mlm's defaults
    cfg = P.resolve({"mlm_steps": 80, "target_task": "udpos", "weight_decay": 0.05, "mlm_learning_rate": 3e-4,
                     "adam_epsilon": 1e-6, "warmup_ratio": 0.2, "max_grad_norm": 0.5, "checkpoint_every": 7})
    settings = phases.fit_settings(cfg, "mlm")
    assert (settings.weight_decay, settings.learning_rate, settings.adam_epsilon, settings.warmup_ratio,
            settings.max_grad_norm, settings.checkpoint_every) == (0.05, 3e-4, 1e-6, 0.2, 0.5, 7)
    no_optimiser_keywords = {"learning_rate", "weight_decay", "adam_epsilon", "warmup_ratio", "max_grad_norm", "seed"}
    assert not no_optimiser_keywords & set(inspect.signature(train.train_mlm).parameters)
    assert not no_optimiser_keywords & set(inspect.signature(train.fit).parameters)
    # and they define the MLM run: another weight decay is another run
    assert runs.run_id(cfg, "mlm") != runs.run_id(dict(cfg, weight_decay=0.1), "mlm")


def test_params_files_are_rewritten_when_execution_settings_change_and_survive_a_move(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    the_plan = workflow.plan([str(P.PARAMS_DIR / "experiments" / "a1_task_scaling_pos.yaml")], "smoke", str(root))
    rel, job = next(iter(the_plan["jobs"].items()))
    workflow.write_params_files(root, {rel: job})
    params_file = root / "_params" / f"{rel.split('/')[-1]}.yaml"
    assert yaml.safe_load(params_file.read_text())["runs_dir"] == ".."
    job = dict(job, params=dict(job["params"], threads=3, device="cpu"))
    workflow.write_params_files(root, {rel: job})
    assert yaml.safe_load(params_file.read_text())["threads"] == 3  # a planned run gets the new setting
    moved = tmp_path / "elsewhere"
    root.rename(moved)
    seen = {}
    monkeypatch.setattr(workflow, "execute_notebook", lambda nb, out, parameters: seen.update(parameters))
    monkeypatch.chdir(tmp_path)  # the job records its state beside its output (out.job.json), not in the repo
    workflow.main(["in.ipynb", "out.ipynb", "-f", str(moved / "_params" / params_file.name)])
    assert seen["runs_dir"] == str(moved.resolve())  # the moved folder, not the old location


def test_feature_cache_key_knows_the_tokenizer_and_every_example():
    texts = ["alpha beta gamma", "delta epsilon zeta", "eta theta iota"]
    tok_a = models.build_smoke_tokenizer(texts, vocab_size=60)
    tok_b = models.build_smoke_tokenizer(texts + ["kappa lambda mu"], vocab_size=70)
    assert encode.tokenizer_fingerprint(tok_a) != encode.tokenizer_fingerprint(tok_b)
    assert encode.tokenizer_fingerprint(tok_a) == encode.tokenizer_fingerprint(
        models.build_smoke_tokenizer(texts, vocab_size=60))
    first = {"text_a": "x" * 300, "text_b": "", "label": "entailment"}
    rows = [first, {"text_a": "second", "text_b": "", "label": "neutral"}]
    changed = [first, {"text_a": "second", "text_b": "", "label": "contradiction"}]
    assert encode.examples_fingerprint(rows) != encode.examples_fingerprint(changed)
    assert encode.examples_fingerprint(rows) == encode.examples_fingerprint(json.loads(json.dumps(rows)))


def test_retrieval_runs_ignore_fine_tuning_settings_in_their_hash():
    tatoeba = P.resolve({"target_task": "tatoeba"})
    assert runs.run_id(tatoeba, "target") == runs.run_id(P.resolve({"target_task": "tatoeba", "target_epochs": 9,
                                                                    "target_max_steps": 30}), "target")
    assert runs.run_id(tatoeba, "target") != runs.run_id(P.resolve({"target_task": "tatoeba", "max_length": 32}), "target")
    udpos = P.resolve({"target_task": "udpos"})
    assert runs.run_id(udpos, "target") != runs.run_id(P.resolve({"target_task": "udpos", "target_epochs": 9}), "target")
    # upstream training still counts: the intermediate run a retrieval task reads is defined by it
    mnli = P.resolve({"target_task": "tatoeba", "intermediate_tasks": ["mnli"]})
    assert runs.run_id(mnli, "target") != runs.run_id(dict(mnli, learning_rate=1e-4), "target")


def test_the_runs_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from xstilts import workflow\nwith workflow.runs_lock(Path(sys.argv[1])):\n"
                               "    print('locked', flush=True); time.sleep(60)", str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(P.ParamsError, match=f"pid {holder.pid}"):
        with workflow.runs_lock(tmp_path):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with workflow.runs_lock(tmp_path):  # kill -9 left no stale lock behind
        pass


def test_planning_knows_the_smoke_models_positions_without_importing_torch():
    assert preflight.SMOKE_POSITIONS == {name: spec["max_position_embeddings"]
                                         for name, spec in models.SMOKE_MODELS.items()}
