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
the only cache memoises the read-only task registry file).
"""

from __future__ import annotations

import random
import zlib
from functools import lru_cache
from pathlib import Path

import yaml

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

LANGUAGES = ["en", "es", "de", "ru", "ja"]

# Small on purpose: a CPU run of every task must take seconds, not minutes.
SPLIT_SIZES = {"train": 600, "validation": 100, "test": 200}

# --------------------------------------------------------------------------------- scripts
_VOWELS = "aiueo"
_KANA_ROWS = {
    "": "アイウエオ", "k": "カキクケコ", "s": "サシスセソ", "t": "タチツテト", "n": "ナニヌネノ",
    "h": "ハヒフヘホ", "m": "マミムメモ", "y": "ヤイユエヨ", "r": "ラリルレロ", "w": "ワイウエヲ",
    "g": "ガギグゲゴ", "z": "ザジズゼゾ", "d": "ダヂヅデド", "b": "バビブベボ", "p": "パピプペポ",
}
_KANA = {c + v: row[i] for c, row in _KANA_ROWS.items() for i, v in enumerate(_VOWELS)}
# Japanese has no l/c/q/f/v/x/j syllables: loanwords map them to the nearest kana consonant.
_KANA_NORMALISE = {"l": "r", "c": "k", "q": "k", "f": "h", "v": "b", "x": "ks", "j": "z"}


def _to_kana(word: str) -> str:
    """Romaji (or a Latin name) -> Katakana, the way loanwords are adapted (epenthetic vowels)."""
    w = "".join(_KANA_NORMALISE.get(ch, ch) for ch in word.lower())
    out, i = [], 0
    while i < len(w):
        ch = w[i]
        nxt = w[i + 1] if i + 1 < len(w) else ""
        if ch in _VOWELS:
            out.append(_KANA[ch])
            i += 1
        elif not ch.isalpha():
            out.append(ch)
            i += 1
        elif nxt and nxt in _VOWELS and ch + nxt in _KANA:
            out.append(_KANA[ch + nxt])
            i += 2
        elif ch == "n":
            out.append("ン")
            i += 1
        else:  # a lone consonant gets an epenthetic vowel: o after t/d, u elsewhere
            out.append(_KANA[ch + ("o" if ch in "td" else "u")])
            i += 1
    return "".join(out)


_CYR_MULTI = (("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("ts", "ц"), ("kh", "х"), ("yj", "ый"), ("ya", "я"),
              ("yu", "ю"))
_CYR = dict(zip("abcdefghijklmnopqrstuvwxyz",
                ["а", "б", "к", "д", "е", "ф", "г", "х", "и", "дж", "к", "л", "м", "н", "о", "п", "к",
                 "р", "с", "т", "у", "в", "в", "кс", "ы", "з"]))


def _to_cyrillic(word: str) -> str:
    """Latin -> Cyrillic letter by letter (digraphs first), keeping an initial capital."""
    w = word.lower()
    for lat, cyr in _CYR_MULTI:
        w = w.replace(lat, cyr)
    out = "".join(_CYR.get(ch, ch) for ch in w)
    return out[:1].upper() + out[1:] if word[:1].isupper() else out


# --------------------------------------------------------------------------------- lexicons
# English open-class concepts. The first 16 transitive verbs are the "causes" whose fixed
# consequence is the intransitive verb with the same index (_IV): the choice tasks learn this table.
_EN_NOUNS = ("box", "apple", "river", "house", "car", "book", "letter", "door", "window", "bottle",
             "glass", "table", "garden", "bridge", "horse", "dog", "cat", "bird", "lamp", "ball",
             "train", "ship", "flower", "stone", "bread", "cake", "shirt", "key", "phone", "tree")
_EN_ADJS = ("red", "blue", "green", "old", "new", "big", "small", "heavy", "bright", "dark", "cold",
            "warm")
_EN_TV = (("drop", "drops", "dropped"), ("heat", "heats", "heated"), ("wash", "washes", "washed"),
          ("kick", "kicks", "kicked"), ("push", "pushes", "pushed"), ("throw", "throws", "threw"),
          ("hide", "hides", "hid"), ("light", "lights", "lit"), ("lift", "lifts", "lifted"),
          ("fix", "fixes", "fixed"), ("shake", "shakes", "shook"), ("cut", "cuts", "cut"),
          ("paint", "paints", "painted"), ("bury", "buries", "buried"), ("fill", "fills", "filled"),
          ("spin", "spins", "spun"), ("see", "sees", "saw"), ("visit", "visits", "visited"),
          ("buy", "buys", "bought"), ("carry", "carries", "carried"), ("find", "finds", "found"),
          ("watch", "watches", "watched"), ("clean", "cleans", "cleaned"), ("sell", "sells", "sold"))
_EN_IV = (("break", "breaks", "broke"), ("melt", "melts", "melted"), ("shine", "shines", "shone"),
          ("roll", "rolls", "rolled"), ("fall", "falls", "fell"), ("fly", "flies", "flew"),
          ("vanish", "vanishes", "vanished"), ("glow", "glows", "glowed"), ("rise", "rises", "rose"),
          ("work", "works", "worked"), ("rattle", "rattles", "rattled"), ("split", "splits", "split"),
          ("dry", "dries", "dried"), ("rot", "rots", "rotted"), ("overflow", "overflows", "overflowed"),
          ("wobble", "wobbles", "wobbled"))
_N_CONSEQ = len(_EN_IV)
# Time adverbs and the tenses they combine with (so "yesterday ... will" never appears).
_ADVS = {
    "en": ("today", "yesterday", "now", "often", "soon"),
    "es": ("hoy", "ayer", "ahora", "amenudo", "pronto"),
    "de": ("heute", "gestern", "jetzt", "oft", "bald"),
    "ru": ("segodnya", "vchera", "seichas", "chasto", "skoro"),
    "ja": ("kyo", "kino", "ima", "yoku", "sugu"),
}
_ADV_BY_TENSE = {"pres": (0, 2, 3), "past": (0, 1, 3), "fut": (0, 4)}

# Shared named entities: the cross-lingual anchors. Multi-token names exercise I- tags.
_PERSONS = (("Maria",), ("John",), ("Anna",), ("Peter",), ("Laura",), ("David",), ("Elena",),
            ("Omar",), ("Sofia",), ("Ivan",), ("Kenji",), ("Lucas",), ("John", "Smith"),
            ("Maria", "Garcia"), ("Anna", "Muller"), ("Ivan", "Petrov"), ("Kenji", "Tanaka"),
            ("Laura", "Rossi"), ("Peter", "Novak"), ("Sofia", "Costa"))
_PLACES = (("Paris",), ("Berlin",), ("Tokyo",), ("Madrid",), ("Moscow",), ("Lima",), ("Cairo",),
           ("Oslo",), ("New", "York"), ("Buenos", "Aires"), ("Rio", "Grande"), ("Hong", "Kong"))
_ORGS = (("Acme",), ("Globex",), ("Initech",), ("Zentra",), ("Acme", "Bank"), ("Nova", "Group"),
         ("Delta", "Motors"), ("United", "Press"))

# Function words, romanised; ru / ja are converted to their script when the lexicon is built.
_FUNCTION = {
    "en": {"det": ("the", "a"), "prep": {"loc": "in", "org": "at"}, "neg": "not", "fut": "will",
           "do": {"pres": "does", "past": "did"}, "case": None, "stop": ".", "qmark": "?",
           "wh": {"who": "who", "what": "what", "where": "where", "how_many": ("how", "many")},
           "q_effect": "what happened then ?", "q_cause": "what was the cause ?"},
    "es": {"det": ("el", "un"), "prep": {"loc": "en", "org": "en"}, "neg": "no", "fut": None,
           "do": None, "case": None, "stop": ".", "qmark": "?",
           "wh": {"who": "quien", "what": "que", "where": "donde", "how_many": ("cuantos",)},
           "q_effect": "que paso despues ?", "q_cause": "cual fue la causa ?"},
    "de": {"det": ("der", "ein"), "prep": {"loc": "in", "org": "bei"}, "neg": "nicht", "fut": "wird",
           "do": None, "case": None, "stop": ".", "qmark": "?",
           "wh": {"who": "wer", "what": "was", "where": "wo", "how_many": ("wie", "viele")},
           "q_effect": "was geschah dann ?", "q_cause": "was war der grund ?"},
    "ru": {"det": None, "prep": {"loc": "v", "org": "u"}, "neg": "ne", "fut": "budet",
           "do": None, "case": None, "stop": ".", "qmark": "?",
           "wh": {"who": "kto", "what": "chto", "where": "gde", "how_many": ("skolko",)},
           "q_effect": "chto sluchilos potom ?", "q_cause": "kakova prichina ?"},
    "ja": {"det": None, "prep": {"loc": "de", "org": "de"}, "neg": "nai", "fut": "daro",
           "do": None, "case": {"S": "ga", "O": "wo"}, "stop": "。", "qmark": "？",
           "wh": {"who": "dare", "what": "nani", "where": "doko", "how_many": ("ikutu",)},
           "q_effect": "sorekara nani ga okita ？", "q_cause": "genin wa nani ？"},
}
_STYLE = {"en": "en", "es": "svo", "de": "de", "ru": "svo", "ja": "ja"}
_SCRIPT = {"en": "Latn", "es": "Latn", "de": "Latn", "ru": "Cyrl", "ja": "Kana"}
_ORDER = {"en": "SVO", "es": "SVO", "de": "SOV", "ru": "SVO", "ja": "SOV"}


def _pseudo(tag: str, consonants: str, nsyl: int, coda: str, taken: set) -> str:
    """A deterministic pseudo-word (CV syllables), unique within ``taken`` (salted on collision)."""
    salt = 0
    while True:
        r = random.Random(zlib.crc32(f"{tag}|{salt}".encode()))
        w = "".join(r.choice(consonants) + r.choice(_VOWELS) for _ in range(nsyl))
        if coda and r.random() < 0.5:
            w += r.choice(coda)
        if w not in taken:
            taken.add(w)
            return w
        salt += 1


def _strip_e(w: str) -> str:
    return w[:-1] if len(w) > 3 and w.endswith("e") else w


def _en_plural(w: str) -> str:
    return w + "es" if w.endswith(("s", "x", "sh", "ch")) else w + "s"


def _build_lexicon(lang: str) -> dict:
    """All word forms of one language, precomputed so that rendering is only lookups."""
    taken: set = set()
    # Stems: the cognate ones derive from English spelling; the rest are pseudo-words.
    def stem(kind: str, i: int, en: str) -> str:
        if lang == "en":
            return en
        if lang == "es" and i % 5 != 4:  # 80% cognates: shared subwords with English
            return _strip_e(en) if kind in ("tv", "iv") else en
        if lang == "de" and i % 2 == 0:  # 50% cognates with German-looking spelling
            w = en.replace("sh", "S").replace("c", "k").replace("w", "v").replace("S", "sch")
            return _strip_e(w) if kind in ("tv", "iv", "adj") else w
        cons = "kstnhmrgzdbp" if lang == "ja" else "bdfgklmnprstvz"
        nsyl = 3 if (lang == "ja" and kind == "noun") else 2
        return _pseudo(f"{lang}|{kind}|{i}", cons, nsyl, "" if lang == "ja" else "nrslkt", taken)

    lex: dict = {"noun": [], "adj": [], "tv": [], "iv": []}
    for i, en in enumerate(_EN_NOUNS):
        s = stem("noun", i, en)
        if lang == "en":
            lex["noun"].append((s, _en_plural(s)))
        elif lang == "es":
            sg = s[:-1] + "o" if s.endswith(("e", "a")) else (s if s.endswith("o") else s + "o")
            lex["noun"].append((sg, sg + "s"))
        elif lang == "de":
            sg = s.capitalize()
            lex["noun"].append((sg, sg + ("n" if sg.endswith("e") else "en")))
        elif lang == "ru":
            lex["noun"].append((s, s + "i"))
        else:  # ja: no plural marking
            lex["noun"].append((s, s))
    for i, en in enumerate(_EN_ADJS):
        s = stem("adj", i, en)
        lex["adj"].append({"en": s, "es": (s[:-1] if s.endswith("e") else s) + "o", "de": s + "e",
                           "ru": s + "yj", "ja": s + "i"}[lang])
    for kind, table in (("tv", _EN_TV), ("iv", _EN_IV)):
        for i, (base, pres, past) in enumerate(table):
            s = stem(kind, i, base)
            # "fut" is the form used in the future: bare form after en "will" / de "wird" /
            # ru "budet", a suffix in es, the present form before the ja auxiliary "daro".
            forms = {
                "en": {"pres": pres, "past": past, "fut": base, "base": base},
                "es": {"pres": s + "a", "past": s + "io", "fut": s + "ara"},
                "de": {"pres": s + "t", "past": s + "te", "fut": s + "en"},
                "ru": {"pres": s + "et", "past": s + "al", "fut": s + "at"},
                "ja": {"pres": s + "masu", "past": s + "masita", "fut": s + "masu"},
            }[lang]
            forms.setdefault("base", forms["fut"])
            lex[kind].append(forms)
    lex["adv"] = list(_ADVS[lang])
    lex["per"] = [tuple(p) for p in _PERSONS]
    lex["loc"] = [tuple(p) for p in _PLACES]
    lex["org"] = [tuple(p) for p in _ORGS]  # organisations stay Latin everywhere (brand names)
    fw = _FUNCTION[lang]
    lex.update({k: fw[k] for k in ("det", "prep", "neg", "fut", "do", "case", "stop", "qmark", "wh",
                                   "q_effect", "q_cause")})
    lex["style"] = _STYLE[lang]
    lex["adj_after"] = lang == "es"

    conv = {"ru": _to_cyrillic, "ja": _to_kana}.get(lang)
    if conv is not None:  # write everything but organisation names and digits in the script
        def c(x):
            if x is None:
                return None
            if isinstance(x, str):
                return " ".join(conv(w) if w not in ("?", "？", ".", "。") else w for w in x.split(" "))
            if isinstance(x, tuple):
                return tuple(c(v) for v in x)
            if isinstance(x, list):
                return [c(v) for v in x]
            return {k: c(v) for k, v in x.items()}
        for key in ("noun", "adj", "tv", "iv", "adv", "per", "loc", "prep", "neg", "fut", "case",
                    "wh", "q_effect", "q_cause"):
            lex[key] = c(lex[key])
    return lex


_LEX = {lang: _build_lexicon(lang) for lang in LANGUAGES}
_NN, _NA, _NTV = len(_EN_NOUNS), len(_EN_ADJS), len(_EN_TV)
_NNAME = {"per": len(_PERSONS), "loc": len(_PLACES), "org": len(_ORGS)}
_NPER, _NLOC, _NORG = len(_PERSONS), len(_PLACES), len(_ORGS)
_TENSES = ("pres", "past", "fut")


def _aligned_forms(lang: str) -> list[tuple[str, str]]:
    """(form in lang, English form) for every aligned open-class concept, name token and digit."""
    a, e = _LEX[lang], _LEX["en"]
    pairs = [(x[0], y[0]) for x, y in zip(a["noun"], e["noun"])]
    pairs += list(zip(a["adj"], e["adj"])) + list(zip(a["adv"], e["adv"]))
    pairs += [(x["pres"], y["pres"]) for k in ("tv", "iv") for x, y in zip(a[k], e[k])]
    pairs += [(u, v) for k in ("per", "loc", "org") for x, y in zip(a[k], e[k]) for u, v in zip(x, y)]
    pairs += [(str(d), str(d)) for d in range(10)]
    return pairs


def _bigrams(w: str) -> set:
    w = f"#{w.lower()}#"  # boundary padding: one-character words (digits) still have bigrams
    return {w[i:i + 2] for i in range(len(w) - 1)}


def _dice(a: str, b: str) -> float:
    ba, bb = _bigrams(a), _bigrams(b)
    return 2 * len(ba & bb) / (len(ba) + len(bb))


def _overlap(lang: str) -> float:
    pairs = _aligned_forms(lang)
    return round(sum(_dice(x, y) for x, y in pairs) / len(pairs), 3)


# Typological features of the smoke languages, by construction (see the module docstring); the
# analysis of research question C uses them as the distance-from-English features.
LANGUAGE_FEATURES = {
    lang: {"script": _SCRIPT[lang], "word_order": _ORDER[lang], "lexical_overlap_with_en": _overlap(lang)}
    for lang in LANGUAGES
}

# Label inventories the generators emit (the registry has none for ccg / ud_parse deprels).
UPOS_TAGS = ["ADJ", "ADP", "ADV", "AUX", "DET", "NOUN", "NUM", "PART", "PROPN", "PUNCT", "VERB"]
NER_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
DEPRELS = ["root", "nsubj", "obj", "obl", "det", "amod", "nummod", "case", "advmod", "aux", "flat",
           "punct"]
_PRE = "(S\\NP)/(S\\NP)"   # a VP modifier before the verb
_POST = "(S\\NP)\\(S\\NP)"  # a VP modifier after the verb
_MOD = {"front": "S/S", "post": _POST, "pre": _PRE}  # an adverb(ial) by position
_PREP = {"front": "(S/S)/NP", "post": "((S\\NP)\\(S\\NP))/NP", "pre": "((S\\NP)/(S\\NP))/NP"}
SUPERTAGS = sorted({
    "NP/N", "N/N", "N", "N\\N", "NP\\NP", "NP", ".", "S/S", _PRE, _POST,
    "(S\\NP)/NP", "(S\\NP)\\NP", "S\\NP",
    "((S\\NP)\\(S\\NP))/NP", "((S\\NP)/(S\\NP))/NP", "((S\\NP)/(S\\NP))\\NP", "(S/S)/NP", "(S/S)\\NP",
})
_NER_LABEL = {"per": "PER", "loc": "LOC", "org": "ORG"}


# --------------------------------------------------------------------------------- rendering
def _render(sc: dict, lang: str, cs: frozenset | None = None, wh: str | None = None):
    """Render a scene as tokens annotated with (form, upos, head key, deprel, ner, supertag).

    ``cs``: concept keys (kind, index) rendered with the English word (code-switching).
    ``wh``: "S" / "O" / "L" / "N": render a question with that slot replaced by a wh-word in situ.
    Returns (tokens, spans): each token is (form, upos, head key, deprel, ner, supertag, own key);
    head keys ("V", "S", "O", "L") name the head token of the verb / an argument (see _heads);
    spans maps slots to the [start, end) token range of their content (no article / case marker).
    """
    L = _LEX[lang]
    toks: list = []
    spans: dict = {}

    ap = toks.append  # a bound C method, not a helper function: rendering is the hot loop

    def word(kind, i):
        return (_LEX["en"] if cs and (kind, i) in cs else L)[kind][i]

    def np(ent, key, rel, slot):
        kind = ent[0]
        if wh == slot and slot in ("S", "O"):
            ap((L["wh"]["what" if kind == "thing" else "who"], "PRON", "V", rel, "O", "NP", key))
        elif kind != "thing":
            words = L[kind][ent[1]]
            lab, last, start = _NER_LABEL[kind], len(words) - 1, len(toks)
            for j, w in enumerate(words):
                if j == 0:
                    ap((w, "PROPN", "V", rel, "B-" + lab, "N" if last == 0 else "N/N", key))
                else:
                    ap((w, "PROPN", key, "flat", "I-" + lab, "N" if j == last else "N/N", None))
            spans[slot] = (start, len(toks))
        else:
            _, n, a, num, definite = ent
            if num is None and L["det"]:
                ap((L["det"][0 if definite else 1], "DET", key, "det", "O", "NP/N", None))
            start = len(toks)
            if num is not None:
                if wh == "N":
                    for w in L["wh"]["how_many"]:
                        ap((w, "ADV", key, "advmod", "O", "N/N", None))
                else:
                    spans["N"] = (len(toks), len(toks) + 1)
                    ap((str(num), "NUM", key, "nummod", "O", "N/N", None))
            adj = word("adj", a) if a is not None else None
            if adj and not L["adj_after"]:
                ap((adj, "ADJ", key, "amod", "O", "N/N", None))
            sg, pl = word("noun", n)
            ap((pl if num is not None else sg, "NOUN", "V", rel, "O", "N", key))
            if adj and L["adj_after"]:
                ap((adj, "ADJ", key, "amod", "O", "N\\N", None))
            spans[slot] = (start, len(toks))
        if L["case"] and slot in L["case"]:
            ap((L["case"][slot], "ADP", key, "case", "O", "NP\\NP", None))

    def loc(pos):  # pos: "front" | "post" (after the verb) | "pre" (before the verb)
        if wh == "L":
            ap((L["wh"]["where"], "ADV", "V", "advmod", "O", _MOD[pos], None))
            return
        ent = sc["loc"]
        prep = L["prep"][ent[0]]
        if L["case"]:  # postpositions
            np(ent, "L", "obl", "L")
            ap((prep, "ADP", "L", "case", "O", "(S/S)\\NP" if pos == "front" else "((S\\NP)/(S\\NP))\\NP",
                None))
        else:
            ap((prep, "ADP", "L", "case", "O", _PREP[pos], None))
            np(ent, "L", "obl", "L")

    def adv(pos):
        ap((word("adv", sc["adv"]), "ADV", "V", "advmod", "O", _MOD[pos], None))

    vkind, vi = sc["verb"]
    forms = word(vkind, vi)
    obj, tense, neg, style = sc["obj"], sc["tense"], sc["neg"], L["style"]
    has_loc = sc["loc"] is not None or wh == "L"
    vccg = ("(S\\NP)\\NP" if style in ("de", "ja") else "(S\\NP)/NP") if obj is not None else "S\\NP"
    front = None
    if sc["front"]:
        front = "adv" if sc["adv"] is not None else ("loc" if has_loc else None)
    if front == "adv":
        adv("front")
    elif front == "loc":
        loc("front")
    np(sc["subj"], "S", "nsubj", "S")
    rest_adv = sc["adv"] is not None and front != "adv"
    rest_loc = has_loc and front != "loc"
    if style in ("en", "svo"):
        if style == "en" and (tense == "fut" or neg):
            ap((L["fut"] if tense == "fut" else L["do"][tense], "AUX", "V", "aux", "O", _PRE, None))
            if neg:
                ap((L["neg"], "PART", "V", "advmod", "O", _POST, None))
            ap((forms["base"], "VERB", None, "root", "O", vccg, "V"))
        else:
            if neg:
                ap((L["neg"], "PART", "V", "advmod", "O", _PRE, None))
            if tense == "fut" and L["fut"]:
                ap((L["fut"], "AUX", "V", "aux", "O", _PRE, None))
            ap((forms[tense], "VERB", None, "root", "O", vccg, "V"))
        if obj is not None:
            np(obj, "O", "obj", "O")
        if rest_loc:
            loc("post")
        if rest_adv:
            adv("post")
    else:  # verb-final: de (aux in second position, "nicht" before the verb), ja (postpositions)
        if style == "de" and tense == "fut":
            ap((L["fut"], "AUX", "V", "aux", "O", _PRE, None))
        if rest_adv:
            adv("pre")
        if rest_loc:
            loc("pre")
        if obj is not None:
            np(obj, "O", "obj", "O")
        if style == "de" and neg:
            ap((L["neg"], "PART", "V", "advmod", "O", _PRE, None))
        ap((forms[tense], "VERB", None, "root", "O", vccg, "V"))
        if style == "ja":
            if neg:
                ap((L["neg"], "PART", "V", "advmod", "O", _POST, None))
            if tense == "fut":
                ap((L["fut"], "AUX", "V", "aux", "O", _POST, None))
    ap((L["qmark"] if wh else L["stop"], "PUNCT", "V", "punct", "O", ".", None))
    return toks, spans


def _text(sc: dict, lang: str, cs=None, wh=None) -> str:
    return " ".join([t[0] for t in _render(sc, lang, cs, wh)[0]])


def _heads(toks) -> list[int]:
    """1-based heads (0 = root) from the symbolic head keys."""
    pos = {t[6]: i + 1 for i, t in enumerate(toks) if t[6] is not None}
    return [pos[t[2]] if t[2] else 0 for t in toks]


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
