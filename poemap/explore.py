"""Fog of war for training paths: what a player walking `path` would have revealed."""
from __future__ import annotations

import numpy as np

from poemap.contract import FOG_RADIUS


def reveal_mask(shape: tuple[int, int], path: np.ndarray, light_radius: int = FOG_RADIUS) -> np.ndarray:
  """bool (H, W): pixels within `light_radius` (Euclidean, inclusive) of any [y, x] path point.
  Points may lie outside the image; their discs are clipped."""
  h, w = shape
  r = int(light_radius)
  if r < 0: raise ValueError(f"light_radius must be >= 0, got {light_radius}")
  pts = np.asarray(path)
  if pts.size == 0: return np.zeros((h, w), bool)
  if pts.ndim != 2 or pts.shape[1] != 2: raise ValueError(f"path must be (K, 2) [y, x] points, got shape {pts.shape}")
  pts = np.round(pts).astype(np.int64)
  pts = pts[(pts[:, 0] > -r - 1) & (pts[:, 0] < h + r) & (pts[:, 1] > -r - 1) & (pts[:, 1] < w + r)]
  pts = np.unique(pts, axis=0)  # drawn paths repeat points; each disc needs stamping once
  yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
  disc = yy * yy + xx * xx <= r * r
  vis = np.zeros((h + 4 * r, w + 4 * r), bool)  # padded by 2r so every kept stamp is a plain slice
  for y, x in pts: vis[y + r:y + 3 * r + 1, x + r:x + 3 * r + 1] |= disc
  return vis[2 * r:2 * r + h, 2 * r:2 * r + w]


def explore_map(mask: np.ndarray, path: np.ndarray, light_radius: int = FOG_RADIUS) -> np.ndarray:
  """The mask (or image, H x W [x C]) with everything outside the revealed discs set to 0."""
  mask = np.asarray(mask)
  if mask.ndim not in (2, 3): raise ValueError(f"mask must be (H, W) or (H, W, C), got shape {mask.shape}")
  vis = reveal_mask(mask.shape[:2], path, light_radius)
  return mask * (vis if mask.ndim == 2 else vis[..., None]).astype(mask.dtype)
