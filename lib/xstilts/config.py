"""The typed run configuration: every parameter's type, choices and range, as one pydantic model.

`params.resolve` merges base < scale < recipe < given values and hands the merged mapping to
`validate` once; phases, hashing, planning and the notebooks then read the validated values.
The model is strict (no "3" -> 3 coercion, no bool for an int) and forbids unknown keys; an
int given for a float parameter becomes a float, as YAML writes `3` for `3.0`. Its errors are
rewritten into the project's one-paragraph messages, which name the parameter, the value, what
is allowed, and where to fix it.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator

from xstilts.tasks import SCALES


def _range(ok, allowed: str):
    """A range check whose `allowed` text the error message quotes (`describe_errors`)."""
    def check(value):
        if not ok(value):
            raise ValueError(allowed)
        return value
    return AfterValidator(check)


def _at_least(n):
    return lambda v: v >= n


def _minus_one_or_at_least(n):
    return lambda v: v == -1 or v >= n


Positive = _range(lambda v: v > 0, "> 0")
AtLeastOne = _range(_at_least(1), ">= 1")
Tokens = _range(_at_least(8), ">= 8 tokens")


class RunConfig(BaseModel):
    """One run's parameters; base.yaml documents each one and gives its default."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    scale: Literal[SCALES]  # the registry's scales (Literal of a tuple: each entry is a choice)
    model: str
    source: Literal["auto", "smoke", "mirror", "hub"]
    data_dir: str
    runs_dir: str
    seed: Annotated[int, _range(_at_least(0), ">= 0")]
    mlm_steps: Annotated[int, _range(_at_least(0), ">= 0 (0 = no MLM phase)")]
    mlm_languages: list[str]
    mlm_batch_size: Annotated[int, AtLeastOne]
    mlm_learning_rate: Annotated[float, Positive]
    mlm_probability: Annotated[float, _range(lambda v: 0 < v < 1, "between 0 and 1 (exclusive)")]
    mlm_head_warmup_steps: int
    mlm_max_tokens: int
    intermediate_tasks: list[str]
    intermediate_languages: list[str]
    multitask_sampling: Literal["uniform", "proportional"]
    intermediate_epochs: Annotated[float, Positive]
    intermediate_batch_size: Annotated[int, AtLeastOne]
    intermediate_grad_accum: Annotated[int, AtLeastOne]
    target_task: str
    target_languages: list[str]
    target_epochs: Annotated[float, Positive]
    target_batch_size: Annotated[int, AtLeastOne]
    target_grad_accum: Annotated[int, AtLeastOne]
    learning_rate: Annotated[float, Positive]
    adam_epsilon: Annotated[float, Positive]
    weight_decay: Annotated[float, _range(_at_least(0), ">= 0")]
    warmup_ratio: Annotated[float, _range(lambda v: 0 <= v <= 1, "between 0 and 1")]
    max_grad_norm: Annotated[float, _range(_at_least(0), ">= 0 (0 = no clipping)")]
    intermediate_max_steps: Annotated[int, _range(_minus_one_or_at_least(1), "-1 (epochs decide) or >= 1")]
    intermediate_max_tokens: int
    extra_target_steps: int
    head_learning_rate: Annotated[float, _range(_at_least(0), ">= 0 (0 = learning_rate)")]
    # one phase's own learning rates (a task recipe's, recipes.py); 0 = the shared value above
    intermediate_learning_rate: Annotated[float, _range(_at_least(0), ">= 0 (0 = learning_rate)")]
    intermediate_head_learning_rate: Annotated[float, _range(_at_least(0), ">= 0 (0 = head_learning_rate)")]
    target_learning_rate: Annotated[float, _range(_at_least(0), ">= 0 (0 = learning_rate)")]
    target_head_learning_rate: Annotated[float, _range(_at_least(0), ">= 0 (0 = head_learning_rate)")]
    target_max_steps: Annotated[int, _range(_minus_one_or_at_least(1), "-1 (epochs decide) or >= 1")]
    freeze_embeddings: bool
    max_length: Annotated[int, Tokens]
    max_length_qa: Annotated[int, Tokens]
    max_length_retrieval: int
    long_sentences: Literal["window", "truncate"]
    doc_stride: Annotated[int, AtLeastOne]
    max_train_examples: Annotated[int, _range(_minus_one_or_at_least(1), "-1 (all) or >= 1")]
    max_eval_examples: Annotated[int, _range(_minus_one_or_at_least(1), "-1 (all) or >= 1")]
    eval_every: Annotated[int, _range(_at_least(0), ">= 0 (0 = never)")]
    eval_examples: Annotated[int, _range(_minus_one_or_at_least(1), "-1 (all) or >= 1")]
    early_stopping_patience: Annotated[int, _range(_at_least(0), ">= 0 (0 = never stop early)")]
    eval_batch_size: Annotated[int, AtLeastOne]
    retrieval_layer: Annotated[int, _range(_at_least(-1), "-1 (the middle layer) or a layer index >= 0")]
    device: Literal["auto", "cpu", "cuda"]
    precision: Literal["fp32", "bf16", "fp16"]
    gradient_checkpointing: bool
    torch_compile: bool
    threads: Annotated[int, _range(_at_least(0), ">= 0 (0 = torch's default)")]
    cpu_kernels: Literal["portable", "fast"]
    gpus_per_run: Annotated[int, _range(_at_least(1), ">= 1 (GPUs of one run, data-parallel through accelerate)")]
    checkpoint_every: Annotated[int, _range(_at_least(0), ">= 0 (0 = never)")]

    @model_validator(mode="after")
    def _consistent(self):
        # checks that involve several parameters, or a list's contents; each message is final
        if self.precision == "fp16" and self.device == "cpu":
            raise ValueError("precision: fp16 needs a CUDA GPU (fp16 autocast with loss scaling); with device: cpu "
                             "use precision: bf16 or fp32.")
        if not self.intermediate_languages:  # [] would train on nothing
            raise ValueError("Parameter 'intermediate_languages' is an empty list: name at least one language "
                             "(the paper's setting is [en]).")
        for key in ("mlm_languages", "intermediate_tasks", "intermediate_languages", "target_languages"):
            values = getattr(self, key)  # [mnli, mnli] is no new run
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"Parameter {key!r} = {values!r} names {', '.join(twice)} more than once; "
                                 f"list each entry once.")
        if self.doc_stride >= self.max_length_qa:
            raise ValueError(f"Parameter 'doc_stride' = {self.doc_stride} must be smaller than 'max_length_qa' = "
                             f"{self.max_length_qa} (QA windows overlap by doc_stride tokens).")
        return self


KEYS: tuple[str, ...] = tuple(RunConfig.model_fields)
_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool"}
_FIX = "Fix it in the parameter file or the notebook's parameters cell."


class ConfigError(ValueError):
    """The values do not make a valid run configuration (params.ParamsError wraps it)."""


def validate(values: dict) -> dict:
    """The validated values, in the order given (ints for float parameters become floats).

    Raises ConfigError with one message for every problem found.
    """
    try:
        model = RunConfig.model_validate(values)
    except ValidationError as err:
        raise ConfigError(" ".join(describe_errors(err, values))) from None
    checked = model.model_dump()
    return {key: checked[key] for key in values}


def describe_errors(err: ValidationError, values: dict) -> list[str]:
    """One sentence per problem, as `ParamsError` shows them."""
    messages = []
    for e in err.errors(include_url=False):
        if not e["loc"]:  # a model-level check (`_consistent`): its message is written for the user
            messages.append(e["msg"].removeprefix("Value error, "))
            continue
        key = e["loc"][0]
        field = RunConfig.model_fields.get(key)
        if e["type"] == "extra_forbidden" or field is None:
            messages.append(f"Unknown parameter {key!r}.")
            continue
        value = values.get(key, e["input"])  # the whole list, where one entry is wrong
        if e["type"] == "literal_error":
            choices = ", ".join(str(a) for a in field.annotation.__args__)
            messages.append(f"Parameter {key!r} = {value!r} is not one of {choices}.")
        elif e["type"] == "value_error":  # a `_range` check: its message is what is allowed
            allowed = e["msg"].removeprefix("Value error, ")
            shown = float(value) if field.annotation is float else value
            messages.append(f"Parameter {key!r} = {shown!r} is out of range: it must be {allowed}. {_FIX}")
        else:  # a wrong type, of the value or of a list entry
            typ = field.annotation
            wanted = "a list of strings" if typ == list[str] else _TYPE_NAMES.get(typ, str(typ))
            messages.append(f"Parameter {key!r} must be {wanted}, got {value!r} ({type(value).__name__}). {_FIX}")
    return list(dict.fromkeys(messages))  # a list with two bad entries gives one sentence

