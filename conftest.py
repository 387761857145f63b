"""pytest runs the notebooks at test size: same code, every training run cut to a few steps.

Set RLHF_EDU_SIZE=full to execute them at the size their text discusses (about an hour or
more on a 2-core CPU from an empty cache). See rlhf_edu/pipeline.py and the README.
"""

import os

# Before any test imports rlhf_edu, and inherited by every notebook kernel nbval starts.
os.environ.setdefault("RLHF_EDU_SIZE", "test")
