"""One run on several processes (DDP through accelerate, gloo on CPU) trains the same model as one
process with the same gradient accumulation."""
import socket

import pytest
import torch
import torch.multiprocessing as mp

from xstilts import train


def _setup():
    from transformers import AutoModel, XLMRobertaConfig
    from xstilts import models
    import random

    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=40, pad_token_id=1,
                              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # no RNG in the forward
    encoder = AutoModel.from_config(config)
    rng = random.Random(0)
    features = [{"input_ids": [0] + [rng.randrange(5, 50) for _ in range(rng.randrange(3, 12))] + [2]} for _ in range(64)]
    for f in features:
        f["labels"] = int(7 in f["input_ids"])
    head = models.attach_head(encoder, "classification", 2)
    return {"cls": head}, {"cls": train.TaskStream("cls", features, 4, 1, 0)}


def _fit(models_, streams, evals):
    def eval_fn():
        evals.append(1)
        return -float(len(evals))  # never improves: stops at the 3rd evaluation (patience 2), step 6
    return train.fit(models_, streams, train.FitSettings(learning_rate=1e-2, grad_accum=4, seed=0, eval_every=2, patience=2), total_steps=8, eval_fn=eval_fn, log=lambda *_: None)


def _worker(rank, world, port, out):
    import os
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    models_, streams = _setup()
    evals = []
    stats = _fit(models_, streams, evals)
    torch.save({"weights": [p.detach() for p in models_["cls"].parameters()], "stats": stats, "evals": len(evals)},
               f"{out}/rank{rank}.pt")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_like_one(tmp_path):
    torch.set_num_threads(1)
    models_, streams = _setup()
    evals = []
    single = _fit(models_, streams, evals)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for a, b, c in zip(models_["cls"].parameters(), r0["weights"], r1["weights"]):
        assert torch.equal(b, c)  # the processes agree exactly
        assert torch.allclose(a.detach(), b, atol=1e-5)  # and match one process up to summation order
    assert r0["evals"] == 3 and r1["evals"] == 0 and len(evals) == 3  # process 0 alone evaluates
    assert r0["stats"]["steps"] == r1["stats"]["steps"] == single["steps"] == 6  # early stopping agreed
    assert r0["stats"]["train_examples"] == single["train_examples"]  # summed over the processes


def test_grad_accum_must_split_over_the_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    models_, streams = _setup()
    with pytest.raises(ValueError, match="multiple of the 3 processes"):
        train.fit(models_, streams, train.FitSettings(learning_rate=1e-3, grad_accum=4), total_steps=1, log=lambda *_: None)


def test_gpus_per_run_is_checked_and_requested_and_launched(tmp_path):
    """`gpus_per_run: N`: CUDA only, accumulation a multiple of N; the Snakefile asks the scheduler
    for N GPUs and starts the run's notebook through `accelerate launch --num_processes N`."""
    import subprocess
    import sys

    from xstilts import params as P
    from xstilts import workflow

    with pytest.raises(P.ParamsError, match="needs device: cuda"):
        P.resolve({"gpus_per_run": 2, "device": "cpu"}, scale="smoke")
    with pytest.raises(P.ParamsError, match="target_grad_accum to be a multiple of 4"):
        P.resolve({"gpus_per_run": 4, "device": "cuda", "target_grad_accum": 2, "intermediate_grad_accum": 4},
                  scale="smoke")
    grid = tmp_path / "ddp.yaml"
    grid.write_text("grid: {target_task: [xnli], intermediate_tasks: [[]]}\nseeds: {smoke: [0]}\n"
                    "params: {device: cuda, gpus_per_run: 2, target_grad_accum: 2, intermediate_grad_accum: 2}\n"
                    "runs:\n  - {target_task: udpos, gpus_per_run: 1, device: cuda}\n")
    root = tmp_path / "runs"
    the_plan = workflow.plan([str(grid)], "smoke", str(root))
    plan_file = workflow._write_plan(the_plan, root, [str(grid)])
    snakefile = P.REPO_ROOT / "lib" / "xstilts" / "workflow" / "Snakefile"
    out = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(root),
                          "--configfile", str(plan_file), "--nolock", "--cores", "1", "--resources", "gpu=4",
                          "--dry-run", "--printshellcmds"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    assert "accelerate.commands.launch --num_processes 2 --module xstilts.workflow" in text
    assert "gpu=2" in text and "gpu=1" in text
