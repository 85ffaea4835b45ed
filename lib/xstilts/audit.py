"""The data audit: does any training split of a planned run share data with another split it reads?

For every run of the given grids, every split the run reads (continued-MLM text, intermediate
train/validation, target train/validation, every evaluation language) is loaded exactly as the run
loads it (same row slices, same sampling) and fingerprinted twice:

* texts: each text unit of each row (a sentence, a premise, a passage, a question), normalised
  (NFKC, lower case, letters and digits only, so tokenised and raw copies of a sentence match) and
  kept when it has at least `MIN_CHARS` characters (shorter strings such as "Yes." collide by
  chance);
* aligned rows: for mirror files, which line of which parallel dataset a row is
  (`data.aligned_key`: xnli/dev-en.tsv line 7 and xnli/dev-de.tsv line 7 are the same item), so a
  translation of a training row is caught even though its text differs.

Every training split is compared with every other split of the same run. An overlap is allowed
only where tasks.yaml declares it as the base paper's own design (`shares_data_with:` on either
task, with the reason, e.g. XNLI is fine-tuned on MNLI, which is also an intermediate task); any
other overlap makes `xstilts audit` exit non-zero, and `xstilts run` refuses to start.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from xstilts import data, phases, tasks

MIN_CHARS = 20
ROLES = ("training", "selection", "evaluation")


def normalise(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def text_units(fmt: str, row: dict, *, min_chars: int = MIN_CHARS) -> list[str]:
    """The normalised text units of one example (docs/DEVELOPING.md's schema, per format)."""
    if fmt in ("classification", "regression"):
        raw = [row["text_a"], row["text_b"]]
    elif fmt == "multiple_choice":
        raw = [f"{row['context']} {row['question']}"]
    elif fmt == "qa":
        raw = [row["context"], row["question"]]
    elif fmt in ("tagging", "parsing"):
        raw = [" ".join(row["tokens"])]
    elif fmt == "retrieval":
        raw = [row["source"], row["target"]]
    else:
        raw = [row["text"]]
    units = [normalise(t) for t in raw if t]
    return [u for u in units if len(u) >= min_chars]


@functools.lru_cache(maxsize=4096)
def fingerprint(ref: phases.Read, source: str, data_dir: str | None) -> tuple[frozenset, frozenset, int]:
    """(text units, aligned row keys, number of rows) of one split as a run reads it."""
    fmt = tasks.get_task(ref.task)["format"]
    if source == "mirror":
        keyed = data.load_mirror_keyed(ref.task, ref.split, ref.lang, data_dir=data_dir, limit=ref.limit)
        spec = tasks.get_task(ref.task)["mirror"][ref.split]
        keys = frozenset(k for k, _ in keyed) if spec.get("parallel") else frozenset()
        rows = [r for _, r in keyed]
    else:
        rows, keys = data.load_examples(ref.task, ref.split, ref.lang, source=source, data_dir=data_dir,
                                        limit=ref.limit), frozenset()
    return frozenset(u for r in rows for u in text_units(fmt, r)), keys, len(rows)


def declared(a: phases.Read, b: phases.Read) -> str | None:
    """The reason tasks.yaml gives for letting two phases' splits share data, if it gives one (on
    either phase's task: XNLI's `shares_data_with: {mnli: ...}` covers intermediate MNLI vs target XNLI)."""
    if a.owner == b.owner:
        return None  # within one task, train and its other splits must be disjoint
    for one, other in ((a.owner, b.owner), (b.owner, a.owner)):
        reason = (tasks.get_task(one).get("shares_data_with") or {}).get(other)
        if reason:
            return f"{one} shares data with {other}: {reason}"
    return None


def audit_runs(cfgs: list[dict]) -> tuple[list[dict], int]:
    """Overlaps between each training split and every other split of the same run (deduplicated over
    runs), and the number of split pairs compared. Each overlap row says whether it is declared."""
    found: dict[tuple, dict] = {}
    compared: set = set()
    for cfg in cfgs:
        source, data_dir = cfg["source"], cfg["data_dir"] or None
        refs = phases.reads(cfg)
        for a in refs:
            if a.role != "training":
                continue
            for b in refs:
                # the languages of one mixed-language training set are translations of each other by design
                if b == a or (b.role == "training" and (b.phase, b.task, b.split) == (a.phase, a.task, a.split)):
                    continue
                pair = tuple(sorted((a, b), key=lambda r: r.label)) if b.role == "training" else (a, b)
                if pair in compared:
                    continue
                compared.add(pair)
                ta, ka, na = fingerprint(a, source, data_dir)
                tb, kb, nb = fingerprint(b, source, data_dir)
                texts, rows = len(ta & tb), len(ka & kb)
                if texts or rows:
                    found[pair] = {"training split": pair[0].label, "other split": pair[1].label,
                                   "role": pair[1].role, "rows": f"{na} / {nb}", "shared texts": texts,
                                   "shared aligned rows": rows, "declared": declared(a, b) or "NO"}
    return list(found.values()), len(compared)


def audit_grids(grid_paths: list[str], scale: str) -> tuple[list[dict], int, int]:
    """(overlap rows, pairs compared, undeclared overlaps) for every run of the grids at a scale."""
    from xstilts import workflow

    cfgs = [cfg for path in grid_paths for cfg in workflow.grid_runs(workflow.load_grid(path), scale)]
    rows, n_pairs = audit_runs(cfgs)
    return rows, n_pairs, sum(r["declared"] == "NO" for r in rows)


def strict(scale: str) -> bool:
    """Smoke data is synthetic: every task is rendered from the same generated scenes on purpose, so
    its overlaps are reported but never block a run; real data (offline, full) must be clean."""
    return scale != "smoke"


def report(grid_paths: list[str], scale: str, *, out=print) -> int:
    """Print the audit; return its exit status (1: an undeclared overlap on real data)."""
    rows, n_pairs, undeclared = audit_grids(grid_paths, scale)
    out(f"data audit ({scale}): {n_pairs} (training split, other split) pairs compared, "
        f"{len(rows)} share data, {undeclared} of them undeclared")
    if rows:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                               "display.max_colwidth", 90):
            out(pd.DataFrame(rows).to_string(index=False))
    if undeclared and strict(scale):
        out("Undeclared overlap: make the splits disjoint in tasks.yaml (rows, rows_by, disjoint_from), or, "
            "where the base paper shares the data by design, declare it with `shares_data_with:` and the reason.")
        return 1
    return 0
