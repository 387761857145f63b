"""Reading a dataset's rows: from the Hugging Face Hub (or its cache), or from local files.

Both tasks load real data the same way (tweets: ``sentiment/corpus.py``; TL;DR posts and
comparisons: ``tldr/carperai.py``): a folder of ``{split}.jsonl|json|csv`` files in the
dataset's schema, read through ``datasets`` when it is installed and by a small pure-Python
reader otherwise; without a folder, the Hub, which needs ``datasets`` and the internet.
"""

from __future__ import annotations

import csv
import json
import os

EXTENSIONS = ("jsonl", "json", "csv")


def check_frac(name: str, value: float) -> None:
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def import_datasets(hint: str):
    """The optional ``datasets`` package, or an ImportError that says what needs it and why."""
    try:
        import datasets
    except ImportError:
        raise ImportError(hint) from None
    return datasets


def split_files(data_dir: str, splits, required=("train",)) -> dict[str, str]:
    """{split: path} for the ``{split}.jsonl|json|csv`` files present; ``required`` ones must be."""
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"no directory {data_dir!r}")
    files = {}
    for split in splits:
        for ext in EXTENSIONS:
            path = os.path.join(data_dir, f"{split}.{ext}")
            if os.path.exists(path):
                files[split] = path
                break
        else:
            if split in required:
                raise FileNotFoundError(f"no {split}.jsonl, {split}.json or {split}.csv in {data_dir!r}")
    return files


def read_rows(path: str) -> list[dict]:
    """Pure-Python reader for jsonl (one object a line) and csv with a header."""
    with open(path, encoding="utf-8", newline="") as f:
        if path.endswith(".csv"):
            return list(csv.DictReader(f))
        return [json.loads(line) for line in f if line.strip()]


def load_rows(name: str, data_dir: str | None, splits, required=("train",), use_datasets: bool | None = None,
              hint: str = "this loader needs the Hugging Face 'datasets' package: pip install -e \".[hf]\"",
              ) -> dict[str, list[dict]]:
    """Rows as dicts, split by split: dataset ``name`` from the Hub, or the files in ``data_dir``.

    ``use_datasets`` forces the ``datasets`` reader (True) or the pure-Python one (False) for
    local files; by default ``datasets`` is used when installed.
    """
    if data_dir is None:
        ds = import_datasets(hint).load_dataset(name)
        return {split: [dict(r) for r in ds[split]] for split in ds}
    files = split_files(data_dir, splits, required)
    if use_datasets is None:
        try:
            import datasets  # noqa: F401
            use_datasets = True
        except ImportError:
            use_datasets = False
    if not use_datasets:
        return {split: read_rows(p) for split, p in files.items()}
    datasets = import_datasets(hint)
    out = {}
    for split, path in files.items():
        builder = "csv" if path.endswith(".csv") else "json"
        ds = datasets.load_dataset(builder, data_files={split: path}, split=split)
        out[split] = [dict(r) for r in ds]
    return out
