"""Windowed tagging: a sentence longer than max_length subwords is split into overlapping windows,
every word is scored exactly once, and sentences that fit are encoded exactly as before."""
import random

import pytest
import torch

from xstilts import data, encode, evaluate, models

LABELS = ["A", "B", "C", "D"]


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer(models.resolve("smoke-tiny"))


def _long_sentence(tokenizer, n_words=120):
    vocab = [w for w in tokenizer.get_vocab() if w.startswith("▁") and len(w) > 2][:200]
    rng = random.Random(0)
    words = [rng.choice(vocab)[1:] + rng.choice(["", "x", "qz"]) for _ in range(n_words)]
    return {"tokens": words, "tags": [rng.choice(LABELS) for _ in words]}


class TokenOnlyTagger(torch.nn.Module):
    """Logits that depend on a token alone (no context): windowed and unwindowed predictions of
    the same word must then be identical, which checks the window -> word mapping exactly."""

    def forward(self, input_ids, attention_mask=None, **_):
        logits = torch.stack([(input_ids * (k + 3)) % 7 for k in range(len(LABELS))], -1).float()
        return {"logits": logits}


def _encode(example, tokenizer, max_length, mode):
    return encode.encode("tagging", [example], tokenizer, labels=LABELS, max_length=max_length, doc_stride=8,
                         long_sentences=mode)


def test_long_sentence_becomes_windows_scoring_every_word_once(tokenizer):
    example = _long_sentence(tokenizer)
    whole = len(tokenizer(example["tokens"], is_split_into_words=True)["input_ids"])
    assert whole > 3 * 32  # the sentence is several windows long
    feats = _encode(example, tokenizer, 32, "window")
    assert len(feats) > 3 and [f["window"] for f in feats] == list(range(len(feats)))
    assert all(len(f["input_ids"]) <= 32 for f in feats)
    scored = [[w for w, p in enumerate(f["first"]) if p >= 0] for f in feats]
    flat = [w for ws in scored for w in ws]
    assert sorted(flat) == list(range(len(example["tokens"])))  # every word, none twice
    for f in feats:  # each scoring position carries that word's gold tag, and nothing else is labelled
        labelled = {p for p, l in enumerate(f["labels"]) if l != encode.IGNORE}
        assert labelled == {p for p in f["first"] if p >= 0}
        for w, p in enumerate(f["first"]):
            if p >= 0:
                assert f["labels"][p] == LABELS.index(example["tags"][w])
    # truncation (the old behaviour) loses most of the words
    truncated = _encode(example, tokenizer, 32, "truncate")
    assert len(truncated) == 1 and truncated[0]["first"].count(-1) > len(example["tokens"]) // 2


def test_a_word_is_scored_where_it_has_most_context(tokenizer):
    example = _long_sentence(tokenizer, 60)
    windows = encode.tagging_windows(example["tokens"], tokenizer, max_length=32, doc_stride=8)
    for ids, first in windows[1:-1]:  # inner windows never score their first or last content token
        positions = [p for p in first if p >= 0]
        assert min(positions) > 1 and max(positions) < len(ids) - 2


def test_windowed_prediction_equals_unwindowed_prediction(tokenizer):
    example = _long_sentence(tokenizer)
    model = TokenOnlyTagger()
    kw = dict(labels=LABELS, batch_size=4, pad_id=tokenizer.pad_token_id)
    windowed = evaluate.predict_tagging(model, [example], _encode(example, tokenizer, 32, "window"), **kw)
    whole = evaluate.predict_tagging(model, [example], _encode(example, tokenizer, 512, "window"), **kw)
    assert len(windowed[0]) == len(example["tokens"])
    assert windowed == whole
    truncated = evaluate.predict_tagging(model, [example], _encode(example, tokenizer, 32, "truncate"), **kw)
    assert truncated != whole


def test_real_model_predicts_every_word_of_a_long_sentence_next_to_short_ones(tokenizer):
    model = models.attach_head(models.load_encoder(models.resolve("smoke-tiny")), "tagging", len(LABELS)).eval()
    long_one = _long_sentence(tokenizer, 40)  # 32 < subwords < 128 (the smoke model's positions)
    short = {"tokens": long_one["tokens"][:5], "tags": long_one["tags"][:5]}
    examples = [short, long_one, short]
    kw = dict(labels=LABELS, batch_size=8, pad_id=tokenizer.pad_token_id)

    def predict(max_length, mode):
        feats = encode.encode("tagging", examples, tokenizer, labels=LABELS, max_length=max_length, doc_stride=8,
                              long_sentences=mode)
        return feats, evaluate.predict_tagging(model, examples, feats, **kw)

    feats, preds = predict(32, "window")
    assert len(feats) > 3 and [len(p) for p in preds] == [5, 40, 5] and preds[0] == preds[2]
    # a window big enough for the whole sentence is the unwindowed prediction
    big_feats, big = predict(128, "window")
    assert all("window" not in f for f in big_feats) and big == predict(128, "truncate")[1]
    assert len(big[1]) == 40


def test_smoke_sentences_that_fit_encode_exactly_as_before(tokenizer):
    """At smoke scale every tagging sentence fits: both modes give byte-identical features."""
    for task in ("udpos", "panx", "ud_pos", "ccg"):
        for split in ("train", "test"):
            examples = data.load_examples(task, split, "en", source="smoke")
            labels = sorted({t for e in examples for t in e["tags"]})
            a = encode.encode("tagging", examples, tokenizer, labels=labels, max_length=64, doc_stride=48)
            b = encode.encode("tagging", examples, tokenizer, labels=labels, max_length=64, doc_stride=48,
                              long_sentences="window")
            assert a == b and len(a) == len(examples), (task, split)
