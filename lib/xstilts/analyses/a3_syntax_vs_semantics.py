"""Question C: syntactic vs semantic-similarity intermediate tasks, by typological distance.

The seed is the unit of inference (every language of one seed shares that seed's models). Within each
seed, the slope of the gain (over no intermediate task, averaged over the group's tasks) on syntactic
distance from English is fitted over languages with scipy's linregress; the difference of the two
groups' slopes is the slope of the per-language difference, paired by language. The table gives the
mean of the per-seed slopes with a t interval over seeds (df = seeds - 1) and a one-sample t-test of
"slope = 0" over seeds; with one seed there is no interval and no test, only the slope.

Where the grid has the control (no intermediate task, as many extra target steps as the intermediate
phase's), it is fitted as a third group: a group's gain over none is read against what the same amount
of extra training on the target alone gives. The difference of the two groups needs no control, as
both have the same budget.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from xstilts import paper, stats
from xstilts.results import completed, gain_over_none, require

GRID = "a3_syntax_vs_semantics"
GROUPS = {"ud_parse": "syntactic", "ud_pos": "syntactic", "ccg": "syntactic",
          "stsb": "semantic similarity", "qqp": "semantic similarity", "paws": "semantic similarity"}
ORDER = ["syntactic", "semantic similarity"]
CONTROL = "control"  # none + extra target steps (the grid's `runs:`), relabelled as a task of its own group


def a3_gains(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Zero-shot gain of each syntactic / semantic-similarity task over none, with the language's
    distance from English (xstilts.typology)."""
    from xstilts import typology

    ok, _ = completed(frame)
    sub = require(ok, GRID, scale, target=["udpos", "xnli"], intermediate=["none", *GROUPS], intermediate_languages="en")
    if "extra_target_steps" in sub:
        control = (sub["intermediate"] == "none") & (sub["extra_target_steps"] > 0)
        sub = sub.assign(intermediate=sub["intermediate"].where(~control, CONTROL), extra_target_steps=0)
    gains = gain_over_none(sub[sub["language"] != "en"], GRID, scale)
    for group in ORDER:
        require(gains, GRID, scale, intermediate=[t for t, g in GROUPS.items() if g == group])
    gains = gains.assign(group=gains["intermediate"].map(GROUPS | {CONTROL: CONTROL}),
                         distance=gains["language"].map(lambda l: typology.syntactic_distance(l, scale)),
                         word_order=gains["language"].map(lambda l: typology.word_order(l, scale)))
    gains = gains.sort_values(["target", "group", "intermediate", "language", "seed"]).reset_index(drop=True)
    # the target runs behind the groups' comparison (a6: the claim's cost), the control's left out
    gains.attrs["runs"] = sorted(set(sub.loc[sub["intermediate"] != CONTROL, "path"]))
    return gains


def a3_languages(gains: pd.DataFrame, scale: str) -> pd.DataFrame:
    from xstilts import typology

    table = gains.groupby("language").agg(distance=("distance", "first"), word_order=("word_order", "first"))
    table.index.name = f"language ({typology.distance_source(scale)})"
    return table.sort_values("distance").round(3)


def per_language(gains: pd.DataFrame, by_seed: bool = False) -> pd.DataFrame:
    """target x language x group (x seed): mean gain over the group's tasks (and the seeds, unless
    `by_seed`), with the language's distance."""
    keys = ["target", "language", "group"] + (["seed"] if by_seed else [])
    return gains.groupby(keys, as_index=False).agg(gain=("gain", "mean"), distance=("distance", "first"))


def per_seed_slopes(gains: pd.DataFrame) -> pd.DataFrame:
    """One row per target, group and seed: the slope of the gain on distance over that seed's
    languages, and the slope of (syntactic - semantic similarity) paired by language."""
    rows = []
    for (target, seed), g in per_language(gains, by_seed=True).groupby(["target", "seed"], sort=True):
        wide = g.pivot_table(index="language", columns="group", values="gain")
        dist = g.groupby("language")["distance"].first().reindex(wide.index)
        columns = {group: wide[group] for group in [*ORDER, CONTROL] if group in wide}
        if all(group in wide for group in ORDER):
            both = wide[ORDER].dropna()
            columns[DIFFERENCE] = both[ORDER[0]] - both[ORDER[1]]
        for group, values in columns.items():
            values = values.dropna()
            fit = stats.slope_fit(dist.reindex(values.index), values)
            rows.append({"target": target, "group": group, "seed": seed, "languages": fit["points"],
                         "mean gain": float(values.mean()), "slope": fit["slope"]})
    return pd.DataFrame(rows)


DIFFERENCE = "syntactic - semantic similarity"


def difference_units(gains: pd.DataFrame) -> pd.DataFrame:
    """The question's test for the claims ledger (a6): one unit per target and seed, `diff` = that
    seed's slope of (syntactic - semantic similarity) gain on distance, fitted over its languages
    (language "all": the languages are inside the unit, not replicates)."""
    slopes = per_seed_slopes(gains)
    slopes = slopes[(slopes["group"] == DIFFERENCE) & slopes["slope"].notna()]
    return pd.DataFrame({"target": slopes["target"], "seed": slopes["seed"], "language": "all",
                         "diff": slopes["slope"]}).reset_index(drop=True)


def a3_trends(gains: pd.DataFrame) -> pd.DataFrame:
    """Per target: each group's mean gain over languages and slope of gain on distance (points per
    unit of distance), and the slope of (syntactic - semantic similarity): means over seeds of the
    per-seed values, with 95% t intervals and a t-test over seeds (none below two seeds); the control's
    row, where the grid has it, comes before the difference."""
    rows = []
    for (target, group), g in per_seed_slopes(gains).groupby(["target", "group"], sort=False):
        over, gain = stats.t_over_seeds(g["slope"]), stats.t_over_seeds(g["mean gain"])
        rows.append({"target": target, "group": group, "seeds": len(g), "languages": int(g["languages"].max()),
                     "mean gain": gain["mean"], "gain low": gain["ci_low"], "gain high": gain["ci_high"],
                     "slope": over["mean"],
                     "CI low": over["ci_low"], "CI high": over["ci_high"], "p": over["p"]})
    order = {g: k for k, g in enumerate([*ORDER, CONTROL, DIFFERENCE])}
    table = pd.DataFrame(rows).sort_values(["target", "group"], key=lambda c: c.map(order) if c.name == "group" else c)
    return table.set_index(["target", "group"])


def a3_macros(trends: pd.DataFrame, runs: tuple[int, int] = (0, 0)) -> dict:
    """The numbers the paper quotes; `runs` = (finished, planned) target runs of the grid
    (`grid_results(...).attrs["runs"]`)."""
    seeds = int(trends["seeds"].min())
    out = {"a3 seeds": seeds, "a3 runs finished": int(runs[0]), "a3 runs planned": int(runs[1]),
           "a3 inference": (f"means of the per-seed slopes with 95\\% $t$ intervals over {seeds} seeds" if seeds >= 2 else
                            "one seed, so no interval over seeds and no test: slopes only, a description")}
    for (t, g), r in trends.iterrows():
        key = f"a3 {t} {g.replace('-', 'minus')}"
        out |= {f"{key} gain": float(r["mean gain"]),
                f"{key} gain interval": paper.fmt_interval(r["mean gain"], r["gain low"], r["gain high"]),
                f"{key} slope": float(r["slope"]), f"{key} low": float(r["CI low"]), f"{key} high": float(r["CI high"]),
                f"{key} interval": paper.fmt_interval(r["slope"], r["CI low"], r["CI high"])}
    return out


def a3_figure(gains: pd.DataFrame):
    """One panel per target: per-language mean gain against distance, per group (and the control, where
    the grid has it), with the mean of the per-seed fitted lines and, with two seeds or more, its 95% t
    band over seeds (the seed is the unit: each x's band is the interval of the seeds' fitted values)."""
    data, by_seed = per_language(gains), per_language(gains, by_seed=True)
    targets = sorted(data["target"].unique())
    fig, axes = paper.figure(height=2.5, ncols=len(targets), squeeze=False)
    for ax, target in zip(axes[0], targets):
        sub = data[data["target"] == target]
        for k, group in enumerate([*ORDER, CONTROL]):
            g = sub[sub["group"] == group]
            if g.empty:  # no control in the grid at this scale
                continue
            color = paper.PALETTE[2 * k]
            ax.scatter(g["distance"], g["gain"], marker=paper.MARKERS[k], s=16, color=color,
                       facecolors="none" if k else paper.PALETTE[0], label=group)
            xs = np.linspace(g["distance"].min(), g["distance"].max(), 20)
            lines = []
            for _, one in by_seed[(by_seed["target"] == target) & (by_seed["group"] == group)].groupby("seed"):
                fit = stats.slope_fit(one["distance"], one["gain"])
                if np.isfinite(fit["slope"]):
                    lines.append(fit["intercept"] + fit["slope"] * xs)
            if not lines:
                continue
            band = [stats.t_over_seeds(column) for column in np.array(lines).T]
            ax.plot(xs, [b["mean"] for b in band], ["-", "--", ":"][k], color=color, lw=1.2)
            if len(lines) >= 2:
                ax.fill_between(xs, [b["ci_low"] for b in band], [b["ci_high"] for b in band], color=color, alpha=0.12, lw=0)
        # the axis follows the points: with few seeds a band can be far wider, and runs off the panel
        low, high = min(sub["gain"].min(), 0.0), max(sub["gain"].max(), 0.0)
        pad = 0.25 * (high - low) or 1.0
        ax.set_ylim(low - pad, high + pad)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set(title=target, xlabel="syntactic distance from English", ylabel="gain over none")
    axes[0][0].legend(loc="best", frameon=True)
    return fig
