"""Did a phase learn? Its English dev score next to a trivial baseline, with a one-sided test.

Every trained phase (each intermediate task, each target task) is checked on the English dev rows
it was selected on. A phase *fails* when its dev score is not significantly above the baseline
(one-sided, `ALPHA`), or when a classifier predicts one class for every dev example. Failed runs are
marked in result.json (`failed`, `failed_reason`) so tables show them as failed and verdicts leave
them out.

Baselines and tests, per format:
* classification: the training data's majority label (its share of dev), binomial test on the
  number of correct dev predictions (scipy.stats.binomtest);
* multiple choice: chance (1 / number of choices), binomial test;
* tagging: each word's most frequent training tag (unseen words: the most frequent tag), token
  accuracy, binomial test on correct tokens;
* parsing: every word attached to the word before it (the first word to the root) with the most
  frequent training relation, LAS, binomial test on correctly attached and labelled words;
* regression: Pearson r against 0, scipy.stats.pearsonr (one-sided);
* extractive QA: the first k words of the passage (k = median gold-answer length in the training
  data), SQuAD F1 per question, paired bootstrap of the mean F1 difference (`N_BOOTSTRAP`, seed 0).
"""
from __future__ import annotations

import collections
import statistics

import numpy as np
from scipy import stats

from xstilts import evaluate, metrics

ALPHA = 0.05
N_BOOTSTRAP = 2000


def _binomial(correct: int, n: int, baseline: float) -> float:
    if n == 0:
        return 1.0
    return float(stats.binomtest(int(correct), int(n), min(max(baseline, 1e-12), 1 - 1e-12),
                                 alternative="greater").pvalue)


def passing_score(n: int, baseline: float, alpha: float = ALPHA) -> float:
    """The lowest score (percent of `n` items) that passes the one-sided binomial check against
    `baseline` (percent), by the check's own rule (p < alpha): what a run needs on a dev set of
    that size, whatever it truly learned."""
    p = baseline / 100.0
    k = int(stats.binom.isf(alpha, n, p))  # close to the answer; the loops make it exact
    while stats.binom.sf(k - 1, n, p) >= alpha:  # P(X >= k)
        k += 1
    while k > 0 and stats.binom.sf(k - 2, n, p) < alpha:
        k -= 1
    return 100.0 * k / n


def _classification(examples, preds, train_examples):
    gold = [e["label"] for e in examples]
    majority = collections.Counter(e["label"] for e in train_examples).most_common(1)[0][0]
    baseline = sum(g == majority for g in gold) / len(gold)
    correct = sum(p == g for p, g in zip(preds, gold))
    out = {"score": 100.0 * correct / len(gold), "baseline": 100.0 * baseline, "baseline_kind": "majority label",
           "test": "binomial", "p_value": _binomial(correct, len(gold), baseline), "n": len(gold)}
    if len(set(preds)) == 1:
        out["one_class"] = True
    return out


def _multiple_choice(examples, preds, train_examples):
    gold = [e["label"] for e in examples]
    baseline = float(np.mean([1.0 / len(e["choices"]) for e in examples]))
    correct = sum(p == g for p, g in zip(preds, gold))
    return {"score": 100.0 * correct / len(gold), "baseline": 100.0 * baseline, "baseline_kind": "chance",
            "test": "binomial", "p_value": _binomial(correct, len(gold), baseline), "n": len(gold)}


def _tagging(examples, preds, train_examples):
    mft = evaluate.most_frequent_tag_baseline(train_examples, examples)
    gold = [t for e in examples for t in e["tags"]]
    pred = [t for s in preds for t in s]
    base = [t for s in mft for t in s]
    correct = sum(p == g for p, g in zip(pred, gold))
    baseline = sum(b == g for b, g in zip(base, gold)) / len(gold)
    return {"score": 100.0 * correct / len(gold), "baseline": 100.0 * baseline,
            "baseline_kind": "most frequent tag (token accuracy)", "test": "binomial",
            "p_value": _binomial(correct, len(gold), baseline), "n": len(gold)}


def _parsing(examples, preds, train_examples):
    pred_heads, pred_rels = preds
    rel = collections.Counter(r.split(":")[0] for e in train_examples for r in e["deprels"]).most_common(1)[0][0]
    gold_h = [h for e in examples for h in e["heads"]]
    gold_r = [r.split(":")[0] for e in examples for r in e["deprels"]]
    base_h = [i for e in examples for i in range(len(e["heads"]))]  # word i+1 -> word i (the first -> root)
    las = metrics.uas_las(pred_heads, pred_rels, gold_h, gold_r)["las"] / 100.0
    baseline = metrics.uas_las(base_h, [rel] * len(base_h), gold_h, gold_r)["las"] / 100.0
    n = len(gold_h)
    return {"score": 100.0 * las, "baseline": 100.0 * baseline,
            "baseline_kind": "attach to the previous word, most frequent relation (LAS)", "test": "binomial",
            "p_value": _binomial(round(las * n), n, baseline), "n": n}


def _regression(examples, preds, train_examples):
    gold = [e["label"] for e in examples]
    if len(set(preds)) < 2:
        return {"score": 0.0, "baseline": 0.0, "baseline_kind": "no correlation (Pearson r = 0)",
                "test": "pearson", "p_value": 1.0, "n": len(gold), "one_class": True}
    r = stats.pearsonr(preds, gold, alternative="greater")
    return {"score": 100.0 * float(r.statistic), "baseline": 0.0, "baseline_kind": "no correlation (Pearson r = 0)",
            "test": "pearson", "p_value": float(r.pvalue), "n": len(gold)}


def _qa(examples, preds, train_examples):
    k = max(1, round(statistics.median(len(a.split()) for e in train_examples for a in e["answers"]["text"][:1])))

    def f1(pred, golds):
        return max(metrics._token_f1(metrics.normalize_squad(pred).split(), metrics.normalize_squad(g).split())
                   for g in golds) if golds else 0.0

    model = np.array([f1(preds.get(e["id"], ""), e["answers"]["text"]) for e in examples])
    base = np.array([f1(" ".join(e["context"].split()[:k]), e["answers"]["text"]) for e in examples])
    diff = model - base
    rng = np.random.default_rng(0)
    means = diff[rng.integers(0, len(diff), size=(N_BOOTSTRAP, len(diff)))].mean(1)
    return {"score": 100.0 * float(model.mean()), "baseline": 100.0 * float(base.mean()),
            "baseline_kind": f"first {k} words of the passage (SQuAD F1)", "test": "paired bootstrap",
            "p_value": float((np.sum(means <= 0) + 1) / (N_BOOTSTRAP + 1)), "n": len(diff)}


CHECKS = {"classification": _classification, "multiple_choice": _multiple_choice, "tagging": _tagging,
          "parsing": _parsing, "regression": _regression, "qa": _qa}


def check(fmt: str, examples: list[dict], predictions, train_examples: list[dict]) -> dict:
    """English dev score vs its baseline, the test's p-value, and `failed` with the reason."""
    out = CHECKS[fmt](examples, predictions, train_examples)
    reasons = []
    if out.get("one_class"):
        reasons.append("predicts a single class / constant for every dev example")
    if out["score"] <= out["baseline"] or out["p_value"] >= ALPHA:
        reasons.append(f"dev {out['score']:.1f} not above the {out['baseline_kind']} baseline {out['baseline']:.1f} "
                       f"({out['test']} test, p = {out['p_value']:.3g}, n = {out['n']})")
    out["alpha"] = ALPHA
    out["failed"] = bool(reasons)
    out["failed_reason"] = "; ".join(reasons) or None
    return out


def summarise(checks: dict[str, dict]) -> dict:
    """Run-level fields from per-task checks: `failed` if any task failed, with the reasons."""
    failed = {name: c["failed_reason"] for name, c in checks.items() if c["failed"]}
    return {"failed": bool(failed),
            "failed_reason": "; ".join(f"{name}: {why}" for name, why in failed.items()) or None}


def masked_lm(measured: dict) -> dict:
    """Continued MLM on held-out text: masked-token accuracy vs always predicting the training text's
    most frequent token on the same positions (binomial test on the restored tokens)."""
    n = measured["masked_tokens"]
    baseline = measured["unigram_correct"] / n if n else 1.0
    out = {"score": measured["masked_accuracy"], "baseline": 100.0 * baseline,
           "baseline_kind": "unigram (most frequent training token)", "test": "binomial",
           "p_value": _binomial(measured["correct"], n, baseline), "n": n, "alpha": ALPHA}
    failed = out["score"] <= out["baseline"] or out["p_value"] >= ALPHA
    out["failed"] = failed
    out["failed_reason"] = (f"masked-token accuracy {out['score']:.1f} not above the unigram baseline "
                            f"{out['baseline']:.1f} (binomial test, p = {out['p_value']:.3g}, n = {n})") if failed else None
    return out


def dev_table(root, scale: str, only: set[str] | None = None):
    """Did each phase learn, per task: every finished MLM, intermediate and target run under
    `root`/<scale> with its English dev check -> one row per (phase, task): runs, mean dev score,
    the baseline it had to beat (kind and mean value), and how many runs failed. The table a
    reviewer reads before any gain (retrieval targets are not trained: no row). `only`: the
    "<phase>/<run folder>" names to count (a design's grids: results.design_runs), so runs a user
    made outside the grids never enter the paper's table."""
    import pandas as pd

    from xstilts import runs

    rows = []
    for phase in ("mlm", "intermediate", "target"):
        for result in runs.collect(root, scale, phase):
            if only is not None and f"{phase}/{result.get('run_dir')}" not in only:
                continue
            for task, c in (result.get("dev_check") or {}).items():
                if isinstance(c, dict) and "score" in c:
                    rows.append({"phase": phase, "task": task, "score": c["score"], "baseline": c.get("baseline"),
                                 "baseline kind": c.get("baseline_kind", ""), "failed": bool(c.get("failed"))})
    columns = ["phase", "task", "runs", "dev (mean)", "baseline", "baseline kind", "failed runs"]
    if not rows:
        return pd.DataFrame(columns=columns).set_index(["phase", "task"])
    frame = pd.DataFrame(rows)
    table = frame.groupby(["phase", "task"], sort=False).agg(
        runs=("score", "size"), **{"dev (mean)": ("score", "mean"), "baseline": ("baseline", "mean"),
                                    "baseline kind": ("baseline kind", "first"), "failed runs": ("failed", "sum")})
    return table[columns[2:]]
