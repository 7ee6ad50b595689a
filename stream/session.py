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

The mask's tokens are poemap.tokens.mask_tokens's (sparse pixels cleaned once, then tokenized), computed
around the changed tiles only (update_clean, update_tokens) and bit-identical to it.

Optionally (update_fused, the server's --fuse) cleaning and tokens read a fused mask instead of the raw one: a
pixel is a line where at least FUSE_VIEWS of its views had the UNet say line, a view being each distinct value the
pixel took in the minimaps sent. Map lines persist across views, effects drawn on the capture (poemap.sim's spell
arcs) don't; but a client that sends only where the fog can lift (poemap.tiles, the default) gives most pixels one
view, so fusing pays only with the whole canvas sent (the client's --full-canvas; bench/probe_fusion.py has the figures).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from poemap.contract import TILE
from poemap.fidelity import channel_stats
from poemap.tiles import grid, placement, tile_any  # the server's tile grid, shared with the client's send rule
from poemap.tokens import clean_sparse_box, clean_sparse_pixels, patch_occupancy, token_grid, tokens_from_occupancy


@dataclass
class SessionState:
  minimap: np.ndarray                 # previous minimap, uint8 (H, W, 3)
  origin: np.ndarray                  # its origin [y, x]
  mask: np.ndarray                    # raw UNet mask (before cleaning) of that minimap, uint8 (H, W) 0/1
  stats: tuple[np.ndarray, np.ndarray]  # per-channel (mean, std), fixed from the session's first minimap
  blank: np.ndarray | None = None     # UNet mask of an all-black (unrevealed) tile under stats, once known
  changed: np.ndarray | None = None   # bool tile grid: where mask differs from the previous state's (placed by shift); None: no usable previous state
  shift: tuple[int, int] | None = None  # where the previous minimap sits in this one
  clean: np.ndarray | None = None     # clean_sparse_pixels(mask), once update_clean ran
  occupancy: np.ndarray | None = None  # poemap.tokens.patch_occupancy of clean, once update_tokens ran
  computed: np.ndarray | None = None  # bool tile grid: the tiles update_mask recomputed (all of them without a usable previous state)
  votes: np.ndarray | None = None     # uint8 (H, W): per pixel, how many of its views the UNet called line, once update_fused ran
  fused: np.ndarray | None = None     # uint8 (H, W) 0/1: votes >= FUSE_VIEWS; what update_clean reads when present
  fused_changed: np.ndarray | None = None  # bool tile grid: where fused differs from the previous state's (None: no usable previous state)

  def lines(self) -> tuple[np.ndarray, np.ndarray | None]:
    """(the mask cleaning and tokens read, the tile grid where it changed): the fused one once update_fused ran, else the raw one."""
    return (self.mask, self.changed) if self.fused is None else (self.fused, self.fused_changed)


FUSE_VIEWS = 2  # line views a pixel needs in the fused mask (bench/probe_fusion.py, rule son2)


def alignment(prev: SessionState, minimap: np.ndarray, origin: np.ndarray) -> tuple[int, int] | None:
  """Where the previous minimap sits in the new one, (dy, dx) in pixels, or None when the new one
  is not the old canvas grown by whole tiles (then nothing can be reused)."""
  return placement(prev.minimap.shape, prev.origin, minimap.shape, origin)


def reusable_tiles(prev: SessionState, minimap: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
  """bool (rows, cols) over the new tile grid: True where a whole tile lies inside the previous
  minimap and has the same pixels. Edge tiles the old image only partly covered count as changed,
  since padding is part of what the UNet saw."""
  h, w = minimap.shape[:2]
  keep = np.zeros(grid(h, w), bool)
  ph, pw = (s // TILE * TILE for s in prev.minimap.shape[:2])
  if ph == 0 or pw == 0: return keep
  dy, dx = shift
  keep[dy // TILE:(dy + ph) // TILE, dx // TILE:(dx + pw) // TILE] = ~tile_any(minimap[dy:dy + ph, dx:dx + pw] != prev.minimap[:ph, :pw])
  return keep


def grow_tiles(a: np.ndarray, reach: int, outside: bool) -> np.ndarray:
  """bool tile grid: True where a is True within `reach` tiles (rows and columns; past the grid a counts as `outside`).
  reach 0 returns a as it is."""
  if reach <= 0: return a
  R, C = a.shape
  p = np.pad(a, reach, constant_values=outside)
  out = np.zeros_like(a)
  for dy in range(2 * reach + 1):
    for dx in range(2 * reach + 1): out |= p[dy:dy + R, dx:dx + C]
  return out


def tile_view(a: np.ndarray) -> np.ndarray:
  """(R, C, 32, 32[, 3]) view of an image of whole tiles (writes go through to it)."""
  return a.reshape(a.shape[0] // TILE, TILE, a.shape[1] // TILE, TILE, *a.shape[2:]).swapaxes(1, 2)


def update_mask(unet, prev: SessionState | None, minimap: np.ndarray, origin: np.ndarray, incremental: bool = True,
                stats: tuple[np.ndarray, np.ndarray] | None = None, per_request: bool = False) -> tuple[SessionState, int]:
  """Run the UNet (a models.tiled.TiledUNet) on what changed since `prev`; returns the new state and
  the number of tiles computed. Without prev the statistics come from `stats` or this minimap. With
  per_request the statistics are this minimap's, zero-padded to whole tiles (the published input), and
  tiles are reused only while they stay bit-identical. The state also records which tiles' mask changed
  (for update_clean), whatever the UNet reused. A UNet with a halo (unet.halo px of context per tile) has a tile
  recomputed when any tile within its reach changed, and takes the shared black-tile mask only amid black tiles."""
  minimap = np.ascontiguousarray(minimap)
  origin = np.asarray(origin, np.int64).reshape(2).copy()
  same_stats = prev is not None
  if per_request:
    stats = channel_stats(minimap, pad_to=TILE)  # = unet.stats(minimap) on the published path
    same_stats = prev is not None and all(np.array_equal(a, b) for a, b in zip(stats, prev.stats))  # else no tile's input holds now
  elif prev is not None: stats = prev.stats
  elif stats is None: stats = channel_stats(minimap)
  h, w = minimap.shape[:2]
  R, C = grid(h, w)
  full = np.zeros((R * TILE, C * TILE), np.uint8)
  view = tile_view(full)
  todo = np.ones((R, C), bool)
  shift = alignment(prev, minimap, origin) if prev is not None else None
  # a UNet with a halo (models.tiled) reads `halo` px around each tile: a tile is redone when anything within that reach changed
  reach = -(-int(getattr(unet, "halo", 0)) // TILE)  # in whole tiles
  if prev is not None and shift is not None:
    if incremental and same_stats: todo = grow_tiles(~reusable_tiles(prev, minimap, shift), reach, False)
    ph, pw = prev.mask.shape
    full[shift[0]:shift[0] + ph, shift[1]:shift[1] + pw] = prev.mask
    before = view[todo]  # the previous mask where tiles are recomputed: what tells update_clean where the mask changed
  # the canvas grows by whole strips that are mostly unrevealed black: one UNet pass serves every black tile
  blank = prev.blank if prev is not None and same_stats else None
  lit = tile_any(minimap)
  pad_raw = bool(getattr(unet, "pad_raw", False))
  # padded after normalising: a ragged edge tile is no black tile
  if not pad_raw: lit[h // TILE:], lit[:, w // TILE:] = True, True
  # (raw padding is black too: on the published path a ragged edge tile with nothing revealed is a black tile)
  # with a halo a black tile also needs black all around it (past the grid: black only on the published path)
  black = ~grow_tiles(lit, reach, not pad_raw) & todo
  if black.any():
    if blank is None:  # a black tile amid black tiles: the middle of a (2 * reach + 1)-tile black square
      side = (2 * reach + 1) * TILE
      blank = np.asarray(unet.tiles(np.zeros((side, side, 3), np.uint8), np.full((1, 2), reach, np.int64), stats), np.uint8)[0]
    view[black] = blank
  coords = np.argwhere(todo & ~black).astype(np.int64)
  if len(coords): view[coords[:, 0], coords[:, 1]] = np.asarray(unet.tiles(minimap, coords, stats), np.uint8)
  full[h:], full[:, w:] = 0, 0  # a blank tile written on a ragged edge would otherwise count as a change past the image
  changed = None
  if shift is not None:
    changed = np.zeros((R, C), bool)
    changed[todo] = (before != view[todo]).any((1, 2))
  return SessionState(minimap.copy(), origin, full[:h, :w].copy(), stats, blank, changed, shift, computed=todo), len(coords)


def update_fused(prev: SessionState | None, state: SessionState) -> np.ndarray:
  """The fused mask (see the module doc), kept in state.fused with state.votes and state.fused_changed; run after update_mask
  with the prev it was given. Only the tiles update_mask recomputed are looked at: elsewhere neither the pixels nor the
  mask changed, so neither did the votes. A pixel whose value changed (or that is new) is a new view and adds its vote; one
  that kept its value is the same view, whose vote the UNet may still have changed (a neighbour's context): it is replaced."""
  h, w = state.mask.shape
  R, C = grid(h, w)
  def padded(a: np.ndarray) -> np.ndarray: return np.pad(a, ((0, R * TILE - h), (0, C * TILE - w)) + ((0, 0),) * (a.ndim - 2))
  votes, old, fused = (np.zeros((R * TILE, C * TILE), np.uint8) for _ in range(3))  # old: the previous mask
  was = np.zeros((R * TILE, C * TILE, 3), np.int16) - 1  # the previous minimap; -1 where there was none (every value is new)
  todo, fused_changed = np.ones((R, C), bool), None
  if prev is not None and state.shift is not None and prev.votes is not None and prev.fused is not None and state.computed is not None:
    (dy, dx), (ph, pw) = state.shift, prev.mask.shape
    votes[dy:dy + ph, dx:dx + pw], old[dy:dy + ph, dx:dx + pw], fused[dy:dy + ph, dx:dx + pw] = prev.votes, prev.mask, prev.fused
    was[dy:dy + ph, dx:dx + pw] = prev.minimap
    todo, fused_changed = state.computed, np.zeros((R, C), bool)
  before = tile_view(fused)[todo].copy()
  same = (tile_view(was)[todo] == tile_view(padded(state.minimap))[todo]).all(-1)
  m, v, o = tile_view(padded(state.mask))[todo].astype(np.int16), tile_view(votes)[todo].astype(np.int16), tile_view(old)[todo]
  v = np.clip(np.where(same, v + m - o, v + m), 0, 255)  # saturating: only >= FUSE_VIEWS matters
  tile_view(votes)[todo], tile_view(fused)[todo] = v, v >= FUSE_VIEWS
  if fused_changed is not None: fused_changed[todo] = (before != tile_view(fused)[todo]).any((1, 2))
  state.votes, state.fused, state.fused_changed = votes[:h, :w].copy(), fused[:h, :w].copy(), fused_changed
  return state.fused


def changed_box(state: SessionState) -> tuple[tuple[int, int], tuple[int, int]] | None:
  """((y0, y1), (x0, x1)) in pixels: the bounding box of the tiles where the mask cleaning reads (SessionState.lines)
  changed, grown by one tile, outside which neither the cleaned mask (its 15x15 window reaches 7 px < 32) nor the token
  occupancy can have changed; None when nothing changed."""
  changed = state.lines()[1]
  if changed is None: return None
  t = np.argwhere(changed)
  if not len(t): return None
  return ((t[:, 0].min() - 1) * TILE, (t[:, 0].max() + 2) * TILE), ((t[:, 1].min() - 1) * TILE, (t[:, 1].max() + 2) * TILE)


def update_clean(prev: SessionState | None, state: SessionState) -> np.ndarray:
  """poemap.tokens.clean_sparse_pixels of the mask (state.lines: the fused one once update_fused ran, else the raw one), bit
  for bit, kept in state.clean: recomputed only in changed_box, the rest moved over from prev (the mask there is the same,
  zeros outside the old image included)."""
  mask, changed = state.lines()
  if state.shift is None or prev is None or prev.clean is None or changed is None: state.clean = clean_sparse_pixels(mask)
  else:
    clean = np.zeros_like(mask)
    (dy, dx), (ph, pw) = state.shift, prev.clean.shape
    clean[dy:dy + ph, dx:dx + pw] = prev.clean
    if (box := changed_box(state)) is not None: clean_sparse_box(mask, clean, *box)
    state.clean = clean
  return state.clean


def update_tokens(prev: SessionState | None, state: SessionState, limit: int | None = None) -> tuple[np.ndarray, int]:
  """(the first `limit` tokens of poemap.tokens.mask_tokens(state.mask, state.origin), how many there are in all),
  bit for bit: the one function from a mask to tokens that training samples call too (tests/test_vitdata.py feeds
  one minimap through both); the patch occupancy is kept in state.occupancy and recomputed only over changed_box.
  Run update_clean first."""
  if state.clean is None: raise ValueError("no cleaned mask in the state: run update_clean first")
  if state.shift is None or prev is None or prev.occupancy is None or state.lines()[1] is None: occ = patch_occupancy(state.clean, state.origin)
  else:
    # the patch grid is the tile grid offset by origin % 32, which a session keeps: the old grid moves by whole patches
    rows, cols = token_grid(state.clean.shape, state.origin)[2:]
    occ = np.zeros((rows, cols), bool)
    (dy, dx), (pr, pc) = state.shift, prev.occupancy.shape
    occ[dy // TILE:dy // TILE + pr, dx // TILE:dx // TILE + pc] = prev.occupancy
    if (box := changed_box(state)) is not None: patch_occupancy(state.clean, state.origin, box, occ)
  state.occupancy = occ
  return tokens_from_occupancy(state.clean, state.origin, occ, limit), int(occ.sum())


class Sessions:
  """Session id -> SessionState, at most `limit` of them; the least recently used one goes first."""
  def __init__(self, limit: int = 16):
    if limit < 1: raise ValueError(f"session limit must be >= 1, got {limit}")
    self.limit = limit
    self._d: OrderedDict[str, SessionState] = OrderedDict()

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
