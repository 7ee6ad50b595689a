"""The colour-filter baseline: map-line pixels by RGB range, as the original data preparation did.

It is the number a trained UNet must beat: on a clean dark background the range finds the lines,
over fires, water and effects it both misses lines and takes other blue pixels.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from poemap.datadir import read_unet_groups
from poemap.fileio import load_npz_data

LINE_LO = (110, 0, 150)   # RGB, inclusive
LINE_HI = (150, 150, 255)


def color_filter_mask(image_rgb: np.ndarray, lo=LINE_LO, hi=LINE_HI) -> np.ndarray:
  """uint8 0/1 (H, W): 1 where every channel of the RGB pixel lies in [lo, hi]."""
  img = np.asarray(image_rgb)
  if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3: raise ValueError(f"want uint8 (H, W, 3) RGB, got {img.dtype} {img.shape}")
  return (cv2.inRange(img, np.array(lo, np.uint8), np.array(hi, np.uint8)) > 0).astype(np.uint8)


def confusion(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int]:
  """(true positives, false positives, false negatives) of two 0/1 masks of one shape."""
  p, g = np.asarray(pred) > 0, np.asarray(gt) > 0
  if p.shape != g.shape: raise ValueError(f"mask shapes differ: {p.shape} vs {g.shape}")
  tp = int(np.count_nonzero(p & g))
  return tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(g)) - tp


def scores(tp: int, fp: int, fn: int) -> dict[str, float]:
  prec = tp / (tp + fp) if tp + fp else 1.0
  rec = tp / (tp + fn) if tp + fn else 1.0
  return {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "tp": tp, "fp": fp, "fn": fn}


def line_f1(pairs, predict=color_filter_mask) -> dict[str, float]:
  """Pixel precision / recall / F1 of `predict` over (image RGB, ground-truth 0/1 mask) pairs, pooled."""
  tp = fp = fn = 0
  for img, gt in pairs:
    a, b, c = confusion(predict(img), gt)
    tp, fp, fn = tp + a, fp + b, fn + c
  return scores(tp, fp, fn)


def unet_group_pairs(root: str | os.PathLike | None = None):
  """(crop, mask) for every crop of the data directory's auto_crop_50 / mask_50 groups."""
  for _, crops, mpath in read_unet_groups(root):
    mask = load_npz_data(mpath)
    for c in crops: yield load_npz_data(c), mask
