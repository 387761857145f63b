"""Notebook 07's reward playground in a real browser (headless Chromium + JupyterLab).

Opt-in: it starts JupyterLab and a browser and needs Debian's chromium and chromium-driver plus
selenium, which CI does not install. Run it with

    RLHF_EDU_BROWSER=1 .venv/bin/python -m pytest -q tests/browser -p no:cacheprovider

(or ``.venv/bin/python tools/browser_check.py``, which also saves figures/browser_reward_playground.png).
"""

import importlib.util
import os
import pathlib

import pytest

_path = pathlib.Path(__file__).resolve().parents[2] / "tools" / "browser_check.py"
_spec = importlib.util.spec_from_file_location("browser_check", _path)
browser_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser_check)

_why_not = ("set RLHF_EDU_BROWSER=1 to run the browser check" if os.environ.get("RLHF_EDU_BROWSER") != "1"
            else browser_check.available())


@pytest.mark.skipif(bool(_why_not), reason=str(_why_not))
def test_typing_a_tweet_changes_the_score_shown(tmp_path):
    result = browser_check.check(screenshot=tmp_path / "reward_playground.png")
    assert result["score_second"] != result["score_first"]
    assert result["vader_second"] < 0
    assert (tmp_path / "reward_playground.png").stat().st_size > 10_000
