"""Inference with the seed as the unit.

Every language of one run shares that run's model, so languages are not independent replicates: a
comparison is made on per-seed numbers (the mean over languages, and over targets with each target
weighing equally where a claim averages over targets), paired by seed. Tests come from scipy.stats
(a paired t-test with df = seeds - 1, the exact sign-flip test via `permutation_test`, `linregress`).
Intervals come from a hierarchical bootstrap (seeds, then languages within each seed), the one piece
scipy has no equivalent for. Holm-Bonferroni is written out because scipy ships only FDR control.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8


def hierarchical_bootstrap(groups: list[np.ndarray], *, n: int = 4000, level: float = 0.95,
                           seed: int = 0, return_draws: bool = False):
    """Percentile interval of a mean over targets of (mean over seeds of (mean over languages)).

    `groups`: one array per target, shaped (seeds, languages), the same seeds in the same row order
    for every target (NaN where a language is missing in one seed). Each bootstrap draw resamples
    the seeds with replacement (one draw shared by every target: the comparison stays paired by
    seed), then, within each drawn seed, that target's languages with replacement. Returns
    (estimate, low, high) and, with `return_draws`, the draws too."""
    rng = np.random.default_rng(seed)
    n_seeds = groups[0].shape[0]
    if any(g.shape[0] != n_seeds for g in groups):
        raise ValueError("every target needs the same seeds")
    seed_draw = rng.integers(n_seeds, size=(n, n_seeds))
    estimate, draws = [], []
    for values in groups:
        values = np.asarray(values, float)
        estimate.append(np.nanmean(np.nanmean(values, axis=1)))
        lang_draw = rng.integers(values.shape[1], size=(n, n_seeds, values.shape[1]))
        picked = values[seed_draw[:, :, None], lang_draw]          # (n, seeds, languages)
        draws.append(np.nanmean(np.nanmean(picked, axis=2), axis=1))
    draws = np.mean(draws, axis=0)
    est = float(np.mean(estimate))
    lo, hi = np.nanquantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2]) if n_seeds * max(
        g.shape[1] for g in groups) > 1 else (np.nan, np.nan)
    out = (est, float(lo), float(hi))
    return (*out, draws) if return_draws else out


def seed_matrix(frame: pd.DataFrame, value: str = "diff", *, seeds=None) -> list[np.ndarray]:
    """`frame` with columns target, seed, language, <value> -> one (seeds x languages) array per target,
    in sorted target order, rows in `seeds` order (default: the seeds every target has)."""
    if seeds is None:
        seeds = sorted(set.intersection(*[set(g["seed"]) for _, g in frame.groupby("target")]))
    return [g.pivot_table(index="seed", columns="language", values=value).reindex(seeds).to_numpy(float)
            for _, g in frame.groupby("target", sort=True)]


def per_seed(frame: pd.DataFrame, value: str = "diff") -> pd.Series:
    """The replicate of every test: per seed, the mean over targets (each weighing equally) of the mean
    over that target's languages. Only seeds that every target has count."""
    by_target = frame.groupby(["target", "seed"])[value].mean().unstack("target")
    return by_target.dropna().mean(axis=1)


def sign_flip_p(diffs) -> float:
    """Exact two-sided sign-flip p-value of paired differences (scipy permutation_test, 'samples'): all
    2**n sign patterns, so with n seeds it cannot go below 2 / 2**n (0.25 for three seeds)."""
    d = np.asarray(diffs, float)
    if len(d) < 2:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    res = stats.permutation_test((d, np.zeros_like(d)), lambda x, y: np.mean(x - y), permutation_type="samples",
                                 alternative="two-sided", n_resamples=np.inf)
    return float(res.pvalue)


def mde(sd: float, n: int, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect of a two-sided paired t-test with n pairs: the true mean difference that
    reaches `power` at `alpha`, given the standard deviation `sd` of the paired differences (noncentral t)."""
    if n < 2 or not np.isfinite(sd) or sd == 0:
        return float("nan")
    df, crit = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)

    def gap(delta):
        nc = delta * np.sqrt(n) / sd
        # the lower tail is negligible for delta > 0 and scipy's nct.cdf returns NaN far out in it
        return stats.nct.sf(crit, df, nc) + np.nan_to_num(stats.nct.cdf(-crit, df, nc)) - power

    return float(optimize.brentq(gap, 1e-9 * sd, 100 * sd))


def paired_seed_test(frame: pd.DataFrame, value: str = "diff", *, margin: float | None = None,
                     seed: int = 0) -> dict:
    """The test of one comparison. `frame`: columns target, seed, language and `value` (a - b per unit).
    Returns the estimate (targets weighing equally) with a hierarchical-bootstrap 95% interval (none
    below two seeds: the bootstrap could only resample languages, which share one model and are no
    interval over seeds, the unit of inference), the
    per-seed differences, a paired t-test on them (df = seeds - 1, two-sided), the exact sign-flip
    p-value, the minimum detectable effect at 80% power and, with `margin`, TOST equivalence within
    +-margin (p = the larger of the two one-sided t-test p-values)."""
    seeds = per_seed(frame, value)
    d = seeds.to_numpy(float)
    est, lo, hi = hierarchical_bootstrap(seed_matrix(frame[frame["seed"].isin(seeds.index)], value), seed=seed)
    n = len(d)
    if n < 2:
        lo = hi = float("nan")
    out = {"estimate": est, "ci_low": lo, "ci_high": hi, "seeds": n, "df": n - 1, "per_seed": list(d),
           "p": float("nan"), "p_sign_flip": sign_flip_p(d), "mde": float("nan"),
           "p_tost": float("nan"), "margin": margin}
    if n >= 2:
        sd = float(np.std(d, ddof=1))
        out["p"] = 1.0 if sd == 0 and d.mean() == 0 else (0.0 if sd == 0 else float(stats.ttest_1samp(d, 0).pvalue))
        out["mde"] = mde(sd, n)
        if margin is not None:
            if sd == 0:
                out["p_tost"] = 0.0 if abs(d.mean()) < margin else 1.0
            else:
                lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
                upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
                out["p_tost"] = float(max(lower, upper))
    return out


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN entries are not tested and stay NaN)."""
    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def slope_fit(x, y, *, level: float = 0.95) -> dict:
    """Least-squares slope of y on x (scipy linregress) with its t interval (df = points - 2)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0:
        return {"slope": float("nan"), "intercept": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "p": float("nan"), "points": len(x)}
    fit = stats.linregress(x, y)
    half = stats.t.ppf(1 - (1 - level) / 2, len(x) - 2) * fit.stderr
    return {"slope": float(fit.slope), "intercept": float(fit.intercept), "ci_low": float(fit.slope - half),
            "ci_high": float(fit.slope + half), "p": float(fit.pvalue), "points": len(x)}


def t_over_seeds(values, *, level: float = 0.95) -> dict:
    """Mean of one number per seed with its t interval (df = seeds - 1) and the two-sided one-sample
    t-test of "mean = 0" (scipy); no interval and no test below two seeds."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    out = {"mean": float(v.mean()) if len(v) else float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
           "p": float("nan"), "seeds": len(v)}
    if len(v) >= 2:
        sd = float(np.std(v, ddof=1))
        half = stats.t.ppf(1 - (1 - level) / 2, len(v) - 1) * sd / np.sqrt(len(v))
        out |= {"ci_low": out["mean"] - half, "ci_high": out["mean"] + half,
                "p": float(stats.ttest_1samp(v, 0).pvalue) if sd > 0 else (1.0 if out["mean"] == 0 else 0.0)}
    return out
