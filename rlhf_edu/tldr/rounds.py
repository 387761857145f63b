"""Online rounds: new comparisons on the policy's own summaries, so the reward model keeps up.

Round 0 is the pipeline of ``pipeline.py`` (SFT -> reward model on generated comparisons -> PPO).
The reward model learned from summaries *we wrote*; PPO then asks it to rank summaries *the policy
writes*, which it does much worse (``evaluation.rm_judge_agreement``). Stiennon et al. (2020, sec. 3)
fixed this by collecting new human comparisons of samples from the current policies, in rounds.
Each further round here:

1. sample summaries of ``posts_per_round`` *training* posts, some from the current policy and some
   from the SFT model (Stiennon et al. mix sources), and pair summaries of the same post;
2. label each pair with the simulated labeller (``label``), up to ``comparisons`` labels a round, in
   random order or, with ``pick="uncertain"``, the pairs the current reward model scores closest first;
3. continue training the reward model on every label so far plus as many of the original pairs,
   and calibrate it again on SFT samples;
4. run PPO again for ``ppo_iterations`` (from SFT, or from the last policy: ``ppo_from``).

The labeller stands for the people who compare summaries: it prefers more of the post's key facts
and fewer invented ones (the fact logic of ``judge.py``, counted: ``facts_value``), and picks the
other summary with probability ``noise``. It only ever sees training posts. The held-out posts that
``pipeline.test_posts`` evaluates on are never sampled for comparisons, and the policy never sees
the labeller or the judge: the only path from labels to the policy is the reward model, as in real
RLHF.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import time
from dataclasses import asdict, dataclass, replace

import torch

from .. import checkpoint as ckpt
from .. import stages
from ..evaluation import metrics_table
from ..model import frozen_copy, generate
from ..reward_model import RMTrainConfig, train_reward_model
from . import judge
from . import pipeline as sm
from .evaluation import evaluate, rm_judge_agreement


@dataclass
class RoundsConfig:
    rounds: int = 2                 # rounds after round 0
    comparisons: int = 2_000        # labels bought per round
    posts_per_round: int = 600      # training posts sampled per round
    policy_samples: int = 2         # summaries per post from the current policy ...
    sft_samples: int = 2            # ... and from the SFT model
    noise: float = 0.15             # the labeller picks the other summary this often
    # Which candidate pairs get the labels: "random", or "uncertain" (those the current reward model
    # scores closest, active learning: each label then settles what the model cannot yet tell).
    pick: str = "random"
    # 150 reward-model steps and 30 PPO iterations keep a round to 1-2 minutes on a 2-core CPU
    # (twice that measured within noise of it: docs/tuning-notes.md).
    rm_steps: int = 150             # reward-model steps per round (continued, not from scratch)
    rm_lr: float = 2e-4
    ppo_from: str = "sft"           # "sft": PPO restarts from SFT each round; "policy": continues
    ppo_iterations: int | None = 30  # PPO iterations a round (None: as many as round 0's)
    seed: int = 0

    def __post_init__(self):
        for name in ("rounds", "comparisons", "posts_per_round", "rm_steps"):
            if getattr(self, name) < (0 if name == "rounds" else 1):
                raise ValueError(f"{name} must be {'>= 0' if name == 'rounds' else '>= 1'}, got {getattr(self, name)}")
        if self.policy_samples < 0 or self.sft_samples < 0 or self.policy_samples + self.sft_samples < 2:
            raise ValueError("policy_samples + sft_samples must be >= 2 (a comparison needs two summaries), got "
                             f"{self.policy_samples} + {self.sft_samples}")
        if not 0 <= self.noise < 0.5:
            raise ValueError(f"noise must be in [0, 0.5), got {self.noise}")
        if self.ppo_iterations is not None and self.ppo_iterations < 1:
            raise ValueError(f"ppo_iterations must be >= 1 or None, got {self.ppo_iterations}")
        if self.pick not in ("random", "uncertain"):
            raise ValueError(f"pick must be 'random' or 'uncertain', got {self.pick!r}")
        if self.ppo_from not in ("sft", "policy"):
            raise ValueError(f"ppo_from must be 'sft' or 'policy', got {self.ppo_from!r}")

    @classmethod
    def test_size(cls) -> "RoundsConfig":
        return cls(rounds=1, comparisons=40, posts_per_round=16, rm_steps=4, ppo_iterations=None)


def rounds_config() -> RoundsConfig:
    return RoundsConfig() if stages.full_size() else RoundsConfig.test_size()


# ---------------------------------------------------------------- the simulated labeller

def facts_value(post, summary: str) -> int:
    """What the labeller weighs: key facts covered minus terms invented (names, numbers), as counts.

    So a summary with every fact and one invented number still beats one that says nothing, and
    one more true fact is worth exactly one fewer invented one.
    """
    covered = round(judge.fact_coverage(post, summary) * len(post.facts))
    return covered - len(judge.hallucinated_terms(post, summary))


def label(post, a: str, b: str, rng: random.Random, noise: float) -> int | None:
    """0 if the labeller prefers summary ``a``, 1 for ``b``; None if it sees no difference (no label).

    With probability ``noise`` it picks the other one: people disagree and make mistakes.
    """
    va, vb = facts_value(post, a), facts_value(post, b)
    if va == vb:
        return None
    better = 0 if va > vb else 1
    return 1 - better if rng.random() < noise else better


def collect_comparisons(policy, sft, tok, posts, cfg: RoundsConfig, seed: int, max_new_tokens: int,
                        forbidden_prompts=frozenset(), reward_model=None) -> tuple[list[tuple[str, str]], dict]:
    """Sample, pair and label summaries of ``posts``. Returns ([(chosen text, rejected text)], stats).

    Texts are prompt + summary, what the reward model scores. ``forbidden_prompts`` (the held-out
    posts) must not occur among ``posts``: the labeller never sees an evaluation post. With
    ``cfg.pick == "uncertain"``, ``reward_model`` (the current one) orders the candidate pairs.
    """
    if cfg.pick == "uncertain" and reward_model is None:
        raise ValueError('pick="uncertain" needs the current reward_model to order the pairs')
    posts = list(posts)
    leaked = [p for p in posts if p.prompt in forbidden_prompts]
    if leaked:
        raise ValueError(f"{len(leaked)} of the posts to label are held-out evaluation posts")
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    summaries = [[] for _ in posts]
    for model, k in ((policy, cfg.policy_samples), (sft, cfg.sft_samples)):
        if k == 0:
            continue
        prompts = [p.prompt for p in posts for _ in range(k)]
        gen = generate(model, tok.encode_batch(prompts), max_new_tokens, tok.eos_id, tok.pad_id, generator=g)
        texts = [tok.decode(r[m.bool()].tolist()) for r, m in zip(gen.responses, gen.response_mask)]
        for i, t in enumerate(texts):
            summaries[i // k].append(t)
    pairs, stats = [], {"posts": len(posts), "candidates": 0, "ties": 0, "labels": 0, "flipped": 0}
    order = [(i, a, b) for i, s in enumerate(summaries) for a in range(len(s)) for b in range(a + 1, len(s))]
    rng.shuffle(order)
    if cfg.pick == "uncertain":  # the closest scores first (a stable sort: ties keep the shuffled order)
        k = len(summaries[0])
        scores = reward_model.score_texts(tok, [p.prompt + t for p, ss in zip(posts, summaries) for t in ss]).tolist()
        order.sort(key=lambda x: abs(scores[x[0] * k + x[1]] - scores[x[0] * k + x[2]]))
    for i, a, b in order:
        if len(pairs) == cfg.comparisons:
            break
        post, sa, sb = posts[i], summaries[i][a], summaries[i][b]
        stats["candidates"] += 1
        if sa == sb:
            stats["ties"] += 1
            continue
        flip_rng = random.Random(rng.random())  # the same noise draw whatever the judge says
        choice = label(post, sa, sb, flip_rng, cfg.noise)
        if choice is None:
            stats["ties"] += 1
            continue
        noiseless = label(post, sa, sb, random.Random(0), 0.0)
        stats["flipped"] += choice != noiseless
        chosen, rejected = (sa, sb) if choice == 0 else (sb, sa)
        pairs.append((post.prompt + chosen, post.prompt + rejected))
    stats["labels"] = len(pairs)
    return pairs, stats


# ---------------------------------------------------------------- the rounds, cached

def round_dir(r: int, s: sm.SummarySetup, cfg: RoundsConfig):
    # Round r depends on the base stages' settings, PPO's, the rounds' and r itself; the rounds
    # before it are determined by the same settings, so the key covers them too. Not on how many
    # rounds follow it: --rounds 3 after --rounds 2 trains round 3 only.
    base = {k: v for k, v in asdict(s).items() if k in sm.STAGE_FIELDS["rm"]}
    settings = {k: v for k, v in asdict(cfg).items() if k != "rounds"}
    return stages.stage_dir("summ-round", base, asdict(s.ppo), settings, r)


def round_reward_model(r: int, s: sm.SummarySetup | None = None, cfg: RoundsConfig | None = None,
                       progress: bool | None = None) -> tuple:
    """Steps 1-3 of round ``r`` >= 1: label summaries of training posts (from round r-1's policy and SFT),
    continue training round r-1's reward model on every label so far, calibrate it again.
    Returns (reward model, every label so far, stats). Cached in the round's folder, so a round whose
    reward model is done (``levers.py`` trains them alone) runs only its PPO."""
    s, cfg = s or sm.setup(), cfg or rounds_config()
    progress = stages.show_progress() if progress is None else progress
    if r < 1 or r > cfg.rounds:
        raise ValueError(f"round must be in 1..{cfg.rounds}, got {r}")
    d = round_dir(r, s, cfg)
    if stages.finished(d / "rm"):
        labels = [tuple(p) for p in json.loads((d / "labels.json").read_text())]
        return stages.load_reward_model(d / "rm"), labels, ckpt.read_config(d / "rm")["meta"]["stats"]
    before = run_round(r - 1, s, cfg, progress)
    sft, _ = sm.sft_model(s, progress=progress)
    tok = sm.tokenizer(s)
    t0 = time.perf_counter()
    held_out = frozenset(p.prompt for p in sm.test_posts(s))
    prompts = sm.rl_prompts(s)  # training posts that leave room for a summary
    fits = set(prompts)
    train_posts = [p for p in sm.corpus(s)["train"] if p.prompt in fits]
    posts = random.Random(cfg.seed * 1000 + r).sample(train_posts, min(cfg.posts_per_round, len(train_posts)))
    new, stats = collect_comparisons(before["policy"], sft, tok, posts, cfg, cfg.seed * 1000 + r, s.max_new_tokens,
                                     held_out, reward_model=before["reward_model"])
    stats["seconds_labels"] = round(time.perf_counter() - t0, 1)
    labels = before["labels"] + new
    # Continue from the last reward model, on every label so far and as many of the original pairs
    # (so it does not forget what it knew).
    original = sm.rm_pairs(sm.train_comparisons(s))
    mix = labels + random.Random(r).sample(original, min(len(original), len(labels)))
    rm = copy.deepcopy(before["reward_model"])
    train_reward_model(rm, tok, mix, RMTrainConfig(steps=cfg.rm_steps, batch_size=s.rm.batch_size, lr=cfg.rm_lr,
                                                   seed=cfg.seed + r, pack_pairs=s.rm.pack_pairs), progress=progress)
    stages.calibrate_on_samples(rm, sft, tok, prompts, s.calibration_samples, s.max_new_tokens,
                                s.calibration_seed)
    stats["seconds_reward_model"] = round(time.perf_counter() - t0 - stats["seconds_labels"], 1)
    d.mkdir(parents=True, exist_ok=True)
    (d / "labels.json").write_text(json.dumps(labels))
    # The weights last: they mark the reward model done.
    ckpt.save_model(rm, d / "rm", sft.config.to_dict(), {"stage": f"summary_round{r}_rm", "stats": stats})
    return rm, labels, stats


def run_round(r: int, s: sm.SummarySetup | None = None, cfg: RoundsConfig | None = None,
              progress: bool | None = None, retrain: bool = False) -> dict:
    """Round ``r`` (0 = the base pipeline). Returns {"policy", "reward_model", "history", "labels", "stats"}.

    Its reward model (steps 1-3, ``round_reward_model``) is cached on its own, then PPO runs (step 4).
    ``retrain`` trains round ``r`` again, its reward model included (not the rounds before it, nor the
    base stages).
    """
    s, cfg = s or sm.setup(), cfg or rounds_config()
    progress = stages.show_progress() if progress is None else progress
    if r < 0 or r > cfg.rounds:
        raise ValueError(f"round must be in 0..{cfg.rounds}, got {r}")
    if r == 0:
        rm, _ = sm.reward_model(s, progress=progress)
        policy, history = sm.ppo_policy(s, progress=progress)
        return {"policy": policy, "reward_model": rm, "history": history, "labels": [], "stats": {}}
    d = round_dir(r, s, cfg)
    if retrain and d.exists():
        shutil.rmtree(d)
    if stages.finished(d / "policy"):
        meta = ckpt.read_config(d / "policy")["meta"]
        labels = [tuple(p) for p in json.loads((d / "labels.json").read_text())]
        return {"policy": stages.load_model(d / "policy"), "reward_model": stages.load_reward_model(d / "rm"),
                "history": meta["history"], "labels": labels, "stats": meta["stats"]}
    rm, labels, stats = round_reward_model(r, s, cfg, progress)
    sft, _ = sm.sft_model(s, progress=progress)
    start = sft if cfg.ppo_from == "sft" else run_round(r - 1, s, cfg, progress)["policy"]
    tok, prompts = sm.tokenizer(s), sm.rl_prompts(s)
    t0 = time.perf_counter()
    ppo = s.ppo if cfg.ppo_iterations is None else replace(s.ppo, iterations=cfg.ppo_iterations)
    policy, history = stages.train_policy("ppo", sft, rm, tok, prompts, ppo, progress, start=start)
    stats = {**stats, "seconds_ppo": round(time.perf_counter() - t0, 1)}
    # This round's own work, wall clock: labels, reward model, PPO (each timed when it ran).
    stats["seconds"] = round(stats["seconds_labels"] + stats["seconds_reward_model"] + stats["seconds_ppo"], 1)
    # The policy last: its weights mark the round finished.
    ckpt.save_model(policy, d / "policy", policy.config.to_dict(),
                    {"stage": f"summary_round{r}_ppo", "history": history, "stats": stats})
    return {"policy": policy, "reward_model": rm, "history": history, "labels": labels, "stats": stats}


def control(s: sm.SummarySetup | None = None, cfg: RoundsConfig | None = None,
            progress: bool | None = None) -> dict:
    """PPO on round 0's reward model with the rounds' PPO settings (``ppo_iterations``, from SFT).

    The rounds change two things at once: a reward model with new labels, and a shorter PPO run. This
    run changes only the second, so a gain of the rounds over it is the reward model's. A cached stage.
    """
    s, cfg = s or sm.setup(), cfg or rounds_config()
    ppo = s.ppo if cfg.ppo_iterations is None else replace(s.ppo, iterations=cfg.ppo_iterations)
    rm, _ = sm.reward_model(s, progress=progress)
    policy, history = sm.ppo_policy(s, cfg=ppo, progress=progress)
    return {"policy": policy, "reward_model": rm, "history": history, "labels": [], "stats": {}}


def run_rounds(s: sm.SummarySetup | None = None, cfg: RoundsConfig | None = None,
               progress: bool | None = None, retrain: bool = False) -> list[dict]:
    """Rounds 0..cfg.rounds (each cached). Returns one result dict per round, as ``run_round``.

    ``retrain``: train rounds 1..R again (round 0 is the pipeline's, retrained by its own stages).
    """
    s, cfg = s or sm.setup(), cfg or rounds_config()
    return [run_round(r, s, cfg, progress, retrain=retrain and r > 0) for r in range(cfg.rounds + 1)]


def round_metrics(result: dict, s: sm.SummarySetup | None = None, agreement_posts: int = 64) -> tuple[dict, list[str]]:
    """One round's policy on the held-out posts: the judge's metrics, ROUGE, KL, length, the score of
    *that round's* reward model, and how often that reward model ranks the policy's own summaries as
    the judge does (``rm_agreement``; ``rm_coverage_agreement`` on "more facts" pairs).
    Returns (metrics, summaries)."""
    s = s or sm.setup()
    sft, _ = sm.sft_model(s, progress=False)
    tok, posts = sm.tokenizer(s), sm.test_posts(s)
    m, texts = evaluate(result["policy"], frozen_copy(sft), result["reward_model"], tok, [p.prompt for p in posts],
                        [p.reference for p in posts], posts, s.max_new_tokens)
    agree = rm_judge_agreement(result["policy"], result["reward_model"], tok, posts[:agreement_posts],
                               max_new_tokens=s.max_new_tokens)
    m["rm_agreement"], m["rm_coverage_agreement"] = agree["agreement"], agree["coverage_agreement"]
    return m, texts


ROUND_LABELS = {"coverage": "fact coverage", "hallucination_rate": "hallucination rate", "rouge1": "ROUGE-1",
                "kl_k1": "KL to SFT (nats)", "length": "summary tokens", "rm_score": "RM score (own RM)",
                "rm_agreement": "RM-judge agreement", "rm_coverage_agreement": "  on 'more facts' pairs"}


def rounds_table(columns: dict[str, dict]) -> str:
    """{"SFT": metrics, "round 0": metrics, ...} -> one row per metric."""
    return metrics_table(columns, ROUND_LABELS, label_width=24, col_width=10)
