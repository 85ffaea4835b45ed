"""Target-run results as one tidy table: one row per (run, language, metric).

`tidy` is the one place results are read from `result.json` files; `analysis_frame` turns it into
the frame the analysis notebooks start from (one row per run and language, the headline metric in
`score`, every other metric in an `m.<metric>` column), so `xstilts results` and the analyses show
the same numbers. Columns name what defines each run (task, intermediate tasks and languages, MLM
steps, seed, model, scale, device), its description from `params.json`, and `differs`: the defining
parameters that tell it apart from runs that otherwise look the same.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from xstilts import metrics, phases, runs
from xstilts import params as P

# what defines a target run, as columns of the tidy table (`run` is its folder)
RUN_COLUMNS = ["run", "description", "scale", "model", "device", "seed", "target", "intermediate",
               "n_intermediate", "intermediate_languages", "mlm_steps", "extra_target_steps", "task_metric", "dev",
               "failed", "target_failed", "upstream_failed"]
COLUMNS = RUN_COLUMNS + ["language", "metric", "value", "headline", "notes", "differs"]
# what `differs` never lists: the run's identity columns, and what only says where files are
_NOT_DIFFERS = {"scale", "model", "source", "seed", "target_task", "intermediate_tasks", "intermediate_languages",
                "mlm_steps", "extra_target_steps"}


def runs_root(runs_dir: str | Path | None = None) -> Path:
    return Path(runs_dir or os.environ.get("XSTILTS_RUNS") or (P.REPO_ROOT / "runs"))


def _description(params: dict) -> str:
    """The run's description; runs written before params.json had one get it from their parameters."""
    if params.get("description"):
        return params["description"]
    try:
        return runs.describe(params["all"], params["phase"])
    except (KeyError, P.ParamsError):
        return ""


def _upstream_notes(root: Path, scale: str, cfg: dict | None) -> list[str]:
    """The substitute notes of a target run's upstream runs (its intermediate and MLM runs): the data
    its model saw before the target task, which its numbers depend on too."""
    out = []
    for phase in ("intermediate", "mlm"):
        try:
            if not cfg or not phases.trains(cfg, phase):
                continue
            path = root / scale / phase / runs.run_name(cfg, phase) / runs.RESULT
        except (KeyError, P.ParamsError, TypeError):  # parameters from before a key existed
            continue
        if path.exists():
            out += runs.read_json(path).get("notes") or []
    return out


def tidy(scale: str, runs_dir: str | Path | None = None, run_names: list[str] | None = None) -> pd.DataFrame:
    """Every finished target run at `scale` (or only `run_names`, folder names under target/):
    one row per (run, language, metric) with the value exactly as in the run's result.json."""
    base = runs_root(runs_dir) / scale / "target"
    folders = sorted(base.glob(f"*/{runs.RESULT}")) if base.exists() else []
    if run_names is not None:
        wanted = set(run_names)
        folders = [f for f in folders if f.parent.name in wanted]
    rows, defining = [], {}
    for path in folders:
        r = runs.read_json(path)
        params_file = path.parent / "params.json"
        params = runs.read_json(params_file) if params_file.exists() else {}
        defining[r["run_dir"]] = params.get("defining", {})
        headline_key = metrics.HEADLINE.get(r["metric"])
        dev = (r.get("train") or {}).get("best_dev")
        run = {"run": r["run_dir"], "description": _description(params), "scale": r["scale"], "model": r["model"],
               "device": (r.get("provenance") or {}).get("device"), "seed": r["seed"], "target": r["target_task"],
               "intermediate": "+".join(r["intermediate_tasks"]) or "none",
               "n_intermediate": len(r["intermediate_tasks"]),
               "intermediate_languages": "+".join(r.get("intermediate_languages") or ["en"]),
               "mlm_steps": r.get("mlm_steps", 0), "extra_target_steps": r.get("extra_target_steps", 0),
               "task_metric": r["metric"],
               # the run's best English dev score (its selection number; NaN when the task is not trained)
               # and whether it failed: its phase, or a phase it builds on (an intermediate task that did not
               # learn), did not beat its dev baseline. Failed runs are counted and left out of verdicts
               "dev": float("nan") if dev is None else float(dev),
               "failed": bool(r.get("failed") or r.get("upstream_failed")),
               # which of the two (question A keeps runs whose intermediate phase had a task that failed);
               # None where the run predates dev checks (the archived design): not known, not "learned"
               "target_failed": r.get("failed"), "upstream_failed": r.get("upstream_failed"),
               "notes": " | ".join(dict.fromkeys((r.get("notes") or []) + _upstream_notes(
                   runs_root(runs_dir), scale, params.get("all"))))}
        for lang, scores in r["per_language"].items():
            for name, value in scores.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    rows.append(dict(run, language=lang, metric=name, value=value, headline=name == headline_key))
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "differs"])
    return frame.assign(differs=frame["run"].map(differences(frame, defining)) if len(frame) else pd.Series(dtype=str))


def differences(frame: pd.DataFrame, defining: dict[str, dict]) -> dict[str, str]:
    """Run -> 'key value, ...': the defining parameters in which it differs from another run with
    the same identity columns (two 'panx-after-mnli-s0-<hash>' folders); '' where no run is alike."""
    identity = ["scale", "model", "seed", "target", "intermediate", "intermediate_languages", "mlm_steps",
                "extra_target_steps"]
    out = {}
    for _, group in frame.drop_duplicates("run").groupby(identity, dropna=False):
        names = list(group["run"])
        keys = sorted({k for n in names for k in defining.get(n, {})} - _NOT_DIFFERS)
        varying = [k for k in keys if len({repr(defining.get(n, {}).get(k)) for n in names}) > 1]
        for n in names:
            out[n] = ", ".join(f"{k} {_text(defining.get(n, {}).get(k))}" for k in varying)
    return out


def _text(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def analysis_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The tidy table as the analyses read it: one row per (run, language), the headline metric in
    `score` and every metric also in `m.<metric>` (the layout of `report.load_results`)."""
    if table.empty:
        return pd.DataFrame()
    rows = []
    for (run, lang), group in table.groupby(["run", "language"], sort=False):
        first = group.iloc[0]
        headline = group.loc[group["headline"], "value"]
        rows.append({"scale": first["scale"], "model": first["model"], "seed": first["seed"], "target": first["target"],
                     "intermediate": first["intermediate"], "n_intermediate": first["n_intermediate"],
                     "intermediate_languages": first["intermediate_languages"], "mlm_steps": first["mlm_steps"],
                     "extra_target_steps": first["extra_target_steps"], "metric": first["task_metric"], "language": lang,
                     "score": headline.iloc[0] if len(headline) else float("nan"), "dev": first["dev"],
                     "failed": bool(first["failed"]), "target_failed": first["target_failed"],
                     "upstream_failed": first["upstream_failed"], "notes": first["notes"], "run": run,
                     **{f"m.{m}": v for m, v in zip(group["metric"], group["value"])}})
    return pd.DataFrame(rows)


def load_results(scale: str, runs_dir: str | None = None) -> pd.DataFrame:
    """One row per (target run, language): the long table every analysis starts from."""
    return analysis_frame(tidy(scale, runs_dir))


def render(table: pd.DataFrame, fmt: str = "text") -> str:
    """The table as csv, markdown, json (records) or text for a terminal (`xstilts results`)."""
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return (table.to_json(orient="records", indent=1) if len(table) else "[]") + "\n"
    if fmt == "markdown":
        return table.to_markdown(index=False) + "\n"
    if table.empty:
        return ""
    shown = table.drop(columns=["notes", "description", "n_intermediate"])
    if not (shown["extra_target_steps"] != 0).any():
        shown = shown.drop(columns="extra_target_steps")
    if not (shown["differs"] != "").any():
        shown = shown.drop(columns="differs")
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 10_000):
        return shown.to_string(index=False) + "\n"
