"""Hub rows -> the example schema: one converter per Hub dataset *schema* (`HUB_CONVERTERS`), named
by tasks.yaml's `converter:`; tests/test_hub_schemas.py checks each against fixture rows built from
the dataset's documented features.
"""
from __future__ import annotations

from typing import Callable

from xstilts.formats import NLI_LABELS, _copa_row

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
