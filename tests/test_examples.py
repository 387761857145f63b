"""Every worked number of the story, reproduced (rlhf_edu.examples)."""

import math

import pytest

from rlhf_edu import examples as E


@pytest.fixture(scope="module")
def ex():
    return E.worked_examples()


def r3(x):
    return round(x, 3)


def test_1_sequence_probability(ex):
    s = ex["1_sequence_probability"]
    assert "".join(s["tokens"]) == "Pune is great"
    assert s["product"] == pytest.approx(0.504)
    assert s["from_logprobs"] == pytest.approx(0.504)
    assert s["sum_logprobs"] == pytest.approx(sum(s["token_logprobs"]))


def test_2_bradley_terry(ex):
    s = ex["2_bradley_terry"]
    assert r3(s["p_case1"]) == 0.881
    assert r3(s["exp_minus_2"]) == 0.135
    assert r3(s["loss_case1"]) == 0.127
    assert r3(s["p_case2"]) == 0.119
    assert r3(s["loss_case2"]) == 2.127  # exact: log(1 + e^2) = 2.1269
    # the story's 2.128: -log of sigma(-2) rounded to 0.119, cut to three decimals
    assert math.floor(s["loss_case2_from_rounded_p"] * 1000) / 1000 == 2.128
    assert s["loss_gap_minus_1000"] == pytest.approx(1000.0)


def test_3_policy_gradient(ex):
    up, down = ex["3_policy_gradient"]["up"], ex["3_policy_gradient"]["down"]
    for step, adv in ((up, 2.5), (down, -1.0)):
        assert step["logp"] == pytest.approx(-1.2)
        assert step["surrogate"] == pytest.approx(-1.2 * adv)
        assert step["grad_logit"] == pytest.approx(adv * (1 - math.exp(-1.2)))
        assert sum(step["probs_after"]) == pytest.approx(1.0)
    assert up["prob_after"] > up["prob_before"]
    assert down["prob_after"] < down["prob_before"]
    assert (r3(up["prob_before"]), r3(up["prob_after"]), r3(down["prob_after"])) == (0.301, 0.618, 0.202)


def test_policy_gradient_step_zero_advantage_changes_nothing():
    step = E.policy_gradient_step(0.0)
    assert step["prob_after"] == pytest.approx(step["prob_before"])


def test_4_importance_ratio(ex):
    s = ex["4_importance_ratio"]
    assert s["ratio"] == pytest.approx(1.5)
    assert s["big_ratio"] == pytest.approx(10.0)
    assert s["big_unclipped"] == pytest.approx(20.0)
    assert s["big_clipped"] == pytest.approx(2.4)


def test_5_ppo_clip(ex):
    a, b = ex["5_ppo_clip"]["a"], ex["5_ppo_clip"]["b"]
    assert (a["unclipped"], a["clipped"], a["objective"]) == pytest.approx((3.0, 2.4, 2.4))
    assert (b["unclipped"], b["clipped"], b["objective"]) == pytest.approx((-0.5, -0.8, -0.8))


def test_6_kl_penalty(ex):
    s = ex["6_kl_penalty"]
    assert s["total_small"] == pytest.approx(3.42)
    assert s["total_large"] == pytest.approx(2.0)


def test_truth_ppo_gradients(ex):
    rows = {(r["advantage"], r["ratio"]): r for r in ex["truth_ppo_gradients"]}
    assert set(rows) == {(2.0, 1.5), (2.0, 0.5), (-1.0, 1.5), (-1.0, 0.5)}
    assert rows[(2.0, 1.5)]["grad"] == 0.0 and rows[(2.0, 1.5)]["picked"] == "clipped"
    assert rows[(-1.0, 0.5)]["grad"] == 0.0 and rows[(-1.0, 0.5)]["picked"] == "clipped"  # case 5b
    assert rows[(2.0, 0.5)]["grad"] == pytest.approx(2.0)
    assert rows[(-1.0, 1.5)]["grad"] == pytest.approx(-1.0)


def test_ppo_gradient_inside_the_band():
    g = E.ppo_gradient(1.0, -1.0)
    assert g["picked"] == "both" and g["grad"] == pytest.approx(-1.0)


def test_truth_k1_negative(ex):
    s = ex["truth_k1_negative"]
    assert min(s["k1"]) < 0
    assert min(s["k3"]) >= 0
    assert s["exact_kl"] >= 0
    assert s["mean_k1"] == pytest.approx(s["exact_kl"])
    assert s["mean_k3"] == pytest.approx(s["exact_kl"])


def test_report_is_readable_and_stable():
    text = E.format_worked_examples()
    assert text == E.format_worked_examples()
    for expected in ("0.504", "0.881", "0.135", "0.127", "0.119", "2.127", "2.128", "1.5", "10.0",
                     "+3.0", "+2.4", "-0.5", "-0.8", "3.42", "2.00", "zero gradient", "Truth 2"):
        assert expected in text
    assert "= nan" not in text and "= inf" not in text
