"""Loading the examples of a task / split / language from a source: `smoke`, `mirror` or `hub`.

Everything task-specific lives in `tasks.yaml`: per source and split, which files (or which Hub
dataset) to read, with which reader (or converter), and which substitute note goes with it. File
*formats* live in formats.py (`READERS`) and Hub *schemas* in hub_rows.py (`HUB_CONVERTERS`); this
module never branches on a task's name. Every reader/converter returns rows in the example schema of
docs/DEVELOPING.md (labels as strings for classification/tagging, floats for regression).
"""
from __future__ import annotations

import functools
import os
import random
import re
from pathlib import Path

from xstilts import phases
from xstilts import tasks as task_registry
from xstilts.formats import (NLI_LABELS, READERS, DataFormatError, DataMissingError,  # noqa: F401
                             _bad_line, _empty_file, _read_cached)
from xstilts.hub_rows import HUB_CONVERTERS

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("smoke", "mirror", "hub")
SPLITS = ("train", "validation", "test")

# ISO 639-1 (XTREME's codes) -> ISO 639-3 as Tatoeba (LASER) names its files: the 36 XTREME
# languages plus the 5 XTREME-R adds (az lt pl uk ro).
ISO3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
    "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr", "ro": "ron", "en": "eng",
}

# English language names as Hub configs spell them (google/xtreme "udpos.German"; TyDiQA ids "german-...").
LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "az": "Azerbaijani", "bg": "Bulgarian", "bn": "Bengali",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "ht": "Haitian",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "jv": "Javanese",
    "ka": "Georgian", "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian", "ml": "Malayalam",
    "mr": "Marathi", "ms": "Malay", "my": "Burmese", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese",
    "qu": "Quechua", "ro": "Romanian", "ru": "Russian", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
    "yo": "Yoruba", "zh": "Chinese",
}


# ------------------------------------------------------------------------------------- mirror
def mirror_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The local mirror: `data_dir` (params), else $XSTILTS_DATA, else ../shared/data next to the repo."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("XSTILTS_DATA"):
        return Path(os.environ["XSTILTS_DATA"]).expanduser()
    default = (REPO_ROOT / ".." / "shared" / "data").resolve()
    if default.is_dir():
        return default
    raise DataMissingError(
        f"no mirror directory (params `data_dir` unset, XSTILTS_DATA unset, {default} absent)",
        "*", "*", "*")


# -------------------------------------------------------------------------------- the registry
def _fill(template: str, lang: str) -> str:
    name = LANGUAGE_NAMES.get(lang, lang)
    return template.format(lang=lang, iso3=ISO3.get(lang, lang), Language=name, language=name.lower())


# `xstilts data prefetch` writes Hub splits into a mirror here, in the example schema (one JSON
# object per line). A prefetched split is the real data, so it takes precedence over the
# registry's mirror entry (and its substitute note) when a mirror has it.
PREFETCHED = "hub"


def prefetched_path(root: str | os.PathLike, task_name: str, split: str, lang: str) -> Path:
    return Path(root) / PREFETCHED / task_name / f"{split}-{lang}.jsonl"


def _prefetched(task_name: str, split: str, lang: str, data_dir) -> Path | None:
    try:
        path = prefetched_path(mirror_dir(data_dir), task_name, split, lang)
    except DataMissingError:
        return None
    return path if path.is_file() else None


def _has_placeholder(spec: dict) -> bool:
    values = [spec.get(k) for k in ("files", "name", "path", "id_prefix")]
    values += [v for p in spec.get("parts", []) for v in (p.get("name"), p.get("path"))]
    flat = []
    for v in values:
        flat += v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else [v]
    return any(isinstance(v, str) and "{" in v for v in flat) or isinstance(spec.get("files"), dict)


def split_languages(task_name: str, split: str, source: str) -> list[str] | None:
    """Languages a split of a source exists for (None: any language code)."""
    task = task_registry.get_task(task_name)
    spec = (task.get(source) or {}).get(split) or {}
    if spec.get("any_language"):
        return None
    if spec.get("languages"):
        return list(spec["languages"])
    if isinstance(spec.get("files"), dict):
        return list(spec["files"])
    if not _has_placeholder(spec):
        return ["en"]
    if source == "mirror" and task.get("mirror_languages"):
        return list(task["mirror_languages"])
    return list(task.get("languages") or ["en"])


def _split_spec(task_name: str, split: str, source: str, lang: str) -> dict:
    task = task_registry.get_task(task_name)
    entry = task.get(source)
    if entry is None:
        raise ValueError(f"Task {task_name!r} has no {source!r} entry in tasks.yaml.")
    if "unavailable" in entry:
        raise DataMissingError(f"the {source} source has no data for this task", task_name, split, lang,
                               entry["unavailable"])
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; splits are {', '.join(SPLITS)}.")
    if split not in entry:
        hint = f" (it is fine-tuned on the train split of {task['train_from']!r})" if "train_from" in task else ""
        raise ValueError(f"Task {task_name!r} has no {split!r} split in the {source} source{hint}; "
                         f"available: {', '.join(s for s in SPLITS if s in entry)}.")
    spec = entry[split]
    if "unavailable" in spec:
        raise DataMissingError(f"the {source} source has no usable {split} data", task_name, split, lang,
                               spec["unavailable"])
    allowed = split_languages(task_name, split, source)
    if allowed is not None and lang not in allowed:
        raise ValueError(f"Language {lang!r} is not available for {task_name}/{split} from the {source} source; "
                         f"choose one of: {', '.join(allowed)}.")
    return spec


def source_note(task_name: str, split: str, source: str, data_dir=None, lang: str = "en") -> str | None:
    """The substitute sentence for a task/split/source (None where the real data is used)."""
    if source == "mirror" and _prefetched(task_name, split, lang, data_dir):
        return None
    task = task_registry.get_task(task_name)
    entry = task.get(source) or {}
    if "unavailable" in entry:
        return f"unavailable: {entry['unavailable']}"
    spec = entry.get(split) or {}
    if "unavailable" in spec:
        return f"unavailable: {spec['unavailable']}"
    return spec.get("substitute")


def _sample(rows: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def _slice(rows: list, spec: dict, units: list | None = None) -> list:
    """`rows: [start, stop)` of the concatenated rows; with `rows_by: context` the range indexes the
    distinct passages (in order of first appearance) instead, so every question of a passage lands
    on the same side of a train/validation cut (`units`: each row's passage)."""
    if "rows" not in spec:
        return rows
    start, stop = spec["rows"]
    if spec.get("rows_by"):
        order: dict = {}
        for u in units:
            order.setdefault(u, len(order))
        return [r for r, u in zip(rows, units) if start <= order[u] < stop]
    return rows[start:stop]


def aligned_key(rel: str, lang: str, index: int) -> tuple[str, int]:
    """Which row of which parallel dataset a mirror row is: its file with the language code put back
    as `{lang}` (xnli/dev-en.tsv and xnli/dev-de.tsv -> xnli/dev-{lang}.tsv) and its line index."""
    return re.sub(rf"(?<=[-_.]){re.escape(lang)}(?=[-_.])", "{lang}", rel), index


def load_mirror_keyed(task_name: str, split: str, lang: str, *, data_dir=None, limit: int | None = None,
                      seed: int = 0) -> list[tuple[tuple[str, int], dict]]:
    """Mirror rows of a split with the aligned key of each (`aligned_key`): what `load_examples`
    returns, row for row, plus where each row came from (the data audit compares those keys)."""
    spec = _split_spec(task_name, split, "mirror", lang)
    files = _mirror_files(spec, "files", lang)
    reader = spec["reader"]
    if reader not in READERS:
        raise ValueError(f"tasks.yaml names unknown reader {reader!r} for {task_name}/{split}; "
                         f"known: {', '.join(sorted(READERS))}.")
    try:
        root = mirror_dir(data_dir)
    except DataMissingError as e:
        raise DataMissingError(e.what, task_name, split, lang) from None
    keyed: list = []
    for rel in files:
        path = root / _fill(rel, lang)
        if not path.is_file():
            raise DataMissingError(f"file {path} not found", task_name, split, lang)
        if path.stat().st_size == 0:
            raise _empty_file(path, task_name, split, lang)
        try:
            parsed = _read_cached(reader, str(path), lang, path.stat().st_mtime)
        except DataMissingError as e:  # a reader refusing an unlabelled file: name the task
            raise DataMissingError(e.what, task_name, split, lang, e.how) from None
        except DataFormatError:
            raise
        except (ValueError, KeyError, IndexError, TypeError, EOFError, OSError) as err:  # any other reader
            raise _bad_line(path, None, f"cannot be read as {reader} ({type(err).__name__}: {err})") from None
        # shallow copies: callers may add keys
        keyed.extend((aligned_key(_fill(rel, lang), lang, i), dict(r)) for i, r in enumerate(parsed))
    keyed = _slice(keyed, spec, [r.get(spec.get("rows_by") or "context") for _, r in keyed])
    if spec.get("disjoint_from"):
        keyed = _drop_shared(keyed, spec["disjoint_from"], task_name, split, lang, spec, data_dir)
    return _sample(keyed, limit, seed)


def _drop_shared(keyed: list, others: list[dict], task_name: str, split: str, lang: str, spec: dict,
                 data_dir) -> list:
    """`disjoint_from: [{task, split, lang}]`: drop rows whose text occurs in any of those splits
    (normalised as the data audit normalises), e.g. EWT sentences that XTREME-POS also holds. `lang`
    may be "{lang}" (the row's own language); a split that does not exist in that language is skipped.
    In a parallel dataset the English rows decide: a translation of a dropped row is dropped too."""
    if spec.get("parallel") and lang != "en":
        english = {k for k, _ in load_mirror_keyed(task_name, split, "en", data_dir=data_dir)}
        return [(k, r) for k, r in keyed if k in english]
    from xstilts import audit  # the audit owns text normalisation

    fmt = task_registry.get_task(task_name)["format"]
    taken = _texts_of(tuple((o["task"], o["split"], o.get("lang", "en").replace("{lang}", lang)) for o in others),
                      None if data_dir is None else str(data_dir))
    return [(k, r) for k, r in keyed if not set(audit.text_units(fmt, r)) & taken]


@functools.lru_cache(maxsize=64)
def _texts_of(splits: tuple[tuple[str, str, str], ...], data_dir: str | None) -> frozenset:
    """Normalised text units of whole mirror splits (skipping a language a split does not have)."""
    from xstilts import audit

    taken: set = set()
    for task, split, lang in splits:
        available = split_languages(task, split, "mirror")
        if available is not None and lang not in available:
            continue
        fmt = task_registry.get_task(task)["format"]
        for row in load_examples(task, split, lang, source="mirror", data_dir=data_dir):
            taken.update(audit.text_units(fmt, row))
    return frozenset(taken)


def _load_hub(task_name: str, split: str, lang: str, spec: dict, limit, seed, hub_cache) -> list[dict]:
    import datasets  # heavy import, only for this source

    converter = spec["converter"]
    if converter not in HUB_CONVERTERS:
        raise ValueError(f"tasks.yaml names unknown converter {converter!r} for {task_name}/{split}; "
                         f"known: {', '.join(sorted(HUB_CONVERTERS))}.")
    parts = spec.get("parts") or [spec]
    streaming = bool(spec.get("streaming"))
    rows: list[dict] = []
    for part in parts:
        kwargs = {"split": part["split"], "cache_dir": hub_cache, "streaming": streaming}
        name = part.get("name")
        path = _fill(part["path"], lang)
        try:
            ds = datasets.load_dataset(path, _fill(name, lang) if name else None, **kwargs)
        except (ConnectionError, OSError) as e:  # no network and nothing cached
            raise DataMissingError(f"Hub dataset {path} ({name}, split {kwargs['split']}) could not be loaded: {e}",
                                   task_name, split, lang,
                                   "Connect to the internet (or set HF_DATASETS_OFFLINE=1 with a filled cache "
                                   "passed as `hub_cache`), or use `source: mirror`.") from e
        if streaming:
            n = limit or spec.get("max_rows")
            ds = ds.shuffle(seed=seed, buffer_size=10_000)
            if n:
                ds = ds.take(n)
        rows.extend(HUB_CONVERTERS[converter](ds, lang))
    if spec.get("id_prefix"):
        prefix = _fill(spec["id_prefix"], lang)
        rows = [r for r in rows if r["id"].startswith(prefix)]
    return rows


def load_examples(task_name: str, split: str, lang: str, *, source: str, data_dir=None,
                  limit: int | None = None, seed: int = 0, hub_cache: str | None = None) -> list[dict]:
    """Examples of `task_name` / `split` / `lang` from `source` ("smoke", "mirror" or "hub").

    `limit` keeps a seeded random sample of that many rows (file order preserved). Raises ValueError for
    an unknown task, split or language, DataMissingError when the data is not where the registry says.
    """
    task_registry.get_task(task_name)  # ValueError listing the known tasks
    if source not in SOURCES:
        raise ValueError(f"Unknown source {source!r}; sources are {', '.join(SOURCES)}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; splits are {', '.join(SPLITS)}.")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if source == "smoke":
        from xstilts import smoke  # written separately; imported lazily
        rows = smoke.generate(task_name, split, lang, seed=seed)
        return _sample(list(rows), limit, seed)
    if source == "mirror" and (path := _prefetched(task_name, split, lang, data_dir)):
        return _sample([dict(r) for r in _read_cached("examples_jsonl", str(path), lang, path.stat().st_mtime)],
                       limit, seed)
    if source == "mirror":
        return [row for _, row in load_mirror_keyed(task_name, split, lang, data_dir=data_dir, limit=limit, seed=seed)]
    spec = _split_spec(task_name, split, source, lang)
    rows = _load_hub(task_name, split, lang, spec, limit, seed, hub_cache)
    return _sample(rows, limit, seed)


def _mirror_files(spec: dict, key: str, lang: str) -> list[str]:
    """A mirror split's `files` / `needs`: one path, a list, or a per-language mapping of either."""
    value = spec.get(key) or []
    value = value[lang] if isinstance(value, dict) else value
    return [value] if isinstance(value, str) else list(value)


def check_available(task_name: str, split: str, lang: str, *, source: str, data_dir=None) -> None:
    """Raise (ValueError / DataMissingError) now if `load_examples` would fail for want of data.

    Cheap: checks the registry and that the mirror files exist, without parsing them; the Hub and
    the smoke generator cannot be checked without loading, so they only get the registry checks."""
    task_registry.get_task(task_name)
    if source == "smoke" or (source == "mirror" and _prefetched(task_name, split, lang, data_dir)):
        return
    spec = _split_spec(task_name, split, source, lang)
    if source != "mirror":
        return
    try:
        root = mirror_dir(data_dir)
    except DataMissingError as e:
        raise DataMissingError(e.what, task_name, split, lang) from None
    # `needs`: companions a reader opens itself (Tatoeba's English side)
    for rel in _mirror_files(spec, "files", lang) + _mirror_files(spec, "needs", lang):
        path = root / _fill(rel, lang)
        if not path.is_file():
            raise DataMissingError(f"file {path} not found", task_name, split, lang)
        if path.stat().st_size == 0:
            raise _empty_file(path, task_name, split, lang)


def needed_splits(cfg: dict) -> list[tuple[str, str, str]]:
    """Every (task, split, language) a configuration's runs read (phases.reads), each once, in order."""
    return list(dict.fromkeys((r.task, r.split, r.lang) for r in phases.reads(cfg)))


def check_run_inputs(cfg: dict) -> None:
    """Fail before any compute when data a run needs is missing, saying which and how to get it."""
    for task, split, lang in needed_splits(cfg):
        check_available(task, split, lang, source=cfg["source"], data_dir=cfg["data_dir"] or None)
