"""The pictures in docs/: one layout per class, a rendered game screen, a stitched minimap and its mask."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from poemap.fileio import save_png
from poemap.sim.classes import N_CLASSES, SPECS
from poemap.sim.interrupt import KINDS
from poemap.sim.layout import half_scale, make_layout
from poemap.sim.look import FAMILIES, named_look
from poemap.sim.player import walk_full
from poemap.sim.render import Reveal, crop, make_world, render_capture, render_screen
from poemap.sim.session import make_session
from poemap.stitch import MinimapCanvas, shrink_with_origin


def layout_collage(seed: int = 0, cell: int = 420) -> np.ndarray:
  """3x3 grid: walkable ground and map lines of one instance per class, entrance in green, exits in red."""
  tiles = []
  for l in range(N_CLASSES):
    lay = make_layout(l, seed)
    k = cell / max(lay.shape)
    h, w = int(lay.shape[0] * k), int(lay.shape[1] * k)
    walk = cv2.resize(lay.walkable.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    lines = cv2.resize(lay.lines.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    t = np.zeros((cell, cell, 3), np.float32)
    t[:] = (18, 22, 30)
    y0, x0 = (cell - h) // 2, (cell - w) // 2
    v = t[y0:y0 + h, x0:x0 + w]
    v[:] = v * (1 - walk[..., None]) + np.array([70, 64, 52]) * walk[..., None]
    a = np.clip(lines * 3, 0, 1)[..., None]
    v[:] = v * (1 - a) + np.array([150, 90, 255]) * a
    t = np.ascontiguousarray(t.astype(np.uint8))
    P = lambda p: (int(p[1] * k) + x0, int(p[0] * k) + y0)
    cv2.circle(t, P(lay.entrance), 7, (80, 230, 80), -1, cv2.LINE_AA)
    for e in lay.exits: cv2.circle(t, P(e), 7, (255, 70, 70), -1, cv2.LINE_AA)
    cv2.putText(t, f"{l}: {SPECS[l].name}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (230, 230, 230), 1, cv2.LINE_AA)
    cv2.rectangle(t, (0, 0), (cell - 1, cell - 1), (60, 60, 60), 1)
    tiles.append(t)
  return np.concatenate([np.concatenate(tiles[r * 3:r * 3 + 3], 1) for r in range(3)], 0)


def looks_collage(seed: int = 3, cell: int = 200) -> np.ndarray:
  """One captured frame per look family (its preset, poemap.sim.look.named_look), labelled."""
  tiles = []
  for i, fam in enumerate(FAMILIES):
    s = make_session(i % N_CLASSES, seed, 12, look=named_look(fam, seed))
    tiles.append(_label(cv2.resize(s["frames"][-1], (cell, cell), interpolation=cv2.INTER_AREA), fam))
  return _grid(tiles, 4, cell)


def interruptions_collage(seed: int = 5, cell: int = 200) -> np.ndarray:
  """One frame of each kind of interruption (poemap.sim.interrupt), labelled."""
  tiles = []
  for k in KINDS:
    s = make_session(2, seed, 12, interruptions=1, interrupt_kinds=(k,))
    t = [i for i, kind in enumerate(s["kinds"]) if kind == k][0]
    tiles.append(_label(cv2.resize(s["frames"][t], (cell, cell), interpolation=cv2.INTER_AREA), k))
  return _grid(tiles, 4, cell)


def _label(img: np.ndarray, text: str) -> np.ndarray:
  img = np.ascontiguousarray(img)
  cv2.rectangle(img, (0, 0), (img.shape[1], 26), (0, 0, 0), -1)
  cv2.putText(img, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (240, 240, 240), 1, cv2.LINE_AA)
  return img


def _grid(tiles: list[np.ndarray], cols: int, cell: int) -> np.ndarray:
  tiles = tiles + [np.zeros((cell, cell, 3), np.uint8)] * (-len(tiles) % cols)
  return np.concatenate([np.concatenate(tiles[r:r + cols], 1) for r in range(0, len(tiles), cols)], 0)


def write_pictures(out: str | os.PathLike, layout_id: int = 6, seed: int = 1, n_frames: int = 60, overwrite: bool = True) -> list[Path]:
  out = Path(out)
  paths = [save_png(out / "sim_layouts.png", layout_collage(), overwrite=overwrite),
           save_png(out / "sim_looks.png", looks_collage(), overwrite=overwrite),
           save_png(out / "sim_interruptions.png", interruptions_collage(), overwrite=overwrite)]
  lay = make_layout(layout_id, seed)
  walk = walk_full(lay, seed, n_frames)
  world = make_world(lay, seed)
  reveal = Reveal(lay.shape)
  canvas = None
  for t in range(n_frames):
    reveal.visit(walk.trails[t])
    f = render_capture(world, walk.positions[t], reveal.mask, t)
    if canvas is None: canvas = MinimapCanvas(f)
    else: canvas.add(f)
    if t == n_frames // 2:
      screen = render_screen(world, walk.positions[t], reveal.mask, t)
      paths.append(save_png(out / "sim_screen.png", cv2.resize(screen, (960, 540), interpolation=cv2.INTER_AREA), overwrite=overwrite))
  assert canvas is not None  # n_frames >= 1
  small, origin = shrink_with_origin(canvas.image, canvas.origin)
  # the docs show it at 1/4 scale: the 1/2-scale minimap itself is several MB of PNG
  paths.append(save_png(out / "sim_stitched.png", shrink_with_origin(small, origin)[0], overwrite=overwrite))
  # ground truth for exactly that canvas: canvas origin sits on the layout's entrance
  y0, x0 = (lay.entrance - canvas.origin).astype(int)
  H, W = canvas.image.shape[:2]
  vis = crop(lay.lines, y0, x0, H, W) & (crop(reveal.mask, y0, x0, H, W) > 0)
  paths.append(save_png(out / "sim_stitched_mask.png", half_scale(half_scale(vis)) * 255, overwrite=overwrite))
  return paths
