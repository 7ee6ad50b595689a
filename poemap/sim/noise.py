"""Smooth random fields: the one source of organic shapes and textures in the synthetic Coast."""
from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], period: float, channels: int = 0) -> np.ndarray:
  """float32 noise of `shape` (+channels) with features about `period` px across, roughly mean 0, std 1.
  Drawn on a coarse grid and upsampled with cubic interpolation, so the cost is one resize."""
  h, w = shape
  gh, gw = max(2, int(np.ceil(h / period)) + 2), max(2, int(np.ceil(w / period)) + 2)
  grid = rng.standard_normal((gh, gw) + ((channels,) if channels else ())).astype(np.float32)
  # the grid spans a little more than the output so the edges get full-strength noise too
  big = cv2.resize(grid, (int(gw * period), int(gh * period)), interpolation=cv2.INTER_CUBIC)
  out = big[int(period):int(period) + h, int(period):int(period) + w]
  return out / max(float(out.std()), 1e-6)


def periodic_noise(rng: np.random.Generator, size: int, period: float, channels: int = 0) -> np.ndarray:
  """Seamlessly tileable float32 noise (size x size), std 1: sums of random plane waves with integer
  wave numbers so the tile wraps exactly; used for world textures sampled with a modulo index."""
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
  out = np.zeros((size, size) + ((channels,) if channels else ()), np.float32)
  kmax = max(1, int(round(size / period)))
  for c in range(max(1, channels)):
    acc = np.zeros((size, size), np.float32)
    for _ in range(48):
      ky, kx = rng.integers(-kmax, kmax + 1, size=2)
      if ky == 0 and kx == 0: continue
      acc += np.cos(2 * np.pi * (ky * yy + kx * xx) + rng.uniform(0, 2 * np.pi)).astype(np.float32) / np.hypot(ky, kx) ** 0.5
    acc /= max(float(acc.std()), 1e-6)
    if channels: out[..., c] = acc
    else: out = acc
  return out
