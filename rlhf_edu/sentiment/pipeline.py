"""The sentiment task's stages: pretrain -> SFT -> reward model -> RL, each cached on disk.

Every later notebook starts with e.g. ``sft, _ = pipeline.sft_model()``: it loads the checkpoint
from the cache if one exists for these exact settings, and trains it (with a progress bar) if
not. So each notebook also runs on its own. How the cache works, and the two run sizes (``full``
and ``test``, from ``$RLHF_EDU_SIZE``), is ``stages.py``; this module only says what each stage
trains and with which settings. A stage's key covers its own and earlier stages' settings, not
later ones': a new PPO beta retrains neither pretraining, SFT nor the reward model.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import torch

from .. import algorithms, stages, words
from .. import checkpoint as ckpt
from ..dpo import DPOConfig
from ..grpo import GRPOConfig
from ..model import GPT, GPTConfig, micro_config
from ..policy_gradient import PGConfig
from ..ppo import PPOConfig
from ..reward_model import RewardModel, RMTrainConfig, pairwise_accuracy, preference_pairs, train_reward_model
from ..rloo import RLOOConfig
from ..tokenizer import BPETokenizer
from ..train import TrainConfig, pack_stream, pretrain_batches, sft_batches, sft_rows, train
from . import corpus as tweets


@dataclass
class SentimentSetup:
    """Every setting of stages 1-2 (corpus, tokenizer, model shape, training)."""

    corpus_size: int = 60_000
    corpus_seed: int = 0
    vocab_size: int = 2048
    block_size: int = 48        # tweets average ~18 tokens; prompt + 24 new tokens fit easily
    # Sized for a 2-core laptop CPU; why 600 + 200 steps: docs/tuning-notes.md.
    pretrain: TrainConfig = field(default_factory=lambda: TrainConfig(steps=600, batch_size=32, lr=3e-3,
                                                                      warmup_steps=30, eval_every=120,
                                                                      checkpoint_every=120))
    sft: TrainConfig = field(default_factory=lambda: TrainConfig(steps=200, batch_size=32, lr=1e-3,
                                                                 warmup_steps=20, eval_every=50, seed=1))

    def model_config(self, vocab_size: int) -> GPTConfig:
        return micro_config(vocab_size=vocab_size, block_size=self.block_size)

    @classmethod
    def test_size(cls) -> "SentimentSetup":
        """Same corpus, tokenizer and model; a few training steps only (see ``stages.py``)."""
        return cls(pretrain=TrainConfig(steps=8, batch_size=16, lr=3e-3, warmup_steps=2, eval_every=4,
                                        checkpoint_every=0),
                   sft=TrainConfig(steps=6, batch_size=16, lr=1e-3, warmup_steps=2, eval_every=3, seed=1,
                                   checkpoint_every=0))


@dataclass
class RLHFSetup:
    """Settings of the reward model and the RL stages (on top of ``SentimentSetup``).

    ``max_new_tokens`` is set once here: every RL config must agree (checked). Test size is full size
    with fewer and smaller steps: the same beta, learning rate and clip, so it runs the same code paths.
    """

    rm_pairs: int = 5_000
    rm_heldout_pairs: int = 2_000
    rm: RMTrainConfig = field(default_factory=lambda: RMTrainConfig(steps=80, batch_size=32, lr=5e-4))
    calibration_samples: int = 512
    max_new_tokens: int = 24
    eval_prompts: int = 48          # prompts every table is measured on (8 samples' worth at test size)
    heldout_prompts: int = 37       # held-out prompts (corpus.HELDOUT_OPENERS) the CLI's headline is measured on
    # PPO: why beta 0.07 and four completions per prompt: docs/tuning-notes.md
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(beta=0.07, samples_per_prompt=4))
    pg: PGConfig = field(default_factory=PGConfig)
    # The algorithms of notebook 12, with the same sampled-completion budget as PPO (60 x 32) and,
    # for DPO, the reward model's own preference pairs.
    rloo: RLOOConfig = field(default_factory=RLOOConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    calibration_seed: int = 2024
    # Notebook 10's beta sweep: notebook 09's PPO run (healthy updates) at each beta; the default beta's
    # runs are notebook 09's own (the same cached stages).
    sweep_betas: tuple[float, ...] = (0.0, 0.01, 0.07, 0.3)
    sweep: PPOConfig = field(default_factory=lambda: PPOConfig(beta=0.07, samples_per_prompt=4))
    # Notebook 12 and `rlhf-edu compare` (sentiment/compare.py): every algorithm at its default settings
    # but with one smaller budget, so that 3 seeds and a beta sweep of each fit in minutes: the on-policy
    # methods sample compare_iterations x 32 completions; DPO reads as many pairs as the reward model was
    # trained on (rm.steps x rm.batch_size). compare_betas: the sweep of each, its default beta included,
    # chosen so that every seed's frontier of every algorithm shares a range of KL (judged at equal KL):
    # with RLOO at (0.03, 0.1, 0.3) and GRPO at (0.05, 0.2, 0.5), RLOO's frontiers all started above KL
    # 4.6 and GRPO's all ended below 4.3 (full size), so no KL lay inside both.
    compare_iterations: int = 30
    compare_betas: dict = field(default_factory=lambda: {"ppo": (0.03, 0.07, 0.2), "pg": (0.03, 0.1, 0.3),
                                                         "rloo": (0.1, 0.3, 1.0), "grpo": (0.02, 0.05, 0.2),
                                                         "dpo": (0.1, 0.3, 1.0)})

    def __post_init__(self):
        if not 1 <= self.heldout_prompts <= len(tweets.HELDOUT_OPENERS):
            raise ValueError(f"heldout_prompts must be in [1, {len(tweets.HELDOUT_OPENERS)}], "
                             f"got {self.heldout_prompts}")
        if not 1 <= self.eval_prompts <= len(tweets.OPENERS):
            raise ValueError(f"eval_prompts must be in [1, {len(tweets.OPENERS)}] (the openers there are), "
                             f"got {self.eval_prompts}")
        stages.check_max_new_tokens(self, {name: getattr(self, name) for name in (*algorithms.NAMES, "sweep")})

    @classmethod
    def test_size(cls) -> "RLHFSetup":
        """Full size's settings, a few small steps of every stage (see ``stages.py``): it runs, it proves nothing."""
        full = cls()
        small = dict(iterations=2, batch_size=16)
        return cls(rm_pairs=400, rm_heldout_pairs=200, rm=replace(full.rm, steps=6, batch_size=16),
                   calibration_samples=64, eval_prompts=8, heldout_prompts=8,
                   ppo=replace(full.ppo, minibatch_size=8, ppo_epochs=2, **small),
                   pg=replace(full.pg, **small),
                   rloo=replace(full.rloo, iterations=2, prompts_per_iteration=4),
                   grpo=replace(full.grpo, iterations=2, prompts_per_iteration=4, epochs=2, minibatch_size=8),
                   dpo=replace(full.dpo, epochs=1, batch_size=16),
                   sweep_betas=(0.0, 0.3), sweep=replace(full.sweep, iterations=1, batch_size=16, minibatch_size=8,
                                                         ppo_epochs=1),
                   compare_iterations=1, compare_betas={"ppo": (0.07, 0.2), "pg": (0.1, 0.3), "rloo": (0.1, 0.3),
                                                        "grpo": (0.2, 0.5), "dpo": (0.3, 1.0)})


def setup() -> SentimentSetup:
    """Stages 1-2 settings at the current run size (``$RLHF_EDU_SIZE``, read now)."""
    return SentimentSetup() if stages.full_size() else SentimentSetup.test_size()


def rl_setup() -> RLHFSetup:
    """Reward-model and RL settings at the current run size."""
    return RLHFSetup() if stages.full_size() else RLHFSetup.test_size()


# ---------------------------------------------------------------- data

def corpus(s: SentimentSetup | None = None) -> dict:
    """The offline tweet corpus, split into train / val / test (generated once per process)."""
    s = s or setup()
    return _corpus(s.corpus_size, s.corpus_seed)


@lru_cache(maxsize=4)
def _corpus(size: int, seed: int) -> dict:
    return tweets.load_tweets("synthetic", n=size, seed=seed)


def vocabulary(s: SentimentSetup | None = None) -> frozenset[str]:
    """Every word of the training tweets: what ``words.real_word_rate`` checks completions against."""
    s = s or setup()
    return _vocabulary(s.corpus_size, s.corpus_seed)


@lru_cache(maxsize=4)
def _vocabulary(size: int, seed: int) -> frozenset[str]:
    return words.corpus_vocabulary(t.text for t in _corpus(size, seed)["train"])


def tokenizer(s: SentimentSetup | None = None) -> BPETokenizer:
    """The compact BPE, trained on the training split once and cached."""
    s = s or setup()
    path = stages.cache_dir() / f"tokenizer-bpe-{s.vocab_size}-{stages.key([s.corpus_size, s.corpus_seed])}.json"
    if path.exists():
        return BPETokenizer.load(path)
    tok = BPETokenizer.train([t.text for t in corpus(s)["train"]], vocab_size=s.vocab_size)
    tok.save(path)
    return tok


def tweet_ids(split: str, s: SentimentSetup | None = None) -> list[list[int]]:
    """Token ids of every tweet of a split, encoded once and cached as .npz (no pickle)."""
    import numpy as np

    s = s or setup()
    path = stages.cache_dir() / f"ids-{split}-{s.vocab_size}-{stages.key([s.corpus_size, s.corpus_seed])}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        flat, offsets = z["flat"].tolist(), z["offsets"].tolist()
        return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    ids = tokenizer(s).encode_batch([t.text for t in corpus(s)[split]])
    offsets = np.cumsum([0] + [len(i) for i in ids])
    np.savez(path, flat=np.array([x for i in ids for x in i], dtype=np.int32), offsets=offsets)
    return ids


def pretrain_data(s: SentimentSetup | None = None):
    """(train batch function, fixed validation batches) for next-token prediction."""
    s = s or setup()
    tok = tokenizer(s)
    train_stream = pack_stream(tweet_ids("train", s), tok.eos_id)
    val_stream = pack_stream(tweet_ids("val", s), tok.eos_id)
    get = pretrain_batches(train_stream, s.block_size, s.pretrain.batch_size, s.pretrain.seed)
    val_get = pretrain_batches(val_stream, s.block_size, 64, seed=12345)
    return get, [val_get(i) for i in range(2)]


def sft_data(s: SentimentSetup | None = None):
    """(train batch function, validation batches) of prompt -> completion pairs."""
    s = s or setup()
    tok = tokenizer(s)
    splits = corpus(s)

    def rows(split, seed, limit):
        # SFT takes steps * batch_size rows at most: encode a shuffled subset, not the whole split.
        pairs = tweets.prompt_completion_pairs(splits[split], seed=seed)
        pairs = [pairs[i] for i in torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:limit]]
        p_ids = tok.encode_batch([p for p, _ in pairs])
        c_ids = tok.encode_batch([c for _, c in pairs])
        return sft_rows(list(zip(p_ids, c_ids)), tok.eos_id, tok.pad_id, s.block_size - 1)

    ids, mask = rows("train", s.sft.seed, s.sft.steps * s.sft.batch_size)
    vids, vmask = rows("val", 12345, 256)
    get = sft_batches(ids, mask, s.sft.batch_size, s.sft.seed)
    val_get = sft_batches(vids, vmask, 64, seed=12345)
    return get, [val_get(i) for i in range(2)]


def rl_prompts(s: SentimentSetup | None = None) -> list[str]:
    """Training prompts for RL: the first few words of training tweets (the SFT prompts)."""
    pairs = tweets.prompt_completion_pairs(corpus(s)["train"], seed=7)
    return sorted({p for p, _ in pairs})


def heldout_prompts(rl: RLHFSetup | None = None) -> list[str]:
    """Prompts no training tweet starts with (``corpus.HELDOUT_OPENERS``): where RL is judged to generalise."""
    return tweets.heldout_prompts((rl or rl_setup()).heldout_prompts)


def training_prompts(n: int, s: SentimentSetup | None = None, seed: int = 0) -> list[str]:
    """``n`` of the RL training prompts, drawn once (seeded): the same policy on what it trained on."""
    prompts = rl_prompts(s)
    pick = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    return [prompts[i] for i in sorted(pick)]


def prompt_sets(s: SentimentSetup | None = None, rl: RLHFSetup | None = None) -> dict[str, list[str]]:
    """{"held-out": the headline prompts, "training": as many RL training prompts}: the same policy on both."""
    heldout = heldout_prompts(rl)
    return {"held-out": heldout, "training": training_prompts(len(heldout), s)}


def evaluation_prompts(n: int | None = None, rl: RLHFSetup | None = None) -> list[str]:
    """The fixed prompt set every notebook and the CLI evaluate on (``RLHFSetup.eval_prompts`` of them)."""
    return tweets.eval_prompts((rl or rl_setup()).eval_prompts if n is None else n)


# ---------------------------------------------------------------- the stages

# The settings each stage's key covers, its own and its predecessors' (``stages.stage_settings``): a new
# PPO beta retrains neither pretraining, SFT nor the reward model. "rm" lists RLHFSetup's fields, on
# top of SFT's; an RL stage's key adds its algorithm's config.
_PRETRAIN_FIELDS = ("corpus_size", "corpus_seed", "vocab_size", "block_size", "pretrain")
STAGE_FIELDS = {
    "pretrain": _PRETRAIN_FIELDS,
    "sft": _PRETRAIN_FIELDS + ("sft",),
    "rm": ("rm", "rm_pairs", "rm_heldout_pairs", "calibration_samples", "max_new_tokens", "calibration_seed"),
}


def _pretrain_dir(s: SentimentSetup):
    return stages.stage_dir("pretrain", stages.stage_settings(s, STAGE_FIELDS["pretrain"]))


def pretrained_model(s: SentimentSetup | None = None, retrain: bool = False, progress: bool | None = None):
    """Stage 1: the micro GPT-2 pretrained on the tweet corpus. Returns (model, history)."""
    s = s or setup()
    progress = stages.show_progress() if progress is None else progress

    def fit(d):
        tok = tokenizer(s)
        torch.manual_seed(s.pretrain.seed)
        model = GPT(s.model_config(tok.vocab_size))
        get, val = pretrain_data(s)
        hist = train(model, get, s.pretrain, val, out_dir=d, desc="pretrain", progress=progress)
        return model.eval(), hist

    return stages.cached_stage(_pretrain_dir(s), fit, stages.load_lm_stage, retrain, steps=s.pretrain.steps)


def sft_model(s: SentimentSetup | None = None, retrain: bool = False, progress: bool | None = None):
    """Stage 2: supervised fine-tuning on prompt -> completion pairs. Returns (model, history)."""
    s = s or setup()
    progress = stages.show_progress() if progress is None else progress

    def fit(d):
        model, _ = pretrained_model(s, progress=progress)
        get, val = sft_data(s)
        hist = train(model, get, s.sft, val, out_dir=d, desc="sft", progress=progress)
        return model.eval(), hist

    sft_settings = stages.stage_settings(s, STAGE_FIELDS["sft"])
    return stages.cached_stage(stages.stage_dir("sft", sft_settings), fit, stages.load_lm_stage, retrain,
                               steps=s.sft.steps)


def rm_dir(s: SentimentSetup | None = None, rl: RLHFSetup | None = None):
    return stages.stage_dir("rm", stages.stage_settings(s or setup(), STAGE_FIELDS["sft"]),
                            stages.stage_settings(rl or rl_setup(), STAGE_FIELDS["rm"]))


def policy_dir(kind: str, s: SentimentSetup | None = None, rl: RLHFSetup | None = None, cfg=None):
    # The policy trains against the calibrated reward model: every RM setting is part of its key.
    rl = rl or rl_setup()
    return stages.stage_dir(kind, stages.stage_settings(s or setup(), STAGE_FIELDS["sft"]),
                            stages.stage_settings(rl, STAGE_FIELDS["rm"]), asdict(cfg or getattr(rl, kind)))


def train_pairs(s: SentimentSetup | None = None, rl: RLHFSetup | None = None) -> list[tuple[str, str]]:
    """The preference pairs (chosen tweet, rejected tweet) the reward model learns from, and DPO too."""
    rl = rl or rl_setup()
    return preference_pairs(corpus(s)["train"], rl.rm_pairs, seed=rl.rm.seed)


def reward_model(s: SentimentSetup | None = None, rl: RLHFSetup | None = None, retrain: bool = False,
                 progress: bool | None = None):
    """Stage 3: Bradley-Terry reward model on corpus preference pairs, calibrated on SFT samples.

    Returns (reward model, info) with info = held-out accuracy, loss history, gain and bias.
    """
    s, rl = s or setup(), rl or rl_setup()
    progress = stages.show_progress() if progress is None else progress

    def fit(d):
        sft, _ = sft_model(s, progress=progress)
        tok = tokenizer(s)
        splits = corpus(s)
        rm = RewardModel(copy.deepcopy(sft), seed=rl.rm.seed)
        pairs = train_pairs(s, rl)
        held_out = preference_pairs(splits["test"], rl.rm_heldout_pairs, seed=99)
        hist = train_reward_model(rm, tok, pairs, rl.rm, progress=progress)
        accuracy = pairwise_accuracy(rm, tok, held_out)
        gain, bias = stages.calibrate_on_samples(rm, sft, tok, rl_prompts(s), rl.calibration_samples,
                                                 rl.max_new_tokens, rl.calibration_seed)
        meta = {"stage": "reward_model", "heldout_accuracy": accuracy, "gain": gain, "bias": bias,
                "history": hist}
        ckpt.save_model(rm, d, sft.config.to_dict(), meta)
        return rm, meta

    return stages.cached_stage(rm_dir(s, rl), fit, stages.load_rm_stage, retrain)


def policy(kind: str, s: SentimentSetup | None = None, rl: RLHFSetup | None = None, cfg=None,
           retrain: bool = False, progress: bool | None = None):
    """Stage 4 with algorithm ``kind`` (``algorithms.ALGORITHMS``). Returns (policy, per-iteration history).

    The reward model's settings are part of every policy's key, DPO's included: DPO trains on the
    reward model's pairs and its log reports the reward model's scores.
    """
    algo = algorithms.get(kind)
    s, rl = s or setup(), rl or rl_setup()
    cfg = cfg or getattr(rl, kind)
    progress = stages.show_progress() if progress is None else progress

    def fit(d):
        sft, _ = sft_model(s, progress=progress)
        rm, _ = reward_model(s, rl, progress=progress)
        pairs = None if algo.samples else train_pairs(s, rl)
        trained, history = stages.train_policy(kind, sft, rm, tokenizer(s), rl_prompts(s), cfg, progress, pairs)
        ckpt.save_model(trained, d, trained.config.to_dict(), {"stage": kind, "history": history})
        return trained, history

    return stages.cached_stage(policy_dir(kind, s, rl, cfg), fit, stages.load_policy_stage, retrain)


def ppo_policy(s: SentimentSetup | None = None, rl: RLHFSetup | None = None, cfg: PPOConfig | None = None,
               retrain: bool = False, progress: bool | None = None):
    """Stage 4 with PPO. Returns (policy, per-iteration history)."""
    return policy("ppo", s, rl, cfg, retrain, progress)


def pg_policy(s: SentimentSetup | None = None, rl: RLHFSetup | None = None, cfg: PGConfig | None = None,
              retrain: bool = False, progress: bool | None = None):
    """Stage 4 with the vanilla policy-gradient loop. Returns (policy, per-iteration history)."""
    return policy("pg", s, rl, cfg, retrain, progress)
