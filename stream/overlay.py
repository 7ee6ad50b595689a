"""The guide overlay: which guide to show (GuideSelector), the picture (compose), and where it goes
(an OpenCV window in overlay or windowed mode, PNG files, or nowhere).

compose() is pure numpy/OpenCV so it is testable without a display; the window only shows it.
"""
from __future__ import annotations

import ctypes
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from ctypes import wintypes
from pathlib import Path

import cv2
import mss
import numpy as np

from poemap.datadir import guide_path
from poemap.fileio import load_png, save_png

MAX_GUIDE = (1000, 1200)   # (h, w) the guide is scaled to fit, aspect kept
PANEL_H = 96               # status and probability rows above the guide
STATUS_TEXT = {"waiting": "waiting for features", "unreachable": "server unreachable", "confident": "confident",
               "stable": "stable", "guessing": "not sure yet", "error": "server error", "stopped": "stopped",
               "idle": "idle: enter a known area, or Ctrl+Alt+Q at its entrance", "away": "not streaming",
               "late": "map began past the entrance: layout not told"}
STATUS_RGB = {"waiting": (200, 200, 200), "unreachable": (255, 90, 70), "confident": (90, 230, 110), "stable": (150, 220, 150),
              "guessing": (240, 200, 90), "error": (255, 90, 70), "stopped": (200, 200, 200), "idle": (200, 200, 200),
              "away": (200, 200, 200), "late": (240, 160, 80)}


STABLE_FLOOR = 0.6  # the least p a layout needs to be shown for being the answer k results in a row (see GuideSelector)


class GuideSelector:
  """Decides which guide is on screen. It switches to a layout only when the prediction is confident
  (p >= threshold) or stable (the same id `k` results in a row, each at p >= floor), so noisy early predictions do not
  make the guide flicker; `no_features`, errors and an unreachable server keep the current guide.
  The floor: answers about a canvas that barely changed between frames are not independent, so a low-p answer repeated
  is no evidence. With perfect masks from the entrance (bench/probe_late_origin.py, tuning seeds 40000-40001) the ViT's
  top answer at p < 0.6 was right 34-45 % of the time and at 0.7 or more 96-100 %; without a floor the selector showed a
  wrong guide on 18.6 % of frames, with 0.6 on 1.8 % (fresh seeds 40200-40204: 17.2 and 5.8 %; docs/MODELS.md, "Which guide is shown").
  `late`: the canvas began after the entrance (MinimapCanvas.began_late), so its tokens are anchored where no training
  sample was, and the ViT is then often sure and wrong (bench/probe_late_origin.py): no layout is shown, status "late"."""

  def __init__(self, k: int = 3, threshold: float = 0.8, late: bool = False, floor: float = STABLE_FLOOR):
    if k < 1 or not 0 < threshold <= 1 or not 0 <= floor <= 1:
      raise ValueError(f"need k >= 1, 0 < threshold <= 1 and 0 <= floor <= 1, got {k}, {threshold}, {floor}")
    self.k, self.threshold, self.late, self.floor = k, threshold, late, floor
    self.reset()

  def reset(self) -> None:
    self.shown: int | None = None
    self.recent: deque[int] = deque(maxlen=self.k)  # the last k answers at p >= floor (-1: one below it)
    self.status = "waiting"
    self.probs: list[float] = []

  def update(self, status: str, layout_id: int | None = None, probs: list[float] | None = None) -> int | None:
    """Feed one server result (status ok / no_features / error) or a client state (unreachable);
    returns the layout id to show (None: none yet)."""
    if status != "ok" or layout_id is None or not probs:
      self.status = {"no_features": "waiting", "unreachable": "unreachable", "error": "error"}.get(status, "waiting")
      if status == "no_features" and self.shown is not None: self.status = "stable"
      return self.shown
    self.probs = [float(p) for p in probs]
    lid = int(layout_id)
    p = self.probs[lid] if 0 <= lid < len(self.probs) else 0.0
    self.recent.append(lid if p >= self.floor else -1)
    if self.late: self.status = "late"
    elif p >= self.threshold: self.shown, self.status = lid, "confident"
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


def _rect(r) -> tuple[int, int, int, int]:
  x, y, w, h = (int(v) for v in r)
  return x, y, w, h


def _text(img: np.ndarray, s: str, org: tuple[int, int], rgb, scale: float = 0.7, thick: float = 2) -> None:
  cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in rgb), max(1, int(round(thick))), cv2.LINE_AA)


def _panel(W: int, shown: int | None, status: str, probs: list[float] | None, detail: str, top_n: int, k: float = 1.0) -> np.ndarray:
  # status line, top-n probability bars and a detail line; k scales it down for a small overlay window
  y = lambda v: int(round(v * k))
  panel = np.full((y(PANEL_H), W, 3), 16, np.uint8)
  head = f"layout {shown}" if shown is not None else "layout ?"
  _text(panel, f"{head} | {STATUS_TEXT.get(status, status)}", (y(10), y(28)), STATUS_RGB.get(status, (220, 220, 220)), 0.7 * k, 2 * k)
  if detail: _text(panel, detail, (y(10), y(88)), (150, 150, 150), 0.5 * k, 1)
  if probs:
    order = np.argsort(probs)[::-1][:top_n]
    bw = (W - y(20)) // top_n
    for j, i in enumerate(order):
      x0, p = y(10) + j * bw, float(probs[i])
      cv2.rectangle(panel, (x0, y(40)), (x0 + int((bw - y(12)) * p), y(62)), (70, 120, 220) if i != shown else (90, 200, 110), -1)
      _text(panel, f"{i}: {p:.2f}", (x0 + y(4), y(58)), (255, 255, 255), 0.55 * k, 1)
  return panel


def compose(guide: np.ndarray | None, shown: int | None, status: str, probs: list[float] | None = None, detail: str = "",
            width: int = 640, top_n: int = 3, size: tuple[int, int] | None = None) -> np.ndarray:
  """The overlay picture, RGB uint8: a panel (status line, top-n probabilities as bars) above the guide.
  Without a guide (none chosen yet, or its image missing) a placeholder says why. With `size` (h, w)
  the picture is exactly that big (a window's): the guide is fitted into the space under the panel,
  aspect kept, centred; a narrow window gets a smaller panel so the guide keeps most of the room."""
  msg = "not in a known area" if status == "away" else "no guide yet" if shown is None else f"no guide image for layout {shown}"
  if size is not None:
    H, W = max(int(size[0]), 1), max(int(size[1]), 1)
    k = min(1.0, max(0.5, W / 640))
    panel = _panel(W, shown, status, probs, detail, top_n, k)
    bh = max(H - panel.shape[0], 1)
    body = np.full((bh, W, 3), 24 if guide is None else 0, np.uint8)
    if guide is not None:
      g = fit(guide, (bh, W))
      y0, x0 = (bh - g.shape[0]) // 2, (W - g.shape[1]) // 2
      body[y0:y0 + g.shape[0], x0:x0 + g.shape[1]] = g
    else: _text(body, msg, (int(20 * k), bh // 2), (180, 180, 180), 0.9 * k, 2 * k)
    return np.concatenate([panel, body])[:H]
  if guide is not None: body = guide
  else:
    body = np.full((360, max(width, 480), 3), 24, np.uint8)
    _text(body, msg, (20, 190), (180, 180, 180), 0.9)
  W = max(body.shape[1], 480)
  out = np.zeros((PANEL_H + body.shape[0], W, 3), np.uint8)
  out[:PANEL_H] = _panel(W, shown, status, probs, detail, top_n)
  out[PANEL_H:, :body.shape[1]] = body
  return out


def has_display() -> bool:
  """Whether an OpenCV window can appear: always on Windows/macOS, with $DISPLAY or $WAYLAND_DISPLAY on Linux."""
  if sys.platform != "linux": return True
  return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


MODES = ("overlay", "windowed")
DEFAULT_RECT = {"overlay": (40, 40, 400, 480), "windowed": (80, 80, 640, 760)}  # x, y, w, h
MIN_WH = (200, 160)
OPACITY_STEP, MIN_OPACITY = 0.05, 0.2


def win32_style(title: str, borderless: bool, opacity: float) -> str | None:
  """Borderless and translucent (a layered window) on Windows, through user32 with ctypes: OpenCV has
  no property for either, and ctypes is in the standard library, while a GUI toolkit (pywin32, Qt)
  would be a large dependency for four calls. Returns why it could not, None when it did."""
  if sys.platform != "win32": return "borderless and translucent overlays need Windows here (OpenCV cannot set them): the overlay is a normal window"
  u = ctypes.WinDLL("user32", use_last_error=True)
  u.FindWindowW.restype, u.FindWindowW.argtypes = wintypes.HWND, (wintypes.LPCWSTR, wintypes.LPCWSTR)
  u.GetWindowLongW.restype, u.GetWindowLongW.argtypes = ctypes.c_long, (wintypes.HWND, ctypes.c_int)
  u.SetWindowLongW.restype, u.SetWindowLongW.argtypes = ctypes.c_long, (wintypes.HWND, ctypes.c_int, ctypes.c_long)
  u.SetLayeredWindowAttributes.argtypes = (wintypes.HWND, wintypes.COLORREF, wintypes.BYTE, wintypes.DWORD)
  u.SetWindowPos.argtypes = (wintypes.HWND, wintypes.HWND, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, wintypes.UINT)
  hwnd = u.FindWindowW(None, title)  # OpenCV's Win32 backend names its top-level window by the title
  if not hwnd: return f"no window {title!r} found to make borderless"
  GWL_STYLE, GWL_EXSTYLE, WS_CAPTION, WS_THICKFRAME, WS_EX_LAYERED, LWA_ALPHA = -16, -20, 0x00C00000, 0x00040000, 0x00080000, 0x2
  if borderless: u.SetWindowLongW(hwnd, GWL_STYLE, u.GetWindowLongW(hwnd, GWL_STYLE) & ~(WS_CAPTION | WS_THICKFRAME))
  u.SetWindowLongW(hwnd, GWL_EXSTYLE, u.GetWindowLongW(hwnd, GWL_EXSTYLE) | WS_EX_LAYERED)
  u.SetLayeredWindowAttributes(hwnd, 0, int(round(255 * min(1.0, max(MIN_OPACITY, opacity)))), LWA_ALPHA)
  u.SetWindowPos(hwnd, None, 0, 0, 0, 0, 0x1 | 0x2 | 0x4 | 0x20)  # NOSIZE|NOMOVE|NOZORDER|FRAMECHANGED: apply the new frame
  return None


class OverlayWindow:
  """The guide's window, in one of two modes: "overlay" (small, borderless, always on top,
  translucent, over the game: drag it with the left mouse button, resize it from its bottom-right
  corner) or "windowed" (a normal window with a frame, e.g. on a second monitor). The picture is
  composed at the window's size, so the guide scales with it (aspect kept). Keys while it has the
  focus: h hides it, m switches the mode, + / - change the overlay's opacity; hide() / toggle() for a
  hotkey. `on_change(changes)` gets what the player changed ({"mode", "overlay"/"windowed": [x, y, w, h],
  "opacity"}), once it has settled, to be remembered. show() and pump() pump the window's events:
  call them often."""

  def __init__(self, title: str = "poemap guide", mode: str = "windowed", rects: dict[str, list[int] | None] | None = None,
               opacity: float = 0.85, on_change=None, log=print, settle_s: float = 0.5):
    """`rects`: mode → [x, y, w, h] where the window was (None or missing: DEFAULT_RECT)."""
    if mode not in MODES: raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    self.title, self.mode, self.opacity, self.on_change, self.log, self.settle_s = title, mode, opacity, on_change, log, settle_s
    self.rects: dict[str, tuple[int, int, int, int]] = {m: _rect((rects or {}).get(m) or DEFAULT_RECT[m]) for m in MODES}
    self.visible, self.open, self.noticed = True, False, False
    self.picture: np.ndarray | None = None   # the last picture shown, at the window's size
    self._unseen: float | None = None  # when a new window's first picture went up, until it is seen on the screen
    self._changes: dict = {}
    self._changed_at = 0.0
    self._drag: tuple | None = None
    self._retries = 0  # windows opened anew in a row because Qt never drew them (show())
    self._create()

  # ---- the OpenCV window

  def _create(self) -> None:
    x, y, w, h = self.rects[self.mode]
    # FREERATIO: the image area is the whole window, so getWindowImageRect is the window's size; GUI_NORMAL: no Qt toolbar
    cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_FREERATIO | cv2.WINDOW_GUI_NORMAL)
    cv2.resizeWindow(self.title, w, h)
    cv2.moveWindow(self.title, x, y)
    cv2.setMouseCallback(self.title, self._mouse)
    self.open, self.picture, self._first, self._unseen = True, None, True, None
    self._measure()

  def _measure(self) -> None:
    # where the window manager put the image relative to what we asked (title bar, frame): removed
    # again before a place is remembered, so a saved place does not creep by a frame per run
    x, y, w, h = self.rects[self.mode]
    rx, ry, rw, rh = self._image_rect()
    self.offset = (rx - x, ry - y, rw - w, rh - h) if rw > 0 else (0, 0, 0, 0)

  def _image_rect(self) -> tuple[int, int, int, int]:
    for _ in range(10):  # a fresh window needs a few event rounds before it reports its place
      cv2.waitKey(1)
      x, y, w, h = (int(v) for v in cv2.getWindowImageRect(self.title))
      if w > 0 and h > 0: break
    return x, y, w, h

  def _style(self) -> None:
    # after the first picture: Qt re-creates the window to change its flags, which can lose an empty one
    if self.mode != "overlay": return  # a new window is not topmost: nothing to change
    try: cv2.setWindowProperty(self.title, cv2.WND_PROP_TOPMOST, 1)
    except cv2.error: pass  # some backends lack the property: the window still works
    why = win32_style(self.title, True, self.opacity)
    if why is not None and not self.noticed: self.log(f"note: {why}")
    self.noticed = True

  def rect(self) -> tuple[int, int, int, int]:
    """The window's place and size as moveWindow/resizeWindow take them: [x, y, w, h]."""
    if not self.open: return self.rects[self.mode]
    x, y, w, h = (int(v) for v in cv2.getWindowImageRect(self.title))
    ox, oy, ow, oh = self.offset
    return (x - ox, y - oy, max(w - ow, 1), max(h - oh, 1))

  @property
  def size(self) -> tuple[int, int] | None:
    """(h, w) of the picture the window wants, None while it is hidden."""
    if not self.open: return None
    _, _, w, h = (int(v) for v in cv2.getWindowImageRect(self.title))
    return (max(h, MIN_WH[1]), max(w, MIN_WH[0]))

  def show(self, rgb: np.ndarray) -> None:
    """Show a picture (composed at self.size; another size is stretched to fit)."""
    if not self.open: return
    self.picture = rgb
    cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.waitKey(1)
    if self._first:
      self._first = False
      self._style()
      self._measure()  # a borderless window's image fills what was its frame
      cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
      cv2.waitKey(1)
      # Qt's xcb backend can lose a new window's MapNotify (its event queue drops it: ~1 first window in 8 on a loaded
      # 2-core machine): X shows the window, Qt thinks it unexposed and discards every paint, so it stays unpainted for
      # good however often it is pumped or redrawn; only a new window gets a new MapNotify. pump() watches for that.
      if sys.platform == "linux" and os.environ.get("DISPLAY"): self._unseen = time.monotonic()

  def _drawn(self) -> bool | None:
    """Whether the window's place on the X screen shows anything but pure black (what an unpainted window shows on a
    bare X server, and our picture, its panel at least, never is); None when that cannot be read."""
    try:
      x, y, w, h = (int(v) for v in cv2.getWindowImageRect(self.title))
      if w <= 0 or h <= 0: return None
      with (getattr(mss, "MSS", None) or mss.mss)() as sct:
        return bool(np.asarray(sct.grab({"left": x, "top": y, "width": w, "height": h}))[..., :3].any())
    except Exception: return None  # no X screen to read (Wayland, off-screen): nothing to check

  def pump(self, ms: int = 1) -> bool:
    """Handle the window's events; True when it needs a new picture (resized, shown again, mode changed)."""
    if not self.open:
      self._settle()
      return False
    key = cv2.waitKey(max(1, int(ms)))
    try: alive = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
    except cv2.error: alive = False
    if not alive:  # closed with its frame's close button: hidden, not gone
      self.open, self.visible = False, False
      self.log("guide window closed: the hide hotkey (Ctrl+Alt+H, or h + Enter) shows it again")
      return False
    if self._unseen is not None:  # a new window's first picture: on the screen yet?
      drawn = self._drawn()
      if drawn is not False: self._unseen, self._retries = None, 0
      elif time.monotonic() - self._unseen > 4.0:  # lost by Qt (show()): open it anew, drawn at once; 3 tries in a row
        self._unseen = None
        if self._retries < 3:
          self._retries += 1
          self._destroy(); self._create()
          return True
    redraw = self.picture is None  # a fresh window (shown again, another mode)
    if key != -1: redraw |= self.key(key & 0xFF)
    r = self.rect()
    if r != self.rects[self.mode]:
      if r[2:] != self.rects[self.mode][2:]: redraw = True
      self.rects[self.mode] = r
      self._note(**{self.mode: list(r)})
    self._settle()
    return redraw and self.open

  def key(self, k: int) -> bool:
    """A key pressed in the window; True when the picture must be redrawn."""
    c = chr(k).lower() if 0 < k < 128 else ""
    if c == "h": self.hide(); return False
    if c == "m": self.set_mode("windowed" if self.mode == "overlay" else "overlay"); return True
    if c and c in "+=-_" and self.mode == "overlay":
      self.set_opacity(self.opacity + (OPACITY_STEP if c in "+=" else -OPACITY_STEP))
    return False

  def _mouse(self, event: int, x: int, y: int, flags: int, _param=None) -> None:
    # overlay mode has no frame to grab: drag the picture to move it, its bottom-right corner to resize it
    if self.mode != "overlay" or not self.open: return
    if event == cv2.EVENT_LBUTTONDOWN:
      rx, ry, rw, rh = (int(v) for v in cv2.getWindowImageRect(self.title))
      self._drag = (rx + x, ry + y, self.rect(), x >= rw - 24 and y >= rh - 24)
    elif event == cv2.EVENT_MOUSEMOVE and self._drag is not None and flags & cv2.EVENT_FLAG_LBUTTON:
      rx, ry, _, _ = (int(v) for v in cv2.getWindowImageRect(self.title))
      sx, sy, (x0, y0, w0, h0), corner = self._drag
      dx, dy = rx + x - sx, ry + y - sy
      if corner: cv2.resizeWindow(self.title, max(MIN_WH[0], w0 + dx), max(MIN_WH[1], h0 + dy))
      else: cv2.moveWindow(self.title, x0 + dx, y0 + dy)
    elif event == cv2.EVENT_LBUTTONUP: self._drag = None

  # ---- what the player changes

  def _note(self, **changes) -> None:
    self._changes.update(changes)
    self._changed_at = time.monotonic()

  def _settle(self, force: bool = False) -> None:
    # a drag moves the window many times a second: remember the place once it has stopped
    if self._changes and (force or time.monotonic() - self._changed_at >= self.settle_s):
      changes, self._changes = self._changes, {}
      if self.on_change is not None: self.on_change(changes)

  def set_mode(self, mode: str) -> None:
    if mode not in MODES: raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == self.mode: return
    self._destroy()
    self.mode = mode
    self._note(mode=mode)
    if self.visible: self._create()

  def set_opacity(self, opacity: float) -> None:
    self.opacity = round(min(1.0, max(MIN_OPACITY, opacity)), 2)
    self._note(opacity=self.opacity)
    if self.open and self.mode == "overlay" and sys.platform == "win32": win32_style(self.title, True, self.opacity)

  def hide(self) -> None:
    self.visible = False
    self._destroy()

  def toggle(self) -> None:
    """Hide the window, or show it again where it was; the next pump() asks for a picture."""
    if self.visible: self.hide()
    else: self.visible = True; self._create()

  def _destroy(self) -> None:
    if self.open:
      self.rects[self.mode] = self.rect()
      try: cv2.destroyWindow(self.title); cv2.waitKey(1)
      except cv2.error: pass
      self.open = False

  def close(self) -> None:
    self._destroy()
    self._settle(force=True)


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

  def __init__(self, area: str, sink=None, root: str | os.PathLike | None = None, k: int = 3, threshold: float = 0.8,
               floor: float = STABLE_FLOOR):
    self.guides, self.sink, self.sel, self.root = Guides(area, root), sink, GuideSelector(k, threshold, floor=floor), root
    self.detail = ""
    self.marker: Callable[[np.ndarray], np.ndarray] | None = None  # guide image -> it with 'you are here' drawn (stream.guidemarker)
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

  def reset(self, late: bool = False) -> None:
    # a fresh selector, not a cleared one: the old one may be kept for a return to its instance
    self.sel = GuideSelector(self.sel.k, self.sel.threshold, late, self.sel.floor)
    self.dirty = True

  def image(self, size: tuple[int, int] | None = None) -> np.ndarray:
    """The picture; with size (h, w) exactly that big (a window's)."""
    s = self.sel
    g = self.guides.get(s.shown) if s.shown is not None else None
    if g is not None and self.marker is not None: g = self.marker(g)
    return compose(g, s.shown, s.status, s.probs, self.detail, size=size)

  def render(self, tag: str | None = None) -> np.ndarray | None:
    """Push the picture to the sink if anything changed; returns it (None when unchanged or the window is hidden)."""
    if not self.dirty: return None
    win = isinstance(self.sink, OverlayWindow)
    if win and self.sink.size is None: return None  # hidden: drawn when it is shown again
    img = self.image(self.sink.size if win else None)
    if self.sink is not None: self.sink.show(img, tag) if isinstance(self.sink, PngSink) else self.sink.show(img)
    self.dirty = False
    return img

  def pump(self, ms: int = 1) -> None:
    """Pump the sink's events; a window that was resized or shown again is drawn anew at once."""
    if self.sink is not None and self.sink.pump(ms):
      self.dirty = True
      self.render()

  def toggle(self) -> None:
    """Hide or show the window (a hotkey)."""
    if isinstance(self.sink, OverlayWindow): self.sink.toggle()  # shown again, its next pump asks for a picture

  def close(self) -> None:
    if self.sink is not None: self.sink.close()
