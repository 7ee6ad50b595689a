"""Guide images: what the player sees once the layout is known (data/user/coast/<id>.png).

A legible map of one instance of the class: walkable ground, the map lines, the way from the entrance
to the exit, the entrance, exits and dead ends marked, and the class name.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from poemap.fileio import save_png
from poemap.sim.classes import N_CLASSES, SPECS
from poemap.sim.layout import make_layout

GUIDE_SEED = 0
GUIDE_SIDE = 900  # px: the longer side of the map part of a guide


def guide_image(layout_id: int, seed: int = GUIDE_SEED) -> np.ndarray:
  """RGB uint8 guide for class layout_id, drawn from instance `seed`."""
  lay = make_layout(layout_id, seed)
  ys, xs = np.nonzero(lay.coarse)
  m = 40  # cells of margin
  y0, y1, x0, x1 = max(0, ys.min() - m), ys.max() + m, max(0, xs.min() - m), xs.max() + m
  k = GUIDE_SIDE / max((y1 - y0), (x1 - x0)) / 8  # output px per 4K px
  walk = lay.walkable[y0 * 8:y1 * 8, x0 * 8:x1 * 8]
  h, w = int(walk.shape[0] * k), int(walk.shape[1] * k)
  fill = cv2.resize(walk.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
  img = np.empty((h, w, 3), np.float32)
  img[:] = (22, 34, 52)
  img = img * (1 - fill[..., None]) + np.array([92, 84, 66], np.float32) * fill[..., None]
  edge = cv2.morphologyEx((fill > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
  img[edge] = (120, 150, 255)
  img = np.ascontiguousarray(img.astype(np.uint8))
  P = lambda p: (int((p[1] - x0 * 8) * k), int((p[0] - y0 * 8) * k))
  # the way to the exit, dashed
  for ex in lay.exits:
    r = lay.route(lay.entrance, ex)
    for i in range(0, len(r) - 1, 4):
      cv2.line(img, P(r[i]), P(r[min(i + 2, len(r) - 1)]), (255, 230, 120), 3, cv2.LINE_AA)
  font = cv2.FONT_HERSHEY_SIMPLEX
  def mark(p, color, text):
    c = P(p)
    cv2.circle(img, c, 13, (0, 0, 0), -1, cv2.LINE_AA)
    cv2.circle(img, c, 10, color, -1, cv2.LINE_AA)
    org = (min(max(4, c[0] + 16), w - 12 * len(text) - 4), max(22, c[1] + 8))
    cv2.putText(img, text, org, font, 0.7, (0, 0, 0), 5, cv2.LINE_AA)
    cv2.putText(img, text, org, font, 0.7, color, 2, cv2.LINE_AA)
  for p in lay.ends: mark(p, (255, 170, 60), "dead end")
  for p in lay.exits: mark(p, (255, 70, 70), "EXIT")
  mark(lay.entrance, (90, 230, 90), "START")
  title = np.zeros((48, w, 3), np.uint8)
  title[:] = (12, 16, 24)
  cv2.putText(title, f"Coast layout {layout_id}: {SPECS[layout_id].name}", (12, 33), font, 0.9, (235, 235, 235), 2, cv2.LINE_AA)
  return np.concatenate([title, img], 0)


def write_guides(directory: str | os.PathLike, overwrite: bool = False) -> list[Path]:
  """user/coast/<id>.png for every class; existing guides are kept unless overwrite."""
  d = Path(directory)
  out = []
  for l in range(N_CLASSES):
    p = d / f"{l}.png"
    if p.exists() and not overwrite:
      out.append(p)
      continue
    out.append(save_png(p, guide_image(l), overwrite=overwrite))
  return out
