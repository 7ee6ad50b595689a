"""train_unet.py, train_vit.py and prepare_vit_data.py on a tiny generated data directory: real tinygrad
steps that must lower the loss, loadable checkpoints, Ctrl+C leaving a valid checkpoint."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from poemap import REPO_ROOT
from poemap.datadir import write_curation_mask, write_layout, write_paths, write_unet_group
from poemap.explore import explore_map
from poemap.fileio import save_npz
from poemap.tokens import tokenize_mask

LINE_RGB = (130, 60, 220)


def _lines(rng: np.random.Generator, shape: tuple[int, int], n: int) -> np.ndarray:
  m = np.zeros(shape, np.uint8)
  for _ in range(n):
    p, q = rng.integers(0, shape[1], 2), rng.integers(0, shape[0], 2)
    cv2.line(m, (int(p[0]), int(q[0])), (int(p[1]), int(q[1])), 1, 2)
  return m


def _layout_mask(label: int, size: int = 320) -> np.ndarray:
  """Class 0: horizontal corridor walls, class 1: vertical ones, class 2: a diagonal, all leaving the centre."""
  m = np.zeros((size, size), np.uint8)
  c = size // 2
  if label == 0: cv2.line(m, (c, c - 20), (size - 5, c - 20), 1, 2); cv2.line(m, (c, c + 20), (size - 5, c + 20), 1, 2)
  elif label == 1: cv2.line(m, (c - 20, c), (c - 20, size - 5), 1, 2); cv2.line(m, (c + 20, c), (c + 20, size - 5), 1, 2)
  else: cv2.line(m, (c - 20, c), (5, 5), 1, 2); cv2.line(m, (c + 20, c), (25, 5), 1, 2)
  return m


def _path(label: int, size: int = 320) -> np.ndarray:
  c = size // 2
  t = np.linspace(0, 1, 40)[:, None]
  end = {0: (c, size - 10), 1: (size - 10, c), 2: (10, 10)}[label]
  return np.round(np.array([c, c]) * (1 - t) + np.array(end) * t).astype(np.int64)


def make_tiny_data(root: Path, seed: int = 0, masks: bool = True) -> Path:
  """A data directory in the published format: 4 UNet groups of 64x64 crops (blue lines over noise),
  3 layout classes x 2 instances with paths, and a curated test tree."""
  rng = np.random.default_rng(seed)
  for g in range(4):
    mask = _lines(rng, (64, 64), 3)
    crops = []
    for _ in range(2):
      bg = rng.integers(0, 120, (64, 64, 3)).astype(np.float32)
      img = np.where(mask[..., None] > 0, 0.3 * bg + 0.7 * np.array(LINE_RGB, np.float32), bg)
      crops.append(np.clip(img, 0, 255).astype(np.uint8))
    write_unet_group(root, f"g{g}", crops, mask)
  curation: dict = {}
  for label in range(3):
    m = _layout_mask(label)
    for inst in range(2):
      d = root / "train" / str(label) / str(inst)
      img = np.where(m[..., None] > 0, np.array(LINE_RGB, np.uint8), rng.integers(0, 60, (*m.shape, 3)).astype(np.uint8)).astype(np.uint8)
      write_layout(d, 0, img, [160, 160], m if masks else None)
      write_paths(d, [_path(label), _path(label)[::2]])
    td = root / "test" / str(label) / "0"
    for i, k in enumerate((10, 25, 40)):
      tokens = tokenize_mask(explore_map(m, _path(label)[:k]), [160, 160])
      save_npz(td / f"{1000 + i}_tokens.npz", data=tokens)
    curation[str(label)] = {"0": ["1000", "1001", "1002"]}
  write_curation_mask(curation, root)
  return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
  return make_tiny_data(tmp_path_factory.mktemp("data"))


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, **kw)
