"""The graded exercises: every check passes the reference solution, fails known-wrong answers with
a relevant hint, never raises on a stub, and prints the same short report every time."""

import ast
import contextlib
import importlib.util
import inspect
import io
import json
import math
import pathlib
import time

import pytest
import torch
import torch.nn.functional as F

from rlhf_edu import exercises
from rlhf_edu.exercises import EXERCISES, check, for_notebook, notebook_cells, solutions
from rlhf_edu.exercises.__main__ import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMES = list(EXERCISES)


def run(name, fn):
    """Grade quietly; return (result, printed report)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = getattr(check, name)(fn)
    return result, out.getvalue()


# ---------------------------------------------------------------- coverage of the list


def test_every_notebook_01_to_12_has_its_exercises():
    wanted = {
        "01": {"sequence_logprob", "discounted_returns"},
        "02": {"bradley_terry_prob", "reward_model_loss"},
        "03": {"policy_gradient_loss"},
        "04": {"importance_ratio", "ppo_clip_objective"},
        "05": {"kl_k1", "kl_k3", "kl_penalised_reward"},
        "06": {"next_token_loss", "causal_attention_mask"},
        "07": {"sequence_reward"},
        "08": {"pg_loss"},
        "09": {"token_rewards", "gae", "whiten", "ppo_policy_loss", "ppo_value_loss", "leave_one_out"},
        "10": {"kl_regularised_objective", "optimal_policy"},
        "11": {"judge_agreement", "crossed_variance_of_mean"},
        "12": {"dpo_loss", "grpo_advantages", "best_of_n"},
    }
    assert exercises.NOTEBOOKS == tuple(wanted)
    for nb, names in wanted.items():
        got = {ex.name for ex in for_notebook(nb)}
        assert names <= got
        assert 2 <= len(got) <= 6, nb


def test_for_notebook_accepts_several_spellings():
    assert for_notebook("09") == for_notebook("9") == for_notebook(9) == for_notebook("09_rlhf_ppo")
    assert for_notebook("12") == for_notebook(12) == for_notebook("12_which_algorithm")
    with pytest.raises(ValueError):
        for_notebook("13")


def test_each_check_is_exposed_with_its_statement():
    assert set(exercises.STATEMENTS) == set(NAMES)
    for name, ex in EXERCISES.items():
        fn = getattr(check, name)
        assert fn.exercise is ex
        assert ex.statement in fn.__doc__
        assert ex.signature in fn.__doc__
        assert ex.statement.startswith("**")


# ---------------------------------------------------------------- solutions pass, bugs fail


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes(name):
    result, report = run(name, getattr(solutions, name))
    assert result.passed and result.status == "passed", report
    assert result.n_passed == result.n_cases >= 3
    assert report.count("✓") == result.n_cases + 1
    assert report.strip().endswith(f"✓ {name}: all {result.n_cases} cases pass")


def test_solutions_are_plain_tensor_code():
    # Written as a student would: they must not just call the package's own functions.
    tree = ast.parse(inspect.getsource(solutions))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert imported == {"torch"}
    assert set(NAMES) <= {n for n, f in vars(solutions).items() if inspect.isfunction(f)}


BUG_IDS = [(name, i) for name, ex in EXERCISES.items() for i in range(len(ex.bugs))]


@pytest.mark.parametrize("name,i", BUG_IDS, ids=[f"{n}-{i}" for n, i in BUG_IDS])
def test_known_bug_fails_with_its_own_hint(name, i):
    bug = EXERCISES[name].bugs[i]
    result, report = run(name, bug.fn)
    assert not result.passed and result.status == "failed", report
    assert result.hint == bug.hint
    assert f"  hint: {bug.hint}" in report
    assert "expected" in report and "inputs:" in report


def test_every_check_knows_at_least_three_bugs():
    assert all(len(ex.bugs) >= 3 for ex in EXERCISES.values())


# Wrong answers written independently of the checks' own bug list (the issue's examples among
# them), each with a word the hint must contain.


def _forward_returns_loop(rewards, gamma):
    out, running = torch.zeros_like(rewards), torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1]):
        running = rewards[..., t] + gamma * running
        out[..., t] = running
    return out


def _product_then_log(token_probs):
    prob = torch.ones_like(token_probs[..., 0])
    for p in token_probs.unbind(-1):
        prob = prob * p
    return torch.log(prob)


def _only_chosen_logit(logits, action):
    p = torch.softmax(logits, -1)
    g = torch.zeros_like(logits)
    rows = torch.arange(len(action))
    g[rows, action] = 1 - p[rows, action]
    return g


def _gae_ignoring_mask(rewards, values, mask, gamma=1.0, lam=0.95):
    adv = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    T = rewards.shape[1]
    for t in reversed(range(T)):
        nv = values[:, t + 1] if t + 1 < T else 0.0
        last = rewards[:, t] + gamma * nv - values[:, t] + gamma * lam * last
        adv[:, t] = last
    return adv * mask, (adv + values) * mask


def _gae_without_lambda(rewards, values, mask, gamma=1.0, lam=0.95):
    return solutions.gae(rewards, values, mask, gamma, 1.0)


def _whiten_over_pads(x, mask):
    centred = x - x.mean()
    return centred / torch.sqrt((centred**2).mean() + 1e-8) * mask


def _whiten_unbiased(x, mask):
    real = x[mask.bool()]
    return (x - real.mean()) / real.std() * mask


def _rewards_at_last_column(scores, logp, ref_logp, mask, beta):
    r = (-beta * (logp - ref_logp) * mask).clone()
    r[:, -1] = r[:, -1] + scores
    return r


def _kl_rewards_over_pads(scores, logp, ref_logp, mask, beta):
    r = -beta * (logp - ref_logp)
    last = (torch.arange(mask.shape[1]) * mask).argmax(1)
    r[torch.arange(len(scores)), last] += scores
    return r


def _objective_kl_by_log_ratio(policy_probs, ref_probs, rewards, beta):
    return (policy_probs * rewards).sum(-1) - beta * (policy_probs * (policy_probs / ref_probs).log()).sum(-1)


def _objective_summed_over_batch(policy_probs, ref_probs, rewards, beta):
    kl = torch.xlogy(policy_probs, policy_probs) - torch.xlogy(policy_probs, ref_probs)
    return (policy_probs * rewards).sum() - beta * kl.sum()


def _optimal_by_exp(ref_probs, rewards, beta):
    w = torch.exp(torch.log(ref_probs) + rewards / beta)
    return w / w.sum(-1, keepdim=True)


def _agreement_loops(rm_scores, judge_values, k, across_posts=False, tie_agrees=False):
    n = len(rm_scores)
    agree = pairs = 0
    for a in range(n):
        for b in range(n):
            if not across_posts and a // k != b // k:
                continue
            if judge_values[a] > judge_values[b]:
                pairs += 1
                agree += bool(rm_scores[a] >= rm_scores[b]) if tie_agrees else bool(rm_scores[a] > rm_scores[b])
    return agree / max(pairs, 1), pairs


def _agreement_no_guard(rm_scores, judge_values, k):
    s, v = rm_scores.view(-1, k), judge_values.view(-1, k)
    judged = v[:, :, None] > v[:, None, :]
    return (judged & (s[:, :, None] > s[:, None, :])).sum() / judged.sum(), judged.sum()


def _crossed_without_clip(values):
    S, P = values.shape
    seed_m, post_m, grand = values.mean(1), values.mean(0), values.mean()
    resid = values - seed_m[:, None] - post_m[None, :] + grand
    ms_noise = (resid**2).sum() / ((S - 1) * (P - 1))
    return (P * seed_m.var() + S * post_m.var() - ms_noise) / (S * P)


def _grpo_sample_std(scores, group_size, eps=1e-4):
    g = scores.view(-1, group_size)
    return ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + eps)).reshape(-1)


def _grpo_whole_batch(scores, group_size, eps=1e-4):
    return (scores - scores.mean()) / (scores.std(correction=0) + eps)


def _grpo_plain(scores, group_size, eps=1e-4):
    g = scores.view(-1, group_size)
    return ((g - g.mean(1, keepdim=True)) / (g.std(1, correction=0, keepdim=True) + eps)).reshape(-1)


def _bon_local_index(scores, n):
    return scores.view(-1, n).max(dim=1).indices, math.log(n) - (n - 1) / n


def _bon_log_n(scores, n):
    return solutions.best_of_n(scores, n)[0], math.log(n)


def _loo_with_self(scores, k):
    g = scores.reshape(-1, k)
    return (g - g.mean(dim=1, keepdim=True)).reshape(-1)


def _loo_whole_batch(scores, k):
    return scores - scores.mean()


def _pg_with_prompt(token_logp, prompt_len, response_mask, advantages):
    prompt = token_logp[:, : prompt_len - 1].sum(1)
    resp = (token_logp[:, prompt_len - 1 :] * response_mask).sum(1)
    return -(advantages.detach() * (prompt + resp)).mean()


def _pg_over_pads(token_logp, prompt_len, response_mask, advantages):
    return -(advantages.detach() * token_logp[:, prompt_len - 1 :].sum(1)).mean()


def _pg_not_detached(token_logp, prompt_len, response_mask, advantages):
    return -(advantages * (token_logp[:, prompt_len - 1 :] * response_mask).sum(1)).mean()


WRONG = {
    "sequence_logprob": [(_product_then_log, "underflow"), (lambda p: torch.log(p).sum(0), "last axis")],
    "discounted_returns": [
        (_forward_returns_loop, "backwards"),
        (lambda r, g: r.sum(-1, keepdim=True).expand_as(r).clone(), "gamma"),
    ],
    "bradley_terry_prob": [
        (lambda c, r: 1 - torch.sigmoid(c - r), "r_chosen - r_rejected"),
        (lambda c, r: torch.exp(c) / (torch.exp(c) + torch.exp(r)), "overflow"),
    ],
    "reward_model_loss": [
        (lambda c, r: torch.log(1 + torch.exp(r - c)), "logsigmoid"),
        (lambda c, r: F.softplus(c - r), "chosen reward is higher"),
        (lambda c, r: -torch.log(torch.sigmoid(c - r)), "logsigmoid"),
    ],
    "policy_gradient_loss": [
        (lambda lp, a: (lp * a).mean(), "minimises"),
        (lambda lp, a: -torch.mean(a * lp), "detach"),
    ],
    "grad_log_softmax": [
        (_only_chosen_logit, "every logit"),
        (lambda z, a: torch.softmax(z, -1) - F.one_hot(a, z.shape[-1]), "onehot(a) - softmax"),
    ],
    "importance_ratio": [
        (lambda n, o: torch.exp(n) / torch.exp(o), "underflow"),
        (lambda n, o: 1 / torch.exp(n - o), "new over old"),
    ],
    "ppo_clip_objective": [
        (lambda r, a, e: r.clamp(1 - e, 1 + e) * a, "min"),  # clip without the min
        (lambda r, a, e: torch.max(r * a, r.clamp(1 - e, 1 + e) * a), "min, not max"),
        (lambda r, a, e: torch.min(r * a, r.clamp(0.8, 1.2) * a), "epsilon"),
    ],
    "kl_k1": [(lambda lp, lr: torch.abs(lp - lr), "abs"), (lambda lp, lr: lr - lp, "first")],
    "kl_k3": [
        (lambda lp, lr: torch.exp(lp - lr) - 1 - (lp - lr), "rho = pi_ref / pi"),
        (lambda lp, lr: torch.exp(lr) / torch.exp(lp) - 1 - (lr - lp), "underflow"),
    ],
    "kl_penalised_reward": [
        (lambda s, lp, lr, m, b: s - b * torch.sum(lp - lr, dim=1), "mask"),  # KL over pads
        (lambda s, lp, lr, m, b: s - b * ((lp - lr) * m).mean(1), "3.42"),
    ],
    "next_token_loss": [
        (lambda z, y, m: (F.cross_entropy(z.transpose(1, 2), y, reduction="none") * m).sum() / m.sum(), "t + 1"),
        (lambda z, y, m: F.cross_entropy(z[:, :-1].reshape(-1, z.shape[-1]), y[:, 1:].reshape(-1)), "counted targets"),
    ],
    "causal_attention_mask": [
        (lambda m: torch.tril(torch.ones(m.shape[1], m.shape[1])).bool().repeat(m.shape[0], 1, 1), "pads"),
        (lambda m: torch.tril(torch.ones(m.shape[1], m.shape[1])).bool() & m.bool()[:, None, :], "itself"),
    ],
    "position_ids": [
        (lambda m: torch.arange(m.shape[1]).repeat(m.shape[0], 1), "real tokens only"),
        (lambda m: m.cumsum(-1) - 1, "clamp"),
    ],
    "sequence_reward": [
        (lambda v, m: v[:, -1], "last real token"),  # the reward read at a pad
        (lambda v, m: v.gather(1, (m.sum(1) - 1).unsqueeze(1)).squeeze(1), "right padding"),
    ],
    "reward_model_batch_loss": [
        (lambda v, m: -F.logsigmoid(v[: len(v) // 2, -1] - v[len(v) // 2 :, -1]).mean(), "last real token"),
        (
            lambda v, m: (
                -F.logsigmoid(solutions.sequence_reward(v, m)[::2] - solutions.sequence_reward(v, m)[1::2]).mean()
            ),
            "rows [0, n)",
        ),
    ],
    "sequence_advantages": [
        (lambda r: r / r.std(), "baseline"),
        (lambda r: (r - r.mean()) / r.std(correction=0).clamp(min=1e-6), "n - 1"),
    ],
    "pg_loss": [(_pg_with_prompt, "prompt"), (_pg_over_pads, "pads"), (_pg_not_detached, "detach")],
    "token_rewards": [
        (_rewards_at_last_column, "last real token"),  # the score added at a pad
        (_kl_rewards_over_pads, "pads get 0"),
    ],
    "gae": [(_gae_ignoring_mask, "bootstrap"), (_gae_without_lambda, "lambda")],
    "whiten": [
        (_whiten_over_pads, "real tokens only"),  # advantages whitened over pads
        (_whiten_unbiased, "count"),
    ],
    "ppo_policy_loss": [
        (lambda n, o, a, m, e: -((torch.exp(n - o).clamp(1 - e, 1 + e) * a) * m).sum() / m.sum(), "min"),
        (
            lambda n, o, a, m, e: -torch.min(torch.exp(n - o) * a, torch.exp(n - o).clamp(1 - e, 1 + e) * a).mean(),
            "real tokens only",
        ),
    ],
    "ppo_value_loss": [
        (
            lambda v, vo, r, m, e: (
                0.5 * (torch.min((v - r) ** 2, (vo + (v - vo).clamp(-e, e) - r) ** 2) * m).sum() / m.sum()
            ),
            "max",
        ),
        (lambda v, vo, r, m, e: 0.5 * (((v - r) ** 2) * m).sum() / m.sum(), "clip the new value"),
    ],
    "leave_one_out": [
        (_loo_with_self, "leave the sample out"),  # a baseline that includes the sample
        (_loo_whole_batch, "own prompt"),
    ],
    "kl_regularised_objective": [
        (_objective_kl_by_log_ratio, "0 log 0"),
        (lambda pi, ref, r, b: (pi * r).sum(-1) - b * (ref * (ref / pi.clamp(min=1e-12)).log()).sum(-1), "policy's answers"),
        (_objective_summed_over_batch, "last axis"),
    ],
    "optimal_policy": [
        (_optimal_by_exp, "overflow"),
        (lambda ref, r, b: torch.softmax(torch.log(ref) - r / b, -1), "exp(r / beta)"),
        (lambda ref, r, b: torch.softmax(r / b, -1), "pi_ref"),
    ],
    "judge_agreement": [
        (lambda s, v, k: _agreement_loops(s, v, k, across_posts=True), "same post"),
        (lambda s, v, k: _agreement_loops(s, v, k, tie_agrees=True), "tie"),
        (_agreement_no_guard, "0 / 0"),
    ],
    "crossed_variance_of_mean": [
        (lambda v: v.flatten().var() / v.numel(), "not independent"),
        (lambda v: v.mean(1).std() ** 2 / v.shape[0], "posts' part"),
        (_crossed_without_clip, "clip"),
    ],
    "dpo_loss": [
        (lambda pc, pr, rc, rr, b: torch.log(1 + torch.exp(-b * ((pc - rc) - (pr - rr)))), "logsigmoid"),
        (lambda pc, pr, rc, rr, b: -F.logsigmoid(b * ((pr - rr) - (pc - rc))), "chosen answer should win"),
        (lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - pr)), "reference"),
    ],
    "grpo_advantages": [
        (_grpo_sample_std, "population std"),
        (_grpo_whole_batch, "own group"),
        (_grpo_plain, "0 / 0"),
    ],
    "best_of_n": [
        (lambda s, n: (s.argmax(), math.log(n) - (n - 1) / n), "per prompt"),
        (_bon_local_index, "row"),
        (_bon_log_n, "log n - (n - 1) / n"),
    ],
}
WRONG_IDS = [(name, i) for name, fns in WRONG.items() for i in range(len(fns))]


def test_every_check_gets_independent_wrong_answers():
    assert set(WRONG) == set(NAMES)
    assert all(len(v) >= 2 for v in WRONG.values())


@pytest.mark.parametrize("name,i", WRONG_IDS, ids=[f"{n}-{i}" for n, i in WRONG_IDS])
def test_independent_wrong_answer_fails_with_a_relevant_hint(name, i):
    fn, word = WRONG[name][i]
    result, report = run(name, fn)
    assert result.status == "failed", report
    assert word in result.hint, report


# Right answers written differently from the solutions: a check must not demand one way of writing it.


def _clip_by_sign(r, a, e):
    return torch.where(a >= 0, r.clamp(max=1 + e), r.clamp(min=1 - e)) * a


def _gae_vectorised(rewards, values, mask, gamma=1.0, lam=0.95):
    v = values * mask
    next_v = torch.cat([v[:, 1:], torch.zeros_like(v[:, :1])], 1)
    deltas = (rewards + gamma * next_v - v) * mask
    adv = torch.zeros_like(deltas)
    acc = torch.zeros_like(deltas[:, 0])
    for t in range(deltas.shape[1] - 1, -1, -1):
        acc = deltas[:, t] + gamma * lam * acc * mask[:, t]
        adv[:, t] = acc
    adv = adv * mask
    return adv, (adv + v) * mask


def _whiten_masked_select(x, mask):
    real = torch.masked_select(x, mask.bool())
    mean, var = real.mean(), real.var(unbiased=False)
    return torch.where(mask.bool(), (x - mean) / (var + 1e-8).sqrt(), torch.zeros_like(x))


def _last_real_by_flip(values, attention_mask):
    T = attention_mask.shape[1]
    last = T - 1 - attention_mask.flip(1).argmax(1)
    return values.gather(1, last[:, None]).squeeze(1)


def _causal_from_loops(attention_mask):
    B, T = attention_mask.shape
    out = torch.zeros(B, T, T, dtype=torch.bool)
    for b in range(B):
        for q in range(T):
            for k in range(T):
                out[b, q, k] = (k <= q and attention_mask[b, k] == 1) or k == q
    return out


def _objective_where(policy_probs, ref_probs, rewards, beta):
    terms = torch.where(policy_probs > 0, policy_probs * torch.log(policy_probs / ref_probs), torch.zeros_like(policy_probs))
    return (policy_probs * rewards - beta * terms).sum(-1)


def _optimal_shifted(ref_probs, rewards, beta):
    x = torch.log(ref_probs) + rewards / beta
    w = torch.exp(x - x.max(-1, keepdim=True).values)
    return w / w.sum(-1, keepdim=True)


def _grpo_loops(scores, group_size, eps=1e-4):
    out = []
    for group in scores.split(group_size):
        mean = group.mean()
        std = ((group - mean) ** 2).mean().sqrt()
        out.append(torch.zeros_like(group) if std == 0 else (group - mean) / (std + eps))
    return torch.cat(out)


def _crossed_by_var(values):
    S, P = values.shape
    seed_m, post_m = values.mean(1), values.mean(0)
    resid = values - seed_m[:, None] - post_m[None, :] + values.mean()
    ms_noise = (resid**2).sum() / ((S - 1) * (P - 1))
    return (P * seed_m.var() + max(S * post_m.var() - ms_noise, 0)) / (S * P)


def _best_of_n_by_max(scores, n):
    best = scores.reshape(-1, n).max(dim=1).indices
    return best + n * torch.arange(len(best)), math.log(n) - 1 + 1 / n


ALTERNATIVES = {
    "kl_regularised_objective": _objective_where,
    "optimal_policy": _optimal_shifted,
    "judge_agreement": _agreement_loops,
    "crossed_variance_of_mean": _crossed_by_var,
    "dpo_loss": lambda pc, pr, rc, rr, b: F.softplus(-b * ((pc - rc) - (pr - rr))),
    "grpo_advantages": _grpo_loops,
    "best_of_n": _best_of_n_by_max,
    "ppo_clip_objective": _clip_by_sign,
    "gae": _gae_vectorised,
    "whiten": _whiten_masked_select,
    "sequence_reward": _last_real_by_flip,
    "causal_attention_mask": _causal_from_loops,
    "bradley_terry_prob": lambda c, r: 1 / (1 + torch.exp(-(c - r))),
    "reward_model_loss": lambda c, r: F.softplus(r - c),
    "next_token_loss": lambda z, y, m: (
        (F.cross_entropy(z[:, :-1].transpose(1, 2), y[:, 1:], reduction="none") * m[:, 1:]).sum() / m[:, 1:].sum()
    ),
    "sequence_logprob": lambda p: p.log().sum(-1, keepdim=True).squeeze(-1).float(),  # float32 is fine too
    "importance_ratio": lambda n, o: (n - o).exp(),
}


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_other_correct_answers_pass(name):
    result, report = run(name, ALTERNATIVES[name])
    assert result.passed, report


# ---------------------------------------------------------------- the references are the package's


def test_causal_reference_is_the_mask_the_model_attends_with(monkeypatch):
    # The model builds its mask inside forward; the check restates the rule, and this proves they agree.
    from rlhf_edu.exercises.inputs import tiny_gpt
    from rlhf_edu.exercises.nb06_08 import causal_reference

    seen, real = [], F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        seen.append(attn_mask)
        return real(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    mask = torch.tensor([[0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1], [0, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        tiny_gpt(0)(torch.randint(0, 13, (3, 6)), attention_mask=mask)
    assert seen and seen[0].dtype == torch.bool
    assert torch.equal(seen[0][:, 0], causal_reference(mask))


def test_gae_reference_agrees_with_the_textbook_loop():
    from rlhf_edu.ppo import gae_loop

    for case in EXERCISES["gae"].cases():
        r, v, m, gamma, lam = case.inputs.values()
        for got, want in zip(case.expected, gae_loop(r, v, m, gamma, lam)):
            assert torch.allclose(got, want)


def test_optimal_policy_reference_maximises_the_kl_regularised_objective():
    # The formula is stated, not run, by the package (the dpo module's docstring): prove it is the maximiser.
    from rlhf_edu import formulas
    from rlhf_edu.exercises.nb10_12 import optimal_policy_ref

    g = torch.Generator().manual_seed(0)
    for case in EXERCISES["optimal_policy"].cases():
        ref, r, beta = case.inputs.values()
        if not (ref > 0).all():
            continue  # exact_kl needs pi_ref > 0
        best = optimal_policy_ref(ref, r, beta)
        assert torch.equal(best, case.expected)
        objective = (best * r).sum(-1) - beta * formulas.exact_kl(best, ref)
        # its value is beta log Z, Z = sum pi_ref exp(r / beta)
        assert torch.allclose(objective, beta * torch.logsumexp(ref.log() + r / beta, -1), rtol=1e-9, atol=1e-9)
        for _ in range(5):
            other = 0.7 * best + 0.3 * torch.softmax(torch.randn(ref.shape, generator=g, dtype=ref.dtype), -1)
            assert ((other * r).sum(-1) - beta * formulas.exact_kl(other, ref) <= objective + 1e-9).all()


def test_judge_agreement_reference_counts_as_the_package(monkeypatch):
    # tldr.evaluation.rm_judge_agreement counts inside a sampling loop: feed it fixed summaries and scores.
    from types import SimpleNamespace

    from rlhf_edu.exercises.nb10_12 import judge_agreement_ref
    from rlhf_edu.tldr import comparisons, evaluation, judge, posts

    sampled = posts.generate_posts(8, seed=5)
    texts = []
    for i, post in enumerate(sampled):  # 4 summaries a post: 2 full ones, one missing a fact, one inventing
        for c in comparisons.comparison_pairs([post], 2, seed=i, reasons=("missing_fact", "hallucination")):
            texts += [c.chosen, c.rejected]
    scores = (torch.randn(len(texts), generator=torch.Generator().manual_seed(1)) * 2).round()  # with ties
    fake = SimpleNamespace(scores=scores, completions=texts)
    monkeypatch.setattr(evaluation, "collect_rollout", lambda *a, **kw: fake)
    got = evaluation.rm_judge_agreement(None, None, None, sampled, samples_per_post=4)
    values = torch.tensor([judge.fact_coverage(p, t) - judge.hallucination(p, t)
                           for j, p in enumerate(sampled) for t in texts[4 * j: 4 * j + 4]], dtype=torch.float64)
    agreement, pairs = judge_agreement_ref(scores, values, 4)
    assert 0 < pairs < 8 * 6  # some judge ties, some pairs
    assert (agreement, pairs) == (got["agreement"], got["pairs"])


def test_best_of_n_figure_bounds_the_exact_kl():
    # Beirami et al. (2024): log n - (n - 1) / n bounds KL(best-of-n || pi_ref), exact only as the answers
    # become continuous. On K distinct-reward answers (sorted by reward), best-of-n picks answer i with
    # probability F_i^n - F_{i-1}^n, F the cumulative reference probability.
    from rlhf_edu import formulas
    from rlhf_edu.exercises.nb10_12 import best_of_n_ref

    for K, n in ((5, 2), (5, 8), (1000, 4)):
        ref = torch.softmax(torch.randn(K, generator=torch.Generator().manual_seed(K), dtype=torch.float64), -1)
        cdf = ref.cumsum(0).clamp(max=1.0)
        bon = cdf**n - torch.cat([torch.zeros(1, dtype=torch.float64), cdf[:-1]]) ** n
        kl = formulas.exact_kl(bon / bon.sum(), ref).item()
        bound = best_of_n_ref(torch.zeros(n, dtype=torch.float64), n)[1]
        assert kl <= bound + 1e-12
        if K == 1000:
            assert kl > 0.95 * bound  # near-continuous: the bound is nearly tight


# ---------------------------------------------------------------- never raises; readable, stable output


@pytest.mark.parametrize("name", NAMES)
def test_stub_is_reported_as_not_done_and_never_raises(name):
    namespace = {"torch": torch}
    exec(EXERCISES[name].stub(), namespace)
    result, report = run(name, namespace[name])
    assert not result.passed and result.status == "not done"
    assert report == f"not done yet: {name} still raises NotImplementedError\n"


def test_other_failures_are_reported_not_raised():
    result, report = run("gae", lambda *a: 1 / 0)
    assert result.status == "failed" and "raised ZeroDivisionError: division by zero" in report
    result, report = run("whiten", lambda x, m: None)
    assert result.status == "failed" and "forget to return" in report
    result, report = run("whiten", None)
    assert result.status == "not done" and "check.whiten(whiten)" in report
    result, report = run("leave_one_out", lambda s, k: "nonsense")
    assert result.status == "failed" and "expected a tensor" in report
    result, report = run("gae", lambda r, v, m, g=1.0, l=0.95: solutions.gae(r, v, m, g, l)[0])
    assert result.status == "failed" and "expected a tuple of 2 values (advantages, returns)" in report


def test_changing_an_input_in_place_is_caught():
    def in_place(scores, logp, ref_logp, mask, beta):
        logp -= ref_logp  # the caller's logp is gone
        return solutions.token_rewards(scores, logp + ref_logp, ref_logp, mask, beta)

    result, report = run("token_rewards", in_place)
    assert result.status == "failed" and "changed its input `logp` in place" in report


def test_failure_shows_the_case_and_keeps_it_for_inspection():
    result, report = run("reward_model_loss", lambda c, r: -torch.log(torch.sigmoid(c - r)))
    assert result.case == "a gap of -1000 (the model badly wrong)"
    assert result.inputs["r_rejected"].item() == 1000.0
    assert result.expected.item() == 1000.0 and result.got.item() == float("inf")
    lines = report.splitlines()
    assert lines[0] == "reward_model_loss:"
    assert lines[4] == "✗ case 4 of 6: a gap of -1000 (the model badly wrong)"
    assert "  expected: 1000" in lines and "  got:      inf" in lines
    assert lines[-1] == "reward_model_loss: 3 of 6 cases pass; fix the failing case and run this cell again"


@pytest.mark.parametrize("name", NAMES)
def test_reports_are_deterministic_and_short(name):
    for fn in (getattr(solutions, name), EXERCISES[name].bugs[0].fn):
        first, second = run(name, fn)[1], run(name, fn)[1]
        assert first == second
        assert all(len(line) < 200 for line in first.splitlines())


def test_a_check_leaves_the_random_state_and_threads_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    run("pg_loss", solutions.pg_loss)
    run("gae", EXERCISES["gae"].bugs[0].fn)
    assert torch.equal(torch.rand(3), want)
    assert torch.get_num_threads() == threads


def test_checks_are_fast():
    # They run inside the notebooks in CI: each must take well under half a second.
    for name in NAMES:
        fn = getattr(solutions, name)
        best = min(_timed(name, fn) for _ in range(2))
        assert best < 0.5, f"{name} took {best:.2f} s"


def _timed(name, fn):
    t0 = time.perf_counter()
    run(name, fn)
    return time.perf_counter() - t0


def test_result_object_is_small_and_silent_in_a_notebook():
    result, _ = run("kl_k1", solutions.kl_k1)
    assert bool(result) and repr(result) == "Result(kl_k1: passed, 4/4 cases)"
    assert result._ipython_display_() is None  # the printed report is the only output


# ---------------------------------------------------------------- the notebook cells


def _parse_percent():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.parse_percent


@pytest.mark.parametrize("nb", exercises.NOTEBOOKS)
def test_notebook_cells_run_with_stubs_and_with_solutions(nb):
    cells = _parse_percent()(notebook_cells(nb)).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("## Exercises")
    code = [c.source for c in cells if c.cell_type == "code"]
    names = [ex.name for ex in for_notebook(nb)]
    assert code[0] == "from rlhf_edu.exercises import check"
    assert code[1:] == [x for n in names for x in (EXERCISES[n].stub(), f"check.{n}({n})")]

    # As committed: stubs left in, every check cell prints "not done yet" and nothing raises.
    namespace, out = {"torch": torch}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for src in code:
            exec(src, namespace)
    assert out.getvalue() == "".join(f"not done yet: {n} still raises NotImplementedError\n" for n in names)

    # Filled in with the solutions: every check passes.
    namespace, out = {"torch": torch}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for src in code:
            name = src[4 : src.index("(")] if src.startswith("def ") else None
            exec(inspect.getsource(getattr(solutions, name)) if name else src, namespace)
    assert out.getvalue().count(": all ") == len(names), out.getvalue()


# ---------------------------------------------------------------- grading from the command line


def _cli(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(argv)
    return code, out.getvalue()


def test_cli_grades_the_solutions():
    code, out = _cli(["--solutions", "--quiet"])
    assert code == 0 and f"{len(NAMES)} of {len(NAMES)} exercises pass" in out


def test_cli_grades_a_module_of_answers(tmp_path):
    answers = tmp_path / "answers.py"
    answers.write_text(
        "import torch\n\n"
        + inspect.getsource(solutions.kl_k1)
        + "\n\ndef kl_k3(logp, logp_ref):\n    return logp - logp_ref\n"
    )
    code, out = _cli([str(answers), "--notebook", "05", "--quiet"])
    assert code == 1
    assert "1 of 3 exercises pass" in out
    assert "  ✓ kl_k1" in out and "  ✗ kl_k3: case 1 of 6 fails" in out
    assert "  - kl_penalised_reward: not defined" in out


def test_cli_grades_a_students_notebook_without_running_its_training_cells(tmp_path):
    cells = []
    for src in ("%matplotlib inline\nimport torch", "raise RuntimeError('a training cell: must not run')"):
        cells.append({"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None})
    for ex in for_notebook("09"):
        src = inspect.getsource(getattr(solutions, ex.name)) if ex.name != "whiten" else ex.stub()
        cells.append(
            {
                "cell_type": "code",
                "source": src.splitlines(keepends=True),
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        )
        cells.append(
            {
                "cell_type": "code",
                "source": f"check.{ex.name}({ex.name})",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        )
    path = tmp_path / "09_rlhf_ppo.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    code, out = _cli([str(path), "--quiet"])
    assert code == 1  # whiten is still a stub
    assert "summary for" in out and "5 of 6 exercises pass" in out and "  · whiten: not done yet" in out
    assert "training cell" not in out


def test_cli_lists_the_exercises():
    code, out = _cli(["--list"])
    assert code == 0 and len(out.splitlines()) == len(NAMES)
    assert "09  gae(rewards, values, mask, gamma=1.0, lam=0.95)" in out
