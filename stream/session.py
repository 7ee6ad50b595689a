"""Per-session incremental UNet state: what the server remembers between two minimaps of one area.

The client's canvas grows by whole 32 px tiles (at ½ scale) and the UNet sees each 32 px tile on
its own, so with the normalisation statistics fixed for the session a tile whose pixels did not
change has the same mask as last time. Only changed or new tiles go through the UNet; the result is
bit-identical to running the UNet over the whole minimap with the same statistics.

The published UNet's input (poemap.fidelity, per_request=True) takes the statistics of every minimap
anew, over the minimap zero-padded to whole tiles. Any change of the statistics changes every tile's
input, so a tile is reused only when the statistics are bit-identical to last time; what stays cheap
is the unrevealed canvas: every black tile (and every padded pixel, raw black too) has one mask per
request, computed once. That is exact: the same mask as the original server's full pass.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

TILE = 32


@dataclass
class SessionState:
  minimap: np.ndarray                 # previous minimap, uint8 (H, W, 3)
  origin: np.ndarray                  # its origin [y, x]
  mask: np.ndarray                    # raw UNet mask (before cleaning) of that minimap, uint8 (H, W) 0/1
  stats: tuple[np.ndarray, np.ndarray]  # per-channel (mean, std), fixed from the session's first minimap
  blank: np.ndarray | None = None     # UNet mask of an all-black (unrevealed) tile under stats, once known


def grid(h: int, w: int) -> tuple[int, int]:
  return -(-h // TILE), -(-w // TILE)


def alignment(prev: SessionState, minimap: np.ndarray, origin: np.ndarray) -> tuple[int, int] | None:
  """Where the previous minimap sits in the new one, (dy, dx) in pixels, or None when the new one
  is not the old canvas grown by whole tiles (then nothing can be reused)."""
  d = np.asarray(origin, np.int64) - prev.origin
  ph, pw = prev.minimap.shape[:2]
  h, w = minimap.shape[:2]
  if (d < 0).any() or (d % TILE).any() or d[0] + ph > h or d[1] + pw > w: return None
  return int(d[0]), int(d[1])


def reusable_tiles(prev: SessionState, minimap: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
  """bool (rows, cols) over the new tile grid: True where a whole tile lies inside the previous
  minimap and has the same pixels. Edge tiles the old image only partly covered count as changed,
  since padding is part of what the UNet saw."""
  h, w = minimap.shape[:2]
  keep = np.zeros(grid(h, w), bool)
  ph, pw = (s // TILE * TILE for s in prev.minimap.shape[:2])
  if ph == 0 or pw == 0: return keep
  dy, dx = shift
  same = (minimap[dy:dy + ph, dx:dx + pw] == prev.minimap[:ph, :pw]).all(-1)
  keep[dy // TILE:(dy + ph) // TILE, dx // TILE:(dx + pw) // TILE] = same.reshape(ph // TILE, TILE, pw // TILE, TILE).all((1, 3))
  return keep


def update_mask(unet, prev: SessionState | None, minimap: np.ndarray, origin: np.ndarray, incremental: bool = True,
                stats: tuple[np.ndarray, np.ndarray] | None = None, per_request: bool = False) -> tuple[SessionState, int]:
  """Run the UNet (a models.tiled.TiledUNet) on what changed since `prev`; returns the new state and
  the number of tiles computed. Without prev the statistics come from `stats` or this minimap. With
  per_request the statistics are this minimap's, zero-padded to whole tiles (the published input), and
  tiles are reused only while they stay bit-identical."""
  from models.tiled import channel_stats
  minimap = np.ascontiguousarray(minimap)
  origin = np.asarray(origin, np.int64).reshape(2).copy()
  if per_request:
    stats = channel_stats(minimap, pad_to=TILE)  # = unet.stats(minimap) on the published path
    if prev is not None and not all(np.array_equal(a, b) for a, b in zip(stats, prev.stats)): prev = None  # nothing of it holds now
  elif prev is not None: stats = prev.stats
  elif stats is None: stats = channel_stats(minimap)
  h, w = minimap.shape[:2]
  R, C = grid(h, w)
  full = np.zeros((R * TILE, C * TILE), np.uint8)
  todo = np.ones((R, C), bool)
  shift = alignment(prev, minimap, origin) if prev is not None and incremental else None
  if shift is not None:
    todo = ~reusable_tiles(prev, minimap, shift)
    ph, pw = prev.mask.shape
    full[shift[0]:shift[0] + ph, shift[1]:shift[1] + pw] = prev.mask
  # the canvas grows by whole strips that are mostly unrevealed black: one UNet pass serves every black tile
  blank = prev.blank if prev is not None else None
  fr, fc = h // TILE, w // TILE
  black = np.zeros((R, C), bool)
  black[:fr, :fc] = ~minimap[:fr * TILE, :fc * TILE].reshape(fr, TILE, fc, TILE, 3).any((1, 3, 4))
  if getattr(unet, "pad_raw", False):  # raw padding is black too: a ragged edge tile with nothing revealed is a black tile
    black = ~np.pad(minimap, ((0, R * TILE - h), (0, C * TILE - w), (0, 0))).reshape(R, TILE, C, TILE, 3).any((1, 3, 4))
  black &= todo
  if black.any():
    if blank is None: blank = np.asarray(unet.tiles(np.zeros((TILE, TILE, 3), np.uint8), np.zeros((1, 2), np.int64), stats), np.uint8)[0]
    full.reshape(R, TILE, C, TILE).transpose(0, 2, 1, 3)[black] = blank
  coords = np.argwhere(todo & ~black).astype(np.int64)
  if len(coords):
    tiles = np.asarray(unet.tiles(minimap, coords, stats), np.uint8)
    full.reshape(R, TILE, C, TILE).transpose(0, 2, 1, 3)[coords[:, 0], coords[:, 1]] = tiles
  return SessionState(minimap.copy(), origin, full[:h, :w].copy(), stats, blank), len(coords)


class Sessions:
  """Session id -> SessionState, at most `limit` of them; the least recently used one goes first."""
  def __init__(self, limit: int = 16):
    if limit < 1: raise ValueError(f"session limit must be >= 1, got {limit}")
    self.limit, self._d = limit, OrderedDict()

  def get(self, sid: str) -> SessionState | None:
    s = self._d.get(sid)
    if s is not None: self._d.move_to_end(sid)
    return s

  def put(self, sid: str, state: SessionState) -> None:
    self._d[sid] = state
    self._d.move_to_end(sid)
    while len(self._d) > self.limit: self._d.popitem(last=False)

  def reset(self, sid: str) -> bool: return self._d.pop(sid, None) is not None
  def __len__(self) -> int: return len(self._d)
  def __contains__(self, sid: str) -> bool: return sid in self._d
