"""Reference solutions to every exercise, written the way a student would: plain tensor code.

For instructors: these pass every check (tests/test_exercises.py proves it). The notebooks ship the
stubs; hand this file out after the exercises are due, or run
``python -m rlhf_edu.exercises --solutions`` to see what a passing report looks like.
Only ``torch`` is used, spelled out (``torch.nn.functional``): notebooks 01-05 bind ``F`` to
``rlhf_edu.formulas``, so a solution pasted there must not rely on ``F``.
"""

import torch

# ---------------------------------------------------------------- notebook 01

def sequence_logprob(token_probs):
    # Adding logs instead of multiplying probabilities: a long reply's product underflows to 0.
    return torch.log(token_probs).sum(dim=-1)


def discounted_returns(rewards, gamma):
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for t in reversed(range(rewards.shape[-1])):  # from the end: G_t needs G_{t+1}
        running = rewards[..., t] + gamma * running
        returns[..., t] = running
    return returns


# ---------------------------------------------------------------- notebook 02

def bradley_terry_prob(r_chosen, r_rejected):
    # sigmoid of the difference: exp(r) of a huge reward would overflow, the difference does not.
    return torch.sigmoid(r_chosen - r_rejected)


def reward_model_loss(r_chosen, r_rejected):
    # logsigmoid(-1000) = -1000 exactly, where log(sigmoid(-1000)) = log(0) = -inf.
    return -torch.nn.functional.logsigmoid(r_chosen - r_rejected)


# ---------------------------------------------------------------- notebook 03

def policy_gradient_loss(logp, advantage):
    # Minus: the optimiser minimises, and we want log pi * A to go up. detach: A is a fixed weight.
    return -(logp * advantage.detach()).mean()


def grad_log_softmax(logits, action):
    probs = torch.softmax(logits, dim=-1)  # subtracts the max logit first, so huge logits are fine
    onehot = torch.nn.functional.one_hot(action, logits.shape[-1]).to(logits.dtype)
    return onehot - probs


# ---------------------------------------------------------------- notebook 04

def importance_ratio(logp_new, logp_old):
    # Subtract first: exp of a very negative log-prob underflows to 0, and 0 / 0 = nan.
    return torch.exp(logp_new - logp_old)


def ppo_clip_objective(ratio, advantage, epsilon=0.2):
    unclipped = ratio * advantage
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * advantage
    return torch.minimum(unclipped, clipped)  # the pessimistic term: gains capped, losses kept


# ---------------------------------------------------------------- notebook 05

def kl_k1(logp, logp_ref):
    return logp - logp_ref


def kl_k3(logp, logp_ref):
    log_rho = logp_ref - logp  # rho = pi_ref / pi, from log-probs so tiny probabilities work
    return torch.exp(log_rho) - 1 - log_rho


def kl_penalised_reward(score, logp, logp_ref, mask, beta):
    kl = ((logp - logp_ref) * mask).sum(dim=-1)  # pads are not part of the completion
    return score - beta * kl


# ---------------------------------------------------------------- notebook 06

def next_token_loss(logits, tokens, mask):
    # Position t predicts token t + 1: drop the last logits and the first token.
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    targets = tokens[:, 1:]
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    m = mask[:, 1:].float()
    return (nll * m).sum() / m.sum()


def causal_attention_mask(attention_mask):
    B, T = attention_mask.shape
    causal = torch.ones(T, T, dtype=torch.bool).tril()          # [query, key]: key <= query
    real_keys = attention_mask.bool()[:, None, :]               # (B, 1, T): broadcast over queries
    itself = torch.eye(T, dtype=torch.bool)                     # a pad query must see something
    return (causal & real_keys) | itself


def position_ids(attention_mask):
    return (attention_mask.cumsum(dim=1) - 1).clamp(min=0)


# ---------------------------------------------------------------- notebook 07

def sequence_reward(values, attention_mask):
    T = attention_mask.shape[1]
    positions = torch.arange(T).expand_as(attention_mask)
    last = (positions * attention_mask).argmax(dim=1)  # largest position whose mask is 1
    return values[torch.arange(len(values)), last]


def reward_model_batch_loss(values, attention_mask):
    scores = sequence_reward(values, attention_mask)
    n = len(scores) // 2
    chosen, rejected = scores[:n], scores[n:]
    return -torch.nn.functional.logsigmoid(chosen - rejected).mean()


# ---------------------------------------------------------------- notebook 08

def sequence_advantages(rewards):
    centred = rewards - rewards.mean()
    return centred / rewards.std().clamp(min=1e-6)


def pg_loss(token_logp, prompt_len, response_mask, advantages):
    response_logp = token_logp[:, prompt_len - 1:]            # column j scores token j + 1
    seq_logp = (response_logp * response_mask).sum(dim=1)      # real completion tokens only
    return -(advantages.detach() * seq_logp).mean()


# ---------------------------------------------------------------- notebook 09

def token_rewards(scores, logp, ref_logp, mask, beta):
    rewards = -beta * (logp - ref_logp) * mask
    T = mask.shape[1]
    last = (torch.arange(T) * mask).argmax(dim=1)             # each row's last real token (EOS)
    rewards = rewards.clone()
    rewards[torch.arange(len(scores)), last] += scores
    return rewards


def gae(rewards, values, mask, gamma=1.0, lam=0.95):
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_adv = torch.zeros(B, dtype=rewards.dtype)
    for t in reversed(range(T)):
        # The value after the last real token is 0: the next position is a pad (or the end).
        next_value = values[:, t + 1] * mask[:, t + 1] if t + 1 < T else torch.zeros(B, dtype=rewards.dtype)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_adv = (delta + gamma * lam * next_adv) * mask[:, t]
        advantages[:, t] = next_adv
    returns = (advantages + values) * mask
    return advantages, returns


def whiten(x, mask):
    n = mask.sum()
    mean = (x * mask).sum() / n
    var = (((x - mean) ** 2) * mask).sum() / n
    return (x - mean) / torch.sqrt(var + 1e-8) * mask


def ppo_policy_loss(new_logp, old_logp, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(new_logp - old_logp)
    objective = torch.minimum(ratio * advantages, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * advantages)
    return -(objective * mask).sum() / mask.sum()


def ppo_value_loss(new_values, old_values, returns, mask, clip_eps=0.2):
    clipped = old_values + torch.clamp(new_values - old_values, -clip_eps, clip_eps)
    err = torch.maximum((new_values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * (err * mask).sum() / mask.sum()


def leave_one_out(scores, k):
    if k == 1:
        return scores  # no other sample to compare with
    groups = scores.view(-1, k)                              # k consecutive rows per prompt
    others_mean = (groups.sum(dim=1, keepdim=True) - groups) / (k - 1)
    return (groups - others_mean).reshape(-1)


# ---------------------------------------------------------------- notebook 10

def kl_regularised_objective(policy_probs, ref_probs, rewards, beta):
    expected_reward = (policy_probs * rewards).sum(dim=-1)
    # xlogy(p, x) = p * log(x), and 0 where p = 0: an answer the policy never gives costs no KL.
    kl = (torch.xlogy(policy_probs, policy_probs) - torch.xlogy(policy_probs, ref_probs)).sum(dim=-1)
    return expected_reward - beta * kl


def optimal_policy(ref_probs, rewards, beta):
    # pi_ref * exp(r / beta) / Z in logs: softmax subtracts the max, so r / beta = 1000 does not overflow.
    return torch.softmax(torch.log(ref_probs) + rewards / beta, dim=-1)


# ---------------------------------------------------------------- notebook 11

def judge_agreement(rm_scores, judge_values, k):
    s = rm_scores.view(-1, k)                                  # k consecutive rows per post
    v = judge_values.view(-1, k)
    judged = v[:, :, None] > v[:, None, :]                      # [post, a, b]: the judge prefers a to b
    agree = judged & (s[:, :, None] > s[:, None, :])            # ... and so does the reward model
    pairs = int(judged.sum())
    return int(agree.sum()) / max(pairs, 1), pairs


def crossed_variance_of_mean(values):
    S, P = values.shape
    grand = values.mean()
    seed_means, post_means = values.mean(dim=1), values.mean(dim=0)
    ms_seed = P * ((seed_means - grand) ** 2).sum() / (S - 1)
    ms_post = S * ((post_means - grand) ** 2).sum() / (P - 1)
    residual = values - seed_means[:, None] - post_means[None, :] + grand
    ms_noise = (residual ** 2).sum() / ((S - 1) * (P - 1))
    # The shared posts' part can come out negative: clip it; the seed part stays whole.
    return (ms_seed + torch.clamp(ms_post - ms_noise, min=0)) / (S * P)


# ---------------------------------------------------------------- notebook 12

def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    chosen_reward = beta * (policy_chosen_logp - ref_chosen_logp)          # the implicit rewards
    rejected_reward = beta * (policy_rejected_logp - ref_rejected_logp)
    return -torch.nn.functional.logsigmoid(chosen_reward - rejected_reward)  # stable at a margin of -1000


def grpo_advantages(scores, group_size, eps=1e-4):
    groups = scores.view(-1, group_size)                       # G consecutive rows per prompt
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, correction=0, keepdim=True)         # the group's own (population) std
    same = groups.amax(dim=1, keepdim=True) == groups.amin(dim=1, keepdim=True)
    return torch.where(same, torch.zeros_like(groups), centred / (std + eps)).reshape(-1)


def best_of_n(scores, n):
    groups = scores.view(-1, n)                                 # n consecutive rows per prompt
    index = groups.argmax(dim=1) + torch.arange(len(groups)) * n  # argmax keeps the first of a tie
    n = torch.tensor(float(n))
    return index, (torch.log(n) - (n - 1) / n).item()
