"""Zero-shot evaluation: batched, gradient-free prediction per task format, scored by `metrics`.

Prediction sorts features by length and runs large batches under `torch.inference_mode`, so
evaluating thirty languages costs little more than the forward passes themselves.
"""
from __future__ import annotations

import collections

import numpy as np
import torch

from xstilts import encode, metrics


def _batches(features, batch_size, pad_id, device):
    for idx in encode.sorted_batches(features, batch_size):
        batch = encode.collate([features[i] for i in idx], pad_id)
        for key in ("labels", "start_positions", "end_positions", "heads", "rels"):
            batch.pop(key, None)
        yield idx, {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def logits(model, features, *, batch_size, pad_id, device="cpu", key="logits"):
    """Model outputs for every feature, in feature order (a list of numpy arrays)."""
    out = [None] * len(features)
    for idx, batch in _batches(features, batch_size, pad_id, device):
        result = model(**batch)
        values = [result[k].float().cpu().numpy() for k in (key if isinstance(key, tuple) else (key,))]
        for j, i in enumerate(idx):
            out[i] = tuple(v[j] for v in values) if isinstance(key, tuple) else values[0][j]
    return out


def predict_classification(model, examples, features, *, labels, **kw):
    return [labels[int(np.argmax(l))] for l in logits(model, features, **kw)]


def predict_regression(model, examples, features, **kw):
    return [float(l[0]) for l in logits(model, features, **kw)]


def predict_multiple_choice(model, examples, features, **kw):
    return [int(np.argmax(l)) for l in logits(model, features, **kw)]


def predict_tagging(model, examples, features, *, labels, **kw):
    preds = []
    for e, f, l in zip(examples, features, logits(model, features, **kw)):
        # a word truncated away gets the first label (O for NER): it is scored, as XTREME scores it
        preds.append([labels[int(np.argmax(l[p]))] if p >= 0 and p < len(l) else labels[0] for p in f["first"]])
    return preds


def predict_parsing(model, examples, features, *, labels, **kw):
    heads, rels = [], []
    for e, f, (arc, rel) in zip(examples, features, logits(model, features, key=("arc_logits", "rel_logits"), **kw)):
        n = len(f["word_index"])
        h = arc[1:n + 1, :n + 1].argmax(-1).tolist()
        r = [labels[int(x)] for x in rel[1:n + 1].argmax(-1)]
        missing = len(e["tokens"]) - n  # truncated words: attach to root with the first label
        heads.append(h + [0] * missing)
        rels.append(r + [labels[0]] * missing)
    return heads, rels


def predict_qa(model, examples, features, *, n_best=20, max_answer_length=30, allow_null=False, **kw):
    """Best span per example over all its windows (HF run_qa's postprocess, no-answer aware)."""
    outs = logits(model, features, key=("start_logits", "end_logits"), **kw)
    by_example = collections.defaultdict(list)
    for f, o in zip(features, outs):
        by_example[f["example_id"]].append((f, o))
    predictions = {}
    for e in examples:
        best_text, best_score, null_score = "", -np.inf, np.inf
        for f, (start, end) in by_example[e["id"]]:
            null_score = min(null_score, start[0] + end[0])
            offsets = f["offsets"]
            starts = np.argsort(start)[-n_best:][::-1]
            ends = np.argsort(end)[-n_best:][::-1]
            for s in starts:
                for t in ends:
                    if s >= len(offsets) or t >= len(offsets) or offsets[s] is None or offsets[t] is None:
                        continue
                    if t < s or t - s + 1 > max_answer_length:
                        continue
                    score = start[s] + end[t]
                    if score > best_score:
                        best_score, best_text = score, e["context"][offsets[s][0]:offsets[t][1]]
        # SQuAD 2.0: answer "" when no span beats the <s> ("no answer") score
        predictions[e["id"]] = best_text if best_score > null_score or not allow_null else ""
    return predictions


# --------------------------------------------------------------------------------- retrieval
@torch.inference_mode()
def embed(encoder, tokenizer, texts, *, layer, batch_size, max_length, device="cpu"):
    """Mean-pooled hidden states of one layer (XTREME's BUCC/Tatoeba recipe), L2-normalised."""
    features = encode.encode_text([{"text": t} for t in texts], tokenizer, max_length=max_length)
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    for idx, batch in _batches(features, batch_size, tokenizer.pad_token_id, device):
        states = encoder(**batch, output_hidden_states=True).hidden_states[layer]
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1)
        out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
    return out


def retrieval_scores(encoder, tokenizer, examples, *, metric, layer, **kw):
    """Tatoeba: nearest English neighbour by cosine. BUCC: mine pairs above a threshold tuned on
    the gold pairs (XTREME tunes it on the BUCC dev/sample set), as in XTREME's bucc_optimize."""
    return retrieval_predict(encoder, tokenizer, examples, metric=metric, layer=layer, **kw)[0]


def retrieval_predict(encoder, tokenizer, examples, *, metric, layer, **kw):
    """(scores, predictions) of `retrieval_scores`; predictions in XTREME's submission form:
    Tatoeba the retrieved English row index per source sentence, BUCC the mined (source row,
    target row) id pairs at or above the tuned threshold."""
    src = [(i, e["source"]) for i, e in enumerate(examples) if e["source"]]
    tgt = [(i, e["target"]) for i, e in enumerate(examples) if e["target"]]
    s_emb = embed(encoder, tokenizer, [t for _, t in src], layer=layer, **kw)
    t_emb = embed(encoder, tokenizer, [t for _, t in tgt], layer=layer, **kw)
    sim = s_emb @ t_emb.T
    if metric == "tatoeba_accuracy":
        gold = list(range(len(src)))  # Tatoeba rows are all aligned pairs
        predicted = sim.argmax(1).tolist()
        return metrics.tatoeba_accuracy(predicted, gold), predicted
    best = sim.argmax(1)
    candidates = [(str(src[i][0]), str(tgt[j][0]), float(sim[i, j])) for i, j in enumerate(best)]
    gold = {(str(i), str(i)) for i, e in enumerate(examples) if e["source"] and e["target"]}
    threshold, scores = metrics.bucc_optimize_threshold(candidates, gold)
    mined = [(s, t) for s, t, score in candidates if score >= threshold]
    return dict(scores, threshold=threshold), mined


def most_frequent_tag_baseline(train_examples, test_examples) -> list[list[str]]:
    """Each word's most frequent tag in the English training data; unseen words get the most
    frequent tag overall (the baseline a zero-shot tagger has to beat)."""
    by_word, overall = collections.defaultdict(collections.Counter), collections.Counter()
    for e in train_examples:
        for word, tag in zip(e["tokens"], e["tags"]):
            by_word[word.lower()][tag] += 1
            overall[tag] += 1
    default = overall.most_common(1)[0][0]
    return [[by_word[w.lower()].most_common(1)[0][0] if w.lower() in by_word else default for w in e["tokens"]]
            for e in test_examples]


PREDICTORS = {
    "classification": predict_classification, "regression": predict_regression,
    "multiple_choice": predict_multiple_choice, "tagging": predict_tagging, "parsing": predict_parsing,
    "qa": predict_qa,
}


def gold(fmt, examples):
    if fmt == "qa":
        return {e["id"]: e["answers"]["text"] for e in examples}
    if fmt == "tagging":
        return [e["tags"] for e in examples]
    if fmt == "parsing":
        return [e["heads"] for e in examples], [[r.split(":")[0] for r in e["deprels"]] for e in examples]
    return [e["label"] for e in examples]


def score(task: dict, predictions, examples, lang: str) -> dict:
    """All metrics of a task (its metric and any extra ones) for one language."""
    fmt, result = task["format"], {}
    for name in [task["metric"]] + task.get("extra_metrics", []):
        fn = metrics.METRICS[name]
        if fmt == "parsing":
            (gh, gr), (ph, pr) = gold(fmt, examples), predictions
            result.update(fn(ph, pr, gh, gr))
        elif name == "mlqa":
            result.update(fn(predictions, gold(fmt, examples), lang))
        else:
            result.update({(k if name == task["metric"] else f"{name}.{k}"): v
                           for k, v in fn(predictions, gold(fmt, examples)).items()})
    return result
