"""Tokenizers behind one small interface: text <-> list of integer ids.

Two tokenizers, both byte-level, so any unicode text (emoji, typos, odd
whitespace) round-trips exactly: ``decode(encode(s)) == s``.

- ``GPT2Tokenizer``: the real GPT-2 BPE (50,257 ids, through tiktoken).
- ``BPETokenizer``: a compact byte-level BPE (a few thousand ids) trained on
  our own corpus with the ``tokenizers`` library; the fast default on CPU.

Every tokenizer has ``vocab_size`` (the number of embedding rows a model
needs), ``eos_id`` and a ``pad_id`` distinct from ``eos_id``, so a loss mask
can tell "padding" from "the tweet ended here".

Where the GPT-2 BPE file comes from (network policy)
-----------------------------------------------------
``tiktoken.get_encoding("gpt2")`` downloads its file on first use. Offline it
fails (fast on a machine without DNS, but ``requests`` is called with no
timeout, so on a network that silently drops packets it can hang for minutes).
So by default we never touch the network: we read ``assets/gpt2.tiktoken``,
shipped with the package and checked against its sha256. That file is
byte-for-byte what tiktoken downloads for ``r50k_base``, which tiktoken itself
documents as the GPT-2 encoding, so the ids are the ones tiktoken would give.

- ``GPT2Tokenizer(path=...)`` or the ``RLHF_EDU_GPT2_BPE`` environment variable
  points at another copy of the file; it must have the same sha256.
- ``GPT2Tokenizer(download=True)`` is tiktoken's ordinary behaviour
  (``tiktoken.get_encoding("gpt2")``, with its download cache); on a network
  error it warns and falls back to the bundled file.

GPT-2 has no pad token
----------------------
We add one: ``pad_id = 50257``, so ``vocab_size = 50258`` (a model built on this
tokenizer needs 50,258 embedding rows). ``encode`` never produces it and
``decode`` drops it. Loading OpenAI's pretrained GPT-2 weights (50,257 rows)
would need one extra row; we train from scratch, so that never comes up.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import tiktoken
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"

GPT2_BPE_FILE = Path(__file__).parent / "assets" / "gpt2.tiktoken"
GPT2_BPE_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
GPT2_BPE_ENV = "RLHF_EDU_GPT2_BPE"

# GPT-2's pre-tokenizer regex, as in OpenAI's gpt-2/src/encoder.py: text is
# cut into words, numbers, punctuation runs and spaces before BPE runs.
# (tiktoken >= 0.8 spells it with possessive quantifiers; same splits, and a
# test checks that, but this spelling works with every tiktoken version.)
GPT2_PAT_STR = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


class Tokenizer:
    """The interface every tokenizer implements.

    ``encode`` adds no special tokens; the caller decides where EOS and PAD go.
    """

    name: str
    vocab_size: int  # embedding rows a model needs, special tokens included
    eos_id: int
    pad_id: int

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        """Text to ids. ``allow_special=True`` turns the literal text
        ``<|endoftext|>`` into ``eos_id``; otherwise it is ordinary text."""
        raise NotImplementedError

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        raise NotImplementedError

    def _decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def decode(self, ids: Sequence[int], stop_at_eos: bool = True) -> str:
        """Ids to text. Pad ids are dropped. With ``stop_at_eos`` the text ends
        just before the first EOS (what a generated sample means); without it,
        EOS is rendered as ``<|endoftext|>``."""
        ids = [int(i) for i in ids]
        if stop_at_eos and self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return self._decode([i for i in ids if i != self.pad_id])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, vocab_size={self.vocab_size}, "
            f"eos_id={self.eos_id}, pad_id={self.pad_id})"
        )


# ---------------------------------------------------------------- GPT-2 BPE


@functools.lru_cache(maxsize=4)
def _gpt2_encoding(path: str) -> tiktoken.Encoding:
    """Build GPT-2's tiktoken Encoding from a local ``.tiktoken`` file.

    We parse the file ourselves rather than call ``tiktoken.load``: that would
    also copy it into tiktoken's download cache, a side effect we don't need.
    """
    data = Path(path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != GPT2_BPE_SHA256:
        raise ValueError(
            f"{path} is not the GPT-2 BPE file: its sha256 is {actual}, "
            f"expected {GPT2_BPE_SHA256} (tiktoken's r50k_base.tiktoken)."
        )
    # Each line is "<token bytes in base64> <rank>".
    lines = (line.split() for line in data.splitlines() if line)
    ranks = {base64.b64decode(tok): int(rank) for tok, rank in lines}
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PAT_STR,
        mergeable_ranks=ranks,
        special_tokens={EOS_TOKEN: 50256},
        explicit_n_vocab=50257,
    )


class GPT2Tokenizer(Tokenizer):
    """The real GPT-2 byte-level BPE, plus a pad id of our own (50257)."""

    def __init__(self, path: str | os.PathLike | None = None, download: bool = False):
        if download:
            self.enc = _download_gpt2()
        else:
            path = path or os.environ.get(GPT2_BPE_ENV) or GPT2_BPE_FILE
            self.enc = _gpt2_encoding(str(path))
        self.name = "gpt2"
        self.eos_id = self.enc.eot_token  # 50256
        self.pad_id = self.enc.n_vocab  # 50257: one past GPT-2's last id
        self.vocab_size = self.pad_id + 1  # 50258 embedding rows

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        if allow_special:
            return self.enc.encode(text, allowed_special={EOS_TOKEN})
        return self.enc.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        # A plain loop: tiktoken's threaded batch costs more than it saves on
        # short tweets (measured 5-10x slower on a 2-CPU machine).
        return [self.enc.encode_ordinary(t) for t in texts]

    def _decode(self, ids: list[int]) -> str:
        return self.enc.decode(ids)


def _download_gpt2() -> tiktoken.Encoding:
    """tiktoken's ordinary path (download + cache), bundled file if offline."""
    try:
        return tiktoken.get_encoding("gpt2")
    except OSError as err:  # requests' errors are OSErrors
        warnings.warn(f"tiktoken could not download GPT-2's BPE ({err}); using the bundled copy.", stacklevel=2)
        return _gpt2_encoding(str(GPT2_BPE_FILE))


# ---------------------------------------------------------- our own BPE


class BPETokenizer(Tokenizer):
    """A byte-level BPE trained on our corpus (``tokenizers`` library)."""

    def __init__(self, tok: HFTokenizer):
        self.tok = tok
        # Special tokens are never parsed out of ordinary text (see encode).
        self.tok.encode_special_tokens = True
        self.name = "bpe"
        self.eos_id = tok.token_to_id(EOS_TOKEN)
        self.pad_id = tok.token_to_id(PAD_TOKEN)
        if self.eos_id is None or self.pad_id is None:
            raise ValueError(f"tokenizer must contain {EOS_TOKEN!r} and {PAD_TOKEN!r}")
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 2048) -> "BPETokenizer":
        """Learn merges from ``texts``. Deterministic: nothing is sampled, so
        the same texts give the same vocabulary and the same ids.

        ``vocab_size`` counts everything (256 bytes, 2 special tokens, merges);
        a small corpus may end with fewer ids than asked for.
        """
        tok = HFTokenizer(models.BPE())
        # GPT-2's recipe: split on its regex, then work on bytes, not characters.
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[EOS_TOKEN, PAD_TOKEN],  # ids 0 and 1
            # All 256 bytes from the start, so unseen characters still encode.
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        return cls(tok)

    def save(self, path: str | os.PathLike) -> None:
        """One JSON file, in the ``tokenizers`` library's own format."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.tok.save(str(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BPETokenizer":
        return cls(HFTokenizer.from_file(str(path)))

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        if allow_special:
            self.tok.encode_special_tokens = False
            try:
                return self.tok.encode(text).ids
            finally:
                self.tok.encode_special_tokens = True
        return self.tok.encode(text).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(list(texts))]

    def _decode(self, ids: list[int]) -> str:
        # skip_special_tokens=False: decode() already removed what should go.
        return self.tok.decode(ids, skip_special_tokens=False)


# ------------------------------------------------------------------ factory

TOKENIZERS = ("gpt2", "bpe")


def get_tokenizer(
    name: str,
    texts: Iterable[str] | None = None,
    vocab_size: int = 2048,
    path: str | os.PathLike | None = None,
) -> Tokenizer:
    """``"gpt2"``: GPT-2's BPE (``path`` = another copy of its file, optional).

    ``"bpe"``: load ``path`` if it exists; otherwise train on ``texts`` and,
    if ``path`` was given, save there so the next call just loads.
    """
    if name == "gpt2":
        return GPT2Tokenizer(path=path)
    if name == "bpe":
        if path is not None and Path(path).exists():
            return BPETokenizer.load(path)
        if texts is None:
            raise ValueError("get_tokenizer('bpe') needs texts to train on (or an existing path)")
        tok = BPETokenizer.train(texts, vocab_size=vocab_size)
        if path is not None:
            tok.save(path)
        return tok
    raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
