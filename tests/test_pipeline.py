"""The cached pipeline, end to end on a tiny setup: every stage trains once, then loads."""

import dataclasses

import pytest
import torch

from rlhf_edu import pipeline
from rlhf_edu.policy_gradient import PGConfig
from rlhf_edu.ppo import PPOConfig
from rlhf_edu.reward_model import RMTrainConfig
from rlhf_edu.train import TrainConfig

TINY = pipeline.SentimentSetup(corpus_size=900, vocab_size=300, block_size=40,
                               pretrain=TrainConfig(steps=3, batch_size=4, eval_every=2, checkpoint_every=0),
                               sft=TrainConfig(steps=2, batch_size=4, eval_every=2, checkpoint_every=0))
TINY_RL = pipeline.RLHFSetup(rm_pairs=60, rm_heldout_pairs=20, rm=RMTrainConfig(steps=2, batch_size=4), calibration_samples=8,
                             max_new_tokens=6,
                             ppo=PPOConfig(iterations=1, batch_size=4, minibatch_size=2, max_new_tokens=6, ppo_epochs=1),
                             pg=PGConfig(iterations=1, batch_size=4, max_new_tokens=6))


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path))
    return tmp_path


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
    # Every RLHFSetup field is either an RL-stage config (its own part of the key) or tested here.
    assert {f.name for f in dataclasses.fields(pipeline.RLHFSetup)} == set(changes) | {"ppo", "pg", "sweep",
                                                                                      "sweep_betas"}
    for name, value in changes.items():
        other = dataclasses.replace(TINY_RL, **{name: value})
        assert pipeline._rm_dir(TINY, other) != pipeline._rm_dir(TINY, TINY_RL), name
        assert (pipeline._policy_dir("ppo", TINY, other, TINY_RL.ppo)
                != pipeline._policy_dir("ppo", TINY, TINY_RL, TINY_RL.ppo)), name


@pytest.mark.skipif(pipeline.FULL_SIZE, reason="checks the test-size default (RLHF_EDU_SIZE=test)")
def test_progress_bars_are_off_at_test_size_and_on_when_asked(cache, capfd):
    # Under pytest a late progress-bar update can land in a later notebook cell's output (nbval
    # then fails that cell), so at test size the stages default to no bars.
    assert pipeline.SIZE == "test" and pipeline.SHOW_PROGRESS is False
    pipeline.pretrained_model(TINY)
    assert capfd.readouterr().err == ""
    pipeline.pretrained_model(TINY, retrain=True, progress=True)
    assert "pretrain" in capfd.readouterr().err
