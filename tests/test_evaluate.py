"""evaluate.py writes its report files (summary, confusion matrix, accuracy vs tokens, failing samples)
for real (untrained, seeded) checkpoints on a tiny generated data directory."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tinygrad import Tensor

from models.checkpoint import save_checkpoint
from models.config import build_unet
from models.vit import ViT
from poemap import REPO_ROOT
from poemap.fileio import load_png
from tests.test_train import UNET_MICRO, make_tiny_data
from training.report import cluster_bootstrap


def test_evaluate_writes_report(tmp_path):

  root = make_tiny_data(tmp_path / "d")
  Tensor.manual_seed(0)
  u = save_checkpoint(build_unet(json.loads(UNET_MICRO)), tmp_path / "u.safetensors")
  v = save_checkpoint(ViT(num_classes=3, max_tokens=16, layers=1, embed_dim=32, num_heads=2, ff_dim=64), tmp_path / "v.safetensors")
  out = tmp_path / "report"
  r = subprocess.run([sys.executable, "evaluate.py", "--data", str(root), "--unet", str(u), "--vit", str(v), "--out", str(out)],
                     cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr
  s = json.loads((out / "summary.json").read_text())
  vit = s["vit"]
  assert vit["n"] == 9 and s["test_selection"] == "curated"
  cm = np.array(vit["confusion"])
  assert cm.shape == (3, 3) and cm.sum() == 9 and vit["acc"] == np.trace(cm) / 9
  assert sum(b["n"] for b in vit["by_tokens"]) == 9
  assert len(list((out / "failures").glob("*.png"))) == min(12, vit["failures"])
  for k in ("unet", "unet_cleaned", "color_filter"): assert 0.0 <= s["unet"][k]["f1"] <= 1.0
  assert s["unet"]["crops"] == 8
  # the blue lines of the tiny data sit in the colour filter's range: the baseline finds them
  assert s["unet"]["color_filter"]["f1"] > 0.9
  for png in ("confusion.png", "accuracy_vs_tokens.png"): assert load_png(out / png).ndim == 3
  md = (out / "summary.md").read_text()
  assert "colour filter" in md and "confusion.png" in md
  lo, hi = vit["acc_ci95_walks"]
  assert vit["walks"] == len({str(p) for p in (root / "test").glob("*/*")}) and lo <= vit["acc"] <= hi and "bootstrap over the" in md
  # two roots are pooled, each with its own row (a copy of the same root: the same predictions twice)
  shutil.copytree(root, tmp_path / "d2")
  r = subprocess.run([sys.executable, "evaluate.py", "--data", str(root), str(tmp_path / "d2"), "--unet", "none", "--vit", str(v), "--out",
                      str(out / "both")],
                     cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr
  both = json.loads((out / "both" / "summary.json").read_text())["vit"]
  assert both["n"] == 18 and both["walks"] == 2 * vit["walks"] and both["acc"] == vit["acc"]
  assert [(d["n"], d["acc"]) for d in both["by_data"]] == [(9, vit["acc"])] * 2 and str(tmp_path / "d2") in (out / "both" / "summary.md").read_text()
  r = subprocess.run([sys.executable, "evaluate.py", "--data", str(root), str(tmp_path / "nowhere"), "--unet", "none", "--vit", str(v), "--out",
                      str(out / "x")],
                     cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert r.returncode != 0 and "nowhere" in r.stderr and not (out / "x").exists()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.booleans()), min_size=1, max_size=60))
def test_cluster_bootstrap_interval(samples):
  groups, correct = np.array([g for g, _ in samples]), np.array([c for _, c in samples])
  lo, hi = cluster_bootstrap(correct, groups, n_boot=400)
  assert 0.0 <= lo <= hi <= 1.0
  assert (lo, hi) == cluster_bootstrap(correct, groups, n_boot=400)  # seeded
  # every resample is a mix of whole groups, so the interval lies within the range of group accuracies
  per_group = [correct[groups == g].mean() for g in np.unique(groups)]
  assert min(per_group) - 1e-12 <= lo and hi <= max(per_group) + 1e-12
  if len(set(per_group)) == 1: assert lo == hi == per_group[0]


def test_cluster_bootstrap_is_wider_for_correlated_samples():
  correct = np.r_[np.ones(90), np.zeros(10)].astype(bool)
  one_walk_of_errors = np.repeat(np.arange(10), 10)          # the 10 errors are one whole walk
  independent = np.arange(100)                               # each sample its own walk
  w = np.subtract(*cluster_bootstrap(correct, one_walk_of_errors)[::-1])
  assert w > np.subtract(*cluster_bootstrap(correct, independent)[::-1])
