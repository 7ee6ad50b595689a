"""Stitching the overlay minimap from captured frames.

The capture square is centred on the player, so between two frames the minimap content moves by
the player's movement. The game world behind the minimap moves too, at another speed (parallax),
so correlating raw pixels can lock onto the world. We correlate a "line image" instead: thin
structure bluer than its surroundings (a top-hat of blueness), long runs weighted over fragments,
with the player icon at the centre blanked out because it never moves. A candidate shift must be
confirmed by the line pixels beyond chance, must not be the world's parallax copy of a shorter one,
and, in the canvas, must show the lines the canvas has seen persistently under the frame (and, when
the last frame confirms it only moderately, agree with where the canvas itself places the frame, and not
agree clearly better at a shorter copy of the move, where the map lies when the pair took the world's); a
frame with a window's or panel's straight border is no minimap capture at all. What cannot be
trusted is refused, and the canvas says when it has lost the player (`lost`). The frames it refuses
still stitch among themselves into a second canvas, merged in once it meets the first clearly (a
player who walked on behind a panel into ground the canvas never saw is placed again that way; an
entrance frame that no pair placed is relocated into that second canvas instead).
"""
from __future__ import annotations

import threading
from typing import Any, NamedTuple

import cv2
import numpy as np

from poemap.contract import CAPTURE_SIDE, TILE

GROW = 2 * TILE    # the canvas grows in whole multiples of this at capture scale (= one tile at ½)
MIN_CONFIDENCE = 0.2  # chance-corrected share of prev's line pixels that the chosen shift must find in cur
DISTINCT = 1.5        # ...and it must explain them this many times better than any other shift
MAX_SHIFT = 0.75   # of the frame size: larger moves leave too little overlap to trust


def _check_frame(frame: np.ndarray, name: str = "frame") -> np.ndarray:
  frame = np.asarray(frame)
  if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
    raise ValueError(f"{name} must be uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
  if frame.shape[0] < 32 or frame.shape[1] < 32: raise ValueError(f"{name} is too small to align: {frame.shape}")
  return frame


OPEN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # at ½ scale: wider than any map line, narrower than a patch
FULL_EXTENT = 40  # ½-scale px: a line component this long (or longer) has full weight
FULL_WEIGHT = 0.99
MIN_LONG = 40     # ½-scale px of full-weight line confirmed beyond chance that a shift needs
LONG_SHARE = 0.5  # ... and at least this share of the most that any candidate shift confirms
MIN_AREA, MIN_EXTENT = 10, 7  # ½-scale px: a line-pixel component smaller than this is a speck, not a line
DENSE = 0.1  # share of a frame's pixels over the line level beyond which its components are measured by their stats


def _no_speck(area: np.ndarray, extent: np.ndarray) -> np.ndarray:
  """bool per component label (0 = background, never kept): at least MIN_AREA px and MIN_EXTENT long."""
  keep = (area >= MIN_AREA) & (extent >= MIN_EXTENT)
  keep[0] = False
  return keep


_SCRATCH = threading.local()
def _scratch(shape: tuple[int, ...], slot: int, dtype: Any = np.uint8) -> np.ndarray:
  """A work array, the same one each time for a (shape, slot, dtype) in a thread: a fresh array of a frame's size costs
  more in page faults (about 1 ms per 1200x1200 bytes) than most of what is computed into it. Never kept or returned."""
  bufs = _SCRATCH.__dict__.setdefault('bufs', {})
  key = (shape, slot, np.dtype(dtype).str)
  if key not in bufs:
    if len(bufs) >= 32: bufs.clear()  # frame sizes seen in one thread are few; a stream of new ones must not pile up
    bufs[key] = np.empty(shape, dtype)
  return bufs[key]


def _blueness(frame: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
  """uint8 (H, W): how much bluer than its red and green a pixel is, B - (R + G) / 2, saturated at
  0. Every overlay colour of the game's blue-purple family blends into the ground as a rise of
  this, whatever the ground's colour."""
  # cv2.split into given arrays (red and green work arrays, the result over blue): several times faster than
  # extractChannel per channel or split's own fresh arrays (page faults), ten than cv2.transform
  hw = frame.shape[:2]
  r, g, b = cv2.split(frame, [_scratch(hw, 0), _scratch(hw, 1), np.empty(hw, np.uint8) if dst is None else dst])
  return cv2.subtract(b, cv2.addWeighted(r, 0.5, g, 0.5, 0, dst=r), dst=b)


def _lines(frame: np.ndarray, blank: tuple[int, int] | None, blank_radius: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """uint8 (H, W) at the frame's scale (the ½-scale frame): thin blue-purple structure. A white
  top-hat (blueness minus its opening by a disc wider than a line) keeps what is thinner than the
  disc and drops broad blue (water, patches, glows) including its edges; components too small to
  be a stretch of line (sparkles, ripples, grain) are dropped. A square of `blank_radius` around
  `blank` (the player icon and its glow, which never move on screen) is zeroed. Also returns each
  line pixel's weight (uint8, 255 = full): short fragments, which is what textures leave, count
  for less than the long runs map lines make."""
  hw = frame.shape[:2]
  m = _blueness(frame, _scratch(hw, 2))
  th = cv2.subtract(m, cv2.morphologyEx(m, cv2.MORPH_OPEN, OPEN, dst=_scratch(hw, 3)), dst=_scratch(hw, 4))
  if blank is not None:
    rad = blank_radius
    th[max(0, blank[0] - rad):max(0, blank[0] + rad), max(0, blank[1] - rad):max(0, blank[1] + rad)] = 0
  # the level adapts to the frame: faint lines over a calm ground stand out at a few units, a busy
  # ground needs more (a few times its 99th percentile, which lines are too sparse to set). The percentile matters
  # only below where the level saturates: the smallest value that 99 % of the pixels don't exceed (float32, as a
  # histogram's cumulative counts would compare), counted value by value, is several times faster than a histogram
  need, top = np.float32(0.99) * np.float32(th.size), -(-LINE_LEVEL // LEVEL_GAIN)
  p99 = next((v for v in range(top) if np.float32(th.size - np.count_nonzero(th > v)) >= need), top)
  level = int(np.clip(LEVEL_GAIN * p99, LINE_LEVEL_MIN, LINE_LEVEL))
  on = cv2.threshold(th, level, 1, cv2.THRESH_BINARY, dst=_scratch(hw, 5))[1]  # th > level, 0/1
  # each component's area and extent (the longer side of its box) say its weight (every component has an extent >= 1
  # and so a kept one a weight > 0: one lookup by label says both what is kept and its weight)
  def weights(area: np.ndarray, ext: np.ndarray) -> np.ndarray:
    return np.where(_no_speck(area, ext), np.minimum(255, ext * 255 // FULL_EXTENT), 0).astype(np.uint8)
  if cv2.countNonZero(on) > DENSE * on.size:
    # a busy ground's many specks: the labelling's stats, and the lookup over all the labels (each < n: clipping changes
    # none), beat per-pixel arrays of indices, coordinates and labels (and their fresh pages). Any labelling gives the
    # same components (only their numbers differ); Grana's is the fastest one with stats
    n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(on, 8, cv2.CV_32S, cv2.CCL_GRANA, labels=_scratch(hw, 0, np.int32))
    lut = weights(stats[:, cv2.CC_STAT_AREA], np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]).astype(np.int64))
    wt: np.ndarray = np.empty(on.shape, np.uint8)
    np.take(lut, np.asarray(labels), out=wt, mode='clip')
  else:
    # few: from their pixels' labels, several times faster than the stats (and flatnonzero of bools several times faster
    # than of uint8)
    n, labels = cv2.connectedComponents(on, labels=_scratch(hw, 0, np.int32), connectivity=8)
    idx = np.flatnonzero(on.view(bool))
    lab: np.ndarray = labels.ravel()[idx]
    lo, hi = np.full((2, n), 1 << 30), np.zeros((2, n), np.int64)
    for i, c in enumerate(np.divmod(idx, on.shape[1])):
      np.minimum.at(lo[i], lab, c)
      np.maximum.at(hi[i], lab, c)
    wt = np.zeros(on.shape, np.uint8)
    wt.ravel()[idx] = weights(np.bincount(lab, minlength=n), (hi - lo).max(0) + 1)[lab]
  return cv2.bitwise_and(th, th, mask=wt), wt


EDGE_STEP, EDGE_RUN, EDGE_PAIR = 20, 0.4, 6  # Sobel of the ½-scale grey image; share of the side; px
EDGE_BLOCK = 8  # px along an edge judged at once: a long run is searched among whole blocks (8x less to erode)


def screen_edge(small: np.ndarray) -> bool:
  """Whether a ½-scale frame holds a straight step edge along the screen's axes over EDGE_RUN of its
  side: the border of a window, a panel or a loading bar, which the minimap, the world and effects
  never draw. A thin line has two edges of opposite signs within EDGE_PAIR px; a step (a dark panel
  over a bright world, or the other way) has one. (On the tuning sessions no map frame has one at
  half this EDGE_STEP, and every panel and desktop at twice it.)"""
  hw = small.shape[:2]
  g = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY, dst=_scratch(hw, 6))
  B = EDGE_BLOCK
  for dx in (1, 0):
    grad = cv2.Sobel(g, cv2.CV_16S, dx, 1 - dx, dst=_scratch(hw, 0, np.int16), ksize=3)
    if not dx: grad = cv2.transpose(grad, dst=_scratch(hw[::-1], 1, np.int16))  # edges across y run along x: as columns too
    h, w = grad.shape
    k = np.ones((int(EDGE_RUN * h) // B - 1, 1), np.uint8)  # whole blocks: a run of at least EDGE_RUN * h - 2 B px
    g8 = grad[:h // B * B]
    blocks = (np.asarray(op(g8, v, out=_scratch(g8.shape, i, bool)).reshape(h // B, B, w).all(1), np.uint8)
              for i, (op, v) in enumerate(((np.greater, EDGE_STEP), (np.less, -EDGE_STEP))))
    pos, neg = (np.flatnonzero(cv2.erode(b, k, borderType=cv2.BORDER_CONSTANT, borderValue=0).any(0)) for b in blocks)
    for a, b in ((pos, neg), (neg, pos)):
      a = a[(a > EDGE_PAIR) & (a < w - 1 - EDGE_PAIR)]  # at the frame's edge a line's other edge may lie beyond it
      if len(a) and (not len(b) or (np.abs(a[:, None] - b[None]).min(1) > EDGE_PAIR).any()): return True
  return False


_WINDOWS: dict[tuple[int, int], np.ndarray] = {}
def _window(h: int, w: int) -> np.ndarray:
  """A 2-D Tukey window (flat middle, cosine edges): it removes the edge discontinuities phase
  correlation hates without muting content far from the centre, which large moves rely on."""
  if (h, w) not in _WINDOWS:
    def tukey(n: int, alpha: float = 0.5) -> np.ndarray:
      x = np.linspace(0.0, 1.0, n)
      edge = np.minimum(x, 1 - x) / (alpha / 2)
      return np.where(edge < 1, 0.5 * (1 - np.cos(np.pi * np.clip(edge, 0, 1))), 1.0).astype(np.float32)
    _WINDOWS[(h, w)] = np.outer(tukey(h), tukey(w))
  return _WINDOWS[(h, w)]


LINE_LEVEL = 12  # top-hat blueness above this is a line pixel on any frame; calm frames use less:
LINE_LEVEL_MIN, LEVEL_GAIN = 5, 3  # ... LEVEL_GAIN times the frame's 99th percentile, at least LINE_LEVEL_MIN
MIN_LINE_PIXELS = 80  # at ½ scale: fewer shared line pixels than this pin a translation only if
MIN_CONFIRMED = 120  # ½-scale line pixels confirmed beyond chance (score x n) that any shift needs
WEAK, WEAK_CONFIRMED = 0.5, 300  # ... and a shift confirmed less well than WEAK, this many
LOW_SHARE, LOW_CONFIRMED = 0.5, 600  # below the confidence asked for, down to this share of it, on this many
MIN_SPARSE, SPARSE_CONFIDENCE, SPARSE_SHARE = 40, 0.8, 0.8  # ... there are MIN_SPARSE of them and nearly all agree
APERTURE_DISTINCT = 1.2  # how much better than 12 px off the chosen shift must explain the lines
APERTURE = [(dy, dx) for dy, dx in ((12, 0), (0, 12), (8, 8), (8, -8)) for dy, dx in ((dy, dx), (-dy, -dx))]  # ½-scale px
APERTURE_REACH = max(max(abs(dy), abs(dx)) for dy, dx in APERTURE)  # ½-scale px: how far from the best the aperture check looks
CANDIDATES = 12    # correlation peaks verified per frame pair
RELOCATE, RELOCATE_MAX = 3, 5  # crop side, in frame sides, that a lost frame is searched for in the canvas
RELOCATE_NEED = 2 * MIN_LINE_PIXELS  # canvas line pixels under the frame that a relocation needs
WIDE_CONFIDENCE = 0.9  # ... and the agreement it needs in the widest crop: 25 frame-sized places to be wrong in
MAX_CONFIDENCE = 0.3  # the most agreement (chance-corrected) asked for after a gap
GAP_CONFIDENCE = 0.02  # more agreement asked for per skipped frame
COUNT_MOVE = 16    # capture px a frame must lie from the last counted one to count into hits/miss
CAPTURE_AREA = CAPTURE_SIDE * CAPTURE_SIDE  # the 4K capture square, which the canvas checks' pixel counts are for
CANVAS_MIN_PIXELS = 60  # persistent ½-scale line pixels under a frame needed to judge it against the canvas
CANVAS_AGREE = 0.5   # chance-corrected share of them a frame must show,
STRICT_MIN_PIXELS, STRICT_AGREE = 200, 0.6  # ... and for a strict check
VOUCH_MIN_PIXELS = 20  # persistent ½-scale line pixels under a frame, agreeing, without which a strict check refuses it
BESIDE_REACH, BESIDE_MARGIN = 8, 0.25  # ½-scale px around a pair's place searched for a clearly better fit of the canvas
VOUCH_AGREE = 0.8  # ... and the share of them it must show when they are under STRICT_MIN_PIXELS
CROSS, CROSS_PX = 0.8, 2.0  # a pair shift confirmed less than this is refused when the canvas places the frame this far from it
SHORTER_POINTS = 16  # places on the pair's move, from none to all of it, where the canvas's persistent lines are compared
SHORTER_MARGIN = 0.1  # chance-corrected agreement by which one of them must beat the move's own to refuse it
PERSIST_WEIGHT = 255 * 20 // FULL_EXTENT  # line pixels of components at least 20 ½-scale px long count into hits
LOST_AFTER = 3       # refused frames in a row after which the canvas no longer claims a position
PAIR_GAP = 3         # lost frames after which only relocation against the canvas is tried
JUMP = 0.4           # of the frame side: a step this long from the last frame is checked strictly
FLAT_DROP, FLAT_MAX = 0.03, 2.0  # refinement: agreement within this share of its peak is the peak, which
# may reach this far (px) from it; farther, a straight line leaves the shift along it unknown
STRONG, STRONG_CONFIRMED = 0.5, 300  # ... unless the frames agree on it this well, on this many ½-scale line pixels
CELL_AGREE, CELL_MIN_PIXELS, CELL_MIN_FLOOR = 0.2, 40, 25  # and in each ninth of the frame that holds this many, this share
CELL_HITS = 3  # ... of the lines hit in this many counted frames
BLANK = 0.04       # of the frame height: half-side of the square around the player icon ignored
FOLLOW_LONG = 2 * MIN_LONG  # ½-scale px of long line runs a refused frame needs to begin a second canvas
MERGE_REACH = 1      # frame sides: how far from the last placed frame the second canvas's first frame is looked for
MERGE_NEED = RELOCATE_NEED  # the canvas's line pixels that the second canvas must cover to be merged,
MERGE_CONFIDENCE = 0.7   # ... the agreement it needs on them (right merges agreed 0.74-0.75 over spell strokes and a busy
#   ground: stress seed 9044, named 9784; the wrong fits seen lay above 0.9, and the other rules refuse them),
MERGE_CONFIRMED = 150    # ... and the line pixels it must confirm beyond chance
MERGE_FEW, MERGE_ALL = 300, 0.99  # ... and on fewer than MERGE_FEW of them, this agreement
ENTRANCE_CONFIDENCE = 0.3  # the agreement a relocation of a one-frame canvas's frame into the second canvas needs
CONFIRM_GAP = PAIR_GAP  # lost frames after which a relocation is taken at once only when the frame shows nearly every
CONFIRM_SHOWN = 0.85    # ... (this chance-corrected share of) persistent line under it, else when the next frame confirms it
ADOPT_AFTER = 6  # frames a second canvas holds, none placing a canvas of one view (MinimapCanvas.views), when it replaces it
MERGE_CANDIDATES = 48    # correlation peaks verified: a small overlap in a large crop peaks low among chance peaks


class _Features:
  """What alignment needs of one capture frame, computed once per frame: the ½-scale line image,
  its windowed spectrum and its line pixels (plus a 1 px-dilated copy for tolerant matching)."""
  def __init__(self, frame: np.ndarray):
    h, w = frame.shape[:2]
    self.frame = frame
    small = cv2.resize(frame, (w // 2, h // 2), dst=_scratch((h // 2, w // 2, 3), 0), interpolation=cv2.INTER_AREA)
    self.lines, self.weight = _lines(small, (h // 4, w // 4), int(BLANK * h / 2))
    self.ui = screen_edge(small)
    self.on = self.lines > 0
    self.long_on = self.weight == 255  # line pixels in long runs (a subset of on, see _lines): what the canvas checks trust of a frame
    self.long = int(np.count_nonzero(self.long_on))  # how many: the map evidence the frame offers
    self.near = cv2.dilate(self.on.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    self.chance = float(np.count_nonzero(self.near)) / self.near.size
    self.points = _points(self.on, self.weight)
    # windowed in a work array: only its spectrum is kept
    wtd = cv2.multiply(self.lines, self.weight, dst=_scratch(self.lines.shape, 0, np.float32), dtype=cv2.CV_32F)
    self.spectrum = _spectrum(cv2.multiply(wtd, _window(h // 2, w // 2), dst=wtd)) if self.on.any() else None
    self._full_on: np.ndarray | None = None

  @property
  def weighted(self) -> np.ndarray:
    """float32: what is correlated, each line pixel's top-hat times its weight (exact in float32; its scale is
    immaterial, as phase correlation divides it out)."""
    return cv2.multiply(self.lines, self.weight, dtype=cv2.CV_32F)

  @property
  def full_on(self) -> np.ndarray:
    """Full-scale line pixels, for the refinement; computed once, when first needed."""
    if self._full_on is None: self._full_on = _full_on(self.frame, self.on)
    return self._full_on


def _full_on(frame: np.ndarray, half_on: np.ndarray | None = None) -> np.ndarray:
  """Full-scale line pixels for the refinement: blueness above its local mean, where the ½-scale
  line image (of this frame, or recomputed) found lines; the ½-scale filtering does the judging."""
  h, w = frame.shape[:2]
  if half_on is None:  # the ½-scale line pixels alone, not a whole _Features (spectrum, points)
    small = cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    half_on = _lines(small, (h // 4, w // 4), int(BLANK * h / 2))[0] > 0
  m = _blueness(frame)
  # in 0/1 uint8 throughout (cv2, not numpy's bool ops, at full scale), viewed as bool at the end
  hp = cv2.subtract(m, cv2.blur(m, (9, 9), dst=_scratch((h, w), 0)), dst=m)
  cv2.threshold(hp, LINE_LEVEL_MIN, 1, cv2.THRESH_BINARY, dst=hp)
  near = cv2.dilate(half_on.view(np.uint8), np.ones((3, 3), np.uint8), dst=_scratch(half_on.shape, 0))
  if h % 2 or w % 2 or near.shape != (h // 2, w // 2):  # its nearest upscale doesn't double every pixel
    return cv2.bitwise_and(hp, cv2.resize(near, (w, h), dst=_scratch((h, w), 1), interpolation=cv2.INTER_NEAREST), dst=hp).view(bool)
  # ANDed with near doubled across (both bytes of a uint16) and down (broadcast over each pair of rows): the same as with
  # its 2x nearest upscale, at a sixth of the time of writing that
  hp16 = hp.view(np.uint16).reshape(h // 2, 2, w // 2)
  np.bitwise_and(hp16, np.multiply(near, np.uint16(257), out=_scratch(near.shape, 0, np.uint16))[:, None], out=hp16)
  return hp.view(bool)


NO_GAME_DARK, NO_GAME_SHARE = 24, 0.95  # a frame this much of which is darker than this (max channel) is a black screen


def _no_game(feats: _Features) -> bool:
  """A frame of no game at all, as far as the stitcher can tell: a window's or panel's border (a desktop, most loading
  screens), or black nearly all over (the sim's darkest game frames, a cave in fog, are 0.7 black). The player can't walk
  while one is shown. A screen it doesn't know (a loading screen's art) counts as the game: the safe side."""
  return bool(feats.ui or float((feats.frame[::8, ::8].max(2) < NO_GAME_DARK).mean()) > NO_GAME_SHARE)


def _can_begin(feats: _Features) -> bool:
  """A frame that shows the map clearly enough to begin a canvas with (a second canvas, or this one again)."""
  return not feats.ui and feats.long >= FOLLOW_LONG


def line_image(frame: np.ndarray) -> np.ndarray:
  """The ½-scale line image of a capture frame that find_translation correlates (for pictures
  and debugging)."""
  return _Features(_check_frame(frame)).lines


def long_line_pixels(frame: np.ndarray) -> int:
  """How many of a capture frame's ½-scale line pixels lie in long runs (full weight): the map
  evidence it offers. A frame with fewer than MIN_LONG can't pin a shift, so an entrance frame like
  that leaves the next frame unplaceable."""
  return _Features(_check_frame(frame)).long


VERIFY_POINTS = 4000  # line pixels of the reference sampled to verify a candidate shift


NONZERO_BAND = 1 << 16  # elements of a 2-D array _nonzero looks at at once


def _nonzero(a: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
  """np.nonzero of a 2-D array, in the same (row-major) order (the flat indices split is several times faster), and the
  stride of the even subsample of at most `limit` of them that it returns instead with a limit."""
  step = 1 if limit is None else max(1, -(-int(np.count_nonzero(a)) // limit))
  # band by band of rows: all of a frame's indices at once (and a copy of a view) are arrays large enough to cost their
  # pages afresh each time. A band's indices are subsampled where the stride falls in it
  rows, seen, ys, xs = max(1, NONZERO_BAND // max(1, a.shape[1])), 0, [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
  for r0 in range(0, a.shape[0], rows):
    at = np.flatnonzero(a[r0:r0 + rows])
    y, x = np.divmod(at[(-seen) % step::step], a.shape[1])
    seen += len(at)
    ys.append(y + r0)
    xs.append(x)
  return np.concatenate(ys), np.concatenate(xs), step


def _points(on: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
  """An even subsample of a line map's pixels (ys, xs), the stride it was taken with, and their
  weights (float32, 1 = full; all 1 without `weight`)."""
  ys, xs, step = _nonzero(on, VERIFY_POINTS)
  return ys, xs, step, (np.ones(len(ys), np.float32) if weight is None else weight[ys, xs].astype(np.float32) / 255)


class Evidence(NamedTuple):
  score: float        # chance-corrected agreement: 0 = what random lines would give, 1 = every line confirmed
  n: int              # about how many of the reference's line pixels lie under b
  share: float        # ... as a fraction of all the reference's line pixels
  hits: np.ndarray    # bool over the sampled points: confirmed
  inside: np.ndarray  # bool over the sampled points: under b at all
  long: float         # line pixels of full weight (long runs) confirmed beyond chance


def _verify(pts: tuple[np.ndarray, np.ndarray, int, np.ndarray], b_near: np.ndarray, chance: float, sy: int, sx: int,
            b_seen: np.ndarray | None = None) -> Evidence:
  """If b's pixel [y, x] shows the reference's [y + sy, x + sx] (b's content is the reference
  shifted by the player's movement, in ½-scale pixels): how many of the reference's line pixels
  under b that b has too (within 1 px). Revealed map lines never disappear, so the true shift
  confirms nearly all of them; a shift that merely lands them on a busy frame confirms about
  `chance` (the share of b near a line pixel) of them, so the score counts agreement beyond that.
  Pixels count by their weight (long lines more than short fragments). `b_seen` (bool, b's shape):
  the part of b that was captured at all (a canvas), where only "under b" counts."""
  ys, xs, step, wt = pts
  (H, W), by, bx = b_near.shape, np.asarray(ys - sy, np.int64), np.asarray(xs - sx, np.int64)
  inside = (by.view(np.uint64) < H) & (bx.view(np.uint64) < W)  # 0 <= by < H: a negative one is huge unsigned
  at = by * W + bx
  at[~inside] = 0
  if b_seen is not None: inside &= np.ascontiguousarray(b_seen).ravel()[at]
  n = int(np.count_nonzero(inside))
  if n == 0: return Evidence(0.0, 0, 0.0, np.zeros(len(ys), bool), inside, 0.0)
  # looked up at flat indices, those outside at 0 (then masked): faster than compressing by `inside` first
  hits = inside & np.ascontiguousarray(b_near).ravel()[at]
  frac = float(np.dot(wt, hits)) / max(1e-6, float(np.dot(wt, inside)))  # weights summed over the hits, not gathered
  full = inside & (wt >= FULL_WEIGHT)
  long = (np.count_nonzero(hits & full) - chance * np.count_nonzero(full)) * step / max(1e-6, 1 - chance)
  return Evidence((frac - chance) / max(1e-6, 1 - chance), n * step, n / max(1, len(ys)), hits, inside, float(long))


def _peaks(r: np.ndarray, k: int) -> list[tuple[int, int]]:
  """Integer positions of the k highest local maxima of a correlation surface."""
  local = r >= cv2.dilate(r, np.ones((7, 7), np.uint8), dst=_scratch(r.shape, 3, r.dtype))
  ys, xs, _ = _nonzero(local & (r > 0))
  v = -r[ys, xs]
  # the k best first: on a relocation's large surface the maxima are many, and a full sort of them costs
  top = np.argpartition(v, k)[:k] if len(v) > k else np.arange(len(v))
  order = top[np.argsort(v[top], kind='stable')]
  return list(zip(ys[order].tolist(), xs[order].tolist()))


def _subpixel(r: np.ndarray, y: int, x: int) -> tuple[float, float]:
  """Centroid of the 3x3 neighbourhood of a peak (cyclic, as the correlation is)."""
  h, w = r.shape
  ys, xs = np.arange(y - 1, y + 2) % h, np.arange(x - 1, x + 2) % w
  nb = np.clip(r[np.ix_(ys, xs)], 0, None)
  tot = nb.sum()
  if tot <= 0: return float(y), float(x)
  off = np.array([-1.0, 0.0, 1.0])
  return y + float((nb.sum(1) * off).sum() / tot), x + float((nb.sum(0) * off).sum() / tot)


def _spectrum(img: np.ndarray) -> np.ndarray:
  """The DFT of a real float32 image in OpenCV's packed (CCS) form, the same size as the image: a real
  transform is twice as fast as a complex one (and DFT_COMPLEX_OUTPUT, which unpacks it, far slower)."""
  return cv2.dft(img)


def _unit(c: np.ndarray) -> np.ndarray:
  """Divides each element of a CCS spectrum by its magnitude (+ 1e-9), in place. In the CCS layout columns 1, 2 | 3, 4 | ...
  hold (re, im) of each row's frequencies 1.. (W-1)//2; column 0 (and W-1 when W is even) holds the real frequencies 0
  (and W/2), packed the same way down the column: row 0 (and H-1 when H is even) real, rows 1, 2 | 3, 4 | ... (re, im)."""
  H, W = c.shape
  # |z|² in each re place, 0 in each im place; the real elements squared
  p: np.ndarray = cv2.mulSpectrums(c, c, 0, _scratch(c.shape, 1, c.dtype), conjB=True)
  p[:, 2:W - 1 + W % 2:2] = p[:, 1:W - 1 + W % 2:2]
  for j in ((0, W - 1) if W % 2 == 0 else (0,)): p[2:H - 1 + H % 2:2, j] = p[1:H - 1 + H % 2:2, j]
  cv2.sqrt(p, dst=p)
  p += 1e-9
  return cv2.divide(c, p, dst=c)


def _correlate(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
  """Phase correlation surface of two equal-size spectra (see _spectrum): peaks where b's content moved to. A work array
  (only searched for peaks, never kept): valid until the next correlation of that size in the thread."""
  return cv2.idft(_unit(cv2.mulSpectrums(sb, sa, 0, _scratch(sa.shape, 2, sa.dtype), conjB=True)), _scratch(sa.shape, 4, sa.dtype),
                  flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)


MIN_SHARE = 0.2    # of the reference's line pixels that must lie in the overlap: fewer can't outvote the rest
RAY = (0.06, 0.94)  # fractions of a shift searched for a shorter one in the same direction (parallax 1.06-16)
SAME_EVIDENCE = 0.5  # two shifts whose confirmed pixels overlap this much explain the same lines
WORLD_RIVAL = 0.12   # a shorter shift on the ray with this score may be the map under a faster world
WORLD_SWITCH = 0.7   # ... and it is taken for the map when it explains its pixels this well relative to the best
TEXTURE_RAY = 0.25   # ... while a much worse one with long runs under this share of the best's and of its own confirmed px is a texture
TWIN_MIN, TWIN_MAX, TWIN_SCORE = 32, 0.5, 0.5  # ½-scale px, of the surface side, of the best's score: see _pick
# of the line pixels a shift needs: a canvas crop's twins and their mirrors may lie over this much less of it (see _pick)
TWIN_NEED = 0.5
RIVAL_LONG = 0.8     # a candidate with this share of the best's long runs is its rival, however few the most has
LONGER = 1.1         # ... or, explained by the same pixels, refused when it confirms this many times more long runs
MORE_LONG = 1.5      # a shift elsewhere confirming this many times the best's long runs is its rival whatever the scores
# (on the tuning seeds' 1646 right pairs the most is 1.74, and all but two lie below 0.97; wrong ones: a spells pair
# 377 px off 1.89, a tiled ground's node 25 px short of the map's shift 1.68)


REFUSALS: list[str] = []  # why the latest refusals happened, newest last (for debugging)


def _kappa(hit: float, tot: int, chance: float) -> float:
  """The share hit/tot of lines shown, corrected for the share a frame's lines cover by chance."""
  return (hit / tot - chance) / max(1e-6, 1 - chance)


def _shown_share(pers: np.ndarray, sub: np.ndarray, chance: float) -> float:
  """_kappa of the persistent lines `pers` that a frame's lines `sub` (same box, bool) show; 0 where there are none."""
  n = int(np.count_nonzero(pers))
  return _kappa(float(np.count_nonzero(sub[pers])), n, chance) if n else 0.0


def _refuse(why: str) -> Any:
  """None, after noting why: `return _refuse(...)` refuses from any function that may return a shift."""
  REFUSALS.append(why)
  del REFUSALS[:-64]
  return None


class Candidate(NamedTuple):
  sy: int         # the player's movement, ½-scale px
  sx: int
  e: Evidence


def _max3(r: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
  """cv2.dilate(r, 3x3)[ys, xs] without dilating all of r: the most of each point's 3x3 neighbourhood within r (indices
  clipped to the edge fall on a pixel of the neighbourhood, so they change no maximum)."""
  h, w = r.shape
  return np.max([r[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


def _on_ray(r: np.ndarray, verify, c: Candidate, need: int, min_share: float) -> Candidate | None:
  """The best-verified shift on the segment from 0 to c's, excluding its ends: where the map
  moved if c is the world's movement, which is parallax times longer. Only the few strongest
  correlation maxima along the segment are verified."""
  h, w = r.shape
  L = int(max(abs(c.sy), abs(c.sx)))
  if L < 12: return None
  t = np.linspace(RAY[0], RAY[1], max(2, int(L * (RAY[1] - RAY[0]))))
  qy, qx = np.round(t * c.sy).astype(int), np.round(t * c.sx).astype(int)
  rr = _max3(r, (-qy) % h, (-qx) % w)
  loc = np.nonzero((rr >= np.roll(rr, 1)) & (rr >= np.roll(rr, -1)))[0]
  best = None
  def consider(sy: int, sx: int) -> None:
    nonlocal best
    e = verify(sy, sx)
    if e.n >= need and e.share >= min_share and (best is None or e.score > best.e.score): best = Candidate(sy, sx, e)
  for i in loc[np.argsort(-rr[loc])][:3]: consider(int(qy[i]), int(qx[i]))
  if best is not None:  # the ray is sampled to the nearest px: look around the best once
    by, bx = best.sy, best.sx
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)): consider(by + dy, bx + dx)
  return best


def _same_evidence(a: Candidate, b: Candidate) -> bool:
  """Whether two shifts explain mostly the same line pixels (a straight wall fits along itself)
  rather than different ones (the map's lines and the world's texture)."""
  common = a.e.inside & b.e.inside  # points either shift could judge
  both = int(np.count_nonzero(a.e.hits & b.e.hits))
  return both >= SAME_EVIDENCE * max(1, min(int(np.count_nonzero(a.e.hits & common)), int(np.count_nonzero(b.e.hits & common))))


def _world_of(a: Candidate, b: Candidate) -> bool:
  """Whether b is a longer copy of a in the same direction (k a, parallax k in RAY's range)
  explained by other pixels: the world's movement when a is the map's."""
  v, u = np.array([b.sy, b.sx], np.float64), np.array([a.sy, a.sx], np.float64)
  if not u.any(): return False
  k = float(v @ u) / float(u @ u)
  return 1 / RAY[1] <= k <= 1 / RAY[0] and float(np.abs(v - k * u).max()) <= 3 and not _same_evidence(a, b)


def _pick(r: np.ndarray, verify, need: int, limit: tuple[float, float], min_confidence: float, min_share: float = MIN_SHARE,
          aperture: bool = True, peaks: int = CANDIDATES, pair: bool = True, reverse=None) -> tuple[float, float, float, float] | None:
  """The player's movement (dy, dx) in ½-scale pixels, sub-pixel, its confidence and how many
  line pixels confirm it beyond chance: the strongest correlation peaks, each verified against the
  line pixels (a peak from the world, from monsters or from noise fails that), the best kept only
  if it clearly beats the others and is not the world's movement (see below). `reverse(sy, sx)` (between two frames):
  the same shift verified the other way, the current frame's line pixels looked up in the reference."""
  h, w = r.shape
  cands: list[Candidate] = []
  small: list[Candidate] = []  # in a canvas crop, shifts over too little of the reference to be the answer: twins only
  for py, px in _peaks(r, peaks):
    # a peak is b's content displacement modulo the surface size, and the player moved the
    # opposite way; both aliases are checked and verification tells them apart
    for sy in (-py, h - py):
      for sx in (-px, w - px):
        if abs(sy) > limit[0] or abs(sx) > limit[1]: continue
        e = verify(sy, sx)
        # few line pixels pin a shift only if nearly all of them lie in the overlap and agree; and
        # whatever the share, it takes some absolute number of confirmed line pixels
        if e.n >= need and e.share >= min_share and e.score * e.n >= MIN_CONFIRMED and \
           (e.n >= MIN_LINE_PIXELS or (e.score >= SPARSE_CONFIDENCE and e.share >= SPARSE_SHARE)):
          cands.append(Candidate(sy, sx, e))
        elif not pair and e.n >= TWIN_NEED * need: small.append(Candidate(sy, sx, e))
  if not cands: return _refuse('no candidate')
  # map lines are long runs: a shift that confirms far fewer of them than another candidate does is
  # a texture's fit (grain, ripples, a busy ground scoring well by its many short fragments), neither
  # the answer nor a rival to it
  most, found = max(c.e.long for c in cands), cands
  if most > 0: cands = [c for c in cands if c.e.long >= LONG_SHARE * most]
  best = max(cands, key=lambda c: c.e.score)
  # the world scrolls parallax (> 1) times faster than the map, so a world-locked texture explains
  # a longer copy of the player's movement. The best shift's shorter copy on its ray, explained by
  # other pixels and about as well, is the map (the best is the world); explained by the same
  # pixels, it is a straight wall along the move (the best stands); explained by other pixels but
  # much worse, the map may be too faint to tell: refuse. Unless the copy's confirmed pixels are mostly fragments, with a
  # small part of the best's long runs: a texture that fits on the ray by chance (ripples, grain), not a faint map
  ray = _on_ray(r, verify, best, need, min_share)
  if ray is not None and ray.e.score >= WORLD_RIVAL and not _same_evidence(ray, best):
    if ray.e.score >= max(min_confidence, WORLD_SWITCH * best.e.score): best = ray
    elif ray.e.long >= TEXTURE_RAY * min(best.e.long, ray.e.score * ray.e.n):
      return _refuse(f'world rival: ray {ray.e.score:.2f} best {best.e.score:.2f}')
  # explained by the same pixels, the shorter copy can only confirm fewer long runs when the best is
  # the map (a wall along the move fits it, the other lines don't); confirming clearly more, its lines
  # are the map's and the best is a world texture streaked along them, moving a little faster
  elif ray is not None and ray.e.score >= WORLD_RIVAL and ray.e.long > LONGER * max(0.0, best.e.long):
    return _refuse(f'world along the lines: ray long {ray.e.long:.0f} best {best.e.long:.0f}')
  # a ground texture that repeats (tiled) fits at a lattice of shifts: a best with twins on both sides of it, as far
  # and about as good, is a node of that lattice, whatever the map does. Except, between two frames, the node at no move:
  # the world moves parallax times the player's move, so a ground that stood still says the player did too.
  # Against a canvas crop (not `pair`), the best may lie over the edge of what the canvas knows, and its twins
  # over less of it still: a second canvas's world texture, tiled like the one the canvas saw once, fits the canvas's
  # texture at a node whose twins cover 110-150 px, not the 160 a merge needs (two wrong merges on fresh seeds)
  twin_need = need if pair else TWIN_NEED * need
  twins = [c for c in found + small if TWIN_MIN <= max(abs(c.sy - best.sy), abs(c.sx - best.sx)) <= TWIN_MAX * max(h, w)
           and c.e.score >= TWIN_SCORE * best.e.score] if best.sy or best.sx or not pair else []
  for c in twins:
    m = verify(2 * best.sy - c.sy, 2 * best.sx - c.sx)  # the mirror of the twin through the best
    if m.n >= twin_need and m.score >= TWIN_SCORE * best.e.score:
      return _refuse(f'a repeating texture: twins {c.sy - best.sy, c.sx - best.sx} on both sides of the best')
  # transient strokes just like map lines (spell effects) leave most of a frame's line pixels
  # unconfirmed even at the true shift; many confirmed ones still pin it at a lower share
  # ... and the strokes are transient in both frames: the current frame's lines, looked up in the reference, agree at
  # that share too. A screen that is no minimap (the passive tree: a dense net of long lines) meets a busy frame's
  # lines at a low share one way, and the other way at little beyond chance
  if best.e.score < min_confidence:
    if not (best.e.score >= LOW_SHARE * min_confidence and best.e.score * best.e.n >= LOW_CONFIRMED):
      return _refuse(f'best {best.e.score:.2f} < {min_confidence:.2f}')
    if reverse is not None and (back := reverse(best.sy, best.sx).score) < LOW_SHARE * min_confidence:
      return _refuse(f'low share {best.e.score:.2f}, back {back:.2f}')
  # weak agreement is what a screen that is not the map (a panel's frame, the passive tree, another
  # area) reaches by chance on a few hundred pixels; from the map it comes with many more
  if best.e.score < WEAK and best.e.score * best.e.n < WEAK_CONFIRMED:
    return _refuse(f'weak {best.e.score:.2f} on {best.e.score * best.e.n:.0f} px')
  # a world texture of short strokes (ripples, sparkles, grain) can explain a shift on its own;
  # map lines are long runs, and some of them must agree
  if best.e.long < MIN_LONG: return _refuse(f'long runs {best.e.long:.0f} < {MIN_LONG}')
  # a shift that only explains the lines as well as a clearly different one does is a guess (a
  # straight wall fits anywhere along itself); a broad peak split into neighbouring maxima is one.
  # the world's longer copy of the best is no rival. Nor is a texture's fit with far fewer long runs, unless the best
  # has barely more of them: a world texture that repeats (a tiled ground) fits at every period, and the fit the
  # long-run share let through is one of many as good
  # a rival within the aperture's reach explained by the same pixels is the peak's own shoulder (thick lines, a wall
  # along the move): the aperture check judges that, and as it does (APERTURE_DISTINCT) wherever it runs
  kept = {id(c) for c in cands}
  def demand(c: Candidate) -> float:  # how many times better than c the best must explain the lines
    near = max(abs(c.sy - best.sy), abs(c.sx - best.sx)) <= APERTURE_REACH and _same_evidence(best, c)
    return APERTURE_DISTINCT if aperture and near else DISTINCT
  bar, rival = max(((demand(c) * c.e.score, c.e.score) for c in found if (abs(c.sy - best.sy) > 8 or abs(c.sx - best.sx) > 8)
                    and not _world_of(best, c) and (id(c) in kept or c.e.long >= RIVAL_LONG * best.e.long)), default=(0.0, 0.0))
  if best.e.score < bar: return _refuse(f'best {best.e.score:.2f} rival {rival:.2f}')
  # between two frames (`pair`) the score is a share of the reference's lines in the overlap: on a small overlap two
  # spell strokes that happen to fit score high. A shift elsewhere that confirms clearly more long runs outright (a
  # larger overlap, its share diluted by strokes that the other frame never shows) leaves the best a guess. So does a
  # longer copy of the best: the world's texture is fragments, and one with more long runs is the map beyond a lattice
  # node of a repeating ground. (In a canvas crop each shift lays the frame over other lines, as many as lie there)
  more = max((c.e.long for c in found if abs(c.sy - best.sy) > 8 or abs(c.sx - best.sx) > 8), default=0.0) if pair else 0.0
  if more > MORE_LONG * max(0.0, best.e.long): return _refuse(f'long runs {more:.0f} elsewhere, best {best.e.long:.0f}')
  # the aperture problem beyond the peaks: lines that fit as well some px off in some direction
  # (straight edges, text, a panel's frame) don't pin the shift. An offset explained by other pixels, with far fewer long
  # runs, is a texture fitting nearby (water ripples, grain; a texture's fit as LONG_SHARE drops it from the candidates)
  offs = [Candidate(best.sy + oy, best.sx + ox, verify(best.sy + oy, best.sx + ox)) for oy, ox in APERTURE] if aperture else []
  ap = max((c.e.score for c in offs if c.e.long >= LONG_SHARE * best.e.long or _same_evidence(best, c)), default=0.0)
  if ap * APERTURE_DISTINCT > best.e.score: return _refuse(f'aperture {ap:.2f} best {best.e.score:.2f}')
  py, px = (-best.sy) % h, (-best.sx) % w
  fy, fx = _subpixel(r, py, px)
  return best.sy - (fy - py), best.sx - (fx - px), best.e.score, best.e.score * best.e.n


def _translation(a: _Features, b: _Features, min_confidence: float) -> tuple[float, float, float, float, float] | None:
  """Coarse phase correlation at ½ scale over the whole frame, verified; then refined at full
  scale (see _refine)."""
  if a.spectrum is None or b.spectrum is None: return None
  if a.ui or b.ui: return _refuse('a window or panel edge on the screen')
  # map lines are long runs and stay revealed: a frame without one (the overlay toggled off, lines torn to fragments)
  # offers only the world's texture to align, and the world's shift is no more the map's than any other
  if b.long < MIN_LONG: return _refuse('no long line runs in the frame')
  r = _correlate(a.spectrum, b.spectrum)
  h, w = r.shape
  # an entrance frame may hold few lines; demand most of them rather than a fixed count, or the
  # canvas could never leave the entrance
  need = min(MIN_LINE_PIXELS, max(MIN_SPARSE, int(0.7 * np.count_nonzero(a.on))))
  t = _pick(r, lambda sy, sx: _verify(a.points, b.near, b.chance, sy, sx), need, (MAX_SHIFT * h, MAX_SHIFT * w), min_confidence,
            reverse=lambda sy, sx: _verify(b.points, a.near, a.chance, -sy, -sx))
  if t is None: return None
  return _refined(a.full_on, b.full_on, t, REFINE_STRAY)


def _refined(a_on: np.ndarray, b_on: np.ndarray, t: tuple[float, float, float, float],
             stray_max: float = np.inf) -> tuple[float, float, float, float, float] | None:
  """A coarse pick t (½-scale movement, confidence, confirmed px) refined at full scale (_refine), or refused when the
  refinement finds no peak, or a ridge or a second peak as good farther than FLAT_MAX from it, or a peak farther from
  the pick than `stray_max` (full px: farther than the pick can err, a world moving a few px faster than the map)."""
  dy, dx, spread = _refine(a_on, b_on, 2 * t[0], 2 * t[1])
  if spread > FLAT_MAX: return _refuse(f'ridge: {spread:.1f} px along it' if np.isfinite(spread) else 'no refinement peak')
  stray = max(abs(dy - 2 * t[0]), abs(dx - 2 * t[1]))
  if stray > stray_max: return _refuse(f'refinement {stray:.1f} px from the pick')
  return dy, dx, t[2], t[3], spread


REFINE = 5  # ± full-scale pixels searched around the coarse estimate (±2.5 px at ½ scale)
REFINE_STRAY = 3.5  # full-scale px a pair's refined shift may lie from its coarse one (on the tuning seeds' 1648 kept, at
# most 3.0; a relocation after lost frames, its coarse shift picked on a canvas crop, errs more: 4.5 on tuning seed 1140, right)
REFINE_POINTS = 3000  # line pixels of prev looked up per candidate shift


def _refine(a_on: np.ndarray, b_on: np.ndarray, dy: float, dx: float) -> tuple[float, float, float]:
  """Full-scale refinement over the whole overlap of two frames' line pixels: the integer shift
  within ±REFINE of the coarse estimate under which most of a's (prev's) line pixels are found in
  b (revealed lines never disappear; b may have new ones), then a parabola through the
  neighbouring counts for the sub-pixel part. Counting agreeing line pixels is immune to the
  broad structure that biases phase correlation's sub-pixel peak. Keeps the coarse estimate when
  no clear peak emerges. Also returns how far (px) from the peak the agreement comes within
  FLAT_DROP of it: a ridge, where one straight line dominates the overlap, or a second peak as
  good, leaves the shift unknown by that much (inf when the coarse estimate is kept)."""
  h, w = a_on.shape
  R, iy, ix = REFINE, int(round(dy)), int(round(dx))
  oh, ow = h - abs(iy) - 2 * R, w - abs(ix) - 2 * R
  if oh < 64 or ow < 64: return dy, dx, np.inf
  # a rows [py, py+oh) hold the content of b rows [py-iy, py-iy+oh); b is looked at R wider, from (cy, cx)
  py, px = R + max(0, iy), R + max(0, ix)
  cy, cx = py - iy - R, px - ix - R
  # all rows: a subsample of every other row biases the sub-pixel peak across thick (blurred) lines
  ys, xs, step = _nonzero(a_on[py:py + oh, px:px + ow], REFINE_POINTS)  # an even subsample bounds the cost on line-dense frames
  if len(ys) < MIN_LINE_PIXELS: return dy, dx, np.inf  # (a subsample holds over REFINE_POINTS / 2 of them)
  n = 2 * R + 1
  # counts[u, v]: a's line pixels (y, x) with b_on[y + u + cy, x + v + cx] (b's cut from (cy, cx)): each pixel's n x n
  # patch of b gathered at once through a strided view of b's pixels (a patch by the flat index of its top left), summed
  # over the pixels (one small gather instead of a row of offsets at a time: a third of the time)
  W, flat = b_on.shape[1], np.ascontiguousarray(b_on).ravel().view(np.uint8)
  patches = np.lib.stride_tricks.as_strided(flat, (flat.size - (n - 1) * (W + 1), n, n), (1, W, 1), writeable=False)
  got = patches[(ys + cy) * W + xs + cx].reshape(len(ys), n * n)
  counts = np.asarray(cv2.reduce(got, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S)).reshape(n, n).astype(np.float64)
  pu, pv, spread = _count_peak(counts)
  # a pixel q sits at q - (d - i) + R in the b cut, so offset u means d = i + R - u
  return (iy + R - pu, ix + R - pv, spread) if np.isfinite(spread) else (dy, dx, spread)


def _count_peak(counts: np.ndarray) -> tuple[float, float, float]:
  """The sub-pixel peak (row, column) of agreement counts over a square of shifts, and how far from it the counts come
  within FLAT_DROP of it (inf, and no peak, when there is no clear peak inside the square)."""
  n = counts.shape[0]
  bu, bv = np.unravel_index(int(counts.argmax()), counts.shape)
  # a peak barely above the rest is no refinement (full-scale texture passes the line filter too,
  # so the absolute agreement can be low even at the right shift)
  if counts[bu, bv] < 1.2 * np.median(counts): return 0.0, 0.0, np.inf
  # the most agreement on the window's edge is no peak at all: it rises on beyond the window (a
  # texture's gradient the full-scale filter let through), and the window's edge is not the shift
  if bu in (0, n - 1) or bv in (0, n - 1): return 0.0, 0.0, np.inf
  yy, xx = np.nonzero(counts >= (1 - FLAT_DROP) * counts[bu, bv])  # a ridge, or a second peak as good
  spread = float(np.sqrt(((yy - bu) ** 2 + (xx - bv) ** 2).max()))
  def parabola(m: float, c: float, p: float) -> float:
    d = m - 2 * c + p
    return 0.0 if d >= 0 else float(np.clip(0.5 * (m - p) / d, -0.5, 0.5))
  fy = parabola(counts[bu - 1, bv], counts[bu, bv], counts[bu + 1, bv])
  fx = parabola(counts[bu, bv - 1], counts[bu, bv], counts[bu, bv + 1])
  return bu + fy, bv + fx, spread


def find_translation(prev: np.ndarray, cur: np.ndarray, min_confidence: float = MIN_CONFIDENCE) -> tuple[float, float, float] | None:
  """(dy, dx, confidence) with cur[y, x] ≈ prev[y + dy, x + dx], i.e. the player's movement in
  pixels, sub-pixel; None when no trustworthy translation exists (blank frames, no overlap, too
  few shared map lines). Confidence is the fraction of prev's map-line pixels that cur confirms."""
  prev, cur = _check_frame(prev, "prev"), _check_frame(cur, "cur")
  if prev.shape != cur.shape: raise ValueError(f"frames differ in size: {prev.shape} vs {cur.shape}")
  t = _translation(_Features(prev), _Features(cur), min_confidence)
  return None if t is None else t[:3]


def crop(a: np.ndarray, y0: int, x0: int, h: int, w: int) -> np.ndarray:
  """a[y0:y0+h, x0:x0+w] with zeros where that lies outside a."""
  out = np.zeros((h, w) + a.shape[2:], a.dtype)
  sy, sx, ey, ex = max(0, y0), max(0, x0), min(a.shape[0], y0 + h), min(a.shape[1], x0 + w)
  if sy < ey and sx < ex: out[sy - y0:ey - y0, sx - x0:ex - x0] = a[sy:ey, sx:ex]
  return out


def shrink_with_origin(image: np.ndarray, origin) -> tuple[np.ndarray, np.ndarray]:
  """Exact ½ scale (INTER_AREA: each output pixel is the mean of a 2x2 block) and the origin
  mapped to the pixel that contains it. Odd sizes are padded with black first."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim not in (2, 3): raise ValueError(f"image must be uint8 (H, W[, 3]), got {image.dtype} {image.shape}")
  o = np.asarray(origin, dtype=np.float64).reshape(-1)
  if o.shape != (2,): raise ValueError(f"origin must be [y, x], got {origin!r}")
  h, w = image.shape[:2]
  if h % 2 or w % 2:
    pad = ((0, h % 2), (0, w % 2)) + ((0, 0),) * (image.ndim - 2)
    image = np.pad(image, pad)
  small = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
  return small, (np.floor(o).astype(np.int64) // 2)


def _stretches(on: np.ndarray) -> np.ndarray:
  """bool: the pixels of a line map's components that are no speck, a copy."""
  n, labels, stats, _ = cv2.connectedComponentsWithStats(on.view(np.uint8), connectivity=8)
  return _no_speck(stats[:, cv2.CC_STAT_AREA], np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]))[labels]


class MinimapCanvas:
  """The minimap revealed so far, stitched from capture squares centred on the player.

  Coordinates are [y, x] canvas pixels. `origin` is where the first frame's centre (the entrance)
  landed; `position` is the player now. The canvas size is a multiple of GROW and it grows by
  whole multiples of GROW on any side, so the ½-scale minimap keeps a content-fixed 32 px tile
  grid. A new frame overwrites the canvas only where the minimap can have changed (around the
  player's path since the last frame, where the fog lifts) and where nothing was captured yet;
  elsewhere the earlier capture stays, which keeps the changed region small for the server.
  """

  def __init__(self, first_frame: np.ndarray, refresh_radius: tuple[float, float] | None = None, min_confidence: float = MIN_CONFIDENCE,
               follow: bool = True, darkest: bool = False, _features: _Features | None = None):
    f = _check_frame(first_frame, "first_frame")
    self.frame_shape = f.shape
    h, w = f.shape[:2]
    # fog lifts in an ellipse of 120 x 140 px (4K, where the capture square is 1200 px) around
    # the player; refresh a margin beyond it
    s = h / CAPTURE_SIDE
    self.refresh_radius = np.array(refresh_radius if refresh_radius is not None else (180 * s, 200 * s))
    self.min_confidence = min_confidence
    H, W = -(-h // GROW) * GROW, -(-w // GROW) * GROW
    self.image = np.zeros((H, W, 3), np.uint8)
    self.covered = np.zeros((H, W), bool)
    # with darkest: per pixel the darkest of its views since the fog last lifted there. Map lines stay put in canvas
    # coordinates while spell strokes, fires and the world's texture move and add light, so the minimum keeps the lines
    # and drops most of what looks like them (docs/MODELS.md, "The darkest of several views")
    self.dark: np.ndarray | None = np.zeros((H, W, 3), np.uint8) if darkest else None
    self.lines = np.zeros((H // 2, W // 2), np.uint8)  # each accepted frame's ½-scale line image
    # per ½-scale canvas pixel: in how many counted frames it was a line pixel, and in how many
    # (after the first) it was not; map lines persist, the world (moving at another speed) doesn't
    self.hits = np.zeros((H // 2, W // 2), np.uint8)
    self.miss = np.zeros((H // 2, W // 2), np.uint8)
    self.topleft = np.array([(H - h) // 2, (W - w) // 2], np.float64)  # of the latest frame, sub-pixel
    self._counted = self.topleft - 2 * COUNT_MOVE  # where the last frame counted into hits/miss lay
    self.views = 0  # frames counted into hits/miss: placed COUNT_MOVE or more from the last counted one
    self._prev = _Features(f) if _features is None else _features
    # a first frame that can pin no shift places nothing after it, ever: the first frame that can begins the canvas
    # again (_start_over). After frames of no game (a loading screen or a desktop: the log names the area before the
    # game shows it) that frame is the entrance, where the player still stands; after a frame of the game with too
    # little map on it (faint lines, the fog barely lifted) the player has walked on since: `began_late` says so
    self.waiting = bool(self._prev.ui or self._prev.long < MIN_LONG)
    self.began_late = False  # the origin is where the player stood `began_after` frames after the entrance, not there
    self.began_after = 0     # frames before the one the canvas began with
    self._missed_game = self.waiting and not _no_game(self._prev)
    self._paste(f, self._rounded(), None)
    self.origin = (self.topleft.astype(np.int64) + np.array([h // 2, w // 2]))
    self.skipped = 0
    self.accepted = 1  # frames placed, the first included
    self.merges = 0    # times a second canvas was merged in: the canvas changed beyond the player's path
    self._gap = 0  # frames skipped since the last accepted one
    self._memos: dict[str, tuple[np.ndarray, Any]] = {}
    # while frames are refused, the refused ones stitched among themselves (see _follow)
    self.follow = follow
    self._second: MinimapCanvas | None = None
    self._offer: tuple[MinimapCanvas, np.ndarray] | None = None  # the second canvas's last merge offer: it, where its origin lay
    self._pending: tuple[int, _Features, np.ndarray] | None = None  # the last frame's unconfirmed relocation: frames fed then, it, where it lay

  def _memo(self, name: str, key: np.ndarray, fn) -> Any:
    """fn(key), reused while key holds the same values: a lost player's frames are each relocated against the same
    canvas crop, whose spectrum (at up to RELOCATE_MAX frame sides) costs more than the rest of a relocation."""
    hit = self._memos.get(name)
    if hit is None or hit[0].shape != key.shape or not np.array_equal(hit[0], key): self._memos[name] = hit = (key, fn(key))
    return hit[1]

  @property
  def position(self) -> np.ndarray:
    """The player at the last accepted frame; see `lost`."""
    return self.topleft + np.array(self.frame_shape[:2]) // 2

  @property
  def lost(self) -> bool:
    """True after LOST_AFTER frames in a row were refused: the player has moved on from
    `position` to a place the canvas can't tell (it says so rather than guess; relocation may
    find them again)."""
    return self._gap >= LOST_AFTER

  def shared_line_pixels(self, frame: np.ndarray, topleft) -> int:
    """How many of the canvas's ½-scale line pixels under a frame placed at `topleft` (canvas px)
    the frame shows too, within 1 px: the most evidence any relocation to that place could use
    (for benchmarks, which know the true place)."""
    feats = _Features(_check_frame(frame))
    h, w = self.frame_shape[:2]
    ly, lx = (np.floor(np.asarray(topleft, np.float64) + 0.5).astype(np.int64) // 2).tolist()
    return int(np.count_nonzero(feats.near & (crop(self.lines, ly, lx, h // 2, w // 2) > 0)))

  def keep_darkest(self) -> None:
    """Keep `dark` from now on (as darkest=True does from the first frame), starting from the captures held."""
    if self.dark is None: self.dark = self.image.copy()
    if self._second is not None: self._second.keep_darkest()

  def _rounded(self) -> np.ndarray:
    return np.floor(self.topleft + 0.5).astype(np.int64)

  def add(self, frame: np.ndarray) -> bool:
    """Stitch the next frame. False: no trustworthy translation, the frame was skipped and
    nothing changed (the next frame is still aligned to the last accepted one)."""
    f = _check_frame(frame)
    if f.shape != self.frame_shape: raise ValueError(f"frame size changed: {f.shape} vs {self.frame_shape}")
    return self._add(f, _Features(f))

  def _add(self, f: np.ndarray, feats: _Features) -> bool:
    if self.waiting: return self._start_over(f, feats)
    t = None
    # a window's or panel's border: whatever strip of the game it leaves (which may align right), the
    # frame is no minimap capture to paste
    if not feats.ui:
      # after several lost frames the last frame is a poor reference (the player may be anywhere a
      # few steps away, and a corridor matches itself far along): only the canvas is asked
      t = _translation(self._prev, feats, self._min_confidence()) if self._gap < PAIR_GAP else None
      # after lost frames or for a long step, a weakly confirmed shift needs the canvas to vouch for it
      if t is not None:
        # ... and, after two lost frames or more, any shift from a canvas of one frame: its lines are all the pair has,
        # the player may have walked on out of the entrance's sight, and a tiled ground fits itself at a lattice node as
        # strongly as the map (named seed 9320: 0.50 on 2319 px, 970 px off). After one (a panel opened at the entrance)
        # the player is likelier to be where they were. The frames after may still place the entrance (_follow)
        strict = ((self._gap > 0 or np.abs(t[:2]).max() > JUMP * f.shape[0]) and (t[2] < STRONG or t[3] < STRONG_CONFIRMED)
                  or self._gap >= 2 and self._one_frame)
        self._stretches_in(self._shorter_places(np.asarray(t[:2]))[2])  # one labelling for both checks of the pair's shift
        if not self._agrees(feats, self.topleft + t[:2], strict): t = None
      # the world moves parallax times the player's move: a pair that took it for the player's places the frame where
      # the canvas's persistent lines agree worse than somewhere short of it
      disputed = t is not None and self._map_shorter(feats, np.asarray(t[:2]))
      if disputed: t = _refuse("the canvas's lines lie short of the pair's move")
      # ... or a few px beside it, along the move or across: a tiled world moving nearly a period per frame lines up with
      # itself near the map's shift and outvotes its few lines (fresh stress seed 9070, multicolour at parallax 7.5: the
      # pair 6.9 px short, where the canvas's persistent lines agreed 0.63, and 1.0 at the truth)
      disputed = t is not None and self._fits_beside(feats, self.topleft + t[:2])
      if disputed: t = _refuse("the canvas's lines fit a shift beside the pair's better")
      # a shift the last frame confirms only moderately is asked of the canvas too (every capture
      # pasted, its persistent lines): a texture or a repeated structure can give the pair a clean
      # peak a few px off that the canvas places elsewhere; then neither is trusted
      if t is not None and t[2] < CROSS:
        c = self._relocate(feats)
        disputed = c is not None and float(np.abs(np.asarray(c[:2]) - t[:2]).max()) > CROSS_PX
        if disputed: t = _refuse('the pair and the canvas place the frame apart')
      # searched wider than the pair, a one-frame canvas's lines (a world texture among them) line up with the frame's
      # somewhere: the pair alone is asked of it
      if t is None and not disputed and not self._one_frame:
        t = self._relocate(feats)
        if t is not None:
          tl = self.topleft + t[:2]
          if not self._agrees(feats, tl, True): t = None
          elif self._gap >= CONFIRM_GAP and self._shown(feats, tl) < CONFIRM_SHOWN and not self._confirmed(feats, tl):
            t = _refuse("a relocation after lost frames that the last frame's does not confirm")
    if t is None:
      self.skipped += 1
      self._gap += 1
      return self._follow(f, feats)
    self._placed_again()
    self.accepted += 1
    prev_pos = self.position.copy()
    self.topleft += t[:2]
    self._grow_to_fit()
    prev_pos += self._shift_since_grow
    self._prev = feats
    self._paste(f, self._rounded(), prev_pos)
    return True

  def _placed_again(self) -> None:
    """A frame is placed (by a pair, a relocation or a merge): no frame is lost any more, and what the search for the
    player kept (the second canvas, its merge offer, a pending relocation, the memos, stale once the canvas changes) goes."""
    self._gap, self._second, self._offer, self._pending = 0, None, None, None
    self._memos.clear()

  def _confirmed(self, feats: _Features, topleft: np.ndarray) -> bool:
    """Whether a frame relocated to `topleft` (full px) after lost frames, showing only part of the persistent lines
    under it, lies where the frame before it, also relocated (and kept as pending), places it by the pair of the two;
    if not, this one is kept as pending instead. After lost frames the player may have walked on past what the canvas
    knows, where a repeated structure of the map (a room's shape) fits part of the persistent lines somewhere else
    (fresh stress seed 9084, cave: 0.67 of 234 px, 259 px off, after three frames with the overlay off; the right
    relocations after as many lost frames on the tuning seeds showed 0.92-1.0); a chance fit does not follow the
    player's next step, the map does. Merges are asked the same (two offers alike, _follow)."""
    fed, pend = self.accepted + self.skipped, self._pending
    self._pending = (fed, feats, topleft.copy())
    if pend is None or pend[0] != fed - 1: return False
    d = _translation(pend[1], feats, self.min_confidence)
    return d is not None and float(np.abs(pend[2] + np.asarray(d[:2]) - topleft).max()) <= CROSS_PX

  def _start_over(self, f: np.ndarray, feats: _Features) -> bool:
    """While `waiting`, a frame that shows the map clearly begins the canvas again (True) in the same place, so origin
    and canvas size stay; the frames before it count as skipped, and as a merge, so that whatever was sent of the
    canvas goes again whole. Any other frame is skipped (False)."""
    if not _can_begin(feats):
      self.skipped += 1
      self._missed_game |= not _no_game(feats)
      return False
    before, merges, late = self.skipped + self.accepted, self.merges + 1, self._missed_game
    self.__init__(f, tuple(self.refresh_radius), self.min_confidence, self.follow, self.dark is not None, feats)  # type: ignore[misc]
    self.skipped, self.merges, self.began_late, self.began_after = before, merges, late, before
    return True

  def _persistent(self, box: tuple[int, int, int, int] | None = None, seen: int = 2) -> np.ndarray:
    """bool, ½-scale canvas (or a box of it: y, x, h, w, false outside): map lines seen in at least `seen` counted frames
    and missing from at most half as many again (a fire or an effect may hide a line for a while)."""
    hits, miss = (self.hits, self.miss) if box is None else (crop(self.hits, *box), crop(self.miss, *box))
    return (hits >= seen) & (miss.astype(np.int16) * 2 <= hits)

  def _min_confidence(self) -> float:
    # every skipped frame widens the gap to the reference frame and shrinks the overlap, which
    # makes a wrong shift likelier to look right: demand more agreement the longer the gap
    return min(MAX_CONFIDENCE, self.min_confidence + GAP_CONFIDENCE * self._gap)

  def _agrees(self, feats: _Features, topleft: np.ndarray, strict: bool = False) -> bool:
    """Whether a frame placed at `topleft` shows the lines the canvas has seen persistently under
    it. Revealed lines never disappear, so a frame that hides most of them (a panel, a desktop, the
    overlay toggled off, a death screen, another area) is not the minimap, whatever a translation
    says. Where the canvas knows too few persistent lines to judge, a short step from the last
    frame passes; a strict check (after lost frames, a long jump, a relocation) needs the canvas
    to vouch for the placement with more lines, more of them confirmed."""
    h, w = self.frame_shape[:2]
    u = self._under(feats, topleft)
    if u is None: return not strict
    pers, (y0, x0, y1, x1), _, judged, sub = u
    # the last frame's long lines: not persistent yet where they were just revealed, around the
    # player, which is where a panel or a dialog covers the screen
    py, px = (self._rounded() // 2).tolist()
    last = crop(self._prev.long_on, y0 - py, x0 - px, y1 - y0, x1 - x0)
    last &= judged
    n = int(np.count_nonzero(pers))
    a = h * w / CAPTURE_AREA  # the pixel counts below are for the 4K capture square
    kappa = lambda hit, tot: _kappa(hit, tot, feats.chance)
    shown = _shown_share(pers, sub, feats.chance)
    if n >= CANVAS_MIN_PIXELS * a and shown < (STRICT_AGREE if strict else CANVAS_AGREE):
      return _refuse('canvas: persistent lines missing') or False
    # a strict check counts the last frame's long lines too: after the player walked on behind a
    # panel, what the canvas knows under the new frame is mostly what the last frame revealed. Where the persistent
    # lines are enough on their own (and agree, above), they vouch: the last frame's new lines are where spell effects
    # are too, strokes in the lines' colours that the next frame never shows
    # But never the last frame's lines alone (hardly a persistent line under the frame): on a ground with long streaks
    # (a saturated texture, tiled) they are the world's as much as the map's, and a relocation far from the last frame
    # finds the world's lattice there. They agreed at 0.84 and 0.98 at such nodes (seeds 13050 and 9138, 270 and 234 px
    # off) and at 1.0 at a right relocation (stress seed 7916): no share of them tells the two apart
    # Few persistent lines must be shown nearly whole: a lookalike (one of a map's repeated room shapes, matched where the
    # true place lies off the canvas) fits part of them (stress seed 9006, coast: 0.75 of 172 px, 385 px off; right
    # placements on so few showed 0.83-1.0 of them on seeds 8900-8941 and 8980-9021)
    if strict and n < STRICT_MIN_PIXELS * a:
      if n < VOUCH_MIN_PIXELS * a or shown < VOUCH_AGREE:
        return _refuse('canvas: too few persistent lines to vouch') or False
      both = pers | last
      nb = int(np.count_nonzero(both))
      if nb < STRICT_MIN_PIXELS * a or kappa(float(np.count_nonzero(sub[both])), nb) < STRICT_AGREE:
        return _refuse('canvas: too little to vouch') or False
    # ... and everywhere: a panel or a dialog hides the lines of a whole region, a fire only a spot. Judged on the
    # persistent lines alone: a region of the last frame's new lines that the frame misses is as likely spell strokes
    # (cast around the player, where the fog lifts and a panel covers the screen too) as a panel
    # Lines seen in CELL_HITS counted frames only: dense spell strokes crossing the same canvas pixels at a shallow angle in
    # two frames leave stretches no speck rule drops (named seed 9014 frame 8: 134 px in one ninth, none of them map),
    # where a map line is hit by every counted frame that shows it
    ys, xs = np.nonzero(pers & self._persistent((y0, x0, y1 - y0, x1 - x0), CELL_HITS))
    cell = (ys * 3 // pers.shape[0]) * 3 + xs * 3 // pers.shape[1]
    tot, hit = np.bincount(cell, minlength=9), np.bincount(cell, weights=sub[ys, xs], minlength=9)
    if all(kappa(hit[i], tot[i]) >= CELL_AGREE for i in range(9) if tot[i] >= max(CELL_MIN_FLOOR, CELL_MIN_PIXELS * a)): return True
    return _refuse('canvas: a region of its lines missing') or False

  def _under(self, feats: _Features, topleft: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int], np.ndarray,
                                                                   np.ndarray] | None:
    """What the canvas checks judge a frame placed at `topleft` (full px) on, over the part of it that lies on the
    canvas at ½ scale: the canvas's persistent stretches there where the frame is judged (bool), that part's box
    (y0, x0, y1, x1, canvas px), its offset in the frame, where the frame is judged (bool) and the frame's lines
    there (feats.near); None off the canvas."""
    h, w = self.frame_shape[:2]
    ly, lx = (np.floor(topleft + 0.5).astype(np.int64) // 2).tolist()
    H, W = self.hits.shape
    y0, x0, y1, x1 = max(0, ly), max(0, lx), min(H, ly + h // 2), min(W, lx + w // 2)
    if y1 <= y0 or x1 <= x0: return None
    judged = self._judged(feats)[y0 - ly:y1 - ly, x0 - lx:x1 - lx]
    # persistent stretches only: strokes (spells, the world) crossing the same canvas pixels in two frames leave specks
    # that are "persistent" too, and a region of them that the next frame lacks would pass for a panel's
    pers = self._stretches_in((y0, x0, y1 - y0, x1 - x0)) & judged  # a copy: the labelling cache's view stays
    return pers, (y0, x0, y1, x1), (y0 - ly, x0 - lx), judged, feats.near[y0 - ly:y1 - ly, x0 - lx:x1 - lx]

  def _shown(self, feats: _Features, topleft: np.ndarray) -> float:
    """The chance-corrected share of the canvas's persistent lines under a frame placed at `topleft` (full px) that the
    frame shows (0 where there are none)."""
    u = self._under(feats, topleft)
    return 0.0 if u is None else _shown_share(u[0], u[4], feats.chance)

  def _fits_beside(self, feats: _Features, topleft: np.ndarray) -> bool:
    """Whether the canvas's persistent lines under a frame placed at `topleft` (full px) agree with it clearly better
    (by BESIDE_MARGIN) at a shift within BESIDE_REACH ½-scale px of that place than at the place itself."""
    h, w = self.frame_shape[:2]
    u = self._under(feats, topleft)
    if u is None: return False
    ys, xs = np.nonzero(u[0])
    if len(ys) < CANVAS_MIN_PIXELS * h * w / CAPTURE_AREA: return False
    ys, xs = ys + u[2][0], xs + u[2][1]  # in the frame's ½-scale coordinates
    hh, ww = feats.near.shape
    def share(dy: int, dx: int) -> float:
      yy, xx = ys + dy, xs + dx
      ok = (yy >= 0) & (yy < hh) & (xx >= 0) & (xx < ww)
      return float(np.count_nonzero(feats.near[yy[ok], xx[ok]])) / len(ys)
    own = share(0, 0)
    r = BESIDE_REACH
    best = max(share(dy, dx) for dy in range(-r, r + 1, 2) for dx in range(-r, r + 1, 2))
    return best - own > BESIDE_MARGIN

  def _map_shorter(self, feats: _Features, move: np.ndarray) -> bool:
    """Whether the canvas's persistent lines (map lines: the world never persists) under the frame agree clearly better
    with it placed at a shorter copy of the pair's move (full px) than at the move itself, or as well with it not moved
    at all: the pair took the world's movement for the player's. At a small move the two lie within the aperture's
    reach, where the pair's own world rules can't tell a world copy from the peak's shoulder (thick lines along the
    move); the canvas's record can."""
    h, w = self.frame_shape[:2]
    fr, ls, box = self._shorter_places(move)
    pers = self._stretches_in(box)
    if not pers.any(): return False
    lo = np.array(box[:2])
    pts, seen = _points(pers), self._judged(feats)
    need = CANVAS_MIN_PIXELS * h * w / CAPTURE_AREA
    e = [_verify(pts, feats.near, feats.chance, int(y), int(x), seen) for y, x in ls - lo]
    if e[-1].n < need: return False
    # lines along the move agree with the frame as well where it never moved: they don't confirm the move, the world
    # under them does (named seed 9530, multicolour: 0.935 unmoved against 0.922 at the world's 6 px, the map's 2 px;
    # the right placements of the tuning seeds, 2360 of them, all agreed at their move by 0.026 or more)
    if float(np.abs(move).max()) > CROSS_PX and e[0].n >= need and e[0].score >= e[-1].score: return True
    # places within CROSS_PX of the move are its own peak's shoulder
    return any(x.n >= need and x.score > e[-1].score + SHORTER_MARGIN for f, x in zip(fr[:-1], e[:-1])
               if (1 - f) * float(np.abs(move).max()) > CROSS_PX)

  def _shorter_places(self, move: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """_map_shorter's places: the fractions of the move, the ½-scale top-lefts they give (the move's last) and the box
    (y, x, h, w) that holds the frame at all of them."""
    h, w = self.frame_shape[:2]
    fr = np.linspace(0, 1, SHORTER_POINTS + 1)
    ls = np.floor(self.topleft + fr[:, None] * move[None] + 0.5).astype(np.int64) // 2
    lo, size = ls.min(0), ls.max(0) - ls.min(0) + np.array([h // 2, w // 2])
    return fr, ls, (int(lo[0]), int(lo[1]), int(size[0]), int(size[1]))

  def _stretches_in(self, box: tuple[int, int, int, int]) -> np.ndarray:
    """_stretches of the persistent lines in a ½-scale box (y, x, h, w; false outside the canvas), cut from the last box
    labelled while the canvas is unchanged when that one holds it: labelling is the checks' largest cost, and a pair's
    placement (_agrees) and its move (_map_shorter) ask for nearly the same box."""
    hit = self._memos.get("stretches")
    if hit is not None:
      (cy, cx, ch, cw), got = hit[0].tolist(), hit[1]
      y, x, h, w = box
      if cy <= y and cx <= x and y + h <= cy + ch and x + w <= cx + cw: return got[y - cy:y - cy + h, x - cx:x - cx + w]
    return self._memo("stretches", np.array(box), lambda _: _stretches(self._persistent(box)))

  def _judged(self, feats: _Features) -> np.ndarray:
    """bool, the ½-scale frame: where the canvas's lines under it are judged, without the player icon (blanked in the
    frame's lines) and a strip along the edges (a line the frame's edge cuts short is dropped there as a speck)."""
    h, w = feats.near.shape
    m = np.zeros((h, w), bool)
    e, rad = MIN_EXTENT + 1, int(BLANK * self.frame_shape[0] / 2) + 1
    m[e:h - e, e:w - e] = True
    m[max(0, h // 2 - rad):h // 2 + rad, max(0, w // 2 - rad):w // 2 + rad] = False
    return m

  def _relocate(self, feats: _Features, with_last: bool = True) -> tuple[float, float, float, float, float] | None:
    """Align a frame against the canvas around the last accepted position instead of against the
    last frame: the canvas holds every line revealed so far, and a crop RELOCATE times the frame
    size still overlaps after long moves or several skipped frames. Costlier, so only when the
    last frame fails as a reference. `with_last` False: the persistent lines without the last frame's (for a frame
    from before it, which never showed what it revealed)."""
    h, w = self.frame_shape[:2]
    # the longer the player has been lost, the farther they may be: search a larger crop
    tl, k = self._rounded(), min(RELOCATE_MAX, RELOCATE + self._gap // 3)
    ch, cw = k * h // 2, k * w // 2                    # crop size at ½ scale
    oy, ox = (ch - h // 2) // 2, (cw - w // 2) // 2    # where the frame sits if the player stood still
    # the persistent lines where the canvas knows enough of them (map lines only: the world under
    # the map never persists), else the line canvas (not lines recomputed from the RGB canvas:
    # seams between pasted frames would pass the line filter as long straight "walls")
    y0, x0 = tl[0] // 2 - oy, tl[1] // 2 - ox
    pers = self._persistent((y0, x0, ch, cw))
    if np.count_nonzero(pers) >= STRICT_MIN_PIXELS:
      # plus the last frame's long lines: just revealed, not persistent yet, and they lie where a
      # player who walked on during a gap is likeliest to overlap what the canvas knows
      if with_last: pers[oy:oy + h // 2, ox:ox + w // 2] |= self._prev.long_on
      ref, limit = pers.astype(np.uint8) * 255, (oy, ox)
    else:
      # lines seen once may be an effect's or the world's: searched over the whole crop, some shift
      # lines them up with the frame's by chance, and the canvas check, on the same lines, agrees.
      # Without persistent lines the player is looked for only a short step from where they were
      ref, limit = crop(self.lines, y0, x0, ch, cw), (min(oy, JUMP * h / 2), min(ox, JUMP * w / 2))
    ref_on = ref > 0
    if not ref_on.any() or feats.spectrum is None: return None
    win = _window(ch, cw)
    moved = np.zeros((ch, cw), np.float32)  # the frame where it lies if the player stood still, windowed (windowing the zeros around is no use)
    moved[oy:oy + h // 2, ox:ox + w // 2] = feats.weighted * win[oy:oy + h // 2, ox:ox + w // 2]
    sref, pts = self._memo('ref', ref, lambda a: (_spectrum(a * win), _points(a > 0)))
    r = _correlate(sref, _spectrum(moved))
    # the crop holds far more lines than the frame can show, so no share of them is asked for;
    # the canvas check (add) then asks the frame to show what the canvas knows is under it
    t = _pick(r, lambda sy, sx: _verify(pts, feats.near, feats.chance, sy + oy, sx + ox), RELOCATE_NEED, limit,
              self._min_confidence() if k < RELOCATE_MAX else max(self._min_confidence(), WIDE_CONFIDENCE), min_share=0.0, aperture=False,
              pair=False)
    if t is None: return None
    last = self._memo('last', crop(self.image, tl[0], tl[1], h, w), _full_on)  # the canvas where the last frame lies
    # right after the pair failed (no frame lost yet) the canvas where the last frame lies is that frame's capture, so
    # the refinement compares what the pair's did and may stray as far only: a world a few px faster than the map
    # draws both (fresh seed 8111, sea at parallax 1.3: the pair strayed 3.9 px, the relocation 3.55 and was 3.7 off;
    # on the tuning seeds right relocations at no gap strayed at most 2.6, after a gap 4.5)
    return _refined(last, feats.full_on, t, REFINE_STRAY if self._gap == 0 else np.inf)

  def _follow(self, f: np.ndarray, feats: _Features) -> bool:
    """A player who walked on behind a panel, or past where the canvas could place them, still
    leaves frames that stitch among themselves: the refused frames build a second canvas of their
    own, and when it has grown to overlap what this canvas knows clearly enough, it is merged in
    (True: the frame is placed after all). Until then nothing here changes."""
    if not self.follow or not _can_begin(feats): return False
    sec = self._second
    if sec is not None and sec._add(f, feats):
      # a world texture moving nearly with the map shows again elsewhere in the other canvas
      off = (self._merge_offset(sec) if not self._one_frame else self._entrance_in(sec)) if not sec._one_frame else None
      if off is not None:
        # a chance fit of the second canvas's lines (fires and the world's texture seen once, a tiled ground's node)
        # moves as the second canvas grows; the map's stays where it was: two in a row must place it alike (where its
        # origin lies from this canvas's origin, which neither canvas's growth moves)
        at = off + sec.origin - self.origin
        seen, self._offer = self._offer, (sec, at)
        if seen is not None and seen[0] is sec and float(np.abs(seen[1] - at).max()) <= CROSS_PX:
          self._merge(sec, off)
          return True
      # a first frame that nothing after it places, while they place each other, showed no map of this walk (the passive
      # tree over the entrance, a last frame of the area left): the walk is the second canvas's. One view, not one
      # frame: a tree left open places on itself where it lay (a player who stood still at the entrance and was merged
      # with the frames after it is never replaced: the merge is tried first)
      if self.views <= 1 and sec.accepted >= ADOPT_AFTER and sec.views > 1:
        self._adopt(sec)
        return True
      return False
    # a second canvas that lost its own player, or never placed a second frame, begins again here
    if sec is None or sec.lost or sec._one_frame:
      self._second = MinimapCanvas(f, tuple(self.refresh_radius), self.min_confidence, follow=False, darkest=self.dark is not None,
                                   _features=feats)
      self._second.began_after = self.accepted + self.skipped - 1
    return False

  def _adopt(self, sec: MinimapCanvas) -> None:
    """Become the second canvas: its frames, lines and origin (where its first frame lay), flagged `began_late` since
    that is not the entrance; counted as a merge, so that a sender resends the canvas whole."""
    fed, merges, follow = self.accepted + self.skipped, self.merges + 1, self.follow
    self.__dict__.update(sec.__dict__)
    self.follow, self.merges, self.skipped, self.began_late = follow, merges, fed - sec.accepted, True
    self._memos = {}

  def _entrance_in(self, sec: MinimapCanvas) -> np.ndarray | None:
    """Where a second canvas lies in a canvas of one frame (full px, added to its coordinates), or None: that frame
    relocated into the second canvas as a lost frame would be, against its persistent lines, and vouched for strictly.
    An entrance frame that no pair places (spell strokes over the little map revealed yet, which the next frame never
    shows) is placed once the frames after it have stitched among themselves: strokes don't persist, the map does."""
    t = sec._relocate(self._prev, with_last=False)
    # the canvas check can't vouch: the second canvas's lines were revealed after the entrance, which never showed
    # most of them. The relocation must be clear (and, like a merge, found twice alike: see _follow)
    if t is None or t[2] < ENTRANCE_CONFIDENCE or t[3] < MERGE_CONFIRMED: return None
    return self.topleft - (sec.topleft + np.asarray(t[:2]))

  @property
  def _one_frame(self) -> bool:
    """Only the first frame placed: no line counted twice, so nothing tells its map lines from a world texture among
    them. Such a canvas is asked only pairs, never relocated into or merged with."""
    return self.accepted == 1

  def _evidence(self, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """bool, ½-scale (the whole canvas, or a box of it: y, x, h, w, zero outside): line pixels of stretches seen in a
    counted frame and missed at most as often since (what a second canvas must show where it overlaps this one)."""
    hits, miss = (self.hits, self.miss) if box is None else (crop(self.hits, *box), crop(self.miss, *box))
    return (hits >= 1) & (miss <= hits)

  def _merge_offset(self, sec: MinimapCanvas) -> np.ndarray | None:
    """Where the second canvas lies in this one (full px, added to its coordinates), or None: its lines correlated
    against this canvas's around the last placed frame, the best shift verified like a relocation, on the lines this
    canvas knows there (revealed lines never disappear, so the later canvas shows them all) and with more of them."""
    h, w = self.frame_shape[:2]
    base = (self.position - sec.origin) // 2  # ½ px: the second canvas's first frame where this one's last frame was
    ry, rx = MERGE_REACH * (h // 2), MERGE_REACH * (w // 2)
    Hs, Ws = sec.lines.shape
    CH, CW = cv2.getOptimalDFTSize(Hs + 2 * ry), cv2.getOptimalDFTSize(Ws + 2 * rx)  # sizes a DFT is fast at
    box = (int(base[0]) - ry, int(base[1]) - rx, CH, CW)
    ref = self._evidence(box)
    if np.count_nonzero(ref) < MERGE_NEED: return None
    sec_on = sec.lines > 0
    moved = np.zeros((CH, CW), np.float32)
    moved[ry:ry + Hs, rx:rx + Ws] = sec._evidence()
    seen = sec.covered[::2, ::2]
    near = cv2.dilate(sec_on.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    chance = float(np.count_nonzero(near & seen)) / max(1, int(np.count_nonzero(seen)))
    win = _window(CH, CW)
    # this canvas doesn't change while the second one grows: its crop's spectrum is reused until that grows
    sref = self._memo("merge", ref, lambda a: _spectrum(a.astype(np.float32) * win))
    r = _correlate(sref, _spectrum(moved * win))
    # verified on the lines this canvas is surest of first. Under dense spell strokes the lines it saw once (the last
    # frames' strokes among them) are mostly strokes the second canvas never shows (named seed 9014: 0.05-0.25 of them
    # agreed, frame after frame), and so are strokes that crossed in two frames (seed 9021: 0.87 on the lines seen twice,
    # 1.0 on those seen three times). Where too few of them confirm a merge (a canvas of few frames), on the lines seen
    # twice, then on every line seen and not missed more often since
    pers = self._persistent(box)
    t = None
    for name, on in (("three", self._persistent(box, CELL_HITS)), ("two", pers), ("seen", ref)):
      if np.count_nonzero(on) < MERGE_NEED: continue
      pts = self._memo("merge_" + name, on, _points)
      t = _pick(r, lambda sy, sx: _verify(pts, near, chance, sy + ry, sx + rx, seen), MERGE_NEED, (ry, rx), MERGE_CONFIDENCE, min_share=0.0,
                peaks=MERGE_CANDIDATES, pair=False)
      # on few line pixels, nearly all: revealed lines never disappear, so a right merge confirms all it covers (every one
      # on the tuning and spent report seeds, 163-450 px at 1.0), and a sea's chance fit confirmed 0.97 of 174 (seed 8511)
      if t is not None and t[3] >= MERGE_CONFIRMED and (t[3] >= MERGE_FEW or t[2] >= MERGE_ALL): break
      t = None
    if t is None: return None
    # refined at full scale like a pair, over the box where both canvases hold captures; the full-scale line pixels
    # only where the line canvases have lines (recomputed from the RGB canvas, seams between pasted frames would
    # pass the line filter as straight walls)
    off = 2 * (base + np.array(t[:2]))
    o = np.floor(off / 2 + 0.5).astype(np.int64) * 2  # even: the ½-scale canvases line up too
    both = sec.covered & crop(self.covered, int(o[0]), int(o[1]), *sec.covered.shape)
    if not both.any(): return None
    ys, xs = np.nonzero(both.any(1))[0], np.nonzero(both.any(0))[0]
    y0, x0 = max(0, ys[0] - 2 * REFINE) & ~1, max(0, xs[0] - 2 * REFINE) & ~1
    bh, bw = (min(both.shape[0], ys[-1] + 2 * REFINE) - y0) & ~1, (min(both.shape[1], xs[-1] + 2 * REFINE) - x0) & ~1
    if bh < 32 or bw < 32: return None
    def full_on(c: MinimapCanvas, y: int, x: int) -> np.ndarray:
      return _full_on(crop(c.image, y, x, bh, bw), crop(c.lines, y // 2, x // 2, bh // 2, bw // 2) > 0)
    fine = _refined(full_on(self, y0 + int(o[0]), x0 + int(o[1])), full_on(sec, y0, x0), ((off - o) / 2).tolist() + list(t[2:]))
    return None if fine is None else o + np.array(fine[:2])

  def _merge(self, sec: MinimapCanvas, off: np.ndarray) -> None:
    """Paste the second canvas in at `off` (full px) and continue from its last frame."""
    ys, xs = np.nonzero(sec.covered)
    y0, x0, y1, x1 = ys.min() & ~1, xs.min() & ~1, (ys.max() + 2) & ~1, (xs.max() + 2) & ~1  # even: the ½-scale arrays too
    o = np.floor(off + 0.5).astype(np.int64)
    self._grow_to_fit(np.array([y0, x0]) + o, (y1 - y0, x1 - x0))
    o += self._shift_since_grow.astype(np.int64)
    ty, tx = y0 + o[0], x0 + o[1]
    cov = sec.covered[y0:y1, x0:x1]
    cv2.copyTo(sec.image[y0:y1, x0:x1], cov.view(np.uint8), self.image[ty:ty + y1 - y0, tx:tx + x1 - x0])
    if self.dark is not None and sec.dark is not None:
      cv2.copyTo(sec.dark[y0:y1, x0:x1], cov.view(np.uint8), self.dark[ty:ty + y1 - y0, tx:tx + x1 - x0])
    self.covered[ty:ty + y1 - y0, tx:tx + x1 - x0] |= cov
    hy, hx, Y0, X0, Y1, X1 = ty // 2, tx // 2, y0 // 2, x0 // 2, y1 // 2, x1 // 2
    seen = cov[::2, ::2]
    np.copyto(self.lines[hy:hy + Y1 - Y0, hx:hx + X1 - X0], sec.lines[Y0:Y1, X0:X1], where=seen)
    for mine, theirs in ((self.hits, sec.hits), (self.miss, sec.miss)):
      cv2.add(mine[hy:hy + Y1 - Y0, hx:hx + X1 - X0], theirs[Y0:Y1, X0:X1], dst=mine[hy:hy + Y1 - Y0, hx:hx + X1 - X0])
    shift = off + self._shift_since_grow
    self.topleft, self._counted, self._prev = sec.topleft + shift, sec._counted + shift, sec._prev
    self._placed_again()
    self.accepted, self.views = self.accepted + sec.accepted, self.views + sec.views
    self.merges += 1

  def _grow_to_fit(self, tl: np.ndarray | None = None, size: tuple[int, int] | None = None) -> None:
    """Grow so that a box (the latest frame's unless given: top-left, size) fits; _shift_since_grow says by how much
    the content moved."""
    tl, (h, w) = self._rounded() if tl is None else tl, self.frame_shape[:2] if size is None else size
    H, W = self.image.shape[:2]
    # whole multiples of GROW, plus one more GROW of slack on a side that grows at all, so that
    # a player walking outwards doesn't make every frame copy the whole canvas
    need = np.array([max(0, -tl[0]), max(0, tl[0] + h - H), max(0, -tl[1]), max(0, tl[1] + w - W)])
    top, bottom, left, right = (np.where(need > 0, -(-need // GROW) * GROW + GROW, 0)).tolist()
    self._shift_since_grow = np.array([top, left], np.float64)
    if not (top or left or bottom or right): return
    image = np.zeros((H + top + bottom, W + left + right, 3), np.uint8)
    covered = np.zeros(image.shape[:2], bool)
    image[top:top + H, left:left + W], covered[top:top + H, left:left + W] = self.image, self.covered
    if self.dark is not None:
      dark = np.zeros_like(image)
      dark[top:top + H, left:left + W] = self.dark
      self.dark = dark
    def grown(a: np.ndarray) -> np.ndarray:
      out = np.zeros((image.shape[0] // 2, image.shape[1] // 2), a.dtype)
      out[top // 2:(top + H) // 2, left // 2:(left + W) // 2] = a
      return out
    self.image, self.covered, self.lines, self.hits, self.miss = image, covered, grown(self.lines), grown(self.hits), grown(self.miss)
    self._counted = self._counted + np.array([top, left])
    self.topleft += self._shift_since_grow
    self.origin = self.origin + np.array([top, left])

  def _paste(self, f: np.ndarray, tl: np.ndarray, prev_pos: np.ndarray | None) -> None:
    """Write the frame (RGB, and its line image into the ½-scale line canvas) where the minimap
    can have changed; self._prev holds its features."""
    h, w = f.shape[:2]
    y0, x0 = int(tl[0]), int(tl[1])
    region, cov = self.image[y0:y0 + h, x0:x0 + w], self.covered[y0:y0 + h, x0:x0 + w]
    ly, lx = y0 // 2, x0 // 2
    lregion = self.lines[ly:ly + h // 2, lx:lx + w // 2]
    dregion = self.dark[y0:y0 + h, x0:x0 + w] if self.dark is not None else None
    if prev_pos is None:
      region[:], lregion[:] = f, self._prev.lines
      if dregion is not None: dregion[:] = f
    else:
      if dregion is not None:
        # where the minimap can't have changed, this view is one more of the same map lines over another stretch of world
        cv2.min(dregion, f, dst=dregion)
        cv2.copyTo(f, (~cov).view(np.uint8), dregion)
      # never captured before; cv2.copyTo writes into the view, many times faster than np.copyto's mask broadcast over channels
      cv2.copyTo(f, (~cov).view(np.uint8), region)
      np.copyto(lregion, self._prev.lines, where=~cov[::2, ::2][:lregion.shape[0], :lregion.shape[1]])
      # the box around the path from the previous to the current position, widened by the fog
      # radius: the only place where the revealed minimap can have changed since the last frame
      pts = np.stack([prev_pos, self.position]) - np.array([y0, x0])
      lo = np.floor(pts.min(0) - self.refresh_radius).astype(int).clip(0, [h, w])
      hi = np.ceil(pts.max(0) + self.refresh_radius).astype(int).clip(0, [h, w])
      region[lo[0]:hi[0], lo[1]:hi[1]] = f[lo[0]:hi[0], lo[1]:hi[1]]
      # where the fog may have lifted, an earlier view lacks lines this one shows: the views start again
      if dregion is not None: dregion[lo[0]:hi[0], lo[1]:hi[1]] = f[lo[0]:hi[0], lo[1]:hi[1]]
      lregion[lo[0] // 2:hi[0] // 2, lo[1] // 2:hi[1] // 2] = self._prev.lines[lo[0] // 2:hi[0] // 2, lo[1] // 2:hi[1] // 2]
    cov[:] = True
    if np.abs(tl - self._counted).max() >= COUNT_MOVE:
      # a player standing still would make the world under the map look persistent
      self._counted, self.views = tl.astype(np.float64), self.views + 1
      hits, miss = self.hits[ly:ly + h // 2, lx:lx + w // 2], self.miss[ly:ly + h // 2, lx:lx + w // 2]
      # stretches of line only: a speck of the world (a sea's glint, grain) that happens to land on
      # the same canvas pixel twice would pass for a persistent line the next frame must show
      on = (self._prev.weight >= PERSIST_WEIGHT)[:hits.shape[0], :hits.shape[1]]
      cv2.add(hits, on.view(np.uint8), dst=hits)
      cv2.add(miss, ((~on) & (hits > 0)).view(np.uint8), dst=miss)
