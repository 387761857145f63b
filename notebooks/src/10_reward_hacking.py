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

from rlhf_edu import plots, stages
from rlhf_edu.model import frozen_copy
from rlhf_edu.sentiment import evaluation, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())
BETAS = pipeline.rl_setup().sweep_betas
SWEEP = pipeline.rl_setup().sweep
print("betas:", BETAS)
print(SWEEP)

# %%
# NBVAL_IGNORE_OUTPUT
tok = pipeline.tokenizer()
sft, _ = pipeline.sft_model()
rm, _ = pipeline.reward_model()
reference = frozen_copy(sft)
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
# What our full-size run shows (the table above; 16 PPO iterations per β, the numbers quoted below):
#
# - **The leash works on KL, roughly in order.** KL to the SFT model is about 26 nats at β = 0,
#   27 at 0.01, 20 at 0.05, 13 at 0.1 and 8 at 0.3. (0 and 0.01 swap places: each is one short run,
#   so do not read the small steps.)
# - **The exploit is in the text more than in the scores.** Read the samples at β = 0 and 0.01:
#   "good", "great", "grateful" stuffed into completions whatever the prompt, glued-together words
#   ("goodey") and runs of filler ("the class is the team is the best"). Per token, the reference
#   model finds the β = 0 text about 5× less likely than SFT's own (perplexity ≈ 188 against ≈ 37),
#   and repetition is nearly 4× SFT's (0.14 against 0.04). The reward-model score pays for this only
#   modestly: 1.14 at β = 0 against 0.83 at β = 0.1, for twice the KL.
# - **Our independent judge was fooled too.** VADER's positive rate is 0.85 at β = 0, *higher* than
#   at β = 0.1 (0.69). That is not a bug in the sweep: VADER is a word list, and the policy learned
#   to emit exactly the kind of words a word list rewards. An "independent" judge only catches the
#   hacks it does not share with the proxy; here perplexity under the reference and repetition
#   caught it, the judge did not. (Human readers catch it at once.)
# - **More leash keeps the text closest to SFT.** At β = 0.3 KL is lowest, distinct-2 highest and
#   repetition lowest (no more than SFT's), and the judge's positive rate still rose (0.45 → 0.62).
#   β = 0.1, notebook 09's setting, sits in between: KL about 13 with this sweep's harder push.
#
# **How much of this is one run?** On another CPU, whose float rounding differed in the last bits
# (same code, same seeds), the sweep told the same story about KL, perplexity, repetition and VADER,
# but two details came out differently: there the extra drift at small β bought *no* reward (1.07
# at β = 0 against 1.24 at β = 0.1), and at β = 0.3 the judge's positive rate stayed at SFT's level
# (0.42). RL amplifies tiny differences; each β here is one short run, so trust the trends that
# both runs share, not a single cell of the table. (Notebook 09's gentler 60-iteration run at
# β = 0.1 ends near KL 9.)

# %%
# NBVAL_IGNORE_OUTPUT
by_beta = {r["beta"]: r for r in rows}
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert by_beta[0.0]["kl_k1"] > by_beta[0.3]["kl_k1"], "less leash should mean more KL"
    assert by_beta[0.0]["rm_score"] > base["rm_score"]

# %% [markdown]
# ## Summary
#
# - The reward model is a proxy; pushed without a leash, a policy exploits it.
# - The KL penalty trades some proxy reward for staying close to a model that writes well.
# - Always judge an RLHF run with something it was not trained on, and watch KL and diversity.
