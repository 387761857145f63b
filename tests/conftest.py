"""Fixtures for the tiny models every RL test builds on (definitions in ``tests/tiny.py``)."""

import pytest
from tiny import PROMPTS, TOK, tiny_gpt, tiny_reward_model


@pytest.fixture
def tok():
    return TOK


@pytest.fixture
def prompts():
    return list(PROMPTS)


@pytest.fixture
def tiny_policy():
    return tiny_gpt(seed=0)


@pytest.fixture
def tiny_reward():
    return tiny_reward_model(seed=1)
