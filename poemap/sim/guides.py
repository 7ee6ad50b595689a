"""Guide images: what the player sees once the layout is known (data/user/coast/<id>.png).

A legible map of one instance of the class: walkable ground, the map lines, the way from the entrance
to the exit, the entrance, exits and dead ends marked, and the class name. Beside each image its
metadata (<id>.json, poemap.guidepos.GuideMeta): the entrance pixel, the guide's scale relative to
the 1/2-scale minimap and the exits and dead ends. guide_truth() says where a point of another
instance of the class lies on the guide: the truth of bench/eval_guide_position.py.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from poemap.fileio import save_png
from poemap.guidepos import GuideMeta, meta_path, save_meta
from poemap.sim.classes import N_CLASSES, SPECS
from poemap.sim.layout import Layout, make_layout

GUIDE_SEED = 0
GUIDE_SIDE = 900  # px: the longer side of the map part of a guide
TITLE_H = 48      # px: the title band above the map
LINE_RGB = (120, 150, 255)  # the guide's map lines


def _frame(lay: Layout) -> tuple[int, int, int, int, float]:
  """(y0, x0, y1, x1) coarse cells of the guide's crop and k, guide px per 4K px."""
  ys, xs = np.nonzero(lay.coarse)
  m = 40  # cells of margin
  y0, y1, x0, x1 = max(0, ys.min() - m), ys.max() + m, max(0, xs.min() - m), xs.max() + m
  return int(y0), int(x0), int(y1), int(x1), GUIDE_SIDE / max((y1 - y0), (x1 - x0)) / 8


def to_guide(lay: Layout, p) -> np.ndarray:
  """[y, x] 4K minimap px of the guide's own instance -> [y, x] px of its guide image (float)."""
  y0, x0, _, _, k = _frame(lay)
  p = np.asarray(p, np.float64)
  return np.stack([(p[..., 0] - y0 * 8) * k + TITLE_H, (p[..., 1] - x0 * 8) * k], -1)


def guide_meta(layout_id: int, seed: int = GUIDE_SEED) -> GuideMeta:
  """The metadata of guide_image(layout_id, seed): entrance, scale (guide px per 1/2-scale px), marks."""
  lay = make_layout(layout_id, seed)
  img_h, img_w = guide_image_size(lay)
  pts = [("exit", to_guide(lay, p)) for p in lay.exits] + [("dead end", to_guide(lay, p)) for p in lay.ends]
  return GuideMeta(tuple(to_guide(lay, lay.entrance).round(2).tolist()), round(2 * _frame(lay)[4], 6),
                   [(lab, tuple(p.round(2).tolist())) for lab, p in pts], (img_h, img_w), LINE_RGB)


def guide_image_size(lay: Layout) -> tuple[int, int]:
  y0, x0, y1, x1, k = _frame(lay)
  walk = lay.walkable[y0 * 8:y1 * 8, x0 * 8:x1 * 8]
  return int(walk.shape[0] * k) + TITLE_H, int(walk.shape[1] * k)


def _on(lay: Layout, e: tuple[str, str], s: float) -> np.ndarray:
  """The point at arc-length fraction s of edge e's centre line."""
  pl = lay.polylines[e]
  seg = np.sqrt((np.diff(pl, axis=0) ** 2).sum(1))
  c = np.concatenate([[0], np.cumsum(seg)]) * (1 / seg.sum())
  i = int(np.clip(np.searchsorted(c, s, "right") - 1, 0, len(seg) - 1))
  v = pl[i + 1] - pl[i]
  return pl[i] + v * np.clip((s - c[i]) / max(c[i + 1] - c[i], 1e-12), 0, 1)


_FILLED: dict[tuple[int, int], np.ndarray] = {}


def _filled(lay: Layout) -> np.ndarray:
  """The walkable area with its holes (rocks, islands) filled: what bounds a corridor's cross-section."""
  k = (lay.layout_id, lay.seed)
  if k not in _FILLED:
    outside = np.pad(~lay.walkable, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)  # the border is never walkable (MARGIN)
    _FILLED.clear()  # two layouts at a time is all the bench needs; 4K masks are large
    _FILLED[k] = outside[1:-1, 1:-1] != 2
  return _FILLED[k]


TRUTH_STEP = 0.05  # layout units between the corresponding centre-line points of guide_truth
TRUTH_ALPHA = 1.5  # their weights fall as distance^-2*alpha: on a centre line its own correspondence rules


def _pairs(instance: Layout, guide: Layout) -> tuple[np.ndarray, np.ndarray]:
  """Corresponding points (K, 2) of two instances of a class, 4K px: every centre line at the same arc-length fractions."""
  P, Q = [], []
  for e, pl in guide.polylines.items():
    L = float(np.sqrt((np.diff(pl, axis=0) ** 2).sum(1)).sum())
    for s in np.linspace(0, 1, max(3, int(np.ceil(L / (TRUTH_STEP * guide.unit))) + 1)):
      P.append(_on(instance, e, s)); Q.append(_on(guide, e, s))
  return np.asarray(P), np.asarray(Q)


_STAND: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _ground(lay: Layout) -> tuple[np.ndarray, np.ndarray]:
  """(ground, nearest) on a 4 px grid: the filled walkable area and every cell's nearest cell of it (flat index)."""
  k = (lay.layout_id, lay.seed)
  if k not in _STAND:
    g = np.ascontiguousarray(_filled(lay)[::4, ::4]).astype(np.uint8)
    _, lab = cv2.distanceTransformWithLabels(1 - g, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(g)  # labels number the zero pixels of the input in row-major order, from 1
    idx = np.zeros(lab.max() + 1, np.int64)
    idx[lab[ys, xs]] = ys * g.shape[1] + xs
    _STAND.clear()
    _STAND[k] = (g.astype(bool), idx[lab])
  return _STAND[k]


def guide_truth(instance: Layout, guide: Layout, points) -> np.ndarray:
  """Where points [y, x] (4K px) of `instance` lie on the guide drawn from `guide` (same class).

  What a player means by "the same place": on the same corridor, as far along it, as far from its
  middle, and not in a wall. Every corridor centre line of the instance corresponds to the guide's at
  the same arc-length fraction (nodes to nodes: the instance's node jitter, bends and unit scale
  undone); a point anywhere is carried by the similarity (rotation, scale, shift) that best maps the
  correspondences around it, weighted by distance^-2*TRUTH_ALPHA (moving least squares, Schaefer et al.
  2006): on a centre line it is that line's correspondence, off it the nearby lines' blend, and the map
  is continuous everywhere (in junctions, open areas and side pockets too). A point carried into the
  guide's walls (2 % of a walk's frames, by a median 9 px at 1/2 scale: where the instance is wider or
  has a side pocket) is moved to the nearest ground of the guide (its walkable area, holes filled).
  (The first definitions took the nearest centre line alone, with the offset from it kept or clamped
  between the guide's walls on its normal: the nearest line and the projection on a bent line jump, so
  a step of 15 px moved the truth up to 150 px, on 42 of 54 walks.)"""
  if instance.layout_id != guide.layout_id: raise ValueError(f"classes differ: {instance.layout_id} vs {guide.layout_id}")
  pts = np.asarray(points, np.float64).reshape(-1, 2)
  P, Q = _pairs(instance, guide)
  out = np.empty_like(pts)
  for i in range(0, len(pts), 256):
    v = pts[i:i + 256]
    w = 1 / (((P[None] - v[:, None]) ** 2).sum(-1) + 1.0) ** TRUTH_ALPHA  # (n, K)
    w = w / w.sum(1, keepdims=True)
    ps, qs = w @ P, w @ Q
    # the weighted least-squares similarity as one complex factor a: q - q* = a (p - p*)
    z = (P[None, :, 0] - ps[:, None, 0]) + 1j * (P[None, :, 1] - ps[:, None, 1])
    c = (Q[None, :, 0] - qs[:, None, 0]) + 1j * (Q[None, :, 1] - qs[:, None, 1])
    a = (w * np.conj(z) * c).sum(1) / np.maximum((w * np.abs(z) ** 2).sum(1), 1e-12)
    d = a * ((v[:, 0] - ps[:, 0]) + 1j * (v[:, 1] - ps[:, 1]))
    out[i:i + 256] = qs + np.stack([d.real, d.imag], 1)
  g, near = _ground(guide)
  c = np.clip(np.round(out / 4).astype(np.int64), 0, np.array(g.shape) - 1)
  off = ~g[c[:, 0], c[:, 1]]
  if off.any():
    j = near[c[off, 0], c[off, 1]]
    out[off] = np.stack([j // g.shape[1], j % g.shape[1]], 1) * 4.0
  return to_guide(guide, out)


def guide_image(layout_id: int, seed: int = GUIDE_SEED) -> np.ndarray:
  """RGB uint8 guide for class layout_id, drawn from instance `seed`."""
  lay = make_layout(layout_id, seed)
  y0, x0, y1, x1, k = _frame(lay)
  walk = lay.walkable[y0 * 8:y1 * 8, x0 * 8:x1 * 8]
  h, w = int(walk.shape[0] * k), int(walk.shape[1] * k)
  fill = cv2.resize(walk.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
  img = np.empty((h, w, 3), np.float32)
  img[:] = (22, 34, 52)
  img = img * (1 - fill[..., None]) + np.array([92, 84, 66], np.float32) * fill[..., None]
  edge = cv2.morphologyEx((fill > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
  img[edge] = LINE_RGB
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
  title = np.zeros((TITLE_H, w, 3), np.uint8)
  title[:] = (12, 16, 24)
  cv2.putText(title, f"Coast layout {layout_id}: {SPECS[layout_id].name}", (12, 33), font, 0.9, (235, 235, 235), 2, cv2.LINE_AA)
  return np.concatenate([title, img], 0)


def write_guides(directory: str | os.PathLike, overwrite: bool = False) -> list[Path]:
  """user/coast/<id>.png and <id>.json for every class; existing files are kept unless overwrite."""
  d = Path(directory)
  out = []
  for l in range(N_CLASSES):
    p = d / f"{l}.png"
    if not p.exists() or overwrite: save_png(p, guide_image(l), overwrite=overwrite)
    if not meta_path(p).exists() or overwrite: save_meta(p, guide_meta(l), overwrite=overwrite)
    out.append(p)
  return out
