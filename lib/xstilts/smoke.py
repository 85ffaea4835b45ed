"""The synthetic multilingual smoke benchmark and its tokenizer corpus.

Why this exists: the smoke scale must run the whole X-STILTs pipeline (MLM -> English
intermediate task -> English target task -> zero-shot evaluation in other languages) on a CPU in
minutes, offline, with a tiny XLM-R-architecture model trained from scratch. Real benchmarks are
too big and need the network, so this module *generates* a small benchmark deterministically.

Design
------
* Every example is built from language-independent **scenes** (subject entity, verb, optional
  object with adjective / number, optional location or organisation, optional time adverb,
  tense, negation, optional fronting). A scene is then *rendered* in one of five toy languages.
  The scene sampling only consumes the split's RNG, never the rendering, so for a given
  (task, split, seed) every language gets the same scenes and the same labels in the same order:
  test sets are parallel across languages, like XNLI / XQuAD / PAWS-X.
* The five languages differ in exactly the properties the study cares about (script, word order,
  lexical overlap with English), by construction:

  ====  ======  =====  ===========================================================
  lang  script  order  lexicon
  ====  ======  =====  ===========================================================
  en    Latn    SVO    English-like toy lexicon, do-support, "will" future
  es    Latn    SVO    ~80% cognates of en stems ("river" -> "rivero"), adjectives
                       after the noun, own function words, suffix future
  de    Latn    SOV    every other concept a cognate (k/v/sch spelling, capitalised
                       nouns), verb-final, "wird" future, "nicht" before the verb
  ru    Cyrl    SVO    its own (pseudo-word) lexicon, no articles, written in Cyrillic
  ja    Kana    SOV    its own CV-syllable lexicon in Katakana, case postpositions
                       (ga / wo / de), no articles, space-separated tokens
  ====  ======  =====  ===========================================================

* Anchors for cross-lingual transfer are what real multilingual text shares: person and place
  names (verbatim in Latin-script languages, transliterated into Cyrillic / Katakana), digits
  (identical everywhere), organisation names (kept in Latin script in every language, as brand
  names usually are in Russian and Japanese text), cognate subwords (es, de) and a small share of
  code-switched sentences in the tokenizer / MLM corpus (:func:`tokenizer_corpus`).
* Every label is a function of surface tokens, so a tiny transformer can learn it in English in a
  few hundred steps (the tests check that a bag-of-words baseline beats chance on NLI).
* ``LANGUAGE_FEATURES[lang]["lexical_overlap_with_en"]`` is computed from the lexicons: the mean,
  over all aligned open-class concepts (nouns, adjectives, verbs, adverbs), name tokens and the ten
  digits, of the Dice coefficient between the lower-cased character bigrams (with word-boundary
  padding) of the language's form and the English form. Closed-class function words are left out
  (they have no one-to-one alignment: ja has no articles, es uses one preposition for two).

Rows follow the per-format schema of docs/DEVELOPING.md. Only the standard library and yaml are
used; everything is a pure function of its arguments (the lexicons are import-time constants and
the only cache memoises the read-only task registry file). The toy languages themselves (scripts,
lexicons, rendering) are in toy_languages.py; this module (~500 lines, 50 of them this docstring)
holds the scenes and one generator per task format, which share the scene sampler.
"""

from __future__ import annotations

import random
import zlib
from functools import lru_cache
from pathlib import Path

import yaml

# the toy languages (scripts, lexicons, rendering) live in toy_languages.py; the names the scene
# sampler and the generators use:
from xstilts.toy_languages import (_ADV_BY_TENSE, _LEX, _N_CONSEQ, _NA, _NLOC, _NN, _NNAME, _NORG, _NPER,  # noqa: F401
                                   _NTV, _TENSES, DEPRELS, LANGUAGE_FEATURES, LANGUAGES, NER_TAGS, SUPERTAGS,
                                   UPOS_TAGS, _heads, _render, _text)

__all__ = [
    "LANGUAGES",
    "LANGUAGE_FEATURES",
    "SPLIT_SIZES",
    "GENERATORS",
    "UPOS_TAGS",
    "NER_TAGS",
    "SUPERTAGS",
    "DEPRELS",
    "generate",
    "tokenizer_corpus",
]

# Small on purpose: a CPU run of every task must take seconds, not minutes.
SPLIT_SIZES = {"train": 600, "validation": 100, "test": 200}

# --------------------------------------------------------------------------------- scenes
# Scene sampling is the other hot loop: int(random() * n) is several times faster than
# randrange(n) and just as deterministic (n is tiny, so the float bias is irrelevant).
def _other(rng: random.Random, size: int, cur: int) -> int:
    """A uniformly drawn index in range(size) other than cur."""
    x = int(rng.random() * (size - 1))
    return x + (x >= cur)


def _distinct(rng: random.Random, size: int, k: int, first: int | None = None) -> list[int]:
    """k distinct indices of range(size) in random order (rejection: k is much smaller than size)."""
    out = [] if first is None else [first]
    while len(out) < k:
        x = int(rng.random() * size)
        if x not in out:
            out.append(x)
    return out


def _thing(rng, adj_p=0.4, num_p=0.0, definite_p=0.6):
    r = rng.random
    num = None
    if num_p and r() < num_p:
        num = 2 + int(r() * 11) if r() < 0.8 else 13 + int(r() * 87)
    return ("thing", int(r() * _NN), int(r() * _NA) if r() < adj_p else None, num, r() < definite_p)


def _scene(rng, *, verb=None, obj=True, loc_p=0.5, adv_p=0.35, neg_p=0.2, num_p=0.15, adj_p=0.4,
           obj_person_p=0.2, definite_p=0.6, iv_p=0.0) -> dict:
    """Sample one language-independent scene (only this consumes the split RNG)."""
    r = rng.random
    x = r()
    if x < 0.55:
        subj = ("per", int(r() * _NPER))
    elif x < 0.7:
        subj = ("org", int(r() * _NORG))
    else:
        subj = _thing(rng, adj_p, 0.0, definite_p)
    if verb is None:
        verb = ("iv", int(r() * _N_CONSEQ)) if iv_p and r() < iv_p else ("tv", int(r() * _NTV))
    o = None
    if obj and verb[0] == "tv":
        if r() < obj_person_p:
            o = ("per", int(r() * _NPER))
            if o == subj:
                o = ("per", _other(rng, _NPER, o[1]))
        else:
            o = _thing(rng, adj_p, num_p, definite_p)
    lc = None
    if r() < loc_p:
        lc = ("loc", int(r() * _NLOC)) if r() < 0.75 else ("org", int(r() * _NORG))
    tense = _TENSES[int(r() * 3)]
    av = None
    if r() < adv_p:
        advs = _ADV_BY_TENSE[tense]
        av = advs[int(r() * len(advs))]
    return {"subj": subj, "verb": verb, "obj": o, "loc": lc, "adv": av, "tense": tense,
            "neg": r() < neg_p, "front": False}


def _replace_entity(rng, ent):
    """The same kind of entity with a different identity (a different noun / name)."""
    if ent[0] == "thing":
        return ("thing", _other(rng, _NN, ent[1])) + ent[2:]
    return (ent[0], _other(rng, _NNAME[ent[0]], ent[1]))


def _balanced(rng, n: int, k: int) -> list[int]:
    """n labels in range(k), as balanced as n allows, in random order."""
    ys = [i % k for i in range(n)]
    rng.shuffle(ys)
    return ys


# Optional details of a scene (dropping one keeps entailment, adding one is neutral).
_OPTIONAL = ("sadj", "oadj", "loc", "adv")


def _has(sc, slot) -> bool:
    if slot in ("sadj", "oadj"):
        e = sc["subj" if slot == "sadj" else "obj"]
        return e is not None and e[0] == "thing" and e[2] is not None
    return sc[slot] is not None


def _can_add(sc, slot) -> bool:
    if slot in ("sadj", "oadj"):
        e = sc["subj" if slot == "sadj" else "obj"]
        return e is not None and e[0] == "thing" and e[2] is None
    return sc[slot] is None


def _set_opt(rng, sc, slot, on: bool) -> dict:
    """Copy of sc with the optional detail removed (on=False) or set to a random value."""
    if slot in ("sadj", "oadj"):
        k = "subj" if slot == "sadj" else "obj"
        e = sc[k]
        return dict(sc, **{k: e[:2] + ((rng.randrange(_NA) if on else None),) + e[3:]})
    if slot == "loc":
        if not on:
            return dict(sc, loc=None)
        if rng.random() < 0.75:
            return dict(sc, loc=("loc", int(rng.random() * _NLOC)))
        return dict(sc, loc=("org", int(rng.random() * _NORG)))
    return dict(sc, adv=rng.choice(_ADV_BY_TENSE[sc["tense"]]) if on else None)


def _drop_some(rng, sc) -> dict:
    for s in _OPTIONAL:
        if _has(sc, s) and rng.random() < 0.5:
            sc = _set_opt(rng, sc, s, False)
    return sc


def _swap_argument(rng, sc) -> dict | None:
    """Change one argument to a different value of the same type (a hard contradiction)."""
    cands = ["subj", "obj"] if sc["obj"] is not None else ["subj"]
    if sc["loc"] is not None:
        cands.append("loc")
    if sc["obj"] is not None and sc["obj"][0] == "thing" and sc["obj"][3] is not None:
        cands.append("num")
    slot = rng.choice(cands)
    if slot == "num":
        o = sc["obj"]
        new = _other(rng, 98, o[3] - 2) + 2
        return dict(sc, obj=o[:3] + (new,) + o[4:])
    new = _replace_entity(rng, sc[slot])
    if slot == "subj" and new == sc["obj"] or slot == "obj" and new == sc["subj"]:
        new = _replace_entity(rng, new)
    return dict(sc, **{slot: new})


# --------------------------------------------------------------------------------- generators
def _gen_nli(rng, lang, n, opts, entry, ident):
    """Entailment: H is P minus optional details; neutral: H adds a detail P lacks;
    contradiction: H flips negation, or (hard_negatives, half the time) swaps one argument."""
    labels, hard = entry["labels"], bool(opts.get("hard_negatives", False))
    rows = []
    for y in _balanced(rng, n, 3):
        p = _scene(rng)
        if y == 1:
            addable = [s for s in _OPTIONAL if _can_add(p, s)]
            if addable:
                slot = rng.choice(addable)
            else:
                slot = rng.choice([s for s in _OPTIONAL if _has(p, s)])
                p = _set_opt(rng, p, slot, False)
            h = _set_opt(rng, _drop_some(rng, p), slot, True)
        else:
            h = _drop_some(rng, p)
            if y == 2:
                h = _swap_argument(rng, h) if hard and rng.random() < 0.5 else dict(h, neg=not h["neg"])
        rows.append({"text_a": _text(p, lang), "text_b": _text(h, lang), "label": str(labels[y])})
    return rows


def _gen_paraphrase(rng, lang, n, opts, entry, ident):
    """Positives re-order the same content (adverbial / location fronting); negatives change one
    slot, or (word_swap, PAWS-style) swap subject and object so the bag of words is identical."""
    labels, swap = entry["labels"], bool(opts.get("word_swap", False))
    rows = []
    for y in _balanced(rng, n, 2):
        a = _scene(rng, adv_p=0.5, loc_p=0.6, num_p=0.0 if swap else 0.15, obj_person_p=0.3)
        if a["adv"] is None and a["loc"] is None:  # something to front, so positives differ in order
            a = _set_opt(rng, a, "adv", True)
        a["front"] = rng.random() < 0.5
        if y == 1:
            b = dict(a, front=not a["front"])
        elif swap:
            b = dict(a, subj=a["obj"], obj=a["subj"], front=rng.random() < 0.5)
        else:
            slot = rng.choice(("subj", "verb", "obj") + (("loc",) if a["loc"] is not None else ()))
            if slot == "verb":
                b = dict(a, verb=("tv", _other(rng, _NTV, a["verb"][1])))
            else:
                b = dict(a, **{slot: _replace_entity(rng, a[slot])})
            b["front"] = rng.random() < 0.5
        rows.append({"text_a": _text(a, lang), "text_b": _text(b, lang), "label": str(labels[y])})
    return rows


_STS_SLOTS = ("subj", "verb", "obj", "loc", "neg")


def _gen_sts(rng, lang, n, opts, entry, ident):
    """Similarity = number of the five scene slots (subject, verb, object, place, polarity) that
    the two sentences share, i.e. 5 - number of slots resampled."""
    rows = []
    for m in _balanced(rng, n, 6):
        a = _scene(rng)
        b = a
        for slot in rng.sample(_STS_SLOTS, m):
            if slot == "neg":
                b = dict(b, neg=not b["neg"])
            elif slot == "verb":
                b = dict(b, verb=("tv", _other(rng, _NTV, b["verb"][1])))
            elif slot == "loc" and b["loc"] is None:
                b = _set_opt(rng, b, "loc", True)
            else:
                b = dict(b, **{slot: _replace_entity(rng, b[slot])})
        rows.append({"text_a": _text(a, lang), "text_b": _text(b, lang), "label": float(5 - m)})
    return rows


def _consequence(cause: dict, k: int) -> dict:
    o = cause["obj"]
    return {"subj": ("thing", o[1], o[2], None, True), "verb": ("iv", k), "obj": None, "loc": None,
            "adv": None, "tense": cause["tense"], "neg": False, "front": False}


def _gen_choice(rng, lang, n, opts, entry, ident):
    """COPA / HellaSwag-style: the right choice is linked to the context by the fixed table
    cause verb i -> consequence verb i; distractors use other consequences (or other causes)."""
    k_choices, with_q = int(opts.get("n_choices", 2)), bool(opts.get("with_question", False))
    L = _LEX[lang]
    rows = []
    for y in _balanced(rng, n, k_choices):
        v = int(rng.random() * _N_CONSEQ)
        order = _distinct(rng, _N_CONSEQ, k_choices, first=v)[1:]
        order.insert(y, v)
        cause = _scene(rng, verb=("tv", v), loc_p=0.3, neg_p=0.0, obj_person_p=0.0, num_p=0.0)
        qtype = ("effect", "cause")[rng.randrange(2)] if with_q else "effect"
        if qtype == "effect":
            context = _text(cause, lang)
            choices = [_text(_consequence(cause, k), lang) for k in order]
        else:
            context = _text(_consequence(cause, v), lang)
            choices = [_text(dict(cause, verb=("tv", k)), lang) for k in order]
        rows.append({"context": context, "question": L["q_" + qtype] if with_q else "",
                     "choices": choices, "label": y})
    return rows


def _tagging(column: int):
    def gen(rng, lang, n, opts, entry, ident):
        rows = []
        for _ in range(n):
            toks = _render(_scene(rng, iv_p=0.15), lang)[0]
            rows.append({"tokens": [t[0] for t in toks], "tags": [t[column] for t in toks]})
        return rows
    return gen


def _gen_parse(rng, lang, n, opts, entry, ident):
    rows = []
    for _ in range(n):
        sc = _scene(rng, iv_p=0.15)
        sc["front"] = rng.random() < 0.2
        toks = _render(sc, lang)[0]
        rows.append({"tokens": [t[0] for t in toks], "upos": [t[1] for t in toks],
                     "heads": _heads(toks), "deprels": [t[3] for t in toks]})
    return rows


def _qtypes(sc) -> list[str]:
    q = ["S"]
    if sc["obj"] is not None:
        q.append("O")
        if sc["obj"][0] == "thing" and sc["obj"][3] is not None:
            q.append("N")
    if sc["loc"] is not None:
        q.append("L")
    return q


def _gen_qa(rng, lang, n, opts, entry, ident):
    """Context: 2-4 scenes with distinct verbs; the question is one scene with the asked slot
    replaced in situ by a wh-word, so the verb (and the other arguments) identify the sentence.
    Unanswerable: the asked scene is not in the context, or it has no location but "where"."""
    p_un = float(opts.get("unanswerable", 0.0))
    task, split, seed = ident
    rows = []
    for i in range(n):
        k = 2 + int(rng.random() * 3)
        verbs = _distinct(rng, _NTV, k + 1)
        scenes = [_scene(rng, verb=("tv", v), num_p=0.3) for v in verbs[:k]]
        target = None
        if p_un and rng.random() < p_un:
            lacking = [s for s in scenes if s["loc"] is None]
            if lacking and rng.random() < 0.5:
                qsc, qt = rng.choice(lacking), "L"
            else:
                qsc = _scene(rng, verb=("tv", verbs[k]), num_p=0.3)
                qt = rng.choice(_qtypes(qsc))
        else:
            target = rng.randrange(k)
            qsc = scenes[target]
            qt = rng.choice(_qtypes(qsc))
        parts, offset, answers = [], 0, {"text": [], "answer_start": []}
        for j, sc in enumerate(scenes):
            toks, spans = _render(sc, lang)
            words = [t[0] for t in toks]
            if j == target:
                a, b = spans[qt]
                start = offset + sum(len(w) + 1 for w in words[:a])
                answers = {"text": [" ".join(words[a:b])], "answer_start": [start]}
            sent = " ".join(words)
            parts.append(sent)
            offset += len(sent) + 1
        rows.append({"id": f"{task}-{split}-{seed}-{i}", "context": " ".join(parts),
                     "question": _text(qsc, lang, wh=qt), "answers": answers})
    return rows


def _scene_key(sc) -> tuple:
    return tuple(sc[k] for k in ("subj", "verb", "obj", "loc", "adv", "tense", "neg"))


def _gen_bitext(rng, lang, n, opts, entry, ident):
    """Aligned (lang, en) pairs of distinct scenes; with ``distractors`` (a ratio of n), extra
    one-sided rows (half source-only, half target-only) for BUCC-style mining. Things are always
    definite so that languages without articles (ru, ja) never render two scenes identically."""
    n_d = round(float(opts.get("distractors", 0.0)) * n)
    seen: set = set()
    scenes = []
    while len(scenes) < n + n_d:
        sc = _scene(rng, definite_p=1.0)
        key = _scene_key(sc)
        if key not in seen:
            seen.add(key)
            scenes.append(sc)
    rows = [{"source": _text(sc, lang), "target": _text(sc, "en")} for sc in scenes[:n]]
    for j, sc in enumerate(scenes[n:]):
        rows.append({"source": _text(sc, lang), "target": ""} if j % 2 == 0
                    else {"source": "", "target": _text(sc, "en")})
    rng.shuffle(rows)
    return rows


def _gen_corpus(rng, lang, n, opts, entry, ident):
    rows = []
    for _ in range(n):
        sents = []
        for _ in range(rng.randint(1, 3)):
            sc = _scene(rng, iv_p=0.15)
            sc["front"] = rng.random() < 0.2
            sents.append(_text(sc, lang))
        rows.append({"text": " ".join(sents)})
    return rows


GENERATORS = {
    "nli": _gen_nli,
    "paraphrase": _gen_paraphrase,
    "sts": _gen_sts,
    "choice": _gen_choice,
    "pos": _tagging(1),
    "ner": _tagging(4),
    "supertag": _tagging(5),
    "parse": _gen_parse,
    "qa": _gen_qa,
    "bitext": _gen_bitext,
    "corpus": _gen_corpus,
}
_OPTIONS = {
    "nli": {"hard_negatives"}, "paraphrase": {"word_swap"}, "choice": {"n_choices", "with_question"},
    "qa": {"unanswerable"}, "bitext": {"distractors"},
}


@lru_cache(maxsize=1)
def _registry() -> dict:
    """The task registry, read once (the yaml file ships next to this module and is read-only)."""
    with open(Path(__file__).with_name("tasks.yaml"), encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def generate(task_name: str, split: str, lang: str, seed: int = 0, n: int | None = None) -> list[dict]:
    """Synthetic rows of one task / split / language, in the task format's schema.

    Deterministic in (task_name, split, seed); the language only changes the rendering, so the
    same split is parallel across languages. ``n`` overrides the size (retrieval: pairs).
    """
    if lang not in _LEX:
        raise ValueError(f"unknown smoke language {lang!r}; smoke languages are {LANGUAGES}")
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLIT_SIZES)}")
    entry = _registry().get(task_name)
    if entry is None:
        raise KeyError(f"unknown task {task_name!r} (not in tasks.yaml)")
    smoke = entry.get("smoke")
    if not smoke:
        raise ValueError(f"task {task_name!r} has no smoke generator in tasks.yaml")
    name = smoke["generator"]
    if name not in GENERATORS:
        raise ValueError(f"task {task_name!r}: unknown smoke generator {name!r}")
    opts = dict(smoke.get("options") or {})
    unknown = set(opts) - _OPTIONS.get(name, set())
    if unknown:
        raise ValueError(f"task {task_name!r}: unknown options {sorted(unknown)} for generator {name!r}")
    size = SPLIT_SIZES[split] if n is None else int(n)
    if size < 0:
        raise ValueError("n must be >= 0")
    # crc32, not hash(): str hashes are salted per process and would break determinism.
    rng = random.Random(zlib.crc32(f"{task_name}|{split}|{seed}".encode()))
    return GENERATORS[name](rng, lang, size, opts, entry, (task_name, split, seed))


def tokenizer_corpus(seed: int = 0, n: int = 4000) -> list[str]:
    """Sentences in all five languages for training the smoke tokenizer and MLM "pretraining".

    About 5% are code-switched: a sentence of es/de/ru/ja with some content words (nouns,
    adjectives, verbs, adverbs) in English - the kind of anchor that real web pretraining corpora
    also contain and that lets an MLM align languages. About 10% are questions, and the fixed
    choice-task questions are included, so every word the tasks use is in the vocabulary.
    """
    rng = random.Random(zlib.crc32(f"tokenizer|{seed}".encode()))
    out = []
    for i in range(n):
        lang = LANGUAGES[i % len(LANGUAGES)]
        sc = _scene(rng, iv_p=0.15, num_p=0.2)
        sc["front"] = rng.random() < 0.2
        cs = None
        if lang != "en" and rng.random() < 0.0625:  # 4/5 of sentences are non-en -> ~5% overall
            concepts = [("tv" if sc["verb"][0] == "tv" else "iv", sc["verb"][1])]
            for e in (sc["subj"], sc["obj"]):
                if e is not None and e[0] == "thing":
                    concepts.append(("noun", e[1]))
                    if e[2] is not None:
                        concepts.append(("adj", e[2]))
            if sc["adv"] is not None:
                concepts.append(("adv", sc["adv"]))
            picked = [c for c in concepts if rng.random() < 0.5] or [rng.choice(concepts)]
            cs = frozenset(picked)
        wh = rng.choice(_qtypes(sc)) if cs is None and rng.random() < 0.1 else None
        out.append(_text(sc, lang, cs, wh))
    for lang in LANGUAGES:
        out += [_LEX[lang]["q_effect"], _LEX[lang]["q_cause"]]
    return out
