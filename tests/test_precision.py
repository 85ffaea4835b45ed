"""Mixed precision, gradient checkpointing and the cost ledger, on CPU (no GPU in CI)."""
import math

import pytest
import torch

from xstilts import ledger, params as P, phases, pipeline, precision, train
from test_train import _tiny_setup, _weights


def _fit(prec="fp32", steps=6, **kw):
    models_, streams = _tiny_setup()
    losses = []
    stats = train.fit(models_, streams, train.FitSettings(learning_rate=1e-3, seed=0, precision=prec), total_steps=steps, log=lambda msg: losses.append(msg), **kw)
    return models_, stats


def test_bf16_autocast_trains_on_cpu_with_finite_loss_and_differs_from_fp32():
    fp32, _ = _fit("fp32")
    bf16, stats = _fit("bf16")
    w = _weights(bf16)
    assert torch.isfinite(w).all() and stats["steps"] == 6
    assert not torch.equal(w, _weights(fp32))  # bf16 matmuls really ran
    assert torch.allclose(w, _weights(fp32), atol=5e-2)  # ...and trained the same model, roughly
    initial = _weights(_tiny_setup()[0])
    assert not torch.equal(w, initial)


def test_fp32_is_the_default_path():
    a, _ = _fit("fp32")
    models_, streams = _tiny_setup()
    train.fit(models_, streams, train.FitSettings(learning_rate=1e-3, seed=0), total_steps=6, log=lambda *_: None)
    assert torch.equal(_weights(a), _weights(models_))


def test_fp16_loss_scaling_skips_overflowing_steps(monkeypatch):
    """The fp16 path (CUDA-only in real runs) with the device check lifted, on CPU's fp16 autocast."""
    monkeypatch.setattr(precision, "check", lambda *a: None)
    models_, stats = _fit("fp16", steps=4)
    assert torch.isfinite(_weights(models_)).all() and stats["steps"] == 4
    # an overflowing gradient: the scaler skips the step (weights unchanged) and shrinks its scale
    scaler = precision.grad_scaler("fp16", "cpu")
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    scaler.scale(model(torch.ones(1, 2)).sum() * float("inf")).backward()
    scale0 = scaler.get_scale()
    scaler.step(opt)
    scaler.update()
    assert torch.equal(model.weight, before) and scaler.get_scale() < scale0


def test_fp16_is_refused_on_cpu_before_compute():
    with pytest.raises(P.ParamsError, match="fp16 needs a CUDA GPU"):
        P.resolve({"precision": "fp16", "device": "cpu"})
    cfg = P.resolve({"precision": "fp16"})
    if not torch.cuda.is_available():
        with pytest.raises(precision.PrecisionError, match="fp16 needs a CUDA GPU"):
            pipeline.device_of(cfg)
    with pytest.raises(P.ParamsError, match="precision"):
        P.resolve({"precision": "fp8"})


def test_precision_enters_the_run_hash_only_when_not_fp32():
    from xstilts import runs

    a = P.resolve({"target_task": "udpos", "intermediate_tasks": ["mnli"]})
    assert "precision" not in phases.defining_params(a, "target")
    b = dict(a, precision="bf16")
    assert runs.run_id(a, "target") != runs.run_id(b, "target")
    assert runs.run_id(a, "intermediate") != runs.run_id(b, "intermediate")
    c = dict(a, gradient_checkpointing=True, torch_compile=True)  # execution only
    assert runs.run_id(a, "target") == runs.run_id(c, "target")


def test_gradient_checkpointing_gives_the_same_training():
    plain, _ = _fit("fp32")
    models_, streams = _tiny_setup()
    encoder = next(m for m in models_["cls"].modules() if hasattr(m, "activation_checkpointing_enable"))
    train.enable_gradient_checkpointing(encoder)
    assert encoder.is_activation_checkpointing
    train.fit(models_, streams, train.FitSettings(learning_rate=1e-3, seed=0), total_steps=6, log=lambda *_: None)
    assert torch.allclose(_weights(plain), _weights(models_), atol=1e-6)


def test_cost_ledger_counts_matmul_parameters_and_sums_per_grid():
    models_, _ = _tiny_setup()
    model = models_["cls"]
    n_all = sum(p.numel() for p in model.parameters())
    n = ledger.matmul_parameters(model)
    n_embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    assert n == n_all - n_embedding and n > 0
    entry = ledger.Meter("cpu").ledger(parameters=n, train_tokens=1000, eval_tokens=300)
    assert entry["train_flops"] == 6 * n * 1000 and entry["eval_flops"] == 2 * n * 300
    assert entry["energy_joules"] is None and entry["device_seconds"] >= 0  # no NVML on CPU
    results = [{"cost": dict(entry, device_seconds=1800.0)}, {"cost": dict(entry, device_seconds=5400.0,
                                                                            energy_joules=3.6e6)}, {}]
    total = ledger.totals(results)
    assert total["runs"] == 3 and total["runs_with_ledger"] == 2
    assert math.isclose(total["device_hours"], 2.0) and total["train_flops"] == 2 * 6 * n * 1000
    assert total["energy_kwh"] == 1.0 and total["runs_with_energy"] == 1
    assert ledger.feature_tokens([{"input_ids": [1, 2, 3]}, {"input_ids": [[1, 2], [3]]}]) == 6
