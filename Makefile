# The two commands of the README. Each does its own set-up (scripts/setup.sh).
PY := .venv/bin/python

.PHONY: demo test setup setup-dev bench models

demo: setup
	$(PY) -m stream.demo --all

# lint (ruff) and types (mypy) first: both read their settings from pyproject.toml
test: setup-dev
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -n auto

bench: setup
	$(PY) bench/bench_core.py

# Retrains the bundled synthetic-Coast models with the seeded commands of docs/MODELS.md (about 80
# minutes on 2 cores) and rewrites their evaluation report in docs/report/. Replaces data/model/*_synth.
models: setup
	$(PY) -m poemap.sim dataset --out out/synth_train2 --seed 1 --instances-per-class 6 --test-per-class 1 --unet-groups 36 --crops-per-group 6
	$(PY) -m poemap.sim dataset --out out/synth_vit4 --seed 4 --instances-per-class 64 --test-per-class 3 --unet-groups 0
	$(PY) -m poemap.sim dataset --out out/synth_eval5 --seed 5 --instances-per-class 1 --test-per-class 4 --unet-groups 18 --crops-per-group 6
	$(PY) -m poemap.sim dataset --out out/synth_eval6 --seed 6 --instances-per-class 1 --test-per-class 3 --unet-groups 0
	$(PY) -m poemap.sim dataset --out out/synth_eval7 --seed 7 --instances-per-class 1 --test-per-class 8 --unet-groups 18 --crops-per-group 6
	$(PY) -m poemap.sim dataset --out out/synth_eval8 --seed 8 --instances-per-class 1 --test-per-class 8 --unet-groups 18 --crops-per-group 6
	$(PY) -m poemap.sim dataset --out out/synth_eval9 --seed 9 --instances-per-class 1 --test-per-class 8 --unet-groups 0
	$(PY) train_unet.py --data out/synth_train2 --config small --batch 64 --lr 2e-3 --steps 1000 --eval-every 250 --save-every 100 --seed 0 --out data/model/UNet_synth.safetensors --overwrite
	$(PY) train_vit.py --data out/synth_vit4 --layers 3 --embed-dim 64 --heads 2 --ff-dim 128 --max-tokens 128 --batch 32 --lr 1e-3 --warmup 100 --weight-decay 0.05 --origin-jitter 16 --steps 2000 --eval-every 200 --seed 0 --out data/model/ViT_synth.safetensors --overwrite
	$(PY) evaluate.py --data out/synth_eval5 out/synth_eval6 out/synth_eval7 out/synth_eval8 out/synth_eval9 --unet data/model/UNet_synth.safetensors --vit data/model/ViT_synth.safetensors --out docs/report

setup:
	@bash scripts/setup.sh

setup-dev:
	@bash scripts/setup.sh --dev
