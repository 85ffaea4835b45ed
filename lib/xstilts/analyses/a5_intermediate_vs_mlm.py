"""Question E: English intermediate-task training vs continued MLM at the same budget (optimiser steps x
batch), on zero-shot POS and NER. The test is over seeds; per-language differences are description."""
from __future__ import annotations

import numpy as np
import pandas as pd

from xstilts import paper, stats
from xstilts.results import MissingResults, completed, require, with_run_params

GRID = "a5_intermediate_vs_mlm"
CONFIGS = ["none", "continued MLM", "intermediate task"]
MEASURES = {("udpos", "m.upos_accuracy.accuracy"): "POS UPOS accuracy", ("udpos", "score"): "POS seqeval F1",
            ("panx", "score"): "NER seqeval F1"}


def a5_scores(frame: pd.DataFrame, scale: str, runs_dir: str | None = None) -> pd.DataFrame:
    """Zero-shot POS (UPOS accuracy, seqeval F1) and NER (F1) per configuration: none, continued MLM,
    intermediate task, keeping only the intermediate / MLM runs with the same optimiser steps and batch."""
    ok, _ = completed(frame)
    sub = require(ok, GRID, scale, target=["udpos", "panx"], intermediate_languages="en")
    sub = with_run_params(sub[sub["language"] != "en"], scale, runs_dir,
                          ["intermediate_max_steps", "intermediate_batch_size", "intermediate_grad_accum", "mlm_batch_size"])
    none, mlm = sub["intermediate"] == "none", sub["mlm_steps"] > 0
    inter = ~none & ~mlm & (sub["intermediate_max_steps"] > 0)
    sub = sub.assign(
        config=np.select([none & ~mlm, none & mlm, inter], CONFIGS, default=""),
        steps=np.select([mlm, inter], [sub["mlm_steps"], sub["intermediate_max_steps"]], default=0),
        batch=np.select([mlm, inter], [sub["mlm_batch_size"], sub["intermediate_batch_size"] * sub["intermediate_grad_accum"]],
                        default=0))
    budgets = set(zip(sub.loc[none & mlm, "steps"], sub.loc[none & mlm, "batch"]))
    matched = budgets & set(zip(sub.loc[inter, "steps"], sub.loc[inter, "batch"]))
    if not matched:
        raise MissingResults(f"No intermediate-task and continued-MLM runs with the same budget (steps, batch) at "
                             f"{scale} scale. Run `xstilts run params/experiments/{GRID}.yaml --scale {scale}`.")
    budget_ok = [(s, b) in matched for s, b in zip(sub["steps"], sub["batch"])]
    sub = sub[(sub["config"] == "none") | ((sub["config"] != "") & np.array(budget_ok))]
    for config in CONFIGS:
        require(sub, GRID, scale, config=config)
    rows = [sub[sub["target"] == t].assign(measure=name, value=sub[col]) for (t, col), name in MEASURES.items()]
    scores = pd.concat(rows, ignore_index=True).dropna(subset=["value"])
    cols = ["measure", "target", "config", "intermediate", "steps", "batch", "language", "seed", "value", "model", "notes"]
    out = scores[cols].sort_values(["measure", "config", "language", "seed"]).reset_index(drop=True)
    # each configuration's target runs (a6: a claim's cost)
    out.attrs["runs"] = {c: sorted(set(g["path"])) for c, g in sub.groupby("config")}
    return out


def a5_budget(scores: pd.DataFrame) -> pd.DataFrame:
    """The compute each configuration got before target training (optimiser steps x batch size)."""
    table = scores.groupby(["config", "intermediate"])[["steps", "batch"]].first()
    return table.assign(examples=table["steps"] * table["batch"]).reindex(CONFIGS, level=0)


def differences(scores: pd.DataFrame, measures=None) -> pd.DataFrame:
    """(measure as target, seed, language) units with diff = intermediate task - continued MLM."""
    sub = scores if measures is None else scores[scores["measure"].isin(measures)]
    wide = sub.pivot_table(index=["measure", "seed", "language"], columns="config", values="value").dropna(
        subset=["intermediate task", "continued MLM"]).reset_index()
    return wide.assign(target=wide["measure"], diff=wide["intermediate task"] - wide["continued MLM"])


def a5_tests(scores: pd.DataFrame) -> pd.DataFrame:
    """Per measure: means of the three configurations, intermediate - MLM with its hierarchical-bootstrap
    95% CI and the paired t-test over seeds (df = seeds - 1)."""
    rows = []
    for measure, g in differences(scores).groupby("measure", sort=True):
        t = stats.paired_seed_test(g)
        means = scores[scores["measure"] == measure].groupby("config")["value"].mean()
        rows.append({"measure": measure, **{c: means.get(c, np.nan) for c in CONFIGS},
                     "intermediate - MLM": t["estimate"], "CI low": t["ci_low"], "CI high": t["ci_high"],
                     "seeds": t["seeds"], "p": t["p"]})
    return pd.DataFrame(rows).set_index("measure")


def a5_macros(tests: pd.DataFrame) -> dict:
    out = {}
    for measure, r in tests.iterrows():
        out[f"a5 {measure} intermediate minus mlm"] = float(r["intermediate - MLM"])
        out[f"a5 {measure} low"] = float(r["CI low"])
        out[f"a5 {measure} high"] = float(r["CI high"])
        out[f"a5 {measure} p"] = paper.fmt_p(r["p"])
    out["a5 seeds"] = int(tests["seeds"].max())
    return out


def a5_figure(scores: pd.DataFrame):
    """Per measure, every zero-shot language's intermediate - MLM difference (mean over seeds, bar = range
    over seeds), sorted: per-language description, not a test."""
    per = differences(scores).groupby(["measure", "language"])["diff"].agg(["mean", "min", "max"]).reset_index()

    def draw(ax, k, sub):
        paper.dot_plot(ax, sub, value="mean", low="min", high="max", label=sub["measure"].iloc[0],
                       color=paper.PALETTE[2 * k], marker=paper.MARKERS[k])

    return paper.per_language_panels(per, "measure", "mean", "intermediate \u2212 MLM", draw)[0]
