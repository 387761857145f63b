"""Mutation testing of the RL core: plant one realistic bug at a time, run the unit tests, count the catches.

    .venv/bin/python tools/mutate.py                 # every mutant: ~3 minutes on a quiet 2-core machine
    .venv/bin/python tools/mutate.py --list          # the list, with every anchor checked
    .venv/bin/python tools/mutate.py --only ppo.value-head-alignment rollout.ref-temperature-missing
    .venv/bin/python tools/mutate.py --file ppo.py   # the mutants of one module

Each mutant is (name, file under rlhf_edu/, an exact snippet of the real code, what replaces it).
The package, the tests, conftest.py and pyproject.toml are copied to a throw-away directory; each
mutant is written into the copy, the unit tests of its module (``TESTS``) run against it with
``pytest -x`` (the first failure is enough), and the file is restored. A mutant is *caught* when a
test fails (or the run passes ``--timeout`` CPU seconds: a hang), *survived* when every test passes.
A snippet that is not found exactly once stops the run before anything is scored: the code moved,
and the list must follow it.

Some mutants are marked ``harmless``: the change cannot alter any result of the package (the note
says why). They are run too, but reported apart and left out of the score. A mutant whose module's
test file does not exist yet is reported as "no tests" and left out of the score as well.

Speed: the unmutated tests run first, twice (to time each test, then in the order the mutants use:
quickest first, so that -x stops early); each run is a child forked from this process, which has
already imported torch, pytest and the other heavy modules, but never rlhf_edu (``--subprocess``
starts a fresh interpreter instead); torch uses one thread per run.

Not part of the default test command (it takes minutes); run it on demand, e.g. after changing
the RL core or its tests, and add a mutant when you add a test for a bug. Exit status: 0 when the
score reaches ``--min-score`` (95 %), 1 below it, 2 when the list or the baseline is broken.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The unit tests that exercise each module, its own file first (with -x the run stops at the first
# failure, so the most direct tests go first). Notebooks and the slow pipeline tests are left out.
TESTS = {
    "formulas.py": ("test_formulas.py", "test_rollout.py", "test_ppo.py", "test_policy_gradient.py"),
    "model.py": ("test_model.py", "test_rollout.py", "test_reward_model.py", "test_ppo.py",
                 "test_policy_gradient.py"),
    "reward_model.py": ("test_reward_model.py", "test_rollout.py", "test_ppo.py"),
    "rollout.py": ("test_rollout.py", "test_ppo.py", "test_policy_gradient.py"),
    "ppo.py": ("test_ppo.py", "test_rollout.py"),
    "rl.py": ("test_rl.py", "test_ppo.py", "test_rloo.py", "test_grpo.py", "test_policy_gradient.py", "test_dpo.py"),
    "policy_gradient.py": ("test_policy_gradient.py",),
    "optim.py": ("test_optim.py", "test_train.py"),
    "train.py": ("test_train.py",),
    "dpo.py": ("test_dpo.py",),
    "grpo.py": ("test_grpo.py",),
    "rloo.py": ("test_rloo.py",),
}


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str          # relative to rlhf_edu/
    old: str           # must occur exactly once in the file
    new: str
    note: str = ""     # what the bug does
    harmless: str = ""  # if set: why no result of the package can change (left out of the score)


M = Mutant
DPO_REWARDS = ("chosen_reward = beta * (policy_chosen - ref_chosen)\n"
               "    rejected_reward = beta * (policy_rejected - ref_rejected)")
MUTANTS: list[Mutant] = [
    # ------------------------------------------------------------------ formulas.py
    M("formulas.clip-with-max", "formulas.py",
      "objective = torch.minimum(unclipped, clipped)", "objective = torch.maximum(unclipped, clipped)",
      "PPO takes the optimistic term: no trust region"),
    M("formulas.clip-advantage-not-detached", "formulas.py",
      "adv = adv.detach()  # the advantage", "adv = adv  # the advantage",
      "the clipped objective back-propagates into the advantage (and through it the critic)"),
    M("formulas.ratio-inverted", "formulas.py",
      "return _out(torch.exp(ln - lo), logp_new, logp_old)", "return _out(torch.exp(lo - ln), logp_new, logp_old)",
      "pi_old / pi_new"),
    M("formulas.bt-sides-swapped", "formulas.py",
      "-torch.nn.functional.logsigmoid(rc - rr)", "-torch.nn.functional.logsigmoid(rr - rc)",
      "the reward model learns to prefer the rejected text"),
    M("formulas.bt-unstable", "formulas.py",
      "-torch.nn.functional.logsigmoid(rc - rr)", "-torch.log(torch.sigmoid(rc - rr))",
      "log(sigmoid(x)): -inf loss and NaN gradients for a large gap"),
    M("formulas.bt-prob-swapped", "formulas.py",
      "return _out(torch.sigmoid(rc - rr), r_chosen, r_rejected)",
      "return _out(torch.sigmoid(rr - rc), r_chosen, r_rejected)"),
    M("formulas.k1-sign", "formulas.py",
      "return _out(lp - lr, logp, logp_ref)", "return _out(lr - lp, logp, logp_ref)",
      "KL(ref || pi) sampled under pi: a biased estimate, negative on average"),
    M("formulas.k3-rho-inverted", "formulas.py",
      "log_rho = lr - lp", "log_rho = lp - lr", "rho = pi / pi_ref: still >= 0, but biased"),
    M("formulas.kl-penalty-sign", "formulas.py",
      "return _out(r - beta * k, reward, kl)", "return _out(r + beta * k, reward, kl)",
      "the KL term rewards drifting away from the reference"),
    M("formulas.beta-ignored", "formulas.py",
      "return _out(r - beta * k, reward, kl)", "return _out(r - k, reward, kl)"),
    M("formulas.pg-advantage-not-detached", "formulas.py",
      "return _out(lp * adv.detach(), logp, advantage)", "return _out(lp * adv, logp, advantage)"),
    M("formulas.returns-gamma-misplaced", "formulas.py",
      "running = r[..., t] + gamma * running", "running = gamma * (r[..., t] + running)",
      "the reward of the current step is discounted too"),
    M("formulas.exact-kl-reversed", "formulas.py",
      "(torch.xlogy(tp, tp) - torch.xlogy(tp, tq)).sum(-1)", "(torch.xlogy(tq, tq) - torch.xlogy(tq, tp)).sum(-1)",
      "KL(q || p)"),

    # ------------------------------------------------------------------ model.py
    M("model.causal-mask-off", "model.py",
      "allowed = (k_pos <= q_pos)[None]", "allowed = (k_pos >= 0)[None]",
      "a padded or cached forward pass sees future tokens"),
    M("model.causal-flag-off", "model.py",
      "is_causal=True", "is_causal=False", "the unpadded fast path sees future tokens"),
    M("model.pads-attended", "model.py",
      "allowed = allowed & attention_mask.bool()[:, None, :]", "allowed = allowed",
      "left-padding changes every logit"),
    M("model.positions-not-from-mask", "model.py",
      "position_ids = positions_from_mask(attention_mask)[:, past_len:]",
      "position_ids = torch.arange(past_len, past_len + T, device=idx.device).expand(B, T)",
      "a left-padded prompt starts at position 4, not 0"),
    M("model.logprobs-target-off-by-one", "model.py",
      "logp_all.gather(-1, sequences[:, start + 1:, None])", "logp_all.gather(-1, sequences[:, start:-1, None])",
      "scores the token that was already seen, not the next one"),
    M("model.logits-off-by-one", "model.py",
      "logits = model.logits_from_hidden(hidden[:, start:-1])",
      "logits = model.logits_from_hidden(hidden[:, start + 1:])",
      "token t scored by the logits at t, which have seen it"),
    M("model.logprob-temperature-missing", "model.py",
      "logits = model.logits_from_hidden(hidden[:, start:-1]).float() / temperature",
      "logits = model.logits_from_hidden(hidden[:, start:-1]).float()",
      "training log-probs at T = 1 while sampling at T"),
    M("model.sampler-temperature-missing", "model.py",
      "filter_logits(logits[:, -1, :].float() / temperature, top_k, top_p)",
      "filter_logits(logits[:, -1, :].float(), top_k, top_p)"),
    M("model.sampler-temperature-doubled", "model.py",
      "filter_logits(logits[:, -1, :].float() / temperature, top_k, top_p)",
      "filter_logits(logits[:, -1, :].float() / temperature ** 2, top_k, top_p)",
      "temperature applied twice (once by the caller, once here)"),
    M("model.response-start-off-by-one", "model.py",
      "start=prompt_len - 1)", "start=prompt_len)", "the first response token is never scored"),
    M("model.entropy-sign", "model.py",
      "out.append(-(logp_all.exp() * logp_all).sum(-1))", "out.append((logp_all.exp() * logp_all).sum(-1))"),
    M("model.finished-rows-unmasked", "model.py",
      "mask = torch.cat([mask, (~done).long()[:, None]], dim=1)",
      "mask = torch.cat([mask, torch.ones_like(done).long()[:, None]], dim=1)",
      "pads after EOS count as real: the reward model reads its score at a pad"),
    M("model.eos-not-in-mask", "model.py",
      "        out_mask.append((~done).long())\n"
      "        mask = torch.cat([mask, (~done).long()[:, None]], dim=1)\n"
      "        done = done | (tok == eos_id)\n",
      "        done = done | (tok == eos_id)\n"
      "        out_mask.append((~done).long())\n"
      "        mask = torch.cat([mask, (~done).long()[:, None]], dim=1)\n",
      "EOS gets no log-prob and no score: the policy never learns to stop"),

    # ------------------------------------------------------------------ reward_model.py
    M("rm.score-at-last-column", "reward_model.py",
      "return per_position.gather(1, last_real_index(attention_mask)[:, None]).squeeze(1)",
      "return per_position[:, -1]",
      "the score of a right-padded row is read at a pad"),
    M("rm.last-index-is-first-real", "reward_model.py",
      "return (attention_mask.long() * positions).argmax(1)", "return attention_mask.long().argmax(1)"),
    M("rm.last-index-assumes-right-padding", "reward_model.py",
      "return (attention_mask.long() * positions).argmax(1)", "return attention_mask.long().sum(1) - 1"),
    M("rm.train-sides-swapped", "reward_model.py",
      "r_c, r_r = scores[: len(rows)], scores[len(rows):]", "r_r, r_c = scores[: len(rows)], scores[len(rows):]"),
    M("rm.calibration-gain-not-inverted", "reward_model.py",
      "rm.gain.fill_(1.0 / std.item())", "rm.gain.fill_(std.item())"),
    M("rm.truncation-keeps-the-start", "reward_model.py",
      "[tokenizer.eos_id])[-block_size:]", "[tokenizer.eos_id])[:block_size]",
      "a long text loses its EOS, where the score is read"),
    M("rm.pairs-reversed", "reward_model.py",
      "pairs.append((rng.choice(by_label[hi]), rng.choice(by_label[lo])))",
      "pairs.append((rng.choice(by_label[lo]), rng.choice(by_label[hi])))"),

    # ------------------------------------------------------------------ rollout.py
    M("rollout.ref-temperature-missing", "rollout.py",
      "ref_logprobs = response_logprobs(reference, gen, temperature=temperature)",
      "ref_logprobs = response_logprobs(reference, gen)",
      "the reference scored at T = 1, the policy at T: KL > 0 before any update"),
    M("rollout.k3-rho-inverted", "rollout.py",
      "formulas.kl_k3(self.logprobs, self.ref_logprobs)", "formulas.kl_k3(self.ref_logprobs, self.logprobs)",
      "logged k3 of KL(ref || pi)"),
    M("rollout.k1-sign", "rollout.py",
      "formulas.per_token_kl_k1(self.logprobs, self.ref_logprobs)",
      "formulas.per_token_kl_k1(self.ref_logprobs, self.logprobs)",
      "the KL penalty of policy gradient and RLOO changes sign"),
    M("rollout.k1-unmasked", "rollout.py",
      "return formulas.per_token_kl_k1(self.logprobs, self.ref_logprobs) * self.response_mask",
      "return formulas.per_token_kl_k1(self.logprobs, self.ref_logprobs)",
      harmless="collect_rollout, the only maker of a Rollout, stores both log-probs already multiplied by "
               "the mask, so k1 at a pad is 0 - 0 = 0 with or without the second mask"),
    M("rollout.policy-logprobs-unmasked", "rollout.py",
      "logprobs = response_logprobs(policy, gen, temperature=temperature) * gen.response_mask",
      "logprobs = response_logprobs(policy, gen, temperature=temperature)",
      "pads carry log-probs into the KL and GRPO's old log-probs"),
    M("rollout.no-eos-penalty-inverted", "rollout.py",
      "torch.where(ended, scores, torch.full_like(scores, no_eos_penalty))",
      "torch.where(ended, torch.full_like(scores, no_eos_penalty), scores)",
      "the completions that did end are penalised"),

    # ------------------------------------------------------------------ ppo.py
    M("ppo.value-head-alignment", "ppo.py",
      "h = hidden[:, prompt_len - 1:-1]", "h = hidden[:, prompt_len:]",
      "V(s_t) read after token t: the value sees the action it should judge"),
    M("ppo.ratio-inverted", "ppo.py",
      "log_ratio = (new_logp - old_logp) * mask", "log_ratio = (old_logp - new_logp) * mask"),
    M("ppo.no-clipping", "ppo.py",
      "pg_loss = -masked_mean(terms.objective, mask)", "pg_loss = -masked_mean(terms.unclipped, mask)"),
    M("ppo.policy-loss-over-pads", "ppo.py",
      "pg_loss = -masked_mean(terms.objective, mask)", "pg_loss = -terms.objective.mean()"),
    M("ppo.value-clip-with-min", "ppo.py",
      "torch.maximum((new_values - returns) ** 2, (v_clipped - returns) ** 2), mask)",
      "torch.minimum((new_values - returns) ** 2, (v_clipped - returns) ** 2), mask)"),
    M("ppo.value-loss-over-pads", "ppo.py",
      "vf_loss = 0.5 * masked_mean(torch.maximum((new_values - returns) ** 2, (v_clipped - returns) ** 2), mask)",
      "vf_loss = 0.5 * torch.maximum((new_values - returns) ** 2, (v_clipped - returns) ** 2).mean()"),
    M("ppo.score-on-a-pad", "ppo.py",
      "last = (mask.long() * torch.arange(mask.shape[1], device=mask.device)).argmax(1)",
      "last = torch.full((len(scores),), mask.shape[1] - 1, device=mask.device)",
      "the score is added at the last column, a pad for every short completion"),
    M("ppo.token-kl-sign", "ppo.py", "rewards = -beta * kl", "rewards = beta * kl"),
    M("rl.loo-includes-the-sample", "rl.py",
      "others = (groups.sum(1, keepdim=True) - groups) / (k - 1)", "others = groups.mean(1, keepdim=True)",
      "the baseline depends on the sample: advantages shrink by (k-1)/k"),
    M("ppo.gae-lambda-in-delta", "ppo.py",
      "deltas = (rewards + gamma * next_values - values) * mask",
      "deltas = (rewards + lam * next_values - values) * mask", "gamma and lambda swapped in the TD error"),
    M("ppo.returns-without-values", "ppo.py",
      "return advantages, (advantages + values) * mask", "return advantages, advantages * mask",
      "the critic learns A instead of A + V"),
    M("ppo.gae-next-value-unmasked", "ppo.py",
      "next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1) * torch.cat(\n"
      "        [mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)",
      "next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)",
      harmless="the line above already sets values = values * mask, so the value after the last real token "
               "is 0 either way (a response mask is 1...1 0...0: a pad is never followed by a real token)"),
    M("rl.whiten-mean-over-pads", "rl.py", "mean = masked_mean(x, mask)", "mean = x.mean()"),
    M("rl.lr-never-annealed", "rl.py", "return cfg.lr * (1 - step / total) if cfg.anneal_lr else cfg.lr",
      "return cfg.lr"),
    M("rl.groups-interleaved", "rl.py", "return [prompts[i] for i in picked for _ in range(k)]",
      "return [prompts[i] for _ in range(k) for i in picked]"),
    M("rl.no-gradient-clipping", "rl.py", "nn.utils.clip_grad_norm_(parameters, max_grad_norm)", "pass"),
    M("rl.reference-not-frozen", "rl.py", "p.requires_grad_(False)", "p.requires_grad_(True)"),
    M("rl.whiten-var-over-pads", "rl.py",
      "var = masked_mean((x - mean) ** 2, mask)", "var = ((x - mean) ** 2).mean()"),
    M("ppo.kl-controller-sign", "ppo.py",
      "error = max(-0.2, min(0.2, kl / self.target - 1))", "error = max(-0.2, min(0.2, 1 - kl / self.target))"),
    M("ppo.old-logprobs-temperature", "ppo.py",
      "old_logp, _, old_values = model(ro.sequences, ro.attention_mask, ro.prompt_len, cfg.temperature)",
      "old_logp, _, old_values = model(ro.sequences, ro.attention_mask, ro.prompt_len)"),
    M("ppo.advantages-not-detached", "ppo.py",
      "        with torch.no_grad():\n            old_logp, _, old_values = model(",
      "        if True:  # no torch.no_grad()\n            old_logp, _, old_values = model(",
      "old values, returns and advantages carry the graph of the rollout's forward pass"),
    M("ppo.beta-ignored-in-loop", "ppo.py",
      "old_logp, ro.ref_logprobs, mask, beta)", "old_logp, ro.ref_logprobs, mask, 0.0)"),
    M("ppo.loo-not-applied", "ppo.py",
      "rewards = token_rewards(leave_one_out(ro.scores, k),", "rewards = token_rewards(ro.scores,"),
    M("ppo.gae-gamma-lambda-swapped-in-loop", "ppo.py",
      "gae(rewards, old_values, mask, cfg.gamma, cfg.lam)", "gae(rewards, old_values, mask, cfg.lam, cfg.gamma)"),
    M("ppo.returns-from-whitened-advantages", "ppo.py",
      "                advantages = whiten(advantages, mask)\n",
      "                advantages = whiten(advantages, mask)\n"
      "                returns = (advantages + old_values) * mask\n",
      "the critic is fitted to whitened targets: V no longer estimates the return"),
    M("ppo.entropy-bonus-sign", "ppo.py",
      "loss = pg_loss + cfg.vf_coef * vf_loss - cfg.entropy_coef * ent",
      "loss = pg_loss + cfg.vf_coef * vf_loss + cfg.entropy_coef * ent",
      "the 'bonus' punishes entropy"),
    M("ppo.minibatch-advantages-unshuffled", "ppo.py",
      "old_logp[mb], advantages[mb], new_values",
      "old_logp[mb], advantages[start:start + cfg.minibatch_size], new_values",
      "rows shuffled, advantages not: each token gets another completion's advantage"),

    # ------------------------------------------------------------------ policy_gradient.py
    M("pg.sum-over-padding", "policy_gradient.py",
      "seq_logp = (logp * ro.response_mask).sum(1)", "seq_logp = logp.sum(1)",
      "the pads' log-probs join the completion's"),
    M("pg.loss-sign", "policy_gradient.py",
      "return -formulas.policy_gradient_surrogate(seq_logp, advantages).mean()",
      "return formulas.policy_gradient_surrogate(seq_logp, advantages).mean()", "gradient descent on J"),
    M("pg.loss-temperature-missing", "policy_gradient.py",
      "response_logprobs(policy, ro.sequences, ro.attention_mask, ro.prompt_len, temperature)",
      "response_logprobs(policy, ro.sequences, ro.attention_mask, ro.prompt_len)"),
    M("pg.loop-temperature-missing", "policy_gradient.py",
      "loss = pg_loss(policy, ro, adv, cfg.temperature)", "loss = pg_loss(policy, ro, adv)"),
    M("pg.no-baseline", "policy_gradient.py",
      "adv = rewards - rewards.mean() if baseline else rewards.clone()", "adv = rewards.clone()"),
    M("pg.normalise-by-variance", "policy_gradient.py",
      "adv = adv / adv.std().clamp(min=1e-6)", "adv = adv / adv.var().clamp(min=1e-6)"),
    M("pg.kl-sign", "policy_gradient.py",
      "formulas.kl_penalised_reward(ro.scores, kl, cfg.beta)",
      "formulas.kl_penalised_reward(ro.scores, -kl, cfg.beta)"),
    M("pg.beta-ignored", "policy_gradient.py",
      "formulas.kl_penalised_reward(ro.scores, kl, cfg.beta)", "formulas.kl_penalised_reward(ro.scores, kl, 0.0)"),
    M("pg.eval-missing", "policy_gradient.py",
      "policy.eval()  # dropout off: the log-probs", "pass  # dropout off: the log-probs",
      harmless="collect_rollout, called just before, puts the policy in eval mode and nothing in between "
               "switches it back"),

    # ------------------------------------------------------------------ optim.py
    M("optim.no-bias-correction-first-moment", "optim.py",
      'value=-g["lr"] / (1 - beta1 ** t))', 'value=-g["lr"])'),
    M("optim.no-bias-correction-second-moment", "optim.py",
      'denom = (st["exp_avg_sq"].sqrt() / (1 - beta2 ** t) ** 0.5).add_(g["eps"])',
      'denom = st["exp_avg_sq"].sqrt().add_(g["eps"])'),
    M("optim.eps-inside-sqrt", "optim.py",
      'denom = (st["exp_avg_sq"].sqrt() / (1 - beta2 ** t) ** 0.5).add_(g["eps"])',
      'denom = (st["exp_avg_sq"] / (1 - beta2 ** t)).add_(g["eps"]).sqrt()'),
    M("optim.weight-decay-in-the-gradient", "optim.py",
      'p.mul_(1 - g["lr"] * g["weight_decay"])', 'p.grad.add_(p, alpha=g["weight_decay"])',
      "Adam + L2, not AdamW"),
    M("optim.weight-decay-not-scaled-by-lr", "optim.py",
      'p.mul_(1 - g["lr"] * g["weight_decay"])', 'p.mul_(1 - g["weight_decay"])'),
    M("optim.betas-swapped", "optim.py", 'beta1, beta2 = g["betas"]', 'beta2, beta1 = g["betas"]'),

    # ------------------------------------------------------------------ train.py (SFT)
    M("train.sft-loss-on-the-prompt", "train.py",
      "m = [0] * len(p) + [1] * (len(seq) - len(p))", "m = [1] * len(seq)"),

    # ------------------------------------------------------------------ dpo.py
    M("dpo.sides-swapped", "dpo.py",
      "formulas.reward_model_loss(chosen_reward, rejected_reward)",
      "formulas.reward_model_loss(rejected_reward, chosen_reward)"),
    M("dpo.reference-ignored", "dpo.py", DPO_REWARDS,
      "chosen_reward = beta * policy_chosen\n    rejected_reward = beta * policy_rejected"),
    M("dpo.beta-ignored", "dpo.py", DPO_REWARDS,
      "chosen_reward = policy_chosen - ref_chosen\n    rejected_reward = policy_rejected - ref_rejected"),
    M("dpo.logp-over-pads", "dpo.py",
      "return (logp * batch.response_mask).sum(1)", "return logp.sum(1)"),
    M("dpo.reference-temperature-missing", "dpo.py",
      "ref = sequence_logprobs(reference, batch, cfg.temperature)", "ref = sequence_logprobs(reference, batch)"),
    M("dpo.reference-is-the-policy", "dpo.py",
      "ref = sequence_logprobs(reference, batch, cfg.temperature)",
      "ref = sequence_logprobs(policy, batch, cfg.temperature)"),
    M("dpo.pairs-misaligned", "dpo.py",
      "dpo_loss(logp[:n], logp[n:], ref[:n], ref[n:], cfg.beta)",
      "dpo_loss(logp[:n], logp[n:], ref[n:], ref[:n], cfg.beta)"),

    # ------------------------------------------------------------------ grpo.py
    M("grpo.batch-mean-baseline", "grpo.py",
      "centred = groups - groups.mean(1, keepdim=True)", "centred = groups - scores.mean()",
      "the batch's mean, not the group's: 'easy prompt' again"),
    M("grpo.batch-std", "grpo.py",
      "std = groups.std(1, correction=0, keepdim=True)", "std = scores.std(correction=0)"),
    M("grpo.k3-rho-inverted", "grpo.py",
      "log_rho = (ref_logp - new_logp) * mask", "log_rho = (new_logp - ref_logp) * mask"),
    M("grpo.kl-sign", "grpo.py",
      "loss = -sequence_mean(objective - beta * k3, mask)", "loss = -sequence_mean(objective + beta * k3, mask)"),
    M("grpo.ratio-inverted", "grpo.py",
      "log_ratio = (new_logp - old_logp) * mask", "log_ratio = (old_logp - new_logp) * mask"),
    M("grpo.no-clipping", "grpo.py",
      "ratio, advantages[:, None].expand_as(ratio), clip_eps).objective",
      "ratio, advantages[:, None].expand_as(ratio), clip_eps).unclipped"),
    M("grpo.mean-over-pads", "grpo.py",
      "return ((x * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()", "return x.mean()"),

    # ------------------------------------------------------------------ rloo.py
    M("rloo.baseline-includes-the-sample", "rloo.py",
      "return leave_one_out(scores - beta * kl, k)",
      "r = scores - beta * kl\n    return r - r.view(-1, k).mean(1).repeat_interleave(k)"),
    M("rloo.kl-sign", "rloo.py",
      "return leave_one_out(scores - beta * kl, k)", "return leave_one_out(scores + beta * kl, k)"),
    # The update is policy_gradient.pg_loss (its padding, sign and temperature mutants are above).
    M("rloo.loss-sign", "rloo.py",
      "loss = pg_loss(policy, ro, advantages, cfg.temperature)",
      "loss = -pg_loss(policy, ro, advantages, cfg.temperature)"),
    M("rloo.temperature-missing", "rloo.py",
      "loss = pg_loss(policy, ro, advantages, cfg.temperature)", "loss = pg_loss(policy, ro, advantages)"),
    M("rloo.raw-scores", "rloo.py",
      "loss = pg_loss(policy, ro, advantages, cfg.temperature)",
      "loss = pg_loss(policy, ro, ro.scores, cfg.temperature)", "no baseline, no KL: the raw score"),
]

CONFTEST = """

# ---- added by tools/mutate.py to its throw-away copy ------------------------------------------
import json as _json  # noqa: E402
import os as _os  # noqa: E402
import pathlib as _pathlib  # noqa: E402

import rlhf_edu as _rlhf_edu  # noqa: E402

# The tests must import this copy of the package, not the checkout's (the editable install).
_HERE = _pathlib.Path(__file__).resolve().parent
if _pathlib.Path(_rlhf_edu.__file__).resolve().parent != _HERE / "rlhf_edu":
    raise RuntimeError(f"tools/mutate.py: the tests imported {_rlhf_edu.__file__}, not the mutated copy")

# Quickest tests first, timed on the unmutated copy: with -x, a caught mutant stops sooner.
_TIMES = _HERE / "test_times.json"
_took = {}


def pytest_collection_modifyitems(items):
    if _os.environ.get("MUTATE_ORDER") == "quickest-first" and _TIMES.exists():
        times = _json.loads(_TIMES.read_text())
        items.sort(key=lambda item: times.get(item.nodeid, 0.0))


def pytest_runtest_logreport(report):
    _took[report.nodeid] = _took.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    if _os.environ.get("MUTATE_RECORD_TIMES"):
        _TIMES.write_text(_json.dumps(_took))
"""


def check_anchors(mutants: list[Mutant], pkg: pathlib.Path) -> list[str]:
    """Every old snippet must occur exactly once, and every mutated file must still compile."""
    problems = []
    names = [m.name for m in MUTANTS]
    for m in mutants:
        if names.count(m.name) > 1:
            problems.append(f"{m.name}: the name is used more than once")
        if m.file not in TESTS:
            problems.append(f"{m.name}: no test files listed for {m.file} in TESTS")
        path = pkg / m.file
        if not path.exists():
            problems.append(f"{m.name}: rlhf_edu/{m.file} does not exist")
            continue
        source = path.read_text()
        n = source.count(m.old)
        if n != 1:
            problems.append(f"{m.name}: the snippet occurs {n} times in rlhf_edu/{m.file} (must be once):\n"
                            + "\n".join("        | " + line for line in m.old.splitlines()))
            continue
        if m.old == m.new:
            problems.append(f"{m.name}: the new snippet equals the old one")
        try:
            compile(source.replace(m.old, m.new), str(path), "exec")
        except SyntaxError as e:
            problems.append(f"{m.name}: the mutated file does not compile ({e})")
    return problems


def make_copy(tmp: pathlib.Path) -> pathlib.Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(ROOT / "rlhf_edu", tmp / "rlhf_edu", ignore=ignore)
    shutil.copytree(ROOT / "tests", tmp / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    (tmp / "conftest.py").write_text((ROOT / "conftest.py").read_text() + CONFTEST)
    return tmp


PRELOAD = ("torch", "numpy", "tqdm.auto", "pytest", "hypothesis", "nbval.plugin")


def preload(extra: tuple[str, ...] = ()) -> None:
    """Import the heavy third-party modules once, in this process, so that every forked run starts warm.

    Never rlhf_edu: each run must import the (mutated) copy afresh. Nothing is computed here, so no
    thread pool exists yet when we fork.
    """
    import importlib

    for name in PRELOAD + extra:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    assert not any(k == "rlhf_edu" or k.startswith("rlhf_edu.") for k in sys.modules), "rlhf_edu preloaded"


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) a running process has used so far; None off Linux."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Runner:
    """Runs pytest on the copy: in a forked, warm child (default) or a new interpreter."""

    tmp: pathlib.Path
    fork: bool
    threads: int
    timeout: float       # CPU seconds (wall seconds where CPU time cannot be read)
    wall_timeout: float

    def _env(self, extra: dict) -> dict:
        return {"PYTHONPATH": str(self.tmp), "PYTHONDONTWRITEBYTECODE": "1", "RLHF_EDU_SIZE": "test",
                "OMP_NUM_THREADS": str(self.threads), **extra}

    def _spawn(self, args: list[str], env: dict, log: pathlib.Path) -> int:
        if not self.fork:
            with open(log, "w") as out:
                return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=self.tmp,
                                        env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True).pid
        pid = os.fork()
        if pid:
            return pid
        code = 3
        try:  # the child: the parent's warm imports, a fresh import of the copy's rlhf_edu
            os.setsid()
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(self.tmp)
            sys.path.insert(0, str(self.tmp))
            sys.dont_write_bytecode = True
            os.environ.update(env)
            import pytest
            import torch

            torch.set_num_threads(self.threads)
            code = int(pytest.main(args))
        except BaseException:  # noqa: BLE001 - report anything, then leave without running the parent's code
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def run(self, files: list[str], extra_env: dict | None = None, factor: float = 1.0) -> tuple[str, float, str]:
        """(status, seconds, detail): status is passed, failed, error or timeout.

        The limit is on CPU time where it can be read (a shared, busy machine stretches the wall clock,
        not the work), with a wall-clock limit behind it for a run that waits forever.
        """
        log = self.tmp / "pytest.log"
        t0 = time.perf_counter()
        pid = self._spawn(["-x", "-q", "-p", "no:cacheprovider", "--no-header",
                           "-W", "ignore::pytest.PytestAssertRewriteWarning", *files],  # plugins preloaded: harmless
                          self._env(extra_env or {}), log)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            wall = time.perf_counter() - t0
            cpu = _cpu_seconds(pid)
            if (cpu if cpu is not None else wall) > self.timeout * factor or wall > self.wall_timeout * factor:
                os.killpg(pid, signal.SIGKILL)  # the run's own process group: pytest and anything it started
                os.waitpid(pid, 0)
                used = f"{cpu:.0f} s of CPU, " if cpu is not None else ""
                return "timeout", time.perf_counter() - t0, f"no result after {used}{wall:.0f} s"
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        out = log.read_text(errors="replace")
        if "tools/mutate.py: the tests imported" in out:
            raise SystemExit("the tests imported the checkout's rlhf_edu, not the copy:\n" + out[-2000:])
        first = next((line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))), "")
        last = out.strip().splitlines()[-1] if out.strip() else ""
        detail = first.split(" ", 1)[1].split(" - ")[0] if first else last
        if code == 0:
            return "passed", seconds, last
        if code in (1, 2):  # 1: a test failed; 2: collection error (e.g. the module no longer imports)
            return "failed", seconds, detail
        return "error", seconds, f"pytest exited with {code}:\n{out[-3000:]}"


def test_files(m: Mutant, tmp: pathlib.Path) -> list[str]:
    return [f"tests/{f}" for f in TESTS[m.file] if (tmp / "tests" / f).exists()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutants, check their anchors, run nothing")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    ap.add_argument("--file", nargs="+", metavar="FILE", help="run only the mutants of these modules (e.g. ppo.py)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="CPU seconds per mutant before it counts as caught (wall seconds where CPU time is unknown)")
    ap.add_argument("--wall-timeout", type=float, default=3600.0, help="wall-clock seconds per mutant, in any case")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (tiny models: 1 is as fast)")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="do not first check that the tests pass unmutated (the tests then run in file order)")
    ap.add_argument("--min-score", type=float, default=95.0, help="exit 1 below this percentage")
    ap.add_argument("--subprocess", action="store_true",
                    help="start every run as a new interpreter instead of forking a warm one (slower)")
    args = ap.parse_args(argv)

    mutants = MUTANTS
    if args.only:
        unknown = set(args.only) - {m.name for m in MUTANTS}
        if unknown:
            ap.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
        mutants = [m for m in MUTANTS if m.name in args.only]
    if args.file:
        mutants = [m for m in mutants if m.file in args.file]
    problems = check_anchors(mutants, ROOT / "rlhf_edu")
    if problems:
        print("Cannot run: these mutants no longer match the code (fix the list in tools/mutate.py):",
              *problems, sep="\n  ", file=sys.stderr)
        return 2

    if args.list:
        width = max(len(m.name) for m in mutants)
        for m in mutants:
            tag = "harmless: " + m.harmless if m.harmless else m.note or "-> " + " / ".join(m.new.split("\n"))
            print(f"{m.name:<{width}}  {m.file:<18}  {tag}")
        print(f"{len(mutants)} mutants, every anchor found exactly once")
        return 0

    fork = hasattr(os, "fork") and not args.subprocess
    if fork:
        # test_optim builds torch's AdamW to compare with ours, which imports torch._dynamo (seconds of CPU).
        preload(("torch._dynamo",) if any("test_optim.py" in TESTS[m.file] for m in mutants) else ())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the temporary copy is removed
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rlhf_edu_mutants_") as d:
        tmp = make_copy(pathlib.Path(d))
        runner = Runner(tmp, fork, args.threads, args.timeout, args.wall_timeout)
        runnable = [m for m in mutants if (tmp / "tests" / TESTS[m.file][0]).exists()]
        order = {}
        if not args.skip_baseline:
            # Twice: in file order, timing every test; then quickest first, the order the mutants run in
            # (a test that passes only after another has run would otherwise "catch" mutants).
            files = list(dict.fromkeys(f for m in runnable for f in test_files(m, tmp)))
            print(f"baseline: {len(files)} test files on the unmutated copy, twice ...", flush=True)
            for label, env in (("file order", {"MUTATE_RECORD_TIMES": "1"}),
                               ("quickest first", {"MUTATE_ORDER": "quickest-first"})):
                status, seconds, detail = runner.run(files, env, factor=len(files))
                if status != "passed":
                    print(f"the unmutated tests do not pass in {label} ({status}: {detail}); nothing to score",
                          file=sys.stderr)
                    return 2
                print(f"  passed in {label}: {seconds:.0f} s", flush=True)
            order = {"MUTATE_ORDER": "quickest-first"}
            print()

        rows = []
        width = max(len(m.name) for m in mutants)
        print(f"{'mutant':<{width}}  {'result':<9} {'sec':>5}  first failing test (survivors: the tests run)")
        for m in mutants:
            if m not in runnable:
                rows.append((m, "no tests", 0.0, f"tests/{TESTS[m.file][0]} does not exist yet"))
            else:
                path = tmp / "rlhf_edu" / m.file
                original = path.read_text()
                path.write_text(original.replace(m.old, m.new))
                try:
                    status, seconds, detail = runner.run(test_files(m, tmp), order)
                finally:
                    path.write_text(original)
                if status == "error":
                    print(f"{m.name}: {detail}", file=sys.stderr)
                    return 2
                result = {"failed": "caught", "timeout": "timeout", "passed": "SURVIVED"}[status]
                rows.append((m, result, seconds, detail))
            _, result, seconds, detail = rows[-1]
            mark = " (harmless)" if m.harmless else ""
            print(f"{m.name:<{width}}  {result:<9} {seconds:5.0f}  {detail}{mark}", flush=True)

    scored = [r for r in rows if not r[0].harmless and r[1] != "no tests"]
    caught = [r for r in scored if r[1] in ("caught", "timeout")]
    survivors = [r for r in scored if r[1] == "SURVIVED"]
    harmless = [r for r in rows if r[0].harmless]
    untested = [r for r in rows if r[1] == "no tests"]
    print()
    if survivors:
        print("Survivors (a bug no test noticed):")
        for m, *_ in survivors:
            print(f"  {m.name} ({m.file}): {m.note or m.new}")
    if harmless:
        print("Marked harmless (run, not scored):")
        for m, result, *_ in harmless:
            warn = "  <- CAUGHT: a test pins this detail, or the note is wrong" if result != "SURVIVED" else ""
            print(f"  {m.name}: {result}{warn}\n      {m.harmless}")
    if untested:
        print(f"Not scored, no test file yet: {', '.join(m.name for m, *_ in untested)}")
    by_file = {}
    for m, result, *_ in scored:
        n_caught, n = by_file.get(m.file, (0, 0))
        by_file[m.file] = (n_caught + (result != "SURVIVED"), n + 1)
    print("by module: " + ", ".join(f"{f} {c}/{n}" for f, (c, n) in by_file.items()))
    print(f"total time {time.perf_counter() - t_start:.0f} s")
    score = 100.0 * len(caught) / len(scored) if scored else 0.0
    print(f"caught {len(caught)}/{len(scored)} ({score:.1f}%)"
          + (f"; {len(harmless)} harmless not scored" if harmless else "")
          + (f"; {len(untested)} without tests not scored" if untested else ""))
    return 0 if score >= args.min_score else 1


if __name__ == "__main__":
    sys.exit(main())
