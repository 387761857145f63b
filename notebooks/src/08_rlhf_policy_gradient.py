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

from rlhf_edu import data, evaluation, pipeline, plots

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(pipeline.describe_size())

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
# We also subtract a **baseline**, the batch's mean reward: the gradient's expectation does not
# change, its noise drops a lot. (We then divide by the rewards' standard deviation too, so the
# step size does not depend on the reward's scale: `PGConfig.normalise`.) The total reward of a completion is
# $R = r_{\text{RM}} - \beta \sum_t \big(\log\pi(y_t) - \log\pi_{\text{ref}}(y_t)\big)$ with β = 0.1.

# %%
# NBVAL_IGNORE_OUTPUT
print(pipeline.RLHF_DEFAULT.pg)

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
metrics = evaluation.compare_policies({"SFT": sft, "policy gradient": policy}, pipeline.frozen_copy(sft), rm, tok,
                                      pipeline.evaluation_prompts())
print(evaluation.metrics_table(metrics))
before, after = metrics["SFT"], metrics["policy gradient"]
# Robust checks; the positive-rate change is in the table above.
if pipeline.FULL_SIZE:  # checks on training results; skipped at test size (see the first cell)
    assert after["rm_score"] > before["rm_score"] + 0.3
    assert after["judge_compound"] > before["judge_compound"]

# %% [markdown]
# ## Before and after, for the story's prompts
#
# (One caveat about the judge: VADER counts "friend" as a positive word, so "My friend told me"
# starts with a head start whatever follows.)

# %%
# NBVAL_IGNORE_OUTPUT
story = [p for p in data.RL_PROMPTS for _ in range(3)]
print(evaluation.side_by_side({"SFT": sft, "PG": policy}, tok, story))

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
