"""The guide overlay: which guide to show (GuideSelector), the picture (compose), and where it goes
(a topmost OpenCV window, PNG files, or nowhere).

compose() is pure numpy/OpenCV so it is testable without a display; the window only shows it.
"""
from __future__ import annotations

import os
import sys
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from poemap.datadir import guide_path
from poemap.fileio import load_png, save_png

MAX_GUIDE = (1000, 1200)   # (h, w) the guide is scaled to fit, aspect kept
PANEL_H = 96               # status and probability rows above the guide
STATUS_TEXT = {"waiting": "waiting for features", "unreachable": "server unreachable", "confident": "confident",
               "stable": "stable", "guessing": "not sure yet", "error": "server error", "stopped": "stopped",
               "idle": "idle: enter a known area, or Ctrl+Alt+Q at its entrance", "away": "not streaming"}
STATUS_RGB = {"waiting": (200, 200, 200), "unreachable": (255, 90, 70), "confident": (90, 230, 110), "stable": (150, 220, 150),
              "guessing": (240, 200, 90), "error": (255, 90, 70), "stopped": (200, 200, 200), "idle": (200, 200, 200),
              "away": (200, 200, 200)}


class GuideSelector:
  """Decides which guide is on screen. It switches to a layout only when the prediction is confident
  (p >= threshold) or stable (the same id `k` results in a row), so noisy early predictions do not
  make the guide flicker; `no_features`, errors and an unreachable server keep the current guide."""

  def __init__(self, k: int = 3, threshold: float = 0.8):
    if k < 1 or not 0 < threshold <= 1: raise ValueError(f"need k >= 1 and 0 < threshold <= 1, got {k}, {threshold}")
    self.k, self.threshold = k, threshold
    self.reset()

  def reset(self) -> None:
    self.shown: int | None = None
    self.recent: deque[int] = deque(maxlen=self.k)
    self.status, self.probs = "waiting", []

  def update(self, status: str, layout_id: int | None = None, probs: list[float] | None = None) -> int | None:
    """Feed one server result (status ok / no_features / error) or a client state (unreachable);
    returns the layout id to show (None: none yet)."""
    if status != "ok" or layout_id is None or not probs:
      self.status = {"no_features": "waiting", "unreachable": "unreachable", "error": "error"}.get(status, "waiting")
      if status == "no_features" and self.shown is not None: self.status = "stable"
      return self.shown
    self.probs = [float(p) for p in probs]
    lid = int(layout_id)
    self.recent.append(lid)
    p = self.probs[lid] if 0 <= lid < len(self.probs) else 0.0
    if p >= self.threshold: self.shown, self.status = lid, "confident"
    elif len(self.recent) == self.k and all(r == lid for r in self.recent): self.shown, self.status = lid, "stable"
    else: self.status = "guessing"
    return self.shown


class Guides:
  """Guide images of one area, loaded once and kept at their fitted size."""

  def __init__(self, area: str, root: str | os.PathLike | None = None, max_hw: tuple[int, int] = MAX_GUIDE):
    self.area, self.root, self.max_hw = area, root, max_hw
    self.cache: dict[int, np.ndarray | None] = {}

  def path(self, layout_id: int) -> Path: return guide_path(self.area, layout_id, self.root)

  def get(self, layout_id: int) -> np.ndarray | None:
    """The fitted RGB guide, or None when data/user/<area>/<id>.png is missing or unreadable."""
    if layout_id not in self.cache:
      try: self.cache[layout_id] = fit(load_png(self.path(layout_id)), self.max_hw)
      except (FileNotFoundError, ValueError): self.cache[layout_id] = None
    return self.cache[layout_id]

  def available(self) -> list[int]:
    d = self.path(0).parent
    return sorted(int(p.stem) for p in d.glob("*.png") if p.stem.isdigit()) if d.is_dir() else []


def fit(img: np.ndarray, max_hw: tuple[int, int] = MAX_GUIDE) -> np.ndarray:
  """img scaled (up or down) to the largest size inside max_hw with its aspect ratio."""
  h, w = img.shape[:2]
  s = min(max_hw[0] / h, max_hw[1] / w)
  size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
  return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def _text(img: np.ndarray, s: str, org: tuple[int, int], rgb, scale: float = 0.7, thick: int = 2) -> None:
  cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in rgb), thick, cv2.LINE_AA)


def compose(guide: np.ndarray | None, shown: int | None, status: str, probs: list[float] | None = None, detail: str = "",
            width: int = 640, top_n: int = 3) -> np.ndarray:
  """The overlay picture, RGB uint8: a panel (status line, top-n probabilities as bars) above the guide.
  Without a guide (none chosen yet, or its image missing) a placeholder says why."""
  if guide is not None: body = guide
  else:
    body = np.full((360, max(width, 480), 3), 24, np.uint8)
    msg = "not in a known area" if status == "away" else "no guide yet" if shown is None else f"no guide image for layout {shown}"
    _text(body, msg, (20, 190), (180, 180, 180), 0.9)
  W = max(body.shape[1], 480)
  panel = np.full((PANEL_H, W, 3), 16, np.uint8)
  head = f"layout {shown}" if shown is not None else "layout ?"
  _text(panel, f"{head} | {STATUS_TEXT.get(status, status)}", (10, 28), STATUS_RGB.get(status, (220, 220, 220)))
  if detail: _text(panel, detail, (10, 88), (150, 150, 150), 0.5, 1)
  if probs:
    order = np.argsort(probs)[::-1][:top_n]
    bw = (W - 20) // top_n
    for j, i in enumerate(order):
      x0, p = 10 + j * bw, float(probs[i])
      cv2.rectangle(panel, (x0, 40), (x0 + int((bw - 12) * p), 62), (70, 120, 220) if i != shown else (90, 200, 110), -1)
      _text(panel, f"{i}: {p:.2f}", (x0 + 4, 58), (255, 255, 255), 0.55, 1)
  out = np.zeros((PANEL_H + body.shape[0], W, 3), np.uint8)
  out[:PANEL_H] = panel
  out[PANEL_H:, :body.shape[1]] = body
  return out


def has_display() -> bool:
  """Whether an OpenCV window can appear: always on Windows/macOS, with $DISPLAY or $WAYLAND_DISPLAY on Linux."""
  if sys.platform != "linux": return True
  return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class OverlayWindow:
  """An always-on-top OpenCV window. show() also pumps the window's events, so call it often."""

  def __init__(self, title: str = "poemap guide", topmost: bool = True):
    self.title, self.topmost, self.shown = title, topmost, False
    cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no Qt toolbar: just the guide
    self.open = True

  def show(self, rgb: np.ndarray) -> None:
    if not self.open: return
    cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.waitKey(1)
    if self.topmost and not self.shown:
      # after the first picture: Qt re-creates the window to change its flags, which can lose an empty one
      try: cv2.setWindowProperty(self.title, cv2.WND_PROP_TOPMOST, 1)
      except cv2.error: pass  # some backends lack the property: the window still works
      cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
      cv2.waitKey(1)
    self.shown = True

  def pump(self, ms: int = 1) -> None:
    if self.open: cv2.waitKey(max(1, int(ms)))

  def close(self) -> None:
    if self.open:
      try: cv2.destroyWindow(self.title); cv2.waitKey(1)
      except cv2.error: pass
      self.open = False


class PngSink:
  """Writes each distinct overlay picture to <dir>/<prefix><n>.png (headless runs, the demo)."""

  def __init__(self, directory: str | os.PathLike, prefix: str = "overlay_"):
    self.dir, self.prefix, self.n = Path(directory), prefix, 0
    self.dir.mkdir(parents=True, exist_ok=True)
    self.last: Path | None = None

  def show(self, rgb: np.ndarray, tag: str | None = None) -> Path:
    self.last = save_png(self.dir / f"{self.prefix}{tag if tag is not None else f'{self.n:04d}'}.png", rgb, overwrite=True)
    self.n += 1
    return self.last

  def pump(self, ms: int = 1) -> None: pass
  def close(self) -> None: pass


class Overlay:
  """Selector + guides + a sink (window, PNGs, or None for headless)."""

  def __init__(self, area: str, sink=None, root: str | os.PathLike | None = None, k: int = 3, threshold: float = 0.8):
    self.guides, self.sink, self.sel, self.root = Guides(area, root), sink, GuideSelector(k, threshold), root
    self.detail = ""
    self.dirty = True

  def update(self, status: str, layout_id: int | None = None, probs: list[float] | None = None) -> int | None:
    before = (self.sel.shown, self.sel.status, tuple(self.sel.probs))
    shown = self.sel.update(status, layout_id, probs)
    self.dirty |= before != (self.sel.shown, self.sel.status, tuple(self.sel.probs))
    return shown

  def set_state(self, status: str, detail: str | None = None) -> None:
    if self.sel.status != status: self.sel.status, self.dirty = status, True
    if detail is not None and detail != self.detail: self.detail, self.dirty = detail, True

  def set_guides(self, area: str) -> None:
    """Show the guides of another area (<data>/user/<area>/)."""
    if area != self.guides.area: self.guides, self.dirty = Guides(area, self.root, self.guides.max_hw), True

  def reset(self) -> None:
    # a fresh selector, not a cleared one: the old one may be kept for a return to its instance
    self.sel = GuideSelector(self.sel.k, self.sel.threshold)
    self.dirty = True

  def image(self) -> np.ndarray:
    s = self.sel
    return compose(self.guides.get(s.shown) if s.shown is not None else None, s.shown, s.status, s.probs, self.detail)

  def render(self, tag: str | None = None) -> np.ndarray | None:
    """Push the picture to the sink if anything changed; returns it (None when unchanged)."""
    if not self.dirty: return None
    img = self.image()
    if self.sink is not None: self.sink.show(img, tag) if isinstance(self.sink, PngSink) else self.sink.show(img)
    self.dirty = False
    return img

  def pump(self, ms: int = 1) -> None:
    if self.sink is not None: self.sink.pump(ms)

  def close(self) -> None:
    if self.sink is not None: self.sink.close()
