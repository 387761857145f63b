"""Building blocks for the checks' cases: seeded tensors, padding masks, tiny models.

Every random input comes from its own seeded ``torch.Generator``, so a check builds the same
cases on every run (nbval compares the printed reports byte for byte).
"""

from __future__ import annotations

import torch

from ..model import GPT, GPTConfig

F64 = torch.float64


def tensor(x, dtype=F64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def uniform(shape, g, lo, hi, dtype=F64) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g, dtype=dtype)


def randn(shape, g, scale=1.0, dtype=F64) -> torch.Tensor:
    return scale * torch.randn(shape, generator=g, dtype=dtype)


def right_mask(lengths, T, dtype=F64) -> torch.Tensor:
    """1 for the first lengths[i] positions of row i: a completion with pads after its EOS."""
    return (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).to(dtype)


def rollout_mask(prompt_lens, response_lens, P, R) -> torch.Tensor:
    """Left-padded prompts (P columns) + completions with pads after EOS (R columns), as generation makes them."""
    left = (torch.arange(P)[None, :] >= P - torch.tensor(prompt_lens)[:, None]).long()
    return torch.cat([left, right_mask(response_lens, R, torch.long)], 1)


def with_pad_junk(x, mask, g, lo, hi) -> torch.Tensor:
    """x with its pads (mask 0) replaced by junk, so that code which forgets the mask is caught."""
    return torch.where(mask.bool(), x, uniform(x.shape, g, lo, hi))


def grad_of(out: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """d out.sum() / d leaf; zeros when nothing flows into leaf."""
    (g,) = torch.autograd.grad(out.sum(), leaf, allow_unused=True)
    return torch.zeros_like(leaf) if g is None else g


def tiny_gpt(seed: int, vocab: int = 13, block: int = 16) -> GPT:
    """A 1-layer GPT small enough to run inside a check in milliseconds (untrained: only its maths matters)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, d_model=8)).eval()
