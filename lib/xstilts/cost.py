"""What a run costs: CPU seconds estimated from measured throughput, and training FLOPs.

`estimate_plan(plan)` (the `workflow.plan` dict) gives every job's estimated seconds; it is what
`xstilts plan` prints and what the offline study was sized with. The estimate is built from what
committed runs measured (their result.json files record train/eval examples and tokens per second
and the device):

* training: optimiser steps x batch x grad-accum examples, times the task's measured tokens per
  training example, divided by the CPU's measured training tokens per second (frozen word
  embeddings, as the offline scale runs; the CPU's rate hardly depends on the task per token);
* evaluation: English dev evaluations during training plus every test language, at
  `EVAL_SPEEDUP` x the training token rate (a forward pass only; measured on the CPU XCOPA runs:
  ~4,600 eval tokens/s vs ~1,300 train tokens/s);
* `STARTUP_S` per job for the kernel, the model and the cached features;
* a model truncated to k of its L layers (`<model>@L<k>`) computes k/L of the encoder's work per
  token (the word embeddings are frozen offline, so the layers dominate).

Tasks no committed run has measured fall back to the median tokens per example over all tasks
(`estimate_job` says so in its `assumed` field).
"""
from __future__ import annotations

import functools
import glob
import json
import math
import statistics
from pathlib import Path

from xstilts import data, params as P, tasks

EVAL_SPEEDUP = 3.5
STARTUP_S = 40.0
MEASURED_RUNS = P.REPO_ROOT / "runs" / "offline"


@functools.cache
def throughput(root: str = str(MEASURED_RUNS)) -> dict:
    """Measured rates from committed result.json files: the CPU's training tokens/s (median over
    CPU runs) and each task's tokens per training example (median over runs, any device)."""
    cpu_rates, per_task = [], {}
    for path in glob.glob(f"{root}/*/*/result.json"):
        result = json.loads(Path(path).read_text())
        stats = result.get("train") or {}
        ex, tok = stats.get("train_examples_per_s"), stats.get("train_tokens_per_s")
        if not ex or not tok:
            continue
        if (result.get("provenance") or {}).get("device") == "cpu":
            cpu_rates.append(tok)
        names = ([result["target_task"]] if result["phase"] == "target" else
                 ["mlm_text"] if result["phase"] == "mlm" else result.get("intermediate_tasks") or [])
        if len(names) == 1:  # a multi-task run mixes its tasks' lengths
            per_task.setdefault(names[0], []).append(tok / ex)
    if not cpu_rates:
        raise ValueError(f"No CPU run with throughput under {root}: the estimate needs one measured CPU run.")
    tokens = {t: statistics.median(v) for t, v in per_task.items()}
    return {"cpu_train_tokens_per_s": statistics.median(cpu_rates), "tokens_per_example": tokens,
            "default_tokens_per_example": statistics.median(tokens.values()), "cpu_runs": len(cpu_rates)}


def _tokens_per_example(task: str, rates: dict, assumed: list) -> float:
    # a target's training examples are its train_from task's (XNLI trains on MNLI)
    for name in (task, tasks.train_task(task) if task in tasks.all_tasks() else task):
        if name in rates["tokens_per_example"]:
            return rates["tokens_per_example"][name]
    assumed.append(f"{task}: tokens per example not measured, median used")
    return rates["default_tokens_per_example"]


def _rows(cfg: dict, task: str, split: str, lang: str, limit: int) -> int:
    """Rows a run reads from a split (the mirror and smoke are counted; the Hub: the limit)."""
    return _count(cfg["source"], cfg["data_dir"] or None, task, split, lang, None if limit < 0 else limit)


@functools.lru_cache(maxsize=None)
def _count(source: str, data_dir: str | None, task: str, split: str, lang: str, limit: int | None) -> int:
    if source == "hub":
        return limit or 0
    n = len(data.load_examples(task, split, lang, source=source, data_dir=data_dir))
    return n if limit is None else min(n, limit)


@functools.cache
def depth_factor(model: str) -> float:
    """Share of the full model's per-token work a `<model>@L<k>` variant does (1.0 otherwise)."""
    import re

    m = re.match(r"^(?P<base>.+)@L(?P<layers>[0-9]+)$", model)
    if not m:
        return 1.0
    from transformers import AutoConfig

    from xstilts import models

    layers = AutoConfig.from_pretrained(models.resolve(m.group("base"))).num_hidden_layers
    return int(m.group("layers")) / layers


def _train_steps(n_rows: list[int], epochs: float, batch: int, accum: int, max_steps: int) -> int:
    steps = int(epochs * sum(math.ceil(n / batch) for n in n_rows) / accum)
    return min(steps, max_steps) if max_steps > 0 else steps


def estimate_job(cfg: dict, phase: str, rates: dict | None = None) -> dict:
    """Estimated CPU seconds of one phase of one run (its train and eval tokens, and the parts)."""
    rates = rates or throughput()
    assumed: list[str] = []
    train_rate = rates["cpu_train_tokens_per_s"]
    eval_rate = EVAL_SPEEDUP * train_rate
    train_tokens = eval_tokens = 0.0
    if phase == "mlm":
        tpe = _tokens_per_example("mlm_text", rates, assumed)
        steps = cfg["mlm_steps"] if cfg["mlm_max_tokens"] <= 0 else cfg["mlm_max_tokens"] / (tpe * cfg["mlm_batch_size"])
        train_tokens = (steps + cfg["mlm_head_warmup_steps"]) * cfg["mlm_batch_size"] * tpe
    elif phase == "intermediate":
        names = cfg["intermediate_tasks"]
        n = [_rows(cfg, t, "train", lang, cfg["max_train_examples"]) for t in names for lang in cfg["intermediate_languages"]]
        steps = _train_steps(n, cfg["intermediate_epochs"], cfg["intermediate_batch_size"],
                             cfg["intermediate_grad_accum"], cfg["intermediate_max_steps"])
        tpe = statistics.mean(_tokens_per_example(t, rates, assumed) for t in names)
        if cfg["intermediate_max_tokens"] > 0:
            steps = cfg["intermediate_max_tokens"] / (tpe * cfg["intermediate_batch_size"] * cfg["intermediate_grad_accum"])
        train_tokens = steps * cfg["intermediate_batch_size"] * cfg["intermediate_grad_accum"] * tpe
        dev_rows = sum(_rows(cfg, t, "validation", "en", cfg["eval_examples"]) for t in names)
        eval_tokens = (steps // max(cfg["eval_every"], 1) + 2) * dev_rows * tpe
    else:
        target = cfg["target_task"]
        tpe = _tokens_per_example(target, rates, assumed)
        if tasks.get_task(target)["format"] != "retrieval":
            source = tasks.train_task(target)
            n = _rows(cfg, source, "train", "en", cfg["max_train_examples"])
            steps = _train_steps([n], cfg["target_epochs"], cfg["target_batch_size"], cfg["target_grad_accum"],
                                 cfg["target_max_steps"]) + cfg["extra_target_steps"]
            train_tokens = steps * cfg["target_batch_size"] * cfg["target_grad_accum"] * tpe
            dev_rows = _rows(cfg, source, "validation", "en", cfg["eval_examples"])
            eval_tokens += (steps // max(cfg["eval_every"], 1) + 2) * dev_rows * tpe
        test_rows = sum(_rows(cfg, target, "test", lang, cfg["max_eval_examples"]) for lang in data.target_languages(cfg))
        eval_tokens += test_rows * tpe * (2 if tasks.get_task(target)["format"] == "retrieval" else 1)
    seconds = STARTUP_S + depth_factor(cfg["model"]) * (train_tokens / train_rate + eval_tokens / eval_rate)
    return {"seconds": seconds, "train_tokens": train_tokens, "eval_tokens": eval_tokens, "assumed": assumed}


def estimate_plan(the_plan: dict, rates: dict | None = None) -> dict[str, dict]:
    """Every job of a `workflow.plan(...)` dict -> `estimate_job` (finished jobs included)."""
    rates = rates or throughput()
    out = {}
    for rel, job in the_plan["jobs"].items():
        cfg = P.resolve({k: v for k, v in job["params"].items() if k != "runs_dir"})
        out[rel] = estimate_job(cfg, job["phase"], rates)
    return out


def training_flops(config, tokens: float, *, mlm: bool = False) -> float:
    """Training FLOPs, the 6 x parameters x tokens rule (Kaplan et al. 2020) over the transformer
    layers, plus, for MLM, the vocabulary projection that scores every position (the decoder matrix,
    tied to the word embeddings, is vocab x hidden)."""
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 4 * h * h + 2 * h * f
    flops = 6.0 * layers * per_layer * tokens
    if mlm:
        flops += 6.0 * (h * h + h * config.vocab_size) * tokens
    return flops
