"""What every task's pipeline shares: the run size, the cache, and stages trained once.

A *stage* (pretraining, SFT, reward model, an RL policy) lives in its own folder of the cache
(``$RLHF_EDU_CACHE``, default ``~/.cache/rlhf_edu``). The folder's name carries a short hash of
every setting that produced it, so a changed setting trains a fresh checkpoint instead of reusing
a stale one. ``cached_stage`` is the one "finished? load : train" block; the task pipelines
(``sentiment/pipeline.py``, ``tldr/pipeline.py``) only say what each stage trains.

Two run sizes, chosen by ``$RLHF_EDU_SIZE`` and read each time a stage runs (not at import):
``full`` (the default, what the notebooks' text discusses) and ``test`` (every training run cut
to a few steps, so that ``pytest`` executes all the notebooks in minutes).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
from typing import Callable

import torch

from . import checkpoint as ckpt
from .model import GPT, GPTConfig, frozen_copy, generate
from .reward_model import RewardModel, calibrate
from .train import History

SIZES = ("full", "test")


def run_size() -> str:
    """The size of every training run: ``$RLHF_EDU_SIZE``, ``full`` unless set."""
    size = os.environ.get("RLHF_EDU_SIZE", "full").strip().lower() or "full"
    if size not in SIZES:
        raise ValueError(f"RLHF_EDU_SIZE must be one of {SIZES}, got {size!r}")
    return size


def full_size() -> bool:
    return run_size() == "full"


def show_progress() -> bool:
    """Progress bars on at full size, off at test size.

    Under pytest a bar's last update can reach the notebook after its cell has finished and land
    in the next cell's output, which nbval then reports as a difference. Pass ``progress=True`` to
    any stage to see them anyway.
    """
    return full_size()


def describe_size() -> str:
    """One line a notebook prints first, so nobody mistakes a test-size run for the real one."""
    if full_size():
        return "Full size (RLHF_EDU_SIZE=full): the numbers below are the ones the text discusses."
    return ("TEST SIZE (RLHF_EDU_SIZE=test, as under pytest): every training run is cut to a few steps so "
            "the notebook executes quickly. The numbers below are NOT the ones the text discusses, and "
            "the checks on training results are skipped.")


def cache_dir() -> pathlib.Path:
    d = pathlib.Path(os.environ.get("RLHF_EDU_CACHE", pathlib.Path.home() / ".cache" / "rlhf_edu"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def key(obj) -> str:
    """A short, stable hash of any JSON-able settings (dataclasses via ``asdict`` first)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def stage_dir(name: str, *settings) -> pathlib.Path:
    """The cache folder of stage ``name`` trained with these settings."""
    return cache_dir() / f"{name}-{key(list(settings))}"


def stage_settings(setup, fields) -> dict:
    """The settings of ``setup`` (a dataclass) that a stage's key covers.

    Each task lists, in its ``STAGE_FIELDS`` table, the fields every stage reads (its own and its
    predecessors'), so that a new PPO beta retrains neither pretraining, SFT nor the reward model,
    and every setting a stage reads changes its key.
    """
    values = dataclasses.asdict(setup)
    unknown = [f for f in fields if f not in values]
    if unknown:
        raise ValueError(f"{type(setup).__name__} has no field(s) {unknown}")
    return {f: values[f] for f in fields}


def with_max_new_tokens(setup, n: int):
    """A copy of a task's setup whose ``max_new_tokens`` and every RL config's are ``n``."""
    values = {f.name: getattr(setup, f.name) for f in dataclasses.fields(setup)}
    changes = {name: dataclasses.replace(v, max_new_tokens=n) for name, v in values.items()
               if dataclasses.is_dataclass(v) and hasattr(v, "max_new_tokens")}
    return dataclasses.replace(setup, max_new_tokens=n, **changes)


def check_max_new_tokens(setup, configs: dict) -> None:
    """Every RL config of a task samples as many new tokens as the task's setup says (one setting)."""
    for name, cfg in configs.items():
        if cfg.max_new_tokens != setup.max_new_tokens:
            raise ValueError(f"{name}.max_new_tokens ({cfg.max_new_tokens}) must equal max_new_tokens "
                             f"({setup.max_new_tokens}): set max_new_tokens to change them all")


# ---------------------------------------------------------------- loading and the cache

def load_model(directory) -> GPT:
    """A GPT from a checkpoint folder (config.json + model.safetensors)."""
    cfg = ckpt.read_config(directory)["config"]
    try:
        model = GPT(GPTConfig(**cfg))
    except TypeError as e:
        raise ckpt.CheckpointError(f"{directory}: config.json does not describe a GPT ({e})") from e
    ckpt.load_weights(model, directory)
    return model.eval()


def load_reward_model(directory) -> RewardModel:
    cfg = ckpt.read_config(directory)["config"]
    rm = RewardModel(GPT(GPTConfig(**cfg)))
    ckpt.load_weights(rm, directory)
    return rm.eval()


def lm_history(directory) -> History | None:
    """The loss history a (pre)training stage saved next to its checkpoint."""
    p = pathlib.Path(directory) / "trainer.json"
    if not p.exists():
        return None
    return History.from_dict(json.loads(p.read_text())["extra"]["history"])


def finished(directory, steps: int | None = None) -> bool:
    """Is the stage in ``directory`` complete?

    Language-model stages (``steps`` given) checkpoint on the way and resume, so a folder with
    weights may hold half a run: they are done when ``trainer.json`` reached ``steps``. The other
    stages write their weights once, at the end.
    """
    d = pathlib.Path(directory)
    if steps is None:
        return (d / "model.safetensors").exists()
    p = d / "trainer.json"
    return p.exists() and json.loads(p.read_text())["step"] >= steps


def cached_stage(directory, train: Callable, load: Callable, retrain: bool = False, steps: int | None = None):
    """The one "finished? load : train" block: ``load(directory)`` if done, else ``train(directory)``.

    ``retrain`` deletes the folder first. ``train`` saves into ``directory`` (a language-model
    stage resumes from what it finds there).
    """
    directory = pathlib.Path(directory)
    if retrain and directory.exists():
        shutil.rmtree(directory)
    if finished(directory, steps):
        return load(directory)
    return train(directory)


def load_lm_stage(directory):
    return load_model(directory), lm_history(directory)


def load_rm_stage(directory):
    return load_reward_model(directory), ckpt.read_config(directory)["meta"]


def load_policy_stage(directory):
    return load_model(directory), ckpt.read_config(directory)["meta"]["history"]


# ---------------------------------------------------------------- steps both tasks take

def calibrate_on_samples(rm: RewardModel, sft: GPT, tokenizer, prompts: list[str], n_samples: int,
                         max_new_tokens: int, seed: int) -> tuple[float, float]:
    """Set the reward model's gain and bias on what RL will score: SFT samples for RL prompts.

    Scores of these samples then have mean 0 and std 1, which keeps beta meaningful.
    """
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, len(prompts), (n_samples,), generator=g).tolist()
    gen = generate(sft, tokenizer.encode_batch([prompts[i] for i in pick]), max_new_tokens, tokenizer.eos_id,
                   tokenizer.pad_id, generator=g)
    return calibrate(rm, gen.sequences, gen.attention_mask)


def train_policy(kind: str, sft: GPT, rm: RewardModel, tokenizer, prompts: list[str], cfg, progress: bool = True,
                 pairs: list[tuple[str, str]] | None = None, start: GPT | None = None):
    """RL (or DPO) from the SFT model against a frozen copy of it. Returns (policy, per-iteration history).

    ``kind`` names the algorithm (``algorithms.ALGORITHMS``). One that samples learns from the reward
    model's scores of its own completions of ``prompts``; DPO learns from preference ``pairs``.
    ``start``: train a copy of this model instead of the SFT model (the reference stays SFT), e.g.
    to continue from an earlier policy.
    """
    from . import algorithms

    algo = algorithms.get(kind)
    if not isinstance(cfg, algo.config):
        raise ValueError(f"{kind} needs a {algo.config.__name__}, got {type(cfg).__name__}")
    policy, reference = copy.deepcopy(sft if start is None else start), frozen_copy(sft)
    if algo.samples:
        _, history = algo.train(policy, reference, rm, tokenizer, prompts, cfg, progress=progress)
    else:
        if not pairs:
            raise ValueError(f"{kind} trains on preference pairs: pass pairs=[(chosen text, rejected text), ...]")
        _, history = algo.train(policy, reference, tokenizer, pairs, cfg, progress=progress, reward_model=rm,
                                prompts=prompts)
    return policy.eval(), history
