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

from rlhf_edu import data, evaluation, pipeline, plots

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(pipeline.describe_size())
print(pipeline.RLHF_DEFAULT.ppo)

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
# same precision), and the clip stops any token from moving more than ε = 0.2 in the profitable
# direction.

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
#   tokens were clipped in the very first one: lr 3e-4 is a big step for this small model, and the
#   clip is what keeps it from being bigger) and fall towards 0 as the learning rate anneals;
# - **explained_variance** rises, noisily (to about 0.4 in our run), as the value head learns to
#   predict returns.

# %% [markdown]
# ## Judged independently, against the SFT start

# %%
# NBVAL_IGNORE_OUTPUT
metrics = evaluation.compare_policies({"SFT": sft, "PPO": policy}, pipeline.frozen_copy(sft), rm, tok,
                                      pipeline.evaluation_prompts())
print(evaluation.metrics_table(metrics))
before, after = metrics["SFT"], metrics["PPO"]
# Robust checks (the measured figures are in the table above):
if pipeline.FULL_SIZE:  # checks on training results; skipped at test size (see the first cell)
    assert after["judge_positive_rate"] > before["judge_positive_rate"] + 0.2
    assert after["kl_k1"] < 20
    assert after["distinct_2"] >= 0.5 * before["distinct_2"]

# %% [markdown]
# ## Before and after, for the story's prompts

# %%
# NBVAL_IGNORE_OUTPUT
story = [p for p in data.RL_PROMPTS for _ in range(3)]
print(evaluation.side_by_side({"SFT": sft, "PPO": policy}, tok, story))

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
