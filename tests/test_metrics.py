"""Hand-worked cases for xstilts.metrics: each expected number is derived in the comment next to it,
so a metric that drifts from XTREME's scripts fails here."""

import json
import math
import os

import pytest

from xstilts import metrics as M
from xstilts import submission
from xtreme_evaluate import read_tag as _xtreme_read_tag  # the ported evaluate.py reader, one copy


# ----------------------------------------------------------------------------- classification
def test_accuracy_basic_perfect_and_errors():
    assert M.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == {"accuracy": 50.0}
    assert M.accuracy(["a", "b"], ["a", "b"])["accuracy"] == 100.0
    # no str() coercion: an int/str mix-up is wrong, not silently right
    assert M.accuracy([1], ["1"])["accuracy"] == 0.0
    with pytest.raises(ValueError):
        M.accuracy([1, 2], [1])
    with pytest.raises(ValueError):
        M.accuracy([], [])


def test_tatoeba_accuracy():
    # 2 of 3 retrieved indices right
    assert M.tatoeba_accuracy([0, 2, 2], [0, 1, 2])["accuracy"] == pytest.approx(200 / 3)


# ------------------------------------------------------------------------------------ tagging
def test_seqeval_f1_argument_order_precision_vs_recall():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "O"]]
    # pred chunks {PER(0-1)} all right -> P = 1/1; gold chunks {PER, LOC} -> R = 1/2; F1 = 2/3.
    # (Swapping gold/pred would give P = 50, R = 100.)
    s = M.seqeval_f1(pred, gold)
    assert s["precision"] == pytest.approx(100.0)
    assert s["recall"] == pytest.approx(50.0)
    assert s["f1"] == pytest.approx(200 / 3)


def test_seqeval_f1_boundary_error_vs_token_accuracy():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]
    # chunks: gold {PER(0-1), LOC(3)}, pred {PER(0), LOC(3)}: 1 correct of 2 each -> 50 / 50 / 50;
    # token accuracy is 3/4.
    s = M.seqeval_f1(pred, gold)
    assert (s["f1"], s["precision"], s["recall"]) == pytest.approx((50.0, 50.0, 50.0))
    assert M.upos_accuracy(pred, gold)["accuracy"] == pytest.approx(75.0)


def test_seqeval_perfect_and_no_chunks():
    tags = [["B-ORG", "I-ORG", "O"], ["O", "B-LOC"]]
    assert M.seqeval_f1(tags, tags) == {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    # no predicted chunks at all -> 0 (seqeval's zero_division default, as XTREME reports)
    assert M.seqeval_f1([["O", "O"]], [["B-LOC", "O"]])["f1"] == 0.0


def test_upos_accuracy_differs_from_seqeval_f1():
    gold = [["NOUN", "NOUN", "VERB"]]
    pred = [["NOUN", "VERB", "VERB"]]
    # Token accuracy: 2 of 3 right -> 66.67.
    assert M.upos_accuracy(pred, gold)["accuracy"] == pytest.approx(200 / 3)
    # seqeval reads NOUN as prefix N + type "OUN", and merges equal neighbours into one chunk:
    # gold chunks {OUN(0-1), ERB(2)}, pred chunks {OUN(0), ERB(1-2)} -> no chunk matches -> F1 0.
    s = M.seqeval_f1(pred, gold)
    assert s["f1"] == 0.0 and s["precision"] == 0.0 and s["recall"] == 0.0


def test_upos_accuracy_micro_over_sentences_and_alias():
    pred = [["DET", "NOUN"], ["VERB", "ADV", "PUNCT", "X"]]
    gold = [["DET", "VERB"], ["VERB", "ADV", "PUNCT", "X"]]
    # micro: 5 of 6 tokens (macro over sentences would be (50 + 100)/2 = 75)
    assert M.upos_accuracy(pred, gold)["accuracy"] == pytest.approx(500 / 6)
    assert M.METRICS["accuracy_tokens"] is M.upos_accuracy
    with pytest.raises(ValueError):
        M.upos_accuracy([["A"]], [["A", "B"]])


# ----------------------------------------------------------------------------------------- QA
def test_squad_normalisation():
    assert M.normalize_squad("The  Eiffel-Tower!") == "eiffeltower"
    # articles only as whole words: "another"/"theory" keep their letters
    assert M.normalize_squad("An apple, another theory") == "apple another theory"
    s = M.squad({"q": "the Eiffel Tower."}, {"q": ["Eiffel Tower"]})
    assert s == {"exact_match": 100.0, "f1": 100.0}
    # SQuAD strips ASCII punctuation only: guillemets stay, so no exact match
    assert M.squad({"q": "«Paris»"}, {"q": ["Paris"]})["exact_match"] == 0.0


def test_squad_max_over_golds_and_missing_predictions():
    preds = {"q1": "the Eiffel Tower.", "q2": "Denver Broncos", "extra": "ignored"}
    refs = {"q1": ["Eiffel Tower"], "q2": ["Broncos", "Denver Broncos team"], "q3": ["x"]}
    # q1: EM 1, F1 1.
    # q2 vs "Broncos": P 1/2, R 1 -> 2/3; vs "Denver Broncos team": P 1, R 2/3 -> 0.8; max 0.8, EM 0.
    # q3: no prediction -> 0 but still counted. EM = 1/3, F1 = 1.8/3.
    s = M.squad(preds, refs)
    assert s["exact_match"] == pytest.approx(100 / 3)
    assert s["f1"] == pytest.approx(60.0)


def test_squad_empty_prediction_and_no_gold():
    assert M.squad({"q": ""}, {"q": ["Rome"]}) == {"exact_match": 0.0, "f1": 0.0}
    with pytest.raises(ValueError):
        M.squad({"q": ""}, {"q": []})  # unanswerable belongs to squad_v2


def test_squad_v2_unanswerable():
    refs = {"a": ["Paris"], "b": [], "c": [], "d": ["Rome"]}
    preds = {"a": "Paris France", "b": "", "c": "London", "d": ""}
    # a: P 1/2, R 1 -> F1 2/3, EM 0;  b: abstained correctly -> 1/1;  c: answered an
    # unanswerable -> 0/0;  d: abstained on an answerable -> 0/0.
    s = M.squad_v2(preds, refs)
    assert s["exact_match"] == pytest.approx(25.0)
    assert s["f1"] == pytest.approx(100 * (2 / 3 + 1) / 4)
    assert s["HasAns_exact_match"] == pytest.approx(0.0)
    assert s["HasAns_f1"] == pytest.approx(100 / 3)
    assert s["NoAns_exact_match"] == pytest.approx(50.0)
    assert s["NoAns_f1"] == pytest.approx(50.0)
    assert (s["HasAns_total"], s["NoAns_total"], s["total"]) == (2.0, 2.0, 4.0)


def test_squad_v2_official_quirks():
    # a prediction that normalises to "" ("the") is an abstention; a gold that normalises to ""
    # is dropped, leaving the question unanswerable
    s = M.squad_v2({"x": "The", "y": ""}, {"x": [], "y": ["a"]})
    assert s["exact_match"] == 100.0 and s["f1"] == 100.0
    assert s["NoAns_total"] == 2.0
    # v1 semantics on answerable questions are unchanged
    assert M.squad_v2({"q": "Denver Broncos"}, {"q": ["Broncos", "Denver Broncos team"]})["f1"] == pytest.approx(80.0)


def test_mlqa_zh_mixed_segmentation():
    # zh: each ideograph is a token. pred 北/京/大/学 vs gold 北/京: P 2/4, R 1 -> F1 2/3.
    s = M.mlqa({"q": "北京大学"}, {"q": ["北京"]}, "zh")
    assert s["exact_match"] == 0.0
    assert s["f1"] == pytest.approx(200 / 3)
    # the SQuAD script sees one whitespace token each -> F1 0: the language rule matters
    assert M.squad({"q": "北京大学"}, {"q": ["北京"]})["f1"] == 0.0
    # Latin runs stay whole words, ideographs split, CJK punctuation dropped
    assert M.normalize_mlqa("iPhone手机。", "zh") == "iphone 手 机"
    assert M.mlqa({"q": "iPhone 手机"}, {"q": ["iphone手机"]}, "zh")["exact_match"] == 100.0


def test_mlqa_arabic_article_and_unicode_punctuation():
    # ar: every "ال" is replaced by a space (the script's regex), so الكتاب == كتاب
    assert M.normalize_mlqa("الكتاب", "ar") == "كتاب"
    assert M.mlqa({"q": "الكتاب"}, {"q": ["كتاب"]}, "ar") == {"exact_match": 100.0, "f1": 100.0}
    assert M.squad({"q": "الكتاب"}, {"q": ["كتاب"]})["exact_match"] == 0.0
    # Unicode punctuation (category P*) is removed, unlike SQuAD
    assert M.mlqa({"q": "«Paris»"}, {"q": ["Paris"]}, "en")["exact_match"] == 100.0


def test_mlqa_language_articles():
    assert M.mlqa({"q": "el perro"}, {"q": ["perro"]}, "es")["exact_match"] == 100.0
    assert M.mlqa({"q": "der Hund"}, {"q": ["Hund"]}, "de")["exact_match"] == 100.0
    # Spanish articles are not English ones: "the" stays in es
    assert M.mlqa({"q": "the perro"}, {"q": ["perro"]}, "es")["exact_match"] == 0.0
    # hi has no articles: "a" is kept -> tokens {a, b} vs {b}: P 1/2, R 1 -> 2/3
    assert M.mlqa({"q": "a b"}, {"q": ["b"]}, "hi")["f1"] == pytest.approx(200 / 3)
    with pytest.raises(ValueError):
        M.mlqa({"q": "x"}, {"q": ["x"]}, "fr")


# --------------------------------------------------------------------------------------- BUCC
GOLD = {("a1", "b1"), ("a2", "b2"), ("a3", "b3"), ("a4", "b4")}


def test_bucc_f1_small_pair_set():
    pred = {("a1", "b1"), ("a2", "b2"), ("a3", "b9")}
    # 2 correct: P 2/3, R 2/4, F1 = 2*(2/3)(1/2)/(7/6) = 4/7
    s = M.bucc_f1(pred, GOLD)
    assert s["precision"] == pytest.approx(200 / 3)
    assert s["recall"] == pytest.approx(50.0)
    assert s["f1"] == pytest.approx(400 / 7)
    assert M.bucc_f1(set(), GOLD) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert M.bucc_f1(GOLD, GOLD)["f1"] == pytest.approx(100.0)


def test_bucc_optimize_threshold():
    cands = [("a1", "b1", 0.9), ("a2", "b2", 0.8), ("a3", "b9", 0.7), ("a3", "b3", 0.6),
             ("a5", "b5", 0.5), ("a1", "b1", 0.1)]  # duplicate keeps its max score (0.9)
    # walk down: top1 F1 .4 (th .85), top2 .667 (th .75), top3 .571, top4 P=R=.75 -> .75
    # (th (0.6+0.5)/2 = .55), top5 .667. Extract score >= .55 -> top 4 -> P = R = F1 = 75.
    th, s = M.bucc_optimize_threshold(cands, GOLD)
    assert th == pytest.approx(0.55)
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((75.0, 75.0, 75.0))


def test_bucc_optimize_threshold_edges():
    # best at the last candidate (the original indexes past the end): threshold = its score
    th, s = M.bucc_optimize_threshold([("a1", "b1", 0.9)], {("a1", "b1")})
    assert th == pytest.approx(0.9) and s["f1"] == pytest.approx(100.0)
    # nothing correct: threshold stays 0, scores 0
    th, s = M.bucc_optimize_threshold([("x", "y", 0.9)], {("a1", "b1")})
    assert th == 0.0 and s["f1"] == 0.0


# ------------------------------------------------------------------------------------ parsing
def test_uas_las_all_tokens_and_universal_relations():
    gold_heads = [[2, 0, 2, 2], [0, 1], [0, 1]]
    gold_rels = [["nsubj", "root", "obj", "punct"], ["root", "nmod:poss"], ["root", "amod"]]
    pred_heads = [[2, 0, 1, 2], [0, 1], [0, 1]]
    pred_rels = [["nsubj", "root", "obj", "punct"], ["root", "nmod"], ["root", "det"]]
    # heads right: 3 + 2 + 2 = 7 of 8 -> UAS 87.5.
    # labels (universal part, nmod:poss == nmod) right where the head is: 3 + 2 + 1 = 6 -> LAS 75.
    s = M.uas_las(pred_heads, pred_rels, gold_heads, gold_rels)
    assert s == {"uas": pytest.approx(87.5), "las": pytest.approx(75.0)}
    # full labels: nmod != nmod:poss -> 5 of 8
    assert M.uas_las(pred_heads, pred_rels, gold_heads, gold_rels, universal_deprels=False)["las"] == pytest.approx(62.5)
    # flat lists give the same as nested
    flat = [sum(x, []) for x in (pred_heads, pred_rels, gold_heads, gold_rels)]
    assert M.uas_las(*flat) == s


def test_uas_las_exclude_punct():
    upos = ["PRON", "VERB", "PUNCT", "PUNCT"]
    gold_heads, gold_rels = [2, 0, 2, 2], ["nsubj", "root", "punct", "punct"]
    pred_heads, pred_rels = [2, 0, 1, 1], ["nsubj", "root", "punct", "punct"]
    # default (CoNLL 2018): all 4 words count -> 2/4; without punctuation: 2/2
    assert M.uas_las(pred_heads, pred_rels, gold_heads, gold_rels)["uas"] == pytest.approx(50.0)
    s = M.uas_las(pred_heads, pred_rels, gold_heads, gold_rels, upos, exclude_punct=True)
    assert s == {"uas": 100.0, "las": 100.0}
    # tokens work too: "!" and "..." are all-punctuation
    toks = ["I", "run", "!", "..."]
    assert M.uas_las(pred_heads, pred_rels, gold_heads, gold_rels, toks, exclude_punct=True)["uas"] == 100.0


# --------------------------------------------------------------------------------- regression
def test_pearson_spearman():
    # x = 1..4, y = 1,2,3,5: ranks identical -> spearman 1; pearson = 6.5 / sqrt(5 * 8.75)
    s = M.pearson_spearman([1, 2, 3, 4], [1, 2, 3, 5])
    r = 6.5 / math.sqrt(5 * 8.75)
    assert s["spearman"] == pytest.approx(100.0)
    assert s["pearson"] == pytest.approx(100 * r)
    assert s["corr"] == pytest.approx(100 * (r + 1) / 2)


# ------------------------------------------------------------------------------ XTREME score
def test_xtreme_score_qa_counts_em_plus_f1_over_two():
    scores = {
        "xnli": {"accuracy": 80.0},
        "xquad": {"exact_match": 60.0, "f1": 80.0},          # -> 70, not 80
        "panx": {"f1": 70.0, "precision": 10.0, "recall": 90.0},
        "tatoeba": {"accuracy": 50.0},
    }
    out = M.xtreme_score(scores)
    assert out["xquad"] == pytest.approx(70.0)
    assert out["xtreme"] == pytest.approx((80 + 70 + 70 + 50) / 4)


def test_xtreme_score_averages_languages_first():
    scores = {"mlqa": {"en": {"exact_match": 60.0, "f1": 80.0}, "de": {"exact_match": 40.0, "f1": 60.0}},
              "bucc": {"de": {"f1": 90.0, "precision": 1.0, "recall": 1.0}, "fr": {"f1": 70.0, "precision": 1.0, "recall": 1.0}}}
    out = M.xtreme_score(scores)
    # mlqa: avg EM 50, avg F1 70 -> 60;  bucc: avg F1 80
    assert out["mlqa"] == pytest.approx(60.0)
    assert out["bucc"] == pytest.approx(80.0)
    assert out["xtreme"] == pytest.approx(70.0)


def test_registry_and_headlines():
    names = {"accuracy", "seqeval_f1", "upos_accuracy", "accuracy_tokens", "squad", "squad_v2", "mlqa",
             "bucc_f1", "tatoeba_accuracy", "uas_las", "pearson_spearman"}
    assert set(M.METRICS) == names
    assert set(M.HEADLINE) == names
    assert M.HEADLINE["squad"] == M.HEADLINE["mlqa"] == "f1"
    assert M.HEADLINE["uas_las"] == "las" and M.HEADLINE["pearson_spearman"] == "corr"
    # every headline key is produced by its metric
    assert M.HEADLINE["seqeval_f1"] in M.METRICS["seqeval_f1"]([["B-X"]], [["B-X"]])
    assert M.HEADLINE["squad_v2"] in M.METRICS["squad_v2"]({"q": ""}, {"q": []})


# --------------------------------------------------------------------------- prediction writer
def test_write_xtreme_predictions_layout(tmp_path):
    p = submission.write_xtreme_predictions("xnli", "de", ["entailment", "neutral"], tmp_path)
    assert p == tmp_path / "xnli" / "test-de.tsv"
    assert p.read_text() == "entailment\nneutral\n"

    tags = [["B-PER", "I-PER"], [], ["O"]]
    p = submission.write_xtreme_predictions("panx", "ar", tags, tmp_path)
    assert p == tmp_path / "panx" / "test-ar.tsv"
    assert _xtreme_read_tag(p) == tags  # sentence alignment survives, empty sentence included

    p = submission.write_xtreme_predictions("bucc", "fr", {("fr-2", "en-9"), ("fr-1", "en-3")}, tmp_path)
    assert p == tmp_path / "bucc2018" / "test-fr.tsv"
    assert p.read_text() == "fr-1\ten-3\nfr-2\ten-9\n"

    p = submission.write_xtreme_predictions("tatoeba", "zh", [3, 1], tmp_path)
    assert p.read_text() == "3\n1\n"

    # XTREME-R's read_xcopa: json.loads(row)["label"] per line, compared to the gold ints
    p = submission.write_xtreme_predictions("xcopa", "qu", [1, 0], tmp_path)
    assert p == tmp_path / "xcopa" / "test-qu.jsonl"
    assert [json.loads(row)["label"] for row in p.read_text().splitlines()] == [1, 0]

    p = submission.write_xtreme_predictions("mlqa", "zh", {"id1": "电池"}, tmp_path)
    assert p == tmp_path / "mlqa" / "test-zh.json"
    assert json.loads(p.read_text(encoding="utf-8")) == {"id1": "电池"}

    # overwrite is atomic and leaves no temporary files behind
    submission.write_xtreme_predictions("xnli", "de", ["contradiction"], tmp_path)
    assert (tmp_path / "xnli" / "test-de.tsv").read_text() == "contradiction\n"
    for folder in tmp_path.iterdir():
        assert all(not n.startswith(".") for n in os.listdir(folder))

    with pytest.raises(ValueError):
        submission.write_xtreme_predictions("mnli", "en", ["x"], tmp_path)


def test_one_xtreme_rule_task_metric_equals_xtreme_value_for_every_registered_target():
    # task_metric (scores without a metric name) and xtreme_value (what every table uses) are one rule
    from xstilts import tasks

    fake = {"squad": {"exact_match": 60.0, "f1": 80.0}, "squad_v2": {"exact_match": 50.0, "f1": 70.0},
            "mlqa": {"exact_match": 40.0, "f1": 60.0}, "seqeval_f1": {"f1": 71.0, "precision": 1.0, "recall": 2.0},
            "upos_accuracy": {"accuracy": 88.0}, "accuracy": {"accuracy": 66.0}, "tatoeba_accuracy": {"accuracy": 55.0},
            "bucc_f1": {"f1": 77.0, "precision": 3.0, "recall": 4.0, "threshold": 0.5}}
    seen = set()
    for name in tasks.task_names("target"):
        metric = tasks.get_task(name)["metric"]
        assert metric in fake, f"{name}: add its metric {metric} to this test"
        assert M.task_metric(name, fake[metric]) == pytest.approx(M.xtreme_value(metric, fake[metric])), name
        seen.add(metric)
    assert {"squad", "accuracy", "tatoeba_accuracy"} <= seen
