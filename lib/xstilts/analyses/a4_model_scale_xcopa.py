"""Question D: does the benefit of English intermediate training (SIQA, then COPA) grow with model size?
Measured zero-shot on XCOPA; intervals are hierarchical bootstraps (seeds, then languages)."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from xstilts import ledger, paper, stats
from xstilts.results import LEAVE_OUT_FAILED, MissingResults, completed, gain_over_none, require, tex

GRID = "a4_model_scale_xcopa"
# Published zero-shot XCOPA means over its 11 languages (XTREME-R recipe: SIQA, then COPA). Published
# numbers for XLM-R (Ruder et al., 2021), not results of this repository.
XCOPA_PUBLISHED = {"XLM-R base": 60.7, "XLM-R large": 69.1}
# what a4_gains returns per (model, language, seed)
GAIN_COLUMNS = ["model", "target", "language", "seed", "score", "baseline", "gain", "parameters", "non_embedding"]


def _millions(count: int) -> str:
    """118M, 21M, 0.2M: whole millions once they read well, one decimal below 10M."""
    return f"{count / 1e6:.0f}M" if count >= 1e7 else f"{count / 1e6:.1f}M"


@functools.lru_cache(maxsize=None)
def parameter_counts(name: str) -> tuple[int, int]:
    """(all parameters, parameters outside embedding lookups) of a model's encoder, built from its
    config. The second is the size that scales compute and depth: the truncated offline encoders'
    word embeddings (96M of 118M) are the same table at every depth."""
    import warnings

    import torch

    with warnings.catch_warnings():  # transformers' tqdm import warns (with a machine path) in notebooks
        warnings.simplefilter("ignore")
        from transformers import AutoConfig, AutoModel

        from xstilts import models

    # built on the CPU from the config (random weights): some checkpoints' init code cannot run on "meta"
    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.from_pretrained(models.resolve(name)))
    return int(sum(p.numel() for p in model.parameters())), int(ledger.matmul_parameters(model))


def a4_gains(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    """XCOPA zero-shot accuracy with and without SIQA intermediate training, per model/language/seed."""
    ok, failed = completed(frame)
    try:
        sub = require(ok, GRID, scale, target="xcopa", intermediate=["none", "siqa"], intermediate_languages="en")
    except MissingResults:
        if not failed:  # nothing run yet: the loud error naming the grid
            raise
        sub = ok.iloc[:0]  # every finished run failed: no pair, reported below
    # a failed run (its dev check, or its SIQA phase's) leaves its pair without one side: the pair is
    # left out, and counted (gains.attrs); so is a pair whose other run has not finished yet (a grid
    # read while it is computed in chunks: the caption counts the runs finished so far)
    pairs = sub.groupby(["model", "seed"])["intermediate"].nunique()
    complete = set(pairs[pairs == 2].index)
    failed_rows = frame[frame["failed"].astype(bool)] if "failed" in frame else frame.iloc[:0]
    broken = set(zip(failed_rows["model"], failed_rows["seed"])) - complete
    if failed and not complete:
        return _no_gains(frame, failed, len(broken))
    paired = sub[[key in complete for key in zip(sub["model"], sub["seed"])]]
    require(paired, GRID, scale)
    gains = gain_over_none(paired[paired["language"] != "en"], GRID, scale)
    counts = {m: parameter_counts(m) for m in gains["model"].unique()}
    gains = gains.assign(parameters=gains["model"].map(lambda m: counts[m][0]),
                         non_embedding=gains["model"].map(lambda m: counts[m][1]))
    gains = gains.sort_values(["parameters", "model", "language", "seed"]).reset_index(drop=True)
    gains.attrs.update(failed=failed, pairs_left_out=len(broken),
                       runs=sorted(set(paired["path"])))   # both sides' target runs (a6: the claim's cost)
    return gains


def _no_gains(frame: pd.DataFrame, failed: int, pairs_left_out: int) -> pd.DataFrame:
    """No model-seed pair whose two runs both passed their dev checks: no gain is measured, and the
    table, figure, sentence and claim say so rather than raise. The claim's cost (a6) is what the
    failed runs spent."""
    gains = pd.DataFrame({c: pd.Series(dtype=object if c in ("model", "target", "language") else float)
                          for c in GAIN_COLUMNS})
    gains.attrs.update(failed=failed, pairs_left_out=pairs_left_out,
                       runs=sorted(set(frame["path"])) if "path" in frame else [])
    return gains


def a4_summary(gains: pd.DataFrame) -> pd.DataFrame:
    """Per model: mean XCOPA accuracy without / with SIQA and the gain, each with a 95% hierarchical-
    bootstrap interval (seeds, then languages), and the paired t-test of the gain over seeds."""
    rows = []
    for (params_, model), g in gains.groupby(["parameters", "model"], sort=True):
        row = {"model": model, "parameters": int(params_), "languages": g["language"].nunique(),
               "seeds": g["seed"].nunique()}
        for label, col in (("none", "baseline"), ("SIQA", "score"), ("gain", "gain")):
            t = stats.paired_seed_test(g.assign(diff=g[col]))
            row[label], row[f"{label} CI low"], row[f"{label} CI high"] = t["estimate"], t["ci_low"], t["ci_high"]
        row["p"] = t["p"]
        rows.append(row)
    columns = ["model", "parameters", "languages", "seeds"] + [f"{label}{part}" for label in ("none", "SIQA", "gain")
                                                                for part in ("", " CI low", " CI high")] + ["p"]
    out = pd.DataFrame(rows, columns=columns).set_index("model")
    out.attrs.update(gains.attrs)  # failed runs and pairs left out, for the macros and the caption
    return out


def size_trend_units(gains: pd.DataFrame) -> pd.DataFrame:
    """The question's own test: per (seed, language), the least-squares slope of the gain on log2 of
    the non-embedding parameters across the model sizes, i.e. the change in gain per doubling of
    model size. Units with fewer than two sizes are left out. Columns target, seed, language, diff
    (stats.paired_seed_test: seeds are the replicates, languages are described within them)."""
    rows = []
    for (target, seed, language), g in gains.groupby(["target", "seed", "language"], sort=True):
        if g["non_embedding"].nunique() < 2:
            continue
        slope = np.polyfit(np.log2(g["non_embedding"].to_numpy(float)), g["gain"].to_numpy(float), 1)[0]
        rows.append({"target": target, "seed": seed, "language": language, "diff": float(slope)})
    return pd.DataFrame(rows, columns=["target", "seed", "language", "diff"])


def size_trend(gains: pd.DataFrame) -> dict:
    """The gain's change per doubling of non-embedding parameters with its 95% hierarchical-bootstrap
    interval and the t-test over seeds; None with fewer than two model sizes."""
    units = size_trend_units(gains)
    if units.empty:
        return None
    return stats.paired_seed_test(units) | {"sizes": int(gains["non_embedding"].nunique())}


def a4_macros(summary: pd.DataFrame, trend: dict | None = None, runs: tuple[int, int] | None = None) -> dict:
    """The paper's numbers; `runs` = (target runs finished, planned) of a grid read in chunks."""
    out = {f"a4 {model} {col}": float(r[col]) for model, r in summary.iterrows()
           for col in ("none", "SIQA", "gain", "gain CI low", "gain CI high")}
    if trend is not None:
        out |= {"a4 trend": trend["estimate"], "a4 trend low": trend["ci_low"], "a4 trend high": trend["ci_high"],
                "a4 trend p": paper.fmt_p(trend["p"]), "a4 trend seeds": int(trend["seeds"])}
    sentence = tex(trend_text(trend, summary))  # "<" prints as such: the paper uses T1 fonts
    return out | {"a4 models": len(summary), "a4 seeds": int(summary["seeds"].max()) if len(summary) else 0,
                  "a4 trend sentence": sentence,
                  "a4 failed runs": int(summary.attrs.get("failed", 0)),
                  "a4 pairs left out": int(summary.attrs.get("pairs_left_out", 0))} | (
        {"a4 runs finished": int(runs[0]), "a4 runs planned": int(runs[1])} if runs else {})


def failed_note(summary: pd.DataFrame, scale: str) -> str:
    """The caption's count of failed runs: left out (with the pairs they break) where verdicts are
    read, kept at smoke scale (results.LEAVE_OUT_FAILED)."""
    failed = int(summary.attrs.get("failed", 0))
    if scale not in LEAVE_OUT_FAILED:
        return f"{failed} runs fail their dev check and are kept at this scale"
    return (f"{failed} failed runs, and the {int(summary.attrs.get('pairs_left_out', 0))} model-seed pairs they "
            f"leave incomplete, left out")


def trend_text(trend: dict | None, summary: pd.DataFrame) -> str:
    """The interpretation cell's sentence on the size trend."""
    if summary.empty and summary.attrs.get("failed"):
        return (f"No model-seed pair has both runs passing their dev checks ({summary.attrs['failed']} finished runs "
                f"failed theirs, or started from a SIQA run that failed its own): no gain, and no size trend, is "
                f"measured here.")
    if trend is None:
        return f"{len(summary)} model size(s): no size trend is measurable here."
    test = (f"p = {paper.fmt_p(trend['p'])}, t-test over {trend['seeds']} seeds" if trend["seeds"] >= 2
            else f"{trend['seeds']} seed: no test")
    return (f"Per doubling of non-embedding parameters ({trend['sizes']} sizes) the SIQA gain changes by "
            f"{trend['estimate']:+.1f} [{trend['ci_low']:+.1f}, {trend['ci_high']:+.1f}] points ({test}).")


def a4_figure(summary: pd.DataFrame, scale: str):
    """Accuracy without / with SIQA per model (95% intervals), published XLM-R means as reference lines."""
    fig, ax = paper.figure(width=4.6, height=2.4)
    x = np.arange(len(summary))
    for k, (label, name) in enumerate([("none", "no intermediate task"), ("SIQA", "SIQA intermediate")]):
        err = np.nan_to_num([summary[label] - summary[f"{label} CI low"], summary[f"{label} CI high"] - summary[label]])
        ax.errorbar(x + 0.08 * (2 * k - 1), summary[label], yerr=err, fmt=paper.MARKERS[k], color=paper.PALETTE[2 * k],
                    capsize=2, ms=4, label=name)
    for k, (name, value) in enumerate(XCOPA_PUBLISHED.items()):
        ax.axhline(value, color="0.45", lw=0.9, linestyle=[":", "--"][k],
                   label=f"published {name}" + ("" if scale == "full" else " (reference)"))
    ax.axhline(50, color="0.7", lw=0.8, linestyle="-.", label="chance")
    ax.set_xticks(x, [f"{m.split('/')[-1]}\n{_millions(p)} params" for m, p in zip(summary.index, summary["parameters"])])
    ax.set_xlim(-0.6, max(len(summary), 1) - 0.4)
    if summary.empty:  # every run failed its dev check: the figure says so instead of showing nothing
        ax.text(0, 55, "no model with both runs\npassing their dev checks", ha="center", va="center", fontsize=8)
        ax.set_ylim(40, 75)
    ax.set(ylabel="XCOPA accuracy (zero-shot mean)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig
