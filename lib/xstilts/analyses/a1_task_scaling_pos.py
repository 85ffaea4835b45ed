"""Question A: zero-shot UPOS accuracy against the number of jointly trained intermediate tasks.

Per size, the change against no intermediate task is averaged over that size's task subsets within
each seed, then tested over seeds; the interval is the hierarchical bootstrap (seeds, then languages).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from xstilts import paper, stats
from xstilts.results import MissingResults, completed, tex

GRID = "a1_task_scaling_pos"
UPOS_ACCURACY = "m.upos_accuracy.accuracy"


def task_scaling_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Zero-shot UPOS accuracy per (subset, seed, language) of the English-only, no-MLM udpos runs.
    A keeps a run whose intermediate phase had a task that failed its dev check, and marks it
    (`every task learned`): the task set is the treatment, and a task gets about 250/k of a k-task
    cell's steps, so leaving such runs out would condition on an outcome that grows with k. A target
    run that failed its own dev check is left out, as in every analysis."""
    if "target_failed" in frame:
        frame = frame.assign(failed=frame["target_failed"].map(_known_true))
    ok, _ = completed(frame)
    sub = ok[(ok["target"] == "udpos") & (ok["language"] != "en") & (ok["mlm_steps"] == 0)
             & (ok["intermediate_languages"] == "en")]
    if UPOS_ACCURACY not in sub or sub[UPOS_ACCURACY].isna().all():
        raise MissingResults(f"No UPOS accuracy ({UPOS_ACCURACY}) in the udpos results: rerun "
                             f"params/experiments/{GRID}.yaml with the current code.")
    out = sub[["n_intermediate", "intermediate", "seed", "language"]].copy()
    out["accuracy"] = sub[UPOS_ACCURACY].astype(float)
    # 1 / 0, or NaN where the runs predate dev checks (the archived design): not known
    out["every task learned"] = (sub["upstream_failed"].map(lambda v: np.nan if _unknown(v) else float(not v))
                                 if "upstream_failed" in sub else np.nan)
    largest = out["n_intermediate"].max()
    out["size"] = [f"all ({n})" if n == largest and n > 1 else str(n) for n in out["n_intermediate"]]
    return out.sort_values(["n_intermediate", "intermediate", "seed", "language"]).reset_index(drop=True)


def _unknown(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _known_true(value) -> bool:
    return not _unknown(value) and bool(value)


def _change(acc: pd.DataFrame) -> pd.DataFrame:
    base = acc[acc["intermediate"] == "none"].set_index(["seed", "language"])["accuracy"]
    if base.empty:
        raise MissingResults(f"No 'none' udpos runs: run params/experiments/{GRID}.yaml")
    out = acc[acc["intermediate"] != "none"].copy()
    out["diff"] = out["accuracy"].to_numpy() - base.reindex(list(zip(out["seed"], out["language"]))).to_numpy()
    return out.dropna(subset=["diff"])


def task_scaling_table(acc: pd.DataFrame) -> pd.DataFrame:
    """Per size: subsets, runs (and how many of them had every intermediate task pass its dev check),
    seeds, mean accuracy, the change against none averaged over the size's subsets
    (hierarchical-bootstrap 95% CI, paired t over seeds) and the spread across subsets."""
    change = _change(acc)
    rows = []
    for (n, size), g in acc.groupby(["n_intermediate", "size"], sort=True):
        cells = g.drop_duplicates(["intermediate", "seed"])
        row = {"tasks": size, "subsets": g["intermediate"].nunique(), "runs": len(cells),
               "every task learned": (cells["every task learned"].sum() if cells["every task learned"].notna().all()
                                      else np.nan),
               "seeds": g["seed"].nunique(), "accuracy": g.groupby("seed")["accuracy"].mean().mean()}
        c = change[change["n_intermediate"] == n]
        if len(c):
            units = c.groupby(["seed", "language"], as_index=False)["diff"].mean().assign(target="udpos")
            t = stats.paired_seed_test(units)
            by_subset = c.groupby("intermediate")["diff"].mean()
            row |= {"change": t["estimate"], "CI low": t["ci_low"], "CI high": t["ci_high"], "p": t["p"],
                    "subset spread": by_subset.max() - by_subset.min()}
        rows.append(row)
    return pd.DataFrame(rows).set_index("tasks")


def subset_table(acc: pd.DataFrame) -> pd.DataFrame:
    """The subset effect: every subset's change against none with its interval and paired t-test."""
    change = _change(acc)
    rows = []
    for (n, subset), g in change.groupby(["n_intermediate", "intermediate"], sort=True):
        t = stats.paired_seed_test(g.assign(target="udpos"))
        rows.append({"tasks": int(n), "intermediate": subset, "change": t["estimate"], "CI low": t["ci_low"],
                     "CI high": t["ci_high"], "p": t["p"], "seeds": t["seeds"]})
    return pd.DataFrame(rows).set_index(["tasks", "intermediate"])


def figure(table: pd.DataFrame, subsets: pd.DataFrame):
    """Left: change against none per number of tasks; right: every subset, sorted (95% intervals)."""
    fig, (left, right) = paper.figure(height=max(2.2, 0.2 * len(subsets) + 0.8), ncols=2,
                                      gridspec_kw={"width_ratios": [1, 1.6]})
    sizes = table.dropna(subset=["change"])
    paper.dot_plot(left, sizes.rename(columns={"change": "estimate", "CI low": "ci_low", "CI high": "ci_high"}),
                   label="mean over subsets")
    left.set(xlabel="UPOS accuracy change vs none", ylabel="number of intermediate tasks")
    sub = subsets.reset_index().sort_values("change")
    sub.index = [s.replace("+", " + ") if len(s) < 30 else f"all {s.count('+') + 1} tasks" for s in sub["intermediate"]]
    for k, (n, g) in enumerate(sub.groupby("tasks", sort=True)):
        idx = [list(sub.index).index(i) for i in g.index]
        y = np.array(idx, float)
        err = np.vstack([g["change"] - g["CI low"], g["CI high"] - g["change"]])
        right.errorbar(g["change"], y, xerr=np.nan_to_num(err), fmt=paper.MARKERS[k], color=paper.PALETTE[k],
                       ms=3.5, lw=0.9, label=f"{n} task{'s' if n > 1 else ''}")
    right.axvline(0, color="0.3", lw=0.8)
    right.set_yticks(np.arange(len(sub)), sub.index)
    right.set(xlabel="UPOS accuracy change vs none")
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the panel: never over a point
    return fig


def task_scaling_macros(table: pd.DataFrame, subsets: pd.DataFrame) -> dict:
    first, last = table.index[0], table.index[-1]
    values = {"a1 acc none": float(table.loc[first, "accuracy"]), "a1 acc all": float(table.loc[last, "accuracy"]),
              "a1 gain all": float(table.loc[last, "change"]), "a1 gain all low": float(table.loc[last, "CI low"]),
              "a1 gain all high": float(table.loc[last, "CI high"]), "a1 p all": paper.fmt_p(table.loc[last, "p"]),
              "a1 seeds": int(table["seeds"].max()),
              "a1 max subset spread": float(table["subset spread"].max()),
              "a1 subsets positive": int((subsets["CI low"] > 0).sum()), "a1 subsets": len(subsets)}
    if 1 in subsets.index.get_level_values("tasks"):
        singles = subsets.xs(1, level="tasks")
        values["a1 best single"] = tex(singles["change"].idxmax())
        values["a1 best single gain"] = float(singles["change"].max())
    return values
