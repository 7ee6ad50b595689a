# Repo-root conftest: makes `poemap`, `models`, `stream` importable in tests without PYTHONPATH.
