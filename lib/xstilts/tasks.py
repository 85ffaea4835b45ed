"""The task registry: `tasks.yaml` loaded once, plus small queries on it.

Tasks are data (format, role, languages, labels, metric, sources); code never branches on a
task's name, only on its `format`.
"""
from __future__ import annotations

import difflib
import functools
from importlib import resources

import yaml

FORMATS = ("classification", "regression", "multiple_choice", "tagging", "parsing", "qa", "retrieval", "mlm")
ROLES = ("intermediate", "target", "mlm")
SCALES = ("smoke", "offline", "full")
# which source each scale reads from
SCALE_SOURCE = {"smoke": "smoke", "offline": "mirror", "full": "hub"}


@functools.cache
def all_tasks() -> dict[str, dict]:
    text = resources.files("xstilts").joinpath("tasks.yaml").read_text(encoding="utf-8")
    tasks = yaml.safe_load(text)
    for name, task in tasks.items():
        task["name"] = name
        assert task["format"] in FORMATS, f"{name}: unknown format {task['format']}"
        assert task["role"] in ROLES, f"{name}: unknown role {task['role']}"
    return tasks


def get_task(name: str) -> dict:
    tasks = all_tasks()
    if name not in tasks:
        raise ValueError(f"Unknown task {name!r}.{did_you_mean(name, tasks)} Known tasks: {', '.join(sorted(tasks))}. "
                         "See `xstilts tasks` for the registry.")
    return tasks[name]


def did_you_mean(name: str, known) -> str:
    """' Did you mean mnli?' for a mistyped name, or ''."""
    close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(close)}?" if close else ""


def task_names(role: str | None = None) -> list[str]:
    return [n for n, t in all_tasks().items() if role is None or t["role"] == role]


def languages(name: str, source: str) -> list[str]:
    """A task's languages as one data source has them: the synthetic languages (smoke), the
    mirror's (`mirror_languages`, where the mirror holds fewer than the benchmark), the Hub's
    (`languages`). A scale name is read as its source (SCALE_SOURCE)."""
    source = SCALE_SOURCE.get(source, source)
    if source == "smoke":
        from xstilts.smoke import LANGUAGES
        return list(LANGUAGES)
    task = get_task(name)
    if source == "mirror":
        return list(task.get("mirror_languages") or task.get("languages") or ["en"])
    if source == "hub":
        return list(task.get("languages") or ["en"])
    raise ValueError(f"Unknown data source {source!r}: one of smoke, mirror, hub.")


def train_task(name: str) -> str:
    """The task whose English training data a target task is fine-tuned on."""
    return get_task(name).get("train_from", name)


def label_list(name: str) -> list[str] | None:
    """Label set of a classification/tagging task; falls back to the training task's labels."""
    task = get_task(name)
    return task.get("labels") or get_task(train_task(name)).get("labels")


def source_summary(task: dict, source: str) -> str:
    entry = task.get(source) or {}
    if source == "smoke":
        return f"synthetic:{entry.get('generator', '-')}"
    if "unavailable" in entry:
        return "unavailable"
    parts = []
    for split in ("train", "validation", "test"):
        if split in entry:
            spec = entry[split]
            where = spec.get("files") or spec.get("path") or "?"
            if isinstance(where, list):
                where = f"{where[0]} (+{len(where) - 1})"
            if spec.get("rows"):  # name the held-out part exactly: which rows (or passages) of the file
                start, stop = spec["rows"]
                where += f"[{'passages ' if spec.get('rows_by') else ''}{start}:{stop}]"
            if spec.get("disjoint_from"):
                where += " minus " + ", ".join(f"{d['task']}/{d['split']}" for d in spec["disjoint_from"])
            mark = " [substitute]" if spec.get("substitute") else ""
            parts.append(f"{split}={where}{mark}")
    return "; ".join(parts) or "-"


def registry_table():
    """The registry as a pandas DataFrame (what `xstilts tasks` prints)."""
    import pandas as pd

    rows = []
    for name, t in all_tasks().items():
        langs = t.get("languages") or ["en"]
        rows.append({
            "task": name, "format": t["format"], "role": t["role"],
            "languages": f"{len(langs)}: {' '.join(langs[:6])}{' ...' if len(langs) > 6 else ''}",
            "smoke": source_summary(t, "smoke"), "offline (mirror)": source_summary(t, "mirror"),
            "full (hub)": source_summary(t, "hub"), "metric": t["metric"], "licence": t.get("licence", "?"),
        })
    return pd.DataFrame(rows)
