# %% [markdown]
# # 06 · The micro GPT-2: tokenizer, corpus, pretraining and SFT
#
# **What you will learn.** RLHF starts from a model that can already write. Tutorials usually
# *assume* one ("take a pre-trained, fine-tuned GPT-2…"); here we build it, on a laptop CPU. You will
# meet the tweet corpus and an independent sentiment judge, see how byte-level BPE cuts text (and
# why the space belongs to the *next* word), follow one real batch through the model's forward pass
# with every shape printed, compute the next-token loss and one optimiser step by hand and check them
# against the package's trainer, see how padded prompts keep their positions, and generate one token
# at a time with a KV cache. Then the package runs stages 1 and 2 of the pipeline:
# **pretraining** (next-token prediction) and **supervised fine-tuning** (SFT), and we ask whether
# the model writes real words.
#
# **What you need first.** Notebook 01 (a language model as a policy over tokens) and the package
# installed (README, "Quickstart"). No earlier stage: this is the first notebook that trains.
#
# **How long.** At full size on our 2-core CPU, executing this notebook took 18 s with
# the two checkpoints already in the cache (measured with `tools/build_notebooks.py`). From an empty
# cache, add the training time the cell after the training curves prints. Later runs, and notebooks
# 07–10, load the checkpoints from the cache.

# %%
%matplotlib inline
import collections
import copy
import math

import torch
from IPython.display import Markdown, display

from rlhf_edu import evaluation, optim, plots, show, stages, train, words
from rlhf_edu import model as gpt
from rlhf_edu.evaluation import SEPARATOR, sample_texts
from rlhf_edu.model import GPT, count_parameters
from rlhf_edu.sentiment import corpus, judge, pipeline
from rlhf_edu.tokenizer import GPT2Tokenizer

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())
s = pipeline.setup()  # every setting of stages 1-2 at this size
print(show.settings(s.pretrain, "pretraining (TrainConfig)"))
print(show.settings(s.sft, "SFT (TrainConfig)"))

# %% [markdown]
# ## The corpus
#
# The story trains on tens of thousands of tweets with a sentiment label. The real dataset
# (`mteb/tweet_sentiment_extraction`) lives on the Hugging Face Hub, and `corpus.load_tweets("hf")`
# loads it when you have internet. This notebook must run offline, so by default the package
# **generates** a corpus: tweet-like texts from a seeded generator with many topics and
# templates, negation ("not happy about it"), intensifiers, emoji, hashtags, @mentions, slang and
# typos. It is synthetic, and you will notice: some sentences are odd. But its sentiment is real
# English sentiment, which we check below with a judge that knows nothing about our generator.

# %%
splits = pipeline.corpus()
print(f"generated {s.corpus_size:,} tweets (seed {s.corpus_seed}); "
      f"{sum(len(v) for v in splits.values()):,} distinct ones kept")
for name, tweets in splits.items():
    counts = collections.Counter(corpus.LABELS[t.label] for t in tweets)
    print(f"{name:>5}: {len(tweets):6d} tweets  " + "  ".join(f"{k} {counts[k]}" for k in corpus.LABELS))
train_texts = {t.text for t in splits["train"]}
assert not train_texts & {t.text for t in splits["test"]}, "a test tweet leaked into train"
print("no text is shared between train, val and test")

# %%
for label in range(3):
    print(f"--- {corpus.LABELS[label]}")
    for t in [t for t in splits["train"] if t.label == label][:4]:
        print("  ", t.text)

# %% [markdown]
# ## An independent judge
#
# Later, RL will push our model to write positive tweets, and our own reward model will say it
# succeeded. That is circular: the model was *optimised* against the reward model. So we also ask
# **VADER**, a rule-based sentiment analyser with its own hand-built lexicon. It never trains
# anything here; it only evaluates. First, does it agree with the corpus labels?

# %%
agreement = judge.judge_agreement(splits["test"])
print(f"VADER agrees with the label on {agreement['pos_neg_agreement']:.1%} of positive/negative test tweets")
assert agreement["pos_neg_agreement"] > 0.9

# %% [markdown]
# ## Two tokenizers
#
# GPT-2 reads text as byte-level BPE tokens from a vocabulary of 50,257. The package ships the
# exact GPT-2 vocabulary file (hash-checked), so this works offline. For a model of about a million
# parameters on a CPU, though, 50,257 rows of embeddings are far too many: we train a **compact
# byte-level BPE** on our corpus instead (same algorithm, a vocabulary of 2,048 ids, plus a pad token
# distinct from the end-of-text token).

# %%
gpt2 = GPT2Tokenizer()
tok = pipeline.tokenizer()
print("GPT-2: 'Hello world' ->", gpt2.encode("Hello world"), " vocab", gpt2.vocab_size - 1, "+ pad")
tweet = splits["test"][0].text
for name, t in [("GPT-2", gpt2), ("compact BPE", tok)]:
    ids = t.encode(tweet)
    print(f"\n{name} ({t.vocab_size} ids): {len(ids)} tokens")
    print("  ", ids)
    print("  ", [t.decode([i]) for i in ids])
print(f"\ncompact BPE: end-of-text id {tok.eos_id}, pad id {tok.pad_id}")

# %% [markdown]
# Look at where the spaces are: `' at'`, `' work'`, `' said'`. GPT-2's byte-level BPE first cuts
# text into words *with the space in front of them*, so `' feel'` and `'feel'` are two different
# tokens with two different ids. Decoding just concatenates the pieces. Keep this in mind: it
# decides how a prompt and its completion join, which we look at once we have a trained model.

# %%
def token_names(ids):
    """Each id as the text of its token (quoted, so spaces show), or <eos> / <pad>."""
    return ["<eos>" if i == tok.eos_id else "<pad>" if i == tok.pad_id else repr(tok.decode([i])) for i in ids]

for text in ["feel", " feel", "Today I feel", "Apparently", " Apparently"]:
    ids = tok.encode(text)
    print(f"{text!r:>16} -> ids {ids}  tokens {token_names(ids)}")

# %% [markdown]
# ## The model, and two corrections to the usual telling
#
# Our model is GPT-2 in miniature: token and learned position embeddings, pre-LayerNorm blocks of
# causal self-attention and a GELU MLP, and an output layer that shares its weights with the token
# embedding. The story's "micro" settings are 4 layers, **3 heads** and **d_model 128**.
#
# **Correction 1: 3 heads do not divide 128.** GPT-2 splits d_model evenly across heads, and
# 128 / 3 is not a whole number; GPT-2's own code would refuse this config. We keep three heads and
# *decouple* the head width from d_model (`GPTConfig.head_dim`): each head works in
# d_model // n_head dimensions, the three together in `attn_dim` = 3 × head_dim, and the output
# projection maps that back to d_model. The numbers:

# %%
cfg = s.model_config(tok.vocab_size)  # micro_config with this run's vocabulary and context length
print(f"128 / 3 = {128 / 3:.2f}; 128 % 3 = {128 % 3}")
print(f"n_layer={cfg.n_layer} n_head={cfg.n_head} d_model={cfg.d_model} head_dim={cfg.head_dim} "
      f"attention width={cfg.attn_dim} (not {cfg.d_model}) block_size={cfg.block_size}")

# %% [markdown]
# **Correction 2: "about 1M parameters" holds only with a small vocabulary.** With the GPT-2
# tokenizer the token embedding alone is 50,257 × 128 parameters, several times our whole compact
# model. Both counts, from code:

# %%
for name, vocab in [("compact BPE", tok.vocab_size), ("GPT-2 BPE", 50257)]:
    counts = count_parameters(gpt.GPTConfig(**{**cfg.to_dict(), "vocab_size": vocab}))
    print(f"{name:>12} vocab {vocab:6d}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
ours = count_parameters(cfg)
gpt2_embedding = 50257 * cfg.d_model
print(f"GPT-2's token embedding is {gpt2_embedding / ours['total']:.1f} x our whole model and "
      f"{gpt2_embedding / (ours['total'] - ours['token_embedding']):.1f} x everything but our embedding")
torch.manual_seed(s.pretrain.seed)  # the same initial weights pipeline.pretrained_model starts from
model = GPT(cfg)
assert model.num_parameters() == ours["total"]

# %% [markdown]
# Before training, the model's samples are noise (the prompt, then `▸`, then what the model wrote):

# %%
# NBVAL_IGNORE_OUTPUT
prompts = list(corpus.RL_PROMPTS)
print("\n".join(sample_texts(model, tok, prompts, seed=0, sep=SEPARATOR)))

# %% [markdown]
# ## One real batch through the model, by hand
#
# Stage 1 trains on the packed token stream of the training tweets: each tweet is followed by an
# end-of-text token, and each batch is a set of random windows of the stream. We take the very
# batch the trainer draws at step 0 and push it through the untrained model one piece at a time,
# using the model's own layers, and print every shape.

# %%
# NBVAL_IGNORE_OUTPUT
get_pretrain, pretrain_val = pipeline.pretrain_data()
x, y, m = get_pretrain(0)  # inputs, targets, loss mask of step 0
print(f"inputs x {tuple(x.shape)}, targets y {tuple(y.shape)}, loss mask {tuple(m.shape)} (all ones: every token counts)")
print("row 0, x:", token_names(x[0, :8].tolist()), "…")
print("row 0, y:", token_names(y[0, :8].tolist()), "…")
assert torch.equal(x[:, 1:], y[:, :-1])  # the targets are the inputs shifted left by one

# %% [markdown]
# The forward pass: token embedding plus position embedding, four blocks, a final LayerNorm, and the
# output layer. Inside the first block we go further: the attention layer projects to queries, keys
# and values of `attn_dim` columns each, splits them into 3 heads of `head_dim`, lets each position
# attend to itself and the positions before it (the causal mask), and projects the 3 heads back to
# d_model.

# %%
# NBVAL_IGNORE_OUTPUT
B, T = x.shape
H, D = cfg.n_head, cfg.head_dim
with torch.no_grad():
    h = model.wte(x) + model.wpe(torch.arange(T))            # token + position embedding
    print(f"embedding            h  {tuple(h.shape)}")
    block = model.blocks[0]
    a = block.ln_1(h)
    q, k, v = block.attn.qkv(a).split(cfg.attn_dim, dim=2)   # 128 -> 3 x 126
    print(f"q, k, v                 {tuple(q.shape)} each")
    q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
    print(f"split into heads        {tuple(q.shape)}  (batch, head, position, head_dim)")
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    causal = torch.ones(T, T, dtype=torch.bool).tril()      # query t sees keys 0..t
    weights = scores.masked_fill(~causal, float("-inf")).softmax(-1)
    print(f"attention weights       {tuple(weights.shape)}  (batch, head, query, key)")
    heads = (weights @ v).transpose(1, 2).reshape(B, T, cfg.attn_dim)
    print(f"heads joined            {tuple(heads.shape)}")
    h1 = h + block.attn.proj(heads)                          # 126 -> 128, added to the residual
    h1 = h1 + block.mlp(block.ln_2(h1))                      # 128 -> 512 -> 128
    print(f"after block 0        h  {tuple(h1.shape)}")
    assert torch.allclose(h1, block(h, None), atol=1e-5), "our block 0 differs from the model's"
    for block in model.blocks[1:]:
        h1 = block(h1, None)
    hidden = model.ln_f(h1)
    print(f"after 4 blocks, ln_f h  {tuple(hidden.shape)}")
    logits = hidden @ model.wte.weight.T                     # the tied output layer
    print(f"logits                  {tuple(logits.shape)}  (batch, position, vocabulary)")
    assert torch.allclose(logits, model(x)[0], atol=1e-5), "our forward pass differs from the model's"
print("block 0 and the whole forward pass match the model's own")

# %% [markdown]
# The output layer is *tied*: there is no second matrix of vocabulary × d_model. The logits are the
# final hidden states times the token embedding, transposed, so the embedding learns from both ends.

# %%
same_shape = [n for n, p in model.named_parameters() if p.shape == model.wte.weight.shape]
print("parameters of shape", tuple(model.wte.weight.shape), ":", same_shape)
assert same_shape == ["wte.weight"]
show.source(GPT.logits_from_hidden)

# %% [markdown]
# The model's own code for the block and the attention, which the cell above followed step by step
# (`F.scaled_dot_product_attention` is the softmax(q kᵀ / √head_dim) v we wrote out):

# %%
show.source(gpt.CausalSelfAttention)

# %%
show.source(gpt.Block)

# %% [markdown]
# ### The next-token loss, by hand
#
# Position t's logits predict token t + 1, so the targets are the inputs shifted by one (the batch
# function did that shift: `y` is `x` moved left). The loss is the cross-entropy of the target
# under the softmax of the logits, averaged over the positions the loss mask counts. An untrained
# model spreads its probability almost evenly, so its loss should be close to ln(vocabulary size).

# %%
# NBVAL_IGNORE_OUTPUT
def loss_by_hand(model, x, y, m):
    logits, _ = model(x)
    logp = torch.log_softmax(logits, dim=-1)                   # (B, T, V)
    nll = -logp.gather(-1, y[..., None]).squeeze(-1)           # (B, T): -log p(target)
    return (nll * m).sum() / m.sum()                           # mean over counted targets

loss = loss_by_hand(model, x, y, m)
package_loss = train.lm_loss(model, x, y, m)
print(f"loss by hand {loss.item():.6f}, train.lm_loss {package_loss.item():.6f}, "
      f"ln({tok.vocab_size}) = {math.log(tok.vocab_size):.6f}")
assert torch.allclose(loss, package_loss)

# %%
show.source(train.lm_loss)

# %% [markdown]
# ### One optimiser step, by hand
#
# The trainer uses AdamW (`optim.adamw`, written out in the package) with weight decay on the
# matrices only, the learning rate of its warm-up schedule, and gradients clipped to a total norm of
# 1. We take one step by hand on a copy of the model, and one step of the package's own training
# loop (`train.train`, stopped after one step) on another copy, from the same weights and batch.

# %%
# NBVAL_IGNORE_OUTPUT
by_hand = copy.deepcopy(model)
groups = [{"params": [p for p in by_hand.parameters() if p.dim() >= 2], "weight_decay": s.pretrain.weight_decay},
          {"params": [p for p in by_hand.parameters() if p.dim() < 2], "weight_decay": 0.0}]
lr0 = train.lr_at(0, s.pretrain)  # warm-up: step 0 uses lr / warmup_steps
opt = optim.adamw(groups, lr=lr0, betas=s.pretrain.betas)
loss = loss_by_hand(by_hand, x, y, m)
loss.backward()
grad_norm = torch.nn.utils.clip_grad_norm_(by_hand.parameters(), s.pretrain.grad_clip)
opt.step()

by_package = copy.deepcopy(model)
one_step = train.train(by_package, get_pretrain, s.pretrain, progress=False, stop_after=1)

moved = max((a - b).abs().max().item() for a, b in zip(by_hand.parameters(), model.parameters()))
differ = max((a - b).abs().max().item() for a, b in zip(by_hand.parameters(), by_package.parameters()))
print(f"learning rate at step 0: {lr0:.2e}; gradient norm before clipping {grad_norm:.3f} (clipped to {s.pretrain.grad_clip})")
print(f"loss: by hand {loss.item():.6f}, package step {one_step.loss[0]:.6f}, first step of the cached run "
      f"{pipeline.pretrained_model(progress=False)[1].loss[0]:.6f}")
print(f"largest parameter change {moved:.2e}; largest difference, by hand vs package: {differ:.1e}")
assert math.isclose(loss.item(), one_step.loss[0], rel_tol=1e-6)
assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(by_hand.parameters(), by_package.parameters()))

# %% [markdown]
# The "first step of the cached run" is the loss the real pretraining run logged at its step 0: the
# same initial weights and the same batch, so the same number. Here is the loop that took the step:

# %%
show.source(train.train)

# %% [markdown]
# ## Stage 1: pretraining
#
# The package now repeats that step on fresh random windows for every step of the run, with a
# short warm-up and cosine decay of the learning rate, and measures the loss on held-out windows
# of the validation tweets along the way.

# %%
# NBVAL_IGNORE_OUTPUT
# Trains once, then loads from the cache.
pretrained, pre_hist = pipeline.pretrained_model()

# %% [markdown]
# ## Stage 2: supervised fine-tuning
#
# SFT shows the model *prompt → completion* pairs: the first two to four words of a tweet are the
# prompt, the rest is the completion (`corpus.prompt_completion_pairs`). The loss counts only the completion tokens (and the
# end-of-text token that closes them): we teach the model to continue a prompt, not to write
# prompts. This is the model RLHF will start from, and the frozen **reference** the KL penalty
# measures against.
#
# An SFT row is prompt + completion + end-of-text, padded *on the right* to the longest row of the
# batch. Here are two rows of the first SFT batch, as inputs and targets: the loss mask is 0 on the
# prompt and on the pads.

# %%
# NBVAL_IGNORE_OUTPUT
get_sft, sft_val = pipeline.sft_data()
xs, ys, ms = get_sft(0)
print(f"SFT batch: inputs {tuple(xs.shape)}, targets {tuple(ys.shape)}, loss mask {tuple(ms.shape)}")
for row in (0, 1):
    counted = ms[row].bool()
    first = int(counted.long().argmax())  # first counted target: the first completion token
    n_pad = int((ys[row, first:] == tok.pad_id).sum())
    print(f"\nrow {row}")
    print("  prompt, not scored:    ", tok.decode(xs[row, :first + 1].tolist()))
    print("  targets scored:        ", " ".join(token_names(ys[row][counted].tolist())))
    print(f"  pads, not scored:       {n_pad}")

# %% [markdown]
# Right padding needs no attention mask here: attention is causal, so a real token never looks at
# the pads that come after it. The row alone and the row inside the padded batch give the same
# logits at every real position. The loss by hand, on the pretrained model (where SFT starts), is
# again the package's:

# %%
# NBVAL_IGNORE_OUTPUT
row = 1
n_real = int((xs[row] != tok.pad_id).sum())
with torch.no_grad():
    alone = pretrained(xs[row:row + 1, :n_real])[0][0]
    in_batch = pretrained(xs)[0][row, :n_real]
    assert torch.allclose(alone, in_batch, atol=1e-4)
    sft_loss = loss_by_hand(pretrained, xs, ys, ms)
    assert torch.allclose(sft_loss, train.lm_loss(pretrained, xs, ys, ms))
print(f"row {row}: {n_real} real tokens, same logits alone and in the batch")
print(f"SFT loss at step 0, by hand {sft_loss.item():.6f}; the cached SFT run logged {pipeline.sft_model(progress=False)[1].loss[0]:.6f}")

# %%
# NBVAL_IGNORE_OUTPUT
sft, sft_hist = pipeline.sft_model()

# %%
plots.plot_lm_training(pre_hist, sft_hist)

# %%
# NBVAL_IGNORE_OUTPUT
print(f"pretraining: {len(pre_hist.loss)} steps, {pre_hist.tokens:,} tokens in {pre_hist.seconds:.0f} s "
      f"({pre_hist.tokens / pre_hist.seconds:,.0f} tokens/s)")
print(f"SFT: {len(sft_hist.loss)} steps, {sft_hist.tokens:,} tokens in {sft_hist.seconds:.0f} s")
print(f"validation loss after pretraining {pre_hist.eval_loss[-1]:.3f} (perplexity {math.exp(pre_hist.eval_loss[-1]):.1f})")
print(f"SFT validation loss on completions {sft_hist.eval_loss[-1]:.3f} (perplexity {math.exp(sft_hist.eval_loss[-1]):.1f})")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert math.exp(sft_hist.eval_loss[-1]) < 60

# %% [markdown]
# ## What the SFT model writes
#
# Four samples for each of the story's three prompts, drawn from the full distribution at
# temperature 1 (exactly as the RL stage will sample). The prompt comes first, then `▸`, then the
# model's completion. The tweets should read like the corpus and, importantly, be of **mixed**
# sentiment: RL needs room to move.

# %%
# NBVAL_IGNORE_OUTPUT
samples = sample_texts(sft, tok, [p for p in prompts for _ in range(4)], seed=0, sep=SEPARATOR)
for text in samples:
    print("  ", text)

# %%
# NBVAL_IGNORE_OUTPUT
many = sample_texts(sft, tok, pipeline.evaluation_prompts() * 4, seed=1)
labels = judge.judge_label(many)
share = {corpus.LABELS[k]: float((labels == k).mean()) for k in range(3)}
print(f"VADER on {len(many)} SFT samples: " + ", ".join(f"{k} {v:.0%}" for k, v in share.items()))
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert 0.05 < share["positive"] < 0.9, "the SFT model should write mixed sentiment"

# %% [markdown]
# ## Where does the space go?
#
# Almost every completion above starts with a space (`▸ sad`), yet the model never "types" a space
# on its own: it picks a token that *begins* with one, `' sad'`. SFT taught it so, because each
# completion it saw kept the space of its first word (`prompt_completion_pairs` cuts
# "Today I feel sad" into "Today I feel" and " sad"). The space is part of the model's choice. Pick
# a token without a leading space and the completion glues onto the prompt: the decoder only
# concatenates.

# %%
# NBVAL_IGNORE_OUTPUT
prompt = "Today I feel"
for word in ["Apparently", " Apparently"]:
    ids = tok.encode(prompt) + tok.encode(word)
    print(f"{prompt!r} + tokens {token_names(tok.encode(word))} -> {tok.decode(ids)!r}")

with torch.no_grad():
    probs = sft(torch.tensor([tok.encode(prompt)]))[0][0, -1].softmax(-1)
space_first = torch.tensor([tok.decode([i]).startswith(" ") for i in range(tok.vocab_size)])
p_space = probs[space_first].sum().item()
glue = (probs * ~space_first).topk(5)
print(f"\nSFT model after {prompt!r}: P(next token starts with a space) = {p_space:.3f}")
print("likeliest tokens without one:",
      ", ".join(f"{n} {p:.4f}" for n, p in zip(token_names(glue.indices.tolist()), glue.values.tolist())))
tries = sample_texts(sft, tok, [prompt] * 400, seed=2, sep=SEPARATOR)
starts = [t.split(SEPARATOR, 1)[1][:1] for t in tries]
glued = [t for t, c in zip(tries, starts) if c.isalnum()]
print(f"\nof {len(tries)} samples of {prompt!r}: {sum(c != ' ' for c in starts)} start without a space, "
      f"{len(glued)} of them with a letter or digit (a glued word)")
for text in glued[:4]:
    print("  ", text)

# %% [markdown]
# The same rule explains what a prompt that **ends** with a space does. The tokenizer cannot attach
# that space to a word that is not there yet, so it becomes a token of its own, `' '`. In the
# training tweets that token is rare: it shows up where the compact BPE's merges leave the space
# alone in front of the next word (after an @mention, for example), and then the next token is a
# word or word piece *without* a space. So after a trailing space the model expects such a token. Where the lone space occurs in
# training, what follows it there, then both prompts, their tokens, and what the SFT model does next:

# %%
# NBVAL_IGNORE_OUTPUT
space_id = tok.encode(" ")[0]
print("'@tom Woke up' ->", token_names(tok.encode("@tom Woke up")))
train_ids = pipeline.tweet_ids("train")
after_space = collections.Counter(row[i + 1] for row in train_ids for i in range(len(row) - 1) if row[i] == space_id)
n_tokens, n_space = sum(len(row) for row in train_ids), sum(row.count(space_id) for row in train_ids)
print(f"the token ' ' (id {space_id}) occurs {n_space:,} times in the {n_tokens:,} tokens of the training tweets "
      f"({n_space / n_tokens:.2%}); the tokens after it, most frequent first:")
print("  ", ", ".join(f"{n} {c}" for n, c in zip(token_names([i for i, _ in after_space.most_common(8)]),
                                                  [c for _, c in after_space.most_common(8)])))
for p in [prompt, prompt + " "]:
    ids = tok.encode(p)
    with torch.no_grad():
        probs = sft(torch.tensor([ids]))[0][0, -1].softmax(-1)
    top = probs.topk(5)
    print(f"\n{p!r}: tokens {token_names(ids)}")
    print(f"  P(next token starts with a space) = {probs[space_first].sum().item():.3f}")
    print("  likeliest next tokens:", ", ".join(f"{n} {v:.3f}" for n, v in zip(token_names(top.indices.tolist()),
                                                                             top.values.tolist())))
    for text in sample_texts(sft, tok, [p] * 3, seed=0, sep=SEPARATOR):
        print("   ", text)
assert not any(p.endswith(" ") for p in pipeline.evaluation_prompts() + pipeline.rl_prompts())
print("\nno evaluation or RL prompt ends with a space")

# %% [markdown]
# ## Does it write words? The real-word rate
#
# The samples look like tweets, but a micro model can invent words. `words.real_word_rate` counts the
# share of the completions' words that occur somewhere in the training tweets (punctuation stripped
# from the ends, emoji skipped; the corpus's vocabulary is closed, typos included). The same number
# is in the sentiment evaluation's metrics (`"real_word_rate"`, a row of the metrics tables of
# notebooks 08–10; notebook 07 prints it too). Next to it,
# two validation losses: on windows of the validation stream (every token), and on the validation
# SFT rows (completion tokens only), for the untrained, the pretrained and the SFT model.

# %%
# NBVAL_IGNORE_OUTPUT
eval_prompts = pipeline.evaluation_prompts() * 4
vocabulary = pipeline.vocabulary()
rows = {}
for name, lm in {"untrained": model, "pretrained": pretrained, "SFT": sft}.items():
    texts = sample_texts(lm, tok, eval_prompts, seed=1)
    completions = [t[len(p):] for t, p in zip(texts, eval_prompts)]
    rows[name] = {"stream": train.evaluate_loss(lm, pretrain_val), "sft": train.evaluate_loss(lm, sft_val),
                  "rate": words.real_word_rate(completions, vocabulary),
                  "non_words": words.non_words(completions, vocabulary)}
# The two trained rows' losses are what the training runs logged at their last evaluation.
assert math.isclose(rows["pretrained"]["stream"], pre_hist.eval_loss[-1], rel_tol=1e-4)
assert math.isclose(rows["SFT"]["sft"], sft_hist.eval_loss[-1], rel_tol=1e-4)
print(f"{len(eval_prompts)} completions per model ({len(eval_prompts) // 4} evaluation prompts x 4), seed 1")
print(f"{'model':>10}  {'val loss, stream':>16}  {'val loss, SFT completions':>25}  {'real-word rate':>14}")
for name, r in rows.items():
    print(f"{name:>10}  {r['stream']:16.3f}  {r['sft']:25.3f}  {r['rate']:14.3f}")
print("\nSFT words not in the training tweets:", ", ".join(f"{w} ({c})" for w, c in list(rows["SFT"]["non_words"].items())[:12]))
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert rows["SFT"]["rate"] >= 0.97

# %%
# NBVAL_IGNORE_OUTPUT
r = rows
display(Markdown(
    f"Pretraining took the validation loss on the tweet stream from {r['untrained']['stream']:.2f} (the "
    f"untrained model, about ln {tok.vocab_size} = {math.log(tok.vocab_size):.2f}) to {r['pretrained']['stream']:.2f}. "
    f"SFT took the loss on completions from {r['pretrained']['sft']:.2f} to {r['SFT']['sft']:.2f}. "
    f"Of the words in the SFT model's completions, {r['SFT']['rate']:.1%} are real words of the corpus "
    f"(the pretrained model: {r['pretrained']['rate']:.1%}; the untrained one: {r['untrained']['rate']:.1%})."))

# %% [markdown]
# ## Padding and positions
#
# The RL stages sample a whole batch of prompts at once, and prompts have different lengths. They
# are padded on the **left**, so every prompt ends in the last column and the new tokens go into the
# same column for every row. Two things then keep a padded prompt from reading differently from the
# same prompt alone: the **attention mask** (1 on real tokens) stops every token attending to pads,
# and the **position ids** are counted over real tokens only, so the first real token is at
# position 0 whatever the padding. Three labelled rows:

# %%
batch_prompts = ["Ugh", "Today I feel", "My friend told me that"]
ids, mask = gpt.left_pad(tok.encode_batch(batch_prompts), tok.pad_id)
positions = gpt.positions_from_mask(mask)
for i, p in enumerate(batch_prompts):
    print(f"row {i}: {p!r}")
    print("  tokens   ", " ".join(f"{n:>9}" for n in token_names(ids[i].tolist())))
    print("  mask     ", " ".join(f"{v:>9}" for v in mask[i].tolist()))
    print("  position ", " ".join(f"{v:>9}" for v in positions[i].tolist()))

# %% [markdown]
# With the mask and these positions, each padded row's next-token logits equal those of its prompt
# alone. With positions counted from the first *column* instead (pads included), the rows that have
# pads no longer do (row 2 has none, so for it both ways agree):

# %%
# NBVAL_IGNORE_OUTPUT
with torch.no_grad():
    padded = sft(ids, attention_mask=mask)[0][:, -1]
    by_column = sft(ids, attention_mask=mask, position_ids=torch.arange(ids.shape[1]).expand_as(ids))[0][:, -1]
    for i, p in enumerate(batch_prompts):
        alone = sft(torch.tensor([tok.encode(p)]))[0][0, -1]
        ok = torch.allclose(padded[i], alone, atol=1e-4)
        print(f"row {i}: same as alone with mask positions: {ok};  "
              f"with column positions: {torch.allclose(by_column[i], alone, atol=1e-4)}")
        assert ok

# %% [markdown]
# ## Generating one token at a time, with a KV cache
#
# Sampling appends one token per step. Recomputing the whole sequence each step would redo the
# keys and values of every earlier token; a **KV cache** keeps them, so after the first call (the
# whole prompt) each call feeds the model only the newest token. Below we do it by hand with
# `model(...)` calls: softmax of the last position's logits, one seeded draw, rows that produced an
# end-of-text token continue with pads (masked out). Then the package's `generate` with the same seed
# must give the same tokens.

# %%
# NBVAL_IGNORE_OUTPUT
n_new = 12
ids, mask = gpt.left_pad(tok.encode_batch(batch_prompts), tok.pad_id)
g = torch.Generator().manual_seed(0)
cache = sft.new_kv_cache(len(batch_prompts), ids.shape[1] + n_new - 1)
print(f"cache keys: {tuple(cache.k.shape)}  (layer, batch, head, position, head_dim)")
step_ids, done, new_tokens = ids, torch.zeros(len(batch_prompts), dtype=torch.bool), []
with torch.no_grad():
    for step in range(n_new):
        logits, cache = sft(step_ids, attention_mask=mask, past_kv=cache)
        probs = torch.log_softmax(logits[:, -1], dim=-1).exp()       # the next-token distribution
        token = torch.multinomial(probs, 1, generator=g).squeeze(1)  # one seeded draw per row
        token = torch.where(done, tok.pad_id, token)                 # finished rows get pads
        new_tokens.append(token)
        mask = torch.cat([mask, (~done).long()[:, None]], dim=1)     # a pad is not a real token
        done = done | (token == tok.eos_id)
        if step < 3 or done.all():
            print(f"step {step}: fed {tuple(step_ids.shape)}, cache holds {cache.length} positions, "
                  f"drew {token_names(token.tolist())}")
        step_ids = token[:, None]                                    # next call: the new token only
        if done.all():
            break
by_hand = torch.stack(new_tokens, dim=1)
out = gpt.generate(sft, tok.encode_batch(batch_prompts), n_new, tok.eos_id, tok.pad_id,
                   generator=torch.Generator().manual_seed(0))
assert torch.equal(by_hand, out.responses), "the hand-made loop and generate differ"
print("\nsame tokens as gpt.generate:")
for p, r in zip(batch_prompts, out.responses):
    print("  ", p, SEPARATOR + tok.decode(r.tolist()))

# %% [markdown]
# The cache changes the cost, not the result: the last logits of the cached calls equal a
# forward pass over the whole sequence at once.

# %%
with torch.no_grad():
    full_logits = sft(out.sequences[:, :-1], attention_mask=out.attention_mask[:, :-1])[0][:, -1]
print("cached and full-sequence logits agree:", torch.allclose(logits[:, -1], full_logits, atol=1e-4))
assert torch.allclose(logits[:, -1], full_logits, atol=1e-4)

# %% [markdown]
# ## Try it: the generation explorer
#
# Type a prompt (press Enter) and move the sliders. Both models continue it with the same random
# draws, so what differs between their columns is the models, not the dice. **Temperature** divides
# the logits before the softmax: below 1 it sharpens the distribution, above 1 it flattens it.
# **Top-k** keeps only the k likeliest tokens; **top-p** keeps the smallest set of likeliest tokens
# whose probabilities add up to p. (RL will sample from the full distribution at temperature 1:
# its log-probabilities must be those of the policy itself.)
#
# The table follows one sample token by token: the probability of each token in the distribution
# it was actually drawn from, and in the model's own distribution (temperature 1, nothing cut).
# Lower the temperature and watch the first column go to 1 and the text turn repetitive; raise it
# and watch unlikely tokens (small second column) get picked. Compare how the pretrained model and
# the SFT model continue the same prompt. Try a prompt that ends with a space, too.
#
# The widget needs a running kernel; without one (on GitHub, say) the cell after it prints the
# starting state.

# %%
from rlhf_edu import explore, widgets

models = {"pretrained": pretrained, "SFT": sft}
widgets.generation_widget(models, tok, prompt="Today I feel")

# %%
# NBVAL_IGNORE_OUTPUT
print(explore.generation_text(explore.explore_generation(models, tok, "Today I feel")))

# %% [markdown]
# ## Summary
#
# - The corpus is synthetic but speaks real English sentiment: an independent judge agrees with
#   its labels on nearly all positive/negative tweets.
# - Byte-level BPE puts the space in front of a word, so the model chooses the space when it
#   chooses the token; a prompt should not end with a space.
# - The GPT-2 tokenizer works offline; a compact BPE is what makes "about 1M parameters" true.
# - Three heads cannot split 128 dimensions evenly; each head gets its own width (`head_dim`) and
#   the output projection maps the heads back to d_model. The output layer is the token embedding.
# - The forward pass, the next-token loss and one AdamW step, done by hand on a real batch, match
#   the package's trainer; so does KV-cache sampling with `generate`.
# - Left padding with a mask and mask-counted positions gives a padded prompt the logits of the
#   prompt alone.
# - Pretraining then SFT give a model that writes tweet-like text of mixed sentiment, in real
#   words (the real-word rate above). Next, notebook 07 trains the reward model that will judge it.

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
# ### Exercise 1: Next-token loss with a padding mask
#
# Write `next_token_loss(logits, tokens, mask)`. `logits[:, t]` is the model's output at position $t$,
# which predicts token $t+1$. `mask[b, t]` is 1 where token $t$ is a target that counts (0 for the
# prompt in SFT, and for pads). Return the mean cross-entropy over the counted targets of the whole
# batch (their total divided by their number), as `train.lm_loss` does.

# %%
def next_token_loss(logits, tokens, mask):
    """logits: (B, T, V), tokens: (B, T) int64, mask: (B, T) int64 -> scalar mean loss"""
    raise NotImplementedError  # your code here

# %%
check.next_token_loss(next_token_loss)

# %% [markdown]
# ### Exercise 2: The causal attention mask
#
# Write `causal_attention_mask(attention_mask)`: a boolean tensor `allowed[b, q, k]`, True where query
# position $q$ may attend to key position $k$: keys at or before the query ($k \le q$) that are real
# tokens. Also let every query see itself ($k = q$), even a pad: a row with nothing allowed would make
# the softmax `nan`.

# %%
def causal_attention_mask(attention_mask):
    """attention_mask: (B, T) int64, 1 = real token -> (B, T, T) bool, [b, query, key]"""
    raise NotImplementedError  # your code here

# %%
check.causal_attention_mask(causal_attention_mask)

# %% [markdown]
# ### Exercise 3: Position ids under left padding
#
# Write `position_ids(attention_mask)`: the position of each token counted over real tokens only,
# starting at 0 (the number of real tokens up to and including it, minus 1), and 0 where that would be
# negative (left pads). A padded prompt then gets the same positions as the unpadded one.

# %%
def position_ids(attention_mask):
    """attention_mask: (B, T) int64, 1 = real token -> (B, T) int64 position ids"""
    raise NotImplementedError  # your code here

# %%
check.position_ids(position_ids)
