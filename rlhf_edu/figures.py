"""Save the notebooks' figures as PNG files, byte-for-byte reproducibly.

    python -m rlhf_edu.figures               # into ./figures
    python -m rlhf_edu.figures --out elsewhere --only 04

Later notebooks register their figures by adding to ``FIGURES`` (file stem ->
function returning a matplotlib Figure); the stem's number is the notebook's.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # no display needed; also the backend the bytes are checked with

from matplotlib.figure import Figure  # noqa: E402

from rlhf_edu import plots  # noqa: E402

FIGURES: dict[str, Callable[[], Figure]] = {
    "01_sequence_probability": plots.plot_sequence_probability,
    "01_discounted_returns": plots.plot_discounted_returns,
    "02_bt_sigmoid_and_loss": plots.plot_bt_sigmoid_and_loss,
    "03_policy_gradient_step": plots.plot_policy_gradient_step,
    "04_ppo_clip_objective": plots.plot_ppo_clip_objective,
    "05_kl_penalty": plots.plot_kl_penalty,
    "05_kl_estimators": plots.plot_kl_estimators,
}

# No "Software" (matplotlib version) or date in the PNG, so equal figures give equal bytes.
PNG_METADATA = {"Software": None}
DPI = 100


def save_figure(fig: Figure, path: pathlib.Path) -> pathlib.Path:
    fig.savefig(path, dpi=DPI, format="png", metadata=PNG_METADATA)
    return path


def save_all(out: str | pathlib.Path = "figures", only: list[str] | None = None) -> list[pathlib.Path]:
    """Draw every registered figure (or those whose name starts with one of ``only``)."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with matplotlib.rc_context({"svg.hashsalt": "rlhf_edu", "path.simplify": True}):
        for name, make in FIGURES.items():
            if only and not any(name.startswith(p) for p in only):
                continue
            saved.append(save_figure(make(), out / f"{name}.png"))
    return saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Save the notebooks' figures as PNG.")
    ap.add_argument("--out", default="figures", help="output directory (default: figures)")
    ap.add_argument("--only", nargs="*", help="only figures whose name starts with one of these")
    args = ap.parse_args(argv)
    for path in save_all(args.out, args.only):
        print(f"wrote {path.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
