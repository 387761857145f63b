"""Notebook 12's comparison on a tiny setup: every algorithm in the table, one budget, clear errors, the CLI."""

import dataclasses

import pytest

from rlhf_edu import plots, stages
from rlhf_edu.dpo import DPOConfig
from rlhf_edu.grpo import GRPOConfig
from rlhf_edu.policy_gradient import PGConfig
from rlhf_edu.ppo import PPOConfig
from rlhf_edu.reward_model import RMTrainConfig
from rlhf_edu.rloo import RLOOConfig
from rlhf_edu.sentiment import compare, pipeline
from rlhf_edu.train import TrainConfig

TINY = pipeline.SentimentSetup(corpus_size=900, vocab_size=300, block_size=40,
                               pretrain=TrainConfig(steps=3, batch_size=4, eval_every=2, checkpoint_every=0),
                               sft=TrainConfig(steps=2, batch_size=4, eval_every=2, checkpoint_every=0))
# Every on-policy method samples 4 completions per iteration; DPO reads rm.steps x rm.batch_size = 8 pairs.
TINY_RL = stages.with_max_new_tokens(pipeline.RLHFSetup(
    rm_pairs=60, rm_heldout_pairs=20, rm=RMTrainConfig(steps=2, batch_size=4), calibration_samples=8,
    eval_prompts=8,
    ppo=PPOConfig(iterations=3, batch_size=4, minibatch_size=2, ppo_epochs=1),
    pg=PGConfig(iterations=3, batch_size=4),
    rloo=RLOOConfig(iterations=3, prompts_per_iteration=2, samples_per_prompt=2),
    grpo=GRPOConfig(iterations=3, prompts_per_iteration=2, group_size=2, minibatch_size=2, epochs=1),
    dpo=DPOConfig(batch_size=8),  # the comparison uses the reward model's batch size instead
    compare_iterations=2,
    compare_betas={"ppo": (0.1, 0.5), "pg": (0.1,), "rloo": (0.1,), "grpo": (0.2,), "dpo": (0.3,)}), 6)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path))
    monkeypatch.setenv("RLHF_EDU_SIZE", "test")
    return tmp_path


@pytest.mark.slow  # trains a tiny pipeline
def test_every_algorithm_is_in_the_table_under_one_budget(cache):
    runs = compare.compare(TINY, TINY_RL, progress=False)
    # SFT, then each beta with seed 0 and the default beta with seeds 1 and 2
    assert [r.kind for r in runs] == ["sft"] + ["ppo"] * 4 + [k for k in ("pg", "rloo", "grpo", "dpo") for _ in "012"]
    assert {(r.beta, r.seed) for r in runs if r.kind == "ppo"} == {(0.1, 0), (0.5, 0), (0.1, 1), (0.1, 2)}
    text = compare.table(runs)
    for name in ("SFT", "PPO", "policy gradient", "RLOO", "GRPO", "DPO"):
        assert f"\n{name} " in text
    assert len(text.splitlines()) == len(runs) + 1 and max(map(len, text.splitlines())) <= 200
    # One budget, counted from the logs: 2 iterations x 4 completions for every on-policy run; 8 pairs for DPO.
    assert compare.budgets(runs) == {"ppo": {8}, "pg": {8}, "rloo": {8}, "grpo": {8}, "dpo": {8}}
    assert all(r.tokens > 0 for r in runs if r.kind in compare.ON_POLICY)
    # DPO: 8 pairs in the reward model's batches of 4, as many steps as the reward model took
    assert all(r.tokens == 0 and len(r.history) == TINY_RL.rm.steps for r in runs if r.kind == "dpo")
    assert set(compare.spread(runs, TINY_RL, "kl_k1")) == set(compare.NAMES)
    assert "GRPO (beta 0.2)" in compare.spread_table(runs, TINY_RL)
    assert set(compare.reward_hacks(runs)) == set(compare.NAMES)
    fig = plots.plot_algorithm_frontiers(compare.frontier_points(runs, TINY_RL))
    for ax in fig.axes:  # SFT's star and a curve per algorithm, on both panels
        assert {line.get_label() for line in ax.get_lines()} >= {"SFT start", *compare.NAMES.values()}

    again = compare.compare(TINY, TINY_RL, progress=False)  # every run from the cache, bit for bit
    assert [r.history for r in again] == [r.history for r in runs]
    assert [r.metrics for r in again] == [r.metrics for r in runs]


@pytest.mark.parametrize("change, setting", [
    ({"compare_iterations": 0}, "compare_iterations"),
    ({"compare_betas": {"ppo": (0.1,)}}, "compare_betas"),                 # no betas for the others
    ({"compare_betas": {**TINY_RL.compare_betas, "grpo": (0.5,)}}, "compare_betas"),  # without the default
    ({"compare_betas": {**TINY_RL.compare_betas, "grpo": (0.2, -1.0)}}, "beta"),
    ({"compare_betas": {**TINY_RL.compare_betas, "dpo": (0.3, 0.0)}}, "beta"),
    ({"rloo": dataclasses.replace(TINY_RL.rloo, prompts_per_iteration=3)}, "batch_size"),  # 6 completions, not 4
    ({"rm": RMTrainConfig(steps=20, batch_size=4)}, "rm_pairs"),           # DPO would need 80 of 60 pairs
])
def test_bad_settings_raise_a_value_error_naming_the_setting(change, setting):
    rl = dataclasses.replace(TINY_RL, **change)
    with pytest.raises(ValueError, match=setting):
        compare.check_setup(rl)
    with pytest.raises(ValueError, match=setting):
        compare.plan(rl)


def test_unknown_algorithms_and_empty_pairs_are_refused():
    with pytest.raises(ValueError, match="unknown RL algorithm 'a2c'"):
        compare.check_setup(TINY_RL, kinds=("ppo", "a2c"))
    with pytest.raises(ValueError, match="unknown RL algorithm"):
        compare.budget_config("a2c", TINY_RL)
    with pytest.raises(ValueError, match="pairs"):
        compare.dpo_logprobs(None, None, None, [])


def _run(kind, beta, kl, judge, seed=0):
    return compare.Run(kind, beta, seed, None, metrics={"kl_k1": kl, "judge_positive_rate": judge})


def test_judge_at_equal_kl_reads_each_frontier_between_its_runs():
    runs = [_run("sft", None, 0.0, 0.4, None),
            _run("ppo", 0.4, 2.0, 0.6), _run("ppo", 0.1, 6.0, 0.8), _run("ppo", 0.1, 9.0, 0.1, seed=1),
            _run("dpo", 1.0, 1.0, 0.5), _run("dpo", 0.3, 5.0, 0.9)]
    assert [r.beta for r in compare.frontier(runs, "ppo")] == [0.4, 0.1]  # seed 0 only, in order of KL
    assert compare.judge_at_kl(runs, "ppo", 4.0) == pytest.approx(0.7)
    assert compare.judge_at_kl(runs, "ppo", 7.0) is None  # past the frontier: no extrapolation
    assert compare.shared_kl(runs) == (2.0, 5.0)  # from the higher start to the lower end of the two frontiers
    at = compare.judge_at_equal_kl(runs)
    assert list(at) == [2.0, 3.5, 5.0]
    assert at[2.0] == pytest.approx({"ppo": 0.6, "dpo": 0.6}) and at[5.0] == pytest.approx({"ppo": 0.75, "dpo": 0.9})
    no_overlap = runs[:3] + [_run("dpo", 1.0, 7.0, 0.5)]
    assert compare.shared_kl(no_overlap) is None and compare.judge_at_equal_kl(no_overlap) == {}


def test_favourite_word_is_the_one_that_grew_most():
    sft = ["the cat sat", "the dog ran", "a day"]
    policy = ["so grateful!", "the grateful dog", "Grateful day"]
    assert compare.favourite_word(policy, sft) == ("grateful", 1.0, 0.0)


@pytest.mark.slow  # trains a tiny pipeline
def test_cli_prints_the_table(cache, capsys):
    from rlhf_edu import cli

    out_dir = cache / "out"
    assert cli.main(["compare", "--algos", "rloo", "dpo", "--no-progress", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "TEST SIZE" in out and "equal budgets: RLOO" in out and "[1/" in out
    assert "\nRLOO " in out and "\nDPO " in out and "judge" in out and "PPO" not in out
    assert (out_dir / "frontier.png").exists()
