"""Loading the examples of a task / split / language from a source: `smoke`, `mirror` or `hub`.

Everything task-specific lives in `tasks.yaml`: per source and split, which files (or which Hub
dataset) to read, with which reader (or converter), and which substitute note goes with it. This
module only knows file *formats* (`READERS`) and Hub *schemas* (`HUB_CONVERTERS`); it never
branches on a task's name. Every reader/converter returns rows in the example schema of
docs/DEVELOPING.md (labels as strings for classification/tagging, floats for regression).
"""
from __future__ import annotations

import bz2
import csv
import functools
import json
import os
import random
import re
from pathlib import Path
from typing import Callable

from xstilts import tasks as task_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("smoke", "mirror", "hub")
SPLITS = ("train", "validation", "test")

NLI_LABELS = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradiction",
              "contradictory": "contradiction", "e": "entailment", "n": "neutral", "c": "contradiction"}

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


class DataMissingError(FileNotFoundError):
    """A file (or a whole source) that a task/split/language needs is not there."""

    def __init__(self, what: str, task: str, split: str, lang: str, how: str | None = None):
        self.what, self.task, self.split, self.lang = what, task, split, lang
        self.how = how = how or ("Point the environment variable XSTILTS_DATA (or the params key `data_dir`) at a "
                      "mirror laid out like ../shared/data (see its README.md), or run with "
                      "`source: hub` on a machine with internet to fetch the data from the Hugging Face Hub.")
        super().__init__(f"Missing data for task {task!r}, split {split!r}, language {lang!r}: {what}. {how}")


class DataFormatError(ValueError):
    """A data file that is there but does not parse (truncated, damaged): the message names the
    file and, where there is one, the line."""


_RESTORE = "The file looks truncated or damaged: restore it from the mirror's source (see the mirror's README.md)."


def _bad_line(path: Path, lineno: int | None, problem: str) -> DataFormatError:
    where = f"{path}, line {lineno}" if lineno else str(path)
    return DataFormatError(f"{where}: {problem}. {_RESTORE}")


def _empty_file(path: Path, task: str, split: str, lang: str) -> DataMissingError:
    return DataMissingError(f"file {path} is empty (0 bytes)", task, split, lang,
                            "Restore it from the mirror's source (see the mirror's README.md).")


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


def _lines(path: Path) -> list[str]:
    """Lines split on "\n" only: str.splitlines() would also split inside sentences that contain
    U+2028, U+0085 or form feeds (they occur in XNLI and PAWS-X)."""
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        text = f.read()
    lines = [l[:-1] if l.endswith("\r") else l for l in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _numbered_blocks(path: Path) -> list[list[tuple[int, str]]]:
    """Blank-line-separated blocks of non-empty lines, each line with its 1-based number."""
    blocks, cur = [], []
    for lineno, line in enumerate(_lines(path), 1):
        if line.strip():
            cur.append((lineno, line))
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def _blocks(path: Path) -> list[list[str]]:
    """Blank-line-separated blocks of non-empty lines."""
    return [[line for _, line in block] for block in _numbered_blocks(path)]


def _json_lines(path: Path):
    """(line number, object) for every non-blank line of a jsonl file; a line that does not parse
    (a truncated last line) raises naming the file and the line."""
    for lineno, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise _bad_line(path, lineno, f"not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise _bad_line(path, lineno, "not a JSON object")
        yield lineno, row


def _fields(path: Path, lineno: int, build):
    """`build()` for one line, with a missing field or bad value reported at that line."""
    try:
        return build()
    except KeyError as err:
        raise _bad_line(path, lineno, f"field {err} is missing") from None
    except (ValueError, IndexError, TypeError, AttributeError) as err:
        raise _bad_line(path, lineno, f"unexpected value ({err})") from None


def read_word_tag_tsv(path: Path, lang: str) -> list[dict]:
    """XTREME POS/NER: `token<TAB>tag` per line, blank line between sentences."""
    rows = []
    for block in _blocks(path):
        tokens, tags = [], []
        for line in block:
            parts = line.split("\t")
            tokens.append(parts[0])
            tags.append(parts[-1] if len(parts) > 1 else "O")
        rows.append({"tokens": tokens, "tags": tags})
    return rows


def _conllu_sentences(path: Path):
    for block in _numbered_blocks(path):
        comments = [l for _, l in block if l.startswith("#")]
        words = []
        for lineno, line in block:
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) < 10:
                raise _bad_line(path, lineno, f"{len(cols)} tab-separated columns where CoNLL-U has 10")
            if "-" in cols[0] or "." in cols[0]:  # multiword-token ranges and empty nodes
                continue
            if not cols[6].lstrip("-").isdigit() and cols[6] != "_":
                raise _bad_line(path, lineno, f"head {cols[6]!r} is not a number")
            words.append(cols)
        yield comments, words


def read_conllu_pos(path: Path, lang: str) -> list[dict]:
    return [{"tokens": [w[1] for w in words], "tags": [w[3] for w in words]}
            for _, words in _conllu_sentences(path)]


def read_conllu_parse(path: Path, lang: str) -> list[dict]:
    return [{"tokens": [w[1] for w in words], "upos": [w[3] for w in words],
             "heads": [int(w[6]) for w in words], "deprels": [w[7] for w in words]}
            for _, words in _conllu_sentences(path)]


def read_xnli_tsv(path: Path, lang: str) -> list[dict]:
    rows = []
    for lineno, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            raise _bad_line(path, lineno, f"{len(cols)} tab-separated column(s) where premise, hypothesis "
                                          f"and label are expected")
        a, b, label = cols[:3]
        if label.strip().lower() in ("label", "gold_label"):  # a header line
            continue
        if label.strip().lower() not in NLI_LABELS:
            raise _bad_line(path, lineno, f"unknown NLI label {label.strip()!r}")
        rows.append({"text_a": a, "text_b": b, "label": NLI_LABELS[label.strip().lower()]})
    return rows


def read_pawsx_tsv(path: Path, lang: str) -> list[dict]:
    """PAWS-X: `s1<TAB>s2<TAB>label`, or the labelled variant with header `id sentence1 sentence2 label`.

    A file without labels (PAWS-X test as XTREME ships it) raises: it cannot be scored."""
    lines = [l for l in _lines(path) if l.strip()]
    header = lines[0].split("\t") if lines else []
    if header[:1] == ["id"] and "label" in header:
        i1, i2, il = header.index("sentence1"), header.index("sentence2"), header.index("label")
        lines = lines[1:]
    else:
        i1, i2, il = 0, 1, 2
    rows = []
    for i, line in enumerate(lines):
        cols = line.split("\t")
        if len(cols) <= il and i == 0:
            raise DataMissingError(f"{path} has no label column (unlabelled test file)", "?", "?", lang,
                                   "Use a labelled file (e.g. PAWS-X dev) or `source: hub`.")
        rows.append(_fields(path, i + 1 + (header[:1] == ["id"]), lambda: {
            "text_a": cols[i1], "text_b": cols[i2], "label": str(int(float(cols[il])))}))
    return rows


def read_squad_json(path: Path, lang: str) -> list[dict]:
    """SQuAD-format json (SQuAD, XQuAD, MLQA, TyDiQA-GoldP) -> qa rows (repeated ids get a "#k" suffix).

    Refuses a file whose answers are all blank (labels stripped for a hidden test set)."""
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)["data"]
        except json.JSONDecodeError as err:
            raise _bad_line(path, err.lineno, f"not valid JSON ({err.msg}, column {err.colno})") from None
        except (KeyError, TypeError):
            raise _bad_line(path, None, "no top-level `data` list (not SQuAD format)") from None
    rows, blank, seen = [], 0, {}
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answers = [a for a in qa.get("answers", []) if a.get("text")]
                if qa.get("answers") and not answers:
                    blank += 1
                qid = str(qa["id"])
                seen[qid] = seen.get(qid, 0) + 1
                if seen[qid] > 1:  # XTREME's TyDiQA-en train reuses ids: keep predictions keyed uniquely
                    qid = f"{qid}#{seen[qid] - 1}"
                rows.append({"id": qid, "context": para["context"], "question": qa["question"],
                             "answers": {"text": [a["text"] for a in answers],
                                         "answer_start": [int(a["answer_start"]) for a in answers]}})
    if rows and blank == len(rows):
        raise DataMissingError(f"{path}: every answer is blank (labels removed)", "?", "?", lang,
                               "This copy cannot be scored; use the labelled release or `source: hub`.")
    return rows


def _copa_row(premise: str, choice1: str, choice2: str, question: str, label) -> dict:
    # question stays the COPA relation word ("cause" / "effect"); encode.py decides how to render it
    return {"context": premise, "question": question, "choices": [choice1, choice2], "label": int(label)}


def read_copa_jsonl(path: Path, lang: str) -> list[dict]:
    return [_fields(path, n, lambda: _copa_row(r["premise"], r["choice1"], r["choice2"], r["question"], r["label"]))
            for n, r in _json_lines(path)]


def read_siqa_jsonl(path: Path, lang: str) -> list[dict]:
    return [_fields(path, n, lambda: {"context": r["context"], "question": r["question"],
                                      "choices": [r["answerA"], r["answerB"], r["answerC"]],
                                      "label": "ABC".index(r["correct"].strip())})
            for n, r in _json_lines(path)]


_CHOICE_LINE = re.compile(r"^([A-Z])\.\s?(.*)$")


def read_commonsense_jsonl(path: Path, lang: str) -> list[dict]:
    """Eval-harness jsonl (`query`, `choices`, `gold`). When `choices` are letters, the question and the
    lettered options are parsed out of `query` ("Context: ..\\nQuestion: ..\\nChoices:\\nA. ..\\nAnswer:")."""
    return [_fields(path, n, lambda: _commonsense_row(r)) for n, r in _json_lines(path)]


def _commonsense_row(r: dict) -> dict:
    query, choices = r["query"], list(r["choices"])
    if all(re.fullmatch(r"[A-Z]", c) for c in choices):
        head, _, opts = query.partition("\nChoices:\n")
        options = {}
        for opt in opts.split("\n"):
            m = _CHOICE_LINE.match(opt.strip())
            if m:
                options[m.group(1)] = m.group(2).strip()
        choices = [options[c] for c in choices]
        context = ""
        if head.startswith("Context:"):
            context, _, head = head[len("Context:"):].partition("\nQuestion:")
            head = "Question:" + head
        question = head[len("Question:"):] if head.startswith("Question:") else head
        return {"context": context.strip(), "question": question.strip(), "choices": choices,
                "label": int(r["gold"])}
    return {"context": query.strip(), "question": "", "choices": choices, "label": int(r["gold"])}


def read_hellaswag_bz2(path: Path, lang: str) -> list[dict]:
    """6 lines per item: context, gold index (0-3), four endings."""
    lines = _lines(path)
    if len(lines) % 6:
        lines = lines[: len(lines) - len(lines) % 6]
    return [{"context": lines[i], "question": "", "choices": lines[i + 2:i + 6], "label": int(lines[i + 1])}
            for i in range(0, len(lines), 6)]


def read_cosmosqa_csv(path: Path, lang: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return [{"context": r["context"], "question": r["question"],
                 "choices": [r[f"answer{i}"] for i in range(4)], "label": int(r["label"])}
                for r in csv.DictReader(f)]


def read_anli_csv(path: Path, lang: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return [{"text_a": r["context"], "text_b": r["statement"], "label": NLI_LABELS[r["gold_label"].strip()]}
                for r in csv.DictReader(f)]


def read_stsb_csv(path: Path, lang: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        return [_fields(path, reader.line_num, lambda: {"text_a": r[0], "text_b": r[1], "label": float(r[2])})
                for r in reader if r]


def read_tatoeba(path: Path, lang: str) -> list[dict]:
    """`tatoeba.xxx-eng.xxx` (given) and `tatoeba.xxx-eng.eng`, line i aligned: source = xxx, target = eng."""
    eng = path.with_suffix(".eng")
    if not eng.is_file():
        raise DataMissingError(f"{eng} (the English side of {path.name})", "tatoeba", "test", lang)
    src, tgt = _lines(path), _lines(eng)
    if len(src) != len(tgt):
        raise ValueError(f"{path} and {eng} are not aligned ({len(src)} vs {len(tgt)} lines)")
    return [{"source": s, "target": t} for s, t in zip(src, tgt)]


def read_text_lines(path: Path, lang: str) -> list[dict]:
    return [{"text": l.strip()} for l in _lines(path) if l.strip()]


def read_mlm_text(path: Path, lang: str) -> list[dict]:
    """Raw sentences for MLM from whatever the file is: CoNLL-U (`# text =`, else the forms joined),
    a sentence-pair csv (both sentences, deduplicated), or plain text lines."""
    name = path.name
    if name.endswith(".conllu"):
        out = []
        for comments, words in _conllu_sentences(path):
            text = next((c.split("=", 1)[1].strip() for c in comments if c.startswith("# text")), None)
            out.append(text if text else " ".join(w[1] for w in words))
    elif name.endswith(".csv"):
        out = [s for r in read_stsb_csv(path, lang) for s in (r["text_a"], r["text_b"])]
    else:
        out = [r["text"] for r in read_text_lines(path, lang)]
    seen, rows = set(), []
    for s in out:
        if s and s not in seen:
            seen.add(s)
            rows.append({"text": s})
    return rows


def read_examples_jsonl(path: Path, lang: str) -> list[dict]:
    """Rows already in the example schema, one JSON object per line (prefetched Hub splits)."""
    return [json.loads(line) for line in _lines(path) if line.strip()]


READERS: dict[str, Callable[[Path, str], list[dict]]] = {
    "word_tag_tsv": read_word_tag_tsv,
    "conllu_pos": read_conllu_pos,
    "conllu_parse": read_conllu_parse,
    "xnli_tsv": read_xnli_tsv,
    "pawsx_tsv": read_pawsx_tsv,
    "pawsx_labeled_tsv": read_pawsx_tsv,  # same function: it detects the `id sentence1 sentence2 label` header
    "squad_json": read_squad_json,
    "copa_jsonl": read_copa_jsonl,
    "xcopa_jsonl": read_copa_jsonl,
    "siqa_jsonl": read_siqa_jsonl,
    "commonsense_jsonl": read_commonsense_jsonl,
    "hellaswag_bz2": read_hellaswag_bz2,
    "cosmosqa_csv": read_cosmosqa_csv,
    "anli_csv": read_anli_csv,
    "stsb_csv": read_stsb_csv,
    "tatoeba": read_tatoeba,
    "text_lines": read_text_lines,
    "mlm_text": read_mlm_text,
    "examples_jsonl": read_examples_jsonl,
}


@functools.lru_cache(maxsize=256)
def _read_cached(reader: str, path: str, lang: str, mtime: float) -> tuple[dict, ...]:
    return tuple(READERS[reader](Path(path), lang))


# ---------------------------------------------------------------------------------------- hub
def _label_names(ds, column: str) -> list[str] | None:
    feature = getattr(ds, "features", None) and ds.features.get(column)
    inner = getattr(feature, "feature", feature)  # Sequence(ClassLabel) -> ClassLabel
    return list(inner.names) if hasattr(inner, "names") else None


def _as_name(value, names: list[str] | None) -> str:
    if names is not None and isinstance(value, int):
        return names[value]
    return str(value)


def _first(row: dict, *columns: str):
    for c in columns:
        if c in row:
            return row[c]
    raise KeyError(f"none of the columns {columns} in {sorted(row)}")


def hub_nli(ds, lang: str) -> list[dict]:
    """MNLI / SNLI / ANLI / XNLI (ClassLabel 0 entailment, 1 neutral, 2 contradiction); drops label -1."""
    names = _label_names(ds, "label") or ["entailment", "neutral", "contradiction"]
    rows = []
    for r in ds:
        label = r["label"]
        if isinstance(label, int) and label < 0:
            continue
        rows.append({"text_a": _first(r, "premise", "sentence1"), "text_b": _first(r, "hypothesis", "sentence2"),
                     "label": NLI_LABELS[_as_name(label, names).strip().lower()]})
    return rows


def hub_paraphrase(ds, lang: str) -> list[dict]:
    """PAWS / PAWS-X: label "0" / "1" (PAWS-X in google/xtreme stores it as a string)."""
    return [{"text_a": r["sentence1"], "text_b": r["sentence2"], "label": str(int(r["label"]))}
            for r in ds if str(r["label"]).strip() not in ("", "-1")]


def hub_qqp(ds, lang: str) -> list[dict]:
    names = _label_names(ds, "label") or ["not_duplicate", "duplicate"]
    return [{"text_a": r["question1"], "text_b": r["question2"], "label": _as_name(r["label"], names)}
            for r in ds if r["label"] >= 0]


def hub_stsb(ds, lang: str) -> list[dict]:
    return [{"text_a": r["sentence1"], "text_b": r["sentence2"],
             "label": float(_first(r, "similarity_score", "label", "score"))}
            for r in ds if float(_first(r, "similarity_score", "label", "score")) >= 0]


def hub_squad(ds, lang: str) -> list[dict]:
    rows = []
    for r in ds:
        answers = r["answers"]
        if isinstance(answers, list):  # list-of-dicts layout
            answers = {"text": [a["text"] for a in answers], "answer_start": [a["answer_start"] for a in answers]}
        pairs = [(t, int(s)) for t, s in zip(answers["text"], answers["answer_start"]) if t]
        rows.append({"id": str(r["id"]), "context": r["context"], "question": r["question"],
                     "answers": {"text": [t for t, _ in pairs], "answer_start": [s for _, s in pairs]}})
    return rows


def hub_xtreme_tagging(ds, lang: str) -> list[dict]:
    """google/xtreme udpos.* / PAN-X.*: tokens + pos_tags / ner_tags (ClassLabel or strings)."""
    columns = list(ds.features) if getattr(ds, "features", None) else []
    tag_col = next(c for c in ("pos_tags", "ner_tags", "ner", "tags") if c in columns)
    names = _label_names(ds, tag_col)
    return [{"tokens": list(_first(r, "tokens", "words")), "tags": [_as_name(t, names) for t in r[tag_col]]}
            for r in ds]


def _ud_names(ds):
    return _label_names(ds, "upos")


def hub_ud_pos(ds, lang: str) -> list[dict]:
    names, rows = _ud_names(ds), []
    for r in ds:
        keep = [i for i, h in enumerate(r["head"]) if h not in ("None", None)]  # multiword-token lines
        rows.append({"tokens": [r["tokens"][i] for i in keep], "tags": [_as_name(r["upos"][i], names) for i in keep]})
    return rows


def hub_ud_parse(ds, lang: str) -> list[dict]:
    names, rows = _ud_names(ds), []
    for r in ds:
        keep = [i for i, h in enumerate(r["head"]) if h not in ("None", None)]
        rows.append({"tokens": [r["tokens"][i] for i in keep], "upos": [_as_name(r["upos"][i], names) for i in keep],
                     "heads": [int(r["head"][i]) for i in keep], "deprels": [r["deprel"][i] for i in keep]})
    return rows


def hub_hellaswag(ds, lang: str) -> list[dict]:
    # the mirror's text copy writes the context as "<activity label>: <ctx>"; do the same
    return [{"context": f"{r['activity_label']}: {r['ctx']}" if r.get("activity_label") else r["ctx"],
             "question": "", "choices": list(r["endings"]), "label": int(r["label"])}
            for r in ds if str(r["label"]).strip() != ""]


def hub_cosmosqa(ds, lang: str) -> list[dict]:
    return [{"context": r["context"], "question": r["question"], "choices": [r[f"answer{i}"] for i in range(4)],
             "label": int(r["label"])} for r in ds if int(r["label"]) >= 0]


def hub_commonsenseqa(ds, lang: str) -> list[dict]:
    rows = []
    for r in ds:
        if not r["answerKey"]:
            continue  # unlabelled test
        labels = list(r["choices"]["label"])
        rows.append({"context": "", "question": r["question"], "choices": list(r["choices"]["text"]),
                     "label": labels.index(r["answerKey"])})
    return rows


def hub_siqa(ds, lang: str) -> list[dict]:
    # allenai/social_i_qa: label "1" / "2" / "3"
    return [{"context": r["context"], "question": r["question"], "choices": [r["answerA"], r["answerB"], r["answerC"]],
             "label": int(r["label"]) - 1} for r in ds]


def hub_copa(ds, lang: str) -> list[dict]:
    return [_copa_row(r["premise"], r["choice1"], r["choice2"], r["question"], r["label"])
            for r in ds if int(r["label"]) >= 0]


def hub_bitext(ds, lang: str) -> list[dict]:
    """google/xtreme tatoeba.* / bucc18.*: source_sentence (the non-English side), target_sentence (English)."""
    return [{"source": r["source_sentence"].strip(), "target": r["target_sentence"].strip()} for r in ds]


def hub_text(ds, lang: str) -> list[dict]:
    return [{"text": r["text"].strip()} for r in ds if r["text"].strip()]


HUB_CONVERTERS: dict[str, Callable] = {
    "nli": hub_nli,
    "paraphrase": hub_paraphrase,
    "qqp": hub_qqp,
    "stsb": hub_stsb,
    "squad": hub_squad,
    "xtreme_tagging": hub_xtreme_tagging,
    "xtreme_udpos": hub_xtreme_tagging,
    "xtreme_panx": hub_xtreme_tagging,
    "ud_pos": hub_ud_pos,
    "ud_parse": hub_ud_parse,
    "hellaswag": hub_hellaswag,
    "cosmosqa": hub_cosmosqa,
    "commonsenseqa": hub_commonsenseqa,
    "siqa": hub_siqa,
    "copa": hub_copa,
    "bitext": hub_bitext,
    "text": hub_text,
}


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


def target_languages(cfg: dict) -> list[str]:
    """The languages a run evaluates its target task in (all of the scale's, unless narrowed)."""
    return cfg["target_languages"] or task_registry.languages(cfg["target_task"], cfg["scale"])


def needed_splits(cfg: dict) -> list[tuple[str, str, str]]:
    """Every (task, split, language) a run reads, in the order it reads them."""
    needed = [(name, split, lang) for name in cfg["intermediate_tasks"] for lang in cfg["intermediate_languages"]
              for split in ("train", "validation") if split == "train" or lang == "en"]
    target = cfg["target_task"]
    if task_registry.get_task(target)["format"] != "retrieval":
        source_task = task_registry.train_task(target)
        needed += [(source_task, "train", "en"), (source_task, "validation", "en")]
    needed += [(target, "test", lang) for lang in target_languages(cfg)]
    if cfg["mlm_steps"] > 0:
        needed += [("mlm_text", "train", lang)
                   for lang in cfg["mlm_languages"] or task_registry.languages("mlm_text", cfg["scale"])]
    return needed


def check_run_inputs(cfg: dict) -> None:
    """Fail before any compute when data a run needs is missing, saying which and how to get it."""
    for task, split, lang in needed_splits(cfg):
        check_available(task, split, lang, source=cfg["source"], data_dir=cfg["data_dir"] or None)
