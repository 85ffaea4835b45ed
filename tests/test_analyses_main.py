"""a0 (main table), a1 (question A), a2 (question B) and a6 (claims ledger) on hand-made frames."""
import json

import numpy as np
import pandas as pd
import pytest

from xstilts import paper, results
from xstilts import params as P
from xstilts.analyses import a0_main_table as a0
from xstilts.analyses import a1_task_scaling_pos as a1
from xstilts.analyses import a2_mixed_language as a2
from xstilts.analyses import a6_claims as a6


def rows(target, intermediate, scores, *, seed=0, languages="en", mlm_steps=0, metric="accuracy", dev=np.nan,
         failed=False, **extra):
    run = f"{target}-after-{intermediate}-{languages}-m{mlm_steps}-s{seed}"
    return [{"scale": "smoke", "model": "tiny", "seed": seed, "target": target, "intermediate": intermediate,
             "n_intermediate": 0 if intermediate == "none" else intermediate.count("+") + 1,
             "intermediate_languages": languages, "mlm_steps": mlm_steps, "metric": metric, "language": lang,
             "score": float(score), "dev": dev, "failed": failed, "notes": "", "run": run,
             "path": f"runs/smoke/target/{run}",
             **{k: (v[lang] if isinstance(v, dict) else v) for k, v in extra.items()}}
            for lang, score in scores.items()]


def main_frame(seeds=(0, 1, 2)):
    """none / a / b / a+b on two targets; b has the best dev on udpos, a+b on xnli; `en` is ignored."""
    out = []
    for seed in seeds:
        bump = seed * 2.0
        jitter = [0.0, 0.3, -0.2][seed % 3]
        out += rows("xnli", "none", {"en": 100, "de": 40 + bump, "ja": 30 + bump}, seed=seed, dev=50)
        out += rows("xnli", "a", {"en": 100, "de": 44 + bump + jitter, "ja": 34 + bump}, seed=seed, dev=55)
        out += rows("xnli", "b", {"en": 100, "de": 41 + bump, "ja": 31 + bump - jitter}, seed=seed, dev=52)
        out += rows("xnli", "a+b", {"en": 100, "de": 45 + bump, "ja": 35 + bump + jitter}, seed=seed, dev=56)
        out += rows("udpos", "none", {"en": 100, "de": 60 + bump, "ja": 20 + bump}, seed=seed, dev=70)
        out += rows("udpos", "a", {"en": 100, "de": 61 + bump, "ja": 21 + bump + jitter}, seed=seed, dev=71)
        out += rows("udpos", "b", {"en": 100, "de": 66 + bump - jitter, "ja": 26 + bump}, seed=seed, dev=75)
        out += rows("udpos", "a+b", {"en": 100, "de": 64 + bump, "ja": 24 + bump}, seed=seed, dev=74)
    return pd.DataFrame(out)


def test_main_table_change_and_dev_selection():
    frame = main_frame()
    table = a0.main_table(frame)
    assert table.loc["none", "xnli"] == pytest.approx(37.0)  # (40+30)/2 + mean bump 2
    change = a0.change_vs_none(table)
    assert change.loc["b", "udpos"] == pytest.approx(6.0 - 0.1 / 3 * 0 + 0.0, abs=0.1)
    sel = a0.selection_table(frame)
    # chosen on English dev (b: 75 on udpos, a+b: 56 on xnli), never on the test languages
    assert sel.loc["udpos", "selected on English dev"] == "b"
    assert sel.loc["xnli", "selected on English dev"] == "multi-task (a+b)"
    assert (sel["failed runs left out"] == 0).all()


def test_failed_runs_are_counted_and_left_out():
    frame = main_frame().assign(scale="offline")  # the scales whose numbers are read as science
    bad = frame["run"] == "udpos-after-b-en-m0-s0"
    frame.loc[bad, "failed"] = True
    frame.loc[bad, "score"] = 0.0
    sel = a0.selection_table(frame)
    assert sel.loc["udpos", "failed runs left out"] == 1
    assert a0.main_table(frame).loc["b", "udpos"] > 40  # the failed run's zeros are not averaged in


def test_smoke_keeps_failed_runs_and_counts_them():
    """Smoke checks the machinery: most of its runs fail their dev check on the synthetic benchmark,
    so they stay in (else its analyses would have nothing to show), counted."""
    frame = main_frame()
    bad = frame["run"] == "udpos-after-b-en-m0-s0"
    frame.loc[bad, "failed"] = True
    frame.loc[bad, "score"] = 0.0
    kept, failed = results.completed(frame)
    assert failed == 1 and len(kept) == len(frame)
    assert a0.main_table(frame).loc["b", "udpos"] < a0.main_table(main_frame()).loc["b", "udpos"]  # zeros kept


def test_change_intervals_average_weighs_targets_equally():
    iv = a0.change_intervals(main_frame()).set_index(["config", "target"])
    avg = iv.loc[("a", "average")]
    assert avg["estimate"] == pytest.approx((iv.loc[("a", "xnli"), "estimate"] + iv.loc[("a", "udpos"), "estimate"]) / 2)
    assert avg["seeds"] == 3 and avg["ci_low"] <= avg["estimate"] <= avg["ci_high"]


def test_a_target_with_fewer_seeds_is_shown_alone_and_left_out_of_averages_and_claims():
    # a grid computed in chunks: udpos has seeds 0-2, xnli only seed 0 so far
    frame = main_frame()
    frame = frame[(frame["target"] == "udpos") | (frame["seed"] == 0)]
    table = a0.main_table(frame)
    assert table["average"].isna().all()  # the targets do not share their seeds: no average
    assert "no average over targets" in a0.none_average_text(table)
    iv = a0.change_intervals(frame).set_index(["config", "baseline", "target"])
    assert ("a", "none", "average") not in iv.index
    xnli, udpos = iv.loc[("a", "none", "xnli")], iv.loc[("a", "none", "udpos")]
    assert xnli["seeds"] == 1 and np.isnan(xnli["ci_low"]) and np.isnan(xnli["p"])  # shown, no interval, no test
    assert udpos["seeds"] == 3 and udpos["ci_low"] <= udpos["estimate"] <= udpos["ci_high"]
    assert "(1 seed: no interval over seeds, no test)" in a0.intervals_text(a0.change_intervals(frame))
    units = a0.paired_units(a0.scores(frame), "a", "none")
    assert set(units["target"]) == {"udpos"} and units.attrs["left out"] == {"xnli": 1}
    assert a0.left_out_text(units) == "; xnli (1 seed) left out (seeds still to run or runs that failed their dev check)"
    assert set(a0.paired_units(a0.scores(frame), "a", "none", targets={"xnli"})["seed"]) == {0}
    # the claims read udpos's three seeds, not one seed of both targets, and say what they left out
    by = a6.claims_table({"a0_main_table": frame}).set_index("claim")
    multi = by.loc["Multi-task training on the intermediate tasks improves transfer"]
    assert multi["seeds"] == 3 and "1 target; xnli (1 seed) left out" in multi["comparison"]
    assert by.loc["XNLI gains least", "verdict"] == "not testable at this scale"
    one = by.loc["X-STILTs vs XLM-R on xnli (XTREME test)"]  # xnli alone: one seed, no interval, no test
    assert one["seeds"] == 1 and np.isnan(one["CI low"]) and one["verdict"] == "not testable at this scale"


def test_grid_results_on_empty_frame_names_the_grid():
    with pytest.raises(results.MissingResults, match=r"params/experiments/a0_main_table\.yaml"):
        results.grid_results(pd.DataFrame(), "a0_main_table", "smoke")


def test_qa_uses_mean_of_em_and_f1():
    frame = pd.DataFrame(rows("xquad", "none", {"de": 50}, metric="squad", **{"m.exact_match": 40.0, "m.f1": 50.0}))
    assert results.xtreme_score(frame).iloc[0] == pytest.approx(45.0)


def test_task_scaling_change_per_size_over_seeds():
    acc = "m.upos_accuracy.accuracy"
    out = []
    for seed in range(3):
        for subset, value in (("none", 50), ("a", 52), ("b", 56), ("a+b", 60), ("c+d", 58)):
            v = value + (seed * 0.5 if subset != "none" else 0)
            out += rows("udpos", subset, {"en": 90, "de": v, "ja": v - 10}, seed=seed,
                        **{acc: {"en": 90.0, "de": float(v), "ja": float(v - 10)}})
    frame = a1.task_scaling_frame(pd.DataFrame(out))
    table = a1.task_scaling_table(frame)
    assert table.loc["1", "change"] == pytest.approx(4.0 + 0.5)  # (2 + 6) / 2 + mean seed bump
    assert table.loc["1", "subset spread"] == pytest.approx(4.0)
    assert table.loc["all (2)", "subsets"] == 2 and table.loc["all (2)", "seeds"] == 3
    assert a1.subset_table(frame).loc[(2, "a+b"), "change"] == pytest.approx(10.5)
    with pytest.raises(results.MissingResults):
        a1.task_scaling_frame(pd.DataFrame(rows("udpos", "none", {"de": 50})))


def test_task_scaling_keeps_runs_whose_intermediate_task_failed_and_counts_them_but_not_failed_targets():
    """A's rule, fixed before its target runs were read: a k-task cell gives each task about 250/k
    steps, so a task may fail its dev check there; leaving those runs out would condition on an outcome
    that grows with k. They stay and are counted; a target run that failed its own check is left out."""
    acc = "m.upos_accuracy.accuracy"
    out = []
    for seed in range(2):
        for subset, value, upstream, target in (("none", 50, False, False), ("a", 52, False, False),
                                                ("a+b", 60, seed == 1, False), ("c+d", 58, False, seed == 0)):
            failed = upstream or target
            out += rows("udpos", subset, {"en": 90, "de": value}, seed=seed, failed=failed, scale="offline",
                        target_failed=target, upstream_failed=upstream, **{acc: {"en": 90.0, "de": float(value)}})
    frame = a1.task_scaling_frame(pd.DataFrame(out))
    assert set(frame.loc[frame["intermediate"] == "a+b", "seed"]) == {0, 1}  # kept although b failed in seed 1
    assert set(frame.loc[frame["intermediate"] == "c+d", "seed"]) == {1}  # its failed target run is left out
    table = a1.task_scaling_table(frame)
    assert table.loc["all (2)", "runs"] == 3 and table.loc["all (2)", "every task learned"] == 2
    assert table.loc["1", "every task learned"] == table.loc["1", "runs"] == 2
    # the same runs without the two columns (older tables): `failed` decides alone, as before
    old = a1.task_scaling_frame(pd.DataFrame(out).drop(columns=["target_failed", "upstream_failed"]))
    assert set(old.loc[old["intermediate"] == "a+b", "seed"]) == {0}
    # runs that predate dev checks (the archived design: None in result.json) are not counted as learned
    unknown = a1.task_scaling_table(a1.task_scaling_frame(pd.DataFrame(out).assign(target_failed=None,
                                                                                 upstream_failed=None)))
    assert unknown["every task learned"].isna().all() and unknown.loc["all (2)", "runs"] == 4


def test_mixed_language_pairs_scripts_and_one_seed_has_no_test():
    out = []
    out += rows("xnli", "mnli", {"en": 90, "es": 50, "de": 50, "ru": 40, "ja": 30})
    out += rows("xnli", "mnli", {"en": 90, "es": 51, "de": 51, "ru": 45, "ja": 36}, languages="en+es+ru")
    pairs = a2.mixed_language_pairs(pd.DataFrame(out), "smoke")
    assert set(pairs.loc[pairs["group"] == "Latin", "language"]) == {"es", "de"}
    assert set(pairs.loc[pairs["in mixed data"], "language"]) == {"es", "ru"}
    tests = a2.mixed_language_tests(pairs)
    assert tests.loc["Latin", "change"] == pytest.approx(1.0) and tests.loc["non-Latin", "change"] == pytest.approx(5.5)
    assert tests.loc["all", "seeds"] == 1 and np.isnan(tests.loc["all", "p"])
    assert tests[["CI low", "CI high"]].isna().all().all()   # languages of one model are no interval
    assert results.script_of("hi", "offline") == "Deva"
    with pytest.raises(KeyError):
        results.script_of("xx", "offline")


def test_mixed_language_failed_runs_are_counted_per_arm_and_leave_their_unit_out():
    """A failed run leaves its matched unit out (offline scale), is counted in its arm, and the test runs
    over the seeds with every target matched; the macros carry intervals, p-values and the counts."""
    out = []
    for seed in range(3):
        for target in ("xnli", "udpos"):
            bad = seed == 1 and target == "udpos"
            out += rows(target, "none", {"en": 90, "de": 50, "ja": 40}, seed=seed)
            out += rows(target, "stsb", {"en": 90, "de": 52, "ja": 41 + seed}, seed=seed)
            out += rows(target, "stsb", {"en": 90, "de": 49, "ja": 30 if bad else 40}, seed=seed,
                        languages="en+de", failed=bad)
    frame = pd.DataFrame(out).assign(scale="offline")
    checks = a2.dev_checks(frame)
    assert checks.loc[("mixed", "udpos"), "failed"] == 1 and checks.loc[("English-only", "udpos"), "failed"] == 0
    assert checks.loc[("none", "xnli"), "finished"] == 3 and list(checks.index.unique("arm")) == ["none", "English-only", "mixed"]
    pairs = a2.mixed_language_pairs(frame, "offline")
    assert pairs.attrs["failed_mixed"] == 1 and pairs.attrs["failed_english"] == 0 and pairs.attrs["units_left_out"] == 1
    assert len(pairs) == 5 * 2   # 6 (target, seed) units, one left out, 2 zero-shot languages each
    tests = a2.mixed_language_tests(pairs)
    assert tests.loc["all", "seeds"] == 2 and np.isfinite(tests.loc["all", "p"])   # seeds 0 and 2
    macros = a2.mixed_language_macros(tests, pairs, (17, 18))
    assert macros["a2 failed mixed"] == 1 and macros["a2 runs finished"] == 17 and macros["a2 units left out"] == 1
    assert macros["a2 interval all"].count("[") == 1 and macros["a2 p all"] != "--"
    smoke = a2.mixed_language_pairs(frame.assign(scale="smoke"), "smoke")   # smoke keeps failed runs
    assert len(smoke) == 12 and smoke.attrs["units_left_out"] == 0
    assert "left out with the 1 matched unit they" in macros["a2 failed sentence"]
    assert "kept" in a2.mixed_language_macros(tests, smoke)["a2 failed sentence"]


def test_claims_ledger_columns_holm_and_verdicts():
    frame = main_frame()
    claims = a6.claims_table({"a0_main_table": frame})
    assert {"p", "p Holm", "p TOST", "MDE", "seeds", "verdict"} <= set(claims.columns)
    assert set(claims["verdict"]) <= set(a6.VERDICTS)
    by = claims.set_index("claim")
    # no SQuAD runs: not testable, never a made-up number
    assert by.loc["SQuAD as intermediate task improves zero-shot transfer", "verdict"] == "not testable at this scale"
    tested = claims["p"].notna()
    assert (claims.loc[tested, "p Holm"] >= claims.loc[tested, "p"] - 1e-12).all()
    assert (claims.loc[tested, "seeds"] == 3).all()
    # multi-task (a+b) vs none: +4 points every seed with small jitter -> significant after Holm
    multi = by.loc["Multi-task training on the intermediate tasks improves transfer"]
    assert multi["p Holm"] < 0.05 and multi["verdict"] == "supported"
    # XNLI gains 4 (a+b), udpos 4 on average over configs: neither clearly least -> not supported by a point estimate
    assert by.loc["XNLI gains least", "verdict"] != "supported" or by.loc["XNLI gains least", "p Holm"] < 0.05
    # the mixed-language grid was not run: not testable
    assert by.loc["Question B: mixed-language intermediate data does not beat English-only", "verdict"] == "not testable at this scale"
    macros = a6.claims_macros(claims)
    assert macros["a6 claims"] == len(a6.CLAIMS)
    assert macros["a6 fewest seeds"] == macros["a6 most seeds"] == 3
    # equal ends read as one number, not "3-3"
    assert f"are tested, each with 3 seeds (column n)" in a6.summary_sentence(claims)
    assert sum(macros[f"a6 {v.split(' (')[0]}"] for v in a6.VERDICTS) == len(claims)
    # each research question's row, for its own section: not run here, so not testable, no p-value
    assert macros["a6 question C verdict"] == by.loc[[c for c in by.index if c.startswith("Question C:")][0], "verdict"]
    assert macros["a6 question C verdict"] == "not testable at this scale" and macros["a6 question D p Holm"] == "--"
    assert macros["a6 question B verdict"] == "not testable at this scale"


def test_summary_sentence_states_the_seed_range():
    def table(rows):
        return pd.DataFrame(rows, columns=["claim", "verdict", "p", "p TOST", "seeds"])
    mixed = table([["x", "supported", 0.01, None, 2], ["y", "inconclusive (underpowered)", 0.4, 0.3, 5],
                   ["z", "not testable at this scale", None, None, 1]])
    assert a6.summary_sentence(mixed) == ("Of 3 claims, 2 are tested, each with 2-5 seeds (column n): 1 supported, "
                                          "0 contradicted, 1 inconclusive (underpowered); 1 is not testable at this scale.")
    # nothing tested (a smoke grid that ran no comparison): no seed range at all
    untested = table([["z", "not testable at this scale", None, None, 1], ["w", "not testable at this scale", None, None, 0]])
    assert a6.summary_sentence(untested) == ("Of 2 claims, none is tested: 0 supported, 0 contradicted, "
                                             "0 inconclusive (underpowered); 2 are not testable at this scale.")


def test_verdicts_come_from_tests():
    t = {"seeds": 3, "estimate": 2.0}
    assert a6._verdict("positive", t, 0.01, np.nan) == "supported"
    assert a6._verdict("positive", {**t, "estimate": -2.0}, 0.01, np.nan) == "contradicted"
    assert a6._verdict("positive", t, 0.2, np.nan) == "inconclusive (underpowered)"
    assert a6._verdict("positive", {**t, "seeds": 1}, np.nan, np.nan) == "not testable at this scale"
    # "does not beat": a non-significant difference is not support; equivalence (TOST) is
    assert a6._verdict("no benefit", {**t, "estimate": 0.1}, 0.6, 0.3) == "inconclusive (underpowered)"
    assert a6._verdict("no benefit", {**t, "estimate": 0.1}, 0.6, 0.01) == "supported"
    assert a6._verdict("no benefit", {**t, "estimate": -3.0}, 0.01, 0.9) == "contradicted"


def test_paper_formats():
    assert paper.fmt_p(0.0004) == "< 0.001" and paper.fmt_p(0.0123) == "0.012" and paper.fmt_p(np.nan) == "--"
    assert paper.fmt_p(0.049898) == "0.0499" and paper.fmt_p(0.0504) == "0.050"   # never rounded across 0.05
    assert paper.macro_name("a0", "mnli", 3) == "AZeroMnliThree"


def test_tables_print_p_values_as_p_values(tmp_path, monkeypatch):
    monkeypatch.setattr(paper, "GENERATED", tmp_path)
    table = pd.DataFrame({"change": [0.25, -1.0], "p": [0.0004, np.nan], "p Holm": [1.0, 0.02], "seeds": [3.0, 1.0]},
                         index=pd.Index(["a", "b"], name="row"))
    body = paper.write_table("t", "smoke", table, "caption").read_text()
    assert "a & 0.2 & < 0.001 & 1.000 & 3 \\\\" in body and "b & -1.0 & -- & 0.020 & 1 \\\\" in body


def test_one_seed_smoke_shapes_draw_and_leave_every_claim_untested(tmp_path, monkeypatch):
    """The smoke scale has one seed and MLM / mixed-language rows in the main table: every figure
    still draws within the aspect limit, and no claim gets a verdict without a test."""
    import matplotlib
    matplotlib.use("Agg")
    monkeypatch.setattr(paper, "FIGURES", tmp_path)
    frame = main_frame(seeds=(0,))
    extra = pd.DataFrame(rows("udpos", "none", {"en": 100, "de": 59, "ja": 19}, mlm_steps=50, dev=70)
                         + rows("udpos", "a", {"en": 100, "de": 70, "ja": 30}, languages="en+de+ja", dev=71))
    frame = pd.concat([frame, extra], ignore_index=True)
    iv = a0.change_intervals(frame)
    assert {"MLM-continued (50 steps)", "a [en+de+ja]"} <= set(iv["config"])
    paper.save_figure(a0.figure(iv), "a0", "smoke")
    claims = a6.claims_table({"a0_main_table": frame})
    assert set(claims["verdict"]) == {"not testable at this scale"}
    assert claims["p"].isna().all()
    pairs = a2.mixed_language_pairs(frame, "smoke")
    paper.save_figure(a2.figure(pairs), "a2", "smoke")


def test_save_figure_refuses_a_strip_too_wide_to_read(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    monkeypatch.setattr(paper, "FIGURES", tmp_path)
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(8.0, 1.5))
    with pytest.raises(ValueError, match="aspect"):
        paper.save_figure(fig, "wide", "smoke")


def test_the_average_is_over_the_targets_with_every_seed_and_names_the_one_left_out():
    # three targets, the third (mlqa) at one seed so far: the average stays over udpos and xnli
    frame = main_frame()
    extra = pd.DataFrame([r for config, d in (("none", 20), ("a", 23)) for r in
                          rows("mlqa", config, {"en": 100, "de": d, "ja": d - 4}, seed=0, dev=50)])
    full = pd.concat([frame, extra], ignore_index=True)
    table, before = a0.main_table(full), a0.main_table(frame)
    assert table.loc["a", "average"] == pytest.approx(before.loc["a", "average"])
    assert table.loc["a", "mlqa"] == pytest.approx(21.0) and table.attrs["left out"] == {"mlqa": 1}
    assert "average (mlqa, 1 seed, left out: seeds still to run or runs that failed their dev check) is" in a0.none_average_text(table)
    assert a0.average_note(table) == (" The average is over the targets with every seed (mlqa, 1 seed, left out: "
                                      "seeds still to run or runs that failed their dev check).") and a0.average_note(before) == ""
    iv = a0.change_intervals(full)
    avg = iv.set_index(["config", "baseline", "target"]).loc[("a", "none", "average")]
    old = a0.change_intervals(frame).set_index(["config", "baseline", "target"]).loc[("a", "none", "average")]
    assert avg["estimate"] == pytest.approx(old["estimate"]) and avg["seeds"] == 3
    assert "averaged over targets (mlqa, 1 seed, left out: seeds still to run or runs that failed their dev check)" in a0.intervals_text(iv)
    # a run left out (it failed its dev check) leaves a hole in one row's seeds of a target: that
    # target leaves every row's average, and the paired average stays, over the other targets
    holed = pd.concat([frame, pd.DataFrame([r for seed in (0, 1, 2) for config, d in (("none", 20), ("a", 23))
                                            if (config, seed) != ("none", 2) for r in
                                            rows("mlqa", config, {"en": 100, "de": d, "ja": d - 4}, seed=seed)])],
                      ignore_index=True)
    table = a0.main_table(holed)
    assert table.attrs["left out"] == {"mlqa": 2}
    assert table.loc["none", "average"] == pytest.approx(before.loc["none", "average"])
    assert table.loc["a", "average"] == pytest.approx(before.loc["a", "average"])
    avg = a0.change_intervals(holed).set_index(["config", "baseline", "target"]).loc[("a", "none", "average")]
    assert avg["estimate"] == pytest.approx(old["estimate"]) and avg["seeds"] == 3
    # a configuration run on some of the complete targets only (MLM on udpos) has no average
    mlm = pd.DataFrame([r for seed in (0, 1, 2) for r in
                        rows("udpos", "m", {"en": 100, "de": 62, "ja": 22}, seed=seed, dev=70)])
    iv = a0.change_intervals(pd.concat([full, mlm], ignore_index=True)).set_index(["config", "baseline", "target"])
    assert ("m", "none", "udpos") in iv.index and ("m", "none", "average") not in iv.index


def control_frame():
    """main_frame plus the control: no intermediate task and 250 extra target steps, +1 everywhere."""
    out = main_frame()
    extra = out[out["intermediate"] == "none"].copy()
    extra["score"] += 1.0
    extra["run"] += "-extra250"
    extra["extra_target_steps"] = 250
    return pd.concat([out.assign(extra_target_steps=0), extra], ignore_index=True)


def test_gains_are_read_against_none_and_the_extra_steps_control():
    frame = control_frame()
    table = a0.main_table(frame)
    control = "none + 250 target steps"
    assert list(table.index[:2]) == ["none", control]  # the two baselines lead the table
    vs_control = a0.change_vs_control(table)
    assert control not in vs_control.index and "none" not in vs_control.index
    assert vs_control.loc["a", "xnli"] == pytest.approx(a0.change_vs_none(table).loc["a", "xnli"] - 1.0)
    iv = a0.change_intervals(frame).set_index(["baseline", "config", "target"])
    assert iv.loc[("none", control, "average"), "estimate"] == pytest.approx(1.0)
    assert iv.loc[(control, "a", "average"), "estimate"] == pytest.approx(iv.loc[("none", "a", "average"), "estimate"] - 1)
    assert (control, control, "average") not in iv.index and (control, "none", "average") not in iv.index
    # the control is a baseline: never "selected" as the best intermediate configuration
    assert control not in set(a0.selection_table(frame)["selected on English dev"])
    assert "Against none" in a0.intervals_text(a0.change_intervals(frame))
    # the claims that read a gain against the control are tested where the grid has one
    by = a6.claims_table({"a0_main_table": frame}, a6.CLAIMS).set_index("claim")
    mnli = by.loc["The MNLI gain holds against a control given as many extra target steps"]
    assert mnli["verdict"] == "not testable at this scale"  # no mnli row in this frame
    renamed = frame.replace({"intermediate": {"a": "mnli"}})
    by = a6.claims_table({"a0_main_table": renamed}).set_index("claim")
    assert by.loc["The MNLI gain holds against a control given as many extra target steps", "seeds"] == 3


def test_partial_grids_and_archived_designs(tmp_path, monkeypatch):
    import shutil

    from xstilts import params as P
    from xstilts import runs, workflow

    (tmp_path / "params").mkdir()
    shutil.copy(P.PARAMS_DIR / "base.yaml", tmp_path / "params" / "base.yaml")
    shutil.copytree(P.PARAMS_DIR / "scales", tmp_path / "params" / "scales")
    monkeypatch.setattr(P, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(P, "PARAMS_DIR", tmp_path / "params")
    (tmp_path / "params" / "experiments" / "old").mkdir(parents=True)
    (tmp_path / "params" / "experiments" / "g.yaml").write_text(
        "grid: {target_task: [udpos, xnli], intermediate_tasks: [[]]}\nseeds: {smoke: [0, 1]}\n")
    (tmp_path / "params" / "experiments" / "old" / "g.yaml").write_text(
        "grid: {target_task: [udpos], intermediate_tasks: [[]]}\nseeds: {smoke: [0]}\n")

    def names(path):
        return sorted(runs.run_name(c, "target") for c in workflow.grid_runs(workflow.load_grid(path), "smoke",
                                                                             check_inputs=False))
    current, old = names(tmp_path / "params/experiments/g.yaml"), names(tmp_path / "params/experiments/old/g.yaml")
    frame = pd.DataFrame([r | {"design": "current"} for n in current[:3] for r in rows("udpos", "none", {"de": 1.0})
                          if (r.update(run=n) or True)]
                         + [r | {"design": "old", "run": old[0]} for r in rows("udpos", "none", {"de": 2.0})])
    with pytest.raises(results.MissingResults, match="1 of 4 target runs"):
        results.grid_results(frame, "g", "smoke")
    part = results.grid_results(frame, "g", "smoke", partial=True)
    assert set(part["run"]) == set(current[:3]) and part.attrs["runs"] == (3, 4)
    assert "3 of the grid's 4 target runs finished so far" in results.describe(part, "smoke")
    with pytest.raises(results.MissingResults):  # partial still needs one finished run
        results.grid_results(frame[frame["design"] == "old"], "g", "smoke", partial=True)
    # an analysis still reading an archived design sees only that design's runs and grid
    monkeypatch.setitem(results.ANALYSED_DESIGN, ("smoke", "g"), "old")
    monkeypatch.setitem(results.ARCHIVED, "old", {"scale": "smoke", "runs": "runs/old"})
    archived = results.grid_results(frame, "g", "smoke")
    assert list(archived["score"]) == [2.0] and archived.attrs == {"runs": (1, 1), "design": "old"}
    assert "archived design old" in results.describe(archived, "smoke")



def test_archived_runs_are_read_beside_the_repositorys_runs_folder_however_it_is_named(monkeypatch, tmp_path):
    """`xstilts run` passes the runs folder by name: an analysis of an archived design (a1, a5) must
    still find its runs then, and must not beside a runs folder elsewhere."""
    from xstilts import results_table

    seen = []
    monkeypatch.setattr(results_table, "load_results", lambda scale, root: seen.append(root) or pd.DataFrame())
    results.load_results("offline", None)
    results.load_results("offline", str(results.P.REPO_ROOT / "runs"))
    results.load_results("offline", str(tmp_path))
    archive = results.P.REPO_ROOT / results.ARCHIVED["offline-v1"]["runs"]
    assert seen.count(archive) == 2 and seen[-1] == tmp_path
    # the Setup's archived column follows the same rule (results.archived_roots)
    assert results.archived_roots("offline", str(results.P.REPO_ROOT / "runs")) == {"offline-v1": archive}
    assert results.archived_roots("offline", str(tmp_path)) == {} and results.archived_roots("smoke") == {}
    assert "offline-v1" in paper.setup_table("offline", str(results.P.REPO_ROOT / "runs")).columns


def test_the_runs_shown_sentence_lists_each_configurations_seeds():
    from xstilts.analyses import a0_main_table as a0

    assert a0._seed_list([2, 0, 1]) == "seeds 0--2"
    assert a0._seed_list([1, 3]) == "seeds 1, 3"
    assert a0._seed_list([4]) == "seed 4"


def test_the_cost_macros_give_device_time_only_where_runs_are_committed():
    cost = {"runs": 4, "runs_with_ledger": 3, "device_hours": 1.25, "train_flops": 2.4e15, "eval_flops": 6e14,
            "flops_formula": "6N", "scale": "offline"}
    values = a0.cost_macros(cost)
    assert values == {"a0 ledger runs": 3, "a0 train pflop": 2.4, "a0 eval pflop": 0.6, "a0 device hours": 1.25}
    assert "1.2 device-hours" in a0.cost_text(cost) and "2.4 PFLOP of training and 0.6 PFLOP" in a0.cost_text(cost)
    # smoke runs are recomputed on every machine: their wall time would make `make smoke` rewrite the
    # committed macros, so only the (token-counted, machine-independent) FLOPs are written
    smoke = a0.cost_macros(dict(cost, scale="smoke"))
    assert "a0 device hours" not in smoke and smoke["a0 train pflop"] == 2.4
    assert "device-hours" not in a0.cost_text(dict(cost, scale="smoke"))


def _run_folder(path, cfg, device_seconds):
    path.mkdir(parents=True)
    (path / "params.json").write_text(json.dumps({"all": cfg}))
    cost = {"device_seconds": device_seconds, "train_flops": 1e15, "eval_flops": 0.0, "energy_joules": None}
    (path / "result.json").write_text(json.dumps({"cost": cost}))


def test_each_claim_totals_the_ledgers_of_the_runs_behind_it(tmp_path):
    frame = main_frame()
    frame["path"] = [str(tmp_path / "target" / r) for r in frame["run"]]
    for run in frame["run"].unique():  # an hour each; parameters that name no upstream run
        _run_folder(tmp_path / "target" / run, {}, 3600.0)
    table = a6.claims_table({"a0_main_table": frame.assign(scale="offline")})
    claims = table.set_index("claim")
    multi = claims.loc["Multi-task training on the intermediate tasks improves transfer"]
    # multi-task (a+b) and none, 2 targets x 3 seeds: 12 target runs, 12 device-hours
    assert multi["runs"] == multi["runs with ledger"] == 12 and multi["device hours"] == pytest.approx(12.0)
    assert a6.cost_cell(multi, "offline") == "12.0 h" and a6.cost_cell(multi, "smoke") == "12 PFLOP"
    assert [paper.fmt_flops(x) for x in (1.9e11, 1.2e12, 4e14, 3e15)] == ["190 GFLOP", "1.2 TFLOP", "0.4 PFLOP",
                                                                       "3 PFLOP"]
    squad = claims.loc["SQuAD as intermediate task improves zero-shot transfer"]
    assert squad["runs"] == 0 and a6.cost_cell(squad, "offline") == "--"   # no runs, no cost
    half = dict(multi, **{"runs with ledger": 6, "device hours": 6.0})
    assert a6.cost_cell(pd.Series(half), "offline") == "6.0 h (6/12 runs)"
    macros = a6.claims_macros(table)
    # every run behind any claim, once: the 4 configurations x 2 targets x 3 seeds
    assert macros["a6 cost runs"] == 24 and macros["a6 device hours"] == pytest.approx(24.0)


def test_a_claims_cost_includes_the_upstream_runs_its_target_runs_started_from(tmp_path):
    from xstilts import ledger, phases, runs, workflow

    grid = workflow.load_grid(P.REPO_ROOT / "params/experiments/a0_main_table.yaml")
    cfg = next(c for c in workflow.grid_runs(grid, "smoke", check_inputs=False) if c["intermediate_tasks"] == ["mnli"])
    target = tmp_path / "target" / runs.run_name(cfg, "target")
    _run_folder(target, cfg, 60.0)
    upstream = [tmp_path / p / runs.run_name(cfg, p) for p in phases.chain(cfg) if p != "target"]
    assert [p.parent.name for p in upstream] == ["intermediate"]
    _run_folder(upstream[0], cfg, 540.0)
    assert ledger.with_upstream([target, target]) == [target, upstream[0]]   # each run once
    total = ledger.runs_totals([target])
    assert total["runs"] == 2 and total["device_hours"] == pytest.approx(600 / 3600)


def test_question_macros_give_each_questions_verdict_and_p_values_as_text():
    table = pd.DataFrame([{"claim": "Question C: syntactic ...", "verdict": "inconclusive (underpowered)", "p": 0.05512, "p Holm": 0.4361},
                          {"claim": "XNLI gains least", "verdict": "supported", "p": 0.001, "p Holm": 0.01}])
    assert a6.question_macros(table) == {"a6 question C verdict": "inconclusive (underpowered)",
                                         "a6 question C p": "0.055", "a6 question C p Holm": "0.436"}


def test_the_setup_names_the_cpu_models_only_where_the_numbers_depend_on_them():
    """MKL's AUTO branch (the `fast` kernels) gives the same bits only on the same CPU model, so the
    Setup names the models those runs computed on; portable (smoke) and GPU runs have no such row."""
    fast = {"device": "cpu", "kernels": {"mkl_cbwr": "AUTO", "cpu": "Intel(R) Xeon(R) Processor",
                                         "cpu_family_model_stepping": "6/207/2"}}
    assert paper.run_cpu(fast) == "Intel Xeon 6/207"
    old = {"device": "cpu", "kernels": {"mkl_cbwr": "AUTO", "cpu": "AMD EPYC"}}
    assert paper.run_cpu(old) == "AMD EPYC (model not recorded)"
    assert paper.run_cpu({"device": "cpu", "kernels": dict(fast["kernels"], mkl_cbwr="COMPATIBLE")}) is None
    assert paper.run_cpu({"device": "cuda", "kernels": fast["kernels"]}) is None
    assert paper._counted(["b", "a", "b"]) == "b (2), a (1)"
