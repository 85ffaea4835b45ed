"""Results -> tables, figures, statistics and LaTeX macros for the paper.

Every table and figure names its scale (smoke / offline / full), model and data substitutions.
Figures share one seaborn style that stays readable in grayscale.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from xstilts import params as P
from xstilts import runs

FIGURES = P.REPO_ROOT / "figures"
GENERATED = P.REPO_ROOT / "paper" / "generated"
SCALE_NAMES = {"smoke": "smoke scale (tiny model, synthetic data)",
               "offline": "offline scale (multilingual-e5-small, mirrored real data)",
               "full": "full scale (XLM-R, Hub data)"}


# --------------------------------------------------------------------------------- style
def style():
    """The paper's one figure style: white grid, grayscale-safe sequential palette."""
    import matplotlib
    import seaborn as sns

    matplotlib.rcParams.update({"svg.hashsalt": "xstilts", "pdf.fonttype": 42, "figure.dpi": 100,
                                "savefig.dpi": 150, "savefig.bbox": "tight"})
    sns.set_theme(context="paper", style="whitegrid", palette="cubehelix", font_scale=1.1)


def save_figure(fig, name: str, scale: str) -> list[Path]:
    """figures/<scale>/<name>.{png,pdf}, byte-stable across reruns (no timestamps)."""
    out = FIGURES / scale
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        path = out / f"{name}.{ext}"
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format=ext, metadata=meta)
        os.replace(tmp, path)
        paths.append(path)
    return paths


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


# ------------------------------------------------------------------------------ collecting
def load_results(scale: str, runs_dir: str | None = None) -> pd.DataFrame:
    """One row per (target run, language): the long table every analysis starts from."""
    root = Path(runs_dir or os.environ.get("XSTILTS_RUNS") or (P.REPO_ROOT / "runs"))
    rows = []
    for r in runs.collect(root, scale, "target"):
        for lang, value in r["headline"].items():
            extra = {f"m.{k}": v for k, v in r["per_language"][lang].items() if isinstance(v, (int, float))}
            rows.append({"scale": r["scale"], "model": r["model"], "seed": r["seed"], "target": r["target_task"],
                         "intermediate": "+".join(r["intermediate_tasks"]) or "none",
                         "n_intermediate": len(r["intermediate_tasks"]),
                         "intermediate_languages": "+".join(r.get("intermediate_languages") or ["en"]),
                         "mlm_steps": r.get("mlm_steps", 0), "metric": r["metric"], "language": lang,
                         "score": value, "notes": " | ".join(r.get("notes") or []), "run": r["run_dir"], **extra})
    return pd.DataFrame(rows)


class MissingResults(RuntimeError):
    pass


def require(frame: pd.DataFrame, grid: str, scale: str, **conditions) -> pd.DataFrame:
    """Rows matching `conditions`, or a loud error naming the grid to run."""
    sub = frame
    for key, value in conditions.items():
        if sub.empty:
            break
        sub = sub[sub[key].isin(value if isinstance(value, (list, tuple, set)) else [value])]
    if sub.empty:
        raise MissingResults(f"No {scale}-scale results for {conditions or 'this analysis'}. Run the grid first: "
                             f"`xstilts run params/experiments/{grid}.yaml --scale {scale}` (or `make smoke`).")
    return sub


# ----------------------------------------------------------------------------- statistics
def bootstrap_ci(values, *, n: int = 2000, level: float = 0.95, seed: int = 0, weights=None) -> tuple[float, float, float]:
    """(Weighted) mean and percentile-bootstrap confidence interval of the mean."""
    values = np.asarray(values, dtype=float)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    mean = float(np.average(values, weights=w))
    if len(values) == 1:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n, len(values)))
    means = (values[idx] * w[idx]).sum(1) / w[idx].sum(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return mean, float(lo), float(hi)


def paired_test(a, b, *, n: int = 10000, seed: int = 0, weights=None) -> dict:
    """Paired comparison of two configurations over matched units (language x seed): (weighted)
    mean difference, bootstrap CI, a paired permutation (sign-flip) p-value and the Wilcoxon p-value.
    `weights` make e.g. every target task count equally however many languages it has."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a - b
    w = np.ones_like(diff) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    mean, lo, hi = bootstrap_ci(diff, seed=seed, weights=w)
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n, len(diff)))
    p_perm = float(((np.abs((signs * diff * w).sum(1)) >= abs(mean) - 1e-12).sum() + 1) / (n + 1))
    p_wil = float(stats.wilcoxon(diff).pvalue) if len(diff) > 1 and np.any(diff != 0) else float("nan")
    return {"mean_diff": mean, "ci_low": lo, "ci_high": hi, "p_permutation": p_perm, "p_wilcoxon": p_wil,
            "n_pairs": len(diff)}


# ---------------------------------------------------------------------------- LaTeX output
def macro_name(*parts) -> str:
    """LaTeX macro names allow letters only: 'a0', 'mnli', 3 -> 'AZeroMnliThree'."""
    digits = "Zero One Two Three Four Five Six Seven Eight Nine".split()
    text = " ".join(str(p) for p in parts)
    text = re.sub(r"\d", lambda m: " " + digits[int(m.group())] + " ", text)
    return "".join(w.capitalize() for w in re.split(r"[^A-Za-z]+", text) if w)


def write_macros(name: str, scale: str, values: dict[str, object]) -> Path:
    """paper/generated/<scale>/<name>-macros.tex: \\newcommand per number the text quotes."""
    lines = [f"% generated by xstilts.report from {scale}-scale runs; do not edit"]
    for key, value in values.items():
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        lines.append(f"\\newcommand{{\\{macro_name(scale, key)}}}{{{text}}}")
    return _write(GENERATED / scale / f"{name}-macros.tex", "\n".join(lines) + "\n")


def write_table(name: str, scale: str, table: pd.DataFrame, caption: str, *, float_format="%.1f") -> Path:
    body = table.to_latex(float_format=float_format, escape=True, na_rep="--")
    # shrunk to the text width when wider (many languages or long headers), never enlarged
    body = f"\\resizebox{{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}}{{!}}{{%\n{body}}}\n"
    text = (f"% generated by xstilts.report from {scale}-scale runs; do not edit\n"
            f"\\begin{{table}}[t]\\centering\\small\n{body}\\caption{{{caption} "
            f"[{SCALE_NAMES[scale]}]}}\\label{{tab:{name}-{scale}}}\n\\end{{table}}\n")
    return _write(GENERATED / scale / f"{name}.tex", text)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


# ===== analyses a0 a1 a2 a6 =====
# The main table (a0), question A (a1: number of intermediate tasks -> UPOS accuracy), question B
# (a2: English-only vs mixed-language intermediate data, by script) and the claim-by-claim check of
# the base paper (a6). Every function takes the long frame of `load_results` (or a slice of it).

QA_METRICS = {"squad", "squad_v2", "mlqa"}
# ISO 15924 script of every language in tasks.yaml's XTREME / XTREME-R / XCOPA lists
SCRIPTS = {
    **dict.fromkeys("af de en es et eu fi fr ht hu id it jv ms nl pl pt qu ro sw tl tr vi wo yo".split(), "Latn"),
    **dict.fromkeys("bg kk ru uk".split(), "Cyrl"), **dict.fromkeys("ar fa ur".split(), "Arab"),
    **dict.fromkeys("hi mr".split(), "Deva"), "bn": "Beng", "el": "Grek", "he": "Hebr", "ja": "Jpan",
    "ka": "Geor", "ko": "Kore", "ml": "Mlym", "my": "Mymr", "ta": "Taml", "te": "Telu", "th": "Thai",
    "zh": "Hans",
}


def script_of(lang: str, scale: str) -> str:
    """ISO 15924 script of a language; at smoke scale the synthetic benchmark's own scripts."""
    if scale == "smoke":
        from xstilts import smoke
        return smoke.LANGUAGE_FEATURES[lang]["script"]
    if lang not in SCRIPTS:
        raise KeyError(f"No script for language {lang!r}: add it to xstilts.report.SCRIPTS")
    return SCRIPTS[lang]


def grid_results(frame: pd.DataFrame, grid: str, scale: str) -> pd.DataFrame:
    """The rows of every target run of params/experiments/<grid>.yaml at `scale`; a loud
    MissingResults naming the grid (and the missing runs) if any of them has no result yet."""
    from xstilts import workflow

    wanted = sorted({runs.run_name(cfg, "target") for cfg in workflow.grid_runs(workflow.load_grid(grid), scale)})
    have = set(frame["run"]) if "run" in frame else set()
    missing = [r for r in wanted if r not in have]
    if missing:
        raise MissingResults(
            f"{len(missing)} of {len(wanted)} target runs of params/experiments/{grid}.yaml have no {scale}-scale "
            f"result (e.g. {', '.join(missing[:3])}). Run the grid first: "
            f"`xstilts run params/experiments/{grid}.yaml --scale {scale}` (or `make smoke`).")
    return frame[frame["run"].isin(wanted)].copy()


def describe(frame: pd.DataFrame, scale: str, *, tex: bool = False) -> str:
    """'smoke scale, model smoke-tiny[; data substitutions: ...]' for every title and caption
    (`tex=True`: escaped for a LaTeX caption)."""
    models = ", ".join(sorted(frame["model"].unique()))
    notes = sorted({n for text in frame["notes"] for n in text.split(" | ") if n})
    text = f"{scale} scale, model {models}" + (f"; data substitutions: {'; '.join(notes)}" if notes else "")
    return _tex(text) if tex else text


def xtreme_score(frame: pd.DataFrame) -> pd.Series:
    """XTREME's per-language number: the headline metric, QA as (EM + F1) / 2."""
    score = frame["score"].astype(float)
    if "m.exact_match" in frame and "m.f1" in frame:
        qa = frame["metric"].isin(QA_METRICS) & frame["m.exact_match"].notna()
        score = score.where(~qa, (frame["m.exact_match"] + frame["m.f1"]) / 2)
    return score


def zero_shot(frame: pd.DataFrame) -> pd.DataFrame:
    """Non-English rows with the XTREME score in `value`."""
    out = frame[frame["language"] != "en"].copy()
    out["value"] = xtreme_score(out)
    return out


def config_label(intermediate: str, languages: str = "en", mlm_steps: int = 0) -> str:
    """Row label of an intermediate configuration: 'none', 'mnli', 'multi-task (a+b)',
    'MLM-continued (200 steps)', 'mnli [en+es+de]' (mixed-language intermediate data)."""
    label = intermediate if "+" not in intermediate else f"multi-task ({intermediate})"
    if languages != "en":
        label += f" [{languages}]"
    if mlm_steps:
        label = f"MLM-continued ({mlm_steps} steps)" + ("" if intermediate == "none" else f" + {label}")
    return label


def _config_kind(intermediate: str, languages: str, mlm_steps: int) -> int:
    """Row order of the main table: none, single tasks, multi-task, MLM-continued, mixed-language."""
    if mlm_steps:
        return 3
    if languages != "en":
        return 4
    return 0 if intermediate == "none" else (2 if "+" in intermediate else 1)


def _with_config(zs: pd.DataFrame) -> pd.DataFrame:
    zs = zs.copy()
    keys = zip(zs["intermediate"], zs["intermediate_languages"], zs["mlm_steps"])
    zs["config"], zs["kind"] = zip(*[(config_label(*k), _config_kind(*k)) for k in keys]) if len(zs) else ((), ())
    return zs


def main_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Intermediate configuration x target task: mean over seeds of the zero-shot average over the
    non-English languages; `average` over the target columns (only for rows that have them all)."""
    zs = _with_config(zero_shot(frame))
    per_run = zs.groupby(["kind", "config", "target", "seed"], as_index=False)["value"].mean()
    table = per_run.groupby(["kind", "config", "target"])["value"].mean().unstack("target")
    table = table.sort_index().droplevel("kind")
    table = table[sorted(table.columns)]
    table["average"] = table.mean(axis=1, skipna=False)
    table.index.name, table.columns.name = "intermediate", None
    return table


def change_vs_none(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's presentation: every row minus the no-intermediate-task row."""
    if "none" not in table.index:
        raise MissingResults("The main table has no 'none' (no intermediate task) row to compare with.")
    return table.drop(index="none") - table.loc["none"]


def best_per_target(change: pd.DataFrame) -> pd.DataFrame:
    """The best English intermediate configuration (single task or multi-task) per target task."""
    english = change[[not (c.startswith("MLM") or "[" in c) for c in change.index]].drop(columns="average")
    return pd.DataFrame({"best": english.idxmax(), "gain": english.max()}).rename_axis("target")


def main_table_heatmap(change: pd.DataFrame, title: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    style()
    fig, ax = plt.subplots(figsize=(1.1 * change.shape[1] + 3, 0.45 * change.shape[0] + 1.2))
    lim = float(np.nanmax(np.abs(change.to_numpy()))) or 1.0
    sns.heatmap(change, annot=True, fmt=".1f", cmap="vlag", center=0, vmin=-lim, vmax=lim, ax=ax,
                cbar_kws={"label": "change vs no intermediate task"}, linewidths=0.5)
    ax.grid(False)
    ax.set(xlabel="target task (zero-shot, non-English mean)", ylabel="intermediate", title=title)
    return fig


def _tex(text: str) -> str:
    return str(text).replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")


def main_table_macros(table: pd.DataFrame, change: pd.DataFrame) -> dict:
    best = best_per_target(change)
    english = change.loc[[c for c in change.index if not (c.startswith("MLM") or "[" in c)]]
    complete = english.dropna(subset=["average"])
    values = {"a0 none average": float(table.loc["none", "average"]),
              "a0 best per target average gain": float(best["gain"].mean())}
    for target, row in best.iterrows():
        values[f"a0 best {target}"] = _tex(row["best"])
        values[f"a0 best gain {target}"] = float(row["gain"])
    if len(complete):
        values["a0 best average config"] = _tex(complete["average"].idxmax())
        values["a0 best average gain"] = float(complete["average"].max())
    multi = [c for c in change.index if c.startswith("multi-task")]
    if multi:
        values["a0 multitask average gain"] = float(change.loc[multi[0], "average"])
    return values


# ---- a1: number of intermediate tasks -> UPOS accuracy (question A)
UPOS_ACCURACY = "m.upos_accuracy.accuracy"


def task_scaling_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Zero-shot UPOS accuracy per (subset, seed, language) of the English-only, no-MLM udpos runs."""
    sub = frame[(frame["target"] == "udpos") & (frame["language"] != "en") & (frame["mlm_steps"] == 0)
                & (frame["intermediate_languages"] == "en")]
    if UPOS_ACCURACY not in sub or sub[UPOS_ACCURACY].isna().all():
        raise MissingResults(f"No UPOS accuracy ({UPOS_ACCURACY}) in the udpos results: rerun "
                             "params/experiments/a1_task_scaling_pos.yaml with the current code.")
    out = sub[["n_intermediate", "intermediate", "seed", "language"]].copy()
    out["accuracy"] = sub[UPOS_ACCURACY].astype(float)
    largest = out["n_intermediate"].max()
    out["size"] = [f"all ({n})" if n == largest and n > 1 else str(n) for n in out["n_intermediate"]]
    return out.sort_values(["n_intermediate", "intermediate", "seed", "language"]).reset_index(drop=True)


def task_scaling_table(acc: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Per size: subsets, runs, mean zero-shot UPOS accuracy with a bootstrap CI over
    subsets x seeds, the spread across subsets of that size, and per-language means."""
    per_run = acc.groupby(["n_intermediate", "size", "intermediate", "seed"], as_index=False)["accuracy"].mean()
    rows = []
    for (n, size), g in per_run.groupby(["n_intermediate", "size"], sort=True):
        mean, lo, hi = bootstrap_ci(g["accuracy"], seed=seed)
        by_subset = g.groupby("intermediate")["accuracy"].mean()
        rows.append({"tasks": size, "subsets": len(by_subset), "runs": len(g), "accuracy": mean,
                     "CI low": lo, "CI high": hi, "subset spread": by_subset.max() - by_subset.min()})
    table = pd.DataFrame(rows).set_index("tasks")
    langs = acc.groupby(["size", "language"])["accuracy"].mean().unstack("language")
    return table.join(langs.rename(columns=lambda c: f"acc {c}"))


def subset_table(acc: pd.DataFrame) -> pd.DataFrame:
    """The subset effect: every task subset's accuracy and its change vs no intermediate task."""
    per = acc.groupby(["n_intermediate", "intermediate"])["accuracy"].mean().rename("accuracy").reset_index()
    base = per.loc[per["intermediate"] == "none", "accuracy"]
    per["change vs none"] = per["accuracy"] - (float(base.iloc[0]) if len(base) else np.nan)
    return per.rename(columns={"n_intermediate": "tasks"}).set_index(["tasks", "intermediate"])


def task_scaling_figure(acc: pd.DataFrame, title: str, *, seed: int = 0):
    import matplotlib.pyplot as plt
    import seaborn as sns

    style()
    order = list(dict.fromkeys(acc.sort_values("n_intermediate")["size"]))
    per_run = acc.groupby(["size", "intermediate", "seed"], as_index=False)["accuracy"].mean()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=False)
    ci = pd.DataFrame([(s, *bootstrap_ci(per_run.loc[per_run["size"] == s, "accuracy"], seed=seed)) for s in order],
                      columns=["size", "mean", "lo", "hi"])
    x = np.arange(len(order))
    left.plot(x, ci["mean"], color="0.2", marker="o", label="mean over subsets x seeds")
    left.fill_between(x, ci["lo"].fillna(ci["mean"]), ci["hi"].fillna(ci["mean"]), color="0.6", alpha=0.35,
                      label="95% bootstrap CI")
    pos = {s: i for i, s in enumerate(order)}
    left.scatter([pos[s] for s in per_run["size"]], per_run["accuracy"], color="0.45", s=14, label="one subset x seed")
    left.set(xticks=x, xticklabels=order, xlabel="number of intermediate tasks", ylabel="UPOS accuracy (zero-shot mean)")
    left.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    per_lang = acc.groupby(["size", "language"], as_index=False)["accuracy"].mean()
    per_lang["x"] = per_lang["size"].map(pos)
    sns.lineplot(per_lang, x="x", y="accuracy", hue="language", style="language", markers=True, dashes=False, ax=right)
    right.set(xticks=x, xticklabels=order, xlabel="number of intermediate tasks", ylabel="UPOS accuracy")
    right.legend(title="language", fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.suptitle(title, fontsize=9)
    return fig


def task_scaling_macros(table: pd.DataFrame, subsets: pd.DataFrame) -> dict:
    first, last = table.index[0], table.index[-1]
    singles = subsets.xs(1, level="tasks") if 1 in subsets.index.get_level_values("tasks") else None
    values = {"a1 acc none": float(table.loc[first, "accuracy"]), "a1 acc all": float(table.loc[last, "accuracy"]),
              "a1 gain all": float(table.loc[last, "accuracy"] - table.loc[first, "accuracy"]),
              "a1 best size": _tex(table["accuracy"].idxmax()),
              "a1 max subset spread": float(table["subset spread"].max())}
    if singles is not None:
        values["a1 best single"] = _tex(singles["accuracy"].idxmax())
        values["a1 best single gain"] = float(singles["change vs none"].max())
    return values


# ---- a2: English-only vs mixed-language intermediate data, by script (question B)
def mixed_language_pairs(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Matched (intermediate task, target, language, seed) units: English-only vs mixed-language
    intermediate data, zero-shot languages only, with each language's script."""
    zs = zero_shot(frame[(frame["mlm_steps"] == 0) & (frame["intermediate"] != "none")])
    keys = ["intermediate", "target", "language", "seed"]
    english = zs[zs["intermediate_languages"] == "en"].groupby(keys)["value"].mean().rename("english")
    mixed_rows = zs[zs["intermediate_languages"] != "en"]
    mixed = mixed_rows.groupby(keys)["value"].mean().rename("mixed")
    pairs = pd.concat([english, mixed], axis=1, join="inner").reset_index()
    if pairs.empty:
        raise MissingResults("No matched English-only / mixed-language intermediate runs: run "
                             "params/experiments/a2_mixed_language.yaml")
    mixed_langs = dict(zip(mixed_rows["intermediate"], mixed_rows["intermediate_languages"]))
    pairs["script"] = [script_of(lang, scale) for lang in pairs["language"]]
    pairs["group"] = np.where(pairs["script"] == "Latn", "Latin", "non-Latin")
    pairs["in mixed data"] = [lang in mixed_langs[t].split("+") for t, lang in zip(pairs["intermediate"], pairs["language"])]
    pairs["change"] = pairs["mixed"] - pairs["english"]
    return pairs.sort_values(keys).reset_index(drop=True)


def mixed_language_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per intermediate task, target and script group: English-only, mixed, change and n."""
    g = pairs.groupby(["intermediate", "target", "group"])
    table = g[["english", "mixed", "change"]].mean()
    table["languages"] = g["language"].nunique()
    return table


def mixed_language_tests(pairs: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Paired test of mixed vs English-only over matched units, overall and per script group."""
    rows = []
    for name, sub in [("all", pairs), *((f"{k}", v) for k, v in pairs.groupby("group", sort=True))]:
        t = paired_test(sub["mixed"], sub["english"], seed=seed)
        rows.append({"units": name, "pairs": t["n_pairs"], "mean change": t["mean_diff"], "CI low": t["ci_low"],
                     "CI high": t["ci_high"], "p (permutation)": t["p_permutation"], "p (Wilcoxon)": t["p_wilcoxon"]})
    return pd.DataFrame(rows).set_index("units")


def mixed_language_figure(pairs: pd.DataFrame, title: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    style()
    data = pairs.assign(column=pairs["intermediate"] + " \u2192 " + pairs["target"]).sort_values(["column", "group"])
    fig, ax = plt.subplots(figsize=(1.3 * data["column"].nunique() + 3, 3.4))
    sns.barplot(data, x="column", y="change", hue="group", hue_order=["Latin", "non-Latin"], errorbar=None,
                palette=["0.75", "0.4"], ax=ax)
    # stripplot jitters with numpy's global RNG: seed it so the figure is byte-stable across reruns
    np.random.seed(0)
    sns.stripplot(data, x="column", y="change", hue="group", hue_order=["Latin", "non-Latin"], dodge=True,
                  palette=["0.3", "0.05"], size=4, legend=False, ax=ax)
    ax.axhline(0, color="0.2", linewidth=0.8)
    ax.set(xlabel="intermediate \u2192 target", ylabel="mixed \u2212 English-only (zero-shot)", title=title)
    ax.tick_params(axis="x", rotation=20)
    return fig


def mixed_language_macros(tests: pd.DataFrame) -> dict:
    values = {}
    for units, row in tests.iterrows():
        values[f"a2 change {units}"] = float(row["mean change"])
        values[f"a2 p {units}"] = f"{row['p (permutation)']:.3f}"
        values[f"a2 pairs {units}"] = int(row["pairs"])
    return values


# ---- a6: the base paper's claims, one by one
from dataclasses import dataclass
from typing import Callable

ALPHA = 0.05
VERDICTS = ("supported", "contradicted", "inconclusive", "not testable at this scale")
# public XTREME test numbers (XLM-R Large, X-STILTs), from the study's sources; QA as F1
PUBLISHED_TEST = {"xnli": (79.2, 80.0), "udpos": (73.8, 74.9), "panx": (65.4, 64.0), "pawsx": (86.4, 87.9),
                  "xquad": (76.6, 78.7), "mlqa": (71.6, 72.4), "tydiqa": (65.1, 76.0)}


@dataclass(frozen=True)
class Claim:
    claim: str
    paper: str
    grid: str
    compute: Callable[[dict], dict]   # frames by grid name -> {"repo", "verdict", "evidence"}


def verdict(test: dict, *, expect: str = "positive", alpha: float = ALPHA) -> str:
    """'supported' / 'contradicted' / 'inconclusive' from a paired_test of (claimed better) - (other).
    expect='positive': the claim is that the difference is > 0; 'not_negative': the claim is only
    that the other side does not win (supported by a difference >= 0, contradicted only by a
    significant negative one)."""
    if test["n_pairs"] < 2:
        return "inconclusive"
    significant = test["p_permutation"] < alpha
    if significant and test["mean_diff"] < 0:
        return "contradicted"
    if (expect == "not_negative" and test["mean_diff"] >= 0) or (significant and test["mean_diff"] > 0):
        return "supported"
    return "inconclusive"


def _untestable(why: str) -> dict:
    return {"repo": "--", "verdict": "not testable at this scale", "evidence": why}


def _run_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Zero-shot XTREME score per (config, target, language, seed)."""
    return _with_config(zero_shot(frame)).groupby(["config", "target", "language", "seed"])["value"].mean()


def _per_target_test(both: pd.DataFrame, level: str = "target") -> dict:
    """Paired test of columns a - b over (target, language, seed) units, each target (index `level`)
    weighing equally: the tested mean is the change averaged over targets, the number the claims
    table shows (as the XTREME average)."""
    return paired_test(both["a"], both["b"], weights=1 / both.groupby(level=level)["a"].transform("size"))


def _paired(frame: pd.DataFrame, better: str, other: str, targets=None) -> dict | None:
    s = _run_scores(frame)
    a, b = s.xs(better, level="config"), s.xs(other, level="config")
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner")
    if targets is not None:
        both = both[both.index.get_level_values("target").isin(targets)]
    return _per_target_test(both) if len(both) else None


def _fmt_test(t: dict) -> str:
    return f"{t['mean_diff']:+.1f} [{t['ci_low']:+.1f}, {t['ci_high']:+.1f}], p={t['p_permutation']:.3f}, n={t['n_pairs']}"


def _gain_claim(config: str):
    def compute(frames):
        frame = frames["a0_main_table"]
        configs = set(_with_config(frame[["intermediate", "intermediate_languages", "mlm_steps"]])["config"])
        if config not in configs:
            return _untestable(f"no '{config}' runs in a0_main_table at this scale")
        t = _paired(frame, config, "none")
        change = change_vs_none(main_table(frame)).loc[config]
        return {"repo": f"{change['average']:+.1f} (average of {change.drop('average').notna().sum()} targets)",
                "verdict": verdict(t), "evidence": f"a0_main_table: {config} vs none, {_fmt_test(t)}"}
    return compute


def _multitask(frames):
    frame = frames["a0_main_table"]
    multi = sorted(i for i in frame["intermediate"].unique() if "+" in i)
    if not multi:
        return _untestable("no multi-task run in a0_main_table")
    result = _gain_claim(config_label(multi[-1]))(frames)
    result["evidence"] += f" ({multi[-1].count('+') + 1} tasks, not nine)" if multi[-1].count("+") + 1 != 9 else ""
    return result


def _multitask_vs_best_single(frames):
    frame = frames["a0_main_table"]
    change = change_vs_none(main_table(frame))
    multi = [c for c in change.index if c.startswith("multi-task")]
    singles = change.loc[[c for c in change.index if c in set(frame["intermediate"]) and "+" not in c]]
    if not multi or singles.empty:
        return _untestable("a0_main_table needs single-task and multi-task rows")
    best = singles["average"].idxmax()
    t = _paired(frame, multi[0], best)
    return {"repo": f"{change.loc[multi[0], 'average'] - singles.loc[best, 'average']:+.1f} vs best single ({best})",
            "verdict": verdict(t), "evidence": f"a0_main_table: {multi[0]} vs {best}, {_fmt_test(t)}"}


def _best_per_target(frames):
    frame = frames["a0_main_table"]
    best = best_per_target(change_vs_none(main_table(frame)))
    s = _run_scores(frame)
    both = pd.concat([pd.concat([s.xs(cfg, level="config").xs(tgt, level="target", drop_level=False).rename("a"),
                                 s.xs("none", level="config").xs(tgt, level="target", drop_level=False).rename("b")],
                                axis=1, join="inner") for tgt, cfg in best["best"].items()])
    t = _per_target_test(both)
    return {"repo": f"{best['gain'].mean():+.1f} (mean of {len(best)} targets)", "verdict": verdict(t),
            "evidence": f"a0_main_table: best of {s.index.get_level_values('config').nunique() - 1} configs per target "
                        f"(selected on the same data, so optimistic) vs none, {_fmt_test(t)}"}


def _rank_claim(target_set, largest: bool):
    def compute(frames):
        best = best_per_target(change_vs_none(main_table(frames["a0_main_table"])))
        present = [t for t in target_set if t in best.index]
        if not present or len(best) < 2:
            return _untestable(f"no {'/'.join(target_set)} results at this scale (not in the grid here)")
        extreme = best["gain"].idxmax() if largest else best["gain"].idxmin()
        missing = sorted(set(target_set) - set(present))
        return {"repo": ", ".join(f"{t} {g:+.1f}" for t, g in best["gain"].sort_values(ascending=not largest).items()),
                "verdict": "supported" if extreme in present else "contradicted",
                "evidence": f"a0_main_table: best gain per target (point estimates, untested), "
                            f"{'largest' if largest else 'smallest'} = {extreme}"
                            + (f"; {', '.join(missing)} not run at this scale" if missing else "")}
    return compute


def _best_tasks(frames):
    change = change_vs_none(main_table(frames["a0_main_table"]))
    singles = [c for c in change.index if "+" not in c and not c.startswith("MLM") and "[" not in c]
    if len(singles) <= 3:
        return _untestable(f"only {len(singles)} single intermediate tasks ({', '.join(singles)}) in the grid here: "
                           "a ranking needs the full nine (full scale)")
    top = change.loc[singles, "average"].sort_values(ascending=False)
    ok = set(top.index[:3]) == {"squad_v1", "mnli", "hellaswag"} or set(top.index[:3]) <= {"squad_v1", "squad_v2", "mnli", "anli_plus", "hellaswag"}
    return {"repo": "top 3: " + ", ".join(top.index[:3]), "verdict": "supported" if ok else "contradicted",
            "evidence": f"a0_main_table: average change of {len(singles)} single tasks"}


def _mlm_claim_from_a5(scores: pd.DataFrame) -> dict:
    """English intermediate task vs continued MLM at a matched budget (question E's runs), pooled over
    POS and NER seqeval F1 (UPOS accuracy would count the POS runs twice), each target weighing equally."""
    f1 = scores[scores["measure"].str.endswith("seqeval F1")]
    wide = f1.pivot_table(index=["measure", "language", "seed"], columns="config", values="value").dropna()
    t = _per_target_test(wide.rename(columns={"intermediate task": "a", "continued MLM": "b"}), level="measure")
    budget = a5_budget(scores).xs("continued MLM", level="config").iloc[0]
    inter = ", ".join(sorted(scores.loc[scores["config"] == "intermediate task", "intermediate"].unique()))
    return {"repo": f"English - MLM-continued: {t['mean_diff']:+.1f}", "verdict": verdict(t, expect="not_negative"),
            "evidence": f"{A5_GRID}: {inter} vs continued MLM at a matched budget ({int(budget['steps'])} steps x "
                        f"{int(budget['batch'])}), POS and NER seqeval F1, {_fmt_test(t)}"}


def _variant_claim(kind: str):
    def compute(frames):
        frame = pd.concat([f for name, f in frames.items() if name != A5_SCORES]).drop_duplicates(
            subset=["run", "language"])
        if kind == "mlm":
            mlm = frame[(frame["mlm_steps"] > 0) & (frame["intermediate"] == "none")]
            if mlm.empty and A5_SCORES in frames:
                return _mlm_claim_from_a5(frames[A5_SCORES])
            if mlm.empty:
                return _untestable("no MLM-continued runs at this scale")
            english = sorted(i for i in frame.loc[frame["target"].isin(mlm["target"]), "intermediate"].unique()
                             if i != "none" and "+" not in i)
            steps = int(mlm["mlm_steps"].iloc[0])
            s = _run_scores(frame[frame["target"].isin(mlm["target"])])
            other = s.xs(config_label("none", "en", steps), level="config").rename("b")
            # every English single-task run against the MLM-continued run of the same target/language/seed
            both = pd.concat([pd.concat([s.xs(e, level="config").rename("a"), other], axis=1, join="inner")
                              for e in english]) if english else pd.DataFrame()
            if both.empty:
                return _untestable("no English intermediate runs on the MLM-continued targets")
            t = paired_test(both["a"], both["b"])
            return {"repo": f"English - MLM-continued: {t['mean_diff']:+.1f}", "verdict": verdict(t, expect="not_negative"),
                    "evidence": f"a0_main_table: each of {', '.join(english)} vs MLM-continued ({steps} steps) on "
                                f"{', '.join(sorted(mlm['target'].unique()))}, {_fmt_test(t)}"}
        try:
            pairs = mixed_language_pairs(frame, frame["scale"].iloc[0])
        except MissingResults:
            return _untestable("no mixed-language intermediate runs at this scale")
        t = paired_test(pairs["english"], pairs["mixed"])
        return {"repo": f"English - mixed: {t['mean_diff']:+.1f}", "verdict": verdict(t, expect="not_negative"),
                "evidence": f"a0_main_table + a2_mixed_language: English-only vs mixed-language "
                            f"intermediate data ({', '.join(sorted(pairs['intermediate'].unique()))}), {_fmt_test(t)}"}
    return compute


def _published(target: str):
    xlmr, xstilts = PUBLISHED_TEST[target]

    def compute(frames):
        best = best_per_target(change_vs_none(main_table(frames["a0_main_table"])))
        if target not in best.index:
            return _untestable(f"{target} is not in a0_main_table at this scale")
        frame = frames["a0_main_table"]
        t = _paired(frame, best.loc[target, "best"], "none", targets={target})
        v = verdict(t) if xstilts > xlmr else verdict({**t, "mean_diff": -t["mean_diff"]})
        return {"repo": f"{best.loc[target, 'gain']:+.1f} ({best.loc[target, 'best']})", "verdict": v,
                "evidence": f"a0_main_table: best config on {target} vs none, {_fmt_test(t)}"}
    return compute


CLAIMS = [
    Claim("SQuAD as intermediate task improves zero-shot transfer", "+8.2 (dev, avg over targets)", "a0_main_table",
          _gain_claim("squad_v1")),
    Claim("MNLI as intermediate task improves zero-shot transfer", "+7.5", "a0_main_table", _gain_claim("mnli")),
    Claim("HellaSwag as intermediate task improves zero-shot transfer", "+7.0", "a0_main_table", _gain_claim("hellaswag")),
    Claim("Multi-task training on all nine intermediate tasks improves transfer", "+8.7", "a0_main_table", _multitask),
    Claim("Multi-task adds (small) gains over the best single task", "small, positive", "a0_main_table",
          _multitask_vs_best_single),
    Claim("Best intermediate task per target improves the XTREME average", "+5.4", "a0_main_table", _best_per_target),
    Claim("The largest gains are on BUCC and Tatoeba", "BUCC, Tatoeba", "a0_main_table", _rank_claim(("bucc", "tatoeba"), True)),
    Claim("XNLI gains least", "XNLI", "a0_main_table", _rank_claim(("xnli",), False)),
    Claim("SQuAD, MNLI and HellaSwag are the best intermediate tasks", "top 3 of 9", "a0_main_table", _best_tasks),
    Claim("MLM-continued training does not beat English intermediate training", "not consistently better",
          "a0_main_table", _variant_claim("mlm")),
    Claim("Translated / mixed-language intermediate data does not beat English-only", "not consistently better",
          "a2_mixed_language", _variant_claim("mixed")),
    *[Claim(f"X-STILTs vs XLM-R on {t} (XTREME test)", f"{x:.1f} -> {s:.1f} ({s - x:+.1f})", "a0_main_table", _published(t))
      for t, (x, s) in PUBLISHED_TEST.items()],
]


def claim_frames(results: pd.DataFrame, scale: str, runs_dir: str | None = None) -> dict[str, pd.DataFrame]:
    """The grids the claims are checked on: the main table is required; a grid that was not run
    at this scale leaves its claims "not testable at this scale". Question E's budget-matched
    scores (A5_SCORES) test the MLM claim where the main table has no MLM-continued runs."""
    frames = {"a0_main_table": grid_results(results, "a0_main_table", scale)}
    try:
        frames["a2_mixed_language"] = grid_results(results, "a2_mixed_language", scale)
    except MissingResults:
        pass
    try:
        frames[A5_SCORES] = a5_scores(grid_results(results, A5_GRID, scale), scale, runs_dir)
    except MissingResults:
        pass
    return frames


def claims_table(frames: dict[str, pd.DataFrame], claims=None) -> pd.DataFrame:
    """One row per claim: the paper's number, this repo's number, the verdict and the evidence."""
    rows = [{"claim": c.claim, "paper": c.paper,
             **(c.compute(frames) if c.grid in frames else _untestable(f"{c.grid} was not run at this scale"))}
            for c in (claims or CLAIMS)]
    return pd.DataFrame(rows, columns=["claim", "paper", "repo", "verdict", "evidence"])


def write_claims_table(scale: str, table: pd.DataFrame, caption: str) -> Path:
    """The claims table as a wrapped-column tabular (write_table's layout cannot wrap long text)."""
    body = table.to_latex(index=False, escape=True, column_format="p{3.6cm}p{1.7cm}p{2.6cm}p{1.7cm}p{5.2cm}")
    text = (f"% generated by xstilts.report from {scale}-scale runs; do not edit\n"
            f"\\begin{{table}}[t]\\centering\\scriptsize\n{body}\\caption{{{caption} "
            f"[{SCALE_NAMES[scale]}]}}\\label{{tab:a6_claims-{scale}}}\n\\end{{table}}\n")
    return _write(GENERATED / scale / "a6_claims.tex", text)


def claims_macros(table: pd.DataFrame) -> dict:
    counts = table["verdict"].value_counts()
    return {f"a6 {v}": int(counts.get(v, 0)) for v in VERDICTS} | {"a6 claims": len(table)}


# ===== analyses a3 a4 a5 =====
# Questions C (a3), D (a4) and E (a5) of docs/study.md. Each takes the long frame of `load_results`,
# keeps the zero-shot languages (all but en) and returns small tidy tables; figures are separate.
A3_GRID, A4_GRID, A5_GRID = "a3_syntax_vs_semantics", "a4_model_scale_xcopa", "a5_intermediate_vs_mlm"
A5_SCORES = "a5_intermediate_vs_mlm scores"  # claim_frames' key for a5_scores()
A3_GROUPS = {"ud_parse": "syntactic", "ud_pos": "syntactic", "ccg": "syntactic",
             "stsb": "semantic similarity", "qqp": "semantic similarity", "paws": "semantic similarity"}
# Published zero-shot XCOPA means over its 11 languages (XTREME-R recipe: SIQA, then COPA), as quoted in
# docs/study.md. Published numbers for XLM-R, not results of this repository.
XCOPA_PUBLISHED = {"XLM-R base": 60.7, "XLM-R large": 69.1}
A5_CONFIGS = ["none", "continued MLM", "intermediate task"]
A5_MEASURES = {("udpos", "m.upos_accuracy.accuracy"): "POS UPOS accuracy", ("udpos", "score"): "POS seqeval F1",
               ("panx", "score"): "NER seqeval F1"}
_GRAYS = ["0.15", "0.55", "0.8"]


def with_run_params(frame: pd.DataFrame, scale: str, runs_dir: str | None, keys) -> pd.DataFrame:
    """`frame` plus columns with the given parameters of each row's target run (its params.json)."""
    root = Path(runs_dir or os.environ.get("XSTILTS_RUNS") or (P.REPO_ROOT / "runs")) / scale / "target"
    params = {run: runs.read_json(root / run / "params.json")["all"] for run in frame["run"].unique()}
    return frame.assign(**{k: frame["run"].map(lambda r, k=k: params[r].get(k)) for k in keys})


def gain_over_none(frame: pd.DataFrame, grid: str, scale: str) -> pd.DataFrame:
    """Rows with an intermediate task (no continued MLM), with `baseline` = the score without one (same
    model, target, language, seed) and `gain` = score - baseline. Loud if a baseline is missing."""
    keys = ["model", "target", "language", "seed"]
    plain = frame[frame["mlm_steps"] == 0]
    base = require(plain, grid, scale, intermediate="none")
    base = base.groupby(keys, as_index=False)["score"].mean().rename(columns={"score": "baseline"})
    rows = require(plain[plain["intermediate"] != "none"], grid, scale)
    out = rows.merge(base, on=keys, how="left")
    missing = out[out["baseline"].isna()]
    if not missing.empty:
        raise MissingResults(f"No 'none' baseline for {missing[keys].drop_duplicates().to_dict('records')}. Run "
                             f"`xstilts run params/experiments/{grid}.yaml --scale {scale}` (or `make smoke`).")
    return out.assign(gain=out["score"] - out["baseline"])


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line y = intercept + slope * x (NaN if x has no spread)."""
    dx = x - x.mean()
    var = (dx ** 2).sum()
    slope = float((dx * (y - y.mean())).sum() / var) if var > 0 else float("nan")
    return slope, float(y.mean() - slope * x.mean())


def trend_fits(points: pd.DataFrame, by: str = "group", order=None, *, x: str = "distance", y: str = "gain",
               n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A linear trend of y on x per `by` group, with a 95% cluster-bootstrap CI of the slope: (language,
    seed) units are resampled with replacement, the same draws for every group, so the difference of the
    first two groups' slopes (in `order`, default sorted) gets a paired CI too."""
    units = sorted(set(zip(points["language"], points["seed"])))
    draws = np.random.default_rng(seed).integers(len(units), size=(n, len(units)))
    rows, boots = [], {}
    for name in order or sorted(points[by].unique()):
        g = points[points[by] == name]
        if g.empty:
            continue
        xs, ys = g[x].to_numpy(float), g[y].to_numpy(float)
        members = [np.flatnonzero((g["language"].to_numpy() == l) & (g["seed"].to_numpy() == s)) for l, s in units]
        slope, intercept = _slope(xs, ys)
        boots[name] = np.array([_slope(xs[pick], ys[pick])[0] for pick in
                                (np.concatenate([members[i] for i in d]) for d in draws)])
        rows.append({by: name, "points": len(g), "languages": g["language"].nunique(), "mean gain": ys.mean(),
                     "slope": slope, "slope CI low": _nanq(boots[name], 0.025), "slope CI high": _nanq(boots[name], 0.975),
                     "intercept": intercept})
    if len(rows) >= 2:
        a, b = rows[0][by], rows[1][by]
        diff = boots[a] - boots[b]
        rows.append({by: f"{a} - {b}", "slope": rows[0]["slope"] - rows[1]["slope"],
                     "slope CI low": _nanq(diff, 0.025), "slope CI high": _nanq(diff, 0.975)})
    return pd.DataFrame(rows).astype({"points": "Int64", "languages": "Int64"})


def _nanq(values: np.ndarray, q: float) -> float:
    values = values[np.isfinite(values)]
    return float(np.quantile(values, q)) if len(values) else float("nan")


# ------------------------------------------------------------------------ a3: question C
def a3_gains(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Zero-shot gain of each syntactic / semantic-similarity intermediate task over none, with the
    language's typological distance from English (xstilts.typology)."""
    from xstilts import typology

    sub = require(frame, A3_GRID, scale, target=["udpos", "xnli"], intermediate=["none", *A3_GROUPS],
                  intermediate_languages="en")
    gains = gain_over_none(sub[sub["language"] != "en"], A3_GRID, scale)
    for group in ("syntactic", "semantic similarity"):
        require(gains, A3_GRID, scale, intermediate=[t for t, g in A3_GROUPS.items() if g == group])
    gains = gains.assign(group=gains["intermediate"].map(A3_GROUPS),
                         distance=gains["language"].map(lambda l: typology.syntactic_distance(l, scale)),
                         word_order=gains["language"].map(lambda l: typology.word_order(l, scale)))
    return gains.sort_values(["target", "group", "intermediate", "language", "seed"]).reset_index(drop=True)


def a3_languages(gains: pd.DataFrame, scale: str) -> pd.DataFrame:
    from xstilts import typology

    table = gains.groupby("language").agg(distance=("distance", "first"), word_order=("word_order", "first"))
    table.index.name = f"language ({typology.distance_source(scale)})"
    return table.sort_values("distance").round(3)


def a3_trends(gains: pd.DataFrame) -> pd.DataFrame:
    """Per target task: slope of gain on distance per group (points per unit of distance) and the
    difference syntactic - semantic similarity, with cluster-bootstrap CIs."""
    order = ["syntactic", "semantic similarity"]
    fits = [trend_fits(g, order=order).assign(target=t) for t, g in gains.groupby("target", sort=True)]
    return pd.concat(fits, ignore_index=True).set_index(["target", "group"]).round(1)


def a3_macros(trends: pd.DataFrame) -> dict:
    return {f"a3 {t} {g.replace('-', 'minus')} slope": float(r["slope"]) for (t, g), r in trends.iterrows()}


def a3_figure(gains: pd.DataFrame, scale: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    from xstilts import typology

    style()
    targets = sorted(gains["target"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 3.8), squeeze=False)
    looks = {"syntactic": ("o", "-", _GRAYS[0]), "semantic similarity": ("^", "--", _GRAYS[1])}
    for ax, target in zip(axes[0], targets):
        sub = gains[gains["target"] == target]
        sns.scatterplot(data=sub, x="distance", y="gain", style="group", hue="group", ax=ax, s=45, alpha=0.85,
                        hue_order=list(looks), style_order=list(looks),
                        markers={g: m for g, (m, _, _) in looks.items()},
                        palette={g: c for g, (_, _, c) in looks.items()}, legend=ax is axes[0][0])
        xs = np.linspace(sub["distance"].min(), sub["distance"].max(), 20)
        for group, (_, dash, color) in looks.items():
            g = sub[sub["group"] == group]
            if g["distance"].nunique() > 1:
                slope, intercept = _slope(g["distance"].to_numpy(float), g["gain"].to_numpy(float))
                ax.plot(xs, intercept + slope * xs, dash, color=color, lw=1.5)
        langs = sub.groupby("language")["distance"].first().sort_values()
        if len(langs) <= 8:
            ax.set_xticks(langs.to_numpy(), [f"{l}\n{d:.2f}" for l, d in langs.items()])
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set(title=f"target: {target}", xlabel="syntactic distance from English",
               ylabel="zero-shot gain over no intermediate task")
    fig.suptitle(f"Syntactic vs semantic-similarity intermediate tasks ({describe(gains, scale)})\n"
                 f"distance: {typology.distance_source(scale)}", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ a4: question D
def model_parameters(name: str) -> int:
    """Parameter count of a model's encoder (transformers AutoModel built from its config, no weights)."""
    import warnings

    import torch

    with warnings.catch_warnings():  # transformers' tqdm import warns (with a machine path) in notebooks
        warnings.simplefilter("ignore")
        from transformers import AutoConfig, AutoModel

        from xstilts import models

    with torch.device("meta"):
        model = AutoModel.from_config(AutoConfig.from_pretrained(models.resolve(name)))
    return int(sum(p.numel() for p in model.parameters()))


def a4_gains(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    """XCOPA zero-shot accuracy with and without SIQA intermediate training, per model/language/seed."""
    sub = require(frame, A4_GRID, scale, target="xcopa", intermediate=["none", "siqa"], intermediate_languages="en")
    gains = gain_over_none(sub[sub["language"] != "en"], A4_GRID, scale)
    gains = gains.assign(parameters=gains["model"].map({m: model_parameters(m) for m in gains["model"].unique()}))
    return gains.sort_values(["parameters", "model", "language", "seed"]).reset_index(drop=True)


def a4_summary(gains: pd.DataFrame) -> pd.DataFrame:
    """Per model: mean XCOPA accuracy without / with SIQA and the gain, each with a 95% bootstrap CI
    over (language, seed) points."""
    rows = []
    for (params_, model), g in gains.groupby(["parameters", "model"], sort=True):
        row = {"model": model, "parameters": int(params_), "languages": g["language"].nunique(),
               "seeds": g["seed"].nunique()}
        for label, col in (("none", "baseline"), ("SIQA", "score"), ("gain", "gain")):
            row[label], row[f"{label} CI low"], row[f"{label} CI high"] = bootstrap_ci(g[col])
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").round(1)


def a4_macros(summary: pd.DataFrame) -> dict:
    return {f"a4 {model} {col}": float(r[col]) for model, r in summary.iterrows() for col in ("none", "SIQA", "gain")}


def a4_figure(summary: pd.DataFrame, gains: pd.DataFrame, scale: str):
    import matplotlib.pyplot as plt

    style()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    x = summary["parameters"].to_numpy(float)
    for (label, name), marker, dash, color in zip([("none", "no intermediate task"), ("SIQA", "SIQA intermediate")],
                                                  "os", ["-", "--"], _GRAYS):
        err = np.nan_to_num([summary[label] - summary[f"{label} CI low"], summary[f"{label} CI high"] - summary[label]])
        ax.errorbar(x, summary[label], yerr=err, marker=marker, linestyle=dash, color=color, capsize=3, label=name)
    for (name, value), dash in zip(XCOPA_PUBLISHED.items(), [":", (0, (1, 3))]):
        caveat = "" if scale == "full" else " (reference only, another model)"
        ax.axhline(value, color="0.4", lw=1, linestyle=dash, label=f"published, {name}: {value}{caveat}")
    ax.axhline(50, color="0.7", lw=0.8, linestyle="-.", label="chance (50)")
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{m}\n{p / 1e6:.2g}M" for m, p in zip(summary.index, x)])
    ax.minorticks_off()
    ax.set(xlabel="model (encoder parameters, log scale)", ylabel="XCOPA zero-shot accuracy (mean)",
           title=f"XCOPA after SIQA vs model size\n{describe(gains, scale)}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


# ------------------------------------------------------------------------ a5: question E
def a5_scores(frame: pd.DataFrame, scale: str, runs_dir: str | None = None) -> pd.DataFrame:
    """Zero-shot POS (UPOS accuracy, seqeval F1) and NER (F1) per configuration: none, continued MLM,
    intermediate task, keeping only the intermediate / MLM runs with the same optimiser steps and batch."""
    sub = require(frame, A5_GRID, scale, target=["udpos", "panx"], intermediate_languages="en")
    sub = with_run_params(sub[sub["language"] != "en"], scale, runs_dir,
                          ["intermediate_max_steps", "intermediate_batch_size", "intermediate_grad_accum", "mlm_batch_size"])
    none, mlm = sub["intermediate"] == "none", sub["mlm_steps"] > 0
    inter = ~none & ~mlm & (sub["intermediate_max_steps"] > 0)
    sub = sub.assign(
        config=np.select([none & ~mlm, none & mlm, inter], A5_CONFIGS, default=""),
        steps=np.select([mlm, inter], [sub["mlm_steps"], sub["intermediate_max_steps"]], default=0),
        batch=np.select([mlm, inter], [sub["mlm_batch_size"], sub["intermediate_batch_size"] * sub["intermediate_grad_accum"]],
                        default=0))
    budgets = set(zip(sub.loc[none & mlm, "steps"], sub.loc[none & mlm, "batch"]))
    matched = budgets & set(zip(sub.loc[inter, "steps"], sub.loc[inter, "batch"]))
    if not matched:
        raise MissingResults(f"No intermediate-task and continued-MLM runs with the same budget (steps, batch) at "
                             f"{scale} scale. Run `xstilts run params/experiments/{A5_GRID}.yaml --scale {scale}`.")
    budget_ok = [(s, b) in matched for s, b in zip(sub["steps"], sub["batch"])]
    sub = sub[(sub["config"] == "none") | ((sub["config"] != "") & np.array(budget_ok))]
    for config in A5_CONFIGS:
        require(sub, A5_GRID, scale, config=config)
    rows = [sub[sub["target"] == t].assign(measure=name, value=sub[col]) for (t, col), name in A5_MEASURES.items()]
    scores = pd.concat(rows, ignore_index=True).dropna(subset=["value"])
    cols = ["measure", "config", "intermediate", "steps", "batch", "language", "seed", "value", "model", "notes"]
    return scores[cols].sort_values(["measure", "config", "language", "seed"]).reset_index(drop=True)


def a5_budget(scores: pd.DataFrame) -> pd.DataFrame:
    """The compute each configuration got before target training (optimiser steps x batch size)."""
    table = scores.groupby(["config", "intermediate"])[["steps", "batch"]].first()
    return table.assign(examples=table["steps"] * table["batch"]).reindex(A5_CONFIGS, level=0)


def a5_language_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per measure x language (rows) and configuration (columns), plus the mean."""
    table = scores.pivot_table(index=["measure", "language"], columns="config", values="value", aggfunc="mean")
    means = scores.pivot_table(index="measure", columns="config", values="value", aggfunc="mean")
    means.index = pd.MultiIndex.from_product([means.index, ["mean (zero-shot)"]], names=table.index.names)
    order = [(m, lang) for m in sorted(means.index.get_level_values(0))
             for lang in [*sorted(table.loc[m].index), "mean (zero-shot)"]]
    return pd.concat([table, means]).loc[order, A5_CONFIGS].round(1)


def a5_tests(scores: pd.DataFrame) -> pd.DataFrame:
    """Per measure: paired test intermediate task vs continued MLM over (language, seed)."""
    rows = []
    for measure, g in scores.groupby("measure", sort=True):
        wide = g.pivot_table(index=["language", "seed"], columns="config", values="value").dropna()
        test = paired_test(wide["intermediate task"], wide["continued MLM"])
        rows.append({"measure": measure, **{c: wide[c].mean() for c in A5_CONFIGS},
                     "intermediate - MLM": test["mean_diff"], "CI low": test["ci_low"], "CI high": test["ci_high"],
                     "p (permutation)": test["p_permutation"], "p (Wilcoxon)": test["p_wilcoxon"],
                     "pairs": test["n_pairs"]})
    table = pd.DataFrame(rows).set_index("measure")
    return table.round({c: 3 if c.startswith("p (") else 1 for c in table.columns})


def a5_macros(tests: pd.DataFrame) -> dict:
    out = {}
    for measure, r in tests.iterrows():
        out[f"a5 {measure} intermediate minus mlm"] = float(r["intermediate - MLM"])
        out[f"a5 {measure} p"] = f"{r['p (permutation)']:.3f}"
    return out


def a5_figure(scores: pd.DataFrame, scale: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    style()
    measures = sorted(scores["measure"].unique())
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.6), squeeze=False, sharey=False)
    for ax, measure in zip(axes[0], measures):
        sub = scores[scores["measure"] == measure]
        sns.barplot(data=sub, x="language", y="value", hue="config", hue_order=A5_CONFIGS, ax=ax,
                    order=sorted(sub["language"].unique()), palette=dict(zip(A5_CONFIGS, _GRAYS[::-1])),
                    errorbar=("ci", 95), seed=0, edgecolor="0.1", legend=False)
        for bars, hatch in zip(ax.containers, ["", "//", ".."]):
            for bar in bars:
                bar.set_hatch(hatch)
        ax.set(title=measure, xlabel="language (zero-shot)", ylabel="score")
    axes[0][0].legend(axes[0][0].containers, A5_CONFIGS, fontsize=7)
    fig.suptitle(f"Intermediate task vs continued MLM at a matched budget ("
                 f"{describe(scores, scale)})", fontsize=9)
    fig.tight_layout()
    return fig
