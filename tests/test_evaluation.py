"""Evaluation metrics and the CLI's worked-examples report."""

import pytest

from rlhf_edu import cli
from rlhf_edu.evaluation import distinct_n, repetition_rate
from rlhf_edu.sentiment.evaluation import metrics_table


def test_distinct_n_counts_unique_ngrams_over_all_texts():
    assert distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["happy happy happy"], 2) == pytest.approx(1 / 2)
    assert distinct_n([], 2) == 0.0


def test_repetition_rate():
    assert repetition_rate(["love love love"]) == pytest.approx(2 / 3)
    assert repetition_rate(["a b c"]) == 0.0


def test_metrics_table_lists_each_model_as_a_column():
    table = metrics_table({"SFT": {"rm_score": 0.1, "kl_k1": 0.0}, "PPO": {"rm_score": 2.5, "kl_k1": 3.0}})
    assert "SFT" in table and "PPO" in table and "2.500" in table and "KL to reference" in table


def test_cli_examples_prints_the_worked_numbers(capsys):
    assert cli.main(["examples"]) == 0
    out = capsys.readouterr().out
    for number in ("0.504", "0.881", "0.127", "2.128", "1.5", "2.4", "-0.8", "3.42"):
        assert number in out, number


def test_cli_rejects_unknown_commands():
    with pytest.raises(SystemExit):
        cli.main(["nonsense"])


def test_cli_bad_arguments_get_one_line_errors(capsys, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["summarize", "--max-rows", "-3"])
    assert "positive whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["summarize", "--tldr-dir", "somewhere"])  # offline task: local files need --hf-model
    assert "go with --hf-model" in capsys.readouterr().err
    code = cli.main(["summarize", "--hf-model", "tiny", "--tldr-dir", str(tmp_path / "missing"),
                     "--comparisons-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rlhf-edu: error:") and "Traceback" not in err
