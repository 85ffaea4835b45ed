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
    p = Path(path)
    parts = p.parts
    for anchor in ("runs", ".cache", "xstilts"):
        if anchor in parts:
            return str(Path(*parts[parts.index(anchor) + 1:])) if anchor != "runs" else str(Path(*parts[parts.index(anchor):]))
    return path if not p.is_absolute() else p.name


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
def bootstrap_ci(values, *, n: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean."""
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return float(values[0]), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n, len(values)), replace=True).mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(values.mean()), float(lo), float(hi)


def paired_test(a, b, *, n: int = 10000, seed: int = 0) -> dict:
    """Paired comparison of two configurations over matched units (language x seed): mean
    difference, bootstrap CI, a paired permutation (sign-flip) p-value and the Wilcoxon p-value."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a - b
    mean, lo, hi = bootstrap_ci(diff, seed=seed)
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n, len(diff)))
    p_perm = float(((np.abs((signs * diff).mean(1)) >= abs(diff.mean()) - 1e-12).sum() + 1) / (n + 1))
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
