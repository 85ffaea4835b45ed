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

import math
import shutil
import tempfile
from pathlib import Path

from xstilts import metrics, runs, tasks

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
    return {metrics.xtreme_task_dir(n): n for n in tasks.task_names("target")}


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
