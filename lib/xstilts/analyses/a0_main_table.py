"""The main table: intermediate configuration x target task, zero-shot, against no intermediate task.

A cell is the mean over seeds of the zero-shot mean over non-English languages (XTREME score: the
headline metric, QA as (EM + F1) / 2). Changes carry a hierarchical-bootstrap interval (seeds, then
languages) and a paired t-test over seeds; the best configuration per target is chosen on the target
run's English dev score, never on test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from xstilts import ledger, paper, stats
from xstilts.results import MissingResults, completed, is_baseline, is_english_config, tex, with_config, zero_shot

GRID = "a0_main_table"


def scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Zero-shot rows of the runs that did not fail, with `config` labels."""
    ok, _ = completed(frame)
    return with_config(zero_shot(ok))


def main_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Intermediate configuration x target: mean over seeds of the zero-shot language mean; `average`
    over the target columns (only for rows that have them all)."""
    zs = scores(frame)
    per_run = zs.groupby(["kind", "config", "target", "seed"], as_index=False)["value"].mean()
    table = per_run.groupby(["kind", "config", "target"])["value"].mean().unstack("target")
    table = table.sort_index().droplevel("kind")
    table = table[sorted(table.columns)]
    # an average over targets only where they share their seeds: a grid computed in chunks may have a
    # target with fewer seeds, and mixing seed sets would weigh it by other seeds' luck
    seeds = per_run.groupby(["kind", "config", "target"])["seed"].apply(frozenset).unstack("target")
    seeds = seeds.sort_index().droplevel("kind")[table.columns]
    # a target still missing seeds is left out of the average (and named), as in complete_targets
    short = short_targets(per_run)
    # a row that has every other target but lacks one of a target's seeds (a run that failed its dev
    # check and was left out) would average over other seeds than its neighbours: that target is left
    # out of every row's average, as it is of the paired comparisons (paired_units)
    full_rows = table[[t for t in table.columns if t not in short]].notna().all(axis=1)
    for target in [t for t in table.columns if t not in short]:
        have = seeds.loc[full_rows[full_rows].index, target]
        union = frozenset().union(*have)
        if any(s != union for s in have):
            short[target] = min(len(s) for s in have)
    complete = [t for t in table.columns if t not in short]
    same = seeds[complete].apply(lambda row: row.notna().all() and len(set(row)) == 1, axis=1)
    table["average"] = (table[complete].mean(axis=1, skipna=False).where(same) if len(complete) > 1
                        else np.nan)
    table.index.name, table.columns.name = "intermediate", None
    table.attrs["left out"] = short if len(complete) > 1 else {}
    return table


def change_vs_none(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's presentation: every row minus the no-intermediate-task row."""
    if "none" not in table.index:
        raise MissingResults("The main table has no 'none' (no intermediate task) row to compare with.")
    return table.drop(index="none") - table.loc["none"]


def control_of(configs) -> str | None:
    """The extra-target-steps control among `configs` ('none + N target steps'), if the grid has one."""
    controls = [c for c in configs if is_baseline(c) and c != "none"]
    return controls[0] if controls else None


def change_vs_control(table: pd.DataFrame) -> pd.DataFrame:
    """Every intermediate configuration minus the control that gives 'none' as many extra steps on the
    target's own data (empty where the grid has no control): the gain the intermediate *data* brings,
    not its extra optimiser steps."""
    control = control_of(table.index)
    if control is None:
        return table.iloc[0:0]
    rows = [c for c in table.index if not is_baseline(c)]
    return table.loc[rows] - table.loc[control]


def paired_units(zs: pd.DataFrame, a: str, b: str, targets=None) -> pd.DataFrame:
    """(target, seed, language) units with diff = score(config a) - score(config b). Over several
    targets, only the targets with every seed the others have (complete_targets)."""
    s = zs.groupby(["config", "target", "seed", "language"])["value"].mean()
    if a not in s.index.get_level_values("config") or b not in s.index.get_level_values("config"):
        return pd.DataFrame(columns=["target", "seed", "language", "diff"])
    both = pd.concat([s.xs(a, level="config").rename("a"), s.xs(b, level="config").rename("b")], axis=1,
                     join="inner").reset_index()
    if targets is not None:
        both = both[both["target"].isin(targets)]
    return complete_targets(both.assign(diff=both["a"] - both["b"])[["target", "seed", "language", "diff"]])


def complete_targets(units: pd.DataFrame) -> pd.DataFrame:
    """The units of the targets that have every seed any target has; attrs["left out"]: {target: its
    seed count} for the others. A comparison averaged over targets is per seed (stats.per_seed), so a
    target still missing seeds (a grid computed in chunks) would cut every target down to its few
    seeds; it is left out instead, and counted, until its seeds are done."""
    short = short_targets(units)
    out = units[~units["target"].isin(list(short))] if short else units
    out = out.copy()
    out.attrs["left out"] = short
    return out


def short_targets(frame: pd.DataFrame) -> dict:
    """{target: its seed count} for the targets of `frame` (target and seed columns) that lack a seed
    some other target has: a grid computed in chunks, seed by seed."""
    seeds = frame.groupby("target")["seed"].apply(frozenset)
    union = frozenset().union(*seeds) if len(seeds) else frozenset()
    return {t: len(s) for t, s in seeds.items() if s != union}


def _left_out_listing(frame: pd.DataFrame, item: str) -> str:
    """The targets of frame.attrs["left out"] ({target: seeds}), each written as `item` ({t}, {n}, {s})."""
    short = frame.attrs.get("left out") or {}
    return ", ".join(item.format(t=t, n=n, s="s" if n != 1 else "") for t, n in sorted(short.items()))


def left_out_text(units: pd.DataFrame) -> str:
    """'; xnli (1 seed) left out until its seeds are done' or ''."""
    listed = _left_out_listing(units, "{t} ({n} seed{s})")
    return f"; {listed} left out (seeds still to run or runs that failed their dev check)" if listed else ""


def runs_behind(zs: pd.DataFrame, configs, units: pd.DataFrame) -> list[str]:
    """The target run folders of `configs` that gave `units` (their targets and seeds)."""
    keys = set(zip(units["target"], units["seed"]))
    rows = zs[zs["config"].isin(list(configs))]
    return sorted({p for p, t, s in zip(rows["path"], rows["target"], rows["seed"]) if (t, s) in keys})


def change_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and target (and `average`, targets weighing equally): the change against none,
    its hierarchical-bootstrap 95% interval and the paired t-test over seeds."""
    zs = scores(frame)
    configs = list(dict.fromkeys(zs.sort_values(["kind", "config"])["config"]))
    control = control_of(configs)
    rows, left_out = [], {}
    complete = set(zs["target"]) - set(short_targets(zs))
    for baseline in ["none"] + ([control] if control else []):
        for config in [c for c in configs if c != baseline and not (baseline != "none" and is_baseline(c))]:
            units = paired_units(zs, config, baseline)  # the targets with every seed
            per_target = ((t, paired_units(zs, config, baseline, targets={t})) for t in sorted(set(zs["target"])))
            parts = [(t, g) for t, g in per_target if len(g)]  # each target on its own seeds
            # the average: over every target that has all its seeds (a configuration run on fewer
            # targets, e.g. MLM on two of four, has none), the others named and left out
            # (a target this pair lacks seeds of, by a failed run, is left out of it and named)
            if len(complete) > 1 and set(units["target"]) | set(units.attrs.get("left out") or {}) >= complete \
                    and len(set(units["target"])) > 1:
                parts.append(("average", units))
                left_out.update(units.attrs.get("left out") or {})
            for target, g in parts:
                t = stats.paired_seed_test(g)
                rows.append({"config": config, "baseline": baseline, "target": target,
                             **{k: t[k] for k in ("estimate", "ci_low", "ci_high", "seeds", "p")}})
    out = pd.DataFrame(rows, columns=["config", "baseline", "target", "estimate", "ci_low", "ci_high", "seeds", "p"])
    out.attrs["left out"] = left_out  # {target: seeds}: shown on its own seeds, not in the average
    return out


def selection_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per target: the English intermediate configuration with the best mean English dev score (the
    target run's own dev set), its test-language change, and how many runs failed and were left out."""
    ok, _ = completed(frame)
    zs = with_config(zero_shot(frame))
    dev = with_config(ok).groupby(["target", "config", "seed"])["dev"].first().groupby(["target", "config"]).mean()
    change = change_vs_none(main_table(frame))
    rows = []
    for target in sorted(zs["target"].unique()):
        failed = zs.loc[(zs["target"] == target) & zs["failed"].astype(bool), "run"].nunique() if "failed" in zs else 0
        d = dev.xs(target, level="target") if target in dev.index.get_level_values("target") else pd.Series(dtype=float)
        d = d[[is_english_config(c) for c in d.index]].dropna()
        best = d.idxmax() if len(d) else None
        rows.append({"target": target, "selected on English dev": best if best else "-- (no dev score)",
                     "dev": d.max() if len(d) else np.nan,
                     "change vs none": change.loc[best, target] if best in change.index else np.nan,
                     "failed runs left out": int(failed)})
    return pd.DataFrame(rows).set_index("target")


def _seed_list(seeds) -> str:
    seeds = sorted(int(s) for s in seeds)
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}--{seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def runs_shown(frame: pd.DataFrame) -> str:
    """Which runs the table holds, in words, for the paper's text: 'udpos: none (seeds 0--2),
    none + 250 target steps (seeds 0--2), mnli (seeds 0--2)'. Generated, so it follows the runs."""
    zs = scores(frame)
    parts = []
    for target, group in zs.groupby("target", sort=True):
        configs = group.groupby(["kind", "config"])["seed"].unique().sort_index()
        parts.append(f"{target}: " + ", ".join(f"{tex(config)} ({_seed_list(seeds)})"
                                               for (_, config), seeds in configs.items()))
    return "; ".join(parts)


def main_table_macros(table: pd.DataFrame, change: pd.DataFrame, selected: pd.DataFrame,
                      runs: tuple[int, int] | None = None, frame: pd.DataFrame | None = None,
                      intervals: pd.DataFrame | None = None, cost: dict | None = None) -> dict:
    """The numbers the paper's text quotes; `runs` = (finished, planned) target runs of the grid;
    `frame` (the grid's results) adds which runs those are, `intervals` the sentence that states
    every change with its interval and test, `cost` (ledger.grid_totals) what the runs spent."""
    picked = selected.dropna(subset=["change vs none"])
    values = {"a0 none average": float(table.loc["none", "average"]) if "none" in table.index else np.nan,
              "a0 selected average gain": float(picked["change vs none"].mean()) if len(picked) else np.nan,
              "a0 selected targets": len(picked),
              "a0 failed runs": int(selected["failed runs left out"].sum())}
    for target, row in selected.iterrows():
        values[f"a0 best {target}"] = tex(row["selected on English dev"])
        values[f"a0 best gain {target}"] = float(row["change vs none"])
    english = change.loc[[c for c in change.index if is_english_config(c)]].dropna(subset=["average"])
    multi = [c for c in change.index if c.startswith("multi-task")]
    if multi:
        values["a0 multitask average gain"] = float(change.loc[multi[0], "average"])
    values["a0 configs"] = len(english)
    if runs:
        values["a0 runs finished"], values["a0 runs planned"] = int(runs[0]), int(runs[1])
    values["a0 targets"] = ", ".join(sorted(table.columns.drop("average", errors="ignore")))
    if frame is not None:
        values["a0 runs shown"] = runs_shown(frame)
    if intervals is not None and len(intervals):
        values["a0 intervals"] = tex(intervals_text(intervals))
    if cost is not None:
        values.update(cost_macros(cost))
    return values


def cost_macros(cost: dict) -> dict:
    """The cost ledger of the grid's finished runs, every phase (ledger.grid_totals): runs, estimated
    training and evaluation FLOPs and, where the runs are committed, device-hours."""
    values = {"a0 ledger runs": int(cost["runs_with_ledger"]),
              "a0 train pflop": cost["train_flops"] / 1e15, "a0 eval pflop": cost["eval_flops"] / 1e15}
    if cost["scale"] in ledger.TIMED_SCALES:
        values["a0 device hours"] = cost["device_hours"]
    return values


def cost_text(cost: dict) -> str:
    """One sentence on what the grid's finished runs spent (the interpretation cell)."""
    spent = (f"{cost['device_hours']:.1f} device-hours and " if cost["scale"] in ledger.TIMED_SCALES else "")
    return (f"The grid's {cost['runs_with_ledger']} finished runs (every phase) took {spent}an estimated "
            f"{cost['train_flops'] / 1e15:.1f} PFLOP of training and {cost['eval_flops'] / 1e15:.1f} PFLOP of "
            f"evaluation ({cost['flops_formula']}).")


def intervals_text(intervals: pd.DataFrame) -> str:
    """The average change of every configuration against each baseline, with its interval and test,
    as one sentence per baseline (the interpretation cell's numbers)."""
    targets = set(intervals["target"])
    what = (f"averaged over targets{_left_out_clause(intervals)}" if "average" in targets else
            f"on {next(iter(targets))}" if len(targets) == 1 else "by target")
    avg = intervals[intervals["target"] == "average"] if "average" in targets else intervals
    parts = []
    for baseline, group in avg.groupby("baseline", sort=False):
        items = "; ".join(f"{r.config}{'' if what != 'by target' else f' on {r.target}'}: {r.estimate:+.1f} "
                          + (f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}] (p = {paper.fmt_p(r.p)}, t-test over {int(r.seeds)} seeds)"
                             if r.seeds >= 2 else "(1 seed: no interval over seeds, no test)")
                          for r in group.itertuples())
        parts.append(f"Against {baseline}, {what}: {items}.")
    return " ".join(parts)


def _left_out_clause(frame: pd.DataFrame) -> str:
    """' (mlqa, 1 seed, left out until its seeds are done)' or '', from frame.attrs["left out"]."""
    listed = _left_out_listing(frame, "{t}, {n} seed{s}")
    return f" ({listed}, left out: seeds still to run or runs that failed their dev check)" if listed else ""


def average_note(table: pd.DataFrame) -> str:
    """The main table caption's note on its `average` column, where a target is left out of it."""
    clause = _left_out_clause(table)
    return f" The average is over the targets with every seed{clause}." if clause else ""


def none_average_text(table: pd.DataFrame) -> str:
    """The interpretation cell's first sentence: the no-intermediate average, where there is one."""
    if "none" in table.index and pd.notna(table.loc["none", "average"]):
        return (f"With no intermediate task the zero-shot average{_left_out_clause(table)} is "
                f"{table.loc['none', 'average']:.1f}.")
    return ("The targets do not share their seeds yet (a grid computed in chunks), so the table has no "
            "average over targets.")


def figure(intervals: pd.DataFrame):
    """Small multiples, one panel per target: the change against none per configuration with its 95%
    hierarchical-bootstrap interval, configurations sorted by their average change."""
    baselines = list(dict.fromkeys(intervals["baseline"])) if "baseline" in intervals else ["none"]
    if "baseline" not in intervals:
        intervals = intervals.assign(baseline="none")
    targets = [t for t in sorted(intervals["target"].unique()) if t != "average"] + (
        ["average"] if "average" in set(intervals["target"]) else [])
    first = intervals[intervals["baseline"] == baselines[0]]
    order = (first[first["target"] == "average"].sort_values("estimate")["config"].tolist()
             or sorted(intervals["config"].unique()))
    order += [c for c in dict.fromkeys(intervals["config"]) if c not in order]
    ncols = min(4, len(targets))
    nrows = int(np.ceil(len(targets) / ncols))
    fig, axes = paper.figure(height=(0.2 * len(order) + 0.75) * nrows, nrows=nrows, ncols=ncols,
                             sharey=True, squeeze=False)
    markers = "os^"
    for ax, target in zip(axes.flat, targets):
        for k, baseline in enumerate(baselines):
            sub = intervals[(intervals["target"] == target) & (intervals["baseline"] == baseline)]
            sub = sub.set_index("config").reindex(order)
            sub.index = [f"multi-task ({c.count('+') + 1})" if c.startswith("multi-task") else c for c in sub.index]
            offset = 0.0 if len(baselines) == 1 else (k - (len(baselines) - 1) / 2) * 0.3
            paper.dot_plot(ax, sub, label=f"vs {baseline}", color=paper.PALETTE[k * 2], marker=markers[k],
                           offset=offset)
        # the paired seeds behind this panel's points: a range where one comparison has fewer (a
        # baseline run that failed its dev check pairs on the other seeds)
        counts = intervals.loc[intervals["target"] == target, "seeds"].astype(int)
        low, high = int(counts.min()), int(counts.max())
        seeds = f"{low}-{high} paired seeds" if low != high else f"{high} seed{'s' if high != 1 else ''}"
        left_out = intervals.attrs.get("left out") or {}
        title = f"{target} ({seeds})"
        if target == "average" and left_out:
            title = f"average without {', '.join(sorted(left_out))}\n({seeds})"
        ax.set_title(title)
        ax.margins(x=0.08)  # a lone point (one seed, no interval) is not cut at the frame
        ax.set_xlabel("change vs none" if len(baselines) == 1 else "change vs baseline")
    for ax in list(axes.flat)[len(targets):]:
        ax.set_visible(False)
    if len(baselines) > 1:
        # a figure legend above the panels: one anchored to the first panel widens its column
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=len(baselines), frameon=False)
    return fig
