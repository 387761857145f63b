# %% [markdown]
# # 09 · RLHF with PPO
#
# **What you will learn.** The full PPO recipe for language models, as used by InstructGPT-style
# pipelines, on our micro GPT-2: a per-token KL penalty with the reward-model score added at the
# last real token, a value head, GAE advantages, whitening, the clipped policy and value losses,
# and several epochs of minibatch updates per batch of samples. You will see every quantity a
# practitioner watches (reward, KL, entropy, clip fraction, approx-KL, explained variance), check
# that the very first update starts from a ratio of exactly 1, and judge the result independently.
#
# The PPO loss lives in `rlhf_edu/ppo.py` (`ppo_losses`); every hyper-parameter is in `PPOConfig`.

# %%
%matplotlib inline
import torch

from rlhf_edu import plots, stages
from rlhf_edu.evaluation import side_by_side
from rlhf_edu.model import frozen_copy
from rlhf_edu.sentiment import corpus, evaluation, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())
print(pipeline.rl_setup().ppo)

# %% [markdown]
# ## From one reward per text to one reward per token
#
# PPO works per token. Token $t$ of a completion gets $-\beta\,(\log\pi(y_t) - \log\pi_{\text{ref}}(y_t))$,
# and the last real token (the end-of-text token, never a pad) also gets the reward model's score.
# So each row of rewards sums to $r_{\text{RM}} - \beta \sum_t \mathrm{KL}_t$, the same total as in
# notebook 08, but now the value function can tell *where* in the completion things went well.
#
# **Advantages** come from GAE with γ = 1 and λ = 0.95; the value after the last token is 0; the
# returns the value head learns are advantages + values, taken before the advantages are whitened.
#
# **The update** reuses each batch for 4 epochs of minibatches. The ratio $\pi_\theta/\pi_{\text{old}}$
# starts at exactly 1 (dropout is off, and old and new log-probs come from the same function in the
# same precision). The clip does not stop a token's ratio from leaving $[1 - ε, 1 + ε]$, ε = 0.2:
# within one minibatch step every ratio moves freely, and ratios do overshoot. What the clip does,
# as notebook 04 showed, is zero the gradient of a token whose ratio is already past the band in the
# profitable direction, so *later* minibatches of the same batch stop pushing it further.

# %%
# NBVAL_IGNORE_OUTPUT
tok = pipeline.tokenizer()
sft, _ = pipeline.sft_model()
rm, _ = pipeline.reward_model()
policy, history = pipeline.ppo_policy()

# %%
first = history[0]
print(f"first minibatch: mean ratio = {first['ratio_first_minibatch']:.6f}")
print(f"KL to the reference before any update: k1 = {first['kl_k1']:.6f}, k3 = {first['kl_k3']:.6f}")
assert abs(first["ratio_first_minibatch"] - 1) < 1e-6 and first["kl_k1"] == 0.0

# %%
plots.plot_ppo_history(history)

# %% [markdown]
# How to read these panels:
#
# - **score** rises: the policy learns what the reward model likes;
# - **kl_k1 / kl_k3** grow from 0 and level off: the KL penalty is the leash;
# - **entropy** falls slowly: the policy becomes more certain;
# - **clip_frac** and **approx_kl** are largest in the first iterations (in our run about half the
#   tokens were outside the band in the very first one: lr 3e-4 is a big step for this small model,
#   and the clip then stops pushing those tokens for the rest of the batch) and fall towards 0 as the
#   learning rate anneals;
# - **explained_variance** rises, noisily (to about 0.4 in our run), as the value head learns to
#   predict returns.

# %% [markdown]
# ## Judged independently, against the SFT start

# %%
# NBVAL_IGNORE_OUTPUT
metrics = evaluation.compare_policies({"SFT": sft, "PPO": policy}, frozen_copy(sft), rm, tok,
                                      pipeline.evaluation_prompts())
print(evaluation.metrics_table(metrics))
before, after = metrics["SFT"], metrics["PPO"]
# Robust checks (the measured figures are in the table above):
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert after["judge_positive_rate"] > before["judge_positive_rate"] + 0.2
    assert after["kl_k1"] < 20
    assert after["distinct_2"] >= 0.5 * before["distinct_2"]

# %% [markdown]
# ## Before and after, for the story's prompts

# %%
# NBVAL_IGNORE_OUTPUT
story = [p for p in corpus.RL_PROMPTS for _ in range(3)]
print(side_by_side({"SFT": sft, "PPO": policy}, tok, story))

# %% [markdown]
# ## Summary
#
# - PPO moves the SFT model's mixed tweets towards positive ones, and the independent judge agrees
#   (compare the judge rows of the table), at a KL of about 9 nats per completion.
# - Look closely at the samples, though: reward hacking is already here. Completions are less than
#   half as long as SFT's and lean on the reward model's favourite word ("The weather is amazing",
#   "My friend told me amazing"), and distinct-2 drops. The judge is happy with that, because
#   "amazing" is in its word list too. Notebook 10 varies the KL leash to see this trade-off directly.
# - How much hacking you see depends on the run. On another CPU, whose float rounding differed in
#   the last bits, the same code and seed gave a judge positive rate of 0.995 at KL 8.2, with
#   completions of about 9 tokens using "wonderful", "perfect" and "lovely"; here 0.979 at KL 8.7
#   and about 6 tokens. RL amplifies tiny differences: read one run's third digit as one sample.

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
# ### Exercise 1: Per-token rewards
#
# Write `token_rewards(scores, logp, ref_logp, mask, beta)`: every real token gets
# $-\beta\,(\log\pi - \log\pi_{\text{ref}})$, and the last real token of each completion (its EOS;
# after it come pads) also gets the reward model's score. Pads get 0. Each row then sums to
# $r_{\text{RM}} - \beta\sum_t k_1$.

# %%
def token_rewards(scores, logp, ref_logp, mask, beta):
    """scores: (B,), logp, ref_logp, mask: (B, R) float, beta: float -> (B, R) per-token rewards"""
    raise NotImplementedError  # your code here

# %%
check.token_rewards(token_rewards)

# %% [markdown]
# ### Exercise 2: GAE
#
# Write `gae(rewards, values, mask, gamma=1.0, lam=0.95)`, returning `(advantages, returns)`:
# $\delta_t = r_t + \gamma V_{t+1} - V_t$ with $V = 0$ after each completion's last real token (the
# values at pads are junk), $A_t = \delta_t + \gamma\lambda A_{t+1}$, and returns $= A + V$. Pads get
# 0 in both outputs.

# %%
def gae(rewards, values, mask, gamma=1.0, lam=0.95):
    """rewards, values, mask: (B, R) float, gamma, lam: float -> (advantages, returns), each (B, R)"""
    raise NotImplementedError  # your code here

# %%
check.gae(gae)

# %% [markdown]
# ### Exercise 3: Whitening over real tokens
#
# Write `whiten(x, mask)`: subtract the mean and divide by $\sqrt{\text{var} + 10^{-8}}$, where the
# mean and the variance (the mean squared deviation, divided by the count, not count − 1) are taken
# over the real tokens of the whole batch only. Pads hold junk that must not affect the statistics,
# and get 0 in the output.

# %%
def whiten(x, mask):
    """x, mask: (B, R) float -> (B, R) whitened x"""
    raise NotImplementedError  # your code here

# %%
check.whiten(whiten)

# %% [markdown]
# ### Exercise 4: PPO's policy loss
#
# Write `ppo_policy_loss(new_logp, old_logp, advantages, mask, clip_eps=0.2)`: with
# $r_t = \exp(\log\pi_{\text{new}} - \log\pi_{\text{old}})$ per token, the loss is minus the mean,
# over the real tokens of the batch (mask 1), of
# $\min(r_t A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon) A_t)$. Values at pads are junk.

# %%
def ppo_policy_loss(new_logp, old_logp, advantages, mask, clip_eps=0.2):
    """new_logp, old_logp, advantages, mask: (B, R) float, clip_eps: float -> scalar loss"""
    raise NotImplementedError  # your code here

# %%
check.ppo_policy_loss(ppo_policy_loss)

# %% [markdown]
# ### Exercise 5: PPO's value loss
#
# Write `ppo_value_loss(new_values, old_values, returns, mask, clip_eps=0.2)`: with
# $V_{\text{clip}} = V_{\text{old}} + \mathrm{clip}(V - V_{\text{old}}, -\epsilon, \epsilon)$, the
# loss is $\tfrac12$ × the mean over real tokens (mask 1) of
# $\max\big((V - R)^2, (V_{\text{clip}} - R)^2\big)$, $R$ the returns. Values at pads are junk.

# %%
def ppo_value_loss(new_values, old_values, returns, mask, clip_eps=0.2):
    """new_values, old_values, returns, mask: (B, R) float, clip_eps: float -> scalar loss"""
    raise NotImplementedError  # your code here

# %%
check.ppo_value_loss(ppo_value_loss)

# %% [markdown]
# ### Exercise 6: The leave-one-out baseline
#
# Each prompt was sampled $k$ times, and its $k$ completions are consecutive rows of `scores`. Write
# `leave_one_out(scores, k)`: each score minus the mean of the *other* $k-1$ scores of its prompt (the
# sample itself must not be in its own baseline). With $k = 1$ there is no other sample: return the
# scores unchanged.

# %%
def leave_one_out(scores, k):
    """scores: (B,) with B = n_prompts * k, k: int -> (B,) scores minus their baseline"""
    raise NotImplementedError  # your code here

# %%
check.leave_one_out(leave_one_out)
