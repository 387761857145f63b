"""Best-of-n: choosing, subset weights, the KL bound and its estimate (against known truths), tiny models."""

import itertools
import math

import numpy as np
import pytest
import torch

from rlhf_edu import best_of_n as bon
from rlhf_edu.evaluation import sample_rollout


def uniform_atoms_kl(k: int, m: int) -> float:
    """KL(best-of-k || base) when the base is m equally likely outcomes of distinct rewards."""
    i = np.arange(1, m + 1, dtype=np.float64)
    p = (i / m) ** k - ((i - 1) / m) ** k
    return float(np.sum(p * np.log(m * p)))


# --- choosing ----------------------------------------------------------------------------

def test_chosen_indices_take_the_best_of_the_first_k_and_the_first_of_ties():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.9,     # prompt 0: a tie at 0.9 -> row 1, the first
                           2.0, -1.0, 3.0, 0.0])   # prompt 1
    assert bon.chosen_indices(scores, 4).tolist() == [1, 6]
    assert bon.chosen_indices(scores, 4, k=1).tolist() == [0, 4]
    assert bon.chosen_indices(scores, 4, k=2).tolist() == [1, 4]
    assert bon.chosen_indices([1.0, 1.0, 1.0], 3).tolist() == [0]
    assert bon.chosen_indices(scores, 4).dtype == torch.long


def test_ks_are_the_powers_of_two_and_n_max():
    assert bon.ks(16) == [1, 2, 4, 8, 16]
    assert bon.ks(12) == [1, 2, 4, 8, 12]
    assert bon.ks(1) == [1]


def test_subset_weights_are_the_frequencies_over_every_k_subset():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.integers(0, 3, 6).astype(np.float64) for _ in range(3)])  # ties on purpose
    n = 6
    for k in range(1, n + 1):
        w = bon.subset_weights(scores, n, k)
        assert w.dtype == torch.float64
        assert w.view(-1, n).sum(1) == pytest.approx(np.ones(3))
        counts = np.zeros(len(scores))
        subsets = list(itertools.combinations(range(n), k))
        for g in range(3):
            for s in subsets:
                rows = g * n + np.array(s)
                counts[rows[np.argmax(scores[rows])]] += 1  # the same rule: best, first of ties
        assert w.numpy() == pytest.approx(counts / len(subsets))
    # k = n: all weight on the chosen row; k = 1: every row alike.
    assert torch.nonzero(bon.subset_weights(scores, n, n)).view(-1).tolist() == bon.chosen_indices(scores, n).tolist()
    assert bon.subset_weights(scores, n, 1).numpy() == pytest.approx(np.full(len(scores), 1 / n))


# --- the KL ------------------------------------------------------------------------------

def test_kl_bound_is_log_n_minus_n_minus_1_over_n():
    assert bon.kl_bound(1) == 0.0
    assert bon.kl_bound(2) == pytest.approx(math.log(2) - 0.5)
    assert bon.kl_bound(16) == pytest.approx(math.log(16) - 15 / 16)
    values = [bon.kl_bound(n) for n in bon.ks(64)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match="^n "):
        bon.kl_bound(0)


def test_kl_estimate_is_zero_for_equal_scores_and_for_k_1():
    assert bon.kl_estimate(torch.full((4 * 16,), 0.7), 16) == 0.0
    assert bon.kl_estimate(np.random.default_rng(1).normal(size=64), 16, k=1) == pytest.approx(0.0, abs=1e-15)


def test_kl_estimate_approaches_the_bound_for_continuous_scores():
    rng = np.random.default_rng(2)
    for k in (2, 4, 16):
        previous = 0.0
        for m in (k, 2 * k, 4 * k, 16 * k, 64 * k):
            est = bon.kl_estimate(rng.normal(size=5 * m), m, k)
            assert est == pytest.approx(uniform_atoms_kl(k, m))  # distinct scores: only the ranks count
            assert previous < est < bon.kl_bound(k)
            previous = est
        assert est == pytest.approx(bon.kl_bound(k), rel=2e-3)
    # The docstring's biases: at k = n 32 %, 7 %, 2 % low; at n = 4k under 3 % (under 1 % from k = 4).
    low = {k: 1 - uniform_atoms_kl(k, k) / bon.kl_bound(k) for k in (2, 4, 16)}
    assert [round(100 * low[k]) for k in (2, 4, 16)] == [32, 7, 2]
    assert 1 - uniform_atoms_kl(2, 8) / bon.kl_bound(2) < 0.03
    assert all(1 - uniform_atoms_kl(k, 4 * k) / bon.kl_bound(k) < 0.01 for k in (4, 8, 16, 32))


def test_kl_estimate_is_the_true_kl_when_outcomes_share_a_reward():
    # Three outcomes, two sharing reward 1: p = (0.5, 0.3, 0.2). Ten samples hold the exact distribution
    # of the reward (0 half the time), so the estimate is the exact KL, checked by simulating best-of-4
    # over the outcomes with the same rule (best reward, first of ties).
    p = np.array([0.5, 0.3, 0.2])
    reward = np.array([0.0, 1.0, 1.0])
    k, N = 4, 400_000
    draws = np.random.default_rng(3).choice(3, size=(N, k), p=p)
    chosen = draws[np.arange(N), np.argmax(reward[draws], axis=1)]
    freq = np.bincount(chosen, minlength=3) / N
    simulated = float(np.sum(freq * np.log(freq / p)))
    exact = bon.kl_estimate([0.0] * 5 + [1.0] * 5, 10, k)
    by_hand = 0.5 ** 4 * math.log(0.5 ** 3) + (1 - 0.5 ** 4) * math.log((1 - 0.5 ** 4) / 0.5)
    assert exact == pytest.approx(by_hand)
    assert exact == pytest.approx(simulated, abs=2e-3)
    assert exact < bon.kl_bound(k) - 0.15  # 0.459 against 0.636


def test_kl_estimate_with_few_distinct_values_is_below_the_bound_and_near_the_truth():
    rng = np.random.default_rng(4)
    values, probs = np.array([-1.0, 0.0, 2.0]), np.array([0.2, 0.5, 0.3])
    F = np.cumsum(probs)
    for k in (2, 4, 8):
        p_bon = F ** k - (F - probs) ** k
        truth = float(np.sum(p_bon * np.log(p_bon / probs)))
        est = bon.kl_estimate(rng.choice(values, size=8 * 2000, p=probs), 2000, k)
        assert est == pytest.approx(truth, rel=0.05)
        assert est < bon.kl_bound(k) and truth < bon.kl_bound(k) - 0.03


def test_cost_is_prompts_times_n():
    assert bon.cost(48, 16) == 768
    assert bon.cost(0, 4) == 0
    with pytest.raises(ValueError, match="n_prompts"):
        bon.cost(3, 0)


@pytest.mark.parametrize("call,name", [
    (lambda: bon.chosen_indices([1.0, 2.0, 3.0], 2), "scores"),
    (lambda: bon.chosen_indices([], 2), "scores"),
    (lambda: bon.chosen_indices([1.0, float("nan")], 2), "scores"),
    (lambda: bon.chosen_indices([1.0, 2.0], 2, k=3), "k"),
    (lambda: bon.chosen_indices([1.0, 2.0], 2, k=0), "k"),
    (lambda: bon.kl_estimate([1.0, 2.0, 3.0, 4.0], 0), "scores"),
    (lambda: bon.subset_weights([1.0, float("inf")], 2, 1), "scores"),
    (lambda: bon.ks(0), "n_max"),
])
def test_bad_input_raises_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()


# --- on the tiny models ---------------------------------------------------------------------

def test_best_of_n_on_tiny_models(tiny_policy, tiny_reward, tok, prompts):
    n = 8
    b = bon.sample_best_of_n(tiny_policy, tiny_reward, tok, prompts, n, max_new_tokens=6, seed=3)
    ro = b.rollout
    assert b.n_prompts == len(prompts) and len(ro.texts) == bon.cost(len(prompts), n)
    assert all(ro.texts[i * n + j].startswith(prompts[i]) for i in range(len(prompts)) for j in range(n))
    # One seeded batched rollout, the same one sample_rollout gives with the policy as reference.
    again = sample_rollout(tiny_policy, tiny_policy, tiny_reward, tok, prompts, 6, samples_per_prompt=n, seed=3)
    assert again.texts == ro.texts and torch.equal(again.scores, ro.scores)

    best = bon.chosen_rollout(b)
    assert len(best.texts) == len(prompts) and best.prompt_len == ro.prompt_len
    assert torch.equal(best.scores, ro.scores.view(-1, n).max(1).values)
    assert all(t.startswith(p) for t, p in zip(best.texts, prompts))
    idx = bon.chosen_indices(ro.scores, n)
    assert torch.equal(best.sequences, ro.sequences[idx]) and torch.equal(best.logprobs, ro.logprobs[idx])
    assert best.completions == [ro.completions[i] for i in idx.tolist()]
    assert torch.allclose(best.kl_k1, torch.zeros_like(best.kl_k1))  # reference = policy: no per-sample KL

    # The curve from the one rollout: best of the first k, nested, so never worse as k grows.
    means = [bon.chosen_rollout(b, k).scores.mean().item() for k in bon.ks(n)]
    assert means == sorted(means)
    assert bon.chosen_rollout(b, 1).texts == ro.texts[::n]
    assert 0.0 <= bon.kl_estimate(ro.scores, n, 4) <= bon.kl_bound(4)


def test_expected_best_of_k_is_the_subset_weighted_value():
    scores = [0.3, 0.9, 0.1, 0.5, 2.0, 1.0]  # two prompts of n = 3
    values = [1.0, 10.0, 100.0, 1.0, 2.0, 3.0]
    got = bon.expected_best_of_k(scores, values, 3, 2)
    # pairs (0,1) (0,2) (1,2): prompt 0 picks rows 1, 0, 1 -> (10 + 1 + 10) / 3; prompt 1 picks 1, 2, 1 -> 7 / 3
    assert got.tolist() == pytest.approx([7.0, 7.0 / 3.0])
    assert bon.expected_best_of_k(scores, values, 3, 1).tolist() == pytest.approx([37.0, 2.0])
