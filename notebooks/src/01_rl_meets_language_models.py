# %% [markdown]
# # 01 · Reinforcement learning meets language models
#
# **What you will learn.** Reinforcement learning (RL) talks about *agents*, *states*, *actions*,
# *policies* and *rewards*; a language model talks about *prompts*, *tokens* and *probabilities*.
# In this notebook you will see that they are the same thing under two names: a language model is a
# policy whose actions are tokens. You will compute the probability of a whole sentence from its
# tokens' probabilities (by multiplying, and by adding log-probabilities, which is how real code does
# it), and you will meet the *return*, the quantity RL maximises, in the special shape it takes in
# RLHF: one reward, at the very end.

# %%
%matplotlib inline
import math

import torch

import rlhf_edu.formulas as F
from rlhf_edu import examples, plots, widgets

# %% [markdown]
# ## The dictionary
#
# | RL word | In a language model |
# |---|---|
# | agent / **policy** $\pi_\theta$ | the language model with weights $\theta$ |
# | **state** $s_t$ | the prompt $x$ plus the tokens generated so far $y_{<t}$ |
# | **action** $a_t$ | the next token $y_t$ |
# | $\pi_\theta(a_t \mid s_t)$ | the model's softmax probability of that token |
# | **episode** | one generated reply, from the prompt to the end-of-text token |
# | **reward** $R$ | a score for the whole reply (from people, or a model trained on their choices) |
#
# Generating text is therefore *acting*: at every step the policy picks one action out of the
# vocabulary, and the state grows by one token. RLHF uses RL's tools to change $\theta$ so that the
# replies people prefer become more likely.

# %% [markdown]
# ## A sentence is a sequence of actions
#
# Suppose the prompt asks about a city and the model replies "Pune is great", one token at a time:
#
# - $\pi(\text{"Pune"} \mid x) = 0.8$
# - $\pi(\text{" is"} \mid x, \text{"Pune"}) = 0.7$
# - $\pi(\text{" great"} \mid x, \text{"Pune is"}) = 0.9$
#
# By the chain rule of probability, the probability of the whole reply is the product of the
# per-token probabilities:
#
# $$\pi(y \mid x) = \prod_t \pi(y_t \mid x, y_{<t}).$$

# %%
probs = examples.TOKEN_PROBS
p_seq = F.sequence_prob(probs)
print(" x ".join(f"{p:.1f}" for p in probs), f"= {p_seq:.3f}")
assert abs(p_seq - 0.504) < 1e-12

# %% [markdown]
# Code almost never multiplies probabilities. It adds **log-probabilities** instead:
# $\log \pi(y \mid x) = \sum_t \log \pi(y_t \mid x, y_{<t})$. Same information, because
# $\exp$ undoes $\log$:

# %%
logps = [math.log(p) for p in probs]
total = F.sequence_logprob(logps)
print("log-probs:", ", ".join(f"{l:.3f}" for l in logps))
print(f"sum = {total:.3f}, exp(sum) = {F.sequence_prob_from_logprobs(logps):.3f}")

# %% [markdown]
# Why bother? Because a product of many numbers below one quickly becomes too small for a computer
# to store. A 400-token reply whose tokens each have probability 0.1 has probability $10^{-400}$,
# far below anything a 64-bit float can hold: the smallest *normal* one is about $2.2 \times 10^{-308}$,
# and below it the *subnormal* numbers, with fewer significant digits, reach down to about
# $5 \times 10^{-324}$:

# %%
import sys

print("smallest normal double:   ", sys.float_info.min)
print("smallest subnormal double:", math.ulp(0.0))

# %% [markdown]
# $10^{-400}$ is far below both. The product *underflows* to exactly zero, and every token's
# information is lost; the sum of logs is a perfectly ordinary number.

# %%
long_reply = [0.1] * 400
print("product of probabilities:", F.sequence_prob(long_reply))
print(f"sum of log-probabilities: {F.sequence_logprob([math.log(p) for p in long_reply]):.3f}")

# %% [markdown]
# The same functions work on a batch: a tensor of shape `[batch, tokens]` gives one sequence
# probability per row. This is how later notebooks score many replies at once.

# %%
batch = torch.tensor([[0.8, 0.7, 0.9],
                      [0.5, 0.5, 0.5]], dtype=torch.float64)
print("per-reply probability:", [f"{v:.3f}" for v in F.sequence_prob(batch).tolist()])
print("per-reply log-prob:   ", [f"{v:.3f}" for v in F.sequence_logprob(batch.log()).tolist()])

# %%
plots.plot_sequence_probability()

# %% [markdown]
# ## Rewards and the return
#
# In RL, an agent can receive a reward $r_t$ after every action. What it maximises is the
# **return**, the (discounted) sum of the rewards still to come:
#
# $$G_t = r_t + \gamma\, r_{t+1} + \gamma^2 r_{t+2} + \dots = r_t + \gamma\, G_{t+1},$$
#
# where the discount $\gamma \in [0, 1]$ says how much a reward later is worth compared with a
# reward now. In RLHF the reward comes **once, at the end**: a person (or a reward model) judges the
# finished reply. All the earlier tokens get reward zero, and their return is the final reward,
# discounted by how far away it is.

# %%
rewards = [0.0, 0.0, 1.0]  # "Pune", " is", " great": judged only when the reply is done
for gamma in (1.0, 0.9):
    G = F.discounted_returns(rewards, gamma)
    print(f"gamma = {gamma:.1f}: returns =", ", ".join(f"{g:.2f}" for g in G))

# %% [markdown]
# With $\gamma = 1$, the usual choice in RLHF, every token of the reply shares the credit for the
# final reward equally. With $\gamma < 1$, tokens far from the end get less. The plot shows a
# 10-token reply.

# %%
plots.plot_discounted_returns()

# %% [markdown]
# ## Try it
#
# Move the sliders to change each token's probability. Notice how one unlikely token drags the
# whole sentence down, and that the product and the exp-of-sum always agree.

# %%
widgets.sequence_widget()

# %% [markdown]
# The slider calls a plain function, so you can also call it yourself:

# %%
print(widgets.sequence_readout(0.8, 0.7, 0.9))

# %% [markdown]
# ## Summary
#
# - A language model is an RL **policy**: the state is the text so far, the action is the next
#   token, an episode is one reply.
# - A reply's probability is the **product** of its tokens' probabilities; code uses the **sum of
#   log-probabilities** because the product underflows: 0.8 × 0.7 × 0.9 = 0.504 = exp(−0.685).
# - RL maximises the **return**. In RLHF one reward arrives at the end of the reply, so with
#   $\gamma = 1$ every token's return is that reward.
#
# Next, in **02**, we ask where that reward comes from.

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
# ### Exercise 1: Sequence log-probability
#
# Write `sequence_logprob(token_probs)`: given the probabilities the model gave to each token of a
# reply (a tensor whose last axis is the tokens; any axes before it are a batch), return
# $\log \pi(y \mid x) = \sum_t \log \pi(y_t \mid x, y_{<t})$, one number per reply. Add
# log-probabilities; don't multiply probabilities (a long reply would underflow).

# %%
def sequence_logprob(token_probs):
    """token_probs: (..., T) probabilities of a reply's tokens -> (...,) its log-probability"""
    raise NotImplementedError  # your code here

# %%
check.sequence_logprob(sequence_logprob)

# %% [markdown]
# ### Exercise 2: Discounted returns
#
# Write `discounted_returns(rewards, gamma)`: for rewards $r_0 \dots r_{T-1}$ (last axis; any axes
# before it are separate replies), return every $G_t = r_t + \gamma\, G_{t+1}$, with $G_T = 0$ after
# the last token. Same shape as `rewards`. Hint: start at the end.

# %%
def discounted_returns(rewards, gamma):
    """rewards: (..., T), gamma: float -> (..., T) returns G_t"""
    raise NotImplementedError  # your code here

# %%
check.discounted_returns(discounted_returns)
