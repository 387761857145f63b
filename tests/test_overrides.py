"""--set FIELD=VALUE: typed, checked, one-line errors, and part of every stage's cache key."""

import dataclasses

import pytest

from rlhf_edu import cli, overrides, stages
from rlhf_edu.ppo import PPOConfig
from rlhf_edu.sentiment import pipeline
from rlhf_edu.tldr import pipeline as sm
from rlhf_edu.tldr import rounds

ROOTS = {"setup": pipeline.SentimentSetup(), "rl": pipeline.RLHFSetup()}


def test_values_are_parsed_by_the_fields_type():
    out = overrides.apply(ROOTS, ["ppo.beta=0.3", "ppo.iterations=12", "ppo.anneal_lr=false", "block_size=64",
                                  "ppo.target_approx_kl=0.02", "sweep_betas=0,0.1", "pretrain.betas=0.9,0.99"])
    rl, s = out["rl"], out["setup"]
    assert (rl.ppo.beta, rl.ppo.iterations, rl.ppo.anneal_lr, rl.ppo.target_approx_kl) == (0.3, 12, False, 0.02)
    assert rl.sweep_betas == (0.0, 0.1) and s.block_size == 64 and s.pretrain.betas == (0.9, 0.99)
    assert rl.pg == ROOTS["rl"].pg and ROOTS["rl"].ppo.beta == 0.07  # nothing else changed, the input neither
    assert overrides.apply(ROOTS, ["ppo.target_approx_kl=none"])["rl"].ppo.target_approx_kl is None


def test_max_new_tokens_is_one_setting_for_every_rl_config():
    rl = overrides.apply(ROOTS, ["max_new_tokens=16"])["rl"]
    assert {getattr(rl, n).max_new_tokens for n in ("ppo", "pg", "rloo", "grpo", "dpo", "sweep")} == {16}
    with pytest.raises(ValueError, match=r"ppo.max_new_tokens \(16\) must equal max_new_tokens \(24\)"):
        overrides.apply(ROOTS, ["ppo.max_new_tokens=16"])


@pytest.mark.parametrize("item, message", [
    ("ppo.bta=0.3", "PPOConfig has no field 'bta'; its fields: .*beta"),
    ("bta=0.3", "no setting 'bta'; settings: .*block_size.*ppo"),
    ("ppo.beta=abc", r"--set ppo.beta: expected float \(finite\), got 'abc'"),
    ("ppo.iterations=2.5", "expected int"),
    ("ppo.anneal_lr=maybe", "expected bool"),
    ("ppo.beta=-1", "--set ppo.beta=-1: beta must be >= 0"),
    ("ppo=3", "ppo is a config; set one of its fields"),
    ("ppo.beta.x=1", "beta is a float, not a config"),
    ("compare_betas=1", r"compare_betas \(dict\) cannot be set"),
    ("ppo.beta=inf", r"expected float \(finite\)"),
    ("sweep_betas=", "expected comma-separated values"),
    ("ppo.batch_size=30", r"--set ppo.batch_size=30: batch_size \(30\) must be a multiple of minibatch_size"),
    ("ppo.beta", "--set takes FIELD=VALUE"),
])
def test_bad_settings_get_one_line_errors_naming_the_field(item, message):
    with pytest.raises(ValueError, match=message) as err:
        overrides.apply(ROOTS, [item])
    assert "\n" not in str(err.value)


def test_settings_that_depend_on_each_other_change_together():
    # Checked once, on the final values: each alone would break batch_size % minibatch_size.
    rl = overrides.apply(ROOTS, ["ppo.batch_size=24", "ppo.minibatch_size=12"])["rl"]
    assert (rl.ppo.batch_size, rl.ppo.minibatch_size) == (24, 12)
    rl = overrides.apply(ROOTS, ["grpo.group_size=3", "grpo.minibatch_size=12", "ppo.beta=0.2", "ppo.beta=0.25"])["rl"]
    assert rl.grpo.batch_size == 24 and rl.ppo.beta == 0.25  # the later --set of one path wins


@pytest.mark.parametrize("command, item", [("sentiment", "sweep.lr=1e-4"), ("sentiment", "compare_iterations=3"),
                                           ("compare", "ppo.beta=0.3"), ("compare", "grpo.iterations=5"),
                                           ("compare", "dpo.batch_size=8")])
def test_a_setting_the_command_does_not_read_is_refused(command, item, capsys):
    assert cli.main([command, "--set", item]) == 2
    assert "does not use this setting" in capsys.readouterr().err


def test_prefixed_roots_and_the_help_listing():
    roots = {"setup": sm.SummarySetup(), "rounds": rounds.RoundsConfig()}
    out = overrides.apply(roots, ["rounds.noise=0.05", "ppo.lr=1e-4"], prefixed=("rounds",))
    assert out["rounds"].noise == 0.05 and out["setup"].ppo.lr == 1e-4
    text = overrides.help_text(roots, prefixed=("rounds",))
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines()}
    assert lines["rounds.noise"] == ["float", "0.15"] and lines["ppo.lr"] == ["float", "5e-05"]
    assert lines["ppo.target_approx_kl"][0] == "float" and lines["ppo.target_approx_kl"][-1] == "None"
    assert "ppo.max_new_tokens" not in lines and lines["max_new_tokens"] == ["int", "24"]  # one setting


def test_a_changed_setting_changes_the_stage_keys_it_should():
    s, rl = ROOTS["setup"], ROOTS["rl"]
    new = overrides.apply(ROOTS, ["ppo.beta=0.3"])["rl"]
    assert pipeline.policy_dir("ppo", s, new) != pipeline.policy_dir("ppo", s, rl)
    assert pipeline.rm_dir(s, new) == pipeline.rm_dir(s, rl)  # a new beta retrains no reward model
    sft_steps = overrides.apply(ROOTS, ["sft.steps=10"])["setup"]
    assert pipeline.rm_dir(sft_steps, rl) != pipeline.rm_dir(s, rl)


def test_every_setting_a_stage_reads_is_in_its_key():
    # Each Setup field is either in STAGE_FIELDS or keys its stage through the config passed with it.
    assert set(pipeline.STAGE_FIELDS["sft"]) == {f.name for f in dataclasses.fields(pipeline.SentimentSetup)}
    rl_fields = {f.name for f in dataclasses.fields(pipeline.RLHFSetup)}
    own_key = {"ppo", "pg", "rloo", "grpo", "dpo", "sweep"}        # each policy's key holds its whole config
    not_trained = {"eval_prompts", "heldout_prompts", "sweep_betas", "compare_iterations",  # read at evaluation
                   "compare_betas"}
    assert rl_fields == set(pipeline.STAGE_FIELDS["rm"]) | own_key | not_trained


# ---------------------------------------------------------------- the command line, on tiny settings

TINY = pipeline.SentimentSetup(corpus_size=900, vocab_size=300, block_size=40,
                               pretrain=dataclasses.replace(pipeline.SentimentSetup.test_size().pretrain, steps=3,
                                                            batch_size=4),
                               sft=dataclasses.replace(pipeline.SentimentSetup.test_size().sft, steps=2, batch_size=4))
TINY_RL = stages.with_max_new_tokens(dataclasses.replace(
    pipeline.RLHFSetup.test_size(), rm_pairs=60, rm_heldout_pairs=20, calibration_samples=8, eval_prompts=4,
    ppo=PPOConfig(iterations=1, batch_size=4, minibatch_size=2, ppo_epochs=1, beta=0.15)), 6)


@pytest.fixture()
def tiny_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "setup", lambda: TINY)
    monkeypatch.setattr(pipeline, "rl_setup", lambda: TINY_RL)
    return tmp_path


@pytest.mark.slow  # trains a tiny pipeline
def test_cli_set_trains_a_new_cached_policy_and_keeps_the_earlier_stages(tiny_cli, capsys):
    args = ["sentiment", "--no-progress", "--out", str(tiny_cli / "out")]
    assert cli.main(args) == 0
    before = {p.name for p in (tiny_cli / "cache").iterdir() if p.is_dir()}
    assert cli.main(args + ["--set", "ppo.beta=0.3"]) == 0
    after = {p.name for p in (tiny_cli / "cache").iterdir() if p.is_dir()}
    new = after - before
    assert len(new) == 1 and next(iter(new)).startswith("ppo-")  # pretrain, SFT and the reward model reused
    assert "settings changed: ppo.beta=0.3" in capsys.readouterr().out


def test_cli_bad_set_is_one_line_naming_the_valid_fields(tiny_cli, capsys):
    assert cli.main(["sentiment", "--set", "ppo.bta=0.3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no field 'bta'" in err and "beta" in err
    assert not (tiny_cli / "cache").exists() or not any((tiny_cli / "cache").iterdir())  # nothing trained


def test_help_lists_only_the_settings_a_command_reads(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    listed = {line.split()[0] for line in capsys.readouterr().out.split("settings (--set")[1].splitlines()[1:]}
    assert {"ppo.lr", "compare_iterations", "rm.steps"} <= listed
    assert not listed & {"ppo.beta", "ppo.seed", "grpo.iterations", "sweep.lr", "sweep_betas"}
