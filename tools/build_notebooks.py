"""Build the notebooks from their readable sources and execute them.

The sources live in ``notebooks/src/NN_name.py`` in the "percent" format
(``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell whose lines
start with ``# ``). This script turns each into ``notebooks/NN_name.ipynb`` and
runs it top to bottom in a fresh kernel, so the committed notebook carries the
outputs readers see on the web and nbval compares in CI.

    python tools/build_notebooks.py            # all notebooks
    python tools/build_notebooks.py 02 04      # only those whose name starts so
    python tools/build_notebooks.py --no-run   # convert only
    python tools/build_notebooks.py --prose-only 10   # new markdown, same code cells and outputs
    python tools/build_notebooks.py --appended 09     # run only cells added at the end (exercises)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
BUILD_TIMES = OUT / "build_times.json"  # what show.build_times reads


def parse_percent(text: str) -> nbformat.NotebookNode:
    """Split a percent-format script into notebook cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    kind, lines = None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.splitlines())
            nb.cells.append(nbformat.v4.new_markdown_cell(body))
        elif body.strip():
            nb.cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"cell-{i:03d}"
    return nb


def build(src: pathlib.Path, run: bool = True, timeout: int = 1800) -> pathlib.Path:
    nb = parse_percent(src.read_text())
    dest = OUT / (src.stem + ".ipynb")
    if run:
        from nbclient import NotebookClient  # only needed to execute (tests import this file to parse)

        before = cache_snapshot()
        t0 = time.time()
        # coalesce_streams: a text progress bar is saved as its last state, not every redraw
        NotebookClient(nb, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                       resources={"metadata": {"path": str(OUT)}}).execute()
        seconds = time.time() - t0
        print(f"executed {dest.name} in {seconds:.1f}s")
        state = "cold" if not before else "warm" if cache_snapshot() == before else None
        if state and full_size():
            record_time(src.name[:2], state, seconds)
            fill_build_times(nb, src.name[:2])
    nbformat.write(nb, dest)
    return dest


def full_size() -> bool:
    return os.environ.get("RLHF_EDU_SIZE", "full").strip().lower() in ("", "full")


def cache_snapshot() -> set[str]:
    """Every folder in the stage cache (``$RLHF_EDU_CACHE``): empty means a cold start, unchanged a warm one."""
    root = pathlib.Path(os.environ.get("RLHF_EDU_CACHE", pathlib.Path.home() / ".cache" / "rlhf_edu"))
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir()} if root.is_dir() else set()


def record_time(notebook: str, state: str, seconds: float, path: pathlib.Path = BUILD_TIMES) -> None:
    """Keep the measured time of a cold or warm full-size run in ``notebooks/build_times.json``."""
    times = json.loads(path.read_text()) if path.is_file() else {}
    times.setdefault(notebook, {})[state] = {"seconds": round(seconds, 1), "date": time.strftime("%Y-%m-%d")}
    path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")


def fill_build_times(nb, notebook: str, path: pathlib.Path = BUILD_TIMES) -> None:
    """Give the cell that prints ``show.build_times`` (and nothing else) the time just measured: it ran
    before the timing ended."""
    from rlhf_edu import show

    text = show.build_times(notebook, path)
    for cell in nb.cells:
        if cell.cell_type == "code" and "show.build_times(" in cell.source:
            code = [line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")]
            if len(code) != 1:  # its outputs are replaced: anything else the cell printed would be lost
                raise ValueError(f"the cell that prints show.build_times must do nothing else: {cell.source!r}")
            cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]


def refresh_prose(src: pathlib.Path) -> pathlib.Path:
    """Copy the markdown of ``src`` into its executed notebook, keeping every code cell and output.

    For wording changes after a long run; markdown cells may be added or removed. Refuses if any
    code cell differs: then the outputs would no longer come from the code shown, and the notebook
    must be executed again.
    """
    new = parse_percent(src.read_text())
    dest = OUT / (src.stem + ".ipynb")
    old = nbformat.read(dest, as_version=4)

    def code(nb):
        return [c for c in nb.cells if c.cell_type == "code"]

    if [c.source for c in code(new)] != [c.source for c in code(old)]:
        raise SystemExit(f"{src.name}: code cells changed; execute it again instead of --prose-only")
    for fresh, done in zip(code(new), code(old)):
        fresh.outputs, fresh.execution_count = done.outputs, done.execution_count
    new.metadata = old.metadata
    nbformat.write(new, dest)
    print(f"refreshed the prose of {dest.name}")
    return dest


def run_appended(src: pathlib.Path, timeout: int = 600) -> pathlib.Path:
    """Execute only the cells added at the end of ``src``, keeping every earlier cell and its output.

    For self-contained additions (the exercise cells import what they use) to a notebook whose
    full run takes long. Refuses if any earlier cell differs from the executed notebook.
    """
    from nbclient import NotebookClient

    new = parse_percent(src.read_text())
    dest = OUT / (src.stem + ".ipynb")
    old = nbformat.read(dest, as_version=4)
    same = [(c.cell_type, c.source) for c in old.cells] == [(c.cell_type, c.source) for c in new.cells[:len(old.cells)]]
    if not same or len(new.cells) <= len(old.cells):
        raise SystemExit(f"{src.name}: not an addition at the end; execute the whole notebook instead")
    tail = nbformat.v4.new_notebook(metadata=new.metadata, cells=new.cells[len(old.cells):])
    NotebookClient(tail, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                   resources={"metadata": {"path": str(OUT)}}).execute()
    count = max([c.execution_count or 0 for c in old.cells if c.cell_type == "code"] + [0])
    for cell in tail.cells:
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = count
    old.cells.extend(tail.cells)
    nbformat.write(old, dest)
    print(f"executed the {len(tail.cells)} cells added to {dest.name}")
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefixes", nargs="*", help="build only notebooks whose name starts with one of these")
    ap.add_argument("--no-run", action="store_true", help="convert without executing")
    ap.add_argument("--prose-only", action="store_true",
                    help="update markdown cells only, keeping code cells and their outputs")
    ap.add_argument("--appended", action="store_true",
                    help="execute only the cells added at the end, keeping the earlier cells' outputs")
    args = ap.parse_args(argv)
    sources = sorted(SRC.glob("[0-9][0-9]_*.py"))
    if args.prefixes:
        sources = [s for s in sources if any(s.name.startswith(p) for p in args.prefixes)]
    if not sources:
        print("no notebook sources matched", file=sys.stderr)
        return 1
    for src in sources:
        if args.prose_only:
            refresh_prose(src)
        elif args.appended:
            run_appended(src)
        else:
            build(src, run=not args.no_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
