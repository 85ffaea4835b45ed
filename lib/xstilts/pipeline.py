"""The three phases of X-STILTs as functions; each notebook calls one of them.

Every phase is idempotent: a finished run (its `result.json` exists) is returned as is, an
unfinished one resumes from its checkpoint, and each phase first makes sure its upstream phase
is done (computing it if needed), so a notebook can be run on its own.
"""
from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import numpy as np
import torch

from xstilts import (data, determinism, devcheck, distributed, encode, evaluate, ledger, metrics, models, phases,
                     precision, preflight, runs, submission, tasks, train)

log = logging.getLogger("xstilts")

# Weight-loading reports and progress bars go to the run's log, not to notebook outputs: a notebook
# must print the same thing whether its run was computed now or reused (nbval compares outputs).
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


# ------------------------------------------------------------------------------------ set-up
def device_of(cfg) -> str:
    if cfg["device"] == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif cfg["device"] == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for but torch sees no GPU; use device: auto or cpu.")
    else:
        device = cfg["device"]
    precision.check(cfg["precision"], device)  # before any model is built
    return distributed.local_device(device)


def _result_of_main_process(d: Path) -> dict | None:
    """In a multi-process run, the other processes stop after training and return process 0's result."""
    if distributed.is_main():
        return None
    distributed.await_result(d / runs.RESULT)
    return runs.finished(d)


def _ledger(meter, model, stats, eval_tokens=0) -> dict:
    return meter.ledger(parameters=ledger.matmul_parameters(model), eval_tokens=eval_tokens,
                        train_tokens=(stats or {}).get("train_tokens", 0))


def check_before_compute(cfg) -> None:
    """What would otherwise fail mid-run: the device, the model's cache and length, the runs folder."""
    preflight.check_environment(cfg)
    runs.check_runs_root(runs.runs_root(cfg))


def log_to(run_dir: Path) -> None:
    """Progress goes to <run>/log.txt (notebook outputs stay clean and comparable)."""
    for h in list(log.handlers):
        log.removeHandler(h)
    rank = distributed.world()[0]  # several processes of one run (distributed.py): one log each
    handler = logging.FileHandler(run_dir / ("log.txt" if rank == 0 else f"log.rank{rank}.txt"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def seed_everything(cfg) -> None:
    determinism.use(cfg["cpu_kernels"])  # before the first GEMM: MKL fixes its branch at its first call
    random.seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])


def _examples(cfg, task, split, lang, limit=-1):
    return data.load_examples(task, split, lang, source=cfg["source"], data_dir=cfg["data_dir"] or None,
                              limit=None if limit is None or limit < 0 else limit)


def _features(cfg, tokenizer, task, split, lang, examples, *, labels, train_mode):
    fmt = tasks.get_task(task)["format"]
    max_length = cfg["max_length_qa"] if fmt == "qa" else cfg["max_length"]
    # the tokenizer's and the examples' content, not their names: a rebuilt tokenizer or changed
    # data never reuses stale token ids
    key = (encode.VERSION, encode.tokenizer_fingerprint(tokenizer), task, split, lang,
           encode.examples_fingerprint(examples), tuple(labels or ()), max_length, cfg["doc_stride"], train_mode)
    if fmt == "tagging" and cfg["long_sentences"] != "truncate":  # truncated features keep their cache key
        key += (cfg["long_sentences"],)
    return encode.cached(key, lambda: encode.encode(fmt, examples, tokenizer, labels=labels, max_length=max_length,
                                                    doc_stride=cfg["doc_stride"], train=train_mode,
                                                    long_sentences=cfg["long_sentences"]),
                         models.cache_dir())


def _labels(task_name, train_examples):
    """The registry's label set, or (open label sets such as CCG supertags) the training data's."""
    labels = tasks.label_list(task_name)
    if labels is not None:
        return list(labels)
    fmt = tasks.get_task(task_name)["format"]
    if fmt == "tagging":
        return sorted({t for e in train_examples for t in e["tags"]})
    if fmt == "parsing":
        return sorted({r.split(":")[0] for e in train_examples for r in e["deprels"]})
    if fmt == "classification":
        return sorted({e["label"] for e in train_examples})
    return None


def _notes(cfg, task_splits) -> list[str]:
    notes = []
    for task, split in task_splits:
        note = data.source_note(task, split, cfg["source"], cfg["data_dir"] or None)
        entry = f"{task}/{split}: {note}"
        if note and entry not in notes:
            notes.append(entry)
    return notes


def evaluate_task(cfg, model, tokenizer, task_name, examples, features, labels, lang, device) -> dict:
    task = tasks.get_task(task_name)
    kw = dict(batch_size=cfg["eval_batch_size"], pad_id=tokenizer.pad_token_id, device=device)
    predictor = evaluate.PREDICTORS[task["format"]]
    with precision.autocast(cfg["precision"], device):
        if task["format"] == "qa":
            preds = predictor(model, examples, features, allow_null=task["metric"] == "squad_v2", **kw)
        else:
            preds = predictor(model, examples, features, labels=labels, **kw) if labels else \
                predictor(model, examples, features, **kw)
    return evaluate.score(task, preds, examples, lang), preds


def nn_modules(heads: dict):
    """Several heads sharing one encoder as one module (its parameters counted once)."""
    return torch.nn.ModuleDict(heads)


# ------------------------------------------------------------------------------------ phase 1
def run_mlm(cfg) -> dict:
    """Phase 1: the public model as is (mlm_steps = 0) or continued MLM on target-language text."""
    if not phases.trains(cfg, "mlm"):
        return {"phase": "mlm", "checkpoint": models.resolve(cfg["model"]), "model": cfg["model"], "mlm_steps": 0}
    d = runs.run_dir(cfg, "mlm")
    if (done := runs.finished(d)):
        return _absolute(done, d)
    check_before_compute(cfg)
    from transformers import AutoModelForMaskedLM

    seed_everything(cfg)
    device = device_of(cfg)
    base = models.resolve(cfg["model"])
    langs = phases.mlm_languages(cfg)
    texts = [e["text"] for lang in langs for e in _examples(cfg, "mlm_text", "train", lang, cfg["max_train_examples"])]
    # every 20th sentence is held out: masked-token accuracy is measured on text the MLM never saw
    held_out, texts = texts[::20], [t for i, t in enumerate(texts) if i % 20]
    d = runs.start(cfg, "mlm")
    log_to(d)
    tokenizer = models.load_tokenizer(base)
    meter = ledger.Meter(device)
    model = AutoModelForMaskedLM.from_pretrained(base).to(device)
    if cfg["gradient_checkpointing"]:
        train.enable_gradient_checkpointing(model)
    steps = cfg["mlm_steps"]
    if cfg["mlm_max_tokens"] > 0:  # a budget in tokens: as many steps as the text's mean length gives
        steps = token_budget_steps(cfg["mlm_max_tokens"], [len(f["input_ids"]) for f in encode.encode_text(
            [{"text": t} for t in texts], tokenizer, max_length=cfg["max_length"])], cfg["mlm_batch_size"])
    measure = dict(max_length=cfg["max_length"], probability=cfg["mlm_probability"], device=device,
                   unigram_from=texts)
    stats = train.train_mlm(model, tokenizer, texts, phases.fit_settings(cfg, "mlm"), steps=steps,
                            batch_size=cfg["mlm_batch_size"], max_length=cfg["max_length"],
                            probability=cfg["mlm_probability"], checkpoint=d / "checkpoint.pt", device=device,
                            freeze_embeddings=cfg["freeze_embeddings"], log=log.info,
                            head_warmup_steps=cfg["mlm_head_warmup_steps"])
    if (done := _result_of_main_process(d)):
        return _absolute(done, d)
    masked = train.masked_token_accuracy(model, tokenizer, held_out, **measure)
    mlm_check = {"mlm_text": devcheck.masked_lm(masked)}
    _save(model, tokenizer, d / "model")
    result = {"phase": "mlm", "model": cfg["model"], "mlm_steps": steps, "languages": langs,
              "texts": len(texts), "held_out_texts": len(held_out), "checkpoint": "model", "train": stats,
              "masked_lm": masked, "dev_check": mlm_check, **devcheck.summarise(mlm_check),
              "train_flops": ledger.training_flops(model.config, stats["train_tokens"], mlm=True),
              "cost": _ledger(meter, model, stats),
              "notes": _notes(cfg, [("mlm_text", "train")])}
    return _absolute(runs.finish(d, result, device=device), d)


def token_budget_steps(budget: int, lengths: list[int], batch_size: int, grad_accum: int = 1) -> int:
    """Optimiser steps that consume about `budget` training tokens, given the features' lengths."""
    return max(1, round(budget / (float(np.mean(lengths)) * batch_size * grad_accum)))


def _save(model, tokenizer, out: Path) -> None:
    models.save_checkpoint(model, tokenizer, out)
    (out.parent / "checkpoint.pt").unlink(missing_ok=True)  # the resumable state is no longer needed


def _absolute(result: dict, d: Path) -> dict:
    return dict(result, checkpoint=str(d / result["checkpoint"]))


# ------------------------------------------------------------------------------------ phase 2
def run_intermediate(cfg) -> dict:
    """Phase 2: fine-tune on English intermediate task(s), multi-task with one encoder and
    per-task heads; keep only the encoder."""
    upstream = run_mlm(cfg)
    if not phases.trains(cfg, "intermediate"):
        return dict(upstream, phase="intermediate", intermediate_tasks=[])
    d = runs.run_dir(cfg, "intermediate")
    if (done := runs.finished(d)):
        return _absolute(done, d)
    check_before_compute(cfg)
    seed_everything(cfg)
    device = device_of(cfg)
    tokenizer = models.load_tokenizer(upstream["checkpoint"])
    # load all data before the model, so a missing file fails fast
    train_sets, dev_sets = {}, {}
    for name in cfg["intermediate_tasks"]:
        train_sets[name] = [e for lang in cfg["intermediate_languages"]
                            for e in _examples(cfg, name, "train", lang, cfg["max_train_examples"])]
        dev_sets[name] = _examples(cfg, name, "validation", "en", cfg["eval_examples"])
    d = runs.start(cfg, "intermediate")
    log_to(d)
    meter = ledger.Meter(device)
    encoder = models.load_encoder(upstream["checkpoint"]).to(device)
    if cfg["freeze_embeddings"]:
        train.freeze_word_embeddings(encoder)
    if cfg["gradient_checkpointing"]:
        train.enable_gradient_checkpointing(encoder)
    heads, streams, dev = {}, {}, {}
    for name in cfg["intermediate_tasks"]:
        task = tasks.get_task(name)
        labels = _labels(name, train_sets[name])
        feats = _features(cfg, tokenizer, name, "train", "+".join(cfg["intermediate_languages"]), train_sets[name],
                          labels=labels, train_mode=True)
        heads[name] = models.attach_head(encoder, task["format"], len(labels) if labels else None).to(device)
        streams[name] = train.TaskStream(name, feats, cfg["intermediate_batch_size"], tokenizer.pad_token_id, cfg["seed"])
        dev_feats = _features(cfg, tokenizer, name, "validation", "en", dev_sets[name], labels=labels, train_mode=False)
        dev[name] = (dev_sets[name], dev_feats, labels)

    def dev_score():
        scores = [metrics.headline(tasks.get_task(n)["metric"],
                                   evaluate_task(cfg, heads[n], tokenizer, n, *dev[n], "en", device)[0]) for n in heads]
        return float(np.mean(scores))

    total = int(cfg["intermediate_epochs"] * sum(len(s) for s in streams.values()) / cfg["intermediate_grad_accum"])
    if cfg["intermediate_max_steps"] > 0:
        total = min(total, cfg["intermediate_max_steps"])
    if cfg["intermediate_max_tokens"] > 0:  # a budget in tokens (question E): it sets the steps
        total = token_budget_steps(cfg["intermediate_max_tokens"],
                                   [encode._length(f) * (len(f["input_ids"]) if isinstance(f["input_ids"][0], list) else 1)
                                    for s in streams.values() for f in s.features],
                                   cfg["intermediate_batch_size"], cfg["intermediate_grad_accum"])
    stats = train.fit(heads, streams, phases.fit_settings(cfg, "intermediate"), total_steps=max(total, 1),
                      eval_fn=dev_score, checkpoint=d / "checkpoint.pt", device=device, log=log.info)
    if (done := _result_of_main_process(d)):
        return _absolute(done, d)
    dev_eval = {n: evaluate_task(cfg, heads[n], tokenizer, n, *dev[n], "en", device) for n in heads}
    dev_final = {n: scores for n, (scores, _) in dev_eval.items()}
    # did each task learn? English dev vs its majority/chance baseline, one-sided test (devcheck.py)
    dev_check = {n: devcheck.check(tasks.get_task(n)["format"], dev[n][0], preds, train_sets[n])
                 for n, (_, preds) in dev_eval.items()}
    _save(encoder, tokenizer, d / "encoder")
    # every evaluation (each of dev_history, and the final one) scores every task's dev set
    dev_tokens = (len(stats["dev_history"]) + 1) * sum(ledger.feature_tokens(v[1]) for v in dev.values())
    result = {"phase": "intermediate", "intermediate_tasks": cfg["intermediate_tasks"],
              "languages": cfg["intermediate_languages"], "checkpoint": "encoder", "train": stats,
              "dev": dev_final, "dev_check": dev_check, **devcheck.summarise(dev_check),
              "train_flops": ledger.training_flops(encoder.config, stats["train_tokens"]),
              "cost": _ledger(meter, nn_modules(heads), stats, dev_tokens),
              "train_examples": {n: len(v) for n, v in train_sets.items()},
              "notes": _notes(cfg, [(n, s) for n in cfg["intermediate_tasks"] for s in ("train", "validation")])}
    return _absolute(runs.finish(d, result, device=device), d)


# ------------------------------------------------------------------------------------ phase 3
def run_target(cfg) -> dict:
    """Phase 3: fine-tune on the English target task; evaluate zero-shot on every language.
    Retrieval tasks (BUCC, Tatoeba) are evaluated straight from the intermediate checkpoint."""
    d = runs.run_dir(cfg, "target")
    if (done := runs.finished(d)):
        return done
    data.check_run_inputs(cfg)
    check_before_compute(cfg)
    upstream = run_intermediate(cfg)
    seed_everything(cfg)
    device = device_of(cfg)
    name = cfg["target_task"]
    task = tasks.get_task(name)
    langs = phases.target_languages(cfg)
    tokenizer = models.load_tokenizer(upstream["checkpoint"])
    test_sets = {lang: _examples(cfg, name, "test", lang, cfg["max_eval_examples"]) for lang in langs}
    if task["format"] != "retrieval":  # all data before the model: a broken file fails before training
        source_task = tasks.train_task(name)
        train_ex = _examples(cfg, source_task, "train", "en", cfg["max_train_examples"])
        dev_ex = _examples(cfg, source_task, "validation", "en", cfg["eval_examples"])
    empty = [lang for lang, rows in test_sets.items() if not rows]
    if empty:
        raise data.DataFormatError(f"the {name} test data of {', '.join(empty)} has no examples; check the "
                                   f"files `xstilts tasks` lists for {name}, or narrow `target_languages`.")
    d = runs.start(cfg, "target")
    log_to(d)
    meter = ledger.Meter(device)
    encoder = models.load_encoder(upstream["checkpoint"]).to(device)
    stats, labels, dev_check = None, None, {}
    per_language, started = {}, time.perf_counter()
    eval_tokens = 0
    if task["format"] == "retrieval":
        layer = cfg["retrieval_layer"] if cfg["retrieval_layer"] >= 0 else encoder.config.num_hidden_layers // 2
        eval_started = time.perf_counter()
        if (done := _result_of_main_process(d)):  # no training to share: process 0 evaluates alone
            return done
        retrieval_length = cfg["max_length_retrieval"] if cfg["max_length_retrieval"] > 0 else cfg["max_length"]
        for lang in langs:
            texts = [t for e in test_sets[lang] for t in (e["source"], e["target"]) if t]
            eval_tokens += ledger.feature_tokens(encode.encode_text([{"text": t} for t in texts], tokenizer,
                                                                   max_length=retrieval_length))
            with precision.autocast(cfg["precision"], device):
                per_language[lang], preds = evaluate.retrieval_predict(
                    encoder, tokenizer, test_sets[lang], metric=task["metric"], layer=layer,
                    batch_size=cfg["eval_batch_size"], device=device, max_length=retrieval_length)
            submission.write_xtreme_predictions(name, lang, preds, d / "predictions")
    else:
        labels = _labels(name, train_ex)
        if cfg["freeze_embeddings"]:
            train.freeze_word_embeddings(encoder)
        if cfg["gradient_checkpointing"]:
            train.enable_gradient_checkpointing(encoder)
        model = models.attach_head(encoder, task["format"], len(labels) if labels else None).to(device)
        feats = _features(cfg, tokenizer, source_task, "train", "en", train_ex, labels=labels, train_mode=True)
        dev_feats = _features(cfg, tokenizer, source_task, "validation", "en", dev_ex, labels=labels, train_mode=False)
        stream = train.TaskStream(name, feats, cfg["target_batch_size"], tokenizer.pad_token_id, cfg["seed"])
        total = int(cfg["target_epochs"] * len(stream) / cfg["target_grad_accum"])
        if cfg["target_max_steps"] > 0:
            total = min(total, cfg["target_max_steps"])
        # the control for an intermediate task: as many more steps on the target's own data
        total += cfg["extra_target_steps"]

        def dev_score():
            scores = evaluate_task(cfg, model, tokenizer, name, dev_ex, dev_feats, labels, "en", device)[0]
            return metrics.headline(task["metric"], scores)

        stats = train.fit({name: model}, {name: stream}, phases.fit_settings(cfg, "target"), total_steps=max(total, 1),
                          eval_fn=dev_score, checkpoint=d / "checkpoint.pt", device=device, log=log.info)
        if (done := _result_of_main_process(d)):
            return done
        eval_tokens += len(stats["dev_history"]) * ledger.feature_tokens(dev_feats)
        _, dev_preds = evaluate_task(cfg, model, tokenizer, name, dev_ex, dev_feats, labels, "en", device)
        dev_check = {name: devcheck.check(task["format"], dev_ex, dev_preds, train_ex)}
        eval_started = time.perf_counter()
        for lang in langs:
            feats = _features(cfg, tokenizer, name, "test", lang, test_sets[lang], labels=labels, train_mode=False)
            eval_tokens += ledger.feature_tokens(feats)
            per_language[lang], preds = evaluate_task(cfg, model, tokenizer, name, test_sets[lang], feats,
                                                      labels, lang, device)
            submission.write_xtreme_predictions(name, lang, preds, d / "predictions")
            if task["format"] == "tagging":
                mft = evaluate.most_frequent_tag_baseline(train_ex, test_sets[lang])
                per_language[lang]["baseline_mft_accuracy"] = metrics.upos_accuracy(mft, evaluate.gold("tagging", test_sets[lang]))["accuracy"]
            log.info(f"{lang}: {metrics.headline(task['metric'], per_language[lang]):.2f}")
    eval_seconds = time.perf_counter() - eval_started
    n_eval = sum(len(v) for v in test_sets.values())
    headline = {lang: metrics.headline(task["metric"], s) for lang, s in per_language.items()}
    result = {
        "phase": "target", "scale": cfg["scale"], "model": cfg["model"], "seed": cfg["seed"],
        "target_task": name, "intermediate_tasks": cfg["intermediate_tasks"],
        "intermediate_languages": cfg["intermediate_languages"], "mlm_steps": cfg["mlm_steps"],
        "extra_target_steps": cfg["extra_target_steps"],  # > 0 with no intermediate task: the control
        "metric": task["metric"], "per_language": per_language, "headline": headline,
        "average": float(np.mean(list(headline.values()))),
        "average_zero_shot": float(np.mean([v for k, v in headline.items() if k != "en"] or [np.nan])),
        "labels": labels, "train": stats, "eval_examples": n_eval,
        # failed: this phase did not beat its English dev baseline; upstream_failed: an earlier one did not
        "dev_check": dev_check, **devcheck.summarise(dev_check),
        "upstream_failed": bool(upstream.get("failed")), "upstream_failed_reason": upstream.get("failed_reason"),
        "eval_examples_per_s": n_eval / eval_seconds if eval_seconds else None,
        "wall_seconds": time.perf_counter() - started,
        "notes": _notes(cfg, [(tasks.train_task(name), "train"), (name, "test")]),
        "cost": _ledger(meter, encoder if stats is None else model, stats, eval_tokens),
    }
    (d / "checkpoint.pt").unlink(missing_ok=True)
    return runs.finish(d, result, device=device)
