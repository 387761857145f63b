"""The sentiment pipeline's stages, each cached on disk and trained when absent.

Every later notebook starts with e.g. ``sft = pipeline.sft_model()``: it loads
the checkpoint from the cache if one exists for these exact settings, and
trains it (with a progress bar) if not. So each notebook also runs on its own.

The cache lives in ``$RLHF_EDU_CACHE`` (default ``~/.cache/rlhf_edu``). Each
stage's folder name carries a short hash of every setting that produced it
(that stage's and earlier stages', not later ones'), so changing a setting
retrains the stages it affects instead of reusing a stale checkpoint, and only those.

Two sizes, chosen by ``$RLHF_EDU_SIZE``: ``full`` (the default, what the notebooks'
text discusses) and ``test`` (every training run cut to a few steps, so that
``pytest`` can execute all the notebooks in minutes; the repository's
``conftest.py`` selects it). The corpus and tokenizer are the same at both sizes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pathlib
import shutil
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import torch

from . import checkpoint as ckpt
from . import data
from .model import GPT, GPTConfig, generate, micro_config
from .policy_gradient import PGConfig, train_policy_gradient
from .ppo import PPOConfig, frozen_copy, train_ppo
from .reward_model import (RewardModel, RMTrainConfig, calibrate, pairwise_accuracy, preference_pairs,
                           train_reward_model)
from .tokenizer import BPETokenizer
from .train import (History, TrainConfig, pack_stream, pretrain_batches, sft_batches, sft_rows,
                    train)


SIZES = ("full", "test")


def run_size() -> str:
    """The size of every training run: ``$RLHF_EDU_SIZE``, ``full`` unless set."""
    size = os.environ.get("RLHF_EDU_SIZE", "full").strip().lower() or "full"
    if size not in SIZES:
        raise ValueError(f"RLHF_EDU_SIZE must be one of {SIZES}, got {size!r}")
    return size


SIZE = run_size()
FULL_SIZE = SIZE == "full"
# Progress bars write to stderr. Under pytest (test size) they are off: a bar's last update can
# reach the notebook after its cell has finished and land in the next cell's output, which nbval
# then reports as a difference. Pass progress=True to any stage to see them anyway.
SHOW_PROGRESS = FULL_SIZE


def describe_size() -> str:
    """One line a notebook prints first, so nobody mistakes a test-size run for the real one."""
    if FULL_SIZE:
        return "Full size (RLHF_EDU_SIZE=full): the numbers below are the ones the text discusses."
    return ("TEST SIZE (RLHF_EDU_SIZE=test, as under pytest): every training run is cut to a few steps so "
            "the notebook executes quickly. The numbers below are NOT the ones the text discusses, and "
            "the checks on training results are skipped.")


def cache_dir() -> pathlib.Path:
    d = pathlib.Path(os.environ.get("RLHF_EDU_CACHE", pathlib.Path.home() / ".cache" / "rlhf_edu"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclass
class SentimentSetup:
    """Every setting of stages 1-2 (corpus, tokenizer, model shape, training)."""

    corpus_size: int = 60_000
    corpus_seed: int = 0
    vocab_size: int = 2048
    block_size: int = 48        # tweets average ~18 tokens; prompt + 24 new tokens fit easily
    # Sized for a 2-core laptop CPU: a few minutes for both stages.
    pretrain: TrainConfig = field(default_factory=lambda: TrainConfig(steps=150, batch_size=32, lr=3e-3,
                                                                      warmup_steps=15, eval_every=50,
                                                                      checkpoint_every=50))
    sft: TrainConfig = field(default_factory=lambda: TrainConfig(steps=100, batch_size=32, lr=1e-3,
                                                                 warmup_steps=10, eval_every=50, seed=1))

    def model_config(self, vocab_size: int) -> GPTConfig:
        return micro_config(vocab_size=vocab_size, block_size=self.block_size)


    @classmethod
    def test_size(cls) -> "SentimentSetup":
        """Same corpus, tokenizer and model; a few training steps only (see the module docstring)."""
        return cls(pretrain=TrainConfig(steps=8, batch_size=16, lr=3e-3, warmup_steps=2, eval_every=4,
                                        checkpoint_every=0),
                   sft=TrainConfig(steps=6, batch_size=16, lr=1e-3, warmup_steps=2, eval_every=3, seed=1,
                                   checkpoint_every=0))


DEFAULT = SentimentSetup() if FULL_SIZE else SentimentSetup.test_size()


def corpus(size: int = DEFAULT.corpus_size, seed: int = DEFAULT.corpus_seed) -> dict:
    """The offline tweet corpus, split into train / val / test (generated once per process)."""
    return _corpus(size, seed)  # one cache key for corpus() and corpus(size, seed)


@lru_cache(maxsize=4)
def _corpus(size: int, seed: int) -> dict:
    return data.load_tweets("synthetic", n=size, seed=seed)


def tokenizer(setup: SentimentSetup = DEFAULT) -> BPETokenizer:
    """The compact BPE, trained on the training split once and cached."""
    path = cache_dir() / f"tokenizer-bpe-{setup.vocab_size}-{_key([setup.corpus_size, setup.corpus_seed])}.json"
    if path.exists():
        return BPETokenizer.load(path)
    tok = BPETokenizer.train([t.text for t in corpus(setup.corpus_size, setup.corpus_seed)["train"]],
                             vocab_size=setup.vocab_size)
    tok.save(path)
    return tok


def _stage_dir(name: str, setup: SentimentSetup, *parts) -> pathlib.Path:
    # The key covers what the stage depends on: pretraining ignores the SFT settings, so changing
    # SFT does not retrain stage 1.
    settings = asdict(setup)
    if name == "pretrain":
        del settings["sft"]
    return cache_dir() / f"{name}-{_key([settings] + list(parts))}"


def load_model(directory) -> GPT:
    """A GPT from a checkpoint folder (config.json + model.safetensors)."""
    cfg = ckpt.read_config(directory)["config"]
    try:
        model = GPT(GPTConfig(**cfg))
    except TypeError as e:
        raise ckpt.CheckpointError(f"{directory}: config.json does not describe a GPT ({e})") from e
    ckpt.load_weights(model, directory)
    return model.eval()


def _history(directory) -> History | None:
    p = pathlib.Path(directory) / "trainer.json"
    if not p.exists():
        return None
    return History.from_dict(json.loads(p.read_text())["extra"]["history"])


def _finished(directory, steps: int) -> bool:
    p = pathlib.Path(directory) / "trainer.json"
    return p.exists() and json.loads(p.read_text())["step"] >= steps


def tweet_ids(split: str, setup: SentimentSetup = DEFAULT) -> list[list[int]]:
    """Token ids of every tweet of a split, encoded once and cached as .npy (no pickle)."""
    import numpy as np

    path = cache_dir() / f"ids-{split}-{setup.vocab_size}-{_key([setup.corpus_size, setup.corpus_seed])}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        flat, offsets = z["flat"].tolist(), z["offsets"].tolist()
        return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    tok = tokenizer(setup)
    ids = tok.encode_batch([t.text for t in corpus(setup.corpus_size, setup.corpus_seed)[split]])
    offsets = np.cumsum([0] + [len(i) for i in ids])
    np.savez(path, flat=np.array([x for i in ids for x in i], dtype=np.int32), offsets=offsets)
    return ids


def pretrain_data(setup: SentimentSetup = DEFAULT):
    """(train batch function, fixed validation batches) for next-token prediction."""
    tok = tokenizer(setup)
    train_stream = pack_stream(tweet_ids("train", setup), tok.eos_id)
    val_stream = pack_stream(tweet_ids("val", setup), tok.eos_id)
    get = pretrain_batches(train_stream, setup.block_size, setup.pretrain.batch_size, setup.pretrain.seed)
    val_get = pretrain_batches(val_stream, setup.block_size, 64, seed=12345)
    return get, [val_get(i) for i in range(2)]


def sft_data(setup: SentimentSetup = DEFAULT):
    """(train batch function, validation batches) of prompt -> completion pairs."""
    tok = tokenizer(setup)
    splits = corpus(setup.corpus_size, setup.corpus_seed)

    def rows(split, seed, limit):
        # SFT takes steps * batch_size rows at most: encode a shuffled subset, not the whole split.
        pairs = data.prompt_completion_pairs(splits[split], seed=seed)
        pairs = [pairs[i] for i in torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:limit]]
        p_ids = tok.encode_batch([p for p, _ in pairs])
        c_ids = tok.encode_batch([c for _, c in pairs])
        return sft_rows(list(zip(p_ids, c_ids)), tok.eos_id, tok.pad_id, setup.block_size - 1)

    ids, mask = rows("train", setup.sft.seed, setup.sft.steps * setup.sft.batch_size)
    vids, vmask = rows("val", 12345, 256)
    get = sft_batches(ids, mask, setup.sft.batch_size, setup.sft.seed)
    val_get = sft_batches(vids, vmask, 64, seed=12345)
    return get, [val_get(i) for i in range(2)]


def pretrained_model(setup: SentimentSetup = DEFAULT, retrain: bool = False, progress: bool = SHOW_PROGRESS):
    """Stage 1: the micro GPT-2 pretrained on the tweet corpus. Returns (model, history)."""
    d = _stage_dir("pretrain", setup)
    if retrain and d.exists():
        shutil.rmtree(d)
    if _finished(d, setup.pretrain.steps):
        return load_model(d), _history(d)
    tok = tokenizer(setup)
    torch.manual_seed(setup.pretrain.seed)
    model = GPT(setup.model_config(tok.vocab_size))
    get, val = pretrain_data(setup)
    hist = train(model, get, setup.pretrain, val, out_dir=d, desc="pretrain", progress=progress)
    return model.eval(), hist


def sft_model(setup: SentimentSetup = DEFAULT, retrain: bool = False, progress: bool = SHOW_PROGRESS):
    """Stage 2: supervised fine-tuning on prompt -> completion pairs. Returns (model, history)."""
    d = _stage_dir("sft", setup)
    if retrain and d.exists():
        shutil.rmtree(d)
    if _finished(d, setup.sft.steps):
        return load_model(d), _history(d)
    model, _ = pretrained_model(setup, retrain=False, progress=progress)
    get, val = sft_data(setup)
    hist = train(model, get, setup.sft, val, out_dir=d, desc="sft", progress=progress)
    return model.eval(), hist


# ---------------------------------------------------------------- stages 3 and 4

@dataclass
class RLHFSetup:
    """Settings of the reward model and the RL stages (on top of ``SentimentSetup``)."""

    rm_pairs: int = 5_000
    rm_heldout_pairs: int = 2_000
    rm: RMTrainConfig = field(default_factory=lambda: RMTrainConfig(steps=80, batch_size=32, lr=5e-4))
    calibration_samples: int = 512
    max_new_tokens: int = 24
    ppo: PPOConfig = field(default_factory=PPOConfig)
    pg: PGConfig = field(default_factory=PGConfig)
    calibration_seed: int = 2024
    # Notebook 10's beta sweep: one short PPO run per beta. Fewer iterations than notebook 09 but a
    # harder push (lr 1e-3 instead of 3e-4), so that at beta = 0 the exploit shows within a CPU budget.
    sweep_betas: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.3)
    sweep: PPOConfig = field(default_factory=lambda: PPOConfig(iterations=16, ppo_epochs=4, lr=1e-3))

    @classmethod
    def test_size(cls) -> "RLHFSetup":
        """A few steps of every stage (see the module docstring): it runs, it proves nothing."""
        ppo = PPOConfig(iterations=2, batch_size=16, minibatch_size=8, ppo_epochs=2)
        return cls(rm_pairs=400, rm_heldout_pairs=200, rm=RMTrainConfig(steps=6, batch_size=16, lr=5e-4),
                   calibration_samples=64, ppo=ppo, pg=PGConfig(iterations=2, batch_size=16),
                   sweep_betas=(0.0, 0.3), sweep=PPOConfig(iterations=1, batch_size=16, minibatch_size=8,
                                                           ppo_epochs=1))


RLHF_DEFAULT = RLHFSetup() if FULL_SIZE else RLHFSetup.test_size()


def rl_prompts(setup: SentimentSetup = DEFAULT) -> list[str]:
    """Training prompts for RL: the first few words of training tweets (the SFT prompts)."""
    pairs = data.prompt_completion_pairs(corpus(setup.corpus_size, setup.corpus_seed)["train"], seed=7)
    return sorted({p for p, _ in pairs})


EVAL_PROMPTS = 48 if FULL_SIZE else 8  # x 4 samples each in every evaluation table


def evaluation_prompts(n: int | None = None) -> list[str]:
    """The fixed held-out prompt set every notebook and the CLI evaluate on (48 at full size)."""
    return data.eval_prompts(EVAL_PROMPTS if n is None else n)


def load_reward_model(directory) -> RewardModel:
    cfg = ckpt.read_config(directory)["config"]
    rm = RewardModel(GPT(GPTConfig(**cfg)))
    ckpt.load_weights(rm, directory)
    return rm.eval()


def reward_model(setup: SentimentSetup = DEFAULT, rl: RLHFSetup = RLHF_DEFAULT, retrain: bool = False,
                 progress: bool = SHOW_PROGRESS):
    """Stage 3: Bradley-Terry reward model on corpus preference pairs, calibrated on SFT samples.

    Returns (reward model, info) with info = held-out accuracy, loss history, gain and bias.
    """
    d = _rm_dir(setup, rl)
    if retrain and d.exists():
        shutil.rmtree(d)
    if (d / "model.safetensors").exists():
        return load_reward_model(d), ckpt.read_config(d)["meta"]
    sft, _ = sft_model(setup, progress=progress)
    tok = tokenizer(setup)
    splits = corpus(setup.corpus_size, setup.corpus_seed)
    rm = RewardModel(copy.deepcopy(sft), seed=rl.rm.seed)
    pairs = preference_pairs(splits["train"], rl.rm_pairs, seed=rl.rm.seed)
    held_out = preference_pairs(splits["test"], rl.rm_heldout_pairs, seed=99)
    hist = train_reward_model(rm, tok, pairs, rl.rm, progress=progress)
    accuracy = pairwise_accuracy(rm, tok, held_out)
    # Calibrate on what the RL stage will actually score: SFT samples for the RL prompts.
    prompts = rl_prompts(setup)
    g = torch.Generator().manual_seed(rl.calibration_seed)
    pick = torch.randint(0, len(prompts), (rl.calibration_samples,), generator=g).tolist()
    gen = generate(sft, tok.encode_batch([prompts[i] for i in pick]), rl.max_new_tokens, tok.eos_id,
                   tok.pad_id, generator=g)
    gain, bias = calibrate(rm, gen.sequences, gen.attention_mask)
    meta = {"stage": "reward_model", "heldout_accuracy": accuracy, "gain": gain, "bias": bias, "history": hist}
    ckpt.save_model(rm, d, sft.config.to_dict(), meta)
    return rm, meta


def _rm_settings(rl: RLHFSetup) -> list:
    """Every RLHFSetup setting the reward model (training, held-out score, calibration) reads."""
    return [asdict(rl.rm), rl.rm_pairs, rl.rm_heldout_pairs, rl.calibration_samples, rl.max_new_tokens,
            rl.calibration_seed]


def _rm_dir(setup: SentimentSetup, rl: RLHFSetup) -> pathlib.Path:
    return _stage_dir("rm", setup, *_rm_settings(rl))


def _policy_dir(kind: str, setup: SentimentSetup, rl: RLHFSetup, cfg) -> pathlib.Path:
    # The policy trains against the calibrated reward model: every RM setting is part of its key.
    return _stage_dir(kind, setup, *_rm_settings(rl), asdict(cfg))


def _policy_stage(kind: str, setup: SentimentSetup, rl: RLHFSetup, cfg, retrain: bool, progress: bool):
    d = _policy_dir(kind, setup, rl, cfg)
    if retrain and d.exists():
        shutil.rmtree(d)
    if (d / "model.safetensors").exists():
        return load_model(d), ckpt.read_config(d)["meta"]["history"]
    sft, _ = sft_model(setup, progress=progress)
    rm, _ = reward_model(setup, rl, progress=progress)
    tok = tokenizer(setup)
    policy, reference = copy.deepcopy(sft), frozen_copy(sft)
    if kind == "ppo":
        _, history = train_ppo(policy, reference, rm, tok, rl_prompts(setup), cfg, progress=progress)
    else:
        _, history = train_policy_gradient(policy, reference, rm, tok, rl_prompts(setup), cfg, progress=progress)
    ckpt.save_model(policy, d, policy.config.to_dict(), {"stage": kind, "history": history})
    return policy.eval(), history


def ppo_policy(setup: SentimentSetup = DEFAULT, rl: RLHFSetup = RLHF_DEFAULT, cfg: PPOConfig | None = None,
               retrain: bool = False, progress: bool = SHOW_PROGRESS):
    """Stage 4 with PPO. Returns (policy, per-iteration history)."""
    return _policy_stage("ppo", setup, rl, cfg or rl.ppo, retrain, progress)


def pg_policy(setup: SentimentSetup = DEFAULT, rl: RLHFSetup = RLHF_DEFAULT, cfg: PGConfig | None = None,
              retrain: bool = False, progress: bool = SHOW_PROGRESS):
    """Stage 4 with the vanilla policy-gradient loop. Returns (policy, per-iteration history)."""
    return _policy_stage("pg", setup, rl, cfg or rl.pg, retrain, progress)
