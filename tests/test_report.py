"""Unit tests of the a0/a1/a2/a6 analyses in xstilts.report on small hand-made frames (no runs)."""
import numpy as np
import pandas as pd
import pytest

from xstilts import report as R


def rows(target, intermediate, scores, *, seed=0, languages="en", mlm_steps=0, metric="accuracy", **extra):
    """Long-frame rows of one target run: {language: score}."""
    run = f"{target}-after-{intermediate}-{languages}-m{mlm_steps}-s{seed}"
    return [{"scale": "smoke", "model": "tiny", "seed": seed, "target": target, "intermediate": intermediate,
             "n_intermediate": 0 if intermediate == "none" else intermediate.count("+") + 1,
             "intermediate_languages": languages, "mlm_steps": mlm_steps, "metric": metric, "language": lang,
             "score": float(score), "notes": "", "run": run,
             **{k: (v[lang] if isinstance(v, dict) else v) for k, v in extra.items()}}
            for lang, score in scores.items()]


def main_frame():
    """none / a / b / a+b on two targets; `en` must be ignored (it is 100 everywhere)."""
    out = []
    for seed, bump in ((0, 0.0), (1, 2.0)):
        out += rows("xnli", "none", {"en": 100, "de": 40 + bump, "ja": 30 + bump}, seed=seed)
        out += rows("xnli", "a", {"en": 100, "de": 44 + bump, "ja": 34 + bump}, seed=seed)
        out += rows("xnli", "b", {"en": 100, "de": 41 + bump, "ja": 31 + bump}, seed=seed)
        out += rows("xnli", "a+b", {"en": 100, "de": 45 + bump, "ja": 35 + bump}, seed=seed)
        out += rows("udpos", "none", {"en": 100, "de": 60 + bump, "ja": 20 + bump}, seed=seed)
        out += rows("udpos", "a", {"en": 100, "de": 61 + bump, "ja": 21 + bump}, seed=seed)
        out += rows("udpos", "b", {"en": 100, "de": 66 + bump, "ja": 26 + bump}, seed=seed)
        out += rows("udpos", "a+b", {"en": 100, "de": 64 + bump, "ja": 24 + bump}, seed=seed)
        out += rows("udpos", "none", {"en": 100, "de": 59 + bump, "ja": 19 + bump}, seed=seed, mlm_steps=50)
        out += rows("udpos", "a", {"en": 100, "de": 70 + bump, "ja": 30 + bump}, seed=seed, languages="en+de+ja")
    return pd.DataFrame(out)


def test_main_table_means_over_non_english_and_seeds():
    table = R.main_table(main_frame())
    # xnli none: seed 0 (40+30)/2 = 35, seed 1 37 -> 36; en is left out
    assert table.loc["none", "xnli"] == pytest.approx(36.0)
    assert table.loc["none", "udpos"] == pytest.approx(41.0)
    assert table.loc["none", "average"] == pytest.approx(38.5)
    # row order: none, single tasks, multi-task, MLM-continued, mixed-language
    assert list(table.index) == ["none", "a", "b", "multi-task (a+b)", "MLM-continued (50 steps)", "a [en+de+ja]"]
    # a row without every target has no average
    assert np.isnan(table.loc["MLM-continued (50 steps)", "average"])


def test_change_vs_none_and_best_per_target():
    change = R.change_vs_none(R.main_table(main_frame()))
    assert "none" not in change.index
    assert change.loc["a", "xnli"] == pytest.approx(4.0)
    assert change.loc["b", "udpos"] == pytest.approx(6.0)
    assert change.loc["a", "average"] == pytest.approx((4.0 + 1.0) / 2)
    assert change.loc["MLM-continued (50 steps)", "udpos"] == pytest.approx(-1.0)
    best = R.best_per_target(change)
    # the mixed-language row (+10 on udpos) is not an English intermediate configuration
    assert best.loc["udpos", "best"] == "b" and best.loc["udpos", "gain"] == pytest.approx(6.0)
    assert best.loc["xnli", "best"] == "multi-task (a+b)" and best.loc["xnli", "gain"] == pytest.approx(5.0)
    macros = R.main_table_macros(R.main_table(main_frame()), change)
    assert macros["a0 best per target average gain"] == pytest.approx(5.5)


def test_change_vs_none_needs_the_baseline():
    table = R.main_table(main_frame()).drop(index="none")
    with pytest.raises(R.MissingResults):
        R.change_vs_none(table)


def test_qa_uses_mean_of_em_and_f1():
    frame = pd.DataFrame(rows("xquad", "none", {"de": 50}, metric="squad", **{"m.exact_match": 40.0, "m.f1": 50.0}))
    assert R.xtreme_score(frame).iloc[0] == pytest.approx(45.0)


def test_grid_results_on_empty_frame_names_the_grid():
    with pytest.raises(R.MissingResults, match=r"params/experiments/a0_main_table\.yaml"):
        R.grid_results(pd.DataFrame(), "a0_main_table", "smoke")


def test_task_scaling_table_and_subset_spread():
    acc = "m.upos_accuracy.accuracy"
    out = []
    for subset, value in (("none", 50), ("a", 52), ("b", 56), ("a+b", 60), ("c+d", 58)):
        out += rows("udpos", subset, {"en": 90, "de": value, "ja": value - 10},
                    **{acc: {"en": 90.0, "de": float(value), "ja": float(value - 10)}})
    frame = R.task_scaling_frame(pd.DataFrame(out))
    assert set(frame["size"]) == {"0", "1", "all (2)"}
    table = R.task_scaling_table(frame)
    assert table.loc["1", "accuracy"] == pytest.approx((47 + 51) / 2)
    assert table.loc["1", "subset spread"] == pytest.approx(4.0)
    assert table.loc["all (2)", "subsets"] == 2
    assert table.loc["0", "acc ja"] == pytest.approx(40.0)
    subsets = R.subset_table(frame)
    assert subsets.loc[(2, "a+b"), "change vs none"] == pytest.approx(10.0)


def test_task_scaling_needs_upos_accuracy():
    with pytest.raises(R.MissingResults):
        R.task_scaling_frame(pd.DataFrame(rows("udpos", "none", {"de": 50})))


def test_bootstrap_ci_brackets_the_mean():
    mean, lo, hi = R.bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == pytest.approx(3.0) and lo < 3.0 < hi
    assert R.bootstrap_ci([1.0, 2.0, 3.0], seed=1) == R.bootstrap_ci([1.0, 2.0, 3.0], seed=1)


def test_mixed_language_pairs_scripts_and_paired_test():
    out = []
    for seed in range(3):
        out += rows("xnli", "mnli", {"en": 90, "es": 50, "de": 50, "ru": 40, "ja": 30}, seed=seed)
        out += rows("xnli", "mnli", {"en": 90, "es": 51, "de": 51, "ru": 45, "ja": 36}, seed=seed,
                    languages="en+es+de+ru+ja")
    pairs = R.mixed_language_pairs(pd.DataFrame(out), "smoke")
    assert len(pairs) == 12 and "en" not in set(pairs["language"])
    assert set(pairs.loc[pairs["group"] == "Latin", "language"]) == {"es", "de"}
    tests = R.mixed_language_tests(pairs)
    assert tests.loc["Latin", "mean change"] == pytest.approx(1.0)
    assert tests.loc["non-Latin", "mean change"] == pytest.approx(5.5)
    assert tests.loc["all", "pairs"] == 12 and tests.loc["all", "p (permutation)"] < 0.01
    assert R.script_of("hi", "offline") == "Deva" and R.script_of("ja", "smoke") == "Kana"
    with pytest.raises(KeyError):
        R.script_of("xx", "offline")


def test_paired_test_sanity():
    assert R.paired_test([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6])["mean_diff"] == 0.0
    strong = R.paired_test(np.arange(20) + 5.0, np.arange(20.0))
    assert strong["mean_diff"] == pytest.approx(5.0) and strong["p_permutation"] < 0.001


def test_verdict_logic():
    t = {"n_pairs": 10, "mean_diff": 2.0, "p_permutation": 0.01}
    assert R.verdict(t) == "supported"
    assert R.verdict({**t, "mean_diff": -2.0}) == "contradicted"
    assert R.verdict({**t, "p_permutation": 0.4}) == "inconclusive"
    assert R.verdict({**t, "n_pairs": 1}) == "inconclusive"
    # "the variant does not beat English": a non-significant negative difference is not support
    assert R.verdict({**t, "p_permutation": 0.4}, expect="not_negative") == "supported"
    assert R.verdict({**t, "mean_diff": -1.0, "p_permutation": 0.4}, expect="not_negative") == "inconclusive"


def test_claims_table_on_hand_made_results():
    frame = main_frame()
    claims = R.claims_table({"a0_main_table": frame, "a2_mixed_language": frame})
    assert list(claims.columns) == ["claim", "paper", "repo", "verdict", "evidence"]
    assert set(claims["verdict"]) <= set(R.VERDICTS)
    by = claims.set_index("claim")
    # no SQuAD / BUCC / NER runs in this frame: not testable, never a made-up number
    assert by.loc["SQuAD as intermediate task improves zero-shot transfer", "verdict"] == "not testable at this scale"
    assert by.loc["X-STILTs vs XLM-R on panx (XTREME test)", "verdict"] == "not testable at this scale"
    # xnli gains 5.0 at best, udpos 6.0: xnli gains least
    assert by.loc["XNLI gains least", "verdict"] == "supported"
    # the mixed-language variant beats English-only by 9 on every unit (n=4): not significant at n=4,
    # but English does not win, so the "does not beat" claim is not supported
    assert by.loc["Translated / mixed-language intermediate data does not beat English-only", "verdict"] == "inconclusive"
    macros = R.claims_macros(claims)
    assert macros["a6 claims"] == len(R.CLAIMS) and sum(macros[f"a6 {v}"] for v in R.VERDICTS) == len(claims)


def test_claim_tests_weigh_every_target_equally_like_the_average_they_test():
    # target x: 10 languages each 1 point worse; target y: 1 language 5 points better
    units = [("x", f"l{i}", 0, 50.0, 51.0) for i in range(10)] + [("y", "l0", 0, 60.0, 55.0)]
    both = pd.DataFrame(units, columns=["target", "language", "seed", "a", "b"]).set_index(["target", "language", "seed"])
    t = R._per_target_test(both)
    assert t["mean_diff"] == pytest.approx(2.0) and t["n_pairs"] == 11  # (-1 + 5) / 2, not -5/11
    assert R.paired_test(both["a"], both["b"])["mean_diff"] == pytest.approx(-5 / 11)
    assert t["ci_low"] <= 2.0 <= t["ci_high"]
