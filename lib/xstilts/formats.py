"""The local mirror's file formats: one reader per format (`READERS`), each returning rows in the
example schema of docs/DEVELOPING.md, and the errors that name a missing or damaged file.

`data.py` decides which file of which task a reader gets (tasks.yaml); this module knows only how
a format is laid out, and says which file and line is wrong when one is not.
"""
from __future__ import annotations

import bz2
import csv
import functools
import json
import re
from pathlib import Path
from typing import Callable

NLI_LABELS = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradiction",
              "contradictory": "contradiction", "e": "entailment", "n": "neutral", "c": "contradiction"}


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
