"""Procedural layouts: a class's macro-structure (classes.py) turned into one varied instance.

Everything is at 4K minimap scale (the scale the overlay minimap is drawn at on a 3840x2160 screen)
unless a name says otherwise. The shape is built on a coarse grid (CELL px per cell) as a blurred
union of corridors and open areas plus smooth noise, thresholded; upsampling that field gives smooth
walls at full resolution. Map lines are the boundary of the walkable area, LINE_WIDTH px wide.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from poemap.sim.classes import N_CLASSES, SPECS
from poemap.sim.noise import smooth_noise

CELL = 8          # coarse grid cell, px at 4K
PATH_CELL = 16    # path-finding grid cell, px at 4K
UNIT = 450.0      # px at 4K per layout unit (mean; each instance scales it a little)
MARGIN = 700      # px of non-walkable border: a capture square centred on any walkable point stays inside
LINE_WIDTH = 4    # px at 4K: the overlay lines (2 px at the 1/2 scale of the data format)
WALL_CLEARANCE = 48  # px at 4K a walking player keeps from the walls


@dataclass
class Layout:
  layout_id: int
  seed: int
  walkable: np.ndarray          # (H, W) bool, 4K minimap scale
  lines: np.ndarray             # (H, W) bool, the map lines (boundary of walkable)
  entrance: np.ndarray          # [y, x] int64
  exits: list[np.ndarray]       # [y, x] int64 each
  ends: list[np.ndarray]        # dead ends / branch ends, [y, x] int64 each
  coarse: np.ndarray            # (H/CELL, W/CELL) bool walkable
  nodes: dict[str, np.ndarray] = field(default_factory=dict)  # jittered macro nodes, [y, x] px
  unit: float = UNIT            # px per layout unit of this instance
  polylines: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # corridor centre lines per edge, (K, 2) [y, x] px
  _grid: np.ndarray | None = None
  _dist: dict = field(default_factory=dict)

  @property
  def shape(self) -> tuple[int, int]: return self.walkable.shape

  @property
  def objectives(self) -> list[np.ndarray]: return self.ends + self.exits

  # -- path finding on a coarse grid, used by the player and the drawn-like paths
  @property
  def grid(self) -> np.ndarray:
    """(H/PATH_CELL, W/PATH_CELL) bool: cells a player can stand in, WALL_CLEARANCE from walls."""
    if self._grid is None:
      ey, ex = int(self.entrance[0] // PATH_CELL), int(self.entrance[1] // PATH_CELL)
      for clear in (WALL_CLEARANCE, WALL_CLEARANCE // 2, 0):
        k = 2 * int(clear / CELL) + 1
        inner = cv2.erode(self.coarse.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        g = inner[PATH_CELL // CELL // 2::PATH_CELL // CELL, PATH_CELL // CELL // 2::PATH_CELL // CELL]  # cell centres
        g[ey, ex] = 1
        _, lab = cv2.connectedComponents(g, connectivity=8)
        g = lab == lab[ey, ex]
        # every objective must lie in (or next to) the entrance's component, else narrow passages got cut
        if all(g[max(0, int(p[0] // PATH_CELL) - 2):int(p[0] // PATH_CELL) + 3, max(0, int(p[1] // PATH_CELL) - 2):int(p[1] // PATH_CELL) + 3].any()
               for p in self.objectives): break
      self._grid = g
    return self._grid

  def to_cell(self, p) -> tuple[int, int]:
    """The nearest standable grid cell to point p (px)."""
    g = self.grid
    cy, cx = int(np.clip(p[0] // PATH_CELL, 0, g.shape[0] - 1)), int(np.clip(p[1] // PATH_CELL, 0, g.shape[1] - 1))
    if g[cy, cx]: return cy, cx
    ys, xs = np.nonzero(g)
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(ys[i]), int(xs[i])

  def distance_to(self, p) -> np.ndarray:
    """BFS steps (8-connected) on the grid from every cell to the cell of p; -1 where unreachable. Cached."""
    key = self.to_cell(p)
    if key not in self._dist: self._dist[key] = grid_distance(self.grid, key)
    return self._dist[key]

  def route(self, start, goal) -> np.ndarray:
    """(K, 2) float px points from start to goal through walkable space, smoothed, ~PATH_CELL apart."""
    d = self.distance_to(goal)
    cy, cx = self.to_cell(start)
    if d[cy, cx] < 0: return np.asarray([start], np.float64)
    gy, gx = self.to_cell(goal)
    cells = [(cy, cx)]
    while d[cy, cx] > 0:
      best = None
      for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
          ny, nx = cy + dy, cx + dx
          if (dy or dx) and 0 <= ny < d.shape[0] and 0 <= nx < d.shape[1] and 0 <= d[ny, nx] < d[cy, cx]:
            # among equally short steps prefer the one pointing at the goal: straighter paths
            score = (d[ny, nx], (gy - ny) ** 2 + (gx - nx) ** 2)
            if best is None or score < best[0]: best = (score, (ny, nx))
      assert best is not None, "a cell with distance > 0 has a neighbour one step nearer"
      cy, cx = best[1]
      cells.append((cy, cx))
    pts = (np.asarray(cells, np.float64) + 0.5) * PATH_CELL
    ends = np.asarray([start, goal], np.float64)
    pts = np.concatenate([ends[:1], pts[1:-1], ends[1:]]) if len(pts) > 2 else ends
    return smooth_polyline(pts, self.coarse)


def grid_distance(grid: np.ndarray, seed_cell: tuple[int, int]) -> np.ndarray:
  h, w = grid.shape
  dist = np.full(h * w, -1, np.int32)
  flat = grid.reshape(-1)
  s = seed_cell[0] * w + seed_cell[1]
  dist[s] = 0
  q = deque([s])
  offs = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
  while q:
    i = q.popleft()
    y, x = divmod(i, w)
    nd = dist[i] + 1
    for dy, dx in offs:
      ny, nx = y + dy, x + dx
      if 0 <= ny < h and 0 <= nx < w:
        j = ny * w + nx
        if flat[j] and dist[j] < 0:
          dist[j] = nd
          q.append(j)
  return dist.reshape(h, w)


def smooth_polyline(pts: np.ndarray, coarse: np.ndarray, spacing: float = PATH_CELL, window: int = 7) -> np.ndarray:
  """Resample a polyline to `spacing` px and round its grid corners with a moving average, keeping the
  original point wherever the smoothed one would leave walkable space."""
  seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
  s = np.concatenate([[0], np.cumsum(seg)])
  if s[-1] < 1e-6: return pts[:1].copy()
  t = np.linspace(0, s[-1], max(2, int(np.ceil(s[-1] / spacing)) + 1))
  res = np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], 1)
  if len(res) > window:
    k = np.ones(window) / window
    pad = np.concatenate([np.repeat(res[:1], window // 2, 0), res, np.repeat(res[-1:], window // 2, 0)])
    sm = np.stack([np.convolve(pad[:, 0], k, "valid"), np.convolve(pad[:, 1], k, "valid")], 1)
    sm[0], sm[-1] = res[0], res[-1]
    cy = np.clip((sm[:, 0] // CELL).astype(int), 0, coarse.shape[0] - 1)
    cx = np.clip((sm[:, 1] // CELL).astype(int), 0, coarse.shape[1] - 1)
    ok = coarse[cy, cx]
    res = np.where(ok[:, None], sm, res)
  return res


def _wiggle_polyline(rng: np.random.Generator, p0: np.ndarray, p1: np.ndarray, amp: float) -> np.ndarray:
  """A corridor's centre line: the straight edge bent by a smooth perpendicular offset, 0 at both ends."""
  v = p1 - p0
  n = max(2, int(np.linalg.norm(v) / (UNIT * 0.35)))
  t = np.linspace(0, 1, n + 1)
  perp = np.array([-v[1], v[0]]) / max(np.linalg.norm(v), 1e-6)
  # sum of two sine bumps with random phase: bends, not zigzags
  off = amp * (rng.uniform(-1, 1) * np.sin(np.pi * t) + 0.5 * rng.uniform(-1, 1) * np.sin(2 * np.pi * t))
  return p0[None] + t[:, None] * v[None] + off[:, None] * perp[None]


def make_layout(layout_id: int, seed: int) -> Layout:
  """One instance of class `layout_id` (0..8); identical for identical (layout_id, seed)."""
  if not 0 <= int(layout_id) < N_CLASSES: raise ValueError(f"layout_id must be in 0..{N_CLASSES - 1}, got {layout_id}")
  spec = SPECS[int(layout_id)]
  rng = np.random.default_rng([int(layout_id), int(seed) & 0xFFFFFFFF, 3])
  unit = UNIT * rng.uniform(0.92, 1.08)
  # jitter: none at the entrance, little on the shared first stretch (it must stay ambiguous), more after
  nodes = {}
  for k, (y, x) in spec.nodes.items():
    sd = 0.0 if k == "e" else 0.08 if k in spec.shared else 0.2
    nodes[k] = np.array([y, x], np.float64) * unit + rng.normal(0, sd * unit, 2)
  widths = {(a, b): w * 0.62 * unit * rng.uniform(0.85, 1.15) for a, b, w in spec.edges}
  blobs = [(k, ry * unit * rng.uniform(0.85, 1.15), rx * unit * rng.uniform(0.85, 1.15), rng.uniform(-25, 25)) for k, ry, rx in spec.blobs]
  polylines = {(a, b): _wiggle_polyline(rng, nodes[a], nodes[b], 0.25 * unit if not (a in spec.shared and b in spec.shared) else 0.08 * unit)
               for a, b, _ in spec.edges}

  # canvas: bounding box of everything + margin, in whole coarse cells
  pts = np.concatenate(list(polylines.values()) + [np.array([[nodes[k][0] - ry, nodes[k][1] - rx], [nodes[k][0] + ry, nodes[k][1] + rx]])
                                                   for k, ry, rx, _ in blobs])
  lo = pts.min(0) - MARGIN - unit
  hi = pts.max(0) + MARGIN + unit
  hc, wc = (np.ceil((hi - lo) / CELL)).astype(int)
  off = -lo  # px offset: layout px = unit-space px + off

  def c(p): return tuple(int(round(v)) for v in ((np.asarray(p) + off) / CELL)[::-1])  # cv2 point (x, y) in cells

  union = np.zeros((hc, wc), np.uint8)
  for (a, b), pl in polylines.items():
    # per-segment width variation: corridors narrow and widen along their length
    base = widths[(a, b)]
    for i in range(len(pl) - 1):
      t = max(2, int(round(base * rng.uniform(0.8, 1.2) / CELL)))
      cv2.line(union, c(pl[i]), c(pl[i + 1]), 1, thickness=t)
      cv2.circle(union, c(pl[i + 1]), t // 2, 1, -1)
  cv2.circle(union, c(nodes["e"]), int(0.22 * unit / CELL), 1, -1)  # the entrance clearing
  for k, ry, rx, ang in blobs:
    cv2.ellipse(union, c(nodes[k]), (int(rx / CELL), int(ry / CELL)), ang, 0, 360, 1, -1)
  # side pockets: small clearings hanging off random corridor points (not on the shared stretch)
  free = [pl for (a, b), pl in polylines.items() if not (a in spec.shared and b in spec.shared)]
  for _ in range(rng.poisson(2.5)):
    pl = free[rng.integers(len(free))]
    p = pl[rng.integers(1, len(pl))]
    ang = rng.uniform(0, 2 * np.pi)
    q = p + np.array([np.sin(ang), np.cos(ang)]) * unit * rng.uniform(0.4, 0.8)
    cv2.line(union, c(p), c(q), 1, thickness=max(2, int(unit * rng.uniform(0.3, 0.45) / CELL)))
    cv2.circle(union, c(q), int(unit * rng.uniform(0.25, 0.45) / CELL), 1, -1)

  fld = cv2.GaussianBlur(union.astype(np.float32), (0, 0), 2.5) + 0.22 * smooth_noise(rng, (hc, wc), 12) + 0.08 * smooth_noise(rng, (hc, wc), 4)
  # islands: rocks inside open areas, away from the node so the way through stays open
  for k, ry, rx, _ in blobs:
    # rocks scattered over open ground: they give the minimap lines to show (and to align on) there
    for _ in range(rng.poisson(ry * rx / (0.45 * unit) ** 2)):
      p = nodes[k] + rng.uniform(-1, 1, 2) * np.array([ry, rx]) * 0.8
      cv2.circle(fld, c(p), max(2, int(unit * rng.uniform(0.05, 0.1) / CELL)), -0.5, -1)
    for _ in range(rng.integers(1, 4)):
      ang, r = rng.uniform(0, 2 * np.pi), rng.uniform(0.45, 0.75)
      p = nodes[k] + np.array([ry * np.sin(ang), rx * np.cos(ang)]) * r
      cv2.circle(fld, c(p), max(2, int(unit * rng.uniform(0.1, 0.22) / CELL)), -1.0, -1)
  # small obstacles anywhere walkable (rocks, wrecks), blurred so they become round islands
  obst = np.zeros_like(fld)
  for _ in range(rng.poisson(4)):
    pl = free[rng.integers(len(free))]
    p = pl[rng.integers(len(pl))] + rng.normal(0, 0.15 * unit, 2)
    cv2.circle(obst, c(p), max(1, int(unit * rng.uniform(0.05, 0.1) / CELL)), 1.5, -1)
  fld -= cv2.GaussianBlur(obst, (0, 0), 1.0)
  # rocks wherever the walls are far away: the fog of war (140 x 120 px) reveals lines only near
  # walls, so open ground needs something drawn on the map, as the game's minimap has doodads there
  far = cv2.distanceTransform((fld > 0.5).astype(np.uint8), cv2.DIST_L2, 5) * CELL
  cy, cx = np.nonzero(far > 170)
  rocks = np.zeros_like(fld)
  blocked = np.zeros(fld.shape, np.uint8)  # rocks keep ~230 px apart, and off the entrance
  cv2.circle(blocked, c(nodes["e"]), int(200 / CELL), 1, -1)
  for i in rng.permutation(len(cy)):
    if blocked[cy[i], cx[i]]: continue
    cv2.circle(blocked, (int(cx[i]), int(cy[i])), int(230 / CELL), 1, -1)
    cv2.circle(rocks, (int(cx[i]), int(cy[i])), int(rng.uniform(18, 40) / CELL) + 1, 1.5, -1)
  fld -= cv2.GaussianBlur(rocks, (0, 0), 1.0)
  # a guaranteed spine along every corridor: noise, rocks and obstacles may narrow a passage but
  # never cut it, so every node (entrance, exits, dead ends) stays reachable
  spine = np.zeros_like(fld)
  for (a, b), pl in polylines.items():
    t = max(2, int(max(110.0, 0.45 * widths[(a, b)]) / CELL))
    for i in range(len(pl) - 1): cv2.line(spine, c(pl[i]), c(pl[i + 1]), 1.0, thickness=t)
  fld = np.maximum(fld, spine)
  ent = c(nodes["e"])
  fld[ent[1] - 3:ent[1] + 4, ent[0] - 3:ent[0] + 4] = np.maximum(fld[ent[1] - 3:ent[1] + 4, ent[0] - 3:ent[0] + 4], 1.0)

  # keep only what is reachable from the entrance
  n, lab = cv2.connectedComponents((fld > 0.5).astype(np.uint8), connectivity=8)
  comp = lab == lab[ent[1], ent[0]]
  fld = np.where(cv2.dilate(comp.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0, fld, np.minimum(fld, 0.0)).astype(np.float32)
  big = cv2.resize(fld, (wc * CELL, hc * CELL), interpolation=cv2.INTER_LINEAR)
  walkable = big > 0.5
  _, lab = cv2.connectedComponents(walkable.astype(np.uint8), connectivity=8)
  ey, ex = (nodes["e"] + off).astype(int)
  walkable = lab == lab[ey, ex]
  del big, lab
  coarse = cv2.resize(walkable.astype(np.uint8), (wc, hc), interpolation=cv2.INTER_AREA) > 0  # any walkable
  coarse &= cv2.resize(walkable.astype(np.uint8) * 255, (wc, hc), interpolation=cv2.INTER_AREA) > 127
  w8 = walkable.astype(np.uint8)
  lines = cv2.morphologyEx(w8, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (LINE_WIDTH + 1, LINE_WIDTH + 1))) > 0

  P = lambda k: np.round(nodes[k] + off).astype(np.int64)
  return Layout(int(layout_id), int(seed), walkable, lines, P("e"), [P(k) for k in spec.exits], [P(k) for k in spec.ends], coarse,
                {k: nodes[k] + off for k in nodes}, unit, {e: pl + off for e, pl in polylines.items()})


def half_scale(mask: np.ndarray) -> np.ndarray:
  """A 4K-scale 0/1 mask at the 1/2 scale of the data format: a pixel is on when at least 3 of its 2x2
  block are: 4 px lines become 1-2 px lines, and a pixel counts as line only where the shrunk image
  shows the line's colour rather than a blend with the ground."""
  m = np.asarray(mask, np.uint8)
  h, w = m.shape[0] // 2 * 2, m.shape[1] // 2 * 2
  return (m[:h, :w].reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3)) >= 3).astype(np.uint8)
