"""The study's metrics, computed exactly as XTREME computes them.

Pure functions on plain Python lists / dicts. Every score is in percent (0-100), as XTREME reports.

Sources reproduced (google-research/xtreme):
  * ``evaluate.py``                 -- accuracy, seqeval ``f1`` (POS and NER), ``bucc_f1``, the
                                       per-task ``avg_metric`` (QA = (EM+F1)/2) and the task average;
  * ``third_party/evaluate_squad.py`` -- SQuAD v1.1 official EM/F1 (XQuAD, TyDiQA-GoldP);
  * ``third_party/evaluate_mlqa.py``  -- MLQA EM/F1 with per-language normalisation;
  * ``third_party/utils_retrieve.py`` -- ``bucc_optimize`` / ``bucc_extract`` / ``bucc_eval``;
  * the official SQuAD 2.0 ``evaluate-v2.0.py`` -- no-answer handling (``squad_v2``);
  * UD's ``conll18_ud_eval.py``     -- UAS/LAS conventions (``uas_las``);
  * GLUE STS-B                        -- Pearson/Spearman and their mean (``pearson_spearman``).

Deviations from the originals are listed in the docstring of the function concerned (they only
concern inputs on which the original crashes or that it cannot represent).
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
import warnings
from collections import Counter
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "accuracy", "seqeval_f1", "upos_accuracy", "squad", "squad_v2", "mlqa", "bucc_f1",
    "bucc_optimize_threshold", "tatoeba_accuracy", "uas_las", "pearson_spearman",
    "METRICS", "HEADLINE", "QA_TASKS", "QA_METRICS", "task_metric", "xtreme_score", "xtreme_value",
]


def _check_lengths(predictions: Sequence, references: Sequence, what: str) -> None:
    # XTREME asserts the number of predictions equals the number of labels; an empty evaluation
    # set is always a bug upstream (XTREME would divide by zero), so it is refused loudly too.
    if len(predictions) != len(references):
        raise ValueError(f"{what}: {len(predictions)} predictions vs {len(references)} references")
    if len(references) == 0:
        raise ValueError(f"{what}: nothing to evaluate (0 examples)")


# --------------------------------------------------------------------------------- classification
def accuracy(predictions: Sequence, references: Sequence) -> dict[str, float]:
    """Percentage of ``predictions[i] == references[i]`` (``evaluate.py: accuracy``).

    Values are compared as given (no str() coercion) so that an int/str label mix-up is caught
    rather than silently scored as wrong-or-right depending on file round trips."""
    _check_lengths(predictions, references, "accuracy")
    correct = sum(int(p == r) for p, r in zip(predictions, references))
    return {"accuracy": 100.0 * correct / len(references)}


def tatoeba_accuracy(predicted_indices: Sequence[int], gold_indices: Sequence[int]) -> dict[str, float]:
    """Tatoeba: accuracy of the retrieved target index per source sentence (``evaluate.py``
    scores ``tatoeba`` with plain ``accuracy`` over one index per line)."""
    return accuracy([int(i) for i in predicted_indices], [int(i) for i in gold_indices])


# ---------------------------------------------------------------------------------------- tagging
def _check_tag_lengths(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]], what: str) -> None:
    _check_lengths(pred_tags, gold_tags, what)
    for i, (p, g) in enumerate(zip(pred_tags, gold_tags)):
        if len(p) != len(g):
            raise ValueError(f"{what}: sentence {i} has {len(p)} predicted vs {len(g)} gold tags")


def seqeval_f1(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> dict[str, float]:
    """Chunk-level F1/precision/recall with ``seqeval.metrics`` in its default (conlleval) mode,
    exactly as ``evaluate.py: f1`` does for both PAN-X (NER) *and* UD-POS.

    For POS, seqeval reads a UPOS tag as prefix = first letter, type = the rest (``NOUN`` ->
    ``N`` + ``OUN``), so adjacent equal tags merge into one "chunk" and some tags (``SCONJ``,
    ``SYM``: prefix ``S``) start/end chunks. This number is therefore *not* token accuracy; the
    study reports :func:`upos_accuracy` separately where it asks for accuracy."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    _check_tag_lengths(pred_tags, gold_tags, "seqeval_f1")
    gold = [list(s) for s in gold_tags]
    pred = [list(s) for s in pred_tags]
    with warnings.catch_warnings():
        # seqeval warns once per non-BIO tag ("NOUN seems not to be NE tag") -- for POS that is
        # every token; and on zero chunks (it returns 0, as XTREME reports).
        warnings.simplefilter("ignore")
        # seqeval's signature is (y_true, y_pred): gold first, as in XTREME.
        return {
            "f1": 100.0 * float(f1_score(gold, pred)),
            "precision": 100.0 * float(precision_score(gold, pred)),
            "recall": 100.0 * float(recall_score(gold, pred)),
        }


def upos_accuracy(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> dict[str, float]:
    """Token-level accuracy over all tokens of all sentences (micro average). Used for UPOS
    accuracy (research question A) and, as ``accuracy_tokens``, for CCG supertags."""
    _check_tag_lengths(pred_tags, gold_tags, "upos_accuracy")
    flat_p = [t for s in pred_tags for t in s]
    flat_g = [t for s in gold_tags for t in s]
    if not flat_g:
        raise ValueError("upos_accuracy: nothing to evaluate (0 tokens)")
    return {"accuracy": 100.0 * sum(p == g for p, g in zip(flat_p, flat_g)) / len(flat_g)}


# --------------------------------------------------------------------------------------------- QA
def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    # Bag-of-tokens F1 of the official SQuAD / MLQA scripts (num_same == 0 -> 0).
    common = Counter(pred_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


_SQUAD_PUNCT = set(string.punctuation)


def normalize_squad(s: str) -> str:
    """SQuAD v1.1 / v2.0 ``normalize_answer``: lower, drop ASCII punctuation, drop a/an/the,
    collapse whitespace (in that order, as the official script)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _SQUAD_PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _qa_loop(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
             em_fn: Callable[[str, str], float], f1_fn: Callable[[str, str], float], what: str) -> dict[str, float]:
    # The loop of evaluate_squad.py / evaluate_mlqa.py: every reference question counts in the
    # denominator; a question without a prediction scores 0 ("will receive score 0"); predictions
    # for ids that are not references are ignored; max over the gold answers.
    if not references:
        raise ValueError(f"{what}: nothing to evaluate (0 questions)")
    em = f1 = 0.0
    for qid, golds in references.items():
        if not golds:
            raise ValueError(f"{what}: question {qid!r} has no gold answer (use squad_v2 for unanswerables)")
        if qid not in predictions:
            continue
        pred = predictions[qid]
        em += max(em_fn(pred, g) for g in golds)
        f1 += max(f1_fn(pred, g) for g in golds)
    n = len(references)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


def squad(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 EM/F1 (``third_party/evaluate_squad.py``), used for XQuAD, TyDiQA-GoldP and
    SQuAD 1.1. ``references[qid]`` is the list of gold answer texts."""
    return _qa_loop(
        predictions, references,
        lambda p, g: float(normalize_squad(p) == normalize_squad(g)),
        lambda p, g: _token_f1(normalize_squad(p).split(), normalize_squad(g).split()),
        "squad",
    )


def squad_v2(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD 2.0 EM/F1 as the official ``evaluate-v2.0.py`` at its default no-answer threshold
    (no ``na_prob`` file: the predicted text alone decides).

    * Gold answers that normalise to "" are dropped; no gold left => the question is unanswerable
      and its only gold is "". So a prediction is a correct abstention iff it *normalises* to ""
      (``""``, but also e.g. ``"the"``), exactly as in the official script.
    * F1 when either side has no tokens: 1 if both have none, else 0.
    * Also returns ``HasAns_*`` / ``NoAns_*`` (exact_match, f1, total) like the official script.
    Deviation: the official script drops questions without a prediction from the overall
    denominator (and crashes in the HasAns/NoAns split); here they count and score 0, as in v1.1.
    """
    if not references:
        raise ValueError("squad_v2: nothing to evaluate (0 questions)")

    def toks(s: str) -> list[str]:
        return normalize_squad(s).split() if s else []

    def f1(p: str, g: str) -> float:
        pt, gt = toks(p), toks(g)
        if not pt or not gt:
            return float(pt == gt)
        return _token_f1(pt, gt)

    em_s: dict[str, float] = {}
    f1_s: dict[str, float] = {}
    has_ans: dict[str, bool] = {}
    for qid, golds in references.items():
        golds = [g for g in golds if normalize_squad(g)]
        has_ans[qid] = bool(golds)
        golds = golds or [""]
        if qid not in predictions:
            em_s[qid] = f1_s[qid] = 0.0
            continue
        p = predictions[qid]
        em_s[qid] = max(float(normalize_squad(g) == normalize_squad(p)) for g in golds)
        f1_s[qid] = max(f1(p, g) for g in golds)

    def block(qids: list[str], prefix: str) -> dict[str, float]:
        n = len(qids)
        return {
            f"{prefix}exact_match": 100.0 * sum(em_s[q] for q in qids) / n if n else 0.0,
            f"{prefix}f1": 100.0 * sum(f1_s[q] for q in qids) / n if n else 0.0,
            f"{prefix}total": float(n),
        }

    out = block(list(references), "")
    out.pop("total")
    out.update(block([q for q in references if has_ans[q]], "HasAns_"))
    out.update(block([q for q in references if not has_ans[q]], "NoAns_"))
    out["total"] = float(len(references))
    return out


@lru_cache(maxsize=1)
def _mlqa_punct() -> frozenset[str]:
    # evaluate_mlqa.py: every Unicode "P*" character plus string.punctuation (which adds the
    # ASCII symbols $+<=>^`|~ that are category S*). Built lazily: it scans all of Unicode.
    return frozenset(
        {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    ) | _SQUAD_PUNCT


# Per-language article regexes, verbatim from evaluate_mlqa.py. Arabic's first alternative
# ('\sال^') can never match (^ without MULTILINE only matches at position 0), so in effect every
# "ال" anywhere in the text is replaced by a space -- reproduced as is, since that is the metric.
_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": r"\sال^|ال",
    "hi": None,  # "Hindi does not have formal articles"
    "zh": None,
}
_MLQA_WHITESPACE_LANGS = {"en", "es", "hi", "vi", "de", "ar"}
_MLQA_MIXED_SEGMENTATION_LANGS = {"zh"}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def _mixed_segmentation(text: str) -> list[str]:
    # evaluate_mlqa.py: each CJK ideograph (and punctuation char) is its own token; runs of other
    # characters are whitespace-tokenised.
    punct = _mlqa_punct()
    out: list[str] = []
    buf = ""
    for ch in text:
        if _CJK.search(ch) or ch in punct:
            out.extend(buf.split())
            buf = ""
            out.append(ch)
        else:
            buf += ch
    out.extend(buf.split())
    return out


def normalize_mlqa(s: str, lang: str) -> str:
    """``evaluate_mlqa.py: normalize_answer``: lower -> drop Unicode punctuation -> drop the
    language's articles -> re-tokenise (whitespace, or mixed segmentation for zh) and join."""
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"mlqa: unknown language {lang!r} (MLQA languages: {sorted(_MLQA_ARTICLES)})")
    punct = _mlqa_punct()
    s = "".join(ch for ch in s.lower() if ch not in punct)
    if _MLQA_ARTICLES[lang]:
        s = re.sub(_MLQA_ARTICLES[lang], " ", s)
    tokens = _mixed_segmentation(s) if lang in _MLQA_MIXED_SEGMENTATION_LANGS else s.split()
    return " ".join(t for t in tokens if t.strip() != "")


def mlqa(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], lang: str) -> dict[str, float]:
    """MLQA EM/F1 (``third_party/evaluate_mlqa.py``) for answer language ``lang`` (en, es, de, ar,
    hi, vi, zh). F1 tokens are the normalised string split on spaces (for zh: one token per
    ideograph)."""
    return _qa_loop(
        predictions, references,
        lambda p, g: float(normalize_mlqa(p, lang) == normalize_mlqa(g, lang)),
        lambda p, g: _token_f1(normalize_mlqa(p, lang).split(), normalize_mlqa(g, lang).split()),
        f"mlqa[{lang}]",
    )


# ------------------------------------------------------------------------------------------- BUCC
Pair = tuple[str, str]


def bucc_f1(predicted_pairs: Iterable[Pair], gold_pairs: Iterable[Pair]) -> dict[str, float]:
    """Precision/recall/F1 of the predicted (src_id, tgt_id) pairs against the gold pairs, as sets
    (``evaluate.py: bucc_f1``; all three are 0 when nothing is correct)."""
    pred = {tuple(p) for p in predicted_pairs}
    gold = {tuple(g) for g in gold_pairs}
    ncorrect = len(pred & gold)
    if ncorrect == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision = ncorrect / len(pred)
    recall = ncorrect / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


def bucc_optimize_threshold(candidates: Iterable[tuple[str, str, float]],
                            gold_pairs: Iterable[Pair]) -> tuple[float, dict[str, float]]:
    """XTREME's BUCC protocol (``utils_retrieve.py``: ``read_candidate2score`` ->
    ``bucc_optimize`` -> ``bucc_extract`` -> ``bucc_eval``), on the gold pairs themselves.

    Duplicate candidates keep their max score. Candidates are sorted by descending score (stable,
    so ties keep input order); walking down the list, each time the F1 of "extract the top i+1"
    strictly improves, the threshold becomes the midpoint between the i-th and (i+1)-th scores.
    Pairs with ``score >= threshold`` are then extracted and scored with :func:`bucc_f1`.
    Returns ``(threshold, scores)``; ``threshold`` is 0 when no candidate is correct.
    Deviation: when the best F1 is reached at the very last candidate the original indexes past
    the end (IndexError); here the threshold is that candidate's score (so all are extracted).
    """
    cand2score: dict[Pair, float] = {}
    for src, tgt, score in candidates:
        key = (src, tgt)
        cand2score[key] = max(float(score), cand2score.get(key, float(score)))
    gold = {tuple(g) for g in gold_pairs}
    items = sorted(cand2score.items(), key=lambda kv: -kv[1])
    nextract = ncorrect = 0
    threshold, best_f1 = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        nextract += 1
        ncorrect += pair in gold
        if ncorrect > 0:
            precision, recall = ncorrect / nextract, ncorrect / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    extracted = [pair for pair, score in cand2score.items() if score >= threshold]
    return threshold, bucc_f1(extracted, gold)


# ---------------------------------------------------------------------------------------- parsing
def _flatten(x: Sequence) -> list:
    # Accept per-sentence nested lists (like tagging) or already flat per-token lists.
    return [t for s in x for t in s] if len(x) and isinstance(x[0], (list, tuple, np.ndarray)) else list(x)


def _is_punct(tok_or_upos: str) -> bool:
    return tok_or_upos == "PUNCT" or (
        bool(tok_or_upos) and all(unicodedata.category(c).startswith("P") for c in tok_or_upos))


def uas_las(pred_heads: Sequence, pred_rels: Sequence, gold_heads: Sequence, gold_rels: Sequence,
            tokens_or_upos: Sequence | None = None, exclude_punct: bool = False,
            universal_deprels: bool = True) -> dict[str, float]:
    """Unlabelled / labelled attachment scores (micro average over tokens).

    Convention: UD's CoNLL 2018 shared-task script (``conll18_ud_eval.py``) -- *every* word counts,
    punctuation included, and only the universal part of a relation is compared (``nmod:poss`` ==
    ``nmod``; set ``universal_deprels=False`` for full labels). Gold tokenisation is assumed (heads
    are 1-based word indices, 0 = root), so no word alignment is needed. The older CoNLL-X
    convention (punctuation excluded) is available with ``exclude_punct=True`` plus
    ``tokens_or_upos`` (a token is punctuation if its UPOS is ``PUNCT`` or all its characters are
    Unicode punctuation). Inputs may be per-sentence nested lists or flat lists."""
    ph, pr, gh, gr = (_flatten(x) for x in (pred_heads, pred_rels, gold_heads, gold_rels))
    if not (len(ph) == len(pr) == len(gh) == len(gr)):
        raise ValueError(f"uas_las: lengths differ: {len(ph)}, {len(pr)}, {len(gh)}, {len(gr)}")
    keep = [True] * len(gh)
    if exclude_punct:
        if tokens_or_upos is None:
            raise ValueError("uas_las: exclude_punct=True needs tokens_or_upos")
        tu = _flatten(tokens_or_upos)
        if len(tu) != len(gh):
            raise ValueError("uas_las: tokens_or_upos length differs from heads")
        keep = [not _is_punct(t) for t in tu]

    def rel(r: str) -> str:
        return r.split(":")[0] if universal_deprels else r

    idx = [i for i, k in enumerate(keep) if k]
    if not idx:
        raise ValueError("uas_las: nothing to evaluate (0 tokens)")
    head_ok = [int(ph[i]) == int(gh[i]) for i in idx]
    label_ok = [h and rel(pr[i]) == rel(gr[i]) for h, i in zip(head_ok, idx)]
    return {"uas": 100.0 * sum(head_ok) / len(idx), "las": 100.0 * sum(label_ok) / len(idx)}


# ------------------------------------------------------------------------------------- regression
def pearson_spearman(preds: Sequence[float], golds: Sequence[float]) -> dict[str, float]:
    """Pearson r, Spearman rho and their mean ``corr`` (GLUE STS-B convention), x100 so that it
    sits on the same 0-100 scale as every other score here. NaN for constant inputs (scipy)."""
    from scipy.stats import pearsonr, spearmanr

    _check_lengths(preds, golds, "pearson_spearman")
    p = np.asarray(preds, dtype=float)
    g = np.asarray(golds, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConstantInputWarning -> NaN is the answer
        pearson = float(pearsonr(p, g)[0])
        spearman = float(spearmanr(p, g)[0])
    return {"pearson": 100.0 * pearson, "spearman": 100.0 * spearman,
            "corr": 100.0 * (pearson + spearman) / 2}


# ------------------------------------------------------------------------------ registry / XTREME
METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "accuracy": accuracy,
    "seqeval_f1": seqeval_f1,
    "upos_accuracy": upos_accuracy,
    "accuracy_tokens": upos_accuracy,  # CCG supertags: the same token-level accuracy
    "squad": squad,
    "squad_v2": squad_v2,
    "mlqa": mlqa,
    "bucc_f1": bucc_f1,
    "tatoeba_accuracy": tatoeba_accuracy,
    "uas_las": uas_las,
    "pearson_spearman": pearson_spearman,
}

HEADLINE: dict[str, str] = {
    "accuracy": "accuracy",
    "seqeval_f1": "f1",
    "upos_accuracy": "accuracy",
    "accuracy_tokens": "accuracy",
    "squad": "f1",
    "squad_v2": "f1",
    "mlqa": "f1",
    "bucc_f1": "f1",
    "tatoeba_accuracy": "accuracy",
    "uas_las": "las",
    "pearson_spearman": "corr",
}

def headline(metric: str, scores: Mapping[str, float]) -> float:
    """The one number of a metric's result that tables and early stopping use."""
    return float(scores[HEADLINE[metric]])


# evaluate.py GROUP2TASK["qa"]: these average (EM + F1) / 2 in the XTREME score.
QA_TASKS = frozenset({"xquad", "mlqa", "tydiqa"})
# the metrics those tasks are scored with (tasks.yaml `metric:`)
QA_METRICS = frozenset({"squad", "squad_v2", "mlqa"})


def xtreme_value(metric: str, scores: Mapping[str, float]) -> float:
    """XTREME's number for one result (evaluate.py's avg_metric, the one rule every table uses):
    (EM + F1) / 2 for the QA metrics, else the metric's headline (F1 for NER and BUCC, accuracy for
    POS, classification and Tatoeba)."""
    if metric in QA_METRICS:
        return (float(scores["exact_match"]) + float(scores["f1"])) / 2
    return headline(metric, scores)


def _mean_over_langs(scores: Mapping[str, Any]) -> dict[str, float]:
    # Either {metric: value} (already averaged) or {lang: {metric: value}}; evaluate.py averages
    # each metric over languages first (avg_<metric>).
    if scores and all(isinstance(v, Mapping) for v in scores.values()):
        metrics = set.intersection(*(set(v) for v in scores.values()))
        return {m: float(np.mean([v[m] for v in scores.values()])) for m in metrics}
    return {k: float(v) for k, v in scores.items()}


def task_metric(task: str, scores: Mapping[str, Any]) -> float:
    """One task's ``avg_metric`` as in ``evaluate.py`` from scores whose metric is not named: QA
    tasks (EM+F1)/2, else F1 if present, else accuracy. A dict with ``exact_match`` is treated as QA
    whatever its task name. For every XTREME task this is :func:`xtreme_value` of the language
    means (tested)."""
    s = _mean_over_langs(scores)
    if task in QA_TASKS or "exact_match" in s:
        return (s["exact_match"] + s["f1"]) / 2
    if "f1" in s:
        return s["f1"]
    if "accuracy" in s:
        return s["accuracy"]
    raise ValueError(f"xtreme_score: task {task!r} has neither f1 nor accuracy: {sorted(s)}")


def xtreme_score(task_scores: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The XTREME average: the unweighted mean over tasks of each task's :func:`task_metric`.

    ``task_scores`` maps task -> scores ({metric: value} or {lang: {metric: value}}). Returns
    ``{"xtreme": mean, <task>: task_metric, ...}``. evaluate.py only prints ``all_task`` when all
    nine tasks are present; callers decide which subsets they report (the key is always filled)."""
    if not task_scores:
        raise ValueError("xtreme_score: no tasks")
    per_task = {t: task_metric(t, s) for t, s in task_scores.items()}
    return {"xtreme": float(np.mean(list(per_task.values()))), **per_task}
