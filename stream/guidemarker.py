"""'You are here' on the guide: a stream's placements (Tracker) and their drawing (draw).

The client's minimap is turned into a line mask here with the colour filter (poemap.colorfilter) and
cleaned like the server's (poemap.tokens.clean_sparse_pixels): the server's UNet mask does not travel
back over the wire, and the registration (poemap.guidepos) needs only the walls' rough course.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from poemap.colorfilter import color_filter_mask
from poemap.fileio import load_png
from poemap.guidepos import GuideMeta, GuideRef, Placement, load_meta, register
from poemap.tokens import clean_sparse_pixels

TRAIL_MAX = 400  # placements kept for the trail


class Tracker:
  """The placements of one stream on the guide shown: the prior for the next frame and the trail."""
  guide: Path | None
  placement: Placement | None
  trail: list[tuple[float, float]]

  def __init__(self) -> None:
    self.refs: dict[Path, GuideRef | str] = {}
    self.reset()

  def reset(self) -> None:
    self.guide, self.placement, self.trail = None, None, []

  def ref(self, png: Path) -> GuideRef | str:
    """The guide ready for registration, or why there is none (cached per image)."""
    if png not in self.refs:
      try: meta = load_meta(png)
      except ValueError as e:  # a broken file says what is wrong with it, not that it is missing
        self.refs[png] = f"unusable guide metadata: {e}"
        return self.refs[png]
      try: self.refs[png] = GuideRef(load_png(png), meta) if meta is not None else f"no metadata {png.with_suffix('.json').name} beside the guide"
      except (FileNotFoundError, ValueError) as e: self.refs[png] = f"no guide image: {e}"
    return self.refs[png]

  def update(self, png: Path, minimap: np.ndarray, origin, position, at_entrance: bool = True) -> Placement:
    """Place the player ([y, x] px of the 1/2-scale minimap with entrance `origin`; see register for at_entrance) on guide `png`."""
    if png != self.guide: self.guide, self.placement, self.trail = png, None, []  # another guide: start over
    r = self.ref(png)
    if isinstance(r, str): self.placement = Placement(None, "none", 0.0, r)
    else:
      mask = clean_sparse_pixels(color_filter_mask(minimap))
      self.placement = register(mask, origin, position, r, self.placement, at_entrance)
    if self.placement.yx is not None:
      self.trail.append(self.placement.yx)
      del self.trail[:-TRAIL_MAX]
    return self.placement

  @property
  def meta(self) -> GuideMeta | None:
    r = self.refs.get(self.guide) if self.guide is not None else None
    return r.meta if isinstance(r, GuideRef) else None

  def record(self) -> dict | None:
    """The guide position for the client's JSON record (guide image px) and the registration quality."""
    if self.placement is None: return None
    out = self.placement.to_json()
    m, p = self.meta, self.placement
    ex = exit_direction(p.yx, m) if m is not None and p.yx is not None else None
    if ex is not None: out["exit"] = {"bearing_deg": round(ex[0], 1), "distance_px": round(ex[1], 1)}
    return out


def exit_direction(yx, meta: GuideMeta) -> tuple[float, float, tuple[float, float]] | None:
  """(bearing in degrees clockwise from up, straight-line distance in 1/2-scale minimap px, the exit) to the nearest marked exit."""
  ex = meta.exits()
  if not ex or yx is None or not meta.scale: return None
  d = [np.hypot(e[0] - yx[0], e[1] - yx[1]) for e in ex]
  e = ex[int(np.argmin(d))]
  return float(np.degrees(np.arctan2(e[1] - yx[1], -(e[0] - yx[0]))) % 360), float(min(d) / meta.scale), e


def heading(trail: list, min_px: float = 6.0) -> float | None:
  """Direction of travel (radians, atan2(dy, dx) in image px) from the trail's last stretch of at least min_px."""
  if len(trail) < 2: return None
  y, x = trail[-1]
  for py, px in reversed(trail[:-1]):
    if np.hypot(y - py, x - px) >= min_px: return float(np.arctan2(y - py, x - px))
  return None


def draw(img: np.ndarray, placement: Placement | None, trail: list, meta: GuideMeta | None, f: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
  """The marker (a ring, an arrow for the heading), the trail and the way to the exit drawn on a copy of
  the guide `img`, whose size is the guide image's times f (fy, fx). Unsure placements are drawn hollow
  and grey-yellow so a player does not trust them as much."""
  out = img.copy()
  if placement is None or placement.yx is None: return out
  P = lambda p: (int(round(p[1] * f[1])), int(round(p[0] * f[0])))
  pts = np.array([P(p) for p in trail], np.int32)
  if len(pts) > 1: cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, (255, 255, 255), 2, cv2.LINE_AA)
  c = P(placement.yx)
  sure = placement.status in ("registered", "lines")
  col = (255, 60, 200) if sure else (230, 210, 120)
  ex = exit_direction(placement.yx, meta) if meta is not None else None
  if ex is not None:
    e = P(ex[2])
    v = np.array([e[0] - c[0], e[1] - c[1]], np.float64)
    n = np.hypot(*v)
    if n > 30:
      tip = (int(c[0] + v[0] / n * 60), int(c[1] + v[1] / n * 60))
      cv2.arrowedLine(out, c, tip, (255, 80, 80), 3, cv2.LINE_AA, tipLength=0.3)
    txt = f"exit {ex[1]:.0f} px"
    (tw, _), _ = cv2.getTextSize(txt, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
    org = (min(c[0] + 18, out.shape[1] - tw - 4), max(18, c[1] - 16))  # kept on the picture
    cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 5, cv2.LINE_AA)
    cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 150, 150), 2, cv2.LINE_AA)
  h = heading([(p[0] * f[0], p[1] * f[1]) for p in trail])
  if h is not None:
    tip = (int(c[0] + 26 * np.cos(h)), int(c[1] + 26 * np.sin(h)))
    cv2.arrowedLine(out, c, tip, (0, 0, 0), 5, cv2.LINE_AA, tipLength=0.45)
    cv2.arrowedLine(out, c, tip, col, 2, cv2.LINE_AA, tipLength=0.45)
  cv2.circle(out, c, 11, (0, 0, 0), 4, cv2.LINE_AA)
  cv2.circle(out, c, 11, col, -1 if sure else 3, cv2.LINE_AA)
  return out


def draw_tracked(tracker: Tracker, guide: np.ndarray) -> np.ndarray:
  """The tracker's marker on `guide`, the guide image as the overlay holds it (fitted to its window)."""
  m = tracker.meta
  if m is None or m.size is None or tracker.placement is None: return guide
  return draw(guide, tracker.placement, tracker.trail, m, (guide.shape[0] / m.size[0], guide.shape[1] / m.size[1]))
