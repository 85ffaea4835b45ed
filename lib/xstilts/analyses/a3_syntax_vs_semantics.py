"""Question C: syntactic vs semantic-similarity intermediate tasks, by typological distance.

The seed is the unit of inference (every language of one seed shares that seed's models). Within each
seed, the slope of the gain (over no intermediate task, averaged over the group's tasks) on syntactic
distance from English is fitted over languages with scipy's linregress; the difference of the two
groups' slopes is the slope of the per-language difference, paired by language. The table gives the
mean of the per-seed slopes with a t interval over seeds (df = seeds - 1) and a one-sample t-test of
"slope = 0" over seeds; with one seed there is no interval and no test, only the slope.
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


def a3_gains(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Zero-shot gain of each syntactic / semantic-similarity task over none, with the language's
    distance from English (xstilts.typology)."""
    from xstilts import typology

    ok, _ = completed(frame)
    sub = require(ok, GRID, scale, target=["udpos", "xnli"], intermediate=["none", *GROUPS], intermediate_languages="en")
    gains = gain_over_none(sub[sub["language"] != "en"], GRID, scale)
    for group in ORDER:
        require(gains, GRID, scale, intermediate=[t for t, g in GROUPS.items() if g == group])
    gains = gains.assign(group=gains["intermediate"].map(GROUPS),
                         distance=gains["language"].map(lambda l: typology.syntactic_distance(l, scale)),
                         word_order=gains["language"].map(lambda l: typology.word_order(l, scale)))
    return gains.sort_values(["target", "group", "intermediate", "language", "seed"]).reset_index(drop=True)


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
        columns = {group: wide[group] for group in ORDER if group in wide}
        if len(columns) == len(ORDER):
            both = wide[ORDER].dropna()
            columns[DIFFERENCE] = both[ORDER[0]] - both[ORDER[1]]
        for group, values in columns.items():
            values = values.dropna()
            fit = stats.slope_fit(dist.reindex(values.index), values)
            rows.append({"target": target, "group": group, "seed": seed, "languages": fit["points"],
                         "mean gain": float(values.mean()), "slope": fit["slope"]})
    return pd.DataFrame(rows)


DIFFERENCE = "syntactic - semantic similarity"


def a3_trends(gains: pd.DataFrame) -> pd.DataFrame:
    """Per target: each group's slope of gain on distance (points per unit of distance) and the slope
    of (syntactic - semantic similarity), as the mean over seeds of the per-seed slopes, with a 95% t
    interval and a t-test over seeds (none below two seeds)."""
    rows = []
    for (target, group), g in per_seed_slopes(gains).groupby(["target", "group"], sort=False):
        over = stats.t_over_seeds(g["slope"])
        rows.append({"target": target, "group": group, "seeds": len(g), "languages": int(g["languages"].max()),
                     "mean gain": float(g["mean gain"].mean()), "slope": over["mean"],
                     "CI low": over["ci_low"], "CI high": over["ci_high"], "p": over["p"]})
    order = {g: k for k, g in enumerate([*ORDER, DIFFERENCE])}
    table = pd.DataFrame(rows).sort_values(["target", "group"], key=lambda c: c.map(order) if c.name == "group" else c)
    return table.set_index(["target", "group"])


def a3_macros(trends: pd.DataFrame) -> dict:
    seeds = int(trends["seeds"].min())
    out = {"a3 seeds": seeds,
           "a3 inference": (f"means of the per-seed slopes with 95\\% $t$ intervals over {seeds} seeds" if seeds >= 2 else
                            "one seed, so no interval over seeds and no test: slopes only, a description")}
    for (t, g), r in trends.iterrows():
        key = f"a3 {t} {g.replace('-', 'minus')}"
        out |= {f"{key} slope": float(r["slope"]), f"{key} low": float(r["CI low"]), f"{key} high": float(r["CI high"]),
                f"{key} interval": paper.fmt_interval(r["slope"], r["CI low"], r["CI high"])}
    return out


def a3_figure(gains: pd.DataFrame):
    """One panel per target: per-language mean gain against distance, per group, with the fitted lines."""
    data = per_language(gains)
    targets = sorted(data["target"].unique())
    fig, axes = paper.figure(height=2.5, ncols=len(targets), squeeze=False)
    for ax, target in zip(axes[0], targets):
        sub = data[data["target"] == target]
        for k, group in enumerate(ORDER):
            g = sub[sub["group"] == group]
            ax.scatter(g["distance"], g["gain"], marker=paper.MARKERS[k], s=16, color=paper.PALETTE[2 * k],
                       facecolors="none" if k else paper.PALETTE[0], label=group)
            fit = stats.slope_fit(g["distance"], g["gain"])
            if np.isfinite(fit["slope"]):
                xs = np.linspace(g["distance"].min(), g["distance"].max(), 10)
                ax.plot(xs, fit["intercept"] + fit["slope"] * xs, "-" if k == 0 else "--", color=paper.PALETTE[2 * k], lw=1.2)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set(title=target, xlabel="syntactic distance from English", ylabel="gain over none")
    axes[0][0].legend(loc="best", frameon=True)
    return fig
