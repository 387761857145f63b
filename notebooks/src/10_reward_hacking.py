# %% [markdown]
# # 10 · Reward hacking, and the KL leash
#
# **What you will learn.** The reward model is a *proxy* for what people want, and a policy
# optimised hard against a proxy finds its blind spots. A classic sentiment example: the model
# learns to stuff "happy", "love", "wonderful" into every completion, whatever the prompt. The KL
# penalty is what stops this. We run the same PPO recipe with several values of β and compare the
# proxy (reward-model score), the independent judge, the KL, and the diversity of the text.
#
# **The runs are small on purpose** so that the sweep fits in a few minutes on a CPU: each β gets
# the same PPO settings as notebook 09 but fewer iterations and a higher learning rate (listed
# below). The trends, not the exact numbers, are the point.

# %%
%matplotlib inline
import dataclasses

import torch

from rlhf_edu import evaluation, pipeline, plots

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(pipeline.describe_size())
BETAS = pipeline.RLHF_DEFAULT.sweep_betas
SWEEP = pipeline.RLHF_DEFAULT.sweep
print("betas:", BETAS)
print(SWEEP)

# %%
# NBVAL_IGNORE_OUTPUT
tok = pipeline.tokenizer()
sft, _ = pipeline.sft_model()
rm, _ = pipeline.reward_model()
reference = pipeline.frozen_copy(sft)
prompts = pipeline.evaluation_prompts()
rows, samples = [], {}
base, base_ro = evaluation.evaluate(sft, reference, rm, tok, prompts)
for beta in BETAS:
    policy, _ = pipeline.ppo_policy(cfg=dataclasses.replace(SWEEP, beta=beta))
    metrics, ro = evaluation.evaluate(policy, reference, rm, tok, prompts)
    rows.append({"beta": beta, **metrics})
    samples[beta] = ro.texts[:8:2]

# %%
# NBVAL_IGNORE_OUTPUT
print(evaluation.metrics_table({"SFT": base, **{f"β={r['beta']:g}": r for r in rows}}))

# %%
plots.plot_beta_sweep(rows)

# %% [markdown]
# ## What the text looks like at each β

# %%
# NBVAL_IGNORE_OUTPUT
for beta in BETAS:
    print(f"--- β = {beta:g}")
    for s in samples[beta]:
        print("  ", s)

# %% [markdown]
# ## Reading the sweep
#
# What to look for, and what this small sweep does and does not show:
#
# - **The leash works on KL.** With β = 0 nothing ties the policy to the SFT model, and its KL to
#   the reference is the largest; as β grows the KL shrinks. This is clear even in short runs.
# - **The full collapse needs longer runs.** Each β here gets only 12 short iterations, so the proxy
#   gains are modest and the judge moves little; the degenerate "so good so good" text does not
#   take over yet. Notebook 09's longer run at β = 0.1 already shows its first signs (shorter
#   completions, repeated phrases). To see the collapse at β = 0, raise `iterations` in `SWEEP`
#   (e.g. to 60) and give it the time.
# - **Watch the gap between proxy and judge**: where the reward-model score rises faster than the
#   judge's, the policy is learning the reward model's quirks rather than sentiment.

# %%
# NBVAL_IGNORE_OUTPUT
by_beta = {r["beta"]: r for r in rows}
if pipeline.FULL_SIZE:  # checks on training results; skipped at test size (see the first cell)
    assert by_beta[0.0]["kl_k1"] > by_beta[0.3]["kl_k1"], "less leash should mean more KL"
    assert by_beta[0.0]["rm_score"] > base["rm_score"]

# %% [markdown]
# ## Summary
#
# - The reward model is a proxy; pushed without a leash, a policy exploits it.
# - The KL penalty trades some proxy reward for staying close to a model that writes well.
# - Always judge an RLHF run with something it was not trained on, and watch KL and diversity.
