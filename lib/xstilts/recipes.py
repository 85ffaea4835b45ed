"""Choosing each task's offline recipe from the sweep (params/experiments/sweep_offline_recipes.yaml).

The rule, on English dev only: among a task's sweep runs that did not fail their dev check
(devcheck.py: significantly above the majority/chance baseline), take the highest English dev
score; any run within `TIE` points of it counts as tied, and ties go to the lower learning rate,
then the lower head learning rate (the more conservative recipe). No test score is read.
"""
from __future__ import annotations

TIE = 0.5
RECIPE_KEYS = ("learning_rate", "head_learning_rate", "intermediate_max_steps", "target_epochs")


def _task_and_check(result: dict) -> tuple[str, dict] | None:
    """The task a sweep run tunes and its dev check (an intermediate run: its one task)."""
    checks = result.get("dev_check") or {}
    if len(checks) != 1:
        return None
    (task, check), = checks.items()
    return task, check


def choose(results: list[tuple[dict, dict]]) -> dict[str, dict]:
    """(params, result.json) pairs of sweep runs -> {task: {"params": recipe, "dev": score, "runs": n,
    "failed": n}}; a task whose every run failed maps to {"params": None, ...}."""
    by_task: dict[str, list] = {}
    for params, result in results:
        found = _task_and_check(result)
        if found:
            by_task.setdefault(found[0], []).append((params, found[1]))
    chosen = {}
    for task, runs in sorted(by_task.items()):
        ok = [(p, c) for p, c in runs if not c["failed"]]
        entry = {"runs": len(runs), "failed": len(runs) - len(ok), "params": None, "dev": None}
        if ok:
            best = max(c["score"] for _, c in ok)
            tied = [(p, c) for p, c in ok if c["score"] >= best - TIE]
            params, check = min(tied, key=lambda pc: (pc[0]["learning_rate"], pc[0]["head_learning_rate"]))
            entry.update(params={k: params[k] for k in RECIPE_KEYS if k in params}, dev=check["score"])
        chosen[task] = entry
    return chosen
