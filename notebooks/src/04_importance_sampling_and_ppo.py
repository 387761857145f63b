# %% [markdown]
# # 04 · Importance sampling and PPO
#
# **What you will learn.** Generating replies is the expensive part of RLHF, so we want to take
# several gradient steps on each batch. But after the first step, the batch was produced by an
# *older* policy. **Importance sampling** corrects for that with a ratio of probabilities, and
# **PPO** (proximal policy optimisation) clips that ratio so one lucky sample cannot throw the policy
# far away. You will compute the ratio and PPO's clipped objective for the worked cases, and then
# check with autograd what the clip really does to the gradient, which is not what it is often said to do.

# %%
%matplotlib inline
import torch

import rlhf_edu.formulas as F
from rlhf_edu import examples, plots, widgets

# %% [markdown]
# ## Learning from someone else's samples
#
# Policy gradient needs an average over replies drawn from the *current* policy $\pi_\theta$. We
# have replies drawn from the policy as it was when we sampled, $\pi_{\text{old}}$. Importance
# sampling rewrites one average as the other:
#
# $$\mathbb{E}_{a \sim \pi_\theta}[A(a)] = \sum_a \pi_\theta(a)\,A(a) = \sum_a \pi_{\text{old}}(a)\,\frac{\pi_\theta(a)}{\pi_{\text{old}}(a)}\,A(a) = \mathbb{E}_{a \sim \pi_{\text{old}}}[\,r(a)\,A(a)\,],$$
#
# with the **importance ratio** $r = \pi_\theta(a) / \pi_{\text{old}}(a)$. Each old sample is
# re-weighted by how much more (or less) likely the new policy makes it.
#
# A worked case: "great" had probability 0.3 when we sampled it, and after a gradient step the
# policy gives it 0.45.

# %%
ratio = F.importance_ratio(0.45, 0.3)
print(f"r = 0.45 / 0.30 = {ratio:.1f}")

# %% [markdown]
# Training code never divides probabilities; it subtracts log-probabilities and exponentiates,
# $r = \exp(\log\pi_\theta - \log\pi_{\text{old}})$, for the same reason as in notebook 01:

# %%
print(f"r = exp(log 0.45 - log 0.30) = {F.importance_ratio_from_logprobs(torch.tensor(0.45).log(), torch.tensor(0.3).log()).item():.1f}")

# %% [markdown]
# The identity is exact. Here it is on three words, summing over all of them instead of sampling:

# %%
pi_old = torch.tensor([0.30, 0.45, 0.25], dtype=torch.float64)  # great, okay, awful
pi_new = torch.tensor([0.45, 0.35, 0.20], dtype=torch.float64)
adv = torch.tensor([2.0, 0.0, -1.0], dtype=torch.float64)
r = F.importance_ratio(pi_new, pi_old)
print("ratios          :", [f"{v:.3f}" for v in r.tolist()])
print(f"E_new[A]        = {(pi_new * adv).sum().item():.3f}")
print(f"E_old[r A]      = {(pi_old * r * adv).sum().item():.3f}")

# %% [markdown]
# ## When the ratio explodes
#
# The identity holds *on average*. With a handful of samples, one ratio can dominate. Suppose the
# old policy gave a word probability 0.05, and after a few steps the new policy gives it 0.5:

# %%
big = examples.worked_examples()["4_importance_ratio"]
print(f"r = {big['big_prob_new']:.2f} / {big['big_prob_old']:.2f} = {big['big_ratio']:.1f}")
print(f"with A = {big['big_advantage']:.1f}, this one sample contributes r A = {big['big_unclipped']:.1f} to the objective")

# %% [markdown]
# That single sample now weighs as much as ten ordinary ones, and the gradient step it causes is
# ten times bigger too. The new policy has already drifted far from the one that produced the
# data, so the estimate is least trustworthy exactly when it is loudest. We need a brake.
#
# ## PPO's clipped objective
#
# PPO keeps the ratio in a band $[1 - \epsilon,\, 1 + \epsilon]$ (typically $\epsilon = 0.2$) and
# takes the more pessimistic of the clipped and unclipped terms:
#
# $$L^{\text{CLIP}} = \min\big(r A,\ \operatorname{clip}(r, 1-\epsilon, 1+\epsilon)\, A\big).$$
#
# Two worked cases with $\epsilon = 0.2$:

# %%
for r_, A_ in ((1.5, 2.0), (0.5, -1.0)):
    t = F.ppo_clip_objective(r_, A_, epsilon=0.2)
    print(f"A = {A_:+.1f}, r = {r_:.1f}: unclipped {t.unclipped:+.1f}, clipped {t.clipped:+.1f}, min {t.objective:+.1f}")

# %% [markdown]
# - **A = 2.0, r = 1.5**: a good action that the new policy already favours 1.5 times more. The
#   clip caps the credit at $1.2 \times 2.0 = 2.4$.
# - **A = −1.0, r = 0.5**: a bad action that the new policy already makes half as likely. The min
#   picks the clipped value, −0.8.
#
# And the ratio-10 sample from above is now capped at $1.2 \times 2.0 = 2.4$ instead of 20.

# %%
print(f"ratio 10, A = 2.0: unclipped {big['big_unclipped']:.1f}, PPO objective {big['big_clipped']:.1f}")

# %%
plots.plot_ppo_clip_objective(epsilon=0.2)

# %% [markdown]
# ## What the clip really does: it stops the push
#
# Case 2 above (A = −1.0, r = 0.5) is often explained like this: the min picks −0.8, a *bigger*
# penalty than −0.5, so PPO "makes the penalty stronger to encourage that direction". **That is not
# what happens.** The clipped term $\operatorname{clip}(r, 0.8, 1.2) \cdot A$ equals $0.8 \cdot A$
# for every $r < 0.8$: it does not depend on the policy at all. What training uses is the
# *gradient* of the objective, and the gradient of a constant is zero. So once a bad action's ratio
# has fallen below $1 - \epsilon$, PPO **stops pushing its probability down**. The lower value is
# a pessimistic estimate, not a stronger push.
#
# Autograd shows this in all four corners: the sign of $A$ times which side of the band $r$ is on.

# %%
print(f"{'A':>5} {'r':>5} {'unclipped':>10} {'clipped':>8} {'min picks':>10} {'d obj/d r':>10}")
for A_ in (2.0, -1.0):
    for r_ in (1.5, 0.5):
        g = examples.ppo_gradient(r_, A_, epsilon=0.2)
        print(f"{A_:+5.1f} {r_:5.1f} {g['unclipped']:+10.2f} {g['clipped']:+8.2f} {g['picked']:>10} {g['grad']:+10.2f}")

# %% [markdown]
# Read the table row by row:
#
# | | $r > 1 + \epsilon$ (already more likely) | $r < 1 - \epsilon$ (already less likely) |
# |---|---|---|
# | $A > 0$ (good action) | **zero gradient**: stop raising it, it has moved enough | gradient $A$: keep raising it, it moved the wrong way |
# | $A < 0$ (bad action) | gradient $A$: keep lowering it, it moved the wrong way | **zero gradient**: stop lowering it, it has moved enough |
#
# The clip only ever *removes* the incentive to move further in the direction the advantage wants;
# it never pushes harder. When the policy moved the *wrong* way, the min picks the unclipped term
# and the ordinary gradient corrects it. Inside the band, both terms are equal and the gradient is
# just $A$, as in plain policy gradient.
#
# The same holds for the real parameters. Below, four samples share one batch; the ratio is
# computed from log-probabilities as in a training loop, and we differentiate the mean objective
# with respect to the new log-probabilities (which stand in for $\theta$):

# %%
logp_old = torch.log(torch.tensor([0.3, 0.3, 0.3, 0.3], dtype=torch.float64))
logp_new = torch.log(torch.tensor([0.45, 0.15, 0.45, 0.15], dtype=torch.float64)).requires_grad_(True)
advantage = torch.tensor([2.0, 2.0, -1.0, -1.0], dtype=torch.float64)
ratio = F.importance_ratio_from_logprobs(logp_new, logp_old)
F.ppo_clip_objective(ratio, advantage, epsilon=0.2).objective.mean().backward()
for r_, a_, g_ in zip(ratio.tolist(), advantage.tolist(), logp_new.grad.tolist()):
    print(f"r = {r_:.2f}, A = {a_:+.1f}: d objective / d log pi = {g_:+.4f}")
assert logp_new.grad[0] == 0 and logp_new.grad[3] == 0 and (logp_new.grad[1:3] != 0).all()

# %% [markdown]
# ## Try it
#
# Move the ratio through the band for a positive and a negative advantage, and change $\epsilon$.
# The readout says which term the min picks and whether any gradient is left.

# %%
widgets.ppo_widget()

# %%
print(widgets.ppo_readout(0.5, -1.0, 0.2))

# %% [markdown]
# ## Summary
#
# - **Importance sampling** lets us reuse samples from $\pi_{\text{old}}$: weight each by
#   $r = \pi_\theta / \pi_{\text{old}}$ (0.45 / 0.3 = 1.5). It is exact on average but one ratio,
#   such as 10, can dominate a batch.
# - **PPO** maximises $\min(rA,\ \operatorname{clip}(r, 1 \pm \epsilon)A)$. With $\epsilon = 0.2$:
#   $A = 2, r = 1.5$ gives 2.4; $A = -1, r = 0.5$ gives −0.8.
# - When the min picks the clipped term, its **gradient is zero**: PPO stops pushing an action that
#   has already moved enough in the advantage's direction. It never pushes harder.
#
# Next, in **05**: keeping the policy close to where it started.

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
# ### Exercise 1: The importance ratio from log-probs
#
# Write `importance_ratio(logp_new, logp_old)`:
# $r = \pi_{\text{new}}(a \mid s) / \pi_{\text{old}}(a \mid s)$, elementwise, from the two
# log-probabilities, the way a training loop does it. It must work for tiny probabilities too
# ($\log \pi = -800$).

# %%
def importance_ratio(logp_new, logp_old):
    """logp_new, logp_old: tensors of the same shape -> ratio pi_new / pi_old, same shape"""
    raise NotImplementedError  # your code here

# %%
check.importance_ratio(importance_ratio)

# %% [markdown]
# ### Exercise 2: PPO's clipped objective
#
# Write `ppo_clip_objective(ratio, advantage, epsilon=0.2)`: elementwise
# $\min\big(r A,\ \mathrm{clip}(r, 1-\epsilon, 1+\epsilon)\, A\big)$, the quantity PPO *maximises*.
# Use the `epsilon` you are given. Where the clipped term wins, the gradient with respect to $r$ must
# be 0.

# %%
def ppo_clip_objective(ratio, advantage, epsilon=0.2):
    """ratio, advantage: tensors of the same shape, epsilon: float -> objective, same shape"""
    raise NotImplementedError  # your code here

# %%
check.ppo_clip_objective(ppo_clip_objective)
