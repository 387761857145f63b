"""Stage 4: RLHF with PPO. The PPO loss is ``ppo_losses`` in this file.

The loop (``train_ppo``), in the spirit of CleanRL, with every detail visible:

1. rollout: sample completions from the current policy (full distribution),
   score them with the reward model, and record policy, reference and value
   estimates for every response token;
2. rewards: every token pays -beta * KL_t; the reward model's score is added
   at the last *real* token (``token_rewards``); with several completions per
   prompt, the score minus the mean of the prompt's other completions
   (``rl.leave_one_out``);
3. advantages: GAE with gamma = 1, lambda = 0.95, next value 0 after the
   last token; returns = advantages + values; advantages whitened over real
   tokens (``gae``; ``rl.whiten``);
4. update: several epochs over shuffled minibatches of the clipped policy
   loss plus the clipped value loss (``ppo_losses``);
5. log everything (``PPO_LOG_KEYS``) and adapt beta if asked to.

All hyper-parameters live in ``PPOConfig``; what every RL trainer shares (freezing, prompt
picking, the learning-rate schedule, the optimiser step, the log's common keys) in ``rl.py``. ``docs/ppo-checklist.md``
lists the details; tests/test_ppo.py checks each one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn as nn

from . import formulas
from .model import GPT, model_device, response_logprobs
from .optim import adamw
from .rl import (
    RLConfig,
    explained_variance,
    freeze,
    learning_rate,
    leave_one_out,
    log_record,
    masked_mean,
    optimizer_step,
    pick_prompts,
    progress_bar,
    report,
    set_lr,
    whiten,
)
from .rollout import collect_rollout


@dataclass
class PPOConfig(RLConfig):
    """Every PPO hyper-parameter, in one place (the shared ones, with their checks, in ``rl.RLConfig``)."""

    lr: float = 1e-4               # keeps clip fraction and approx-KL in their healthy ranges (rl.HEALTHY_MAX)
    iterations: int = 60           # rollout batches (one rollout + its updates = one iteration)
    batch_size: int = 32           # completions per rollout
    ppo_epochs: int = 4
    minibatch_size: int = 16
    clip_eps: float = 0.2          # policy ratio clip
    value_clip_eps: float = 0.2    # value clip around the old value
    vf_coef: float = 0.1
    entropy_coef: float = 0.0      # entropy is always logged; it enters the loss only if > 0
    gamma: float = 1.0
    lam: float = 0.95
    adaptive_kl: bool = False
    target_kl: float = 6.0         # nats per completion, for the adaptive controller
    kl_horizon: int = 10_000
    target_approx_kl: float | None = None  # early-stop the epochs when approx-KL exceeds this
    whiten_advantages: bool = True
    no_eos_penalty: float | None = None    # score given to completions that never end
    # Completions sampled per prompt. With k > 1 each score is taken relative to the mean score of
    # the other k - 1 completions of the same prompt (the leave-one-out baseline of RLOO): when the
    # reward model's score varies more between prompts than between completions of one prompt, the
    # advantage otherwise says "this was an easy prompt", not "this was a good completion".
    # The no-EOS penalty becomes relative too (k runaway completions of one prompt cancel out).
    # Logged "score" and "total_reward" keep the raw score, comparable across k; "explained_variance"
    # is against the baseline-subtracted returns, so compare it only between runs with the same k.
    samples_per_prompt: int = 1

    def __post_init__(self):
        super().__post_init__()
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if not 0 < self.clip_eps < 1:
            raise ValueError(f"clip_eps must be in (0, 1), got {self.clip_eps}")
        if self.ppo_epochs < 1 or self.minibatch_size < 1 or self.batch_size % self.minibatch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of minibatch_size "
                             f"({self.minibatch_size}), and ppo_epochs >= 1")
        if self.samples_per_prompt < 1 or self.batch_size % self.samples_per_prompt:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of samples_per_prompt "
                             f"({self.samples_per_prompt}), which must be >= 1")


class PolicyWithValue(nn.Module):
    """The policy GPT plus a value head on its last hidden state (zero-initialised: V = 0 at the start)."""

    def __init__(self, policy: GPT):
        super().__init__()
        self.policy = policy
        self.value_head = nn.Linear(policy.config.d_model, 1, device=model_device(policy))
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, sequences, attention_mask, prompt_len, temperature=1.0):
        """(log-probs, entropy, values) of the response tokens, each (B, R)."""
        logp, entropy, hidden = response_logprobs(self.policy, sequences, attention_mask, prompt_len,
                                                  temperature, return_entropy=True, return_hidden=True)
        # The value of the state *before* response token t lives where its logits do: position t-1.
        # The head keeps its own dtype (float32) even on a bf16/fp16 policy: values feed the losses.
        h = hidden[:, prompt_len - 1:-1]
        values = self.value_head(h.to(self.value_head.weight.dtype)).squeeze(-1)
        return logp, entropy, values


# ---------------------------------------------------------------- rewards and advantages

def token_rewards(scores, logprobs, ref_logprobs, mask, beta):
    """Per-token rewards: -beta * (log pi - log pi_ref) everywhere, + score at the last real token.

    Each row then sums to score - beta * sum_t KL_t. Pads get 0.
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -beta * kl
    last = (mask.long() * torch.arange(mask.shape[1], device=mask.device)).argmax(1)
    rewards[torch.arange(len(scores), device=mask.device), last] += scores
    return rewards * mask




def gae(rewards, values, mask, gamma=1.0, lam=0.95):
    """Generalised advantage estimation, vectorised over tokens.

    delta_t = r_t + gamma * V_{t+1} - V_t (V after the last real token is 0),
    A_t = sum_k (gamma * lam)^k delta_{t+k}. Returns (advantages, returns) with
    returns = advantages + values, computed *before* any whitening.
    """
    values = values * mask
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1) * torch.cat(
        [mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    deltas = (rewards + gamma * next_values - values) * mask
    T = rewards.shape[1]
    idx = torch.arange(T, device=rewards.device)
    power = (idx[None, :] - idx[:, None]).clamp(min=0).to(rewards.dtype)   # [t, k] -> k - t
    weights = torch.where(idx[None, :] >= idx[:, None], (gamma * lam) ** power, torch.zeros((), device=rewards.device))
    advantages = (deltas @ weights.T) * mask  # A[:, t] = sum_k weights[t, k] * delta[:, k]
    return advantages, (advantages + values) * mask


def gae_loop(rewards, values, mask, gamma=1.0, lam=0.95):
    """The textbook backwards loop; the reference the vectorised ``gae`` is tested against."""
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_v = values[:, t + 1] * mask[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last = (delta + gamma * lam * last) * mask[:, t]
        adv[:, t] = last
    return adv, (adv + values) * mask








# ---------------------------------------------------------------- the PPO loss

def ppo_losses(new_logp, old_logp, advantages, new_values, old_values, returns, mask, cfg: PPOConfig):
    """Clipped policy loss and clipped value loss over real tokens, plus diagnostics.

    Policy: maximise min(r A, clip(r, 1-eps, 1+eps) A) (``formulas.ppo_clip_objective``);
    when the clip binds, the gradient for that token is exactly zero.
    Value: 0.5 * max((V - R)^2, (V_clipped - R)^2), V_clipped = V_old + clip(V - V_old, -eps_v, eps_v).
    """
    log_ratio = (new_logp - old_logp) * mask
    ratio = torch.exp(log_ratio)
    terms = formulas.ppo_clip_objective(ratio, advantages, cfg.clip_eps)
    pg_loss = -masked_mean(terms.objective, mask)
    v_clipped = old_values + (new_values - old_values).clamp(-cfg.value_clip_eps, cfg.value_clip_eps)
    vf_loss = 0.5 * masked_mean(torch.maximum((new_values - returns) ** 2, (v_clipped - returns) ** 2), mask)
    with torch.no_grad():
        stats = {
            "clip_frac": masked_mean(((ratio - 1).abs() > cfg.clip_eps).float(), mask).item(),
            "approx_kl": masked_mean((ratio - 1) - log_ratio, mask).item(),  # k3 between old and new
            "ratio_mean": masked_mean(ratio, mask).item(),
            "vf_clip_frac": masked_mean(((new_values - old_values).abs() > cfg.value_clip_eps).float(), mask).item(),
        }
    return pg_loss, vf_loss, stats


# ---------------------------------------------------------------- the KL controller

class AdaptiveKLController:
    """beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon) (Ziegler et al., 2019)."""

    def __init__(self, beta: float, target: float, horizon: int):
        self.beta, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, n_steps: int) -> float:
        error = max(-0.2, min(0.2, kl / self.target - 1))
        self.beta *= 1 + error * n_steps / self.horizon
        return self.beta


# ---------------------------------------------------------------- the loop

PPO_LOG_KEYS = ("score", "kl_k1", "kl_k3", "total_reward", "policy_loss", "value_loss", "entropy", "clip_frac",
                "approx_kl", "explained_variance", "lr", "beta", "length", "ratio_first_minibatch")


def train_ppo(policy: GPT, reference: GPT, reward_model, tokenizer, prompts: list[str], cfg: PPOConfig,
              progress: bool = True, callback=None):
    """Run PPO. ``policy`` is updated in place; ``reference`` must be a frozen copy of the start.

    Returns (model with value head, list of per-iteration log dicts).
    """
    torch.manual_seed(cfg.seed)
    freeze(reference, reward_model)
    model = PolicyWithValue(policy)
    model.eval()  # dropout off everywhere during RL: ratio must be exactly 1 before the first update
    opt = adamw(model.parameters(), lr=cfg.lr, eps=1e-5)
    kl_ctl = AdaptiveKLController(cfg.beta, cfg.target_kl, cfg.kl_horizon)
    gen = torch.Generator().manual_seed(cfg.seed)
    k = cfg.samples_per_prompt
    history = []
    bar = progress_bar(cfg.iterations, "PPO", progress)
    for it in bar:
        t_start = time.perf_counter()
        lr = learning_rate(cfg, it, cfg.iterations)
        set_lr(opt, lr)
        batch_prompts = pick_prompts(prompts, cfg.batch_size // k, k, gen)  # k consecutive rows per prompt
        ro = collect_rollout(policy, reference, reward_model, tokenizer, batch_prompts, cfg.max_new_tokens,
                             cfg.temperature, gen, cfg.no_eos_penalty)
        t_update = time.perf_counter()
        mask = ro.response_mask.float()
        with torch.no_grad():
            old_logp, _, old_values = model(ro.sequences, ro.attention_mask, ro.prompt_len, cfg.temperature)
            old_logp, old_values = old_logp * mask, old_values * mask
            beta = kl_ctl.beta
            rewards = token_rewards(leave_one_out(ro.scores, k), old_logp, ro.ref_logprobs, mask, beta)
            advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
            if cfg.whiten_advantages:
                advantages = whiten(advantages, mask)
        stats, first_ratio, epochs_run = [], None, 0
        for _epoch in range(cfg.ppo_epochs):
            order = torch.randperm(cfg.batch_size, generator=gen)
            for start in range(0, cfg.batch_size, cfg.minibatch_size):
                mb = order[start:start + cfg.minibatch_size]
                new_logp, entropy, new_values = model(ro.sequences[mb], ro.attention_mask[mb], ro.prompt_len,
                                                      cfg.temperature)
                pg_loss, vf_loss, s = ppo_losses(new_logp, old_logp[mb], advantages[mb], new_values,
                                                 old_values[mb], returns[mb], mask[mb], cfg)
                ent = masked_mean(entropy, mask[mb])
                loss = pg_loss + cfg.vf_coef * vf_loss - cfg.entropy_coef * ent
                optimizer_step(opt, loss, model.parameters(), cfg.max_grad_norm)
                if first_ratio is None:
                    first_ratio = s["ratio_mean"]
                stats.append({"policy_loss": pg_loss.item(), "value_loss": vf_loss.item(),
                              "entropy": ent.item(), **s})
            epochs_run += 1
            if cfg.target_approx_kl is not None and stats[-1]["approx_kl"] > cfg.target_approx_kl:
                break  # the policy moved far enough from the one that sampled: stop reusing this batch
        if cfg.adaptive_kl:
            kl_ctl.update(ro.kl_k1.sum(1).mean().item(), cfg.batch_size)
        log = log_record(it, ro, beta, lr, t_start, t_update,
                         explained_variance=explained_variance(old_values, returns, mask),
                         ratio_first_minibatch=first_ratio, epochs_run=epochs_run,
                         **{key: sum(s[key] for s in stats) / len(stats)
                            for key in ("policy_loss", "value_loss", "entropy", "clip_frac", "approx_kl")})
        report(bar, history, log, callback, ro)
    model.eval()
    return model, history
