"""The committed notebooks read well on the web: no stuck progress bars, no wall-of-text lines."""

import json
import pathlib
import re

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUCK_BAR = re.compile(r"(?<!\d)0%\|")  # tqdm's text fallback of a bar that never redrew ("PPO:   0%|")


def _text_outputs(nb):
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            yield i, "".join(text) if isinstance(text, list) else text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_committed_outputs_are_readable(path):
    nb = json.loads(path.read_text())
    for i, text in _text_outputs(nb):
        assert not STUCK_BAR.search(text), f"{path.name} cell {i}: a progress bar stuck at 0%: {text[:120]!r}"
        # \r: a bar's redraws; only the last state is what a reader sees
        for line in text.replace("\r", "\n").splitlines():
            assert len(line) <= 200, f"{path.name} cell {i}: an output line of {len(line)} characters: {line[:80]!r}…"


def test_the_check_sees_what_it_looks_for():
    assert STUCK_BAR.search("PPO:   0%|          | 0/16")
    assert not STUCK_BAR.search("PPO: 100%|██████████| 16/16")
