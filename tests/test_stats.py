"""xstilts.stats: seed-level inference, checked against hand-worked cases."""
import numpy as np
import pandas as pd
import pytest

from xstilts import stats


def test_hierarchical_bootstrap_matches_the_hand_worked_mean_and_variance():
    # 2 seeds x 2 languages: seed means 1 and 5, within-seed population variance 1 each.
    # T = mean of 2 drawn seeds' means of 2 drawn languages: E[T] = 3;
    # Var(one drawn seed's mean) = Var(seed means) + E[sigma^2 / 2] = 4 + 0.5; Var(T) = 4.5 / 2 = 2.25
    values = np.array([[0.0, 2.0], [4.0, 6.0]])
    est, lo, hi, draws = stats.hierarchical_bootstrap([values], n=200_000, seed=1, return_draws=True)
    assert est == 3.0
    assert draws.mean() == pytest.approx(3.0, abs=0.02)
    assert draws.var() == pytest.approx(2.25, rel=0.02)
    # every draw is a mean of 4 of the values: the 95% interval's ends are attainable values
    assert lo >= 0.0 and hi <= 6.0 and lo < 3.0 < hi


def test_hierarchical_bootstrap_pairs_targets_by_seed_and_weighs_them_equally():
    # target a: 1 language, target b: 3 languages; equal weight: (10 + 2) / 2 = 6, not (10 + 6) / 4
    a = np.array([[10.0], [10.0]])
    b = np.array([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]])
    est, lo, hi = stats.hierarchical_bootstrap([a, b], n=500)
    assert (est, lo, hi) == (6.0, 6.0, 6.0)
    with pytest.raises(ValueError, match="same seeds"):
        stats.hierarchical_bootstrap([a, b[:1]])


def _units(per_seed_diffs, languages=("de", "ja"), target="t"):
    return pd.DataFrame([{"target": target, "seed": s, "language": l, "diff": d}
                         for s, d in enumerate(per_seed_diffs) for l in languages])


def test_the_seed_is_the_unit_of_the_test():
    # 3 seeds: the exact sign-flip test cannot go below 2 / 2**3 = 0.25 however many languages
    t = stats.paired_seed_test(_units([1.0, 1.2, 0.9], languages=[f"l{i}" for i in range(40)]))
    assert t["seeds"] == 3 and t["df"] == 2
    assert t["p_sign_flip"] == pytest.approx(0.25)
    # paired t over the per-seed means, by hand: mean 1.0333, sd 0.15275, t = 11.717, df 2 -> p = 0.0072
    assert t["p"] == pytest.approx(0.0072, abs=2e-4)
    assert t["estimate"] == pytest.approx(31 / 30)


def test_tost_and_mde():
    near_zero = stats.paired_seed_test(_units([0.1, -0.1, 0.05, 0.0, -0.05]), margin=1.0)
    assert near_zero["p_tost"] < 0.001  # clearly inside +-1
    wide = stats.paired_seed_test(_units([3.0, -3.0, 2.0]), margin=1.0)
    assert wide["p_tost"] > 0.3
    # MDE: a true effect equal to the MDE has 80% power (noncentral t), for n = 5, sd = 1
    from scipy import stats as ss
    m = stats.mde(1.0, 5)
    crit = ss.t.ppf(0.975, 4)
    nc = m * np.sqrt(5)
    assert ss.nct.sf(crit, 4, nc) + ss.nct.cdf(-crit, 4, nc) == pytest.approx(0.8, abs=1e-6)
    assert np.isnan(stats.mde(1.0, 1))


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 (m = 3): 0.03, 0.04, 0.04 (monotone); NaN stays NaN
    out = stats.holm([0.04, np.nan, 0.01, 0.02])
    assert np.isnan(out[1])
    assert list(out[[2, 3, 0]]) == pytest.approx([0.03, 0.04, 0.04])
    assert stats.holm([0.9, 0.8])[0] == 1.0 or stats.holm([0.9, 0.8])[0] == pytest.approx(0.9)


def test_slope_fit_recovers_a_line_with_a_t_interval():
    x = np.linspace(0, 1, 6)
    fit = stats.slope_fit(x, 2 + 5 * x)
    assert fit["slope"] == pytest.approx(5.0) and fit["ci_low"] == pytest.approx(5.0)
    noisy = stats.slope_fit(x, 2 + 5 * x + np.array([0.3, -0.2, 0.1, -0.3, 0.2, -0.1]))
    assert noisy["ci_low"] < noisy["slope"] < noisy["ci_high"]
    assert np.isnan(stats.slope_fit([1, 1, 1], [1, 2, 3])["slope"])


def test_one_seed_gets_an_estimate_but_no_interval_and_no_test():
    # 1 seed, 40 languages that disagree: resampling languages would give a finite interval, but
    # the languages share one model, so there is no interval over seeds (the unit) and no test
    one = stats.paired_seed_test(_units([1.0], languages=[f"l{i}" for i in range(40)]).assign(
        diff=np.linspace(-2.0, 4.0, 40)))
    assert one["seeds"] == 1 and one["estimate"] == pytest.approx(1.0)
    assert np.isnan(one["ci_low"]) and np.isnan(one["ci_high"]) and np.isnan(one["p"])
    two = stats.paired_seed_test(_units([1.0, 2.0], languages=[f"l{i}" for i in range(40)]))
    assert two["ci_low"] <= 1.5 <= two["ci_high"] and np.isfinite(two["p"])
