# %% [markdown]
# # 08 · RLHF with the policy-gradient loop
#
# **What you will learn.** Stage 4, first version. We fine-tune the SFT model with the plain
# policy gradient of notebook 03: sample completions, score them with the reward model minus a KL
# penalty against the frozen SFT model, and push up the log-probability of completions that scored
# above average. You will see the reward rise, check the result with the independent judge, and
# read before/after samples for the story's three prompts. Along the way we fix what the usual
# pseudo-code gets loose.

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

# %% [markdown]
# ## What the usual pseudo-code gets loose
#
# The loop is often sketched as "generate, compute rewards, compute discounted returns, loss =
# −log π · return, step". Four details matter:
#
# 1. **One reward per completion.** The reward model scores a finished text, once. With γ = 1 the
#    return at every token of that completion is that one number. "Discounted returns over the
#    batch" would mix different completions' rewards together as if they were one episode.
# 2. **The reward is a constant.** It is computed without gradients (`torch.no_grad`): the policy
#    must not be able to "improve" by changing how the reward is computed.
# 3. **Only generated tokens count.** The prompt was given, not chosen; its log-probs stay out of
#    the loss.
# 4. **Sample from the distribution you score.** Top-k sampling draws from a truncated
#    distribution; if the loss then uses full-softmax log-probs, the data are off-policy. We sample
#    from the full softmax during RL.
#
# We also subtract a **baseline**, the batch's mean reward, which cuts the gradient's noise a lot. It
# is not quite free: the mean includes the completion's own reward, so with N completions each one's
# push is scaled by $1 - 1/N$ (a bias toward smaller steps, small for N = 32). A baseline that leaves
# the expectation exactly unchanged must not depend on the sample itself, like the leave-one-out
# mean of notebook 11. Dividing by the rewards' standard deviation (`PGConfig.normalise`) rescales
# every step too; it makes the step size independent of the reward's scale. The total reward of a completion is
# $R = r_{\text{RM}} - \beta \sum_t \big(\log\pi(y_t) - \log\pi_{\text{ref}}(y_t)\big)$ with β = 0.1.

# %%
# NBVAL_IGNORE_OUTPUT
print(pipeline.rl_setup().pg)

# %%
# NBVAL_IGNORE_OUTPUT
tok = pipeline.tokenizer()
sft, _ = pipeline.sft_model()
rm, _ = pipeline.reward_model()
policy, history = pipeline.pg_policy()

# %%
plots.plot_rl_history(history, ("score", "kl_k1", "total_reward"), "policy gradient, β = 0.1")

# %% [markdown]
# ## Judged by someone else
#
# The rising curve is the reward model's opinion, and the policy was trained to please exactly that
# model. The independent judge (VADER) and the KL tell us whether the text really became more
# positive, and at what cost. Both models are evaluated on the same held-out prompts with the same
# sampling seed.

# %%
# NBVAL_IGNORE_OUTPUT
metrics = evaluation.compare_policies({"SFT": sft, "policy gradient": policy}, frozen_copy(sft), rm, tok,
                                      pipeline.evaluation_prompts())
print(evaluation.metrics_table(metrics))
before, after = metrics["SFT"], metrics["policy gradient"]
# Robust checks; the positive-rate change is in the table above.
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert after["rm_score"] > before["rm_score"] + 0.3
    assert after["judge_compound"] > before["judge_compound"]

# %% [markdown]
# ## Before and after, for the story's prompts
#
# (One caveat about the judge: VADER counts "friend" as a positive word, so "My friend told me"
# starts with a head start whatever follows.)

# %%
# NBVAL_IGNORE_OUTPUT
story = [p for p in corpus.RL_PROMPTS for _ in range(3)]
print(side_by_side({"SFT": sft, "PG": policy}, tok, story))

# %% [markdown]
# ## Summary
#
# - The vanilla policy gradient, done carefully, moves the SFT model towards positive tweets: the
#   reward model's score rises, and the independent judge moves the same way (its positive rate from
#   0.45 to 0.78 in our run, at a KL of about 5 nats).
# - It needs the samples. With 30 batches instead of 60 the judge's positive rate ended between 0.53
#   and 0.66 over three seeds; one update per batch of fresh samples is a slow way to learn.
# - Push harder and it breaks. With a learning rate of 1e-3 instead of 3e-4 we saw the policy
#   collapse onto completions of about four tokens that the reward model scores highly but the
#   judge does not (its positive rate *fell*, and perplexity under the reference rose above 600):
#   reward hacking, in one setting change. Notebook 10 returns to this.
# - Every step uses fresh samples once and throws them away. Notebook 09 makes each batch of
#   samples go further with PPO, and adds a value function to cut the variance per token.

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
# ### Exercise 1: Baselined, normalised advantages
#
# Write `sequence_advantages(rewards)`: subtract the batch's mean reward (the baseline), then divide
# by the rewards' standard deviation (`rewards.std()`, torch's default), using `max(std, 1e-6)` so
# that equal rewards give advantages of 0, not `nan`.

# %%
def sequence_advantages(rewards):
    """rewards: (B,) one reward per completion -> (B,) advantages"""
    raise NotImplementedError  # your code here

# %%
check.sequence_advantages(sequence_advantages)

# %% [markdown]
# ### Exercise 2: The policy-gradient loss over generated tokens only
#
# `token_logp` holds $\log\pi(\text{token}_{j+1} \mid \text{tokens}_{\le j})$ in column $j$ for every
# position of *prompt + completion* (as `model.token_logprobs` returns it); the completion starts at
# token `prompt_len`, so its log-probs are the columns from `prompt_len - 1` on. `response_mask` is 1
# for real completion tokens (up to and including EOS) and 0 for the pads after it. Write
# `pg_loss(token_logp, prompt_len, response_mask, advantages)`:
# $-\frac{1}{B}\sum_i A_i \log\pi(y_i \mid x_i)$, where $\log\pi(y_i \mid x_i)$ sums over the
# completion's real tokens only, and the advantages are constants (detached).

# %%
def pg_loss(token_logp, prompt_len, response_mask, advantages):
    """token_logp: (B, T-1), prompt_len: int, response_mask: (B, R), advantages: (B,) -> loss"""
    raise NotImplementedError  # your code here

# %%
check.pg_loss(pg_loss)
