"""`xstilts data prefetch`: download every Hub split a grid needs into a local mirror.

For clusters whose compute nodes have no internet: run this once on a login node, then run the
grid with `source: mirror` and `data_dir: DIR` (e.g. in the grid's `params`). Each split is
written, converted to the example schema of docs/DEVELOPING.md, to
`DIR/hub/<task>/<split>-<lang>.jsonl` (see `data.prefetched_path`) beside whatever the mirror
already holds (DIR may be a copy of ../shared/data). The mirror loader reads a prefetched split in
preference to the registry's mirror entry, so a run reads exactly the rows the Hub gave, and no
substitute note is attached to it. Every split is complete (no `limit`), so a run's seeded
sample of it is the same as from the Hub. Streamed corpora (MLM text) are cut at the registry's
`max_rows` after the seeded shuffle buffer, so a run's sample of the prefetched rows is a seeded
sample of those rows, not the first rows of its own stream: the same corpus, other sentences. `DIR/hub/MANIFEST.json` records the Hub dataset, config, split and row count of each file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from xstilts import data, runs
from xstilts import tasks as task_registry


def grid_splits(grid_paths: list[str], scale: str) -> list[tuple[str, str, str]]:
    """Every (task, split, language) the runs of the grids read, each once, sorted."""
    from xstilts import workflow

    needed = set()
    for path in grid_paths:
        for cfg in workflow.grid_runs(workflow.load_grid(path), scale):
            needed.update(data.needed_splits(cfg))
    return sorted(needed)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _hub_source(task: str, split: str, lang: str) -> list[dict]:
    spec = task_registry.get_task(task)["hub"][split]
    return [{"path": data._fill(p["path"], lang), "name": data._fill(p["name"], lang) if p.get("name") else None,
             "split": p["split"]} for p in spec.get("parts") or [spec]]


def prefetch(grid_paths: list[str], scale: str = "full", out: str | os.PathLike | None = None, *,
             hub_cache: str | None = None, log=print) -> dict:
    """Fetch every split of the grids from the Hub into the mirror `out` (default: the mirror dir).

    Splits already prefetched are kept (delete the file to fetch it again). Returns the manifest."""
    root = Path(out) if out else data.mirror_dir(None)
    needed = grid_splits(grid_paths, scale)  # validates the grids (and the languages) first
    for task, split, lang in needed:  # registry errors (no Hub entry, unavailable) before any download
        data.check_available(task, split, lang, source="hub")
    manifest_path = root / data.PREFETCHED / "MANIFEST.json"
    manifest = runs.read_json(manifest_path) if manifest_path.is_file() else {}
    for i, (task, split, lang) in enumerate(needed, 1):
        path = data.prefetched_path(root, task, split, lang)
        key = str(path.relative_to(root / data.PREFETCHED))
        if path.is_file() and key in manifest:
            log(f"[{i}/{len(needed)}] {key}: already prefetched ({manifest[key]['rows']} rows)")
            continue
        rows = data.load_examples(task, split, lang, source="hub", hub_cache=hub_cache)
        _write_jsonl(path, rows)
        manifest[key] = {"task": task, "split": split, "language": lang, "rows": len(rows),
                         "hub": _hub_source(task, split, lang)}
        runs.write_json(manifest_path, manifest)  # after each file: an interrupted prefetch resumes
        log(f"[{i}/{len(needed)}] {key}: {len(rows)} rows")
    return manifest
