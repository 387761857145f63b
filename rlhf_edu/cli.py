"""The rlhf-edu command line.

    rlhf-edu examples                 print every worked number of the story
    rlhf-edu sentiment [--out DIR]    pretrain -> SFT -> reward model -> PPO on tweets,
                                      a before/after table, samples, and curves as PNG;
                                      --algo pg|rloo|grpo|dpo fine-tunes with another algorithm
    rlhf-edu compare [--out DIR]      notebook 12's table: PPO, policy gradient, RLOO, GRPO and DPO
                                      under one budget, a beta sweep and 3 seeds each, from the cache
    rlhf-edu summarize [--out DIR]    SFT -> reward model -> PPO for TL;DR summaries (offline task),
                                      then --rounds R rounds of new comparisons on the policy's own
                                      summaries; or --hf-model gpt2 for the Hugging Face / CarperAI scale
    rlhf-edu figures [--out DIR]      regenerate the figures/ folder

Stages reuse checkpoints from the cache ($RLHF_EDU_CACHE, default ~/.cache/rlhf_edu);
--retrain trains everything again. Training runs at full size unless $RLHF_EDU_SIZE=test
(a few steps per stage, as under pytest).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time


def cmd_examples(args) -> int:
    from .examples import format_worked_examples

    print(format_worked_examples())
    return 0


def cmd_figures(args) -> int:
    from . import figures

    figures.main(["--out", args.out])
    return 0


def _start(args, offline: bool = True):
    """What every training command does first: seed, output folder, and say where things go."""
    import torch

    from . import stages

    torch.manual_seed(0)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if offline:
        print(stages.describe_size())
        print(f"cache: {stages.cache_dir()}   output: {out}")
    return out, not args.no_progress, time.perf_counter()


def _sentiment_roots() -> dict:
    from .sentiment import pipeline

    return {"setup": pipeline.setup(), "rl": pipeline.rl_setup()}


def _summary_roots() -> dict:
    from .tldr import pipeline, rounds

    return {"setup": pipeline.setup(), "rounds": rounds.rounds_config()}


def not_read(command: str) -> list[tuple[str, str]]:
    """(pattern, why) of the settings ``command`` does not read: a --set of one would change nothing."""
    from .algorithms import NAMES

    sweep = r"sweep\.|sweep_betas$"
    return {"sentiment": [(sweep + "|compare_", "notebook 10's sweep and rlhf-edu compare read it")],
            "compare": [(sweep, "notebook 10's sweep reads it"),
                        (f"({'|'.join(NAMES)})" + r"\.(iterations|seed|beta)$|dpo\.(epochs|batch_size)$",
                         "the comparison sets it for every run: the budget is compare_iterations, the seeds "
                         "0-2, the betas compare_betas (in code)")]}.get(command, [])


def _settings(args, roots: dict, prefixed=()) -> dict:
    """The task's settings at the current run size with every ``--set`` applied (printed if any)."""
    import re

    from . import overrides

    for item in args.set or []:
        path = item.partition("=")[0].strip()
        for pattern, why in not_read(args.command):
            if re.match(pattern, path):
                raise ValueError(f"--set {path}: rlhf-edu {args.command} does not use this setting ({why})")
    roots = overrides.apply(roots, args.set or [], prefixed)
    if args.set:
        print("settings changed: " + ", ".join(args.set))
    return roots


def _sentiment_settings(args):
    roots = _settings(args, _sentiment_roots())
    return roots["setup"], roots["rl"]


def cmd_sentiment(args) -> int:
    from . import algorithms, plots
    from . import rl as rl_health
    from .evaluation import side_by_side
    from .model import frozen_copy
    from .sentiment import corpus, evaluation, pipeline

    s, rl = _sentiment_settings(args)
    out, progress, t0 = _start(args)
    tok = pipeline.tokenizer(s)
    pre, pre_hist = pipeline.pretrained_model(s, retrain=args.retrain, progress=progress)
    sft, sft_hist = pipeline.sft_model(s, retrain=args.retrain, progress=progress)
    rm, rm_info = pipeline.reward_model(s, rl, retrain=args.retrain, progress=progress)
    policy, rl_hist = pipeline.policy(args.algo, s, rl, retrain=args.retrain, progress=progress)
    train_seconds = time.perf_counter() - t0
    name = algorithms.DISPLAY[args.algo]
    print(f"\nreward model held-out pairwise accuracy: {rm_info['heldout_accuracy']:.3f}")

    reference = frozen_copy(sft)
    # The headline: prompts no training tweet starts with. Beside it, as many of the RL training prompts.
    sets = pipeline.prompt_sets(s, rl)
    heldout = sets["held-out"]
    measured = evaluation.evaluate_sets({"SFT": sft, name: policy}, reference, rm, tok, sets, rl.max_new_tokens,
                                        pipeline.vocabulary(s))
    table = {f"{model} ({label})": m for label, ms in measured.items() for model, (m, _) in ms.items()}
    print(f"\n{len(heldout)} held-out prompts (openers no training tweet starts with) and {len(heldout)} of the RL "
          "training prompts, 4 samples each:")
    print(evaluation.metrics_table(table))
    if any(key in rl_hist[0] for key in rl_health.HEALTHY_MAX):
        print(f"\n{name}'s updates against the healthy ranges (docs/ppo-checklist.md):")
        print(rl_health.health_report(rl_hist))
    print("\nsamples (three held-out prompts, then the story's three training prompts; same seed):\n")
    print(side_by_side({"SFT": sft, name: policy}, tok, heldout[:3] + list(corpus.RL_PROMPTS),
                       max_new_tokens=rl.max_new_tokens))
    print()

    saved = []
    for file, fig in [("pretrain_sft_loss.png", plots.plot_lm_training(pre_hist, sft_hist)),
                      ("reward_model_training.png", plots.plot_rm_training(rm_info["history"])),
                      (f"{args.algo}_training.png", plots.plot_ppo_history(rl_hist) if args.algo == "ppo"
                       else plots.plot_history(rl_hist, f"{name}: one point per iteration"))]:
        fig.savefig(out / file, dpi=100, metadata={"Software": None})
        saved.append(file)
    print(f"curves saved to {out}: {', '.join(saved)}")
    print(f"done in {time.perf_counter() - t0:.0f} s (training and loading: {train_seconds:.0f} s)")
    return 0


def cmd_compare(args) -> int:
    from . import plots
    from .sentiment import compare, frontiers

    s, rl = _sentiment_settings(args)
    out, progress, t0 = _start(args)
    kinds = tuple(args.algos) if args.algos else tuple(compare.NAMES)
    print("equal budgets: " + "; ".join(f"{compare.NAMES[k]} {b}" for k, b in compare.check_setup(rl, kinds).items()))
    runs = compare.compare(s, rl, kinds=kinds, progress=progress, announce=lambda text: print(text, flush=True))
    bon = frontiers.best_of_n(s, rl)
    print(f"\nmeasured on {rl.heldout_prompts} held-out prompts (openers RL never sampled from), the headline; "
          "judge(tr): the judge on as many training prompts")
    print(compare.table(runs))
    print("\n" + compare.spread_table(runs, rl))
    for prompts in compare.SETS:
        print("\n" + frontiers.equal_kl_table(runs, prompts))
    print("\n" + frontiers.best_of_n_table(bon, rl))
    print("\n".join(frontiers.best_of_n_readings(frontiers.best_of_n_against(runs, bon))))
    points = frontiers.gao_points(runs, bon)
    fits = frontiers.gao_fits(points)
    print("\nGao et al. (2022): gold = judge, proxy = RM score, both minus the start's, against d = sqrt(KL)")
    print(frontiers.gao_table(fits))
    print("\n".join(frontiers.gao_notes(fits)))
    c = compare.costs(runs)
    print("\ntraining cost per run, mean [min, max] over each algorithm's runs (betas x seeds):")
    for kind, v in c.items():
        print(f"  {compare.NAMES[kind]:<16} {'%.1f [%.1f, %.1f]' % v['seconds']:>20} s "
              f"{'%.0f [%d, %d]' % v['tokens']:>22} sampled tokens")
    print(f"  seconds, cheapest to dearest ('<' only where the ranges do not overlap): {compare.cost_order(c)}")
    print("\nhealth (rl.health_report):\n" + "\n".join(compare.health_lines(runs, rl)))
    for name, fig in (("frontier.png", plots.plot_algorithm_frontiers(frontiers.frontier_points(runs, bon))),
                      ("overoptimization.png", plots.plot_overoptimization(points, fits))):
        fig.savefig(out / name, dpi=100, metadata={"Software": None})
    print(f"\nplots saved to {out}: frontier.png, overoptimization.png")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_summarize(args) -> int:
    from . import plots
    from .tldr import evaluation as tldr_evaluation
    from .tldr import pipeline as sm

    if not args.hf_model:  # the settings first: a bad --set stops before anything is made
        roots = _settings(args, _summary_roots(), prefixed=("rounds",))
    out, progress, t0 = _start(args, offline=not args.hf_model)
    if args.hf_model:
        make = sm.HFRun.smoke if args.hf_model == "tiny" else sm.HFRun
        run = make(model=args.hf_model, tldr_dir=args.tldr_dir, comparisons_dir=args.comparisons_dir,
                   max_rows=args.max_rows, device=args.device)
        res = sm.run_hf(run, progress=progress)
        metrics, samples, prompts = res["metrics"], res["samples"], res["eval_prompts"]
        ppo_hist, rm_acc = res["ppo_history"], res["rm_info"]["heldout_accuracy"]
    else:
        s = roots["setup"]
        sm.pretrained_model(s, retrain=args.retrain, progress=progress)
        sft, _ = sm.sft_model(s, retrain=args.retrain, progress=progress)
        rm, rm_info = sm.reward_model(s, retrain=args.retrain, progress=progress)
        policy, ppo_hist = sm.ppo_policy(s, retrain=args.retrain, progress=progress)
        metrics, samples = sm.evaluate_offline({"SFT": sft, "PPO": policy}, s)
        prompts = [p.prompt for p in sm.test_posts(s)]
        rm_acc = rm_info["heldout_accuracy"]
    if not args.hf_model:
        print(f"\nSFT -> reward model -> PPO: {time.perf_counter() - t0:.0f} s (trained or loaded from the cache)")
    print(f"\nreward model held-out pairwise accuracy: {rm_acc:.3f}")
    print("\n" + tldr_evaluation.metrics_table(metrics))
    print("\nsummaries of held-out posts (same seed):")
    for i in range(min(3, len(prompts))):
        print("\n" + prompts[i])
        for name in samples:
            print(f"  [{name}] {samples[name][i]}")
    fig = plots.plot_ppo_history(ppo_hist)
    fig.savefig(out / "ppo_training.png", dpi=100, metadata={"Software": None})
    print(f"\ncurves saved to {out / 'ppo_training.png'}")
    if not args.hf_model and (args.rounds is None or args.rounds > 0):
        _summarize_rounds(args, s, roots["rounds"], sft, rm, out, progress)
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


def _summarize_rounds(args, s, cfg, sft, rm, out, progress):
    """Notebook 11's rounds of new comparisons on the policy's own summaries: table and plot."""
    import dataclasses

    from . import plots
    from .tldr import rounds

    if args.rounds is not None:
        cfg = dataclasses.replace(cfg, rounds=args.rounds)
    if args.ppo_from is not None:
        cfg = dataclasses.replace(cfg, ppo_from=args.ppo_from)
    print(f"\nrounds of new comparisons on the policy's own summaries: {cfg}")
    results = rounds.run_rounds(s, cfg, progress=progress, retrain=args.retrain)
    for r, res in enumerate(results[1:], start=1):
        st = res["stats"]
        print(f"round {r}: {st['labels']} labels ({st['flipped']} flipped by noise) from {st['posts']} training "
              f"posts; trained in {st['seconds']:.0f} s")
    columns = {"SFT": rounds.round_metrics({"policy": sft, "reward_model": rm}, s)[0]}
    for r, res in enumerate(results):
        columns[f"round {r}"] = rounds.round_metrics(res, s)[0]
    print(f"\nrounds of new comparisons ({cfg.comparisons} labels a round, label noise {cfg.noise}), "
          "held-out posts; each round scored by its own reward model:")
    print(rounds.rounds_table(columns))
    plots.plot_rounds(columns).savefig(out / "rounds.png", dpi=100, metadata={"Software": None})
    print(f"rounds plot saved to {out / 'rounds.png'}")


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _add_set(p) -> None:
    p.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="change a setting, e.g. --set ppo.beta=0.3 (repeatable; every setting is listed below; "
                        "a changed setting trains new checkpoints, cached under their own key)")


class _SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser; the list of its task's settings is built only when --help shows it
    (building it imports the task's pipeline, which no other command line should pay for)."""

    def __init__(self, *args, settings=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._settings = settings

    def format_help(self) -> str:
        if self._settings is not None and self.epilog is None:
            self.epilog = self._settings()
        return super().format_help()


def _settings_help(command: str, roots, prefixed=()) -> dict:
    """The settings ``command`` reads, with types and defaults at the current run size, as its epilog."""
    def listing() -> str:
        from . import overrides

        try:
            text = overrides.help_text(roots(), prefixed, hide=[pattern for pattern, _ in not_read(command)])
        except ValueError as e:  # e.g. a bad $RLHF_EDU_SIZE: the command itself will say so
            text = f"  (not listed: {e})"
        return "settings (--set FIELD=VALUE; a tuple as comma-separated values):\n" + text

    return {"settings": listing, "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    from .algorithms import NAMES as ALGORITHM_NAMES  # the registry: one list of algorithms

    ap = argparse.ArgumentParser(prog="rlhf-edu", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_SubcommandParser)
    p = sub.add_parser("examples", help="print every worked number of the story")
    p.set_defaults(func=cmd_examples)
    p = sub.add_parser("figures", help="regenerate the PNG figures")
    p.add_argument("--out", default="figures")
    p.set_defaults(func=cmd_figures)
    p = sub.add_parser("sentiment", help="the whole tweet-sentiment RLHF pipeline",
                       **_settings_help("sentiment", _sentiment_roots))
    _add_set(p)
    p.add_argument("--out", default="runs/sentiment", help="folder for the PNG curves (default: %(default)s)")
    p.add_argument("--retrain", action="store_true", help="ignore cached checkpoints and train every stage")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--algo", choices=list(ALGORITHM_NAMES), default="ppo",
                   help="the fine-tuning algorithm after SFT and the reward model (default: %(default)s)")
    p.set_defaults(func=cmd_sentiment)
    p = sub.add_parser("compare", help="notebook 12's table: every algorithm under one budget",
                       **_settings_help("compare", _sentiment_roots))
    _add_set(p)
    p.add_argument("--out", default="runs/compare", help="folder for the two plots (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--algos", nargs="+", choices=list(ALGORITHM_NAMES), default=None, metavar="ALGO",
                   help="only these algorithms (default: all of %(choices)s)")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("summarize", help="RLHF for TL;DR summaries (SFT -> reward model -> PPO)",
                       **_settings_help("summarize", _summary_roots, ("rounds",)))
    _add_set(p)
    p.add_argument("--out", default="runs/summarize", help="folder for the PNG curves (default: %(default)s)")
    p.add_argument("--retrain", action="store_true", help="ignore cached checkpoints (offline task)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--hf-model", default=None,
                   help='a Hugging Face model, e.g. "gpt2" (needs the hf extra and the Hub or its cache); '
                        '"tiny" is a random small GPT-2 for smoke tests')
    p.add_argument("--tldr-dir", default=None, help="local openai_summarize_tldr files (default: the Hub)")
    p.add_argument("--comparisons-dir", default=None,
                   help="local openai_summarize_comparisons files (default: the Hub)")
    p.add_argument("--max-rows", type=_positive_int, default=None,
                   help="with --hf-model: read at most this many rows per split")
    p.add_argument("--device", default="cpu",
                   help='with --hf-model: where the model trains, e.g. "cuda" (default: %(default)s)')
    p.add_argument("--rounds", type=_non_negative_int, default=None,
                   help="rounds of new comparisons on the policy's own summaries after PPO (offline task; "
                        "default: notebook 11's, 2 at full size; 0 skips them)")
    p.add_argument("--ppo-from", choices=("policy", "sft"), default=None,
                   help="each round's PPO continues from the last round's policy or restarts from SFT "
                        "(default: notebook 11's, sft)")
    p.set_defaults(func=cmd_summarize)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.command == "summarize" and not args.hf_model and (
            args.tldr_dir or args.comparisons_dir or args.max_rows or args.device != "cpu"):
        ap.error("--tldr-dir, --comparisons-dir, --max-rows and --device go with --hf-model")
    if args.command == "summarize" and args.hf_model and args.ppo_from:
        ap.error("--ppo-from goes with the rounds of the offline task, not --hf-model")
    if args.command == "summarize" and args.hf_model and args.set:
        ap.error("--set changes the offline task's settings, not --hf-model's")
    if args.command == "summarize" and args.hf_model and args.rounds:
        ap.error("--rounds runs on the offline task (its labeller needs the synthetic posts' facts), not --hf-model")
    try:
        return args.func(args)
    except (ValueError, ImportError, OSError) as e:
        # Bad settings, a missing extra, a missing file: one clear line, not a traceback.
        print(f"rlhf-edu: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
