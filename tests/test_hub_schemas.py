"""The Hub path on rows built from each dataset's documented Hub schema (tests/hub_schemas.py):
every converter of data.py, and `xstilts data prefetch` writing a mirror that reads back the same."""
import datasets
import pytest
import yaml

from hub_schemas import FakeHub
from xstilts import cli, data, prefetch, tasks

FORMAT_TYPES = {
    "classification": {"text_a": str, "text_b": str, "label": str},
    "regression": {"text_a": str, "text_b": str, "label": float},
    "multiple_choice": {"context": str, "question": str, "choices": list, "label": int},
    "tagging": {"tokens": list, "tags": list},
    "parsing": {"tokens": list, "upos": list, "heads": list, "deprels": list},
    "qa": {"id": str, "context": str, "question": str, "answers": dict},
    "retrieval": {"source": str, "target": str},
    "mlm": {"text": str},
}


@pytest.fixture
def hub(monkeypatch):
    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake)
    return fake


def _hub_splits():
    for name, task in tasks.all_tasks().items():
        entry = task.get("hub") or {}
        if "unavailable" in entry:
            continue
        for split in data.SPLITS:
            if split in entry and "unavailable" not in entry[split]:
                langs = data.split_languages(name, split, "hub") or task.get("mirror_languages")
                yield name, split, langs


@pytest.mark.parametrize("task_name,split,langs", list(_hub_splits()),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_every_hub_entry_names_a_real_config_and_split_and_converts(hub, task_name, split, langs):
    task = tasks.get_task(task_name)
    labels = tasks.label_list(task_name)
    for lang in langs:
        rows = data.load_examples(task_name, split, lang, source="hub")
        assert rows, (task_name, split, lang)
        for row in rows:
            assert set(row) == set(FORMAT_TYPES[task["format"]]), row
            assert all(isinstance(row[k], t) for k, t in FORMAT_TYPES[task["format"]].items()), row
            if task["format"] == "tagging" and labels:
                assert set(row["tags"]) <= set(labels), row
                assert len(row["tags"]) == len(row["tokens"])
            if task["format"] == "classification" and labels:
                assert row["label"] in labels, row
            if task["format"] == "multiple_choice":
                assert 0 <= row["label"] < len(row["choices"])


def test_xtreme_tagging_maps_classlabel_ids_to_names(hub):
    rows = data.load_examples("udpos", "test", "de", source="hub")
    assert hub.calls[-1][:3] == ("google/xtreme", "udpos.German", "test")
    assert rows[0] == {"tokens": ["udpos.German/test-a", "b"], "tags": ["NOUN", "PUNCT"]}
    assert rows[2]["tags"] == ["ADJ", "X", "ADP"]
    panx = data.load_examples("panx", "test", "sw", source="hub")
    assert panx[1] == {"tokens": ["in", "Oslo"], "tags": ["O", "B-LOC"]}


def test_ud_converters_use_the_ud_label_order_and_drop_multiword_tokens(hub):
    # UD's upos ClassLabel is ordered NOUN, PUNCT, ADP, ... (not XTREME's alphabetical order)
    pos = data.load_examples("ud_pos", "train", "en", source="hub")
    assert pos[0] == {"tokens": ["do", "n't", "go"], "tags": ["AUX", "PART", "VERB"]}
    assert pos[1]["tags"] == ["INTJ", "PUNCT"]
    parse = data.load_examples("ud_parse", "validation", "en", source="hub")
    assert parse[0] == {"tokens": ["do", "n't", "go"], "upos": ["AUX", "PART", "VERB"], "heads": [3, 3, 0],
                        "deprels": ["aux", "advmod", "root"]}


def test_nli_labels_and_unlabelled_rows(hub):
    xnli = data.load_examples("xnli", "test", "sw", source="hub")
    assert [r["label"] for r in xnli] == ["contradiction", "entailment", "neutral"]
    anli_plus = data.load_examples("anli_plus", "train", "en", source="hub")
    # 3 ANLI rounds x 3 + SNLI 3 minus its label -1 row + MNLI 3
    assert len(anli_plus) == 3 * 3 + 2 + 3
    assert [c[:3] for c in hub.calls[-5:]] == [("facebook/anli", None, "train_r1"), ("facebook/anli", None, "train_r2"),
                                              ("facebook/anli", None, "train_r3"), ("stanfordnlp/snli", None, "train"),
                                              ("nyu-mll/multi_nli", None, "train")]
    assert data.load_examples("mnli", "validation", "en", source="hub")[0]["text_a"] == "default/validation_matched p0"


def test_paraphrase_qqp_stsb(hub):
    assert [r["label"] for r in data.load_examples("pawsx", "test", "ko", source="hub")] == ["1", "0", "1"]
    assert [r["label"] for r in data.load_examples("paws", "train", "en", source="hub")] == ["0", "1", "1"]
    assert [r["label"] for r in data.load_examples("qqp", "train", "en", source="hub")] == \
        ["duplicate", "not_duplicate", "duplicate"]
    stsb = data.load_examples("stsb", "validation", "de", source="hub")
    assert hub.calls[-1][:3] == ("PhilipMay/stsb_multi_mt", "de", "dev")
    assert [r["label"] for r in stsb] == [5.0, 0.25, 3.5]


def test_qa_answers_unanswerable_and_tydiqa_language_prefix(hub):
    squad = data.load_examples("squad_v1", "train", "en", source="hub")
    assert squad[0]["answers"] == {"text": ["Oslo", "Oslo"], "answer_start": [6, 6]}
    v2 = data.load_examples("squad_v2", "validation", "en", source="hub")
    assert v2[2]["answers"] == {"text": [], "answer_start": []}
    ar = data.load_examples("tydiqa", "test", "ar", source="hub")
    assert [r["id"] for r in ar] == ["arabic-0"]
    assert hub.calls[-1][:3] == ("google/xtreme", "tydiqa", "validation")
    assert data.load_examples("mlqa", "test", "hi", source="hub")[0]["id"] == "MLQA.hi.hi/test-0"
    assert data.load_examples("xquad", "test", "ro", source="hub")[0]["id"] == "xquad.ro/validation-0"


def test_multiple_choice_converters(hub):
    hs = data.load_examples("hellaswag", "train", "en", source="hub")
    assert hs[0] == {"context": "Cooking: default/train c0", "question": "", "choices": ["e0", "e1", "e2", "e3"],
                     "label": 3}
    assert hs[1]["context"] == "c1"  # no activity label: the context alone
    assert [r["label"] for r in data.load_examples("commonsenseqa", "train", "en", source="hub")] == [2, 0, 4]
    assert [r["label"] for r in data.load_examples("siqa", "train", "en", source="hub")] == [0, 2, 1]
    assert [r["label"] for r in data.load_examples("cosmosqa", "validation", "en", source="hub")] == [2, 0, 3]
    copa = data.load_examples("copa", "train", "en", source="hub")
    assert copa[0] == {"context": "copa/train p0", "question": "cause", "choices": ["c1", "c2"], "label": 1}
    xcopa = data.load_examples("xcopa", "test", "qu", source="hub")
    assert [r["label"] for r in xcopa] == [1, 0, 1]


def test_retrieval_and_streamed_text(hub):
    zh = data.load_examples("tatoeba", "test", "zh", source="hub")
    assert hub.calls[-1][:3] == ("google/xtreme", "tatoeba.cmn", "validation")
    assert zh[0] == {"source": "tatoeba.cmn/validation s0", "target": "e0"}  # trailing newlines stripped
    text = data.load_examples("mlm_text", "train", "ko", source="hub", limit=2)
    assert hub.calls[-1] == ("wikimedia/wikipedia", "20231101.ko", "train", True)
    assert {r["text"] for r in text} <= {"20231101.ko/train one.", "two."}


def test_unknown_config_or_split_fails_like_the_hub(hub):
    with pytest.raises(ValueError, match="Unknown split"):
        hub("google/xtreme", "tatoeba.deu", split="test")
    with pytest.raises(ValueError, match="BuilderConfig"):
        hub("google/xtreme", "udpos.Afrikans", split="test")


# ----------------------------------------------------------------------------------- prefetch
def _grid(tmp_path):
    grid = {"description": "prefetch test", "seeds": {"full": [0]},
            "grid": {"target_task": ["udpos", "xnli", "tatoeba", "tydiqa", "xcopa"],
                     "intermediate_tasks": [[], ["mnli"]]},
            "params": {"target_languages": []}}
    path = tmp_path / "tiny_full.yaml"
    path.write_text(yaml.safe_dump(grid))
    return str(path)


def test_prefetch_writes_a_mirror_that_reads_back_the_same_examples(hub, tmp_path):
    mirror = tmp_path / "mirror"
    grid = _grid(tmp_path)
    manifest = prefetch.prefetch([grid], "full", mirror, log=lambda *_: None)
    needed = prefetch.grid_splits([grid], "full")
    assert {("mnli", "train", "en"), ("copa", "train", "en"), ("xcopa", "test", "qu"),
            ("tatoeba", "test", "jv"), ("tydiqa", "test", "sw"), ("udpos", "test", "yo")} <= set(needed)
    assert len(manifest) == len(needed)
    assert manifest["tatoeba/test-zh.jsonl"]["hub"] == [{"path": "google/xtreme", "name": "tatoeba.cmn",
                                                         "split": "validation"}]
    for task, split, lang in needed:
        assert (data.load_examples(task, split, lang, source="mirror", data_dir=mirror)
                == data.load_examples(task, split, lang, source="hub")), (task, split, lang)
        data.check_available(task, split, lang, source="mirror", data_dir=mirror)
    # a prefetched split is the real data: no substitute note (the shared mirror's MNLI train is XNLI dev)
    assert data.source_note("mnli", "train", "mirror", mirror) is None
    assert "XNLI-en dev" in data.source_note("mnli", "train", "mirror")
    # seeded samples agree too
    assert (data.load_examples("udpos", "train", "en", source="mirror", data_dir=mirror, limit=2, seed=3)
            == data.load_examples("udpos", "train", "en", source="hub", limit=2, seed=3))
    # the grid's full-scale runs then pass their data checks from the mirror alone
    from xstilts import workflow
    for cfg in workflow.grid_runs(workflow.load_grid(grid), "full"):
        data.check_run_inputs(dict(cfg, source="mirror", data_dir=str(mirror)))
    with pytest.raises(data.DataMissingError):  # and a full-scale split it did not fetch is refused
        data.check_available("xnli", "test", "ur", source="mirror", data_dir=str(tmp_path / "empty"))
    # a second prefetch keeps what is there: no Hub call
    calls = len(hub.calls)
    assert cli.main(["data", "prefetch", grid, "--scale", "full", "--out", str(mirror)]) == 0
    assert len(hub.calls) == calls


def test_prefetch_refuses_a_grid_needing_data_the_hub_lacks(hub, tmp_path, capsys):
    path = tmp_path / "ccg.yaml"
    path.write_text(yaml.safe_dump({"grid": {"target_task": ["udpos"], "intermediate_tasks": [["ccg"]]}}))
    assert cli.main(["data", "prefetch", str(path), "--scale", "full", "--out", str(tmp_path / "m")]) == 2
    assert "CCGbank" in capsys.readouterr().err
    assert not hub.calls and not (tmp_path / "m").exists()
