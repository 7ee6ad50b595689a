"""Exploration paths drawn by hand: pure-yellow pixels over a layout image → an ordered `[y, x]` path.

The user opens `train/<layout>/<instance>/<n>.png` in an image editor, draws one line in pure yellow
(255, 255, 0) from the entrance the way a player would walk, and copies the whole canvas. The line's
pixels are ordered by their walking distance along the line from the pixel nearest the entrance
(8-connected breadth-first search), so that any prefix of the path is a plausible partial
exploration; strokes that do not touch are chained by jumping to the nearest unvisited pixel. All
yellow pixels are kept.
"""
from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import numpy as np
from PIL import ImageGrab

from poemap.datadir import read_layout, read_paths, write_paths
from poemap.fileio import load_png
from poemap.usererror import UserError

YELLOW = (255, 255, 0)


def yellow_pixels(image: np.ndarray) -> np.ndarray:
  """(N, 2) int64 [y, x] of the exactly-yellow pixels of an RGB image, row-major order."""
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[2] < 3: raise ValueError(f"want an RGB image, got shape {image.shape}")
  return np.argwhere(np.all(image[..., :3] == YELLOW, axis=-1)).astype(np.int64)


def order_path(points: np.ndarray, start_near) -> np.ndarray:
  """Order pixels by 8-connected walking distance from the pixel nearest `start_near`."""
  points = np.asarray(points, dtype=np.int64).reshape(-1, 2)
  if len(points) == 0: return points
  lo = points.min(0)
  p = points - lo
  index = np.full(p.max(0) + 1, -1, dtype=np.int64)
  index[p[:, 0], p[:, 1]] = np.arange(len(p))
  h, w = index.shape
  grid, pl = index.tolist(), p.tolist()  # plain lists: the per-pixel walk is ~10x faster than numpy scalars
  dist = [-1] * len(p)
  seed = int(np.argmin(((points - np.asarray(start_near).reshape(2)) ** 2).sum(1)))
  level = 0
  while True:
    dist[seed] = level
    q = deque([seed])
    while q:
      i = q.popleft()
      y, x = pl[i]
      for ny in (y - 1, y, y + 1):
        if not 0 <= ny < h: continue
        row = grid[ny]
        for nx in (x - 1, x, x + 1):
          if 0 <= nx < w and (j := row[nx]) >= 0 and dist[j] < 0:
            dist[j] = level = dist[i] + 1
            q.append(j)
    da = np.asarray(dist)
    left = np.flatnonzero(da < 0)
    if len(left) == 0: break
    last = p[np.argmax(da)]  # a gap in the stroke: carry on from the unvisited pixel nearest the walk's end
    seed, level = int(left[np.argmin(((p[left] - last) ** 2).sum(1))]), level + 1
  return points[np.argsort(np.asarray(dist), kind="stable")]


def read_image_file(path: str | os.PathLike) -> np.ndarray:
  try: return load_png(path)
  except (FileNotFoundError, ValueError) as e: raise UserError(str(e)) from e


def grab_clipboard() -> np.ndarray:
  """The clipboard's image as RGB uint8; UserError (pointing at --image) when there is none."""
  try:
    got = ImageGrab.grabclipboard()
  except (ImportError, NotImplementedError, OSError) as e:
    raise UserError(f"cannot read the clipboard here ({e}); save the image and pass --image FILE") from e
  if isinstance(got, list) and len(got) == 1: return read_image_file(got[0])  # a copied file, not pixels
  if got is None or isinstance(got, list): raise UserError("the clipboard holds no image: select all and copy in the editor, or pass --image FILE")
  return np.asarray(got.convert("RGB"))


def add_path(instance_dir: str | os.PathLike, image: np.ndarray, n: int = 0) -> tuple[np.ndarray, int, float]:
  """Append the yellow path drawn on `image` to <instance_dir>/paths.npz. Returns (path, number of
  paths now stored, distance in px from the origin to the path's first point)."""
  d = Path(instance_dir)
  try: layout, origin, _ = read_layout(d, n)
  except (FileNotFoundError, ValueError) as e: raise UserError(f"{d} is not a labelled layout instance ({e})") from e
  assert layout is not None  # read_layout raises when the image is missing
  image = np.asarray(image)
  if image.shape[:2] != layout.shape[:2]:
    raise UserError(f"image is {image.shape[1]}x{image.shape[0]} but {d / f'{n}.png'} is {layout.shape[1]}x{layout.shape[0]}: "
                    "copy the whole canvas of that image")
  pts = yellow_pixels(image)
  if len(pts) == 0: raise UserError(f"no pure-yellow {YELLOW} pixels in the image: draw the path in yellow without anti-aliasing")
  path = order_path(pts, origin)
  try: paths = read_paths(d)
  except (ValueError, OSError) as e: raise UserError(f"{d / 'paths.npz'} is unreadable ({e}); move it aside first") from e
  write_paths(d, paths + [path], overwrite=True)  # atomic replace: the old file or the new one, never torn
  return path, len(paths) + 1, float(np.sqrt(((path[0] - origin) ** 2).sum()))
