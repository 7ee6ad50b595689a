"""A simulated player: walks from the entrance through walkable space the way people do.

Objectives are the layout's dead ends and exits, visited in a random order (usually the exit last);
on the way the player hesitates (frames without movement), takes detours to look around and
sometimes walks back along their own trail. Movement between captured frames is at most
MAX_STEP px at 4K; the trail between frames is kept so the fog of war opens continuously.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poemap.sim.layout import PATH_CELL, Layout

MAX_STEP = 400.0  # px at 4K between two captured frames


@dataclass
class Walk:
  positions: np.ndarray       # (T, 2) int64 [y, x] at 4K minimap scale, one per captured frame
  trails: list[np.ndarray]    # trails[t]: (K, 2) float points walked from frame t-1 to t (trails[0] = start)
  fps: float                  # capture rate the walk was timed for


def _advance(pos: np.ndarray, route: np.ndarray, budget: float) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
  """Move up to `budget` px of arc length along route; returns (new position, points passed, rest of route)."""
  passed = [pos]
  i = 0
  while i < len(route) and budget > 0:
    seg = route[i] - pos
    d = float(np.hypot(*seg))
    if d <= budget:
      budget -= d
      pos = route[i]
      i += 1
    else:
      pos = pos + seg * (budget / d)
      budget = 0
    passed.append(pos)
  return pos, passed, route[i:]


def _straight_ok(layout: Layout, a: np.ndarray, b: np.ndarray) -> bool:
  n = int(np.hypot(*(b - a)) // 8) + 2
  t = np.linspace(0, 1, n)[:, None]
  p = ((a[None] * (1 - t) + b[None] * t) // PATH_CELL).astype(int)
  g = layout.grid
  if (p < 0).any() or (p[:, 0] >= g.shape[0]).any() or (p[:, 1] >= g.shape[1]).any(): return False
  return bool(g[p[:, 0], p[:, 1]].all())


def walk_full(layout: Layout, seed: int, n_frames: int, fps: float | None = None) -> Walk:
  """The whole walk: positions per frame, the trail between frames, and the capture rate."""
  if n_frames < 1: raise ValueError(f"n_frames must be >= 1, got {n_frames}")
  rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, layout.layout_id, 7])
  fps = float(rng.uniform(0.5, 2.0)) if fps is None else float(fps)
  speed = rng.uniform(170, 320)  # px/s at 4K; with fps this sets the typical movement per frame
  ends = [np.asarray(p, np.float64) for p in layout.ends]
  exits = [np.asarray(p, np.float64) for p in layout.exits]
  rng.shuffle(ends)
  plan = ends + exits if rng.random() < 0.7 else exits + ends  # most people clear side paths first

  pos = layout.entrance.astype(np.float64)
  history = [pos]
  route = np.zeros((0, 2))
  target = None
  positions, trails = [np.round(pos).astype(np.int64)], [pos[None].copy()]
  hesitate = 0
  for _ in range(1, n_frames):
    r = rng.random()
    if hesitate > 0 or r < 0.08:
      hesitate = hesitate - 1 if hesitate > 0 else int(rng.integers(0, 3))
      positions.append(positions[-1].copy()); trails.append(pos[None].copy())
      continue
    if len(route) == 0:
      if not plan: plan = [np.asarray(p, np.float64) for p in layout.objectives + [layout.entrance]]; rng.shuffle(plan)
      target = plan.pop(0)
      route = layout.route(pos, target)[1:]
    elif r < 0.13:
      # detour: a look at something off the route, then on to the same target
      for _try in range(6):
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(150, 450)
        q = pos + dist * np.array([np.sin(ang), np.cos(ang)])
        if _straight_ok(layout, pos, q):
          route = np.concatenate([np.linspace(pos, q, int(dist // PATH_CELL) + 2)[1:], layout.route(q, target)[1:]])
          break
    elif r < 0.16 and len(history) > 30:
      # backtrack along the own trail for a while, then resume
      k = int(rng.integers(15, min(70, len(history))))
      back = np.asarray(history[-k:][::-1])
      route = np.concatenate([back[1:], layout.route(back[-1], target)[1:]])
    budget = min(MAX_STEP - 2.0, speed / fps * rng.uniform(0.5, 1.2))
    pos, passed, route = _advance(pos, route, budget)
    history.extend(passed[1:])
    positions.append(np.round(pos).astype(np.int64))
    trails.append(np.asarray(passed))
  return Walk(np.asarray(positions, np.int64).reshape(-1, 2), trails, fps)


def walk(layout: Layout, seed: int, n_frames: int) -> np.ndarray:
  """(n_frames, 2) int64 player [y, x] per captured frame, 4K minimap scale, starting at the entrance."""
  return walk_full(layout, seed, n_frames).positions
