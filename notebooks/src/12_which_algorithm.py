# %% [markdown]
# # 12 · Which algorithm buys what
#
# **What you will learn.** PPO is not the only way from an SFT model to a preferred one, and the
# methods people meet first today are DPO, GRPO and RLOO. Here all of them, and the plain
# policy-gradient loop of notebook 08, start from the *same* SFT model, learn from the *same* reward
# model (or, for DPO, from the same preference pairs the reward model learned from), and are judged by
# the *same* independent judge, under the *same* budget; best-of-n, which trains nothing, is the
# sixth. First the new losses by hand, on numbers small enough to check with a pencil and on a real
# batch; then every algorithm at three values of its KL strength β with three seeds each; then what
# each buys (the judge) at *equal* KL to the SFT model, with confidence intervals, what it costs
# (seconds, sampled tokens), how healthy its runs were, and where the reward model and the judge part
# ways (Gao et al.'s over-optimisation curves).
#
# **What you need first.** Notebooks 08 (policy gradient), 09 (PPO) and 10 (reward hacking, the β
# sweep); notebooks 06 and 07, whose SFT model and reward model this notebook loads from the cache.
#
# **How long.** A cell below the imports prints two times measured by the build at full size on a
# 2-core CPU: from an empty cache (this notebook then first trains the pretrained, SFT and reward
# models of notebooks 06 and 07, then every comparison run) and with every stage cached (it only
# loads and reads the cached evaluations). Training cells show a progress bar while they train.

# %%
%matplotlib inline
import copy
import dataclasses
import math
import warnings

import numpy as np
import torch
from IPython.display import Markdown, display

from rlhf_edu import dpo, grpo, plots, ppo, rl, rloo, show, stages, stats
from rlhf_edu.evaluation import side_by_side
from rlhf_edu.model import frozen_copy, response_logprobs
from rlhf_edu.sentiment import compare, corpus, frontiers, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())
rlhf = pipeline.rl_setup()  # the reward model's and every RL algorithm's settings, the sweeps' betas
print(f"on-policy iterations per run: {rlhf.compare_iterations}; seeds {compare.SEEDS}")
print("betas:", {compare.NAMES[k]: v for k, v in rlhf.compare_betas.items()})

# %%
# NBVAL_IGNORE_OUTPUT
print(show.build_times("12"))  # filled in by tools/build_notebooks.py

# %% [markdown]
# ## The new losses, by hand
#
# ### DPO: the reward model's loss, with the policy as the reward model
#
# DPO (Rafailov et al., 2023, equation 7) never samples and never calls a reward model. For a pair
# (chosen $y_w$, rejected $y_l$) that follow the same prompt $x$ it takes each one's *sequence*
# log-probability, the sum over its tokens, under the policy and under the frozen SFT model, and
# calls $\beta\,(\log\pi(y) - \log\pi_{\text{ref}}(y))$ the **implicit reward**. The loss is the
# Bradley–Terry loss of notebook 02 on those two rewards:
# $-\log\sigma\big(\beta[(\log\pi(y_w) - \log\pi_{\text{ref}}(y_w)) - (\log\pi(y_l) - \log\pi_{\text{ref}}(y_l))]\big)$.
#
# Two pairs, β = 0.3. In the first, the policy made the chosen answer more likely than the SFT model
# did and the rejected one less likely. In the second, it made *both* less likely, the rejected one
# much more so.

# %%
beta = 0.3
pi_w, pi_l = torch.tensor([-12.0, -13.0]), torch.tensor([-15.0, -17.0])    # log pi(y_w), log pi(y_l)
ref_w, ref_l = torch.tensor([-12.5, -12.5]), torch.tensor([-14.0, -14.0])  # log pi_ref(y_w), log pi_ref(y_l)
losses, r_w, r_l = dpo.dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)
for i in range(2):
    rw, rj = beta * (pi_w[i].item() - ref_w[i].item()), beta * (pi_l[i].item() - ref_l[i].item())
    by_hand = math.log(1 + math.exp(-(rw - rj)))  # -log sigma(m) = log(1 + e^-m)
    print(f"pair {i}: implicit rewards {rw:+.2f} (chosen) and {rj:+.2f} (rejected), margin {rw - rj:.2f}, "
          f"loss by hand {by_hand:.4f}, dpo.dpo_loss {losses[i].item():.4f}")
    assert abs(by_hand - losses[i].item()) < 1e-6 and abs(rw - r_w[i].item()) < 1e-6
assert losses[1] < losses[0]  # the second pair costs less, though its chosen answer became less likely

# %% [markdown]
# The second pair has the *lower* loss, although its chosen answer became less likely than under the
# SFT model: the loss sees only the difference of the two log-ratios. Nothing in it asks the chosen
# answer to become more likely, only more likely *relative to the rejected one*. We will look for
# this in the real runs below.

# %%
show.source(dpo.dpo_loss)

# %% [markdown]
# **The pairs DPO trains on here.** Not two answers to one question: the reward model's own training
# pairs, each a whole chosen tweet and a whole rejected tweet, usually about different things. For the
# prompt $x$ to be shared (so that the partition function $Z(x)$ of DPO's derivation cancels), the
# prompt is only the start-of-tweet token, EOS, and each response is a whole tweet (`dpo.preference_spans`):

# %%
# NBVAL_IGNORE_OUTPUT
sft, _ = pipeline.sft_model()
rm, _ = pipeline.reward_model(rl=rlhf)
tok = pipeline.tokenizer()
pairs = pipeline.train_pairs(rl=rlhf)[:compare.dpo_pairs(rlhf)]
spans = dpo.preference_spans(tok, pairs, sft.config.block_size)
for (prompt, chosen, rejected), (chosen_text, rejected_text) in list(zip(spans, pairs))[:3]:
    assert prompt == [tok.eos_id] and chosen[-1] == rejected[-1] == tok.eos_id
    print(f"prompt: [EOS]\n  chosen   ({len(chosen):2d} tokens): {chosen_text}\n"
          f"  rejected ({len(rejected):2d} tokens): {rejected_text}")
same_word = np.mean([c.split()[0].lower() == r.split()[0].lower() for c, r in pairs])
same_token = np.mean([c[0] == r[0] for _, c, r in spans])
print(f"of the {len(pairs)} pairs DPO reads: {same_word:.1%} start with the same word, "
      f"{same_token:.1%} with the same first token")

# %% [markdown]
# ### GRPO: the group is the baseline
#
# GRPO (Shao et al., 2024) samples G completions of each prompt and scores each against its own
# group: $A_i = (r_i - \mathrm{mean}(r)) / (\mathrm{std}(r) + \epsilon)$, the same number at every
# token of completion $i$. No value network. PPO as notebook 09 runs it has two baselines: each
# completion's score is first centred on the other completions of its prompt (leave-one-out, 4 a
# prompt), then a learned value head gives a per-token baseline on top. GRPO keeps only the group.
# Two groups of G = 4:

# %%
scores = torch.tensor([1.0, 0.0, 2.0, 1.0,     # group 1: one prompt's four completions
                       0.5, 0.5, 0.5, 0.5])    # group 2: four completions the reward model scores alike
G, eps = 4, 1e-4
adv = grpo.group_advantages(scores, G, eps)
g1 = scores[:4].tolist()
mean = sum(g1) / 4
std = math.sqrt(sum((r - mean) ** 2 for r in g1) / 4)  # the group's own spread (population std)
by_hand = [(r - mean) / (std + eps) for r in g1] + [0.0] * 4
print(f"group 1: mean {mean}, std {std:.4f}")
print("by hand:          ", " ".join(f"{a:+.4f}" for a in by_hand))
print("grpo.group_advantages:", " ".join(f"{a:+.4f}" for a in adv.tolist()))
assert torch.allclose(adv, torch.tensor(by_hand), atol=1e-6)
assert torch.equal(adv[4:], torch.zeros(4))  # a constant group: exactly 0, never 0/0
assert abs(adv[:4].sum().item()) < 1e-6       # each group's advantages sum to 0

# %% [markdown]
# A group whose completions all score alike teaches nothing: its advantages are exactly 0, so its
# completions add no gradient (only the KL term of GRPO's loss still acts on them).
#
# ### GRPO's loss on a real batch, equal to the trainer's
#
# GRPO's loss is PPO's clipped objective with three changes (Shao et al., equation 3): the advantage
# is the group's, one number per completion; each completion's tokens are *averaged* before the
# completions are (a long completion's tokens each weigh less); and the KL to the reference is a term
# of the *loss*, the k3 estimate of notebook 05 per token, $k3 = \rho - 1 - \log\rho$ with
# $\rho = \pi_{\text{ref}} / \pi$, not a part of the reward:
#
# $$L = -\frac{1}{G}\sum_i \frac{1}{|o_i|}\sum_t \Big[\min\big(r_t A_i,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon) A_i\big) - \beta\, k3_t\Big],
# \qquad r_t = \frac{\pi(o_t)}{\pi_{\text{old}}(o_t)}.$$
#
# The real thing: GRPO's trainer, from the SFT model, for one iteration of 2 prompts × G completions,
# with the whole batch as its one minibatch. Run for one epoch it returns the policy after its first
# step; run for two, it takes a second step on the same batch and logs the mean of the two losses. We
# recompute both losses by hand from the batch and the two policies.

# %%
# NBVAL_IGNORE_OUTPUT
small = dataclasses.replace(rlhf.grpo, iterations=1, prompts_per_iteration=2,
                            minibatch_size=2 * rlhf.grpo.group_size)
seen = {}
with warnings.catch_warnings():  # one short iteration: the health warnings are not the point here
    warnings.simplefilter("ignore", rl.UnhealthyRunWarning)
    after_one, _ = grpo.train_grpo(copy.deepcopy(sft), frozen_copy(sft), rm, tok, pipeline.rl_prompts(),
                                   dataclasses.replace(small, epochs=1), progress=False,
                                   callback=lambda log, batch: seen.update(ro=batch))
    grpo.train_grpo(copy.deepcopy(sft), frozen_copy(sft), rm, tok, pipeline.rl_prompts(),
                    dataclasses.replace(small, epochs=2), progress=False,
                    callback=lambda log, batch: seen.update(log=log, again=batch))
ro, logged, G = seen["ro"], seen["log"], small.group_size
assert torch.equal(ro.sequences, seen["again"].sequences)  # the same seed: the same batch both times
mask = ro.response_mask.float()
groups = ro.scores.view(-1, G)
A = ((groups - groups.mean(1, keepdim=True)) / (groups.std(1, correction=0, keepdim=True) + small.eps)).reshape(-1)
assert torch.allclose(A, grpo.group_advantages(ro.scores, G, small.eps), atol=1e-6)


@torch.no_grad()
def grpo_loss_by_hand(policy):
    """The formula above, for ``policy`` on the batch ``ro`` (sampled by the SFT model, the 'old' policy)."""
    new = response_logprobs(policy, ro.sequences, ro.attention_mask, ro.prompt_len)
    log_r = (new - ro.logprobs) * mask
    r = log_r.exp()
    objective = torch.minimum(r * A[:, None], r.clamp(1 - small.clip_eps, 1 + small.clip_eps) * A[:, None])
    log_rho = (ro.ref_logprobs - new) * mask
    k3 = log_rho.exp() - 1 - log_rho
    per_completion = ((objective - small.beta * k3) * mask).sum(1) / mask.sum(1)  # mean over its tokens
    return -per_completion.mean(), new, r, k3


loss_1, _, r_1, _ = grpo_loss_by_hand(sft)        # step 1: the policy is still the SFT model
loss_2, new_2, r_2, k3_2 = grpo_loss_by_hand(after_one)  # step 2: after one update
package_2, _ = grpo.grpo_loss(new_2, ro.logprobs, ro.ref_logprobs, A, mask, small.clip_eps, small.beta)
clipped_2 = (((r_2 - 1).abs() > small.clip_eps).float() * mask).sum() / mask.sum()
print(f"{'completion':<52}{'tokens':>7}{'score':>7}{'A':>8}{'mean r (step 2)':>16}{'mean k3':>9}")
for i in range(len(ro.texts)):
    n = int(mask[i].sum())
    print(f"{ro.texts[i][:50]:<52}{n:>7}{ro.scores[i].item():>7.2f}{A[i].item():>+8.3f}"
          f"{(r_2[i] * mask[i]).sum().item() / n:>16.4f}{(k3_2[i] * mask[i]).sum().item() / n:>9.5f}")
print(f"step 1 loss by hand {loss_1.item():+.6f} (ratio 1, k3 0: only the centred advantages, whose mean is 0)")
print(f"step 2 loss by hand {loss_2.item():+.6f}, grpo.grpo_loss {package_2.item():+.6f}; "
      f"clipped tokens {clipped_2.item():.1%}")
print(f"trainer's logged loss (mean of its two steps) {logged['loss']:+.6f}, by hand {(loss_1 + loss_2).item() / 2:+.6f}")
assert torch.equal(r_1 * mask, mask)  # before the first update the ratio is exactly 1
assert abs(loss_2.item() - package_2.item()) < 1e-6
assert abs((loss_1 + loss_2).item() / 2 - logged["loss"]) < 1e-5
assert abs(clipped_2.item() / 2 - logged["clip_frac"]) < 1e-5  # step 1 clips nothing

# %%
# NBVAL_IGNORE_OUTPUT
show.source(grpo.grpo_loss)

# %%
# NBVAL_IGNORE_OUTPUT
L = mask.sum(1).mean().item()
spread = groups.std(1, correction=0)  # each group's std: GRPO divides the score term by it, not the KL term
display(Markdown(
    f"The first step's loss is {loss_1.item():+.1e}: the ratio is exactly 1, the policy is still the reference "
    f"(k3 = 0), and the advantages of each group sum to 0. Its *gradient* is not 0, and the step moved the policy: "
    f"on the second pass the same batch has ratios ≠ 1 and a k3 > 0, and the loss by hand matches "
    f"`grpo.grpo_loss` and the trainer's log. **GRPO's β is not PPO's β.** GRPO's β = {small.beta:g} multiplies "
    f"the per-token *mean* of k3 inside each completion; PPO's β multiplies the KL *summed* over a completion's "
    f"tokens, inside the reward. GRPO also divides the score term by the group's std and leaves the KL term as it "
    f"is. So, per unit of raw score, GRPO's β weighs a completion's KL like a PPO β of β·std/L: with these "
    f"completions' {L:.1f} tokens on average and group stds of {', '.join(f'{v:.2f}' for v in spread.tolist())}, "
    f"about {small.beta * spread.min().item() / L:.3f}–{small.beta * spread.max().item() / L:.3f} (k3 and k1 have the "
    f"same expectation, the KL, on the policy's own samples). The two βs of the sweeps below are on different "
    f"scales."))

# %% [markdown]
# ### GRPO's baseline against RLOO's, on the same scores
#
# RLOO (Ahmadian et al., 2024) scores each completion against the *other* k − 1 completions of its
# prompt. GRPO's group mean includes the completion itself. On the real batch's scores above:

# %%
# NBVAL_IGNORE_OUTPUT
others = (groups.sum(1, keepdim=True) - groups) / (G - 1)                # the mean of the other G - 1
centred = (groups - groups.mean(1, keepdim=True)).reshape(-1)             # GRPO's numerator (itself included)
loo = rl.leave_one_out(ro.scores, G)                                      # RLOO's advantage (at beta 0)
std_g = groups.std(1, correction=0)
print(f"{'score':>7}{'group mean':>12}{'others mean':>13}{'GRPO r - mean':>15}{'RLOO r - others':>17}"
      f"{'ratio':>7}{'GRPO A (÷ std)':>16}")
for i in range(len(ro.scores)):
    print(f"{ro.scores[i].item():>7.3f}{groups.mean(1)[i // G].item():>12.3f}{others.reshape(-1)[i].item():>13.3f}"
          f"{centred[i].item():>+15.3f}{loo[i].item():>+17.3f}{centred[i].item() / loo[i].item():>7.3f}{A[i].item():>+16.3f}")
assert torch.allclose(centred, (1 - 1 / G) * loo, atol=1e-6)
assert torch.equal(loo, rloo.rloo_advantages(ro.scores, torch.zeros_like(ro.scores), 0.0, G))
print("group std:", ", ".join(f"{s:.3f}" for s in std_g.tolist()))

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(
    f"Every ratio is {1 - 1 / G:.3f} = 1 − 1/G: $r_i - \\bar r = (1 - \\tfrac1G)(r_i - \\bar r_{{-i}})$. RLOO's "
    f"baseline does not depend on completion $i$, so its gradient estimate is unbiased; GRPO's group mean does, "
    f"and its (un-normalised) advantage is RLOO's shrunk by exactly 1 − 1/G, so in expectation its gradient is "
    f"the true one times {1 - 1 / G:.2f}: biased towards 0 (the same 1 − 1/N as notebook 08's batch-mean "
    f"baseline), the direction kept. Dividing by the group's std then rescales each prompt by its own spread: "
    f"here the groups' stds are {', '.join(f'{s:.3f}' for s in std_g.tolist())}, so a completion of the group with "
    f"the smallest spread gets {std_g.max().item() / std_g.min().item():.1f}× the advantage it would get with the "
    f"largest spread's std for the same score difference. That std depends on the sample too: a second, "
    f"data-dependent bias that is not a constant factor."))

# %% [markdown]
# ### RLOO with the KL in the reward
#
# RLOO's reward is $R_i = r_i - \beta\,\mathrm{KL}_i$ (KL summed over the completion, in the reward as in
# notebook 08), and the baseline is the mean reward of the *other* k − 1 completions of the same prompt.
# Same scores as GRPO's first pencil group, with KLs, β = 0.1:

# %%
k, beta_rloo = 4, 0.1
r = torch.tensor([1.0, 0.0, 2.0, 1.0])
kl = torch.tensor([2.0, 1.0, 4.0, 0.0])                # KL to the reference of each completion, nats
R = [ri - beta_rloo * ki for ri, ki in zip(r.tolist(), kl.tolist())]
by_hand = [R[i] - sum(R[j] for j in range(k) if j != i) / (k - 1) for i in range(k)]
adv = rloo.rloo_advantages(r, kl, beta_rloo, k)
print("rewards R = r - beta KL:", " ".join(f"{x:+.4f}" for x in R))
print("by hand:               ", " ".join(f"{x:+.4f}" for x in by_hand))
print("rloo.rloo_advantages:  ", " ".join(f"{x:+.4f}" for x in adv.tolist()))
assert torch.allclose(adv, torch.tensor(by_hand), atol=1e-6)
assert torch.equal(adv, rl.leave_one_out(r - beta_rloo * kl, k))  # the leave-one-out baseline PPO uses too
mean_R = sum(R) / k
assert all(abs(a - k / (k - 1) * (x - mean_R)) < 1e-6 for a, x in zip(by_hand, R))

# %% [markdown]
# The last line checks the identity of the table above from the other side: $R_i - \frac{1}{k-1}\sum_{j\ne i}
# R_j = \frac{k}{k-1}(R_i - \bar R)$. The completion with the highest score (2.0) also drifted most
# (KL 4), and pays for it.
#
# ## One budget for all
#
# A comparison is fair only if every method gets the same data. The on-policy methods (PPO, the
# policy-gradient loop, RLOO, GRPO) all sample the same number of completions. DPO samples none: it
# reads as many preference pairs as the reward model was trained on, in as many steps of the same
# size, taken from the reward model's own training pairs (the reward model drew its batches at
# random, with repeats; DPO reads the first pairs once each). DPO never calls the reward model while
# it trains (the trainer's optional monitor, which samples and scores, is off here): it learns from the
# same comparisons the reward model learned from, not from the reward model. Everything else is each
# algorithm's default: its learning rate, epochs, group size, clip. To fit three βs × three seeds of
# five algorithms into minutes of CPU, the on-policy runs here are shorter than the defaults of
# notebooks 08 and 09 and of `rlhf-edu sentiment --algo` (printed below).

# %%
# NBVAL_IGNORE_OUTPUT
budgets = compare.check_setup(rlhf)  # raises ValueError if the budgets differ
for kind, text in budgets.items():
    print(f"{compare.NAMES[kind]:<16} {text}")
print(f"(the defaults, for scale: PPO {rlhf.ppo.iterations} x {rlhf.ppo.batch_size} = "
      f"{compare.sampled_completions('ppo', rlhf.ppo)} completions; DPO one pass over {rlhf.rm_pairs} pairs)")
assert compare.budget_config("dpo", rlhf).monitor_every == 0  # DPO's trainer never calls the reward model

# %% [markdown]
# ## Every algorithm, three βs, three seeds
#
# Each algorithm runs at each β of its sweep with each of seeds 0, 1 and 2: a frontier of the judge
# against KL per seed. Every run is a cached stage, like every model so far, and so is its evaluation:
# `compare.compare` trains and evaluates what is missing (a progress bar per run at full size) and
# measures every run on the held-out prompts, openers RL never sampled from (`pipeline.heldout_prompts`),
# and on as many of the RL training prompts, 4 completions each with one sampling seed, keeping each
# prompt's judge positive rate and reward-model score. That is what the intervals below are computed
# from. `rlhf-edu compare` runs the same.

# %%
# NBVAL_IGNORE_OUTPUT
runs = compare.compare(rl=rlhf)
bon = frontiers.best_of_n(rl=rlhf)
sft_run = runs[0]
used = compare.budgets(runs)  # counted from each run's log: completions sampled, or pairs read
print({compare.NAMES[k]: sorted(v) for k, v in used.items()})
on_policy = {n for k in compare.ON_POLICY for n in used[k]}
assert len(on_policy) == 1, f"unequal numbers of sampled completions: {used}"
assert used["dpo"] == {compare.dpo_pairs(rlhf)} == {rlhf.rm.steps * rlhf.rm.batch_size}
assert all(r.tokens == 0 for r in runs if r.kind == "dpo")  # DPO samples nothing
assert len(runs) == 1 + sum(len(b) for b in rlhf.compare_betas.values()) * len(compare.SEEDS)

# %% [markdown]
# ## The table
#
# One row per run. *judge*: VADER's positive rate on the held-out prompts, our independent judge;
# *RM score*: the reward model's (calibrated) score, the proxy the on-policy methods maximise; *KL*: to
# the SFT model, nats per completion; *perplexity*: of the completions under the SFT model; *real
# words*: share of words that occur in the training tweets; *judge(tr)*: the judge on the training
# prompts; *seconds*: training time from the run's log; *tokens*: response tokens sampled to train.

# %%
# NBVAL_IGNORE_OUTPUT
print(compare.table(runs))

# %% [markdown]
# Each algorithm at its default β: the judge's mean and 95 % interval over the 3 seeds × the prompts
# (`stats.mean_ci`, crossed: every seed is measured on the same prompts, so a hard prompt is hard for
# all of them), on the held-out prompts and, beside them, the training prompts. The RM score and KL
# columns show the mean and, in brackets, the lowest and highest seed: a range, not an interval.

# %%
# NBVAL_IGNORE_OUTPUT
print(compare.spread_table(runs, rlhf))

# %%
plots.plot_algorithm_frontiers(frontiers.frontier_points(runs, bon))

# %% [markdown]
# Each dot is a run (filled: seed 0; open: seeds 1 and 2). The line is an algorithm's mean over seeds
# and prompts at each KL, every seed's frontier interpolated there, with its 95 % interval shaded,
# drawn only over the KLs *every* seed of that algorithm reaches. The dashed line is best-of-n
# (below), at its KL bound. Up and to the left is better: more judged-positive text for less drift
# from the SFT model.
#
# ## At equal KL, with intervals
#
# A higher judge bought with more drift from the SFT model is no win, so the comparison is made at
# equal KL: a few KLs inside every seed's frontier of every algorithm (`frontiers.common_kls`); there
# each seed's frontier is interpolated per prompt (`stats.at_common_kl`), and every pair of algorithms
# is compared per prompt and seed (`stats.difference_ci`). A reading names a winner only when the
# difference's 95 % interval excludes 0, and says on how many seeds the winner's mean was higher.

# %%
show.source(frontiers.differences)

# %%
# NBVAL_IGNORE_OUTPUT
print(frontiers.equal_kl_table(runs, "held-out"))
print()
print(frontiers.equal_kl_table(runs, "training"))

# %%
# NBVAL_IGNORE_OUTPUT
kls = frontiers.common_kls(runs)
sft_judge = sft_run.metrics["judge_positive_rate"]
lines = []
if not kls:
    lines.append("The frontiers share no range of KL on every seed, so no two algorithms are compared at equal KL here.")
else:
    diffs = frontiers.differences(runs, kls)
    wins = sum(stats.verdict(ci) != "tied within noise" for d in diffs.values() for ci, _, _ in d.values())
    total = sum(len(d) for d in diffs.values())
    lines.append(f"**Who wins at equal KL** (held-out prompts; SFT: judge {sft_judge:.2f} at KL 0). Of the "
                 f"{total} comparisons (pairs × KLs), {wins} name a winner; the rest are tied within noise:\n\n"
                 + "\n".join(f"- {line}" for line in frontiers.readings(diffs)))
    train_kls = frontiers.common_kls(runs, prompts="training")
    if train_kls:
        train = frontiers.differences(runs, train_kls, prompts="training")
        t_wins = sum(stats.verdict(ci) != "tied within noise" for d in train.values() for ci, _, _ in d.values())
        lines.append(f"On the training prompts (their own KLs, {', '.join(f'{k:.2f}' for k in train_kls)}), "
                     f"{t_wins} of {sum(len(d) for d in train.values())} comparisons name a winner (table above).")
gain = {}
for kind, rs in compare.defaults(runs, rlhf).items():
    judged = np.array([r.by_prompt["held-out"]["judge"] for r in rs])
    gain[kind] = (stats.difference_ci(judged, np.tile(sft_run.by_prompt["held-out"]["judge"], (len(rs), 1)),
                                      "crossed"), min(r.metrics["judge_positive_rate"] for r in rs))
beat = [k for k, (ci, low) in gain.items() if ci.low > 0 and low > sft_judge]
lines.append(
    "**Against the SFT start**, at each algorithm's default β, gain in the held-out judge over SFT's "
    f"{sft_judge:.2f} (95 % interval; lowest seed): "
    + "; ".join(f"{compare.NAMES[k]} {ci.estimate:+.2f} ({ci.low:+.2f} to {ci.high:+.2f}; {low:.2f})"
                for k, (ci, low) in gain.items()) + ". "
    + (f"{', '.join(compare.NAMES[k] for k in beat)} beat SFT by more than the noise and on every seed."
       if beat else "None beats SFT by more than the noise on every seed."))
display(Markdown("\n\n".join(lines)))

# %% [markdown]
# ## Best-of-n: the method that trains nothing
#
# Sample n completions of each prompt from the SFT model, keep the one the reward model scores
# highest. No gradient step, so no run to cache and no seed to vary: one rollout of 64 completions per
# held-out prompt gives best-of-k for every k = 1, 2, 4, …, 64 (the best of the first k samples is a
# best-of-k sample). The judge and RM score below are each prompt's best-of-k *averaged over every
# k-subset* of its 64 samples (`best_of_n.subset_weights`, Nakano et al., 2021), which has less
# variance than one subset; the interval is over prompts only (one draw). How far best-of-n moves from
# the SFT model is usually quoted as $\log n - (n-1)/n$ nats; Beirami et al. (2024) show that is an
# upper bound. `best_of_n.kl_estimate` estimates it from the samples (low for k near 64: its docstring).

# %%
# NBVAL_IGNORE_OUTPUT
print(frontiers.best_of_n_table(bon, rlhf))
print("\nbest-of-64's chosen completions, first 3 prompts:")
for text in bon["chosen"][:3]:
    print("  " + text)

# %%
# NBVAL_IGNORE_OUTPUT
rows = bon["rows"]
judge_n = [r["judge"].mean() for r in rows]
rm_n = [r["rm_score"].mean() for r in rows]
top = int(np.argmax(judge_n))
trained = compare.sampled_completions("ppo", compare.budget_config("ppo", rlhf))
ratio = [r["kl_estimate"] / r["kl_bound"] for r in rows[1:]]
display(Markdown(
    f"The reward model's score of the chosen sample rises with every doubling of n, from {rm_n[0]:.2f} (n = 1) to "
    f"{rm_n[-1]:.2f} (n = {rows[-1]['n']}). The judge "
    + (f"peaks at n = {rows[top]['n']} ({judge_n[top]:.2f}, from {judge_n[0]:.2f} at n = 1) and ends at "
       f"{judge_n[-1]:.2f}: past that n, picking harder by the proxy makes the text *less* positive to the judge. "
       if 0 < top < len(rows) - 1 else
       f"goes from {judge_n[0]:.2f} (n = 1) to {judge_n[-1]:.2f} (n = {rows[-1]['n']}), highest at n = "
       f"{rows[top]['n']}. ")
    + f"The KL estimate is {min(ratio):.0%}–{max(ratio):.0%} of the bound. The bound is exact only when no single "
    f"completion has a noticeable probability (Beirami et al., 2024; the `best_of_n` docstring), and the estimate, "
    f"which treats the {rows[-1]['n']} samples of a prompt as the whole distribution, runs low for k near "
    f"{rows[-1]['n']}. "
    f"**Cost.** Best-of-{rows[-1]['n']} samples and scores {rows[-1]['n']} completions every time it answers a prompt: "
    f"{rows[-1]['cost']} for these {bon['prompts']} prompts, against the {trained} that an on-policy run sampled, "
    f"once, to train; after {math.ceil(trained / (rows[-1]['n'] - 1))} prompts answered, best-of-{rows[-1]['n']} "
    "has sampled more than the RL run's whole training."))

# %% [markdown]
# Is training worth it, at equal drift? For each algorithm, take the lowest KL that every one of its
# seeds reaches, and best-of-n at the largest n whose KL *bound* is no larger. The bound is an upper
# bound, so best-of-n is compared at a KL no larger than the algorithm's: where best-of-n's judge rises
# with n (the table above says whether it does), that can only favour the algorithm. Each prompt's
# best-of-n judge is paired with the same prompt under every seed of the
# algorithm (`frontiers.best_of_n_against`):

# %%
# NBVAL_IGNORE_OUTPUT
against = frontiers.best_of_n_against(runs, bon)
print("\n".join(frontiers.best_of_n_readings(against)))

# %%
# NBVAL_IGNORE_OUTPUT
ahead = [k for k, a in against.items() if a and a["diff"].low > 0]
behind = [k for k, a in against.items() if a and a["diff"].high < 0]
tied = [k for k, a in against.items() if a and k not in ahead and k not in behind]
names = lambda ks: ", ".join(compare.NAMES[k] for k in ks)  # noqa: E731
display(Markdown(
    (f"**Best-of-n beats {names(ahead)}** at a KL no larger than theirs, by more than the noise. " if ahead else "")
    + (f"{names(behind)} beat{'s' if len(behind) == 1 else ''} best-of-n there, by more than the noise. " if behind else "")
    + (f"Against {names(tied)} it is tied within noise. " if tied else "")
    + "Gao et al. (2022, section 1) saw RL move more slowly than best-of-n as a function of KL, at both "
    "optimisation and over-optimisation, and read it as a warning that KL is a weak yardstick *across* methods: "
    "equal KL is the fairest axis we have here, not a perfect one. What RL buys is where it pays: its sampling "
    "happens once, in training, not at every answer."))

# %% [markdown]
# ## Where the proxy and the judge part ways: Gao et al.'s curves
#
# Gao, Schulman & Hilton (2022) optimised policies against a *proxy* reward model and measured a *gold*
# one, as a function of $d = \sqrt{\mathrm{KL}}$. The proxy keeps rising; the gold rises, peaks and
# falls. They fit gold$(d) = d(\alpha - \beta d)$ for best-of-n and $d(\alpha - \beta \log d)$ for RL
# (`overoptimization`, both relative to the start). Here the judge is the gold, our reward model the
# proxy; every run of an algorithm (three βs × three seeds) is one point, best-of-n's seven n another
# curve. The peak is where the fitted gold turns over; past the largest KL measured, it is an
# extrapolation. (These α and β are the fits' coefficients, not the KL strength β.)

# %%
points = frontiers.gao_points(runs, bon)
fits = frontiers.gao_fits(points)
plots.plot_overoptimization(points, fits)

# %%
# NBVAL_IGNORE_OUTPUT
print(frontiers.gao_table(fits))
print()
print("\n".join(frontiers.gao_notes(fits)))

# %%
# NBVAL_IGNORE_OUTPUT
notes = frontiers.gao_notes(fits)
poor = [line.split(" (")[0] for line in notes if "poor fit" in line or "nothing to fit" in line]
alike = [line.split(" (")[0] for line in notes if "do not tell the forms apart" in line]
inside = [m for m, f in fits.items()  # a peak inside the KLs measured, on a fit that is not poor
          if f["gold"] is not None and f["gold"].r2 >= 0.5 and 0 < f["gold"].peak_kl <= f["gold"].kl_max]
display(Markdown(
    (f"**Where the judge turns over.** The fitted gold peaks inside the KLs measured for {', '.join(inside)}: there, "
     "past the peak, a higher reward-model score buys a *lower* judge. " if inside else
     "**No fitted gold curve peaks inside the KLs measured**: every peak in the table is an extrapolation (or "
     "absent), not an observation of over-optimisation. ")
    + (f"**Where the fit is poor** (R² < 0.5, or nothing to fit): {', '.join(poor)}. Their α, β and peak say little. "
     if poor else "No gold fit has R² below 0.5. ")
    + (f"For {', '.join(alike)}, the other form fits about as well (R² within 0.05): these points cannot tell a "
       "square-root law from a log law, so the form is an assumption taken from the paper, not a finding. "
       if alike else "")
    + "R² alone is weak evidence for a form anyway (the `overoptimization` docstring: the two humps are alike); "
    "Gao et al. use many more points and larger KLs. DPO's points are on the plot for comparison only: DPO never "
    "optimised the proxy, so its curve is no over-optimisation curve."))

# %% [markdown]
# ## What each costs
#
# Wall-clock seconds and sampled tokens come from each run's own log: mean and range over each
# algorithm's nine runs (three βs × three seeds; the seconds are this machine's, shared with other jobs).
# One method is called cheaper than the next only when its dearest run was cheaper than the other's
# cheapest (`<`); otherwise `≈`. The on-policy methods pay for generation: every completion is sampled
# token by token and scored by the reward model before any update. DPO samples nothing; it pays for a
# forward and backward pass of the policy and a forward pass of the SFT model over both tweets of every pair.

# %%
# NBVAL_IGNORE_OUTPUT
cost = compare.costs(runs)
for kind, v in cost.items():
    print(f"{compare.NAMES[kind]:<16} {'%.1f [%.1f, %.1f]' % v['seconds']:>20} s {'%.0f [%d, %d]' % v['tokens']:>22} "
          "sampled tokens")
print("seconds, cheapest to dearest:", compare.cost_order(cost))
print("sampled tokens:              ", compare.cost_order(cost, "tokens"))

# %%
# NBVAL_IGNORE_OUTPUT
epochs = (f"PPO and GRPO make {rlhf.ppo.ppo_epochs} passes" if rlhf.ppo.ppo_epochs == rlhf.grpo.epochs else
          f"PPO makes {rlhf.ppo.ppo_epochs} passes and GRPO {rlhf.grpo.epochs}")
display(Markdown(
    f"By seconds per run: {compare.cost_order(cost)} (mean seconds; `<` where the ranges do not overlap). "
    f"The policy-gradient loop and RLOO take one gradient step per batch of samples; {epochs} of minibatches "
    f"over each batch, so they spend more on updates for the same samples. DPO sampled no token: its "
    f"{rlhf.rm.steps} steps each run the policy and the SFT model over {2 * rlhf.rm.batch_size} whole tweets."))

# %% [markdown]
# ## How healthy the runs were
#
# Notebook 09's checklist: in a healthy run every iteration's clip fraction and approx-KL (how far one
# iteration's updates moved the policy from the one that sampled) stay under `rl.HEALTHY_MAX`, and their
# means over the first half under `rl.HEALTHY_FIRST_HALF`. Per algorithm, how many of its runs stayed
# inside, and the report of its least healthy run (`rl.health_report`):

# %%
# NBVAL_IGNORE_OUTPUT
print("\n".join(compare.health_lines(runs, rlhf)))

# %%
plots.plot_health({f"{compare.NAMES[k]} (β {rs[0].beta:g})": rs[0].history
                   for k, rs in compare.defaults(runs, rlhf).items() if k != "dpo"})

# %% [markdown]
# One line per algorithm at its default β, seed 0. Policy gradient and RLOO log approx-KL only: they take
# one step per batch, so there is nothing to clip. DPO logs neither: it has no sampling policy to compare with.
#
# ## Side by side, for the story's prompts
#
# Seed 0 at each algorithm's default β, same prompts, same sampling seed.

# %%
# NBVAL_IGNORE_OUTPUT
models = {"SFT": sft_run.model, **{compare.NAMES[k]: rs[0].model for k, rs in compare.defaults(runs, rlhf).items()}}
print(side_by_side(models, tok, list(corpus.RL_PROMPTS)))

# %% [markdown]
# ## What DPO does without sampling
#
# DPO never saw a completion of its own, and never saw the reward model: its row's *RM score* is the
# reward model's opinion of a policy that was not trained on it. Its log shows what the loss did to
# the pairs: the implicit rewards of the chosen and the rejected tweets (β × log-ratio to the SFT
# model, on each step's batch) and their margin.

# %%
dpo_default = compare.defaults(runs, rlhf)["dpo"]
plots.plot_rl_history(dpo_default[0].history, ("chosen_reward", "rejected_reward", "margin"),
                      f"DPO, seed 0, β = {rlhf.dpo.beta:g}: one point per step of {rlhf.rm.batch_size} pairs")

# %%
# NBVAL_IGNORE_OUTPUT
reference = frozen_copy(sft_run.model)
shift = {r.seed: compare.dpo_logprobs(r.model, reference, tok, pairs[:512]) for r in dpo_default}
for seed, v in shift.items():
    print(f"seed {seed}: mean log pi(chosen) {v['reference_chosen']:.2f} -> {v['policy_chosen']:.2f}, "
          f"mean log pi(rejected) {v['reference_rejected']:.2f} -> {v['policy_rejected']:.2f}  (SFT -> DPO)")

# %%
# NBVAL_IGNORE_OUTPUT
fell = [s for s, v in shift.items() if v["policy_chosen"] < v["reference_chosen"]
        and v["policy_rejected"] < v["reference_rejected"]]
gap = {s: (v["policy_chosen"] - v["policy_rejected"]) - (v["reference_chosen"] - v["reference_rejected"])
       for s, v in shift.items()}
d = {k: compare.spread(runs, rlhf, k)["dpo"] for k in ("judge_positive_rate", "rm_score", "kl_k1", "length")}
rm_means = {k: compare.spread(runs, rlhf, "rm_score")[k][0] for k in compare.ON_POLICY}
low, high = min(rm_means, key=rm_means.get), max(rm_means, key=rm_means.get)
drop_w = [v["reference_chosen"] - v["policy_chosen"] for v in shift.values()]
drop_l = [v["reference_rejected"] - v["policy_rejected"] for v in shift.values()]
display(Markdown(
    f"On the first 512 of its training pairs, DPO widened the gap between chosen and rejected log-probabilities "
    f"by {min(gap.values()):.1f}–{max(gap.values()):.1f} nats over the seeds. "
    + (f"On every seed **both fell**: the chosen tweets by {min(drop_w):.1f}–{max(drop_w):.1f} nats, the rejected "
       f"ones by {min(drop_l):.1f}–{max(drop_l):.1f}. The chosen tweets became *less* likely than under the SFT "
       f"model: the loss rewards the difference, not the chosen answer itself (the second pair by hand above). "
       if len(fell) == len(shift) else
       f"Both fell on seed{'s' if len(fell) != 1 else ''} {', '.join(map(str, fell))} only. " if fell else
       "The chosen log-probability did not fall on any seed. ")
    + f"Without sampling, DPO still moved the policy's *own* samples: over the seeds at its default β its judge's "
    f"positive rate on the held-out prompts was {d['judge_positive_rate'][1]:.2f}–{d['judge_positive_rate'][2]:.2f} "
    f"at KL {d['kl_k1'][1]:.1f}–{d['kl_k1'][2]:.1f} (SFT: {sft_judge:.2f}), with a reward-model score of "
    f"{d['rm_score'][1]:.2f}–{d['rm_score'][2]:.2f}; the on-policy methods, which maximised that score, reached "
    f"seed means from {rm_means[low]:.2f} ({compare.NAMES[low]}) to {rm_means[high]:.2f} ({compare.NAMES[high]}). "
    f"DPO's completions averaged {d['length'][1]:.1f}–{d['length'][2]:.1f} tokens (SFT: "
    f"{sft_run.metrics['length']:.1f}). It sampled 0 tokens to train."))

# %% [markdown]
# ## What GRPO's group replaces
#
# PPO here has both baselines: its scores are centred on the other completions of the same prompt
# (leave-one-out), and a value head, a second output trained by a second loss, gives a per-token
# baseline on top (notebook 09). GRPO drops the value head and keeps only the group. What that buys
# and costs, from the logs of the default-β runs:

# %%
# NBVAL_IGNORE_OUTPUT
value_head = ppo.PolicyWithValue(sft_run.model).value_head
n_head = sum(p.numel() for p in value_head.parameters())
ppo_runs, grpo_runs = compare.defaults(runs, rlhf)["ppo"], compare.defaults(runs, rlhf)["grpo"]
last = max(1, rlhf.compare_iterations // 5)  # the last fifth of the iterations
ev = [sum(h["explained_variance"] for h in r.history[-last:]) / last for r in ppo_runs]
zero = [sum(h["zero_advantage_groups"] for h in r.history) / len(r.history) for r in grpo_runs]
print(f"PPO value head: {n_head} parameters on the shared trunk; explained variance, last {last} iterations, "
      f"per seed: {', '.join(f'{v:.2f}' for v in ev)}")
ppo_prompts = rlhf.ppo.batch_size // rlhf.ppo.samples_per_prompt
print(f"GRPO: {rlhf.grpo.group_size} completions per prompt, {rlhf.grpo.prompts_per_iteration} prompts per iteration "
      f"(PPO: {rlhf.ppo.samples_per_prompt} per prompt, {ppo_prompts} prompts); share of groups with all-equal "
      f"scores, per seed: {', '.join(f'{v:.3f}' for v in zero)}")

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(
    f"PPO's critic here is small ({n_head} parameters on the policy's own trunk), but it has to be *learned*: over "
    f"the last iterations it explained {min(ev):.2f}–{max(ev):.2f} of the variance of the returns, depending on the "
    f"seed (1 would be a perfect baseline, 0 no better than a constant), and what it had to explain is only what "
    f"is left after the leave-one-out centring. GRPO's baseline needs no training: it is the mean score of the "
    f"prompt's own group, measured afresh for every group from the first iteration on; it includes the completion "
    f"itself, so before the division by the group's std its advantage is RLOO's times 1 − 1/G = "
    f"{1 - 1 / rlhf.grpo.group_size:.2f} (by hand above). "
    + (f"For the same number of completions both saw {ppo_prompts} prompts per iteration: the group costs GRPO no "
       "prompts relative to this PPO, which samples groups too. " if ppo_prompts == rlhf.grpo.prompts_per_iteration
       else f"For the same number of completions GRPO saw {rlhf.grpo.prompts_per_iteration} prompts per iteration, "
       f"PPO {ppo_prompts}. ")
    + "Groups whose completions all scored alike teach nothing; "
    + ("there were none in any GRPO run here." if max(zero) == 0 else
       f"they were at most {max(zero):.1%} of a run's groups.")))

# %% [markdown]
# ## What each does to the text at its weakest leash
#
# Notebook 10 showed PPO with no leash (β = 0) writing a few words far more often than the SFT model
# does: it gamed the reward model. The same symptoms, for every algorithm at the smallest β of its
# sweep (seed 0), against the SFT model. For the on-policy methods these symptoms would be signs of
# gaming the reward model they maximised; DPO never sees the reward model, so whatever it shows comes
# from the preference pairs themselves, not from gaming a scorer.

# %%
# NBVAL_IGNORE_OUTPUT
hacks = compare.reward_hacks(runs)
base = sft_run.metrics
for kind, h in hacks.items():
    print(f"{compare.NAMES[kind]:<16} beta {h['beta']:<5g} judge {h['judge_positive_rate']:.2f}  "
          f"RM {h['rm_score']:+.2f}  KL {h['kl_k1']:5.1f}  length {h['length']:4.1f}  distinct-2 {h['distinct_2']:.2f}  "
          f"perplexity {h['ref_perplexity']:5.1f}  real words {h['real_word_rate']:.2f}  "
          f"'{h['word']}' in {h['word_share']:.0%} (SFT {h['word_share_sft']:.0%})")
print(f"{'SFT':<16} {'':10} judge {base['judge_positive_rate']:.2f}  RM {base['rm_score']:+.2f}  KL {0:5.1f}  "
      f"length {base['length']:4.1f}  distinct-2 {base['distinct_2']:.2f}  perplexity {base['ref_perplexity']:5.1f}  "
      f"real words {base['real_word_rate']:.2f}")

# %%
# NBVAL_IGNORE_OUTPUT
def signs(h):
    """The symptoms of notebook 10, measured against the SFT model: which of them this run shows."""
    out = []
    if h["length"] < 0.75 * base["length"]:
        out.append(f"completions shorter by {1 - h['length'] / base['length']:.0%}")
    if h["length"] > 1.25 * base["length"]:
        out.append(f"completions longer by {h['length'] / base['length'] - 1:.0%}")
    if h["distinct_2"] < 0.9 * base["distinct_2"]:
        out.append(f"distinct-2 down from {base['distinct_2']:.2f} to {h['distinct_2']:.2f}")
    if h["ref_perplexity"] > 2 * base["ref_perplexity"]:
        out.append(f"perplexity under the SFT model ×{h['ref_perplexity'] / base['ref_perplexity']:.1f}")
    if h["real_word_rate"] < base["real_word_rate"] - 0.02:
        out.append(f"real-word rate down from {base['real_word_rate']:.2f} to {h['real_word_rate']:.2f}")
    if h["word_share"] > 3 * max(h["word_share_sft"], 0.01):
        out.append(f"'{h['word']}' in {h['word_share']:.0%} of completions (SFT: {h['word_share_sft']:.0%})")
    return out


items = [f"- **{compare.NAMES[k]}** (β = {h['beta']:g}, KL {h['kl_k1']:.1f}): "
         + ("; ".join(signs(h)) or "none of these symptoms past the thresholds") + "."
         for k, h in hacks.items()]
display(Markdown(
    "At the weakest leash of each sweep (seed 0; thresholds: length ±25%, distinct-2 −10%, perplexity ×2, "
    "real-word rate −0.02, one word at least 3× as frequent as in SFT's completions):\n\n" + "\n".join(items)))

# %%
# NBVAL_IGNORE_OUTPUT
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    for kind, (ci, _) in gain.items():
        assert ci.estimate > 0, f"{kind}: the default beta's judge did not beat SFT on average"
    assert kls, "the frontiers share no KL: choose compare_betas that overlap"
    assert rm_n[-1] > rm_n[0], "best-of-n's chosen samples should score higher by the reward model"

# %% [markdown]
# ## Summary
#
# - Under one budget, from one SFT model, judged by one judge, the algorithms are compared where it is
#   fair: at equal KL to the start, over three seeds and the held-out prompts, with intervals; a
#   winner is named only when the interval of the difference excludes 0 (the readings above).
# - DPO turns the reward model's own training pairs, whole tweets after a shared start-of-tweet token,
#   into a policy update without sampling and without the reward model; its loss rewards the *gap*
#   between chosen and rejected, not the chosen answer.
# - GRPO and RLOO learn no critic: their baseline is the other completions of the same prompt (PPO
#   here uses that leave-one-out baseline too, with a value head on top). RLOO's baseline leaves the
#   completion out (unbiased); GRPO's includes it (its numerator is RLOO's times 1 − 1/G) and then
#   divides by the group's spread. GRPO keeps PPO's clip and moves the KL into the loss,
#   as a per-token mean whose β is on another scale than PPO's; RLOO keeps the KL in the reward and
#   takes one step.
# - Best-of-n needs no training but pays at every answer; at equal KL it is compared with every
#   algorithm above, with an interval. Whether the judge turns over while the reward model's score
#   keeps rising is read off Gao et al.'s fits only as far as their R² and the range of KL measured
#   allow (the readings above say which it is here).

# %% [markdown]
# ## Exercises
#
# Fill in each function, then run the check cell under it. The check runs your function on the story's
# numbers, random batches and edge cases, compares it with the package's own code, and prints ✓ per
# case or the first failing case with a hint. Until you fill it in, it says "not done yet". Stuck? The
# reference solutions are in `rlhf_edu/exercises/solutions.py`.

# %%
from rlhf_edu.exercises import check

# %% [markdown]
# ### Exercise 1: The DPO loss
#
# DPO trains the policy on preference pairs directly, with
# $\beta(\log\pi(y) - \log\pi_{\text{ref}}(y))$, the *implicit reward*, in place of a reward model's
# score. Write
# `dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta)`, one
# loss per pair:
# $-\log\sigma\big(\beta[(\log\pi(y_w) - \log\pi_{\text{ref}}(y_w)) - (\log\pi(y_l) - \log\pi_{\text{ref}}(y_l))]\big)$.
# It is notebook 02's reward-model loss on implicit rewards, which is why DPO needs no reward model,
# and it must stay finite for a margin of −1000.

# %%
def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    """four (B,) sequence log-probs (policy and reference, chosen and rejected), beta: float -> (B,) losses"""
    raise NotImplementedError  # your code here

# %%
check.dpo_loss(dpo_loss)

# %% [markdown]
# ### Exercise 2: GRPO's group advantages
#
# GRPO samples $G$ completions of each prompt ($G$ consecutive rows of `scores`) and scores each
# against its own group, $A_i = (r_i - \mathrm{mean}(r)) / (\mathrm{std}(r) + \epsilon)$, with the
# group's population std (divide by $G$). Write `grpo_advantages(scores, group_size, eps=1e-4)`. A
# group whose scores are all equal teaches nothing: its advantages are exactly 0, never 0/0 (even with
# $\epsilon = 0$). The group replaces PPO's value network as the baseline: that is what GRPO saves.

# %%
def grpo_advantages(scores, group_size, eps=1e-4):
    """scores: (B,) with B = n_prompts * group_size, group_size: int, eps: float -> (B,) advantages"""
    raise NotImplementedError  # your code here

# %%
check.grpo_advantages(grpo_advantages)

# %% [markdown]
# ### Exercise 3: Best-of-n, and what it costs in KL
#
# The simplest use of a reward model needs no training: sample $n$ completions of each prompt from the
# SFT model and keep the one it scores highest. A trained policy is worth its training only if it
# beats that at the same KL. `scores` holds $P \cdot n$ scores, $n$ consecutive rows per prompt. Write
# `best_of_n(scores, n)` returning `(index, kl_bound)`: for each prompt the row of its best sample (an
# index into `scores`; the first one on a tie), and $\log n - \frac{n-1}{n}$, the KL in nats usually
# quoted for best-of-n. That puts best-of-n on the same KL axis as the β sweeps; Beirami et al. (2024)
# prove the figure is an upper bound on the true KL, not its exact value.

# %%
def best_of_n(scores, n):
    """scores: (P * n,) with n consecutive rows per prompt, n: int -> (index (P,), kl_bound: float)"""
    raise NotImplementedError  # your code here

# %%
check.best_of_n(best_of_n)
