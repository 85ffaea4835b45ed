"""Phase-3 throughput on POS-shaped batches with the XLM-R Large architecture, randomly initialised
(no weights, no tokenizer, no network): xstilts' loop in bf16 and fp32 and `transformers.Trainer`
(bf16, `adamw_torch_fused`, `group_by_length`) side by side in one process, each with tokens/s and
MFU against the device's bf16 peak; plus the agreement of bf16 and fp32 over a few training steps.

Batches: sentence lengths (in subwords, with <s> and </s>) drawn from a seeded log-normal shaped
like English UD-POS under XLM-R's tokenizer (median 24, long tail, capped at max_length); token
ids are random non-special ids, labels one of the 17 UPOS tags on every subword. The same
examples for every side (bench_common.py).

    python benchmarks/bench_gpu.py                 # on a GPU: XLM-R Large, ~5 minutes
    python benchmarks/bench_gpu.py --tiny --device cpu --steps 3 --warmup 1   # the test's size
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as B  # noqa: E402

N_TAGS = 17
PAD_ID = 1  # XLM-R's <pad>


def architecture(tiny: bool):
    from transformers import XLMRobertaConfig

    if tiny:  # the same code path at a size a 2-core CPU runs in seconds
        return XLMRobertaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=128, max_position_embeddings=130, num_labels=N_TAGS)
    # FacebookAI/xlm-roberta-large's config.json
    return XLMRobertaConfig(vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                            intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1,
                            layer_norm_eps=1e-5, num_labels=N_TAGS)


def pos_lengths(n: int, max_length: int, seed: int = 0) -> list[int]:
    """n sentence lengths in subwords shaped like English UD-POS (see the module docstring)."""
    rng = random.Random(seed)
    return [min(max_length, max(4, int(round(math.exp(rng.gauss(math.log(24), 0.65)))))) for _ in range(n)]


def pos_features(n: int, max_length: int, vocab: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed + 1)
    feats = []
    for length in pos_lengths(n, max_length, seed):
        ids = [0] + [rng.randrange(5, vocab) for _ in range(length - 2)] + [2]
        labels = [-100] + [rng.randrange(N_TAGS) for _ in range(length - 2)] + [-100]
        feats.append({"input_ids": ids, "labels": labels})
    return feats


def model_factory(config, seed: int = 0):
    from transformers import XLMRobertaForTokenClassification

    def make():
        torch.manual_seed(seed)
        return XLMRobertaForTokenClassification(config)
    return make


def agreement(make_model, features, *, batch_size, steps, device) -> dict:
    """bf16 vs fp32: the same init and batches for `steps` optimiser steps, then the fp32 loss of
    both models on one fixed held-out batch; `relative` = |bf16 - fp32| / |initial - fp32|."""
    from xstilts import encode, train

    held_out = {k: v.to(device) for k, v in encode.collate(features[-batch_size:], PAD_ID).items()}
    losses = {}
    for precision in ("fp32", "bf16", "initial"):
        model = make_model().to(device)
        if precision != "initial":
            stream = train.TaskStream("agree", features[:-batch_size], batch_size, PAD_ID, seed=0)
            with B._autocast(device, precision):
                train.fit({"agree": model}, {"agree": stream},
                          train.FitSettings(learning_rate=5e-5, warmup_ratio=0.0), total_steps=steps, device=device,
                          log=lambda *_: None)
        model.eval()
        with torch.no_grad():
            losses[precision] = float(model(**held_out).loss)
    return {"steps": steps, "held_out_loss": losses,
            "relative": abs(losses["bf16"] - losses["fp32"]) / max(abs(losses["initial"] - losses["fp32"]), 1e-12)}


def run(args) -> dict:
    from xstilts import encode

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    config = architecture(args.tiny)
    make = model_factory(config)
    n = (args.warmup + args.steps) * args.batch_size
    features = pos_features(n + args.batch_size, args.max_length, config.vocab_size)
    train_features = features[:n]
    info = B.machine(device)
    peak, peak_note = B.peak_flops(device, info)
    common = dict(batch_size=args.batch_size, warmup=args.warmup, steps=args.steps, device=device,
                  freeze=args.freeze_embeddings)
    rows = {}
    started = time.perf_counter()
    for precision in args.precisions:
        rows[f"xstilts_{precision}"] = B.summarise(B.measure_xstilts(make, train_features, precision=precision,
                                                                     pad_id=PAD_ID, **common), peak)
    collate = lambda fs: encode.collate(fs, PAD_ID)  # noqa: E731 (the collator xstilts' loop uses)
    rows["trainer_bf16"] = B.summarise(B.measure_trainer(make, train_features, precision="bf16",
                                                         collate=collate, **common), peak)
    result = {"benchmark": "bench_gpu", "architecture": "tiny XLM-R" if args.tiny else "XLM-R Large (random init)",
              "device": device, "machine": info, "peak_flops": peak, "peak_note": peak_note,
              "batch_size": args.batch_size, "warmup_steps": args.warmup, "measured_steps": args.steps,
              "max_length": args.max_length, "frozen_word_embeddings": args.freeze_embeddings,
              "tf32": device == "cuda", **rows}
    if "xstilts_bf16" in rows:
        result["xstilts_bf16_vs_trainer_bf16"] = rows["xstilts_bf16"]["tokens_per_s"] / rows["trainer_bf16"]["tokens_per_s"]
    if args.agreement_steps:
        result["bf16_vs_fp32"] = agreement(make, features, batch_size=args.batch_size, steps=args.agreement_steps,
                                           device=device)
    result["wall_seconds"] = time.perf_counter() - started
    return result


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda if available")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer, 64-wide XLM-R (tests, CPU)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=5, help="steps before the clock starts")
    ap.add_argument("--steps", type=int, default=40, help="measured steps")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=["bf16", "fp32"])
    ap.add_argument("--agreement-steps", type=int, default=10)
    ap.add_argument("--freeze-embeddings", action="store_true",
                    help="freeze the word embeddings (the offline scale's setting; full scale trains them)")
    ap.add_argument("--out", default=None, help="merge the result into this JSON file under key `gpu`")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    result = run(args)
    print(json.dumps(result, indent=1))
    if args.out:
        path = Path(args.out)
        existing = json.loads(path.read_text()) if path.exists() else {}
        existing["gpu"] = result
        path.write_text(json.dumps(existing, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
