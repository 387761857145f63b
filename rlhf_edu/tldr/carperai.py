"""The real data: CarperAI's TL;DR datasets from the Hub, its cache, or local files.

- ``CarperAI/openai_summarize_tldr``: columns ``prompt`` and ``label`` (splits ``train``,
  ``valid``, ``test``).
- ``CarperAI/openai_summarize_comparisons``: columns ``prompt``, ``chosen``, ``rejected``
  (splits ``train``, ``test``, ``valid1``, ``valid2``).

See ``posts.py`` for how their prompts and summaries fit together. The rows carry no key facts,
so the fact judge cannot score them.
"""

from __future__ import annotations

from ..files import load_rows
from .posts import Comparison

TLDR_SPLITS = ("train", "valid", "test")
COMPARISON_SPLITS = ("train", "valid1", "valid2", "test")
DATASETS_HINT = ("loading the CarperAI TL;DR data from the Hub needs the 'datasets' package: "
                 "pip install -e \".[hf]\" (or read local files in the CarperAI schemas: data_dir=, "
                 "or --tldr-dir / --comparisons-dir on the command line)")


def _load_rows(name: str, data_dir: str | None, use_datasets: bool | None, splits) -> dict[str, list[dict]]:
    return load_rows(name, data_dir, splits, required=("train",), use_datasets=use_datasets, hint=DATASETS_HINT)


def _field(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None or not str(value).strip():
        raise ValueError(f"row has no {key!r}: {row!r}")
    return str(value)


def load_hf_tldr(name: str = "CarperAI/openai_summarize_tldr", data_dir: str | None = None,
                 use_datasets: bool | None = None) -> dict[str, list[tuple[str, str]]]:
    """{split: [(prompt, label), ...]} of openai_summarize_tldr.

    ``data_dir`` holds local ``train``/``valid``/``test`` files (``.jsonl``,
    ``.json`` or ``.csv``; train required) with columns ``prompt``, ``label``.
    They are read through ``datasets.load_dataset("json", ...)`` when
    ``datasets`` is installed, else by a pure-Python reader (``use_datasets``
    forces one). Without ``data_dir`` the Hub (or its cache) is used and
    ``datasets`` is required. Strings are kept verbatim. No key facts: the
    judge cannot score these rows.
    """
    rows = _load_rows(name, data_dir, use_datasets, TLDR_SPLITS)
    return {split: [(_field(r, "prompt"), _field(r, "label")) for r in rs]
            for split, rs in rows.items()}


def load_hf_comparisons(name: str = "CarperAI/openai_summarize_comparisons",
                        data_dir: str | None = None, use_datasets: bool | None = None,
                        ) -> dict[str, list[Comparison]]:
    """{split: [Comparison, ...]} of openai_summarize_comparisons.

    Local files: ``train``/``valid1``/``valid2``/``test`` (train required),
    columns ``prompt``, ``chosen``, ``rejected``. Rows come back verbatim as
    ``Comparison(prompt, chosen, rejected, reason=None, post=None)``; the real
    data has a few pairs with chosen == rejected, which are kept (filter them
    if you train on them, as trlx does).
    """
    rows = _load_rows(name, data_dir, use_datasets, COMPARISON_SPLITS)
    return {split: [Comparison(_field(r, "prompt"), _field(r, "chosen"), _field(r, "rejected"))
                    for r in rs]
            for split, rs in rows.items()}
