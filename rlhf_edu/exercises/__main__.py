"""Grade exercise answers from the command line.

    python -m rlhf_edu.exercises answers.py                 # every exercise function defined in a module
    python -m rlhf_edu.exercises 09_rlhf_ppo.ipynb          # the exercise cells of a student's notebook
    python -m rlhf_edu.exercises --solutions                # the reference solutions (all pass)
    python -m rlhf_edu.exercises --list                     # the exercises, per notebook
    options: --notebook 09 (only that notebook's exercises), --quiet (the summary only)

From a notebook only the cells that define an exercise function are run, plus its import cells: the
training cells of notebooks 06-09 are skipped, so grading takes seconds. Exit status 0 when every
graded exercise passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import re
import runpy
import sys

from . import EXERCISES, NOTEBOOKS, for_notebook


def _cell_source(cell) -> str:
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    # IPython magics and shell escapes are not Python: drop them.
    return "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines())


def notebook_namespace(path: pathlib.Path) -> tuple[dict, list[str]]:
    """Run a notebook's import cells and its cells that define an exercise function; return the namespace."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c.get("cell_type") == "code"]
    namespace: dict = {"__name__": "__exercises__"}
    problems = []
    for cell in cells:
        src = _cell_source(cell)
        try:
            tree = ast.parse(src)
        except SyntaxError as e:
            m = re.search(r"^def (\w+)", src, re.M)
            if m and m.group(1) in EXERCISES:
                problems.append(f"syntax error in the cell defining {m.group(1)}: {e.msg} (line {e.lineno})")
            continue
        body = tree.body
        imports_only = body and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)
        defines = {n.name for n in body if isinstance(n, ast.FunctionDef)} & set(EXERCISES)
        if imports_only or defines:
            try:
                exec(compile(tree, f"<{path.name}>", "exec"), namespace)
            except Exception as e:  # report and go on: the other exercises can still be graded
                problems.append(f"cell defining {', '.join(sorted(defines)) or 'imports'} raised "
                                f"{type(e).__name__}: {e}")
    return namespace, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlhf_edu.exercises", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", help="a .py module or a .ipynb notebook holding the answers")
    parser.add_argument("--solutions", action="store_true", help="grade the reference solutions")
    parser.add_argument("--notebook", help="only the exercises of this notebook (01-12)")
    parser.add_argument("--list", action="store_true", help="list the exercises and exit")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)

    if args.list:
        for nb in ([args.notebook] if args.notebook else NOTEBOOKS):
            for ex in for_notebook(nb):
                print(f"{ex.notebook}  {ex.signature}")
        return 0

    if args.solutions:
        from . import solutions
        namespace, problems, source = vars(solutions), [], "rlhf_edu/exercises/solutions.py"
    elif args.path:
        path = pathlib.Path(args.path)
        if not path.exists():
            parser.error(f"no such file: {path}")
        if path.suffix == ".ipynb":
            namespace, problems = notebook_namespace(path)
        else:
            namespace, problems = runpy.run_path(str(path)), []
        source = str(path)
    else:
        parser.error("give a .py or .ipynb file of answers, or --solutions")

    notebook = args.notebook
    if notebook is None and args.path and re.match(r"\d\d_", pathlib.Path(args.path).name):
        notebook = pathlib.Path(args.path).name[:2]  # a notebook's file: grade its own exercises
    names = [ex.name for ex in for_notebook(notebook)] if notebook else list(EXERCISES)

    for p in problems:
        print(f"! {p}")
    results = {}
    for name in names:
        fn = namespace.get(name)
        if callable(fn):
            results[name] = EXERCISES[name].check(fn, quiet=args.quiet)
            if not args.quiet:
                print()
        else:
            results[name] = None
    n_pass = sum(1 for r in results.values() if r is not None and r.passed)
    print(f"summary for {source}: {n_pass} of {len(names)} exercises pass")
    for name, r in results.items():
        if r is None:
            print(f"  - {name}: not defined")
        elif r.passed:
            print(f"  ✓ {name}")
        elif r.status == "not done":
            print(f"  · {name}: not done yet")
        else:
            print(f"  ✗ {name}: case {r.n_passed + 1} of {r.n_cases} fails ({r.case})")
    return 0 if n_pass == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
