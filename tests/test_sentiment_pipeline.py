"""The cached pipeline, end to end on a tiny setup: every stage trains once, then loads."""

import dataclasses

import pytest
import torch

from rlhf_edu import stages
from rlhf_edu.policy_gradient import PGConfig
from rlhf_edu.ppo import PPOConfig
from rlhf_edu.reward_model import RMTrainConfig
from rlhf_edu.sentiment import pipeline
from rlhf_edu.train import TrainConfig

TINY = pipeline.SentimentSetup(corpus_size=900, vocab_size=300, block_size=40,
                               pretrain=TrainConfig(steps=3, batch_size=4, eval_every=2, checkpoint_every=0),
                               sft=TrainConfig(steps=2, batch_size=4, eval_every=2, checkpoint_every=0))
TINY_RL = stages.with_max_new_tokens(pipeline.RLHFSetup(
    rm_pairs=60, rm_heldout_pairs=20, rm=RMTrainConfig(steps=2, batch_size=4), calibration_samples=8,
    ppo=PPOConfig(iterations=1, batch_size=4, minibatch_size=2, ppo_epochs=1),
    pg=PGConfig(iterations=1, batch_size=4)), 6)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.slow  # trains a tiny pipeline
def test_every_stage_trains_once_then_loads_from_the_cache(cache):
    sft, hist = pipeline.sft_model(TINY, progress=False)
    assert hist.step == [0, 1]
    rm, info = pipeline.reward_model(TINY, TINY_RL, progress=False)
    assert 0.0 <= info["heldout_accuracy"] <= 1.0
    ppo, ppo_hist = pipeline.ppo_policy(TINY, TINY_RL, progress=False)
    pg, pg_hist = pipeline.pg_policy(TINY, TINY_RL, progress=False)
    assert len(ppo_hist) == 1 and len(pg_hist) == 1
    stages = sorted(p.name.split("-")[0] for p in cache.iterdir() if p.is_dir())
    assert stages == ["pg", "ppo", "pretrain", "rm", "sft"]

    # Second time round: everything loads, bit for bit.
    sft2, _ = pipeline.sft_model(TINY, progress=False)
    rm2, info2 = pipeline.reward_model(TINY, TINY_RL, progress=False)
    ppo2, hist2 = pipeline.ppo_policy(TINY, TINY_RL, progress=False)
    assert torch.equal(sft.wte.weight, sft2.wte.weight)
    assert torch.equal(rm.head.weight, rm2.head.weight) and rm.gain == rm2.gain
    assert torch.equal(ppo.wte.weight, ppo2.wte.weight) and hist2 == ppo_hist

    # A changed setting trains a fresh checkpoint instead of reusing a stale one.
    other = dataclasses.replace(TINY_RL, ppo=dataclasses.replace(TINY_RL.ppo, beta=0.5))
    pipeline.ppo_policy(TINY, other, progress=False)
    assert sum(p.name.startswith("ppo-") for p in cache.iterdir()) == 2

    # New SFT settings train SFT again but reuse pretraining (its key ignores the SFT settings).
    other_sft = dataclasses.replace(TINY, sft=dataclasses.replace(TINY.sft, steps=3))
    pipeline.sft_model(other_sft, progress=False)
    assert sum(p.name.startswith("sft-") for p in cache.iterdir()) == 2
    assert sum(p.name.startswith("pretrain-") for p in cache.iterdir()) == 1


def test_every_reward_model_setting_reaches_the_reward_model_and_policy_keys():
    changes = {"rm": dataclasses.replace(TINY_RL.rm, steps=3), "rm_pairs": 61, "rm_heldout_pairs": 21,
               "calibration_samples": 9, "max_new_tokens": 7, "calibration_seed": 1}
    # Every RLHFSetup field is either an RL-stage config (its own part of the key; the comparison's
    # fields are part of each comparison run's config, see sentiment/compare.py) or tested here.
    # eval_prompts is read at evaluation only: it trains nothing.
    rl_stages = {"ppo", "pg", "rloo", "grpo", "dpo", "sweep", "sweep_betas", "compare_iterations", "compare_betas",
                 "eval_prompts", "heldout_prompts"}
    assert {f.name for f in dataclasses.fields(pipeline.RLHFSetup)} == set(changes) | rl_stages
    for name, value in changes.items():
        other = (stages.with_max_new_tokens(TINY_RL, value) if name == "max_new_tokens"  # one setting for all
                 else dataclasses.replace(TINY_RL, **{name: value}))
        assert pipeline.rm_dir(TINY, other) != pipeline.rm_dir(TINY, TINY_RL), name
        assert (pipeline.policy_dir("ppo", TINY, other, TINY_RL.ppo)
                != pipeline.policy_dir("ppo", TINY, TINY_RL, TINY_RL.ppo)), name


@pytest.mark.slow  # trains a tiny pipeline
def test_progress_bars_are_off_at_test_size_and_on_when_asked(cache, capfd, monkeypatch):
    # Under pytest a late progress-bar update can land in a later notebook cell's output (nbval
    # then fails that cell), so at test size the stages default to no bars.
    monkeypatch.setenv("RLHF_EDU_SIZE", "test")
    assert stages.run_size() == "test" and stages.show_progress() is False
    pipeline.pretrained_model(TINY)
    assert capfd.readouterr().err == ""
    pipeline.pretrained_model(TINY, retrain=True, progress=True)
    assert "pretrain" in capfd.readouterr().err


def test_the_run_size_is_read_when_a_stage_runs_not_at_import(monkeypatch):
    # A notebook may set RLHF_EDU_SIZE after importing the package; the next stage must see it.
    monkeypatch.setenv("RLHF_EDU_SIZE", "full")
    assert stages.full_size() and pipeline.setup().pretrain.steps == pipeline.SentimentSetup().pretrain.steps
    assert len(pipeline.evaluation_prompts()) == 48
    monkeypatch.setenv("RLHF_EDU_SIZE", "test")
    assert not stages.full_size() and pipeline.setup() == pipeline.SentimentSetup.test_size()
    assert pipeline.rl_setup() == pipeline.RLHFSetup.test_size() and len(pipeline.evaluation_prompts()) == 8
    monkeypatch.setenv("RLHF_EDU_SIZE", "huge")
    with pytest.raises(ValueError, match="RLHF_EDU_SIZE"):
        pipeline.setup()


@pytest.mark.slow  # trains a tiny pipeline
def test_every_algorithm_is_a_cached_stage_keyed_by_its_settings(cache):
    from rlhf_edu.dpo import DPOConfig
    from rlhf_edu.grpo import GRPOConfig
    from rlhf_edu.rloo import RLOOConfig

    rl = dataclasses.replace(TINY_RL, rloo=RLOOConfig(iterations=1, prompts_per_iteration=2, max_new_tokens=6),
                             grpo=GRPOConfig(iterations=1, prompts_per_iteration=2, max_new_tokens=6,
                                             minibatch_size=4, epochs=1),
                             dpo=DPOConfig(epochs=1, batch_size=20, max_new_tokens=6))
    for kind in ("rloo", "grpo", "dpo"):
        policy, hist = pipeline.policy(kind, TINY, rl, progress=False)
        again, hist2 = pipeline.policy(kind, TINY, rl, progress=False)  # from the cache, bit for bit
        assert torch.equal(policy.wte.weight, again.wte.weight) and hist2 == hist and len(hist) >= 1
    other = dataclasses.replace(rl, grpo=dataclasses.replace(rl.grpo, beta=0.5))
    assert pipeline.policy_dir("grpo", TINY, other) != pipeline.policy_dir("grpo", TINY, rl)
    with pytest.raises(ValueError, match="unknown RL algorithm"):
        pipeline.policy("a2c", TINY, rl)


@pytest.mark.slow  # trains a tiny pipeline
def test_cli_trains_and_reports_any_algorithm(cache, tmp_path, capsys, monkeypatch):
    from rlhf_edu import cli

    monkeypatch.setenv("RLHF_EDU_SIZE", "test")
    assert cli.main(["sentiment", "--algo", "rloo", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "RLOO" in out and "judge positive rate" in out and (tmp_path / "rloo_training.png").exists()
