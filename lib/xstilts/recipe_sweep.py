"""Choosing each task's offline recipe from the sweep (params/experiments/sweep_offline_recipes.yaml).

The rule, on English dev only, once every one of a task's cells has finished (choosing among the
cells that happen to have finished would make the recipe depend on the order they ran in): among a
task's sweep runs that did not fail their dev check (devcheck.py: significantly above the
majority/chance baseline), take the highest English dev score; any run within `TIE` points of it
counts as tied, and ties go to the lower learning rate, then the lower head learning rate (the more
conservative recipe). No test score is read.

Runs that train several tasks at once hold one encoder learning rate, so per-task recipes that
disagree cannot all apply (recipes.py refuses the run). `choose_together` picks one swept cell for
such a set of tasks by the same evidence (English dev, the same cells), for a grid to set in its own
params: question A does, so that its cells differ only in their task set.
"""
from __future__ import annotations

from collections import Counter

import pandas as pd

from xstilts import devcheck, runs

GRID = "sweep_offline_recipes"
TIE = 0.5
SHARE_TIE = 0.02  # choose_together: 2% of a task's best gain, about 0.4 CommonsenseQA points
RECIPE_KEYS = ("learning_rate", "head_learning_rate", "intermediate_max_steps", "target_epochs")


def _task_and_check(result: dict) -> tuple[str, dict] | None:
    """The task a sweep run tunes and its dev check (an intermediate run: its one task)."""
    checks = result.get("dev_check") or {}
    if len(checks) != 1:
        return None
    (task, check), = checks.items()
    return task, check


def as_recipe(params: dict) -> dict:
    """A chosen sweep cell as its task's `tasks.yaml` recipe at offline scale (recipes.py): the swept
    learning rates under the tuned phase's own keys, so that a run training the task in that phase
    (and only there) takes them. The fixed step budget is the grids' own, not the recipe's."""
    phase = _phase(params)
    out = {f"{phase}_learning_rate": params["learning_rate"]}
    if params.get("head_learning_rate"):
        out[f"{phase}_head_learning_rate"] = params["head_learning_rate"]
    if phase == "target" and "target_epochs" in params:
        out["target_epochs"] = params["target_epochs"]
    return out


def _task_of(cfg: dict) -> str:
    """The task an unfinished sweep cell tunes (a finished one names it in its dev check)."""
    return cfg["intermediate_tasks"][0] if cfg.get("intermediate_tasks") else cfg["target_task"]


def choose(results: list[tuple[dict, dict | None]]) -> dict[str, dict]:
    """(params, result.json, or None while the cell is unfinished) pairs of sweep runs -> {task:
    {"params": the cell's swept values, "recipe": the same as a tasks.yaml recipe (as_recipe), "dev":
    score, "runs": finished n, "unfinished": n, "failed": n}}; a task whose every run failed, or with a
    cell still unfinished, maps to {"params": None, "recipe": None, ...}: the rule picks among all of a
    task's cells, never among those that happen to have finished."""
    by_task: dict[str, list] = {}
    unfinished = Counter(_task_of(params) for params, result in results if result is None)
    for params, result in results:
        if result is None:
            continue
        found = _task_and_check(result)
        if found:
            by_task.setdefault(found[0], []).append((params, found[1]))
    chosen = {}
    for task in sorted(set(by_task) | set(unfinished)):
        runs = by_task.get(task, [])
        ok = [(p, c) for p, c in runs if not c["failed"]]
        entry = {"runs": len(runs), "unfinished": unfinished[task], "failed": len(runs) - len(ok),
                 "params": None, "recipe": None, "dev": None}
        if ok and not entry["unfinished"]:
            best = max(c["score"] for _, c in ok)
            tied = [(p, c) for p, c in ok if c["score"] >= best - TIE]
            params, check = min(tied, key=lambda pc: (pc[0]["learning_rate"], pc[0]["head_learning_rate"]))
            entry.update(params={k: params[k] for k in RECIPE_KEYS if k in params}, recipe=as_recipe(params),
                         dev=check["score"])
        chosen[task] = entry
    return chosen


def choose_together(results: list[tuple[dict, dict | None]], tasks: list[str]) -> dict:
    """One recipe for runs that train `tasks` together, or that must differ only in their task set
    (question A), where one run holds one encoder learning rate. The rule, on English dev only, once
    every task's cells have finished: among the swept (learning rate, head learning rate) cells that
    passed the dev check for every task, take the one whose worst task keeps the largest share of
    that task's best gain over its baseline ((dev - baseline) / (best dev - baseline)); cells within
    SHARE_TIE of it count as tied, and ties go to the lower rates, as in `choose`.
    -> {"params": the cell's rates or None, "recipe": them as a grid's intermediate_* keys, "worst":
    (task, share), "waiting": {task: cells not finished}, "passing": cells every task passed}."""
    waiting = Counter(_task_of(p) for p, r in results if r is None and _task_of(p) in tasks)
    cells: dict[tuple, dict[str, dict]] = {}
    for params, result in results:
        found = _task_and_check(result) if result is not None else None
        if found and found[0] in tasks and _phase(params) == "intermediate":
            cells.setdefault((params["learning_rate"], params["head_learning_rate"]), {})[found[0]] = found[1]
    finished = {task for by in cells.values() for task in by}
    missing = [task for task in tasks if task not in finished and not waiting[task]]
    if missing:
        raise ValueError(f"{', '.join(missing)}: no intermediate cells in the recipe sweep ({GRID}.yaml); add them there first.")
    out = {"params": None, "recipe": None, "worst": None, "waiting": {t: n for t, n in waiting.items() if n},
           "passing": 0}
    if out["waiting"]:
        return out
    best = {task: max((by[task]["score"] for by in cells.values() if task in by and not by[task]["failed"]),
                      default=None) for task in tasks}
    shares = {}
    for cell, by in cells.items():
        if set(by) >= set(tasks) and not any(by[t]["failed"] for t in tasks):
            shares[cell] = min(((by[t]["score"] - by[t]["baseline"]) / (best[t] - by[t]["baseline"]), t) for t in tasks)
    out["passing"] = len(shares)
    if shares:
        top = max(share for share, _ in shares.values())
        cell = min(c for c, (share, _) in shares.items() if share >= top - SHARE_TIE)
        lr, head = cell
        out.update(params={"learning_rate": lr, "head_learning_rate": head}, worst=shares[cell][::-1],
                   recipe={"intermediate_learning_rate": lr, **({"intermediate_head_learning_rate": head} if head else {})})
    return out


def _phase(cfg: dict) -> str:
    """The phase a sweep run tunes: its intermediate task(s), else its target task."""
    return "intermediate" if cfg.get("intermediate_tasks") else "target"


def _budget(cfg: dict, phase: str) -> str:
    if phase == "intermediate" and cfg["intermediate_max_steps"] > 0:
        return f"{cfg['intermediate_max_steps']} steps"
    if phase == "target" and cfg["target_max_steps"] > 0:
        return f"{cfg['target_max_steps']} steps"
    return f"{cfg[f'{phase}_epochs']:g} epochs"


def sweep_runs(scale: str, runs_dir: str | None = None) -> list[tuple[dict, dict | None]]:
    """(params, result.json or None while unfinished) of every run of the sweep grid at `scale`."""
    from xstilts import results, workflow

    root = results.runs_root(runs_dir)
    grid = workflow.load_grid(results.grid_file(GRID, scale))
    out = []
    for cfg in workflow.grid_runs(grid, scale, check_inputs=False):
        phase = _phase(cfg)
        out.append((cfg, runs.finished(root / scale / phase / runs.run_name(cfg, phase))))
    return out


def sweep_table(swept: list[tuple[dict, dict | None]]) -> pd.DataFrame:
    """One row per finished sweep run: the recipe, its English dev check, the score it needed to pass
    (binomial checks), and which recipe the rule chose. attrs["runs"] = (finished, planned)."""
    finished = [(cfg, result) for cfg, result in swept if result is not None]
    chosen = choose(swept)
    rows = []
    for cfg, result in finished:
        found = _task_and_check(result)
        if not found:
            continue
        task, check = found
        phase = _phase(cfg)
        pick = chosen[task]["params"]
        rows.append({
            "task": task, "phase": phase, "learning rate": cfg["learning_rate"],
            "head learning rate": cfg["head_learning_rate"] or None, "budget": _budget(cfg, phase),
            "dev": check["score"], "baseline": check.get("baseline"), "dev items": check.get("n"),
            "needed": devcheck.passing_score(check["n"], check["baseline"]) if check.get("test") == "binomial" else None,
            "p": check.get("p_value"), "failed": "yes" if check["failed"] else "no",
            "chosen": "yes" if pick is not None and all(cfg.get(k) == v for k, v in pick.items()) else "",
        })
    columns = ["phase", "learning rate", "head learning rate", "budget", "dev", "baseline", "dev items", "needed",
               "p", "failed", "chosen"]
    table = (pd.DataFrame(rows).sort_values(["task", "learning rate", "head learning rate"], na_position="first")
             .set_index("task")[columns] if rows else pd.DataFrame(columns=["task", *columns]).set_index("task"))
    table.attrs["runs"] = (len(finished), len(swept))
    table.attrs["recipes"] = {task: entry["recipe"] for task, entry in chosen.items() if entry["recipe"]}
    table.attrs["unfinished"] = {task: entry["unfinished"] for task, entry in chosen.items() if entry["unfinished"]}
    return table


def applied(task: str, recipe: dict, scale: str = "offline") -> bool:
    """Whether the task's tasks.yaml recipe at `scale` holds the chosen recipe (so the study's runs
    train with it), the comparison a person makes before writing it there."""
    from xstilts import recipes

    held = recipes.recipe(task, scale)
    return all(held.get(k) == v for k, v in recipe.items())


def task_text(task: str, rows: pd.DataFrame, recipe: dict | None = None, unfinished: int = 0) -> str:
    """One task's sweep outcome in words: the chosen recipe (and whether tasks.yaml holds it yet),
    that none passed and what passing needs, or, while cells are unfinished, how far it has got."""
    if unfinished:
        passed = int((rows["failed"] == "no").sum())
        verb = "has" if len(rows) == 1 else "have"
        return (f"{task}: {len(rows)} of its {len(rows) + unfinished} recipes {verb} finished ({passed} passed the "
                f"dev check; best dev so far {rows['dev'].max():.1f} against {rows['baseline'].max():.1f}); "
                f"the rule chooses once all have")
    picked = rows[rows["chosen"] == "yes"]
    if len(picked):
        r = picked.iloc[0]
        head = f", head {r['head learning rate']:g}" if pd.notna(r["head learning rate"]) else ""
        where = ""
        if recipe is not None:
            where = ("; tasks.yaml's offline recipe holds it" if applied(task, recipe) else
                     "; not yet in tasks.yaml's offline recipe, so only a grid that sets these rates trains with them")
        return (f"{task}: learning rate {r['learning rate']:g}{head}, {r['budget']} chosen "
                f"(dev {r['dev']:.1f} against {r['baseline']:.1f}){where}")
    need = ""
    if rows["needed"].notna().any():
        # the hardest cell to pass: its needed dev score, and that score as items of its dev set
        hardest = rows.sort_values("needed", na_position="first").iloc[-1]
        n = int(hardest["dev items"])
        need = f"; passing needs {hardest['needed']:.1f} ({round(hardest['needed'] * n / 100)} of {n} dev items)"
    return (f"{task}: none of its {len(rows)} recipes passed its dev check (best dev {rows['dev'].max():.1f} "
            f"against {rows['baseline'].max():.1f}{need})")


def task_texts(table: pd.DataFrame) -> dict[str, str]:
    """task_text for every task with a finished sweep run, in task order."""
    recipes, unfinished = table.attrs.get("recipes", {}), table.attrs.get("unfinished", {})
    return {task: task_text(task, rows, recipes.get(task), unfinished.get(task, 0))
            for task, rows in table.groupby(level=0, sort=True)}


def sweep_text(table: pd.DataFrame) -> str:
    """What the sweep found so far, per task, in a sentence a paper can print."""
    finished, planned = table.attrs["runs"]
    if planned == 0:
        return "The recipe sweep has no runs at this scale."
    parts = list(task_texts(table).values())
    found = "; ".join(parts) + "." if parts else "no task has a finished run yet."
    return f"{finished} of the recipe sweep's {planned} cells (task x recipe) have finished. Per task, {found}"


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The sweep table as the paper prints it: learning rates in scientific notation, p as p."""
    from xstilts import paper

    out = table.copy()
    out["learning rate"] = out["learning rate"].map(lambda x: f"{x:.0e}")
    out["head learning rate"] = out["head learning rate"].map(lambda x: "= lr" if pd.isna(x) else f"{x:.0e}")
    out["p"] = out["p"].map(lambda x: "--" if pd.isna(x) else paper.fmt_p(x))
    return out


def macros(table: pd.DataFrame, together: dict[str, str] | None = None) -> dict:
    """The sweep's macros; `together` adds {name: together_sentence(...)} as "sweep together <name>"."""
    from xstilts import results

    finished, planned = table.attrs["runs"]
    per_task = {f"sweep {task}": results.tex(text) for task, text in task_texts(table).items()}
    joint = {f"sweep together {name}": results.tex(text) for name, text in (together or {}).items()}
    return {"sweep runs finished": finished, "sweep runs planned": planned,
            "sweep sentence": results.tex(sweep_text(table)), **per_task, **joint}


def grid_pool(grid: str, scale: str) -> list[str]:
    """The intermediate tasks the current design's grid trains at `scale`, in the order they first
    appear (the current grid even where the paper still shows an archived design's runs)."""
    from xstilts import workflow

    loaded = workflow.load_grid(grid)  # by name: params/experiments/<grid>.yaml, the current design's
    pool: dict[str, None] = {}
    for cfg in workflow.grid_runs(loaded, scale, check_inputs=False):
        pool.update(dict.fromkeys(cfg.get("intermediate_tasks") or []))
    return list(pool)


def together_sentence(swept: list[tuple[dict, dict | None]], tasks: list[str]) -> str:
    """choose_together's outcome in words a paper can print (question A's one recipe for its pool)."""
    try:
        chosen = choose_together(swept, tasks)
    except ValueError as err:
        return f"no one recipe: {err}"
    recipe = ""
    if chosen["params"] is not None:
        lr, head = chosen["params"]["learning_rate"], chosen["params"]["head_learning_rate"]
        recipe = f"learning rate {lr:g}{f', head {head:g}' if head else ''}"
    return f"one recipe for {', '.join(tasks)}: {_together_outcome(chosen, recipe)}"


def _together_outcome(chosen: dict, recipe: str) -> str:
    """What choose_together found, shared by the CLI line and the paper's sentence."""
    if chosen["waiting"]:
        return "the rule chooses once every task's cells have finished"
    if chosen["recipe"] is None:
        return "no swept cell passed the dev check for every task"
    task, share = chosen["worst"]
    return (f"{recipe} ({chosen['passing']} cell(s) passed for every task; the worst, {task}, keeps "
            f"{100 * share:.0f}% of its best gain over its baseline)")


def _as_yaml(recipe: dict) -> str:
    """A recipe as the one-line YAML a person pastes into tasks.yaml or a grid."""
    import yaml

    return yaml.safe_dump(recipe, default_flow_style=True, width=200).strip()


def together_text(chosen: dict, tasks: list[str]) -> str:
    """choose_together's outcome as the line `xstilts recipes --together` prints."""
    line = f"together ({', '.join(tasks)}): {_together_outcome(chosen, _as_yaml(chosen['recipe'] or {}))}"
    if chosen["waiting"]:
        left = ", ".join(f"{task} {n}" for task, n in sorted(chosen["waiting"].items()))
        return f"{line}; cells still to run: {left}."
    if chosen["recipe"] is None:
        return f"{line}; leave a task out or sweep further."
    return f"{line}; set these in the grid's params so that all of its runs train with them."


def report(scale: str = "offline", runs_dir: str | None = None, together: list[str] | None = None) -> str:
    """`xstilts recipes`: per swept task, the recipe the rule chooses from the finished sweep runs
    and whether tasks.yaml holds it; for one it does not, the entry to add (a person writes it, so
    that a recipe change, which moves the study's runs, is a reviewed commit). With `together`, also
    the one recipe choose_together picks for those tasks."""
    swept = sweep_runs(scale, runs_dir)
    finished = [(cfg, result) for cfg, result in swept if result is not None]
    lines = [f"{len(finished)} of the recipe sweep's {len(swept)} cells have finished at {scale} scale."]
    for task, entry in choose(swept).items():
        done = f"{entry['runs']} cell(s), {entry['failed']} failed their dev check"
        if entry["unfinished"]:
            if entry["runs"]:
                lines.append(f"{task}: {entry['runs']} of {entry['runs'] + entry['unfinished']} cell(s) finished "
                             f"({entry['failed']} failed their dev check); the rule chooses once all have.")
            continue
        if entry["recipe"] is None:
            lines.append(f"{task}: no recipe ({done}); the scale's defaults stay.")
            continue
        chosen = _as_yaml(entry["recipe"])
        if applied(task, entry["recipe"], scale):
            lines.append(f"{task}: {chosen}, English dev {entry['dev']:.1f} ({done}); tasks.yaml holds it.")
        else:
            lines.append(f"{task}: {chosen}, English dev {entry['dev']:.1f} ({done}); not in tasks.yaml yet: "
                         f"add `{scale}: {chosen}` to the `recipe:` of its entry in lib/xstilts/tasks.yaml "
                         f"(it moves every {scale} run that trains {task} in that phase).")
    if together:
        lines.append(together_text(choose_together(swept, together), together))
    return "\n".join(lines)
