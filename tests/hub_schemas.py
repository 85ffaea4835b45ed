"""Offline stand-ins for the Hub datasets tasks.yaml names, built from each dataset's documented
schema: its configs, split names and `datasets.Features` (ClassLabel names in the Hub's id order,
Sequence columns), so label ids, nested answers and unlabelled rows behave as they do on the Hub.

Sources of the schemas (dataset cards' `dataset_info` / loading scripts):
  google/xtreme            huggingface/datasets datasets/xtreme/README.md (udpos.* pos_tags ClassLabel
                           ADJ..X; PAN-X.* tokens/ner_tags ClassLabel O,B-PER,..; PAWS-X.* label *string*;
                           tatoeba.<iso3> and bucc18.* source/target_sentence; MLQA.x.y test+validation;
                           tydiqa train+validation; tatoeba validation only; udpos Tagalog/Thai/Yoruba test only)
  universal_dependencies   datasets/universal_dependencies card: upos ClassLabel NOUN,PUNCT,ADP,..,_ ,..AUX
                           (multiword-token lines carry upos "_" and head "None")
  facebook/xnli, facebook/anli, stanfordnlp/snli, nyu-mll/multi_nli: label ClassLabel
                           entailment/neutral/contradiction (SNLI: -1 = no gold label); MNLI splits
                           validation_matched / validation_mismatched; ANLI train_r1..dev_r3..
  nyu-mll/glue qqp         label ClassLabel not_duplicate/duplicate; test labels -1
  google-research-datasets/paws labeled_final: label ClassLabel "0"/"1"
  PhilipMay/stsb_multi_mt  similarity_score float; splits train / dev / test
  rajpurkar/squad(_v2), google/xquad (validation only): answers Sequence({text, answer_start})
  Rowan/hellaswag          endings Sequence(string), label *string* ("" on test)
  allenai/cosmos_qa        answer0-3, label int; tau/commonsense_qa: choices {label, text}, answerKey
  allenai/social_i_qa      answerA-C, label string "1".."3" (train/validation)
  aps/super_glue copa      label ClassLabel choice1/choice2 (test -1); cambridgeltl/xcopa label int
  wikimedia/wikipedia      20231101.<lang>: id, url, title, text (streamed)

`load_dataset` raises as `datasets` does for an unknown config or split, so a registry entry
naming a config or split the dataset does not have fails here too.
"""
from __future__ import annotations

import datasets
from datasets import ClassLabel, Features, Sequence, Value

S = Value("string")
NLI = ClassLabel(names=["entailment", "neutral", "contradiction"])
XTREME_UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
               "PUNCT", "SCONJ", "SYM", "VERB", "X"]
UD_UPOS = ["NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ", "PROPN", "PRON", "X",
           "_", "ADV", "INTJ", "VERB", "AUX"]
PANX = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
ANSWERS = Sequence({"text": S, "answer_start": Value("int32")})
QA_FEATURES = Features({"id": S, "title": S, "context": S, "question": S, "answers": ANSWERS})
BITEXT = Features({"source_sentence": S, "target_sentence": S, "source_lang": S, "target_lang": S})

XTREME_LANGUAGE_NAMES = ["Afrikaans", "Arabic", "Basque", "Bulgarian", "Chinese", "Dutch", "English", "Estonian",
                         "Finnish", "French", "German", "Greek", "Hebrew", "Hindi", "Hungarian", "Indonesian",
                         "Italian", "Japanese", "Kazakh", "Korean", "Marathi", "Persian", "Portuguese", "Russian",
                         "Spanish", "Tagalog", "Tamil", "Telugu", "Thai", "Turkish", "Urdu", "Vietnamese", "Yoruba"]
PANX_LANGS = ("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta "
              "te th tl tr ur vi yo zh").split()
TATOEBA_ISO3 = ("afr ara ben bul cmn deu ell est eus fin fra heb hin hun ind ita jav jpn kat kaz kor mal mar nld "
                "pes por rus spa swh tam tel tgl tha tur urd vie").split()
XNLI_LANGS = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
MLQA_LANGS = "ar de en es hi vi zh".split()
XQUAD_LANGS = "ar de el en es hi ro ru th tr vi zh".split()
XCOPA_LANGS = "et ht id it qu sw ta th tr vi zh".split()
STSB_LANGS = "de en es fr it nl pl pt ru zh".split()
TYDIQA_LANGUAGES = ["arabic", "bengali", "english", "finnish", "indonesian", "korean", "russian", "swahili", "telugu"]


def _xtreme_configs() -> dict:
    configs = {}
    for name in XTREME_LANGUAGE_NAMES:
        splits = ("test",) if name in ("Tagalog", "Thai", "Yoruba") else \
            ("train", "test") if name == "Kazakh" else ("train", "validation", "test")
        configs[f"udpos.{name}"] = ("udpos", splits)
    configs.update({f"PAN-X.{l}": ("panx", ("train", "validation", "test")) for l in PANX_LANGS})
    configs.update({f"PAWS-X.{l}": ("pawsx", ("train", "validation", "test")) for l in "de en es fr ja ko zh".split()})
    configs.update({f"MLQA.{a}.{b}": ("qa", ("test", "validation")) for a in MLQA_LANGS for b in MLQA_LANGS})
    configs["tydiqa"] = ("tydiqa", ("train", "validation"))
    configs.update({f"bucc18.{l}": ("bitext", ("validation", "test")) for l in "de fr ru zh".split()})
    configs.update({f"tatoeba.{l}": ("bitext", ("validation",)) for l in TATOEBA_ISO3})
    return configs


# path -> {config (None = the default config): (schema kind, splits)}
DATASETS: dict[str, dict] = {
    "google/xtreme": _xtreme_configs(),
    "universal-dependencies/universal_dependencies": {"en_ewt": ("ud", ("train", "validation", "test"))},
    "facebook/xnli": {l: ("xnli", ("train", "test", "validation")) for l in XNLI_LANGS},
    "facebook/anli": {None: ("anli", tuple(f"{s}_r{r}" for s in ("train", "dev", "test") for r in (1, 2, 3)))},
    "stanfordnlp/snli": {None: ("snli", ("test", "validation", "train"))},
    "nyu-mll/multi_nli": {None: ("mnli", ("train", "validation_matched", "validation_mismatched"))},
    "nyu-mll/glue": {"qqp": ("qqp", ("train", "validation", "test"))},
    "google-research-datasets/paws": {c: ("paws", ("train", "validation", "test"))
                                      for c in ("labeled_final", "labeled_swap")},
    "PhilipMay/stsb_multi_mt": {l: ("stsb", ("train", "test", "dev")) for l in STSB_LANGS},
    "rajpurkar/squad": {None: ("qa", ("train", "validation"))},
    "rajpurkar/squad_v2": {None: ("squad_v2", ("train", "validation"))},
    "google/xquad": {f"xquad.{l}": ("qa", ("validation",)) for l in XQUAD_LANGS},
    "Rowan/hellaswag": {None: ("hellaswag", ("train", "test", "validation"))},
    "allenai/cosmos_qa": {None: ("cosmosqa", ("train", "test", "validation"))},
    "tau/commonsense_qa": {None: ("commonsenseqa", ("train", "validation", "test"))},
    "allenai/social_i_qa": {None: ("siqa", ("train", "validation"))},
    "aps/super_glue": {"copa": ("copa", ("train", "validation", "test"))},
    "cambridgeltl/xcopa": {l: ("xcopa", ("validation", "test")) for l in XCOPA_LANGS},
    "wikimedia/wikipedia": {f"20231101.{l}": ("wiki", ("train",))
                            for l in "de el en es fr it ja kk ko mr nl pl pt ru ta te tr vi zh".split()},
}


def rows_for(kind: str, config: str | None, split: str) -> tuple[dict, Features]:
    """Three small rows of a schema (columns as lists) and its Features. Texts name the config and
    split, so a test can tell which Hub call a converted row came from."""
    tag = f"{config or 'default'}/{split}"
    if kind == "udpos":
        return ({"tokens": [[f"{tag}-a", "b"], ["c"], ["d", "e", "f"]], "pos_tags": [[7, 12], [15], [0, 16, 1]]},
                Features({"tokens": Sequence(S), "pos_tags": Sequence(ClassLabel(names=XTREME_UPOS))}))
    if kind == "panx":
        return ({"tokens": [[f"{tag}-Ann", "lives"], ["in", "Oslo"], ["x"]], "ner_tags": [[1, 0], [0, 5], [0]],
                 "langs": [["xx", "xx"], ["xx", "xx"], ["xx"]]},
                Features({"tokens": Sequence(S), "ner_tags": Sequence(ClassLabel(names=PANX)), "langs": Sequence(S)}))
    if kind == "pawsx":
        return ({"sentence1": [f"{tag} a", "b", "c"], "sentence2": ["a2", "b2", "c2"], "label": ["1", "0", "1"]},
                Features({"sentence1": S, "sentence2": S, "label": S}))
    if kind in ("qa", "tydiqa", "squad_v2"):
        # TyDiQA-GoldP: one config for all languages, ids prefixed with the language name
        ids = [f"{l}-{i}" for i, l in enumerate(TYDIQA_LANGUAGES)] if kind == "tydiqa" else \
            [f"{tag}-{i}" for i in range(3)]
        answers = [{"text": ["Oslo", "Oslo"], "answer_start": [6, 6]} for _ in ids]
        if kind == "squad_v2":
            answers[2] = {"text": [], "answer_start": []}  # unanswerable
        return ({"id": ids, "title": ["t"] * len(ids), "context": [f"lives Oslo {tag}"] * len(ids),
                 "question": ["where?"] * len(ids), "answers": answers}, QA_FEATURES)
    if kind == "bitext":
        src = (config or "").split(".")[-1]
        return ({"source_sentence": [f"{tag} s0\n", "s1", "s2"], "target_sentence": ["e0\n", "e1", "e2"],
                 "source_lang": [src] * 3, "target_lang": ["eng" if config.startswith("tatoeba") else "en"] * 3},
                BITEXT)
    if kind == "ud":
        # sentence 1 has a multiword token "don't" (1-2) before its two words, as conllu yields it
        return ({"idx": ["s1", "s2", "s3"], "text": ["don't go", "Hi .", "x"],
                 "tokens": [["don't", "do", "n't", "go"], ["Hi", "."], [f"{tag}-x"]],
                 "lemmas": [["_", "do", "not", "go"], ["hi", "."], ["x"]],
                 "upos": [[13, 17, 7, 16], [15, 1], [12]],
                 "xpos": [[None, "VBP", "RB", "VB"], ["UH", "."], ["FW"]],
                 "feats": [["None", "None", "None", "None"], ["None", "None"], ["None"]],
                 "head": [["None", "3", "3", "0"], ["0", "1"], ["0"]],
                 "deprel": [["_", "aux", "advmod", "root"], ["root", "punct"], ["root"]],
                 "deps": [["None"] * 4, ["None"] * 2, ["None"]], "misc": [["None"] * 4, ["None"] * 2, ["None"]]},
                Features({"idx": S, "text": S, "tokens": Sequence(S), "lemmas": Sequence(S),
                          "upos": Sequence(ClassLabel(names=UD_UPOS)), "xpos": Sequence(S), "feats": Sequence(S),
                          "head": Sequence(S), "deprel": Sequence(S), "deps": Sequence(S), "misc": Sequence(S)}))
    if kind in ("xnli", "anli", "snli", "mnli"):
        cols = {"premise": [f"{tag} p0", "p1", "p2"], "hypothesis": ["h0", "h1", "h2"],
                "label": [2, 0, -1 if kind == "snli" else 1]}
        feats = {"premise": S, "hypothesis": S, "label": NLI}
        if kind == "anli":
            cols.update(uid=["u0", "u1", "u2"], reason=["", "", ""])
            feats.update(uid=S, reason=S)
        if kind == "mnli":
            cols.update(promptID=[1, 2, 3], pairID=["1e", "2n", "3c"], genre=["fiction"] * 3,
                        premise_binary_parse=[""] * 3, premise_parse=[""] * 3,
                        hypothesis_binary_parse=[""] * 3, hypothesis_parse=[""] * 3)
            feats.update(promptID=Value("int32"), pairID=S, genre=S, premise_binary_parse=S, premise_parse=S,
                         hypothesis_binary_parse=S, hypothesis_parse=S)
        return cols, Features(feats)
    if kind == "qqp":
        label = [-1, -1, -1] if split == "test" else [1, 0, 1]
        return ({"question1": [f"{tag} q0", "q1", "q2"], "question2": ["r0", "r1", "r2"], "label": label,
                 "idx": [0, 1, 2]},
                Features({"question1": S, "question2": S,
                          "label": ClassLabel(names=["not_duplicate", "duplicate"]), "idx": Value("int32")}))
    if kind == "paws":
        return ({"id": [1, 2, 3], "sentence1": [f"{tag} a", "b", "c"], "sentence2": ["a2", "b2", "c2"],
                 "label": [0, 1, 1]},
                Features({"id": Value("int32"), "sentence1": S, "sentence2": S, "label": ClassLabel(names=["0", "1"])}))
    if kind == "stsb":
        return ({"sentence1": [f"{tag} a", "b", "c"], "sentence2": ["a2", "b2", "c2"],
                 "similarity_score": [5.0, 0.25, 3.5]},
                Features({"sentence1": S, "sentence2": S, "similarity_score": Value("float32")}))
    if kind == "hellaswag":
        label = ["", "", ""] if split == "test" else ["3", "0", "1"]
        return ({"ind": [1, 2, 3], "activity_label": ["Cooking", "", "Sport"], "ctx_a": ["a"] * 3, "ctx_b": ["b"] * 3,
                 "ctx": [f"{tag} c0", "c1", "c2"], "endings": [["e0", "e1", "e2", "e3"]] * 3,
                 "source_id": ["x"] * 3, "split": [split] * 3, "split_type": ["indomain"] * 3, "label": label},
                Features({"ind": Value("int32"), "activity_label": S, "ctx_a": S, "ctx_b": S, "ctx": S,
                          "endings": Sequence(S), "source_id": S, "split": S, "split_type": S, "label": S}))
    if kind == "cosmosqa":
        label = [-1, -1, -1] if split == "test" else [2, 0, 3]
        cols = {"id": ["a", "b", "c"], "context": [f"{tag} c0", "c1", "c2"], "question": ["q0", "q1", "q2"],
                "label": label, **{f"answer{i}": [f"a{i}"] * 3 for i in range(4)}}
        return cols, Features({"id": S, "context": S, "question": S, "label": Value("int32"),
                               **{f"answer{i}": S for i in range(4)}})
    if kind == "commonsenseqa":
        key = ["", "", ""] if split == "test" else ["C", "A", "E"]
        return ({"id": ["a", "b", "c"], "question": [f"{tag} q0", "q1", "q2"], "question_concept": ["x"] * 3,
                 "choices": [{"label": list("ABCDE"), "text": ["t0", "t1", "t2", "t3", "t4"]}] * 3, "answerKey": key},
                Features({"id": S, "question": S, "question_concept": S,
                          "choices": Sequence({"label": S, "text": S}), "answerKey": S}))
    if kind == "siqa":
        return ({"context": [f"{tag} c0", "c1", "c2"], "question": ["q0", "q1", "q2"], "answerA": ["A"] * 3,
                 "answerB": ["B"] * 3, "answerC": ["C"] * 3, "label": ["1", "3", "2"]},
                Features({"context": S, "question": S, "answerA": S, "answerB": S, "answerC": S, "label": S}))
    if kind in ("copa", "xcopa"):
        label = [-1, -1, -1] if kind == "copa" and split == "test" else [1, 0, 1]
        cols = {"premise": [f"{tag} p0", "p1", "p2"], "choice1": ["c1"] * 3, "choice2": ["c2"] * 3,
                "question": ["cause", "effect", "cause"], "idx": [0, 1, 2], "label": label}
        feats = {"premise": S, "choice1": S, "choice2": S, "question": S, "idx": Value("int32"),
                 "label": ClassLabel(names=["choice1", "choice2"]) if kind == "copa" else Value("int32")}
        if kind == "xcopa":
            cols["changed"] = [False, True, False]
            feats["changed"] = Value("bool")
        return cols, Features(feats)
    if kind == "wiki":
        return ({"id": ["1", "2", "3"], "url": ["u"] * 3, "title": ["t"] * 3, "text": [f"{tag} one.", "  ", "two."]},
                Features({"id": S, "url": S, "title": S, "text": S}))
    raise KeyError(kind)


class FakeHub:
    """`datasets.load_dataset` for the schemas above; records every call."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, path, name=None, *, split=None, streaming=False, **kwargs):
        self.calls.append((path, name, split, streaming))
        if path not in DATASETS:
            raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed.")
        configs = DATASETS[path]
        if name not in configs:
            raise ValueError(f"BuilderConfig '{name}' not found. Available: {sorted(map(str, configs))[:5]} ...")
        kind, splits = configs[name]
        if split not in splits:
            raise ValueError(f'Unknown split "{split}". Should be one of {list(splits)}.')
        columns, features = rows_for(kind, name, split)
        ds = datasets.Dataset.from_dict(columns, features=features)
        return ds.to_iterable_dataset() if streaming else ds
