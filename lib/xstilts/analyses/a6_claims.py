"""The base paper's claims, one by one, as a ledger of tests.

Every claim is one comparison with the seed as the unit (per-seed mean over languages, targets
weighing equally; `xstilts.stats.paired_seed_test`): a paired t-test over seeds (df = seeds - 1),
Holm-Bonferroni across every p-value in the ledger, TOST within +-MARGIN for "does not beat" claims and
the minimum detectable effect at 80% power. Verdicts come only from those tests: supported,
contradicted, inconclusive (underpowered), or not testable at this scale (no runs, or fewer than two
seeds). A configuration "best per target" is chosen on English dev, never on test.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from xstilts import ledger, paper, stats
from xstilts.analyses import a0_main_table as a0
from xstilts.analyses import a2_mixed_language as a2
from xstilts.analyses import a3_syntax_vs_semantics as a3
from xstilts.analyses import a4_model_scale_xcopa as a4
from xstilts.analyses import a5_intermediate_vs_mlm as a5
from xstilts.results import MissingResults, completed, grid_results, is_english_config

ALPHA = stats.ALPHA
# Equivalence margin of the "does not beat / no benefit" claims, in score points: the smallest
# X-STILTs gain over XLM-R the base paper reports as a gain on a test set is +0.8 (XNLI, MLQA).
MARGIN = 1.0
VERDICTS = ("supported", "contradicted", "inconclusive (underpowered)", "not testable at this scale")
# public XTREME test numbers (XLM-R Large, X-STILTs), Phang et al. (2020), Table 2; QA as F1
PUBLISHED_TEST = {"xnli": (79.2, 80.0), "udpos": (73.8, 74.9), "panx": (65.4, 64.0), "pawsx": (86.4, 87.9),
                  "xquad": (76.6, 78.7), "mlqa": (71.6, 72.4), "tydiqa": (65.1, 76.0)}
A5_SCORES = "a5_intermediate_vs_mlm scores"  # claim_frames' key for a5.a5_scores()
A4_GAINS = "a4_model_scale_xcopa gains"  # claim_frames' key for a4.a4_gains()
A3_GAINS = "a3_syntax_vs_semantics gains"  # claim_frames' key for a3.a3_gains()


@dataclass(frozen=True)
class Claim:
    claim: str
    paper: str
    kind: str                                  # "positive" | "negative" | "no benefit"
    compute: Callable[[dict], tuple]           # frames -> (units frame with diff, comparison) or (None, why)


def _untestable(why: str, runs=None):
    """No test, and why; `runs`: target runs that were spent on the claim all the same (failed ones)."""
    if runs is None:
        return None, why
    units = _spent(pd.DataFrame(columns=["target", "seed", "language", "diff"]), runs)
    units.attrs["untestable"] = True
    return units, why


def _spent(units: pd.DataFrame, runs) -> pd.DataFrame:
    """`units` with the target run folders behind them (`attrs["runs"]`): the claim's cost ledger."""
    units.attrs["runs"] = sorted(runs)
    return units


def _targets(units: pd.DataFrame) -> str:
    n = units["target"].nunique()
    return f"{n} target{'s' if n != 1 else ''}"


def _selected(frame: pd.DataFrame) -> pd.Series:
    """target -> configuration selected on English dev (targets without a dev score are left out)."""
    sel = a0.selection_table(frame)
    return sel.loc[~sel["selected on English dev"].str.startswith("--"), "selected on English dev"]


def _vs_none(config_of: Callable[[set], str | None]):
    def compute(frames):
        zs = a0.scores(frames[a0.GRID])
        config = config_of(set(zs["config"]))
        if config is None or config not in set(zs["config"]):
            return _untestable("no such configuration in a0_main_table at this scale")
        units = a0.paired_units(zs, config, "none")
        return (_spent(units, a0.runs_behind(zs, {config, "none"}, units)),
                f"{config} - none, {_targets(units)}{a0.left_out_text(units)}")
    return compute


def _vs_control(task: str):
    """The base paper's own design shares data between MNLI and XNLI (and SQuAD and the QA targets):
    read such a gain against the control that gives 'none' as many extra steps on the target."""
    def compute(frames):
        zs = a0.scores(frames[a0.GRID])
        control = a0.control_of(set(zs["config"]))
        if control is None or task not in set(zs["config"]):
            return _untestable(f"no {task} run or no extra-target-steps control in a0_main_table at this scale")
        units = a0.paired_units(zs, task, control)
        return (_spent(units, a0.runs_behind(zs, {task, control}, units)),
                f"{task} - {control}, {_targets(units)}{a0.left_out_text(units)}")
    return compute


def _multi(configs):
    multi = sorted(c for c in configs if c.startswith("multi-task"))
    return multi[-1] if multi else None


def _multitask_vs_best_single(frames):
    frame = frames[a0.GRID]
    zs = a0.scores(frame)
    multi = _multi(set(zs["config"]))
    ok, _ = completed(frame)
    dev = ok.assign(config=a0.with_config(ok)["config"]).groupby(["config", "target"])["dev"].mean().unstack("target")
    singles = dev.loc[[c for c in dev.index if is_english_config(c) and "+" not in c and c != "none"]].dropna(axis=1)
    if multi is None or singles.empty:
        return _untestable("a0_main_table needs single-task and multi-task rows with English dev scores")
    best = singles.mean(axis=1).idxmax()
    units = a0.paired_units(zs, multi, best)
    return (_spent(units, a0.runs_behind(zs, {multi, best}, units)),
            f"{multi} - {best} (best single task on English dev){a0.left_out_text(units)}")


def _best_per_target(frames):
    frame = frames[a0.GRID]
    zs = a0.scores(frame)
    selected = _selected(frame)
    parts = {t: a0.paired_units(zs, cfg, "none", targets={t}) for t, cfg in selected.items()}
    units = a0.complete_targets(pd.concat(parts.values()))
    runs = {r for t, u in parts.items() if t in set(units["target"]) for r in a0.runs_behind(zs, {selected[t], "none"}, u)}
    return (_spent(units, runs), f"dev-selected config per target - none, {_targets(units)} "
                                 f"with a dev score{a0.left_out_text(units)}")


def _gain_per_target(frame: pd.DataFrame) -> pd.DataFrame:
    """seed x target: the change vs none averaged over the English intermediate configurations (no
    selection), each target's zero-shot language mean; `attrs["runs"]`: the target runs behind it."""
    zs = a0.scores(frame)
    configs = [c for c in dict.fromkeys(zs["config"]) if is_english_config(c) and c != "none"]
    parts = {c: a0.paired_units(zs, c, "none") for c in configs}
    gains = pd.concat(parts.values()).groupby(["seed", "target"])["diff"].mean().unstack("target")
    gains = gains.dropna(axis=1)  # a target some configuration has on fewer seeds (complete_targets)
    gains.attrs["runs"] = sorted({r for c, u in parts.items() for r in a0.runs_behind(zs, {c, "none"}, u)})
    return gains


def _rank(target_set, largest: bool):
    def compute(frames):
        gains = _gain_per_target(frames[a0.GRID])
        present = [t for t in target_set if t in gains.columns]
        if not present or gains.shape[1] < 2:
            return _untestable(f"no {'/'.join(target_set)} results with every seed at this scale")
        others = gains.drop(columns=present)
        mine = gains[present].mean(axis=1)
        d = mine - others.max(axis=1) if largest else others.min(axis=1) - mine
        units = pd.DataFrame({"target": "rank", "seed": d.index, "language": "all", "diff": d.to_numpy()})
        missing = sorted(set(target_set) - set(present))
        what = (f"{'+'.join(present)} gain - largest other gain" if largest else
                f"smallest other gain - {'+'.join(present)} gain") + " (mean over configs, per seed)"
        return _spent(units, gains.attrs["runs"]), what + (f"; {', '.join(missing)} not run here" if missing else "")
    return compute


def _best_tasks(frames):
    singles = {c for c in a0.scores(frames[a0.GRID])["config"] if is_english_config(c) and "+" not in c and c != "none"}
    return _untestable(f"only {len(singles)} single intermediate tasks in the grid here: a ranking of the nine "
                       "needs the full scale")


def _mlm(frames):
    if A5_SCORES not in frames:
        return _untestable("no budget-matched continued-MLM runs at this scale")
    scores = frames[A5_SCORES]
    comp = a5.primary(scores)   # FLOP-matched at the largest budget run, chosen before any comparison existed
    d = a5.differences(scores, comp, [m for m in a5.MEASURES.values() if m.endswith("seqeval F1")])
    runs = scores.attrs["runs"]
    d = _spent(d, runs.get(comp["intermediate arm"], []) + runs.get(comp["MLM arm"], []))
    return d, f"{comp['comparison']} (matched in {comp['matched in']}), POS and NER F1"


def _mixed(frames):
    if a2.GRID not in frames:
        return _untestable("a2_mixed_language was not run at this scale")
    # a2's grid holds both arms (English-only and mixed), so its own runs answer it: never mixed with
    # the main table's, which may come from another design of the grids (results.ANALYSED_DESIGN)
    pairs = a2.mixed_language_pairs(frames[a2.GRID], frames[a2.GRID]["scale"].iloc[0])
    return (_spent(pairs.assign(diff=pairs["english"] - pairs["mixed"]), pairs.attrs["runs"]),
            f"English-only - mixed ({', '.join(sorted(pairs['intermediate'].unique()))})" + _mixed_failures(pairs))


def _mixed_failures(pairs: pd.DataFrame) -> str:
    """The arms' failed target runs, which the matched comparison cannot show (it leaves them out)."""
    english, mixed = pairs.attrs.get("failed_english", 0), pairs.attrs.get("failed_mixed", 0)
    if not english + mixed:
        return ""
    return (f"; runs failing their dev check: English-only {english}, mixed {mixed}, leaving "
            f"{pairs.attrs.get('units_left_out', 0)} units out")


def _size_trend(frames):
    if A4_GAINS not in frames:
        return _untestable("a4_model_scale_xcopa was not run at this scale")
    gains = frames[A4_GAINS]
    if gains.empty and gains.attrs.get("failed"):
        return _untestable(f"no a4_model_scale_xcopa model-seed pair passed both dev checks "
                           f"({gains.attrs['failed']} failed runs)", gains.attrs["runs"])
    units = a4.size_trend_units(gains)
    if units.empty:
        return _untestable(f"{gains['model'].nunique()} model size(s) with runs at this scale: no trend")
    return _spent(units, gains.attrs["runs"]), (f"SIQA gain per doubling of non-embedding parameters, {gains['model'].nunique()} sizes, XCOPA")


def _syntax_vs_semantics(frames):
    if A3_GAINS not in frames:
        return _untestable("a3_syntax_vs_semantics was not run at this scale")
    gains = frames[A3_GAINS]
    units = a3.difference_units(gains)
    if units.empty:
        return _untestable("no seed with both groups' runs at this scale")
    return (_spent(units, gains.attrs["runs"]),
            f"slope of the syntactic - semantic-similarity gain on syntactic distance, {_targets(units)}")


def _published(target: str):
    def compute(frames):
        frame = frames[a0.GRID]
        selected = _selected(frame)
        if target not in selected.index:
            return _untestable(f"{target} is not in a0_main_table at this scale")
        zs = a0.scores(frame)
        units = a0.paired_units(zs, selected[target], "none", targets={target})
        return _spent(units, a0.runs_behind(zs, {selected[target], "none"}, units)), f"{selected[target]} (dev-selected) - none"
    return compute


CLAIMS = [
    Claim("SQuAD as intermediate task improves zero-shot transfer", "+8.2 (dev)", "positive", _vs_none(lambda c: "squad_v1")),
    Claim("MNLI as intermediate task improves zero-shot transfer", "+7.5 (dev)", "positive", _vs_none(lambda c: "mnli")),
    Claim("The SQuAD gain holds against a control given as many extra target steps", "(not in the paper)",
          "positive", _vs_control("squad_v1")),
    Claim("The MNLI gain holds against a control given as many extra target steps", "(not in the paper)",
          "positive", _vs_control("mnli")),
    Claim("HellaSwag as intermediate task improves zero-shot transfer", "+7.0 (dev)", "positive",
          _vs_none(lambda c: "hellaswag")),
    Claim("Multi-task training on the intermediate tasks improves transfer", "+8.7 (dev)", "positive", _vs_none(_multi)),
    Claim("Multi-task adds gains over the best single task", "small, positive", "positive", _multitask_vs_best_single),
    Claim("The best intermediate task per target improves the XTREME average", "+5.4", "positive", _best_per_target),
    Claim("The largest gains are on BUCC and Tatoeba", "BUCC, Tatoeba", "positive", _rank(("bucc", "tatoeba"), True)),
    Claim("XNLI gains least", "XNLI", "positive", _rank(("xnli",), False)),
    Claim("SQuAD, MNLI and HellaSwag are the best intermediate tasks", "top 3 of 9", "positive", _best_tasks),
    Claim("Continued MLM does not beat English intermediate training", "not better", "no benefit", _mlm),
    Claim("Question B: mixed-language intermediate data does not beat English-only", "not better", "no benefit", _mixed),
    Claim("Question C: syntactic tasks' gain falls less with distance than semantic-similarity tasks'",
          "(not in the paper)", "positive", _syntax_vs_semantics),
    Claim("Question D: the intermediate-task gain grows with model size", "(not in the paper)", "positive",
          _size_trend),
    *[Claim(f"X-STILTs vs XLM-R on {t} (XTREME test)", f"{x:.1f} to {s:.1f} ({s - x:+.1f})",
            "positive" if s > x else "negative", _published(t)) for t, (x, s) in PUBLISHED_TEST.items()],
]


def claim_frames(results: pd.DataFrame, scale: str, runs_dir: str | None = None, *,
                 partial: bool = False) -> dict[str, pd.DataFrame]:
    """The grids the claims are checked on: the main table is required (with `partial`, each grid's
    finished runs: grids being computed in chunks); a grid not run at this scale leaves its claims
    "not testable at this scale". Each grid is read at the design its analysis reads (ANALYSED_DESIGN)."""
    frames = {a0.GRID: grid_results(results, a0.GRID, scale, partial=partial)}
    try:
        frames[a2.GRID] = grid_results(results, a2.GRID, scale, partial=partial)
    except MissingResults:
        pass
    try:
        frames[A5_SCORES] = a5.a5_scores(grid_results(results, a5.GRID, scale, partial=partial), scale, runs_dir)
    except MissingResults:
        pass
    try:
        frames[A3_GAINS] = a3.a3_gains(grid_results(results, a3.GRID, scale, partial=partial), scale)
    except MissingResults:
        pass
    try:
        frames[A4_GAINS] = a4.a4_gains(grid_results(results, a4.GRID, scale, partial=partial), scale)
    except MissingResults:
        pass
    return frames


def _verdict(kind: str, t: dict, p_holm: float, p_tost_holm: float) -> str:
    if t is None or t["seeds"] < 2:
        return "not testable at this scale"
    significant = np.isfinite(p_holm) and p_holm < ALPHA
    if kind == "no benefit":   # diff = claimed-not-worse side - other side; "beats" = diff < 0
        if np.isfinite(p_tost_holm) and p_tost_holm < ALPHA:
            return "supported"
        if significant:
            return "supported" if t["estimate"] > 0 else "contradicted"
        return "inconclusive (underpowered)"
    if significant:
        return "supported" if (t["estimate"] > 0) == (kind == "positive") else "contradicted"
    return "inconclusive (underpowered)"


def claims_table(frames: dict[str, pd.DataFrame], claims=None, *, margin: float = MARGIN) -> pd.DataFrame:
    """One row per claim: the paper's number, this repository's estimate with its 95% interval, seeds,
    raw and Holm-adjusted p (paired t over seeds), TOST (no-benefit claims), MDE, the verdict, and what
    the runs behind the claim spent (their cost ledgers, upstream runs included)."""
    records, spent = [], []
    for c in claims or CLAIMS:
        units, what = c.compute(frames)
        spent.append(ledger.runs_totals(units.attrs.get("runs", []) if units is not None else []))
        test = None
        if units is not None and len(units):
            test = stats.paired_seed_test(units, margin=margin if c.kind == "no benefit" else None)
        elif units is not None and not units.attrs.get("untestable"):
            what = "no matched units"
        if test is not None and test["seeds"] < 2:
            what += f"; {test['seeds']} seed: no test"
        records.append((c, test, what, units.attrs.get("runs", []) if units is not None else []))
    raw = [t["p"] if t and t["seeds"] >= 2 else np.nan for _, t, _, _ in records]
    tost = [t["p_tost"] if t and t["seeds"] >= 2 and c.kind == "no benefit" else np.nan for c, t, _, _ in records]
    adjusted = stats.holm(raw + tost)
    p_holm, p_tost_holm = adjusted[:len(raw)], adjusted[len(raw):]
    rows = []
    for i, (c, t, what, _) in enumerate(records):
        low, high = (t["ci_low"], t["ci_high"]) if t else (np.nan, np.nan)
        rows.append({"claim": c.claim, "paper": c.paper,
                     "estimate": t["estimate"] if t else np.nan, "CI low": low,
                     "CI high": high, "seeds": t["seeds"] if t else 0,
                     "p": raw[i], "p Holm": p_holm[i], "p TOST": tost[i], "p TOST Holm": p_tost_holm[i],
                     "p sign-flip": t["p_sign_flip"] if t else np.nan, "MDE": t["mde"] if t else np.nan,
                     "verdict": _verdict(c.kind, t, p_holm[i], p_tost_holm[i]), "comparison": what,
                     # the cost ledgers of the runs behind the claim (target runs and their upstream runs)
                     "runs": spent[i]["runs"], "runs with ledger": spent[i]["runs_with_ledger"],
                     "device hours": spent[i]["device_hours"],
                     "PFLOP": (spent[i]["train_flops"] + spent[i]["eval_flops"]) / 1e15})
    table = pd.DataFrame(rows)
    table.attrs["runs"] = sorted({r for _, _, _, runs in records for r in runs})  # behind any claim
    table.attrs["scale"] = frames[a0.GRID]["scale"].iloc[0] if len(frames[a0.GRID]) else None
    return table


def write_claims_table(scale: str, table: pd.DataFrame, caption: str):
    """The ledger as a wrapped-column tabular for the paper."""
    shown = pd.DataFrame({
        "claim": table["claim"], "paper": table["paper"],
        "this repo [95% CI]": [paper.fmt_interval(e, lo, hi) for e, lo, hi in zip(table["estimate"], table["CI low"],
                                                                                   table["CI high"])],
        "compared": [re.sub(r"multi-task \(([^)]*)\)", lambda m: f"multi-task ({m.group(1).count('+') + 1})", c)
                     for c in table["comparison"]], "n": table["seeds"].astype(int),
        "p": table["p"].map(paper.fmt_p), "p Holm": table["p Holm"].map(paper.fmt_p),
        "TOST p (Holm)": [f"{paper.fmt_p(a)} ({paper.fmt_p(b)})" if np.isfinite(a) else "--"
                          for a, b in zip(table["p TOST"], table["p TOST Holm"])],
        "MDE": [("--" if not np.isfinite(m) else f"{m:.1f}") for m in table["MDE"]], "verdict": table["verdict"],
        "cost": [cost_cell(r, scale) for _, r in table.iterrows()]})
    body = shown.to_latex(index=False, escape=True,
                          column_format="".join(f">{{\\raggedright\\arraybackslash}}p{{{w}cm}}" if w else "r" for w in
                                                (4.6, 1.8, 2.6, 4.6, 0, 0, 0, 1.6, 0, 2.4, 1.4)))
    body = body.replace("< 0.001", "$<$0.001")
    # a page of its own, turned sideways (package rotating): 21 claims x 11 columns fit at its width
    text = (f"% generated by xstilts from {scale}-scale runs; do not edit\n"
            f"\\begin{{sidewaystable}}\\centering\\scriptsize\\setlength{{\\tabcolsep}}{{3pt}}\n{body}\\caption{{{caption} "
            f"[{paper.SCALE_NAMES[scale]}]}}\\label{{tab:a6_claims-{scale}}}\n\\end{{sidewaystable}}\n")
    return paper.write_text(paper.GENERATED / scale / "a6_claims.tex", text)


# what the cost column counts: device-hours where runs are committed (ledger.TIMED_SCALES), else FLOPs
COST_UNITS = {True: "device-hours", False: "estimated training and evaluation FLOPs"}


def cost_cell(row: pd.Series, scale: str) -> str:
    """A claim's cost for the table: device-hours at the scales whose runs are committed
    (ledger.TIMED_SCALES), estimated FLOPs at smoke (the same on every machine); "--" for runs
    without a ledger (the archived design's), and how many had one where only some did."""
    if row["runs with ledger"] == 0:
        return "--"
    cost = f"{row['device hours']:.1f} h" if scale in ledger.TIMED_SCALES else paper.fmt_flops(row["PFLOP"] * 1e15)
    return cost if row["runs with ledger"] == row["runs"] else f"{cost} ({row['runs with ledger']}/{row['runs']} runs)"


def claims_macros(table: pd.DataFrame, margin: float = MARGIN) -> dict:
    counts = table["verdict"].value_counts()
    tested = int(table["p"].notna().sum())
    return ({f"a6 {v.split(' (')[0]}": int(counts.get(v, 0)) for v in VERDICTS}
            | {"a6 claims": len(table), "a6 tested": tested,
               "a6 tests": int(table["p"].notna().sum() + table["p TOST"].notna().sum()),
               "a6 margin": float(margin)}
            | seeds_macros(table)
            | cost_macros(ledger.runs_totals(table.attrs.get("runs", [])), table.attrs.get("scale"))
            | question_macros(table))


def seeds_macros(table: pd.DataFrame) -> dict:
    """The fewest and most seeds behind a tested claim (0 when none is tested)."""
    seeds = table.loc[table["p"].notna(), "seeds"]
    return {"a6 fewest seeds": int(seeds.min()) if len(seeds) else 0,
            "a6 most seeds": int(seeds.max()) if len(seeds) else 0}


def summary_sentence(table: pd.DataFrame) -> str:
    """The ledger in one sentence, as the a6 notebook prints it: claims tested, with how many seeds,
    and the count of each verdict."""
    m = claims_macros(table)

    def count(n: int) -> str:
        return f"{n} {'is' if n == 1 else 'are'}"

    if m["a6 tested"] == 0:
        tested = "none is tested"
    else:
        seeds = (str(m["a6 most seeds"]) if m["a6 fewest seeds"] == m["a6 most seeds"]
                 else f"{m['a6 fewest seeds']}-{m['a6 most seeds']}")
        tested = f"{count(m['a6 tested'])} tested, each with {seeds} seeds (column n)"
    verdicts = (f"{m['a6 supported']} supported, {m['a6 contradicted']} contradicted, "
                f"{m['a6 inconclusive']} inconclusive (underpowered)")
    return (f"Of {m['a6 claims']} claims, {tested}: {verdicts}; "
            f"{count(m['a6 not testable at this scale'])} not testable at this scale.")


def question_macros(table: pd.DataFrame) -> dict:
    """Each research question's row ("Question C: ..."): its verdict and p-values as text, for the
    question's own section of the paper."""
    out = {}
    for _, r in table[table["claim"].str.startswith("Question ")].iterrows():
        key = f"a6 question {r['claim'].split(':')[0].split()[-1]}"
        out |= {f"{key} verdict": r["verdict"],
                f"{key} p": paper.fmt_p(r["p"]), f"{key} p Holm": paper.fmt_p(r["p Holm"])}
    return out


def cost_macros(cost: dict, scale: str | None) -> dict:
    """What the runs behind any claim spent, each run once (their cost ledgers)."""
    values = {"a6 cost runs": int(cost["runs"]), "a6 cost runs with ledger": int(cost["runs_with_ledger"]),
              "a6 pflop": (cost["train_flops"] + cost["eval_flops"]) / 1e15}
    if scale in ledger.TIMED_SCALES:
        values["a6 device hours"] = cost["device_hours"]
    return values
