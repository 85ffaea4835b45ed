"""What the phase notebooks (01_mlm, 02_intermediate, 03_target) show of their one run: a summary
of the phase and the per-language scores. The paper's analyses live in xstilts.analyses (a0..a6),
on xstilts.results, xstilts.stats and xstilts.paper.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from xstilts.paper import style


# ------------------------------------------------------------------------- phase notebooks
def _short(path: str) -> str:
    """A checkpoint path without the machine-specific prefix (notebook outputs must compare equal)."""
    parts = Path(path).parts
    if "runs" in parts:  # runs/<scale>/<phase>/<run>/...
        return str(Path(*parts[parts.index("runs"):]))
    for anchor in (".cache", "xstilts"):  # the model cache: keep what follows it
        if anchor in parts:
            return str(Path(*parts[parts.index(anchor) + 1:]))
    return Path(path).name if Path(path).is_absolute() else path


def phase_summary(result: dict) -> pd.DataFrame:
    rows = {"phase": result["phase"], "checkpoint": _short(result["checkpoint"])}
    if result.get("mlm_steps"):
        rows["MLM steps"] = result["mlm_steps"]
    if result.get("intermediate_tasks"):
        rows["intermediate tasks"] = ", ".join(result["intermediate_tasks"])
        rows["languages"] = ", ".join(result.get("languages", []))
    if result.get("train"):
        rows["optimiser steps"] = result["train"]["steps"]
        if result["train"].get("best_dev") is not None:
            rows["best dev (mean headline)"] = round(result["train"]["best_dev"], 2)
    for task, scores in (result.get("dev") or {}).items():
        rows[f"dev {task}"] = ", ".join(f"{k}={v:.2f}" for k, v in scores.items() if isinstance(v, float))
    for note in result.get("notes") or []:
        rows.setdefault("data notes", note)
    return pd.DataFrame({"value": rows})


def language_table(result: dict) -> pd.DataFrame:
    table = pd.DataFrame(result["per_language"]).T
    table = table[[c for c in table.columns if not c.endswith("total") and c != "threshold"]]
    table.index.name = f"{result['target_task']} · {result['scale']} · {result['model']}"
    table.loc["mean (zero-shot, excl. en)"] = table.drop(index="en", errors="ignore").mean()
    return table.round(1)


def language_barplot(result: dict):
    import matplotlib.pyplot as plt
    import seaborn as sns

    style()
    series = pd.Series(result["headline"]).sort_values(ascending=False)
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(series)), 3))
    sns.barplot(x=series.index, y=series.values, ax=ax, color="0.45")
    inter = "+".join(result["intermediate_tasks"]) or "no intermediate task"
    ax.set(xlabel="language", ylabel=result["metric"],
           title=f"{result['target_task']} after {inter} ({result['scale']}, {result['model']})")
    ax.tick_params(axis="x", rotation=90)
    return ax
