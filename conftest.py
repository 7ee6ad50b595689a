# Repo-root conftest: makes `poemap`, `models`, `stream` importable in tests without PYTHONPATH.

import os

from hypothesis import settings

# Property tests draw the same examples on every run, so CI passes or fails for the code, not for the
# draw; POEMAP_HYPOTHESIS_RANDOM=1 explores fresh examples while developing.
settings.register_profile("seeded", derandomize=True)
settings.register_profile("random", derandomize=False)
settings.load_profile("random" if os.environ.get("POEMAP_HYPOTHESIS_RANDOM") else "seeded")
