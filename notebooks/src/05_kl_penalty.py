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
# $k_3$ is about five times less noisy here. The same, by sampling 10,000 tokens from $\pi$ (with a
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
# ## Summary
#
# - A reward model is a proxy; optimising it without limits invites **reward hacking**.
# - RLHF maximises $R - \beta\,\mathrm{KL}(\pi_\theta \| \pi_{\text{ref}})$:
#   3.5 − 0.1 × 0.8 = 3.42, but 3.5 − 0.1 × 15.0 = 2.0. $\beta$ sets the price of drifting.
# - KL is estimated from sampled tokens. The usual per-token $k_1 = \log\pi - \log\pi_{\text{ref}}$ is
#   unbiased but one token's value can be **negative**; $k_3 = (\rho - 1) - \log\rho$ is also unbiased,
#   never negative, and less noisy.
#
# This completes the formulas. The next notebooks build the model they apply to.
