# Repo-root conftest: makes `poemap`, `models`, `training`, `stream` importable in tests without PYTHONPATH.

import os

from hypothesis import settings

# Property tests draw the same examples on every run, so CI passes or fails for the code, not for the
# draw; POEMAP_HYPOTHESIS_RANDOM=1 explores fresh examples while developing.
settings.register_profile("seeded", derandomize=True)
settings.register_profile("random", derandomize=False)
settings.load_profile("random" if os.environ.get("POEMAP_HYPOTHESIS_RANDOM") else "seeded")


import pytest


@pytest.fixture(autouse=True, scope="session")
def _own_config_dir(tmp_path_factory):
  # the clients the tests start must never read or write the player's own settings (stream/settings.py)
  os.environ["POEMAP_CONFIG_DIR"] = str(tmp_path_factory.mktemp("config"))
