"""Task recipes: each task's training hyperparameters, per scale, kept in its `tasks.yaml` entry.

A task entry may hold `recipe: {<scale>: {parameter: value, ...}}` (the paper's values under
`full`, from study.md). A run takes the recipes of its target task and of its intermediate tasks
at its scale. Precedence, the one rule (also in params/base.yaml and docs/DEVELOPING.md):

    base.yaml  <  scales/<scale>.yaml  <  task recipes at that scale  <  grid  <  explicit values

A recipe may only set its own phase's keys (`target_*` for a target task, `intermediate_*` for an
intermediate task: epochs, batch, accumulation, its learning rates) and the keys both phases share
(lengths, evaluation cadence). Where the grid or caller sets a key, the recipes' value of it is not
used; a grid that sets the shared `learning_rate` (or `head_learning_rate`) sets it for every phase,
so the recipes' per-phase learning rates yield to it too. Where the recipes
of one run set a shared key to different values (say two intermediate tasks wanting different
eval cadences), the run is rejected unless the grid or the caller sets that key itself: one
configuration cannot train the two phases with two values of one key.
"""
from __future__ import annotations

from xstilts import tasks as task_registry

# keys that one configuration holds once for every phase that trains
SHARED_KEYS = ("max_length", "max_length_qa", "max_length_retrieval", "doc_stride", "eval_every",
               "eval_examples", "early_stopping_patience")
OWN_KEYS = {
    "target": ("target_epochs", "target_batch_size", "target_grad_accum", "target_learning_rate",
               "target_head_learning_rate"),
    "intermediate": ("intermediate_epochs", "intermediate_batch_size", "intermediate_grad_accum",
                     "intermediate_learning_rate", "intermediate_head_learning_rate"),
}
# a phase's own learning rate yields to the shared key when the grid or caller sets that: a grid that
# sweeps `learning_rate` (the recipe sweep) trains every phase with it, whatever the recipes chose
YIELDS_TO = {f"{phase}_{key}": key for phase in OWN_KEYS for key in ("learning_rate", "head_learning_rate")}


class RecipeError(ValueError):
    """A recipe that sets a key it may not, or recipes of one run that disagree (params wraps it)."""


def recipe(name: str, scale: str) -> dict:
    """One task's recipe at a scale ({} where it has none), its keys checked against its role."""
    task = task_registry.get_task(name)
    values = dict((task.get("recipe") or {}).get(scale) or {})
    allowed = OWN_KEYS.get(task["role"], ()) + SHARED_KEYS
    bad = sorted(set(values) - set(allowed))
    if bad:
        raise RecipeError(f"tasks.yaml: the {scale} recipe of {name} ({task['role']} task) sets "
                          f"{', '.join(bad)}; a {task['role']} recipe may set {', '.join(allowed)}.")
    return values


def run_recipe(target_task: str, intermediate_tasks: list[str], scale: str, *, overridden=()) -> dict:
    """The merged recipe values of one run; `overridden` = keys the grid or caller sets itself."""
    merged: dict = {}
    source: dict = {}
    names = [n for n in [*intermediate_tasks, target_task] if n in task_registry.all_tasks()]
    for name in names:
        for key, value in recipe(name, scale).items():
            if key in overridden or YIELDS_TO.get(key) in overridden:
                continue
            if key in merged and merged[key] != value and key not in overridden:
                raise RecipeError(f"The {scale} recipes of {source[key]} and {name} set {key} to "
                                  f"{merged[key]!r} and {value!r}; one run cannot hold both. Set {key} in the "
                                  f"grid (params/experiments/...) to choose.")
            merged.setdefault(key, value)
            source.setdefault(key, name)
    return merged
