"""What bench_train.py (CPU, offline encoder) and bench_gpu.py (XLM-R Large, random weights) share:
phase-3 training of a token-classification model measured like for like with xstilts' loop and with
`transformers.Trainer`, real-token throughput with warm-up excluded, MFU, and the machine record.

Like for like: both sides get the same model initialisation, the same training examples (one pass
over exactly warm-up + measured steps x batch examples), batch size, frozen word embeddings (or
not), length grouping (Trainer: `group_by_length`), fused AdamW (Trainer: `adamw_torch_fused`),
learning rate, weight decay, warm-up ratio, gradient clipping and precision (bf16 autocast or
fp32). The clock starts after the warm-up steps and stops after the last step (CUDA synchronised);
tokens are the non-pad tokens of the measured steps' batches, as each side batched them.
"""
from __future__ import annotations

import os
import platform
import random
import time
from contextlib import nullcontext

import torch

from xstilts import determinism  # noqa: E402  (importing xstilts pins the CPU kernels; nothing has computed yet)

# Dense (no 2:4 sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, in TFLOP/s; matched on
# the device name. A device not listed gets no MFU (stated in the output), never a guessed one.
GPU_BF16_PEAK_TFLOPS = {"H200": 989.4, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.4,  # H100 = SXM (HBM3)
                        "A100": 312.0, "L40S": 362.1, "L4": 121.0, "A10G": 70.0, "A10": 125.0, "RTX 4090": 165.2}


def machine(device: str) -> dict:
    """CPU model and clock (and GPU name) recorded beside every figure."""
    cpu = determinism.cpuinfo()  # the first processor's /proc/cpuinfo fields ({} where there is none)
    info = {"machine": platform.machine(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_model": cpu.get("model name"), "cpu_mhz": float(cpu["cpu MHz"]) if cpu.get("cpu MHz") else None,
            "cpu_flags_avx512": "avx512f" in cpu["flags"].split() if "flags" in cpu else None,
            "cores": os.cpu_count(), "aten_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    info.update(determinism.cpu_identity(cpu))  # family/model/stepping: VMs name every EPYC "AMD EPYC"
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def peak_flops(device: str, info: dict) -> tuple[float | None, str]:
    """(peak FLOP/s, how it was derived). CPU: threads x clock x FLOP/cycle of the ISA ATen computes
    with (AVX2: 2 FMA units x 8 fp32 lanes x 2 = 32; AVX-512: 64), fp32 (bf16 on a CPU without
    AMX runs at most as fast). GPU: the dense bf16 datasheet peak (fp32 runs use it too, so fp32 MFU
    reads against the bf16 peak, as the issue asks)."""
    if device == "cuda":
        name = info.get("gpu", "")
        for key, tflops in GPU_BF16_PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12, f"{key} dense bf16 datasheet peak {tflops} TFLOP/s"
        return None, f"no bf16 peak known for {name!r}"
    mhz = info.get("cpu_mhz")
    if not mhz:
        return None, "CPU clock unknown"
    per_cycle = 64 if "AVX512" in str(info.get("aten_cpu_capability", "")).upper() else 32
    threads = info["threads"]
    return threads * mhz * 1e6 * per_cycle, f"{threads} threads x {mhz:.0f} MHz x {per_cycle} fp32 FLOP/cycle"


def train_flops_per_token(model, mean_len: float) -> float:
    """Training FLOPs per token (forward + backward): 6 x non-embedding parameters plus attention's
    12 x layers x hidden x sequence length (the PaLM appendix B count); embedding lookups are free."""
    n = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    cfg = model.config
    return 6.0 * n + 12.0 * cfg.num_hidden_layers * cfg.hidden_size * mean_len


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _autocast(device, precision):
    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return nullcontext()


def _tokens_and_padding(batches: list[dict]) -> tuple[int, float, float]:
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].numel() for b in batches)
    # token-weighted mean length: what attention's per-token cost grows with
    sq = sum(int(n) ** 2 for b in batches for n in b["attention_mask"].sum(1))
    return real, real / padded, sq / real


def measure_xstilts(make_model, features, *, batch_size, warmup, steps, precision, device, pad_id,
                    freeze=True, learning_rate=5e-5, compile_model=False) -> dict:
    """xstilts' `train.fit` over warm-up + `steps` steps; the clock runs from the end of warm-up."""
    from xstilts import train

    model = make_model().to(device)
    if freeze:
        train.freeze_word_embeddings(model)
    if compile_model:
        model = torch.compile(model)
    total = warmup + steps
    stream = train.TaskStream("bench", features, batch_size, pad_id, seed=0)
    replay = train.TaskStream("bench", features, batch_size, pad_id, seed=0)  # the same batches, for counting
    batches = [replay.next() for _ in range(total)]
    stamps = {}

    def clock():  # fit calls eval_fn after every step (eval_every=1): a timestamp, no evaluation
        _sync(device)
        stamps[len(stamps) + 1] = time.perf_counter()
        return 0.0

    with _autocast(device, precision):
        stats = train.fit({"bench": model}, {"bench": stream},
                          train.FitSettings(learning_rate=learning_rate, eval_every=1), total_steps=total,
                          eval_fn=clock, device=device, log=lambda *_: None)
    seconds = stamps[total] - stamps[warmup]
    tokens, efficiency, mean_len = _tokens_and_padding(batches[warmup:total])
    return {"steps": stats["steps"], "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
            "examples_per_s": batch_size * steps / seconds, "padding_efficiency": efficiency,
            "mean_len": mean_len, "flops_per_token": train_flops_per_token(model, mean_len), "model": model}


class _TokenCounter:
    """Wraps Trainer's data collator: records each batch's attention mask, in the order collated."""

    def __init__(self, collate):
        self.collate, self.batches = collate, []

    def __call__(self, features):
        batch = self.collate(features)
        self.batches.append({"attention_mask": batch["attention_mask"].clone()})
        return batch


def measure_trainer(make_model, features, *, batch_size, warmup, steps, precision, device, collate,
                    freeze=True, learning_rate=5e-5, out_dir="/tmp/xstilts_bench_trainer") -> dict:
    """`transformers.Trainer` as a user would set it up for the same job: bf16 (or fp32),
    `adamw_torch_fused`, length grouping (`train_sampling_strategy="group_by_length"`, transformers
    5's name for `group_by_length`), the same batch size, learning rate, weight decay,
    warm-up ratio and clipping; its clock is a callback at each step's end."""
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model = make_model()
    if freeze:
        model.get_input_embeddings().weight.requires_grad_(False)
    total = warmup + steps
    stamps = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            _sync(device)
            stamps[state.global_step] = time.perf_counter()

    counter = _TokenCounter(collate)
    dataset = Dataset.from_list([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
    targs = TrainingArguments(output_dir=out_dir, max_steps=total, per_device_train_batch_size=batch_size,
                              learning_rate=learning_rate, weight_decay=0.01, warmup_steps=0.1, max_grad_norm=1.0,
                              optim="adamw_torch_fused", train_sampling_strategy="group_by_length",
                              bf16=precision == "bf16",
                              report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True,
                              use_cpu=device == "cpu", dataloader_pin_memory=device == "cuda", seed=0)
    trainer = Trainer(model=model, args=targs, train_dataset=dataset, data_collator=counter,
                      callbacks=[Clock()])
    trainer.train()
    seconds = stamps[total] - stamps[warmup]
    tokens, efficiency, mean_len = _tokens_and_padding(counter.batches[warmup:total])
    settings = {k: str(getattr(getattr(targs, k), "value", getattr(targs, k))) for k in ("optim", "train_sampling_strategy", "bf16",
                                                     "per_device_train_batch_size", "learning_rate", "weight_decay")}
    return {"steps": total, "seconds": seconds, "trainer_settings": settings, "tokens": tokens, "tokens_per_s": tokens / seconds,
            "examples_per_s": batch_size * steps / seconds, "padding_efficiency": efficiency,
            "mean_len": mean_len, "flops_per_token": train_flops_per_token(model, mean_len), "model": model}


def padding_efficiency(features, batch_size: int, seed: int = 0) -> dict:
    """Real / padded tokens of one epoch of batches over `features` (no model, no clock): xstilts'
    length grouping, Trainer's LengthGroupedSampler, and plain shuffled batches. On top of a
    sampler, packing sentences into rows can save at most the padded share, 1 - efficiency."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from xstilts import encode

    lens = [len(f["input_ids"]) for f in features]

    def eff(batches):
        return sum(lens[i] for b in batches for i in b) / sum(max(lens[i] for i in b) * len(b) for b in batches)

    def cut(order):
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

    shuffled = list(range(len(lens)))
    random.Random(seed).shuffle(shuffled)
    hf = list(LengthGroupedSampler(batch_size, lengths=lens, generator=torch.Generator().manual_seed(seed)))
    return {"examples": len(lens), "batch_size": batch_size,
            "xstilts_length_grouped": eff(encode.length_grouped_batches(features, batch_size, random.Random(seed))),
            "trainer_group_by_length": eff(cut(hf)), "no_grouping": eff(cut(shuffled))}


def subset(features, n: int, seed: int = 0) -> list:
    """The same n training examples for every side (a seeded sample, file order kept)."""
    keep = sorted(random.Random(seed).sample(range(len(features)), n)) if n < len(features) else range(len(features))
    return [features[i] for i in keep]


def summarise(row: dict, peak: float | None) -> dict:
    """A result row without the model, with MFU against `peak` (None when the peak is unknown)."""
    out = {k: v for k, v in row.items() if k != "model"}
    out["mfu"] = row["tokens_per_s"] * row["flops_per_token"] / peak if peak else None
    return out
