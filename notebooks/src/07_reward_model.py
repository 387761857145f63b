# %% [markdown]
# # 07 · Training the reward model
#
# **What you will learn.** Stage 3 of the pipeline. We turn the SFT model into a **reward model**:
# same backbone, but the token head is replaced by one linear layer that reads the hidden state of
# the *last real token* and returns a single number. We train it on preference pairs with the
# Bradley–Terry loss from notebook 02, check it on held-out pairs and against the independent
# judge, and calibrate it so its scores have mean 0 and standard deviation 1 on the SFT model's
# own samples. Finally we read the story's 0.881 off a real pair.

# %%
%matplotlib inline
import numpy as np
import torch

from rlhf_edu import formulas, plots, stages
from rlhf_edu.model import frozen_copy
from rlhf_edu.sentiment import corpus, evaluation, judge, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())

# %% [markdown]
# ## Preference pairs
#
# Real RLHF asks people which of two replies is better. We have labelled tweets instead, so we let
# the label speak for the person: of two tweets, the **more positive** one is "chosen". Three kinds
# of pair appear equally often: positive over negative, positive over neutral, neutral over
# negative. (This encodes *our* preference, "be positive", which is exactly what RLHF does: the
# reward model learns whatever the labellers preferred.)

# %%
splits = pipeline.corpus()
from rlhf_edu.reward_model import preference_pairs
for chosen, rejected in preference_pairs(splits["train"], 3, seed=0):
    print(f"chosen:   {chosen}\nrejected: {rejected}\n")

# %% [markdown]
# ## Training
#
# The model scores both texts of each pair in one batch; the loss is
# $-\log\sigma(r_c - r_r)$, computed with `logsigmoid` (`formulas.reward_model_loss`). The score is
# read at the last real token, the end-of-text token we append to every text, never at a pad.
# `pipeline.reward_model()` trains, evaluates on 2,000 held-out pairs from the test split, calibrates,
# and caches the result.

# %%
# NBVAL_IGNORE_OUTPUT
rm, info = pipeline.reward_model()
tok = pipeline.tokenizer()
print(f"held-out pairwise accuracy: {info['heldout_accuracy']:.3f}")
print(f"calibration: score = {info['gain']:.3f} * raw + {info['bias']:.3f}")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert info["heldout_accuracy"] >= 0.85

# %%
plots.plot_rm_training(info["history"])

# %% [markdown]
# ## What the scores look like
#
# If the reward model learned sentiment, the three labels should separate: negative tweets low,
# neutral in the middle, positive high.

# %%
# NBVAL_IGNORE_OUTPUT
test = splits["test"]
scores = rm.score_texts(tok, [t.text for t in test]).numpy()
labels = np.array([t.label for t in test])
for k, name in enumerate(corpus.LABELS):
    print(f"{name:>8}: mean score {scores[labels == k].mean():+.2f}  (n={int((labels == k).sum())})")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert scores[labels == 0].mean() < scores[labels == 1].mean() < scores[labels == 2].mean()

# %%
plots.plot_reward_by_label(scores, labels, corpus.LABELS)

# %% [markdown]
# ## Does it agree with the independent judge?
#
# VADER never saw our training pairs. If our reward model ranks tweets the way VADER does, it has
# learned sentiment rather than some quirk of the generator. We check the rank correlation between
# the reward model's score and VADER's compound score on the test tweets.

# %%
# NBVAL_IGNORE_OUTPUT
compound = judge.vader_compound([t.text for t in test])
def ranks(x):
    return np.argsort(np.argsort(x))
spearman = np.corrcoef(ranks(scores), ranks(compound))[0, 1]
print(f"Spearman correlation, reward model vs VADER: {spearman:.3f}")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert spearman > 0.4

# %% [markdown]
# ## Calibration
#
# Bradley–Terry sees only differences of scores. Adding the same number to every score changes no
# probability and no loss, so the raw score's zero is arbitrary. Its *scale* is not: multiplying every
# score by 2 doubles every gap, and the probabilities move toward 0 and 1.

# %%
r_c, r_r = 1.0, 0.0
for name, (a, b) in {"as trained": (r_c, r_r), "shifted by +5": (r_c + 5, r_r + 5),
                     "doubled": (2 * r_c, 2 * r_r)}.items():
    print(f"{name:>14}: P = sigma({a:.0f} - {b:.0f}) = {formulas.bradley_terry_prob(a, b):.3f}, "
          f"loss {formulas.reward_model_loss(a, b):.3f}")

# %% [markdown]
# The RL stage adds the score to $-\beta \cdot \mathrm{KL}$, so the score's scale decides what $\beta$
# means. We fix it where it matters: calibration here is a *standardisation*, score = gain × raw +
# bias, with gain and bias chosen so that on samples of the SFT model (the policy RL starts from) the
# scores have mean 0 and standard deviation 1. It keeps every ranking but, with gain ≠ 1, not the
# Bradley–Terry probabilities: those come from the raw scores the model was trained on.

# %%
# NBVAL_IGNORE_OUTPUT
sft, _ = pipeline.sft_model()
metrics, ro = evaluation.evaluate(sft, frozen_copy(sft), rm, tok, pipeline.rl_prompts()[: pipeline.rl_setup().calibration_samples // 2],
                                  samples_per_prompt=2)
print(f"on {len(ro.texts)} fresh SFT samples: mean {ro.scores.mean():+.3f}, std {ro.scores.std():.3f}")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert abs(ro.scores.mean().item()) < 0.5 and 0.5 < ro.scores.std().item() < 1.5

# %% [markdown]
# ## Try it: the reward-model playground
#
# Type a tweet and press Enter. You get the reward model's (calibrated) score next to the VADER
# judge's compound score, and a picture of the score *as the text grows*: every prefix of your
# tweet, token by token, scored as if the tweet ended there. Where the blue line jumps is where the
# reward model "decides". Things to try: a positive tweet that turns negative half-way ("Today I
# feel great but then my phone broke"); a negation ("not bad at all"); a word repeated ("good good
# good good"); an emoji. Where do the reward model and VADER disagree? Notebook 10 shows what a
# policy does with such disagreements.
#
# The widget needs a running kernel; without one (on GitHub, say) the cell after it shows the
# starting state.

# %%
from rlhf_edu import explore, widgets

widgets.reward_playground(rm, tok, text="Today I feel great, my friends are the best")

# %%
# NBVAL_IGNORE_OUTPUT
played = explore.reward_by_prefix(rm, tok, "Today I feel great, my friends are the best")
print(explore.reward_text(played))
explore.plot_reward_by_prefix(played)

# %% [markdown]
# ## The story's 0.881, on a real pair
#
# In notebook 02 a reward model scored a chosen reply 3.0 and a rejected one 1.0, and
# $\sigma(3.0 - 1.0) = 0.881$ was the probability that people prefer the first. Here is the same
# reading for a pair our trained model scores now. The probability comes from the *raw* scores (the
# ones Bradley–Terry trained); the calibrated ones are printed next to them for comparison.

# %%
# NBVAL_IGNORE_OUTPUT
chosen = "Today I feel amazing, the sun is out and my friends are here 😊"
rejected = "Today I feel awful, my phone broke and the bus never came"
s_c, s_r = rm.score_texts(tok, [chosen, rejected]).tolist()   # calibrated: gain * raw + bias
r_c, r_r = [(s - rm.bias.item()) / rm.gain.item() for s in (s_c, s_r)]
p = formulas.bradley_terry_prob(r_c, r_r)
print(f"raw:        r_chosen = {r_c:+.2f}, r_rejected = {r_r:+.2f}")
print(f"P(chosen preferred) = sigma({r_c:.2f} - ({r_r:.2f})) = {p:.4f}")
print(f"loss = -log P = {formulas.reward_model_loss(r_c, r_r):.4f}")
print(f"calibrated: r_chosen = {s_c:+.2f}, r_rejected = {s_r:+.2f} (gain {rm.gain.item():.3f}: "
      f"sigma of their gap, {formulas.bradley_terry_prob(s_c, s_r):.3f}, is not the model's probability)")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert p > 0.5

# %% [markdown]
# The trained model is far surer than the story's reward model, whose gap of 2 gave 0.881: training
# pushes the raw gaps of easy pairs like this one wide apart. Standardising shrinks them (here by the
# gain printed above), which is why σ of the calibrated gap is a different, smaller number.

# %% [markdown]
# ## Summary
#
# - A reward model is the SFT backbone plus a one-number head read at the last real token.
# - Bradley–Terry training on pairs gives a model that ranks held-out pairs correctly more than 90%
#   of the time and agrees with an independent judge.
# - Calibration on the SFT policy's own samples makes the reward scale, and so $\beta$, meaningful.
# - Next, notebook 08 uses this reward to fine-tune the SFT model with the policy gradient.

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
# ### Exercise 1: Reading the reward at the last real token
#
# The reward head outputs one number per position; the score of a text is the one at its *last real
# token* (its end-of-text token), where the model has read everything. Write
# `sequence_reward(values, attention_mask)`. Prompts are left-padded and generated completions have
# pads after their end-of-text token, so neither the last column nor `mask.sum(1) - 1` is the right
# index.

# %%
def sequence_reward(values, attention_mask):
    """values: (B, T), attention_mask: (B, T) int64 -> (B,) value at each last real token"""
    raise NotImplementedError  # your code here

# %%
check.sequence_reward(sequence_reward)

# %% [markdown]
# ### Exercise 2: The reward model's batch loss
#
# Training runs the chosen and the rejected texts of $n$ pairs in one batch: rows $0..n-1$ are the
# chosen texts, rows $n..2n-1$ their rejected partners (same order). Write
# `reward_model_batch_loss(values, attention_mask)`: read each row's score at its last real token,
# then return the mean Bradley–Terry loss $-\log\sigma(r_{\text{chosen}} - r_{\text{rejected}})$ over
# the pairs.

# %%
def reward_model_batch_loss(values, attention_mask):
    """values, attention_mask: (2n, T); rows [0, n) chosen, [n, 2n) rejected -> scalar loss"""
    raise NotImplementedError  # your code here

# %%
check.reward_model_batch_loss(reward_model_batch_loss)
