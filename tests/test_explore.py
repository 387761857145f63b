"""The live widgets' compute functions (rlhf_edu/explore.py) and their wiring (widgets.py).

Tiny random models and a character tokenizer (from test_ppo): these tests check what each
explorer computes, not what a trained model says.
"""

import math

import ipywidgets as W
import pytest
import torch
from matplotlib.figure import Figure
from test_ppo import tiny_cfg
from tiny import PROMPTS, TOK, tiny

from rlhf_edu import examples as E
from rlhf_edu import explore as X
from rlhf_edu import formulas as F
from rlhf_edu import widgets
from rlhf_edu.evaluation import sample_rollout
from rlhf_edu.model import frozen_copy, response_logprobs
from rlhf_edu.reward_model import RewardModel
from rlhf_edu.sentiment.judge import vader_compound  # the task's judge, passed in as the notebooks do


def _short_lines(text):
    return all(len(line) < 200 for line in text.splitlines())


# ---------------------------------------------------------------- 05: KL estimators

def test_tilted_policy_runs_from_the_reference_to_the_worked_example():
    assert X.tilted_policy(0.0).tolist() == pytest.approx(E.KL_REF)
    assert X.tilted_policy(1.0).tolist() == pytest.approx(E.KL_PI)
    assert X.tilted_policy(3.0).sum().item() == pytest.approx(1.0)


def test_kl_spread_matches_the_worked_example_and_is_unbiased():
    r = X.kl_estimator_spread(1.0, n_samples=50, repeats=2000, seed=0)
    t = E.worked_examples()["truth_k1_negative"]
    assert r["exact"] == pytest.approx(t["exact_kl"]) == pytest.approx(F.exact_kl(E.KL_PI, E.KL_REF))
    pi = torch.tensor(E.KL_PI, dtype=torch.float64)
    for name in ("k1", "k3"):
        k = torch.tensor(t[name], dtype=torch.float64)
        assert r[f"std_{name}"] == pytest.approx((pi * (k - t["exact_kl"]) ** 2).sum().sqrt().item())
        est = r[f"est_{name}"]
        # both unbiased, and the spread of an n-token average is the per-token std / sqrt(n)
        assert est.mean().item() == pytest.approx(r["exact"], abs=4 * r[f"std_{name}"] / math.sqrt(50 * 2000))
        assert est.std().item() == pytest.approx(r[f"std_{name}"] / math.sqrt(50), rel=0.1)
    assert (r["est_k3"] >= 0).all()


def test_kl_spread_negative_k1_and_the_crossover_of_the_noise():
    one = X.kl_estimator_spread(1.0, n_samples=1)
    assert 0.2 < one["negative_k1"] < 0.5  # 'good' and 'fine' give k1 < 0: probability 0.4
    assert one["std_k3"] < one["std_k1"] / 4  # close to pi_ref, k3 is far less noisy
    far = X.kl_estimator_spread(3.0, n_samples=1)
    assert far["std_k3"] > far["std_k1"]  # far from it, rho's tail makes k3 the noisier one
    same = X.kl_estimator_spread(0.0, n_samples=5)
    assert same["exact"] == 0 and (same["est_k1"] == 0).all() and (same["est_k3"] == 0).all()


def test_kl_token_std_agrees_with_the_sampled_function():
    s1, s3, kl = X.kl_token_std([0.5, 2.0])
    for i, d in enumerate((0.5, 2.0)):
        r = X.kl_estimator_spread(d, 1, repeats=2)
        assert (s1[i].item(), s3[i].item(), kl[i].item()) == pytest.approx((r["std_k1"], r["std_k3"], r["exact"]))


def test_kl_spread_is_seeded_and_reads():
    a, b = X.kl_estimator_spread(1.0, 10, seed=3), X.kl_estimator_spread(1.0, 10, seed=3)
    assert torch.equal(a["est_k1"], b["est_k1"])
    text = X.kl_spread_text(a)
    assert "exact KL = 0.0877" in text and _short_lines(text)
    assert len(X.plot_kl_spread(a).axes) == 2
    with pytest.raises(ValueError):
        X.kl_estimator_spread(1.0, 0)


# ---------------------------------------------------------------- 06: generation

def test_generation_uses_one_seed_for_every_model():
    m = tiny()
    r = X.explore_generation({"a": m, "b": frozen_copy(m)}, TOK, "the cat", n_samples=3, max_new_tokens=8, seed=4)
    assert r["samples"]["a"] == r["samples"]["b"] and len(r["samples"]["a"]) == 3
    again = X.explore_generation({"a": m}, TOK, "the cat", n_samples=3, max_new_tokens=8, seed=4)
    assert again["samples"]["a"] == r["samples"]["a"]


def test_generation_token_probabilities():
    m = tiny()
    r = X.explore_generation({"m": m}, TOK, "hello", temperature=0.7, n_samples=2, max_new_tokens=8, seed=1)
    first = r["samples"]["m"][0]
    shown = "".join(tok.strip("'") for tok, _, _ in r["tokens"] if tok != "<eos>")
    assert shown == first
    # "model" probabilities are temperature 1 and unfiltered; the drawn ones used T = 0.7
    ids = torch.tensor([TOK.encode("hello" + first)])
    logp = response_logprobs(m, ids, torch.ones_like(ids), len("hello"))[0].exp().tolist()
    assert [p for _, _, p in r["tokens"][:len(first)]] == pytest.approx(logp, rel=1e-4)
    assert [p for _, p, _ in r["tokens"]] != pytest.approx([p for _, _, p in r["tokens"]])


def test_generation_top_k_one_is_greedy():
    r = X.explore_generation({"m": tiny()}, TOK, "good day", top_k=1, n_samples=3, max_new_tokens=6)
    assert len(set(r["samples"]["m"])) == 1
    assert all(p_draw == pytest.approx(1.0) for _, p_draw, _ in r["tokens"])
    nucleus = X.explore_generation({"m": tiny()}, TOK, "good day", top_p=1e-6, n_samples=3, max_new_tokens=6)
    assert nucleus["samples"]["m"] == r["samples"]["m"]  # top-p keeps at least the top token


def test_generation_handles_empty_and_long_prompts():
    m = tiny()  # block_size 32
    empty = X.explore_generation({"m": m}, TOK, "", n_samples=1, max_new_tokens=8)
    long = X.explore_generation({"m": m}, TOK, "a" * 100, n_samples=1, max_new_tokens=8)
    assert len(empty["samples"]["m"]) == len(long["samples"]["m"]) == 1
    text = X.generation_text(long)
    assert _short_lines(text) and "top-k off" in text


# ---------------------------------------------------------------- 07: reward model

def test_reward_by_prefix_scores_every_prefix_like_score_texts():
    rm = RewardModel(tiny(seed=1))
    r = X.reward_by_prefix(rm, TOK, "a good day", judge=vader_compound)
    assert len(r["tokens"]) == len(r["prefix_scores"]) == len(r["prefix_vader"]) == len("a good day")
    expected = rm.score_texts(TOK, ["a good day"[:i + 1] for i in range(len("a good day"))]).tolist()
    assert r["prefix_scores"] == pytest.approx(expected, abs=1e-5)
    assert r["score"] == pytest.approx(expected[-1], abs=1e-5)
    assert r["vader"] > 0.05 and r["prefix_vader"][-1] == pytest.approx(r["vader"])


def test_reward_text_and_plot():
    rm = RewardModel(tiny(seed=1))
    r = X.reward_by_prefix(rm, TOK, "i hate this", judge=vader_compound)
    text = X.reward_text(r)
    assert f"reward-model score: {r['score']:+.3f}" in text and "VADER compound:" in text
    assert "biggest move" in text and _short_lines(text)
    assert isinstance(X.plot_reward_by_prefix(r), Figure)
    empty = X.reward_by_prefix(rm, TOK, "", judge=vader_compound)
    assert empty["tokens"] == [] and math.isfinite(empty["score"]) and "biggest" not in X.reward_text(empty)


# ---------------------------------------------------------------- 09: one PPO step

@pytest.fixture(scope="module")
def batch():
    policy, rm = tiny(), RewardModel(tiny(seed=1))
    ref = frozen_copy(tiny(seed=2))  # a reference other than the policy: KL is not 0
    before = [p.clone() for p in policy.parameters()]
    rng = torch.get_rng_state()
    b = X.ppo_batch(policy, ref, rm, TOK, PROMPTS, tiny_cfg(max_new_tokens=8, lr=1e-2), batch_size=4)
    assert torch.equal(torch.get_rng_state(), rng)  # the notebook's random stream is left alone
    assert all(torch.equal(a, p) for a, p in zip(before, policy.parameters()))  # trained a copy
    return b, policy, ref


def test_ppo_batch_records_a_real_rollout_and_update(batch):
    b, policy, ref = batch
    assert len(b.texts) == 4 and b.cfg.iterations == 1 and b.cfg.minibatch_size == 4
    assert [len(t) for t in b.tokens] == b.mask.sum(1).long().tolist()
    ids = torch.tensor([TOK.encode(b.texts[0]) + ([TOK.eos_id] if b.tokens[0][-1] == "<eos>" else [])])
    prompt_len = ids.shape[1] - len(b.tokens[0])
    own = response_logprobs(policy, ids, torch.ones_like(ids), prompt_len)[0].detach()
    assert b.old_logprobs[0][: len(b.tokens[0])] == pytest.approx(own, abs=1e-5)
    moved = (b.new_logprobs - b.old_logprobs).abs()[b.mask.bool()]
    assert moved.max() > 1e-4  # the update changed the policy, so the ratio is not 1


def test_ppo_step_rewards_and_advantages(batch):
    b, _, _ = batch
    s = X.ppo_step(b, beta=0.2, whiten_advantages=False)
    kl = ((b.old_logprobs - b.ref_logprobs) * b.mask).sum(1)
    assert s["rewards"].sum(1) == pytest.approx(b.scores - 0.2 * kl, abs=1e-5)
    # V = 0: lambda = 0 makes the advantage the token's own reward; gamma and lambda act as a product
    assert torch.allclose(X.ppo_step(b, lam=0.0, beta=0.2, whiten_advantages=False)["advantages"], s["rewards"])
    a = X.ppo_step(b, gamma=0.5, lam=1.0, whiten_advantages=False)["advantages"]
    assert torch.allclose(a, X.ppo_step(b, gamma=1.0, lam=0.5, whiten_advantages=False)["advantages"])
    no_kl = X.ppo_step(b, beta=0.0)["rewards"]
    assert ((no_kl != 0).sum(1) <= 1).all()  # only the last real token is paid


def test_ppo_step_objective_and_the_clip(batch):
    b, _, _ = batch
    s = X.ppo_step(b, clip_eps=0.2)
    m = b.mask
    assert s["objective_mean"] == pytest.approx(((s["objective"] * m).sum() / m.sum()).item(), abs=1e-6)
    assert torch.allclose(s["objective"], torch.minimum(s["unclipped"], s["clipped"]) * m)
    fracs = [X.ppo_step(b, clip_eps=e)["picked_clipped_frac"] for e in (0.01, 0.1, 0.5, 0.99)]
    assert fracs == sorted(fracs, reverse=True) and fracs[0] > 0 and fracs[-1] == 0


def test_ppo_step_text(batch):
    b, _, _ = batch
    text = X.ppo_step_text(b, X.ppo_step(b, clip_eps=0.01), row=1)
    assert "<- clipped" in text and "= score - beta x KL" in text and _short_lines(text)
    assert len(text.splitlines()) == 5 + len(b.tokens[1])


# ---------------------------------------------------------------- 10: the beta sweep

ROWS = [{"beta": 0.0, "rm_score": 1.1, "judge_compound": 0.5, "kl_k1": 26.0, "distinct_2": 0.4},
        {"beta": 0.1, "rm_score": 0.8, "judge_compound": 0.4, "kl_k1": 13.0, "distinct_2": 0.6},
        {"beta": 0.3, "rm_score": 0.5, "judge_compound": 0.3, "kl_k1": 8.0, "distinct_2": 0.7}]


def test_beta_samples_are_seeded_and_scored():
    policy, rm = tiny(), RewardModel(tiny(seed=1))
    kw = dict(judge=vader_compound, seed=3, max_new_tokens=6)
    a = X.beta_samples(policy, frozen_copy(tiny(seed=2)), rm, TOK, PROMPTS, **kw)
    b = X.beta_samples(policy, frozen_copy(tiny(seed=2)), rm, TOK, PROMPTS, **kw)
    assert a == b and len(a) == len(PROMPTS)
    ro = sample_rollout(policy, frozen_copy(tiny(seed=2)), rm, TOK, PROMPTS, 6, seed=3)
    assert [s["text"] for s in a] == ro.texts and [s["rm_score"] for s in a] == pytest.approx(ro.scores.tolist())
    same = X.beta_samples(policy, frozen_copy(policy), rm, TOK, PROMPTS, judge=vader_compound, max_new_tokens=6)
    assert all(s["kl_k1"] == 0 for s in same)
    text = X.beta_text(ROWS, 0.1, a)
    assert "beta = 0.1: reward-model score +0.800" in text and _short_lines(text)


def test_plot_frontier_circles_the_chosen_beta():
    fig = X.plot_frontier(ROWS, 0.1)
    assert "β = 0.1 circled" in fig.axes[0].get_title()
    assert "circled" not in X.plot_frontier(ROWS).axes[0].get_title()


# ---------------------------------------------------------------- the widgets on top

def _changes(box, control, value):
    panel, image = box.children[-2], box.children[-1]
    before = (panel.value, image.value)
    control.value = value
    return (panel.value, image.value) != before


def test_kl_spread_widget():
    box = widgets.kl_spread_widget()
    assert box.children[-1].value[:8] == b"\x89PNG\r\n\x1a\n"
    assert _changes(box, box.children[1], 100)


def test_generation_widget():
    m = tiny()
    box = widgets.generation_widget({"pre": m, "sft": tiny(seed=3)}, TOK, prompt="the cat")
    assert isinstance(box.children[0], W.Text) and not box.children[0].continuous_update
    assert "sample 1 of sft" in box.children[-2].value
    assert _changes(box, box.children[0], "good day")
    assert _changes(box, box.children[-3], "pre")


def test_reward_playground():
    box = widgets.reward_playground(RewardModel(tiny(seed=1)), TOK, judge=vader_compound, text="a good day")
    assert "reward-model score" in box.children[1].value and box.children[2].value
    assert _changes(box, box.children[0], "i hate this")
    assert "i hate this" in box.children[1].value


def test_ppo_step_widget(batch):
    box = widgets.ppo_step_widget(batch[0])
    assert _changes(box, box.children[0], 0.05)   # epsilon
    assert _changes(box, box.children[3], 0.4)    # beta
    assert _changes(box, box.children[5], 2)      # row


def test_beta_widget():
    policies = {b["beta"]: tiny(seed=i) for i, b in enumerate(ROWS)}
    box = widgets.beta_widget(policies, ROWS, frozen_copy(tiny()), RewardModel(tiny(seed=1)), TOK, PROMPTS[:2],
                              judge=vader_compound, beta=0.1)
    assert "beta = 0.1:" in box.children[2].value
    assert _changes(box, box.children[0], 0.3)
    assert "beta = 0.3:" in box.children[2].value
