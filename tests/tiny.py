"""The tiny models and tokenizer the tests build on: one definition, imported by every test file.

``tests/conftest.py`` wraps them as fixtures (``tok``, ``tiny_policy``, ``tiny_reward``).
"""

import torch

from rlhf_edu.model import GPT, GPTConfig
from rlhf_edu.reward_model import RewardModel


class CharTokenizer:
    """Lowercase letters and space, plus EOS and PAD: a tokenizer small enough to reason about."""

    chars = " abcdefghijklmnopqrstuvwxyz"
    eos_id, pad_id, vocab_size = 27, 28, 29

    def encode(self, text):
        return [self.chars.index(c) for c in text]

    def encode_batch(self, texts):
        return [self.encode(t) for t in texts]

    def decode(self, ids):
        out = []
        for i in ids:
            if i == self.eos_id:
                break
            if i != self.pad_id:
                out.append(self.chars[i])
        return "".join(out)


TOK = CharTokenizer()
PROMPTS = ["hello", "the cat", "a", "good day"]


def tiny_gpt(vocab_size: int = CharTokenizer.vocab_size, block_size: int = 32, n_layer: int = 1, n_head: int = 2,
             d_model: int = 16, dropout: float = 0.0, seed: int = 0) -> GPT:
    """A one-layer GPT, seeded: the same call gives the same weights."""
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                         d_model=d_model, dropout=dropout))


def tiny_reward_model(seed: int = 1, **kw) -> RewardModel:
    return RewardModel(tiny_gpt(seed=seed, **kw)).eval()


def tiny(seed: int = 0, dropout: float = 0.0) -> GPT:
    """The default tiny GPT for the character tokenizer (``tiny(1)`` is another seed)."""
    return tiny_gpt(seed=seed, dropout=dropout)
