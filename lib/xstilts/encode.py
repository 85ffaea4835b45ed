"""Examples -> model features, per task format; and batching with dynamic padding.

Features are plain dicts of int lists, so they pickle into the feature cache and pad per batch
(no padding to max_length: a batch is as long as its longest member).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import tempfile
from pathlib import Path

import torch

IGNORE = -100
VERSION = 2  # part of the feature-cache key: bump when an encoder's output changes


def _pair_texts(examples):
    return [e["text_a"] for e in examples], [e["text_b"] or None for e in examples]


def encode_classification(examples, tokenizer, *, labels, max_length, **_):
    a, b = _pair_texts(examples)
    if all(x is None for x in b):
        enc = tokenizer(a, truncation=True, max_length=max_length)
    else:
        enc = tokenizer(a, [x or "" for x in b], truncation="longest_first", max_length=max_length)
    index = {label: i for i, label in enumerate(labels)}
    return [{"input_ids": ids, "labels": index[e["label"]]} for ids, e in zip(enc["input_ids"], examples)]


def encode_regression(examples, tokenizer, *, max_length, **_):
    a, b = _pair_texts(examples)
    enc = tokenizer(a, [x or "" for x in b], truncation="longest_first", max_length=max_length)
    return [{"input_ids": ids, "labels": float(e["label"])} for ids, e in zip(enc["input_ids"], examples)]


def encode_multiple_choice(examples, tokenizer, *, max_length, **_):
    firsts, seconds = [], []
    for e in examples:
        first = f"{e['context']} {e['question']}".strip()
        firsts += [first] * len(e["choices"])
        seconds += list(e["choices"])
    enc = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)["input_ids"]
    out, i = [], 0
    for e in examples:
        n = len(e["choices"])
        out.append({"input_ids": enc[i:i + n], "labels": int(e["label"])})
        i += n
    return out


def _first_subwords(enc, i, n_words):
    """Position of each word's first subword (-1 where the word was truncated away).

    One deviation from XTREME: where a word's first piece is a bare "▁" (SentencePiece's word
    boundary, which XLM-R's vocabulary splits off most Japanese, Chinese and Thai words), the
    word's next piece is used instead; otherwise every such word is represented by the same
    token and zero-shot POS accuracy there falls below a most-frequent-tag baseline."""
    first = [-1] * n_words
    tokens = enc.tokens(i)
    word_ids = enc.word_ids(i)
    for pos, w in enumerate(word_ids):
        if w is None:
            continue
        if first[w] == -1:
            first[w] = pos
        elif first[w] == pos - 1 and tokens[pos - 1] == "▁":
            first[w] = pos
    return first


def _tag_feature(input_ids, first, tags, index, **extra):
    labels = [IGNORE] * len(input_ids)
    for w, pos in enumerate(first):
        if pos >= 0:  # label only the first subword of each word, as XTREME does
            labels[pos] = index.get(tags[w], IGNORE)
    return {"input_ids": input_ids, "labels": labels, "first": first, **extra}


def tagging_windows(words, tokenizer, *, max_length, doc_stride):
    """Overlapping windows over a sentence too long for `max_length` subwords.

    Returns (input_ids, first) per window, where `first[w]` is the position that scores word w in
    that window, or -1: every word is scored in exactly one window, the one where its first
    subword has the most context on its shorter side (HF's SQuAD `_check_is_max_context` rule).
    Windows overlap by `doc_stride` subwords (at most half a window), like XTREME's/HF's stride."""
    whole = tokenizer([words], is_split_into_words=True)
    ids, word_ids = whole["input_ids"][0], whole.word_ids(0)
    lead = next(k for k, w in enumerate(word_ids) if w is not None)  # <s> (the model's special tokens)
    trail = next(k for k, w in enumerate(reversed(word_ids)) if w is not None)  # </s>
    prefix, content, suffix = ids[:lead], ids[lead:len(ids) - trail], ids[len(ids) - trail:]
    position = [p - lead if p >= 0 else -1 for p in _first_subwords(whole, 0, len(words))]  # in `content`
    budget = max_length - lead - trail
    overlap = min(doc_stride, budget // 2)
    spans, start = [], 0
    while True:
        end = min(start + budget, len(content))
        spans.append((start, end))
        if end == len(content):
            break
        start = end - overlap

    def context(p, span):
        return min(p - span[0], span[1] - 1 - p) + 0.01 * (span[1] - span[0])

    home = [max((k for k, sp in enumerate(spans) if sp[0] <= p < sp[1]), key=lambda k: context(p, spans[k]))
            if p >= 0 else -1 for p in position]
    return [(prefix + content[s:e] + suffix, [p - s + lead if home[w] == k else -1 for w, p in enumerate(position)])
            for k, (s, e) in enumerate(spans)]


def encode_tagging(examples, tokenizer, *, labels, max_length, doc_stride=128, long_sentences="truncate", **_):
    """First-subword labels. A sentence longer than `max_length` subwords becomes several features,
    numbered by `window` (0, 1, ...), when `long_sentences` is "window"; a sentence that fits gives
    exactly the feature it gave before windowing existed."""
    enc = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, truncation=True,
                    max_length=max_length)
    index = {label: i for i, label in enumerate(labels)}
    out = []
    for i, e in enumerate(examples):
        first = _first_subwords(enc, i, len(e["tokens"]))
        if long_sentences == "window" and enc.encodings[i].overflowing:  # the sentence did not fit
            for k, (ids, win_first) in enumerate(tagging_windows(e["tokens"], tokenizer, max_length=max_length,
                                                                 doc_stride=doc_stride)):
                out.append(_tag_feature(ids, win_first, e["tags"], index, window=k))
        else:
            out.append(_tag_feature(enc["input_ids"][i], first, e["tags"], index))
    return out



def encode_parsing(examples, tokenizer, *, labels, max_length, **_):
    enc = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, truncation=True,
                    max_length=max_length)
    index = {label: i for i, label in enumerate(labels)}
    out = []
    for i, e in enumerate(examples):
        first = _first_subwords(enc, i, len(e["tokens"]))
        kept = [w for w, p in enumerate(first) if p >= 0]
        # heads pointing at a truncated word cannot be scored: ignore those arcs in the loss
        heads = [IGNORE] + [e["heads"][w] if e["heads"][w] <= len(kept) else IGNORE for w in kept]
        rels = [IGNORE] + [index.get(e["deprels"][w].split(":")[0], IGNORE) for w in kept]
        out.append({"input_ids": enc["input_ids"][i], "word_index": [first[w] for w in kept],
                    "heads": heads, "rels": rels, "first": first})
    return out


def encode_qa(examples, tokenizer, *, max_length, doc_stride, train, **_):
    """SQuAD-style windows over the context (HF run_qa.py's prepare_{train,validation}_features)."""
    enc = tokenizer([e["question"].lstrip() for e in examples], [e["context"] for e in examples],
                    truncation="only_second", max_length=max_length, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True)
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        ex = examples[enc["overflow_to_sample_mapping"][i]]
        seq = enc.sequence_ids(i)
        offsets = enc["offset_mapping"][i]
        feature = {"input_ids": ids}
        if train:
            start = end = 0  # position 0 (<s>) = "no answer in this window"
            if ex["answers"]["text"]:
                a_start = ex["answers"]["answer_start"][0]
                a_end = a_start + len(ex["answers"]["text"][0])
                ctx = [k for k, s in enumerate(seq) if s == 1]
                if ctx and offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                    start = next(k for k in ctx if offsets[k][1] > a_start)
                    end = next(k for k in reversed(ctx) if offsets[k][0] < a_end)
            feature.update(start_positions=start, end_positions=end)
        else:
            feature.update(example_id=ex["id"],
                           offsets=[o if s == 1 else None for o, s in zip(offsets, seq)])
        out.append(feature)
    return out


def encode_text(examples, tokenizer, *, max_length, field="text", **_):
    enc = tokenizer([e[field] for e in examples], truncation=True, max_length=max_length)
    return [{"input_ids": ids} for ids in enc["input_ids"]]


ENCODERS = {
    "classification": encode_classification, "regression": encode_regression,
    "multiple_choice": encode_multiple_choice, "tagging": encode_tagging, "parsing": encode_parsing,
    "qa": encode_qa, "mlm": encode_text,
}


def encode(fmt, examples, tokenizer, *, labels=None, max_length=256, doc_stride=128, train=True,
           long_sentences="truncate"):
    return ENCODERS[fmt](examples, tokenizer, labels=labels, max_length=max_length, doc_stride=doc_stride,
                         train=train, long_sentences=long_sentences)


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything that decides the token ids: the serialised fast tokenizer (vocabulary,
    merges, normaliser, pre-tokeniser, post-processor) and the special tokens. Computed once per
    tokenizer object (XLM-R's 250k-entry vocabulary takes ~0.2 s to serialise)."""
    cached_value = getattr(tokenizer, "_xstilts_fingerprint", None)
    if cached_value is None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        blob = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
        blob += json.dumps([type(tokenizer).__name__, tokenizer.all_special_tokens, tokenizer.padding_side])
        cached_value = hashlib.sha1(blob.encode()).hexdigest()
        tokenizer._xstilts_fingerprint = cached_value
    return cached_value


def examples_fingerprint(examples) -> str:
    """A hash of every example (all fields), so changed data never reuses another set's features."""
    digest = hashlib.sha1()
    for e in examples:
        digest.update(json.dumps(e, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return f"{len(examples)}:{digest.hexdigest()}"


def cached(key: tuple, build, cache_root: Path):
    """Feature cache: tokenising real data is slow on 2 cores and identical across runs."""
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:20]
    path = Path(cache_root) / "features" / f"{digest}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return value


# ------------------------------------------------------------------------------------- batching
def _length(feature) -> int:
    ids = feature["input_ids"]
    return max(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


def _pad(rows, value):
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


def collate(features, pad_id: int) -> dict:
    """Pad a list of features into a batch dict of tensors (model inputs only)."""
    f0 = features[0]
    batch = {}
    if isinstance(f0["input_ids"][0], list):  # multiple choice: [B, C, L]
        width = max(_length(f) for f in features)
        ids = [[c + [pad_id] * (width - len(c)) for c in f["input_ids"]] for f in features]
        batch["input_ids"] = torch.tensor(ids)
    else:
        batch["input_ids"] = _pad([f["input_ids"] for f in features], pad_id)
    batch["attention_mask"] = (batch["input_ids"] != pad_id).long()
    if "labels" in f0:
        if isinstance(f0["labels"], list):
            batch["labels"] = _pad([f["labels"] for f in features], IGNORE)
        else:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
    for key in ("start_positions", "end_positions"):
        if key in f0:
            batch[key] = torch.tensor([f[key] for f in features])
    if "word_index" in f0:
        batch["word_index"] = _pad([f["word_index"] or [0] for f in features], 0)
        batch["word_mask"] = _pad([[1] * len(f["word_index"]) for f in features], 0)
        batch["heads"] = _pad([f["heads"] for f in features], IGNORE)
        batch["rels"] = _pad([f["rels"] for f in features], IGNORE)
    return batch


def length_grouped_batches(features, batch_size: int, rng: random.Random, *, mega: int = 50):
    """Shuffled batches of similar length (HF's LengthGroupedSampler idea): shuffle, cut into
    mega-batches of `mega` batches, sort each by length, then shuffle the batch order."""
    order = list(range(len(features)))
    rng.shuffle(order)
    batches = []
    step = batch_size * mega
    for s in range(0, len(order), step):
        chunk = sorted(order[s:s + step], key=lambda i: _length(features[i]), reverse=True)
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(features, batch_size: int):
    """Evaluation batches: sorted by length so padding is minimal; returns index lists."""
    order = sorted(range(len(features)), key=lambda i: _length(features[i]))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
