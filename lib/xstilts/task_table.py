"""`xstilts tasks`: the task registry as text that fits the terminal, as markdown, or in detail.

The default table wraps its long columns to the terminal's width and marks substituted splits
with `*`; `--details` prints one block per task with every split's files and the substitute
sentence that tables repeat; `--wide` and `--format markdown` print every column unwrapped.
"""
from __future__ import annotations

import shutil
import textwrap

from xstilts import tasks

SPLITS = ("train", "validation", "test")


def _files(spec: dict) -> str:
    """Where a split is read from, in words (never a raw dict), and what is removed from it."""
    text = _where(spec)
    if spec.get("disjoint_from"):  # rows sharing text with these splits are dropped (the data audit)
        text += " minus " + ", ".join(f"{d['task']}/{d['split']}" for d in spec["disjoint_from"])
    return text


def _where(spec: dict) -> str:
    if "parts" in spec:
        names = [p.get("path", "?") + (f"/{p['name']}" if p.get("name") else "") for p in spec["parts"]]
        return " + ".join(dict.fromkeys(names))
    where = spec.get("files") or spec.get("path") or "?"
    if isinstance(where, dict):
        first = next(iter(where.items()))
        return f"{len(where)} per-language files ({first[0]}: {first[1]}, ...)"
    if isinstance(where, list):
        return where[0] + (f" (+{len(where) - 1} more)" if len(where) > 1 else "")
    text = str(where) + (f"/{spec['name']}" if spec.get("name") else "")
    if "rows" in spec:
        unit = "passages" if spec.get("rows_by") else "rows"  # rows_by: context = QA split by passage
        text += f" {unit} {spec['rows'][0]}-{spec['rows'][1] - 1}"
    if spec.get("split") and "path" in spec:
        text += f" [{spec['split']}]"
    return text


def _splits(task: dict, source: str) -> list[tuple[str, str, str | None]]:
    """(split, where, substitute-or-unavailable sentence) of a task at a source."""
    entry = task.get(source) or {}
    if "unavailable" in entry:
        return [("all", "unavailable", entry["unavailable"])]
    out = []
    for split in SPLITS:
        if split in entry:
            spec = entry[split]
            if "unavailable" in spec:
                out.append((split, "unavailable", spec["unavailable"]))
            else:
                out.append((split, _files(spec), spec.get("substitute")))
    return out


def _summary(task: dict, source: str) -> str:
    """'train* dev* test' (`*`: a substitute split; 'n/a': unavailable), or 'n/a' (none of it)."""
    if source == "smoke":
        return f"synthetic:{(task.get('smoke') or {}).get('generator', '-')}"
    splits = _splits(task, source)
    if not splits:
        return "-"
    if splits[0][0] == "all":
        return "n/a"
    short = {"validation": "dev"}
    return " ".join(f"{short.get(s, s)}: n/a" if where == "unavailable" else short.get(s, s) + ("*" if note else "")
                    for s, where, note in splits)


def rows(role: str | None = None, *, wide: bool = False) -> list[dict]:
    """The registry, one dict per task: compact cells, or (`wide`) every language and file."""
    out = []
    for name, t in tasks.all_tasks().items():
        if role and t["role"] != role:
            continue
        langs = t.get("languages") or ["en"]
        row = {"task": name, "format": t["format"], "role": t["role"], "langs": str(len(langs)),
               "metric": t["metric"], "offline": _summary(t, "mirror"), "licence": t.get("licence", "?")}
        if wide:
            row = {"task": name, "format": t["format"], "role": t["role"],
                   "languages": f"{len(langs)}: {' '.join(langs)}", "metric": t["metric"],
                   "smoke": _summary(t, "smoke")}
            for source, column in (("mirror", "offline (mirror)"), ("hub", "full (hub)")):
                row[column] = "; ".join(f"{s}={where}{' *' if note and where != 'unavailable' else ''}"
                                        for s, where, note in _splits(t, source)) or "-"
            row["licence"] = t.get("licence", "?")
        out.append(row)
    return out


def text_table(table: list[dict], width: int | None) -> str:
    """Columns padded to their widest cell; with a `width`, columns wrap at spaces (the rightmost
    first) to fit it, and a last column that still does not fit is left out."""
    if not table:
        return ""
    columns = list(table[0])
    natural = {c: max(len(c), *(len(str(r[c])) for r in table)) for c in columns}
    shortest = {c: max(len(w) for r in table + [dict(zip(columns, columns))] for w in str(r[c]).split() or [""])
                for c in columns}
    widths = dict(natural)
    if width:
        while sum(widths.values()) + 2 * (len(widths) - 1) > width:
            column = next((c for c in reversed(list(widths)) if widths[c] > shortest[c]), None)
            if column:
                widths[column] -= 1
            elif len(widths) > 1:
                widths.pop(columns[-1])
                columns = columns[:-1]
            else:
                break
    lines = []
    for cells in [{c: c for c in columns}] + table:
        wrapped = {c: textwrap.wrap(str(cells[c]), widths[c], break_on_hyphens=False) or [""] for c in columns}
        for i in range(max(len(w) for w in wrapped.values())):
            parts = [(wrapped[c][i] if i < len(wrapped[c]) else "").ljust(widths[c]) for c in columns]
            lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def details_text(role: str | None = None, width: int | None = None) -> str:
    """One block per task: what it is, its languages, and per source and split the files read and
    the substitute sentence every table showing a number from that split repeats."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    blocks = []
    for name, t in tasks.all_tasks().items():
        if role and t["role"] != role:
            continue
        langs = t.get("languages") or ["en"]
        lines = [f"{name}: {t.get('title', name)} ({t['format']}, {t['role']}, metric {t['metric']})",
                 f"  licence: {t.get('licence', '?')}",
                 *textwrap.wrap(f"languages ({len(langs)}): {' '.join(langs)}", width - 2,
                                initial_indent="  ", subsequent_indent="    "),
                 f"  smoke: {_summary(t, 'smoke')}"]
        for source, label in (("mirror", "offline (mirror)"), ("hub", "full (hub)")):
            lines.append(f"  {label}:" + ("" if _splits(t, source) else " -"))
            for split, where, note in _splits(t, source):
                lines.append(f"    {split}: {where}" if where != "unavailable" else f"    {split}: unavailable")
                if note:
                    lines += textwrap.wrap(note if where == "unavailable" else f"substitute: {note}", width - 6,
                                           initial_indent="      ", subsequent_indent="      ", break_on_hyphens=False)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render(*, role: str | None = None, details: bool = False, fmt: str = "text", wide: bool = False) -> str:
    if details:
        return details_text(role)
    if fmt == "markdown":
        import pandas as pd

        return pd.DataFrame(rows(role, wide=True)).to_markdown(index=False)
    table = rows(role, wide=wide)
    width = None if wide else shutil.get_terminal_size((100, 24)).columns
    text = text_table(table, width)
    shown = text.splitlines()[0].split() if text else []
    note = "offline: the mirror's splits, * = a substitute split (the mirror lacks the real one), n/a = not in the mirror"
    note += "; `xstilts tasks --details` gives every file and the sentence tables repeat for each substitute"
    if not wide:
        note += "; `--wide` or `--format markdown` every column"
        if table and "licence" not in shown:
            note += " (the licence column did not fit)"
    return text + "\n\n" + (note if wide else textwrap.fill(note, width))
