"""Collecting committed run results into the long table every analysis starts from.

One row per (target run, language). `require` and `grid_results` turn a missing grid into a
MissingResults that names the command to run, before any table or figure is drawn.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from xstilts import params as P
from xstilts import runs

QA_METRICS = {"squad", "squad_v2", "mlqa"}
# ISO 15924 script of every language in tasks.yaml's XTREME / XTREME-R / XCOPA lists
SCRIPTS = {
    **dict.fromkeys("af de en es et eu fi fr ht hu id it jv ms nl pl pt qu ro sw tl tr vi wo yo".split(), "Latn"),
    **dict.fromkeys("bg kk ru uk".split(), "Cyrl"), **dict.fromkeys("ar fa ur".split(), "Arab"),
    **dict.fromkeys("hi mr".split(), "Deva"), "bn": "Beng", "el": "Grek", "he": "Hebr", "ja": "Jpan",
    "ka": "Geor", "ko": "Kore", "ml": "Mlym", "my": "Mymr", "ta": "Taml", "te": "Telu", "th": "Thai",
    "zh": "Hans",
}


class MissingResults(RuntimeError):
    pass


def runs_root(runs_dir: str | None = None) -> Path:
    """The runs folder: `runs_dir` (relative paths are relative to the repository), $XSTILTS_RUNS, runs/."""
    root = Path(runs_dir or os.environ.get("XSTILTS_RUNS") or "runs")
    return root if root.is_absolute() else P.REPO_ROOT / root


def run_failed(result: dict) -> bool:
    """A run marked failed by its phase (its English dev score not above the chance or majority
    baseline): counted in every table, left out of every verdict."""
    return bool(result.get("failed"))


def load_results(scale: str, runs_dir: str | None = None) -> pd.DataFrame:
    """One row per (target run, language): the long table every analysis starts from, the same
    numbers `xstilts results` prints (`results_table`, the one reader of target result.json files).
    `dev` is the run's best English dev score (its selection number; NaN for untrained tasks)."""
    from xstilts import results_table

    return results_table.load_results(scale, runs_dir)


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


# Which version of the grids the committed runs of a scale were made with, where it is not the
# current params/experiments/*.yaml: the committed offline runs predate this round's data audit and
# redesigned offline study (params/experiments/offline-v1/ keeps their grids). Drop the entry once
# the redesigned offline study has been run.
ANALYSED_DESIGN = {"offline": "offline-v1"}


def grid_file(grid: str, scale: str) -> Path:
    """The grid file whose runs the analyses of `scale` read."""
    return P.PARAMS_DIR / "experiments" / ANALYSED_DESIGN.get(scale, "") / f"{grid}.yaml"


def grid_results(frame: pd.DataFrame, grid: str, scale: str) -> pd.DataFrame:
    """The rows of every target run of params/experiments/<grid>.yaml at `scale`; a loud
    MissingResults naming the grid (and the missing runs) if any of them has no result yet."""
    from xstilts import workflow

    path = grid_file(grid, scale)
    wanted = sorted({runs.run_name(cfg, "target")
                     for cfg in workflow.grid_runs(workflow.load_grid(path), scale, check_inputs=False)})
    have = set(frame["run"]) if "run" in frame else set()
    missing = [r for r in wanted if r not in have]
    if missing:
        raise MissingResults(
            f"{len(missing)} of {len(wanted)} target runs of {path.relative_to(P.REPO_ROOT)} have no {scale}-scale "
            f"result (e.g. {', '.join(missing[:3])}). Run the grid first: "
            f"`xstilts run {path.relative_to(P.REPO_ROOT)} --scale {scale}` (or `make smoke`).")
    return frame[frame["run"].isin(wanted)].copy()


# The scales whose analyses leave failed runs out (their numbers are read as science). The smoke
# scale checks the machinery on a synthetic benchmark that trivial baselines nearly solve (its
# most-frequent-tag baseline scores 98.6% on English POS dev), so most smoke runs fail their dev
# check; they are kept there, and still counted, so that every smoke analysis runs end to end.
# Smoke has one seed, so no smoke claim is tested either way.
LEAVE_OUT_FAILED = ("offline", "full")


def completed(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of runs that did not fail, and the number of failed runs (left out at the scales
    of LEAVE_OUT_FAILED; counted, and kept, at smoke scale)."""
    if "failed" not in frame or frame.empty:
        return frame, 0
    failed_rows = frame["failed"].astype(bool)
    failed = int(frame.loc[failed_rows, "run"].nunique())
    if not set(frame["scale"]) & set(LEAVE_OUT_FAILED):
        return frame, failed
    return frame[~failed_rows], failed


def with_run_params(frame: pd.DataFrame, scale: str, runs_dir: str | None, keys) -> pd.DataFrame:
    """`frame` plus columns with the given parameters of each row's target run (its params.json)."""
    root = runs_root(runs_dir) / scale / "target"
    params = {run: runs.read_json(root / run / "params.json")["all"] for run in frame["run"].unique()}
    return frame.assign(**{k: frame["run"].map(lambda r, k=k: params[r].get(k)) for k in keys})


def script_of(lang: str, scale: str) -> str:
    """ISO 15924 script of a language; at smoke scale the synthetic benchmark's own scripts."""
    if scale == "smoke":
        from xstilts import smoke
        return smoke.LANGUAGE_FEATURES[lang]["script"]
    if lang not in SCRIPTS:
        raise KeyError(f"No script for language {lang!r}: add it to xstilts.results.SCRIPTS")
    return SCRIPTS[lang]


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


def config_kind(intermediate: str, languages: str, mlm_steps: int) -> int:
    """Row order of the main table: none, single tasks, multi-task, MLM-continued, mixed-language."""
    if mlm_steps:
        return 3
    if languages != "en":
        return 4
    return 0 if intermediate == "none" else (2 if "+" in intermediate else 1)


def with_config(zs: pd.DataFrame) -> pd.DataFrame:
    """`zs` plus its configuration label (`config`) and main-table row order (`kind`)."""
    zs = zs.copy()
    keys = zip(zs["intermediate"], zs["intermediate_languages"], zs["mlm_steps"])
    zs["config"], zs["kind"] = zip(*[(config_label(*k), config_kind(*k)) for k in keys]) if len(zs) else ((), ())
    return zs


def is_english_config(config: str) -> bool:
    """An English intermediate configuration (single or multi-task): not MLM-continued, not mixed-language."""
    return not (config.startswith("MLM") or "[" in config)


def tex(text: str) -> str:
    return str(text).replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")


def substitutions(frame: pd.DataFrame) -> list[str]:
    """Every data-substitution note of the runs in `frame` (from tasks.yaml, via each result.json)."""
    return sorted({n for text in frame["notes"] for n in text.split(" | ") if n})


def describe(frame: pd.DataFrame, scale: str, *, tex_: bool = False) -> str:
    """'offline scale, model X[; N data substitutions (Table~\\ref{tab:substitutes})]' for a caption: a
    substitution is named once, with a pointer to the table that lists every substitute."""
    models = ", ".join(sorted(frame["model"].unique()))
    n = len(substitutions(frame))
    text = f"{scale} scale, model {models}"
    if n:
        text += (f"; {n} data substitution{'s' if n > 1 else ''}, "
                 + ("listed in Table~\\ref{tab:substitutes}" if tex_ else "listed by `xstilts tasks`"))
    return text.replace("_", r"\_") if tex_ else text


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
