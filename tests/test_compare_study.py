"""Notebook 12's readings on made-up runs whose answers are known: equal KL per seed with intervals,
pairwise verdicts, the cost order, best-of-n's rows, and Gao et al.'s fits and their notes."""

import math

import numpy as np
import pytest

from rlhf_edu import overoptimization, stats
from rlhf_edu.sentiment import compare, frontiers

PROMPTS = 6


def _run(kind, beta, seed, kl, judge, rm=None, seconds=1.0, tokens=10):
    """A run whose per-prompt judge is ``judge`` (a list), at KL ``kl`` on both prompt sets."""
    rm = judge if rm is None else rm
    metrics = {"kl_k1": kl, "judge_positive_rate": float(np.mean(judge)), "rm_score": float(np.mean(rm))}
    by = {"judge": list(judge), "rm_score": list(rm)}
    return compare.Run(kind, beta, seed, None, history=[{"seconds": seconds, "tokens": tokens}], metrics=metrics,
                       training=dict(metrics), by_prompt={"held-out": by, "training": by})


def _design(offset, rng, kls=((1.0, 5.0), (2.0, 6.0), (1.5, 4.0)), slope=0.1, noise=0.0, kind="ppo"):
    """Three seeds x two betas whose judge is offset + slope * KL + a prompt effect (+ noise)."""
    prompt = np.linspace(-0.1, 0.1, PROMPTS)
    runs = []
    for seed, pair in enumerate(kls):
        for beta, kl in zip((0.3, 0.1), pair):
            runs.append(_run(kind, beta, seed, kl, offset + slope * kl + prompt + noise * rng.standard_normal(PROMPTS)))
    return runs


def test_frontier_table_is_seeds_by_betas_by_prompts():
    runs = [_run("sft", None, None, 0.0, [0.4] * PROMPTS)] + _design(0.5, np.random.default_rng(0))
    kl, v = frontiers.frontier_table(runs, "ppo")
    assert kl.shape == (3, 2) and v.shape == (3, 2, PROMPTS)
    assert kl[0].tolist() == [5.0, 1.0]  # betas sorted (0.1 first): beta 0.1 is the run at KL 5
    assert v[1, 1, 0] == pytest.approx(0.5 + 0.1 * 2.0 - 0.1)


def test_common_kls_lie_inside_every_seeds_frontier_and_the_interval_is_the_crossed_one():
    rng = np.random.default_rng(1)
    runs = ([_run("sft", None, None, 0.0, [0.4] * PROMPTS)] + _design(0.5, rng, noise=0.05)
            + _design(0.2, rng, kls=((0.5, 3.0), (1.8, 4.5), (1.0, 7.0)), noise=0.05, kind="dpo"))
    kls = frontiers.common_kls(runs, levels=3)
    assert kls == pytest.approx([2.25, 2.5, 2.75])  # inside [2.0, 3.0]: the highest start, the lowest end
    at = frontiers.equal_kl(runs, kls)
    for kl in kls:
        kl_tab, v = frontiers.frontier_table(runs, "dpo")
        per_seed = np.stack([[np.interp(kl, np.sort(kl_tab[s]), v[s][np.argsort(kl_tab[s]), p]) for p in range(PROMPTS)]
                             for s in range(3)])
        assert tuple(at[kl]["dpo"]) == pytest.approx(tuple(stats.mean_ci(per_seed, "crossed")))
    apart = [_run("sft", None, None, 0.0, [0.4] * PROMPTS)] + _design(0.5, rng) + _design(
        0.5, rng, kls=((6.0, 9.0),) * 3, kind="dpo")
    assert frontiers.common_kls(apart) == [] and "share no KL" in frontiers.equal_kl_table(apart)


def test_a_winner_is_named_only_when_the_interval_excludes_zero():
    rng = np.random.default_rng(2)
    sft = [_run("sft", None, None, 0.0, [0.4] * PROMPTS)]
    runs = sft + _design(0.5, rng, noise=0.02) + _design(0.2, rng, noise=0.02, kind="dpo") + _design(
        0.5, rng, noise=0.02, kind="grpo")
    kls = frontiers.common_kls(runs, levels=1)
    diffs = frontiers.differences(runs, kls)[kls[0]]
    ci, up, n = diffs["ppo", "dpo"]  # a is always the higher one
    assert ci.low > 0 and (up, n) == (3, 3)
    assert ("dpo", "ppo") not in diffs and len(diffs) == 3
    text = frontiers.readings({kls[0]: diffs})[0]
    assert "PPO beats DPO by 0.30" in text and "GRPO beats DPO" in text
    assert "the other 1 pairs are tied within noise" in text and "PPO beats GRPO" not in text
    table = frontiers.equal_kl_table(runs)
    assert "judge at equal KL, held-out prompts" in table and table.count("\nat KL") == 3
    tied = frontiers.readings(frontiers.differences(sft + _design(0.5, rng, noise=0.3) + _design(
        0.5, rng, noise=0.3, kind="dpo"), kls))
    assert tied == [f"at KL {kls[0]:.2f}: all 1 pairs are tied within noise."]


def test_costs_are_ordered_only_where_the_ranges_do_not_overlap():
    runs = [_run("sft", None, None, 0.0, [0.4] * PROMPTS)]
    for kind, secs in (("ppo", (10, 12)), ("grpo", (11, 13)), ("rloo", (3, 4))):
        runs += [_run(kind, 0.1, seed, 1.0, [0.5] * PROMPTS, seconds=s) for seed, s in enumerate(secs)]
    c = compare.costs(runs)
    assert c["ppo"]["seconds"] == (11.0, 10, 12) and c["ppo"]["tokens"] == (10.0, 10, 10)
    assert compare.cost_order(c) == "RLOO 3.5 < PPO 11.0 ≈ GRPO 12.0"


def test_health_lines_name_the_least_healthy_run():
    rl = compare.pipeline.RLHFSetup(compare_iterations=2)
    hot = [{"clip_frac": 0.5, "approx_kl": 0.01}, {"clip_frac": 0.1, "approx_kl": 0.01}]
    calm = [{"clip_frac": 0.05, "approx_kl": 0.01}] * 2
    runs = [_run("sft", None, None, 0.0, [0.4] * PROMPTS), _run("ppo", 0.1, 0, 1.0, [0.5] * PROMPTS),
            _run("ppo", 0.3, 1, 1.0, [0.5] * PROMPTS), _run("dpo", 0.3, 0, 1.0, [0.5] * PROMPTS)]
    runs[1].history, runs[2].history = calm, hot
    lines = compare.health_lines(runs, rl)
    assert lines[0].startswith("PPO: 1 of 2 runs healthy; least healthy (beta 0.3, seed 1)")
    assert "OUTSIDE the healthy range" in lines[0] and "DPO: logs no clip fraction" in lines[1]


def test_gao_points_are_relative_to_the_start_and_the_forms_fit_their_own_curves():
    d = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    gold_rl = overoptimization.gold_rl(d, 0.3, 0.2)
    runs = [_run("sft", None, None, 0.0, [0.4] * PROMPTS, rm=[0.1] * PROMPTS)]
    runs += [_run("ppo", b, 0, float(x ** 2), [0.4 + g] * PROMPTS, rm=[0.1 + x] * PROMPTS)
             for b, x, g in zip((0.6, 0.5, 0.4, 0.3, 0.2, 0.1), d, gold_rl)]
    rows = [{"n": n, "kl_bound": k, "judge": np.full(PROMPTS, 0.4 + g), "rm_score": np.full(PROMPTS, k)}
            for n, k, g in zip((1, 2, 4, 8), (0.0, 0.19, 0.64, 1.2), (0.0, 0.05, 0.08, 0.06))]
    points = frontiers.gao_points(runs, {"rows": rows})
    assert points["PPO"]["gold"] == pytest.approx(gold_rl.tolist())
    assert points["PPO"]["proxy"] == pytest.approx(d.tolist())
    assert points["best-of-n"]["form"] == "bon" and points["best-of-n"]["gold"] == pytest.approx([0, 0.05, 0.08, 0.06])
    fits = frontiers.gao_fits(points)
    assert (fits["PPO"]["gold"].alpha, fits["PPO"]["gold"].beta) == pytest.approx((0.3, 0.2))
    assert fits["PPO"]["gold"].r2 == pytest.approx(1.0) and fits["PPO"]["gold_other_form"].form == "bon"
    notes = dict(line.split(" ", 1) for line in frontiers.gao_notes(fits))
    assert notes["PPO"].startswith("(rl): R² 1.00") and "poor" not in notes["PPO"]
    assert "gold" in frontiers.gao_table(fits) and "proxy" in frontiers.gao_table(fits)


def test_gao_notes_say_when_a_fit_is_poor_extrapolated_or_missing():
    def fit(form, alpha, beta, r2, kl_max):
        peak_d, peak_gold = overoptimization.peak(form, alpha, beta)
        return overoptimization.Fit(form, alpha, beta, r2, peak_d, peak_d ** 2, peak_gold, kl_max)

    fits = {"A": {"gold": fit("rl", 0.5, 0.1, 0.2, 4.0), "gold_other_form": fit("bon", 0.5, 0.1, 0.22, 4.0)},
            "B": {"gold": fit("bon", 0.5, 0.1, 0.9, 4.0), "gold_other_form": None},
            "C": {"gold": fit("rl", 0.5, -0.1, 0.9, 4.0), "gold_other_form": None},
            "D": {"gold": None, "gold_other_form": None}}
    notes = frontiers.gao_notes(fits)
    assert notes[0].startswith("A (rl): poor fit (R² 0.20 < 0.5); the other form fits as well (R² 0.22)")
    assert "its peak (KL 6.25) lies beyond the largest KL measured (4.0): an extrapolation" in notes[1]
    assert "never turns over" in notes[2] and notes[3] == "D: no fit (too few distinct KLs)"
    nan = frontiers.gao_notes({"E": {"gold": fit("rl", 0.0, 0.0, math.nan, 1.0), "gold_other_form": None}})
    assert nan == ["E (rl): the gold does not vary: nothing to fit (R² undefined)"]


def test_the_frontier_band_is_the_interval_at_each_grid_kl():
    rng = np.random.default_rng(3)
    runs = [_run("sft", None, None, 0.0, [0.4] * PROMPTS)] + _design(0.5, rng, noise=0.05)
    points = frontiers.frontier_points(runs, grid=4)
    band = points["curves"]["PPO"]["band"]
    assert band["kl_k1"] == pytest.approx([2.0, 8 / 3, 10 / 3, 4.0])
    at = frontiers.at_kl(runs, [8 / 3])["ppo"][:, 0]
    assert band["judge_positive_rate"][1] == pytest.approx(tuple(stats.mean_ci(at, "crossed")))
    assert len(points["curves"]["PPO"]["runs"]) == 6 and "best_of_n" not in points


def test_best_of_n_is_compared_where_its_kl_is_no_larger():
    rng = np.random.default_rng(4)
    runs = [_run("sft", None, None, 0.0, [0.4] * PROMPTS)] + _design(0.5, rng, noise=0.02)  # lowest KLs 1, 2, 1.5
    rows = [{"n": n, "kl_bound": k, "judge": np.full(PROMPTS, j), "rm_score": np.zeros(PROMPTS)}
            for n, k, j in ((1, 0.0, 0.4), (2, 0.19, 0.5), (8, 1.2, 0.9), (16, 1.84, 0.95), (32, 2.5, 0.99))]
    a = frontiers.best_of_n_against(runs, {"rows": rows})["ppo"]
    assert a["kl"] == 2.0 and (a["n"], a["kl_bound"]) == (16, 1.84)  # the largest n at KL <= 2, not 32
    kl, v = frontiers.frontier_table(runs, "ppo")
    rl = stats.at_common_kl(kl, v, 2.0)
    assert tuple(a["diff"]) == pytest.approx(tuple(stats.mean_ci(0.95 - rl, "crossed")))
    assert a["diff"].low > 0  # PPO's judge is about 0.7 at KL 2
    line = frontiers.best_of_n_readings({"ppo": a})[0]
    assert line.startswith("best-of-16 (KL at most 1.84, judge 0.950) against PPO at KL 2.00")
    assert "best-of-16 beats PPO" in line
    rows[3]["judge"] = rows[4]["judge"] = rl.mean(axis=0)  # the same judge per prompt as the seeds' mean: a tie
    tied = frontiers.best_of_n_readings(frontiers.best_of_n_against(runs, {"rows": rows}))
    assert tied[0].endswith("tied within noise.")
    with pytest.raises(ValueError, match="not the same prompts"):
        frontiers.best_of_n_against(runs, {"rows": [dict(r, judge=np.zeros(3)) for r in rows]})


def test_best_of_n_is_not_compared_where_the_seeds_share_no_kl():
    rng = np.random.default_rng(5)
    runs = [_run("sft", None, None, 0.0, [0.4] * PROMPTS)] + _design(0.5, rng, kls=((1.0, 2.0), (3.0, 4.0), (1.0, 5.0)))
    rows = [{"n": n, "kl_bound": k, "judge": np.full(PROMPTS, 0.9), "rm_score": np.zeros(PROMPTS)}
            for n, k in ((1, 0.0), (4, 0.64))]
    against = frontiers.best_of_n_against(runs, {"rows": rows})
    assert against == {"ppo": None}  # seed 0 ends at KL 2, seed 1 starts at 3: nothing inside both
    assert frontiers.best_of_n_readings(against) == [
        "best-of-n against PPO: its seeds' frontiers share no KL, so no comparison."]
