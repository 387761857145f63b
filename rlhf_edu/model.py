"""The micro GPT-2: config, model, KV-cache generation and per-token log-probs.

GPT-2's recipe, small: learned position embeddings, pre-LayerNorm blocks,
GELU MLP, weights of the output layer tied to the token embedding.

One departure, on purpose. The story's "micro" model has 4 layers, 3 heads
and d_model = 128, but 128 / 3 = 42.67, and GPT-2's code requires heads to
divide d_model. We keep the three heads and *decouple the attention width
from d_model*: each head works in ``head_dim`` dimensions (default
d_model // n_head = 42), Q/K/V project 128 -> 3 x 42 = 126, and the output
projection maps 126 back to 128. When heads do divide d_model this is
exactly GPT-2.

Padding convention: prompts are *left*-padded, an ``attention_mask`` marks
real tokens with 1, and position ids come from the mask's cumulative sum, so a
padded prompt sees the same positions (and gives the same logits) as the
unpadded one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    """Shape of the model. ``head_dim=None`` means d_model // n_head."""

    vocab_size: int = 2048      # rows of the token embedding (tokenizer.vocab_size)
    block_size: int = 64        # longest sequence (prompt + completion) the model sees
    n_layer: int = 4
    n_head: int = 3
    d_model: int = 128
    head_dim: int | None = None  # width of one attention head; decoupled from d_model
    dropout: float = 0.0        # 0 for everything RL touches (ratio must be 1 at the start)

    def __post_init__(self):
        if isinstance(self.n_head, int) and self.n_head > 0 and self.head_dim is None:
            self.head_dim = self.d_model // self.n_head
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model", "head_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def attn_dim(self) -> int:
        return self.n_head * self.head_dim

    def to_dict(self) -> dict:
        return asdict(self)


def micro_config(vocab_size: int = 2048, block_size: int = 64) -> GPTConfig:
    """The story's "GPT-2 micro": 4 layers, 3 heads, d_model 128."""
    return GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=4, n_head=3, d_model=128)


def count_parameters(config: GPTConfig) -> dict[str, int]:
    """Parameter count by part, from the config alone (matches the built model)."""
    d, a, L = config.d_model, config.attn_dim, config.n_layer
    ln = 2 * d
    attn = d * 3 * a + 3 * a + a * d + d
    mlp = d * 4 * d + 4 * d + 4 * d * d + d
    counts = {
        "token_embedding": config.vocab_size * d,
        "position_embedding": config.block_size * d,
        "blocks": L * (2 * ln + attn + mlp),
        "final_layernorm": ln,
        "lm_head (tied)": 0,
    }
    counts["total"] = sum(counts.values())
    return counts


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.attn_dim)
        self.proj = nn.Linear(cfg.attn_dim, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x, attn_mask, cache=None, layer=0):
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(self.n_head * self.head_dim, dim=2)
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(layer, k, v)  # this step's keys/values after the cached ones
        p = self.dropout if self.training else 0.0
        if attn_mask is None:  # no padding, no cache: the fast built-in causal path
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(approximate="tanh"),
            nn.Linear(4 * cfg.d_model, cfg.d_model), nn.Dropout(cfg.dropout),
        )

    def forward(self, x, attn_mask, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), attn_mask, cache, layer)
        x = x + self.mlp(self.ln_2(x))
        return x


class KVCache:
    """Keys and values of every layer, allocated once for the whole generation.

    Each step writes its new keys and values in place; concatenating them to the cache instead
    would copy the whole cache at every step (bench/bench_train.py measures the cache's speed-up).
    Inference only: ``generate`` runs without autograd, which in-place writes would confuse.
    """

    def __init__(self, n_layer: int, batch: int, n_head: int, length: int, head_dim: int,
                 device=None, dtype=torch.float32):
        self.k = torch.empty(n_layer, batch, n_head, length, head_dim, device=device, dtype=dtype)
        self.v = torch.empty_like(self.k)
        self.length = 0  # positions filled so far (GPT.forward advances it after every layer wrote)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store one layer's new (B, H, T, head_dim) keys and values; return all of them so far."""
        if torch.is_grad_enabled() and k.requires_grad:
            raise RuntimeError("KVCache is for inference: run the model under torch.no_grad()")
        if k.shape[0] != self.k.shape[1]:
            raise ValueError(f"the cache holds a batch of {self.k.shape[1]}, got {k.shape[0]} rows")
        end = self.length + k.shape[2]
        if end > self.k.shape[3]:
            raise ValueError(f"the cache holds {self.k.shape[3]} tokens; {end} do not fit")
        self.k[layer, :, :, self.length:end] = k
        self.v[layer, :, :, self.length:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.block_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.apply(self._init_weights)
        # GPT-2: scale residual projections by 1/sqrt(2 * n_layer) so the residual stream stays O(1).
        for name, p in self.named_parameters():
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_kv_cache(self, batch: int, length: int) -> "KVCache":
        """An empty cache for ``batch`` sequences of up to ``length`` tokens (see ``generate``)."""
        c = self.config
        if length > c.block_size:
            raise ValueError(f"a cache of {length} tokens is longer than the context block_size={c.block_size}")
        w = self.wte.weight
        return KVCache(c.n_layer, batch, c.n_head, length, c.head_dim, w.device, w.dtype)

    def forward(self, idx, attention_mask=None, position_ids=None, past_kv=None, return_hidden=False):
        """Logits for every position (tied output layer).

        idx: (B, T) token ids. attention_mask: (B, T_past + T) with 1 for real tokens,
        covering the cache too. past_kv: a ``KVCache`` (from ``new_kv_cache``) holding the
        earlier tokens' keys and values; this call appends idx's to it (no cache is made here:
        without one, the second element returned is None). A (B, T, T) attention_mask instead says
        which keys each query sees, for rows that pack several sequences (``_packed_forward``; it
        needs position_ids).
        Returns (logits (B, T, vocab), past_kv) or, with return_hidden, (hidden (B, T, d), past_kv).
        """
        B, T = idx.shape
        lo, hi = (int(v) for v in torch.aminmax(idx)) if idx.numel() else (0, 0)
        if lo < 0 or hi >= self.config.vocab_size:
            raise ValueError(f"idx holds token ids in [{lo}, {hi}], outside the vocabulary "
                             f"[0, {self.config.vocab_size - 1}] (vocab_size={self.config.vocab_size}): was it "
                             f"encoded with another tokenizer?")
        if attention_mask is not None and attention_mask.dim() == 3:
            return self._packed_forward(idx, attention_mask, position_ids, past_kv, return_hidden)
        past_len = 0 if past_kv is None else past_kv.length
        if past_len + T > self.config.block_size:
            raise ValueError(
                f"sequence of {past_len + T} tokens is longer than the context "
                f"block_size={self.config.block_size}")
        if attention_mask is not None and attention_mask.shape != (B, past_len + T):
            raise ValueError(f"attention_mask must have shape {(B, past_len + T)}, "
                             f"got {tuple(attention_mask.shape)}")
        if position_ids is None:
            if attention_mask is None:
                position_ids = torch.arange(past_len, past_len + T, device=idx.device).expand(B, T)
            else:
                position_ids = positions_from_mask(attention_mask)[:, past_len:]
        mask = None
        if attention_mask is not None or past_kv is not None:
            mask = _attention_bias(attention_mask, B, T, past_len, idx.device)
        x = self.drop(self.wte(idx) + self.wpe(position_ids))
        for i, block in enumerate(self.blocks):
            x = block(x, mask, past_kv, i)
        if past_kv is not None:
            past_kv.length += T
        x = self.ln_f(x)
        if return_hidden:
            return x, past_kv
        return self.logits_from_hidden(x), past_kv

    def logits_from_hidden(self, hidden):
        """The tied output layer: logits = hidden @ token_embedding^T."""
        return hidden @ self.wte.weight.T

    def _packed_forward(self, idx, sees, position_ids, past_kv, return_hidden):
        """Rows that pack several sequences (``reward_model.pair_rows``): ``sees`` (B, T, T) says which
        keys each query attends to and ``position_ids`` each token's position in its own sequence, so a
        row may be longer than the context while no sequence in it is."""
        B, T = idx.shape
        if past_kv is not None or position_ids is None:
            raise ValueError("a (B, T, T) attention mask needs position_ids and no past_kv")
        if sees.shape != (B, T, T) or position_ids.shape != (B, T):
            raise ValueError(f"a packed batch of {(B, T)} tokens needs a {(B, T, T)} mask and {(B, T)} "
                             f"positions, got {tuple(sees.shape)} and {tuple(position_ids.shape)}")
        if int(position_ids.max()) >= self.config.block_size:
            raise ValueError(f"position {int(position_ids.max())} is outside the context block_size="
                             f"{self.config.block_size}")
        x = self.drop(self.wte(idx) + self.wpe(position_ids))
        mask = sees.bool()[:, None]
        for i, block in enumerate(self.blocks):
            x = block(x, mask, None, i)
        x = self.ln_f(x)
        return (x if return_hidden else self.logits_from_hidden(x)), None


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token counted over real tokens only (pads get 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _attention_bias(attention_mask, B, T, past_len, device):
    """Boolean (B, 1, T, past_len + T) mask: causal and not attending to pads.

    A query always sees itself, so a pad query never has an all-masked row
    (that would give NaN); its output is ignored anyway.
    """
    S = past_len + T
    q_pos = torch.arange(past_len, S, device=device)[:, None]
    k_pos = torch.arange(S, device=device)[None, :]
    allowed = (k_pos <= q_pos)[None]  # (1, T, S) causal
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, :]
    allowed = allowed | (k_pos == q_pos)[None]
    return allowed[:, None]


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy with gradients off, in eval mode: the reference (KL anchor) must never move."""
    import copy

    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights live (CPU here; CUDA on a GPU machine). Inputs built from token
    lists start on the CPU and are moved there."""
    return next(model.parameters()).device


def left_pad(seqs: list[list[int]], pad_id: int, length: int | None = None):
    """Left-pad token lists into (ids, attention_mask) tensors (int64, on the CPU)."""
    if any(len(s) == 0 for s in seqs):
        raise ValueError("prompt must contain at least one token (got an empty prompt)")
    L = max(len(s) for s in seqs) if length is None else length
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, L - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, L - len(s):] = 1
    return ids, mask


def filter_logits(logits, top_k: int | None = None, top_p: float | None = None):
    """Set logits outside the top-k / nucleus (top-p) set to -inf."""
    if top_k is not None and top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cum - sorted_logits.softmax(-1) > top_p  # keep the token that crosses p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@dataclass
class Generation:
    """Output of :func:`generate`.

    ``sequences`` = left-padded prompt (P columns) + response (R columns).
    ``response_mask`` marks real response tokens, up to and including the first EOS.
    ``logprobs`` are the sampler's log-probs of each response token, from the
    distribution it actually drew from (temperature, top-k and top-p applied).
    """

    sequences: torch.Tensor
    attention_mask: torch.Tensor
    prompt_len: int
    response_mask: torch.Tensor
    logprobs: torch.Tensor

    @property
    def responses(self) -> torch.Tensor:
        return self.sequences[:, self.prompt_len:]


@torch.no_grad()
def generate(model: GPT, prompts: list[list[int]], max_new_tokens: int, eos_id: int, pad_id: int,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True) -> Generation:
    """Sample completions for a batch of tokenised prompts.

    Rows stop at their first EOS; later columns are filled with ``pad_id`` and
    masked out. ``use_cache=False`` recomputes the whole prefix every step (for
    the benchmark and for testing the cache).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be > 0, got {max_new_tokens}")
    if len(prompts) == 0:
        raise ValueError("prompts is empty: give generate at least one tokenised prompt")
    device = model_device(model)
    ids, mask = (t.to(device) for t in left_pad(prompts, pad_id))
    B, P = ids.shape
    if P + max_new_tokens > model.config.block_size:
        raise ValueError(f"prompt ({P} tokens) + max_new_tokens ({max_new_tokens}) exceeds the context "
                         f"block_size={model.config.block_size}")
    was_training = model.training
    model.eval()
    done = torch.zeros(B, dtype=torch.bool, device=device)
    out_tokens, out_logp, out_mask = [], [], []
    # Our GPT writes into a cache allocated once; a Hugging Face model (hf.py) returns its own.
    new_cache = getattr(model, "new_kv_cache", None)
    past = new_cache(B, P + max_new_tokens - 1) if use_cache and new_cache else None
    step_ids = ids
    for _ in range(max_new_tokens):
        if use_cache:
            logits, past = model(step_ids, attention_mask=mask, past_kv=past)
        else:
            full = torch.cat([ids] + [t[:, None] for t in out_tokens], dim=1)
            logits, _ = model(full, attention_mask=mask)
        logits = filter_logits(logits[:, -1, :].float() / temperature, top_k, top_p)
        logp = torch.log_softmax(logits, dim=-1)
        probs = logp.exp()
        if generator is not None and generator.device != probs.device:
            # A CPU generator with a CUDA model: draw on the CPU, so a seed gives the same samples.
            tok = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(device)
        else:
            tok = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        out_tokens.append(tok)
        out_logp.append(torch.where(done, torch.zeros_like(logp[:, 0]), logp.gather(1, tok[:, None]).squeeze(1)))
        out_mask.append((~done).long())
        mask = torch.cat([mask, (~done).long()[:, None]], dim=1)
        done = done | (tok == eos_id)
        step_ids = tok[:, None]
        if done.all():
            break
    model.train(was_training)
    responses = torch.stack(out_tokens, dim=1)
    return Generation(torch.cat([ids, responses], dim=1), mask, P,
                      torch.stack(out_mask, dim=1), torch.stack(out_logp, dim=1))


def token_logprobs(model: GPT, sequences: torch.Tensor, attention_mask: torch.Tensor,
                   temperature: float = 1.0, return_entropy: bool = False, return_hidden: bool = False,
                   start: int = 0):
    """log p(token_t | tokens_<t) for t = start+1..T-1, as a (B, T-1-start) tensor.

    Column j scores token start+j+1 using the logits at position start+j (the
    alignment every RLHF loss depends on). The same function scores policy,
    reference and SFT data, so the numbers always agree with what ``generate``
    saw when it sampled from the full distribution at the same temperature.
    ``start`` skips the output layer where nothing is scored (the prompt): with
    a long prompt or a large vocabulary that is most of the cost.
    """
    if not 0 <= start < sequences.shape[1] - 1:
        raise ValueError(f"start must be in [0, {sequences.shape[1] - 2}], got {start}")
    hidden, _ = model(sequences, attention_mask=attention_mask, return_hidden=True)
    # Always float32 here, whatever the model's dtype: old and new log-probs must match exactly.
    logits = model.logits_from_hidden(hidden[:, start:-1]).float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, sequences[:, start + 1:, None]).squeeze(-1)
    out = [logp]
    if return_entropy:
        out.append(-(logp_all.exp() * logp_all).sum(-1))
    if return_hidden:
        out.append(hidden)
    return out[0] if len(out) == 1 else tuple(out)


def response_logprobs(model: GPT, gen_or_seqs, attention_mask=None, prompt_len=None, temperature=1.0,
                      return_entropy=False, return_hidden=False):
    """Log-probs of the response tokens only: (B, R), aligned with ``response_mask``."""
    if isinstance(gen_or_seqs, Generation):
        seqs, attention_mask, prompt_len = gen_or_seqs.sequences, gen_or_seqs.attention_mask, gen_or_seqs.prompt_len
    else:
        seqs = gen_or_seqs
    return token_logprobs(model, seqs, attention_mask, temperature, return_entropy, return_hidden,
                          start=prompt_len - 1)
