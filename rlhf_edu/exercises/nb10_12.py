"""The checks of notebooks 10-12: the KL-regularised objective and its optimum, the reward model against
the judge, the variance of a mean over seeds x posts, DPO's and GRPO's losses, best-of-n.

Expected outputs come from the package where it has the function: ``formulas.exact_kl`` (the objective),
``stats.variance_of_mean`` (the crossed design), ``dpo.dpo_loss`` and ``grpo.group_advantages``. Three
references are restated here, each from a formula the package only writes down or runs inside a loop:
the optimal policy (``dpo``'s docstring; ``tests/test_exercises.py`` proves it maximises the objective),
the judge agreement (``tldr.evaluation.rm_judge_agreement``'s counting; the tests prove they agree) and
best-of-n (no package code: its KL figure is the one Beirami et al., 2024, bound).
"""

from __future__ import annotations

import math

import torch

from .. import formulas as F
from ..dpo import dpo_loss as _pkg_dpo_loss
from ..grpo import group_advantages as _pkg_group_advantages
from ..stats import variance_of_mean as _pkg_variance_of_mean
from .grading import Bug, Case, exercise, table
from .inputs import F64, generator, randn, tensor, uniform

# ---------------------------------------------------------------- notebook 10


def _probs(shape, g, scale=1.0):
    return torch.softmax(randn(shape, g, scale), -1)


def _objective_ref(pi, ref, r, beta):
    return (pi * r).sum(-1) - beta * F.exact_kl(pi, ref)


def _kl_naive(pi, ref):
    return (pi * torch.log(pi / ref)).sum(-1)


@exercise(
    "10", "policy_probs, ref_probs, rewards, beta",
    "policy_probs, ref_probs, rewards: (..., K) over K answers, beta: float -> (...,) objective",
    r"""
**The KL-regularised objective.** Every run of the β sweep maximises the same objective, each with its
own β: the expected reward minus β times the KL to the reference. On a small set of $K$ answers (the
last axis) it can be computed exactly. Write `kl_regularised_objective(policy_probs, ref_probs, rewards, beta)`:
$J(\pi) = \sum_y \pi(y)\,r(y) - \beta \sum_y \pi(y) \log\frac{\pi(y)}{\pi_{\text{ref}}(y)}$, with
$0 \log 0 = 0$ (an answer the policy never gives adds nothing to the KL). β is the exchange rate between
reward and drift: a hacked policy buys its reward with a KL that a larger β makes too expensive.
""",
    [Bug(lambda pi, ref, r, b: (pi * r).sum(-1) - b * _kl_naive(pi, ref),
         "0 log 0 = 0: an answer with pi = 0 adds nothing to the KL, but 0 * log(0) is nan in torch "
         "(use torch.xlogy(pi, pi) - torch.xlogy(pi, ref), or mask those answers)"),
     Bug(lambda pi, ref, r, b: (pi * r).sum(-1) - b * _kl_naive(ref, pi),
         "KL(pi || pi_ref) averages over the policy's answers: sum pi * log(pi / pi_ref), not pi_ref * log(pi_ref / pi)"),
     Bug(lambda pi, ref, r, b: (pi * r).sum(-1) + b * F.exact_kl(pi, ref),
         "the KL is a penalty: subtract beta * KL, so drifting from the reference costs objective"),
     Bug(lambda pi, ref, r, b: r.mean(-1) - b * F.exact_kl(pi, ref),
         "the expected reward weighs each answer by the policy's probability: sum pi * r, not the plain mean of r")],
)
def kl_regularised_objective():
    g = generator(1001)
    story_pi, story_ref = tensor([0.7, 0.1, 0.1, 0.1]), torch.full((4,), 0.25, dtype=F64)
    story_r = tensor([2.0, 0.0, 0.5, -1.0])
    pi, ref = _probs((3, 5), g), _probs((3, 5), g)
    same = _probs((2, 4), g)
    hacked_ref = _probs(5, g)
    cases = [
        ("4 answers: the policy favours the top one, beta = 0.1", story_pi, story_ref, story_r, 0.1,
         "sum pi * r = 1.35; minus 0.1 * sum pi * log(pi / pi_ref)"),
        ("a batch: 3 prompts x 5 answers, beta = 0.5", pi, ref, randn((3, 5), g), 0.5,
         "one objective per prompt: sum over the last axis only"),
        ("the policy is the reference: the KL term is 0", same, same.clone(), randn((2, 4), g), 2.0,
         "pi = pi_ref gives KL 0, so J = sum pi * r"),
        ("beta = 0: only the expected reward", pi, ref, randn((3, 5), g), 0.0, "with beta = 0, J = sum pi * r"),
        ("a hacked policy (everything on one answer, zeros elsewhere), beta = 1",
         tensor([0.0, 0.0, 1.0, 0.0, 0.0]), hacked_ref, tensor([0.1, 0.3, 3.0, -0.2, 0.0]), 1.0,
         "answers with pi = 0 add 0 to the KL (0 log 0 = 0): J = 3 - log(1 / pi_ref[2])"),
    ]
    return table(("policy_probs", "ref_probs", "rewards", "beta"), _objective_ref, cases)


def optimal_policy_ref(ref, r, beta):
    """pi* = pi_ref exp(r / beta) / Z (the dpo module's docstring), as a softmax of log pi_ref + r / beta."""
    return torch.softmax(torch.log(ref) + r / beta, -1)


@exercise(
    "10", "ref_probs, rewards, beta",
    "ref_probs, rewards: (..., K) over K answers, beta: float > 0 -> (..., K) the optimal policy",
    r"""
**The policy the objective wants.** The KL-regularised objective has a closed-form maximiser:
$\pi^*(y) = \pi_{\text{ref}}(y)\, e^{r(y)/\beta} / Z$ with $Z = \sum_y \pi_{\text{ref}}(y)\, e^{r(y)/\beta}$.
Write `optimal_policy(ref_probs, rewards, beta)` over the last axis. It shows the sweep without any
training: a large β keeps $\pi^*$ at $\pi_{\text{ref}}$, a small one piles everything on the top-reward
answer (and DPO, notebook 12, is built on this formula). It must stay finite when $r/\beta$ is in the
thousands: work with $\log\pi_{\text{ref}} + r/\beta$.
""",
    [Bug(lambda ref, r, b: torch.softmax(torch.log(ref) + b * r, -1),
         "divide the rewards by beta: e^(r / beta), so a small beta pushes harder, not softer"),
     Bug(lambda ref, r, b: ref * torch.exp(r / b),
         "normalise: divide by Z = sum of pi_ref * exp(r / beta), so that the probabilities sum to 1"),
     Bug(lambda ref, r, b: torch.softmax(r / b, -1),
         "pi* reweights pi_ref: start from log pi_ref (an answer the reference never writes stays at 0)"),
     Bug(lambda ref, r, b: ref * torch.exp(r / b) / (ref * torch.exp(r / b)).sum(-1, keepdim=True),
         "exp(r / beta) overflows to inf for a small beta, and inf / inf = nan: take torch.softmax of "
         "log pi_ref + r / beta (it subtracts the max first)")],
)
def optimal_policy():
    g = generator(1002)
    cases = [
        ("4 answers, beta = 1", tensor([0.4, 0.3, 0.2, 0.1]), tensor([0.0, 1.0, 2.0, 0.5]), 1.0,
         "pi_ref * exp(r / beta), divided by its sum"),
        ("a batch: 3 prompts x 6 answers, beta = 0.5", _probs((3, 6), g), randn((3, 6), g), 0.5,
         "one distribution per prompt: normalise over the last axis only"),
        ("beta = 1000: pi* stays at pi_ref", _probs(5, g), randn(5, g), 1000.0,
         "r / beta is tiny: pi* is pi_ref, barely reweighted"),
        ("beta = 0.01, rewards near 10: r / beta = 1000", _probs(5, g), tensor([10.0, 9.95, 9.9, 9.8, 9.5]), 0.01,
         "exp(1000) overflows: work with log pi_ref + r / beta and torch.softmax"),
        ("an answer the reference never writes (pi_ref = 0) has the top reward", tensor([0.5, 0.0, 0.3, 0.2]),
         tensor([1.0, 5.0, 0.0, -1.0]), 0.5, "pi_ref = 0 stays 0 whatever the reward: pi* only reweights pi_ref"),
        ("equal rewards: pi* = pi_ref", _probs((2, 3), g), torch.full((2, 3), 0.7, dtype=F64), 0.1,
         "the same reward everywhere cancels in Z"),
    ]
    return table(("ref_probs", "rewards", "beta"), optimal_policy_ref, cases)


# ---------------------------------------------------------------- notebook 11


def judge_agreement_ref(scores, values, k):
    """(agreement, pairs), counted as ``tldr.evaluation.rm_judge_agreement`` counts them (its "all" pairs)."""
    s, v = scores.view(-1, k), values.view(-1, k)
    judged = v[:, :, None] > v[:, None, :]                 # [post, a, b]: the judge prefers a to b
    agree = judged & (s[:, :, None] > s[:, None, :])
    pairs = int(judged.sum())
    return int(agree.sum()) / max(1, pairs), pairs


def _pairs_bug(s, v, same_post, judged_of, agree_of):
    """(agreement, pairs) counted over the row pairs that ``same_post`` allows, with a wrong rule plugged in."""
    judged = judged_of(v[:, None], v[None, :]) & same_post
    agree = judged & agree_of(s[:, None], s[None, :], v[:, None], v[None, :])
    return agree.sum() / judged.sum().clamp(min=1), judged.sum()


def _groups(n, k):
    rows = torch.arange(n) // k
    return rows[:, None] == rows[None, :]


def _bug_agree_ties(s, v, k):
    agree, pairs = judge_agreement_ref(s, v, k)
    upper = torch.ones(k, k, dtype=torch.bool).triu(1)
    all_pairs = int(upper.sum()) * (len(s) // k)
    return agree * pairs / all_pairs, all_pairs


def _bug_agreement_nan(s, v, k):
    S, V = s.view(-1, k), v.view(-1, k)
    judged = V[:, :, None] > V[:, None, :]
    agree = judged & (S[:, :, None] > S[:, None, :])
    return agree.sum() / judged.sum(), judged.sum()


@exercise(
    "11", "rm_scores, judge_values, k",
    "rm_scores, judge_values: (P * k,) with k consecutive rows per post, k: int -> (agreement, pairs)",
    r"""
**The reward model against the judge.** PPO asks the reward model to rank the summaries *the
policy* writes, which it never saw. To measure that, sample $k$ summaries per post ($k$ consecutive
rows) and, for every two summaries $a, b$ of the same post that the judge tells apart, $v_a > v_b$
(with $v$ = fact coverage − hallucination, the latter 0 or 1), ask whether the reward model orders
them the same way, $s_a > s_b$ (a tie in $s$ is not agreement). Write
`judge_agreement(rm_scores, judge_values, k)` returning `(agreement, pairs)`: the share of those pairs
on which the two agree, and how many pairs there are (agreement 0 when there are none). A low
agreement is the gap PPO exploits; new rounds of comparisons are meant to close it.
""",
    [Bug(lambda s, v, k: _pairs_bug(s, v, torch.ones(len(s), len(s), dtype=torch.bool), torch.gt,
                                    lambda sa, sb, va, vb: sa > sb),
         "compare only summaries of the same post (its k consecutive rows): two posts' summaries are no pair"),
     Bug(lambda s, v, k: judge_agreement_ref(s.view(k, -1).T.reshape(-1), v.view(k, -1).T.reshape(-1), k),
         "the k summaries of a post are consecutive rows: group them with view(-1, k)"),
     Bug(lambda s, v, k: _pairs_bug(s, v, _groups(len(s), k), torch.gt, lambda sa, sb, va, vb: sa >= sb),
         "a tie in the reward model's scores is not agreement: count s_a > s_b only"),
     Bug(_bug_agree_ties,
         "only pairs the judge tells apart count (v_a > v_b): a pair with equal judge values carries no label"),
     Bug(lambda s, v, k: _pairs_bug(s, v, _groups(len(s), k), torch.ne,
                                    lambda sa, sb, va, vb: (sa != sb) & ((sa > sb) == (va > vb))),
         "count each pair once, in the order the judge prefers (v_a > v_b): pairs comes out twice too large"),
     Bug(_bug_agreement_nan,
         "when the judge tells no pair apart, agreement is 0 (as tldr.evaluation.rm_judge_agreement returns), "
         "not 0 / 0")],
)
def judge_agreement():
    g = generator(1101)
    # Judge values as the judge gives them: coverage in quarters minus 1 for a hallucination.
    coverage = torch.randint(0, 5, (32,), generator=g).to(F64) / 4
    values = coverage - (torch.rand(32, generator=g, dtype=F64) < 0.3).to(F64)
    scores = (values + randn(32, g, 0.7)).round(decimals=1)  # rounded: a few reward-model ties
    cases = [
        ("2 posts x 3 summaries", tensor([1.2, 0.3, 0.8, -0.5, 0.1, 0.4]),
         tensor([1.0, 0.5, 0.5, 0.75, 0.0, -0.25]), 3,
         "post 1: pairs (0, 1) and (0, 2) agree, (1, 2) is a judge tie; post 2: 3 pairs, none agree: 2 of 5"),
        ("4 posts x 2 summaries, reward-model ties", tensor([0.3, 0.3, 1.0, 2.0, -1.0, -1.0, 1.0, 0.0]),
         tensor([1.0, 0.5, 0.75, 0.75, 0.0, 1.0, 0.5, 0.0]), 2,
         "3 pairs: two are reward-model ties (not agreement), one agrees"),
        ("8 posts x 4 summaries", scores, values, 4, "count within each post's 4 rows; skip judge ties"),
        ("the judge scores every summary of a post alike: no pairs", tensor([0.1, 0.9, -0.3, 0.2]),
         tensor([0.5, 0.5, -1.0, -1.0]), 2, "no pair the judge tells apart: agreement 0, pairs 0"),
    ]
    return [Case(n, {"rm_scores": s, "judge_values": v, "k": k}, judge_agreement_ref(s, v, k), h,
                 labels=("agreement", "pairs")) for n, s, v, k, h in cases]


def _mean_squares(v, dof=True):
    S, P = v.shape
    grand, seed_means, post_means = v.mean(), v.mean(1), v.mean(0)
    ms_seed = P * ((seed_means - grand) ** 2).sum() / (S - 1 if dof else S)
    ms_post = S * ((post_means - grand) ** 2).sum() / (P - 1 if dof else P)
    resid = v - seed_means[:, None] - post_means[None, :] + grand
    ms_noise = (resid ** 2).sum() / ((S - 1) * (P - 1) if dof else S * P)
    return ms_seed, ms_post, ms_noise


def _crossed_ref(values):
    return torch.tensor(_pkg_variance_of_mean(values.numpy(), "crossed")[0], dtype=F64)


def _bug_no_clip(v):
    ms_seed, ms_post, ms_noise = _mean_squares(v)
    return (ms_seed + ms_post - ms_noise) / v.numel()


def _bug_divide_by_count(v):
    ms_seed, ms_post, ms_noise = _mean_squares(v, dof=False)
    return (ms_seed + (ms_post - ms_noise).clamp(min=0)) / v.numel()


def _table_of(g, S, P, seed_sd, post_sd, noise_sd):
    return randn((S, 1), g, seed_sd) + randn((1, P), g, post_sd) + randn((S, P), g, noise_sd)


@exercise(
    "11", "values", "values: (S, P) a metric per seed (row) and post (column), same posts for every seed -> scalar",
    r"""
**The variance of a mean over seeds × posts.** Notebook 11 measures each of its $S$ seeds on the *same*
$P$ held-out posts, so `values[s, p]` carries two shared noises: the seed's luck and the post's difficulty
(an easy post is easy for every seed). With the two-way mean squares
$\text{MS}_{\text{seed}} = \frac{P}{S-1}\sum_s (\bar y_{s\cdot} - \bar y)^2$,
$\text{MS}_{\text{post}} = \frac{S}{P-1}\sum_p (\bar y_{\cdot p} - \bar y)^2$ and
$\text{MS}_{\text{noise}} = \frac{1}{(S-1)(P-1)}\sum_{s,p} (y_{sp} - \bar y_{s\cdot} - \bar y_{\cdot p} + \bar y)^2$,
write `crossed_variance_of_mean(values)`:
$\widehat{\mathrm{Var}}(\bar y) = \big(\text{MS}_{\text{seed}} + \max(\text{MS}_{\text{post}} - \text{MS}_{\text{noise}}, 0)\big) / (SP)$.
It is the variance behind the intervals of notebooks 11 and 12 (`stats.mean_ci(values, "crossed")`):
treating the $SP$ numbers as independent makes "PPO beats SFT" look surer than it is.
""",
    [Bug(lambda v: v.var() / v.numel(),
         "the S * P values are not independent: a seed's values share its luck and a post's its difficulty; "
         "use the mean squares"),
     Bug(lambda v: v.mean(1).var() / v.shape[0],
         "add the posts' part, max(MS_post - MS_noise, 0): every seed is measured on the same posts, so their "
         "difficulty is in every seed mean alike and the seed means' spread cannot show it"),
     Bug(lambda v: v.mean(0).var() / v.shape[1],
         "clustering by post alone misses the seeds' part: MS_seed comes in whole"),
     Bug(_bug_no_clip, "clip the post part at 0: MS_post - MS_noise can be negative, a variance cannot"),
     Bug(_bug_divide_by_count,
         "divide each sum of squares by its degrees of freedom: S - 1, P - 1 and (S - 1)(P - 1)")],
)
def crossed_variance_of_mean():
    g = generator(1102)
    hallucinated = (uniform((3, 32), g, 0.0, 1.0) < uniform((1, 32), g, 0.0, 0.9)).to(F64)  # per-post rates
    cases = [
        ("3 seeds x 4 posts, by hand", tensor([[0.75, 1.0, 0.5, 0.25], [1.0, 1.0, 0.75, 0.25],
                                                [0.5, 0.75, 0.5, 0.0]]),
         "MS_seed, MS_post, MS_noise from the seed means, the post means and what is left"),
        ("posts dominate: 3 seeds x 48 posts", _table_of(g, 3, 48, 0.05, 1.0, 0.3),
         "the posts' difficulty is shared by every seed: max(MS_post - MS_noise, 0) is most of it"),
        ("seeds dominate: 3 seeds x 20 posts", _table_of(g, 3, 20, 1.0, 0.1, 0.2),
         "a lucky seed moves all its posts: MS_seed is most of it"),
        ("0/1 outcomes (hallucinated or not): 3 seeds x 32 posts", hallucinated,
         "the same formula for 0/1 values"),
        ("the smallest table: 2 seeds x 2 posts, MS_post < MS_noise", tensor([[2.0, 1.0], [0.0, 1.0]]),
         "MS_seed = 1, MS_post = 0, MS_noise = 1: the post part is clipped at 0, so (1 + 0) / 4"),
        ("every value equal: no spread at all", torch.full((3, 5), 0.5, dtype=F64), "every mean square is 0"),
    ]
    return table(("values",), _crossed_ref, cases, atol=1e-12, rtol=1e-7)


# ---------------------------------------------------------------- notebook 12


def _dpo_ref(pc, pr, rc, rr, beta):
    return _pkg_dpo_loss(pc, pr, rc, rr, beta)[0]


def _margin(pc, pr, rc, rr, beta):
    return beta * ((pc - rc) - (pr - rr))


@exercise(
    "12", "policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta",
    "four (B,) sequence log-probs (policy and reference, chosen and rejected), beta: float -> (B,) losses",
    r"""
**The DPO loss.** DPO trains the policy on preference pairs directly, with
$\beta(\log\pi(y) - \log\pi_{\text{ref}}(y))$, the *implicit reward*, in place of a reward model's score.
Write `dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta)`,
one loss per pair:
$-\log\sigma\big(\beta[(\log\pi(y_w) - \log\pi_{\text{ref}}(y_w)) - (\log\pi(y_l) - \log\pi_{\text{ref}}(y_l))]\big)$. It is notebook 02's reward-model loss on implicit rewards, which is why
DPO needs no reward model, and it must stay finite for a margin of −1000.
""",
    [Bug(lambda pc, pr, rc, rr, b: -torch.log(torch.sigmoid(_margin(pc, pr, rc, rr, b))),
         "sigmoid(-1000) is 0 and -log(0) = inf: use -torch.nn.functional.logsigmoid(margin) (or softplus(-margin))"),
     Bug(lambda pc, pr, rc, rr, b: -torch.nn.functional.logsigmoid(-_margin(pc, pr, rc, rr, b)),
         "the chosen answer should win: the margin is chosen's implicit reward minus rejected's"),
     Bug(lambda pc, pr, rc, rr, b: -torch.nn.functional.logsigmoid(b * (pc - pr)),
         "the implicit reward is beta * (log pi - log pi_ref): subtract the reference's log-probs"),
     Bug(lambda pc, pr, rc, rr, b: -b * torch.nn.functional.logsigmoid(_margin(pc, pr, rc, rr, 1.0)),
         "beta scales the log-ratios inside the sigmoid, not the loss"),
     Bug(lambda pc, pr, rc, rr, b: -torch.nn.functional.logsigmoid(_margin(pc, pr, rc, rr, b)).mean(),
         "return one loss per pair (the training loop takes the mean)")],
)
def dpo_loss():
    g = generator(1201)
    ref_c, ref_r = uniform(6, g, -40.0, -10.0), uniform(6, g, -40.0, -10.0)
    pol_c, pol_r = ref_c + randn(6, g, 3.0), ref_r + randn(6, g, 3.0)
    same_c, same_r = uniform(3, g, -30.0, -5.0), uniform(3, g, -30.0, -5.0)
    cases = [
        ("notebook 12's two pairs, beta = 0.3", tensor([-12.0, -13.0]), tensor([-15.0, -17.0]),
         tensor([-12.5, -12.5]), tensor([-14.0, -14.0]), 0.3,
         "implicit rewards 0.3 * (log pi - log pi_ref): margins 0.45 and 0.75"),
        ("a batch of 6 pairs, beta = 0.1", pol_c, pol_r, ref_c, ref_r, 0.1,
         "-logsigmoid(beta * (chosen log-ratio - rejected log-ratio)), one per pair"),
        ("the policy is still the reference: every loss is log 2", same_c, same_r, same_c.clone(), same_r.clone(), 0.5,
         "both log-ratios are 0: the margin is 0 and -log sigma(0) = log 2"),
        ("margins of -1000 and +1000, beta = 1", tensor([-1030.0, -20.0]), tensor([-30.0, -1020.0]),
         tensor([-30.0, -20.0]), tensor([-30.0, -20.0]), 1.0,
         "-log sigma(-1000) = 1000 and -log sigma(1000) = 0: use logsigmoid, not log(sigmoid)"),
    ]
    return table(("policy_chosen_logp", "policy_rejected_logp", "ref_chosen_logp", "ref_rejected_logp", "beta"),
                 _dpo_ref, cases)


def _bug_grpo(s, G, eps, correction=0, batch=False, strided=False, guard=True, eps_in_var=False, divide=True):
    groups = s.view(1, -1) if batch else (s.view(G, -1).T if strided else s.view(-1, G))
    centred = groups - groups.mean(1, keepdim=True)
    var = groups.var(1, correction=correction, keepdim=True)
    std = (var + eps).sqrt() if eps_in_var else var.sqrt() + eps
    adv = centred / std if divide else centred
    if guard:
        adv = torch.where(groups.amax(1, keepdim=True) == groups.amin(1, keepdim=True), torch.zeros_like(adv), adv)
    return (adv.T if strided else adv).reshape(-1)


@exercise(
    "12", "scores, group_size, eps=1e-4",
    "scores: (B,) with B = n_prompts * group_size, group_size: int, eps: float -> (B,) advantages",
    r"""
**GRPO's group advantages.** GRPO samples $G$ completions of each prompt ($G$ consecutive rows of
`scores`) and scores each against its own group, $A_i = (r_i - \mathrm{mean}(r)) / (\mathrm{std}(r) + \epsilon)$,
with the group's population std (divide by $G$). Write `grpo_advantages(scores, group_size, eps=1e-4)`.
A group whose scores are all equal teaches nothing: its advantages are exactly 0, never 0/0 (even with
$\epsilon = 0$). The group replaces PPO's value network as the baseline: that is what GRPO saves.
""",
    [Bug(lambda s, G, eps: _bug_grpo(s, G, eps, correction=1),
         "use the group's population std (divide by G, correction=0), as GRPO's paper and grpo.group_advantages do"),
     Bug(lambda s, G, eps: _bug_grpo(s, G, eps, batch=True),
         "score each completion against its own group: the mean and std of its prompt's G scores, not the batch's"),
     Bug(lambda s, G, eps: _bug_grpo(s, G, eps, strided=True),
         "the G completions of a prompt are consecutive rows: group them with scores.view(-1, group_size)"),
     Bug(lambda s, G, eps: _bug_grpo(s, G, eps, guard=False),
         "a group of equal scores has std 0, and with eps = 0 that is 0 / 0 = nan: give such a group 0 "
         "(torch.where on max == min)"),
     Bug(lambda s, G, eps: _bug_grpo(s, G, eps, eps_in_var=True),
         "add eps to the std, (r - mean) / (std + eps), not to the variance under the square root"),
     Bug(lambda s, G, eps: _bug_grpo(s, G, eps, divide=False), "divide by the group's std + eps too")],
)
def grpo_advantages():
    g = generator(1202)
    cases = [
        ("notebook 12's two groups of G = 4", tensor([1.0, 0.0, 2.0, 1.0, 0.5, 0.5, 0.5, 0.5]), 4, 1e-4,
         "group 1: mean 1, std 0.7071; group 2 scores alike: all 0"),
        ("8 prompts x 4 completions", randn(32, g), 4, 1e-4, "each group of 4 consecutive rows on its own"),
        ("eps = 0, and a group of equal scores", tensor([0.5, 0.5, 0.5, 1.0, 2.0, 4.0]), 3, 0.0,
         "the first group has std 0: its advantages are 0, not 0 / 0"),
        ("eps = 0.5: added to the std", tensor([3.0, 1.0, 0.0, 2.0, -1.0, 5.0]), 2, 0.5,
         "G = 2: mean and std of each pair, then (r - mean) / (std + 0.5)"),
        ("prompts with very different scores: [1000, 1001, 1003, -1000, -998, -990]",
         tensor([1000.0, 1001.0, 1003.0, -1000.0, -998.0, -990.0]), 3, 1e-4,
         "each group against its own mean: the other prompt's scores must not matter"),
    ]
    return table(("scores", "group_size", "eps"), _pkg_group_advantages, cases)


def best_of_n_ref(scores, n):
    """Each prompt's best row, and log n - (n - 1) / n: the KL figure that Beirami et al. (2024,
    "Theoretical guarantees on the best-of-n alignment policy") prove is an upper bound on the true KL."""
    groups = scores.view(-1, n)
    index = groups.argmax(1) + torch.arange(len(groups)) * n
    return index, math.log(n) - (n - 1) / n


@exercise(
    "12", "scores, n",
    "scores: (P * n,) with n consecutive rows per prompt, n: int -> (index (P,), kl_bound: float)",
    r"""
**Best-of-n, and what it costs in KL.** The simplest use of a reward model needs no training: sample
$n$ completions of each prompt from the SFT model and keep the one it scores highest. A trained policy
is worth its training only if it beats that at the same KL. `scores` holds $P \cdot n$ scores, $n$ consecutive rows per prompt.
Write `best_of_n(scores, n)` returning `(index, kl_bound)`: for each prompt the row of its best sample
(an index into `scores`; the first one on a tie), and $\log n - \frac{n-1}{n}$, the KL in nats usually
quoted for best-of-n. That puts best-of-n on the same KL axis as the β sweeps; Beirami et al. (2024)
prove the figure is an upper bound on the true KL, not its exact value.
""",
    [Bug(lambda s, n: (s.argmax(), math.log(n) - (n - 1) / n),
         "one choice per prompt: the best of its own n samples, not the best of the whole batch"),
     Bug(lambda s, n: (s.view(n, -1).argmax(0) * (len(s) // n) + torch.arange(len(s) // n), math.log(n) - (n - 1) / n),
         "a prompt's n samples are consecutive rows: group them with scores.view(-1, n)"),
     Bug(lambda s, n: (s.view(-1, n).argmax(1), math.log(n) - (n - 1) / n),
         "return the row in scores (prompt p's sample j is row p * n + j), not the position j within the group"),
     Bug(lambda s, n: (best_of_n_ref(s, n)[0], math.log(n)),
         "the KL figure is log n - (n - 1) / n, not log n: the best of n is still often a likely sample"),
     Bug(lambda s, n: (best_of_n_ref(s, n)[0], (n - 1) / n), "the KL figure is log n - (n - 1) / n"),
     Bug(lambda s, n: (s.view(-1, n).argmin(1) + torch.arange(len(s) // n) * n, math.log(n) - (n - 1) / n),
         "keep the sample with the highest score (argmax)")],
)
def best_of_n():
    g = generator(1203)
    cases = [
        ("2 prompts x 3 samples", tensor([0.1, 2.0, -1.0, 0.5, 0.4, 3.0]), 3,
         "rows 1 and 5; KL log 3 - 2/3 = 0.432"),
        ("n = 1: nothing to choose, no KL", tensor([0.3, -1.0, 2.0]), 1, "every sample is its prompt's best; KL 0"),
        ("4 prompts x 4 samples", randn(16, g), 4, "the best of each group of 4 consecutive rows, as a row of scores"),
        ("a tie within a prompt: keep the first", tensor([1.0, 2.0, 2.0, 0.0, 0.0, 0.0]), 3,
         "rows 1 and 3: argmax returns the first of equal scores"),
        ("2 prompts x 64 samples", randn(128, g), 64, "KL log 64 - 63/64 = 3.17 nats"),
    ]
    return [Case(name, {"scores": s, "n": n}, best_of_n_ref(s, n), hint, labels=("index", "kl_bound"))
            for name, s, n, hint in cases]
