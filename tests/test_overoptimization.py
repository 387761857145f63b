"""Over-optimisation curves: the two forms, their fits (exact, noisy, the wrong form), peaks, bad input."""

import math

import numpy as np
import pytest

from rlhf_edu import overoptimization as oo

KL = np.linspace(0.0025, 16.0, 30)  # d from 0.05 to 4


def uncentred_r2(f, kl, gold):
    residual = gold - oo.predict(f, kl)
    return 1 - residual @ residual / (gold @ gold)


def test_the_forms_start_at_zero_and_are_the_papers():
    d = np.array([0.0, 0.5, 2.0])
    assert oo.gold_bon(d, 1.2, 0.3) == pytest.approx(d * (1.2 - 0.3 * d))
    assert oo.gold_rl(d, 0.8, 0.25)[0] == 0.0  # d log d -> 0: R(0) = 0 by definition
    assert oo.gold_rl(d[1:], 0.8, 0.25) == pytest.approx(d[1:] * (0.8 - 0.25 * np.log(d[1:])))


@pytest.mark.parametrize("form,alpha,beta", [("bon", 1.2, 0.3), ("rl", 0.8, 0.25), ("bon", 0.5, -0.1)])
def test_fit_recovers_alpha_and_beta_from_exact_points(form, alpha, beta):
    gold = (oo.gold_bon if form == "bon" else oo.gold_rl)(np.sqrt(KL), alpha, beta)
    f = oo.fit(KL, gold, form)
    assert (f.alpha, f.beta) == pytest.approx((alpha, beta), rel=1e-9)
    assert f.r2 == pytest.approx(1.0) and f.form == form and f.kl_max == KL.max()
    assert oo.predict(f, KL) == pytest.approx(gold)


@pytest.mark.parametrize("form,alpha,beta", [("bon", 1.2, 0.3), ("rl", 0.8, 0.25)])
def test_fit_recovers_alpha_and_beta_from_noisy_points(form, alpha, beta):
    rng = np.random.default_rng(0)
    estimates = []
    for _ in range(200):
        gold = (oo.gold_bon if form == "bon" else oo.gold_rl)(np.sqrt(KL), alpha, beta)
        f = oo.fit(KL, gold + rng.normal(0.0, 0.05, KL.shape), form)
        estimates.append((f.alpha, f.beta, f.r2))
    a, b, r2 = np.array(estimates).T
    assert a.mean() == pytest.approx(alpha, rel=0.01) and b.mean() == pytest.approx(beta, rel=0.02)  # unbiased
    assert np.mean(np.abs(a - alpha) < 0.1 * alpha) > 0.95                                         # and close
    assert 0.9 < np.median(r2) < 1.0


def test_peaks_are_where_the_fitted_curve_is_highest():
    d = np.linspace(0.0, 10.0, 200_001)
    for form, alpha, beta in (("bon", 1.2, 0.3), ("rl", 0.8, 0.25), ("rl", -0.2, 0.5)):
        g = (oo.gold_bon if form == "bon" else oo.gold_rl)(d, alpha, beta)
        d_star, g_star = oo.peak(form, alpha, beta)
        assert d_star == pytest.approx(d[np.argmax(g)], abs=1e-4) and g_star == pytest.approx(g.max())
    assert oo.peak("bon", 1.2, 0.3) == pytest.approx((2.0, 1.2)) # alpha / (2 beta), alpha^2 / (4 beta)
    assert oo.peak("rl", 0.5, 0.25)[0] == pytest.approx(math.e)  # exp(alpha / beta - 1)
    f = oo.fit(KL, oo.gold_bon(np.sqrt(KL), 1.2, 0.3), "bon")
    assert (f.peak_d, f.peak_kl, f.peak_gold) == pytest.approx((2.0, 4.0, 1.2))
    # No turn-over: the fitted curve grows without bound, or never rises.
    assert oo.peak("bon", 1.0, -0.1) == (math.inf, math.inf) and oo.peak("rl", 1.0, 0.0) == (math.inf, math.inf)
    assert oo.peak("bon", -1.0, 0.5) == (0.0, 0.0) and oo.peak("bon", -1.0, 0.0) == (0.0, 0.0)
    assert oo.peak("rl", 2000.0, 1.0) == (math.inf, math.inf)  # exp overflows to inf, quietly


def test_r2_is_low_for_the_other_form_where_the_uncentred_one_would_hide_it():
    kl = np.linspace(0.05, 4.0, 30) ** 2  # evenly spaced in d, as the paper's square-root axes
    for data, other, (alpha, beta) in (("bon", "rl", (1.0, 0.25)), ("rl", "bon", (1.0, 0.6))):
        gold = (oo.gold_bon if data == "bon" else oo.gold_rl)(np.sqrt(kl), alpha, beta)
        right, wrong = oo.fit(kl, gold, data), oo.fit(kl, gold, other)
        assert right.r2 == pytest.approx(1.0)
        assert wrong.r2 < 0.9 and uncentred_r2(wrong, kl, gold) > 0.97
    # The two humps are alike, though: a curve peaking early is fitted well by either form.
    gold = oo.gold_bon(np.sqrt(KL), 1.0, 0.5)
    assert 0.97 < oo.fit(KL, gold, "rl").r2 < oo.fit(KL, gold, "bon").r2


def test_curve_is_the_fitted_gold_on_a_grid_even_in_sqrt_kl():
    f = oo.fit(KL, oo.gold_rl(np.sqrt(KL), 0.8, 0.25), "rl")
    kl, gold = oo.curve(f)
    assert kl.dtype == np.float64 and kl.shape == gold.shape == (200,)
    assert kl[0] == 0.0 and gold[0] == 0.0 and kl[-1] == pytest.approx(KL.max())
    assert np.diff(np.sqrt(kl)) == pytest.approx(np.full(199, np.sqrt(KL.max()) / 199))
    assert gold == pytest.approx(oo.gold_rl(np.sqrt(kl), 0.8, 0.25))
    assert oo.curve(f, kl_max=64.0, points=5)[0] == pytest.approx([0.0, 4.0, 16.0, 36.0, 64.0])


@pytest.mark.parametrize("call,name", [
    (lambda: oo.fit([1.0], [0.5], "bon"), "kl"),
    (lambda: oo.fit([], [], "bon"), "kl"),
    (lambda: oo.fit([1.0, -0.5, 2.0], [0.1, 0.2, 0.3], "bon"), "kl"),
    (lambda: oo.fit([1.0, float("nan"), 2.0], [0.1, 0.2, 0.3], "rl"), "kl"),
    (lambda: oo.fit([1.0, 2.0, 3.0], [0.1, float("nan"), 0.3], "bon"), "gold"),
    (lambda: oo.fit([1.0, 2.0, 3.0], [0.1, float("inf"), 0.3], "rl"), "gold"),
    (lambda: oo.fit([1.0, 2.0, 3.0], [0.1, 0.2], "bon"), "kl"),
    (lambda: oo.fit([2.0, 2.0, 2.0], [0.1, 0.2, 0.3], "bon"), "kl"),      # one distinct KL
    (lambda: oo.fit([0.0, 1.0, 1.0], [0.0, 0.2, 0.3], "rl"), "kl"),       # d log d = 0 at both
    (lambda: oo.fit([1.0, 2.0], [0.1, 0.2], "ppo"), "form"),
    (lambda: oo.peak("dpo", 1.0, 1.0), "form"),
    (lambda: oo.predict(oo.fit(KL, KL, "bon"), [-1.0]), "kl"),
    (lambda: oo.curve(oo.fit(KL, KL, "bon"), kl_max=0.0), "kl_max"),
    (lambda: oo.curve(oo.fit(KL, KL, "bon"), points=1), "points"),
])
def test_bad_input_raises_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()
