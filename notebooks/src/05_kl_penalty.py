# %% [markdown]
# # 05 · The KL penalty
#
# **What you will learn.** A reward model is only an approximation of what people want, and a
# policy optimised hard against it will find its blind spots. RLHF therefore subtracts a penalty for
# drifting away from the starting model: $R - \beta\,\mathrm{KL}$. You will compute the penalised
# reward for the worked cases, see how $\beta$ trades reward against staying close, and learn how
# KL is estimated from sampled tokens, including why the common per-token estimate
# $\log\pi - \log\pi_{\text{ref}}$ can be negative although KL never is, and a better-behaved
# estimator ($k_3$) that cannot.

# %%
%matplotlib inline
import torch

import rlhf_edu.formulas as F
from rlhf_edu import examples, plots, widgets

# %% [markdown]
# ## Why a penalty: reward hacking, in one paragraph
#
# The reward model was trained on a few thousand comparisons of ordinary replies. Far from those,
# its scores are guesses. A policy that maximises the score without limits drifts towards whatever
# the reward model happens to over-rate (a word it likes, repeated; an oddly long reply), and the
# reward goes up while the replies get worse. This is **reward hacking**; notebook 10 makes it happen
# for real. The standard guard is to keep the policy $\pi_\theta$ close to a **reference** model
# $\pi_{\text{ref}}$, usually the supervised model we started from, which writes fluent text.
#
# ## The penalised reward
#
# "Close" is measured with the Kullback–Leibler divergence, and the reward used for RL becomes
#
# $$R_{\text{total}} = R - \beta\, \mathrm{KL}(\pi_\theta \,\|\, \pi_{\text{ref}}),$$
#
# where $\beta \ge 0$ sets the exchange rate between reward and drift. Two worked cases, both with
# reward 3.5 and $\beta = 0.1$: a policy that stayed close (KL 0.8) and one that drifted (KL 15.0).

# %%
for kl in (0.8, 15.0):
    print(f"3.5 - 0.1 x {kl:.1f} = {F.kl_penalised_reward(3.5, kl, beta=0.1):.2f}")

# %% [markdown]
# Same reward, but the drifted policy keeps only 2.0 of it. For the drift to pay off, it would have
# to earn 1.42 more reward from the reward model. $\beta$ decides how expensive drifting is:

# %%
plots.plot_kl_penalty()

# %% [markdown]
# With $\beta = 0$ there is no brake at all (and reward hacking is free). With a large $\beta$ the
# policy can barely move and learns little. Picking $\beta$ is a real trade-off; some
# implementations adjust it during training to hit a target KL.
#
# ## How KL is computed from samples
#
# The exact KL between two distributions over words is
#
# $$\mathrm{KL}(\pi \,\|\, \pi_{\text{ref}}) = \sum_y \pi(y) \log\frac{\pi(y)}{\pi_{\text{ref}}(y)} \;\ge\; 0.$$
#
# For whole replies that sum has more terms than atoms in the universe, so RLHF code *estimates* it
# from the tokens the policy actually sampled: for each generated token,
#
# $$k_1 = \log \pi(y_t) - \log \pi_{\text{ref}}(y_t),$$
#
# summed over the reply. It is an unbiased estimate (its average under $\pi$ is exactly the KL), and
# it is nearly free: both log-probabilities are computed anyway. Here is a 5-token reply:

# %%
logp = torch.tensor([-0.9, -0.3, -1.2, -0.2, -0.7], dtype=torch.float64)      # policy
logp_ref = torch.tensor([-1.1, -0.4, -0.9, -0.3, -0.8], dtype=torch.float64)  # reference
per_token = F.per_token_kl_k1(logp, logp_ref)
kl_reply = per_token.sum()
print("per-token k1:", [f"{v:+.2f}" for v in per_token.tolist()])
print(f"KL estimate for the reply = {kl_reply.item():.2f}")
print(f"penalised reward = 3.5 - 0.1 x {kl_reply.item():.2f} = {F.kl_penalised_reward(3.5, kl_reply, 0.1).item():.3f}")

# %% [markdown]
# ## The catch: one token's estimate can be negative
#
# Look at the third token above: its $k_1$ is **negative**. KL itself can never be negative, but a
# single-sample estimate can, whenever the sampled token happens to be *more* likely under the
# reference than under the policy. It is only right on average. In a short reply, a few such tokens
# can make the whole reply's estimate negative, and then the "penalty" *adds* to the reward.
#
# A better single-sample estimator, often called $k_3$, uses $\rho = \pi_{\text{ref}}(y)/\pi(y)$:
#
# $$k_3 = (\rho - 1) - \log\rho.$$
#
# It is also unbiased (because $\mathbb{E}_\pi[\rho] = 1$, the extra $\rho - 1$ averages to zero), and
# it is **never negative**, because $\log \rho \le \rho - 1$ for every $\rho > 0$. Compare the two on
# a small example where we can compute the exact KL:

# %%
t = examples.worked_examples()["truth_k1_negative"]
print(f"{'word':>6} {'pi':>5} {'pi_ref':>6} {'k1':>7} {'k3':>7}")
for w, p, q, a, b in zip(t["words"], t["pi"], t["pi_ref"], t["k1"], t["k3"]):
    print(f"{w:>6} {p:5.2f} {q:6.2f} {a:+7.3f} {b:+7.3f}")
print(f"exact KL = {t['exact_kl']:.4f}   E_pi[k1] = {t['mean_k1']:.4f}   E_pi[k3] = {t['mean_k3']:.4f}")

# %% [markdown]
# Two of the three words give a negative $k_1$, yet the averages of both estimators equal the exact
# KL, 0.0877. How noisy each one is shows up in its spread. Computed exactly, by summing over the
# three words:

# %%
pi = torch.tensor(t["pi"], dtype=torch.float64)
k1, k3 = torch.tensor(t["k1"], dtype=torch.float64), torch.tensor(t["k3"], dtype=torch.float64)
for name, k in (("k1", k1), ("k3", k3)):
    std = (pi * (k - t["exact_kl"]) ** 2).sum().sqrt()
    print(f"{name}: mean {(pi * k).sum().item():.4f}, standard deviation {std.item():.4f}")

# %% [markdown]
# $k_3$ is about five times less noisy *here*, where the policy is still close to the reference. The
# same, by sampling 10,000 tokens from $\pi$ (with a
# fixed seed; the exact digits may change between torch versions, so this cell checks itself with
# `assert` rather than by its printed output):

# %%
# NBVAL_IGNORE_OUTPUT
gen = torch.Generator().manual_seed(0)
idx = torch.multinomial(pi, 10_000, replacement=True, generator=gen)
s1, s3 = k1[idx], k3[idx]
print(f"k1: mean {s1.mean().item():.4f}, std {s1.std().item():.4f}, negative in {(s1 < 0).double().mean().item():.0%} of tokens")
print(f"k3: mean {s3.mean().item():.4f}, std {s3.std().item():.4f}, negative in {(s3 < 0).double().mean().item():.0%} of tokens")
assert abs(s1.mean().item() - t["exact_kl"]) < 0.02 and abs(s3.mean().item() - t["exact_kl"]) < 0.02
assert (s3 >= 0).all() and (s1 < 0).any()

# %% [markdown]
# That advantage holds only near $\pi \approx \pi_{\text{ref}}$. $k_3$ grows like $\rho = \pi_{\text{ref}}/\pi$, so a
# token the policy now rarely picks but the reference liked a lot gives a huge value. Take a policy
# that has moved far: it puts 0.98 on the first word, and the reference 0.98 on the third.

# %%
far_pi = torch.tensor([0.98, 0.01, 0.01], dtype=torch.float64)
far_ref = torch.tensor([0.01, 0.01, 0.98], dtype=torch.float64)
far_k1 = far_pi.log() - far_ref.log()
rho = far_ref / far_pi
far_k3 = (rho - 1) - rho.log()
exact = (far_pi * far_k1).sum()
print(f"exact KL = {exact.item():.3f}")
print("word:      ", "  ".join(f"{i:>7d}" for i in range(3)))
print("k1 per word", "  ".join(f"{v:7.3f}" for v in far_k1.tolist()))
print("k3 per word", "  ".join(f"{v:7.3f}" for v in far_k3.tolist()))
for name, k in (("k1", far_k1), ("k3", far_k3)):
    std = (far_pi * (k - exact) ** 2).sum().sqrt()
    print(f"{name}: mean {(far_pi * k).sum().item():.3f}, standard deviation {std.item():.3f}")

# %% [markdown]
# Both are still unbiased, but now $k_3$ is the noisier one: the third word, drawn once in a hundred
# tokens, is worth about 92 nats. That is the heavy tail behind the spikes of the $k_3$ curve in
# notebook 09's training plots: one rare token in a batch is enough.

# %%
plots.plot_kl_estimators()

# %% [markdown]
# The orange line is $k_1$: a straight line through zero, negative whenever the token is less likely
# under the policy than under the reference. The green curve is $k_3$: it touches zero only where
# the two agree, and is positive everywhere else.
#
# ## Try it
#
# Choose a reward, a KL and a $\beta$, and see how much of the reward survives the penalty.

# %%
widgets.kl_widget()

# %%
print(widgets.kl_readout(3.5, 15.0, 0.1))

# %% [markdown]
# ## Try it: k1 against k3 against the exact KL
#
# The policy below starts at the reference ($d = 0$) and moves away from it as $d$ grows:
# $\pi_d \propto \pi_{\text{ref}} \cdot (\pi/\pi_{\text{ref}})^d$, so $d = 1$ is the worked example
# above and $d = 3$ is a policy that has drifted far. Each estimate averages $k_1$ or $k_3$ over
# some sampled tokens, and the left panel repeats that 400 times (seeded) to show how much the
# estimate wanders around the exact KL. The right panel is each estimator's noise for a single
# token, computed exactly by summing over the three words.
#
# Things to try: with 1 token, how often is $k_1$'s estimate negative? How many tokens does it
# take before $k_1$'s average is reliably positive? And move $d$ to 3: close to the reference $k_3$
# is by far the quieter estimator, but far from it the ratio $\rho = \pi_{\text{ref}}/\pi$ gets large
# on the words the policy has all but abandoned, and $k_3$ becomes the *noisier* one. Both stay unbiased throughout.
#
# The widget needs a running kernel; without one (on GitHub, say) the cell after it shows the
# starting state.

# %%
from rlhf_edu import explore

widgets.kl_spread_widget()

# %%
# NBVAL_IGNORE_OUTPUT
# (sampled with a fixed seed; the exact digits may change between torch versions)
spread = explore.kl_estimator_spread(distance=1.0, n_samples=10)
print(explore.kl_spread_text(spread))
explore.plot_kl_spread(spread)

# %% [markdown]
# ## Summary
#
# - A reward model is a proxy; optimising it without limits invites **reward hacking**.
# - RLHF maximises $R - \beta\,\mathrm{KL}(\pi_\theta \| \pi_{\text{ref}})$:
#   3.5 − 0.1 × 0.8 = 3.42, but 3.5 − 0.1 × 15.0 = 2.0. $\beta$ sets the price of drifting.
# - KL is estimated from sampled tokens. The usual per-token $k_1 = \log\pi - \log\pi_{\text{ref}}$ is
#   unbiased but one token's value can be **negative**; $k_3 = (\rho - 1) - \log\rho$ is also unbiased and
#   never negative. It is less noisy while $\pi$ stays close to $\pi_{\text{ref}}$; far from it, rare tokens
#   the reference favoured give it a heavy tail.
#
# This completes the formulas. The next notebooks build the model they apply to.

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
# ### Exercise 1: Per-token KL, k1
#
# Write `kl_k1(logp, logp_ref)`: the single-sample estimate
# $k_1 = \log\pi(y_t) - \log\pi_{\text{ref}}(y_t)$ for every sampled token, elementwise.

# %%
def kl_k1(logp, logp_ref):
    """logp, logp_ref: tensors of the same shape (sampled tokens) -> k1 per token, same shape"""
    raise NotImplementedError  # your code here

# %%
check.kl_k1(kl_k1)

# %% [markdown]
# ### Exercise 2: Per-token KL, k3
#
# Write `kl_k3(logp, logp_ref)`: $k_3 = (\rho - 1) - \log\rho$ with
# $\rho = \pi_{\text{ref}}(y_t) / \pi(y_t)$, elementwise. It is never negative. Compute $\log\rho$
# from the log-probs (probabilities as small as $e^{-800}$ must work).

# %%
def kl_k3(logp, logp_ref):
    """logp, logp_ref: tensors of the same shape (sampled tokens) -> k3 per token, same shape"""
    raise NotImplementedError  # your code here

# %%
check.kl_k3(kl_k3)

# %% [markdown]
# ### Exercise 3: The KL-penalised reward
#
# Write `kl_penalised_reward(score, logp, logp_ref, mask, beta)`: for each of $B$ completions,
# $R = r_{\text{RM}} - \beta \sum_t k_1$, with $k_1$ the per-token KL of the sampled tokens. `mask`
# (float, 1 for real tokens, 0 for the pads after the end-of-text token) says which tokens belong to
# the completion: the log-probs at pads are junk and must not count.

# %%
def kl_penalised_reward(score, logp, logp_ref, mask, beta):
    """score: (B,), logp, logp_ref, mask: (B, T), beta: float -> (B,) penalised reward"""
    raise NotImplementedError  # your code here

# %%
check.kl_penalised_reward(kl_penalised_reward)
