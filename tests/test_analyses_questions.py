"""The analyses of questions C, D and E (xstilts.analyses.a3..a5) and the MLM claim, on small
hand-made frames shaped like `results.load_results`."""
import json

import numpy as np
import pandas as pd
import pytest

from xstilts import results, stats, typology
from xstilts.analyses import a3_syntax_vs_semantics as a3
from xstilts.analyses import a4_model_scale_xcopa as a4
from xstilts.analyses import a5_intermediate_vs_mlm as a5
from xstilts.analyses import a6_claims as a6


def row(**kw):
    base = {"scale": "smoke", "model": "smoke-tiny", "seed": 0, "target": "udpos", "intermediate": "none",
            "intermediate_languages": "en", "mlm_steps": 0, "metric": "seqeval_f1", "language": "es",
            "score": 50.0, "notes": "", "run": "r",
            "path": "runs/smoke/target/r"}
    return {**base, **kw}


# ----------------------------------------------------------------------------- shared helpers
def test_gain_over_none_matches_model_target_language_seed():
    frame = pd.DataFrame([
        row(language="es", seed=0, score=50.0), row(language="es", seed=1, score=40.0),
        row(language="es", seed=0, intermediate="paws", score=53.0),
        row(language="es", seed=1, intermediate="paws", score=47.0),
        row(language="es", seed=0, intermediate="paws", target="xnli", score=10.0),  # other target
        row(language="es", seed=0, target="xnli", score=12.0),
        row(language="es", seed=0, mlm_steps=80, score=99.0),  # continued MLM: neither baseline nor gain
    ])
    gains = results.gain_over_none(frame, "a3_syntax_vs_semantics", "smoke")
    got = {(r.target, r.seed): r.gain for r in gains.itertuples()}
    assert got == {("udpos", 0): 3.0, ("udpos", 1): 7.0, ("xnli", 0): -2.0}


def test_gain_over_none_is_loud_when_a_baseline_is_missing():
    frame = pd.DataFrame([row(language="es"), row(language="ja", intermediate="paws")])
    with pytest.raises(results.MissingResults, match="params/experiments/a3_syntax_vs_semantics.yaml"):
        results.gain_over_none(frame, "a3_syntax_vs_semantics", "smoke")


# ------------------------------------------------------------------------------------- a3
def _a3_frame(tasks=("none", "ud_parse", "stsb")):
    gain = {"none": 0.0, "ud_parse": 2.0, "stsb": 1.0}
    return pd.DataFrame([row(target=t, intermediate=i, language=l, score=50.0 + gain[i] * (1 + k))
                         for t in ("udpos", "xnli") for i in tasks for k, l in enumerate(["en", "es", "de", "ja"])])


def test_a3_gains_groups_tasks_and_adds_the_smoke_distance():
    gains = a3.a3_gains(_a3_frame(), "smoke")
    assert set(gains["language"]) == {"es", "de", "ja"}  # zero-shot only
    assert set(gains["group"]) == {"syntactic", "semantic similarity"}
    ja = gains[(gains["language"] == "ja") & (gains["intermediate"] == "ud_parse")].iloc[0]
    assert ja["gain"] == pytest.approx(8.0)
    assert ja["distance"] == pytest.approx(typology.syntactic_distance("ja", "smoke"))
    assert ja["word_order"] == "SOV"
    trends = a3.a3_trends(gains)
    assert ("udpos", "syntactic") in trends.index and ("xnli", "syntactic - semantic similarity") in trends.index
    assert trends.loc[("xnli", "syntactic - semantic similarity"), "slope"] == pytest.approx(
        trends.loc[("xnli", "syntactic"), "slope"] - trends.loc[("xnli", "semantic similarity"), "slope"], abs=0.11)
    assert all(k.startswith("a3 ") for k in a3.a3_macros(trends))


def _a3_hand_rows(slopes={0: 10.0, 1: 20.0}):
    """The gain of ud_parse is slope_s * distance in seed s, stsb gains 0."""
    dist = {l: typology.syntactic_distance(l, "smoke") for l in ["es", "de", "ja"]}
    return [row(target="udpos", intermediate=i, language=l, seed=s, run=f"{i}-s{s}", path=f"runs/smoke/target/{i}-s{s}",
                score=50.0 + (slopes[s] * dist.get(l, 0.0) if i == "ud_parse" else 0.0))
            for s in slopes for i in ("none", "ud_parse", "stsb") for l in ["en", *dist]]


def test_a3_slopes_are_fitted_per_seed_and_inferred_over_seeds():
    """Hand-worked: the syntactic slope is slope_s in seed s; the table's slope is their mean, its
    interval a t interval over the two seeds (df = 1), and one seed gives the slope with no interval
    and no test."""
    from scipy import stats as sps
    rows = _a3_hand_rows()
    trends = a3.a3_trends(a3.a3_gains(pd.DataFrame(rows), "smoke"))
    syn = trends.loc[("udpos", "syntactic")]
    half = sps.t.ppf(0.975, 1) * np.std([10.0, 20.0], ddof=1) / np.sqrt(2)
    assert syn["seeds"] == 2 and syn["slope"] == pytest.approx(15.0)
    assert (syn["CI low"], syn["CI high"]) == pytest.approx((15.0 - half, 15.0 + half))
    assert syn["p"] == pytest.approx(sps.ttest_1samp([10.0, 20.0], 0).pvalue)
    assert trends.loc[("udpos", "syntactic - semantic similarity"), "slope"] == pytest.approx(15.0)
    one = a3.a3_trends(a3.a3_gains(pd.DataFrame([r for r in rows if r["seed"] == 0]), "smoke"))
    assert one.loc[("udpos", "syntactic"), "slope"] == pytest.approx(10.0)
    assert np.isnan(one.loc[("udpos", "syntactic"), "CI low"]) and np.isnan(one.loc[("udpos", "syntactic"), "p"])
    assert "no interval" in a3.a3_macros(one)["a3 inference"]


def test_a3_reads_the_control_as_a_group_of_its_own_and_not_in_the_difference():
    """The grid's control (none + extra target steps) is its own group, with its gain over plain none;
    the syntactic - semantic difference is unchanged by it."""
    frame = _a3_frame().assign(extra_target_steps=0)
    control = frame[frame["intermediate"] == "none"].assign(extra_target_steps=250, score=lambda f: f["score"] + 3.0)
    with_control = a3.a3_trends(a3.a3_gains(pd.concat([frame, control]), "smoke"))
    without = a3.a3_trends(a3.a3_gains(frame, "smoke"))
    assert with_control.loc[("xnli", "control"), "mean gain"] == pytest.approx(3.0)
    assert with_control.loc[("xnli", "control"), "slope"] == pytest.approx(0.0)
    assert list(with_control.loc["xnli"].index) == ["syntactic", "semantic similarity", "control",
                                                    "syntactic - semantic similarity"]
    assert with_control.drop(index="control", level="group").equals(without)
    assert a3.a3_macros(with_control)["a3 xnli control gain"] == pytest.approx(3.0)


def test_a3_difference_slopes_are_question_cs_row_of_the_claims_ledger():
    """One unit per target and seed (its slope of syntactic - semantic over languages), tested over
    seeds by the ledger's paired test; the runs behind it are both groups' and none's."""
    from scipy import stats as sps
    gains = a3.a3_gains(pd.DataFrame(_a3_hand_rows()), "smoke")
    units = a3.difference_units(gains)
    assert units["seed"].tolist() == [0, 1] and units["diff"].tolist() == pytest.approx([10.0, 20.0])
    got, what = a6._syntax_vs_semantics({a6.A3_GAINS: gains})
    assert "syntactic - semantic" in what and len(got.attrs["runs"]) == 6
    test = stats.paired_seed_test(got)
    assert test["estimate"] == pytest.approx(15.0) and test["p"] == pytest.approx(sps.ttest_1samp([10.0, 20.0], 0).pvalue)
    assert a6._syntax_vs_semantics({})[0] is None


def test_a3_fails_loudly_without_a_semantic_similarity_task():
    with pytest.raises(results.MissingResults, match="a3_syntax_vs_semantics.yaml"):
        a3.a3_gains(_a3_frame(tasks=("none", "ud_parse")), "smoke")
    with pytest.raises(results.MissingResults, match="a3_syntax_vs_semantics.yaml"):
        a3.a3_gains(pd.DataFrame([row(target="xcopa")]), "smoke")


# ------------------------------------------------------------------------------------- a4
def test_a4_summary_means_and_gain_per_model():
    frame = pd.DataFrame([row(target="xcopa", model=m, intermediate=i, language=l, seed=s,
                              score=50.0 + (d if i == "siqa" else 0.0))
                          for m, d in (("small", 1.0), ("big", 4.0)) for i in ("none", "siqa")
                          for l in ("et", "ht", "en") for s in (0, 1)])
    gains = results.gain_over_none(frame[frame["language"] != "en"], "a4_model_scale_xcopa", "smoke")
    gains = gains.assign(parameters=gains["model"].map({"small": 1000, "big": 5000}))
    summary = a4.a4_summary(gains)
    assert list(summary.index) == ["small", "big"]  # ordered by size
    assert summary.loc["big", "gain"] == 4.0 and summary.loc["small", "SIQA"] == 51.0
    assert summary.loc["big", "languages"] == 2 and summary.loc["big", "seeds"] == 2


def test_a4_size_trend_is_the_gain_per_doubling_of_non_embedding_parameters():
    # hand-worked: 1M -> 2M -> 4M non-embedding parameters (k = 0, 1, 2 doublings); seed s gains
    # 1 + (2 + 0.1 s) k (+ offsets per seed and language), so its slope is 2 + 0.1 s points per doubling
    gains = pd.DataFrame([{"target": "xcopa", "model": m, "seed": s, "language": l, "non_embedding": n,
                           "gain": 1.0 + (2.0 + 0.1 * s) * k + 0.5 * s + (0.2 if l == "ht" else 0.0)}
                          for (m, n, k) in (("L3", 1e6, 0), ("L6", 2e6, 1), ("L12", 4e6, 2))
                          for s in (0, 1, 2) for l in ("et", "ht")])
    units = a4.size_trend_units(gains)
    assert len(units) == 6
    assert units.sort_values(["seed", "language"])["diff"].to_numpy() == pytest.approx([2.0, 2.0, 2.1, 2.1, 2.2, 2.2])
    trend = a4.size_trend(gains)
    assert trend["estimate"] == pytest.approx(2.1) and trend["seeds"] == 3 and trend["sizes"] == 3
    assert trend["p"] < 0.01  # per-seed slopes 2.0, 2.1, 2.2: t = 36 on 2 df
    assert a4.trend_text(trend, pd.DataFrame(index=["L3", "L6", "L12"])).startswith(
        "Per doubling of non-embedding parameters (3 sizes) the SIQA gain changes by +2.1 [")
    # one size: no trend, and the sentence says so
    assert a4.size_trend(gains[gains["model"] == "L3"]) is None
    assert "no size trend" in a4.trend_text(None, pd.DataFrame(index=["L3"]))
    # a seed whose runs exist for one size only has no slope: it is left out, not guessed
    partial = gains[~((gains["seed"] == 2) & (gains["model"] != "L3"))]
    assert set(a4.size_trend_units(partial)["seed"]) == {0, 1}


def test_a4_leaves_out_the_pair_of_a_failed_run_and_counts_it(monkeypatch):
    monkeypatch.setattr(a4, "parameter_counts", lambda model: (1000, 100))  # no model to build
    frame = pd.DataFrame([row(target="xcopa", model="m", intermediate=i, language=l, seed=s, scale="offline",
                              run=f"{i}-s{s}", score=50.0 + (2.0 if i == "siqa" else 0.0),
                              failed=(i == "none" and s == 1))
                          for i in ("none", "siqa") for l in ("et", "ht") for s in (0, 1, 2)])
    gains = a4.a4_gains(frame, "offline")
    assert sorted(gains["seed"].unique()) == [0, 2]  # seed 1's baseline failed: its SIQA run has no pair
    assert gains.attrs == {"failed": 1, "pairs_left_out": 1, "runs": ["runs/smoke/target/r"]}
    macros = a4.a4_macros(a4.a4_summary(gains), None, (5, 6))
    assert macros["a4 failed runs"] == 1 and macros["a4 pairs left out"] == 1
    assert macros["a4 runs finished"] == 5 and macros["a4 runs planned"] == 6
    # a grid read in chunks: seed 2's SIQA run has not finished yet. Its pair is left out too, but it
    # is not counted as broken by a failure (the caption counts the runs finished so far)
    unfinished = a4.a4_gains(frame[~((frame["intermediate"] == "siqa") & (frame["seed"] == 2))], "offline")
    assert sorted(unfinished["seed"].unique()) == [0] and unfinished.attrs["pairs_left_out"] == 1


def test_a4_says_so_when_every_run_failed_its_dev_check():
    """Offline, every COPA target run can fail its dev check: no gain is measured, and the table,
    the figure, the sentence and the claim say so instead of raising."""
    frame = pd.DataFrame([row(target="xcopa", model="m", intermediate=i, language="et", seed=s, scale="offline",
                              run=f"{i}-s{s}", failed=True) for i in ("none", "siqa") for s in (0, 1)])
    gains = a4.a4_gains(frame, "offline")
    assert gains.empty and gains.attrs == {"failed": 4, "pairs_left_out": 2, "runs": ["runs/smoke/target/r"]}
    summary = a4.a4_summary(gains)
    macros = a4.a4_macros(summary, a4.size_trend(gains), (4, 6))
    assert macros["a4 models"] == 0 and macros["a4 failed runs"] == 4 and macros["a4 runs finished"] == 4
    assert macros["a4 trend sentence"].startswith("No model-seed pair has both runs passing their dev checks (4 ")
    a4.a4_figure(summary, "offline")
    units, why = a6._size_trend({a6.A4_GAINS: gains})
    assert units.empty and units.attrs["runs"] == ["runs/smoke/target/r"] and "(4 failed runs)" in why
    # some runs pass, but no pair passes both: the same
    mixed = frame.assign(failed=[i == "siqa" or s == 0 for i, s in zip(frame["intermediate"], frame["seed"])])
    some = a4.a4_gains(mixed, "offline")
    assert some.empty and some.attrs["failed"] == 3 and some.attrs["pairs_left_out"] == 2


def test_a4_fails_loudly_without_siqa_runs():
    frame = pd.DataFrame([row(target="xcopa", language="et")])
    with pytest.raises(results.MissingResults, match="a4_model_scale_xcopa.yaml"):
        a4.a4_gains(frame, "smoke")


# ------------------------------------------------------------------------------------- a5
# arm -> parameters, the budget its upstream run measured (tokens, FLOPs, examples) and a score bonus
_A5_ARMS = {
    "none": (dict(mlm_steps=0, intermediate="none"), None, 0.0),
    "mlm27": (dict(mlm_steps=1, intermediate="none", mlm_max_tokens=27000), (28_500, 2.0e13, 1264), 1.0),
    "mlm150": (dict(mlm_steps=1, intermediate="none", mlm_max_tokens=150000), (151_000, 1.1e14, 3700), 2.0),
    "mnli150": (dict(mlm_steps=0, intermediate="mnli", intermediate_max_tokens=150000), (149_000, 2.1e13, 3600), 3.0),
    # a0's MNLI run, to convergence: matches no MLM arm's budget, so it is in no comparison
    "mnli_long": (dict(mlm_steps=0, intermediate="mnli", intermediate_max_steps=-1), (2_000_000, 2.6e14, 48000), 30.0),
}


def _a5_runs(tmp_path, monkeypatch, arms=tuple(_A5_ARMS), seeds=(0, 1)):
    """Target runs on disk (params.json holds the planned budget), their result rows, and the budget
    each one's upstream run measured (a5.upstream_result, patched: no real upstream runs here)."""
    rows, upstream = [], {}
    for target in ("udpos", "panx"):
        for name in arms:
            params, budget, bonus = _A5_ARMS[name]
            for seed in seeds:
                run = f"{target}-{name}-s{seed}"
                d = tmp_path / "smoke" / "target" / run
                d.mkdir(parents=True)
                d.joinpath("params.json").write_text(json.dumps({"all": {
                    "intermediate_max_tokens": params.get("intermediate_max_tokens", -1),
                    "intermediate_max_steps": params.get("intermediate_max_steps", -1), "intermediate_batch_size": 16,
                    "intermediate_grad_accum": 1, "mlm_max_tokens": params.get("mlm_max_tokens", -1),
                    "mlm_batch_size": 16}}))
                if budget:
                    upstream[str(d)] = {"train": {"train_tokens": budget[0], "train_examples": budget[2]},
                                        "train_flops": budget[1]}
                for k, lang in enumerate(["en", "es", "de", "ja"]):
                    value = bonus + k + seed * (bonus % 2)   # seeds differ, so the t-test has a spread
                    extra = {"m.upos_accuracy.accuracy": 60.0 + value} if target == "udpos" else {}
                    rows.append(row(target=target, run=run, path=str(d), language=lang, seed=seed,
                                    mlm_steps=params["mlm_steps"], intermediate=params["intermediate"],
                                    score=40.0 + value, **extra))
    monkeypatch.setattr(a5, "upstream_result", upstream.get)
    return pd.DataFrame(rows)


def test_a5_compares_arms_matched_in_tokens_or_flops_from_measured_budgets(tmp_path, monkeypatch):
    scores = a5.a5_scores(_a5_runs(tmp_path, monkeypatch), "smoke", str(tmp_path))
    assert set(scores["measure"]) == {"POS UPOS accuracy", "POS seqeval F1", "NER seqeval F1"}
    assert set(scores["language"]) == {"es", "de", "ja"}
    comps = a5.comparisons(scores).set_index("comparison")["matched in"].to_dict()
    # 27k MLM tokens cost the FLOPs of 149k MNLI tokens; 151k MLM tokens match MNLI in tokens (and
    # examples: 3,700 vs 3,600); the long MNLI run matches nothing
    assert comps == {"MNLI 150k tokens vs MLM 27k tokens": "FLOPs",
                     "MNLI 150k tokens vs MLM 150k tokens": "tokens, examples"}
    assert a5.primary(scores)["comparison"] == "MNLI 150k tokens vs MLM 27k tokens"
    tests = a5.a5_tests(scores)
    flops = tests.loc["MNLI 150k tokens vs MLM 27k tokens"]
    # NER: MNLI 43 + k + seed, MLM 41 + k + seed: +2 in both seeds
    assert flops.loc["NER seqeval F1", "intermediate - MLM"] == pytest.approx(2.0)
    assert flops.loc["NER seqeval F1", "seeds"] == 2 and flops.loc["NER seqeval F1", "p"] == 0.0
    assert tests.loc[("MNLI 150k tokens vs MLM 150k tokens", "POS seqeval F1"), "intermediate - MLM"] == pytest.approx(1.5)
    assert flops.loc["POS seqeval F1", "none"] == 42.0  # es, de, ja: 41, 42, 43 in both seeds
    macros = a5.a5_macros(tests, scores, (30, 100))
    assert macros["a5 primary matched in"] == "FLOPs" and macros["a5 runs planned"] == 100
    assert macros["a5 NER seqeval F1 seeds"] == 2
    assert macros["a5 NER seqeval F1 result"] == "+2.0 [+2.0, +2.0] (\\emph{p}~< 0.001)"
    budget = a5.budget_table(scores)
    assert budget.loc[("continued MLM", "MLM 27k tokens"), "budget tokens"] == "28,500"


def test_a5_sentence_follows_the_primary_comparisons_seeds_not_the_best_covered(tmp_path, monkeypatch):
    # the larger budget starts with one seed while a smaller one has more: the primary's text must not
    # promise intervals and a ledger test it does not have
    scores = a5.a5_scores(_a5_runs(tmp_path, monkeypatch), "smoke", str(tmp_path))
    scores = scores[~((scores["arm"] == "MLM 27k tokens") & (scores["seed"] == 1))]
    tests = a5.a5_tests(scores)
    macros = a5.a5_macros(tests, scores)
    assert macros["a5 primary"] == "MNLI 150k tokens vs MLM 27k tokens"
    assert macros["a5 seeds"] == 2 and macros["a5 primary seeds"] == 1
    assert macros["a5 seeds sentence"].startswith("with one seed there is no interval")
    full = a5.a5_scores(_a5_runs(tmp_path / "b", monkeypatch), "smoke", str(tmp_path / "b"))
    assert a5.a5_macros(a5.a5_tests(full), full)["a5 seeds sentence"].startswith("the intervals are over seeds")


def test_a5_is_loud_when_no_budgets_match(tmp_path, monkeypatch):
    with pytest.raises(results.MissingResults, match="matched budget"):
        a5.a5_scores(_a5_runs(tmp_path, monkeypatch, arms=("none", "mlm150", "mnli_long")), "smoke", str(tmp_path))


def test_mlm_claim_tests_question_e_primary_comparison(tmp_path, monkeypatch):
    frame = _a5_runs(tmp_path, monkeypatch)
    main = frame[(frame["mlm_steps"] == 0) & (frame["run"].str.contains("-none-|-mnli_long-"))]
    frames = {"a0_main_table": main}
    mlm_claim = [c for c in a6.CLAIMS if c.claim.startswith("Continued MLM")]
    assert a6.claims_table(frames, mlm_claim)["verdict"].iloc[0] == "not testable at this scale"
    frames[a6.A5_SCORES] = a5.a5_scores(frame, "smoke", str(tmp_path))
    row_ = a6.claims_table(frames, mlm_claim).iloc[0]
    assert row_["estimate"] == pytest.approx(2.0)  # FLOP-matched only: POS and NER F1 +2 (mnli_long is in no comparison)
    assert "MLM 27k tokens (matched in FLOPs)" in row_["comparison"]
    assert row_["seeds"] == 2
