"""Stage 3: the Bradley-Terry reward model.

The SFT model's backbone with its token head swapped for a linear layer that
reads the hidden state of the *last real token* and returns one number.
Trained on preference pairs with ``formulas.reward_model_loss``
(-log sigma(r_chosen - r_rejected)).

After training, ``calibrate`` sets a gain and bias so that scores of the
reference policy's own samples have mean 0 and std 1: that keeps the KL
coefficient beta meaning the same thing whatever scale the head learned.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn as nn

from . import formulas
from .model import GPT, left_pad, model_device


class RewardModel(nn.Module):
    def __init__(self, backbone: GPT, seed: int = 0):
        super().__init__()
        self.backbone = backbone
        self.config = backbone.config
        d = backbone.config.d_model
        self.head = nn.Linear(d, 1, device=model_device(backbone))
        # Small random init from its own generator, bias 0: drawn from the global RNG, the head (and
        # so the trained reward model) depended on whatever the process had sampled before.
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(1, d, generator=g) / (d + 1) ** 0.5)
        nn.init.zeros_(self.head.bias)
        # Calibration (not trained): score = gain * raw + bias.
        self.register_buffer("gain", torch.ones((), dtype=torch.float32, device=self.head.weight.device))
        self.register_buffer("bias", torch.zeros((), dtype=torch.float32, device=self.head.weight.device))

    def raw_score(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        device = self.head.weight.device  # token batches are built on the CPU
        ids, attention_mask = ids.to(device), attention_mask.to(device)
        hidden, _ = self.backbone(ids, attention_mask=attention_mask, return_hidden=True)
        per_position = self.head(hidden.to(self.head.weight.dtype)).squeeze(-1)
        return per_position.gather(1, last_real_index(attention_mask)[:, None]).squeeze(1)

    def pair_scores(self, chosen: list[list[int]], rejected: list[list[int]], pad_id: int):
        """Raw scores (chosen (B,), rejected (B,)) of token lists, each pair packed in one row (``pair_rows``)."""
        if not isinstance(self.backbone, GPT):
            raise ValueError("packed pairs need our GPT backbone (RMTrainConfig.pack_pairs=False for others)")
        device = self.head.weight.device
        ids, sees, positions, last_chosen, last_rejected = (t.to(device) for t in pair_rows(chosen, rejected, pad_id))
        hidden, _ = self.backbone(ids, attention_mask=sees, position_ids=positions, return_hidden=True)
        per_position = self.head(hidden.to(self.head.weight.dtype)).squeeze(-1)
        rows = torch.arange(len(chosen), device=device)
        return per_position[rows, last_chosen], per_position[rows, last_rejected]

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One calibrated score per row, read at the row's last real token (never a pad)."""
        return self.gain * self.raw_score(ids, attention_mask) + self.bias

    @torch.no_grad()
    def score_texts(self, tokenizer, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Scores for plain strings (each ends with EOS, as in training)."""
        self.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            ids, mask = encode_for_rm(tokenizer, texts[i:i + batch_size], self.config.block_size)
            out.append(self(ids, mask))
        return torch.cat(out) if out else torch.zeros(0, device=self.head.weight.device)


def last_real_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last 1 in each row of the mask (works for left or right padding)."""
    if (attention_mask.sum(1) == 0).any():
        raise ValueError("attention_mask has a row with no real token")
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * positions).argmax(1)


def pair_rows(chosen: list[list[int]], rejected: list[list[int]], pad_id: int):
    """Each (chosen, rejected) pair of token lists as one row that holds their shared start once.

    Row = shared prefix, chosen's rest, rejected's rest, then right padding. Rejected's rest sees the
    prefix and itself but not chosen's rest, and its positions restart where the prefix ends, so every
    token has the hidden state it has in its own sequence: the same scores from fewer tokens.
    Returns (ids (B, T), sees (B, T, T) bool, positions (B, T), chosen's last index, rejected's last index).
    """
    if len(chosen) != len(rejected) or not chosen or any(len(x) == 0 for x in chosen + rejected):
        raise ValueError("pair_rows needs as many chosen as rejected lists, none of them empty")
    spans = []  # (shared, chosen's length, rejected's rest)
    for c, r in zip(chosen, rejected):
        n, limit = 0, min(len(c), len(r)) - 1  # each keeps its last token (its EOS), where it is scored
        while n < limit and c[n] == r[n]:
            n += 1
        spans.append((n, len(c), len(r) - n))
    T = max(c + rest for _, c, rest in spans)
    ids = torch.full((len(chosen), T), pad_id, dtype=torch.long)
    positions = torch.zeros((len(chosen), T), dtype=torch.long)
    part = torch.full((len(chosen), T), -1, dtype=torch.long)  # 0 shared, 1 chosen's rest, 2 rejected's, -1 pad
    for i, (c, r, (n, lc, rest)) in enumerate(zip(chosen, rejected, spans)):
        ids[i, :lc + rest] = torch.tensor(c + r[n:], dtype=torch.long)
        positions[i, :lc + rest] = torch.cat([torch.arange(lc), torch.arange(n, n + rest)])
        part[i, :n], part[i, n:lc], part[i, lc:lc + rest] = 0, 1, 2
    query, key = part[:, :, None], part[:, None, :]
    sees = torch.ones(T, T, dtype=torch.bool).tril() & (key >= 0) & ~((query == 2) & (key == 1))
    sees |= torch.eye(T, dtype=torch.bool)  # every query sees itself (a guard: no row may be all masked)
    last_chosen = torch.tensor([lc - 1 for _, lc, _ in spans])
    return ids, sees, positions, last_chosen, last_chosen + torch.tensor([rest for _, _, rest in spans])


def encode_for_rm(tokenizer, texts: list[str], block_size: int):
    """Tokenise texts + EOS, left-padded; long texts keep their *end* (where the score is read)."""
    seqs = [(tokenizer.encode(t) + [tokenizer.eos_id])[-block_size:] for t in texts]
    return left_pad(seqs, tokenizer.pad_id)


def preference_pairs(tweets, n_pairs: int, seed: int = 0) -> list[tuple[str, str]]:
    """(chosen, rejected) text pairs: the more positive label is chosen.

    Labels 0 < 1 < 2 (negative < neutral < positive); the three kinds of pair
    (pos>neg, pos>neu, neu>neg) appear equally often.
    """
    by_label = {0: [], 1: [], 2: []}
    for t in tweets:
        by_label[t.label].append(t.text)
    if any(len(v) == 0 for v in by_label.values()):
        raise ValueError("preference pairs need tweets of all three labels")
    rng = random.Random(seed)
    kinds = [(2, 0), (2, 1), (1, 0)]
    pairs = []
    for i in range(n_pairs):
        hi, lo = kinds[i % 3]
        pairs.append((rng.choice(by_label[hi]), rng.choice(by_label[lo])))
    return pairs


@dataclass
class RMTrainConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    # True: each pair in one row that holds the text both share once (``pair_rows``), the same scores for
    # fewer tokens when a pair shares a long prompt (two summaries of one post). Needs our GPT backbone.
    # Off by default: the sentiment pairs are two different tweets, which share nothing to save.
    pack_pairs: bool = False


def train_reward_model(rm: RewardModel, tokenizer, pairs: list[tuple[str, str]], cfg: RMTrainConfig,
                       progress: bool = True) -> dict:
    """Minimise the Bradley-Terry loss over random minibatches of pairs. Returns the loss/accuracy history."""
    from tqdm import tqdm  # text bars: a saved notebook keeps their last state (a widget bar saves "0%")

    from .optim import adamw
    from .train import TrainConfig, lr_at

    torch.manual_seed(cfg.seed)
    opt = adamw(rm.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup_steps=max(1, cfg.steps // 20))
    chosen_ids = [tokenizer.encode(c) + [tokenizer.eos_id] for c, _ in pairs]
    rejected_ids = [tokenizer.encode(r) + [tokenizer.eos_id] for _, r in pairs]
    bs = rm.config.block_size
    hist = {"step": [], "loss": [], "accuracy": []}
    rm.train()
    g = torch.Generator().manual_seed(cfg.seed)
    for step in tqdm(range(cfg.steps), desc="reward model", disable=not progress):
        rows = torch.randint(0, len(pairs), (cfg.batch_size,), generator=g).tolist()
        chosen, rejected = [chosen_ids[i][-bs:] for i in rows], [rejected_ids[i][-bs:] for i in rows]
        if cfg.pack_pairs:
            r_c, r_r = rm.pair_scores(chosen, rejected, tokenizer.pad_id)
        else:  # chosen and rejected in one batch: one forward pass, then split
            scores = rm.raw_score(*left_pad(chosen + rejected, tokenizer.pad_id))
            r_c, r_r = scores[: len(rows)], scores[len(rows):]
        loss = formulas.reward_model_loss(r_c, r_r).mean()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, sched)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rm.parameters(), cfg.grad_clip)
        opt.step()
        hist["step"].append(step)
        hist["loss"].append(loss.item())
        hist["accuracy"].append((r_c > r_r).float().mean().item())
    rm.eval()
    return hist


@torch.no_grad()
def pairwise_accuracy(rm: RewardModel, tokenizer, pairs: list[tuple[str, str]]) -> float:
    """Share of held-out pairs where the chosen text scores higher."""
    chosen = rm.score_texts(tokenizer, [c for c, _ in pairs])
    rejected = rm.score_texts(tokenizer, [r for _, r in pairs])
    return (chosen > rejected).float().mean().item()


@torch.no_grad()
def calibrate(rm: RewardModel, sequences: torch.Tensor, attention_mask: torch.Tensor) -> tuple[float, float]:
    """Set gain/bias so the scores of these sequences (samples of the SFT policy) have mean 0, std 1."""
    rm.eval()
    raw = rm.raw_score(sequences, attention_mask)
    std = raw.std().clamp(min=1e-6)
    rm.gain.fill_(1.0 / std.item())
    rm.bias.fill_(-(raw.mean() / std).item())
    return rm.gain.item(), rm.bias.item()
