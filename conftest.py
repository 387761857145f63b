"""pytest runs the notebooks at test size: same code, every training run cut to a few steps.

Set RLHF_EDU_SIZE=full to execute them at the size their text discusses (about an hour or
more on a 2-core CPU from an empty cache). See rlhf_edu/stages.py and the README.
"""

import os

# Inherited by every notebook kernel nbval starts; the package reads it each time a stage runs.
os.environ.setdefault("RLHF_EDU_SIZE", "test")
