"""The smoke benchmark's five toy languages: their scripts, lexicons and rendering.

A scene (smoke.py) is language-independent; `_render` writes it in one of the five languages with
its tags, heads and supertags. The languages differ in exactly what the study cares about (script,
word order, lexical overlap with English): see smoke.py's docstring for the table.
"""
from __future__ import annotations

import random
import zlib

LANGUAGES = ["en", "es", "de", "ru", "ja"]

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
