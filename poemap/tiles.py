"""The ½-scale 32 px tile grid of a minimap, and which tiles the client refreshes when it sends one.

The server's UNet sees each 32 px tile of the ½-scale minimap on its own and recomputes a tile only when its
pixels changed (stream/session.py). The stitched canvas re-pastes the capture around the player every frame,
and the world under the semi-transparent map changes with it, so most re-pasted tiles change their pixels but
not their map lines. Map lines appear only where the fog lifts, so the client sends the minimap it sent last
time with only the tiles refreshed (taken whole from the canvas) where the fog can have lifted since:

  a pixel x is refreshed when the path walked since the last send came nearer to it than the path before did,
  by more than SLACK (d_new(x) < d_old(x) - SLACK), within FOG_REACH of the new path, and not within FOG_CORE
  of the old one.

The fog reveals everything within its radius f of every point walked, so x shows something new exactly when
d_new(x) <= f < d_old(x); with f unknown but in [FOG_CORE, FOG_REACH] that is the rule above. SLACK keeps the
stitcher's sub-pixel jitter of a player standing still (or walking back along the own trail) from counting as
a move: what it leaves out is a sliver of fog edge under SLACK px wide. Distances are
in the fog's own shape (an ellipse FOG_ASPECT times wider than high, which is a circle once y is scaled by
FOG_ASPECT); the path between two accepted frames is taken as straight. Tiles the canvas has never sent keep
black (the server's one shared pass for unrevealed tiles) until the rule reaches them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from poemap.contract import TILE

# The fog's reach, ½-scale px along x (the fog's wide axis). The synthetic Coast's fog is a 70 x 60 ellipse
# times 0.75-1.35 by look (poemap.sim.look), so at most 94.5 along x; the published training data reveal a disc
# of 65 (poemap.contract.FOG_RADIUS). 100 covers every simulated look with a margin; a game or look whose fog
# reaches farther needs a larger one (the lines revealed beyond it reach the server only when the player
# walks nearer).
FOG_REACH = 100.0
# Inside this the fog has lifted for sure: below the smallest simulated fog (0.75 x 70 = 52.5 along x) with
# room for a soft edge, which the rule refreshes as long as the player comes nearer.
FOG_CORE = 40.0
FOG_ASPECT = 140 / 120  # the fog ellipse's width over its height (the sim's 140 x 120 4K px; 1 for a disc)
SLACK = 3.0  # px: how much nearer the new path must come (the stitcher places a frame to about a pixel)
CELL = 2     # px: the rule is evaluated on cells of CELL x CELL pixels (tiles are whole cells), conservatively


def grid(h: int, w: int) -> tuple[int, int]:
  return -(-h // TILE), -(-w // TILE)


def tile_any(a: np.ndarray) -> np.ndarray:
  """bool (rows, cols) over the 32 px tile grid of a contiguous (H, W[, C]) array: any nonzero value in the tile.
  Reducing the 32 rows of a tile band first keeps numpy on long contiguous runs (a reduction over the last
  axis of length 3 is ~100x slower)."""
  h, w = a.shape[:2]
  R, C = grid(h, w)
  a = np.ascontiguousarray(a).reshape(h, -1)
  ch, fr = a.shape[1] // w, h // TILE
  rows = a[:fr * TILE].reshape(fr, TILE, a.shape[1]).any(1)
  if h % TILE: rows = np.concatenate([rows, a[fr * TILE:].any(0, keepdims=True)])
  if w % TILE: rows = np.pad(rows, ((0, 0), (0, (C * TILE - w) * ch)))
  return np.asarray(rows.reshape(R, C, TILE * ch).any(2))


@dataclass(frozen=True)
class FogRule:
  """The send rule's settings (module docstring): ½-scale px, along the fog's wide (x) axis."""
  reach: float = FOG_REACH
  core: float = FOG_CORE
  aspect: float = FOG_ASPECT
  slack: float = SLACK

  def __post_init__(self):
    if not 0 <= self.core <= self.reach or self.aspect <= 0 or self.slack < 0:
      raise ValueError(f"need 0 <= core <= reach, aspect > 0, slack >= 0: {self}")


def _segments(path: np.ndarray) -> np.ndarray:
  """(S, 2, 2) [start, end] of a polyline's segments; a single point is one segment of length 0."""
  return np.stack([path[:-1], path[1:]], 1) if len(path) > 1 else np.repeat(path[:, None], 2, 1)


def _distance(py: np.ndarray, px: np.ndarray, seg: np.ndarray) -> np.ndarray:
  """Distance from each point (py, px) to the nearest of the segments `seg` (S, 2, 2); inf without any."""
  out = np.full(py.shape, np.inf)
  for (ay, ax), (by, bx) in seg:  # one segment at a time: a (points, S) array is slower for the long paths that matter
    dy, dx = by - ay, bx - ax
    t = np.clip(((py - ay) * dy + (px - ax) * dx) / max(dy * dy + dx * dx, 1e-9), 0, 1)
    np.minimum(out, np.hypot(py - ay - t * dy, px - ax - t * dx), out=out)
  return out


def refresh_tiles(shape: tuple[int, int], new: np.ndarray, old: np.ndarray, rule: FogRule = FogRule()) -> np.ndarray:
  """bool tile grid of an (h, w) ½-scale minimap: the tiles where the fog can have lifted (module docstring).
  `new`: (K, 2) player positions [y, x] in the minimap's pixels since the last send, starting at the position
  of the last send; `old`: (M, 2) the path before, ending at that same position (empty: nothing sent yet)."""
  R, C = grid(*shape)
  out = np.zeros((R, C), bool)
  k = rule.aspect
  new = np.asarray(new, np.float64).reshape(-1, 2) * [k, 1]  # y scaled: the fog's ellipse is a circle of radius `reach`
  old = np.asarray(old, np.float64).reshape(-1, 2) * [k, 1]
  if not len(new): return out
  s = (CELL - 1) / 2 * np.hypot(k, 1)  # from a cell's centre to its farthest pixel, in the scaled metric
  lo = (np.floor((new.min(0) - rule.reach - s) / [k, 1] / TILE).astype(int)).clip(0, [R, C])
  hi = (np.floor((new.max(0) + rule.reach + s) / [k, 1] / TILE).astype(int) + 1).clip(0, [R, C])
  if (hi <= lo).any(): return out
  ys, xs = (np.arange(a * TILE, b * TILE, CELL) + (CELL - 1) / 2 for a, b in zip(lo, hi))
  py, px = np.meshgrid(ys * k, xs, indexing="ij")
  dn = _distance(py, px, _segments(new))
  # some pixel of a cell may pass a test: each distance moves by at most s within the cell
  hit = dn - s <= rule.reach
  if not hit.any(): return out
  # only the old path's segments that come within reach of these cells can matter (farther, every test passes as at inf)
  seg = _segments(old) if len(old) else np.zeros((0, 2, 2))
  cy, cx = py[hit], px[hit]
  lo_w, hi_w = np.array([cy.min(), cx.min()]) - 2 * rule.reach, np.array([cy.max(), cx.max()]) + 2 * rule.reach
  do = _distance(cy, cx, seg[((seg.max(1) >= lo_w) & (seg.min(1) <= hi_w)).all(1)])
  hit[hit] = (do + s > rule.core) & (dn[hit] - s < do + s - rule.slack)
  per = TILE // CELL
  out[lo[0]:hi[0], lo[1]:hi[1]] = hit.reshape(hi[0] - lo[0], per, hi[1] - lo[1], per).any((1, 3))
  return out


def placement(old_shape: tuple[int, ...], old_origin, shape: tuple[int, ...], origin) -> tuple[int, int] | None:
  """Where a minimap of old_shape (origin old_origin) sits in one of shape (origin origin), (dy, dx) px, when the
  new one is the old canvas grown by whole tiles on any side; None otherwise (another canvas: nothing carries over)."""
  d = np.asarray(origin, np.int64) - np.asarray(old_origin, np.int64)
  if (d < 0).any() or (d % TILE).any() or d[0] + old_shape[0] > shape[0] or d[1] + old_shape[1] > shape[1]: return None
  return int(d[0]), int(d[1])


def paste_tiles(sent: np.ndarray, sent_origin: np.ndarray, minimap: np.ndarray, origin: np.ndarray, tiles: np.ndarray) -> np.ndarray | None:
  """The minimap to send: `sent` (the last one sent, its origin `sent_origin`) placed in `minimap`'s grid, pixels
  the last one did not cover black, and the tiles `tiles` (bool tile grid of minimap) taken whole from `minimap`.
  None when `minimap` is not `sent` grown by whole tiles (another canvas): then send it as it is."""
  d = placement(sent.shape, sent_origin, minimap.shape, origin)
  if d is None or tiles.shape != grid(*minimap.shape[:2]): return None
  out = np.zeros_like(minimap)
  out[d[0]:d[0] + sent.shape[0], d[1]:d[1] + sent.shape[1]] = sent
  for r0, r1, c0, c1 in _runs(tiles):
    out[r0 * TILE:r1 * TILE, c0 * TILE:c1 * TILE] = minimap[r0 * TILE:r1 * TILE, c0 * TILE:c1 * TILE]
  return out


def _runs(tiles: np.ndarray) -> list[tuple[int, int, int, int]]:
  """(row, row + 1, col0, col1) for each horizontal run of True tiles: few slice copies instead of one per tile."""
  out: list[tuple[int, int, int, int]] = []
  for r in np.flatnonzero(tiles.any(1)):
    e = np.flatnonzero(np.diff(np.concatenate([[0], tiles[r].view(np.int8), [0]])))
    out.extend((int(r), int(r) + 1, int(a), int(b)) for a, b in zip(e[::2], e[1::2]))
  return out


@dataclass
class TileSender:
  """One stream's send state: the path of accepted frames and what was sent last. moved() after every
  stitched frame, minimap() for each minimap about to be sent."""
  rule: FogRule = FogRule()
  path: list[np.ndarray] = field(default_factory=list)  # player per accepted frame, full-scale px relative to the origin
  sent: tuple[np.ndarray, np.ndarray, int] | None = None  # (minimap, origin, len(path)) of the last send
  tiles: np.ndarray | None = None  # bool tile grid: the tiles taken from the canvas for the last minimap (None: it went whole)
  merges: int = 0  # the canvas's MinimapCanvas.merges at the last moved()

  def moved(self, position: np.ndarray, merges: int = 0) -> None:
    """The player at an accepted frame: canvas.position - canvas.origin (full scale, fixed to the content), and the
    canvas's MinimapCanvas.merges: when it grew, a second canvas was taken in, far from the path: the next goes whole."""
    self.path.append(np.asarray(position, np.float64).reshape(2).copy())
    if merges != self.merges: self.forget()
    self.merges = merges

  @property
  def refreshed(self) -> int | None:
    return int(self.tiles.sum()) if self.tiles is not None else None

  def forget(self) -> None:
    """The next minimap goes whole (e.g. the server may have lost the session)."""
    self.sent = None

  def minimap(self, minimap: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """What to send for this ½-scale minimap of the canvas (origin: its ½-scale origin), remembered as sent."""
    origin = np.asarray(origin, np.int64).reshape(2)
    out = None
    if self.sent is not None and self.path:
      half = origin + np.asarray(self.path) / 2
      n = self.sent[2]
      tiles = refresh_tiles(minimap.shape[:2], half[max(0, n - 1):], half[:n], self.rule)
      out = paste_tiles(self.sent[0], self.sent[1], minimap, origin, tiles)
      self.tiles = tiles if out is not None else None
    if out is None: out, self.tiles = np.ascontiguousarray(minimap).copy(), None
    self.sent = (out, origin.copy(), len(self.path))
    return out
