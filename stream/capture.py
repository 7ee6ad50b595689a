"""Capture sources: where the client's frames come from.

Every source hands out RGB uint8 squares centred on the player icon at the pipeline's scale (the
4K capture square, CAPTURE_SIDE px), whatever the screen or replay resolution, so stitching and
the models always see the scale of the model contract. `grab()` returns None when a finite source
(a replay) is exhausted.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import mss
import numpy as np

from poemap.contract import CAPTURE_RADIUS_4K, CAPTURE_SIDE, ICON_4K, SCREEN_4K
from poemap.sim.session import load_session


def capture_box(monitor: dict) -> dict:
  """The mss region {left, top, width, height} of the centre square on a monitor
  {left, top, width, height}. The HUD scales with the screen height; the icon stays centred
  horizontally (x = width/2), so ultra-wide screens work too."""
  w, h = int(monitor["width"]), int(monitor["height"])
  if w < 64 or h < 64: raise ValueError(f"monitor too small to capture: {w}x{h}")
  s = h / SCREEN_4K[0]
  r = int(round(CAPTURE_RADIUS_4K * s))
  cy, cx = int(round(ICON_4K[0] * s)), w // 2
  if 2 * r > w: raise ValueError(f"monitor {w}x{h} is narrower than the {2 * r} px capture square")
  top = min(max(cy - r, 0), h - 2 * r)
  return {"left": int(monitor["left"]) + cx - r, "top": int(monitor["top"]) + top, "width": 2 * r, "height": 2 * r}


def to_pipeline_scale(square: np.ndarray, side: int = CAPTURE_SIDE) -> np.ndarray:
  """A captured square resized to the 4K-equivalent side (no-op at 4K)."""
  if square.shape[0] == side and square.shape[1] == side: return square
  interp = cv2.INTER_AREA if square.shape[0] > side else cv2.INTER_LINEAR
  return cv2.resize(square, (side, side), interpolation=interp)


class FrameSource:
  """One interface for live and replayed capture."""
  name = "source"
  def grab(self) -> np.ndarray | None: raise NotImplementedError
  def close(self) -> None: pass
  def __enter__(self): return self
  def __exit__(self, *a) -> None: self.close()


class ScreenSource(FrameSource):
  """The live screen through mss: monitor N (1 = primary; 0 = all monitors as one) of a display.
  BGRA → RGB here, so the rest of the product only sees RGB."""

  def __init__(self, monitor: int = 1, display: str | None = None, side: int | None = CAPTURE_SIDE):
    make = getattr(mss, "MSS", None) or mss.mss  # mss >= 10.2 renamed the factory
    try: self.sct = make(display=display) if display is not None else make()
    except Exception as e: raise RuntimeError(f"cannot open the screen for capture ({type(e).__name__}: {e}); is there a display?") from None
    mons = self.sct.monitors
    if not 0 <= monitor < len(mons):
      self.sct.close()
      raise ValueError(f"no monitor {monitor}: this display has monitors 1..{len(mons) - 1} (0 = all together)")
    self.monitor, self.box, self.side = mons[monitor], capture_box(mons[monitor]), side
    self.name = f"screen monitor {monitor} {self.monitor['width']}x{self.monitor['height']}"

  def grab(self) -> np.ndarray:
    shot = self.sct.grab(self.box)
    bgra = np.frombuffer(shot.bgra, np.uint8).reshape(shot.height, shot.width, 4)
    rgb = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB)
    return to_pipeline_scale(rgb, self.side) if self.side else rgb

  def close(self) -> None: self.sct.close()


class ReplaySource(FrameSource):
  """The frames of a synthetic-Coast session (poemap.sim.session), in order."""

  def __init__(self, session: dict | str | os.PathLike, side: int | None = CAPTURE_SIDE):
    if not isinstance(session, dict):
      p = Path(session)
      session = load_session(p)
      self.name = p.name
    else: self.name = f"layout {session.get('layout_id')} seed {session.get('seed')}"
    self.session, self.frames, self.side, self.index = session, session["frames"], side, 0
    self.layout_id = int(session["layout_id"]) if "layout_id" in session else None

  def __len__(self) -> int: return len(self.frames)

  def grab(self) -> np.ndarray | None:
    if self.index >= len(self.frames): return None
    f = self.frames[self.index]
    self.index += 1
    return to_pipeline_scale(f, self.side) if self.side else f

  @property
  def positions(self) -> np.ndarray:
    """Ground-truth player positions, [y, x] relative to the first frame, at pipeline scale."""
    s = (self.side or self.frames.shape[1]) / self.frames.shape[1]
    return np.asarray(self.session["positions"], np.float64) * s


class Ticker:
  """Paces a loop at `fps` without drifting; a late tick is not made up with a burst."""

  def __init__(self, fps: float):
    if not fps > 0: raise ValueError(f"fps must be > 0, got {fps}")
    self.period, self.next = 1.0 / fps, time.monotonic()

  def remaining(self) -> float:
    return max(0.0, self.next - time.monotonic())

  def tick(self) -> None:
    now = time.monotonic()
    self.next = max(self.next + self.period, now)
