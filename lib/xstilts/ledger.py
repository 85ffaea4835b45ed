"""The cost ledger: what each run spent, recorded in its result.json, and totals per grid.

Estimated FLOPs follow the usual dense-transformer count (Kaplan et al. 2020):
    training   ~ 6 x N x tokens  (forward 2N, backward 4N per token)
    evaluation ~ 2 x N x tokens  (forward only)
where N = the model's parameters outside its embedding lookups (word, position and token-type
embeddings are table reads, not matmuls) and tokens = real (unpadded) tokens processed. Attention's
sequence-length term is left out (a few % at these lengths). Energy is read from NVML's total-energy
counter (Volta or newer, package `nvidia-ml-py`) where it can be; otherwise it is left out.
"""
from __future__ import annotations

import time
from pathlib import Path

FORMULA = "train_flops = 6 * N * train_tokens, eval_flops = 2 * N * eval_tokens; N = parameters outside embedding lookups"

# Scales whose runs are committed, so their wall time is a fact about one machine's runs. Smoke runs
# are recomputed on every machine (`make smoke-check` compares what they write with the committed
# files), so what they print leaves device time out; their FLOP estimates count tokens and are the
# same anywhere.
TIMED_SCALES = ("offline", "full")


def matmul_parameters(model) -> int:
    """Parameters that take part in matmuls: all, minus embedding tables (shared ones counted once)."""
    seen, embedding = set(), set()
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            embedding.add(id(module.weight))
    total = 0
    for p in model.parameters():
        if id(p) not in seen and id(p) not in embedding:
            seen.add(id(p))
            total += p.numel()
    return total


def feature_tokens(features) -> int:
    """Real tokens in encoded features (multiple choice: every choice)."""
    total = 0
    for f in features:
        ids = f["input_ids"]
        total += sum(len(c) for c in ids) if ids and isinstance(ids[0], list) else len(ids)
    return total


def _energy_counter(device: str):
    """A function returning the GPU's energy counter in joules, or None where NVML cannot be read."""
    if not device.startswith("cuda"):
        return None
    try:
        import pynvml
        import torch

        pynvml.nvmlInit()
        index = torch.cuda.current_device() if device == "cuda" else int(device.split(":")[1])
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where the GPU has no counter
        return lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0  # mJ -> J
    except Exception:  # no pynvml, no driver access, or an older GPU: the ledger says energy unknown
        return None


class Meter:
    """Device time and energy of one run, from its start to `ledger()`."""

    def __init__(self, device: str):
        self.device = device
        self.started = time.perf_counter()
        self._energy = _energy_counter(device)
        self._joules0 = self._energy() if self._energy else None

    def ledger(self, *, parameters: int, train_tokens: int = 0, eval_tokens: int = 0, devices: int = 1) -> dict:
        seconds = time.perf_counter() - self.started
        out = {"device": self.device, "devices": devices, "device_seconds": seconds * devices,
               "parameters_matmul": parameters, "train_tokens": train_tokens, "eval_tokens": eval_tokens,
               "train_flops": 6.0 * parameters * train_tokens, "eval_flops": 2.0 * parameters * eval_tokens,
               "flops_formula": FORMULA, "energy_joules": None}
        if self._energy:
            try:
                out["energy_joules"] = self._energy() - self._joules0
            except Exception:  # the counter stopped being readable: say unknown rather than fail the run
                pass
        return out


def totals(results: list[dict]) -> dict:
    """Sum the ledgers of results (one grid's runs, or a table's): device-hours, FLOPs, energy."""
    ledgers = [r["cost"] for r in results if r.get("cost")]
    energies = [c["energy_joules"] for c in ledgers if c.get("energy_joules") is not None]
    return {"runs": len(results), "runs_with_ledger": len(ledgers),
            "device_hours": sum(c["device_seconds"] for c in ledgers) / 3600.0,
            "train_flops": sum(c["train_flops"] for c in ledgers),
            "eval_flops": sum(c["eval_flops"] for c in ledgers),
            "energy_kwh": sum(energies) / 3.6e6 if energies else None,
            "runs_with_energy": len(energies), "flops_formula": FORMULA}


def grid_totals(grid_path: str | Path, scale: str, runs_dir: str | None = None) -> dict:
    """The ledger totals of every finished run (all phases) of one grid at a scale."""
    from xstilts import runs, workflow

    the_plan = workflow.plan([str(grid_path)], scale, runs_dir)
    root = Path(the_plan["runs_root"])
    results = [r for rel in the_plan["jobs"] if (r := runs.finished(root / rel))]
    return dict(totals(results), grid=Path(grid_path).stem, scale=scale, runs_planned=len(the_plan["jobs"]))


def with_upstream(target_runs) -> list[Path]:
    """Target run folders plus the runs they started from (intermediate, MLM), each once: what a
    comparison of target runs spent. An upstream run is found by the name its target run's
    parameters give it (runs.run_name); one that cannot be named or found is left out, and
    `totals(...)["runs"]` is lower for it."""
    from xstilts import phases, runs

    out = {}
    for target in map(Path, target_runs):
        out[target] = None
        try:
            cfg = runs.read_json(target / "params.json")["all"]
            upstream = [target.parent.parent / phase / runs.run_name(cfg, phase)
                        for phase in phases.chain(cfg) if phase != "target"]
        except (OSError, ValueError, KeyError):  # an archived run's parameters predate today's phases
            continue
        out.update(dict.fromkeys(p for p in upstream if p.is_dir()))
    return list(out)


def runs_totals(target_runs) -> dict:
    """The ledger totals of target runs and their upstream runs (`with_upstream`)."""
    from xstilts import runs

    folders = with_upstream(target_runs)
    return totals([r for f in folders if (r := runs.finished(f))])


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
