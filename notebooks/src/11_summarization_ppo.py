# %% [markdown]
# # 11 · RLHF for summarisation with PPO
#
# **What you will learn.** The story's second practical part scales RLHF up to a real task:
# summarising Reddit posts. OpenAI's recipe (Stiennon et al., 2020), replayed by CarperAI's trlx on
# the `CarperAI/openai_summarize_tldr` and `CarperAI/openai_summarize_comparisons` datasets, is
# SFT on human TL;DRs → a reward model on human comparisons → PPO with a KL penalty.
#
# Here we run a faithful miniature of that whole pipeline on a laptop CPU, offline, and we point
# the *same functions* at GPT-2 124M and the real datasets at the end. Along the way: what a
# summary is worth (ROUGE against a reference, the reward model, and an independent judge that
# checks facts), and the honest finding of public runs — RL can raise the reward while ROUGE falls.
#
# Everything here lives in the folder `rlhf_edu/tldr/` (the posts, their fact judge, the comparisons
# and the pipeline); the trainer, reward model and PPO are the sentiment ones from notebooks 06–09,
# not copies.

# %%
%matplotlib inline
import torch

from rlhf_edu import plots, stages
from rlhf_edu.tldr import comparisons, judge
from rlhf_edu.tldr import evaluation as tldr_evaluation
from rlhf_edu.tldr import pipeline as sm

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())
setup = sm.setup()
print(setup)

# %% [markdown]
# ## The task: forum posts and their TL;DRs
#
# Nobody can download Reddit here, so the package *generates* short forum posts: a person, a
# counterpart (a roommate, a boss, a sister…), a problem, a number or a duration, and a question,
# padded with sentences that matter to nobody ("Sorry for formatting, on mobile."). Each post comes
# in CarperAI's exact text format — `SUBREDDIT / TITLE / POST / TL;DR:` — with a reference summary.
#
# Because the generator knows each post's **key facts**, it also gives us an **independent judge**:
# *fact coverage* (which key facts a summary mentions) and *hallucination* (a counterpart or a
# number the post never mentions). The judge is never used for training.

# %%
splits = sm.corpus()
print({k: len(v) for k, v in splits.items()})
post = splits["train"][0]
print(post.prompt + post.reference)
print()
for f in post.facts:
    print(f"key fact  {f.slot:12s} {f.value!r:28s} shown by any of {f.keywords}")

# %% [markdown]
# ## Comparisons, each with a checkable reason
#
# The reward model learns from pairs in the `openai_summarize_comparisons` shape: `prompt`,
# `chosen`, `rejected`. Ours are built so that the chosen summary is better *for a stated reason*
# the judge can check: the rejected one misses a key fact, invents one, gets a fact wrong where the
# chosen one leaves it out (`wrong_fact`: no number beats a wrong number), pads itself with filler,
# or says nothing specific.

# %%
pairs = comparisons.comparison_pairs(splits["train"][:400], 8, seed=0)
for c in pairs[:4]:
    print(f"[{c.reason}]\n  chosen:   {c.chosen}\n  rejected: {c.rejected}")
    print(f"  judge: chosen covers {judge.fact_coverage(c.post, c.chosen):.2f}, "
          f"rejected covers {judge.fact_coverage(c.post, c.rejected):.2f}; "
          f"hallucinated in rejected: {judge.hallucinated_terms(c.post, c.rejected)}")

# %% [markdown]
# ## Stages 1–2: pretraining on documents, then SFT on summaries
#
# Stage 1 is next-token prediction on whole documents — post, "TL;DR:", summary — for the micro
# GPT-2 of notebook 06 with a compact BPE trained on these posts. That is how GPT-2 itself met
# summaries: its web text contains TL;DRs, which is why "TL;DR:" prompting works on it at all.
# (We first pretrained on the posts alone; after SFT that model wrote summary-shaped text about the
# wrong people — fact coverage 0.14, a hallucination in 97% of summaries.)
# Stage 2 is supervised fine-tuning on (prompt, reference summary), with
# the loss on the **summary tokens and the closing EOS only** — a public bug is to let the loss leak
# onto the prompt, which teaches the model to write posts instead of summaries
# (`tests/test_tldr_pipeline.py` checks it does not happen here).
#
# How long SFT runs matters more than anything else in this notebook. Sampled on the 128 held-out
# posts of the comparison table below, the SFT model's fact coverage was 0.22 after 150 steps, 0.66
# after 450 and 0.87 after 1,000 (our default, about two minutes on a 2-core CPU). The last jump is
# the model learning to *copy*: after 450 steps it wrote the post's own number in 7% of its
# summaries and a made-up one in most of the rest (hallucination rate 0.84); after 1,000 steps, 58%
# and 0.24.

# %%
# NBVAL_IGNORE_OUTPUT
# Each stage trains once (progress bars), then loads from the cache.
tok = sm.tokenizer()
pre, pre_hist = sm.pretrained_model()
sft, sft_hist = sm.sft_model()

# %%
# NBVAL_IGNORE_OUTPUT
plots.plot_lm_training(pre_hist, sft_hist)

# %% [markdown]
# ## Stage 3: the reward model
#
# The SFT model's backbone with a scalar head, read at the EOS that ends the summary (never at a pad),
# trained with the Bradley–Terry loss of notebook 02 on 16,000 generated comparisons (the five
# reasons in equal shares) for 600 steps, then calibrated to mean 0 / std 1 on the SFT model's own
# summaries.
# (With 6,000 pairs and 300 steps it reached 0.88 held out but agreed with the judge on only 0.50
# of pairs of the SFT model's own summaries, the check below.)

# %%
# NBVAL_IGNORE_OUTPUT
rm, rm_info = sm.reward_model()
print(f"held-out pairwise accuracy: {rm_info['heldout_accuracy']:.3f}")
for reason, acc in rm_info["accuracy_by_reason"].items():
    print(f"  {reason:14s} {acc:.3f}")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert rm_info["heldout_accuracy"] > 0.7

# %%
# NBVAL_IGNORE_OUTPUT
plots.plot_rm_training(rm_info["history"])

# %% [markdown]
# ### A harder question for the reward model
#
# Held-out accuracy above is measured on the kinds of pairs we wrote. PPO will ask something else:
# to rank *the SFT model's own summaries*, whose mistakes are whatever that model gets wrong. So we
# check it (the judge only measures here, it trains nothing): eight SFT summaries for each of 64
# held-out posts; for every two of the same post that the judge tells apart by facts (coverage minus
# hallucination), does the reward model order them the same way? 0.5 is a coin.
#
# Why the `wrong_fact` reason is in our comparisons at all: our first reward model was trained
# without it (on an earlier, 450-step SFT model), and this check caught it. It was right on 95% of
# held-out pairs of the four other kinds, but on `wrong_fact` pairs it was right only **3.5%** of
# the time, and on the SFT model's own summaries it agreed with the judge on **0.495** of 1,067
# pairs; where only one of two summaries invented a fact, it preferred the invented one (agreement
# 0.42). The missing-fact pairs had taught it "a summary with a number is better", and nothing
# taught it to check *which* number. With `wrong_fact` pairs added (same SFT model, same size of
# reward model) it was right on 88% of them, its agreement on the SFT model's summaries rose to 0.55
# (0.64 where only one invented a fact), and PPO then lowered the hallucination rate (0.84 → 0.78)
# instead of raising it (0.84 → 0.91).
#
# The same check found the next gap. Most of the 1,000-step SFT model's inventions are ages the post
# never states (an "(NNM)" tag with the wrong number) and wrong amounts. Trained on our comparisons
# as they were then, the reward model agreed with the judge on only 0.49 of the pairs where just one
# of two summaries invents something: a coin. So the `hallucination` comparisons now include that
# mistake too (the counterpart given a wrong age). The reward model above is trained on them; here
# is how it does.

# %%
# NBVAL_IGNORE_OUTPUT
n_posts = 64 if stages.full_size() else 8  # fewer at test size: CI checks that the cell runs
agreement = tldr_evaluation.rm_judge_agreement(sft, rm, tok, sm.test_posts(n=n_posts))
print(f"on the SFT model's own summaries: agrees with the judge on {agreement['agreement']:.3f} "
      f"of {agreement['pairs']} pairs")
print(f"  more facts, no more hallucination: {agreement['coverage_agreement']:.3f} "
      f"({agreement['coverage_pairs']} pairs)")
print(f"  same facts, only one hallucinates: {agreement['hallucination_agreement']:.3f} "
      f"({agreement['hallucination_pairs']} pairs)")

# %% [markdown]
# ## Stage 4: PPO with the KL penalty
#
# `train_ppo` from notebook 09: per-token KL against the frozen SFT model, the calibrated reward at
# the last real token, GAE, clipped losses. Two summarisation-specific settings:
#
# - A summary that never emits EOS within the budget scores a flat −3 (`no_eos_penalty`), so running
#   on forever is never a way to collect reward (a runaway summary scores below its post's other
#   summaries).
# - **Four summaries per post** (`samples_per_prompt=4`), each scored against the mean score of the
#   other three. Why: the reward model's score differs more from one post to another than between two
#   summaries of the same post. The value head is supposed to learn that baseline, but in our
#   one-summary-per-post run it never did (its explained variance stayed between −0.02 and 0.06 over
#   60 iterations), so the advantage said "this post scores high", not "this summary is good". With one summary per post, PPO left the
#   reward-model score on held-out posts where it was (−0.094 → −0.094) and the hallucination rate
#   rose (0.24 → 0.27): drift, not learning. Subtracting the other summaries' mean (the
#   leave-one-out baseline of RLOO) removes what the post alone explains, and it adds no bias: the
#   baseline does not depend on the summary being scored.

# %%
# NBVAL_IGNORE_OUTPUT
policy, history = sm.ppo_policy()
print(f"first minibatch ratio {history[0]['ratio_first_minibatch']:.6f}")
assert abs(history[0]["ratio_first_minibatch"] - 1) < 1e-6

# %%
# NBVAL_IGNORE_OUTPUT
plots.plot_ppo_history(history)

# %% [markdown]
# ## SFT against PPO on held-out posts
#
# One sampled summary per post for 128 held-out posts, same seed for both models. ROUGE compares with
# the reference summary; the reward model gives its (calibrated) score; the judge counts facts and
# hallucinations; KL says how far PPO moved from the SFT model.

# %%
# NBVAL_IGNORE_OUTPUT
metrics, texts = sm.evaluate_offline({"SFT": sft, "PPO": policy})
print(tldr_evaluation.metrics_table(metrics))
before, after = metrics["SFT"], metrics["PPO"]
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert after["rm_score"] > before["rm_score"]
    assert after["kl_k1"] < 20

# %%
# NBVAL_IGNORE_OUTPUT
posts = sm.test_posts()
for i in range(4):
    print(posts[i].prompt)
    print(f"  reference: {posts[i].reference.strip()}")
    for name in texts:
        print(f"  {name:9s}: {texts[name][i]}")
    print()

# %% [markdown]
# ## Reading the table honestly
#
# In our run (the numbers above), PPO did what it was asked: the reward model's score on held-out
# posts rose from −0.09 to 0.07, at a KL of about 1.4 nats to the SFT model. The judge agrees only in
# part. The hallucination rate fell from 0.24 to 0.14: inventions are what this reward model can see
# best (it agrees with the judge on 0.67 of the SFT model's pairs where only one summary invents
# something). But fact coverage fell (0.87 → 0.82), and ROUGE-1 with it (0.72 → 0.67). **So PPO did
# not make the summaries more complete**, though that was the point of the exercise.
#
# Why coverage falls: on pairs where one summary simply covers more facts, the reward model agrees
# with the judge on only 0.62 of them. Checking that a summary names *the post's* number is a
# copy-and-compare job across dozens of tokens, which this 4-layer reward model has only partly
# learned; the SFT model itself gets the number wrong or leaves it out in 47 of 112 posts. Faced with a
# reward model that punishes an invention more reliably than it rewards a fact, the cheapest way up
# is to say less: PPO's summaries are a little shorter, and in the second example
# above PPO writes "$" with no amount at all.
#
# We tried to fix the reward model rather than the policy, and none of it raised coverage (each time
# measured as above, on this notebook's SFT model): 32,000 comparisons for 1,200 steps (held-out
# accuracy 0.91, agreement on the SFT model's summaries 0.56); leaving out the `wrong_fact` pairs
# (right on 99.6% of held-out missing-fact pairs, yet agreement 0.585, and PPO, with eight summaries
# per post and lr 1e-4, then *raised* the hallucination rate to 0.32); a gentler learning rate for
# the reward model (agreement 0.65, PPO coverage 0.70). Pushing PPO harder made it worse, the over-optimisation that public runs report:
# eight summaries per post and lr 1e-4 cut hallucinations to 0.09 but coverage to 0.74 at KL 7.4;
# with an earlier 450-step SFT model and lr 3e-4 the summaries fell apart ("roommate and I move
# out?") while the reward model's score kept rising.
#
# This is the pattern public runs report at full scale: trlx's GPT-J PPO run went from 0.334 to
# 0.323 ROUGE-1 while its reward rose, and OpenAI's own paper found that optimising too hard against a
# reward model eventually makes summaries worse by human judgement. ROUGE and the judge are what
# caught it here; the reward score alone says the run went up.
#
# What helped most was supervised: 1,000 SFT steps instead of 450 lifted fact coverage from 0.66 to
# 0.87 and cut the hallucination rate from 0.84 to 0.24. The lessons for any RLHF run: get the SFT
# model as good as you can first; test the reward model on the *policy's own samples*, not only on
# held-out comparisons; when it fails there, look at which mistakes the policy makes and put
# comparisons of exactly those mistakes into the reward model's data (what `wrong_fact` did for our
# first reward model, and wrong ages for this one); and expect PPO to improve only what the reward
# model can actually tell apart: here, fewer inventions, not more facts.

# %% [markdown]
# ## The same code at full size: GPT-2 124M on the real TL;DR data
#
# `run_hf` wires a Hugging Face model through the very same `train_sft`, `train_rm`,
# `train_policy` and `evaluate`: `hf.HFCausalLM` gives a `transformers` model our calling convention
# (token log-probs, KV-cache generation with left padding, hidden states for the reward and value
# heads), and `GPT2Tokenizer` is GPT-2's own BPE with a pad id distinct from `<|endoftext|>`.
#
# Here, offline, we check the wiring on a *randomly initialised* tiny GPT-2 and a few rows in the
# CarperAI schemas that ship with the tests. It learns nothing; it proves the path runs. On a machine
# with internet and a GPU, `rlhf-edu summarize --hf-model gpt2` runs it at full size (see the README).

# %%
# NBVAL_IGNORE_OUTPUT
import importlib.util
import pathlib

fixtures = pathlib.Path("..") / "tests" / "fixtures"
run = sm.HFRun.smoke(tldr_dir=str(fixtures / "tldr"), comparisons_dir=str(fixtures / "tldr_comparisons"))
if not stages.full_size():  # the test suite runs this very smoke run in tests/test_tldr_pipeline.py
    print("Test size: the smoke run is skipped here (tests/test_tldr_pipeline.py runs it).")
elif not all(importlib.util.find_spec(m) for m in ("transformers", "datasets")):
    print('Skipped: the Hugging Face path needs the "hf" extra: pip install -e ".[hf]"')
else:
    res = sm.run_hf(run, progress=False)
    print(tldr_evaluation.metrics_table(res["metrics"]))
