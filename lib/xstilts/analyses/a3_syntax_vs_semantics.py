"""Question C: syntactic vs semantic-similarity intermediate tasks, by typological distance.

The slope of the gain (over no intermediate task) on syntactic distance from English is fitted with
scipy's linregress over languages (the gain averaged over the group's tasks and the seeds), with a t
interval (df = languages - 2); the difference of the two groups' slopes is the slope of the
per-language difference, paired by language.
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


def per_language(gains: pd.DataFrame) -> pd.DataFrame:
    """target x language x group: mean gain (over the group's tasks and seeds) and the distance."""
    return gains.groupby(["target", "language", "group"], as_index=False).agg(gain=("gain", "mean"),
                                                                          distance=("distance", "first"))


def a3_trends(gains: pd.DataFrame) -> pd.DataFrame:
    """Per target: each group's slope of gain on distance (points per unit of distance) with its 95% t
    interval, and the slope of (syntactic - semantic similarity), paired by language."""
    rows = []
    for target, g in per_language(gains).groupby("target", sort=True):
        wide = g.pivot_table(index="language", columns="group", values="gain")
        dist = g.groupby("language")["distance"].first().reindex(wide.index)
        for group in ORDER:
            fit = stats.slope_fit(dist, wide[group])
            rows.append({"target": target, "group": group, "languages": fit["points"],
                         "mean gain": float(wide[group].mean()), **{k: fit[k] for k in ("slope", "ci_low", "ci_high", "p")}})
        both = wide[ORDER].dropna()
        fit = stats.slope_fit(dist.reindex(both.index), both[ORDER[0]] - both[ORDER[1]])
        rows.append({"target": target, "group": "syntactic - semantic similarity", "languages": fit["points"],
                     "mean gain": float((both[ORDER[0]] - both[ORDER[1]]).mean()),
                     **{k: fit[k] for k in ("slope", "ci_low", "ci_high", "p")}})
    table = pd.DataFrame(rows).rename(columns={"ci_low": "CI low", "ci_high": "CI high"})
    return table.set_index(["target", "group"])


def a3_macros(trends: pd.DataFrame) -> dict:
    out = {}
    for (t, g), r in trends.iterrows():
        key = f"a3 {t} {g.replace('-', 'minus')}"
        out |= {f"{key} slope": float(r["slope"]), f"{key} low": float(r["CI low"]), f"{key} high": float(r["CI high"])}
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
