"""pytest runs the notebooks at test size: same code, every training run cut to a few steps.

Set RLHF_EDU_SIZE=full to execute them at the size their text discusses (about an hour or
more on a 2-core CPU from an empty cache). See rlhf_edu/stages.py and the README.
"""

import os

import pytest

# Inherited by every notebook kernel nbval starts; the package reads it each time a stage runs.
os.environ.setdefault("RLHF_EDU_SIZE", "test")


def pytest_collection_modifyitems(items):
    # Executing a notebook trains its stages: every notebook cell belongs to the slow lane.
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
