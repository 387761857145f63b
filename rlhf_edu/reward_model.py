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
        # Chosen and rejected in one batch: one forward pass, then split.
        ids, mask = left_pad([chosen_ids[i][-bs:] for i in rows] + [rejected_ids[i][-bs:] for i in rows],
                             tokenizer.pad_id)
        scores = rm.raw_score(ids, mask)
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
