"""You are here: where the player stands on the guide image.

A guide is just a picture (data/user/<area>/<id>.png); its metadata beside it (<id>.json,
GuideMeta) ties it to the minimap: the entrance pixel (the minimap's origin), the guide's scale (guide
px per px of the 1/2-scale minimap the server sees) and labelled points such as exits.

register() places the player: entrance + scale give a first placement, which is off by as much as the
instance differs from the guide's instance (nodes jittered, corridors bent, the whole layout a few
% larger or smaller). The revealed line mask then corrects it: a global fit (scale and shift of all
lines revealed so far), then a local one (a shift of the lines around the player, kept near the global
fit where the lines say little, e.g. along a straight corridor). Both maximise the agreement of mask
lines with the guide's lines as a truncated chamfer distance (the distance transform of the guide's
lines summed under the mask lines, for every shift at once with cv2.matchTemplate). A fit whose lines
mostly miss the guide's is not trusted: the placement falls back to the global fit, then to entrance +
scale, and its status says so. A guide with a scale but no entrance is searched over its whole area
(lines alone); one without a scale gets no marker. Pure numpy/OpenCV.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from poemap.fileio import atomic_write_bytes

TRUNC = 20.0         # guide px: chamfer distances are truncated here, so lines with no counterpart cost a constant
INLIER = 5.0         # guide px: a mask line this close to a guide line agrees with it
SCALES = np.linspace(0.86, 1.16, 16)  # the instance's size relative to the guide's instance
GLOBAL_SHIFT = 0.055  # of the guide's longer side: the global search window each way (~ node jitter)
LOCAL_LEVELS = ((400, 0.06),)  # local fits: (radius in 1/2-scale px of the lines used, search window each way as a share of the guide's longer side)
PRIOR = 1.5           # guide px of mean chamfer distance a global shift of a whole window costs
PRIOR_LOCAL = 3.0     # the same for the local shift from where tracking (or the global fit) starts it
MIN_POINTS = 120      # mask pixels below which the lines are not used
MIN_QUALITY = 0.35    # inlier fraction below which a fit is not trusted


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
      if not (isinstance(v, list) and len(v) == 2 and all(isinstance(c, (int, float)) for c in v)): raise ValueError(f"{where}: {what} must be [y, x], got {v!r}")
      return (float(v[0]), float(v[1]))
    if not isinstance(o, dict): raise ValueError(f"{where}: wants a JSON object, got {type(o).__name__}")
    sc = o.get("scale")
    if sc is not None and (not isinstance(sc, (int, float)) or not sc > 0): raise ValueError(f"{where}: scale must be a number > 0, got {sc!r}")
    pts = []
    for q in o.get("points") or []:
      if not isinstance(q, dict) or not isinstance(q.get("label"), str): raise ValueError(f"{where}: a point must be {{\"label\": str, \"yx\": [y, x]}}, got {q!r}")
      pts.append((q["label"], yx(q.get("yx"), f"point {q['label']!r}")))
    size, rgb = o.get("size"), o.get("line_rgb")
    return GuideMeta(yx(o.get("entrance"), "entrance"), float(sc) if sc is not None else None, pts,
                     (int(size[0]), int(size[1])) if size else None, tuple(int(c) for c in rgb) if rgb else None)

  def resized(self, h: int, w: int) -> GuideMeta:
    """The same metadata for the image shown at (h, w) instead of `size` (the overlay fits guides to its window)."""
    if self.size is None or tuple(self.size) == (h, w): return GuideMeta(self.entrance, self.scale, self.points, (h, w), self.line_rgb)
    fy, fx = h / self.size[0], w / self.size[1]
    f = lambda p: (p[0] * fy, p[1] * fx) if p is not None else None
    return GuideMeta(f(self.entrance), self.scale * (fy + fx) / 2 if self.scale else None, [(l, f(p)) for l, p in self.points], (h, w), self.line_rgb)

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
  """A guide ready for registration: metadata (at the image's size), lines and their distance transform."""

  def __init__(self, img: np.ndarray, meta: GuideMeta | None, lines: np.ndarray | None = None):
    h, w = img.shape[:2]
    self.meta = meta.resized(h, w) if meta is not None else None
    self.lines = guide_lines(img, self.meta) if lines is None else lines.astype(bool)
    self.pad = int(np.ceil(max(h, w) * (GLOBAL_SHIFT + sum(w for _, w in LOCAL_LEVELS)))) + 4
    dt = cv2.distanceTransform((~self.lines).astype(np.uint8), cv2.DIST_L2, 5) if self.lines.any() else np.full((h, w), TRUNC, np.float32)
    self.dt = cv2.copyMakeBorder(np.minimum(dt, TRUNC).astype(np.float32), self.pad, self.pad, self.pad, self.pad, cv2.BORDER_CONSTANT, value=TRUNC)
    self.shape, self.side = (h, w), max(h, w)

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
  status: str                      # registered (lines, locally) / global (lines, whole mask) / entrance (entrance + scale only) / lines (no entrance known) / none
  quality: float                   # 0..1: the share of the fit's mask lines that lie on the guide's lines
  reason: str = ""
  scale: float | None = None       # guide px per 1/2-scale px of the global fit
  offset: tuple[float, float] | None = None  # yx minus the entrance + scale placement, guide px: what the next frame tracks

  def to_json(self) -> dict:
    return {"yx": [round(v, 1) for v in self.yx] if self.yx is not None else None, "status": self.status,
            "quality": round(float(self.quality), 3), "reason": self.reason}


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
  def parab(a, b, c): d = a - 2 * b + c; return 0.0 if d <= 1e-9 else float(np.clip(0.5 * (a - c) / d, -0.5, 0.5))
  sy = parab(cost[i - 1, j], cost[i, j], cost[i + 1, j]) if 0 < i < cost.shape[0] - 1 else 0.0
  sx = parab(cost[i, j - 1], cost[i, j], cost[i, j + 1]) if 0 < j < cost.shape[1] - 1 else 0.0
  shift = np.array([i - T + sy, j - T + sx])
  d = ref.dt_at(g + shift)
  ww = np.ones(len(g)) if w is None else w
  return shift, float(cost[i, j]), float((ww * (d <= INLIER)).sum() / max(ww.sum(), 1e-9))


def register(mask: np.ndarray, origin, position, ref: GuideRef, prior: Placement | None = None) -> Placement:
  """Place the player at `position` ([y, x] px of the 1/2-scale line mask whose entrance is `origin`) on the
  guide `ref`. prior: this stream's placement of the last frame. The local fit then starts where the
  last frame's offset from the entrance placement says (the player moved a little; the instance's
  difference from the guide's changes smoothly along the way) and the global one near its scale."""
  m = ref.meta
  if m is None or m.scale is None:
    return Placement(None, "none", 0.0, "the guide has no metadata (entrance, scale): set it with python -m poemap.guidepos set")
  origin, position = np.asarray(origin, np.float64), np.asarray(position, np.float64)
  ys, xs = np.nonzero(np.asarray(mask))
  rel = np.stack([ys, xs], 1).astype(np.float64) - origin
  if m.entrance is None: return _lines_only(rel, position - origin, ref)
  E = np.asarray(m.entrance, np.float64)
  anchored = E + m.scale * (position - origin)
  track = np.asarray(prior.offset, np.float64) if prior is not None and prior.offset is not None else None
  def fallback(why: str, q: float = 0.0) -> Placement:
    # unsure: entrance + scale (plus the offset tracked so far, which lines trusted earlier gave)
    return Placement(tuple((anchored + (track if track is not None else 0)).tolist()), "entrance", q, why, m.scale, offset=None if track is None else tuple(track.tolist()))
  if len(rel) < MIN_POINTS: return fallback(f"only {len(rel)} map line pixels revealed: placed by entrance and scale")
  if len(rel) > 40000: rel = rel[np.random.default_rng(0).choice(len(rel), 40000, replace=False)]  # plenty for a fit, bounded cost
  # global: scale about the entrance (and a small shift) of everything revealed
  Tg = max(2, int(round(GLOBAL_SHIFT * ref.side)))
  scales = SCALES if prior is None or prior.scale is None else SCALES[np.abs(SCALES - prior.scale / m.scale) <= 0.045]
  best = None
  for sg in scales:
    sh, c, q = _search(ref, E + m.scale * sg * rel, None, Tg, PRIOR)
    if best is None or c < best[1]: best = (sh, c, q, sg)
  shg, _, qg, sg = best
  s = m.scale * sg
  glob = E + s * (position - origin) + shg
  # local: the lines around the player, shifted from where tracking (else the global fit) puts them;
  # coarse to fine: a wide window finds the corridors and junctions, narrower ones the walls nearby
  centre = anchored + track if track is not None else glob
  d = np.sqrt(((rel - (position - origin)) ** 2).sum(1))
  if (d < LOCAL_LEVELS[-1][0]).sum() < MIN_POINTS: return fallback("few map lines near the player: placed by entrance and scale", qg)
  shl, ql = np.zeros(2), 0.0
  for radius, window in LOCAL_LEVELS:
    near = d < radius
    if near.sum() < MIN_POINTS: continue
    sh, _, ql = _search(ref, centre + shl - s * (position - origin) + s * rel[near], None, max(2, int(round(window * ref.side))), PRIOR_LOCAL)
    shl = shl + sh
  if ql < MIN_QUALITY: return fallback(f"the map lines do not match this guide here (agreement {ql:.2f} < {MIN_QUALITY}): placed by entrance and scale", ql)
  yx = centre + shl
  return Placement(tuple(yx.tolist()), "registered", ql, "", s, tuple((yx - anchored).tolist()))


def _lines_only(rel: np.ndarray, pos: np.ndarray, ref: GuideRef) -> Placement:
  """No entrance known: slide all revealed lines over the whole guide at the metadata's scale."""
  m = ref.meta
  if len(rel) < 4 * MIN_POINTS: return Placement(None, "none", 0.0, "the guide has no entrance and too few lines are revealed to find one")
  g = m.scale * rel
  g = g - g.min(0)
  T = int(ref.side // 2) + 1
  c0 = np.asarray(ref.shape, np.float64) / 2 - (g.max(0) / 2)  # centred, then +-T
  sh, _, q = _search(ref, g + c0, None, T, 0.0)
  yx = c0 + sh + m.scale * pos - (m.scale * rel).min(0)
  if q < 0.5: return Placement(None, "none", q, f"the guide has no entrance and the lines alone do not place the player (agreement {q:.2f})")
  return Placement(tuple(yx.tolist()), "lines", q, "placed by the lines alone: the guide's metadata has no entrance", m.scale)


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
  import argparse
  from poemap.datadir import guide_path
  from poemap.fileio import load_png
  ap = argparse.ArgumentParser(prog="python -m poemap.guidepos", description="Guide metadata for 'you are here' (data/user/<area>/<id>.json).")
  sub = ap.add_subparsers(dest="cmd", required=True)
  s = sub.add_parser("set", help="write a guide's metadata")
  s.add_argument("--area", required=True, help="guide directory under <data>/user/ (e.g. coast)")
  s.add_argument("--id", type=int, required=True, help="layout id")
  s.add_argument("--data", help="data root (default data/)")
  s.add_argument("--entrance", metavar="Y,X", help="entrance pixel in the guide image; leave out to click it in a window")
  s.add_argument("--scale", type=float, required=True, help="guide px per px of the 1/2-scale minimap (e.g. a corridor's width on the guide / on the minimap)")
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
  pair = lambda v, what: tuple(float(c) for c in v.split(",")) if len(v.split(",")) == 2 else ap.error(f"{what}: want Y,X, got {v!r}")
  ent = None if a.no_entrance else pair(a.entrance, "--entrance") if a.entrance else _click_entrance(img)
  pts = []
  for p in a.point:
    if "=" not in p: ap.error(f"--point: want LABEL=Y,X, got {p!r}")
    lab, v = p.split("=", 1)
    pts.append((lab, pair(v, "--point")))
  rgb = tuple(int(c) for c in a.line_rgb.split(",")) if a.line_rgb else None
  try: out = save_meta(png, GuideMeta(ent, a.scale, pts, img.shape[:2], rgb), overwrite=a.overwrite)
  except FileExistsError: raise SystemExit(f"{meta_path(png)} exists: --overwrite replaces it")
  print(f"wrote {out}")


if __name__ == "__main__": main()
