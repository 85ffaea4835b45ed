"""What a run is: the three phases of X-STILTs as data, in one place.

A phase is (1) continued MLM, (2) English intermediate-task training, (3) English target-task
training with zero-shot evaluation. Each `Phase` says which parameters define its result, which
phase comes before it, whether a configuration trains it at all (else the phase passes its
upstream checkpoint through and has no run folder), the readable part of its folder name, the data
splits it reads, and the optimisation settings it trains with. Hashing (`runs.run_id`), planning
(`workflow.jobs_for`), checks (`data.check_run_inputs`, `audit`, `prefetch`), execution
(`pipeline`, `phase_notebook`) and the result tables all read these definitions; none of them
keeps its own copy.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from xstilts import params as P
from xstilts import tasks


@dataclass(frozen=True)
class Read:
    """One split a run reads. `task` owns the data; `owner` is the task the phase is about (a target
    task trains on its `train_from` task's data). `role`: training, selection or evaluation."""
    phase: str
    role: str
    owner: str
    task: str
    split: str
    lang: str
    limit: int | None

    @property
    def label(self) -> str:
        via = f" (as {self.owner})" if self.owner != self.task else ""
        return f"{self.phase}:{self.task}/{self.split}/{self.lang}{via}"


@dataclass(frozen=True)
class FitSettings:
    """Everything `train.fit` optimises with, for one phase: built whole from the configuration by
    `fit_settings`, so no phase can fall back on a default the configuration does not hold."""
    learning_rate: float
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-8
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    grad_accum: int = 1
    sampling: str = "uniform"
    seed: int = 0
    eval_every: int = 0
    patience: int = 0
    checkpoint_every: int = 0
    precision: str = "fp32"
    compile_model: bool = False
    head_learning_rate: float | None = None


@dataclass(frozen=True)
class Phase:
    name: str
    notebook: str                          # notebooks/<notebook> runs it
    upstream: str | None                   # the phase before it
    # parameters that define its result, beyond its upstream's. Execution-only keys (threads, device,
    # runs_dir, checkpoint_every, gradient_checkpointing, torch_compile, cpu_kernels, gpus_per_run)
    # never change results on purpose, so they are in no phase's keys and in no hash.
    keys: tuple[str, ...]
    trains: Callable[[dict], bool]         # False: no run of its own, the upstream checkpoint is used as is
    label: Callable[[dict], str]           # what the run is, as the start of its folder name
    reads: Callable[[dict], list[Read]]    # the splits it reads, in the order it reads them


_OPTIMISER = ("learning_rate", "adam_epsilon", "weight_decay", "warmup_ratio", "max_grad_norm")


def _limit(n: int) -> int | None:
    return None if n is None or n < 0 else n


def source(cfg: dict) -> str:
    """The data source a configuration reads (`auto`: its scale's, tasks.SCALE_SOURCE)."""
    return tasks.SCALE_SOURCE[cfg["scale"]] if cfg["source"] == "auto" else cfg["source"]


def target_languages(cfg: dict) -> list[str]:
    """The languages a run evaluates its target task in (all its data source has, unless narrowed)."""
    return cfg["target_languages"] or tasks.languages(cfg["target_task"], source(cfg))


def mlm_languages(cfg: dict) -> list[str]:
    return cfg["mlm_languages"] or tasks.languages("mlm_text", source(cfg))


def _intermediate_suffix(cfg: dict) -> str:
    return "-" + "".join(cfg["intermediate_languages"]) if cfg["intermediate_languages"] != ["en"] else ""


def _mlm_label(cfg: dict) -> str:
    return f"{cfg['model'].replace('/', '_')}-mlm{cfg['mlm_steps']}"


def _intermediate_label(cfg: dict) -> str:
    return ("+".join(cfg["intermediate_tasks"]) or "none") + _intermediate_suffix(cfg)


def _target_label(cfg: dict) -> str:
    what = f"{cfg['target_task']}-after-{'+'.join(cfg['intermediate_tasks']) or 'none'}"
    if cfg["intermediate_tasks"]:
        what += _intermediate_suffix(cfg)
    if cfg["mlm_steps"]:
        what += f"-mlm{cfg['mlm_steps']}"
    return what


def _mlm_reads(cfg: dict) -> list[Read]:
    return [Read("mlm", "training", "mlm_text", "mlm_text", "train", lang, _limit(cfg["max_train_examples"]))
            for lang in mlm_languages(cfg)]


def _intermediate_reads(cfg: dict) -> list[Read]:
    out = []
    for name in cfg["intermediate_tasks"]:
        out += [Read("intermediate", "training", name, name, "train", lang, _limit(cfg["max_train_examples"]))
                for lang in cfg["intermediate_languages"]]
        # model selection is on English dev, whatever languages the task trains on
        out.append(Read("intermediate", "selection", name, name, "validation", "en", _limit(cfg["eval_examples"])))
    return out


def _target_reads(cfg: dict) -> list[Read]:
    target = cfg["target_task"]
    out = []
    if tasks.get_task(target)["format"] != "retrieval":  # retrieval is scored from the upstream encoder
        source = tasks.train_task(target)
        out.append(Read("target", "training", target, source, "train", "en", _limit(cfg["max_train_examples"])))
        out.append(Read("target", "selection", target, source, "validation", "en", _limit(cfg["eval_examples"])))
    out += [Read("target", "evaluation", target, target, "test", lang, _limit(cfg["max_eval_examples"]))
            for lang in target_languages(cfg)]
    return out


MLM = Phase(
    "mlm", "01_mlm.ipynb", None,
    ("scale", "model", "source", "seed", "mlm_steps", "mlm_languages", "mlm_batch_size", "mlm_learning_rate",
     "mlm_probability", "max_length", "freeze_embeddings", "mlm_head_warmup_steps", "mlm_max_tokens", "precision",
     "max_train_examples", "adam_epsilon", "weight_decay", "warmup_ratio", "max_grad_norm"),
    trains=lambda cfg: cfg["mlm_steps"] > 0, label=_mlm_label, reads=_mlm_reads)
INTERMEDIATE = Phase(
    "intermediate", "02_intermediate.ipynb", "mlm",
    ("intermediate_tasks", "intermediate_languages", "multitask_sampling", "intermediate_epochs",
     "intermediate_batch_size", "intermediate_grad_accum", *_OPTIMISER, "intermediate_max_steps",
     "intermediate_max_tokens", "head_learning_rate", "intermediate_learning_rate", "intermediate_head_learning_rate",
     "max_length", "max_length_qa", "doc_stride",
     "max_train_examples", "eval_every", "eval_examples", "early_stopping_patience", "long_sentences"),
    trains=lambda cfg: bool(cfg["intermediate_tasks"]), label=_intermediate_label, reads=_intermediate_reads)
TARGET = Phase(
    "target", "03_target.ipynb", "intermediate",
    ("target_task", "target_languages", "target_epochs", "target_batch_size", "target_grad_accum", *_OPTIMISER,
     "target_max_steps", "extra_target_steps", "head_learning_rate", "target_learning_rate", "target_head_learning_rate",
     "max_length", "max_length_qa", "doc_stride",
     "max_train_examples", "max_eval_examples", "eval_every", "eval_examples", "early_stopping_patience",
     "retrieval_layer", "max_length_retrieval", "long_sentences"),
    trains=lambda cfg: True, label=_target_label, reads=_target_reads)

PHASES: dict[str, Phase] = {p.name: p for p in (MLM, INTERMEDIATE, TARGET)}
NAMES = tuple(PHASES)

# Keys added after runs were committed: each enters a run's hash only when it differs from the value
# that computes what the code did before the key existed, so every earlier run keeps its hash.
HASHED_UNLESS = {"precision": "fp32", "max_length_retrieval": -1, "long_sentences": "truncate",
                 "mlm_head_warmup_steps": 0, "mlm_max_tokens": 0, "intermediate_max_tokens": 0,
                 "extra_target_steps": 0, "head_learning_rate": 0.0, "intermediate_learning_rate": 0.0,
                 "intermediate_head_learning_rate": 0.0, "target_learning_rate": 0.0, "target_head_learning_rate": 0.0}
# what a retrieval target (BUCC, Tatoeba: no fine-tuning, scored from the upstream encoder) reads;
# its other target keys take the scale's defaults in the hash (see defining_params)
RETRIEVAL_KEYS = ("target_task", "target_languages", "max_length", "max_length_retrieval", "max_eval_examples",
                  "retrieval_layer")


def get(name: str) -> Phase:
    return PHASES[name]


def trains(cfg: dict, phase: str) -> bool:
    """Whether the phase trains anything for this configuration (and so has a run folder of its own)."""
    return PHASES[phase].trains(cfg)


def upstream_run(cfg: dict, phase: str) -> str | None:
    """The nearest phase before `phase` that has a run of its own (None: the public model)."""
    up = PHASES[phase].upstream
    while up and not trains(cfg, up):
        up = PHASES[up].upstream
    return up


def chain(cfg: dict) -> list[str]:
    """The phases of a configuration that have runs, first to last: what planning schedules."""
    return [name for name in NAMES if trains(cfg, name)]


def reads(cfg: dict) -> list[Read]:
    """Every split a configuration's runs read, phase by phase (rows are sampled with seed 0)."""
    return [r for name in chain(cfg) for r in PHASES[name].reads(cfg)]


def defining_params(cfg: dict, phase: str) -> dict:
    """The parameters that define a phase's result (its run hash), its upstream phases' included."""
    keys: list[str] = []
    p: str | None = phase
    while p:
        keys = list(PHASES[p].keys) + keys
        p = PHASES[p].upstream
    # a key of HASHED_UNLESS that a stored params.json predates takes its legacy value: not hashed
    out = {k: cfg[k] for k in dict.fromkeys(keys) if k in cfg or k not in HASHED_UNLESS}
    # a phase that trains nothing does not depend on its own hyperparameters: its runs are shared
    if phase != "mlm" and not trains(cfg, "intermediate"):
        for k in INTERMEDIATE.keys:
            if k not in TARGET.keys and k not in MLM.keys:
                out.pop(k, None)
        out["intermediate_tasks"] = []
    if not trains(cfg, "mlm"):
        for k in ("mlm_languages", "mlm_batch_size", "mlm_learning_rate", "mlm_probability", "mlm_head_warmup_steps",
                  "mlm_max_tokens"):
            out.pop(k, None)
    if phase == "target" and tasks.get_task(cfg["target_task"])["format"] == "retrieval":
        # a retrieval task is not fine-tuned: its fine-tuning keys cannot change its numbers, so they
        # take the scale's defaults in the hash (a grid's shared fine-tuning settings reuse the run)
        used = set(RETRIEVAL_KEYS)
        if trains(cfg, "intermediate"):
            used.update(INTERMEDIATE.keys)
        if trains(cfg, "mlm"):
            used.update(MLM.keys)
        scale_defaults = _typed_defaults(cfg["scale"])
        for k in TARGET.keys:
            if k in out and k not in used:
                out[k] = scale_defaults[k]
    for k, legacy in HASHED_UNLESS.items():
        if out.get(k, legacy) == legacy:
            out.pop(k, None)
    return out


@functools.lru_cache(maxsize=None)
def _typed_defaults(scale: str) -> dict:
    return P.typed_defaults(scale)


def fit_settings(cfg: dict, phase: str) -> FitSettings:
    """The optimisation settings of one phase, whole, from the configuration."""
    per_phase = {
        "mlm": dict(learning_rate=cfg["mlm_learning_rate"], head_learning_rate=cfg["head_learning_rate"] or None,
                    grad_accum=1, eval_every=0, patience=0),
        "intermediate": dict(**learning_rates(cfg, "intermediate"), grad_accum=cfg["intermediate_grad_accum"],
                             sampling=cfg["multitask_sampling"], eval_every=cfg["eval_every"],
                             patience=cfg["early_stopping_patience"]),
        "target": dict(**learning_rates(cfg, "target"), grad_accum=cfg["target_grad_accum"],
                       eval_every=cfg["eval_every"], patience=cfg["early_stopping_patience"]),
    }[phase]
    return FitSettings(weight_decay=cfg["weight_decay"], adam_epsilon=cfg["adam_epsilon"],
                       warmup_ratio=cfg["warmup_ratio"], max_grad_norm=cfg["max_grad_norm"], seed=cfg["seed"],
                       checkpoint_every=cfg["checkpoint_every"], precision=cfg["precision"],
                       compile_model=cfg["torch_compile"], **per_phase)


def learning_rates(cfg: dict, phase: str) -> dict:
    """The encoder and head learning rates one fine-tuning phase trains with: its own keys (a task
    recipe's) where set, else the shared ones; head None = the encoder's rate."""
    return {"learning_rate": cfg[f"{phase}_learning_rate"] or cfg["learning_rate"],
            "head_learning_rate": cfg[f"{phase}_head_learning_rate"] or cfg["head_learning_rate"] or None}
