"""The synthetic smoke benchmark (xstilts.smoke): schema, determinism, parallelism, scripts,
label balance and learnability. Every task with a ``smoke:`` entry in tasks.yaml is covered."""

from __future__ import annotations

import collections
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from xstilts import smoke

REGISTRY = yaml.safe_load(Path(smoke.__file__).with_name("tasks.yaml").read_text(encoding="utf-8"))
SMOKE_TASKS = sorted(t for t, e in REGISTRY.items() if e.get("smoke"))
LANGS = smoke.LANGUAGES
CYRILLIC = re.compile("[\u0400-\u04ff]")
KANA = re.compile("[\u30a0-\u30ff]")
FORMATS = {"classification", "regression", "multiple_choice", "tagging", "parsing", "qa", "retrieval", "mlm"}


def fmt(task: str) -> str:
    return REGISTRY[task]["format"]


def options(task: str) -> dict:
    return REGISTRY[task]["smoke"].get("options") or {}


def lang_text(task: str, row: dict) -> str:
    """The text of a row that is in the row's language (for retrieval: the source side)."""
    f = fmt(task)
    if f in ("classification", "regression"):
        return row["text_a"] + " " + row["text_b"]
    if f == "multiple_choice":
        return " ".join([row["context"], row["question"], *row["choices"]])
    if f in ("tagging", "parsing"):
        return " ".join(row["tokens"])
    if f == "qa":
        return row["context"] + " " + row["question"]
    if f == "retrieval":
        return row["source"]
    return row["text"]


# ------------------------------------------------------------------------------ registry / API
def test_every_smoke_task_has_a_known_generator_and_format():
    assert len(SMOKE_TASKS) >= 20
    for t in SMOKE_TASKS:
        assert REGISTRY[t]["smoke"]["generator"] in smoke.GENERATORS, t
        assert fmt(t) in FORMATS, t


def test_languages_and_features():
    assert smoke.LANGUAGES == ["en", "es", "de", "ru", "ja"]
    feats = smoke.LANGUAGE_FEATURES
    assert set(feats) == set(LANGS)
    assert {lang: f["script"] for lang, f in feats.items()} == {
        "en": "Latn", "es": "Latn", "de": "Latn", "ru": "Cyrl", "ja": "Kana"}
    assert {lang: f["word_order"] for lang, f in feats.items()} == {
        "en": "SVO", "es": "SVO", "de": "SOV", "ru": "SVO", "ja": "SOV"}
    ov = {lang: f["lexical_overlap_with_en"] for lang, f in feats.items()}
    assert all(0.0 <= v <= 1.0 for v in ov.values())
    assert ov["en"] == 1.0
    assert ov["es"] > ov["de"] > ov["ru"] > 0.0  # digits and Latin-script organisations are shared
    assert ov["de"] > ov["ja"] > 0.0
    assert max(ov["ru"], ov["ja"]) < 0.3


def test_open_class_forms_are_unambiguous_within_each_language():
    """Distinct concepts never share a surface form (labels stay functions of the tokens)."""
    for lang in LANGS:
        lex = smoke._LEX[lang]
        owner: dict = {}
        concepts = [(("noun", i), set(forms)) for i, forms in enumerate(lex["noun"])]
        concepts += [(("adj", i), {w}) for i, w in enumerate(lex["adj"])]
        concepts += [(("adv", i), {w}) for i, w in enumerate(lex["adv"])]
        concepts += [((k, i), set(forms.values())) for k in ("tv", "iv") for i, forms in enumerate(lex[k])]
        for concept, forms in concepts:
            for w in forms:
                assert owner.setdefault(w, concept) == concept, (lang, w, owner[w], concept)
        function = {lex["neg"], lex["fut"], *(lex["det"] or ()), *lex["prep"].values(),
                    *(lex["case"] or {}).values(), *(lex["do"] or {}).values()} - {None}
        assert not function & set(owner), (lang, function & set(owner))


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        smoke.generate("mnli", "test", "xx")
    with pytest.raises(ValueError):
        smoke.generate("mnli", "dev", "en")
    with pytest.raises(KeyError):
        smoke.generate("no_such_task", "test", "en")


def test_default_sizes_and_n_override():
    assert smoke.SPLIT_SIZES == {"train": 600, "validation": 100, "test": 200}
    for split, size in smoke.SPLIT_SIZES.items():
        assert len(smoke.generate("mnli", split, "en")) == size
    assert len(smoke.generate("mnli", "train", "en", n=7)) == 7
    assert len(smoke.generate("tatoeba", "test", "de")) == 200
    bucc = smoke.generate("bucc", "test", "de", n=50)
    assert sum(1 for r in bucc if r["source"] and r["target"]) == 50
    assert len(bucc) == 100  # distractors: 1.0 -> as many one-sided rows as pairs


# ------------------------------------------------------------------------------ schema
def check_row(task: str, row: dict) -> None:
    f = fmt(task)
    labels = REGISTRY[task].get("labels")
    if f == "classification":
        assert set(row) == {"text_a", "text_b", "label"}
        assert isinstance(row["text_a"], str) and row["text_a"] and isinstance(row["text_b"], str)
        assert isinstance(row["label"], str) and row["label"] in labels
    elif f == "regression":
        assert set(row) == {"text_a", "text_b", "label"}
        assert row["text_a"] and row["text_b"]
        assert isinstance(row["label"], float) and 0.0 <= row["label"] <= 5.0
    elif f == "multiple_choice":
        assert set(row) == {"context", "question", "choices", "label"}
        assert isinstance(row["context"], str) and row["context"] and isinstance(row["question"], str)
        assert (row["question"] != "") == bool(options(task).get("with_question", False))
        assert isinstance(row["choices"], list) and len(row["choices"]) == options(task)["n_choices"]
        assert all(isinstance(c, str) and c for c in row["choices"])
        assert len(set(row["choices"])) == len(row["choices"])
        assert isinstance(row["label"], int) and 0 <= row["label"] < len(row["choices"])
    elif f == "tagging":
        assert set(row) == {"tokens", "tags"}
        assert row["tokens"] and len(row["tokens"]) == len(row["tags"])
        assert all(isinstance(t, str) and t and " " not in t for t in row["tokens"])
        allowed = set(labels) if labels else set(smoke.SUPERTAGS)
        assert set(row["tags"]) <= allowed, set(row["tags"]) - allowed
        if labels and labels[0] == "O":  # BIO well-formedness
            for prev, tag in zip(["O"] + row["tags"], row["tags"]):
                if tag.startswith("I-"):
                    assert prev[2:] == tag[2:], row
    elif f == "parsing":
        assert set(row) == {"tokens", "upos", "heads", "deprels"}
        n = len(row["tokens"])
        assert n and len(row["upos"]) == len(row["heads"]) == len(row["deprels"]) == n
        assert set(row["upos"]) <= set(REGISTRY["ud_pos"]["labels"])
        assert set(row["deprels"]) <= set(smoke.DEPRELS)
        assert all(isinstance(h, int) and 0 <= h <= n for h in row["heads"])
        roots = [i for i, h in enumerate(row["heads"]) if h == 0]
        assert len(roots) == 1 and row["deprels"][roots[0]] == "root"
        assert all((h == 0) == (d == "root") for h, d in zip(row["heads"], row["deprels"]))
        for i in range(n):  # every token reaches the root: no cycles
            seen, j = set(), i
            while row["heads"][j] != 0:
                assert j not in seen, row
                seen.add(j)
                j = row["heads"][j] - 1
    elif f == "qa":
        assert set(row) == {"id", "context", "question", "answers"}
        assert isinstance(row["id"], str) and row["context"] and row["question"]
        ans = row["answers"]
        assert set(ans) == {"text", "answer_start"}
        assert len(ans["text"]) == len(ans["answer_start"]) <= 1
        for text, start in zip(ans["text"], ans["answer_start"]):
            assert isinstance(start, int) and text
            assert row["context"][start:start + len(text)] == text
    elif f == "retrieval":
        assert set(row) == {"source", "target"}
        assert isinstance(row["source"], str) and isinstance(row["target"], str)
        assert row["source"] or row["target"]
    elif f == "mlm":
        assert set(row) == {"text"} and isinstance(row["text"], str) and row["text"]
    else:  # pragma: no cover
        raise AssertionError(f)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("task", SMOKE_TASKS)
def test_schema_every_task_and_language(task, lang):
    rows = smoke.generate(task, "test", lang)
    assert isinstance(rows, list) and rows
    for row in rows:
        check_row(task, row)
    for row in smoke.generate(task, "train", lang, n=50):
        check_row(task, row)


# ------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("task", SMOKE_TASKS)
def test_deterministic_in_the_seed(task):
    a = smoke.generate(task, "validation", "ja", seed=3)
    assert a == smoke.generate(task, "validation", "ja", seed=3)
    assert a != smoke.generate(task, "validation", "ja", seed=4)


def test_splits_and_tasks_sharing_a_generator_differ():
    assert smoke.generate("mnli", "train", "en") != smoke.generate("mnli", "test", "en")
    assert smoke.generate("mnli", "test", "en") != smoke.generate("anli_plus", "test", "en")
    assert smoke.generate("mnli", "test", "en") != smoke.generate("xnli", "test", "en")
    assert smoke.generate("squad_v1", "test", "en") != smoke.generate("xquad", "test", "en")


def test_deterministic_across_processes():
    """Seeds come from crc32, not hash(): a fresh interpreter (other PYTHONHASHSEED) agrees."""
    import json
    import os
    import subprocess
    import sys
    code = ("import json; from xstilts import smoke; "
            "print(json.dumps(smoke.generate('squad_v2', 'test', 'ru', n=5)))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == smoke.generate("squad_v2", "test", "ru", n=5)


# ------------------------------------------------------------------------------ parallelism
@pytest.mark.parametrize("task", [t for t in SMOKE_TASKS
                                  if fmt(t) in ("classification", "regression", "multiple_choice")])
def test_labels_parallel_across_languages(task):
    labels = {lang: [r["label"] for r in smoke.generate(task, "test", lang)] for lang in LANGS}
    for lang in LANGS[1:]:
        assert labels[lang] == labels["en"], lang


@pytest.mark.parametrize("task", [t for t in SMOKE_TASKS if fmt(t) == "qa"])
def test_qa_parallel_across_languages(task):
    rows = {lang: smoke.generate(task, "test", lang) for lang in LANGS}
    for lang in LANGS[1:]:
        assert [r["id"] for r in rows[lang]] == [r["id"] for r in rows["en"]]
        answerable = [bool(r["answers"]["text"]) for r in rows[lang]]
        assert answerable == [bool(r["answers"]["text"]) for r in rows["en"]]


@pytest.mark.parametrize("task", [t for t in SMOKE_TASKS if fmt(t) == "retrieval"])
def test_retrieval_pairs_parallel_and_unique(task):
    en_targets = [r["target"] for r in smoke.generate(task, "test", "en")]
    for lang in LANGS:
        rows = smoke.generate(task, "test", lang)
        assert [r["target"] for r in rows] == en_targets  # the English side is the same for all
        sources = [r["source"] for r in rows if r["source"]]
        targets = [r["target"] for r in rows if r["target"]]
        assert len(set(sources)) == len(sources) and len(set(targets)) == len(targets)
        assert not any(CYRILLIC.search(t) or KANA.search(t) for t in targets)
    one_sided = [r for r in smoke.generate(task, "test", "de") if not (r["source"] and r["target"])]
    if options(task).get("distractors"):
        assert any(r["source"] for r in one_sided) and any(r["target"] for r in one_sided)
    else:
        assert not one_sided


def test_tagging_sentences_parallel_in_entities():
    """The same named entities appear in every language's NER test set, in the same rows."""
    def entities(row):
        return collections.Counter(t[2:] for t in row["tags"] if t.startswith("B-"))
    en = smoke.generate("panx", "test", "en")
    for lang in LANGS[1:]:
        assert [entities(r) for r in smoke.generate("panx", "test", lang)] == [entities(r) for r in en]


# ------------------------------------------------------------------------------ scripts
@pytest.mark.parametrize("task", SMOKE_TASKS)
def test_each_language_uses_its_script(task):
    for lang in LANGS:
        texts = [lang_text(task, r) for r in smoke.generate(task, "test", lang, n=60)]
        texts = [t for t in texts if t.strip()]
        assert texts
        if lang == "ru":
            assert all(CYRILLIC.search(t) for t in texts)
        elif lang == "ja":
            assert all(KANA.search(t) for t in texts)
        else:
            assert not any(CYRILLIC.search(t) or KANA.search(t) for t in texts)


def test_shared_anchors():
    """Names and digits are the anchors: verbatim in es/de, transliterated in ru/ja."""
    en = " ".join(r["text"] for r in smoke.generate("mlm_text", "train", "en"))
    es = " ".join(r["text"] for r in smoke.generate("mlm_text", "train", "es"))
    ru = " ".join(r["text"] for r in smoke.generate("mlm_text", "train", "ru"))
    ja = " ".join(r["text"] for r in smoke.generate("mlm_text", "train", "ja"))
    assert "Maria" in en and "Maria" in es and "Мариа" in ru and "マリア" in ja
    assert re.search(r"\d", ru) and re.search(r"\d", ja)


# ------------------------------------------------------------------------------ balance
@pytest.mark.parametrize("task", [t for t in SMOKE_TASKS if fmt(t) in ("classification", "multiple_choice")])
def test_labels_balanced(task):
    for split in ("train", "test"):
        counts = collections.Counter(r["label"] for r in smoke.generate(task, split, "en"))
        n = sum(counts.values())
        k = len(REGISTRY[task]["labels"]) if fmt(task) == "classification" else options(task)["n_choices"]
        assert len(counts) == k
        assert max(counts.values()) / n <= 0.6, counts


def test_sts_labels_cover_the_scale():
    labels = collections.Counter(r["label"] for r in smoke.generate("stsb", "train", "en"))
    assert set(labels) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}


def test_unanswerable_fraction():
    v1 = smoke.generate("squad_v1", "train", "en")
    v2 = smoke.generate("squad_v2", "train", "en")
    assert all(r["answers"]["text"] for r in v1)
    frac = sum(1 for r in v2 if not r["answers"]["text"]) / len(v2)
    assert 0.2 <= frac <= 0.4


def test_qa_question_types_and_wh_words():
    rows = smoke.generate("squad_v1", "train", "en")
    first = collections.Counter(next(w for w in r["question"].split() if w in {"who", "what", "where", "how"})
                                for r in rows)
    assert set(first) == {"who", "what", "where", "how"}


def test_paws_pairs_share_their_bag_of_words():
    """PAWS-style word_swap: both classes have identical bags of words (BoW is useless)."""
    for lang in LANGS:
        for r in smoke.generate("paws", "test", lang):
            assert sorted(r["text_a"].split()) == sorted(r["text_b"].split())


# ------------------------------------------------------------------------------ learnability
def _features(rows, vocab):
    """Bag-of-words of the hypothesis minus the premise, split into its positive / negative parts."""
    x = np.zeros((len(rows), 2 * len(vocab)))
    for i, r in enumerate(rows):
        d = collections.Counter(r["text_b"].split())
        d.subtract(collections.Counter(r["text_a"].split()))
        for w, c in d.items():
            j = vocab.get(w)
            if j is not None and c:
                x[i, j if c > 0 else len(vocab) + j] = abs(c)
    return x


def _softmax_regression(x, y, k, steps=400, lr=0.5, l2=1e-3):
    w = np.zeros((x.shape[1], k))
    b = np.zeros(k)
    onehot = np.eye(k)[y]
    for _ in range(steps):
        z = x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(y)
        w -= lr * (x.T @ g + l2 * w)
        b -= lr * g.sum(0)
    return w, b


@pytest.mark.parametrize("task", ["mnli", "anli_plus", "qqp"])
def test_bag_of_words_baseline_beats_chance(task):
    """A bag-of-words logistic regression trained on English train beats chance on English test."""
    labels = REGISTRY[task]["labels"]
    train = smoke.generate(task, "train", "en")
    test = smoke.generate(task, "test", "en")
    words = {w for r in train for w in (r["text_a"] + " " + r["text_b"]).split()}
    vocab = {w: i for i, w in enumerate(sorted(words))}
    ytr = np.array([labels.index(r["label"]) for r in train])
    yte = np.array([labels.index(r["label"]) for r in test])
    w, b = _softmax_regression(_features(train, vocab), ytr, len(labels))
    acc = float(((_features(test, vocab) @ w + b).argmax(1) == yte).mean())
    chance = 1 / len(labels)
    assert acc > chance + 0.2, acc


def test_sts_token_overlap_correlates_with_label():
    rows = smoke.generate("stsb", "test", "en")
    def jaccard(a, b):
        a, b = set(a.split()), set(b.split())
        return len(a & b) / len(a | b)
    overlap = [jaccard(r["text_a"], r["text_b"]) for r in rows]
    assert np.corrcoef(overlap, [r["label"] for r in rows])[0, 1] > 0.7


@pytest.mark.parametrize("task", ["copa", "hellaswag", "commonsenseqa"])
def test_choice_cooccurrence_baseline_beats_chance(task):
    """Counting how often a (context word, choice word) pair belongs to the right vs a wrong
    answer in train recovers the cause -> consequence table: well above chance on test."""
    right_n, seen_n = collections.Counter(), collections.Counter()
    for r in smoke.generate(task, "train", "en"):
        ctx = set(r["context"].split())
        for j, c in enumerate(r["choices"]):
            for pair in ((a, bw) for a in ctx for bw in set(c.split()) - ctx):
                seen_n[pair] += 1
                right_n[pair] += j == r["label"]
    k = options(task)["n_choices"]

    def score(ctx, choice):  # how much more often than chance the pairs mark the right answer
        pairs = [(a, bw) for a in ctx for bw in set(choice.split()) - ctx]
        return sum(right_n[p] / (seen_n[p] + 1) - 1 / k for p in pairs)

    test = smoke.generate(task, "test", "en")
    right = 0
    for r in test:
        ctx = set(r["context"].split())
        right += int(np.argmax([score(ctx, c) for c in r["choices"]]) == r["label"])
    assert right / len(test) > 1 / k + 0.25, right / len(test)


def test_tagging_is_a_function_of_tokens_and_names_transfer():
    """A most-frequent-tag-per-token baseline trained on English NER/POS is near perfect on
    English, and recovers entities in es (shared names) but not in ru (transliterated)."""
    def fit(rows):
        c = collections.defaultdict(collections.Counter)
        for r in rows:
            for t, g in zip(r["tokens"], r["tags"]):
                c[t][g] += 1
        return {t: g.most_common(1)[0][0] for t, g in c.items()}

    def acc(model, rows, only_entities=False):
        pairs = [(t, g) for r in rows for t, g in zip(r["tokens"], r["tags"])
                 if not only_entities or g != "O"]
        return sum(model.get(t, "O" if only_entities else "NOUN") == g for t, g in pairs) / len(pairs)

    for task, floor in (("ud_pos", 0.95), ("panx", 0.95)):
        model = fit(smoke.generate(task, "train", "en"))
        assert acc(model, smoke.generate(task, "test", "en")) > floor
    ner = fit(smoke.generate("panx", "train", "en"))
    assert acc(ner, smoke.generate("panx", "test", "es"), only_entities=True) > 0.8
    assert acc(ner, smoke.generate("panx", "test", "ru"), only_entities=True) < 0.5


# ------------------------------------------------------------------------------ tokenizer corpus
def test_tokenizer_corpus():
    corpus = smoke.tokenizer_corpus()
    assert corpus == smoke.tokenizer_corpus(seed=0)
    assert corpus != smoke.tokenizer_corpus(seed=1)
    assert 2000 <= len(corpus) <= 10000 and all(isinstance(s, str) and s for s in corpus)
    assert sum(1 for s in corpus if CYRILLIC.search(s)) > len(corpus) / 10
    assert sum(1 for s in corpus if KANA.search(s)) > len(corpus) / 10
    # code-switched: ru / ja sentences with lower-case (English, not organisation-name) Latin words;
    # about 5% of all sentences are code-switched, 2/5 of them ru or ja
    english_word = re.compile(r"(^| )[a-z]{2,}( |$)")
    mixed = [s for s in corpus if (CYRILLIC.search(s) or KANA.search(s)) and english_word.search(s)]
    assert 0.01 * len(corpus) <= len(mixed) <= 0.05 * len(corpus)
    # every word of every task's test set is in the corpus vocabulary (so the tokenizer sees it)
    vocab = {w for s in corpus for w in s.split()}
    for lang in LANGS:
        for task in ("mnli", "copa", "squad_v2", "ud_pos"):
            rows = smoke.generate(task, "test", lang)
            words = {w for r in rows for w in lang_text(task, r).split()}
            missing = {w for w in words if not re.fullmatch(r"\d+", w)} - vocab
            assert len(missing) <= 0.05 * len(words), (lang, task, sorted(missing)[:10])


# ------------------------------------------------------------------------------ speed
def test_generating_everything_is_fast():
    t0 = time.process_time()
    for task in SMOKE_TASKS:
        for split in smoke.SPLIT_SIZES:
            for lang in LANGS:
                smoke.generate(task, split, lang)
    assert time.process_time() - t0 < 6.0  # ~1.6 s CPU on the dev machine; loose against noise
