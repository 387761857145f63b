# %% [markdown]
# # 03 · Policy gradient
#
# **What you will learn.** Now that a reply can get a reward, how do we change the model's weights
# so that good replies become more likely? The answer is the **policy gradient**: multiply the
# log-probability of what the model did by how good it turned out to be (the *advantage*), and
# follow the gradient. You will see why this works even though sampling text is not
# differentiable, check it exactly on a tiny three-word policy, and watch one gradient step raise
# the probability of a good word (advantage 2.5) and lower it for a bad outcome (advantage −1.0).

# %%
%matplotlib inline
import torch

import rlhf_edu.formulas as F
from rlhf_edu import examples, plots, widgets

# %% [markdown]
# ## The goal and the trick
#
# We want to maximise the expected reward of the replies the policy produces,
#
# $$J(\theta) = \mathbb{E}_{y \sim \pi_\theta}\,[R(y)] = \sum_y \pi_\theta(y)\, R(y).$$
#
# We cannot backpropagate through "pick a token at random". But we can differentiate the sum, and
# with $\nabla \pi = \pi\, \nabla \log \pi$ (the *log-derivative trick*) it becomes an expectation
# again, one we can estimate from samples:
#
# $$\nabla_\theta J = \mathbb{E}_{y \sim \pi_\theta}\,[R(y)\, \nabla_\theta \log \pi_\theta(y)].$$
#
# In words: for each sampled reply, nudge its log-probability up in proportion to its reward.
#
# Let's check the identity exactly on a tiny policy: the three words that could follow "Pune is",
# with made-up rewards. Both sides are computed with autograd, and we sum over all three words
# instead of sampling, so there is no noise.

# %%
logits = torch.log(torch.tensor(examples.pg_policy(), dtype=torch.float64)).requires_grad_(True)
reward = torch.tensor([1.0, 0.2, -1.0], dtype=torch.float64)  # great, okay, awful

# left side: the gradient of J = sum_y pi(y) R(y)
J = (torch.softmax(logits, -1) * reward).sum()
(grad_J,) = torch.autograd.grad(J, logits)

# right side: sum_y pi(y) * R(y) * grad log pi(y), one word at a time
grad_trick = torch.zeros_like(logits)
for y in range(3):
    logp = torch.log_softmax(logits, -1)[y]
    (g,) = torch.autograd.grad(logp, logits)
    grad_trick += torch.softmax(logits, -1)[y].detach() * reward[y] * g

print("grad J          :", [f"{v:+.4f}" for v in grad_J.tolist()])
print("E[R grad log pi]:", [f"{v:+.4f}" for v in grad_trick.tolist()])
assert torch.allclose(grad_J, grad_trick)

# %% [markdown]
# ## From reward to advantage
#
# If every reward is positive, every sampled reply gets pushed up and only the *relative* sizes
# sort good from bad, which makes learning slow and noisy. So we subtract a **baseline** $b$, the
# reward we expected anyway, and use the **advantage** $A = R - b$. A positive advantage means
# "better than usual", a negative one "worse than usual". Subtracting a baseline does not change the
# expected gradient, because $\mathbb{E}[\nabla \log \pi] = 0$, but it makes each estimate far less noisy.
#
# In code, we write down a **surrogate** whose gradient is the policy gradient,
#
# $$J_{\text{surrogate}} = \log \pi_\theta(a \mid s) \cdot A,$$
#
# with $A$ held fixed, and let autograd differentiate it. (Minimise its negative to use an ordinary
# optimiser.) Its *value* means nothing on its own; only its gradient matters.

# %% [markdown]
# ## One step, two advantages
#
# The policy gives "great" the log-probability $-1.2$ (probability $e^{-1.2} = 0.301$). We take
# one plain gradient step (learning rate 0.5) on the surrogate, first with advantage $A = 2.5$,
# then with $A = -1.0$:

# %%
for A in (2.5, -1.0):
    step = examples.policy_gradient_step(A)
    verb = "raises" if step["prob_after"] > step["prob_before"] else "lowers"
    print(f"A = {A:+.1f}: surrogate = {step['logp']:.1f} x {A:+.1f} = {step['surrogate']:+.2f}; "
          f"pi('great') {step['prob_before']:.3f} -> {step['prob_after']:.3f} ({verb} it)")

# %% [markdown]
# A positive advantage raised the word's probability, a negative one lowered it; the probability
# taken from (or given to) "great" went to the other words. For a softmax policy, calculus gives the
# gradient of the surrogate on the chosen word's logit: $A\,(1 - \pi)$. Autograd agrees:

# %%
for A in (2.5, -1.0):
    step = examples.policy_gradient_step(A)
    by_hand = A * (1.0 - step["prob_before"])
    print(f"A = {A:+.1f}: autograd {step['grad_logit']:+.4f}, by hand A(1 - pi) = {by_hand:+.4f}")

# %%
plots.plot_policy_gradient_step()

# %% [markdown]
# Notice the factor $(1 - \pi)$: a word the policy is already sure of gets small updates. And
# notice what the step size does: with a big advantage or learning rate, one step can move the
# probability a lot. Plain policy gradient has no brake. That is the problem notebook 04 solves.
#
# ## Try it
#
# Change the advantage, the starting log-probability and the learning rate. The sign of $A$ alone
# decides the direction; $|A|$, the learning rate and $(1 - \pi)$ decide the size.

# %%
widgets.pg_widget()

# %%
print(widgets.pg_readout(-1.0))

# %% [markdown]
# ## Summary
#
# - The policy gradient is $\nabla J = \mathbb{E}[R\,\nabla \log \pi]$: push up the log-probability of
#   what you did, in proportion to how good it was. We checked it exactly on a 3-word policy.
# - Use an **advantage** $A = R - b$ instead of the raw reward: same direction on average, less noise.
# - In code: maximise the surrogate $\log \pi \cdot A$ with $A$ fixed. With $\log \pi = -1.2$,
#   $A = 2.5$ raised $\pi$ from 0.301 to 0.618; $A = -1.0$ lowered it to 0.202.
# - Nothing limits how far one step goes. Next, in **04**: reusing samples and clipping the step.

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
# ### Exercise 1: The policy-gradient loss and its sign
#
# Write `policy_gradient_loss(logp, advantage)`: the loss an optimiser *minimises* so that it follows
# the policy gradient: minus the mean of the surrogate $\log\pi(a \mid s)\cdot A$ over the $N$
# samples. The advantage is a fixed weight: no gradient may flow into it.

# %%
def policy_gradient_loss(logp, advantage):
    """logp: (N,) log-probs of the sampled actions, advantage: (N,) -> scalar loss"""
    raise NotImplementedError  # your code here

# %%
check.policy_gradient_loss(policy_gradient_loss)

# %% [markdown]
# ### Exercise 2: The log-derivative, by hand
#
# For a softmax policy $\pi = \mathrm{softmax}(z)$, write `grad_log_softmax(logits, action)`: the
# gradient of $\log \pi(a)$ with respect to every logit, for each of the $N$ rows (row $i$ took action
# `action[i]`). Don't use autograd: work out the formula ($\partial \log\pi(a) / \partial z_j$ is
# $1 - \pi_a$ for $j = a$ and $-\pi_j$ otherwise).

# %%
def grad_log_softmax(logits, action):
    """logits: (N, V), action: (N,) int64 -> (N, V) gradient of log pi(action) w.r.t. logits"""
    raise NotImplementedError  # your code here

# %%
check.grad_log_softmax(grad_log_softmax)
