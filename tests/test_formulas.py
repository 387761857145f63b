"""Unit and property tests for rlhf_edu.formulas."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rlhf_edu.formulas as F

SETTINGS = settings(deadline=None, max_examples=100)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
prob = st.floats(min_value=1e-6, max_value=1.0)
logprob = st.floats(min_value=-30.0, max_value=0.0)


# --- worked values ---------------------------------------------------------------

def test_sequence_probability():
    assert F.sequence_prob([0.8, 0.7, 0.9]) == pytest.approx(0.504)
    logps = [math.log(p) for p in (0.8, 0.7, 0.9)]
    assert F.sequence_logprob(logps) == pytest.approx(math.log(0.504))
    assert F.sequence_prob_from_logprobs(logps) == pytest.approx(0.504)


def test_sequence_probability_batched_and_underflow():
    batch = torch.tensor([[0.8, 0.7, 0.9], [0.5, 0.5, 0.5]], dtype=torch.float64)
    assert torch.allclose(F.sequence_prob(batch), torch.tensor([0.504, 0.125], dtype=torch.float64))
    # 400 tokens at 0.1: the product underflows, the sum of logs does not
    assert F.sequence_prob([0.1] * 400) == 0.0
    assert F.sequence_logprob([math.log(0.1)] * 400) == pytest.approx(-921.034, abs=1e-3)


def test_bradley_terry_and_loss():
    assert F.bradley_terry_prob(3.0, 1.0) == pytest.approx(0.8808, abs=1e-4)
    assert F.bradley_terry_prob(1.0, 3.0) == pytest.approx(0.1192, abs=1e-4)
    assert F.reward_model_loss(3.0, 1.0) == pytest.approx(0.1269, abs=1e-4)
    assert F.reward_model_loss(1.0, 3.0) == pytest.approx(math.log1p(math.exp(2.0)))
    assert F.sigmoid(0.0) == 0.5


def test_reward_loss_is_stable_for_huge_gap():
    assert F.reward_model_loss(0.0, 1000.0) == pytest.approx(1000.0)
    rc = torch.tensor([-1000.0], requires_grad=True)
    loss = F.reward_model_loss(rc, torch.tensor([0.0]))
    loss.sum().backward()
    assert torch.isfinite(loss).all() and loss.item() == pytest.approx(1000.0)
    assert rc.grad.item() == pytest.approx(-1.0)


def test_policy_gradient_surrogate_and_gradient():
    assert F.policy_gradient_surrogate(-1.2, 2.5) == pytest.approx(-3.0)
    logp = torch.tensor(-1.2, requires_grad=True)
    adv = torch.tensor(2.5, requires_grad=True)
    F.policy_gradient_surrogate(logp, adv).backward()
    assert logp.grad.item() == pytest.approx(2.5)
    assert adv.grad is None  # the advantage is a constant weight


def test_importance_ratio():
    assert F.importance_ratio(0.45, 0.3) == pytest.approx(1.5)
    assert F.importance_ratio(0.5, 0.05) == pytest.approx(10.0)
    r = F.importance_ratio_from_logprobs(torch.tensor(math.log(0.45)), torch.tensor(math.log(0.3)))
    assert r.item() == pytest.approx(1.5)


def test_ppo_clip_worked_cases():
    a = F.ppo_clip_objective(1.5, 2.0, 0.2)
    assert (a.unclipped, a.clipped, a.objective) == pytest.approx((3.0, 2.4, 2.4))
    b = F.ppo_clip_objective(0.5, -1.0, 0.2)
    assert (b.unclipped, b.clipped, b.objective) == pytest.approx((-0.5, -0.8, -0.8))
    assert isinstance(a.objective, float)


@pytest.mark.parametrize("ratio, advantage, zero", [
    (1.5, 2.0, True),    # A > 0, above the band: clipped, stop raising
    (0.5, 2.0, False),   # A > 0, below the band: keep raising
    (1.5, -1.0, False),  # A < 0, above the band: keep lowering
    (0.5, -1.0, True),   # A < 0, below the band (case 5b): clipped, stop lowering
    (1.0, 2.0, False),   # inside the band: plain policy gradient
    (1.0, -1.0, False),
])
def test_ppo_gradient_is_zero_exactly_when_clipped(ratio, advantage, zero):
    r = torch.tensor(ratio, dtype=torch.float64, requires_grad=True)
    F.ppo_clip_objective(r, advantage, 0.2).objective.backward()
    if zero:
        assert r.grad.item() == 0.0
    else:
        assert r.grad.item() == pytest.approx(advantage)


def test_ppo_gradient_through_logprobs():
    logp_old = torch.full((4,), math.log(0.3), dtype=torch.float64)
    logp = torch.log(torch.tensor([0.45, 0.15, 0.45, 0.15], dtype=torch.float64)).requires_grad_(True)
    adv = torch.tensor([2.0, 2.0, -1.0, -1.0], dtype=torch.float64)
    ratio = F.importance_ratio_from_logprobs(logp, logp_old)
    F.ppo_clip_objective(ratio, adv).objective.sum().backward()
    assert logp.grad[0] == 0 and logp.grad[3] == 0
    assert torch.allclose(logp.grad[1:3], (ratio * adv)[1:3].detach())


def test_ppo_clip_treats_the_advantage_as_a_constant():
    # As in the surrogate above: a loss must not push on the advantage (nor, through it, on a critic).
    ratio = torch.tensor([1.1, 1.5], requires_grad=True)
    adv = torch.tensor([2.0, -1.0], requires_grad=True)
    F.ppo_clip_objective(ratio, adv).objective.sum().backward()
    assert adv.grad is None and ratio.grad.tolist() == [2.0, -1.0]


def test_kl_penalty_and_estimators():
    assert F.kl_penalised_reward(3.5, 0.8, 0.1) == pytest.approx(3.42)
    assert F.kl_penalised_reward(3.5, 15.0, 0.1) == pytest.approx(2.0)
    assert F.per_token_kl_k1(math.log(0.3), math.log(0.4)) < 0  # one token's k1 can be negative
    assert F.kl_k3(math.log(0.3), math.log(0.4)) > 0
    assert F.kl_k3(-0.7, -0.7) == 0.0
    pi, ref = [0.6, 0.3, 0.1], [0.4, 0.4, 0.2]
    exact = F.exact_kl(pi, ref)
    k1 = sum(p * F.per_token_kl_k1(math.log(p), math.log(q)) for p, q in zip(pi, ref))
    k3 = sum(p * F.kl_k3(math.log(p), math.log(q)) for p, q in zip(pi, ref))
    assert exact == pytest.approx(0.0877, abs=1e-4)
    assert k1 == pytest.approx(exact) and k3 == pytest.approx(exact)
    assert F.exact_kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2.0))  # 0 log 0 = 0


def test_discounted_returns():
    assert F.discounted_returns([0.0, 0.0, 1.0], 0.9) == pytest.approx([0.81, 0.9, 1.0])
    assert F.discounted_returns([1.0, 2.0, 3.0], 1.0) == pytest.approx([6.0, 5.0, 3.0])
    batch = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    out = F.discounted_returns(batch, 0.5)
    assert out.shape == (2, 3) and out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([[0.25, 0.5, 1.0], [1.75, 1.5, 1.0]]))


def test_types_follow_inputs():
    assert isinstance(F.bradley_terry_prob(1.0, 0.0), float)
    assert isinstance(F.discounted_returns([1.0, 2.0], 0.5), list)
    t32 = torch.tensor([1.0, 2.0], dtype=torch.float32)
    assert F.reward_model_loss(t32, 0.0).dtype == torch.float32
    assert F.kl_penalised_reward(t32, t32, 0.1).dtype == torch.float32
    assert F.sequence_prob(torch.tensor([0.5, 0.5])).dim() == 0


# --- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("fn, args, match", [
    (F.sequence_prob, ([0.5, 1.3],), r"token_probs must be in \(0, 1\], got 1.3"),
    (F.sequence_prob, ([0.5, 0.0],), "token_probs"),
    (F.sequence_prob, ([0.5, -0.1],), "token_probs"),
    (F.sequence_logprob, ([0.2],), "token_logprobs"),
    (F.sequence_prob_from_logprobs, ([float("-inf")],), "token_logprobs must be finite"),
    (F.sigmoid, (float("nan"),), "x must be finite"),
    (F.bradley_terry_prob, (float("inf"), 0.0), "r_chosen must be finite"),
    (F.reward_model_loss, (0.0, float("nan")), "r_rejected must be finite"),
    (F.reward_model_loss, (torch.ones(2), torch.ones(3)), "r_chosen and r_rejected must have the same shape"),
    (F.policy_gradient_surrogate, (0.5, 1.0), "logp"),
    (F.policy_gradient_surrogate, (torch.zeros(2), torch.ones(3)), "same shape"),
    (F.importance_ratio, (1.2, 0.3), "prob_new"),
    (F.importance_ratio, (0.2, 0.0), "prob_old"),
    (F.importance_ratio_from_logprobs, (0.1, -1.0), "logp_new"),
    (F.ppo_clip_objective, (1.0, 1.0, 0.0), "epsilon"),
    (F.ppo_clip_objective, (1.0, 1.0, 1.0), "epsilon"),
    (F.ppo_clip_objective, (1.0, 1.0, -0.2), "epsilon"),
    (F.ppo_clip_objective, (1.0, 1.0, float("nan")), "epsilon"),
    (F.ppo_clip_objective, (-0.5, 1.0), "ratio"),
    (F.ppo_clip_objective, (float("nan"), 1.0), "ratio must be finite"),
    (F.ppo_clip_objective, (torch.ones(2), torch.ones(3)), "ratio and advantage"),
    (F.kl_penalised_reward, (1.0, 1.0, -0.1), "beta"),
    (F.kl_penalised_reward, (1.0, float("inf"), 0.1), "kl must be finite"),
    (F.per_token_kl_k1, (-1.0, 0.5), "logp_ref"),
    (F.kl_k3, (0.5, -1.0), "logp"),
    (F.exact_kl, ([0.5, 0.6], [0.5, 0.5]), "p must sum to 1"),
    (F.exact_kl, ([0.5, 0.5], [1.0, 0.0]), "q must be in"),
    (F.exact_kl, ([0.5, 0.5], [0.5, 0.5, 0.0]), "same shape"),
    (F.discounted_returns, ([1.0], 1.5), "gamma"),
    (F.discounted_returns, (1.0, 0.9), "rewards"),
    (F.sequence_prob, ("abc",), "token_probs"),
])
def test_bad_input_names_the_argument(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


# --- properties --------------------------------------------------------------------

@SETTINGS
@given(finite, finite)
def test_bt_loss_finite_and_nonnegative(rc, rr):
    loss = F.reward_model_loss(rc, rr)
    assert math.isfinite(loss) and loss >= 0.0
    assert F.bradley_terry_prob(rc, rr) + F.bradley_terry_prob(rr, rc) == pytest.approx(1.0)


@SETTINGS
@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False))
def test_bt_loss_gradient_finite_for_huge_gaps(gap):
    rc = torch.tensor(gap, dtype=torch.float32, requires_grad=True)
    loss = F.reward_model_loss(rc, 0.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(rc.grad)


@SETTINGS
@given(st.floats(min_value=0.0, max_value=100.0), finite, st.floats(min_value=0.01, max_value=0.99))
def test_ppo_objective_is_a_lower_bound(ratio, advantage, epsilon):
    t = F.ppo_clip_objective(ratio, advantage, epsilon)
    assert t.objective <= t.unclipped and t.objective <= t.clipped
    assert t.objective in (t.unclipped, t.clipped)


@SETTINGS
@given(logprob, logprob)
def test_k3_is_nonnegative(logp, logp_ref):
    assert F.kl_k3(logp, logp_ref) >= 0.0


@SETTINGS
@given(st.lists(st.floats(min_value=1e-3, max_value=1.0), min_size=2, max_size=6).flatmap(
    lambda w: st.tuples(st.just(w), st.lists(st.floats(min_value=1e-3, max_value=1.0),
                                             min_size=len(w), max_size=len(w)))))
def test_exact_kl_nonnegative_and_estimators_unbiased(weights):
    p = torch.tensor(weights[0], dtype=torch.float64)
    q = torch.tensor(weights[1], dtype=torch.float64)
    p, q = p / p.sum(), q / q.sum()
    kl = F.exact_kl(p, q)
    assert kl >= -1e-12
    assert torch.allclose((p * F.per_token_kl_k1(p.log(), q.log())).sum(), kl, atol=1e-9)
    assert torch.allclose((p * F.kl_k3(p.log(), q.log())).sum(), kl, atol=1e-9)


@SETTINGS
@given(st.lists(prob, min_size=1, max_size=20))
def test_sequence_prob_equals_exp_of_summed_logprobs(probs):
    logps = [math.log(p) for p in probs]
    assert F.sequence_prob(probs) == pytest.approx(F.sequence_prob_from_logprobs(logps), rel=1e-9)


@SETTINGS
@given(st.lists(st.floats(min_value=-10, max_value=10), min_size=1, max_size=12),
       st.floats(min_value=0.0, max_value=1.0))
def test_discounted_returns_match_the_definition(rewards, gamma):
    G = F.discounted_returns(rewards, gamma)
    for t in range(len(rewards)):
        expected = sum(gamma ** k * r for k, r in enumerate(rewards[t:]))
        assert G[t] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("fn", [F.sequence_prob, F.sequence_logprob, F.sequence_prob_from_logprobs])
def test_a_sequence_of_no_tokens_is_refused_not_given_probability_one(fn):
    with pytest.raises(ValueError, match="at least one token"):
        fn([])
