"""You are here: where the player stands on the guide image.

A guide is just a picture (data/user/<area>/<id>.png); its metadata beside it (<id>.json,
GuideMeta) ties it to the minimap: the entrance pixel (the minimap's origin), the guide's scale (guide
px per px of the 1/2-scale minimap the server sees) and labelled points such as exits.

register() places the player, frame by frame, with a histogram filter over guide px (Markov
localisation; the last frame's Placement carries the belief): the belief is moved by the player's step
times the scale, spread in proportion to it (the instance's corridors are longer, shorter and bent
otherwise than the guide's), kept to the guide's ground (the flat colour around its entrance, full
weight only a player's clearance inside the walls; belief pushed into a wall slides to the ground
beside it), pulled weakly toward entrance + scale (instances differ by a bounded node jitter), and
weighed by how well the lines revealed around the player fit the guide's lines there (truncated
chamfer for every cell at once, one cv2.matchTemplate). The scale is the metadata's times the
instance's size relative to the guide's, fitted to all revealed lines (similarity about the entrance).
The marker is the middle of the belief's top near its mode; its concentration is the belief's share within
CONC_RADIUS of it, and its quality the chance it is within 15 px at 1/2 scale, calibrated on tuning seeds (CAL_*:
about 4-15 %: the sim's instances differ from the guide's in corridor lengths the lines do not show, and no
signal the filter has predicts that error well). Not trusted, and placed by entrance + scale with the reason: lines whose size fit
does not match the guide (another layout), a marker implausibly far from entrance + scale, a belief
spread too wide, or too few lines. A guide with a scale but no entrance is searched over its whole
area (lines alone); one without a scale gets no marker. Pure numpy/OpenCV.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from poemap.datadir import guide_path
from poemap.fileio import atomic_write_bytes, load_png

TRUNC = 10.0         # guide px: chamfer distances are truncated here, so lines with no counterpart cost a constant
INLIER = 5.0         # guide px: a mask line this close to a guide line agrees with it
BELIEF_STEP = 2      # guide px per cell of the belief grid
RADIUS = 250.0       # 1/2-scale px: the lines this near the player weigh the belief
TAU = 3.0            # guide px of mean chamfer distance that weigh a cell down by e
SPREAD0 = 2.0        # guide px: the belief's spread per frame, plus
SPREAD = 0.08        # of the step: the instance's corridors are longer or shorter than the guide's
WALK_OUT = 0.0001    # belief weight off the guide's walkable ground (where it has one)
CLEAR = 20.0         # 1/2-scale px a walking player keeps from the walls: the belief's weight is full only that far inside
PULL = 80.0          # 1/2-scale px: sigma of the per-frame pull of the belief toward entrance + scale (0: none)
SLIDE = 1            # belief pushed off the ground slides to the nearest ground (0: it is dropped)
MEAN_NEAR_MODE = 1   # the marker: 1 the mean of the belief near its mode, 0 the mode (sub-cell)
CONC_RADIUS = 40.0   # 1/2-scale px: the concentration is the belief's share this near the marker
MEAN_RADIUS = 120.0  # 1/2-scale px: the marker is the mean of the belief this near its mode
MEAN_FLOOR = 0.1     # of the mode's belief: cells below it are left out of that mean
MIN_AGREEMENT = 0.25  # share of all revealed lines on the guide's under the size fit below which they do not match this guide
MAX_OFFSET = 300.0   # 1/2-scale px: a marker farther from entrance + scale is not believed (instances differ by less)
MIN_CONC = 0.5       # concentration below which the filter is unsure: placed by entrance and scale
# the quality is P(marker within 15 px at 1/2 scale), calibrated on tuning seeds 100-102 (bench/eval_guide_position.py):
# for a registered marker from its concentration (the belief's own confidence barely predicts its error:
# the along-corridor error comes from corridor lengths the lines do not show), for entrance + scale a constant
CAL_CONC, CAL_P15 = (0.5, 0.75, 0.85, 1.0), (0.04, 0.04, 0.15, 0.15)
CAL_ENTRANCE = 0.05
MIN_POINTS = 120     # mask pixels near the player below which the lines are not used
SCALES = np.linspace(0.86, 1.16, 16)  # the instance's size relative to the guide's instance
FIT_SCALE = 1        # fit the instance's size to all revealed lines (0: the metadata's scale)
GLOBAL_SHIFT = 0.055  # of the guide's longer side: the shift searched each way by that fit (~ node jitter)


# ---- metadata

@dataclass(frozen=True)
class GuideMeta:
  entrance: tuple[float, float] | None      # [y, x] guide px of the entrance (the minimap's origin)
  scale: float | None                       # guide px per px of the 1/2-scale minimap
  points: list[tuple[str, tuple[float, float]]] = field(default_factory=list)  # (label, [y, x] guide px): exits, objectives
  size: tuple[int, int] | None = None       # (h, w) of the image the coordinates are for
  line_rgb: tuple[int, int, int] | None = None  # colour of the guide's map lines; None: found as edges

  def to_json(self) -> dict:
    return {"entrance": list(self.entrance) if self.entrance is not None else None, "scale": self.scale,
            "points": [{"label": l, "yx": list(p)} for l, p in self.points], "size": list(self.size) if self.size else None,
            "line_rgb": list(self.line_rgb) if self.line_rgb else None}

  @staticmethod
  def from_json(o: dict, where: str = "guide metadata") -> GuideMeta:
    def yx(v, what):
      if v is None: return None
      if not (isinstance(v, list) and len(v) == 2 and all(isinstance(c, (int, float)) for c in v)):
        raise ValueError(f"{where}: {what} must be [y, x], got {v!r}")
      return (float(v[0]), float(v[1]))
    if not isinstance(o, dict): raise ValueError(f"{where}: wants a JSON object, got {type(o).__name__}")
    sc = o.get("scale")
    if sc is not None and (not isinstance(sc, (int, float)) or not sc > 0): raise ValueError(f"{where}: scale must be a number > 0, got {sc!r}")
    pts = []
    for q in o.get("points") or []:
      if not isinstance(q, dict) or not isinstance(q.get("label"), str):
        raise ValueError(f"{where}: a point must be {{\"label\": str, \"yx\": [y, x]}}, got {q!r}")
      pts.append((q["label"], yx(q.get("yx"), f"point {q['label']!r}")))
    size, rgb = o.get("size"), o.get("line_rgb")
    return GuideMeta(yx(o.get("entrance"), "entrance"), float(sc) if sc is not None else None, pts,
                     (int(size[0]), int(size[1])) if size else None,
                     cast(tuple[int, int, int], tuple(int(c) for c in rgb)) if rgb else None)

  def resized(self, h: int, w: int) -> GuideMeta:
    """The same metadata for the image shown at (h, w) instead of `size` (the overlay fits guides to its window)."""
    if self.size is None or tuple(self.size) == (h, w): return GuideMeta(self.entrance, self.scale, self.points, (h, w), self.line_rgb)
    fy, fx = h / self.size[0], w / self.size[1]
    f = lambda p: (p[0] * fy, p[1] * fx)
    return GuideMeta(f(self.entrance) if self.entrance is not None else None, self.scale * (fy + fx) / 2 if self.scale else None,
                     [(l, f(p)) for l, p in self.points], (h, w), self.line_rgb)

  def exits(self) -> list[tuple[float, float]]: return [p for l, p in self.points if l.lower().startswith("exit")]


def meta_path(guide_png: str | os.PathLike) -> Path: return Path(guide_png).with_suffix(".json")


def load_meta(guide_png: str | os.PathLike) -> GuideMeta | None:
  """The metadata beside a guide image; None when there is none; ValueError naming the file when it is broken."""
  p = meta_path(guide_png)
  if not p.is_file(): return None
  try: o = json.loads(p.read_text())
  except (OSError, json.JSONDecodeError) as e: raise ValueError(f"{p}: not readable JSON ({e})") from e
  return GuideMeta.from_json(o, str(p))


def save_meta(guide_png: str | os.PathLike, meta: GuideMeta, overwrite: bool = False) -> Path:
  return atomic_write_bytes(meta_path(guide_png), (json.dumps(meta.to_json()) + "\n").encode(), overwrite)


# ---- the guide's lines

def guide_lines(img: np.ndarray, meta: GuideMeta | None = None) -> np.ndarray:
  """(H, W) bool: the map lines of a guide image: pixels near meta.line_rgb, else its strong edges."""
  img = np.asarray(img)
  if meta is not None and meta.line_rgb is not None:
    return np.abs(img[..., :3].astype(np.int16) - np.asarray(meta.line_rgb, np.int16)).sum(-1) < 60
  return cv2.Canny(cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY), 60, 160) > 0


class GuideRef:
  """A guide ready for registration: metadata (at the image's size), lines, their distance transform and
  the walkable ground (the region the lines enclose around the entrance) on the belief grid."""

  def __init__(self, img: np.ndarray, meta: GuideMeta | None, lines: np.ndarray | None = None):
    h, w = img.shape[:2]
    self.meta = meta.resized(h, w) if meta is not None else None
    self.lines = guide_lines(img, self.meta) if lines is None else lines.astype(bool)
    self.pad = max(h, w) // 2 + 4
    dt = cv2.distanceTransform((~self.lines).astype(np.uint8), cv2.DIST_L2, 5) if self.lines.any() else np.full((h, w), TRUNC, np.float32)
    dt = np.minimum(dt, TRUNC).astype(np.float32)
    self.dt = cv2.copyMakeBorder(dt, self.pad, self.pad, self.pad, self.pad, cv2.BORDER_CONSTANT, value=TRUNC)
    self.dt_coarse = np.ascontiguousarray(dt[::BELIEF_STEP, ::BELIEF_STEP])
    self.walk_prior = self._walkable(np.asarray(img))
    # every cell's nearest cell of open ground: belief moved into a wall slides to the ground beside it
    # (the instance's corridor bends another way than the guide's; the player follows the corridor)
    ground = (self.walk_prior >= 0.5 * self.walk_prior.max()).astype(np.uint8)
    if ground.all() or not ground.any(): self.nearest = None
    else:
      _, lab = cv2.distanceTransformWithLabels(1 - ground, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
      ys, xs = np.nonzero(ground)  # labels number the zero pixels of the input in row-major order, from 1
      idx = np.zeros(lab.max() + 1, np.int64)
      idx[lab[ys, xs]] = ys * ground.shape[1] + xs
      self.nearest = idx[lab].ravel()
    self.shape, self.side = (h, w), max(h, w)

  def _walkable(self, img: np.ndarray) -> np.ndarray:
    """Belief weights: 1 on the guide's ground (the flat colour around the entrance, its region holding
    the entrance, small holes such as marks, text and rocks filled), WALK_OUT elsewhere. All 1 when
    there is no entrance or no such region (no flat ground colour, or it leaks to the image's border)."""
    hb, wb = self.dt_coarse.shape
    ones = np.ones((hb, wb), np.float32)
    if self.meta is None or self.meta.entrance is None or self.meta.scale is None: return ones
    h, w = img.shape[:2]
    ey, ex = self.meta.entrance
    yy, xx = np.mgrid[0:h, 0:w]
    ring = (np.hypot(yy - ey, xx - ex) >= 15) & (np.hypot(yy - ey, xx - ex) < 22) & ~self.lines  # beyond the entrance's own mark
    if ring.sum() < 20: return ones
    q = (img[..., :3] // 8).astype(np.int32)
    code = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    vals, cnt = np.unique(code[ring], return_counts=True)
    for v in vals[np.argsort(-cnt)][:3]:  # the ring's commonest colours; the background's region reaches the border
      if cnt[vals == v][0] < 0.15 * ring.sum(): return ones
      ground = np.array([(v >> 10) & 31, (v >> 5) & 31, v & 31]) * 8 + 4
      near = (np.abs(img[..., :3].astype(np.int16) - ground).max(-1) <= 14).astype(np.uint8)
      _, lab, st, _ = cv2.connectedComponentsWithStats(near, connectivity=4)
      ids = np.unique(lab[ring & (near > 0)])
      reg = (lab == ids[np.argmax(st[ids, cv2.CC_STAT_AREA])]).astype(np.uint8)
      # fill holes smaller than a few marks: the inverse's small components
      _, lab2, st2, _ = cv2.connectedComponentsWithStats(1 - reg, connectivity=4)
      reg = reg | np.isin(lab2, np.nonzero(st2[:, cv2.CC_STAT_AREA] < 0.01 * h * w)[0]).astype(np.uint8)
      if not (reg.mean() > 0.6 or reg.sum() < 400 or reg[0].any() or reg[-1].any() or reg[:, 0].any() or reg[:, -1].any()): break
    else: return ones
    # a player keeps clear of the walls: the weight grows from the region's edge to CLEAR inside it
    din = cv2.distanceTransform(reg, cv2.DIST_L2, 5)[::BELIEF_STEP, ::BELIEF_STEP]
    return (WALK_OUT + (1 - WALK_OUT) * np.clip(din / max(CLEAR * self.meta.scale, 1.0), 0, 1) ** 2).astype(np.float32)

  def dt_at(self, g: np.ndarray) -> np.ndarray:
    """Truncated distance to the guide's lines at guide px g (N, 2); TRUNC off the image."""
    yx = np.round(g).astype(np.int64) + self.pad
    ok = (yx[:, 0] >= 0) & (yx[:, 0] < self.dt.shape[0]) & (yx[:, 1] >= 0) & (yx[:, 1] < self.dt.shape[1])
    out = np.full(len(g), TRUNC, np.float32)
    out[ok] = self.dt[yx[ok, 0], yx[ok, 1]]
    return out


# ---- registration

@dataclass
class Placement:
  yx: tuple[float, float] | None   # the player in guide px (None: no marker)
  status: str                      # registered (lines and walk agree) / entrance (unsure: entrance + scale) / lines (no entrance known) / none
  quality: float                   # 0..1: the chance the marker is within 15 px at 1/2 scale (calibrated, CAL_*)
  reason: str = ""
  scale: float | None = None       # guide px per 1/2-scale px used
  offset: tuple[float, float] | None = None  # the belief's estimate minus the entrance + scale placement, guide px
  belief: np.ndarray | None = field(default=None, repr=False)  # (h, w) float32 posterior over guide px (BELIEF_STEP grid): the next frame's prior
  pos: tuple[float, float] | None = None  # the player's 1/2-scale position relative to the entrance this belief is for
  agreement: float | None = None  # share of all revealed lines on the guide's lines under the size fit (None: not fitted)
  conc: float = 0.0               # the belief's share within CONC_RADIUS of the marker: what decides registered or not

  def to_json(self) -> dict:
    return {"yx": [round(v, 1) for v in self.yx] if self.yx is not None else None, "status": self.status,
            "quality": round(float(self.quality), 3), "conc": round(float(self.conc), 3), "reason": self.reason}


def _search(ref: GuideRef, g: np.ndarray, w: np.ndarray | None, T: int, prior: float) -> tuple[np.ndarray, float, float]:
  """Best integer-plus-parabola shift (dy, dx) within +-T guide px of points g (N, 2 guide px): (shift,
  cost, inlier share). Cost = weighted mean truncated distance + prior * (|shift| / T)^2."""
  lo = np.floor(g.min(0)).astype(int)
  yx = np.round(g).astype(int) - lo
  hw = yx.max(0) + 1
  tmpl = np.bincount(yx[:, 0] * hw[1] + yx[:, 1], weights=w, minlength=hw[0] * hw[1]).reshape(hw).astype(np.float32)
  y0, x0 = lo[0] - T + ref.pad, lo[1] - T + ref.pad
  H, W = ref.dt.shape
  big = np.full((hw[0] + 2 * T, hw[1] + 2 * T), TRUNC, np.float32)  # the window of the padded DT, TRUNC beyond it
  sy0, sx0, sy1, sx1 = max(0, y0), max(0, x0), min(H, y0 + big.shape[0]), min(W, x0 + big.shape[1])
  if sy1 > sy0 and sx1 > sx0: big[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = ref.dt[sy0:sy1, sx0:sx1]
  cost = cv2.matchTemplate(big, tmpl, cv2.TM_CCORR) / max(float(tmpl.sum()), 1e-9)
  r = np.arange(-T, T + 1, dtype=np.float32)
  cost = cost + prior * (r[:, None] ** 2 + r[None, :] ** 2) / max(T, 1) ** 2
  i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
  sy = _parab(cost[i - 1, j], cost[i, j], cost[i + 1, j]) if 0 < i < cost.shape[0] - 1 else 0.0
  sx = _parab(cost[i, j - 1], cost[i, j], cost[i, j + 1]) if 0 < j < cost.shape[1] - 1 else 0.0
  shift = np.array([i - T + sy, j - T + sx])
  d = ref.dt_at(g + shift)
  ww = np.ones(len(g)) if w is None else w
  return shift, float(cost[i, j]), float((ww * (d <= INLIER)).sum() / max(ww.sum(), 1e-9))


def _parab(a: float, b: float, c: float) -> float:
  d = a - 2 * b + c
  return 0.0 if d <= 1e-9 else float(np.clip(0.5 * (a - c) / d, -0.5, 0.5))


def _local_cost(ref: GuideRef, off: np.ndarray) -> np.ndarray:
  """Mean truncated distance of the lines at offsets `off` (N, 2 guide px from the player) to the guide's
  lines, for the player at every cell of the belief grid: one correlation over the whole guide."""
  k = BELIEF_STEP
  R = int(np.ceil(np.abs(off).max() / k)) + 1 if len(off) else 1
  yx = np.round(off / k).astype(int) + R
  tmpl = np.bincount(yx[:, 0] * (2 * R + 1) + yx[:, 1], minlength=(2 * R + 1) ** 2).reshape(2 * R + 1, 2 * R + 1).astype(np.float32)
  dt = ref.dt_coarse
  big = cv2.copyMakeBorder(dt, R, R, R, R, cv2.BORDER_CONSTANT, value=TRUNC)
  return cv2.matchTemplate(big, tmpl, cv2.TM_CCORR) / max(float(tmpl.sum()), 1e-9)


def register(mask: np.ndarray, origin, position, ref: GuideRef, prior: Placement | None = None, at_entrance: bool = True) -> Placement:
  """Place the player at `position` ([y, x] px of the 1/2-scale line mask whose entrance is `origin`) on the
  guide `ref`. prior: this stream's placement of the last frame (its belief is carried on). at_entrance False: `origin`
  is not the entrance (the canvas began after it, MinimapCanvas.began_late), so the lines alone place the player.

  A histogram filter over guide px (Markov localisation): the belief of the last frame is moved by
  the player's step (times the scale) and spread in proportion to it (the instance's corridors are
  longer or shorter than the guide's, its nodes elsewhere), kept to the guide's walkable ground, and
  weighted by how well the lines revealed around the player fit the guide's lines there. Walls alone
  are ambiguous (jittered, a straight corridor fits anywhere along itself); the walk alone drifts; the
  two together hold. The marker is the middle of the belief's top near its mode; it is trusted when the
  size fit of all lines matches this guide, the marker is within MAX_OFFSET of entrance + scale and at
  least MIN_CONC of the belief lies within CONC_RADIUS of it; else the placement is entrance + scale
  (the fitted one) and its reason says why. The belief is carried on either way."""
  m = ref.meta
  if m is None or m.scale is None:
    return Placement(None, "none", 0.0, "the guide has no metadata (entrance, scale): set it with python -m poemap.guidepos set")
  origin, position = np.asarray(origin, np.float64), np.asarray(position, np.float64)
  ys, xs = np.nonzero(np.asarray(mask))
  rel = np.stack([ys, xs], 1).astype(np.float64) - origin
  pos = position - origin
  if m.entrance is None: return _lines_only(rel, pos, ref, "the guide has no entrance")
  if not at_entrance: return _lines_only(rel, pos, ref, "the stitch began after the entrance, which it could not place")
  E, k = np.asarray(m.entrance, np.float64), BELIEF_STEP
  s, agree = _scale(ref, rel, prior)
  anchored = E + s * pos
  hb, wb = ref.walk_prior.shape
  # predict: the last belief moved by the step and spread; none yet: a spread around the entrance placement
  if prior is not None and prior.belief is not None and prior.pos is not None:
    step = s * (pos - np.asarray(prior.pos))
    M = np.array([[1, 0, step[1] / k], [0, 1, step[0] / k]], np.float32)
    b = cv2.warpAffine(prior.belief, M, (wb, hb), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    sig = SPREAD0 + SPREAD * float(np.hypot(*step))
    if b.sum() < 1e-12: b = _gauss(ref, anchored, sig)
  else:
    b, sig = _gauss(ref, anchored, SPREAD0 + SPREAD * s * float(np.hypot(*pos))), 0.0
  if sig > 0: b = cv2.GaussianBlur(b, (0, 0), sig / k)
  if ref.nearest is not None and SLIDE: b = np.bincount(ref.nearest, weights=b.ravel(), minlength=hb * wb).reshape(hb, wb).astype(np.float32)
  b = b * ref.walk_prior
  if PULL > 0:  # the offset from entrance + scale is bounded (node jitter): a weak pull back keeps drift from piling up
    b = b * _gauss(ref, anchored, PULL * s)
  # update: the lines around the player against the guide's lines, for every cell at once
  near = rel[np.hypot(*(rel - pos).T) < RADIUS]
  if len(near) >= MIN_POINTS:
    if len(near) > 20000: near = near[np.random.default_rng(0).choice(len(near), 20000, replace=False)]
    cost = _local_cost(ref, s * (near - pos))
    b = b * np.exp(-(cost - cost.min()) / TAU).astype(np.float32)
  tot = float(b.sum())
  if not tot > 1e-30:
    return Placement(tuple(anchored.tolist()), "entrance", 0.0,
                     "the walk and the map lines found no place on this guide: placed by entrance and scale", s)
  b = (b / tot).astype(np.float32)
  i, j = np.unravel_index(int(np.argmax(b)), b.shape)
  lb = np.log(np.maximum(b, 1e-30))
  dy = _parab(-lb[i - 1, j], -lb[i, j], -lb[i + 1, j]) if 0 < i < hb - 1 else 0.0  # a parabola on -log b: the peak's sub-cell place
  dx = _parab(-lb[i, j - 1], -lb[i, j], -lb[i, j + 1]) if 0 < j < wb - 1 else 0.0
  yx = np.array([i + dy, j + dx]) * k
  r = int(np.ceil(MEAN_RADIUS * s / k))
  win = b[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
  if MEAN_NEAR_MODE and win.sum() > 0:
    # the middle of the belief's top near its mode: along a corridor the belief is a long plateau whose
    # mode is anywhere on it; a sharp peak keeps its place (the floor leaves out its flanks)
    win = np.where(win >= MEAN_FLOOR * b[i, j], win, 0)
    wy, wx = np.mgrid[max(0, i - r):max(0, i - r) + win.shape[0], max(0, j - r):max(0, j - r) + win.shape[1]]
    yx = np.array([(wy * win).sum(), (wx * win).sum()]) / win.sum() * k
  # the belief's share within CONC_RADIUS of the marker: how likely the filter itself thinks the marker is
  # that close; overconfident (bench/eval_guide_position.py), so the quality is calibrated from it
  yy, xx = np.ogrid[0:hb, 0:wb]
  conc = float(b[(yy * k - yx[0]) ** 2 + (xx * k - yx[1]) ** 2 <= (CONC_RADIUS * s) ** 2].sum())
  out = dict(scale=s, offset=tuple((yx - anchored).tolist()), belief=b, pos=tuple(pos.tolist()), agreement=agree, conc=conc)
  E0, qe = tuple(anchored.tolist()), CAL_ENTRANCE
  if len(near) < MIN_POINTS:
    return Placement(E0, "entrance", qe, f"only {len(near)} map line pixels revealed near the player: placed by entrance and scale", **out)
  if agree is not None and agree < MIN_AGREEMENT:
    return Placement(E0, "entrance", qe * agree,
                     f"the map lines do not match this guide (agreement {agree:.2f} < {MIN_AGREEMENT}): placed by entrance and scale", **out)
  far = float(np.hypot(*(yx - anchored))) / s
  if far > MAX_OFFSET:
    return Placement(E0, "entrance", qe, f"the lines put the player {far:.0f} px from where entrance and scale do, more than instances differ: "
                     "placed by entrance and scale", **out)
  if conc < MIN_CONC:
    return Placement(E0, "entrance", qe, f"unsure where on the guide (concentration {conc:.2f} < {MIN_CONC}): placed by entrance and scale", **out)
  return Placement(tuple(yx.tolist()), "registered", float(np.interp(conc, CAL_CONC, CAL_P15)), "", **out)


def _scale(ref: GuideRef, rel: np.ndarray, prior: Placement | None) -> tuple[float, float | None]:
  """Guide px per 1/2-scale px of this instance: the metadata's, times the size of this instance relative
  to the guide's (each is a few % larger or smaller) as a similarity fit of all lines revealed so far
  finds it (scale about the entrance plus a small shift, truncated chamfer), near the last frame's; and
  that fit's agreement (the share of all lines on the guide's lines; None: too few lines to fit)."""
  m = ref.meta
  assert m is not None and m.scale is not None and m.entrance is not None, "register() fits a scale only for a guide with both"
  if not FIT_SCALE or len(rel) < 4 * MIN_POINTS: return (prior.scale if prior is not None and prior.scale else m.scale), None
  if len(rel) > 20000: rel = rel[np.random.default_rng(0).choice(len(rel), 20000, replace=False)]
  E = np.asarray(m.entrance, np.float64)
  T = max(2, int(round(GLOBAL_SHIFT * ref.side)))
  scales = SCALES if prior is None or not prior.scale else SCALES[np.abs(SCALES - prior.scale / m.scale) <= 0.045]
  fits = [(*_search(ref, E + m.scale * sg * rel, None, T, 1.5)[1:], sg) for sg in scales]
  _, agree, sg = min(fits)
  return m.scale * float(sg), agree


def _gauss(ref: GuideRef, c: np.ndarray, sig: float) -> np.ndarray:
  hb, wb = ref.walk_prior.shape
  yy, xx = np.mgrid[0:hb, 0:wb].astype(np.float32) * BELIEF_STEP
  return np.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / (2 * max(sig, 1.0) ** 2)).astype(np.float32)


def _lines_only(rel: np.ndarray, pos: np.ndarray, ref: GuideRef, why: str) -> Placement:
  """No entrance known (`why`): slide all revealed lines over the whole guide at the metadata's scale."""
  m = ref.meta
  assert m is not None and m.scale is not None, "register() places by lines alone only a guide with a scale"
  if len(rel) < 4 * MIN_POINTS: return Placement(None, "none", 0.0, f"{why} and too few lines are revealed to find one")
  g = m.scale * rel
  g = g - g.min(0)
  T = int(ref.side // 2) + 1
  c0 = np.asarray(ref.shape, np.float64) / 2 - (g.max(0) / 2)  # centred, then +-T
  sh, _, q = _search(ref, g + c0, None, T, 0.0)
  yx = c0 + sh + m.scale * pos - (m.scale * rel).min(0)
  if q < 0.5: return Placement(None, "none", q, f"{why} and the lines alone do not place the player (agreement {q:.2f})")
  return Placement(tuple(yx.tolist()), "lines", q, f"placed by the lines alone: {why}", m.scale)


# ---- the command: set a guide's metadata

def _click_entrance(img: np.ndarray) -> tuple[float, float]:
  """Show the guide in a window; the first left click is the entrance ([y, x] image px)."""
  got: list[tuple[float, float]] = []
  def on(ev, x, y, *_):
    if ev == cv2.EVENT_LBUTTONDOWN: got.append((float(y), float(x)))
  cv2.namedWindow("click the entrance (Esc cancels)", cv2.WINDOW_AUTOSIZE)
  cv2.setMouseCallback("click the entrance (Esc cancels)", on)
  cv2.imshow("click the entrance (Esc cancels)", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
  while not got:
    if cv2.waitKey(30) == 27: break
  cv2.destroyAllWindows()
  if not got: raise SystemExit("cancelled: nothing written")
  return got[0]


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(prog="python -m poemap.guidepos", description="Guide metadata for 'you are here' (data/user/<area>/<id>.json).")
  sub = ap.add_subparsers(dest="cmd", required=True)
  s = sub.add_parser("set", help="write a guide's metadata")
  s.add_argument("--area", required=True, help="guide directory under <data>/user/ (e.g. coast)")
  s.add_argument("--id", type=int, required=True, help="layout id")
  s.add_argument("--data", help="data root (default data/)")
  s.add_argument("--entrance", metavar="Y,X", help="entrance pixel in the guide image; leave out to click it in a window")
  s.add_argument("--scale", type=float, required=True,
                 help="guide px per px of the 1/2-scale minimap (e.g. a corridor's width on the guide / on the minimap)")
  s.add_argument("--point", action="append", default=[], metavar="LABEL=Y,X", help="a labelled point, e.g. exit=120,640 (repeatable)")
  s.add_argument("--line-rgb", metavar="R,G,B", help="colour of the guide's map lines (default: found as edges)")
  s.add_argument("--no-entrance", action="store_true", help="no entrance: register on lines alone")
  s.add_argument("--overwrite", action="store_true")
  sh = sub.add_parser("show", help="print a guide's metadata")
  sh.add_argument("--area", required=True); sh.add_argument("--id", type=int, required=True); sh.add_argument("--data")
  a = ap.parse_args(argv)
  png = guide_path(a.area, a.id, a.data)
  if a.cmd == "show":
    m = load_meta(png)
    print(json.dumps(m.to_json(), indent=1) if m is not None else f"{meta_path(png)}: none")
    return
  if not png.is_file(): raise SystemExit(f"no guide image {png}")
  img = load_png(png)
  def pair(v: str, what: str) -> tuple[float, float]:
    c = v.split(",")
    if len(c) != 2: ap.error(f"{what}: want Y,X, got {v!r}")
    return float(c[0]), float(c[1])
  ent = None if a.no_entrance else pair(a.entrance, "--entrance") if a.entrance else _click_entrance(img)
  pts: list[tuple[str, tuple[float, float]]] = []
  for p in a.point:
    if "=" not in p: ap.error(f"--point: want LABEL=Y,X, got {p!r}")
    lab, v = p.split("=", 1)
    pts.append((lab, pair(v, "--point")))
  rgb = cast(tuple[int, int, int], tuple(int(c) for c in a.line_rgb.split(","))) if a.line_rgb else None
  try: out = save_meta(png, GuideMeta(ent, a.scale, pts, img.shape[:2], rgb), overwrite=a.overwrite)
  except FileExistsError: raise SystemExit(f"{meta_path(png)} exists: --overwrite replaces it")
  print(f"wrote {out}")


if __name__ == "__main__": main()
