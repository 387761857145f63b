"""Online rounds of summarisation RLHF: the simulated labeller, the comparisons, the cached rounds."""

import dataclasses
import random

import pytest
import torch

from rlhf_edu.ppo import PPOConfig
from rlhf_edu.reward_model import RMTrainConfig
from rlhf_edu.tldr import judge, rounds
from rlhf_edu.tldr import pipeline as sm
from rlhf_edu.tldr import posts as tldr_posts
from rlhf_edu.train import TrainConfig


@pytest.fixture(scope="module")
def post():
    return next(p for p in tldr_posts.generate_posts(50, seed=3) if len(p.facts) >= 2)


def test_the_labeller_prefers_facts_and_flips_at_the_noise_rate(post):
    good, worse = post.reference, " i need advice"
    assert judge.fact_coverage(post, good) > judge.fact_coverage(post, worse)
    assert rounds.label(post, good, worse, random.Random(0), 0.0) == 0
    assert rounds.label(post, worse, good, random.Random(0), 0.0) == 1
    rng = random.Random(1)
    for eps in (0.15, 0.3):
        flips = sum(rounds.label(post, good, worse, rng, eps) for _ in range(10_000)) / 10_000
        assert abs(flips - eps) <= 0.01, (eps, flips)
    assert rounds.label(post, good, good + " ", random.Random(0), 0.15) is None  # no difference, no label


def test_facts_and_inventions_are_counted(post):
    invented = post.reference + " and 97 more"
    assert judge.hallucinated_terms(post, invented) == ["97"]
    assert rounds.facts_value(post, post.reference) == len(post.facts)
    assert rounds.facts_value(post, invented) == len(post.facts) - 1
    assert rounds.label(post, invented, post.reference, random.Random(0), 0.0) == 1  # the true one wins
    assert rounds.label(post, invented, " i need advice", random.Random(0), 0.0) == 0  # saying nothing loses


@pytest.mark.parametrize("bad", [dict(noise=0.5), dict(noise=-0.1), dict(comparisons=0), dict(rounds=-1),
                                 dict(policy_samples=1, sft_samples=0), dict(ppo_from="rm"), dict(rm_steps=0),
                                 dict(ppo_iterations=0), dict(pick="hardest")])
def test_bad_settings_name_themselves(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name.split("_")[0]):
        rounds.RoundsConfig(**bad)


TINY = sm.SummarySetup(
    n_posts=600, vocab_size=400, block_size=192, max_new_tokens=12,
        pretrain=TrainConfig(steps=2, batch_size=4, eval_every=2),
    sft=TrainConfig(steps=2, batch_size=4, eval_every=2, logits_where_loss=True), rm_pairs=40, rm_heldout_pairs=12,
    rm=RMTrainConfig(steps=2, batch_size=4, pack_pairs=True), calibration_samples=8,  # as full size's
    ppo=PPOConfig(iterations=1, batch_size=4, minibatch_size=2, max_new_tokens=12, samples_per_prompt=2,
                  no_eos_penalty=-3.0))
TINY_ROUNDS = rounds.RoundsConfig(rounds=2, comparisons=12, posts_per_round=8, rm_steps=2, ppo_iterations=None)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module: the tiny stages are trained once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLHF_EDU_CACHE", str(tmp_path_factory.mktemp("rounds-cache")))
        yield


@pytest.fixture(scope="module")
def res(cache):
    return rounds.run_rounds(TINY, TINY_ROUNDS, progress=False)


@pytest.mark.slow  # trains a tiny pipeline
def test_rounds_label_training_posts_only_and_are_cached(res):
    assert len(res) == 3 and res[0]["labels"] == []
    held_out = [p.prompt for p in sm.test_posts(TINY)]
    train = {p.prompt for p in sm.corpus(TINY)["train"]}
    for r in (1, 2):
        labels = res[r]["labels"]
        assert 0 < len(labels) <= r * TINY_ROUNDS.comparisons
        for chosen, rejected in labels:
            prompt = chosen[: chosen.index("TL;DR:") + len("TL;DR:")]
            assert prompt in train and rejected.startswith(prompt)
            assert not any(chosen.startswith(h) for h in held_out)
    assert res[2]["labels"][: len(res[1]["labels"])] == res[1]["labels"]  # labels accumulate
    # The rounds' reward models moved.
    assert not torch.equal(res[1]["reward_model"].head.weight, res[0]["reward_model"].head.weight)
    # Cached: a second call loads round 2 instead of training it.
    again = rounds.run_round(2, TINY, TINY_ROUNDS, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(again["policy"].state_dict().values(),
                                                 res[2]["policy"].state_dict().values()))
    assert again["labels"] == res[2]["labels"]
    m, texts = rounds.round_metrics(res[1], TINY, agreement_posts=4)
    assert {"coverage", "hallucination_rate", "rm_agreement", "kl_k1"} <= set(m) and len(texts) == len(held_out)


@pytest.mark.slow  # trains a tiny pipeline
def test_uncertain_pairs_are_the_ones_the_reward_model_scores_closest(res):
    sft, _ = sm.sft_model(TINY, progress=False)
    tok, rm = sm.tokenizer(TINY), res[0]["reward_model"]
    posts = sm.corpus(TINY)["train"][:40]  # the tiny model writes many equal summaries: ties get no label
    cfg = dataclasses.replace(TINY_ROUNDS, pick="uncertain", comparisons=5, noise=0.0, policy_samples=3, sft_samples=3)
    with pytest.raises(ValueError, match="needs the current reward_model"):
        rounds.collect_comparisons(sft, sft, tok, posts, cfg, 0, 8)
    pairs, _ = rounds.collect_comparisons(sft, sft, tok, posts, cfg, 0, 8, reward_model=rm)
    every, _ = rounds.collect_comparisons(sft, sft, tok, posts, dataclasses.replace(cfg, comparisons=10_000,
                                                                                   pick="random"), 0, 8)
    assert len(every) > 2 * cfg.comparisons  # else any order would pick "the closest" ones
    gap = lambda pair: abs(float(rm.score_texts(tok, [pair[0]]) - rm.score_texts(tok, [pair[1]])))  # noqa: E731
    picked, labelled = sorted(gap(p) for p in pairs), sorted(gap(p) for p in every)
    assert len(pairs) == min(5, len(every)) and picked == pytest.approx(labelled[: len(pairs)], abs=1e-5)


@pytest.mark.slow  # trains a tiny pipeline
def test_collecting_refuses_held_out_posts(cache):
    sft, _ = sm.sft_model(TINY, progress=False)
    test = sm.test_posts(TINY)[:2]
    with pytest.raises(ValueError, match="held-out"):
        rounds.collect_comparisons(sft, sft, sm.tokenizer(TINY), test, TINY_ROUNDS, 0, 8,
                                   forbidden_prompts={p.prompt for p in test})


def test_each_round_key_covers_its_settings_and_the_rounds_before():
    base = rounds.round_dir(1, TINY, TINY_ROUNDS)
    assert rounds.round_dir(2, TINY, TINY_ROUNDS) != base
    assert rounds.round_dir(1, TINY, dataclasses.replace(TINY_ROUNDS, noise=0.1)) != base
    assert rounds.round_dir(1, dataclasses.replace(TINY, rm_pairs=41), TINY_ROUNDS) != base
    assert rounds.round_dir(1, dataclasses.replace(TINY, ppo=dataclasses.replace(TINY.ppo, beta=0.2)),
                            TINY_ROUNDS) != base
    # Every field of RoundsConfig but the number of rounds is in the key (a new field cannot be
    # forgotten); asking for more rounds reuses the ones already trained.
    changed = dict(comparisons=13, posts_per_round=9, policy_samples=3, sft_samples=1, noise=0.2, rm_steps=3,
                   rm_lr=1e-3, ppo_from={"sft": "policy", "policy": "sft"}[TINY_ROUNDS.ppo_from],
                   ppo_iterations=5, seed=1, pick="uncertain")
    assert set(changed) | {"rounds"} == {f.name for f in dataclasses.fields(rounds.RoundsConfig)}
    for name, value in changed.items():
        assert rounds.round_dir(1, TINY, dataclasses.replace(TINY_ROUNDS, **{name: value})) != base, name
    assert rounds.round_dir(1, TINY, dataclasses.replace(TINY_ROUNDS, rounds=3)) == base


@pytest.mark.slow  # trains a tiny pipeline
def test_cli_summarize_runs_the_rounds(tmp_path, monkeypatch, capsys):
    from rlhf_edu import cli

    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RLHF_EDU_SIZE", "test")
    assert cli.main(["summarize", "--out", str(tmp_path / "out"), "--no-progress", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "rounds of new comparisons" in out and "round 1" in out and "fact coverage" in out
    assert "ppo_from='sft'" in out and "trained in" in out
    # the table comes after the base pipeline's, and --ppo-from reaches the rounds' settings
    assert out.index("rounds of new comparisons") > out.index("reward model held-out pairwise accuracy")
    assert cli.main(["summarize", "--out", str(tmp_path / "out"), "--no-progress", "--rounds", "1",
                     "--ppo-from", "policy"]) == 0
    assert "ppo_from='policy'" in capsys.readouterr().out
    assert (tmp_path / "out" / "rounds.png").exists()
    for bad in (["--rounds", "-1"], ["--rounds", "x"], ["--hf-model", "tiny", "--rounds", "1"],
                ["--ppo-from", "rm"], ["--hf-model", "tiny", "--ppo-from", "sft"]):
        with pytest.raises(SystemExit):
            cli.main(["summarize", *bad])


@pytest.mark.slow  # trains a tiny pipeline
def test_ppo_from_policy_continues_the_last_policy(cache):
    """"sft": each round's PPO starts at SFT (KL 0 at its first iteration); "policy": at the last round's
    policy, so its first KL to SFT is what the rounds before it moved."""
    # No no-EOS penalty: the tiny model never ends a summary, and a penalty shared by every sample
    # leaves round 0's PPO nothing to learn (its policy would be SFT's).
    s = dataclasses.replace(TINY, ppo=dataclasses.replace(TINY.ppo, no_eos_penalty=None))
    one = dataclasses.replace(TINY_ROUNDS, rounds=1, ppo_iterations=2)
    restart = rounds.run_rounds(s, dataclasses.replace(one, ppo_from="sft"), progress=False)
    cont = rounds.run_rounds(s, dataclasses.replace(one, ppo_from="policy"), progress=False)
    assert len(cont[1]["history"]) == 2 and len(cont[0]["history"]) == 1  # ppo_iterations, not round 0's
    assert restart[1]["history"][0]["kl_k1"] == 0.0
    assert cont[1]["history"][0]["kl_k1"] != 0.0
    st = cont[1]["stats"]
    assert 0 < st["seconds_labels"] + st["seconds_reward_model"] <= st["seconds"]


@pytest.mark.slow  # trains a tiny pipeline
def test_the_control_is_round_0s_reward_model_with_the_rounds_ppo(cache):
    s = dataclasses.replace(TINY, ppo=dataclasses.replace(TINY.ppo, no_eos_penalty=None))
    cfg = dataclasses.replace(TINY_ROUNDS, rounds=1, ppo_iterations=2)
    res = rounds.run_rounds(s, cfg, progress=False)
    ctrl = rounds.control(s, cfg, progress=False)
    assert len(ctrl["history"]) == 2 == len(res[1]["history"]) and len(res[0]["history"]) == 1
    assert ctrl["reward_model"].head.weight.equal(res[0]["reward_model"].head.weight)  # round 0's, not round 1's
    assert ctrl["history"][0]["kl_k1"] == 0.0  # from SFT, like the rounds with ppo_from="sft"
    again = rounds.control(s, cfg, progress=False)  # cached
    weights = zip(again["policy"].state_dict().values(), ctrl["policy"].state_dict().values())
    assert all(torch.equal(a, b) for a, b in weights)
    same = rounds.control(s, dataclasses.replace(cfg, ppo_iterations=None), progress=False)
    assert len(same["history"]) == len(res[0]["history"])  # None: round 0's own PPO run


def test_the_ceiling_is_the_expected_best_of_k_judge_value():
    import numpy as np

    from rlhf_edu.tldr import ceiling

    n = 4
    scores = np.array([0.1, 0.9, 0.5, 0.3,     # post 0: sample 1 is best, then 2, 3, 0
                       1.0, 1.0, 0.0, 0.0])    # post 1: a tie at the top
    cover = np.array([0.0, 1.0, 0.5, 0.25, 0.2, 0.4, 0.6, 0.8])
    out = ceiling.ceiling(scores, {"coverage": cover}, n, ks=(1, 2, 4))
    assert out[1]["coverage"] == pytest.approx([np.mean(cover[:4]), np.mean(cover[4:])])  # best-of-1: the mean
    assert out[4]["coverage"][0] == pytest.approx(1.0)  # all four: the RM's favourite
    # best-of-2, post 0: over the 6 pairs, the higher-scored one's coverage
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    by_hand = np.mean([cover[max(p, key=lambda i: scores[i])] for p in pairs])
    assert out[2]["coverage"][0] == pytest.approx(by_hand)
    assert 0.2 <= out[4]["coverage"][1] <= 0.4  # a tie: one of the two top-scored samples, not a low-scored one


@pytest.mark.slow  # trains a tiny pipeline
def test_the_ceiling_samples_once_and_every_reward_model_scores_the_same_samples(cache):
    from rlhf_edu.tldr import ceiling

    s = TINY
    samples = ceiling.sample(s, n=4)
    posts = sm.test_posts(s)
    assert samples["posts"] == len(posts) and len(samples["summaries"]) == 4 * len(posts)
    rm, _ = sm.reward_model(s, progress=False)
    sc = ceiling.scores(rm, samples)
    assert sc.shape == (4 * len(posts),) and sc.dtype == "float64"
    j = ceiling.judged(samples, s)
    assert j["coverage"].shape == sc.shape and set(j["hallucination"].tolist()) <= {0.0, 1.0}
    again = ceiling.sample(s, n=4)  # the same seed: the same summaries (and the cached file agrees)
    assert again["summaries"] == samples["summaries"]
    out = ceiling.ceiling(sc, j, 4, ks=(1, 4))
    assert out[1]["coverage"] == pytest.approx(j["coverage"].reshape(-1, 4).mean(1))


def test_agreement_counts_the_pairs_the_labeller_tells_apart():
    import numpy as np

    from rlhf_edu.tldr import ceiling

    values = np.array([2, 1, 1, 0,     # post 0: 5 of its 6 pairs differ in value (1 vs 1 does not)
                       1, 1, 1, 1])    # post 1: the labeller tells no pair apart
    scores = np.array([0.9, 0.5, 0.1, 0.3,   # orders (0,1) (0,2) (0,3) (1,3) right, (2,3) wrong
                       0.0, 1.0, 2.0, 3.0])
    out = ceiling.agreement(scores, values, 4)
    assert out[0] == pytest.approx(4 / 5) and np.isnan(out[1])
    tied = ceiling.agreement(np.zeros(8), values, 4)
    assert tied[0] == 0.0  # a tied score says nothing: counted as wrong, never as right


@pytest.mark.slow  # trains a tiny pipeline
def test_a_lever_retrains_round_1s_reward_model_with_one_setting_changed(cache):
    from rlhf_edu.tldr import levers

    with pytest.raises(ValueError, match="lever must be one of"):
        levers.variant(TINY_ROUNDS, "a bigger GPU")
    cfg = levers.variant(TINY_ROUNDS, "twice the labels")
    assert (cfg.comparisons, cfg.posts_per_round) == (2 * TINY_ROUNDS.comparisons, 2 * TINY_ROUNDS.posts_per_round)
    assert levers.variant(TINY_ROUNDS, "as built") == TINY_ROUNDS
    rm, st = levers.reward_model("as built", TINY, TINY_ROUNDS, progress=False)
    rounds_rm = rounds.run_round(1, TINY, TINY_ROUNDS, progress=False)["reward_model"]
    # "as built" is round 1's reward model itself: the same labels, seeds and steps.
    assert all(torch.equal(a, b) for a, b in zip(rm.state_dict().values(), rounds_rm.state_dict().values()))
    uncertain, st2 = levers.reward_model("uncertain pairs", TINY, TINY_ROUNDS, progress=False)
    assert st2["posts"] == 2 * st["posts"] and not torch.equal(uncertain.head.weight, rm.head.weight)
    # The lever's round then runs only its PPO, on that very reward model: labelling or training again fails.
    def no(*args, **kwargs):
        raise AssertionError("the cached reward model was not used")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rounds, "collect_comparisons", no)
        mp.setattr(rounds, "train_reward_model", no)
        res = rounds.run_round(1, TINY, levers.variant(TINY_ROUNDS, "uncertain pairs"), progress=False)
    assert torch.equal(res["reward_model"].head.weight, uncertain.head.weight) and res["stats"]["seconds_ppo"] > 0
    assert res["stats"]["seconds"] == pytest.approx(st2["seconds_labels"] + st2["seconds_reward_model"]
                                                    + res["stats"]["seconds_ppo"], abs=0.11)
    with pytest.raises(ValueError, match="round must be in 1"):
        rounds.round_reward_model(0, TINY, TINY_ROUNDS)
