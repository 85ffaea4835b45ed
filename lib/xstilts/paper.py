"""What the paper prints: one figure style, LaTeX tables and macros, number formats, and the Setup
section's tables generated from the runs' own parameters (so the text cannot contradict the runs).

Figures are drawn at their print size (the paper's text width is 17 cm = 6.7 in), so a font of 8 pt
in matplotlib is 8 pt on paper; `save_figure` refuses a figure wider than 3.5:1.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from xstilts import params as P
from xstilts import runs, stats
from xstilts.results import runs_root, substitutions, tex

FIGURES = P.REPO_ROOT / "figures"
GENERATED = P.REPO_ROOT / "paper" / "generated"
SCALE_NAMES = {"smoke": "smoke scale (tiny model, synthetic data)",
               "offline": "offline scale (multilingual-e5-small, mirrored real data)",
               "full": "full scale (XLM-R, Hub data)"}
TEXT_WIDTH_IN = 6.5       # a little under the 17 cm text width: figures are never scaled up
MAX_ASPECT = 3.5
# Okabe & Ito's colour-blind-safe palette, ordered so neighbours differ in lightness (greyscale)
PALETTE = ["#000000", "#E69F00", "#0072B2", "#56B4E9", "#D55E00", "#009E73", "#CC79A7", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def style():
    """The paper's one figure style: print-size fonts (>= 7 pt), white grid, Okabe-Ito palette."""
    import matplotlib
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE)
    matplotlib.rcParams.update({"svg.hashsalt": "xstilts", "pdf.fonttype": 42, "figure.dpi": 100,
                                "savefig.dpi": 150, "savefig.bbox": "tight", "font.size": 8,
                                "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7.5,
                                "ytick.labelsize": 7.5, "legend.fontsize": 7.5, "legend.title_fontsize": 8})


def figure(width: float = TEXT_WIDTH_IN, height: float = 2.4, **kw):
    import matplotlib.pyplot as plt

    style()
    # never flatter than 3:1 before tight cropping, so the saved PNG stays within MAX_ASPECT
    return plt.subplots(figsize=(width, max(height, width / 3.0)), constrained_layout=True, **kw)


def save_figure(fig, name: str, scale: str) -> list[Path]:
    """figures/<scale>/<name>.{png,pdf}, byte-stable across reruns (no timestamps); refuses a figure
    whose width/height exceeds MAX_ASPECT (unreadable at the text width)."""
    import matplotlib.pyplot as plt

    out = FIGURES / scale
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        path = out / f"{name}.{ext}"
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format=ext, metadata=meta)
        os.replace(tmp, path)
        paths.append(path)
    w, h = plt.imread(paths[0]).shape[1::-1]
    if w / h > MAX_ASPECT:
        raise ValueError(f"{paths[0].name} is {w}x{h} px (aspect {w / h:.1f} > {MAX_ASPECT}): unreadable at text width")
    return paths


def dot_plot(ax, table: pd.DataFrame, *, label: str, value: str = "estimate", low: str = "ci_low",
             high: str = "ci_high", color: str = PALETTE[0], marker: str = "o", offset: float = 0.0):
    """A sorted dot plot of differences with intervals: one row per index entry of `table` (already in
    plotting order), a vertical line at 0."""
    y = np.arange(len(table)) + offset
    err = np.vstack([table[value] - table[low], table[high] - table[value]])
    ax.errorbar(table[value], y, xerr=np.nan_to_num(err), fmt=marker, color=color, ms=3.5, lw=0.9, capsize=0,
                label=label)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(np.arange(len(table)), table.index)


def per_language_panels(per: pd.DataFrame, panel: str, value: str, xlabel: str, draw):
    """Small multiples, one panel per value of `panel`: every language's `value` as one row, sorted,
    with a line at 0 (a2's and a5's per-language descriptions). `draw(ax, k, sub)` draws panel k's
    points; `sub` holds its rows in plotting order (index 0..n-1, a `language` column)."""
    keys = sorted(per[panel].unique())
    rows = per.groupby(panel).size().max()
    fig, axes = figure(height=0.115 * rows + 0.85, ncols=len(keys), squeeze=False)
    for k, (ax, key) in enumerate(zip(axes[0], keys)):
        sub = per[per[panel] == key].sort_values(value).reset_index(drop=True)
        draw(ax, k, sub)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_yticks(sub.index, sub["language"], fontsize=7)
        ax.set(title=key, xlabel=xlabel)
    return fig, axes


def fmt_p(p: float) -> str:
    """p < 0.001 as such, otherwise three decimals, or four where three would round p onto the other
    side of the 0.05 level that verdicts use (0.0499 is not printed as 0.050); -- where not tested."""
    if p is None or not np.isfinite(p):
        return "--"
    if p < 0.001:
        return "< 0.001"
    text = f"{p:.3f}"
    return text if (float(text) < stats.ALPHA) == (p < stats.ALPHA) else f"{p:.4f}"


def fmt_signed(x: float, digits: int = 1) -> str:
    """+1.2 / -0.3 / 0.0 (never -0.0); -- where missing."""
    if x is None or not np.isfinite(x):
        return "--"
    return f"{0.0:.{digits}f}" if round(float(x), digits) == 0 else f"{x:+.{digits}f}"


def fmt_flops(flops: float) -> str:
    """FLOPs in the largest unit that keeps the number >= 1: 190 GFLOP, 1.2 TFLOP, 0.4 PFLOP below 1 P."""
    for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("FLOP", 1.0)):
        if flops >= scale or unit == "PFLOP" and flops >= 1e14 or unit == "FLOP":
            value = flops / scale
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.2g} {unit}"


def fmt_interval(est: float, lo: float, hi: float) -> str:
    if not np.isfinite(est):
        return "--"
    if not np.isfinite(lo):
        return fmt_signed(est)
    return f"{fmt_signed(est)} [{fmt_signed(lo)}, {fmt_signed(hi)}]"


def macro_name(*parts) -> str:
    """LaTeX macro names allow letters only: 'a0', 'mnli', 3 -> 'AZeroMnliThree'."""
    digits = "Zero One Two Three Four Five Six Seven Eight Nine".split()
    text = " ".join(str(p) for p in parts)
    text = re.sub(r"\d", lambda m: " " + digits[int(m.group())] + " ", text)
    return "".join(w.capitalize() for w in re.split(r"[^A-Za-z]+", text) if w)


def write_macros(name: str, scale: str, values: dict[str, object]) -> Path:
    """paper/generated/<scale>/<name>-macros.tex: \\newcommand per number the text quotes (floats with
    one decimal, integers as integers, strings as given)."""
    lines = [f"% generated by xstilts from {scale}-scale runs; do not edit"]
    for key, value in values.items():
        if isinstance(value, (bool, np.bool_)):
            text = "yes" if value else "no"
        elif isinstance(value, (int, np.integer)):
            text = str(int(value))
        elif isinstance(value, (float, np.floating)):
            text = f"{value:.1f}" if np.isfinite(value) else "--"
        else:
            text = str(value)
        lines.append(f"\\newcommand{{\\{macro_name(scale, key)}}}{{{text}}}")
    return write_text(GENERATED / scale / f"{name}-macros.tex", "\n".join(lines) + "\n")


def _float_format(x) -> str:
    if isinstance(x, (int, np.integer)) or (isinstance(x, float) and float(x).is_integer() and abs(x) >= 100):
        return f"{int(x)}"
    return "0.0" if round(float(x), 1) == 0 else f"{x:.1f}"   # never "-0.0"


def write_table(name: str, scale: str, table: pd.DataFrame, caption: str, *, float_format=_float_format,
                column_format: str | None = None, escape: bool = True) -> Path:
    """paper/generated/<scale>/<name>.tex; p-value columns ("p", "p ...") as fmt_p prints them, integer
    columns as integers, wide tables shrink to the text width (never enlarged)."""
    table = table.copy()
    numeric = [pd.api.types.is_numeric_dtype(table[col]) for col in table.columns]
    if column_format is None:   # pandas' own choice (index left, numbers right), p-values kept right
        column_format = "l" * table.index.nlevels + "".join("r" if n else "l" for n in numeric)
    for col in table.columns:
        if (col == "p" or str(col).startswith("p ")) and pd.api.types.is_float_dtype(table[col]):
            table[col] = table[col].map(fmt_p)
            continue
        if pd.api.types.is_float_dtype(table[col]) and table[col].dropna().map(float.is_integer).all() \
                and table[col].notna().any() and col not in ("mean", "estimate"):
            table[col] = table[col].astype("Int64")
    body = table.to_latex(float_format=float_format, escape=escape, na_rep="--", column_format=column_format)
    body = f"\\resizebox{{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}}{{!}}{{%\n{body}}}\n"
    text = (f"% generated by xstilts from {scale}-scale runs; do not edit\n"
            f"\\begin{{table}}[t]\\centering\\small\n{body}\\caption{{{caption} "
            f"[{SCALE_NAMES[scale]}]}}\\label{{tab:{name}-{scale}}}\n\\end{{table}}\n")
    return write_text(GENERATED / scale / f"{name}.tex", text)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------ Setup, from the runs' parameters
SETUP_KEYS = {"model": "encoder",
              "intermediate_learning_rate": "learning rate (AdamW), intermediate phase",
              "target_learning_rate": "learning rate (AdamW), target phase",
              "intermediate_head_learning_rate": "task-head learning rate, intermediate (0 = the encoder's)",
              "target_head_learning_rate": "task-head learning rate, target (0 = the encoder's)",
              "warmup_ratio": "linear warm-up (share of steps)",
              "weight_decay": "weight decay", "intermediate_epochs": "intermediate epochs",
              "intermediate_batch_size": "intermediate batch", "target_epochs": "target epochs",
              "target_batch": "target batch (x grad. accumulation)", "freeze_embeddings": "word embeddings frozen",
              "max_length": "max. length (tokens)", "max_length_qa": "max. length, QA (tokens)",
              "max_train_examples": "training examples per task (cap)", "max_eval_examples": "test items per language (cap)",
              "eval_every": "dev evaluation every (steps)", "eval_examples": "English dev examples (early stopping)",
              "early_stopping_patience": "early-stopping patience (evaluations)",
              "intermediate_max_steps": "intermediate optimiser steps (cap)",
              "intermediate_max_tokens": "intermediate training tokens (cap)",
              "mlm_budget": "continued-MLM budget", "mlm_learning_rate": "learning rate (AdamW), continued MLM",
              "mlm_head_learning_rate": "MLM transform learning rate (0 = the encoder's)",
              "mlm_head_warmup_steps": "MLM transform warm-up, encoder frozen (steps)",
              "mlm_batch_size": "continued-MLM batch", "mlm_probability": "MLM masking probability",
              "extra_target_steps": "extra target steps (the control)", "device": "device",
              "threads": "CPU threads per run", "cpu_kernels": "CPU kernels (determinism.py)",
              "cpu_model": "CPU family/model, fast kernels (target runs)"}


def _one(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, int) and v < 0:
        return "all"
    return str(v)


def _values(values) -> str:
    return ", ".join(sorted({_one(v) for v in values}))


def _by_task(pairs: list[tuple[str | None, object]]) -> str:
    """One Setup cell from (task, value) of every run: the value most runs used, and the tasks that
    used another in brackets ("5e-05 (pawsx: 3e-05)"), so a recipe of one task reads as that task's."""
    shown = [(task, _one(v)) for task, v in pairs]
    counts = Counter(v for _, v in shown)
    if len(counts) <= 1 or any(task is None for task, _ in shown):
        return _values(v for _, v in pairs)
    common = sorted(counts, key=lambda v: (-counts[v], v))[0]
    others = {task for task, v in shown if v != common}
    exceptions = [f"{task}: " + ", ".join(sorted({v for t, v in shown if t == task})) for task in sorted(others)]
    return f"{common} ({'; '.join(exceptions)})"


def run_cpu(provenance: dict) -> str | None:
    """The CPU a run computed on, where its numbers depend on it: runs on MKL's AUTO branch (the
    `fast` kernels) give the same bits only on the same CPU model, so the Setup names those models;
    `portable` runs (smoke) and GPU runs give None. Runs from before the model was recorded say so."""
    kernels = provenance.get("kernels") or {}
    if provenance.get("device") != "cpu" or kernels.get("mkl_cbwr") != "AUTO":
        return None
    name = (kernels.get("cpu") or "CPU").replace("(R)", "").replace(" Processor", "")
    fms = (kernels.get("cpu_family_model_stepping") or "").split("/")
    return f"{name} {fms[0]}/{fms[1]}" if len(fms) >= 2 else f"{name} (model not recorded)"


def _counted(values: list) -> str:
    """"A (12), B (3)": each value with its number of runs, most runs first."""
    counts = Counter(values)
    return ", ".join(f"{v} ({n})" for v, n in
                     sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _phase_rate(cfg: dict, phase: str, kind: str) -> float:
    """The rate (`kind`: learning_rate or head_learning_rate) a run's phase trained with
    (phases.learning_rates); 0 for a head trained at the encoder's rate."""
    from xstilts import phases

    # a params.json from before the per-phase keys: they take the values that reproduce those runs
    full = {**{k: v for k, v in phases.HASHED_UNLESS.items() if k.endswith("learning_rate")}, **cfg}
    return phases.learning_rates(full, phase)[kind] or 0.0


def _setup_column(root: Path, scale: str, only: set[str] | None = None) -> tuple[dict, int]:
    rows: dict[str, list] = {k: [] for k in SETUP_KEYS}
    n = 0
    for result in runs.collect(root, scale, "target"):
        if only is not None and f"target/{result['run_dir']}" not in only:
            continue
        cfg = runs.read_json(root / scale / "target" / result["run_dir"] / "params.json")["all"]
        n += 1
        # the task a phase's own settings belong to (a recipe is a task's): target-phase keys by
        # target task, intermediate-phase keys by the run's intermediate tasks
        task = {"target": cfg["target_task"], "intermediate": "+".join(cfg["intermediate_tasks"]) or None}
        for key in SETUP_KEYS:
            phase = key.split("_")[0] if key.split("_")[0] in task else None
            if phase == "intermediate" and not cfg["intermediate_tasks"]:
                continue  # no intermediate phase trained: its settings were never used
            if key.startswith("mlm_") and not cfg.get("mlm_steps"):
                continue  # likewise the continued MLM's
            if key == "mlm_budget":   # a token budget, else a step count (mlm_steps is 1 under a token budget)
                tokens = cfg.get("mlm_max_tokens", -1)
                value = f"{tokens:,} tokens" if tokens > 0 else f"{cfg['mlm_steps']} steps"
            elif key == "intermediate_max_tokens":   # 0: no token cap (epochs and steps decide)
                value = f"{cfg[key]:,}" if cfg.get(key, 0) > 0 else "all"
            elif key == "mlm_head_learning_rate":   # the MLM phase's head rate is the shared one (phases.fit_settings)
                value = cfg.get("head_learning_rate") or 0.0
            elif key.endswith("learning_rate") and phase:
                value = _phase_rate(cfg, phase, key.removeprefix(f"{phase}_"))
            elif key == "target_batch":
                value = f"{cfg['target_batch_size']} x {cfg['target_grad_accum']}"
            elif key == "device":
                value = result["provenance"]["device"]
            elif key == "cpu_model":
                value = run_cpu(result["provenance"])
                if value is None:
                    continue
            elif key == "cpu_kernels" and key not in cfg:  # runs from before the key: MKL as recorded
                kernels = (result["provenance"].get("kernels") or {})
                value = f"MKL {kernels['mkl_cbwr']}" if kernels.get("mkl_cbwr") else "not pinned"
            else:
                value = cfg.get(key, "--")
            rows[key].append((task[phase] if phase else None, value))
    for key in ("intermediate_head_learning_rate", "target_head_learning_rate", "mlm_head_learning_rate"):
        if not any(v for _, v in rows[key]):  # no run gave these heads a rate of their own: no row
            del rows[key]
    return {SETUP_KEYS[k]: _counted([v for _, v in rows[k]]) if k == "cpu_model" else _by_task(v)
            for k, v in rows.items() if v}, n


def setup_table(scale: str, runs_dir: str | None = None, only: set[str] | None = None) -> pd.DataFrame:
    """Every Setup hyperparameter as the target runs of this scale actually used it (from each run's
    params.json; the device from its result.json), with the number of runs: column `value` for the
    current design's runs (`only`: the "<phase>/<run folder>" names to count, results.design_runs),
    and one column per archived design (results.ARCHIVED) whose runs an analysis still reads."""
    from xstilts.results import archived_roots

    columns = {}
    value, n = _setup_column(runs_root(runs_dir), scale, only)
    if n:
        columns["value"] = dict(value, **{"target runs": str(n)})
    for name, root in archived_roots(scale, runs_dir).items():
        value, m = _setup_column(root, scale)
        if m:
            columns[name] = dict(value, **{"target runs": str(m)})
    if not columns:
        return pd.DataFrame(columns=["value"])
    table = pd.DataFrame(columns)
    for key in ("intermediate_head_learning_rate", "target_head_learning_rate", "mlm_head_learning_rate"):
        head = SETUP_KEYS[key]
        if head in table.index:  # a column without the row: its runs trained those heads at the encoder's rate
            table.loc[head] = table.loc[head].fillna("0")
    table = table.reindex([k for k in [*SETUP_KEYS.values(), "target runs"] if k in table.index])
    if "value" not in table:
        table.insert(0, "value", "--")
    table.index.name = "parameter"
    return table


def setup_shown(table: pd.DataFrame) -> pd.DataFrame:
    """The Setup table as printed: with archived designs beside it, the current column says so."""
    return table if table.shape[1] == 1 else table.rename(columns={"value": "current design"})


def setup_format(table: pd.DataFrame) -> str:
    """The Setup table's LaTeX columns: values wrap, so that one long per-task list (a learning rate
    that differs by task and mixture) wraps in its cell instead of shrinking the whole table. Ragged
    right (array's >{...}), since a justified narrow cell of long task names opens wide gaps."""
    wrap = r">{\raggedright\arraybackslash}p"
    return f"l{wrap}{{10.5cm}}" if table.shape[1] == 1 else f"l{wrap}{{7.4cm}}{wrap}{{3.1cm}}"


def setup_macros(table: pd.DataFrame) -> dict:
    return {f"setup {k}": tex(v) for k, v in table["value"].items() if isinstance(v, str)}


def substitutes_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every data substitute the runs of `frame` used: task/split and what replaces it."""
    rows = []
    designs = frame.groupby("design") if "design" in frame and frame["design"].nunique() > 1 else [(None, frame)]
    for design, part in designs:
        for note in substitutions(part):
            where, _, what = note.partition(": ")
            rows.append({"task/split": where, "substitute": what, "runs": design})
    table = pd.DataFrame(rows, columns=["task/split", "substitute", "runs"])
    if table["runs"].isna().all():
        table = table.drop(columns="runs")
    else:  # one row per note; which designs' runs used it
        table = table.groupby(["task/split", "substitute"], sort=True)["runs"].agg(
            lambda d: ", ".join(sorted(d))).reset_index()
    return table.set_index("task/split")


def write_substitutes_table(scale: str, frame: pd.DataFrame) -> Path:
    table = substitutes_table(frame)
    body = table.to_latex(escape=True, column_format="lp{13cm}" if table.shape[1] == 1 else "lp{9.4cm}l")
    text = (f"% generated by xstilts from {scale}-scale runs; do not edit\n"
            f"\\begin{{table}}[t]\\centering\\small\n{body}\\caption{{Every data substitute of the runs shown "
            f"(the mirror lacks these splits; \\texttt{{xstilts tasks}} lists them). The number of items actually "
            f"scored per language is further capped (Table~\\ref{{tab:setup-{scale}}}) [{SCALE_NAMES[scale]}]}}"
            f"\\label{{tab:substitutes}}\n\\end{{table}}\n")
    return write_text(GENERATED / scale / "substitutes.tex", text)
