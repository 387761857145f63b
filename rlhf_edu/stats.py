"""Confidence intervals for a design of seeds x prompts, paired differences, and a common KL.

Every number notebooks 11 and 12 compare is a mean over ``values[seed, prompt]``: a few training
seeds (3), each measured on the same 48-128 prompts (or posts). Two sources of noise add up: a
seed's run can be lucky (a seed effect), and a prompt can be easy (a prompt effect). A naive
interval that treats the 3 x 128 numbers as independent ignores both and is too narrow.

The two designs (``design=``):

- ``"crossed"``  every seed is measured on the *same* prompts (notebook 12's held-out prompts,
  notebook 11's 128 posts whose SFT summaries every seed shares). Prompts are crossed with seeds,
  not nested in them: a bootstrap resamples seeds and prompts *independently* and uses the same
  prompt draw for every seed, since an easy prompt is easy for every seed.
- ``"nested"``   each seed has its own prompts. A bootstrap resamples seeds, then prompts within
  each drawn seed.

Which interval, and why (``mean_ci``, the one to use). With 3 seeds a percentile bootstrap over
seeds cannot be honest: 3 seeds have 10 distinct resamples, the bootstrap variance of their mean
is 2/3 of the unbiased one, and its quantiles are normal ones where the truth is a t with 2 degrees
of freedom (4.30, not 1.96). Simulated at this design (3 seeds x 48 or 128 prompts, judge-positive
0/1 outcomes and continuous scores), ``bootstrap_ci`` covers the true mean 72-99 % of the time:
too often when prompts dominate the noise (it counts the noise in both draws), far too rarely
when seeds do. So ``mean_ci`` is a t interval from the design's own variance decomposition:

- nested: the seed means are independent, so t over them with seeds - 1 degrees of freedom (exact
  for normal data, whatever the two variances are);
- crossed: the variance of the grand mean is s2_seed/S + s2_prompt/P + s2_noise/(SP), estimated
  from the two-way ANOVA mean squares as (MS_seed + MS_prompt - MS_noise) / (SP): the seed means'
  spread (the nested estimate) plus the shared prompts' part, which every seed mean carries alike
  and so cannot show. Its degrees of freedom are Satterthwaite's (1946), near 2 when seeds
  dominate and large when prompts do, with one guard (in ``variance_of_mean``) that keeps the
  worst case at 94 % rather than 92 %.

Both cover 94-97 % in 4,000 simulations of each of 48 designs (crossed or nested, 0/1 or
continuous, 48 or 128 prompts, seed sd 0-0.6 and prompt sd 0.3-2 logits); 93-94 % with 0/1
outcomes and a seed sd of 1 logit (seeds' judge rates 0.4-0.85: skewed seed means).
``bootstrap_ci`` stays for many seeds and for teaching (the clustered bootstrap an exercise asks
for): with 20 seeds it covers 95 % (crossed, continuous scores), though resampling both levels
counts the noise twice and over-covers (97-99 %) when the noise dominates (Davison & Hinkley,
1997, section 3.8; Owen, 2007, "The pigeonhole bootstrap"). The intervals are for the mean over
the population of seeds *and* prompts: "A beats B" then means it would on a new seed and new
prompts, not only on these.

``at_common_kl`` puts runs at different beta on one KL, per seed, by linear interpolation in KL;
it refuses to extrapolate. The KL of a run is taken as exact (its own noise is not propagated).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

DESIGNS = ("crossed", "nested")


class Interval(NamedTuple):
    """A point estimate and its two-sided interval (unpacks as ``m, low, high``)."""
    estimate: float
    low: float
    high: float


# --- checks --------------------------------------------------------------------------

def _table(values, name: str = "values", min_prompts: int = 1) -> np.ndarray:
    """``values`` as a float64 (seeds, prompts) array, or a ValueError naming the argument."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"{name} must be 2-D (seeds, prompts), got shape {v.shape}; one value a seed is (seeds, 1)")
    if v.shape[0] < 2:
        raise ValueError(f"{name} needs >= 2 seeds (rows) to say anything about seeds, got {v.shape[0]}")
    if v.shape[1] < min_prompts:
        raise ValueError(f"{name} needs >= {min_prompts} prompts (columns), got {v.shape[1]}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or inf")
    return v


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(level)


def _check_design(design: str) -> str:
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    return design


# --- quantiles -----------------------------------------------------------------------

def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` (real, >= 1) degrees of freedom; numpy only.

    With T = sqrt(df) tan(theta), theta has density proportional to cos(theta)^(df - 1) on
    (-pi/2, pi/2): a bounded integral, done by the trapezoid rule against its exact total.
    df above 1,000 is taken as 1,000 (the quantile moves by < 0.2 %, outward).
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not df >= 1.0:  # also catches NaN
        raise ValueError(f"df must be >= 1, got {df}")
    df = min(float(df), 1000.0)
    q = abs(p - 0.5)  # probability between 0 and the quantile
    theta = np.linspace(0.0, math.pi / 2, 8193, dtype=np.float64)
    with np.errstate(divide="ignore"):  # log cos(pi/2) = -inf, whose exp is the right 0
        density = np.exp((df - 1.0) * np.log(np.cos(theta)))
    if df == 1.0:
        density[:] = 1.0  # cos^0; 0 * -inf above would be NaN
    cum = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(theta))])
    total = math.sqrt(math.pi) * math.exp(math.lgamma(df / 2) - math.lgamma((df + 1) / 2)) / 2
    t = math.sqrt(df) * math.tan(float(np.interp(q * 2 * total, cum, theta)))
    return t if p > 0.5 else -t


# --- the intervals -------------------------------------------------------------------

def variance_of_mean(values, design: str) -> tuple[float, float]:
    """(estimated variance of the grand mean, its degrees of freedom) for seeds x prompts.

    nested: var(seed means) / S, S - 1 df. crossed: the clipped ANOVA estimate and Satterthwaite's
    df (see the module docstring).
    """
    design = _check_design(design)
    v = _table(values, min_prompts=2 if design == "crossed" else 1)
    S, P = v.shape
    if design == "nested":
        return float(v.mean(axis=1).var(ddof=1) / S), float(S - 1)
    grand, seed_means, prompt_means = v.mean(), v.mean(axis=1), v.mean(axis=0)
    ms_seed = P * np.sum((seed_means - grand) ** 2) / (S - 1)
    ms_prompt = S * np.sum((prompt_means - grand) ** 2) / (P - 1)
    residual = v - seed_means[:, None] - prompt_means[None, :] + grand
    ms_noise = np.sum(residual ** 2) / ((S - 1) * (P - 1))
    # Var = (MS_seed + MS_prompt - MS_noise) / SP: the seed means' spread (MS_seed / SP, what the
    # nested design uses) plus the shared prompts' variance, which every seed mean carries alike.
    # That prompt part is clipped at 0; the seed part is never clipped, so its S - 1 df stay in.
    c_prompt = float(ms_prompt > ms_noise)
    terms = [(ms_seed, S - 1), (c_prompt * ms_prompt, P - 1), (-c_prompt * ms_noise, (S - 1) * (P - 1))]
    total = sum(x for x, _ in terms)
    if total <= 0.0:  # every seed mean equal and no prompt effect: no spread seen at all
        return 0.0, float(S - 1)
    # Satterthwaite's (1946) df, the seed mean square counted twice there (not in the variance):
    # with 2 df it is often small exactly when the variance comes out too small, and plain
    # Satterthwaite then trusts the prompts' many df (92 % coverage at worst, 94 % doubled).
    pessimistic = [(2.0 * ms_seed, S - 1)] + terms[1:]
    df = sum(x for x, _ in pessimistic) ** 2 / sum(x ** 2 / d for x, d in pessimistic)
    return float(total / (S * P)), float(max(df, 1.0))


def mean_ci(values, design: str, level: float = 0.95) -> Interval:
    """The mean of ``values[seed, prompt]`` and its t interval for ``design`` (the one to use).

    Deterministic, no resampling. See the module docstring for why not the bootstrap.
    """
    level = _check_level(level)
    var, df = variance_of_mean(values, design)
    m = float(np.mean(np.asarray(values, dtype=np.float64)))
    half = t_quantile((1 + level) / 2, df) * math.sqrt(var)
    return Interval(m, m - half, m + half)


def iid_ci(values, level: float = 0.95) -> Interval:
    """The naive interval: every value independent, mean +- z sd / sqrt(n). Wrong for seeds x prompts.

    Kept to show *why* it is wrong: with one prompt effect shared by every seed it is too narrow
    by about sqrt(seeds) (``tests/test_stats.py`` measures its coverage).
    """
    level = _check_level(level)
    v = _table(values)
    m = float(v.mean())
    half = NormalDist().inv_cdf((1 + level) / 2) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return Interval(m, m - half, m + half)


def bootstrap_means(values, design: str, B: int = 2000, seed: int | np.random.Generator = 0) -> np.ndarray:
    """B resampled grand means of ``values[seed, prompt]``, resampled the way ``design`` says.

    nested: draw S seeds with replacement, then P prompts with replacement within *each* drawn seed.
    crossed: draw S seeds and P prompts, independently, and use the one prompt draw for every seed.
    """
    design = _check_design(design)
    v = _table(values)
    if int(B) != B or B < 100:
        raise ValueError(f"B must be an integer >= 100 (percentile ends need resamples), got {B}")
    rng = np.random.default_rng(seed)
    S, P = v.shape
    seeds = rng.integers(0, S, size=(B, S, 1))
    shape = (B, S, P) if design == "nested" else (B, 1, P)
    prompts = rng.integers(0, P, size=shape)
    return v[seeds, prompts].mean(axis=(1, 2))


def bootstrap_ci(values, design: str, level: float = 0.95, B: int = 2000,
                 seed: int | np.random.Generator = 0) -> Interval:
    """The mean and its percentile bootstrap interval, clustered by ``design``.

    Honest with many seeds; with 3 it covers 72-99 % depending on the noise (module docstring).
    """
    level = _check_level(level)
    means = bootstrap_means(values, design, B, seed)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(np.mean(values)), float(low), float(high))


# --- two methods ---------------------------------------------------------------------

def paired_differences(a, b) -> np.ndarray:
    """a - b, per seed and prompt: two methods on the same prompts (and the same seed numbers)."""
    a, b = _table(a, "a"), _table(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"b must have a's shape (seeds, prompts) to pair them, got {b.shape} and {a.shape}")
    return a - b


def difference_ci(a, b, design: str, level: float = 0.95) -> Interval:
    """The mean of a - b and its interval, paired per prompt and seed (``mean_ci`` on the differences).

    Pairing cancels what a prompt does to both methods (an easy prompt is easy for both), so the
    interval is narrower than one built from the two means separately.
    """
    return mean_ci(paired_differences(a, b), design, level)


def verdict(interval: Interval, a: str = "A", b: str = "B") -> str:
    """The reading of an interval of A - B: a winner only when the interval excludes 0.

    "A beats B" above 0, "B beats A" below, "tied within noise" when 0 is inside (or on an end).
    """
    _, low, high = interval
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"interval must have finite low <= high, got {interval}")
    if low > 0:
        return f"{a} beats {b}"
    if high < 0:
        return f"{b} beats {a}"
    return "tied within noise"


# --- a common KL ---------------------------------------------------------------------

def at_common_kl(kl, metric, at, outside: str = "raise") -> np.ndarray:
    """Each seed's metric at KL ``at``, linear in KL between that seed's runs (one run a beta).

    kl: (seeds, runs). metric: (seeds, runs, ...), e.g. (seeds, runs, prompts): the same weights
    apply to every prompt, so the interpolated per-prompt values average to the interpolated mean.
    at: one KL or a 1-D array of them. Returns (seeds, ...) or (seeds, len(at), ...).
    A KL outside a seed's measured range raises a ValueError (``outside="raise"``) or gives NaN
    for that seed (``outside="nan"``): an extrapolated point is a guess, not a measurement.
    """
    if outside not in ("raise", "nan"):
        raise ValueError(f"outside must be 'raise' or 'nan', got {outside!r}")
    kl = np.asarray(kl, dtype=np.float64)
    metric = np.asarray(metric, dtype=np.float64)
    targets = np.asarray(at, dtype=np.float64)
    if kl.ndim != 2 or kl.shape[0] < 1 or kl.shape[1] < 2:
        raise ValueError(f"kl must be (seeds, runs) with >= 2 runs a seed, got shape {kl.shape}")
    if metric.shape[:2] != kl.shape:
        raise ValueError(f"metric must start with kl's shape {kl.shape}, got {metric.shape}")
    if targets.ndim > 1 or targets.size == 0:
        raise ValueError(f"at must be one KL or a non-empty 1-D array, got shape {targets.shape}")
    for name, x in (("kl", kl), ("metric", metric), ("at", targets)):
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf")
    order = np.argsort(kl, axis=1)
    ks = np.take_along_axis(kl, order, axis=1)
    if (np.diff(ks, axis=1) <= 0).any():
        raise ValueError("kl has two runs of one seed at the same KL: interpolation between them is undefined")
    ms = np.take_along_axis(metric, order.reshape(order.shape + (1,) * (metric.ndim - 2)), axis=1)
    t = np.atleast_1d(targets)                                      # (T,)
    out = (t[None, :] < ks[:, :1]) | (t[None, :] > ks[:, -1:])      # (S, T)
    if outside == "raise" and out.any():
        s, j = np.argwhere(out)[0]
        raise ValueError(f"at = {t[j]:g} is outside seed {s}'s measured KL range "
                         f"[{ks[s, 0]:g}, {ks[s, -1]:g}]; refusing to extrapolate")
    hi = np.clip((ks[:, :, None] < t[None, None, :]).sum(axis=1), 1, ks.shape[1] - 1)   # (S, T)
    lo = hi - 1
    k_lo, k_hi = np.take_along_axis(ks, lo, axis=1), np.take_along_axis(ks, hi, axis=1)
    w = (t[None, :] - k_lo) / (k_hi - k_lo)                         # 0 at k_lo, 1 at k_hi
    extra = (1,) * (metric.ndim - 2)
    m_lo = np.take_along_axis(ms, lo.reshape(lo.shape + extra), axis=1)
    m_hi = np.take_along_axis(ms, hi.reshape(hi.shape + extra), axis=1)
    w = w.reshape(w.shape + extra)
    result = (1.0 - w) * m_lo + w * m_hi
    result[out] = np.nan
    return result if targets.ndim == 1 else result[:, 0]
