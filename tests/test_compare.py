"""Notebook 12's comparison on a tiny setup: every algorithm at every beta and seed under one budget, cached
evaluations, best-of-n, clear errors, the CLI (the readings on made-up runs: test_compare_study.py)."""

import dataclasses
import math

import pytest

from rlhf_edu import plots, stages
from rlhf_edu.dpo import DPOConfig
from rlhf_edu.grpo import GRPOConfig
from rlhf_edu.policy_gradient import PGConfig
from rlhf_edu.ppo import PPOConfig
from rlhf_edu.reward_model import RMTrainConfig
from rlhf_edu.rloo import RLOOConfig
from rlhf_edu.sentiment import compare, frontiers, pipeline
from rlhf_edu.train import TrainConfig

TINY = pipeline.SentimentSetup(corpus_size=900, vocab_size=300, block_size=40,
                               pretrain=TrainConfig(steps=3, batch_size=4, eval_every=2, checkpoint_every=0),
                               sft=TrainConfig(steps=2, batch_size=4, eval_every=2, checkpoint_every=0))
# Every on-policy method samples 4 completions per iteration; DPO reads rm.steps x rm.batch_size = 8 pairs.
TINY_RL = stages.with_max_new_tokens(pipeline.RLHFSetup(
    rm_pairs=60, rm_heldout_pairs=20, rm=RMTrainConfig(steps=2, batch_size=4), calibration_samples=8,
    eval_prompts=8, heldout_prompts=8,
    ppo=PPOConfig(iterations=3, batch_size=4, minibatch_size=2, ppo_epochs=1),
    pg=PGConfig(iterations=3, batch_size=4),
    rloo=RLOOConfig(iterations=3, prompts_per_iteration=2, samples_per_prompt=2),
    grpo=GRPOConfig(iterations=3, prompts_per_iteration=2, group_size=2, minibatch_size=2, epochs=1),
    dpo=DPOConfig(batch_size=8),  # the comparison uses the reward model's batch size instead
    compare_iterations=2,
    compare_betas={"ppo": (0.1, 0.5), "pg": (0.1, 0.3), "rloo": (0.1, 0.3), "grpo": (0.2, 0.5), "dpo": (0.3, 1.0)}), 6)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path))
    monkeypatch.setenv("RLHF_EDU_SIZE", "test")
    return tmp_path


@pytest.mark.slow  # trains a tiny pipeline
def test_every_algorithm_is_in_the_table_under_one_budget(cache):
    runs = compare.compare(TINY, TINY_RL, progress=False)
    # SFT, then every beta with every seed
    assert [r.kind for r in runs] == ["sft"] + [k for k in compare.NAMES for _ in range(6)]
    assert {(r.beta, r.seed) for r in runs if r.kind == "ppo"} == {(b, s) for b in (0.1, 0.5) for s in (0, 1, 2)}
    text = compare.table(runs)
    for name in ("SFT", "PPO", "policy gradient", "RLOO", "GRPO", "DPO"):
        assert f"\n{name} " in text
    assert len(text.splitlines()) == len(runs) + 1 and max(map(len, text.splitlines())) <= 200
    # One budget, counted from the logs: 2 iterations x 4 completions for every on-policy run; 8 pairs for DPO.
    assert compare.budgets(runs) == {"ppo": {8}, "pg": {8}, "rloo": {8}, "grpo": {8}, "dpo": {8}}
    assert all(r.tokens > 0 for r in runs if r.kind in compare.ON_POLICY)
    # DPO: 8 pairs in the reward model's batches of 4, as many steps as the reward model took
    assert all(r.tokens == 0 and len(r.history) == TINY_RL.rm.steps for r in runs if r.kind == "dpo")
    # every run measured per prompt on both sets, and its evaluation cached beside its checkpoint
    assert all(len(r.by_prompt[p][k]) == 8 for r in runs for p in compare.SETS for k in ("judge", "rm_score"))
    assert runs[1].metrics["judge_positive_rate"] == pytest.approx(sum(runs[1].by_prompt["held-out"]["judge"]) / 8)
    assert len(list(cache.glob("*/evaluation-*.json"))) == len(runs) - 1
    assert set(compare.spread(runs, TINY_RL, "kl_k1")) == set(compare.NAMES)
    assert "GRPO (beta 0.2)" in compare.spread_table(runs, TINY_RL)
    assert set(compare.reward_hacks(runs)) == set(compare.NAMES)
    assert [line.split(":")[0] for line in compare.health_lines(runs, TINY_RL)] == list(compare.NAMES.values())
    bon = frontiers.best_of_n(TINY, TINY_RL, n=4)
    assert [r["n"] for r in bon["rows"]] == [1, 2, 4] and [r["cost"] for r in bon["rows"]] == [8, 16, 32]
    assert bon["rows"][1]["kl_bound"] == pytest.approx(math.log(2) - 0.5) and len(bon["chosen"]) == 8
    assert "KL bound" in frontiers.best_of_n_table(bon, TINY_RL)
    lines = frontiers.best_of_n_readings(frontiers.best_of_n_against(runs, bon))
    assert len(lines) == len(compare.NAMES)  # one line per algorithm, compared or said why not
    assert all(f" against {name}" in line for line, name in zip(lines, compare.NAMES.values()))
    points = frontiers.gao_points(runs, bon)
    assert set(points) == {*compare.NAMES.values(), "best-of-n"} and len(points["PPO"]["kl"]) == 6
    fig = plots.plot_algorithm_frontiers(frontiers.frontier_points(runs, bon))
    for ax in fig.axes:  # SFT's star, a curve per algorithm and best-of-n's, on both panels
        assert {line.get_label() for line in ax.get_lines()} >= {"SFT start", "best-of-n", *compare.NAMES.values()}
    plots.plot_overoptimization(points, frontiers.gao_fits(points))

    again = compare.compare(TINY, TINY_RL, progress=False)  # every run and evaluation from the cache, bit for bit
    assert [r.history for r in again] == [r.history for r in runs]
    assert [(r.metrics, r.training, r.by_prompt, r.completions) for r in again] == [
        (r.metrics, r.training, r.by_prompt, r.completions) for r in runs]
    assert frontiers.best_of_n(TINY, TINY_RL, n=4)["chosen"] == bon["chosen"]


@pytest.mark.parametrize("change, setting", [
    ({"compare_iterations": 0}, "compare_iterations"),
    ({"compare_betas": {"ppo": (0.1,)}}, "compare_betas"),                 # no betas for the others
    ({"compare_betas": {**TINY_RL.compare_betas, "grpo": (0.5, 0.7)}}, "compare_betas"),  # without the default
    ({"compare_betas": {**TINY_RL.compare_betas, "grpo": (0.2,)}}, "compare_betas"),  # one beta: no frontier
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
    assert "TEST SIZE" in out and "equal budgets: RLOO" in out and "[1/12]" in out  # (RLOO, DPO) x 2 betas x 3 seeds
    assert "\nRLOO " in out and "\nDPO " in out and "judge" in out and "PPO" not in out
    for prompts in compare.SETS:  # a table at equal KL, or why there is none (test size's runs barely move)
        assert f"judge at equal KL, {prompts} prompts" in out or f"({prompts} prompts) the algorithms'" in out
    for text in ("best-of-n from the SFT", " against RLOO", " against DPO",
                 "KL bound", "Gao et al.", "R²", "cheapest to dearest", "health", " of 6 runs healthy"):
        assert text in out, text
    assert (out_dir / "frontier.png").exists() and (out_dir / "overoptimization.png").exists()
