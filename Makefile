# The two commands of the README. Each does its own set-up (scripts/setup.sh).
PY := .venv/bin/python

.PHONY: demo test setup setup-dev bench

demo: setup
	$(PY) -m stream.demo

test: setup-dev
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/bench_core.py

setup:
	@bash scripts/setup.sh

setup-dev:
	@bash scripts/setup.sh --dev
