"""data.py without the mirror and without the network: the registry's mirror/hub entries are complete
and name existing readers/converters, errors are clear, and the Hub path (with `datasets.load_dataset`
replaced by in-memory datasets) builds the right calls and converts rows to the example schema."""
from __future__ import annotations

import string

import datasets
import pytest

from xstilts import data, tasks

SPLIT_KEYS = {"files", "needs", "reader", "rows", "languages", "substitute", "unavailable", "path", "name", "split",
              "converter", "parts", "id_prefix", "streaming", "max_rows", "any_language",
              "rows_by", "disjoint_from", "parallel"}
PLACEHOLDERS = {"lang", "iso3", "Language", "language"}


def _split_entries():
    for name in tasks.task_names():
        task = tasks.get_task(name)
        for source in ("mirror", "hub"):
            entry = task[source]
            if "unavailable" in entry:
                continue
            for split in data.SPLITS:
                if split in entry:
                    yield name, source, split, entry[split]


def _templates(spec):
    files = spec.get("files")
    values = list(files) if isinstance(files, list) else list(files.values()) if isinstance(files, dict) else [files]
    values += [spec.get("name"), spec.get("path"), spec.get("id_prefix")]
    values += [v for p in spec.get("parts", []) for v in (p.get("name"), p.get("path"))]
    return [v for v in values if isinstance(v, str)]


def test_every_task_has_mirror_and_hub_entries():
    for name in tasks.task_names():
        task = tasks.get_task(name)
        for source in ("mirror", "hub"):
            assert source in task, (name, source)
            entry = task[source]
            if "unavailable" in entry:
                assert isinstance(entry["unavailable"], str) and len(entry["unavailable"]) > 40
            else:
                assert set(entry) <= set(data.SPLITS), (name, source, set(entry))
                assert entry, (name, source)


def test_split_entries_name_existing_readers_and_converters():
    for name, source, split, spec in _split_entries():
        assert set(spec) <= SPLIT_KEYS, (name, source, split, set(spec) - SPLIT_KEYS)
        for other in spec.get("disjoint_from", []):  # the data audit's exclusions name real splits
            assert split in ("train", "validation", "test") and other["split"] in tasks.get_task(other["task"])[source]
        assert spec.get("rows_by") in (None, "context")
        if "unavailable" in spec:
            continue
        if source == "mirror":
            assert spec["reader"] in data.READERS, (name, split, spec["reader"])
            assert spec.get("files"), (name, split)
        else:
            assert spec["converter"] in data.HUB_CONVERTERS, (name, split, spec["converter"])
            parts = spec.get("parts") or [spec]
            assert all(p.get("path") and p.get("split") for p in parts), (name, split)
        if "rows" in spec:
            start, stop = spec["rows"]
            assert 0 <= start < stop


def test_placeholders_are_known_and_resolvable_for_every_language():
    formatter = string.Formatter()
    for name, source, split, spec in _split_entries():
        for template in _templates(spec):
            fields = {f for _, f, _, _ in formatter.parse(template) if f}
            assert fields <= PLACEHOLDERS, (name, split, template)
            langs = data.split_languages(name, split, source) or []
            for lang in langs:
                if "iso3" in fields:
                    assert lang in data.ISO3, (name, lang)
                if fields & {"Language", "language"}:
                    assert lang in data.LANGUAGE_NAMES, (name, lang)
                assert "{" not in data._fill(template, lang)


def test_substitute_notes_are_single_sentences():
    for name, source, split, spec in _split_entries():
        note = spec.get("substitute")
        if note is not None:
            assert "\n" not in note and 20 < len(note) < 260, (name, split)
            assert data.source_note(name, split, source) == note
    assert data.source_note("xquad", "test", "mirror") is None
    assert data.source_note("qqp", "train", "mirror").startswith("unavailable")


def test_mirror_languages_are_a_subset_of_languages():
    for name in tasks.task_names():
        task = tasks.get_task(name)
        if task.get("mirror_languages") and task.get("languages"):
            assert set(task["mirror_languages"]) <= set(task["languages"]), name


def test_xtreme_language_lists():
    # XTREME (Hu et al. 2020) / XTREME-R (Ruder et al. 2021) evaluation languages
    expected = {
        "xnli": "ar bg de el en es fr hi ru sw th tr ur vi zh",
        "pawsx": "de en es fr ja ko zh",
        "mlqa": "ar de en es hi vi zh",
        "tydiqa": "ar bn en fi id ko ru sw te",
        "bucc": "de fr ru zh",
        "xcopa": "et ht id it qu sw ta th tr vi zh",
        "udpos": "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh",
        "panx": "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta "
                "te th tl tr ur vi yo zh",
        "tatoeba": "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th "
                   "tl tr ur vi zh",
    }
    for name, langs in expected.items():
        assert sorted(tasks.get_task(name)["languages"]) == sorted(langs.split()), name
    # XQuAD: XTREME's 11 plus Romanian (added to XQuAD in 2020)
    assert set(tasks.get_task("xquad")["languages"]) == set("ar de el en es hi ro ru th tr vi zh".split())


# ------------------------------------------------------------------------------------- errors
def test_data_missing_error_names_file_and_remedy(tmp_path):
    with pytest.raises(data.DataMissingError) as info:
        data.load_examples("xnli", "test", "de", source="mirror", data_dir=tmp_path)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    msg = str(err)
    assert str(tmp_path / "xnli" / "test-de.tsv") in msg
    assert "'xnli'" in msg and "'test'" in msg and "'de'" in msg
    assert "XSTILTS_DATA" in msg and "data_dir" in msg and "source: hub" in msg
    assert "\n" not in msg


def test_check_available_also_checks_files_a_reader_opens_itself(tmp_path):
    (tmp_path / "tatoeba").mkdir()
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.deu").write_text("Hallo\n")
    with pytest.raises(data.DataMissingError, match="tatoeba.deu-eng.eng"):  # the English side
        data.check_available("tatoeba", "test", "de", source="mirror", data_dir=tmp_path)
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.eng").write_text("Hello\n")
    data.check_available("tatoeba", "test", "de", source="mirror", data_dir=tmp_path)
    assert data.load_examples("tatoeba", "test", "de", source="mirror", data_dir=tmp_path) == [
        {"source": "Hallo", "target": "Hello"}]


def test_mirror_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_DATA", str(tmp_path / "env"))
    assert data.mirror_dir(tmp_path / "param") == tmp_path / "param"
    assert data.mirror_dir() == tmp_path / "env"
    monkeypatch.delenv("XSTILTS_DATA")
    default = (data.REPO_ROOT / ".." / "shared" / "data").resolve()
    if default.is_dir():
        assert data.mirror_dir() == default
    else:
        with pytest.raises(data.DataMissingError):
            data.mirror_dir()


def test_env_var_is_used_for_loading(tmp_path, monkeypatch):
    (tmp_path / "xcopa").mkdir()
    (tmp_path / "xcopa" / "val.qu.jsonl").write_text(
        '{"premise": "p", "choice1": "a", "choice2": "b", "question": "cause", "label": 1}\n', encoding="utf-8")
    monkeypatch.setenv("XSTILTS_DATA", str(tmp_path))
    rows = data.load_examples("xcopa", "validation", "qu", source="mirror")
    assert rows == [{"context": "p", "question": "cause", "choices": ["a", "b"], "label": 1}]


@pytest.mark.parametrize("kwargs,match", [
    (dict(task_name="nope", split="test", lang="en", source="mirror"), "Unknown task"),
    (dict(task_name="xnli", split="dev", lang="en", source="mirror"), "Unknown split"),
    (dict(task_name="xnli", split="test", lang="en", source="disk"), "Unknown source"),
    (dict(task_name="xnli", split="test", lang="ja", source="mirror"), "choose one of: ar, bg"),
    (dict(task_name="xnli", split="train", lang="en", source="mirror"), "train_from|available"),
    (dict(task_name="tatoeba", split="test", lang="xx", source="hub"), "choose one of"),
])
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_examples(**kwargs)


# ---------------------------------------------------------------------------------------- hub
class _FakeHub:
    """Stands in for datasets.load_dataset: records calls, returns small in-memory datasets."""

    def __init__(self, tables):
        self.tables, self.calls = tables, []

    def __call__(self, path, name=None, split=None, **kwargs):
        self.calls.append((path, name, split))
        return self.tables[(path, name, split)] if (path, name, split) in self.tables else self.tables[path]


NLI = datasets.Dataset.from_dict(
    {"premise": ["p1", "p2", "p3"], "hypothesis": ["h1", "h2", "h3"], "label": [0, 2, -1]},
    features=datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])}))


def test_hub_anli_plus_concatenates_all_parts(monkeypatch):
    fake = _FakeHub({"facebook/anli": NLI, "stanfordnlp/snli": NLI, "nyu-mll/multi_nli": NLI})
    monkeypatch.setattr(datasets, "load_dataset", fake)
    rows = data.load_examples("anli_plus", "train", "en", source="hub")
    assert [c[0] for c in fake.calls] == ["facebook/anli"] * 3 + ["stanfordnlp/snli", "nyu-mll/multi_nli"]
    assert [c[2] for c in fake.calls][:3] == ["train_r1", "train_r2", "train_r3"]
    assert len(rows) == 10 and rows[1] == {"text_a": "p2", "text_b": "h2", "label": "contradiction"}


def test_hub_udpos_uses_language_names_and_classlabels(monkeypatch):
    names = tasks.get_task("udpos")["labels"]
    ds = datasets.Dataset.from_dict(
        {"tokens": [["Das", "Haus"]], "pos_tags": [[names.index("DET"), names.index("NOUN")]]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "pos_tags": datasets.Sequence(datasets.ClassLabel(names=names))}))
    fake = _FakeHub({"google/xtreme": ds})
    monkeypatch.setattr(datasets, "load_dataset", fake)
    rows = data.load_examples("udpos", "test", "de", source="hub")
    assert fake.calls == [("google/xtreme", "udpos.German", "test")]
    assert rows == [{"tokens": ["Das", "Haus"], "tags": ["DET", "NOUN"]}]


def test_hub_tatoeba_and_tydiqa_configs(monkeypatch):
    bitext = datasets.Dataset.from_dict({"source_sentence": ["Hallo\n"], "target_sentence": ["Hello\n"],
                                         "source_lang": ["deu"], "target_lang": ["eng"]})
    qa = datasets.Dataset.from_dict({
        "id": ["arabic-1", "english-2"], "context": ["abc", "xyz"], "question": ["q", "q"],
        "answers": [{"text": ["b"], "answer_start": [1]}, {"text": ["z"], "answer_start": [2]}]})
    fake = _FakeHub({("google/xtreme", "tatoeba.deu", "validation"): bitext,
                     ("google/xtreme", "tydiqa", "validation"): qa})
    monkeypatch.setattr(datasets, "load_dataset", fake)
    assert data.load_examples("tatoeba", "test", "de", source="hub") == [{"source": "Hallo", "target": "Hello"}]
    rows = data.load_examples("tydiqa", "test", "ar", source="hub")
    assert [r["id"] for r in rows] == ["arabic-1"] and rows[0]["answers"] == {"text": ["b"], "answer_start": [1]}


def test_hub_multiple_choice_converters():
    hs = datasets.Dataset.from_dict({"activity_label": ["Roof"], "ctx": ["A man. he"], "label": ["3"],
                                     "endings": [["a", "b", "c", "d"]]})
    assert data.HUB_CONVERTERS["hellaswag"](hs, "en") == [
        {"context": "Roof: A man. he", "question": "", "choices": ["a", "b", "c", "d"], "label": 3}]
    si = datasets.Dataset.from_dict({"context": ["c"], "question": ["q"], "answerA": ["a"], "answerB": ["b"],
                                     "answerC": ["x"], "label": ["2"]})
    assert data.HUB_CONVERTERS["siqa"](si, "en")[0]["label"] == 1
    cs = datasets.Dataset.from_dict({"question": ["q", "t"], "answerKey": ["C", ""],
                                     "choices": [{"label": ["A", "B", "C"], "text": ["x", "y", "z"]}] * 2})
    assert data.HUB_CONVERTERS["commonsenseqa"](cs, "en") == [
        {"context": "", "question": "q", "choices": ["x", "y", "z"], "label": 2}]


def test_hub_ud_converters_drop_multiword_lines():
    upos = tasks.get_task("ud_pos")["labels"]
    ds = datasets.Dataset.from_dict(
        {"tokens": [["don't", "do", "n't", "go"]], "upos": [[upos.index("X"), upos.index("AUX"),
                                                               upos.index("PART"), upos.index("VERB")]],
         "head": [["None", "3", "3", "0"]], "deprel": [["_", "aux", "advmod", "root"]]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "upos": datasets.Sequence(datasets.ClassLabel(names=upos)),
                                    "head": datasets.Sequence(datasets.Value("string")),
                                    "deprel": datasets.Sequence(datasets.Value("string"))}))
    assert data.HUB_CONVERTERS["ud_pos"](ds, "en") == [{"tokens": ["do", "n't", "go"], "tags": ["AUX", "PART", "VERB"]}]
    assert data.HUB_CONVERTERS["ud_parse"](ds, "en")[0]["heads"] == [3, 3, 0]


def test_hub_paraphrase_stsb_qqp_converters():
    px = datasets.Dataset.from_dict({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": ["1", "0"]})
    assert [r["label"] for r in data.HUB_CONVERTERS["paraphrase"](px, "de")] == ["1", "0"]
    st = datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "similarity_score": [4.2]})
    assert data.HUB_CONVERTERS["stsb"](st, "en")[0]["label"] == pytest.approx(4.2)
    qq = datasets.Dataset.from_dict(
        {"question1": ["a"], "question2": ["b"], "label": [1]},
        features=datasets.Features({"question1": datasets.Value("string"), "question2": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=["not_duplicate", "duplicate"])}))
    assert data.HUB_CONVERTERS["qqp"](qq, "en")[0]["label"] == "duplicate"


def test_hub_failure_becomes_data_missing(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(data.DataMissingError, match="source: mirror"):
        data.load_examples("xnli", "test", "de", source="hub")
    with pytest.raises(data.DataMissingError, match="LDC"):
        data.load_examples("ccg", "train", "en", source="hub")


def test_smoke_source_delegates_to_smoke_module(monkeypatch):
    """source="smoke" calls xstilts.smoke.generate(task, split, lang, seed=...) (a stand-in module here,
    so this test does not depend on the generator itself) and applies `limit` as a seeded sample."""
    import sys
    import types

    import xstilts

    calls = []

    def generate(task_name, split, lang, *, seed=0):
        calls.append((task_name, split, lang, seed))
        return [{"text_a": f"s{i}", "text_b": "", "label": "neutral"} for i in range(10)]

    fake = types.ModuleType("xstilts.smoke")
    fake.generate = generate
    monkeypatch.setitem(sys.modules, "xstilts.smoke", fake)
    monkeypatch.setattr(xstilts, "smoke", fake, raising=False)
    rows = data.load_examples("xnli", "test", "xx", source="smoke", seed=3, limit=4)
    assert calls == [("xnli", "test", "xx", 3)]
    assert len(rows) == 4 and rows == data.load_examples("xnli", "test", "xx", source="smoke", seed=3, limit=4)
