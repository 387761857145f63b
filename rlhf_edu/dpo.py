"""Direct Preference Optimisation (DPO): the preference pairs train the policy directly.

Rafailov et al., 2023, "Direct Preference Optimization: Your Language Model is Secretly a Reward
Model", equation 7:

    L = -log sigma( beta * [ (log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

Why it works: the KL-regularised objective PPO maximises has a closed-form optimum,
pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x), so r(x, y) = beta log pi*(y|x)/pi_ref(y|x) + beta log Z(x).
Put that reward into the reward model's Bradley-Terry loss and Z(x) cancels, *because both
completions answer the same prompt x*. What is left is the reward model's loss with the "implicit
reward" beta * log pi/pi_ref in place of a score (``dpo_loss`` calls ``formulas.reward_model_loss``).

Details:

- log pi(y|x) is the sum of the log-probs of the response tokens (and their EOS), never the prompt's;
- the reference is the frozen SFT model; its log-probs are constants (no_grad);
- offline: passes over a fixed set of pairs; nothing is sampled, no reward model is used
  (``train_dpo`` can sample a few completions now and then to *monitor* score and KL, nothing more);
- logged: the implicit rewards of chosen and rejected, their margin and accuracy, and the policy's
  log-probs of both. The loss only sees the *difference*, so the log-probs of chosen and rejected
  often both fall while the margin grows: a known DPO behaviour, worth watching. "chosen_reward"
  (same batch, against the reference) shows it best: at full size it stays below 0 all along (the
  chosen tweets become *less* likely than under the SFT model, by ~3 nats) while the rejected fall ~13.

The pairs (``preference_spans``) are the reward model's own: (chosen tweet, rejected tweet), two whole
texts with, mostly, different openers. For Z(x) to cancel, both responses need the same prompt. So the
prompt is the start of a tweet, the EOS token (which precedes every tweet in the pretraining stream),
and each response is the whole tweet + EOS: exactly the text the reward model scores. DPO then learns
from the very comparisons the reward model learns from. Cutting each tweet into its own first words +
the rest would give the two responses different prompts, and the loss would compare answers to
different questions (Z(x_w) and Z(x_l) would not cancel). Words that both tweets start with cost
nothing: the same tokens in the same context have the same log-probs, and cancel in the difference.
(Measured at full size, the cut version did about as well, judge 0.89 at KL 7.0 against 0.90 at 6.2:
here the argument decides, not the numbers.)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from . import formulas
from .model import GPT, response_logprobs
from .optim import adamw
from .rl import RLConfig, freeze, learning_rate, optimizer_step, progress_bar, set_lr
from .rollout import collect_rollout


@dataclass
class DPOConfig(RLConfig):
    epochs: int = 1                # passes over the pairs (the reward model's 5,000 pairs: 157 steps of 32)
    batch_size: int = 32           # pairs per step (64 sequences in one forward pass)
    # The KL strength the implicit reward assumes: larger keeps the policy nearer the reference
    # (measured values: docs/tuning-notes.md).
    beta: float = 0.3
    # Sampling, for the log only: every monitor_every steps, score monitor_samples completions of
    # the RL prompts with the reward model and measure their KL (0: never). max_new_tokens is theirs.
    monitor_every: int = 0
    monitor_samples: int = 32

    def __post_init__(self):
        super().__post_init__()
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0 (at 0 the DPO loss is the constant log 2), got {self.beta}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if self.monitor_every < 0:
            raise ValueError(f"monitor_every must be >= 0, got {self.monitor_every}")


# ---------------------------------------------------------------- pairs -> token spans -> batches

def preference_spans(tokenizer, pairs: list[tuple[str, str]], block_size: int):
    """(chosen text, rejected text) pairs -> (prompt ids, chosen ids, rejected ids).

    The prompt is [EOS] for every pair (the start of a tweet, shared by both: see the module
    docstring); a response is the text's tokens + EOS, cut to fit ``block_size``.
    """
    start = [tokenizer.eos_id]
    room = block_size - len(start)
    spans = []
    for i, (chosen, rejected) in enumerate(pairs):
        for name, text in (("chosen", chosen), ("rejected", rejected)):
            if not text.strip():
                raise ValueError(f"pairs[{i}] has an empty {name} response")
        spans.append((start, (tokenizer.encode(chosen) + [tokenizer.eos_id])[:room],
                      (tokenizer.encode(rejected) + [tokenizer.eos_id])[:room]))
    return spans


@dataclass
class PairBatch:
    """Chosen rows first, then rejected rows: left-padded prompt (P columns) + right-padded response."""

    sequences: torch.Tensor
    attention_mask: torch.Tensor
    prompt_len: int
    response_mask: torch.Tensor  # (2n, R) 1 for real response tokens


def pair_batch(spans, pad_id: int) -> PairBatch:
    """The rollout's layout, so ``response_logprobs`` reads both halves as it reads a rollout."""
    for i, (p, c, r) in enumerate(spans):
        if not p:
            raise ValueError(f"pairs[{i}] has an empty prompt")
        if not c or not r:
            raise ValueError(f"pairs[{i}] has an empty {'chosen' if not c else 'rejected'} response")
    prompts = [p for p, _, _ in spans] * 2
    responses = [c for _, c, _ in spans] + [r for _, _, r in spans]
    P, R = max(map(len, prompts)), max(map(len, responses))
    seqs = torch.full((len(prompts), P + R), pad_id, dtype=torch.long)
    mask = torch.zeros_like(seqs)
    for row, (p, y) in enumerate(zip(prompts, responses)):
        seqs[row, P - len(p):P] = torch.tensor(p)
        seqs[row, P:P + len(y)] = torch.tensor(y)
        mask[row, P - len(p):P + len(y)] = 1
    return PairBatch(seqs, mask, P, mask[:, P:])


def sequence_logprobs(model: GPT, batch: PairBatch, temperature: float = 1.0) -> torch.Tensor:
    """log pi(y|x) per row: the response tokens' log-probs, summed (the prompt's never count)."""
    logp = response_logprobs(model, batch.sequences, batch.attention_mask, batch.prompt_len, temperature)
    return (logp * batch.response_mask).sum(1)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float):
    """Per-pair loss -log sigma(r_w - r_l), with implicit rewards r = beta * (log pi - log pi_ref).

    Returns (losses, chosen rewards, rejected rewards); the rewards are detached, for the log.
    """
    chosen_reward = beta * (policy_chosen - ref_chosen)
    rejected_reward = beta * (policy_rejected - ref_rejected)
    losses = formulas.reward_model_loss(chosen_reward, rejected_reward)  # logsigmoid inside: stable
    return losses, chosen_reward.detach(), rejected_reward.detach()


# ---------------------------------------------------------------- the loop

def train_dpo(policy: GPT, reference: GPT, tokenizer, pairs: list[tuple[str, str]], cfg: DPOConfig,
              progress: bool = True, callback=None, reward_model=None, prompts: list[str] | None = None):
    """Run DPO on (chosen text, rejected text) pairs. ``policy`` is updated in place.

    ``reward_model`` and ``prompts`` are only for the monitor (``cfg.monitor_every``); DPO never
    trains on them. Returns (policy, list of per-step log dicts); "tokens" (sampled to train) is 0.
    """
    if cfg.monitor_every and (reward_model is None or not prompts):
        raise ValueError("monitor_every > 0 needs a reward_model and prompts to sample from")
    torch.manual_seed(cfg.seed)
    freeze(reference, reward_model)
    spans = preference_spans(tokenizer, pairs, policy.config.block_size)
    opt = adamw(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    if cfg.monitor_every:  # the same prompts and the same seed every time: the curve shows the policy move
        # Its own generator: watching must not change the order of the pairs, so not the training either.
        monitor_gen = torch.Generator().manual_seed(cfg.seed + 1)
        pick = torch.randint(0, len(prompts), (cfg.monitor_samples,), generator=monitor_gen).tolist()
        monitor_prompts = [prompts[i] for i in pick]
    steps_per_epoch = math.ceil(len(spans) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    policy.eval()  # dropout off: policy and reference log-probs must be comparable
    history = []
    for it in progress_bar(total, "DPO", progress):
        log = {"iteration": it, "epoch": it // steps_per_epoch, "tokens": 0}
        if cfg.monitor_every and (it % cfg.monitor_every == 0 or it == total - 1):
            t0 = time.perf_counter()  # before this step's update: iteration 0 shows the start
            ro = collect_rollout(policy, reference, reward_model, tokenizer, monitor_prompts, cfg.max_new_tokens,
                                 cfg.temperature, torch.Generator().manual_seed(cfg.seed + 1))
            log.update(score=ro.scores.mean().item(), kl_k1=ro.kl_k1.sum(1).mean().item(),
                       kl_k3=ro.kl_k3.sum(1).mean().item(), length=ro.lengths.float().mean().item(),
                       seconds_monitor=time.perf_counter() - t0)
        t0 = time.perf_counter()
        if it % steps_per_epoch == 0:
            order = torch.randperm(len(spans), generator=gen).tolist()
        start = (it % steps_per_epoch) * cfg.batch_size
        rows = [spans[i] for i in order[start:start + cfg.batch_size]]
        batch = pair_batch(rows, tokenizer.pad_id)
        lr = learning_rate(cfg, it, total)
        set_lr(opt, lr)
        n = len(rows)
        logp = sequence_logprobs(policy, batch, cfg.temperature)
        with torch.no_grad():
            ref = sequence_logprobs(reference, batch, cfg.temperature)
        losses, r_w, r_l = dpo_loss(logp[:n], logp[n:], ref[:n], ref[n:], cfg.beta)
        loss = losses.mean()
        optimizer_step(opt, loss, policy.parameters(), cfg.max_grad_norm)
        log.update(loss=loss.item(), accuracy=(r_w > r_l).float().mean().item(),
                   margin=(r_w - r_l).mean().item(), chosen_reward=r_w.mean().item(),
                   rejected_reward=r_l.mean().item(), chosen_logp=logp[:n].mean().item(),
                   rejected_logp=logp[n:].mean().item(), lr=lr, beta=cfg.beta,
                   pair_tokens=int(batch.response_mask.sum()), seconds=time.perf_counter() - t0)
        history.append(log)
        if callback is not None:
            callback(log, batch)
    policy.eval()
    return policy, history
