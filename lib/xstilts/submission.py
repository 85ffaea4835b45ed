"""Assembling an XTREME and an XTREME-R submission folder from the finished target runs of a scale.

One run per target task: the best on its **English dev** score (`result.json` -> `train.best_dev`,
the early-stopping score on the training task's English validation split), never on test. The
retrieval tasks are not trained and have no English dev set, so for them the public model's run
(no intermediate task, no continued MLM, lowest seed) is taken.

Layout, file names and language lists are those of google-research/xtreme's `evaluate.py` (the
XTREME-R version, commit da430dd, which reads both benchmarks: `--xtreme_version xtreme|xtreme-r`):

    DIR/xtreme/<task>/test-<lang>.tsv|json      DIR/xtreme-r/<task>/test-<lang>.tsv|json|jsonl
    DIR/manifest.json                           which run each task came from, what is missing

`evaluate.py` scores every task folder present and raises FileNotFoundError for a language of a
present task whose file is absent; the manifest (and the command) lists those languages, and the
tasks no run provides, so what the folder lacks is said, never silently dropped.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from xstilts import metrics, runs, tasks


# --------------------------------------------------------------------------- submission files
# Our registry name -> XTREME's folder name (evaluate.py TASK2LANGS keys).
_XTREME_TASK_DIR = {"bucc": "bucc2018"}
_LINE_TASKS = {"xnli", "pawsx", "tatoeba"}  # one label / index per line
_JSONL_TASKS = {"xcopa"}                     # XTREME-R: one {"label": n} object per line (read_xcopa)
_TAG_TASKS = {"udpos", "panx"}               # one tag per line, blank line between sentences
_PAIR_TASKS = {"bucc2018"}                   # "src_id<TAB>tgt_id" per line


def xtreme_task_dir(task: str) -> str:
    """XTREME's submission folder name of a registry task (``bucc`` -> ``bucc2018``)."""
    return _XTREME_TASK_DIR.get(task, task)


def write_xtreme_predictions(task: str, lang: str, predictions: Any, out_dir: str | os.PathLike) -> Path:
    """Write one task/language's test predictions in XTREME's submission layout and return the path.

    Layout (``evaluate.py`` readers; ``mock_test_data/predictions`` in the xtreme repo)::

        {out_dir}/{task}/test-{lang}.tsv   xnli, pawsx: one label per line; tatoeba: one retrieved
                                           target index per line; udpos, panx: one tag per line,
                                           sentences separated by a blank line; bucc2018: one
                                           "src_id\\ttgt_id" pair per line (sorted)
        {out_dir}/{task}/test-{lang}.json  xquad, mlqa, tydiqa: {"question id": "answer text"}
        {out_dir}/{task}/test-{lang}.jsonl xcopa (XTREME-R's evaluate.py: read_xcopa): one
                                           {"label": choice index} per line

    ``task`` is our registry name (``bucc`` is written to XTREME's ``bucc2018``). Atomic: written
    to a temporary file in the same folder, then ``os.replace``d."""
    xtask = _XTREME_TASK_DIR.get(task, task)
    if xtask in metrics.QA_TASKS:
        text = json.dumps({str(k): str(v) for k, v in dict(predictions).items()}, indent=2, ensure_ascii=False) + "\n"
        suffix = "json"
    elif xtask in _LINE_TASKS:
        text = "".join(f"{p}\n" for p in predictions)
        suffix = "tsv"
    elif xtask in _JSONL_TASKS:
        text = "".join(json.dumps({"label": int(p)}) + "\n" for p in predictions)
        suffix = "jsonl"
    elif xtask in _TAG_TASKS:
        # read_tag in evaluate.py splits sentences on blank lines; an empty sentence becomes an
        # extra blank line, which read_tag reads back as [] -- so sentence alignment survives.
        text = "\n".join("".join(f"{t}\n" for t in sent) for sent in predictions)
        suffix = "tsv"
    elif xtask in _PAIR_TASKS:
        text = "".join(f"{s}\t{t}\n" for s, t in sorted({tuple(p) for p in predictions}))
        suffix = "tsv"
    else:
        raise ValueError(f"write_xtreme_predictions: {task!r} is not an XTREME task")
    folder = Path(out_dir) / xtask
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"test-{lang}.{suffix}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

# evaluate.py (XTREME-R version) XTREME_TASK2LANGS / XTREME_R_TASK2LANGS, in its folder names.
OFFICIAL_LANGUAGES: dict[str, dict[str, list[str]]] = {
    "xtreme": {
        "pawsx": "de,en,es,fr,ja,ko,zh".split(","),
        "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh".split(","),
        "panx": ("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                 "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu").split(","),
        "udpos": ("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                  "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh").split(","),
        "bucc2018": "de,fr,ru,zh".split(","),
        "tatoeba": ("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                    "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu").split(","),
        "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi".split(","),
        "mlqa": "en,es,de,ar,hi,vi,zh".split(","),
        "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te".split(","),
    },
    "xtreme-r": {
        "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh".split(","),
        "panx": ("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                 "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,"
                 "lt,pa,gu,ro").split(","),
        "udpos": ("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                  "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,lt,pl,uk,wo,ro").split(","),
        "tatoeba": ("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                    "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu,az,lt,pl,uk,ro").split(","),
        "xcopa": "et,ht,id,it,qu,sw,ta,th,tr,vi,zh".split(","),
        "lareqa": [],
        "mewslix": "ar,de,en,es,fa,ja,pl,ro,ta,tr,uk".split(","),
        "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro".split(","),
        "mlqa": "en,es,de,ar,hi,vi,zh".split(","),
        "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te".split(","),
    },
}
QA_FOLDERS = {"xquad", "mlqa", "tydiqa", "mewslix"}  # evaluate.py get_suffix: json
JSONL_FOLDERS = {"xcopa"}                             # XTREME-R multi_choice: jsonl


def suffix(folder: str) -> str:
    """evaluate.py `get_suffix`: the file extension of a task folder."""
    return "json" if folder in QA_FOLDERS else "jsonl" if folder in JSONL_FOLDERS else "tsv"


def dev_score(result: dict) -> float | None:
    """The English dev score a target run early-stopped on (None for untrained retrieval runs)."""
    value = (result.get("train") or {}).get("best_dev")
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def select_best(results: list[dict]) -> dict[str, tuple[dict, str]]:
    """Target task -> (chosen result, why). Highest English dev score; ties: lowest seed, then name.
    Tasks without any dev score (retrieval): the public model's run, lowest seed."""
    by_task: dict[str, list[dict]] = {}
    for r in results:
        by_task.setdefault(r["target_task"], []).append(r)
    chosen = {}
    for task, group in sorted(by_task.items()):
        scored = [r for r in group if dev_score(r) is not None]
        if scored:
            best = min(scored, key=lambda r: (-dev_score(r), r["seed"], r["run_dir"]))
            chosen[task] = (best, f"best English dev score ({dev_score(best):.2f}) of {len(scored)} runs")
            continue
        public = [r for r in group if not r["intermediate_tasks"] and not r["mlm_steps"]]
        pool = public or group
        best = min(pool, key=lambda r: (r["seed"], r["run_dir"]))
        why = ("no English dev set (not trained): the public model's run" if public
               else "no English dev set and no public-model run: lowest seed")
        chosen[task] = (best, why)
    return chosen


def _registry_folders() -> dict[str, str]:
    """XTREME folder name -> registry target task."""
    return {xtreme_task_dir(n): n for n in tasks.task_names("target")}


def assemble(runs_root: str | Path, scale: str, out: str | Path) -> dict:
    """Write DIR/xtreme and DIR/xtreme-r (replacing earlier ones) and DIR/manifest.json; return the manifest."""
    runs_root, out = Path(runs_root), Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder.")
    results = runs.collect(runs_root, scale, "target")
    chosen = select_best(results)
    folders = _registry_folders()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".submission-"))
    manifest = {"scale": scale, "runs_root": str(runs_root), "selection": "English dev (train.best_dev), never test"}
    try:
        for version, official in OFFICIAL_LANGUAGES.items():
            written, missing = {}, {}
            for folder, langs in official.items():
                task = folders.get(folder)
                if task is None:
                    missing[folder] = "not in the task registry (no run can produce it)"
                    continue
                if task not in chosen:
                    missing[folder] = f"no finished {task} target run at scale {scale!r}"
                    continue
                result, why = chosen[task]
                source = runs_root / scale / "target" / result["run_dir"] / "predictions" / folder
                present = [l for l in langs if (source / f"test-{l}.{suffix(folder)}").is_file()]
                if not present:
                    has = sorted(p.name for p in source.glob("test-*")) if source.is_dir() else []
                    missing[folder] = (
                        f"run {result['run_dir']} has predictions for none of {version}'s {folder} languages "
                        f"(it has: {' '.join(has)})" if has else
                        f"run {result['run_dir']} has no predictions/{folder}/ files "
                        "(runs made before predictions were kept; rerun it to write them)")
                    continue
                (staging / version / folder).mkdir(parents=True)
                for lang in present:
                    name = f"test-{lang}.{suffix(folder)}"
                    shutil.copyfile(source / name, staging / version / folder / name)
                written[folder] = {
                    "target_task": task, "run_dir": result["run_dir"], "model": result["model"],
                    "intermediate_tasks": result["intermediate_tasks"], "mlm_steps": result["mlm_steps"],
                    "seed": result["seed"], "english_dev": dev_score(result), "why": why,
                    "languages": present, "missing_languages": [l for l in langs if l not in present],
                    "notes": result.get("notes", []),
                }
            manifest[version] = {"folder": version, "tasks": written, "missing_tasks": missing}
        for version in OFFICIAL_LANGUAGES:
            target = out / version
            if target.exists():
                shutil.rmtree(target)
            if (staging / version).exists():
                (staging / version).rename(target)
            else:
                target.mkdir()
        runs.write_json(out / "manifest.json", manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def summary(manifest: dict) -> str:
    """What `xstilts submission` prints: per benchmark, the tasks written and what is missing."""
    lines = []
    for version in OFFICIAL_LANGUAGES:
        part = manifest[version]
        lines.append(f"{version}: {len(part['tasks'])} of {len(OFFICIAL_LANGUAGES[version])} tasks")
        for folder, t in part["tasks"].items():
            gap = (f"; missing languages: {' '.join(t['missing_languages'])} (the official evaluate.py "
                   "raises FileNotFoundError on them)") if t["missing_languages"] else ""
            lines.append(f"  {folder}: {len(t['languages'])} languages from {t['run_dir']} ({t['why']}){gap}")
        for folder, why in part["missing_tasks"].items():
            lines.append(f"  {folder}: MISSING - {why}")
    return "\n".join(lines)
