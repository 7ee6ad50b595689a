"""Stitching the overlay minimap from captured frames.

The capture square is centred on the player, so between two frames the minimap content moves by
the player's movement. The game world behind the minimap moves too, at another speed (parallax),
so correlating raw pixels can lock onto the world. We correlate a "line image" instead: how much a
pixel looks like map-line blue, high-passed so broad blue areas (water) count for little and thin
lines count for a lot, with the player icon at the centre blanked out because it never moves.
"""
from __future__ import annotations

import cv2
import numpy as np

GROW = 64          # the canvas grows in whole multiples of this at capture scale (= 32 px tiles at ½)
MIN_CONFIDENCE = 0.04
MAX_SHIFT = 0.45   # of the frame size: beyond this phase correlation wraps around


def _check_frame(frame: np.ndarray, name: str = "frame") -> np.ndarray:
  frame = np.asarray(frame)
  if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
    raise ValueError(f"{name} must be uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
  if frame.shape[0] < 32 or frame.shape[1] < 32: raise ValueError(f"{name} is too small to align: {frame.shape}")
  return frame


def _lines(frame: np.ndarray, sigma: float, blank: tuple[int, int] | None) -> np.ndarray:
  """float32 (H, W): how much each pixel is thin map-line blue (R 110-150, G 0-150, B 150-255:
  blue well above red and green), Hann-windowed, with a square around `blank` (the player icon,
  which never moves) zeroed."""
  r, g, b = cv2.split(frame)
  # saturating uint8 arithmetic: several times faster than float numpy on a 1200x1200 frame
  blue = cv2.subtract(cv2.subtract(b, cv2.max(r, cv2.addWeighted(g, 0.8, g, 0, 0))), 20).astype(np.float32)
  # a high-pass keeps line-width detail: water and glows are broad, map lines are a few px wide
  hp = cv2.max(cv2.subtract(blue, cv2.GaussianBlur(blue, (0, 0), sigma)), 0)
  h, w = hp.shape
  if blank is not None:
    rad = max(2, int(6 * sigma))
    hp[max(0, blank[0] - rad):max(0, blank[0] + rad), max(0, blank[1] - rad):max(0, blank[1] + rad)] = 0
  return hp * _hann(h, w)


def line_image(frame: np.ndarray) -> np.ndarray:
  """The coarse (½-scale) line image of a capture frame that find_translation correlates."""
  f = _check_frame(frame)
  h, w = f.shape[:2]
  small = cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
  return _lines(small, 2.0, (h // 4, w // 4))


_HANN: dict[tuple[int, int], np.ndarray] = {}
def _hann(h: int, w: int) -> np.ndarray:
  if (h, w) not in _HANN: _HANN[(h, w)] = cv2.createHanningWindow((w, h), cv2.CV_32F)
  return _HANN[(h, w)]


FINE = 512  # side of the full-resolution windows that refine the coarse estimate


def _translation(prev: np.ndarray, prev_lines: np.ndarray, cur: np.ndarray, cur_lines: np.ndarray,
                 min_confidence: float) -> tuple[float, float, float] | None:
  """Coarse phase correlation at ½ scale over the whole frame (robust, cheap), then a sub-pixel
  refinement at full scale on windows around the player, pre-shifted by the coarse estimate."""
  if not prev_lines.any() or not cur_lines.any(): return None
  (tx, ty), response = cv2.phaseCorrelate(prev_lines, cur_lines)
  # phaseCorrelate reports how far cur's content moved; the player moved the opposite way
  dy, dx = -2 * ty, -2 * tx
  h, w = prev.shape[:2]
  if not np.isfinite(response) or abs(dy) > MAX_SHIFT * h or abs(dx) > MAX_SHIFT * w: return None
  conf = float(np.clip(response, 0.0, 1.0))
  if conf < min_confidence: return None
  iy, ix = int(round(dy)), int(round(dx))
  s = min(FINE, h - abs(iy), w - abs(ix)) // 32 * 32  # even, FFT-friendly: odd sizes bias the peak by ½ px
  if s >= 64:
    # cur window [a, a+s) and prev window [a+i, a+i+s) cover the same content, both in bounds
    ay = int(np.clip((h - s) // 2 - iy // 2, max(0, -iy), min(h - s, h - s - iy)))
    ax = int(np.clip((w - s) // 2 - ix // 2, max(0, -ix), min(w - s, w - s - ix)))
    c = (h // 2, w // 2)
    pw = _lines(prev[ay + iy:ay + iy + s, ax + ix:ax + ix + s], 4.0, (c[0] - ay - iy, c[1] - ax - ix))
    cw = _lines(cur[ay:ay + s, ax:ax + s], 4.0, (c[0] - ay, c[1] - ax))
    if pw.any() and cw.any():
      (fx, fy), fresp = cv2.phaseCorrelate(pw, cw)
      if np.isfinite(fresp) and abs(fy) < 2 and abs(fx) < 2: dy, dx = iy - fy, ix - fx
  return float(dy), float(dx), conf


def find_translation(prev: np.ndarray, cur: np.ndarray, min_confidence: float = MIN_CONFIDENCE) -> tuple[float, float, float] | None:
  """(dy, dx, confidence) with cur[y, x] ≈ prev[y + dy, x + dx], i.e. the player's movement in
  pixels, sub-pixel; None when no trustworthy translation exists (blank frames, no overlap)."""
  prev, cur = _check_frame(prev, "prev"), _check_frame(cur, "cur")
  if prev.shape != cur.shape: raise ValueError(f"frames differ in size: {prev.shape} vs {cur.shape}")
  return _translation(prev, line_image(prev), cur, line_image(cur), min_confidence)


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


class MinimapCanvas:
  """The minimap revealed so far, stitched from capture squares centred on the player.

  Coordinates are [y, x] canvas pixels. `origin` is where the first frame's centre (the entrance)
  landed; `position` is the player now. The canvas size is a multiple of GROW and it grows by
  whole multiples of GROW on any side, so the ½-scale minimap keeps a content-fixed 32 px tile
  grid. A new frame overwrites the canvas only where the minimap can have changed (around the
  player's path since the last frame, where the fog lifts) and where nothing was captured yet;
  elsewhere the earlier capture stays, which keeps the changed region small for the server.
  """

  def __init__(self, first_frame: np.ndarray, refresh_radius: tuple[float, float] | None = None, min_confidence: float = MIN_CONFIDENCE):
    f = _check_frame(first_frame, "first_frame")
    self.frame_shape = f.shape
    h, w = f.shape[:2]
    # fog lifts in an ellipse of 120 x 140 px (4K, where the capture square is 1200 px) around
    # the player; refresh a margin beyond it
    s = h / 1200.0
    self.refresh_radius = np.array(refresh_radius if refresh_radius is not None else (180 * s, 200 * s))
    self.min_confidence = min_confidence
    H, W = -(-h // GROW) * GROW, -(-w // GROW) * GROW
    self.image = np.zeros((H, W, 3), np.uint8)
    self.covered = np.zeros((H, W), bool)
    self.topleft = np.array([(H - h) // 2, (W - w) // 2], np.float64)  # of the latest frame, sub-pixel
    self._paste(f, self._rounded(), None)
    self.origin = (self.topleft.astype(np.int64) + np.array([h // 2, w // 2]))
    self._prev, self._prev_lines = f, line_image(f)
    self.skipped = 0

  @property
  def position(self) -> np.ndarray:
    return self.topleft + np.array(self.frame_shape[:2]) // 2

  def _rounded(self) -> np.ndarray:
    return np.floor(self.topleft + 0.5).astype(np.int64)

  def add(self, frame: np.ndarray) -> bool:
    """Stitch the next frame. False: no trustworthy translation, the frame was skipped and
    nothing changed (the next frame is still aligned to the last accepted one)."""
    f = _check_frame(frame)
    if f.shape != self.frame_shape: raise ValueError(f"frame size changed: {f.shape} vs {self.frame_shape}")
    lines = line_image(f)
    t = _translation(self._prev, self._prev_lines, f, lines, self.min_confidence)
    if t is None:
      self.skipped += 1
      return False
    prev_pos = self.position.copy()
    self.topleft += t[:2]
    self._grow_to_fit()
    prev_pos += self._shift_since_grow
    self._paste(f, self._rounded(), prev_pos)
    self._prev, self._prev_lines = f, lines
    return True

  def _grow_to_fit(self) -> None:
    tl, (h, w) = self._rounded(), self.frame_shape[:2]
    H, W = self.image.shape[:2]
    top = -(-max(0, -tl[0]) // GROW) * GROW
    left = -(-max(0, -tl[1]) // GROW) * GROW
    bottom = -(-max(0, tl[0] + h - H) // GROW) * GROW
    right = -(-max(0, tl[1] + w - W) // GROW) * GROW
    self._shift_since_grow = np.array([top, left], np.float64)
    if not (top or left or bottom or right): return
    self.image = np.pad(self.image, ((top, bottom), (left, right), (0, 0)))
    self.covered = np.pad(self.covered, ((top, bottom), (left, right)))
    self.topleft += self._shift_since_grow
    self.origin = self.origin + np.array([top, left])

  def _paste(self, f: np.ndarray, tl: np.ndarray, prev_pos: np.ndarray | None) -> None:
    h, w = f.shape[:2]
    y0, x0 = int(tl[0]), int(tl[1])
    region, cov = self.image[y0:y0 + h, x0:x0 + w], self.covered[y0:y0 + h, x0:x0 + w]
    write = ~cov
    if prev_pos is not None:
      # the box around the path from the previous to the current position, widened by the fog radius
      pts = np.stack([prev_pos, self.position]) - np.array([y0, x0])
      lo = np.floor(pts.min(0) - self.refresh_radius).astype(int).clip(0, [h, w])
      hi = np.ceil(pts.max(0) + self.refresh_radius).astype(int).clip(0, [h, w])
      write[lo[0]:hi[0], lo[1]:hi[1]] = True
    else:
      write[:] = True
    region[write] = f[write]
    cov[:] = True
