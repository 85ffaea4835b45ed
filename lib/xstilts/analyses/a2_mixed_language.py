"""Question B: English-only vs mixed-language intermediate data, by script.

A unit is a matched (intermediate task, target, language, seed); the test is over seeds (each target
weighing equally, so over the seeds whose runs passed their dev checks on every target), and a one-seed
grid gives the estimate only: no interval and no test. A run that failed its dev check is left out with
the units it leaves unmatched, and counted per arm (`dev_checks`): how often each arm fails is part of
the answer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from xstilts import paper, stats
from xstilts.results import LEAVE_OUT_FAILED, MissingResults, completed, script_of, zero_shot

GRID = "a2_mixed_language"
GROUPS = ["Latin", "non-Latin"]
ARMS = ["none", "control", "English-only", "mixed"]


def arm_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's arm: none, control (no intermediate task, extra target steps), English-only or mixed."""
    extra = frame["extra_target_steps"] if "extra_target_steps" in frame else pd.Series(0, index=frame.index)
    return pd.Series(np.select([(frame["intermediate"] == "none") & (extra > 0), frame["intermediate"] == "none",
                                frame["intermediate_languages"] == "en"], ["control", "none", "English-only"], "mixed"),
                     index=frame.index)


def finished_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per finished target run, with its arm and whether it failed its English dev check (or
    started from an intermediate run that failed its own)."""
    runs_ = frame.drop_duplicates("run")
    failed = runs_["failed"].astype(bool) if "failed" in runs_ else False
    return runs_.assign(arm=arm_of(runs_), failed=failed)


def dev_checks(frame: pd.DataFrame) -> pd.DataFrame:
    """Per arm and target: finished target runs and how many failed their English dev check."""
    table = finished_runs(frame).groupby(["arm", "target"])["failed"].agg(finished="size", failed="sum")
    order = [a for a in ARMS if a in table.index.get_level_values("arm")]
    return table.reindex(order, level="arm").astype(int)


def mixed_language_pairs(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Matched units: English-only vs mixed-language intermediate data, zero-shot languages only, with
    each language's script and whether it is in the mixed data."""
    ok, _ = completed(frame)
    zs = zero_shot(ok[(ok["mlm_steps"] == 0) & (ok["intermediate"] != "none")])
    keys = ["intermediate", "target", "language", "seed"]
    english = zs[zs["intermediate_languages"] == "en"].groupby(keys)["value"].mean().rename("english")
    mixed_rows = zs[zs["intermediate_languages"] != "en"]
    mixed = mixed_rows.groupby(keys)["value"].mean().rename("mixed")
    pairs = pd.concat([english, mixed], axis=1, join="inner").reset_index()
    if pairs.empty:
        raise MissingResults(f"No matched English-only / mixed-language intermediate runs: run "
                             f"params/experiments/{GRID}.yaml")
    mixed_langs = dict(zip(mixed_rows["intermediate"], mixed_rows["intermediate_languages"]))
    pairs["script"] = [script_of(lang, scale) for lang in pairs["language"]]
    pairs["group"] = np.where(pairs["script"] == "Latn", "Latin", "non-Latin")
    pairs["in mixed data"] = [lang in mixed_langs[t].split("+") for t, lang in zip(pairs["intermediate"], pairs["language"])]
    pairs["change"] = pairs["mixed"] - pairs["english"]
    pairs = pairs.sort_values(keys).reset_index(drop=True)
    # failed runs, per arm, and the matched (task, target, seed) units they leave without a partner
    finished = finished_runs(frame)
    failed = finished[finished["failed"] & finished["arm"].isin(["English-only", "mixed"])]
    pairs.attrs.update(failed_english=int((failed["arm"] == "English-only").sum()),
                       failed_mixed=int((failed["arm"] == "mixed").sum()))
    matched = set(zip(pairs["intermediate"], pairs["target"], pairs["seed"]))
    pairs.attrs["units_left_out"] = len(set(zip(failed["intermediate"], failed["target"], failed["seed"])) - matched)
    pairs.attrs["failed_left_out"] = scale in LEAVE_OUT_FAILED
    pairs.attrs["runs"] = sorted({p for p, *key in zip(zs["path"], zs["intermediate"], zs["target"], zs["seed"])
                                  if tuple(key) in matched})   # their target runs (a6: the claim's cost)
    return pairs


def mixed_language_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per intermediate task, target and script group: English-only, mixed, change and languages."""
    g = pairs.groupby(["intermediate", "target", "group"])
    table = g[["english", "mixed", "change"]].mean()
    table["languages"] = g["language"].nunique()
    return table


def mixed_language_tests(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mixed minus English-only, overall, per script group and seen / unseen in the mixed data: estimate
    (targets weighing equally), hierarchical-bootstrap 95% CI, seeds and the paired t-test over seeds."""
    rows = []
    subsets = [("all", pairs), *((k, v) for k, v in pairs.groupby("group", sort=True)),
               ("in mixed data", pairs[pairs["in mixed data"]]), ("not in mixed data", pairs[~pairs["in mixed data"]])]
    for name, sub in subsets:
        if sub.empty:
            continue
        t = stats.paired_seed_test(sub.rename(columns={"change": "diff"}))
        rows.append({"units": name, "languages": sub["language"].nunique(), "seeds": t["seeds"],
                     "change": t["estimate"], "CI low": t["ci_low"], "CI high": t["ci_high"], "p": t["p"]})
    return pd.DataFrame(rows).set_index("units")


def figure(pairs: pd.DataFrame):
    """Small multiples per target: every zero-shot language's change (mean over seeds), sorted; colour and
    marker = script group, open markers = languages in the mixed data."""
    per = pairs.groupby(["target", "language", "group", "in mixed data"], as_index=False)["change"].mean()

    def draw(ax, _, sub):
        for k, group in enumerate(GROUPS):
            for seen in (False, True):
                g = sub[(sub["group"] == group) & (sub["in mixed data"] == seen)]
                if not g.empty:
                    ax.scatter(g["change"], g.index, marker=paper.MARKERS[k], s=14, linewidths=0.9,
                               edgecolors=paper.PALETTE[k * 2], facecolors="none" if seen else paper.PALETTE[k * 2],
                               label=f"{group}{', in mixed data' if seen else ''}")

    fig, axes = paper.per_language_panels(per, "target", "change", "mixed \u2212 English-only", draw)
    axes[0][0].legend(loc="lower right", fontsize=7, frameon=True)
    return fig


def mixed_language_macros(tests: pd.DataFrame, pairs: pd.DataFrame, runs: tuple[int, int] = (0, 0)) -> dict:
    """The numbers the paper quotes; `runs` = (finished, planned) target runs of the grid
    (`grid_results(...).attrs["runs"]`), failed runs per arm from `pairs.attrs`."""
    values = {}
    for units, row in tests.iterrows():
        values[f"a2 change {units}"] = float(row["change"])
        values[f"a2 low {units}"] = float(row["CI low"])
        values[f"a2 high {units}"] = float(row["CI high"])
        values[f"a2 interval {units}"] = paper.fmt_interval(row["change"], row["CI low"], row["CI high"])
        values[f"a2 p {units}"] = paper.fmt_p(row["p"])
        values[f"a2 languages {units}"] = int(row["languages"])
    values["a2 seeds"] = int(tests["seeds"].max())
    values |= {"a2 runs finished": int(runs[0]), "a2 runs planned": int(runs[1]),
               "a2 failed english": int(pairs.attrs.get("failed_english", 0)),
               "a2 failed mixed": int(pairs.attrs.get("failed_mixed", 0)),
               "a2 units left out": int(pairs.attrs.get("units_left_out", 0))}
    n_out = values["a2 units left out"]
    values["a2 failed sentence"] = (
        f"They are left out with the {n_out} matched unit{'s' if n_out != 1 else ''} they break, which conditions the "
        "comparison on success and so favours the arm that fails more." if pairs.attrs.get("failed_left_out", True) else
        "At this scale failed runs are kept, as its numbers check the pipeline and are not read as science.")
    return values
