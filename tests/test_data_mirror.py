"""The local data mirror read through the registry: every target task's evaluation data in every
mirror language, counts against ../shared/data/README.md, label sets, QA answer spans.

Needs the mirror (../shared/data or $XSTILTS_DATA); skipped without it. Parsed files are cached by
`data._read_cached`, so each file is parsed once per session.
"""
from __future__ import annotations

import pytest

from xstilts import data, tasks

try:
    MIRROR = data.mirror_dir()
    HAVE_MIRROR = MIRROR.is_dir() and (MIRROR / "xnli").is_dir()
except data.DataMissingError:
    MIRROR, HAVE_MIRROR = None, False

pytestmark = [
    pytest.mark.mirror,
    pytest.mark.skipif(not HAVE_MIRROR, reason="local data mirror not found: set XSTILTS_DATA to a folder laid "
                                               "out like ../shared/data to run these tests"),
]

# Tatoeba (LASER) has fewer than 1000 pairs for some XTREME languages (as in XTREME's own tables).
TATOEBA_SHORT = {"jv": 205, "ka": 746, "kk": 575, "ml": 687, "sw": 390, "ta": 307, "te": 234, "th": 548}

# (task, split) -> rows per language expected from load_examples (README counts, after the registry's
# `rows` slices); None = no count published, just non-empty.
EXPECTED = {
    ("xnli", "test"): 5010, ("xnli", "validation"): 2490 - 1992,
    # PAWS-X: rows 1200-1999 / 1000-1199 minus pairs sharing a sentence with the training rows 0-999
    ("pawsx", "test"): 469, ("pawsx", "validation"): 118,
    # SQuAD substitute dev: the questions on TyDiQA-en train's last 504 passages, minus 2 also asked in training
    ("xquad", "test"): 1190, ("xquad", "validation"): 511,
    ("xcopa", "test"): 500, ("xcopa", "validation"): 100,
    ("tatoeba", "test"): 1000,
    ("mlqa", "test"): None, ("mlqa", "validation"): 511,
    ("udpos", "test"): None, ("udpos", "validation"): None,
    ("panx", "test"): None, ("panx", "validation"): None,
    ("tydiqa", "validation"): 511,
}

# whole files read directly with their reader: README counts
FILE_COUNTS = (
    [(f"xnli/test-{l}.tsv", "xnli_tsv", 5010) for l in tasks.get_task("xnli")["languages"]]
    + [(f"xnli/dev-{l}.tsv", "xnli_tsv", 2490) for l in tasks.get_task("xnli")["languages"]]
    + [(f"xcopa/test.{l}.jsonl", "copa_jsonl", 500) for l in tasks.get_task("xcopa")["languages"]]
    + [(f"xcopa/val.{l}.jsonl", "copa_jsonl", 100) for l in tasks.get_task("xcopa")["languages"]]
    + [(f"pawsx/dev-{l}.tsv", "pawsx_tsv", 2000) for l in tasks.get_task("pawsx")["languages"]]
    + [(f"xquad/xquad.{l}.json", "squad_json", 1190) for l in tasks.get_task("xquad")["languages"]]
    + [("pawsx/labeled/test-de.tsv", "pawsx_labeled_tsv", 2000),
       ("pawsx/labeled/test-00000-of-00001.tsv", "pawsx_labeled_tsv", 2000),
       ("copa/train-en.jsonl", "copa_jsonl", 400), ("copa/val-en.jsonl", "copa_jsonl", 100),
       ("copa/test-en.jsonl", "copa_jsonl", 500),
       ("siqa/socialIQa_v1.4_dev.jsonl", "siqa_jsonl", 1954), ("siqa/socialIQa_v1.4_tst.jsonl", "siqa_jsonl", 2224),
       ("hellaswag/hellaswag_val_full.txt.bz2", "hellaswag_bz2", 10042),
       ("cosmosqa/valid.csv", "cosmosqa_csv", 2985),
       ("commonsense/commonsense_qa.jsonl", "commonsense_jsonl", 1221),
       ("commonsense/copa.jsonl", "commonsense_jsonl", 100),
       ("tydiqa/tydiqa.goldp.en.train.json", "squad_json", 3696),
       ("stsb/stsb-en-train.csv", "stsb_csv", 5749), ("stsb/stsb-en-dev.csv", "stsb_csv", 1500),
       ("stsb/stsb-en-test.csv", "stsb_csv", 1379),
       ("anli/ANLI_analysis_r1_dev.csv", "anli_csv", 1000), ("anli/ANLI_analysis_r2_dev.csv", "anli_csv", 1000),
       # README says 1200 (ANLI r3 dev); this annotated analysis copy holds 1198 of them
       ("anli/ANLI_analysis_r3_dev.csv", "anli_csv", 1198),
       ("panx/train-en.tsv", "word_tag_tsv", 20000), ("panx/dev-en.tsv", "word_tag_tsv", 10000),
       ("ud/en_ewt-ud-train.conllu", "conllu_pos", 12543), ("ud/en_ewt-ud-dev.conllu", "conllu_pos", 2002),
       ("ud/en_ewt-ud-test.conllu", "conllu_parse", 2077)]
)


def _eval_splits():
    out = []
    for name in tasks.task_names("target"):
        mirror = tasks.get_task(name).get("mirror") or {}
        for split in ("validation", "test"):
            if split in mirror and "unavailable" not in mirror[split] and "unavailable" not in mirror:
                out.append((name, split))
    return out


def _labels_ok(task: dict, rows: list[dict]) -> None:
    fmt = task["format"]
    labels = tasks.label_list(task["name"])
    if fmt == "classification":
        assert {r["label"] for r in rows} <= set(labels)
        assert all(r["text_a"] and isinstance(r["text_b"], str) for r in rows)
    elif fmt == "tagging":
        assert {t for r in rows for t in r["tags"]} <= set(labels)
        assert all(len(r["tokens"]) == len(r["tags"]) > 0 for r in rows)
    elif fmt == "multiple_choice":
        assert all(0 <= r["label"] < len(r["choices"]) for r in rows)
        assert len({len(r["choices"]) for r in rows}) == 1
    elif fmt == "regression":
        assert all(0.0 <= r["label"] <= 5.0 for r in rows)
    elif fmt == "retrieval":
        assert all(r["source"] and r["target"] for r in rows)
    elif fmt == "qa":
        _spans_ok(rows)
    elif fmt == "parsing":
        assert all(0 <= h <= len(r["tokens"]) for r in rows for h in r["heads"])


def _spans_ok(rows: list[dict]) -> None:
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        a = r["answers"]
        assert len(a["text"]) == len(a["answer_start"])
        for text, start in zip(a["text"], a["answer_start"]):
            assert r["context"][start:start + len(text)] == text, (r["id"], text, start)


@pytest.mark.parametrize("task_name,split", _eval_splits())
def test_target_eval_data_loads_in_every_mirror_language(task_name, split):
    task = tasks.get_task(task_name)
    langs = data.split_languages(task_name, split, "mirror")
    assert langs, (task_name, split)
    for lang in langs:
        rows = data.load_examples(task_name, split, lang, source="mirror")
        expected = EXPECTED.get((task_name, split))
        if task_name == "tatoeba":
            expected = TATOEBA_SHORT.get(lang, 1000)
        if expected is None:
            assert len(rows) > 0, (task_name, split, lang)
        else:
            assert len(rows) == expected, (task_name, split, lang, len(rows))
        _labels_ok(task, rows)


@pytest.mark.parametrize("task_name", [n for n in tasks.task_names() if tasks.get_task(n)["role"] != "target"])
def test_training_tasks_load_with_valid_labels(task_name):
    task = tasks.get_task(task_name)
    mirror = task["mirror"]
    if "unavailable" in mirror:
        with pytest.raises(data.DataMissingError):
            data.load_examples(task_name, "train", "en", source="mirror")
        return
    for split in ("train", "validation", "test"):
        if split not in mirror:
            continue
        lang = data.split_languages(task_name, split, "mirror")[0]
        rows = data.load_examples(task_name, split, lang, source="mirror")
        assert rows, (task_name, split)
        _labels_ok(task, rows)


@pytest.mark.parametrize("rel,reader,count", FILE_COUNTS, ids=[f[0] for f in FILE_COUNTS])
def test_mirror_file_counts_match_readme(rel, reader, count):
    rows = data._read_cached(reader, str(MIRROR / rel), "xx", (MIRROR / rel).stat().st_mtime)
    assert len(rows) == count


def test_tatoeba_pairs_per_language():
    for lang in tasks.get_task("tatoeba")["languages"]:
        rows = data.load_examples("tatoeba", "test", lang, source="mirror")
        assert len(rows) == TATOEBA_SHORT.get(lang, 1000), lang


def test_xnli_labels_are_the_three_nli_names():
    for lang in ("en", "de", "sw"):
        rows = data.load_examples("xnli", "test", lang, source="mirror")
        assert {r["label"] for r in rows} == {"entailment", "neutral", "contradiction"}


def test_pawsx_labels_are_strings_0_1():
    rows = data.load_examples("pawsx", "test", "ja", source="mirror")
    assert {r["label"] for r in rows} == {"0", "1"}


def test_qa_spans_match_context_everywhere():
    for task_name, split in [("xquad", "test"), ("mlqa", "test"), ("squad_v1", "train"), ("tydiqa", "validation")]:
        for lang in data.split_languages(task_name, split, "mirror"):
            rows = data.load_examples(task_name, split, lang, source="mirror")
            _spans_ok(rows)
            assert all(r["answers"]["text"] for r in rows)  # none of these sets has unanswerable questions


def test_row_slices_keep_training_and_evaluation_apart():
    def keys(task_name, split, lang="en"):
        return [(r["text_a"], r["text_b"]) for r in data.load_examples(task_name, split, lang, source="mirror")]

    assert not set(keys("mnli", "train")) & set(keys("xnli", "validation"))
    assert not set(keys("mnli", "train")) & set(keys("mnli", "validation"))
    # PAWS builds several pairs from one sentence: no sentence of the training rows is evaluated
    train_sentences = {s for pair in keys("pawsx", "train") for s in pair}
    assert not train_sentences & {s for pair in keys("pawsx", "test") + keys("pawsx", "validation") for s in pair}
    qa_train = data.load_examples("squad_v1", "train", "en", source="mirror")
    qa_val = data.load_examples("squad_v1", "validation", "en", source="mirror")
    assert len(qa_train) == 3183 and len(qa_val) == 511
    assert not {r["id"] for r in qa_train} & {r["id"] for r in qa_val}
    # split by passage: no validation question is asked on a training passage
    assert not {r["context"] for r in qa_train} & {r["context"] for r in qa_val}


def test_limit_is_a_deterministic_seeded_sample():
    full = data.load_examples("xnli", "test", "fr", source="mirror")
    a = data.load_examples("xnli", "test", "fr", source="mirror", limit=50, seed=1)
    b = data.load_examples("xnli", "test", "fr", source="mirror", limit=50, seed=1)
    c = data.load_examples("xnli", "test", "fr", source="mirror", limit=50, seed=2)
    assert a == b and a != c and len(a) == 50
    positions = [full.index(r) for r in a]
    assert positions == sorted(positions)  # file order kept


def test_rows_are_copies():
    rows = data.load_examples("xcopa", "validation", "et", source="mirror")
    rows[0]["label"] = 99
    assert data.load_examples("xcopa", "validation", "et", source="mirror")[0]["label"] != 99


def test_unlabelled_or_missing_sets_raise_data_missing():
    with pytest.raises(data.DataMissingError, match="blank"):
        data.load_examples("tydiqa", "test", "ar", source="mirror")
    with pytest.raises(data.DataMissingError, match="CCGbank"):
        data.load_examples("ccg", "train", "en", source="mirror")
    with pytest.raises(data.DataMissingError):
        data.READERS["pawsx_tsv"](MIRROR / "pawsx/test-en.tsv", "en")
    with pytest.raises(data.DataMissingError, match="blank"):
        data.READERS["squad_json"](MIRROR / "tydiqa/tydiqa.goldp.fi.dev.json", "fi")


def test_language_not_in_mirror_is_a_value_error():
    with pytest.raises(ValueError, match="choose one of"):
        data.load_examples("udpos", "test", "de", source="mirror")  # XTREME-POS de test is not in the mirror
    with pytest.raises(ValueError, match="choose one of"):
        data.load_examples("panx", "test", "th", source="mirror")


def test_mlm_text_is_raw_target_language_text():
    for lang in data.split_languages("mlm_text", "train", "mirror"):
        rows = data.load_examples("mlm_text", "train", lang, source="mirror")
        assert rows and all(r["text"].strip() == r["text"] and r["text"] for r in rows)
        assert len({r["text"] for r in rows}) == len(rows)
