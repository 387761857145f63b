"""Graded exercises for notebooks 01-12: a statement, a stub to fill in, and a check that grades it.

In a notebook::

    from rlhf_edu.exercises import check

    def sequence_logprob(token_probs):
        ...

    check.sequence_logprob(sequence_logprob)   # prints ✓ per case, or the first failure and a hint

- ``check``       ``check.<name>(fn)`` for every exercise; its docstring is the statement
- ``grading``     the machinery: cases, comparison, known bugs and their hints, the printed report
- ``inputs``      seeded tensors, padding masks and tiny models the cases are built from
- ``nb01_03``, ``nb04_05``, ``nb06_08``, ``nb09``, ``nb10_12``  the exercises of those notebooks, each
  with its cases and the plausible mistakes it recognises
- ``solutions``   reference solutions, written as a student would (plain torch)
- ``__main__``    ``python -m rlhf_edu.exercises FILE`` grades a module or a notebook of answers

``for_notebook("09")`` lists a notebook's exercises; ``notebook_cells("09")`` gives its exercise
cells (statement, stub, check) in the percent format of ``notebooks/src``.
"""

from __future__ import annotations

import re

from . import check
from .grading import EXERCISES, Bug, Case, Exercise, Result

NOTEBOOKS = tuple(sorted({ex.notebook for ex in EXERCISES.values()}))
STATEMENTS = {name: ex.statement for name, ex in EXERCISES.items()}

__all__ = ["check", "EXERCISES", "NOTEBOOKS", "STATEMENTS", "Exercise", "Result", "Case", "Bug",
           "for_notebook", "grade", "notebook_cells"]


def _nb(notebook) -> str:
    key = f"{int(str(notebook)[:2]):02d}"
    if key not in NOTEBOOKS:
        raise ValueError(f"notebook must be one of {', '.join(NOTEBOOKS)}, got {notebook!r}")
    return key


def for_notebook(notebook) -> list[Exercise]:
    """The exercises at the end of a notebook ("09", "9", 9 or "09_rlhf_ppo" all work), in order."""
    key = _nb(notebook)
    return [ex for ex in EXERCISES.values() if ex.notebook == key]


def grade(namespace: dict, names=None, quiet: bool = False) -> dict[str, Result | None]:
    """Check every exercise function found in ``namespace`` (e.g. ``vars(module)``).

    ``names`` limits it to those exercises. Missing functions map to None.
    """
    results = {}
    for name in names or EXERCISES:
        fn = namespace.get(name)
        results[name] = EXERCISES[name].check(fn, quiet=quiet) if callable(fn) else None
    return results


def _title_and_body(statement: str) -> tuple[str, str]:
    m = re.match(r"\*\*(.+?)\.\*\*\s*", statement)
    return (m.group(1), statement[m.end():]) if m else ("", statement)


def _reflow(text: str, width: int = 100) -> str:
    """Re-wrap each paragraph to ``width``, never breaking inside $...$ math or `code`."""
    out = []
    for para in text.split("\n\n"):
        if para.lstrip().startswith(("#", "-", "|")):
            out.append(para)  # headings, lists and tables keep their lines
            continue
        lines, line = [], ""
        for word in re.findall(r"(?:[^\s$`]|\$[^$]*\$|`[^`]*`)+", para):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        out.append("\n".join(lines + [line]))
    return "\n\n".join(out)


def _markdown(text: str) -> str:
    return "# %% [markdown]\n" + "\n".join(f"# {l}" if l else "#" for l in _reflow(text).splitlines())


def notebook_cells(notebook) -> str:
    """A notebook's exercise cells in the percent format of notebooks/src: heading, then per exercise
    a statement, a stub that raises NotImplementedError, and a check cell."""
    exercises = for_notebook(notebook)
    parts = [_markdown(
        "## Exercises\n\n"
        "Fill in each function, then run the check cell under it. The check runs your function on the\n"
        "story's numbers, random batches and edge cases, compares it with the package's own code, and prints\n"
        "✓ per case or the first failing case with a hint. Until you fill it in, it says \"not done yet\".\n"
        "Stuck? The reference solutions are in `rlhf_edu/exercises/solutions.py`."),
        "# %%\nfrom rlhf_edu.exercises import check"]
    for i, ex in enumerate(exercises, 1):
        title, body = _title_and_body(ex.statement)
        parts.append(_markdown(f"### Exercise {i}: {title}\n\n{body}"))
        parts.append("# %%\n" + ex.stub())
        parts.append(f"# %%\ncheck.{ex.name}({ex.name})")
    return "\n\n".join(parts) + "\n"
