# %% [markdown]
# # 02 · The reward problem and Bradley–Terry
#
# **What you will learn.** RL needs a reward, but nobody can write a formula for "a good reply".
# This notebook shows how RLHF gets one anyway: people *compare* two replies, and a *reward model*
# learns a score from those comparisons using the Bradley–Terry model. You will compute the
# preference probability and the reward-model loss by hand for two worked cases, see why the loss
# must be computed with `logsigmoid` (a naive version returns `inf` for a large mistake), and
# watch autograd push hardest on the pairs the model gets wrong.

# %%
%matplotlib inline
import math

import torch

import rlhf_edu.formulas as F
from rlhf_edu import plots, widgets

# %% [markdown]
# ## Why compare instead of score?
#
# Ask ten people to score a reply from 1 to 10 and you get ten different scales: one person's 6 is
# another's 8, and the same person drifts over an afternoon. Ask them *which of two replies is
# better* and they agree far more often. So RLHF collects pairs: for a prompt $x$, a **chosen**
# reply $y_c$ and a **rejected** reply $y_r$.
#
# We still want a number per reply, because RL needs a reward. The **Bradley–Terry** model connects
# the two: every reply has a hidden score $r$, and the probability that people prefer $y_c$ to
# $y_r$ depends only on the *difference* of the scores,
#
# $$P(y_c \succ y_r) = \sigma(r_c - r_r) = \frac{1}{1 + e^{-(r_c - r_r)}}.$$
#
# The sigmoid $\sigma$ turns any gap into a probability: gap 0 gives 0.5 (a coin flip), a large
# positive gap gives almost 1.

# %% [markdown]
# ## Case 1: the reward model agrees with people
#
# Say the reward model scores the chosen reply $r_c = 3.0$ and the rejected one $r_r = 1.0$.
# The gap is 2, and $e^{-2} \approx 0.135$:

# %%
p1 = F.bradley_terry_prob(3.0, 1.0)
print(f"e^-2 = {math.exp(-2.0):.3f}")
print(f"sigma(3.0 - 1.0) = 1 / (1 + {math.exp(-2.0):.3f}) = {p1:.3f}")

# %% [markdown]
# The reward model is trained to make the observed preferences likely, so its loss is the negative
# log of that probability:
#
# $$\mathcal{L} = -\log \sigma(r_c - r_r).$$
#
# A confident, correct model has a small loss:

# %%
loss1 = F.reward_model_loss(3.0, 1.0)
print(f"loss = -log {p1:.3f} = {loss1:.3f}")
assert f"{loss1:.3f}" == "0.127"

# %% [markdown]
# ## Case 2: the reward model disagrees
#
# Now swap the scores: the model likes the *rejected* reply more ($r_c = 1.0$, $r_r = 3.0$). The
# gap is −2, the model thinks people preferred the chosen reply with probability only 0.119, and
# the loss is large:

# %%
p2 = F.bradley_terry_prob(1.0, 3.0)
loss2 = F.reward_model_loss(1.0, 3.0)
print(f"sigma(1.0 - 3.0) = {p2:.3f}")
print(f"loss = -log sigma(-2) = {loss2:.4f}")
print(f"loss with sigma rounded to 0.119 first = -log 0.119 = {-math.log(0.119):.4f}")

# %% [markdown]
# A note on the last digit. The exact loss is $\log(1 + e^{2}) = 2.1269\ldots$, which rounds to
# **2.127**. You will sometimes see 2.128 quoted for this case: that comes from rounding
# $\sigma(-2)$ to 0.119 *before* taking the log ($-\log 0.119 = 2.1286\ldots$) and then cutting
# off the digits. Keep full precision until the end, and let the code do the arithmetic.
#
# Only the **gap** matters. Adding the same constant to both scores changes nothing, which is why
# a reward model's absolute numbers mean little on their own:

# %%
print(f"sigma(3 - 1) = {F.bradley_terry_prob(3.0, 1.0):.3f},  sigma(103 - 101) = {F.bradley_terry_prob(103.0, 101.0):.3f}")

# %% [markdown]
# ## Computing the loss safely
#
# Written literally, $-\log(\sigma(\text{gap}))$ breaks for a badly wrong model. With a gap of
# −1000, $\sigma(-1000)$ is about $e^{-1000}$, which rounds to 0 in floating point, and $\log 0$
# is $-\infty$. One such pair makes the whole batch's loss infinite and its gradient `nan`.
#
# The fix is to never form the tiny probability: `logsigmoid(gap)` computes $\log\sigma$ directly,
# and for very negative gaps it returns almost exactly the gap itself. `F.reward_model_loss` uses it.

# %%
gap = torch.tensor(-1000.0, dtype=torch.float64)
naive = -torch.log(torch.sigmoid(gap))
stable = F.reward_model_loss(gap, torch.tensor(0.0, dtype=torch.float64))
print(f"naive  -log(sigmoid(-1000)) = {naive.item()}")
print(f"stable -logsigmoid(-1000)   = {stable.item():.1f}")

# %%
plots.plot_bt_sigmoid_and_loss()

# %% [markdown]
# The right panel shows why this loss trains well: when the model is wrong (negative gap) the loss
# grows like a straight line, $\approx -\text{gap}$, so the gradient never vanishes; when it is
# right, the loss flattens towards 0 and the model stops pushing.
#
# ## Which pairs does training push on?
#
# Here is a batch of four preference pairs. We compute the mean loss and ask autograd for the
# gradient with respect to each reward. The derivative of $-\log\sigma(g)$ with respect to $r_c$ is
# $-(1 - \sigma(g))$: close to −1 when the model is badly wrong, close to 0 when it is already right.

# %%
r_chosen = torch.tensor([3.0, 1.0, 0.5, -2.0], dtype=torch.float64, requires_grad=True)
r_rejected = torch.tensor([1.0, 3.0, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
loss = F.reward_model_loss(r_chosen, r_rejected).mean()
loss.backward()
print(f"mean loss = {loss.item():.4f}")
print(" gap   P(chosen)   d loss/d r_chosen")
for g, p, d in zip((r_chosen - r_rejected).tolist(), F.bradley_terry_prob(r_chosen, r_rejected).tolist(),
                   r_chosen.grad.tolist()):
    print(f"{g:+4.1f}   {p:9.3f}   {d:+.4f}")

# %% [markdown]
# Gradient descent *subtracts* the gradient, so every chosen reward goes up and every rejected
# reward goes down, and the pair the model gets most wrong (gap −4) is pushed about eight times
# harder than the pair it already gets right (gap +2).
# (The gradients are divided by 4 because we took the mean over the batch.)
#
# ## Try it
#
# Slide the reward gap. Watch the probability saturate at both ends, while the loss and its
# gradient stay finite even for huge negative gaps.

# %%
widgets.bt_widget()

# %%
print(widgets.bt_readout(-2.0))

# %% [markdown]
# ## Summary
#
# - People compare replies more reliably than they score them; RLHF collects (chosen, rejected) pairs.
# - **Bradley–Terry**: $P(y_c \succ y_r) = \sigma(r_c - r_r)$. Gap 2 gives 0.881; gap −2 gives 0.119.
# - The reward model minimises $-\log\sigma(r_c - r_r)$: 0.127 when it agrees with people, 2.127
#   when it does not. Only score *differences* matter.
# - Compute it with `logsigmoid`: a gap of −1000 gives a loss of 1000, not `inf`.
#
# Next, in **03**, we use a reward to change the policy.

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
# ### Exercise 1: Bradley–Terry probability
#
# Write `bradley_terry_prob(r_chosen, r_rejected)`: the probability that people prefer the chosen
# reply, $\sigma(r_{\text{chosen}} - r_{\text{rejected}})$, elementwise. It must stay exact for huge
# rewards (a gap of 1000 gives 1, never `nan`).

# %%
def bradley_terry_prob(r_chosen, r_rejected):
    """r_chosen, r_rejected: tensors of the same shape -> P(chosen preferred), same shape"""
    raise NotImplementedError  # your code here

# %%
check.bradley_terry_prob(bradley_terry_prob)

# %% [markdown]
# ### Exercise 2: The reward model's loss, in the stable form
#
# Write `reward_model_loss(r_chosen, r_rejected)`:
# $-\log \sigma(r_{\text{chosen}} - r_{\text{rejected}})$ for every pair (don't average). A gap of
# $-1000$ must give a loss of 1000 with a finite gradient, not `inf`: `torch.log(torch.sigmoid(x))`
# does not; `torch.nn.functional.logsigmoid(x)` does.

# %%
def reward_model_loss(r_chosen, r_rejected):
    """r_chosen, r_rejected: tensors of the same shape -> loss per pair, same shape"""
    raise NotImplementedError  # your code here

# %%
check.reward_model_loss(reward_model_loss)
