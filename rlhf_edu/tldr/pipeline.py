"""RLHF for summarisation (notebook 11): SFT -> reward model -> PPO, at two scales.

The stages are the ones the sentiment pipeline uses (``train.train``, ``reward_model``,
``stages.train_policy``), not copies. This module only adds what summarisation needs: prompt ->
summary rows and comparisons -> reward-model pairs.

- **Offline, the default** (notebook 11, CI): the micro GPT-2 on the synthetic TL;DR task of
  ``posts.py``. Each stage is cached like the sentiment ones (``stages.py``).
- **Hugging Face**: the same functions on a ``transformers`` model (GPT-2 124M) and the CarperAI
  datasets, through ``hf.HFCausalLM`` (``run_hf``).

The text format is CarperAI's: ``prompt`` ends with ``"TL;DR:"`` and a summary starts with a
space, so prompt + summary is the text the policy writes and the reward model scores (with EOS
at the end, where the score is read).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import torch

from .. import checkpoint as ckpt
from .. import stages
from ..model import GPT, frozen_copy, micro_config
from ..ppo import PPOConfig
from ..reward_model import RewardModel, RMTrainConfig, train_reward_model
from ..tokenizer import BPETokenizer
from ..train import History, TrainConfig, pack_stream, pretrain_batches, sft_batches, sft_rows, train
from . import comparisons as comp
from . import posts as tldr_posts
from .carperai import load_hf_comparisons, load_hf_tldr
from .evaluation import evaluate


@dataclass
class SummarySetup:
    """Every setting of the offline summarisation pipeline. Why each value: docs/tuning-notes.md."""

    n_posts: int = 20_000
    seed: int = 0
    vocab_size: int = 2048
    block_size: int = 112          # a post prompt is ~60-85 tokens; + 24 for the summary
    max_new_tokens: int = 24       # set once: ppo.max_new_tokens must agree (checked)
    eval_posts: int = 128          # held-out posts every table is measured on
    # Stage 1: next-token prediction on whole documents (post + "TL;DR:" + summary), as GPT-2 saw
    # TL;DRs in its web text (posts alone taught too little).
    pretrain: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=120, batch_size=32, lr=3e-3, warmup_steps=12, eval_every=40, checkpoint_every=40))
    # Stage 2: SFT, loss on the summary tokens only. Copying the post's facts, numbers above all, is
    # what this tiny model learns last: it needs ~1,000 steps (~2 min on a 2-core CPU).
    # logits_where_loss and pack_pairs: the same losses for less work (a row is mostly post; see each).
    sft: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1000, batch_size=32, lr=1e-3, warmup_steps=10, eval_every=50, seed=1, logits_where_loss=True))
    rm_pairs: int = 16_000         # for 600 steps: 1.2 passes
    # Why each comparison's chosen summary wins, in equal shares (see posts.REASONS). "wrong_fact" (leave
    # a number out rather than get it wrong) keeps the reward model from preferring a wrong number to none.
    pair_reasons: tuple[str, ...] = tldr_posts.REASONS
    rm_heldout_pairs: int = 1_000
    rm: RMTrainConfig = field(default_factory=lambda: RMTrainConfig(steps=600, batch_size=32, lr=5e-4,
                                                                    pack_pairs=True))
    calibration_samples: int = 256
    calibration_seed: int = 2024
    # Four summaries per post, each scored against the mean of the other three (samples_per_prompt,
    # the leave-one-out baseline): the reward model's score varies more between posts than between
    # summaries of one post, and the value head never learns which posts score high.
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(
        iterations=60, batch_size=32, minibatch_size=16, max_new_tokens=24, lr=5e-5, beta=0.05,
        samples_per_prompt=4,
        no_eos_penalty=-3.0))  # a summary that never ends scores like a bad one

    def __post_init__(self):
        if self.eval_posts < 1:
            raise ValueError(f"eval_posts must be >= 1, got {self.eval_posts}")
        unknown = [r for r in self.pair_reasons if r not in tldr_posts.REASONS]
        if unknown or not self.pair_reasons:
            raise ValueError(f"pair_reasons must be some of {tldr_posts.REASONS}, got {self.pair_reasons}")
        stages.check_max_new_tokens(self, {"ppo": self.ppo})

    @classmethod
    def test_size(cls) -> "SummarySetup":
        """Full size's settings with a few small steps of every stage (``$RLHF_EDU_SIZE=test``, see ``stages.py``)."""
        full = cls()
        return cls(pretrain=TrainConfig(steps=6, batch_size=16, lr=3e-3, warmup_steps=2, eval_every=3,
                                        checkpoint_every=0),
                   sft=replace(full.sft, steps=6, batch_size=16, warmup_steps=2, eval_every=3, checkpoint_every=0),
                   rm_pairs=400, rm_heldout_pairs=200, rm=replace(full.rm, steps=6, batch_size=16),
                   calibration_samples=32, eval_posts=16,
                   # lr 5e-4 (ten times full size's): two iterations must move the policy measurably
                   ppo=replace(full.ppo, iterations=2, batch_size=16, minibatch_size=8, ppo_epochs=2, lr=5e-4))


def setup() -> SummarySetup:
    """The settings at the current run size (``$RLHF_EDU_SIZE``, read now)."""
    return SummarySetup() if stages.full_size() else SummarySetup.test_size()


# ---------------------------------------------------------------- data -> token rows

def fit_prompt(prompt_ids: list[int], room: int) -> list[int]:
    """Keep the *end* of a prompt that is too long (the "TL;DR:" the model must continue)."""
    if room <= 0:
        raise ValueError(f"no room left for the prompt (room={room}); raise block_size")
    return prompt_ids[-room:]


def sft_data(tok, pairs: list[tuple[str, str]], block_size: int, batch_size: int, seed: int):
    """(batch function, n rows) for prompt -> summary SFT: loss on the summary and its EOS only."""
    if not pairs:
        raise ValueError("no SFT pairs")
    p_ids = tok.encode_batch([p for p, _ in pairs])
    s_ids = tok.encode_batch([s for _, s in pairs])
    rows = []
    for p, s in zip(p_ids, s_ids):
        s = s[: block_size // 2]  # a runaway label must not push the whole prompt out
        rows.append((fit_prompt(p, block_size - len(s) - 1), s))
    ids, mask = sft_rows(rows, tok.eos_id, tok.pad_id, block_size - 1)
    return sft_batches(ids, mask, batch_size, seed)


def rm_pairs(comparisons) -> list[tuple[str, str]]:
    """Comparisons -> (chosen text, rejected text), each = SFT prompt + summary (what PPO samples)."""
    return [(c.sft_prompt + c.chosen_summary, c.sft_prompt + c.rejected_summary) for c in comparisons]


def fitting_prompts(tok, prompts: list[str], block_size: int, max_new_tokens: int) -> list[str]:
    """The prompts that leave room for ``max_new_tokens`` (RL and evaluation sample on these)."""
    lengths = [len(i) for i in tok.encode_batch(prompts)]
    keep = [p for p, n in zip(prompts, lengths) if n + max_new_tokens <= block_size]
    if not keep:
        raise ValueError(f"no prompt fits block_size={block_size} with {max_new_tokens} new tokens")
    return keep




# ---------------------------------------------------------------- the stages, shared by both scales

def train_sft(model, tok, pairs, val_pairs, cfg: TrainConfig, block_size: int, out_dir=None,
              progress: bool = True) -> History:
    get = sft_data(tok, pairs, block_size, cfg.batch_size, cfg.seed)
    # At most 64 validation rows (drawing 64 from 3 fixture rows would score each ~20 times).
    val_get = sft_data(tok, val_pairs, block_size, min(64, len(val_pairs)), seed=12345)
    return train(model, get, cfg, [val_get(0)], out_dir=out_dir, desc="sft", progress=progress)



def train_rm(sft, tok, comparisons, heldout, cfg: RMTrainConfig, calibration_prompts: list[str],
             calibration_samples: int, max_new_tokens: int, calibration_seed: int = 2024, progress: bool = True):
    """Bradley-Terry on comparisons, then calibrated on SFT summaries. Returns (rm, info)."""
    rm = RewardModel(copy.deepcopy(sft), seed=cfg.seed)
    hist = train_reward_model(rm, tok, rm_pairs(comparisons), cfg, progress=progress)
    pairs = rm_pairs(heldout)
    wins = rm.score_texts(tok, [c for c, _ in pairs]) > rm.score_texts(tok, [r for _, r in pairs])
    info = {"heldout_accuracy": wins.float().mean().item(), "history": hist}
    reasons = [c.reason for c in heldout]
    info["accuracy_by_reason"] = {r: wins[[x == r for x in reasons]].float().mean().item()
                                  for r in sorted({x for x in reasons if x})}
    info["gain"], info["bias"] = stages.calibrate_on_samples(rm, sft, tok, calibration_prompts, calibration_samples,
                                                             max_new_tokens, calibration_seed)
    return rm, info


# ---------------------------------------------------------------- offline scale, cached

# The settings each stage depends on (its own and its predecessors'): a stage's cache key covers
# these only, so changing PPO's beta does not retrain the reward model, nor SFT's steps pretraining.
_PRETRAIN_FIELDS = ("n_posts", "seed", "vocab_size", "block_size", "pretrain")
STAGE_FIELDS = {
    "pretrain": _PRETRAIN_FIELDS,
    "sft": _PRETRAIN_FIELDS + ("sft",),
    "rm": _PRETRAIN_FIELDS + ("sft", "rm_pairs", "pair_reasons", "rm_heldout_pairs", "rm",
                              "calibration_samples", "calibration_seed", "max_new_tokens"),
}
STAGE_FIELDS["ppo"] = STAGE_FIELDS["rm"]  # + the PPO config, passed as a part (it may be overridden)




def _dir(name: str, s: SummarySetup, *parts):
    settings = {k: v for k, v in asdict(s).items() if k in STAGE_FIELDS[name]}
    return stages.stage_dir(f"summ-{name}", settings, *parts)


def corpus(s: SummarySetup | None = None) -> dict:
    """Synthetic posts split into train / val / test (no prompt shared; generated once per process)."""
    s = s or setup()
    return _corpus(s.n_posts, s.seed)


@lru_cache(maxsize=2)
def _corpus(n_posts: int, seed: int) -> dict:
    return tldr_posts.load_summaries(n_posts, seed)


def tokenizer(s: SummarySetup | None = None) -> BPETokenizer:
    s = s or setup()
    path = stages.cache_dir() / f"summ-tokenizer-{s.vocab_size}-{stages.key([s.n_posts, s.seed])}.json"
    if path.exists():
        return BPETokenizer.load(path)
    tok = BPETokenizer.train([p.prompt + p.reference for p in corpus(s)["train"]], vocab_size=s.vocab_size)
    tok.save(path)
    return tok


def _progress(progress):
    return stages.show_progress() if progress is None else progress


def pretrained_model(s: SummarySetup | None = None, retrain: bool = False, progress: bool | None = None):
    """Stage 1: next-token prediction on whole documents (post + TL;DR). Returns (model, history)."""
    s, progress = s or setup(), _progress(progress)

    def fit(d):
        tok = tokenizer(s)
        splits = corpus(s)
        torch.manual_seed(s.pretrain.seed)
        model = GPT(micro_config(vocab_size=tok.vocab_size, block_size=s.block_size))
        stream = pack_stream(tok.encode_batch([p.prompt + p.reference for p in splits["train"]]), tok.eos_id)
        val_stream = pack_stream(tok.encode_batch([p.prompt + p.reference for p in splits["val"]]), tok.eos_id)
        get = pretrain_batches(stream, s.block_size, s.pretrain.batch_size, s.pretrain.seed)
        val = [pretrain_batches(val_stream, s.block_size, 64, seed=12345)(0)]
        hist = train(model, get, s.pretrain, val, out_dir=d, desc="pretrain (documents)", progress=progress)
        return model.eval(), hist

    return stages.cached_stage(_dir("pretrain", s), fit, stages.load_lm_stage, retrain, steps=s.pretrain.steps)


def sft_model(s: SummarySetup | None = None, retrain: bool = False, progress: bool | None = None):
    """Stage 2: SFT on (prompt, reference summary). Returns (model, history)."""
    s, progress = s or setup(), _progress(progress)

    def fit(d):
        model, _ = pretrained_model(s, progress=progress)
        splits = corpus(s)
        hist = train_sft(model, tokenizer(s), tldr_posts.sft_rows(splits["train"]),
                         tldr_posts.sft_rows(splits["val"][:256]), s.sft, s.block_size, out_dir=d, progress=progress)
        return model.eval(), hist

    return stages.cached_stage(_dir("sft", s), fit, stages.load_lm_stage, retrain, steps=s.sft.steps)


def reward_model(s: SummarySetup | None = None, retrain: bool = False, progress: bool | None = None):
    """Stage 3: the reward model on generated comparisons. Returns (rm, info)."""
    s, progress = s or setup(), _progress(progress)

    def fit(d):
        sft, _ = sft_model(s, progress=progress)
        tok = tokenizer(s)
        splits = corpus(s)
        pairs = train_comparisons(s)
        heldout = comp.comparison_pairs(splits["test"], s.rm_heldout_pairs, seed=99, reasons=s.pair_reasons)
        rm, info = train_rm(sft, tok, pairs, heldout, s.rm, rl_prompts(s), s.calibration_samples, s.max_new_tokens,
                            s.calibration_seed, progress=progress)
        ckpt.save_model(rm, d, sft.config.to_dict(), {"stage": "summary_reward_model", **info})
        return rm, info

    return stages.cached_stage(_dir("rm", s), fit, stages.load_rm_stage, retrain)


def train_comparisons(s: SummarySetup | None = None):
    """The generated comparisons the reward model of round 0 learns from (training posts only)."""
    s = s or setup()
    return comp.comparison_pairs(corpus(s)["train"], s.rm_pairs, seed=s.rm.seed, reasons=s.pair_reasons)


def rl_prompts(s: SummarySetup | None = None) -> list[str]:
    """Training-post prompts that leave room for a summary in the context."""
    s = s or setup()
    return fitting_prompts(tokenizer(s), [p.prompt for p in corpus(s)["train"]], s.block_size, s.max_new_tokens)


def ppo_policy(s: SummarySetup | None = None, cfg: PPOConfig | None = None, retrain: bool = False,
               progress: bool | None = None):
    """Stage 4: PPO with the KL penalty. Returns (policy, history)."""
    s, progress = s or setup(), _progress(progress)
    cfg = cfg or s.ppo

    def fit(d):
        sft, _ = sft_model(s, progress=progress)
        rm, _ = reward_model(s, progress=progress)
        policy, history = stages.train_policy("ppo", sft, rm, tokenizer(s), rl_prompts(s), cfg, progress)
        ckpt.save_model(policy, d, policy.config.to_dict(), {"stage": "summary_ppo", "history": history})
        return policy, history

    return stages.cached_stage(_dir("ppo", s, asdict(cfg)), fit, stages.load_policy_stage, retrain)


def test_posts(s: SummarySetup | None = None, n: int | None = None):
    """The fixed held-out posts every evaluation uses: the first ``SummarySetup.eval_posts`` that fit the context."""
    s = s or setup()
    n = s.eval_posts if n is None else n
    posts = corpus(s)["test"]
    fits = set(fitting_prompts(tokenizer(s), [p.prompt for p in posts], s.block_size, s.max_new_tokens))
    return [p for p in posts if p.prompt in fits][:n]


def evaluate_offline(models: dict, s: SummarySetup | None = None, n: int | None = None) -> tuple[dict, dict]:
    """Metrics and summaries of each model on the held-out posts. Returns ({name: metrics}, {name: summaries})."""
    s = s or setup()
    sft, _ = sft_model(s, progress=False)
    rm, _ = reward_model(s, progress=False)
    reference = frozen_copy(sft)
    posts = test_posts(s, n)
    out, texts = {}, {}
    for name, m in models.items():
        out[name], texts[name] = evaluate(m, reference, rm, tokenizer(s), [p.prompt for p in posts],
                                          [p.reference for p in posts], posts, s.max_new_tokens)
    return out, texts


# ---------------------------------------------------------------- Hugging Face scale

@dataclass
class HFRun:
    """Settings of ``run_hf``. The defaults are the full-size run (see the README); ``smoke()`` is a few steps."""

    model: str = "gpt2"          # a Hub name, or "tiny" (random small GPT-2, offline)
    tldr_dir: str | None = None  # local CarperAI-schema files; None = the Hub datasets
    comparisons_dir: str | None = None
    block_size: int = 512        # prompts are cut from the left to fit
    max_new_tokens: int = 48
    sft: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=16, lr=5e-5,
                                                                 warmup_steps=100, eval_every=500,
                                                                 logits_where_loss=True))
    rm: RMTrainConfig = field(default_factory=lambda: RMTrainConfig(steps=2000, batch_size=16, lr=1e-5))
    # One summary per post here: samples_per_prompt=4 helped the micro model (notebook 11) but has
    # not been measured at this scale.
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(iterations=200, batch_size=32, minibatch_size=8,
                                                             max_new_tokens=48, lr=1e-5, beta=0.05,
                                                             no_eos_penalty=-3.0))
    calibration_samples: int = 64
    calibration_seed: int = 2024
    eval_posts: int = 64
    max_rows: int | None = None  # cap on rows read per split (for quick runs)
    device: str = "cpu"          # "cuda" on a GPU machine: the model moves there, batches follow it

    def __post_init__(self):
        stages.check_max_new_tokens(self, {"ppo": self.ppo})

    @classmethod
    def smoke(cls, **kw) -> "HFRun":
        """A run of a few steps per stage: checks the wiring, learns nothing."""
        small = dict(model="tiny", block_size=128, max_new_tokens=12, calibration_samples=8, eval_posts=4,
                     sft=TrainConfig(steps=2, batch_size=4, lr=1e-3, warmup_steps=1, eval_every=2,
                                     logits_where_loss=True),
                     rm=RMTrainConfig(steps=2, batch_size=4, lr=1e-3),
                     ppo=PPOConfig(iterations=1, batch_size=4, minibatch_size=2, max_new_tokens=12,
                                   no_eos_penalty=-3.0))
        small.update(kw)
        return cls(**small)


def _hf_model(name: str, vocab_size: int, block_size: int):
    from .. import hf

    if name == "tiny":
        return hf.tiny_gpt2(vocab_size, block_size=block_size)
    return hf.pretrained(name, vocab_size=vocab_size)


def run_hf(run: HFRun, progress: bool | None = None) -> dict:
    """SFT -> reward model -> PPO on a Hugging Face model, through the very same stage functions.

    Returns {"sft": model, "rm": rm, "ppo": policy, "metrics": {...}, "samples": {...}, "rm_info", "ppo_history"}.
    """
    from ..tokenizer import GPT2Tokenizer

    progress = _progress(progress)
    tok = GPT2Tokenizer()  # GPT-2's own BPE (offline file) + a pad id 50257 distinct from EOS
    tldr = load_hf_tldr(data_dir=run.tldr_dir)
    comps = load_hf_comparisons(data_dir=run.comparisons_dir)

    def cap(rows):
        return rows if run.max_rows is None else rows[: run.max_rows]

    train_rows = cap(tldr["train"])  # (prompt, label) pairs
    val_rows = cap(tldr.get("valid") or tldr.get("test") or tldr["train"])
    # Real comparisons hold a few pairs with chosen == rejected: they teach nothing.
    comp_train = [c for c in cap(comps["train"]) if c.chosen != c.rejected]
    comp_test = [c for c in cap(comps.get("valid1") or comps.get("test") or comps["train"]) if c.chosen != c.rejected]
    model = _hf_model(run.model, tok.vocab_size, run.block_size).to(run.device)
    block = min(run.block_size, model.config.block_size)
    hist = train_sft(model, tok, train_rows, val_rows, run.sft, block, progress=progress)
    model.eval()
    prompts = fitting_prompts(tok, [p for p, _ in train_rows], block, run.max_new_tokens)
    rm, rm_info = train_rm(model, tok, comp_train, comp_test, run.rm, prompts, run.calibration_samples,
                           run.max_new_tokens, run.calibration_seed, progress=progress)
    policy, history = stages.train_policy("ppo", model, rm, tok, prompts, run.ppo, progress)
    fits = set(fitting_prompts(tok, [p for p, _ in val_rows], block, run.max_new_tokens))
    eval_rows = [(p, l) for p, l in val_rows if p in fits][: run.eval_posts]
    reference = frozen_copy(model)
    metrics, samples = {}, {}
    for name, m in (("SFT", model), ("PPO", policy)):
        metrics[name], samples[name] = evaluate(m, reference, rm, tok, [p for p, _ in eval_rows],
                                                [l for _, l in eval_rows], None, run.max_new_tokens)
    return {"sft": model, "rm": rm, "ppo": policy, "metrics": metrics, "samples": samples, "rm_info": rm_info,
            "sft_history": hist, "ppo_history": history, "eval_prompts": [p for p, _ in eval_rows]}
