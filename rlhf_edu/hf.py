"""Hugging Face models behind the same interface as our micro GPT.

Every stage of the package (SFT trainer, reward model, rollouts, PPO) talks to
a model through four things: ``model(ids, attention_mask=, position_ids=,
past_kv=, return_hidden=)`` returning (logits or hidden states, cache),
``model.logits_from_hidden(hidden)``, and ``model.config`` with
``vocab_size``, ``block_size`` and ``d_model``. ``HFCausalLM`` gives a
``transformers`` causal LM (GPT-2 124M, say) exactly that, so the *same* code
that trains the micro GPT-2 on a laptop trains GPT-2 on a GPU.

transformers is an optional extra (``pip install -e ".[hf]"``). Nothing here
downloads anything unless you ask for a model by Hub name.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn as nn

from .model import positions_from_mask


def _transformers():
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError('the Hugging Face path needs transformers: pip install -e ".[hf]"') from e
    return transformers


@dataclass
class HFConfigView:
    """The few config fields the package reads, taken from a transformers config."""

    vocab_size: int
    block_size: int
    d_model: int
    hf_config: dict

    def to_dict(self) -> dict:
        return {"hf_config": self.hf_config}


class HFCausalLM(nn.Module):
    """A transformers causal LM with our GPT's calling convention."""

    def __init__(self, hf_model):
        super().__init__()
        self.hf = hf_model
        c = hf_model.config
        block = getattr(c, "n_positions", None) or c.max_position_embeddings
        width = getattr(c, "n_embd", None) or c.hidden_size
        self.config = HFConfigView(hf_model.get_input_embeddings().num_embeddings, int(block), int(width),
                                   c.to_dict())
        self._new_cache_api = "cache" in inspect.signature(hf_model.base_model.forward).parameters

    def forward(self, idx, attention_mask=None, position_ids=None, past_kv=None, return_hidden=False):
        past_len = 0 if past_kv is None else past_kv.get_seq_length()
        if past_len + idx.shape[1] > self.config.block_size:
            raise ValueError(f"sequence of {past_len + idx.shape[1]} tokens is longer than the context "
                             f"block_size={self.config.block_size}")
        if position_ids is None and attention_mask is not None:
            # Same convention as our GPT: positions count real tokens only, so left padding is harmless.
            position_ids = positions_from_mask(attention_mask)[:, past_len:]
        # transformers >= 5.x calls the KV cache "cache"; older releases "past_key_values".
        cache_arg = "cache" if self._new_cache_api else "past_key_values"
        use_cache = past_kv is not None or not self.training
        out = self.hf.base_model(input_ids=idx, attention_mask=attention_mask, position_ids=position_ids,
                                 use_cache=use_cache, **{cache_arg: past_kv})
        hidden = out.last_hidden_state
        cache = None
        if use_cache:
            cache = out["cache"] if self._new_cache_api else out["past_key_values"]
        if return_hidden:
            return hidden, cache
        return self.logits_from_hidden(hidden), cache

    def logits_from_hidden(self, hidden):
        return self.hf.get_output_embeddings()(hidden)


def tiny_gpt2(vocab_size: int, block_size: int = 128, n_layer: int = 2, n_head: int = 2, d_model: int = 64,
              seed: int = 0) -> HFCausalLM:
    """A randomly initialised small transformers GPT-2: tests the HF path offline."""
    t = _transformers()
    torch.manual_seed(seed)
    # bos/eos ids only matter to transformers' own generate(), which we do not use.
    cfg = t.GPT2Config(vocab_size=vocab_size, n_positions=block_size, n_layer=n_layer, n_head=n_head,
                       n_embd=d_model, bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1)
    return HFCausalLM(t.GPT2LMHeadModel(cfg))


def from_config_dict(config: dict) -> HFCausalLM:
    """Rebuild the (untrained) architecture a checkpoint's ``config.json`` describes."""
    t = _transformers()
    hf_cfg = t.AutoConfig.for_model(**config["hf_config"])
    return HFCausalLM(t.AutoModelForCausalLM.from_config(hf_cfg))


def pretrained(name: str = "gpt2", vocab_size: int | None = None, dtype=torch.float32) -> HFCausalLM:
    """A pretrained Hub model (needs internet or the local HF cache), e.g. GPT-2 124M.

    ``vocab_size`` grows the embedding, e.g. to 50,258 so that our pad token
    (50257) is distinct from GPT-2's ``<|endoftext|>`` (50256).
    """
    t = _transformers()
    hf = t.AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
    if vocab_size is not None and vocab_size != hf.get_input_embeddings().num_embeddings:
        hf.resize_token_embeddings(vocab_size)
    return HFCausalLM(hf)
