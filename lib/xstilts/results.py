"""Collecting committed run results into the long table every analysis starts from.

One row per (target run, language). `require` and `grid_results` turn a missing grid into a
MissingResults that names the command to run, before any table or figure is drawn.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from xstilts import params as P
from xstilts import metrics, phases, runs

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
    `dev` is the run's best English dev score (its selection number; NaN for untrained tasks).
    `design` says which version of the grids a run was made under: "current", or the name of an
    archived design (ARCHIVED) whose runs are read from their own folder beside the current ones;
    `path` is the run's folder."""
    from xstilts import results_table

    roots = {CURRENT: runs_root(runs_dir)} | archived_roots(scale, runs_dir)
    frames = [results_table.load_results(scale, root).assign(design=design) for design, root in roots.items()]
    # `path`: each row's run folder, so a claim can total the cost ledgers of the runs behind it
    frames = [f.assign(path=[str(roots[d] / scale / "target" / r) for d, r in zip(f["design"], f["run"])])
              for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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


# Designs: the version of the grids a run was made under. CURRENT is params/experiments/*.yaml with
# its runs in runs/<scale>/. An archived design keeps its grids (params/experiments/<name>/) and its
# runs (their own runs folder) so that analyses not yet rerun under the current design stay
# reproducible: the first offline study predates this round's data audit and redesign (shared
# training data, undertrained phases, CPU and GPU runs mixed), and its run folders would collide with
# the redesign's (same defining parameters, different data), so they moved to runs/offline-v1/.
CURRENT = "current"
ARCHIVED = {"offline-v1": {"scale": "offline", "runs": "runs/offline-v1"}}
# (scale, grid) -> the archived design its analysis reads, until the grid is rerun under the current
# design; drop an entry once its redesigned grid has finished.
ANALYSED_DESIGN = {("offline", grid): "offline-v1" for grid in ("a1_task_scaling_pos",)}


def archived_roots(scale: str, runs_dir: str | None = None) -> dict[str, Path]:
    """The archived designs of `scale` -> their runs folders. They live beside the repository's own
    runs folder: read whenever that folder is the one asked for, by default or by name (`xstilts run`
    always names it), and never beside another."""
    if runs_dir is not None and runs_root(runs_dir).resolve() != (P.REPO_ROOT / "runs").resolve():
        return {}
    return {name: P.REPO_ROOT / a["runs"] for name, a in ARCHIVED.items() if a["scale"] == scale}


def design_of(grid: str, scale: str) -> str:
    return ANALYSED_DESIGN.get((scale, grid), CURRENT)


def grid_file(grid: str, scale: str) -> Path:
    """The grid file whose runs the analyses of `scale` read."""
    design = design_of(grid, scale)
    return P.PARAMS_DIR / "experiments" / ("" if design == CURRENT else design) / f"{grid}.yaml"


def design_runs_root(design: str, runs_dir: str | None = None) -> Path:
    return runs_root(runs_dir) if design == CURRENT else P.REPO_ROOT / ARCHIVED[design]["runs"]


def design_runs(scale: str, skip: tuple[str, ...] = ()) -> set[str]:
    """"<phase>/<run folder>" of every run of every grid of the current design (params/experiments/*.yaml),
    but the grids named in `skip` (the recipe sweep, which has its own table)."""
    from xstilts import workflow

    out = set()
    for path in sorted((P.PARAMS_DIR / "experiments").glob("*.yaml")):
        if path.stem in skip:
            continue
        for cfg in workflow.grid_runs(workflow.load_grid(path), scale, check_inputs=False):
            out |= {f"{phase}/{runs.run_name(cfg, phase)}" for phase in phases.NAMES}
    return out


def grid_results(frame: pd.DataFrame, grid: str, scale: str, *, partial: bool = False) -> pd.DataFrame:
    """The rows of every target run of params/experiments/<grid>.yaml at `scale` (of the design its
    analysis reads); a loud MissingResults naming the grid (and the missing runs) if any of them
    has no result yet. With `partial=True` (a grid being computed in chunks) the finished runs are
    returned as long as there is one, and `frame.attrs["runs"] = (finished, planned)` says how many:
    captions print it (`describe`)."""
    from xstilts import workflow

    path = grid_file(grid, scale)
    design = design_of(grid, scale)
    if "design" in frame:
        frame = frame[frame["design"] == design]
    wanted = sorted({runs.run_name(cfg, "target")
                     for cfg in workflow.grid_runs(workflow.load_grid(path), scale, check_inputs=False)})
    have = set(frame["run"]) if "run" in frame else set()
    missing = [r for r in wanted if r not in have]
    if missing and not (partial and len(missing) < len(wanted)):
        raise MissingResults(
            f"{len(missing)} of {len(wanted)} target runs of {path.relative_to(P.REPO_ROOT)} have no {scale}-scale "
            f"result (e.g. {', '.join(missing[:3])}). Run the grid first: "
            f"`xstilts run {path.relative_to(P.REPO_ROOT)} --scale {scale}` (or `make smoke`).")
    out = frame[frame["run"].isin(wanted)].copy()
    out.attrs["runs"] = (len(wanted) - len(missing), len(wanted))
    out.attrs["design"] = design
    return out


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
    design = frame.attrs.get("design") or (frame["design"].iloc[0] if "design" in frame and len(frame) else CURRENT)
    root = design_runs_root(design, runs_dir) / scale / "target"
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
    """XTREME's per-language number, row by row: metrics.xtreme_value, vectorised (`score` holds
    each row's headline; QA rows become (EM + F1) / 2)."""
    score = frame["score"].astype(float)
    if "m.exact_match" in frame and "m.f1" in frame:
        qa = frame["metric"].isin(metrics.QA_METRICS) & frame["m.exact_match"].notna()
        score = score.where(~qa, (frame["m.exact_match"] + frame["m.f1"]) / 2)
    return score


def zero_shot(frame: pd.DataFrame) -> pd.DataFrame:
    """Non-English rows with the XTREME score in `value`."""
    out = frame[frame["language"] != "en"].copy()
    out["value"] = xtreme_score(out)
    return out


def config_label(intermediate: str, languages: str = "en", mlm_steps: int = 0, extra_steps: int = 0) -> str:
    """Row label of an intermediate configuration: 'none', 'mnli', 'multi-task (a+b)',
    'MLM-continued (200 steps)', 'mnli [en+es+de]' (mixed-language intermediate data), and the
    control 'none + 250 target steps' (no intermediate task, as many extra steps on the target)."""
    if extra_steps:
        return f"none + {int(extra_steps)} target steps" if intermediate == "none" else \
            f"{config_label(intermediate, languages, mlm_steps)} + {int(extra_steps)} target steps"
    label = intermediate if "+" not in intermediate else f"multi-task ({intermediate})"
    if languages != "en":
        label += f" [{languages}]"
    if mlm_steps:
        label = f"MLM-continued ({mlm_steps} steps)" + ("" if intermediate == "none" else f" + {label}")
    return label


def config_kind(intermediate: str, languages: str, mlm_steps: int, extra_steps: int = 0) -> int:
    """Row order of the main table: the baselines (none, then its extra-steps control), single tasks,
    multi-task, MLM-continued, mixed-language."""
    if extra_steps and intermediate == "none":
        return 0
    if mlm_steps:
        return 3
    if languages != "en":
        return 4
    return 0 if intermediate == "none" else (2 if "+" in intermediate else 1)


def with_config(zs: pd.DataFrame) -> pd.DataFrame:
    """`zs` plus its configuration label (`config`) and main-table row order (`kind`)."""
    zs = zs.copy()
    extra = zs["extra_target_steps"] if "extra_target_steps" in zs else [0] * len(zs)
    keys = zip(zs["intermediate"], zs["intermediate_languages"], zs["mlm_steps"], extra)
    zs["config"], zs["kind"] = zip(*[(config_label(*k), config_kind(*k)) for k in keys]) if len(zs) else ((), ())
    return zs


def is_baseline(config: str) -> bool:
    """'none' or its control 'none + N target steps'."""
    return config == "none" or config.startswith("none + ")


def is_english_config(config: str) -> bool:
    """An English intermediate configuration (single or multi-task): not a baseline, not MLM-continued,
    not mixed-language."""
    return not (is_baseline(config) or config.startswith("MLM") or "[" in config or "target steps" in config)


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
    if frame.attrs.get("design", CURRENT) != CURRENT:
        text += f", archived design {frame.attrs['design']}"
    finished, planned = frame.attrs.get("runs", (0, 0))
    if finished < planned:
        text += f"; {finished} of the grid's {planned} target runs finished so far"
    if n:
        text += (f"; {n} data substitution{'s' if n > 1 else ''}, "
                 + ("listed in Table~\\ref{tab:substitutes}" if tex_ else "listed by `xstilts tasks`"))
    return text.replace("_", r"\_") if tex_ else text


def gain_over_none(frame: pd.DataFrame, grid: str, scale: str) -> pd.DataFrame:
    """Rows with an intermediate task (no continued MLM), with `baseline` = the score without one (same
    model, target, language, seed) and `gain` = score - baseline. Loud if a baseline is missing."""
    keys = ["model", "target", "language", "seed"]
    plain = frame[frame["mlm_steps"] == 0]
    if "extra_target_steps" in plain:
        plain = plain[plain["extra_target_steps"] == 0]
    base = require(plain, grid, scale, intermediate="none")
    base = base.groupby(keys, as_index=False)["score"].mean().rename(columns={"score": "baseline"})
    rows = require(plain[plain["intermediate"] != "none"], grid, scale)
    out = rows.merge(base, on=keys, how="left")
    missing = out[out["baseline"].isna()]
    if not missing.empty:
        raise MissingResults(f"No 'none' baseline for {missing[keys].drop_duplicates().to_dict('records')}. Run "
                             f"`xstilts run params/experiments/{grid}.yaml --scale {scale}` (or `make smoke`).")
    return out.assign(gain=out["score"] - out["baseline"])
