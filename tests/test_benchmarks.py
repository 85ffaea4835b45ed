"""benchmarks/bench_gpu.py at a tiny size on CPU (the GPU figure itself needs a GPU), and the
FLOP / peak accounting its MFU rests on."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_common  # noqa: E402
import bench_gpu  # noqa: E402


def test_bench_gpu_runs_tiny_on_cpu_side_by_side():
    r = bench_gpu.main(["--tiny", "--device", "cpu", "--steps", "2", "--warmup", "1", "--batch-size", "2",
                        "--agreement-steps", "2", "--max-length", "32"])
    assert r["machine"]["cpu_model"] and r["machine"]["cpu_mhz"] and r["peak_flops"] > 0
    for key in ("xstilts_bf16", "xstilts_fp32", "trainer_bf16"):
        row = r[key]
        assert row["steps"] == 3 and row["tokens"] > 0 and row["tokens_per_s"] > 0, key
        assert 0 < row["mfu"] < 1 and 0 < row["padding_efficiency"] <= 1, key
    # bf16 and fp32 runs of xstilts train on the same batches
    assert r["xstilts_bf16"]["tokens"] == r["xstilts_fp32"]["tokens"]
    assert r["trainer_bf16"]["trainer_settings"]["optim"].endswith("adamw_torch_fused")
    assert r["trainer_bf16"]["trainer_settings"]["train_sampling_strategy"] == "group_by_length"
    assert r["trainer_bf16"]["trainer_settings"]["bf16"] == "True"
    assert r["xstilts_bf16_vs_trainer_bf16"] > 0
    agree = r["bf16_vs_fp32"]["held_out_loss"]
    assert agree["fp32"] != agree["initial"]  # training moved the model
    assert r["bf16_vs_fp32"]["relative"] < 0.5  # bf16 follows fp32's trajectory


def test_xlmr_large_training_flops_per_token():
    from transformers import XLMRobertaForTokenClassification

    with torch.device("meta"):
        model = XLMRobertaForTokenClassification(bench_gpu.architecture(tiny=False))
    n_all = sum(p.numel() for p in model.parameters())
    assert 555e6 < n_all < 565e6  # XLM-R Large: 560M parameters, 257M of them embeddings
    per_token = bench_common.train_flops_per_token(model, mean_len=0)
    assert 6 * 300e6 < per_token < 6 * 306e6  # 6 x ~303M non-embedding parameters
    assert bench_common.train_flops_per_token(model, 100) - per_token == 12 * 24 * 1024 * 100


@pytest.mark.parametrize("name,tflops", [("NVIDIA H200", 989.4), ("NVIDIA H100 80GB HBM3", 989.4),
                                         ("NVIDIA H100 PCIe", 756.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                         ("NVIDIA L4", 121.0), ("NVIDIA L40S", 362.1)])
def test_gpu_bf16_peaks(name, tflops):
    assert bench_common.peak_flops("cuda", {"gpu": name})[0] == pytest.approx(tflops * 1e12)


def test_cpu_peak_and_unknown_gpu():
    info = {"cpu_mhz": 2445.0, "threads": 2, "aten_cpu_capability": "AVX2"}
    assert bench_common.peak_flops("cpu", info)[0] == pytest.approx(2 * 2.445e9 * 32)  # the 156 GFLOP/s
    assert bench_common.peak_flops("cpu", dict(info, aten_cpu_capability="AVX512"))[0] == pytest.approx(2 * 2.445e9 * 64)
    peak, why = bench_common.peak_flops("cuda", {"gpu": "Some Future GPU"})
    assert peak is None and "no bf16 peak" in why


def test_padding_efficiency_of_the_samplers():
    feats = bench_gpu.pos_features(400, 128, 1000)
    eff = bench_common.padding_efficiency(feats, 16)
    assert eff["examples"] == 400
    assert 0 < eff["no_grouping"] < eff["trainer_group_by_length"] <= 1
    assert eff["no_grouping"] < eff["xstilts_length_grouped"] <= 1
    same = [{"input_ids": [0] * 7} for _ in range(32)]  # equal lengths: nothing is padded
    assert bench_common.padding_efficiency(same, 16)["no_grouping"] == 1.0
