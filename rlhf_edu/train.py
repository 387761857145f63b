"""Stages 1 and 2: pretraining (next-token prediction) and supervised fine-tuning.

One small trainer serves both (and the reward model reuses its pieces):
AdamW with linear warm-up then cosine decay, gradient clipping, periodic
eval loss / perplexity, a ``tqdm`` progress bar, and checkpoints that resume
to *exactly* the weights an uninterrupted run reaches. Batches are a pure
function of (seed, step), so a resumed run draws the same batches.
"""

from __future__ import annotations

import math
import pathlib
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm  # text bars: a saved notebook keeps their last state (a widget bar saves "0%")

from . import checkpoint as ckpt
from .model import GPT, model_device
from .optim import AdamW, adamw

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # inputs, targets, loss mask


@dataclass
class TrainConfig:
    steps: int = 800
    batch_size: int = 64
    lr: float = 2e-3
    min_lr_ratio: float = 0.1     # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 40
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    eval_every: int = 100
    seed: int = 0
    checkpoint_every: int = 200   # 0: only at the end (and on Ctrl-C)
    # True: the output layer runs only at the positions the loss counts, the same loss for less work
    # when most of a row is prompt (summarisation's SFT: ~20 summary tokens after ~80 of post). Off by
    # default: the sentiment rows are mostly completion, where it saves little, and its notebooks'
    # figures were measured on the full path (the two agree to float rounding, not bit for bit).
    logits_where_loss: bool = False

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``lr * min_lr_ratio``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> AdamW:
    # No weight decay on biases, LayerNorm and embeddings' 1-D params (GPT-2 practice).
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return adamw(groups, lr=cfg.lr, betas=cfg.betas)


def lm_loss(model: GPT, inputs, targets, loss_mask, logits_where_loss: bool = False) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``loss_mask`` is 1.

    ``logits_where_loss``: compute the logits at those positions only (``TrainConfig.logits_where_loss``);
    the mask must then be 0/1 (every mask here is), as positions are kept, not weighted.
    """
    device = model_device(model)  # batches are built on the CPU; a no-op when the model is there too
    inputs, targets, loss_mask = inputs.to(device), targets.to(device), loss_mask.to(device)
    if logits_where_loss:
        hidden, _ = model(inputs, return_hidden=True)
        keep = loss_mask.bool()
        if not keep.any():
            return hidden.sum() * 0.0  # no counted position: loss 0, as below, and a graph to backprop
        logits = model.logits_from_hidden(hidden[keep])
        return F.cross_entropy(logits.float(), targets[keep])
    logits, _ = model(inputs)
    nll = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    mask = loss_mask.flatten().float()
    return (nll * mask).sum() / mask.sum().clamp(min=1.0)


# ---------------------------------------------------------------- batches

def pack_stream(token_lists: list[list[int]], eos_id: int) -> torch.Tensor:
    """Concatenate documents, each followed by EOS, into one int64 stream."""
    flat = []
    for ids in token_lists:
        flat.extend(ids)
        flat.append(eos_id)
    return torch.tensor(flat, dtype=torch.long)


def pretrain_batches(stream: torch.Tensor, block_size: int, batch_size: int, seed: int) -> Callable[[int], Batch]:
    """Random windows of the packed stream; window starts depend only on (seed, step)."""
    if len(stream) <= block_size + 1:
        raise ValueError(f"corpus stream of {len(stream)} tokens is shorter than block_size+1={block_size + 1}")

    def get(step: int) -> Batch:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        starts = torch.randint(0, len(stream) - block_size - 1, (batch_size,), generator=g)
        idx = starts[:, None] + torch.arange(block_size + 1)
        chunk = stream[idx]
        return chunk[:, :-1], chunk[:, 1:], torch.ones(batch_size, block_size, dtype=torch.long)

    return get


def sft_rows(pairs_ids: list[tuple[list[int], list[int]]], eos_id: int, pad_id: int, block_size: int):
    """(prompt, completion) token pairs -> right-padded rows with a completion-only loss mask.

    Row = prompt + completion + EOS. The loss covers the completion and its EOS,
    never the prompt: the model is taught to *answer*, not to write prompts.
    """
    rows, masks = [], []
    for p, c in pairs_ids:
        if not p:
            raise ValueError("SFT pair has an empty prompt")
        seq = (p + c + [eos_id])[: block_size + 1]
        m = [0] * len(p) + [1] * (len(seq) - len(p))
        rows.append(seq)
        masks.append(m)
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    lm = torch.zeros((len(rows), T), dtype=torch.long)
    for i, (r, m) in enumerate(zip(rows, masks)):
        ids[i, : len(r)] = torch.tensor(r)
        lm[i, : len(m)] = torch.tensor(m)
    return ids, lm


def sft_batches(ids: torch.Tensor, loss_mask: torch.Tensor, batch_size: int, seed: int) -> Callable[[int], Batch]:
    """Random rows; targets are the next tokens, the mask says which targets count."""

    def get(step: int) -> Batch:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        rows = torch.randint(0, len(ids), (batch_size,), generator=g)
        x, m = ids[rows], loss_mask[rows]
        # Trim to the longest row in this batch: right padding only, so no attention mask is needed.
        T = int((m.cumsum(1) * m).argmax(1).max()) + 1
        return x[:, : T - 1], x[:, 1:T], m[:, 1:T]

    return get


# ---------------------------------------------------------------- the loop

@dataclass
class History:
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)


@torch.no_grad()
def evaluate_loss(model: GPT, batches: list[Batch]) -> float:
    was = model.training
    model.eval()
    total, count = 0.0, 0.0
    for x, y, m in batches:
        n = float(m.sum())
        total += lm_loss(model, x, y, m).item() * n
        count += n
    model.train(was)
    return total / max(count, 1.0)


def train(model: GPT, get_batch: Callable[[int], Batch], cfg: TrainConfig, eval_batches: list[Batch] | None = None,
          out_dir=None, desc: str = "train", progress: bool = True, stop_after: int | None = None) -> History:
    """Train ``model`` for ``cfg.steps`` steps, resuming from ``out_dir`` if it holds trainer state.

    ``stop_after`` ends the run early after that many steps (as an interruption
    would), leaving a resumable checkpoint; tests use it to check resumption.
    """
    torch.manual_seed(cfg.seed)
    opt = make_optimizer(model, cfg)
    hist, start = History(), 0
    out = pathlib.Path(out_dir) if out_dir else None
    if out is not None and (out / "trainer.json").exists():
        ckpt.load_weights(model, out)
        step, extra = ckpt.load_trainer_state(out, opt)
        start, hist = step, History.from_dict(extra["history"])

    def save(step: int):
        if out is not None:
            ckpt.save_model(model, out, model.config.to_dict(), {"stage": desc, "step": step})
            ckpt.save_trainer_state(out, opt, step, {"history": hist.to_dict(), "train_config": asdict(cfg)})

    model.train()
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    bar = tqdm(range(start, end), desc=desc, disable=not progress, initial=start, total=cfg.steps)
    t0 = time.perf_counter()
    completed = start  # steps whose update has been applied
    try:
        for step in bar:
            lr = lr_at(step, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            x, y, m = get_batch(step)
            loss = lm_loss(model, x, y, m, cfg.logits_where_loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            completed = step + 1
            hist.step.append(step)
            hist.loss.append(loss.item())
            hist.lr.append(lr)
            hist.tokens += int(x.numel())
            if eval_batches and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
                hist.eval_step.append(step + 1)
                hist.eval_loss.append(evaluate_loss(model, eval_batches))
                bar.set_postfix(loss=f"{hist.loss[-1]:.3f}", val=f"{hist.eval_loss[-1]:.3f}")
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < end:
                hist.seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                save(completed)
    except KeyboardInterrupt:
        # Never lose work: keep what was done so far, resumable.
        hist.seconds += time.perf_counter() - t0
        del hist.step[completed:], hist.loss[completed:], hist.lr[completed:]
        save(completed)
        bar.close()
        raise
    bar.close()
    hist.seconds += time.perf_counter() - t0
    save(completed)
    model.eval()
    return hist
